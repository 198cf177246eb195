//! The token endpoint as a connection sees it: each request is counted and
//! recorded, waits the configured delay, and then either meets the next
//! queued [`Fault`] or goes to the real checks in
//! [`token_endpoint`](super::token_endpoint).

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use serde_json::json;

use super::http::{head_bytes, parse_form, write_response, Request, Response};
use super::state::Shared;
use super::{token_endpoint, RecordedRequest};

/// A misbehaviour of the token endpoint, applied to the next token request.
/// Later versions may add more.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status and an empty body.
    Status(u16),
    /// Answer with this status, a `Retry-After` header of this value and no
    /// OAuth body.
    RetryAfter(u16, String),
    /// Answer with an OAuth error body of this code and status.
    OAuthError(u16, String),
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Answer 200 with a body that is not JSON.
    MalformedJson,
    /// Answer with this status and this body (as `application/json`).
    Body(u16, String),
    /// Answer 200 with a JSON body of this many bytes.
    LargeBody(usize),
    /// Send part of a response, then close the connection.
    Reset,
    /// Accept the request, say nothing for this long, then close.
    Hang(Duration),
    /// Send a valid response one byte per this interval.
    Trickle(Duration),
}

/// Handles one token request; returns whether the connection stays open.
pub(super) fn serve_token_request(
    request: &Request,
    shared: &Shared,
    out: &mut TcpStream,
    close: bool,
) -> bool {
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    let (fault, delay) = {
        let mut state = shared.state();
        state.requests.push(RecordedRequest {
            headers: request.headers.clone(),
            form: parse_form(&request.body).unwrap_or_default(),
        });
        (state.faults.pop_front(), state.token_delay)
    };
    if !delay.is_zero() {
        thread::sleep(delay);
    }
    let response = match fault {
        None => token_endpoint::respond(request, shared),
        Some(Fault::Delay(wait)) => {
            thread::sleep(wait);
            token_endpoint::respond(request, shared)
        }
        Some(Fault::Status(status)) => Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        },
        Some(Fault::RetryAfter(status, value)) => Response {
            status,
            headers: vec![("Retry-After", value)],
            body: Vec::new(),
        },
        Some(Fault::OAuthError(status, code)) => Response::json(status, &json!({ "error": code })),
        Some(Fault::MalformedJson) => Response {
            status: 200,
            headers: vec![("Content-Type", "application/json".to_owned())],
            body: b"{\"access_token\": \"unterminated".to_vec(),
        },
        Some(Fault::Body(status, body)) => Response {
            status,
            headers: vec![("Content-Type", "application/json".to_owned())],
            body: body.into_bytes(),
        },
        Some(Fault::LargeBody(len)) => {
            let filler = "x".repeat(len.saturating_sub(40));
            Response::json(200, &json!({ "access_token": "big", "pad": filler }))
        }
        Some(Fault::Reset) => {
            let partial = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"access_tok";
            let _ = out.write_all(partial);
            let _ = out.flush();
            return false;
        }
        Some(Fault::Hang(wait)) => {
            thread::sleep(wait);
            return false;
        }
        Some(Fault::Trickle(interval)) => {
            let response = token_endpoint::respond(request, shared);
            let mut bytes = head_bytes(&response, &shared.http_date(), response.body.len(), close);
            bytes.extend_from_slice(&response.body);
            for byte in bytes {
                if out.write_all(&[byte]).and_then(|()| out.flush()).is_err() {
                    return false;
                }
                thread::sleep(interval);
            }
            return !close;
        }
    };
    write_response(out, &response, &shared.http_date(), close).is_ok()
}
