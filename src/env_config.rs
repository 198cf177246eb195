//! Configuration from `APCA_*` environment variables.
//!
//! | variable                | meaning                                              |
//! |-------------------------|------------------------------------------------------|
//! | `APCA_ENVIRONMENT`      | `live`, `paper` (default), `broker`, `broker-sandbox` |
//! | `APCA_API_KEY_ID`       | API key ID (with `APCA_API_SECRET_KEY`)              |
//! | `APCA_API_SECRET_KEY`   | API secret key                                       |
//! | `APCA_API_KEY_STYLE`    | `headers` or `basic`; default `basic` in the broker environments, `headers` otherwise |
//! | `APCA_CLIENT_ID`        | OAuth2 client ID                                     |
//! | `APCA_CLIENT_SECRET`    | client secret (`client_secret_post`)                 |
//! | `APCA_PRIVATE_KEY_PATH` | private key file, PEM or DER (`private_key_jwt`)     |
//! | `APCA_PRIVATE_KEY`      | private key PEM text (`private_key_jwt`)             |
//! | `APCA_API_BASE_URL`     | Trading/Broker API base URL override                 |
//! | `APCA_API_DATA_URL`     | Market Data base URL override                        |
//! | `APCA_AUTH_URL`         | token endpoint override                              |
//! | `APCA_SCOPE`            | `scope` of token requests (client credentials)       |
//! | `APCA_ASSERTION_AUDIENCE` | exact `aud` of client assertions (default: the token URL) |
//! | `APCA_ASSERTION_TYP`    | `typ` header of client assertions (default `JWT`)    |
//! | `APCA_ASSERTION_LIFETIME` | client assertion lifetime in seconds               |
//! | `APCA_ASSERTION_ALG`    | signing algorithm (`PS256` for RSA keys, `Ed25519`)  |
//! | `APCA_ASSERTION_KID`    | `kid` header of client assertions (none by default)  |
//! | `APCA_TOKEN_CACHE_DIR`  | directory of a token store shared by processes (client credentials) |
//!
//! An empty variable counts as unset. Exactly one kind of credential must be
//! set, completely.

use crate::assertion::AssertionOptions;
use crate::client::ClientBuilder;
use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::key::{Algorithm, PrivateKey};
use crate::secret::SecretString;

/// Longest environment variable value accepted (a PEM key fits easily).
pub const MAX_ENV_VALUE_LEN: usize = 64 * 1024;

/// Reads a variable of the process environment.
pub(crate) fn process_env(name: &str) -> Result<Option<String>> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Error::config(format!("{name} is not valid UTF-8")))
        }
    }
}

struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Result<Option<String>>,
}

impl Env<'_> {
    fn get(&self, name: &str) -> Result<Option<String>> {
        let value = (self.lookup)(name)?;
        match value {
            Some(v) if v.len() > MAX_ENV_VALUE_LEN => Err(Error::config(format!(
                "{name} is {} bytes long, more than the limit of {MAX_ENV_VALUE_LEN}",
                v.len()
            ))),
            Some(v) if v.trim().is_empty() => Ok(None),
            other => Ok(other),
        }
    }

    /// A non-secret value, trimmed.
    fn text(&self, name: &str) -> Result<Option<String>> {
        Ok(self.get(name)?.map(|v| v.trim().to_owned()))
    }

    /// A secret value; a trailing newline (from `$(cat file)`) is dropped.
    fn secret(&self, name: &str) -> Result<Option<SecretString>> {
        Ok(self.get(name)?.map(|mut v| {
            let keep = v.trim_end_matches(['\r', '\n']).len();
            v.truncate(keep);
            SecretString::new(v)
        }))
    }
}

/// Applies the variables over `builder`.
pub(crate) fn apply(
    mut builder: ClientBuilder,
    lookup: &dyn Fn(&str) -> Result<Option<String>>,
) -> Result<ClientBuilder> {
    let env = Env { lookup };
    if let Some(name) = env.text("APCA_ENVIRONMENT")? {
        let environment = name
            .parse()
            .map_err(|e: Error| e.with_message_prefix("APCA_ENVIRONMENT: "))?;
        builder = builder.environment(environment);
    }
    if let Some(url) = env.text("APCA_API_BASE_URL")? {
        builder = builder.api_base_url(url);
    }
    if let Some(url) = env.text("APCA_API_DATA_URL")? {
        builder = builder.data_base_url(url);
    }
    if let Some(url) = env.text("APCA_AUTH_URL")? {
        builder = builder.token_url(url);
    }
    let credentials = credentials(&env)?;
    if let Some(scope) = env.text("APCA_SCOPE")? {
        if !credentials.is_client_credentials() {
            return Err(Error::config(
                "APCA_SCOPE is set, but it applies to client credentials (APCA_CLIENT_ID), not to an API key",
            ));
        }
        crate::client::validate_scope(&scope).map_err(|e| e.with_message_prefix("APCA_SCOPE: "))?;
        builder = builder.scope(scope);
    }
    if let Some(dir) = env.text("APCA_TOKEN_CACHE_DIR")? {
        // Shared tokens concern client credentials; a fleet may set the
        // variable for processes with API keys too, where it does nothing.
        builder = builder.token_cache_dir(dir);
    }
    Ok(builder.credentials(credentials))
}

/// The `APCA_ASSERTION_*` variables: the options of the client assertion
/// and the signing algorithm (`None` when none is set).
fn assertion_settings(
    env: &Env<'_>,
) -> Result<(AssertionOptions, Option<Algorithm>, Vec<&'static str>)> {
    let mut options = AssertionOptions::new();
    let mut set = Vec::new();
    if let Some(audience) = env.text("APCA_ASSERTION_AUDIENCE")? {
        options = options.audience(audience);
        set.push("APCA_ASSERTION_AUDIENCE");
    }
    if let Some(typ) = env.text("APCA_ASSERTION_TYP")? {
        options = options.typ(Some(typ));
        set.push("APCA_ASSERTION_TYP");
    }
    if let Some(lifetime) = env.text("APCA_ASSERTION_LIFETIME")? {
        let secs: u64 = lifetime.parse().map_err(|_| {
            Error::config(
                "APCA_ASSERTION_LIFETIME must be a whole number of seconds (for example 120)",
            )
        })?;
        options = options.lifetime(std::time::Duration::from_secs(secs));
        options
            .lifetime_secs()
            .map_err(|e| e.with_message_prefix("APCA_ASSERTION_LIFETIME: "))?;
        set.push("APCA_ASSERTION_LIFETIME");
    }
    if let Some(kid) = env.text("APCA_ASSERTION_KID")? {
        options = options.kid(kid);
        set.push("APCA_ASSERTION_KID");
    }
    let alg = match env.text("APCA_ASSERTION_ALG")? {
        Some(name) => {
            set.push("APCA_ASSERTION_ALG");
            Some(
                name.parse::<Algorithm>()
                    .map_err(|e| e.with_message_prefix("APCA_ASSERTION_ALG: "))?,
            )
        }
        None => None,
    };
    Ok((options, alg, set))
}

fn credentials(env: &Env<'_>) -> Result<Credentials> {
    let key_id = env.text("APCA_API_KEY_ID")?;
    let key_secret = env.secret("APCA_API_SECRET_KEY")?;
    let style = env.text("APCA_API_KEY_STYLE")?;
    let client_id = env.text("APCA_CLIENT_ID")?;
    let client_secret = env.secret("APCA_CLIENT_SECRET")?;
    let key_path = env.text("APCA_PRIVATE_KEY_PATH")?;
    let key_pem = env.secret("APCA_PRIVATE_KEY")?;
    let (options, alg, assertion_vars) = assertion_settings(env)?;
    // Assertion variables with credentials that sign no assertion.
    let no_key = || {
        match assertion_vars.first() {
        Some(name) => Err(Error::config(format!(
            "{name} is set, but it applies to a private key (APCA_CLIENT_ID with APCA_PRIVATE_KEY_PATH or APCA_PRIVATE_KEY), which is not set"
        ))),
        None => Ok(()),
    }
    };

    let api_key_set = key_id.is_some() || key_secret.is_some();
    let client_set =
        client_id.is_some() || client_secret.is_some() || key_path.is_some() || key_pem.is_some();
    if api_key_set && client_set {
        return Err(Error::config(
            "both an API key (APCA_API_KEY_ID/APCA_API_SECRET_KEY) and client credentials (APCA_CLIENT_ID/APCA_CLIENT_SECRET/APCA_PRIVATE_KEY_PATH/APCA_PRIVATE_KEY) are set: unset one kind",
        ));
    }
    if api_key_set {
        let (Some(key_id), Some(secret)) = (key_id, key_secret) else {
            return Err(Error::config(
                "an API key needs both APCA_API_KEY_ID and APCA_API_SECRET_KEY; only one is set",
            ));
        };
        no_key()?;
        return match style.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None => Ok(Credentials::api_key(key_id, secret)),
            Some("headers") => Ok(Credentials::api_key_headers(key_id, secret)),
            Some("basic") => Ok(Credentials::api_key_basic(key_id, secret)),
            Some(_) => Err(Error::config("APCA_API_KEY_STYLE must be headers or basic")),
        };
    }
    if style.is_some() {
        return Err(Error::config(
            "APCA_API_KEY_STYLE is set but no API key (APCA_API_KEY_ID/APCA_API_SECRET_KEY) is",
        ));
    }
    if !client_set {
        return Err(Error::config(
            "no credentials in the environment: set APCA_API_KEY_ID and APCA_API_SECRET_KEY, or APCA_CLIENT_ID with APCA_CLIENT_SECRET, APCA_PRIVATE_KEY_PATH or APCA_PRIVATE_KEY",
        ));
    }
    let Some(client_id) = client_id else {
        return Err(Error::config(
            "client credentials need APCA_CLIENT_ID (a client secret or private key is set without it)",
        ));
    };
    let given = [
        client_secret.is_some(),
        key_path.is_some(),
        key_pem.is_some(),
    ]
    .iter()
    .filter(|set| **set)
    .count();
    if given != 1 {
        return Err(Error::config(if given == 0 {
            "APCA_CLIENT_ID is set without a way to authenticate: set exactly one of APCA_CLIENT_SECRET, APCA_PRIVATE_KEY_PATH, APCA_PRIVATE_KEY"
        } else {
            "more than one of APCA_CLIENT_SECRET, APCA_PRIVATE_KEY_PATH, APCA_PRIVATE_KEY is set: set exactly one"
        }));
    }
    if let Some(secret) = client_secret {
        no_key()?;
        return Ok(Credentials::client_secret(client_id, secret));
    }
    let mut key = match (key_path, key_pem) {
        (Some(path), _) => PrivateKey::from_file(&path)
            .map_err(|e| e.with_message_prefix("APCA_PRIVATE_KEY_PATH: "))?,
        (None, Some(pem)) => PrivateKey::from_pem(pem.expose_secret())
            .map_err(|e| e.with_message_prefix("APCA_PRIVATE_KEY: "))?,
        (None, None) => {
            return Err(Error::config(
                "APCA_CLIENT_ID is set without a way to authenticate",
            ))
        }
    };
    if let Some(alg) = alg {
        key = key
            .with_algorithm(alg)
            .map_err(|e| e.with_message_prefix("APCA_ASSERTION_ALG: "))?;
    }
    Ok(Credentials::private_key_jwt_with(client_id, key, options))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Environment, ErrorKind};
    use std::collections::HashMap;

    fn build(vars: &[(&str, &str)]) -> Result<ClientBuilder> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ClientBuilder::default().from_env_with(&move |name| Ok(map.get(name).cloned()))
    }

    fn err(vars: &[(&str, &str)]) -> Error {
        build(vars).unwrap_err()
    }

    #[test]
    fn api_key_from_env_builds_with_paper_default() {
        let client = build(&[
            ("APCA_API_KEY_ID", "PKTEST"),
            ("APCA_API_SECRET_KEY", "sec\n"),
        ])
        .unwrap()
        .build()
        .unwrap();
        assert_eq!(client.endpoints().environment(), Environment::Paper);
        let lines = client.auth_headers().unwrap().to_lines();
        assert_eq!(lines[1].expose_secret(), "APCA-API-SECRET-KEY: sec");
    }

    #[test]
    fn client_secret_from_env_with_environment_and_overrides() {
        let client = build(&[
            ("APCA_ENVIRONMENT", "broker-sandbox"),
            ("APCA_CLIENT_ID", "ABCDEFGHIJ0123456789"),
            ("APCA_CLIENT_SECRET", "s"),
            ("APCA_AUTH_URL", "http://127.0.0.1:1/v1/oauth2/token"),
            ("APCA_API_BASE_URL", "http://127.0.0.1:1"),
            ("APCA_API_DATA_URL", ""),
        ])
        .unwrap()
        .build()
        .unwrap();
        assert_eq!(
            client.endpoints().token_url(),
            Some("http://127.0.0.1:1/v1/oauth2/token")
        );
        assert_eq!(
            client.endpoints().data_base(),
            "https://data.sandbox.alpaca.markets"
        );
        assert!(client.uses_tokens());
    }

    #[test]
    fn partial_and_ambiguous_settings_name_the_variables() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "APCA_API_KEY_ID"),
            (&[("APCA_API_KEY_ID", "PK")], "APCA_API_SECRET_KEY"),
            (&[("APCA_API_SECRET_KEY", "s")], "APCA_API_KEY_ID"),
            (
                &[
                    ("APCA_API_KEY_ID", "PK"),
                    ("APCA_API_SECRET_KEY", "s"),
                    ("APCA_CLIENT_ID", "C"),
                ],
                "both",
            ),
            (&[("APCA_CLIENT_ID", "ABCDEFGHIJ0123456789")], "exactly one"),
            (&[("APCA_CLIENT_SECRET", "s")], "APCA_CLIENT_ID"),
            (
                &[
                    ("APCA_CLIENT_ID", "ABCDEFGHIJ0123456789"),
                    ("APCA_CLIENT_SECRET", "s"),
                    ("APCA_PRIVATE_KEY", "k"),
                ],
                "more than one",
            ),
            (
                &[
                    ("APCA_ENVIRONMENT", "prod"),
                    ("APCA_API_KEY_ID", "PK"),
                    ("APCA_API_SECRET_KEY", "s"),
                ],
                "APCA_ENVIRONMENT",
            ),
            (
                &[
                    ("APCA_API_KEY_ID", "PK"),
                    ("APCA_API_SECRET_KEY", "s"),
                    ("APCA_API_KEY_STYLE", "digest"),
                ],
                "APCA_API_KEY_STYLE",
            ),
            (
                &[
                    ("APCA_CLIENT_ID", "ABCDEFGHIJ0123456789"),
                    ("APCA_PRIVATE_KEY_PATH", "/nonexistent/key.pem"),
                ],
                "APCA_PRIVATE_KEY_PATH",
            ),
        ];
        for (vars, needle) in cases {
            let e = err(vars);
            assert!(
                matches!(e.kind(), ErrorKind::Config | ErrorKind::InvalidKey),
                "{vars:?}: {e}"
            );
            assert!(e.to_string().contains(needle), "{vars:?}: {e}");
        }
    }

    #[test]
    fn client_credentials_on_paper_say_trading_api_has_none() {
        let e = build(&[
            ("APCA_CLIENT_ID", "ABCDEFGHIJ0123456789"),
            ("APCA_CLIENT_SECRET", "s"),
        ])
        .unwrap()
        .build()
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(
            e.message().contains("not available for the Trading API"),
            "{e}"
        );
    }

    #[test]
    fn non_utf8_is_reported_by_name() {
        let e = ClientBuilder::default()
            .from_env_with(&|name| {
                if name == "APCA_CLIENT_SECRET" {
                    Err(Error::config(format!("{name} is not valid UTF-8")))
                } else {
                    Ok(None)
                }
            })
            .unwrap_err();
        assert!(e.message().contains("APCA_CLIENT_SECRET"));
    }
}
