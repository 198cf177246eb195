//! The threading contract of the crate docs ("Which thread sends a token
//! request"), one test per row: the thread that sends each token request
//! is the thread the `TokenFetched` event is reported on (the fetch and the
//! report of its outcome run on one thread), recorded by the client's event
//! callback, and the mock counts the requests so that every request has its
//! event.

mod common;

use std::io;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime};

use alpaca_auth::mock::MockServer;
use alpaca_auth::{
    Client, ClientBuilder, ErrorKind, Event, SecretString, StoreKey, StoreLock, StoredToken,
    TokenStore,
};
use common::util::wait_until;
use common::{mock, secret_builder, TOKEN_BUDGET};

/// The library's thread names (`src/cache.rs`, `src/refresher.rs`,
/// `src/store/shared.rs`).
const FETCH: &str = "alpaca-auth-fetch";
const REFRESH: &str = "alpaca-auth-refresh";
const STORE: &str = "alpaca-auth-store";

/// The longest a test waits for a token to arrive.
const LIMIT: Duration = Duration::from_secs(10);

/// The name of the calling thread ("<unnamed>" if it has none).
fn this_thread() -> String {
    thread::current().name().unwrap_or("<unnamed>").to_owned()
}

/// The threads the tokens of a client arrived on, in order. The event of a
/// fetch is reported after the callers waiting for it are released, so a
/// test waits for it.
#[derive(Clone, Default)]
struct Fetches(Arc<Mutex<Vec<String>>>);

impl Fetches {
    fn threads(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    fn wait_for(&self, n: usize) -> Vec<String> {
        wait_until(&format!("{n} token(s)"), LIMIT, || {
            self.threads().len() >= n
        });
        self.threads()
    }
}

/// `builder` with an event callback recording the thread of every
/// `TokenFetched`.
fn recording(builder: ClientBuilder) -> (Client, Fetches) {
    let fetches = Fetches::default();
    let log = fetches.clone();
    let client = builder
        .on_event(move |event| {
            if let Event::TokenFetched { .. } = event {
                log.0.lock().unwrap().push(this_thread());
            }
        })
        .build()
        .expect("client builds");
    (client, fetches)
}

/// Runs `f` on a new thread named `name` (a caller of the library).
fn as_caller<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .expect("thread starts")
        .join()
        .expect("caller does not panic")
}

/// A mock whose tokens live 4 s: the tests' refresh policy refreshes them
/// at half-life, 2 s after they arrive, and they are handed out until
/// shortly before 4 s (the expiry margin), which leaves a slow machine
/// more than a second of slack.
fn short_lived_mock() -> MockServer {
    let mock = mock();
    mock.set_expires_in(4);
    mock
}

/// Into the refresh window of a 4-second token fetched just now.
fn sleep_into_refresh_window() {
    thread::sleep(Duration::from_millis(2300));
}

#[test]
fn default_settings_the_caller_that_claims_the_request_sends_it() {
    let mock = mock();
    let (client, fetches) = recording(secret_builder(&mock));
    let c = client.clone();
    as_caller("caller-first", move || c.access_token().expect("token"));
    assert_eq!(fetches.wait_for(1), ["caller-first"]);

    // After an invalidation, eight callers at once: one request, sent by
    // one of them.
    client.invalidate();
    let callers: Vec<_> = (0..8)
        .map(|i| {
            let c = client.clone();
            thread::Builder::new()
                .name(format!("caller-{i}"))
                .spawn(move || c.access_token().expect("token"))
                .unwrap()
        })
        .collect();
    for caller in callers {
        caller.join().unwrap();
    }
    let threads = fetches.wait_for(2);
    assert_eq!(threads.len(), 2, "{threads:?}");
    assert!(threads[1].starts_with("caller-"), "{threads:?}");
    assert_eq!(mock.token_requests(), 2);
}

#[test]
fn max_wait_below_the_budget_sends_from_a_fetch_thread() {
    let mock = mock();
    let (client, fetches) = recording(secret_builder(&mock).max_wait(TOKEN_BUDGET / 2));
    let c = client.clone();
    as_caller("caller", move || c.access_token().expect("token"));
    assert_eq!(fetches.wait_for(1), [FETCH]);
    client.invalidate();
    let c = client.clone();
    as_caller("caller", move || c.access_token().expect("token"));
    assert_eq!(fetches.wait_for(2), [FETCH, FETCH]);
    assert_eq!(mock.token_requests(), 2);
}

/// An in-memory store that records the thread of every call into it.
#[derive(Default)]
struct RecordingStore {
    entry: Mutex<Option<(String, SystemTime, Duration)>>,
    calls: Mutex<Vec<(&'static str, String)>>,
}

struct NoLock;
impl StoreLock for NoLock {}

impl RecordingStore {
    fn called(&self, what: &'static str) {
        self.calls.lock().unwrap().push((what, this_thread()));
    }
}

impl TokenStore for RecordingStore {
    fn load(&self, _: &StoreKey) -> io::Result<Option<StoredToken>> {
        self.called("load");
        let entry = self.entry.lock().unwrap().clone();
        Ok(entry.map(|(token, expires_at, lifetime)| {
            StoredToken::new(SecretString::new(token), expires_at, lifetime)
        }))
    }
    fn publish(&self, _: &StoreKey, token: &StoredToken) -> io::Result<()> {
        self.called("publish");
        *self.entry.lock().unwrap() = Some((
            token.access_token().expose_secret().to_owned(),
            token.expires_at(),
            token.lifetime(),
        ));
        Ok(())
    }
    fn try_lock(&self, _: &StoreKey) -> io::Result<Option<Box<dyn StoreLock>>> {
        self.called("try_lock");
        Ok(Some(Box::new(NoLock)))
    }
    fn remove_if(&self, _: &StoreKey, _: &str) -> io::Result<()> {
        self.called("remove_if");
        Ok(())
    }
}

#[test]
fn a_token_store_sends_from_a_fetch_thread_and_calls_the_store_from_store_threads() {
    let mock = mock();
    let store = Arc::new(RecordingStore::default());
    let (client, fetches) = recording(secret_builder(&mock).token_store(store.clone()));
    let c = client.clone();
    as_caller("caller", move || c.access_token().expect("token"));
    assert_eq!(fetches.wait_for(1), [FETCH]);
    assert_eq!(mock.token_requests(), 1);
    let calls = store.calls.lock().unwrap().clone();
    assert!(
        calls.iter().any(|(what, _)| *what == "publish"),
        "{calls:?}"
    );
    assert!(
        calls.iter().all(|(_, thread)| thread == STORE),
        "every store call on a store thread: {calls:?}"
    );
}

#[test]
fn a_background_refresher_fetches_and_refreshes_on_its_own_thread() {
    let mock = short_lived_mock();
    let (client, fetches) = recording(secret_builder(&mock).background_refresh(true));
    // No caller asks: the first token and the refresh ahead are the
    // refresher's.
    assert_eq!(fetches.wait_for(2)[..2], [REFRESH, REFRESH]);
    drop(client);

    // Where callers would not fetch on their own thread, the refresher
    // does not either for the first token; it still refreshes on its own.
    let (client, fetches) = recording(
        secret_builder(&mock)
            .background_refresh(true)
            .max_wait(TOKEN_BUDGET / 2),
    );
    assert_eq!(fetches.wait_for(2)[..2], [FETCH, REFRESH]);
    drop(client);
}

#[test]
fn refresh_ahead_is_sent_from_a_fetch_thread_while_callers_keep_the_token() {
    let mock = short_lived_mock();
    let (client, fetches) = recording(secret_builder(&mock));
    let c = client.clone();
    let first = as_caller("caller", move || c.access_token().expect("token"));
    assert_eq!(fetches.wait_for(1), ["caller"]);
    sleep_into_refresh_window();
    let c = client.clone();
    let served = as_caller("caller", move || c.access_token().expect("token"));
    assert_eq!(
        served.expose_secret(),
        first.expose_secret(),
        "the caller keeps the valid token"
    );
    assert_eq!(fetches.wait_for(2), ["caller", FETCH]);
    assert_eq!(mock.token_requests(), 2);
}

#[test]
fn try_calls_never_send_from_the_callers_thread() {
    // Default settings: a blocking call would send from the caller's thread.
    let mock = short_lived_mock();
    let (client, fetches) = recording(secret_builder(&mock));
    let c = client.clone();
    let kind = as_caller("caller", move || {
        c.try_with_auth_header(0, |_, _| ())
            .expect_err("no token yet")
            .kind()
    });
    assert_eq!(kind, ErrorKind::WouldBlock);
    assert_eq!(fetches.wait_for(1), [FETCH]);

    // In the refresh window: the valid token at once, the refresh on a
    // fetch thread.
    sleep_into_refresh_window();
    let c = client.clone();
    as_caller("caller", move || {
        c.try_with_auth_header(0, |_, _| ())
            .expect("the valid token")
            .expect("header 0 exists")
    });
    assert_eq!(fetches.wait_for(2), [FETCH, FETCH]);
    assert_eq!(mock.token_requests(), 2);
}
