//! [`ClientBuilder`]: the configuration of a [`Client`] and its checks.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::Client;
use crate::config::{Config, StoreChoice};
use crate::credentials::Credentials;
use crate::env_vars::process_env;
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
#[cfg(doc)]
use crate::limits::{MAX_SCOPE_LEN, MAX_TIMEOUT};
use crate::policy::RefreshPolicy;
use crate::retry::RetryPolicy;
use crate::store::TokenStore;
use crate::transport::{parse_ca_bundle, ProxySetting};
use crate::trust::{read_ca_file, TlsRoots};

/// The configuration of a [`Client`]: a typed front end over the one
/// configuration the environment and the C builder write too. Every setting
/// has a documented default; errors are reported by
/// [`build`](ClientBuilder::build).
#[derive(Clone, Default)]
pub struct ClientBuilder {
    config: Config,
    /// The first error of a setter that cannot fail (a CA bundle that does
    /// not parse), reported by `build`.
    deferred: Option<Error>,
}

impl ClientBuilder {
    /// The Alpaca environment (default [`Environment::Paper`]).
    pub fn environment(mut self, environment: Environment) -> Self {
        self.config.environment = environment;
        self
    }

    /// The credentials (required).
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.config.credentials = Some(credentials);
        self
    }

    /// Overrides the Trading/Broker API base URL.
    pub fn api_base_url(mut self, url: impl Into<String>) -> Self {
        self.config.urls.api_base = Some(url.into());
        self
    }

    /// Overrides the Market Data API base URL.
    pub fn data_base_url(mut self, url: impl Into<String>) -> Self {
        self.config.urls.data_base = Some(url.into());
        self
    }

    /// Overrides the OAuth2 token endpoint (also the assertion's `aud`).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.config.urls.token = Some(url.into());
        self
    }

    /// The `scope` of token requests (RFC 6749 §3.3): space-separated
    /// scope tokens, sent form-encoded. None by default (the server's
    /// default scope). Client credentials only; checked by
    /// [`build`](Self::build): 1 to [`MAX_SCOPE_LEN`] bytes of printable
    /// ASCII except `"` and `\\`, tokens separated by single spaces.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.config.scope = Some(scope.into());
        self
    }

    /// Connect timeout (default
    /// [`DEFAULT_CONNECT_TIMEOUT`](crate::limits::DEFAULT_CONNECT_TIMEOUT)).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.transport.connect_timeout = timeout;
        self
    }

    /// Timeout of one token request attempt (default
    /// [`DEFAULT_REQUEST_TIMEOUT`](crate::limits::DEFAULT_REQUEST_TIMEOUT)).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.transport.request_timeout = timeout;
        self
    }

    /// Time budget of one token acquisition, all attempts and waits together
    /// (default [`DEFAULT_TOKEN_BUDGET`](crate::limits::DEFAULT_TOKEN_BUDGET)).
    pub fn token_budget(mut self, budget: Duration) -> Self {
        self.config.transport.budget = budget;
        self
    }

    /// Retry policy of token requests (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.config.transport.retry = policy;
        self
    }

    /// Proxy for token requests (default [`ProxySetting::FromEnv`]).
    pub fn proxy(mut self, proxy: ProxySetting) -> Self {
        self.config.transport.proxy = proxy;
        self
    }

    /// The roots of trust of token requests (default [`TlsRoots::FromEnv`]:
    /// `SSL_CERT_FILE` and `SSL_CERT_DIR` when set, else the bundled
    /// Mozilla roots); `APCA_TLS_ROOTS`.
    pub fn tls_roots(mut self, roots: TlsRoots) -> Self {
        self.config.transport.roots = roots;
        self
    }

    /// Trusts the CA certificates of a PEM bundle in addition to the roots
    /// of [`tls_roots`](Self::tls_roots) (for TLS-inspecting corporate
    /// proxies); `APCA_CA_BUNDLE` names such a file. May be called more
    /// than once. Refused by [`build`](Self::build) with
    /// [`TlsRoots::Platform`].
    pub fn add_ca_bundle_pem(mut self, pem: &[u8]) -> Self {
        match parse_ca_bundle(pem) {
            Ok(certs) => self.config.transport.extra_roots.extend(certs),
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
            Ok(certs) => self.config.transport.extra_roots.extend(certs),
            Err(e) => {
                self.deferred.get_or_insert(e);
            }
        }
        self
    }

    /// When tokens are refreshed ahead of expiry (default
    /// [`RefreshPolicy::default`]).
    pub fn refresh_policy(mut self, policy: RefreshPolicy) -> Self {
        self.config.refresh = policy;
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
        self.config.background_refresh = on;
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
        self.config.token_store = Some(StoreChoice::Dir(dir.into()));
        self
    }

    /// Shares tokens through a store of the application's (another host's
    /// cache, for example): see [`TokenStore`]. Replaces
    /// [`token_cache_dir`](Self::token_cache_dir).
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.config.token_store = Some(StoreChoice::Custom(store));
        self
    }

    /// Shares tokens through the built-in Redis store (cargo feature
    /// `redis`; `APCA_TOKEN_STORE_URL`): processes on every host that use
    /// the same Redis and credential send one token request per rotation.
    /// `url` is `redis://[[user]:password@]host[:port][/db]`, `rediss://`
    /// the same over TLS (the server's certificate verified against the
    /// operating system's roots, or `SSL_CERT_FILE`/`SSL_CERT_DIR`), or
    /// `unix://[[user]:password@]/path[?db=N]`; `%XX` escapes in the user
    /// and password. A URL that does not parse, or a build without the
    /// feature, is a [`Config`](crate::ErrorKind::Config) error at
    /// [`build`](Self::build) that never shows the password. `build`
    /// connects once: a server that refuses the user or password leaves
    /// the client running without sharing ([`Event::StoreUnavailable`],
    /// [`Client::token_store_status`] says why); a server that is down or
    /// does not answer is tried again at each fetch, which falls back to a
    /// request of the client's own meanwhile. What Redis holds is the
    /// access token and its expiry (a bearer credential until it expires:
    /// protect the instance with an ACL user and TLS), never the secret or
    /// key. Replaces [`token_cache_dir`](Self::token_cache_dir) and
    /// [`token_store`](Self::token_store).
    pub fn token_store_url(mut self, url: &str) -> Self {
        if let Err(error) = self.config.set_token_store_url(url) {
            self.deferred.get_or_insert(error);
        }
        self
    }

    /// The prefix of the Redis store's keys (default
    /// [`DEFAULT_REDIS_KEY_PREFIX`](crate::limits::DEFAULT_REDIS_KEY_PREFIX);
    /// `APCA_TOKEN_STORE_PREFIX`), e.g. one per fleet sharing an instance:
    /// 1 to [`MAX_REDIS_KEY_PREFIX_LEN`](crate::limits::MAX_REDIS_KEY_PREFIX_LEN)
    /// bytes of printable ASCII without spaces or braces. Set after
    /// [`token_store_url`](Self::token_store_url) (a build error otherwise).
    pub fn token_store_key_prefix(mut self, prefix: &str) -> Self {
        if let Err(error) = self.config.set_token_store_prefix(prefix) {
            self.deferred.get_or_insert(error);
        }
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
        self.config.max_wait = Some(wait);
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
        self.config.events = Some(EventSink::new(callback));
        self
    }

    /// Applies the `APCA_*` environment variables over this builder.
    pub fn from_env(self) -> Result<Self> {
        self.from_env_with(&process_env)
    }

    /// Applies environment variables read through `lookup` (a testable
    /// stand-in for the process environment).
    pub fn from_env_with(
        mut self,
        lookup: &dyn Fn(&str) -> Result<Option<String>>,
    ) -> Result<Self> {
        crate::env_config::apply(&mut self.config, lookup)?;
        Ok(self)
    }

    /// Validates everything and builds the client. Makes no network request.
    pub fn build(self) -> Result<Client> {
        if let Some(error) = self.deferred {
            return Err(error);
        }
        Client::from_config(self.config)
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("deferred", &self.deferred)
            .finish()
    }
}
