//! The token lifecycle: single flight, refresh ahead, invalidation, and
//! serving the old token while a refresh fails.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use alpaca_auth::mock::Fault;
use alpaca_auth::ErrorKind;
use common::util::wait_until;
use common::{mock, secret_client, FAST_RETRY};

const THREADS: usize = 32;

/// Runs `f` on `THREADS` threads released together; returns each result
/// with how long the call took.
fn together<T: Send + 'static>(f: impl Fn() -> T + Send + Sync + 'static) -> Vec<(T, Duration)> {
    let barrier = Arc::new(Barrier::new(THREADS));
    let f = Arc::new(f);
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (barrier, f) = (Arc::clone(&barrier), Arc::clone(&f));
            thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                let out = f();
                (out, start.elapsed())
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn refresh_is_single_flight_at_expiry() {
    let mock = mock();
    mock.set_expires_in(1);
    let client = secret_client(&mock);
    client.access_token().unwrap();
    thread::sleep(Duration::from_millis(1100)); // the token has expired
    mock.set_token_delay(Duration::from_millis(300));
    let before = mock.token_requests();
    let c = client.clone();
    let results = together(move || c.access_token());
    assert_eq!(
        mock.token_requests() - before,
        1,
        "exactly one token request"
    );
    let first = results[0].0.as_ref().unwrap();
    for (result, _) in &results {
        assert!(
            result.as_ref().unwrap().same_token(first),
            "all share one token"
        );
    }
}

#[test]
fn waiters_share_the_error_of_the_one_failed_request() {
    let mock = mock();
    let client = secret_client(&mock);
    mock.set_token_delay(Duration::from_millis(200));
    mock.inject(Fault::OAuthError(401, "invalid_client".into()));
    let c = client.clone();
    let results = together(move || c.access_token().map(|_| ()));
    assert_eq!(mock.token_requests(), 1);
    for (result, _) in results {
        let err = result.unwrap_err();
        assert_eq!(err.oauth().unwrap().code(), "invalid_client");
    }
}

#[test]
fn refresh_ahead_serves_the_old_token_while_one_thread_refreshes() {
    let mock = mock();
    mock.set_expires_in(4); // refresh window opens after 2 s (common::REFRESH)
    let client = secret_client(&mock);
    let old = client.access_token().unwrap();
    thread::sleep(Duration::from_millis(2100));
    let slow = Duration::from_millis(800);
    mock.set_token_delay(slow);
    let c = client.clone();
    let results = together(move || c.access_token().unwrap());
    let blocked = results.iter().filter(|(_, took)| *took >= slow).count();
    assert_eq!(
        blocked, 0,
        "no caller waits: the refresh runs on a library thread"
    );
    let served_old = results.iter().filter(|(t, _)| t.same_token(&old)).count();
    assert_eq!(
        served_old, THREADS,
        "every caller got the still-valid token"
    );
    wait_until("the refreshed token", Duration::from_secs(3), || {
        !client.access_token().unwrap().same_token(&old)
    });
    assert_eq!(mock.token_requests(), 2, "one refresh request");
}

#[test]
fn failed_refresh_keeps_serving_the_valid_token() {
    let mock = mock();
    mock.set_expires_in(4);
    let client = secret_client(&mock);
    let old = client.access_token().unwrap();
    thread::sleep(Duration::from_millis(2100));
    let attempts = u64::from(FAST_RETRY.get_max_attempts());
    mock.inject_n(Fault::Status(503), attempts as usize);
    let during = client.access_token().expect("old token still valid");
    assert!(during.same_token(&old));
    wait_until("the failed refresh", Duration::from_secs(3), || {
        client.last_error().is_some()
    });
    assert_eq!(
        mock.token_requests(),
        1 + attempts,
        "one refresh with its retries"
    );
    assert_eq!(client.last_error().unwrap().status(), Some(503));
    // Held off: the next calls do not hammer the endpoint.
    for _ in 0..100 {
        assert!(client.access_token().unwrap().same_token(&old));
    }
    assert_eq!(mock.token_requests(), 1 + attempts);
}

#[test]
fn error_reaches_callers_only_without_a_valid_token() {
    let mock = mock();
    mock.set_expires_in(1);
    let client = secret_client(&mock);
    client.access_token().unwrap();
    thread::sleep(Duration::from_millis(1100));
    mock.inject_n(Fault::Status(500), FAST_RETRY.get_max_attempts() as usize);
    let err = client.access_token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HttpStatus);
    assert_eq!(err.status(), Some(500));
    // Within the failure hold, callers get the error without new requests.
    let requests = mock.token_requests();
    assert!(client.access_token().is_err());
    assert_eq!(mock.token_requests(), requests);
}

#[test]
fn invalidate_forces_one_new_request() {
    let mock = mock();
    let client = secret_client(&mock);
    let old = client.access_token().unwrap();
    client.invalidate();
    assert!(client.cached_token().is_none());
    let c = client.clone();
    let results = together(move || c.access_token().unwrap());
    assert_eq!(mock.token_requests(), 2);
    assert!(results.iter().all(|(t, _)| !t.same_token(&old)));
    assert!(results.iter().all(|(t, _)| t.same_token(&results[0].0)));
}

#[test]
fn invalidate_clears_a_failure_hold() {
    let mock = mock();
    let client = secret_client(&mock);
    mock.inject(Fault::OAuthError(401, "invalid_client".into()));
    assert!(client.access_token().is_err());
    assert!(client.access_token().is_err(), "held");
    assert_eq!(mock.token_requests(), 1);
    client.invalidate();
    client
        .access_token()
        .expect("a fresh attempt after invalidate");
    assert_eq!(mock.token_requests(), 2);
}

#[test]
fn refresh_ahead_makes_one_request_per_rotation() {
    let mock = mock();
    mock.set_expires_in(2); // refresh window opens after 1 s
    let client = secret_client(&mock);
    client.access_token().unwrap();
    mock.set_token_delay(Duration::from_millis(50));
    let rounds = 3;
    for round in 1..=rounds {
        thread::sleep(Duration::from_millis(1050));
        let c = client.clone();
        let results = together(move || c.access_token().map(|_| ()));
        assert!(results.iter().all(|(r, _)| r.is_ok()));
        thread::sleep(Duration::from_millis(100)); // let the refresh land
        assert_eq!(mock.token_requests(), 1 + round, "round {round}");
    }
}

#[test]
fn a_refresh_that_outlives_the_token_returns_an_error_not_an_expired_token() {
    let mock = mock();
    mock.set_expires_in(2);
    let client = common::secret_builder(&mock)
        .request_timeout(Duration::from_millis(1500))
        .token_budget(Duration::from_millis(1500))
        .build()
        .unwrap();
    client.access_token().unwrap();
    thread::sleep(Duration::from_millis(1100)); // in the refresh window
    mock.inject_n(Fault::Hang(Duration::from_secs(3)), 4);
    match client.access_token() {
        Ok(token) => assert!(
            token.remaining() > Duration::ZERO,
            "an expired token was served"
        ),
        Err(e) => assert_eq!(e.kind(), ErrorKind::Timeout, "{e}"),
    }
}

#[test]
fn late_invalidate_of_a_replaced_token_changes_nothing() {
    let mock = mock();
    let client = secret_client(&mock);
    let old = client.access_token().unwrap();
    assert!(client.invalidate_token(&old));
    let new = client.access_token().unwrap();
    assert!(!new.same_token(&old));
    for _ in 0..10 {
        assert!(!client.invalidate_token(&old), "old token already replaced");
    }
    assert!(client.access_token().unwrap().same_token(&new));
    assert_eq!(mock.token_requests(), 2);
}

#[test]
fn tokens_served_from_thread_replicas_follow_invalidation() {
    let mock = mock();
    let client = secret_client(&mock);
    let first = client.access_token().unwrap();
    // Calls on other threads (their replicas) and on this one agree.
    let c = client.clone();
    let on_other = thread::spawn(move || c.access_token().unwrap())
        .join()
        .unwrap();
    assert!(on_other.same_token(&first));
    assert!(client.access_token().unwrap().same_token(&first));
    client.invalidate();
    let second = client.access_token().unwrap();
    assert!(
        !second.same_token(&first),
        "the replica was not served after invalidate"
    );
    let c = client.clone();
    let on_other = thread::spawn(move || c.access_token().unwrap())
        .join()
        .unwrap();
    assert!(on_other.same_token(&second));
    assert_eq!(mock.token_requests(), 2);
}

#[test]
fn the_builders_refresh_policy_decides_when_the_cache_refreshes() {
    let mock = mock();
    mock.set_expires_in(600);
    let margin_of = |policy: alpaca_auth::RefreshPolicy| {
        let client = common::secret_builder(&mock)
            .refresh_policy(policy)
            .build()
            .expect("client builds");
        let token = client.access_token().expect("token");
        token.expires_at() - token.refresh_at()
    };
    // 200 s ahead, whatever the fraction says.
    let ahead = alpaca_auth::RefreshPolicy::default()
        .ahead_min(Duration::from_secs(200))
        .ahead_fraction(0.0);
    assert_eq!(margin_of(ahead), Duration::from_secs(200));
    // 30 % of 600 s.
    let fraction = alpaca_auth::RefreshPolicy::default()
        .ahead_min(Duration::ZERO)
        .ahead_fraction(0.3);
    assert_eq!(margin_of(fraction), Duration::from_secs(180));
    // No refresh ahead: refreshed when the token stops being handed out,
    // its expiry margin before it expires.
    let none = alpaca_auth::RefreshPolicy::default()
        .ahead_min(Duration::ZERO)
        .ahead_fraction(0.0);
    let token_margin = margin_of(none);
    assert!(
        token_margin > Duration::ZERO && token_margin <= alpaca_auth::limits::EXPIRY_MARGIN_MAX,
        "{token_margin:?}"
    );
}
