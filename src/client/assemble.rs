//! [`Client::from_config`]: a client assembled from a validated
//! [`Config`]: its endpoints, its authentication (fixed headers or an OAuth
//! token source with its cache, transport and store) and its refresher.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::{stream_auth_message, Auth, Client, Inner, OAuthSource};
use crate::assertion::{create_assertion, AssertionOptions};
use crate::cache::TokenCache;
use crate::config::{Config, StoreChoice};
use crate::credentials::{ApiKeyStyle, ClientAuth, Credentials};
use crate::env_vars::var;
use crate::environment::{Endpoints, Environment};
use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
use crate::fork::{self, ForkSlot};
use crate::headers::AuthHeaders;
use crate::limits::STORE_WAIT_DIVISOR;
use crate::refresher::{Refresher, TokenSource};
use crate::secret::SecretString;
use crate::signer::SigningKey;
use crate::store::{SharedStore, StoreKey, TokenStore, TokenStoreStatus};
use crate::transport::Transport;
use crate::url::HttpUrl;

impl Client {
    /// Validates `config` and assembles the client. Makes no network
    /// request; opens the file store's directory when one is configured.
    pub(crate) fn from_config(mut config: Config) -> Result<Client> {
        config.apply_assertion_overrides()?;
        config.validate()?;
        let endpoints = config.endpoints()?;
        let (environment, background_refresh) = (config.environment, config.background_refresh);
        let credentials = config.credentials.take().ok_or_else(|| {
            Error::config("no credentials configured") // validate checked it
        })?;
        let (auth, stream_auth) = match credentials {
            Credentials::ApiKey {
                key_id,
                secret,
                style,
            } => (
                Auth::Fixed(api_key_headers(&key_id, &secret, style, environment)?),
                Some(stream_auth_message(&key_id, &secret)?),
            ),
            Credentials::ClientCredentials { client_id, auth } => (
                Auth::OAuth(oauth_source(config, &endpoints, client_id, auth)?),
                None,
            ),
        };
        fork::register();
        let born = fork::generation();
        let background = background_refresh && matches!(auth, Auth::OAuth(_));
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

/// The fixed headers of an API key in the style it asks for (or its
/// environment's).
fn api_key_headers(
    key_id: &str,
    secret: &SecretString,
    style: ApiKeyStyle,
    environment: Environment,
) -> Result<AuthHeaders> {
    match style.resolve(environment) {
        ApiKeyStyle::Basic => AuthHeaders::basic(key_id, secret),
        ApiKeyStyle::Headers | ApiKeyStyle::ForEnvironment => AuthHeaders::api_key(key_id, secret),
    }
}

/// The token source of client credentials: transport, cache and store.
fn oauth_source(
    config: Config,
    endpoints: &Endpoints,
    client_id: String,
    auth: ClientAuth,
) -> Result<Arc<OAuthSource>> {
    let token_url = endpoints.token_url().ok_or_else(|| {
        Error::config(format!(
            "client credentials are not available for the Trading API (environment {}): use the broker or broker-sandbox environment, or set a token URL ({})",
            config.environment,
            var::AUTH_URL
        ))
    })?;
    let parsed_url = HttpUrl::parse(token_url)?;
    if let ClientAuth::PrivateKeyJwt { key, options } = &auth {
        // Fail at build time, not at the first token request.
        trial_assertion(key, &client_id, token_url, options, config.transport.budget)?;
    }
    let max_wait = config.max_wait();
    let budget = config.transport.budget;
    let (store, store_status) = match config.token_store {
        None => (None, TokenStoreStatus::None),
        Some(choice) => {
            let key = StoreKey::new(token_url, &client_id, config.scope.as_deref(), &auth);
            let wait = store_wait(max_wait, budget);
            shared_store(choice, key, (budget, wait), &config.events)?
        }
    };
    Ok(OAuthSource {
        transport: Transport::new(config.transport, &parsed_url)?,
        cache: TokenCache::new(
            max_wait,
            fetch_inline(max_wait, budget, store.is_some()),
            config.refresh,
        ),
        token_url: token_url.to_owned(),
        scope: config.scope,
        client_id,
        method: auth,
        events: config.events,
        store,
        store_status,
    }
    .started())
}

/// Signs one assertion at build time, so that a bad key, option or
/// external signer (one whose signature does not verify with its public
/// key) fails the build rather than the first token request. A transient
/// failure of an external signer does not: the first fetch retries it.
fn trial_assertion(
    key: &SigningKey,
    client_id: &str,
    token_url: &str,
    options: &AssertionOptions,
    budget: Duration,
) -> Result<()> {
    let now = (SystemTime::now(), Instant::now() + budget);
    match create_assertion(key, client_id, token_url, options, now) {
        Err(e) if !e.is_transient() => Err(e),
        _ => Ok(()),
    }
}

/// The store of `choice` under `key`, or none (and why) when it cannot be
/// used on this host; an error when the setting itself is wrong.
fn shared_store(
    choice: StoreChoice,
    key: StoreKey,
    (budget, wait): (Duration, Duration),
    events: &Option<EventSink>,
) -> Result<(Option<SharedStore>, TokenStoreStatus)> {
    match open_store(choice, budget, wait) {
        Ok(store) => Ok((
            Some(SharedStore::new(store, key, wait)),
            TokenStoreStatus::Shared,
        )),
        // The process keeps running, without sharing, and says so.
        Err(StoreRefused::Unavailable(error)) => {
            if let Some(sink) = events {
                sink.emit(Event::StoreUnavailable);
            }
            Ok((None, TokenStoreStatus::Unavailable(error)))
        }
        Err(StoreRefused::Config(error)) => Err(error),
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

/// The store of `choice`, opened (the built-in [`FileStore`](crate::FileStore)
/// and the Redis store at build). `budget`: the longest a fetch takes (a
/// Redis fetch lock's lifetime); `wait`: the store part of a fetch (the
/// deadline of each Redis command).
fn open_store(
    choice: StoreChoice,
    budget: Duration,
    wait: Duration,
) -> std::result::Result<Arc<dyn TokenStore>, StoreRefused> {
    match choice {
        StoreChoice::Custom(store) => Ok(store),
        StoreChoice::Dir(dir) => open_file_store(dir),
        StoreChoice::Redis { url, prefix } => {
            open_redis_store(url.expose_secret(), prefix.as_deref(), budget, wait)
        }
    }
}

/// The built-in Redis store ([`ClientBuilder::token_store_url`](crate::ClientBuilder::token_store_url)),
/// checked with one `PING`: credentials the server refuses make it
/// unavailable; a server that is down or slow is tried again at each fetch.
#[cfg(feature = "redis")]
fn open_redis_store(
    url: &str,
    prefix: Option<&str>,
    budget: Duration,
    wait: Duration,
) -> std::result::Result<Arc<dyn TokenStore>, StoreRefused> {
    use crate::limits::DEFAULT_REDIS_KEY_PREFIX;
    let url = crate::store::RedisUrl::parse(url).map_err(StoreRefused::Config)?;
    let prefix = prefix.unwrap_or(DEFAULT_REDIS_KEY_PREFIX);
    let store = crate::store::RedisStore::new(url, prefix, budget, wait)
        .map_err(|e| StoreRefused::Config(Error::config(e.to_string())))?;
    match store.ping() {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(
            StoreRefused::Unavailable(Error::new(crate::ErrorKind::Config, e.to_string())),
        ),
        _ => Ok(Arc::new(store)),
    }
}

#[cfg(not(feature = "redis"))]
fn open_redis_store(
    _url: &str,
    _prefix: Option<&str>,
    _budget: Duration,
    _wait: Duration,
) -> std::result::Result<Arc<dyn TokenStore>, StoreRefused> {
    Err(StoreRefused::Config(Error::config(
        crate::store::REDIS_FEATURE_OFF,
    )))
}

/// The built-in token store in `dir` ([`ClientBuilder::token_cache_dir`](crate::ClientBuilder::token_cache_dir)).
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
