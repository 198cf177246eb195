//! Concurrency soak: 64 threads call `auth_headers()` 10,000 times each
//! while the mock issues 2-second tokens from a slow endpoint and fails
//! every fifth token request with a 500.
//!
//! Proven, with the refresh done by callers (the default) and by the
//! background refresher:
//!
//! * no caller ever gets an error (a valid token always exists after the
//!   first), and every sampled token is one the mock still accepts;
//! * token requests match the rotations: every token issued is used, and
//!   one rotation happens per half lifetime, not more;
//! * no caller waits for a refresh it does not make: with caller refresh
//!   only the one refreshing caller per rotation waits (about the endpoint
//!   delay); with the background refresher no call after the first token
//!   takes as long as the endpoint delay.
//!
//! Each run takes about 11 s (the calls are paced to span ten rotations).

mod common;

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use alpaca_auth::mock::{Fault, MockServer};
use alpaca_auth::Client;

const THREADS: usize = 64;
const CALLS: usize = 10_000;
/// Token lifetime the mock grants; refresh-ahead starts at half of it
/// (`common::REFRESH`).
const LIFETIME_SECS: u64 = 2;
const REFRESH_PERIOD: Duration = Duration::from_secs(LIFETIME_SECS / 2);
/// The slow endpoint: every successful token response takes this long.
const ENDPOINT_DELAY: Duration = Duration::from_millis(500);
/// Pacing: a thread sleeps this long after every second call, so the run
/// spans about ten refresh periods.
const PACE: Duration = Duration::from_millis(2);
/// Every FAIL_EVERY-th token request is answered 500.
const FAIL_EVERY: usize = 5;
/// Fault pattern queued (more than a run can consume).
const PATTERNS: usize = 200;
/// Every SAMPLE-th call checks its token with the mock.
const SAMPLE: usize = 500;

struct ThreadReport {
    errors: usize,
    invalid_samples: usize,
    /// Hashes of the distinct header values seen, in order.
    tokens: Vec<u64>,
    /// Latency of the thread's first call (it may wait for the first token).
    first_call: Duration,
    /// Longest latency of any later call.
    max_later_call: Duration,
    /// Later calls that took at least half the endpoint delay.
    slow_later_calls: usize,
}

fn queue_faults(mock: &MockServer) {
    // `Delay(0)` handles the request normally: four good answers (slowed
    // by the endpoint delay), then an immediate 500.
    for _ in 0..PATTERNS {
        mock.inject_n(Fault::Delay(ENDPOINT_DELAY), FAIL_EVERY - 1);
        mock.inject(Fault::Status(500));
    }
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

fn hammer(client: &Client, mock: &MockServer, start: &Barrier) -> ThreadReport {
    let mut report = ThreadReport {
        errors: 0,
        invalid_samples: 0,
        tokens: Vec::new(),
        first_call: Duration::ZERO,
        max_later_call: Duration::ZERO,
        slow_later_calls: 0,
    };
    start.wait();
    for i in 0..CALLS {
        let t0 = Instant::now();
        let result = client.auth_headers();
        let took = t0.elapsed();
        if i == 0 {
            report.first_call = took;
        } else {
            report.max_later_call = report.max_later_call.max(took);
            if took >= ENDPOINT_DELAY / 2 {
                report.slow_later_calls += 1;
            }
        }
        match result {
            Ok(headers) => {
                let (_, value) = headers.iter().next().expect("one header");
                let h = hash(value.as_bytes());
                if report.tokens.last() != Some(&h) && !report.tokens.contains(&h) {
                    report.tokens.push(h);
                }
                if i % SAMPLE == 0 {
                    let token = value
                        .to_str()
                        .ok()
                        .and_then(|v| v.strip_prefix("Bearer "))
                        .unwrap_or_default();
                    if !mock.is_token_valid(token) {
                        report.invalid_samples += 1;
                    }
                }
            }
            Err(_) => report.errors += 1,
        }
        if i % 2 == 1 {
            thread::sleep(PACE);
        }
    }
    report
}

fn soak(background: bool) {
    let mock = common::mock();
    mock.set_expires_in(LIFETIME_SECS);
    queue_faults(&mock);
    let queued = mock.pending_faults();
    let client = common::secret_builder(&mock)
        .background_refresh(background)
        .build()
        .expect("client builds");

    let start = Arc::new(Barrier::new(THREADS + 1));
    let began = Instant::now();
    let reports: Vec<ThreadReport> = thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (client, mock, start) = (client.clone(), &mock, Arc::clone(&start));
                scope.spawn(move || hammer(&client, mock, &start))
            })
            .collect();
        start.wait();
        handles
            .into_iter()
            .map(|h| h.join().expect("soak thread"))
            .collect()
    });
    let elapsed = began.elapsed();
    let stats = client.stats();
    // Stops the background refresher (waiting for a request it has under
    // way), so the mock's counters are final.
    drop(client);
    // A refresh-ahead started on a library thread just before may still be
    // under way (it finishes on its own): let it land.
    thread::sleep(ENDPOINT_DELAY * 3);
    let requests = mock.token_requests();
    let issued = mock.tokens_issued();
    let consumed = (queued - mock.pending_faults()) as u64;

    let mode = if background { "background" } else { "callers" };
    eprintln!(
        "soak ({mode}): {} calls in {elapsed:?}, {requests} token requests, {issued} tokens issued",
        THREADS * CALLS
    );
    let errors: usize = reports.iter().map(|r| r.errors).sum();
    let invalid: usize = reports.iter().map(|r| r.invalid_samples).sum();
    assert_eq!(errors, 0, "{mode}: errors returned to callers");
    assert_eq!(invalid, 0, "{mode}: callers got tokens the mock refused");

    // Every request took one fault from the queue; every fifth was a 500.
    assert_eq!(consumed, requests, "{mode}: fault queue and requests agree");
    let failures = requests / FAIL_EVERY as u64;
    assert_eq!(issued, requests - failures, "{mode}: one 500 in five");
    assert!(
        failures >= 1,
        "{mode}: the run must meet a 500 ({requests} requests)"
    );

    // Rotations: the distinct tokens callers saw. Every issued token but
    // the last one or two (issued near the end) reached callers, and the
    // cadence is one per refresh period.
    let seen: HashSet<u64> = reports
        .iter()
        .flat_map(|r| r.tokens.iter().copied())
        .collect();
    let seen = seen.len() as u64;
    assert!(
        seen <= issued && issued - seen <= 2,
        "{mode}: {issued} tokens issued, {seen} seen by callers"
    );
    let periods = elapsed.as_secs_f64() / REFRESH_PERIOD.as_secs_f64();
    assert!(
        (issued as f64) <= periods + 3.0 && (issued as f64) >= periods - 3.0,
        "{mode}: {issued} tokens in {elapsed:?} ({periods:.1} refresh periods)"
    );
    if !background {
        assert_eq!(stats.token_http_requests(), requests, "{mode}");
    }

    // Blocking: the first call of a thread may wait for the first token.
    let first_max = reports.iter().map(|r| r.first_call).max().unwrap();
    assert!(
        first_max < ENDPOINT_DELAY * 3,
        "{mode}: a first call took {first_max:?}"
    );
    let later_max = reports.iter().map(|r| r.max_later_call).max().unwrap();
    // In both modes the refresh runs on a library thread: no call with a
    // valid token cached waits for it.
    assert!(
        later_max < ENDPOINT_DELAY,
        "{mode}: a call took {later_max:?} with a valid token cached"
    );
    assert!(
        elapsed < Duration::from_secs(40),
        "{mode}: soak took {elapsed:?}"
    );
}

#[test]
fn soak_with_callers_refreshing() {
    soak(false);
}

#[test]
fn soak_with_the_background_refresher() {
    soak(true);
}
