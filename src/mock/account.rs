//! The resource endpoint, `GET /v2/account`: answers for a valid bearer
//! token the mock issued, a registered API key in the `APCA-API-*` headers
//! or in HTTP Basic, and 401 otherwise.

use std::time::Instant;

use base64::Engine as _;
use serde_json::json;

use super::http::{Request, Response};
use super::state::Shared;
use crate::secret::constant_time_eq;

/// The response to one account request.
pub(super) fn respond(request: &Request, shared: &Shared) -> Response {
    let unauthorized = || {
        Response::json(
            401,
            &json!({"code": 40110000, "message": "request is not authorized"}),
        )
    };
    let state = shared.state();
    let method = if let Some(auth) = request.header("authorization") {
        if let Some(token) = auth.strip_prefix("Bearer ") {
            match state.tokens.get(token) {
                Some(exp) if Instant::now() < *exp => "bearer",
                _ => return unauthorized(),
            }
        } else if let Some(encoded) = auth.strip_prefix("Basic ") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok());
            let Some((id, secret)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                return unauthorized();
            };
            match state.api_keys.get(id) {
                Some(expected) if constant_time_eq(expected.as_bytes(), secret.as_bytes()) => {
                    "basic"
                }
                _ => return unauthorized(),
            }
        } else {
            return unauthorized();
        }
    } else {
        match (
            request.header("apca-api-key-id"),
            request.header("apca-api-secret-key"),
        ) {
            (Some(id), Some(secret)) => match state.api_keys.get(id) {
                Some(expected) if constant_time_eq(expected.as_bytes(), secret.as_bytes()) => {
                    "headers"
                }
                _ => return unauthorized(),
            },
            _ => return unauthorized(),
        }
    };
    if request.method != "GET" {
        return Response::json(
            405,
            &json!({"code": 40510000, "message": "method not allowed"}),
        );
    }
    Response::json(
        200,
        &json!({"id": "mock-account-0001", "account_number": "PA0MOCK0001", "status": "ACTIVE", "currency": "USD", "auth": method}),
    )
}
