//! [`ClientBuilder`]: the configuration of a [`Client`] and its checks.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{stream_auth_message, Auth, Client, Inner, OAuthSource};
use crate::assertion::create_assertion;
use crate::cache::TokenCache;
use crate::credentials::{ApiKeyStyle, ClientAuth, Credentials};
use crate::env_config::var;
use crate::environment::{Endpoints, Environment};
use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
use crate::fork::{self, ForkSlot};
use crate::headers::AuthHeaders;
use crate::limits::STORE_WAIT_DIVISOR;
use crate::limits::{MAX_SCOPE_LEN, MAX_TIMEOUT};
use crate::policy::RefreshPolicy;
use crate::refresher::{Refresher, TokenSource};
use crate::retry::RetryPolicy;
use crate::store::{SharedStore, StoreKey, TokenStore, TokenStoreStatus};
use crate::transport::{parse_ca_bundle, ProxySetting, Transport, TransportConfig};
use crate::trust::{read_ca_file, TlsRoots};
use crate::url::HttpUrl;

/// Configuration of a [`Client`]. Every setting has a documented default;
/// errors are reported by [`build`](ClientBuilder::build).
#[derive(Clone, Default)]
pub struct ClientBuilder {
    environment: Environment,
    credentials: Option<Credentials>,
    api_base_url: Option<String>,
    data_base_url: Option<String>,
    token_url: Option<String>,
    scope: Option<String>,
    transport: TransportConfig,
    refresh: RefreshPolicy,
    background_refresh: bool,
    token_store: Option<StoreChoice>,
    max_wait: Option<Duration>,
    events: Option<EventSink>,
    deferred: Option<Error>,
}

/// Where a client shares its tokens with other processes.
#[derive(Clone)]
enum StoreChoice {
    /// The built-in [`FileStore`], opened at build.
    Dir(PathBuf),
    /// A store of the application's.
    Custom(Arc<dyn TokenStore>),
}

impl fmt::Debug for StoreChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreChoice::Dir(dir) => f.debug_tuple("Dir").field(dir).finish(),
            StoreChoice::Custom(_) => f.write_str("Custom"),
        }
    }
}

impl ClientBuilder {
    /// The Alpaca environment (default [`Environment::Paper`]).
    pub fn environment(mut self, environment: Environment) -> Self {
        self.environment = environment;
        self
    }

    /// The credentials (required).
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Overrides the Trading/Broker API base URL.
    pub fn api_base_url(mut self, url: impl Into<String>) -> Self {
        self.api_base_url = Some(url.into());
        self
    }

    /// Overrides the Market Data API base URL.
    pub fn data_base_url(mut self, url: impl Into<String>) -> Self {
        self.data_base_url = Some(url.into());
        self
    }

    /// Overrides the OAuth2 token endpoint (also the assertion's `aud`).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The `scope` of token requests (RFC 6749 §3.3): space-separated
    /// scope tokens, sent form-encoded. None by default (the server's
    /// default scope). Client credentials only; checked by
    /// [`build`](Self::build): 1 to [`MAX_SCOPE_LEN`] bytes of printable
    /// ASCII except `"` and `\\`, tokens separated by single spaces.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// The credentials set so far, for the C builder's assertion options.
    pub(crate) fn credentials_mut(&mut self) -> Option<&mut Credentials> {
        self.credentials.as_mut()
    }

    /// Connect timeout (default
    /// [`DEFAULT_CONNECT_TIMEOUT`](crate::limits::DEFAULT_CONNECT_TIMEOUT)).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.transport.connect_timeout = timeout;
        self
    }

    /// Timeout of one token request attempt (default
    /// [`DEFAULT_REQUEST_TIMEOUT`](crate::limits::DEFAULT_REQUEST_TIMEOUT)).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.transport.request_timeout = timeout;
        self
    }

    /// Time budget of one token acquisition, all attempts and waits together
    /// (default [`DEFAULT_TOKEN_BUDGET`](crate::limits::DEFAULT_TOKEN_BUDGET)).
    pub fn token_budget(mut self, budget: Duration) -> Self {
        self.transport.budget = budget;
        self
    }

    /// Retry policy of token requests (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.transport.retry = policy;
        self
    }

    /// Proxy for token requests (default [`ProxySetting::FromEnv`]).
    pub fn proxy(mut self, proxy: ProxySetting) -> Self {
        self.transport.proxy = proxy;
        self
    }

    /// The roots of trust of token requests (default [`TlsRoots::FromEnv`]:
    /// `SSL_CERT_FILE` and `SSL_CERT_DIR` when set, else the bundled
    /// Mozilla roots); `APCA_TLS_ROOTS`.
    pub fn tls_roots(mut self, roots: TlsRoots) -> Self {
        self.transport.roots = roots;
        self
    }

    /// Trusts the CA certificates of a PEM bundle in addition to the roots
    /// of [`tls_roots`](Self::tls_roots) (for TLS-inspecting corporate
    /// proxies); `APCA_CA_BUNDLE` names such a file. May be called more
    /// than once. Refused by [`build`](Self::build) with
    /// [`TlsRoots::Platform`].
    pub fn add_ca_bundle_pem(mut self, pem: &[u8]) -> Self {
        match parse_ca_bundle(pem) {
            Ok(certs) => self.transport.extra_roots.extend(certs),
            Err(e) => {
                self.deferred.get_or_insert(e);
            }
        }
        self
    }

    /// [`add_ca_bundle_pem`](Self::add_ca_bundle_pem) with the content of a
    /// PEM file (what `APCA_CA_BUNDLE` names), read now, at most
    /// [`MAX_CA_BUNDLE_LEN`](crate::limits::MAX_CA_BUNDLE_LEN) bytes. A
    /// file that cannot be read or holds no certificate is reported by
    /// [`build`](Self::build), with its path and never its content.
    pub fn add_ca_bundle_file(mut self, path: impl AsRef<Path>) -> Self {
        match read_ca_file(path.as_ref()) {
            Ok(certs) => self.transport.extra_roots.extend(certs),
            Err(e) => {
                self.deferred.get_or_insert(e);
            }
        }
        self
    }

    /// When tokens are refreshed ahead of expiry (default
    /// [`RefreshPolicy::default`]).
    pub fn refresh_policy(mut self, policy: RefreshPolicy) -> Self {
        self.refresh = policy;
        self
    }

    /// Refreshes tokens from a background thread owned by the client, so
    /// that no caller ever performs a refresh (default off). The thread
    /// fetches the first token at once, stops when the last clone of the
    /// client is dropped, and reports through [`Client::refresher_status`].
    /// If it falls behind (no new token once half the refresh window is
    /// gone), callers start the refresh themselves, as without it. No
    /// effect for API keys. Which thread sends each request:
    /// [the threading contract](crate#which-thread-sends-a-token-request).
    pub fn background_refresh(mut self, on: bool) -> Self {
        self.background_refresh = on;
        self
    }

    /// Shares tokens with the other processes of this user that use the
    /// same directory and credential: one token request per rotation for
    /// the whole fleet (see [`FileStore`](crate::store::FileStore);
    /// `APCA_TOKEN_CACHE_DIR`). `dir` is an absolute path with no `.` or
    /// `..` component and no trailing slash (otherwise a build error); the
    /// directory is created `0700` at build. A directory that cannot be
    /// trusted (a symbolic link on the path, and the rest of the rules of
    /// `FileStore::open`) does not
    /// fail the build: the client runs without sharing, reports
    /// [`Event::StoreUnavailable`] and says why in
    /// [`Client::token_store_status`]. Client credentials only; no effect
    /// for API keys.
    pub fn token_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.token_store = Some(StoreChoice::Dir(dir.into()));
        self
    }

    /// Shares tokens through a store of the application's (another host's
    /// cache, for example): see [`TokenStore`]. Replaces
    /// [`token_cache_dir`](Self::token_cache_dir).
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.token_store = Some(StoreChoice::Custom(store));
        self
    }

    /// The longest any call waits for a token (default: the token budget,
    /// [`token_budget`](Self::token_budget)). A call that finds no valid
    /// token waits for the request under way at most this long, then gets a
    /// [`Timeout`](crate::ErrorKind::Timeout) error while the request goes
    /// on (the next call may get its token). A call with a valid token never
    /// waits. Below the budget, token requests leave the caller's thread for
    /// one of the library's; which thread sends a request in every mode:
    /// [the threading contract](crate#which-thread-sends-a-token-request).
    /// More than zero, at most [`MAX_TIMEOUT`].
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = Some(wait);
        self
    }

    /// Calls `callback` on every [`Event`] of the token lifecycle: token
    /// fetched, fetch failed (kind and HTTP status), hold started and ended,
    /// background refresher overdue, fork detected (default: none; the
    /// library logs nothing). It runs on whichever thread the event happens
    /// on (a caller's, the refresher's, a fetch thread), never while a lock
    /// of the library is held; keep it short. A panic in it is caught and
    /// ignored. Events carry no secret.
    pub fn on_event(mut self, callback: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.events = Some(EventSink::new(callback));
        self
    }

    /// Applies the `APCA_*` environment variables over this builder.
    pub fn from_env(self) -> Result<Self> {
        crate::env_config::apply(self, &crate::env_config::process_env)
    }

    /// Applies environment variables read through `lookup` (a testable
    /// stand-in for the process environment).
    pub fn from_env_with(self, lookup: &dyn Fn(&str) -> Result<Option<String>>) -> Result<Self> {
        crate::env_config::apply(self, lookup)
    }

    /// Validates everything and builds the client. Makes no network request.
    pub fn build(self) -> Result<Client> {
        if let Some(error) = self.deferred {
            return Err(error);
        }
        let credentials = self.credentials.ok_or_else(|| {
            Error::config(
                format!(
                    "no credentials configured: set an API key ({} + {}) or client credentials ({} + {} or a private key)",
                    var::API_KEY_ID,
                    var::API_SECRET_KEY,
                    var::CLIENT_ID,
                    var::CLIENT_SECRET
                ),
            )
        })?;
        credentials.validate()?;
        if let Some(scope) = &self.scope {
            validate_scope(scope)?;
            if !credentials.is_client_credentials() {
                return Err(Error::config(
                    "a scope applies to client credentials only, not to an API key",
                ));
            }
        }
        for (which, value) in [
            (Timeout::Connect, self.transport.connect_timeout),
            (Timeout::Request, self.transport.request_timeout),
            (Timeout::Budget, self.transport.budget),
        ] {
            check_duration(which.name(), value)?;
        }
        if let Some(wait) = self.max_wait {
            check_duration(Timeout::MaxWait.name(), wait)?;
        }
        self.refresh.validate()?;
        self.transport.retry.validate()?;
        if let Some(url) = &self.api_base_url {
            self.environment.check_api_base_url(url)?;
        }
        let endpoints = Endpoints::resolve(
            self.environment,
            self.api_base_url.as_deref(),
            self.data_base_url.as_deref(),
            self.token_url.as_deref(),
        )?;
        let stream_auth = match &credentials {
            Credentials::ApiKey { key_id, secret, .. } => {
                Some(stream_auth_message(key_id, secret)?)
            }
            Credentials::ClientCredentials { .. } => None,
        };
        let auth = match credentials {
            Credentials::ApiKey {
                key_id,
                secret,
                style,
            } => Auth::Fixed(match style.resolve(self.environment) {
                ApiKeyStyle::Basic => AuthHeaders::basic(&key_id, &secret)?,
                ApiKeyStyle::Headers | ApiKeyStyle::ForEnvironment => {
                    AuthHeaders::api_key(&key_id, &secret)?
                }
            }),
            Credentials::ClientCredentials { client_id, auth } => {
                let token_url = endpoints.token_url().ok_or_else(|| {
                    Error::config(format!(
                        "client credentials are not available for the Trading API (environment {}): use the broker or broker-sandbox environment, or set a token URL ({})",
                        self.environment,
                        var::AUTH_URL
                    ))
                })?;
                let parsed_url = HttpUrl::parse(token_url)?;
                if let ClientAuth::PrivateKeyJwt { key, options } = &auth {
                    // Fail at build time, not at the first token request.
                    create_assertion(key, &client_id, token_url, options, SystemTime::now())?;
                }
                let max_wait = self.max_wait.unwrap_or(self.transport.budget);
                let (store, store_status) = match self.token_store {
                    None => (None, TokenStoreStatus::None),
                    Some(choice) => match open_store(choice) {
                        Ok(store) => {
                            let key =
                                StoreKey::new(token_url, &client_id, self.scope.as_deref(), &auth);
                            let wait = store_wait(max_wait, self.transport.budget);
                            (
                                Some(SharedStore::new(store, key, wait)),
                                TokenStoreStatus::Shared,
                            )
                        }
                        // The process keeps running, without sharing, and
                        // says so.
                        Err(StoreRefused::Unavailable(error)) => {
                            if let Some(sink) = &self.events {
                                sink.emit(Event::StoreUnavailable);
                            }
                            (None, TokenStoreStatus::Unavailable(error))
                        }
                        Err(StoreRefused::Config(error)) => return Err(error),
                    },
                };
                Auth::OAuth(
                    OAuthSource {
                        transport: Transport::new(self.transport.clone(), &parsed_url)?,
                        cache: TokenCache::new(
                            max_wait,
                            fetch_inline(max_wait, self.transport.budget, store.is_some()),
                            self.refresh,
                        ),
                        token_url: token_url.to_owned(),
                        scope: self.scope,
                        client_id,
                        method: auth,
                        events: self.events.clone(),
                        store,
                        store_status,
                    }
                    .started(),
                )
            }
        };
        fork::register();
        let born = fork::generation();
        let background = self.background_refresh && matches!(auth, Auth::OAuth(_));
        let refresher = match &auth {
            Auth::OAuth(source) if background => {
                source.cache.set_background(true);
                Some(Refresher::start(Arc::clone(source) as Arc<dyn TokenSource>)?)
            }
            _ => None,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                endpoints,
                born,
                background,
                auth,
                stream_auth,
                refresher,
                forked: ForkSlot::default(),
            }),
        })
    }
}

impl fmt::Debug for ClientBuilder {
    /// URLs are shown with any `user:password@` replaced by `[redacted]@`
    /// (such URLs are refused by `build`, but may sit in a builder).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = |u: &Option<String>| u.as_deref().map(crate::url::redact_userinfo);
        f.debug_struct("ClientBuilder")
            .field("environment", &self.environment)
            .field("credentials", &self.credentials)
            .field("api_base_url", &url(&self.api_base_url))
            .field("data_base_url", &url(&self.data_base_url))
            .field("token_url", &url(&self.token_url))
            .field("transport", &self.transport)
            .field("refresh", &self.refresh)
            .field("background_refresh", &self.background_refresh)
            .field("token_store", &self.token_store)
            .field("deferred", &self.deferred)
            .finish()
    }
}

/// Why a configured store is not used.
enum StoreRefused {
    /// The setting itself is wrong (a relative path, say): a build error.
    Config(Error),
    /// The store cannot be trusted or reached as it is on this host (a
    /// directory another user owns or can write): the client runs without
    /// sharing, and says so ([`Event::StoreUnavailable`],
    /// [`Client::token_store_status`]).
    Unavailable(Error),
}

/// The store of `choice`, opened (the built-in [`FileStore`] at build).
fn open_store(choice: StoreChoice) -> std::result::Result<Arc<dyn TokenStore>, StoreRefused> {
    match choice {
        StoreChoice::Custom(store) => Ok(store),
        StoreChoice::Dir(dir) => open_file_store(dir),
    }
}

/// The built-in token store in `dir` ([`ClientBuilder::token_cache_dir`]).
#[cfg(target_os = "linux")]
fn open_file_store(dir: PathBuf) -> std::result::Result<Arc<dyn TokenStore>, StoreRefused> {
    crate::store::check_dir_setting(&dir).map_err(StoreRefused::Config)?;
    match crate::store::FileStore::open(dir) {
        Ok(store) => Ok(Arc::new(store)),
        Err(error) => Err(StoreRefused::Unavailable(error)),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_file_store(_dir: PathBuf) -> std::result::Result<Arc<dyn TokenStore>, StoreRefused> {
    Err(StoreRefused::Config(Error::config(
        "the token cache directory (file token store) is supported on Linux only",
    )))
}

/// RFC 6749 §3.3: `scope-token *( SP scope-token )`, each token of
/// `%x21 / %x23-5B / %x5D-7E`.
pub(crate) fn validate_scope(scope: &str) -> Result<()> {
    if scope.is_empty() || scope.len() > MAX_SCOPE_LEN {
        return Err(Error::config(format!(
            "scope must be 1 to {MAX_SCOPE_LEN} bytes long (got {})",
            scope.len()
        )));
    }
    let token_ok = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
    };
    if !scope.split(' ').all(token_ok) {
        return Err(Error::config(
            "scope must be scope tokens separated by single spaces, each of printable ASCII other than '\"' and '\\' (RFC 6749 section 3.3)",
        ));
    }
    Ok(())
}

fn check_duration(what: &str, value: Duration) -> Result<()> {
    if value.is_zero() || value > MAX_TIMEOUT {
        return Err(Error::config(format!(
            "{what} must be more than zero and at most {} s",
            MAX_TIMEOUT.as_secs()
        )));
    }
    Ok(())
}

/// One of the timeouts of a [`ClientBuilder`], for
/// [`ClientBuilder::set_timeout_checked`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Timeout {
    /// [`ClientBuilder::connect_timeout`].
    Connect,
    /// [`ClientBuilder::request_timeout`].
    Request,
    /// [`ClientBuilder::token_budget`].
    Budget,
    /// [`ClientBuilder::max_wait`].
    MaxWait,
}

impl Timeout {
    /// What errors call it.
    fn name(self) -> &'static str {
        match self {
            Timeout::Connect => "connect timeout",
            Timeout::Request => "request timeout",
            Timeout::Budget => "token budget",
            Timeout::MaxWait => "longest wait",
        }
    }
}

// Checked setters, for the C builder, which reports a bad value at the
// setter that took it rather than at `build`: each checks its value as
// `build` does and leaves the builder unchanged when it is refused.
impl ClientBuilder {
    /// Sets one of the timeouts, checked as [`build`](Self::build) checks it.
    pub(crate) fn set_timeout_checked(&mut self, which: Timeout, value: Duration) -> Result<()> {
        check_duration(which.name(), value)?;
        match which {
            Timeout::Connect => self.transport.connect_timeout = value,
            Timeout::Request => self.transport.request_timeout = value,
            Timeout::Budget => self.transport.budget = value,
            Timeout::MaxWait => self.max_wait = Some(value),
        }
        Ok(())
    }

    /// [`add_ca_bundle_pem`](Self::add_ca_bundle_pem), with a bundle that
    /// does not parse refused here (it is parsed once).
    pub(crate) fn add_ca_bundle_pem_checked(&mut self, pem: &[u8]) -> Result<()> {
        self.add_ca_certificates(parse_ca_bundle(pem)?);
        Ok(())
    }

    /// Trusts these CA certificates too (already parsed: `APCA_CA_BUNDLE`).
    pub(crate) fn add_ca_certificates(&mut self, certs: Vec<ureq::tls::Certificate<'static>>) {
        self.transport.extra_roots.extend(certs);
    }
}

/// Whether a caller without a valid token may run the token fetch on its own
/// thread: only when it would wait for the whole fetch anyway (`max_wait` at
/// least the budget), and not with a token store, whose fetch may first
/// wait for the store and another process ([`store_wait`]) and then fetch:
/// there the caller waits on a library thread's fetch, at most `max_wait`.
fn fetch_inline(max_wait: Duration, budget: Duration, store: bool) -> bool {
    max_wait >= budget && !store
}

/// How long the store part of a fetch may take in all: a fraction
/// ([`STORE_WAIT_DIVISOR`]) of the shorter of the longest wait and the
/// budget, so that after a store that hangs, or a lock holder that is
/// stopped or gone, the fetch of this process's own still fits in the
/// caller's wait.
fn store_wait(max_wait: Duration, budget: Duration) -> Duration {
    max_wait.min(budget) / STORE_WAIT_DIVISOR
}
