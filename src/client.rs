//! [`Client`]: the one object a program keeps, and its [`ClientBuilder`].

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use crate::assertion::create_assertion;
use crate::cache::{Fetcher, TokenCache};
use crate::credentials::{ApiKeyStyle, ClientAuth, Credentials};
use crate::environment::{Endpoints, Environment};
use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
use crate::fork::{self, ForkSlot};
use crate::headers::AuthHeaders;
use crate::limits::{MAX_SCOPE_LEN, MAX_TIMEOUT};
use crate::policy::RefreshPolicy;
use crate::refresher::{Refresher, RefresherStatus, TokenSource};
use crate::retry::RetryPolicy;
use crate::secret::SecretString;
use crate::store::{SharedStore, StoreKey, TokenStore};
use crate::token::AccessToken;
use crate::transport::{
    parse_ca_bundle, push_form_pair, ProxySetting, TokenForm, Transport, TransportConfig,
};
use crate::url::HttpUrl;

/// The `client_assertion_type` of RFC 7523.
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Counters of a client, for monitoring and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Token acquisitions started (each one or more HTTP requests).
    pub token_fetches: u64,
    /// Token acquisitions that failed.
    pub token_fetch_failures: u64,
    /// HTTP requests sent to the token endpoint, retries included.
    pub token_http_requests: u64,
}

/// An authenticated handle on Alpaca. Cheap to clone; `Send + Sync`: share
/// one client among all threads so they share one cached token.
///
/// ```no_run
/// use alpaca_auth::{Client, Credentials, Environment};
///
/// let client = Client::builder()
///     .environment(Environment::BrokerSandbox)
///     .credentials(Credentials::client_secret("CLIENTID0123456789AB", "my-secret"))
///     .build()?;
/// for (name, value) in client.auth_headers()?.iter() {
///     println!("{name}: {} bytes", value.len());
/// }
/// # Ok::<(), alpaca_auth::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    endpoints: Endpoints,
    /// The fork generation the client was built in (see [`crate::fork`]).
    born: u64,
    /// A background refresher was asked for (a child process starts its own).
    background: bool,
    auth: Auth,
    /// The WebSocket auth message of API key credentials.
    stream_auth: Option<SecretString>,
    /// Declared after `auth`: dropped (and joined) last.
    refresher: Option<Refresher>,
    /// The state of a child process, built there at first use.
    forked: ForkSlot<Forked>,
}

/// What a child process builds for itself after `fork()`.
struct Forked {
    source: Arc<OAuthSource>,
    refresher: Mutex<Option<Refresher>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if fork::generation() != self.born {
            // In a child process: the inherited refresher thread does not
            // exist here, and the inherited cache and connections belong to
            // the parent. Leak them rather than wait or shut anything down.
            std::mem::forget(self.refresher.take());
            if let Auth::OAuth(base) = &self.auth {
                std::mem::forget(Arc::clone(base));
            }
        }
    }
}

enum Auth {
    Fixed(AuthHeaders),
    OAuth(Arc<OAuthSource>),
}

struct OAuthSource {
    client_id: String,
    scope: Option<String>,
    method: ClientAuth,
    token_url: String,
    transport: Transport,
    cache: TokenCache,
    /// Longest wait of a call for a token.
    max_wait: Duration,
    refresh: RefreshPolicy,
    events: Option<EventSink>,
    /// Shared with other processes, if configured: consulted on every fetch.
    store: Option<SharedStore>,
}

impl OAuthSource {
    fn form(&self) -> Result<TokenForm> {
        // Sized for the worst case up front: a reallocation would free a
        // copy of the secret without zeroizing it.
        let secret_len = match &self.method {
            ClientAuth::Secret(secret) => secret.len(),
            ClientAuth::PrivateKeyJwt { .. } => crate::limits::MAX_ASSERTION_LEN,
        };
        let mut body = String::with_capacity(
            160 + JWT_BEARER_ASSERTION_TYPE.len() * 3
                + (self.client_id.len() + secret_len + self.scope.as_ref().map_or(0, String::len))
                    * 3,
        );
        push_form_pair(&mut body, "grant_type", "client_credentials");
        push_form_pair(&mut body, "client_id", &self.client_id);
        if let Some(scope) = &self.scope {
            push_form_pair(&mut body, "scope", scope);
        }
        let secret = match &self.method {
            ClientAuth::Secret(secret) => {
                push_form_pair(&mut body, "client_secret", secret.expose_secret());
                secret.clone()
            }
            ClientAuth::PrivateKeyJwt { key, options } => {
                let assertion = create_assertion(
                    key,
                    &self.client_id,
                    &self.token_url,
                    options,
                    SystemTime::now(),
                )?;
                push_form_pair(
                    &mut body,
                    "client_assertion_type",
                    JWT_BEARER_ASSERTION_TYPE,
                );
                push_form_pair(&mut body, "client_assertion", assertion.expose_secret());
                assertion
            }
        };
        Ok(TokenForm {
            body: SecretString::new(body),
            secret,
        })
    }

    /// A new token: through the token store when there is one, so that one
    /// process of a fleet fetches for all.
    fn fetch(&self) -> Result<AccessToken> {
        match &self.store {
            Some(store) => store.fetch(&|token| self.cache.would_serve(token), &|| self.request()),
            None => self.request(),
        }
    }

    /// A token request to the token endpoint.
    fn request(&self) -> Result<AccessToken> {
        self.transport
            .request_token(&self.token_url, &mut || self.form())
    }

    fn token(&self) -> Result<AccessToken> {
        self.cache.get(|| self.fetch())
    }

    /// A source with the same credentials and settings and nothing else in
    /// common: an empty cache and a new HTTP agent (for a child process).
    fn fresh(&self) -> Result<Arc<OAuthSource>> {
        let config = self.transport.config().clone();
        let fetch_inline = fetch_inline(self.max_wait, config.budget, self.store.is_some());
        Ok(OAuthSource {
            transport: Transport::new(config, &HttpUrl::parse(&self.token_url)?)?,
            cache: TokenCache::new(self.max_wait, fetch_inline, self.refresh),
            max_wait: self.max_wait,
            client_id: self.client_id.clone(),
            scope: self.scope.clone(),
            method: self.method.clone(),
            token_url: self.token_url.clone(),
            refresh: self.refresh,
            events: self.events.clone(),
            store: self.store.clone(),
        }
        .started())
    }

    /// Shares the source and lets its cache run fetches on library threads.
    fn started(self) -> Arc<OAuthSource> {
        let source = Arc::new(self);
        let weak = Arc::downgrade(&source);
        source.cache.set_fetcher(weak as Weak<dyn Fetcher>);
        if let Some(sink) = &source.events {
            source.cache.set_events(sink.clone());
        }
        source
    }
}

impl Fetcher for OAuthSource {
    fn run_claimed(&self, background: bool) {
        let _ = self.cache.run_fetch(|| self.fetch(), background);
    }
}

impl TokenSource for OAuthSource {
    fn current(&self) -> Option<AccessToken> {
        self.cache.current()
    }

    fn get(&self) -> Result<AccessToken> {
        self.token()
    }

    fn refresh_now(&self) -> Result<Option<AccessToken>> {
        self.cache.refresh_now(|| self.fetch())
    }

    fn refresher_stopped(&self) {
        self.cache.set_background(false);
    }

    fn watch(&self, on_change: Arc<dyn Fn() + Send + Sync>) {
        self.cache.set_watcher(on_change);
    }
}

impl Client {
    /// A builder with the documented defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from `APCA_*` environment variables (see the
    /// README's table); ambiguous or partial settings are errors naming the
    /// variables.
    pub fn from_env() -> Result<Client> {
        ClientBuilder::default().from_env()?.build()
    }

    /// The resolved base URLs and token endpoint.
    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.endpoints
    }

    /// The first message of an Alpaca WebSocket stream (market data, trade
    /// updates) for API key credentials:
    /// `{"action":"auth","key":"<key id>","secret":"<secret>"}`. It holds the
    /// secret: it is zeroized when dropped and never printed.
    ///
    /// Client credentials: a [`Config`](crate::ErrorKind::Config) error.
    /// Alpaca does not document OAuth access tokens on these streams, and
    /// its market-data streams are reported to refuse them; use an API key
    /// pair for streams.
    ///
    /// ```no_run
    /// # let client = alpaca_auth::Client::from_env()?;
    /// let url = client.endpoints().market_data_stream_url("iex");
    /// let auth = client.stream_auth_message()?; // send as the first text frame
    /// # let _ = (url, auth);
    /// # Ok::<(), alpaca_auth::Error>(())
    /// ```
    pub fn stream_auth_message(&self) -> Result<SecretString> {
        self.inner.stream_auth.clone().ok_or_else(|| {
            Error::config(
                "Alpaca's streams authenticate with an API key pair; OAuth access tokens are not documented for them (market-data streams reportedly refuse them)",
            )
        })
    }

    /// The token source of this process: the one built with the client, or
    /// in a child process after `fork()`, a fresh one (see [`crate::fork`]).
    /// One relaxed atomic load when no fork happened.
    #[inline]
    fn live<'a>(&'a self, base: &'a Arc<OAuthSource>) -> Result<&'a OAuthSource> {
        if fork::generation() == self.inner.born {
            Ok(base)
        } else {
            self.forked(base)
        }
    }

    /// [`live`](Self::live) for callers without a result to report into.
    fn oauth(&self) -> Option<&OAuthSource> {
        match &self.inner.auth {
            Auth::OAuth(base) => self.live(base).ok(),
            Auth::Fixed(_) => None,
        }
    }

    /// The state of this child process: built at its first use, with a
    /// fresh cache, HTTP agent and (if configured) background refresher.
    #[cold]
    #[inline(never)]
    fn forked<'a>(&'a self, base: &'a OAuthSource) -> Result<&'a OAuthSource> {
        let generation = fork::generation();
        if let Some(forked) = self.inner.forked.get(generation) {
            return Ok(&forked.source);
        }
        let fresh = Forked {
            source: base.fresh()?,
            refresher: Mutex::new(None),
        };
        let (forked, mine) = self.inner.forked.install(generation, fresh);
        if let (true, Some(sink)) = (mine, &forked.source.events) {
            sink.emit(Event::ForkDetected);
        }
        if mine && self.inner.background {
            let source = &forked.source;
            source.cache.set_background(true);
            match Refresher::start(Arc::clone(source) as Arc<dyn TokenSource>) {
                Ok(refresher) => {
                    *forked
                        .refresher
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(refresher);
                }
                Err(_) => source.cache.set_background(false),
            }
        }
        Ok(&forked.source)
    }

    /// Whether this client uses OAuth2 access tokens (client credentials).
    pub fn uses_tokens(&self) -> bool {
        matches!(self.inner.auth, Auth::OAuth(_))
    }

    /// The current access token, fetched or refreshed if needed. Many
    /// threads calling at once cause at most one token request.
    ///
    /// API key credentials have no token: that is a
    /// [`Config`](crate::ErrorKind::Config) error.
    pub fn access_token(&self) -> Result<AccessToken> {
        match &self.inner.auth {
            Auth::OAuth(base) => self.live(base)?.token(),
            Auth::Fixed(_) => Err(Error::config(
                "API key credentials have no access token; use auth_headers()",
            )),
        }
    }

    /// The headers that authorize an API request. For API keys these are
    /// built once; for client credentials they come from the cached token.
    pub fn auth_headers(&self) -> Result<AuthHeaders> {
        match &self.inner.auth {
            Auth::OAuth(base) => self.live(base)?.token().map(AuthHeaders::bearer),
            Auth::Fixed(headers) => Ok(headers.clone()),
        }
    }

    /// How many auth headers this client sends: 1 for a bearer token or
    /// HTTP Basic, 2 for the APCA key headers. Fixed for the client's life.
    pub fn auth_header_count(&self) -> usize {
        match &self.inner.auth {
            Auth::OAuth(_) => 1,
            Auth::Fixed(headers) => headers.len(),
        }
    }

    /// Runs `f` on the name and value of auth header `index` (see
    /// [`auth_header_count`](Self::auth_header_count)) without copying or
    /// counting references: the zero-allocation path for writing a header
    /// into a buffer of one's own. `Ok(None)` if `index` is out of range.
    /// The value is a secret.
    ///
    /// ```no_run
    /// # let client = alpaca_auth::Client::from_env()?;
    /// let mut line = Vec::with_capacity(2048);
    /// client.with_auth_header(0, |name, value| {
    ///     line.clear();
    ///     line.extend_from_slice(name.as_bytes());
    ///     line.extend_from_slice(b": ");
    ///     line.extend_from_slice(value);
    /// })?;
    /// # Ok::<(), alpaca_auth::Error>(())
    /// ```
    #[inline]
    pub fn with_auth_header<R>(
        &self,
        index: usize,
        mut f: impl FnMut(&str, &[u8]) -> R,
    ) -> Result<Option<R>> {
        match &self.inner.auth {
            Auth::OAuth(base) if index == 0 => {
                let source = self.live(base)?;
                source
                    .cache
                    .with_token(
                        || source.fetch(),
                        |token| f("Authorization", token.authorization().as_bytes()),
                    )
                    .map(Some)
            }
            Auth::OAuth(_) => Ok(None),
            Auth::Fixed(headers) => Ok(headers
                .iter()
                .nth(index)
                .map(|(name, value)| f(crate::headers::display_name(name), value.as_bytes()))),
        }
    }

    /// Runs `f` on auth header line `index` as the parts that make up
    /// `Name: value` (one part for a bearer token, whose line is prebuilt).
    /// The copy-free path of the C ABI. `Ok(None)` if `index` is out of range.
    #[inline]
    pub(crate) fn with_auth_line<R>(
        &self,
        index: usize,
        mut f: impl FnMut(&[&[u8]]) -> R,
    ) -> Result<Option<R>> {
        match &self.inner.auth {
            Auth::OAuth(base) if index == 0 => {
                let source = self.live(base)?;
                source
                    .cache
                    .with_token(|| source.fetch(), |token| f(&[token.authorization_line()]))
                    .map(Some)
            }
            Auth::OAuth(_) => Ok(None),
            Auth::Fixed(_) => {
                self.with_auth_header(index, |name, value| f(&[name.as_bytes(), b": ", value]))
            }
        }
    }

    /// [`with_auth_line`](Self::with_auth_line) that never waits and never
    /// sends a request on this thread: a [`WouldBlock`](crate::ErrorKind::WouldBlock)
    /// error when no valid token is cached (a request is then started on a
    /// library thread if none is under way and no failure hold applies).
    #[inline]
    pub(crate) fn try_with_auth_line<R>(
        &self,
        index: usize,
        mut f: impl FnMut(&[&[u8]]) -> R,
    ) -> Result<Option<R>> {
        match &self.inner.auth {
            Auth::OAuth(base) if index == 0 => self
                .live(base)?
                .cache
                .try_with_token(|token| f(&[token.authorization_line()]))
                .map(Some)
                .ok_or_else(|| {
                    Error::new(
                        crate::ErrorKind::WouldBlock,
                        "no valid token is cached yet; a token request is under way or held off",
                    )
                }),
            _ => self.with_auth_line(index, f),
        }
    }

    /// Runs `f` on the name and value of auth header `index` like
    /// [`with_auth_header`](Self::with_auth_header), but never waits and
    /// never sends a request on this thread: when no valid token is cached
    /// the result is a [`WouldBlock`](crate::ErrorKind::WouldBlock) error
    /// (and a token request is started on a library thread, unless one is
    /// under way or a failure hold applies). For the order path.
    #[inline]
    pub fn try_with_auth_header<R>(
        &self,
        index: usize,
        mut f: impl FnMut(&str, &[u8]) -> R,
    ) -> Result<Option<R>> {
        match &self.inner.auth {
            Auth::OAuth(base) if index == 0 => self
                .live(base)?
                .cache
                .try_with_token(|token| f("Authorization", token.authorization().as_bytes()))
                .map(Some)
                .ok_or_else(|| {
                    Error::new(
                        crate::ErrorKind::WouldBlock,
                        "no valid token is cached yet; a token request is under way or held off",
                    )
                }),
            _ => self.with_auth_header(index, f),
        }
    }

    /// Adds the auth headers to a `ureq` request, and sets the request to
    /// follow no redirect: a `3xx` answer is returned to the caller as it
    /// is (or as ureq's status error), so the credentials never travel to
    /// wherever a redirect points (another host, or `http://` after
    /// `https://`). ureq strips only `Authorization` and `Cookie` on a
    /// redirect; the `APCA-API-*` headers would go along. To follow a
    /// redirect, check its `Location` and authorize a new request to it.
    ///
    /// ```no_run
    /// # let client = alpaca_auth::Client::from_env()?;
    /// let url = format!("{}/v2/account", client.endpoints().api_base());
    /// let request = client.authorize(ureq::get(&url))?;
    /// let account = request.call();
    /// # Ok::<(), alpaca_auth::Error>(())
    /// ```
    pub fn authorize<B>(
        &self,
        request: ureq::RequestBuilder<B>,
    ) -> Result<ureq::RequestBuilder<B>> {
        let headers = self.auth_headers()?;
        let request = request.config().max_redirects(0).build();
        Ok(headers.iter().fold(request, |request, (name, value)| {
            request.header(name, value)
        }))
    }

    /// Forgets the cached token and this client's own failure backoff: the
    /// next call fetches a new token (single-flight), unless the server
    /// imposed a hold (`Retry-After`), which is kept. No effect for API keys.
    ///
    /// When many threads may see the same 401, prefer
    /// [`invalidate_token`](Self::invalidate_token): late calls about a token
    /// already replaced then cause no further requests.
    ///
    /// With a token store, the stored entry goes too if it holds the token
    /// this client had cached.
    pub fn invalidate(&self) {
        if let Some(source) = self.oauth() {
            // The stored entry first: a fetch after the cache drops the
            // token must not load it back.
            if let (Some(store), Some(token)) = (&source.store, source.cache.current()) {
                store.forget(token.expose_secret());
            }
            source.cache.invalidate();
        }
    }

    /// Forgets the cached token if it is `rejected` (the token the API just
    /// answered 401 to); returns whether it was. A report about a token that
    /// has already been replaced changes nothing. With a token store, the
    /// stored entry is removed if it still holds `rejected`, so that no
    /// process of the fleet loads it again.
    pub fn invalidate_token(&self, rejected: &AccessToken) -> bool {
        self.oauth().is_some_and(|source| {
            if let Some(store) = &source.store {
                store.forget(rejected.expose_secret());
            }
            source.cache.invalidate_token(rejected)
        })
    }

    /// Like [`invalidate_token`](Self::invalidate_token), for the token as
    /// it was sent: the bare token, or the whole `Authorization: Bearer ...`
    /// header line. Compared with the cached token in constant time; returns
    /// whether it was the cached one. The form for C callers and for code
    /// that kept only the header line. With a token store, the stored entry
    /// is removed if it still holds that token.
    pub fn invalidate_presented(&self, token_or_header_line: &str) -> bool {
        self.oauth().is_some_and(|source| {
            if let Some(store) = &source.store {
                store.forget(crate::token::bare_token(token_or_header_line));
            }
            source.cache.invalidate_presented(token_or_header_line)
        })
    }

    /// The cached token if it is still valid, without any request.
    pub fn cached_token(&self) -> Option<AccessToken> {
        self.oauth().and_then(|source| source.cache.peek())
    }

    /// How long the cached token will still be handed out (until its
    /// expiry less the expiry margin), or `None` if no valid token is
    /// cached (or the client uses API keys). Makes no request.
    pub fn token_remaining(&self) -> Option<Duration> {
        self.cached_token().map(|token| token.usable_remaining())
    }

    /// The error of the last token acquisition, if it failed.
    pub fn last_error(&self) -> Option<Error> {
        self.oauth().and_then(|source| source.cache.last_error())
    }

    /// The background refresher's status, if it was enabled
    /// ([`ClientBuilder::background_refresh`]).
    ///
    /// In a child process (after `fork()`), this is the status of the
    /// child's own refresher, started at the child's first use of the client.
    pub fn refresher_status(&self) -> Option<RefresherStatus> {
        if fork::generation() == self.inner.born {
            return self.inner.refresher.as_ref().map(Refresher::status);
        }
        if !self.inner.background {
            return None;
        }
        let Auth::OAuth(base) = &self.inner.auth else {
            return None;
        };
        let stopped = RefresherStatus::default();
        if self.live(base).is_err() {
            return Some(stopped);
        }
        let forked = self.inner.forked.get(fork::generation())?;
        let refresher = forked
            .refresher
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Some(refresher.as_ref().map_or(stopped, Refresher::status))
    }

    /// Counters of token acquisitions.
    pub fn stats(&self) -> ClientStats {
        match self.oauth() {
            Some(source) => {
                let cache = source.cache.stats();
                ClientStats {
                    token_fetches: cache.fetches,
                    token_fetch_failures: cache.failures,
                    token_http_requests: source.transport.http_requests(),
                }
            }
            None => ClientStats::default(),
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Client");
        d.field("endpoints", &self.inner.endpoints);
        match &self.inner.auth {
            Auth::Fixed(headers) => d.field("headers", headers),
            Auth::OAuth(source) => d
                .field("client_id", &source.client_id)
                .field("method", &source.method)
                .field("token_url", &source.token_url),
        };
        d.finish()
    }
}

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

    /// Trusts the CA certificates of a PEM bundle in addition to the
    /// built-in webpki roots (for TLS-inspecting corporate proxies).
    pub fn add_ca_bundle_pem(mut self, pem: &[u8]) -> Self {
        match parse_ca_bundle(pem) {
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
    /// No effect for API keys.
    pub fn background_refresh(mut self, on: bool) -> Self {
        self.background_refresh = on;
        self
    }

    /// Shares tokens with the other processes of this user that use the
    /// same directory and credential: one token request per rotation for
    /// the whole fleet (see [`FileStore`](crate::store::FileStore);
    /// `APCA_TOKEN_CACHE_DIR`). The
    /// directory is created `0700` at build; one accessible to others is
    /// refused. Client credentials only; no effect for API keys.
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
    /// [`token_budget`](Self::token_budget)). Token requests run on threads
    /// of the library's own, never the caller's: a call that finds no valid
    /// token waits for the request under way at most this long, then gets a
    /// [`Timeout`](crate::ErrorKind::Timeout) error while the request goes
    /// on (the next call may get its token). A call with a valid token never
    /// waits. More than zero, at most [`MAX_TIMEOUT`].
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
                "no credentials configured: set an API key (APCA_API_KEY_ID + APCA_API_SECRET_KEY) or client credentials (APCA_CLIENT_ID + APCA_CLIENT_SECRET or a private key)",
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
        check_duration("connect timeout", self.transport.connect_timeout)?;
        check_duration("request timeout", self.transport.request_timeout)?;
        check_duration("token budget", self.transport.budget)?;
        if let Some(wait) = self.max_wait {
            check_duration("longest wait", wait)?;
        }
        self.refresh.validate()?;
        if self.transport.retry.max_attempts == 0 {
            return Err(Error::config(
                "retry policy must allow at least one attempt",
            ));
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
                        "client credentials are not available for the Trading API (environment {}): use the broker or broker-sandbox environment, or set a token URL (APCA_AUTH_URL)",
                        self.environment
                    ))
                })?;
                let parsed_url = HttpUrl::parse(token_url)?;
                if let ClientAuth::PrivateKeyJwt { key, options } = &auth {
                    // Fail at build time, not at the first token request.
                    create_assertion(key, &client_id, token_url, options, SystemTime::now())?;
                }
                let store = match self.token_store {
                    None => None,
                    Some(choice) => {
                        let store: Arc<dyn TokenStore> = match choice {
                            StoreChoice::Dir(dir) => open_file_store(dir)?,
                            StoreChoice::Custom(store) => store,
                        };
                        let key =
                            StoreKey::new(token_url, &client_id, self.scope.as_deref(), &auth);
                        // Another process's fetch may take a whole budget.
                        Some(SharedStore::new(store, key, self.transport.budget))
                    }
                };
                let max_wait = self.max_wait.unwrap_or(self.transport.budget);
                Auth::OAuth(
                    OAuthSource {
                        transport: Transport::new(self.transport.clone(), &parsed_url)?,
                        cache: TokenCache::new(
                            max_wait,
                            fetch_inline(max_wait, self.transport.budget, store.is_some()),
                            self.refresh,
                        ),
                        max_wait,
                        token_url: token_url.to_owned(),
                        scope: self.scope,
                        client_id,
                        method: auth,
                        refresh: self.refresh,
                        events: self.events.clone(),
                        store,
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

/// Whether a caller without a valid token may run the token fetch on its own
/// thread: only when it would wait for the whole fetch anyway (`max_wait` at
/// least the budget), and not with a token store, whose fetch may first
/// wait for another process (up to a budget) and then fetch (another):
/// there the caller waits on a library thread's fetch, at most `max_wait`.
fn fetch_inline(max_wait: Duration, budget: Duration, store: bool) -> bool {
    max_wait >= budget && !store
}

/// The built-in token store in `dir` ([`ClientBuilder::token_cache_dir`]).
#[cfg(target_os = "linux")]
fn open_file_store(dir: PathBuf) -> Result<Arc<dyn TokenStore>> {
    Ok(Arc::new(crate::store::FileStore::open(dir)?))
}

#[cfg(not(target_os = "linux"))]
fn open_file_store(_dir: PathBuf) -> Result<Arc<dyn TokenStore>> {
    Err(Error::config(
        "the token cache directory (file token store) is supported on Linux only",
    ))
}

/// A client is shared across threads: keep it `Send + Sync`.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Client>();
};

/// `{"action":"auth","key":..,"secret":..}`, written into a buffer sized up
/// front (a reallocation would leave a copy of the secret behind).
fn stream_auth_message(key_id: &str, secret: &SecretString) -> Result<SecretString> {
    #[derive(serde::Serialize)]
    struct Auth<'a> {
        action: &'static str,
        key: &'a str,
        secret: &'a str,
    }
    // JSON escapes at most 6 bytes per input byte.
    let mut out =
        zeroize::Zeroizing::new(Vec::with_capacity(48 + 6 * (key_id.len() + secret.len())));
    serde_json::to_writer(
        &mut *out,
        &Auth {
            action: "auth",
            key: key_id,
            secret: secret.expose_secret(),
        },
    )
    .map_err(|_| Error::config("cannot build the stream auth message"))?;
    let text = String::from_utf8(std::mem::take(&mut *out))
        .map_err(|_| Error::config("cannot build the stream auth message"))?;
    Ok(SecretString::from(text))
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

// Checked setters, for the C builder, which reports a bad value at the
// setter that took it rather than at `build`: each checks its value as
// `build` does and leaves the builder unchanged when it is refused.
impl ClientBuilder {
    /// Sets one of the timeouts, checked as [`build`](Self::build) checks it.
    pub(crate) fn set_timeout_checked(&mut self, which: Timeout, value: Duration) -> Result<()> {
        let what = match which {
            Timeout::Connect => "connect timeout",
            Timeout::Request => "request timeout",
            Timeout::Budget => "token budget",
            Timeout::MaxWait => "longest wait",
        };
        check_duration(what, value)?;
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
        self.transport.extra_roots.extend(parse_ca_bundle(pem)?);
        Ok(())
    }
}
