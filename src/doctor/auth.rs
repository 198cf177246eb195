//! The two checks that authenticate: a token request (client credentials)
//! and one authenticated read-only request to the API base, each failure
//! with its likely cause. The token is never shown: only its length.

use std::time::Instant;

use super::clock::Skew;
use super::report::{Check, Status};
use crate::client::Client;
use crate::config::Config;
use crate::environment::Environment;
use crate::error::{Error, ErrorKind};
use crate::headers::AuthHeaders;

/// The client the doctor authenticates with: `config` with one attempt per
/// token request, no token store (a stored token would prove nothing), no
/// background refresher, no events.
pub(super) fn client(mut config: Config) -> Result<Client, Error> {
    config.transport.retry = config.transport.retry.max_attempts(1);
    config.token_store = None;
    config.background_refresh = false;
    config.max_wait = None;
    config.events = None;
    Client::from_config(config)
}

/// Requests a token; the check, and whether a token came.
pub(super) fn token(client: &Client, config: &Config, skew: Option<Skew>) -> Check {
    let started = Instant::now();
    let outcome = client.access_token();
    let took = started.elapsed().as_millis();
    match outcome {
        Ok(token) => {
            let kind = match token.token_type() {
                Some(t) if t.eq_ignore_ascii_case("bearer") => "Bearer",
                Some(_) => "non-Bearer",
                None => "untyped",
            };
            let scope = match (token.scope(), config.scope.as_deref()) {
                (None, _) => "no scope".to_owned(),
                (Some(granted), Some(asked)) if granted == asked => format!("scope {asked}"),
                (Some(granted), _) => format!("a scope of {} characters", granted.len()),
            };
            Check::new(
                "token",
                Status::Pass,
                format!(
                    "{kind} token of {} bytes, expires_in {} s, {scope}, in {took} ms",
                    token.expose_secret().len(),
                    token.lifetime().as_secs()
                ),
            )
        }
        Err(error) => {
            let hint = token_hint(&error, config, skew);
            Check::new("token", Status::Fail, format!("{error} (after {took} ms)")).with_hint(hint)
        }
    }
}

/// The likely cause of a failed token request.
fn token_hint(error: &Error, config: &Config, skew: Option<Skew>) -> String {
    let env = config.environment;
    if let Some(skew) = skew.filter(|s| s.breaks_assertions) {
        return format!(
            "the clock: this host is {} s off the token endpoint's clock, which the assertion's exp and iat are checked against (see the clock check); synchronise this host's clock",
            skew.secs.unsigned_abs()
        );
    }
    match error.oauth().map(|o| o.code()) {
        Some("invalid_client") => format!(
            "the token endpoint does not know this client ID with this secret or key: check APCA_CLIENT_SECRET (or that the key is the one registered for the client ID); a client of another environment is refused the same way (the environment is {env}: broker and broker-sandbox clients are separate)"
        ),
        Some("token_signature_mismatch") => "the assertion's signature does not verify with the public key registered for the client ID: the private key is not the registered one, or its algorithm differs (APCA_ASSERTION_ALG)".to_owned(),
        Some("jti_known") => "the server saw this assertion's jti before: a replay, which this library never sends; a proxy or middlebox may be resending requests".to_owned(),
        Some("invalid_grant") | Some("invalid_request") if mentions_time(error) => "the assertion's times were refused: check this host's clock (see the clock check) and APCA_ASSERTION_LIFETIME".to_owned(),
        Some("invalid_request") => "the server refused the request's form: see its description; an assertion kid (APCA_ASSERTION_KID) or typ (APCA_ASSERTION_TYP) the server does not accept is refused this way".to_owned(),
        Some("invalid_scope") => "the scope asked for (APCA_SCOPE) is not granted to this client".to_owned(),
        Some("unauthorized_client") => "this client may not use the client_credentials grant: ask Alpaca to enable it".to_owned(),
        Some("quota_exceeded") => "too many token requests: share one client (and its cached token) per process, or a token store across processes (APCA_TOKEN_CACHE_DIR)".to_owned(),
        Some("misconfiguration") => "the server reports a misconfiguration of this client: contact Alpaca".to_owned(),
        Some(_) => "see the server's error code and description".to_owned(),
        None => match error.kind() {
            ErrorKind::Tls => "the TLS connection was refused: see the token.tls check".to_owned(),
            ErrorKind::Transport | ErrorKind::Timeout => "the token endpoint cannot be reached: see the token.dns and token.tcp checks".to_owned(),
            ErrorKind::InvalidKey => "the private key cannot sign: see the message".to_owned(),
            _ => "see the message".to_owned(),
        },
    }
}

fn mentions_time(error: &Error) -> bool {
    let text = error.to_string().to_ascii_lowercase();
    ["expire", "future", "exp ", "iat", "nbf", "clock"]
        .iter()
        .any(|word| text.contains(word))
}

/// The read-only endpoint of the API base: `/v2/account` for the Trading
/// API, one account of the Broker API's list.
pub(super) fn read_only_path(environment: Environment) -> &'static str {
    match environment {
        Environment::Broker | Environment::BrokerSandbox => "/v1/accounts?limit=1",
        _ => "/v2/account",
    }
}

/// One authenticated `GET` of the read-only endpoint.
pub(super) fn api(
    agent: &ureq::Agent,
    headers: &AuthHeaders,
    api_base: &str,
    environment: Environment,
    key_environment: Option<&str>,
) -> Check {
    let path = read_only_path(environment);
    let request = headers.iter().fold(
        agent.get(&format!("{api_base}{path}")),
        |r, (name, value)| r.header(name, value),
    );
    let started = Instant::now();
    let response = request.call();
    let took = started.elapsed().as_millis();
    let status = match response {
        Ok(response) => response.status().as_u16(),
        Err(e) => {
            return Check::new("api", Status::Fail, format!("GET {path} failed: {e}")).with_hint(
                "the API base cannot be reached: see the api.dns, api.tcp and api.tls checks",
            )
        }
    };
    let finding = format!("GET {path}: {status} in {took} ms");
    match status {
        200..=299 => Check::new("api", Status::Pass, finding),
        401 => {
            let cause = key_environment.map_or_else(
                || format!("the credentials are not valid at this API base: keys and clients belong to one environment ({environment} here), and paper and live keys differ"),
                |w| format!("{w}: keys never cross environments"),
            );
            Check::new("api", Status::Fail, format!("{finding} (not authenticated)")).with_hint(cause)
        }
        403 => Check::new("api", Status::Fail, format!("{finding} (forbidden)")).with_hint(
            "the credentials are valid but may not read this endpoint: a Trading key on the Broker API (or the reverse), or an account without this permission",
        ),
        404 => Check::new("api", Status::Warn, format!("{finding} (not found)"))
            .with_hint("is APCA_API_BASE_URL the API's base (without a path)? The credentials were not tested"),
        _ => Check::new("api", Status::Fail, finding).with_hint("the API answered an error: try again later, or see Alpaca's status page"),
    }
}
