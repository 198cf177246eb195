//! The configuration as the library understands it, as checks: the
//! environment and its hosts, the credentials (kind, key type and
//! algorithm, assertion options), the network settings (proxy in effect
//! with user information left out, roots, CA bundle, token store) and the
//! variables read and ignored. Never a secret: only names, IDs and URLs.

use crate::config::{Config, StoreChoice};
use crate::credentials::{ApiKeyStyle, ClientAuth, Credentials};
use crate::env_vars::var;
use crate::environment::Environment;
use crate::transport::{ProxySetting, PROXY_ENV_VARS};
use crate::trust::TlsRoots;
use crate::url::redact_userinfo;

use super::report::{Check, Report, Status};
use super::Lookup;

/// What the settings checks leave for the others.
pub(super) struct Settings {
    pub(super) config: Config,
    /// A warning about the credentials' environment, for the API check.
    pub(super) key_environment: Option<String>,
}

/// Reads the configuration and reports it; `None` when it is unusable
/// (the failure is reported).
pub(super) fn read(
    lookup: &Lookup<'_>,
    present: Option<&[String]>,
    report: &mut Report,
) -> Option<Settings> {
    let mut config = Config::default();
    let outcome = crate::env_config::apply(&mut config, lookup)
        .and_then(|()| config.apply_assertion_overrides())
        .and_then(|()| config.validate());
    let outcome = outcome.and_then(|()| config.endpoints().map(|_| ()));
    if let Err(error) = outcome {
        report.push(
            Check::new("config", Status::Fail, error.to_string()).with_hint(
                "fix the variable the message names (README.md, \"Environment variables\")",
            ),
        );
        return None;
    }
    report.push(environment(&config, lookup));
    let key_environment = key_environment(&config);
    report.push(credentials(&config, key_environment.as_deref()));
    let proxy_var = proxy_variable();
    report.push(network(&config, proxy_var.as_ref()));
    report.push(variables(lookup, present, &config));
    Some(Settings {
        config,
        key_environment,
    })
}

fn set(lookup: &Lookup<'_>, name: &str) -> bool {
    matches!(lookup(name), Ok(Some(v)) if !v.is_empty())
}

fn environment(config: &Config, lookup: &Lookup<'_>) -> Check {
    let source = if set(lookup, var::ENVIRONMENT) {
        "from APCA_ENVIRONMENT"
    } else if set(lookup, var::API_BASE_URL)
        && Environment::of_api_base_url(
            &lookup(var::API_BASE_URL).ok().flatten().unwrap_or_default(),
        )
        .is_some()
    {
        "from APCA_API_BASE_URL"
    } else {
        "the default"
    };
    let Ok(endpoints) = config.endpoints() else {
        return Check::new(
            "config.environment",
            Status::Fail,
            "the endpoints cannot be resolved",
        );
    };
    Check::new(
        "config.environment",
        Status::Pass,
        format!(
            "{} ({source}); API {}, data {}, token {}",
            endpoints.environment(),
            endpoints.api_base(),
            endpoints.data_base(),
            endpoints.token_url().unwrap_or("(none: API key)")
        ),
    )
}

/// Alpaca's key IDs start with `PK` for paper and `AK` for live: a key of
/// the other trading environment, said as a warning.
fn key_environment(config: &Config) -> Option<String> {
    let Some(Credentials::ApiKey { key_id, .. }) = &config.credentials else {
        return None;
    };
    let (prefix_env, expected) = match (key_id.get(..2), config.environment) {
        (Some("PK"), Environment::Live) => ("paper", "live"),
        (Some("AK"), Environment::Paper) => ("live", "paper"),
        _ => return None,
    };
    Some(format!(
        "the key ID starts with {} (Alpaca's prefix of {prefix_env} keys) but the environment is {expected}",
        &key_id[..2]
    ))
}

fn credentials(config: &Config, key_environment: Option<&str>) -> Check {
    let finding = match &config.credentials {
        Some(Credentials::ApiKey { key_id, style, .. }) => {
            let style = match style {
                ApiKeyStyle::Basic => "HTTP Basic",
                ApiKeyStyle::Headers => "APCA-API-* headers",
                _ if matches!(config.environment, Environment::Broker | Environment::BrokerSandbox) => "HTTP Basic (the environment's form)",
                _ => "APCA-API-* headers (the environment's form)",
            };
            format!("API key {key_id}, sent as {style}")
        }
        Some(Credentials::ClientCredentials { client_id, auth: ClientAuth::Secret(_) }) => {
            format!("client credentials, client_secret_post, client ID {client_id}")
        }
        Some(Credentials::ClientCredentials { client_id, auth: ClientAuth::PrivateKeyJwt { key, options } }) => format!(
            "client credentials, private_key_jwt, client ID {client_id}; key {} ({}); assertion lifetime {} s, typ {}, aud {}, {}",
            key.algorithm(),
            key_kind(key.algorithm()),
            options.lifetime_value().as_secs(),
            options.typ_value().unwrap_or("(none)"),
            options.audience_value().unwrap_or("the token URL"),
            if options.kid_value().is_some() { "a kid" } else { "no kid" }
        ),
        _ => "no credentials".to_owned(),
    };
    let scope = config
        .scope
        .as_deref()
        .map_or(String::new(), |s| format!("; scope {s}"));
    match key_environment {
        Some(warning) => Check::new("config.credentials", Status::Warn, format!("{finding}{scope}; {warning}"))
            .with_hint("keys never cross environments: use a key of this environment, or set APCA_ENVIRONMENT to the key's"),
        None => Check::new("config.credentials", Status::Pass, format!("{finding}{scope}")),
    }
}

fn key_kind(alg: crate::key::Algorithm) -> &'static str {
    use crate::key::Algorithm::*;
    match alg {
        ES256 => "P-256 EC key",
        RS256 | PS256 => "RSA key",
        _ => "Ed25519 key",
    }
}

/// The proxy variable in effect in the process environment, shown without
/// user information.
pub(super) fn proxy_variable() -> Option<(&'static str, String)> {
    PROXY_ENV_VARS
        .iter()
        .find_map(|&name| match std::env::var(name) {
            Ok(value) if !value.is_empty() => Some((name, redact_userinfo(&value))),
            _ => None,
        })
}

fn network(config: &Config, proxy_var: Option<&(&'static str, String)>) -> Check {
    let proxy = match (&config.transport.proxy, proxy_var) {
        (ProxySetting::Disabled, _) => "disabled".to_owned(),
        (ProxySetting::Url(url), _) => {
            format!("{} (set in code)", redact_userinfo(url.expose_secret()))
        }
        (_, Some((name, shown))) => {
            format!("{shown} (from {name}; never for http:// or loopback URLs)")
        }
        _ => "none".to_owned(),
    };
    let roots = match config.transport.roots {
        TlsRoots::FromEnv
            if std::env::var_os("SSL_CERT_FILE").is_some()
                || std::env::var_os("SSL_CERT_DIR").is_some() =>
        {
            "SSL_CERT_FILE/SSL_CERT_DIR"
        }
        TlsRoots::FromEnv | TlsRoots::Bundled => "the bundled Mozilla roots",
        _ => "the platform's trust store",
    };
    let bundle = match config.transport.extra_roots.len() {
        0 => String::new(),
        n => format!(" and {n} CA certificate(s) of APCA_CA_BUNDLE"),
    };
    let store = match &config.token_store {
        Some(StoreChoice::Dir(dir)) => format!("token store {}", crate::key::shown_path(dir)),
        Some(StoreChoice::Custom(_)) => "a token store of the application's".to_owned(),
        Some(StoreChoice::Redis { url, .. }) => format!(
            "Redis token store {}",
            crate::url::redact_userinfo(url.expose_secret())
        ),
        None => "no token store".to_owned(),
    };
    Check::new(
        "config.network",
        Status::Pass,
        format!("proxy {proxy}; trusted roots: {roots}{bundle}; {store}"),
    )
}

/// The `APCA_*` variables set, and those set but ignored (unknown names,
/// settings that do not apply to these credentials).
fn variables(lookup: &Lookup<'_>, present: Option<&[String]>, config: &Config) -> Check {
    let read: Vec<&str> = var::ALL
        .iter()
        .copied()
        .filter(|n| set(lookup, n))
        .collect();
    let mut ignored: Vec<String> = present
        .unwrap_or(&[])
        .iter()
        .filter(|n| n.starts_with("APCA_") && !var::ALL.contains(&n.as_str()))
        .map(|n| format!("{n} (not a variable of alpaca-auth)"))
        .collect();
    let api_key = matches!(config.credentials, Some(Credentials::ApiKey { .. }));
    if api_key {
        for name in [var::TOKEN_CACHE_DIR, var::AUTH_URL] {
            if set(lookup, name) {
                ignored.push(format!("{name} (API keys request no token)"));
            }
        }
    }
    let finding = format!(
        "read: {}",
        if read.is_empty() {
            "none".to_owned()
        } else {
            read.join(", ")
        }
    );
    if ignored.is_empty() {
        Check::new("config.variables", Status::Pass, finding)
    } else {
        Check::new("config.variables", Status::Warn, format!("{finding}; ignored: {}", ignored.join(", ")))
            .with_hint("a misspelt or misplaced variable does nothing: check its name in README.md, \"Environment variables\"")
    }
}
