//! What a client authenticates with: an API key pair, or OAuth2 client
//! credentials (`client_secret_post` or `private_key_jwt`).

use std::fmt;

use crate::assertion::AssertionOptions;
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::limits::{
    API_KEY_ID_MAX_LEN, API_SECRET_MAX_LEN, CLIENT_ID_MAX_LEN, CLIENT_ID_MIN_LEN,
    CLIENT_SECRET_MAX_LEN,
};
use crate::secret::SecretString;
use crate::signer::SigningKey;

/// How an API key pair is presented to Alpaca.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ApiKeyStyle {
    /// The environment's form (the default): HTTP Basic in `broker` and
    /// `broker-sandbox`, whose keys the Broker API authenticates that way;
    /// the APCA headers in `live` and `paper`.
    #[default]
    ForEnvironment,
    /// `APCA-API-KEY-ID` and `APCA-API-SECRET-KEY` headers (Trading API keys).
    Headers,
    /// HTTP Basic with the key ID as user and the secret as password; Broker
    /// API keys (and broker keys on Market Data) need this form.
    Basic,
}

impl ApiKeyStyle {
    /// The style `ForEnvironment` stands for in `environment`: `Basic` for
    /// the broker environments, `Headers` otherwise. Explicit styles are
    /// returned as they are.
    pub const fn resolve(self, environment: Environment) -> ApiKeyStyle {
        match (self, environment) {
            (ApiKeyStyle::ForEnvironment, Environment::Broker | Environment::BrokerSandbox) => {
                ApiKeyStyle::Basic
            }
            (ApiKeyStyle::ForEnvironment, Environment::Live | Environment::Paper) => {
                ApiKeyStyle::Headers
            }
            (style, _) => style,
        }
    }
}

/// How an OAuth2 client proves its identity at the token endpoint. Later
/// versions may add methods (such as mutual TLS).
#[derive(Clone)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_secret_post`: the secret in the form body (Alpaca does not
    /// accept it in an `Authorization` header).
    Secret(SecretString),
    /// `private_key_jwt` (RFC 7523): a JWT built and signed for every
    /// request.
    PrivateKeyJwt {
        /// What signs: a private key in memory, or an application's
        /// [`AssertionSigner`](crate::AssertionSigner).
        key: SigningKey,
        /// Header and claim options of the assertion.
        options: AssertionOptions,
    },
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientAuth::Secret(_) => f.write_str("Secret([redacted])"),
            ClientAuth::PrivateKeyJwt { key, options } => f
                .debug_struct("PrivateKeyJwt")
                .field("key", key)
                .field("options", options)
                .finish(),
        }
    }
}

/// The credentials of a client.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Credentials {
    /// An API key ID and secret key (the Trading API's legacy form).
    ApiKey {
        /// The key ID (not secret).
        key_id: String,
        /// The secret key.
        secret: SecretString,
        /// Headers or HTTP Basic.
        style: ApiKeyStyle,
    },
    /// OAuth2 client credentials (RFC 6749 §4.4).
    ClientCredentials {
        /// The client ID (not secret).
        client_id: String,
        /// How the client authenticates.
        auth: ClientAuth,
    },
}

impl Credentials {
    /// An API key pair in the environment's form
    /// ([`ApiKeyStyle::ForEnvironment`]): HTTP Basic for `broker` and
    /// `broker-sandbox`, `APCA-API-KEY-ID` / `APCA-API-SECRET-KEY` headers
    /// for `live` and `paper`.
    pub fn api_key(key_id: impl Into<String>, secret: impl Into<SecretString>) -> Self {
        Credentials::ApiKey {
            key_id: key_id.into(),
            secret: secret.into(),
            style: ApiKeyStyle::ForEnvironment,
        }
    }

    /// An API key pair sent as `APCA-API-KEY-ID` / `APCA-API-SECRET-KEY`
    /// headers in every environment.
    pub fn api_key_headers(key_id: impl Into<String>, secret: impl Into<SecretString>) -> Self {
        Credentials::ApiKey {
            key_id: key_id.into(),
            secret: secret.into(),
            style: ApiKeyStyle::Headers,
        }
    }

    /// An API key pair sent as HTTP Basic (Broker API keys).
    pub fn api_key_basic(key_id: impl Into<String>, secret: impl Into<SecretString>) -> Self {
        Credentials::ApiKey {
            key_id: key_id.into(),
            secret: secret.into(),
            style: ApiKeyStyle::Basic,
        }
    }

    /// OAuth2 client credentials with `client_secret_post`.
    pub fn client_secret(client_id: impl Into<String>, secret: impl Into<SecretString>) -> Self {
        Credentials::ClientCredentials {
            client_id: client_id.into(),
            auth: ClientAuth::Secret(secret.into()),
        }
    }

    /// OAuth2 client credentials with `private_key_jwt`, default assertion
    /// options (no `kid`, a lifetime of [`DEFAULT_ASSERTION_LIFETIME`](crate::limits::DEFAULT_ASSERTION_LIFETIME)).
    ///
    /// `key` is a [`PrivateKey`](crate::PrivateKey), or an
    /// `Arc<dyn AssertionSigner>` (or [`SigningKey::signer`]) for a key
    /// kept elsewhere (an HSM, a KMS): see [`AssertionSigner`](crate::AssertionSigner).
    pub fn private_key_jwt(client_id: impl Into<String>, key: impl Into<SigningKey>) -> Self {
        Self::private_key_jwt_with(client_id, key, AssertionOptions::new())
    }

    /// OAuth2 client credentials with `private_key_jwt` and explicit options.
    pub fn private_key_jwt_with(
        client_id: impl Into<String>,
        key: impl Into<SigningKey>,
        options: AssertionOptions,
    ) -> Self {
        Credentials::ClientCredentials {
            client_id: client_id.into(),
            auth: ClientAuth::PrivateKeyJwt {
                key: key.into(),
                options,
            },
        }
    }

    /// Whether these are OAuth2 client credentials (which need a token).
    pub fn is_client_credentials(&self) -> bool {
        matches!(self, Credentials::ClientCredentials { .. })
    }

    /// Checks every documented bound; messages never quote a secret.
    pub(crate) fn validate(&self) -> Result<()> {
        match self {
            Credentials::ApiKey {
                key_id,
                secret,
                style,
            } => {
                check_header_text("API key ID", key_id, API_KEY_ID_MAX_LEN)?;
                if *style == ApiKeyStyle::Basic && key_id.contains(':') {
                    return Err(Error::config(
                        "API key ID contains ':', which HTTP Basic uses to separate the key ID from the secret",
                    ));
                }
                check_header_text("API secret key", secret.expose_secret(), API_SECRET_MAX_LEN)
            }
            Credentials::ClientCredentials { client_id, auth } => {
                validate_client_id(client_id)?;
                match auth {
                    ClientAuth::Secret(secret) => validate_client_secret(secret),
                    ClientAuth::PrivateKeyJwt { key, .. } => key.validate(),
                }
            }
        }
    }
}

/// Alpaca's rule: 20 to 32 characters of `A-Z` and `0-9`.
pub(crate) fn validate_client_id(client_id: &str) -> Result<()> {
    let len = client_id.len();
    if !(CLIENT_ID_MIN_LEN..=CLIENT_ID_MAX_LEN).contains(&len)
        || !client_id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(Error::config(format!(
            "client ID must be {CLIENT_ID_MIN_LEN} to {CLIENT_ID_MAX_LEN} characters of A-Z and 0-9 (got {} characters{})",
            client_id.chars().count(),
            if client_id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) { "" } else { ", some of them not A-Z or 0-9" }
        )));
    }
    Ok(())
}

fn validate_client_secret(secret: &SecretString) -> Result<()> {
    if secret.is_empty() {
        return Err(Error::config("client secret is empty"));
    }
    if secret.len() > CLIENT_SECRET_MAX_LEN {
        return Err(Error::config(format!(
            "client secret is {} bytes, more than Alpaca's limit of {CLIENT_SECRET_MAX_LEN}",
            secret.len()
        )));
    }
    if secret.expose_secret().chars().any(char::is_control) {
        return Err(Error::config("client secret contains control characters"));
    }
    Ok(())
}

fn check_header_text(what: &str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() {
        return Err(Error::config(format!("{what} is empty")));
    }
    if value.len() > max {
        return Err(Error::config(format!(
            "{what} is {} bytes, more than the limit of {max}",
            value.len()
        )));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::config(format!(
            "{what} contains spaces, control or non-ASCII characters; check for a stray newline or quote"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn client_id_follows_alpacas_published_rule() {
        assert!(validate_client_id("ABCDEFGHIJ0123456789").is_ok());
        assert!(validate_client_id(&"A".repeat(32)).is_ok());
        for bad in [
            "SHORT",
            &"A".repeat(33),
            "abcdefghij0123456789",
            "ABCDEFGHIJ012345678-",
        ] {
            let err = validate_client_id(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(err.message().contains("20 to 32"), "{err}");
        }
    }

    #[test]
    fn secret_bounds_are_enforced_without_quoting_the_secret() {
        let c = Credentials::client_secret("ABCDEFGHIJ0123456789", "S".repeat(129));
        let err = c.validate().unwrap_err();
        assert!(err.message().contains("128"), "{err}");
        assert!(!err.to_string().contains("SSSS"));
        let c = Credentials::api_key("PKTEST", "secret with space");
        let err = c.validate().unwrap_err();
        assert!(!err.to_string().contains("with space"));
        assert!(Credentials::api_key("PKTEST", "").validate().is_err());
    }

    #[test]
    fn broker_environments_default_to_basic_and_trading_to_headers() {
        use ApiKeyStyle::*;
        for env in Environment::ALL {
            let expected = if matches!(env, Environment::Broker | Environment::BrokerSandbox) {
                Basic
            } else {
                Headers
            };
            assert_eq!(ForEnvironment.resolve(env), expected, "{env}");
            assert_eq!(Headers.resolve(env), Headers);
            assert_eq!(Basic.resolve(env), Basic);
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = Credentials::client_secret("ABCDEFGHIJ0123456789", "topsecret-value");
        let d = format!("{c:?}");
        assert!(!d.contains("topsecret"), "{d}");
        assert!(d.contains("ABCDEFGHIJ0123456789"));
        let c = Credentials::api_key_basic("PKKEY", "topsecret-value");
        assert!(!format!("{c:?}").contains("topsecret"));
    }
}
