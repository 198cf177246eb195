//! [`Client`]: the one object a program keeps; its [`ClientBuilder`]
//! (`builder.rs`), its assembly from a [`Config`](crate::config::Config)
//! (`assemble.rs`) and the OAuth token source behind it (`source.rs`).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::environment::Endpoints;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::fork::{self, ForkSlot};
use crate::headers::AuthHeaders;
use crate::refresher::{Refresher, RefresherStatus, TokenSource};
use crate::secret::SecretString;
use crate::store::TokenStoreStatus;
use crate::token::AccessToken;

mod assemble;
mod builder;
mod source;

pub use builder::ClientBuilder;
use source::OAuthSource;

/// The `client_assertion_type` of RFC 7523.
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Counters of a client, for monitoring and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    pub(crate) token_fetches: u64,
    pub(crate) token_fetch_failures: u64,
    pub(crate) token_http_requests: u64,
}

impl ClientStats {
    /// Token acquisitions started (each one or more HTTP requests).
    pub fn token_fetches(&self) -> u64 {
        self.token_fetches
    }

    /// Token acquisitions that failed.
    pub fn token_fetch_failures(&self) -> u64 {
        self.token_fetch_failures
    }

    /// HTTP requests sent to the token endpoint, retries included.
    pub fn token_http_requests(&self) -> u64 {
        self.token_http_requests
    }
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
        self.with_header::<false, R>(index, |header| match header {
            Header::Token(token) => f("Authorization", token.authorization().as_bytes()),
            Header::Fixed(name, value) => f(name, value),
        })
    }

    /// Runs `f` on auth header line `index` as the parts that make up
    /// `Name: value` (one part for a bearer token, whose line is prebuilt).
    /// The copy-free path of the C ABI. `Ok(None)` if `index` is out of range.
    #[inline]
    pub(crate) fn with_auth_line<R>(
        &self,
        index: usize,
        f: impl FnMut(&[&[u8]]) -> R,
    ) -> Result<Option<R>> {
        self.with_header::<false, R>(index, as_line(f))
    }

    /// [`with_auth_line`](Self::with_auth_line) that never waits and never
    /// sends a request on this thread: a [`WouldBlock`](crate::ErrorKind::WouldBlock)
    /// error when no valid token is cached (a request is then started on a
    /// library thread if none is under way and no failure hold applies).
    #[inline]
    pub(crate) fn try_with_auth_line<R>(
        &self,
        index: usize,
        f: impl FnMut(&[&[u8]]) -> R,
    ) -> Result<Option<R>> {
        self.with_header::<true, R>(index, as_line(f))
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
        self.with_header::<true, R>(index, |header| match header {
            Header::Token(token) => f("Authorization", token.authorization().as_bytes()),
            Header::Fixed(name, value) => f(name, value),
        })
    }

    /// The one path of the four header accessors above: `f` sees auth
    /// header `index`, the cached token's or a fixed one; `Ok(None)` if
    /// `index` is out of range. With `NON_BLOCKING`, a caller without a
    /// valid token cached gets `WouldBlock` at once instead of waiting.
    #[inline(always)]
    fn with_header<const NON_BLOCKING: bool, R>(
        &self,
        index: usize,
        mut f: impl FnMut(Header<'_>) -> R,
    ) -> Result<Option<R>> {
        match &self.inner.auth {
            Auth::OAuth(base) if index == 0 => {
                let source = self.live(base)?;
                let on_token = |token: &AccessToken| f(Header::Token(token));
                if NON_BLOCKING {
                    source.cache.try_with_token(on_token).map(Some).ok_or_else(|| {
                        Error::new(
                            crate::ErrorKind::WouldBlock,
                            "no valid token is cached yet; a token request is under way or held off",
                        )
                    })
                } else {
                    source
                        .cache
                        .with_token(|| source.fetch(), on_token)
                        .map(Some)
                }
            }
            Auth::OAuth(_) => Ok(None),
            Auth::Fixed(headers) => Ok(headers.iter().nth(index).map(|(name, value)| {
                f(Header::Fixed(
                    crate::headers::display_name(name),
                    value.as_bytes(),
                ))
            })),
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
            // A late report changes nothing, the store included.
            if !source
                .cache
                .is_current(&|current| current.same_token(rejected))
            {
                return false;
            }
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
            // A late report changes nothing, the store included.
            if !source
                .cache
                .is_current(&|current| current.matches_presented(token_or_header_line))
            {
                return false;
            }
            if let Some(store) = &source.store {
                store.forget(crate::token::bare_token(token_or_header_line));
            }
            source.cache.invalidate_presented(token_or_header_line)
        })
    }

    /// Whether this client shares its tokens through a token store, or why
    /// a configured one is not used: a store directory that cannot be
    /// trusted (another user owns it or can write a directory above it, a
    /// symbolic link, permissions open to others) does not stop the client
    /// from building; it runs without sharing, reports
    /// [`Event::StoreUnavailable`] and says why here. API keys:
    /// [`TokenStoreStatus::None`].
    pub fn token_store_status(&self) -> TokenStoreStatus {
        match &self.inner.auth {
            Auth::OAuth(base) => base.store_status.clone(),
            Auth::Fixed(_) => TokenStoreStatus::None,
        }
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

/// An auth header as [`Client::with_header`] hands it out.
enum Header<'a> {
    /// The cached token (its header and its prebuilt line).
    Token(&'a AccessToken),
    /// A fixed header: its name as sent, and its value.
    Fixed(&'a str, &'a [u8]),
}

/// `f`, called with the parts of a header's `Name: value` line.
#[inline(always)]
fn as_line<R>(mut f: impl FnMut(&[&[u8]]) -> R) -> impl FnMut(Header<'_>) -> R {
    move |header| match header {
        Header::Token(token) => f(&[token.authorization_line()]),
        Header::Fixed(name, value) => f(&[name.as_bytes(), b": ", value]),
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
