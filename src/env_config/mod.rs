//! Configuration from `APCA_*` environment variables.
//!
//! What each variable means is documented once, for users, in the README
//! (section "Environment variables"); this module does not restate it. The
//! names themselves are spelled once, in [`var`], and the kinds of
//! credential they make up in one table, [`kinds::KINDS`]: which kind is
//! configured and every error about a partial or ambiguous setting derive
//! from that table ([`select`]), so a new kind of credential is one row and
//! one function that builds it. The settings are written into a
//! [`Config`], checked by its own checks.
//!
//! An empty variable counts as unset.
//!
//! | Module    | Job                                                        |
//! |-----------|------------------------------------------------------------|
//! | this one  | reading variables, and the settings other than credentials |
//! | [`kinds`] | the table of credential kinds, and the credentials they make |

use crate::config::{Config, StoreChoice, Timeout, UrlSetting};
use crate::env_vars::var;
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::limits::MAX_ENV_VALUE_LEN;
use crate::trust::read_ca_file;
use std::path::Path;
use std::time::Duration;

mod kinds;
#[cfg(test)]
mod tests;

use kinds::{select, Values};

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

/// Prefixes an error about the value of variable `name` with the name.
fn about(name: &'static str) -> impl FnOnce(Error) -> Error {
    move |e| e.with_message_prefix(&format!("{name}: "))
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
    token_store(&env, config)?;
    config.credentials = Some(credentials);
    Ok(())
}

/// The token store: a directory or a Redis URL (not both), and the Redis
/// key prefix. Shared tokens concern client credentials; a fleet may set
/// these for processes with API keys too, where they do nothing.
fn token_store(env: &Env<'_>, config: &mut Config) -> Result<()> {
    let dir = env.text(var::TOKEN_CACHE_DIR)?;
    // A secret (it may hold a password): never quoted in an error.
    let url = env.get(var::TOKEN_STORE_URL)?;
    let prefix = env.text(var::TOKEN_STORE_PREFIX)?;
    match (dir, url) {
        (Some(_), Some(_)) => {
            return Err(Error::config(format!(
                "{} and {} are both set: choose one token store",
                var::TOKEN_CACHE_DIR,
                var::TOKEN_STORE_URL
            )))
        }
        (Some(dir), None) => config.token_store = Some(StoreChoice::Dir(dir.into())),
        (None, Some(url)) => config
            .set_token_store_url(url.trim())
            .map_err(about(var::TOKEN_STORE_URL))?,
        (None, None) => {}
    }
    if let Some(prefix) = prefix {
        if !matches!(config.token_store, Some(StoreChoice::Redis { .. })) {
            return Err(Error::config(format!(
                "{} applies to a Redis token store: set {} too",
                var::TOKEN_STORE_PREFIX,
                var::TOKEN_STORE_URL
            )));
        }
        config
            .set_token_store_prefix(&prefix)
            .map_err(about(var::TOKEN_STORE_PREFIX))?;
    }
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
