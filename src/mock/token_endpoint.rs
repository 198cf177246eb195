//! The checks of `POST /v1/oauth2/token`, as Alpaca makes them: method,
//! no `Authorization` header, the form content type and encoding, no
//! repeated parameter, `grant_type`, the client ID format, then either
//! `client_secret_post` (a registered secret, within Alpaca's length limit)
//! or `private_key_jwt` (the assertion type, length, and the assertion
//! verified by [`jwt`](super::jwt)); a token on success, an OAuth error
//! body otherwise.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::access_token::{self, Claims};
use super::http::{parse_form, Request, Response};
use super::state::{Shared, State};
use super::{jwt, DEFAULT_EXPIRES_IN};
// Alpaca's published limits, which the library's own are.
use crate::client::JWT_BEARER_ASSERTION_TYPE;
use crate::credentials::validate_client_id;
use crate::limits::{
    CLIENT_SECRET_MAX_LEN as MAX_CLIENT_SECRET_LEN, MAX_ASSERTION_LEN as MAX_CLIENT_ASSERTION_LEN,
};
use crate::secret::constant_time_eq;

/// The response to a token request: a new token, or why not.
pub(super) fn respond(request: &Request, shared: &Shared) -> Response {
    match check_token_request(request, shared) {
        Ok(client_id) => issue_token(shared, &client_id),
        Err(response) => response,
    }
}

fn oauth_error(status: u16, code: &str, description: &str, fields: &[&str]) -> Response {
    let mut body = json!({ "error": code, "error_description": description });
    if !fields.is_empty() {
        body["fields"] = fields.iter().map(|f| json!({ "name": f })).collect();
    }
    Response::json(status, &body)
}

/// The client ID of a request that passes every check, or the refusal.
fn check_token_request(request: &Request, shared: &Shared) -> Result<String, Response> {
    let form = read_form(request)?;
    let field = |name: &str| form_field(&form, name);
    check_grant_type(field("grant_type"))?;
    let client_id = check_client_id(field("client_id"))?;
    match (field("client_secret"), field("client_assertion")) {
        (Some(_), Some(_)) => Err(oauth_error(
            400,
            "invalid_request",
            "client_secret and client_assertion are mutually exclusive",
            &["client_secret", "client_assertion"],
        )),
        (Some(secret), None) => check_client_secret(shared, client_id, secret),
        (None, Some(assertion)) => {
            check_client_assertion(shared, client_id, assertion, field("client_assertion_type"))
        }
        (None, None) => Err(oauth_error(
            401,
            "invalid_client",
            "no client authentication: send client_secret or client_assertion",
            &[],
        )),
    }
}

/// The form of a token request: a POST with a form body, no
/// `Authorization` header, no parameter repeated.
fn read_form(request: &Request) -> Result<Vec<(String, String)>, Response> {
    if request.method != "POST" {
        return Err(oauth_error(
            405,
            "invalid_request",
            "the token endpoint takes POST",
            &[],
        ));
    }
    if request.header("authorization").is_some() {
        return Err(oauth_error(
            400,
            "invalid_request",
            "client authentication in an Authorization header is not supported; send the credentials in the form body",
            &["authorization"],
        ));
    }
    let form_type = request
        .header("content-type")
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if !form_type.is_some_and(|t| t.eq_ignore_ascii_case("application/x-www-form-urlencoded")) {
        return Err(oauth_error(
            400,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
            &["content-type"],
        ));
    }
    let form = parse_form(&request.body).ok_or_else(|| {
        oauth_error(
            400,
            "invalid_request",
            "the form body cannot be decoded",
            &[],
        )
    })?;
    // RFC 6749 §3.2: request parameters must not be included more than once.
    for (i, (name, _)) in form.iter().enumerate() {
        if form.iter().skip(i + 1).any(|(other, _)| other == name) {
            return Err(oauth_error(
                400,
                "invalid_request",
                &format!("the parameter {name:?} is repeated"),
                &[name.as_str()],
            ));
        }
    }
    Ok(form)
}

/// The first form field of that name.
fn form_field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `grant_type=client_credentials`, the only grant.
fn check_grant_type(grant_type: Option<&str>) -> Result<(), Response> {
    match grant_type {
        None => Err(oauth_error(
            400,
            "invalid_request",
            "grant_type is required",
            &["grant_type"],
        )),
        Some("client_credentials") => Ok(()),
        Some(_) => Err(oauth_error(
            400,
            "unsupported_grant_type",
            "only client_credentials is supported",
            &["grant_type"],
        )),
    }
}

/// A client ID of the form Alpaca issues.
fn check_client_id(client_id: Option<&str>) -> Result<&str, Response> {
    let client_id = client_id.ok_or_else(|| {
        oauth_error(
            400,
            "invalid_request",
            "client_id is required",
            &["client_id"],
        )
    })?;
    if validate_client_id(client_id).is_err() {
        return Err(oauth_error(
            400,
            "invalid_request",
            "client_id must be 20 to 32 characters of A-Z and 0-9",
            &["client_id"],
        ));
    }
    Ok(client_id)
}

/// `client_secret_post`: the registered secret of `client_id`.
fn check_client_secret(shared: &Shared, client_id: &str, secret: &str) -> Result<String, Response> {
    if secret.len() > MAX_CLIENT_SECRET_LEN {
        return Err(oauth_error(
            400,
            "invalid_request",
            "client_secret is too long",
            &["client_secret"],
        ));
    }
    let state = shared.state();
    match state.client_secrets.get(client_id) {
        Some(expected) if constant_time_eq(expected.as_bytes(), secret.as_bytes()) => {
            Ok(client_id.to_owned())
        }
        _ => Err(oauth_error(
            401,
            "invalid_client",
            "client authentication failed",
            &[],
        )),
    }
}

/// `private_key_jwt`: a client assertion signed with the registered key of
/// `client_id` (see [`jwt::verify_assertion`]).
fn check_client_assertion(
    shared: &Shared,
    client_id: &str,
    assertion: &str,
    assertion_type: Option<&str>,
) -> Result<String, Response> {
    if assertion_type != Some(JWT_BEARER_ASSERTION_TYPE) {
        return Err(oauth_error(
            400,
            "invalid_request",
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            &["client_assertion_type"],
        ));
    }
    if assertion.len() > MAX_CLIENT_ASSERTION_LEN {
        return Err(oauth_error(
            400,
            "invalid_request",
            "client_assertion is too long",
            &["client_assertion"],
        ));
    }
    let mut state = shared.state();
    let State {
        client_keys,
        seen_jti,
        allowed_kid,
        required_audience,
        required_typ,
        clock_offset_secs,
        ..
    } = &mut *state;
    let Some(key) = client_keys.get(client_id) else {
        return Err(oauth_error(
            401,
            "invalid_client",
            "client authentication failed",
            &[],
        ));
    };
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_add_signed(*clock_offset_secs);
    let audience = required_audience.as_deref().unwrap_or(&shared.token_url);
    let expect = jwt::Expectation::new(client_id, audience, now_unix)
        .allowed_kid(allowed_kid.as_deref())
        .required_typ(required_typ.as_deref());
    jwt::verify_assertion(assertion, key, &expect, seen_jti)
        .map(|()| client_id.to_owned())
        .map_err(|rejection| {
            let status = match rejection.code() {
                "invalid_client" | "token_signature_mismatch" => 401,
                _ => 400,
            };
            oauth_error(status, rejection.code(), rejection.description(), &[])
        })
}

/// A new token for `client_id`, remembered as valid for its lifetime.
fn issue_token(shared: &Shared, client_id: &str) -> Response {
    let (expires_in, token_len) = {
        let state = shared.state();
        (state.expires_in.clone(), state.token_len)
    };
    let lifetime = expires_in
        .as_u64()
        .unwrap_or(DEFAULT_EXPIRES_IN)
        .min(86_400 * 365);
    let claims = Claims {
        issuer: &shared.issuer,
        client_id,
        issued_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        lifetime,
    };
    let Ok(token) = access_token::mint(token_len, &claims, &shared.rng) else {
        return oauth_error(500, "server_error", "no randomness", &[]);
    };
    shared.state().tokens.insert(
        token.clone(),
        Instant::now() + Duration::from_secs(lifetime),
    );
    shared.tokens_issued.fetch_add(1, Ordering::SeqCst);
    let mut body = json!({ "access_token": token, "token_type": "Bearer" });
    if !expires_in.is_null() {
        body["expires_in"] = expires_in;
    }
    Response::json(200, &body).with_header("Cache-Control", "no-store".to_owned())
}
