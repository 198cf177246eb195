//! The incidents of the "Incidents" table of docs/behaviour.md that a Rust
//! test can drive: each counts the token requests the mock sees and bounds
//! the waits.
//! (The fork and the 401 storm are C programs, in `tests/c_abi.rs`.)

mod common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use alpaca_auth::mock::{retry_after_date, Fault, MOCK_CLIENT_SECRET};
use alpaca_auth::{ErrorKind, RetryPolicy};
use common::{attempts, mock, secret_builder};

/// The library's default retry policy when the incident was written up,
/// stated so that the test keeps checking those figures: 4 attempts spaced
/// by 250 ms, 500 ms, 1 s (up to 8 s).
const INCIDENT_RETRY: RetryPolicy = RetryPolicy::new()
    .max_attempts(4)
    .initial_backoff(Duration::from_millis(250))
    .max_backoff(Duration::from_secs(8));

/// 40 calls spread over one second against an endpoint answering 503 with
/// `Retry-After: 0`: one token acquisition (its 4 attempts spaced by our
/// own backoff), then a failure hold; every call gets the error in bounded
/// time. (Before: 160 requests, `Retry-After: 0` erasing backoff and hold.)
#[test]
fn retry_after_zero_never_shortens_the_backoff_or_the_hold() {
    let mock = mock();
    mock.inject_n(Fault::RetryAfter(503, "0".into()), 1000);
    let client = secret_builder(&mock)
        .retry_policy(INCIDENT_RETRY)
        .build()
        .unwrap();
    let start = Instant::now();
    let calls: Vec<_> = (0..40u32)
        .map(|i| {
            let client = client.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(25) * i);
                let asked = Instant::now();
                let outcome = client.access_token();
                (outcome.map(|_| ()), asked.elapsed())
            })
        })
        .collect();
    for call in calls {
        let (outcome, waited) = call.join().unwrap();
        assert!(outcome.is_err());
        assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    }
    assert!(start.elapsed() < Duration::from_secs(4));
    assert_eq!(
        mock.token_requests(),
        u64::from(INCIDENT_RETRY.get_max_attempts()),
        "one acquisition, then the hold"
    );
}

/// A server hold (429, `Retry-After: 30`) outlives `invalidate()`: the next
/// call gets the held error at once, without a request.
#[test]
fn invalidate_never_bypasses_a_server_hold() {
    let mock = mock();
    let client = common::secret_client(&mock);
    mock.inject(Fault::RetryAfter(429, "30".into()));
    let err = client.access_token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(mock.token_requests(), 1);
    client.invalidate();
    let asked = Instant::now();
    let err = client.access_token().unwrap_err();
    assert!(asked.elapsed() < Duration::from_millis(100));
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(mock.token_requests(), 1, "no request during the hold");
}

/// The same with a past HTTP-date and with a negative value: our own hold
/// still applies, so back-to-back calls cause one acquisition.
#[test]
fn past_dates_and_negative_retry_after_keep_our_own_hold() {
    for value in [retry_after_date(Duration::ZERO), "-5".to_owned()] {
        let mock = mock();
        let client = Arc::new(
            secret_builder(&mock)
                .retry_policy(attempts(1))
                .build()
                .unwrap(),
        );
        mock.inject_n(Fault::RetryAfter(503, value.clone()), 100);
        for _ in 0..20 {
            assert!(client.access_token().is_err());
        }
        assert_eq!(mock.token_requests(), 1, "{value}");
    }
}

/// Tokens rotate every second from an endpoint that takes 200 ms, no
/// background refresher: the refresh-ahead runs on a library thread, so the
/// one caller never waits for it (before: 200 ms at every rotation), and
/// each rotation costs one request.
#[test]
fn rotation_never_makes_a_caller_with_a_valid_token_wait() {
    let mock = mock();
    mock.set_expires_in(2); // refreshed after 1 s (common::REFRESH)
    let client = common::secret_client(&mock);
    client.access_token().unwrap();
    let delay = Duration::from_millis(200);
    mock.set_token_delay(delay);
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    while start.elapsed() < Duration::from_millis(3500) {
        let asked = Instant::now();
        client.auth_headers().unwrap();
        slowest = slowest.max(asked.elapsed());
        thread::sleep(Duration::from_micros(200));
    }
    // A timed bound loose enough for a loaded machine; `cargo bench`
    // measures the real figure.
    assert!(slowest < delay / 4, "a call waited {slowest:?}");
    let requests = mock.token_requests();
    assert!((3..=5).contains(&requests), "one per rotation: {requests}");
}

/// No call waits longer than `max_wait`, even for a first token from a
/// slow endpoint; the request goes on and a later call gets its token.
#[test]
fn no_call_waits_longer_than_max_wait() {
    let mock = mock();
    mock.set_token_delay(Duration::from_millis(1500));
    let client = secret_builder(&mock)
        .max_wait(Duration::from_millis(300))
        .build()
        .unwrap();
    let asked = Instant::now();
    let err = client.access_token().unwrap_err();
    let waited = asked.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(
        waited >= Duration::from_millis(290) && waited < Duration::from_millis(800),
        "{waited:?}"
    );
    thread::sleep(Duration::from_millis(1500));
    client
        .access_token()
        .expect("the request went on and landed");
    assert_eq!(mock.token_requests(), 1);
}

/// Operators see incidents: the event callback reports fetches, failures
/// with kind and status, and holds; the remaining lifetime is readable.
#[test]
fn events_report_fetches_failures_and_holds() {
    use alpaca_auth::Event;
    use std::sync::Mutex;
    let mock = mock();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let client = secret_builder(&mock)
        .on_event(move |event| sink.lock().unwrap().push(event.clone()))
        .build()
        .unwrap();
    assert_eq!(client.token_remaining(), None);
    client.access_token().unwrap();
    let remaining = client.token_remaining().expect("a token");
    // 899 s less the 10 s expiry margin.
    assert!(remaining <= Duration::from_secs(889) && remaining > Duration::from_secs(880));
    mock.inject(Fault::RetryAfter(429, "30".into()));
    client.invalidate();
    assert!(client.access_token().is_err());
    let events = seen.lock().unwrap().clone();
    // The struct variants of Event are non-exhaustive: matched, not built.
    assert!(
        matches!(
            events[..],
            [
                Event::TokenFetched { lifetime, .. },
                Event::FetchFailed {
                    kind: ErrorKind::RateLimited,
                    status: Some(429),
                    ..
                },
                Event::HoldStarted {
                    duration,
                    by_server: true,
                    ..
                },
            ] if lifetime == Duration::from_secs(899) && duration == Duration::from_secs(30)
        ),
        "{events:?}"
    );
    assert!(!format!("{events:?}").contains(MOCK_CLIENT_SECRET));
}

/// A token fetch on a library thread can outlive the client; its
/// events must not reach the callback once `alpaca_auth_client_free`
/// has returned (the caller may then free `user_data`).
#[test]
fn no_event_callback_runs_after_client_free() {
    use alpaca_auth::ffi::builder::{
        alpaca_auth_builder_build, alpaca_auth_builder_new, alpaca_auth_builder_set_client_secret,
        alpaca_auth_builder_set_environment, alpaca_auth_builder_set_event_callback,
        alpaca_auth_builder_set_request_timeout_ms, alpaca_auth_builder_set_token_url,
    };
    use alpaca_auth::ffi::client::{alpaca_auth_client_free, alpaca_auth_client_try_header_line};
    use alpaca_auth::ffi::event::alpaca_auth_event;
    use alpaca_auth::ffi::result::alpaca_auth_result;
    use std::ffi::{c_char, CString};
    use std::ptr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    static EVENTS: AtomicUsize = AtomicUsize::new(0);
    unsafe extern "C" fn count(_: *const alpaca_auth_event, _: *mut std::ffi::c_void) {
        EVENTS.fetch_add(1, Ordering::SeqCst);
    }
    let mock = mock();
    mock.set_token_delay(Duration::from_millis(800));
    let url = CString::new(mock.token_url()).expect("url");
    let id = CString::new(alpaca_auth::mock::MOCK_CLIENT_ID).expect("id");
    let secret = CString::new(alpaca_auth::mock::MOCK_CLIENT_SECRET).expect("secret");
    let env = CString::new("broker-sandbox").expect("env");
    // SAFETY: valid handles and NUL-terminated strings throughout.
    unsafe {
        let mut builder = ptr::null_mut();
        assert_eq!(
            alpaca_auth_builder_new(&mut builder),
            alpaca_auth_result::Ok
        );
        alpaca_auth_builder_set_environment(builder, env.as_ptr());
        alpaca_auth_builder_set_token_url(builder, url.as_ptr());
        alpaca_auth_builder_set_client_secret(builder, id.as_ptr(), secret.as_ptr());
        alpaca_auth_builder_set_event_callback(builder, Some(count), ptr::null_mut());
        // Long enough for the endpoint's 800 ms: the fetch succeeds.
        let timeout_ms = common::REQUEST_TIMEOUT.as_millis() as u64;
        assert_eq!(
            alpaca_auth_builder_set_request_timeout_ms(builder, timeout_ms),
            alpaca_auth_result::Ok
        );
        let mut client = ptr::null_mut();
        assert_eq!(
            alpaca_auth_builder_build(builder, &mut client),
            alpaca_auth_result::Ok
        );
        let mut line = [0 as c_char; 64];
        let mut needed = 0;
        // Starts the fetch on a library thread and returns at once.
        assert_eq!(
            alpaca_auth_client_try_header_line(
                client,
                0,
                line.as_mut_ptr(),
                line.len(),
                &mut needed
            ),
            alpaca_auth_result::WouldBlock
        );
        std::thread::sleep(Duration::from_millis(200));
        alpaca_auth_client_free(client);
    }
    let at_free = EVENTS.load(Ordering::SeqCst);
    // The fetch ends (and would report TOKEN_FETCHED) after the free.
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(mock.token_requests(), 1, "the fetch went on");
    assert_eq!(
        EVENTS.load(Ordering::SeqCst),
        at_free,
        "no event after free"
    );
}
