//! Configuration from `APCA_*` environment variables.
//!
//! What each variable means is documented once, for users, in the README
//! (section "Environment variables"); this module does not restate it. The
//! names themselves are spelled only here, in [`var`], and the kinds of
//! credential they make up in one table, [`KINDS`]: which kind is configured
//! and every error about a partial or ambiguous setting derive from that
//! table ([`select`]), so a new kind of credential is one row and one
//! function that builds it.
//!
//! An empty variable counts as unset.

use crate::assertion::AssertionOptions;
use crate::config::{Config, StoreChoice, Timeout, UrlSetting};
use crate::credentials::Credentials;
use crate::env_vars::var;
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::key::{Algorithm, PrivateKey};
use crate::limits::MAX_ENV_VALUE_LEN;
use crate::secret::SecretString;
use crate::trust::read_ca_file;
use std::path::Path;
use std::time::Duration;

/// A kind of credential: the variables that make it up.
struct Kind {
    /// What it is called in messages ("an API key").
    name: &'static str,
    /// Every one must be set. Each kind has at least one variable that no
    /// other kind requires, which is how a setting names its kind.
    required: &'static [&'static str],
    /// May be set with this kind; set with any other kind, an error.
    optional: &'static [&'static str],
    /// Builds the credentials from the values read (called only when
    /// [`select`] chose this kind).
    build: fn(&mut Values) -> Result<Credentials>,
}

/// The `APCA_ASSERTION_*` variables and the scope: what may accompany a
/// private key.
const WITH_KEY: &[&str] = &[
    var::SCOPE,
    var::ASSERTION_AUDIENCE,
    var::ASSERTION_TYP,
    var::ASSERTION_LIFETIME,
    var::ASSERTION_ALG,
    var::ASSERTION_KID,
];

/// Every kind of credential the environment can configure.
static KINDS: &[Kind] = &[
    Kind {
        name: "an API key",
        required: &[var::API_KEY_ID, var::API_SECRET_KEY],
        optional: &[var::API_KEY_STYLE],
        build: api_key,
    },
    Kind {
        name: "a client secret",
        required: &[var::CLIENT_ID, var::CLIENT_SECRET],
        optional: &[var::SCOPE],
        build: client_secret,
    },
    Kind {
        name: "a private key file",
        required: &[var::CLIENT_ID, var::PRIVATE_KEY_PATH],
        optional: WITH_KEY,
        build: private_key_file,
    },
    Kind {
        name: "a private key in the environment",
        required: &[var::CLIENT_ID, var::PRIVATE_KEY],
        optional: WITH_KEY,
        build: private_key_text,
    },
];

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

    /// A number (`what` says which kind, for the error).
    fn parsed<T: std::str::FromStr>(&self, name: &str, what: &str) -> Result<Option<T>> {
        match self.text(name)? {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|_| Error::config(format!("{name} must be {what}"))),
        }
    }
}

/// The values of the variables of [`KINDS`] that are set, as read: each is
/// trimmed when taken as text, or kept whole but for a trailing newline
/// when taken as a secret.
struct Values(Vec<(&'static str, SecretString)>);

impl Values {
    fn read(env: &Env<'_>) -> Result<Values> {
        let mut values = Vec::new();
        for name in table_variables() {
            values.extend(env.get(name)?.map(|v| (name, SecretString::new(v))));
        }
        Ok(Values(values))
    }

    fn is_set(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| *n == name)
    }

    fn take(&mut self, name: &str) -> Option<SecretString> {
        let at = self.0.iter().position(|(n, _)| *n == name)?;
        Some(self.0.swap_remove(at).1)
    }

    /// A non-secret value, trimmed.
    fn text(&mut self, name: &str) -> Option<String> {
        Some(self.take(name)?.expose_secret().trim().to_owned())
    }

    /// A secret value; a trailing newline (from `$(cat file)`) is dropped.
    fn secret(&mut self, name: &str) -> Option<SecretString> {
        let value = self.take(name)?;
        let value = value.expose_secret().trim_end_matches(['\r', '\n']);
        Some(SecretString::new(value))
    }

    /// A value [`select`] found set, as text or as a secret.
    fn required<T>(&mut self, name: &str, take: fn(&mut Self, &str) -> Option<T>) -> Result<T> {
        take(self, name).ok_or_else(|| Error::config(format!("{name} is not set")))
    }
}

/// Prefixes an error about the value of variable `name` with the name.
fn about(name: &'static str) -> impl FnOnce(Error) -> Error {
    move |e| e.with_message_prefix(&format!("{name}: "))
}

/// Every variable of [`KINDS`], once each, in table order.
fn table_variables() -> impl Iterator<Item = &'static str> {
    let mut seen = Vec::new();
    KINDS
        .iter()
        .flat_map(|kind| kind.required.iter().chain(kind.optional).copied())
        .filter(move |name| {
            let new = !seen.contains(name);
            seen.push(*name);
            new
        })
}

/// The kinds that require `name`.
fn requiring(name: &str) -> impl Iterator<Item = &'static Kind> + '_ {
    KINDS
        .iter()
        .filter(move |kind| kind.required.contains(&name))
}

/// The required variables of `kind` that no other kind requires.
fn own(kind: &'static Kind) -> impl Iterator<Item = &'static str> {
    kind.required
        .iter()
        .copied()
        .filter(|name| requiring(name).count() == 1)
}

/// `a`, `a and b`, `a, b and c` (with `last` for "and").
fn list(items: impl IntoIterator<Item = String>, last: &str) -> String {
    let items: Vec<String> = items.into_iter().collect();
    match items.split_last() {
        None => String::new(),
        Some((only, [])) => only.clone(),
        Some((tail, init)) => format!("{} {last} {tail}", init.join(", ")),
    }
}

/// "an API key (APCA_API_KEY_ID + APCA_API_SECRET_KEY)".
fn describe(kind: &Kind) -> String {
    format!("{} ({})", kind.name, kind.required.join(" + "))
}

/// The variables of `names` that are set.
fn set_of(
    is_set: &dyn Fn(&str) -> bool,
    names: impl IntoIterator<Item = &'static str>,
) -> Vec<&'static str> {
    names.into_iter().filter(|name| is_set(name)).collect()
}

/// The variables some kind requires, once each.
fn all_required() -> impl Iterator<Item = &'static str> {
    table_variables().filter(|name| requiring(name).next().is_some())
}

/// The kind of credential the variables set configure, or the error naming
/// what is partial or ambiguous. Only which variables are set matters.
fn select(is_set: &dyn Fn(&str) -> bool) -> Result<&'static Kind> {
    let named: Vec<&'static Kind> = KINDS.iter().filter(|kind| own(kind).any(is_set)).collect();
    let kind = match named[..] {
        [kind] => kind,
        [] => {
            // No kind is named; a variable several kinds share may be set.
            let shared = set_of(is_set, all_required());
            return Err(Error::config(match shared.first() {
                Some(shared) => format!(
                    "{shared} is set without a way to authenticate: set exactly one of {}",
                    requiring(shared)
                        .map(|kind| own(kind).collect::<Vec<_>>().join(" + "))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => format!(
                    "no credentials in the environment: set {}",
                    list(KINDS.iter().map(describe), "or")
                ),
            }));
        }
        _ => {
            return Err(ambiguous(
                named
                    .iter()
                    .map(|kind| (set_of(is_set, own(kind)), kind.name.to_owned())),
            ))
        }
    };
    // Shared variables of other kinds, set with this one.
    let stray = set_of(
        is_set,
        all_required().filter(|name| !kind.required.contains(name)),
    );
    if !stray.is_empty() {
        let owners = KINDS
            .iter()
            .filter(|other| stray.iter().any(|name| other.required.contains(name)));
        let owners = list(owners.map(|k| k.name.to_owned()), "or");
        return Err(ambiguous([
            (
                set_of(is_set, kind.required.iter().copied()),
                kind.name.to_owned(),
            ),
            (stray, owners),
        ]));
    }
    let missing: Vec<&str> = kind
        .required
        .iter()
        .copied()
        .filter(|name| !is_set(name))
        .collect();
    if !missing.is_empty() {
        return Err(Error::config(format!(
            "{} needs {}; {} {} not set",
            kind.name,
            list(kind.required.iter().map(|n| n.to_string()), "and"),
            list(missing.iter().map(|n| n.to_string()), "and"),
            if missing.len() == 1 { "is" } else { "are" }
        )));
    }
    // Optional variables of other kinds, set with this one.
    let foreign = table_variables()
        .filter(|name| !kind.required.contains(name) && !kind.optional.contains(name));
    if let Some(name) = set_of(is_set, foreign).first() {
        let owners = KINDS.iter().filter(|k| k.optional.contains(name));
        return Err(Error::config(format!(
            "{name} is set, but it applies to {}, not to {}",
            list(owners.map(describe), "or"),
            kind.name
        )));
    }
    Ok(kind)
}

/// Variables of several kinds set together: each side is the variables set
/// and what they make up.
fn ambiguous(sides: impl IntoIterator<Item = (Vec<&'static str>, String)>) -> Error {
    let sides: Vec<String> = sides
        .into_iter()
        .map(|(names, what)| format!("{} ({what})", names.join(", ")))
        .collect();
    Error::config(format!(
        "more than one kind of credential is set: {} are {} set: choose one",
        list(sides.iter().cloned(), "and"),
        if sides.len() == 2 { "both" } else { "all" }
    ))
}

/// Writes the settings the variables make into `config` (the fields of
/// variables that are unset stay as they are). On an error `config` may be
/// partly written: the callers drop it.
pub(crate) fn apply(
    config: &mut Config,
    lookup: &dyn Fn(&str) -> Result<Option<String>>,
) -> Result<()> {
    let env = Env { lookup };
    let named = match env.text(var::ENVIRONMENT)? {
        Some(name) => Some(name.parse().map_err(about(var::ENVIRONMENT))?),
        None => None,
    };
    let api_base = env.text(var::API_BASE_URL)?;
    if let Some(environment) = environment(named, api_base.as_deref())? {
        config.environment = environment;
    }
    for (name, which) in [
        (var::API_BASE_URL, UrlSetting::ApiBase),
        (var::API_DATA_URL, UrlSetting::DataBase),
        (var::AUTH_URL, UrlSetting::Token),
    ] {
        if let Some(url) = env.text(name)? {
            // Checked by `Config::validate`, with the environment.
            *config.urls.get_mut(which) = Some(url);
        }
    }
    if let Some(name) = env.text(var::TLS_ROOTS)? {
        config.transport.roots = name.parse().map_err(about(var::TLS_ROOTS))?;
    }
    if let Some(path) = env.text(var::CA_BUNDLE)? {
        let certs = read_ca_file(Path::new(&path)).map_err(about(var::CA_BUNDLE))?;
        config.add_ca_certificates(certs);
    }
    let mut values = Values::read(&env)?;
    let kind = select(&|name| values.is_set(name))?;
    let credentials = (kind.build)(&mut values)?;
    if let Some(scope) = values.text(var::SCOPE) {
        config.set_scope(&scope).map_err(about(var::SCOPE))?;
    }
    timing(&env, config)?;
    policies(&env, config)?;
    if let Some(dir) = env.text(var::TOKEN_CACHE_DIR)? {
        // Shared tokens concern client credentials; a fleet may set the
        // variable for processes with API keys too, where it does nothing.
        config.token_store = Some(StoreChoice::Dir(dir.into()));
    }
    config.credentials = Some(credentials);
    Ok(())
}

/// The timeouts, the longest wait and the background refresher.
fn timing(env: &Env<'_>, config: &mut Config) -> Result<()> {
    for (name, which) in [
        (var::CONNECT_TIMEOUT_MS, Timeout::Connect),
        (var::REQUEST_TIMEOUT_MS, Timeout::Request),
        (var::TOKEN_BUDGET_MS, Timeout::Budget),
        (var::MAX_WAIT_MS, Timeout::MaxWait),
    ] {
        if let Some(ms) = env.parsed::<u64>(name, "a whole number of milliseconds")? {
            config
                .set_timeout(which, Duration::from_millis(ms))
                .map_err(about(name))?;
        }
    }
    if let Some(on) = env.text(var::BACKGROUND_REFRESH)? {
        config.background_refresh = match on.to_ascii_lowercase().as_str() {
            "1" | "true" | "on" | "yes" => true,
            "0" | "false" | "off" | "no" => false,
            _ => {
                return Err(Error::config(format!(
                    "{} must be true or false (or 1, 0, on, off, yes, no)",
                    var::BACKGROUND_REFRESH
                )))
            }
        };
    }
    Ok(())
}

/// The refresh and retry policies.
fn policies(env: &Env<'_>, config: &mut Config) -> Result<()> {
    const MS: &str = "a whole number of milliseconds";
    if let Some(ms) = env.parsed::<u64>(var::REFRESH_AHEAD_MIN_MS, MS)? {
        config
            .set_refresh_ahead_min(Duration::from_millis(ms))
            .map_err(about(var::REFRESH_AHEAD_MIN_MS))?;
    }
    if let Some(fraction) =
        env.parsed::<f64>(var::REFRESH_AHEAD_FRACTION, "a number from 0 to 1")?
    {
        config
            .set_refresh_ahead_fraction(fraction)
            .map_err(about(var::REFRESH_AHEAD_FRACTION))?;
    }
    if let Some(attempts) = env.parsed::<u32>(var::RETRY_MAX_ATTEMPTS, "a whole number")? {
        config
            .set_retry_max_attempts(attempts)
            .map_err(about(var::RETRY_MAX_ATTEMPTS))?;
    }
    if let Some(ms) = env.parsed::<u64>(var::RETRY_INITIAL_BACKOFF_MS, MS)? {
        config
            .set_retry_initial_backoff(Duration::from_millis(ms))
            .map_err(about(var::RETRY_INITIAL_BACKOFF_MS))?;
    }
    if let Some(ms) = env.parsed::<u64>(var::RETRY_MAX_BACKOFF_MS, MS)? {
        config
            .set_retry_max_backoff(Duration::from_millis(ms))
            .map_err(about(var::RETRY_MAX_BACKOFF_MS))?;
    }
    Ok(())
}

/// The environment the variables configure: `APCA_ENVIRONMENT` if set,
/// else the environment whose known base URL `APCA_API_BASE_URL` is
/// ([`Environment::of_api_base_url`]); `None` when neither says (the
/// builder's environment stays). Refused: `APCA_ENVIRONMENT` with a base
/// URL on another environment's host, whose REST calls and streams would
/// go to two environments.
fn environment(named: Option<Environment>, api_base: Option<&str>) -> Result<Option<Environment>> {
    let Some(url) = api_base else {
        return Ok(named);
    };
    let Some(named) = named else {
        return Ok(Environment::of_api_base_url(url));
    };
    match named.conflicting_api_host(url) {
        Some(other) => Err(Error::config(format!(
            "{} is a URL of the {other} environment, but {} is {named}: credentials never cross environments; make them agree (or unset {} to take the environment from the URL)",
            var::API_BASE_URL,
            var::ENVIRONMENT,
            var::ENVIRONMENT
        ))),
        None => Ok(Some(named)),
    }
}

fn api_key(values: &mut Values) -> Result<Credentials> {
    let key_id = values.required(var::API_KEY_ID, Values::text)?;
    let secret = values.required(var::API_SECRET_KEY, Values::secret)?;
    let style = values.text(var::API_KEY_STYLE);
    match style.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Ok(Credentials::api_key(key_id, secret)),
        Some("headers") => Ok(Credentials::api_key_headers(key_id, secret)),
        Some("basic") => Ok(Credentials::api_key_basic(key_id, secret)),
        Some(_) => Err(Error::config(format!(
            "{} must be headers or basic",
            var::API_KEY_STYLE
        ))),
    }
}

fn client_secret(values: &mut Values) -> Result<Credentials> {
    let client_id = values.required(var::CLIENT_ID, Values::text)?;
    let secret = values.required(var::CLIENT_SECRET, Values::secret)?;
    Ok(Credentials::client_secret(client_id, secret))
}

fn private_key_file(values: &mut Values) -> Result<Credentials> {
    let settings = assertion_settings(values)?;
    let path = values.required(var::PRIVATE_KEY_PATH, Values::text)?;
    let key = PrivateKey::from_file(&path).map_err(about(var::PRIVATE_KEY_PATH))?;
    private_key_jwt(values, key, settings)
}

fn private_key_text(values: &mut Values) -> Result<Credentials> {
    let settings = assertion_settings(values)?;
    let pem = values.required(var::PRIVATE_KEY, Values::secret)?;
    let key = PrivateKey::from_pem(pem.expose_secret()).map_err(about(var::PRIVATE_KEY))?;
    private_key_jwt(values, key, settings)
}

fn private_key_jwt(
    values: &mut Values,
    mut key: PrivateKey,
    (options, alg): (AssertionOptions, Option<Algorithm>),
) -> Result<Credentials> {
    let client_id = values.required(var::CLIENT_ID, Values::text)?;
    if let Some(alg) = alg {
        key = key.with_algorithm(alg).map_err(about(var::ASSERTION_ALG))?;
    }
    Ok(Credentials::private_key_jwt_with(client_id, key, options))
}

/// The `APCA_ASSERTION_*` variables: the options of the client assertion
/// and the signing algorithm (`None` when none is set).
fn assertion_settings(values: &mut Values) -> Result<(AssertionOptions, Option<Algorithm>)> {
    let mut options = AssertionOptions::new();
    if let Some(audience) = values.text(var::ASSERTION_AUDIENCE) {
        options = options.audience(audience);
    }
    if let Some(typ) = values.text(var::ASSERTION_TYP) {
        options = options.typ(Some(typ));
    }
    if let Some(lifetime) = values.text(var::ASSERTION_LIFETIME) {
        let secs: u64 = lifetime.parse().map_err(|_| {
            Error::config(format!(
                "{} must be a whole number of seconds (for example 120)",
                var::ASSERTION_LIFETIME
            ))
        })?;
        options = options.lifetime(std::time::Duration::from_secs(secs));
        options
            .lifetime_secs()
            .map_err(about(var::ASSERTION_LIFETIME))?;
    }
    if let Some(kid) = values.text(var::ASSERTION_KID) {
        options = options.kid(kid);
    }
    let alg = match values.text(var::ASSERTION_ALG) {
        Some(name) => Some(
            name.parse::<Algorithm>()
                .map_err(about(var::ASSERTION_ALG))?,
        ),
        None => None,
    };
    Ok((options, alg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientBuilder, ErrorKind};
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

    fn config(vars: &[(&str, &str)]) -> Result<Config> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut config = Config::default();
        apply(&mut config, &move |name| Ok(map.get(name).cloned()))?;
        Ok(config)
    }

    #[test]
    fn timeouts_wait_and_the_refresher_come_from_the_environment() {
        let key = [("APCA_API_KEY_ID", "PKTEST"), ("APCA_API_SECRET_KEY", "s")];
        let defaults = config(&key).unwrap();
        assert!(!defaults.background_refresh);
        assert_eq!(defaults.max_wait, None);
        let set = config(
            &[
                &key[..],
                &[
                    ("APCA_CONNECT_TIMEOUT_MS", "1500"),
                    ("APCA_REQUEST_TIMEOUT_MS", " 2500 "),
                    ("APCA_TOKEN_BUDGET_MS", "7000"),
                    ("APCA_MAX_WAIT_MS", "40"),
                    ("APCA_BACKGROUND_REFRESH", "TRUE"),
                ],
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(set.transport.connect_timeout, Duration::from_millis(1500));
        assert_eq!(set.transport.request_timeout, Duration::from_millis(2500));
        assert_eq!(set.transport.budget, Duration::from_millis(7000));
        assert_eq!(set.max_wait, Some(Duration::from_millis(40)));
        assert!(set.background_refresh);
        for (name, value, says) in [
            (
                "APCA_CONNECT_TIMEOUT_MS",
                "5s",
                "whole number of milliseconds",
            ),
            ("APCA_MAX_WAIT_MS", "0", "more than zero"),
            ("APCA_TOKEN_BUDGET_MS", "600001", "at most 600 s"),
            ("APCA_BACKGROUND_REFRESH", "maybe", "true or false"),
        ] {
            let error = config(&[&key[..], &[(name, value)]].concat()).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Config);
            let message = error.to_string();
            assert!(message.contains(name), "{message}");
            assert!(message.contains(says), "{message}");
        }
    }

    #[test]
    fn refresh_and_retry_policies_come_from_the_environment() {
        let key = [("APCA_API_KEY_ID", "PKTEST"), ("APCA_API_SECRET_KEY", "s")];
        let set = config(
            &[
                &key[..],
                &[
                    ("APCA_REFRESH_AHEAD_MIN_MS", "1000"),
                    ("APCA_REFRESH_AHEAD_FRACTION", "0.25"),
                    ("APCA_RETRY_MAX_ATTEMPTS", "2"),
                    ("APCA_RETRY_INITIAL_BACKOFF_MS", "10"),
                    ("APCA_RETRY_MAX_BACKOFF_MS", "20"),
                ],
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(set.refresh.get_ahead_min(), Duration::from_secs(1));
        assert_eq!(set.refresh.get_ahead_fraction(), 0.25);
        assert_eq!(set.transport.retry.get_max_attempts(), 2);
        assert_eq!(
            set.transport.retry.get_initial_backoff(),
            Duration::from_millis(10)
        );
        assert_eq!(
            set.transport.retry.get_max_backoff(),
            Duration::from_millis(20)
        );
        for (name, value, says) in [
            ("APCA_REFRESH_AHEAD_FRACTION", "1.5", "from 0 to 1"),
            ("APCA_REFRESH_AHEAD_FRACTION", "NaN", "from 0 to 1"),
            (
                "APCA_REFRESH_AHEAD_MIN_MS",
                "-1",
                "whole number of milliseconds",
            ),
            ("APCA_RETRY_MAX_ATTEMPTS", "0", "at least one attempt"),
            ("APCA_RETRY_MAX_BACKOFF_MS", "600001", "at most 600 s"),
        ] {
            let error = config(&[&key[..], &[(name, value)]].concat()).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Config);
            let message = error.to_string();
            assert!(message.contains(name), "{message}");
            assert!(message.contains(says), "{message}");
        }
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

    /// An API key and `extra` variables.
    fn with_api_key<'a>(extra: &[(&'a str, &'a str)]) -> Result<ClientBuilder> {
        let mut vars = vec![(var::API_KEY_ID, "PKTEST"), (var::API_SECRET_KEY, "secret")];
        vars.extend_from_slice(extra);
        build(&vars)
    }

    #[test]
    fn a_known_base_url_without_apca_environment_takes_its_environment() {
        let cases: &[(&str, Environment)] = &[
            ("https://api.alpaca.markets", Environment::Live),
            ("https://api.alpaca.markets/v2/", Environment::Live),
            ("https://paper-api.alpaca.markets/v2", Environment::Paper),
            ("https://broker-api.alpaca.markets/", Environment::Broker),
            (
                "https://broker-api.sandbox.alpaca.markets",
                Environment::BrokerSandbox,
            ),
        ];
        for (url, expected) in cases {
            let client = with_api_key(&[(var::API_BASE_URL, url)])
                .unwrap()
                .build()
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(client.endpoints().environment(), *expected, "{url}");
        }
    }

    #[test]
    fn the_live_base_url_alone_streams_trade_updates_from_live() {
        let client = with_api_key(&[(var::API_BASE_URL, "https://api.alpaca.markets")])
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(client.endpoints().api_base(), "https://api.alpaca.markets");
        assert_eq!(
            client.endpoints().trade_updates_stream_url(),
            Some("wss://api.alpaca.markets/stream")
        );
    }

    #[test]
    fn apca_environment_and_a_base_url_of_another_environment_are_refused() {
        for (environment, url) in [
            ("paper", "https://api.alpaca.markets"),
            ("live", "https://paper-api.alpaca.markets/v2"),
            ("broker", "https://broker-api.sandbox.alpaca.markets/"),
            ("paper", "https://api.alpaca.markets/v2/some/path"),
        ] {
            let e = with_api_key(&[(var::ENVIRONMENT, environment), (var::API_BASE_URL, url)])
                .map(|_| ())
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{environment} {url}: {e}");
            for name in [var::ENVIRONMENT, var::API_BASE_URL] {
                assert!(e.message().contains(name), "{environment} {url}: {e}");
            }
        }
        // The same environment, written as the SDKs do: accepted.
        let client = with_api_key(&[
            (var::ENVIRONMENT, "live"),
            (var::API_BASE_URL, "https://api.alpaca.markets/v2"),
        ])
        .unwrap()
        .build()
        .unwrap();
        assert_eq!(client.endpoints().environment(), Environment::Live);
    }

    #[test]
    fn an_unknown_base_url_keeps_the_environment_it_had() {
        for (extra, expected) in [
            (&[][..], Environment::Paper),
            (&[(var::ENVIRONMENT, "live")][..], Environment::Live),
        ] {
            let mut vars = vec![(var::API_BASE_URL, "https://alpaca-proxy.example.com/v2")];
            vars.extend_from_slice(extra);
            let client = with_api_key(&vars).unwrap().build().unwrap();
            assert_eq!(client.endpoints().environment(), expected, "{vars:?}");
            assert_eq!(
                client.endpoints().api_base(),
                "https://alpaca-proxy.example.com/v2"
            );
        }
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

    #[test]
    fn apca_ca_bundle_errors_name_the_variable_and_never_the_content() {
        let dir = std::env::temp_dir().join(format!("alpaca-auth-env-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("not-a-bundle.pem");
        std::fs::write(&secret, "CANARY-content, no certificate\n").unwrap();
        let damaged = dir.join("damaged.pem");
        std::fs::write(
            &damaged,
            "-----BEGIN CERTIFICATE-----\nCANARY!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let missing = dir.join("missing.pem");
        for path in [&secret, &damaged, &missing, &dir] {
            let path = path.display().to_string();
            let e = with_api_key(&[(var::CA_BUNDLE, &path)])
                .map(|_| ())
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{path}: {e}");
            assert!(e.message().starts_with("APCA_CA_BUNDLE: "), "{path}: {e}");
            assert!(!format!("{e} {e:?}").contains("CANARY"), "{path}: {e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
        // A file of certificates is taken.
        let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/certificate.pem");
        with_api_key(&[(var::CA_BUNDLE, ca)])
            .unwrap()
            .build()
            .unwrap();
    }

    #[test]
    fn apca_tls_roots_takes_the_names_and_refuses_others() {
        for name in ["env", "bundled", "BUNDLED", "platform"] {
            with_api_key(&[(var::TLS_ROOTS, name)]).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let e = with_api_key(&[(var::TLS_ROOTS, "system")])
            .map(|_| ())
            .unwrap_err();
        assert!(e.message().starts_with("APCA_TLS_ROOTS: "), "{e}");
        assert!(e.message().contains("bundled"), "{e}");
    }

    /// A valid value for each variable of the table (a new variable needs
    /// one here).
    fn sample(name: &str) -> &'static str {
        match name {
            var::API_KEY_ID => "PKTEST",
            var::API_SECRET_KEY => "secret",
            var::API_KEY_STYLE => "headers",
            var::CLIENT_ID => "ABCDEFGHIJ0123456789",
            var::CLIENT_SECRET => "secret",
            var::PRIVATE_KEY_PATH => {
                concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/p256-pkcs8.pem")
            }
            var::PRIVATE_KEY => include_str!("../tests/keys/p256-pkcs8.pem"),
            var::SCOPE => "trading",
            var::ASSERTION_AUDIENCE => "https://authx.sandbox.alpaca.markets",
            var::ASSERTION_TYP => "client-authentication+jwt",
            var::ASSERTION_LIFETIME => "90",
            var::ASSERTION_ALG => "ES256",
            var::ASSERTION_KID => "key-1",
            other => panic!("no sample value for {other}"),
        }
    }

    /// The `APCA_*` words of a message.
    fn names_in(message: &str) -> Vec<&str> {
        message
            .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
            .filter(|word| word.starts_with("APCA_"))
            .collect()
    }

    #[test]
    fn the_table_is_consistent() {
        for kind in KINDS {
            assert!(
                own(kind).next().is_some(),
                "{} has no variable of its own",
                kind.name
            );
            for name in kind.optional {
                assert!(
                    !all_required().any(|r| r == *name),
                    "{name} is required by a kind and optional for {}",
                    kind.name
                );
            }
        }
        let all: Vec<&str> = table_variables().collect();
        for name in &all {
            assert_eq!(all.iter().filter(|n| *n == name).count(), 1, "{name}");
            assert!(name.starts_with("APCA_"), "{name}");
        }
    }

    /// Every combination of set and unset variables of the table: exactly
    /// the combinations that make up one kind (its required variables, any
    /// of its optional ones, nothing else) configure credentials, and the
    /// error of every other names the variables to look at.
    #[test]
    fn every_combination_of_the_table_selects_one_kind_or_names_the_variables() {
        let all: Vec<&'static str> = table_variables().collect();
        assert!(
            all.len() < 20,
            "{} variables: too many combinations",
            all.len()
        );
        let mut configured = vec![0; KINDS.len()];
        for bits in 0u32..1 << all.len() {
            let set: Vec<&'static str> = (0..all.len())
                .filter(|i| bits & 1 << i != 0)
                .map(|i| all[i])
                .collect();
            let expected: Vec<usize> = (0..KINDS.len())
                .filter(|&k| {
                    let kind = &KINDS[k];
                    kind.required.iter().all(|name| set.contains(name))
                        && set.iter().all(|name| {
                            kind.required.contains(name) || kind.optional.contains(name)
                        })
                })
                .collect();
            assert!(expected.len() <= 1, "{set:?} makes up several kinds");
            let selected = select(&|name| set.contains(&name));

            let mut vars: Vec<(&str, &str)> = vec![
                (var::ENVIRONMENT, "broker-sandbox"),
                (var::AUTH_URL, "http://127.0.0.1:1/v1/oauth2/token"),
            ];
            vars.extend(set.iter().map(|name| (*name, sample(name))));
            let built = build(&vars);

            match (expected.first(), selected) {
                (Some(&k), Ok(kind)) => {
                    assert!(std::ptr::eq(kind, &KINDS[k]), "{set:?}: {}", kind.name);
                    let client = built
                        .unwrap_or_else(|e| panic!("{set:?}: {e}"))
                        .build()
                        .unwrap_or_else(|e| panic!("{set:?}: {e}"));
                    let api_key = KINDS[k].required.contains(&var::API_KEY_ID);
                    assert_eq!(client.uses_tokens(), !api_key, "{set:?}");
                    configured[k] += 1;
                }
                (None, Err(e)) => {
                    assert_eq!(e.kind(), ErrorKind::Config, "{set:?}: {e}");
                    let built = built.map(|_| ()).unwrap_err();
                    assert_eq!(built.message(), e.message(), "{set:?}");
                    let named = names_in(e.message());
                    for name in &named {
                        assert!(all.contains(name), "{set:?}: {name} is not a variable: {e}");
                    }
                    if set.iter().any(|name| all_required().any(|r| r == *name)) {
                        assert!(
                            named.iter().any(|name| set.contains(name)),
                            "{set:?}: names none of the variables set: {e}"
                        );
                    } else {
                        for name in all_required() {
                            assert!(named.contains(&name), "{set:?}: {name} not named: {e}");
                        }
                    }
                }
                (expected, selected) => panic!(
                    "{set:?}: expected {:?}, selected {:?}",
                    expected.map(|&k| KINDS[k].name),
                    selected.map(|kind| kind.name)
                ),
            }
        }
        // Each kind with each subset of its optional variables.
        for (kind, count) in KINDS.iter().zip(configured) {
            assert_eq!(count, 1 << kind.optional.len(), "{}", kind.name);
        }
    }
}
