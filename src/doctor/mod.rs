//! The doctor: every check of why authentication could fail on this host,
//! in order, each with a finding and a hint (`alpaca-auth doctor`, C
//! `alpaca_auth_doctor_report`).
//!
//! 1. The configuration the `APCA_*` variables make (`config.*`): the
//!    environment and its hosts, the credentials (kind, key type and
//!    algorithm, assertion options), the proxy in effect (user information
//!    left out), the trusted roots and CA bundle, the token store, the
//!    variables read and those ignored.
//! 2. For the token endpoint and the API base (`token.*`, `api.*`): DNS
//!    answers, TCP connect time and the TLS version, cipher and certificate
//!    chain (subject, issuer, expiry); through the proxy when one is in
//!    effect (an `http://` proxy's `CONNECT`; TLS through an `https://`
//!    proxy is not probed).
//! 3. The clock against the token endpoint's `Date` header (the API
//!    base's for API keys), with what the skew does to `private_key_jwt`
//!    assertions (`clock`).
//! 4. A token request (`token`): its type, length, `expires_in` and scope,
//!    or the error with its likely cause.
//! 5. One authenticated read-only request to the API base (`api`):
//!    `GET /v2/account`, or `/v1/accounts?limit=1` in the broker
//!    environments.
//!
//! No secret, token or private key appears in a report: the token is shown
//! as its length only, errors are the library's redacted ones.
//!
//! ```no_run
//! let report = alpaca_auth::doctor::run();
//! print!("{}", report.to_text());
//! std::process::exit(if report.ok() { 0 } else { 1 });
//! ```

mod auth;
mod cert;
mod clock;
mod probe;
mod report;
mod settings;
mod tls;

use std::time::Instant;

use self::probe::{ProxyRoute, Trust};
pub use self::report::{Check, Report, Status};
use crate::error::Result;
use crate::transport::{resolve_proxy, Transport};
use crate::trust::resolve_roots;
use crate::url::{redact_userinfo, HttpUrl};

/// How the doctor reads variables: a value, `None` when unset, an error
/// when unreadable.
pub(crate) type Lookup<'a> = dyn Fn(&str) -> Result<Option<String>> + 'a;

/// Runs every check with the process environment (the `APCA_*` variables,
/// the proxy and `SSL_CERT_*` ones), as `Client::from_env` would use it.
/// Blocks for the network steps, each bounded by
/// [`DOCTOR_STEP_TIMEOUT`](crate::limits::DOCTOR_STEP_TIMEOUT) (and the
/// configured request timeout for the token request).
pub fn run() -> Report {
    let present: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .collect();
    run_inner(&crate::env_vars::process_env, Some(&present))
}

/// [`run`] with the `APCA_*` variables read through `lookup` (as
/// [`ClientBuilder::from_env_with`](crate::ClientBuilder::from_env_with));
/// the proxy and `SSL_CERT_*` variables still come from the process
/// environment. Unknown `APCA_*` names cannot be listed this way.
pub fn run_with(lookup: &dyn Fn(&str) -> Result<Option<String>>) -> Report {
    run_inner(lookup, None)
}

fn run_inner(lookup: &Lookup<'_>, present: Option<&[String]>) -> Report {
    let started = Instant::now();
    let mut report = Report::default();
    checks(lookup, present, &mut report);
    report.set_elapsed(started.elapsed());
    report
}

fn checks(lookup: &Lookup<'_>, present: Option<&[String]>, report: &mut Report) {
    let Some(settings) = settings::read(lookup, present, report) else {
        return;
    };
    let config = settings.config;
    let endpoints = match config.endpoints() {
        Ok(endpoints) => endpoints,
        Err(e) => return report.push(Check::new("config", Status::Fail, e.to_string())),
    };
    let roots = match resolve_roots(
        config.transport.roots,
        &config.transport.extra_roots,
        lookup_env(),
    ) {
        Ok(roots) => roots,
        Err(e) => return report.push(Check::new("config.network", Status::Fail, e.to_string())),
    };
    let roots_name = match config.transport.extra_roots.len() {
        0 => "the library's roots".to_owned(),
        n => format!("the library's roots and {n} CA certificate(s) of APCA_CA_BUNDLE"),
    };
    let trust = Trust {
        roots: &roots,
        name: &roots_name,
    };
    let token_url = endpoints
        .token_url()
        .filter(|_| {
            config
                .credentials
                .as_ref()
                .is_some_and(|c| c.is_client_credentials())
        })
        .and_then(|u| HttpUrl::parse(u).ok());
    let api_url = HttpUrl::parse(endpoints.api_base()).ok();
    let mut token_reachable = false;
    if let Some(url) = &token_url {
        token_reachable = probe_endpoint(&probe::TOKEN, url, &config, &trust, report);
    }
    let api_reachable = api_url
        .as_ref()
        .is_some_and(|url| probe_endpoint(&probe::API, url, &config, &trust, report));
    // The clock: the token endpoint's Date, else the API base's.
    let clock_target = match (&token_url, token_reachable, &api_url, api_reachable) {
        (Some(url), true, _, _) => Some((url, "token endpoint")),
        (_, _, Some(url), true) => Some((url, "API base")),
        _ => None,
    };
    let skew = clock_check(&config, &roots, clock_target, report);
    authenticate(
        config,
        &roots,
        &endpoints,
        api_url.as_ref(),
        settings.key_environment.as_deref(),
        skew,
        report,
    );
}

/// The clock against `target`'s `Date` (`None`: no server answered).
fn clock_check(
    config: &crate::config::Config,
    roots: &ureq::tls::RootCerts,
    target: Option<(&HttpUrl, &str)>,
    report: &mut Report,
) -> Option<clock::Skew> {
    let reached = target.and_then(|(url, what)| {
        Transport::with_roots(config.transport.clone(), url, roots.clone())
            .ok()
            .map(|t| (t, url, what))
    });
    let Some((transport, url, what)) = reached else {
        report.push(Check::new(
            "clock",
            Status::Skip,
            "no server answered to read a Date from",
        ));
        return None;
    };
    let lifetime = assertion_lifetime(config);
    let (check, skew) = clock::check(transport.agent(), url.as_str(), what, lifetime);
    report.push(check);
    skew
}

/// The token request (client credentials) and the API request.
fn authenticate(
    config: crate::config::Config,
    roots: &ureq::tls::RootCerts,
    endpoints: &crate::Endpoints,
    api_url: Option<&HttpUrl>,
    key_environment: Option<&str>,
    skew: Option<clock::Skew>,
    report: &mut Report,
) {
    let environment = config.environment;
    let uses_tokens = config
        .credentials
        .as_ref()
        .is_some_and(|c| c.is_client_credentials());
    let kept = config.clone();
    let client = match auth::client(config) {
        Ok(client) => client,
        Err(e) => {
            report.push(Check::new("token", Status::Fail, e.to_string()));
            return report.push(Check::new("api", Status::Skip, "no client"));
        }
    };
    if uses_tokens {
        let check = auth::token(&client, &kept, skew);
        let failed = check.status() == Status::Fail;
        report.push(check);
        if failed {
            return report.push(Check::new("api", Status::Skip, "no token to send"));
        }
    } else {
        report.push(Check::new(
            "token",
            Status::Skip,
            "API key credentials request no token",
        ));
    }
    let (Some(url), Ok(headers)) = (api_url, client.auth_headers()) else {
        return report.push(Check::new("api", Status::Skip, "no API base or no header"));
    };
    let check = match Transport::with_roots(kept.transport.clone(), url, roots.clone()) {
        Ok(transport) => auth::api(
            transport.agent(),
            &headers,
            endpoints.api_base(),
            environment,
            key_environment,
        ),
        Err(e) => Check::new("api", Status::Fail, e.to_string()),
    };
    report.push(check);
}

/// The assertion lifetime of `private_key_jwt` credentials.
fn assertion_lifetime(config: &crate::config::Config) -> Option<std::time::Duration> {
    match &config.credentials {
        Some(crate::Credentials::ClientCredentials {
            auth: crate::ClientAuth::PrivateKeyJwt { options, .. },
            ..
        }) => Some(options.lifetime_value()),
        _ => None,
    }
}

/// The process environment, as the roots resolver reads it.
fn lookup_env() -> &'static crate::trust::Lookup<'static> {
    &crate::env_vars::process_env
}

/// Probes `url` directly or through the proxy token requests to it would
/// take; whether it was reached.
fn probe_endpoint(
    names: &probe::Names,
    url: &HttpUrl,
    config: &crate::config::Config,
    trust: &Trust<'_>,
    report: &mut Report,
) -> bool {
    let proxy = match resolve_proxy(&config.transport, url) {
        Ok(proxy) => proxy,
        Err(e) => {
            report.push(Check::new(names.dns, Status::Fail, e.to_string()));
            return false;
        }
    };
    let proxy = proxy.filter(|p| {
        let uri = url.as_str().parse::<ureq::http::Uri>();
        !uri.is_ok_and(|uri| p.is_no_proxy(&uri))
    });
    let route = proxy.as_ref().map(|proxy| ProxyRoute {
        proxy,
        shown: redact_userinfo(&format!(
            "{}://{}:{}",
            if proxy.protocol() == ureq::ProxyProtocol::Https {
                "https"
            } else {
                "http"
            },
            proxy.host(),
            proxy.port()
        )),
        source: match &config.transport.proxy {
            crate::ProxySetting::FromEnv => settings::proxy_variable()
                .map_or_else(|| "the environment".to_owned(), |(name, _)| name.to_owned()),
            _ => "the client's proxy setting".to_owned(),
        },
    });
    probe::probe(names, url, route.as_ref(), trust, report)
}
