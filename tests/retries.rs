//! Retries: which failures are retried, Retry-After, and the time budget.

mod common;

use std::time::{Duration, Instant};

use alpaca_auth::mock::{retry_after_date, Fault};
use alpaca_auth::ErrorKind;
use common::util::closed_port_url;
use common::{attempts, mock, secret_builder, secret_client, FAST_RETRY};

#[test]
fn server_errors_are_retried_until_success() {
    for status in [500, 502, 503, 504, 408] {
        let mock = mock();
        let client = secret_client(&mock);
        mock.inject_n(Fault::Status(status), 2);
        client
            .access_token()
            .unwrap_or_else(|e| panic!("{status}: {e}"));
        assert_eq!(mock.token_requests(), 3, "status {status}");
    }
}

#[test]
fn attempts_are_capped() {
    let mock = mock();
    let client = secret_client(&mock);
    mock.inject_n(Fault::Status(503), 10);
    let err = client.access_token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HttpStatus);
    let attempts = FAST_RETRY.get_max_attempts();
    assert_eq!(
        mock.token_requests(),
        u64::from(attempts),
        "FAST_RETRY's attempts"
    );
    assert!(
        err.to_string()
            .contains(&format!("after {attempts} attempts")),
        "{err}"
    );
}

/// Answers the first token request with `fault` (a `Retry-After` of about
/// a second or more): the client waits at least that second, then gets its
/// token with the second request.
fn assert_retry_after_honoured(fault: Fault) {
    let mock = mock();
    let client = secret_client(&mock);
    mock.inject(fault);
    let start = Instant::now();
    client.access_token().unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        start.elapsed()
    );
    assert_eq!(mock.token_requests(), 2);
}

#[test]
fn retry_after_seconds_is_honoured() {
    assert_retry_after_honoured(Fault::RetryAfter(429, "1".into()));
}

#[test]
fn retry_after_http_date_is_honoured() {
    // The date has one-second resolution: at least one second passes.
    assert_retry_after_honoured(Fault::RetryAfter(
        503,
        retry_after_date(Duration::from_secs(2)),
    ));
}

#[test]
fn endless_rate_limiting_gives_up_within_the_budget() {
    let mock = mock();
    let budget = Duration::from_secs(2);
    let client = secret_builder(&mock)
        .retry_policy(attempts(100))
        .token_budget(budget)
        .build()
        .unwrap();
    mock.inject_n(Fault::RetryAfter(429, "1".into()), 100);
    let start = Instant::now();
    let err = client.access_token().unwrap_err();
    assert!(
        start.elapsed() < budget + Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert!(mock.token_requests() >= 2 && mock.token_requests() <= 3);
}

#[test]
fn client_errors_are_not_retried() {
    for (status, code) in [
        (401, "invalid_client"),
        (400, "invalid_grant"),
        (400, "unauthorized_client"),
    ] {
        let mock = mock();
        let client = secret_client(&mock);
        mock.inject(Fault::OAuthError(status, code.into()));
        let err = client.access_token().unwrap_err();
        assert_eq!(err.oauth().unwrap().code(), code);
        assert_eq!(mock.token_requests(), 1, "{code}");
    }
    let mock = mock();
    let client = secret_client(&mock);
    mock.inject(Fault::Status(404));
    assert_eq!(client.access_token().unwrap_err().status(), Some(404));
    assert_eq!(mock.token_requests(), 1);
}

#[test]
fn connection_reset_is_retried() {
    let mock = mock();
    let client = secret_client(&mock);
    mock.inject(Fault::Reset);
    client.access_token().unwrap();
    assert_eq!(mock.token_requests(), 2);
}

#[test]
fn connection_refused_is_a_transport_error_after_retries() {
    let client = common::builder_for(&closed_port_url("/v1/oauth2/token"))
        .credentials(alpaca_auth::Credentials::client_secret(
            alpaca_auth::mock::MOCK_CLIENT_ID,
            "s",
        ))
        .build()
        .unwrap();
    let err = client.access_token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert_eq!(
        client.stats().token_http_requests(),
        u64::from(FAST_RETRY.get_max_attempts())
    );
}

#[test]
fn a_silent_server_hits_the_request_timeout() {
    let mock = mock();
    let client = secret_builder(&mock)
        .request_timeout(Duration::from_millis(300))
        .token_budget(Duration::from_millis(1000))
        .build()
        .unwrap();
    mock.inject_n(Fault::Hang(Duration::from_secs(3)), 10);
    let start = Instant::now();
    let err = client.access_token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        start.elapsed() < Duration::from_millis(1600),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn oversized_and_malformed_bodies_are_refused_without_retry() {
    let mock = mock();
    let client = secret_client(&mock);
    mock.inject(Fault::LargeBody(10 * 1024 * 1024));
    let err = client.access_token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MalformedResponse, "{err}");
    assert!(err.message().contains("65536"), "{err}");
    client.invalidate();
    mock.inject(Fault::MalformedJson);
    let err = client.access_token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MalformedResponse);
    assert_eq!(mock.token_requests(), 2);
}

#[test]
fn absurd_retry_after_ends_the_acquisition_without_panicking() {
    let mock = mock();
    let client = secret_client(&mock);
    mock.inject(Fault::RetryAfter(503, "99999999999999999999".into()));
    let start = Instant::now();
    let err = client.access_token().unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(
        err.retry_after(),
        Some(alpaca_auth::limits::MAX_RETRY_AFTER)
    );
    assert_eq!(mock.token_requests(), 1);
}

#[test]
fn unknown_error_code_on_a_5xx_is_retried() {
    let mock = mock();
    let client = secret_client(&mock);
    mock.inject(Fault::Body(
        503,
        r#"{"status":503,"error":"Service Unavailable"}"#.into(),
    ));
    client.access_token().unwrap();
    assert_eq!(mock.token_requests(), 2);
}

#[test]
fn oversized_error_page_is_judged_by_its_status() {
    let mock = mock();
    let client = secret_client(&mock);
    mock.inject(Fault::Body(503, "x".repeat(200 * 1024)));
    client.access_token().unwrap();
    assert_eq!(mock.token_requests(), 2);
}

#[test]
fn nan_refresh_policy_is_a_config_error() {
    let mock = mock();
    let err = secret_builder(&mock)
        .refresh_policy(alpaca_auth::RefreshPolicy::default().ahead_fraction(f64::NAN))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}
