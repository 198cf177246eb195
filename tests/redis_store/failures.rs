//! Redis down at start, killed, restarted, unresponsive: clients fetch on
//! their own within their budgets, and return to the store when it is back.

use std::process::Command;
use std::time::{Duration, Instant};

use alpaca_auth::{Client, TokenStoreStatus};

use crate::common;
use crate::server::{dump, RedisServer};

/// A client with a 2-second budget: the store part of a fetch is 0.5 s.
fn quick_client(mock: &alpaca_auth::mock::MockServer, url: &str) -> Client {
    common::secret_builder(mock)
        .token_budget(Duration::from_secs(2))
        .token_store_url(url)
        .build()
        .expect("client builds")
}

fn entries(redis: &RedisServer) -> usize {
    dump(&mut redis.admin().expect("connect")).len()
}

#[test]
fn redis_down_at_start_then_killed_then_restarted() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    redis.kill();
    let mock = common::mock();
    // Down at start: the build succeeds, every fetch is local and quick.
    let started = Instant::now();
    let a = quick_client(&mock, &redis.url());
    let b = quick_client(&mock, &redis.url());
    assert!(matches!(a.token_store_status(), TokenStoreStatus::Shared));
    a.access_token().expect("a fetches on its own");
    b.access_token().expect("b fetches on its own");
    let took = started.elapsed();
    println!(
        "Redis down at start: 2 clients, {} token requests in {took:?}",
        mock.token_requests()
    );
    assert_eq!(mock.token_requests(), 2);
    assert!(took < Duration::from_secs(2), "{took:?}");

    // Back: the next fetch goes through the store again.
    assert!(redis.restart(), "redis-server restarts");
    a.invalidate();
    a.access_token().expect("a fetches and publishes");
    assert_eq!(entries(&redis), 1, "a is back on the store");
    b.invalidate();
    b.access_token().expect("b loads");
    assert_eq!(mock.token_requests(), 3, "b loaded a's token");

    // Killed mid-run: local fetches again, within the budget.
    redis.kill();
    let started = Instant::now();
    for client in [&a, &b] {
        client.invalidate();
        client.access_token().expect("a local fetch");
    }
    let took = started.elapsed();
    println!("Redis killed: 2 more token requests in {took:?}");
    assert_eq!(mock.token_requests(), 5);
    assert!(took < Duration::from_secs(4), "{took:?}");

    // Restarted (empty): shared again.
    assert!(redis.restart(), "redis-server restarts");
    a.invalidate();
    a.access_token().expect("a publishes");
    b.invalidate();
    b.access_token().expect("b loads");
    assert_eq!(mock.token_requests(), 6);
    assert_eq!(entries(&redis), 1);
}

#[test]
fn an_unresponsive_redis_costs_a_fetch_its_store_wait() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = common::mock();
    let a = quick_client(&mock, &redis.url());
    a.access_token().expect("a fetches");
    // Stopped: connections open (the kernel's backlog), nothing answers.
    let pid = redis.pid().to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .expect("kill")
        .success());
    let started = Instant::now();
    let b = quick_client(&mock, &redis.url());
    let built = started.elapsed();
    b.access_token().expect("b fetches on its own");
    let took = started.elapsed();
    let _ = Command::new("kill").args(["-CONT", &pid]).status();
    println!("Redis stopped: build {built:?}, build and token {took:?} (store wait 0.5 s)");
    assert_eq!(mock.token_requests(), 2);
    // The build's PING and the fetch's store part: 0.5 s each at most,
    // and publishing waits as long again.
    assert!(took < Duration::from_millis(2_500), "{took:?}");
}
