//! The built-in Redis token store (cargo feature `redis`) against a real
//! `redis-server` on loopback (started per test on a free port, no
//! persistence, killed on exit) and the mock. Separate clients stand for
//! separate hosts; the CLI runs as separate processes. Without
//! `redis-server` on PATH the tests print `skipped: redis-server not found`
//! and pass. In a build without the feature (the default), the one test
//! here checks that every front end refuses a Redis URL, naming the
//! feature; `cargo test --features redis --test redis_store` runs the rest.
#![cfg(unix)]

mod common;

#[cfg(not(feature = "redis"))]
#[test]
fn without_the_feature_a_redis_url_is_a_config_error_naming_it() {
    use alpaca_auth::mock::MOCK_CLIENT_SECRET;
    use alpaca_auth::ErrorKind;
    let mock = common::mock();
    let error = common::secret_builder(&mock)
        .token_store_url("redis://app:pw-in-url@127.0.0.1:6379")
        .build()
        .expect_err("no Redis store in this build");
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(
        error.message().contains("cargo feature \"redis\""),
        "{error}"
    );
    assert!(!error.to_string().contains("pw-in-url"), "{error}");
    let token_url = mock.token_url();
    let env = common::secret_client_env(&token_url, MOCK_CLIENT_SECRET);
    let mut vars = env.to_vec();
    vars.push(("APCA_TOKEN_STORE_URL", "redis://127.0.0.1:6379"));
    let error = common::util::from_vars(&vars).expect_err("refused from the environment too");
    assert!(
        error.message().starts_with("APCA_TOKEN_STORE_URL: "),
        "{error}"
    );
    println!(
        "skipped: the Redis store tests need `cargo test --features redis --test redis_store`"
    );
}

#[cfg(feature = "redis")]
#[path = "redis_store/server.rs"]
mod server;

#[cfg(feature = "redis")]
#[path = "redis_store/sharing.rs"]
mod sharing;

#[cfg(feature = "redis")]
#[path = "redis_store/failures.rs"]
mod failures;
