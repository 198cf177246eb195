//! The Redis token store of `examples/redis_store.rs` against a real
//! `redis-server` on loopback (started per test with a free port and no
//! persistence, killed on exit) and the mock. Separate clients stand for
//! separate processes or hosts. Without `redis-server` on PATH the tests
//! that need it print `skipped: redis-server not found` and pass.
#![cfg(unix)]

mod common;

#[path = "../examples/redis_store/store.rs"]
mod store;

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use alpaca_auth::mock::{MockServer, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET};
use alpaca_auth::{Client, Credentials, ErrorKind, StoreKey, StoreLock, StoredToken, TokenStore};
use common::util::{on_path, wait_until};
use store::{RedisStore, Reply};

/// A `redis-server` of this test; killed when dropped.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// A server on 127.0.0.1 answering PING, or `None` (with the skip
    /// message printed) where `redis-server` is not installed.
    fn start() -> Option<RedisServer> {
        if !on_path("redis-server") {
            println!("skipped: redis-server not found");
            return None;
        }
        // A free port can be taken between probing and binding: try again.
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--daemonize", "no", "--loglevel", "warning"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server starts");
            let mut server = RedisServer { child, port };
            let probe = server.store();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if probe.ping().is_ok() {
                    return Some(server);
                }
                if server.child.try_wait().expect("status").is_some() {
                    break; // exited: most likely the port was taken
                }
                thread::sleep(Duration::from_millis(20));
            }
            drop(server);
        }
        panic!("redis-server did not answer PING within 10 s");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn store(&self) -> RedisStore {
        RedisStore::open(&self.url()).expect("URL parses")
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn client_with(mock: &MockServer, store: &RedisStore, secret: &str) -> Client {
    common::builder(mock)
        .credentials(Credentials::client_secret(MOCK_CLIENT_ID, secret))
        .token_store(Arc::new(store.clone()))
        .build()
        .expect("client builds")
}

fn keys(store: &RedisStore) -> Vec<String> {
    match store.command(&[b"KEYS", b"*"]).expect("KEYS") {
        Reply::Array(Some(items)) => items
            .into_iter()
            .map(|item| match item {
                Reply::Bulk(Some(name)) => String::from_utf8(name.to_vec()).expect("UTF-8"),
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

fn get(store: &RedisStore, key: &str) -> Option<String> {
    match store.command(&[b"GET", key.as_bytes()]).expect("GET") {
        Reply::Bulk(value) => value.map(|v| String::from_utf8(v.to_vec()).expect("UTF-8")),
        other => panic!("{other:?}"),
    }
}

fn pttl(store: &RedisStore, key: &str) -> i64 {
    match store.command(&[b"PTTL", key.as_bytes()]).expect("PTTL") {
        Reply::Int(ms) => ms,
        other => panic!("{other:?}"),
    }
}

/// The one entry key (the one without `:lock`).
fn entry_key(store: &RedisStore) -> String {
    let entries: Vec<String> = keys(store)
        .into_iter()
        .filter(|k| !k.ends_with(":lock"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

#[test]
fn several_clients_sharing_redis_make_one_token_request() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = common::mock();
    let store = redis.store();
    let clients: Vec<Client> = (0..4)
        .map(|_| client_with(&mock, &store, MOCK_CLIENT_SECRET))
        .collect();
    let tokens: Vec<String> = clients
        .iter()
        .map(|c| c.access_token().expect("token").expose_secret().to_owned())
        .collect();
    assert!(tokens.iter().all(|t| t == &tokens[0]));
    eprintln!(
        "4 clients sharing Redis: {} token request(s)",
        mock.token_requests()
    );
    assert_eq!(mock.token_requests(), 1);

    // The entry: only the token and its times, under the prefix, lock gone.
    let key = entry_key(&store);
    assert!(key.starts_with(store::DEFAULT_PREFIX), "{key}");
    assert_eq!(keys(&store).len(), 1, "the lock was released");
    let value = get(&store, &key).expect("entry");
    assert!(value.contains(&tokens[0]));
    assert!(
        !value.contains(MOCK_CLIENT_SECRET),
        "the secret is in Redis"
    );
    assert!(!value.contains(MOCK_CLIENT_ID), "the client ID is in Redis");
    assert!(!key.contains(MOCK_CLIENT_ID));
    // No secret or token in the store's Debug output.
    let shown = format!("{store:?}");
    assert!(!shown.contains(&tokens[0]) && !shown.contains(MOCK_CLIENT_SECRET));
}

#[test]
fn the_entry_expires_with_the_token() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = common::mock();
    mock.set_expires_in(2);
    let store = redis.store();
    let client = client_with(&mock, &store, MOCK_CLIENT_SECRET);
    let token = client.access_token().expect("token");
    let key = entry_key(&store);
    let ttl = pttl(&store, &key);
    let remaining = token.remaining().as_millis() as i64;
    eprintln!("entry PTTL {ttl} ms, token remaining {remaining} ms");
    assert!(
        (ttl - remaining).abs() < 250,
        "PTTL {ttl} ms vs token's remaining {remaining} ms"
    );
    // Gone once the token has expired (bounded wait).
    wait_until(
        "the entry to expire with its token",
        Duration::from_secs(5),
        || get(&store, &key).is_none(),
    );
}

#[test]
fn concurrent_first_fetches_from_many_clients_make_one_request() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    const N: usize = 16;
    let mock = common::mock();
    // A slow token endpoint: every client arrives while the first fetches.
    mock.set_token_delay(Duration::from_millis(300));
    let store = redis.store();
    let barrier = Arc::new(Barrier::new(N));
    let tokens: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = (0..N)
            .map(|_| {
                let client = client_with(&mock, &store, MOCK_CLIENT_SECRET);
                let barrier = Arc::clone(&barrier);
                scope.spawn(move || {
                    barrier.wait();
                    client
                        .access_token()
                        .expect("token")
                        .expose_secret()
                        .to_owned()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert!(tokens.iter().all(|t| t == &tokens[0]));
    eprintln!(
        "{N} threads, each with its own client, first fetch at once: {} token request(s)",
        mock.token_requests()
    );
    assert_eq!(mock.token_requests(), 1);
}

#[test]
fn invalidation_removes_the_entry_only_if_it_holds_that_token() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = common::mock();
    let store = redis.store();
    let a = client_with(&mock, &store, MOCK_CLIENT_SECRET);
    let b = client_with(&mock, &store, MOCK_CLIENT_SECRET);
    let t1 = a.access_token().expect("a fetches");
    assert_eq!(
        b.access_token().expect("b loads").expose_secret(),
        t1.expose_secret()
    );
    assert_eq!(mock.token_requests(), 1);

    // The API refuses t1 for a: the entry goes, a fetches t2 and stores it.
    assert!(a.invalidate_token(&t1));
    assert!(keys(&store).is_empty(), "the entry holding t1 was removed");
    let t2 = a.access_token().expect("a fetches anew");
    assert_ne!(t1.expose_secret(), t2.expose_secret());
    assert_eq!(mock.token_requests(), 2);

    // b reports t1 late: the entry holds t2 and stays; b loads t2.
    let b_t1 = b.cached_token().expect("b still holds t1");
    assert!(b.invalidate_token(&b_t1));
    let key = entry_key(&store);
    assert!(get(&store, &key)
        .expect("kept")
        .contains(t2.expose_secret()));
    let b_t2 = b.access_token().expect("b loads t2");
    assert_eq!(b_t2.expose_secret(), t2.expose_secret());
    assert_eq!(mock.token_requests(), 2, "no request for b");

    // An entry that is not JSON is left alone by remove_if, and ignored by
    // load (the next publish replaces it).
    store
        .command(&[b"SET", key.as_bytes(), b"{not json"])
        .expect("SET");
    a.invalidate();
    assert_eq!(get(&store, &key).as_deref(), Some("{not json"));
    let c = client_with(&mock, &store, MOCK_CLIENT_SECRET);
    let t3 = c.access_token().expect("c fetches");
    assert_eq!(mock.token_requests(), 3);
    assert!(get(&store, &key)
        .expect("replaced")
        .contains(t3.expose_secret()));
}

#[test]
fn a_wrong_secret_for_the_same_client_id_never_reads_the_stored_token() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = common::mock();
    let store = redis.store();
    let right = client_with(&mock, &store, MOCK_CLIENT_SECRET);
    right.access_token().expect("the right secret fetches");
    let wrong = client_with(&mock, &store, "not-the-secret-of-this-client");
    let err = wrong
        .access_token()
        .expect_err("a wrong secret gets no token");
    assert_eq!(err.kind(), ErrorKind::OAuth, "{err}");
    assert_eq!(
        mock.token_requests(),
        2,
        "the wrong secret asked the server"
    );
    assert_eq!(keys(&store).len(), 1, "one entry: the right secret's");
}

/// A store that remembers the key the client uses (a `StoreKey` cannot be
/// made outside the library).
struct KeySpy {
    inner: RedisStore,
    key: Mutex<Option<StoreKey>>,
}

impl TokenStore for KeySpy {
    fn load(&self, key: &StoreKey) -> io::Result<Option<StoredToken>> {
        *self.key.lock().expect("key") = Some(key.clone());
        self.inner.load(key)
    }
    fn publish(&self, key: &StoreKey, token: &StoredToken) -> io::Result<()> {
        self.inner.publish(key, token)
    }
    fn try_lock(&self, key: &StoreKey) -> io::Result<Option<Box<dyn StoreLock>>> {
        self.inner.try_lock(key)
    }
    fn remove_if(&self, key: &StoreKey, token: &str) -> io::Result<()> {
        self.inner.remove_if(key, token)
    }
}

#[test]
fn a_lock_left_by_a_dead_holder_expires_and_unlock_spares_the_next_holder() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = common::mock();
    let ttl = Duration::from_millis(1_000);
    let store = redis.store().with_lock_ttl(ttl);
    let spy = Arc::new(KeySpy {
        inner: store.clone(),
        key: Mutex::new(None),
    });
    let a = common::builder(&mock)
        .credentials(Credentials::client_secret(
            MOCK_CLIENT_ID,
            MOCK_CLIENT_SECRET,
        ))
        .token_store(spy.clone())
        .build()
        .expect("client builds");
    a.access_token().expect("a fetches");
    let key = spy
        .key
        .lock()
        .expect("key")
        .clone()
        .expect("the client's key");
    let lock_key = store.lock_key(&key);
    store
        .command(&[b"DEL", store.entry_key(&key).as_bytes()])
        .expect("DEL");

    // A holder takes the lock and dies without releasing it. The wait is
    // measured from here: building b below takes time of its own on a
    // loaded machine.
    let started = Instant::now();
    std::mem::forget(store.try_lock(&key).expect("lock").expect("free"));
    let lock_ttl = pttl(&store, &lock_key);
    assert!(0 < lock_ttl && lock_ttl <= 1_000, "lock PTTL {lock_ttl} ms");
    // b waits for the dead holder's token (its budget is the default 30 s)
    // until the lock expires, then fetches.
    let b = client_with(&mock, &store, MOCK_CLIENT_SECRET);
    b.access_token().expect("a token once the lock expired");
    let waited = started.elapsed();
    eprintln!("waited {waited:?} for a dead holder's {ttl:?} lock");
    assert!(waited >= Duration::from_millis(800), "waited: {waited:?}");
    assert!(waited < Duration::from_secs(10), "bounded: {waited:?}");
    assert_eq!(mock.token_requests(), 2);
    assert!(get(&store, &lock_key).is_none(), "b released its lock");

    // A holder whose lock expired does not delete the next holder's lock.
    let short = redis.store().with_lock_ttl(Duration::from_millis(200));
    let stale = short.try_lock(&key).expect("lock").expect("free");
    thread::sleep(Duration::from_millis(400));
    let next = store.try_lock(&key).expect("lock").expect("expired, free");
    let held = get(&store, &lock_key).expect("the next holder's value");
    drop(stale);
    assert_eq!(
        get(&store, &lock_key),
        Some(held),
        "the stale unlock deleted it"
    );
    assert!(store.try_lock(&key).expect("lock").is_none(), "still held");
    drop(next);
    assert!(get(&store, &lock_key).is_none(), "released by its holder");
}

#[test]
fn killing_redis_server_mid_way_makes_clients_fetch_locally() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let mock = common::mock();
    let store = redis.store();
    let a = client_with(&mock, &store, MOCK_CLIENT_SECRET);
    let b = client_with(&mock, &store, MOCK_CLIENT_SECRET);
    a.access_token().expect("a fetches");
    assert_eq!(mock.token_requests(), 1);

    redis.kill();
    let started = Instant::now();
    b.access_token().expect("b fetches on its own");
    a.invalidate();
    a.access_token().expect("a fetches again");
    let c = client_with(&mock, &store, MOCK_CLIENT_SECRET);
    c.access_token().expect("c fetches on its own");
    let took = started.elapsed();
    eprintln!(
        "with Redis gone: 3 clients, {} more token requests in {took:?}",
        mock.token_requests() - 1
    );
    assert_eq!(mock.token_requests(), 4);
    assert!(took < Duration::from_secs(10), "{took:?}");
    let err = store.ping().expect_err("Redis is gone");
    assert!(!err.to_string().contains(MOCK_CLIENT_SECRET));
}

#[test]
fn an_unresponsive_redis_times_out_and_clients_fetch_locally() {
    // A listener that never accepts: connections complete (the kernel's
    // backlog) and no reply ever comes, like a hung server. No
    // redis-server needed.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let timeout = Duration::from_millis(200);
    let store = RedisStore::open(&format!("redis://127.0.0.1:{port}"))
        .expect("URL")
        .with_timeout(timeout);
    let mock = common::mock();
    let client = client_with(&mock, &store, MOCK_CLIENT_SECRET);
    let started = Instant::now();
    client.access_token().expect("a local fetch");
    let took = started.elapsed();
    eprintln!("unresponsive Redis, {timeout:?} per command: token in {took:?}");
    assert_eq!(mock.token_requests(), 1);
    // load, try_lock and publish each time out once at most.
    assert!(took >= timeout, "{took:?}");
    assert!(took < timeout * 3 + Duration::from_secs(2), "{took:?}");
    let err = store.ping().expect_err("no answer");
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "{err}"
    );
    drop(listener);
}

#[test]
fn redis_urls_parse_and_debug_output_hides_the_password() {
    let store = RedisStore::open("redis://fleet:p%40ss@10.0.0.5:6380/2").expect("parses");
    let shown = format!("{store:?}");
    assert!(
        shown.contains("10.0.0.5:6380") && shown.contains("db: 2"),
        "{shown}"
    );
    assert!(
        !shown.contains("p@ss") && !shown.contains("p%40ss"),
        "{shown}"
    );
    assert!(format!("{:?}", RedisStore::open("redis://[::1]").expect("v6")).contains("[::1]:6379"));
    assert!(
        format!("{:?}", RedisStore::open("redis://host/").expect("host")).contains("host:6379")
    );
    for bad in [
        "rediss://host",
        "http://host",
        "redis://",
        "redis://host/x",
        "redis://u@host",
    ] {
        let err = RedisStore::open(bad).expect_err(bad);
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
    }
    // TokenStore is object safe here too.
    let _: Arc<dyn TokenStore> = Arc::new(store);
}
