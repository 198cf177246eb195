//! The fault matrix: every way the token endpoint can misbehave, each case
//! bounded in time and asserting the exact outcome (error kind or token,
//! number of HTTP requests, and whether a cached token is still served).
//!
//! Every case runs twice:
//!
//! * **cold**: no token yet; the caller gets the token or the error;
//! * **warm**: a valid token is cached and in its refresh window when the
//!   fault starts; the caller must get that token (never the error), and a
//!   second call at once must not send a new request.
//!
//! The cases of a table run in parallel threads, one mock server each, so
//! the file takes a few seconds. The "Failure behaviour" table of
//! docs/behaviour.md is this file in prose.

mod common;

use std::ops::RangeInclusive;
use std::thread;
use std::time::{Duration, Instant};

use alpaca_auth::mock::{retry_after_date, Fault, MockServer};
use alpaca_auth::{Client, ErrorKind, ProxySetting};
use serde_json::json;

/// What the caller gets when no token is cached.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    /// A token of this lifetime in seconds.
    Token(u64),
    /// An error of this kind.
    Error(ErrorKind),
}

struct Case {
    name: &'static str,
    /// Applies the fault to the mock (after the warm case's first token).
    fault: fn(&MockServer),
    /// No server at all: the port is closed (the mock is dropped).
    refused: bool,
    outcome: Outcome,
    /// HTTP requests the acquisition sends (the client's count).
    requests: RangeInclusive<u64>,
    request_timeout: Duration,
    budget: Duration,
    max_attempts: u32,
    /// The acquisition takes at least this long (a honoured wait)...
    min_elapsed: Duration,
    /// ...and never longer than this (every case is bounded).
    max_elapsed: Duration,
}

const MS: fn(u64) -> Duration = Duration::from_millis;

fn case(name: &'static str, fault: fn(&MockServer), outcome: Outcome, requests: u64) -> Case {
    Case {
        name,
        fault,
        refused: false,
        outcome,
        requests: requests..=requests,
        request_timeout: MS(500),
        budget: MS(2500),
        max_attempts: 4,
        min_elapsed: Duration::ZERO,
        max_elapsed: MS(2000),
    }
}

fn cases() -> Vec<Case> {
    use ErrorKind::*;
    use Outcome::{Error as E, Token};
    vec![
        case(
            "500 twice, then success",
            |m| m.inject_n(Fault::Status(500), 2),
            Token(899),
            3,
        ),
        case(
            "502 twice, then success",
            |m| m.inject_n(Fault::Status(502), 2),
            Token(899),
            3,
        ),
        case(
            "503 twice, then success",
            |m| m.inject_n(Fault::Status(503), 2),
            Token(899),
            3,
        ),
        case(
            "504 twice, then success",
            |m| m.inject_n(Fault::Status(504), 2),
            Token(899),
            3,
        ),
        Case {
            min_elapsed: MS(950),
            ..case(
                "429 with Retry-After: 1, then success",
                |m| m.inject(Fault::RetryAfter(429, "1".into())),
                Token(899),
                2,
            )
        },
        Case {
            min_elapsed: MS(900),
            max_elapsed: MS(2500),
            ..case(
                "429 with an HTTP-date Retry-After, then success",
                |m| m.inject(Fault::RetryAfter(429, retry_after_date(MS(2000)))),
                Token(899),
                2,
            )
        },
        Case {
            budget: MS(2000),
            max_attempts: 100,
            min_elapsed: MS(950),
            max_elapsed: MS(2500),
            ..case(
                "429 with Retry-After: 1 forever",
                |m| m.inject_n(Fault::RetryAfter(429, "1".into()), 1000),
                E(RateLimited),
                2,
            )
        },
        Case {
            refused: true,
            ..case("connection refused", |_| {}, E(Transport), 4)
        },
        case(
            "connection reset mid-response, every time",
            |m| m.inject_n(Fault::Reset, 100),
            E(Transport),
            4,
        ),
        Case {
            request_timeout: MS(400),
            budget: MS(1500),
            requests: 3..=4,
            min_elapsed: MS(1000),
            max_elapsed: MS(2200),
            ..case(
                "accepts and never answers",
                |m| m.inject_n(Fault::Hang(Duration::from_secs(5)), 100),
                E(Timeout),
                0,
            )
        },
        Case {
            request_timeout: MS(1500),
            budget: MS(2000),
            requests: 1..=2,
            min_elapsed: MS(1400),
            max_elapsed: MS(2700),
            ..case(
                "trickles one byte a second",
                |m| m.inject_n(Fault::Trickle(Duration::from_secs(1)), 100),
                E(Timeout),
                0,
            )
        },
        Case {
            // The mock takes a while to produce 10 MB; the client stops
            // reading at 64 KiB.
            request_timeout: MS(5000),
            budget: MS(6000),
            max_elapsed: MS(5000),
            ..case(
                "10 MB body",
                |m| m.inject(Fault::LargeBody(10 * 1024 * 1024)),
                E(MalformedResponse),
                1,
            )
        },
        case(
            "non-JSON body",
            |m| m.inject(Fault::MalformedJson),
            E(MalformedResponse),
            1,
        ),
        case(
            "HTML body with status 200",
            |m| m.inject(Fault::Body(200, "<html>maintenance</html>".into())),
            E(MalformedResponse),
            1,
        ),
        case(
            "JSON without access_token",
            |m| {
                m.inject(Fault::Body(
                    200,
                    r#"{"token_type":"Bearer","expires_in":899}"#.into(),
                ))
            },
            E(MalformedResponse),
            1,
        ),
        case(
            "token_type other than Bearer",
            |m| {
                m.inject(Fault::Body(
                    200,
                    r#"{"access_token":"tok","token_type":"mac","expires_in":899}"#.into(),
                ))
            },
            E(MalformedResponse),
            1,
        ),
        case(
            "expires_in missing",
            |m| m.set_expires_in_raw(serde_json::Value::Null),
            Token(300),
            1,
        ),
        case(
            "expires_in 0",
            |m| m.set_expires_in_raw(json!(0)),
            E(MalformedResponse),
            1,
        ),
        case(
            "expires_in negative",
            |m| m.set_expires_in_raw(json!(-60)),
            E(MalformedResponse),
            1,
        ),
        case(
            "expires_in 10^12",
            |m| m.set_expires_in_raw(json!(1_000_000_000_000u64)),
            Token(86_400),
            1,
        ),
        case(
            "expires_in a numeric string",
            |m| m.set_expires_in_raw(json!("899")),
            Token(899),
            1,
        ),
        case(
            "expires_in a non-numeric string",
            |m| m.set_expires_in_raw(json!("soon")),
            E(MalformedResponse),
            1,
        ),
        case(
            "invalid_client",
            |m| m.inject(Fault::OAuthError(401, "invalid_client".into())),
            E(OAuth),
            1,
        ),
    ]
}

/// A client of the case's settings; the refresh policy is
/// `common::REFRESH` (the warm cases' refresh window opens at half-life).
fn client_for(case: &Case, token_url: &str) -> Client {
    common::builder_for(token_url)
        .proxy(ProxySetting::Disabled)
        .request_timeout(case.request_timeout)
        .token_budget(case.budget)
        .retry_policy(common::attempts(case.max_attempts))
        .credentials(common::secret_credentials())
        .build()
        .expect("client builds")
}

fn check_elapsed(case: &Case, elapsed: Duration, mode: &str) {
    assert!(
        elapsed >= case.min_elapsed && elapsed <= case.max_elapsed,
        "{} ({mode}): took {elapsed:?}, expected {:?}..={:?}",
        case.name,
        case.min_elapsed,
        case.max_elapsed
    );
}

/// No token cached: the caller gets exactly the outcome of the case.
fn run_cold(case: &Case) {
    let mock = common::mock();
    let url = if case.refused {
        common::util::closed_port_url("/v1/oauth2/token")
    } else {
        mock.token_url()
    };
    let client = client_for(case, &url);
    (case.fault)(&mock);
    let start = Instant::now();
    let result = client.access_token();
    let elapsed = start.elapsed();
    check_elapsed(case, elapsed, "cold");
    let requests = client.stats().token_http_requests();
    assert!(
        case.requests.contains(&requests),
        "{} (cold): {requests} requests, expected {:?}",
        case.name,
        case.requests
    );
    if !case.refused {
        assert_eq!(mock.token_requests(), requests, "{} (cold)", case.name);
    }
    match (case.outcome, result) {
        (Outcome::Token(lifetime), Ok(token)) => {
            assert_eq!(token.lifetime().as_secs(), lifetime, "{}", case.name);
            assert!(client.cached_token().is_some());
        }
        (Outcome::Error(kind), Err(err)) => {
            assert_eq!(err.kind(), kind, "{} (cold): {err}", case.name);
            assert!(client.cached_token().is_none(), "{}", case.name);
            // Within the failure hold, callers get the same error without
            // another request: an outage is not a request storm.
            let again = client.access_token().unwrap_err();
            assert_eq!(again.kind(), kind, "{} (cold, again)", case.name);
            assert_eq!(
                client.stats().token_http_requests(),
                requests,
                "{} (cold, again)",
                case.name
            );
        }
        (expected, got) => panic!(
            "{} (cold): expected {expected:?}, got {:?}",
            case.name,
            got.map(|t| t.lifetime())
        ),
    }
}

/// Lifetime of the warm cases' first token: the refresh window opens at
/// half of it, and the other half is left for the faulty refresh.
const WARM_LIFETIME: u64 = 8;

/// A valid token in its refresh window when the fault starts: the caller
/// keeps getting it (or the new one), never the error.
fn run_warm(case: &Case) {
    let mock = common::mock();
    mock.set_expires_in(WARM_LIFETIME);
    let client = client_for(case, &mock.token_url());
    let old = client.access_token().expect("first token");
    assert_eq!(old.lifetime().as_secs(), WARM_LIFETIME);
    let before = client.stats().token_http_requests();
    mock.set_expires_in(alpaca_auth::mock::DEFAULT_EXPIRES_IN);
    let wait = old.refresh_at().saturating_duration_since(Instant::now());
    thread::sleep(wait + MS(50));
    assert!(old.is_valid_at(Instant::now()));
    let mock = if case.refused {
        drop(mock);
        None
    } else {
        (case.fault)(&mock);
        Some(mock)
    };

    // The call in the refresh window returns the cached token at once; the
    // refresh runs on a library thread, and is timed until it lands.
    let failures_before = client.stats().token_fetch_failures();
    let start = Instant::now();
    let during = client.access_token().unwrap_or_else(|e| {
        panic!(
            "{} (warm): error while a valid token existed: {e}",
            case.name
        )
    });
    assert!(start.elapsed() < MS(200), "{} (warm): waited", case.name);
    assert!(
        during.same_token(&old),
        "{} (warm): not the cached token",
        case.name
    );
    let elapsed = loop {
        let refreshed = client.cached_token().is_some_and(|t| !t.same_token(&old));
        if refreshed || client.stats().token_fetch_failures() > failures_before {
            break start.elapsed();
        }
        assert!(
            start.elapsed() < case.max_elapsed + MS(2000),
            "{} (warm): the refresh never landed",
            case.name
        );
        thread::sleep(MS(5));
    };
    check_elapsed(case, elapsed, "warm");
    let got = client.access_token().expect("a valid token");
    let requests = client.stats().token_http_requests() - before;
    assert!(
        case.requests.contains(&requests),
        "{} (warm): {requests} requests, expected {:?}",
        case.name,
        case.requests
    );
    if let Some(mock) = &mock {
        assert_eq!(mock.token_requests() - before, requests, "{}", case.name);
    }
    match case.outcome {
        Outcome::Token(lifetime) => {
            assert!(!got.same_token(&old), "{} (warm): not refreshed", case.name);
            assert_eq!(got.lifetime().as_secs(), lifetime, "{}", case.name);
        }
        Outcome::Error(kind) => {
            assert!(
                got.same_token(&old),
                "{} (warm): cached token not served",
                case.name
            );
            assert_eq!(
                client.last_error().map(|e| e.kind()),
                Some(kind),
                "{} (warm)",
                case.name
            );
            // The failed refresh is held off: the next call is served from
            // the cache at once, with no request.
            let start = Instant::now();
            let again = client.access_token().expect("cached token again");
            assert!(again.same_token(&old), "{} (warm, again)", case.name);
            assert!(start.elapsed() < MS(200), "{} (warm, again)", case.name);
            assert_eq!(
                client.stats().token_http_requests() - before,
                requests,
                "{} (warm, again)",
                case.name
            );
        }
    }
}

fn run_all(run: fn(&Case)) {
    let cases = cases();
    thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .map(|case| (case.name, scope.spawn(move || run(case))))
            .collect();
        let failed: Vec<&str> = handles
            .into_iter()
            .filter_map(|(name, handle)| handle.join().is_err().then_some(name))
            .collect();
        assert!(failed.is_empty(), "failed cases: {failed:?}");
    });
}

#[test]
fn every_fault_without_a_cached_token_has_its_exact_outcome() {
    run_all(run_cold);
}

#[test]
fn every_fault_during_refresh_serves_the_cached_token() {
    run_all(run_warm);
}
