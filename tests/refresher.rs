//! The opt-in background refresher: callers never refresh, failures are
//! visible, and dropping the client stops the thread.

mod common;

use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use alpaca_auth::mock::{Fault, MockServer};
use alpaca_auth::{Client, Credentials};
use common::util::wait_until;
use common::{mock, secret_builder};

/// The tests count refresher threads of the whole process: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn refreshing_client(mock: &MockServer) -> Client {
    secret_builder(mock)
        .background_refresh(true)
        .build()
        .unwrap()
}

fn refresher_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(|t| t.ok())
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|name| name.trim() == "alpaca-auth-ref")
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn callers_never_wait_for_a_refresh() {
    let _serial = serial();
    let mock = mock();
    mock.set_expires_in(2); // refreshed every second
    let slow = Duration::from_millis(300);
    mock.set_token_delay(slow);
    let client = refreshing_client(&mock);
    wait_until("the first token", Duration::from_secs(3), || {
        client.cached_token().is_some()
    });
    let client = Arc::new(client);
    let run_for = Duration::from_millis(3500);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let client = Arc::clone(&client);
            thread::spawn(move || {
                let start = Instant::now();
                let mut worst = Duration::ZERO;
                let mut calls = 0u64;
                while start.elapsed() < run_for {
                    let t = Instant::now();
                    client.auth_headers().expect("a valid token exists");
                    worst = worst.max(t.elapsed());
                    calls += 1;
                }
                (worst, calls)
            })
        })
        .collect();
    for handle in handles {
        let (worst, calls) = handle.join().unwrap();
        assert!(calls > 1000);
        assert!(
            worst < slow,
            "a caller waited {worst:?}, as long as a token request"
        );
    }
    let status = client.refresher_status().unwrap();
    assert!(status.running());
    assert!(status.refreshes() >= 3, "{status:?}");
    assert_eq!(status.consecutive_failures(), 0);
    assert_eq!(client.stats().token_fetch_failures(), 0);
    assert!(
        mock.token_requests() >= 3 && mock.token_requests() <= 5,
        "{}",
        mock.token_requests()
    );
}

#[test]
fn failures_are_visible_while_callers_keep_the_valid_token() {
    let _serial = serial();
    let mock = mock();
    mock.set_expires_in(4); // refresh window opens after 2 s
    let client = refreshing_client(&mock);
    wait_until("the first token", Duration::from_secs(3), || {
        client.cached_token().is_some()
    });
    let first = client.access_token().unwrap();
    mock.inject_n(Fault::Status(500), 4); // one whole refresh attempt fails
    wait_until("a failed refresh", Duration::from_secs(5), || {
        client.refresher_status().unwrap().consecutive_failures() > 0
    });
    let status = client.refresher_status().unwrap();
    assert_eq!(status.last_error().and_then(|e| e.status()), Some(500));
    assert!(
        client.access_token().unwrap().same_token(&first),
        "old token served"
    );
    wait_until(
        "the retry after the backoff",
        Duration::from_secs(5),
        || !client.access_token().unwrap().same_token(&first),
    );
    let status = client.refresher_status().unwrap();
    assert_eq!(status.consecutive_failures(), 0);
    assert!(status.last_error().is_none());
}

#[test]
fn dropping_the_client_stops_the_refresher_thread() {
    let _serial = serial();
    let mock = mock();
    let before = refresher_threads();
    let client = refreshing_client(&mock);
    let clone = client.clone();
    // A new thread takes its name once it first runs.
    wait_until("the named refresher thread", Duration::from_secs(3), || {
        refresher_threads() == before + 1
    });
    wait_until("the first token", Duration::from_secs(3), || {
        client.cached_token().is_some()
    });
    drop(client);
    assert_eq!(
        refresher_threads(),
        before + 1,
        "a clone still holds the client"
    );
    let start = Instant::now();
    drop(clone);
    assert!(start.elapsed() < Duration::from_secs(1), "stopped promptly");
    // Joined; the kernel drops the task from /proc a moment after.
    wait_until(
        "the refresher thread to be gone",
        Duration::from_secs(1),
        || refresher_threads() == before,
    );
}

#[test]
fn api_key_clients_have_no_refresher() {
    let _serial = serial();
    let client = Client::builder()
        .credentials(Credentials::api_key("PKID", "secret"))
        .background_refresh(true)
        .build()
        .unwrap();
    assert!(client.refresher_status().is_none());
}

/// The refresher never sleeps blind: an invalidation wakes it, and it
/// fetches the new token before any caller asks (before: it slept until
/// the old token's refresh time, 12 minutes away).
#[test]
fn invalidation_wakes_the_refresher() {
    let _serial = serial();
    let mock = mock();
    let client = refreshing_client(&mock);
    wait_until("the first token", Duration::from_secs(3), || {
        client.cached_token().is_some()
    });
    let first = client.cached_token().unwrap();
    client.invalidate();
    wait_until(
        "a new token from the refresher",
        Duration::from_secs(2),
        || client.cached_token().is_some_and(|t| !t.same_token(&first)),
    );
    assert_eq!(mock.token_requests(), 2);
}

/// A caller's call during a server hold imposed on the refresher's fetch
/// (429, `Retry-After: 30`) gets the held error at once, without a request.
#[test]
fn callers_get_the_held_error_during_a_server_hold() {
    let _serial = serial();
    let mock = mock();
    mock.inject(Fault::RetryAfter(429, "30".into()));
    let client = refreshing_client(&mock);
    wait_until("the refresher's failure", Duration::from_secs(3), || {
        client.refresher_status().unwrap().consecutive_failures() > 0
    });
    let asked = Instant::now();
    let err = client.access_token().unwrap_err();
    assert!(asked.elapsed() < Duration::from_millis(100));
    assert_eq!(err.kind(), alpaca_auth::ErrorKind::RateLimited);
    assert_eq!(mock.token_requests(), 1);
}

/// A long server hold (429, `Retry-After: 600`) on a refresh never keeps
/// the refresher asleep past the token's usable life: it wakes when the
/// token stops being handed out, and (the hold still on) sends nothing.
#[test]
fn a_long_retry_after_never_outlasts_the_token() {
    let _serial = serial();
    let mock = mock();
    mock.set_expires_in(4); // refreshed after 2 s, usable until 3.6 s
    let client = refreshing_client(&mock);
    wait_until("the first token", Duration::from_secs(3), || {
        client.cached_token().is_some()
    });
    mock.inject(Fault::RetryAfter(429, "600".into()));
    wait_until("the failed refresh", Duration::from_secs(4), || {
        client.refresher_status().unwrap().consecutive_failures() == 1
    });
    let failed_at = Instant::now();
    wait_until(
        "the refresher waking at the end of the token's life",
        Duration::from_secs(4),
        || client.refresher_status().unwrap().consecutive_failures() >= 2,
    );
    assert!(failed_at.elapsed() < Duration::from_secs(3));
    assert_eq!(mock.token_requests(), 2, "the server's hold is kept");
    let err = client.access_token().unwrap_err();
    assert_eq!(err.kind(), alpaca_auth::ErrorKind::RateLimited);
    assert_eq!(mock.token_requests(), 2);
}
