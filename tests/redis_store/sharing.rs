//! One token per rotation for every client on one Redis; what Redis holds;
//! credentials that must not share; ACL users.

use std::collections::HashSet;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use alpaca_auth::mock::{MOCK_CLIENT_ID, MOCK_CLIENT_SECRET};
use alpaca_auth::{ErrorKind, TokenStoreStatus};

use crate::common;
use crate::common::cli;
use crate::server::{client_at, dump, entry_key, get, RedisServer};

#[test]
fn clients_in_threads_and_processes_make_one_token_request_per_rotation() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = common::mock();
    // 2-second tokens, refreshed at half-life: a rotation a second.
    mock.set_expires_in(2);
    mock.set_token_delay(Duration::from_millis(100));
    const CLIENTS: usize = 6;
    let run = Duration::from_secs(4);
    let seen = Mutex::new(HashSet::new());
    let barrier = Barrier::new(CLIENTS);
    let started = Instant::now();
    thread::scope(|scope| {
        for _ in 0..CLIENTS {
            let client = client_at(&mock, &redis.url(), MOCK_CLIENT_SECRET);
            let (seen, barrier) = (&seen, &barrier);
            scope.spawn(move || {
                barrier.wait();
                while started.elapsed() < run {
                    let token = client.access_token().expect("token");
                    seen.lock()
                        .expect("seen")
                        .insert(token.expose_secret().to_owned());
                    thread::sleep(Duration::from_millis(20));
                }
            });
        }
    });
    let requests = mock.token_requests();
    let tokens = seen.lock().expect("seen").len() as u64;
    let rotations = run.as_secs() + 1;
    println!(
        "{CLIENTS} clients (threads), {run:?} of 2 s tokens: {requests} token requests, {tokens} tokens seen, at most {rotations} rotations"
    );
    assert!(
        requests <= rotations,
        "{requests} requests for {rotations} rotations"
    );
    assert_eq!(requests, tokens, "a token fetched that no client used");

    // Separate processes: the CLI, configured by APCA_TOKEN_STORE_URL, on
    // an empty Redis.
    let _: () = redis::cmd("FLUSHALL")
        .query(&mut redis.admin().expect("connect"))
        .expect("FLUSHALL");
    let before = mock.token_requests();
    let (url, token_url) = (redis.url(), mock.token_url());
    let mut env = common::secret_client_env(&token_url, MOCK_CLIENT_SECRET).to_vec();
    env.push(("APCA_TOKEN_STORE_URL", &url));
    let children: Vec<_> = (0..4)
        .map(|_| cli::command(&["token"], &env).output())
        .collect();
    let outputs: HashSet<String> = children
        .into_iter()
        .map(|o| {
            let o = o.expect("the CLI runs");
            assert!(o.status.success(), "{}", cli::printed(&o));
            cli::stdout(&o)
        })
        .collect();
    let after = mock.token_requests();
    println!(
        "4 CLI processes on the same Redis: {} token request(s), {} distinct token(s)",
        after - before,
        outputs.len()
    );
    assert_eq!(after - before, 1, "one request for 4 processes");
    assert_eq!(outputs.len(), 1, "one token for 4 processes");

    // What Redis holds: entries and no lock, never a secret or an ID.
    let mut conn = redis.admin().expect("connect");
    for (key, value) in dump(&mut conn) {
        let value = value.unwrap_or_default();
        for secret in [MOCK_CLIENT_SECRET, MOCK_CLIENT_ID] {
            assert!(!key.contains(secret) && !value.contains(secret), "{key}");
        }
        assert!(!key.ends_with(":lock"), "a lock left behind: {key}");
    }
}

#[test]
fn the_entry_expires_with_the_token_and_shares_a_hash_tag_with_its_lock() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = common::mock();
    mock.set_expires_in(3);
    let client = common::secret_builder(&mock)
        .token_store_url(&redis.url())
        .token_store_key_prefix("fleet-a:")
        .build()
        .expect("client builds");
    let token = client.access_token().expect("token");
    let mut conn = redis.admin().expect("connect");
    let key = entry_key(&mut conn);
    assert!(key.starts_with("fleet-a:{") && key.ends_with('}'), "{key}");
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut conn).expect("PTTL");
    let remaining = token.remaining().as_millis() as i64;
    println!("entry PTTL {ttl} ms, token remaining {remaining} ms");
    assert!((ttl - remaining).abs() < 250, "PTTL {ttl} vs {remaining}");
    // While another holder fetches, its lock is the entry's tag + ":lock"
    // (one Cluster slot), and it expires with the budget.
    let lock = format!("{key}:lock");
    let _: () = redis::cmd("SET")
        .arg(&lock)
        .arg("other-holder")
        .arg("PX")
        .arg(60_000)
        .query(&mut conn)
        .expect("SET");
    let _: () = redis::cmd("DEL").arg(&key).query(&mut conn).expect("DEL");
    client.invalidate();
    let started = Instant::now();
    client
        .access_token()
        .expect("a token despite the other holder");
    let waited = started.elapsed();
    println!("another holder's lock: a token after {waited:?} (store wait: budget / 4)");
    assert!(
        waited >= common::TOKEN_BUDGET / 4 - Duration::from_millis(100),
        "{waited:?}"
    );
    assert_eq!(
        get(&mut conn, &lock).as_deref(),
        Some("other-holder"),
        "not ours to delete"
    );
    assert_eq!(mock.token_requests(), 2);
}

#[test]
fn a_wrong_secret_for_the_same_client_id_never_reads_the_stored_token() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = common::mock();
    let right = client_at(&mock, &redis.url(), MOCK_CLIENT_SECRET);
    right.access_token().expect("the right secret fetches");
    let wrong = client_at(&mock, &redis.url(), "not-the-secret-of-this-client");
    let err = wrong
        .access_token()
        .expect_err("a wrong secret gets no token");
    assert_eq!(err.kind(), ErrorKind::OAuth, "{err}");
    assert_eq!(
        mock.token_requests(),
        2,
        "the wrong secret asked the server"
    );
    let mut conn = redis.admin().expect("connect");
    assert_eq!(dump(&mut conn).len(), 1, "one entry: the right secret's");
}

#[test]
fn invalidation_removes_the_entry_only_if_it_holds_that_token() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = common::mock();
    let a = client_at(&mock, &redis.url(), MOCK_CLIENT_SECRET);
    let b = client_at(&mock, &redis.url(), MOCK_CLIENT_SECRET);
    let t1 = a.access_token().expect("a fetches");
    assert_eq!(
        b.access_token().expect("b loads").expose_secret(),
        t1.expose_secret()
    );
    assert_eq!(mock.token_requests(), 1);
    assert!(a.invalidate_token(&t1));
    let mut conn = redis.admin().expect("connect");
    assert!(
        dump(&mut conn).is_empty(),
        "the entry holding t1 was removed"
    );
    let t2 = a.access_token().expect("a fetches anew");
    // b reports t1 late: the entry holds t2 and stays; b loads t2.
    let b_t1 = b.cached_token().expect("b still holds t1");
    assert!(b.invalidate_token(&b_t1));
    let key = entry_key(&mut conn);
    assert!(get(&mut conn, &key)
        .expect("kept")
        .contains(t2.expose_secret()));
    assert_eq!(
        b.access_token().expect("b loads").expose_secret(),
        t2.expose_secret()
    );
    assert_eq!(mock.token_requests(), 2, "no request for b");
}

/// A server whose default user is off and whose `app` user has a password.
fn acl_server() -> Option<RedisServer> {
    let redis = RedisServer::start()?;
    let mut conn = redis.admin().expect("connect");
    let _: () = redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "app",
            "on",
            ">app-pass-0123",
            "~alpaca-auth:*",
            "+@all",
        ])
        .query(&mut conn)
        .expect("ACL SETUSER app");
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "default", "off"])
        .query(&mut conn)
        .expect("ACL SETUSER default off");
    Some(redis)
}

#[test]
fn an_acl_user_shares_and_a_wrong_password_is_a_clear_error_without_it() {
    let Some(redis) = acl_server() else {
        return;
    };
    let mock = common::mock();
    let url = format!("redis://app:app-pass-0123@127.0.0.1:{}", redis.port);
    let a = client_at(&mock, &url, MOCK_CLIENT_SECRET);
    let b = client_at(&mock, &url, MOCK_CLIENT_SECRET);
    assert!(matches!(a.token_store_status(), TokenStoreStatus::Shared));
    a.access_token().expect("a fetches");
    b.access_token().expect("b loads");
    assert_eq!(mock.token_requests(), 1, "shared as user app");

    for (url, needle) in [
        (
            format!("redis://app:wrong-pass-0123@127.0.0.1:{}", redis.port),
            "WRONGPASS",
        ),
        (format!("redis://127.0.0.1:{}", redis.port), "NOAUTH"),
    ] {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let c = common::secret_builder(&mock)
            .token_store_url(&url)
            .on_event(move |e| sink.lock().expect("events").push(format!("{e:?}")))
            .build()
            .expect("a refused password does not fail the build");
        let TokenStoreStatus::Unavailable(error) = c.token_store_status() else {
            panic!("{:?}", c.token_store_status());
        };
        println!("refused: {error}");
        assert!(error.to_string().contains(needle), "{error}");
        for shown in [
            error.to_string(),
            format!("{error:?}"),
            format!("{:?}", events.lock()),
        ] {
            assert!(!shown.contains("wrong-pass-0123") && !shown.contains("app-pass-0123"));
        }
        assert!(format!("{:?}", events.lock()).contains("StoreUnavailable"));
        c.access_token().expect("the client fetches on its own");
    }
    assert_eq!(mock.token_requests(), 3);
}
