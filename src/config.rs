//! [`Config`]: every setting of a client as plain data, with its defaults
//! and its checks.
//!
//! It is the one home of the configuration behind the three front ends: the
//! Rust [`ClientBuilder`](crate::ClientBuilder) (a typed setter per field),
//! the `APCA_*` environment variables ([`env_config`](crate::env_config)
//! writes the fields the variables set) and the C builder (a `Config` with
//! one thin setter per field). Defaults come only from
//! [`limits`](crate::limits), through the `Default` of each part.
//!
//! A setter that can refuse a value at once (the C setters, the environment)
//! calls the field's check here (`set_*`); [`Config::validate`] runs every
//! check again, with the checks that relate fields, before
//! [`Client::from_config`](crate::Client) assembles a client. A new option
//! is a field, its check, a setter per front end and a test.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::assertion::AssertionOptions;
use crate::credentials::{ClientAuth, Credentials};
use crate::env_vars::var;
use crate::environment::{Endpoints, Environment};
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::key::Algorithm;
use crate::limits::{MAX_SCOPE_LEN, MAX_TIMEOUT};
use crate::policy::RefreshPolicy;
use crate::retry::RetryPolicy;
use crate::secret::SecretString;
use crate::store::{check_key_prefix, RedisUrl, TokenStore, REDIS_FEATURE_OFF};
use crate::transport::{parse_ca_bundle, TransportConfig};

/// Every setting of a client.
#[derive(Clone, Default)]
pub(crate) struct Config {
    /// The Alpaca environment (default [`Environment::Paper`]).
    pub(crate) environment: Environment,
    /// Required.
    pub(crate) credentials: Option<Credentials>,
    /// Overrides of the environment's URLs.
    pub(crate) urls: UrlOverrides,
    /// The `scope` of token requests (none by default).
    pub(crate) scope: Option<String>,
    /// Assertion options set apart from the credentials (by the C setters),
    /// applied to the private key at build whatever the order they were set.
    pub(crate) assertion: AssertionOverrides,
    /// Timeouts, budget, retries, proxy and trust of token requests.
    pub(crate) transport: TransportConfig,
    /// When tokens are refreshed ahead of expiry.
    pub(crate) refresh: RefreshPolicy,
    /// A refresher thread of the client's (default off).
    pub(crate) background_refresh: bool,
    /// Where tokens are shared with other processes (default nowhere).
    pub(crate) token_store: Option<StoreChoice>,
    /// The longest any call waits for a token (default the budget).
    pub(crate) max_wait: Option<Duration>,
    /// Where events go (default nowhere).
    pub(crate) events: Option<EventSink>,
}

/// The URLs that replace the environment's.
#[derive(Clone, Default)]
pub(crate) struct UrlOverrides {
    /// The Trading/Broker API base.
    pub(crate) api_base: Option<String>,
    /// The Market Data API base.
    pub(crate) data_base: Option<String>,
    /// The OAuth2 token endpoint.
    pub(crate) token: Option<String>,
}

/// Which URL a setter overrides.
#[derive(Clone, Copy, Debug)]
pub(crate) enum UrlSetting {
    /// [`UrlOverrides::api_base`].
    ApiBase,
    /// [`UrlOverrides::data_base`].
    DataBase,
    /// [`UrlOverrides::token`].
    Token,
}

/// Options of client assertions set apart from the credentials.
#[derive(Clone, Default, Debug)]
pub(crate) struct AssertionOverrides {
    /// The `aud` claim.
    pub(crate) audience: Option<String>,
    /// The `typ` header.
    pub(crate) typ: Option<String>,
    /// `exp - iat`.
    pub(crate) lifetime: Option<Duration>,
    /// The `kid` header.
    pub(crate) kid: Option<String>,
    /// The signing algorithm.
    pub(crate) alg: Option<Algorithm>,
}

/// Where a client shares its tokens with other processes.
#[derive(Clone)]
pub(crate) enum StoreChoice {
    /// The built-in [`FileStore`](crate::FileStore), opened at build.
    Dir(PathBuf),
    /// A store of the application's.
    Custom(Arc<dyn TokenStore>),
    /// The built-in Redis store at this URL (checked by
    /// [`RedisUrl::parse`]; a secret, as it may hold a password), with
    /// its key prefix if not the default. A build without the cargo
    /// feature `redis` refuses it.
    Redis {
        /// `redis://`, `rediss://` or `unix://`.
        url: SecretString,
        /// Prefix of its keys.
        prefix: Option<String>,
    },
}

/// One of the durations of a [`Config`], for [`Config::set_timeout`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Timeout {
    /// Connect timeout.
    Connect,
    /// Timeout of one request attempt.
    Request,
    /// Budget of one token acquisition.
    Budget,
    /// The longest any call waits for a token.
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

impl Config {
    /// Sets one of the durations, refused (and left unchanged) unless more
    /// than zero and at most [`MAX_TIMEOUT`].
    pub(crate) fn set_timeout(&mut self, which: Timeout, value: Duration) -> Result<()> {
        check_duration(which, value)?;
        match which {
            Timeout::Connect => self.transport.connect_timeout = value,
            Timeout::Request => self.transport.request_timeout = value,
            Timeout::Budget => self.transport.budget = value,
            Timeout::MaxWait => self.max_wait = Some(value),
        }
        Ok(())
    }

    /// Sets the scope, refused unless well-formed ([`check_scope`]).
    pub(crate) fn set_scope(&mut self, scope: &str) -> Result<()> {
        check_scope(scope)?;
        self.scope = Some(scope.to_owned());
        Ok(())
    }

    /// Overrides a URL, refused unless the environment's rules for URLs
    /// accept it on its own (`https://`, or `http://` to loopback; no user
    /// information).
    pub(crate) fn set_url(&mut self, which: UrlSetting, url: &str) -> Result<()> {
        let environment = Environment::default();
        match which {
            UrlSetting::ApiBase => Endpoints::resolve(environment, Some(url), None, None),
            UrlSetting::DataBase => Endpoints::resolve(environment, None, Some(url), None),
            UrlSetting::Token => Endpoints::resolve(environment, None, None, Some(url)),
        }?;
        *self.urls.get_mut(which) = Some(url.to_owned());
        Ok(())
    }

    /// Trusts the CA certificates of a PEM bundle too, refused unless it
    /// holds at least one certificate.
    pub(crate) fn add_ca_bundle_pem(&mut self, pem: &[u8]) -> Result<()> {
        let certs = parse_ca_bundle(pem)?;
        self.add_ca_certificates(certs);
        Ok(())
    }

    /// Trusts these (already parsed) CA certificates too.
    pub(crate) fn add_ca_certificates(&mut self, certs: Vec<ureq::tls::Certificate<'static>>) {
        self.transport.extra_roots.extend(certs);
    }

    /// Sets the least time before expiry a token is refreshed, refused
    /// unless the refresh policy accepts it.
    pub(crate) fn set_refresh_ahead_min(&mut self, ahead: Duration) -> Result<()> {
        RefreshPolicy::check_ahead_min(ahead)?;
        self.refresh = self.refresh.ahead_min(ahead);
        Ok(())
    }

    /// Sets the least fraction of a token's lifetime before expiry it is
    /// refreshed, refused unless the refresh policy accepts it.
    pub(crate) fn set_refresh_ahead_fraction(&mut self, fraction: f64) -> Result<()> {
        RefreshPolicy::check_ahead_fraction(fraction)?;
        self.refresh = self.refresh.ahead_fraction(fraction);
        Ok(())
    }

    /// Sets the most attempts of one token acquisition, refused below 1.
    pub(crate) fn set_retry_max_attempts(&mut self, attempts: u32) -> Result<()> {
        RetryPolicy::check_max_attempts(attempts)?;
        self.transport.retry = self.transport.retry.max_attempts(attempts);
        Ok(())
    }

    /// Sets the backoff before the first retry, refused above
    /// [`MAX_TIMEOUT`].
    pub(crate) fn set_retry_initial_backoff(&mut self, backoff: Duration) -> Result<()> {
        RetryPolicy::check_backoff("initial retry backoff", backoff)?;
        self.transport.retry = self.transport.retry.initial_backoff(backoff);
        Ok(())
    }

    /// Sets the longest backoff between retries, refused above
    /// [`MAX_TIMEOUT`].
    pub(crate) fn set_retry_max_backoff(&mut self, backoff: Duration) -> Result<()> {
        RetryPolicy::check_backoff("longest retry backoff", backoff)?;
        self.transport.retry = self.transport.retry.max_backoff(backoff);
        Ok(())
    }

    /// Shares tokens through the built-in Redis store at `url` (keeping a
    /// key prefix set before), refused unless the URL parses and this build
    /// has the cargo feature `redis`.
    pub(crate) fn set_token_store_url(&mut self, url: &str) -> Result<()> {
        check_redis_url(url)?;
        let prefix = match self.token_store.take() {
            Some(StoreChoice::Redis { prefix, .. }) => prefix,
            _ => None,
        };
        self.token_store = Some(StoreChoice::Redis {
            url: SecretString::new(url),
            prefix,
        });
        Ok(())
    }

    /// Sets the key prefix of the Redis store, refused unless
    /// [`check_key_prefix`] accepts it and a Redis store URL is set.
    pub(crate) fn set_token_store_prefix(&mut self, value: &str) -> Result<()> {
        check_key_prefix(value)?;
        match &mut self.token_store {
            Some(StoreChoice::Redis { prefix, .. }) => {
                *prefix = Some(value.to_owned());
                Ok(())
            }
            _ => Err(Error::config(
                "a token store key prefix applies to a Redis token store: set its URL first",
            )),
        }
    }

    /// The longest any call waits for a token: [`Config::max_wait`] if set,
    /// else the budget.
    pub(crate) fn max_wait(&self) -> Duration {
        self.max_wait.unwrap_or(self.transport.budget)
    }

    /// Every check, those of single fields and those that relate fields;
    /// makes no system call and no request.
    pub(crate) fn validate(&self) -> Result<()> {
        let credentials = self.credentials.as_ref().ok_or_else(no_credentials)?;
        credentials.validate()?;
        if let Some(scope) = &self.scope {
            check_scope(scope)?;
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
            check_duration(which, value)?;
        }
        if let Some(wait) = self.max_wait {
            check_duration(Timeout::MaxWait, wait)?;
        }
        self.refresh.validate()?;
        self.transport.retry.validate()?;
        if let Some(url) = &self.urls.api_base {
            self.environment.check_api_base_url(url)?;
        }
        if let Some(StoreChoice::Redis { url, prefix }) = &self.token_store {
            check_redis_url(url.expose_secret())?;
            prefix.as_deref().map_or(Ok(()), check_key_prefix)?;
        }
        Ok(())
    }

    /// The endpoints of the environment with the URL overrides.
    pub(crate) fn endpoints(&self) -> Result<Endpoints> {
        Endpoints::resolve(
            self.environment,
            self.urls.api_base.as_deref(),
            self.urls.data_base.as_deref(),
            self.urls.token.as_deref(),
        )
    }

    /// The check of an external signer's algorithm, public key and
    /// identity (one of the two is required), before it is kept.
    pub(crate) fn check_signer(
        algorithm: Algorithm,
        public_key: Option<&[u8]>,
        identity: Option<&str>,
    ) -> Result<()> {
        crate::signer::check_description(algorithm, public_key, identity)
    }

    /// Moves the assertion overrides into the private key's options; an
    /// error if one is set without a private key.
    pub(crate) fn apply_assertion_overrides(&mut self) -> Result<()> {
        let overrides = std::mem::take(&mut self.assertion);
        let Some(first) = overrides.first_set() else {
            return Ok(());
        };
        let Some(Credentials::ClientCredentials {
            auth: ClientAuth::PrivateKeyJwt { key, options },
            ..
        }) = self.credentials.as_mut()
        else {
            return Err(Error::config(format!(
                "an assertion {first} was set, but no private key: assertion options apply only to a key set with alpaca_auth_builder_set_client_private_key or read from {} / {}",
                var::PRIVATE_KEY_PATH,
                var::PRIVATE_KEY
            )));
        };
        let mut edited = std::mem::take(options);
        if let Some(audience) = overrides.audience {
            edited = edited.audience(audience);
        }
        if let Some(typ) = overrides.typ {
            edited = edited.typ(Some(typ));
        }
        if let Some(lifetime) = overrides.lifetime {
            edited = edited.lifetime(lifetime);
        }
        if let Some(kid) = overrides.kid {
            edited = edited.kid(kid);
        }
        *options = edited;
        if let Some(alg) = overrides.alg {
            key.private_key_mut()?.set_algorithm(alg)?;
        }
        Ok(())
    }
}

impl UrlOverrides {
    /// The override of `which`.
    pub(crate) fn get_mut(&mut self, which: UrlSetting) -> &mut Option<String> {
        match which {
            UrlSetting::ApiBase => &mut self.api_base,
            UrlSetting::DataBase => &mut self.data_base,
            UrlSetting::Token => &mut self.token,
        }
    }
}

impl AssertionOverrides {
    /// The name of the first option set (for the error without a key).
    fn first_set(&self) -> Option<&'static str> {
        [
            ("kid", self.kid.is_some()),
            ("audience", self.audience.is_some()),
            ("typ", self.typ.is_some()),
            ("lifetime", self.lifetime.is_some()),
            ("alg", self.alg.is_some()),
        ]
        .into_iter()
        .find_map(|(name, set)| set.then_some(name))
    }

    /// Sets the lifetime, refused unless within the assertion limits.
    pub(crate) fn set_lifetime(&mut self, lifetime: Duration) -> Result<()> {
        AssertionOptions::new().lifetime(lifetime).lifetime_secs()?;
        self.lifetime = Some(lifetime);
        Ok(())
    }
}

fn no_credentials() -> Error {
    Error::config(format!(
        "no credentials configured: set an API key ({} + {}) or client credentials ({} + {} or a private key)",
        var::API_KEY_ID,
        var::API_SECRET_KEY,
        var::CLIENT_ID,
        var::CLIENT_SECRET
    ))
}

/// RFC 6749 §3.3: `scope-token *( SP scope-token )`, each token of
/// `%x21 / %x23-5B / %x5D-7E`, at most [`MAX_SCOPE_LEN`] bytes in all.
pub(crate) fn check_scope(scope: &str) -> Result<()> {
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

/// A Redis store URL that parses, in a build with the feature `redis`.
fn check_redis_url(url: &str) -> Result<()> {
    RedisUrl::parse(url)?;
    if cfg!(feature = "redis") {
        Ok(())
    } else {
        Err(Error::config(REDIS_FEATURE_OFF))
    }
}

fn check_duration(which: Timeout, value: Duration) -> Result<()> {
    if value.is_zero() || value > MAX_TIMEOUT {
        return Err(Error::config(format!(
            "{} must be more than zero and at most {} s",
            which.name(),
            MAX_TIMEOUT.as_secs()
        )));
    }
    Ok(())
}

impl fmt::Debug for StoreChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreChoice::Dir(dir) => f.debug_tuple("Dir").field(dir).finish(),
            StoreChoice::Custom(_) => f.write_str("Custom"),
            StoreChoice::Redis { url, prefix } => f
                .debug_struct("Redis")
                .field("url", &crate::url::redact_userinfo(url.expose_secret()))
                .field("prefix", prefix)
                .finish(),
        }
    }
}

impl fmt::Debug for Config {
    /// URLs are shown with any `user:password@` replaced by `[redacted]@`
    /// (such URLs are refused by `validate`, but may sit in a config).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = |u: &Option<String>| u.as_deref().map(crate::url::redact_userinfo);
        f.debug_struct("Config")
            .field("environment", &self.environment)
            .field("credentials", &self.credentials)
            .field("api_base_url", &url(&self.urls.api_base))
            .field("data_base_url", &url(&self.urls.data_base))
            .field("token_url", &url(&self.urls.token))
            .field("scope", &self.scope)
            .field("assertion", &self.assertion)
            .field("transport", &self.transport)
            .field("refresh", &self.refresh)
            .field("background_refresh", &self.background_refresh)
            .field("token_store", &self.token_store)
            .field("max_wait", &self.max_wait)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn a_refused_value_leaves_the_config_unchanged() {
        let mut config = Config::default();
        let budget = config.transport.budget;
        assert_eq!(
            config
                .set_timeout(Timeout::Budget, Duration::ZERO)
                .unwrap_err()
                .kind(),
            ErrorKind::Config
        );
        assert!(config
            .set_timeout(Timeout::Budget, MAX_TIMEOUT + Duration::from_millis(1))
            .is_err());
        assert_eq!(config.transport.budget, budget);
        assert!(config.set_scope("a\"b").is_err());
        assert!(config.scope.is_none());
        assert!(config
            .set_url(UrlSetting::Token, "http://example.com/token")
            .is_err());
        assert!(config.urls.token.is_none());
        assert!(config.add_ca_bundle_pem(b"no certificate").is_err());
        assert!(config.transport.extra_roots.is_empty());
        assert!(config.assertion.set_lifetime(Duration::ZERO).is_err());
        assert!(config.assertion.lifetime.is_none());
    }

    #[test]
    fn validate_runs_the_field_checks_on_values_set_directly() {
        let mut config = Config {
            credentials: Some(Credentials::client_secret("ABCDEFGHIJ0123456789", "s")),
            ..Config::default()
        };
        config.validate().unwrap();
        config.scope = Some("bad\\scope".into());
        assert!(config.validate().is_err());
        config.scope = None;
        config.max_wait = Some(Duration::ZERO);
        assert!(config.validate().is_err());
    }

    #[test]
    fn assertion_overrides_need_a_private_key_and_name_the_option() {
        let mut config = Config {
            credentials: Some(Credentials::client_secret("ABCDEFGHIJ0123456789", "s")),
            ..Config::default()
        };
        config.assertion.kid = Some("k1".into());
        let error = config.apply_assertion_overrides().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(error.to_string().contains("assertion kid"), "{error}");
    }
}
