//! One token for a fleet on several hosts: a `TokenStore` over Redis
//! (`redis_store/store.rs`), given to `ClientBuilder::token_store`.
//!
//! Settings (environment):
//! - `REDIS_URL`: `redis://[[user]:password@]host[:port][/db]`, default
//!   `redis://127.0.0.1:6379` (plain TCP: no `rediss://`).
//! - `REDIS_KEY_PREFIX`: prefix of the keys written, default `alpaca-auth:`.
//! - The usual `APCA_*` variables for client credentials (`APCA_CLIENT_ID`
//!   with `APCA_CLIENT_SECRET` or a private key, `APCA_ENVIRONMENT`,
//!   `APCA_AUTH_URL`, ...); see the README. `APCA_TOKEN_CACHE_DIR` is
//!   replaced by the Redis store.
//!
//! Run it on several hosts (or several times) with one Redis: the first run
//! fetches a token and publishes it, the others load it while it has more
//! than its refresh margin left (`token requests sent: 0`). Against the mock
//! server: `cargo run -- mock-server` prints the `APCA_*` lines to export.
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379 APCA_ENVIRONMENT=broker-sandbox \
//!   APCA_CLIENT_ID=... APCA_CLIENT_SECRET=... cargo run --example redis_store
//! ```
//!
//! Output names no secret: the token's length and remaining life only.

#[path = "redis_store/store.rs"]
mod store;

use std::process::ExitCode;
use std::sync::Arc;

use alpaca_auth::Client;
use store::RedisStore;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("redis_store: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut store = RedisStore::open(&url).map_err(|e| e.to_string())?;
    if let Ok(prefix) = std::env::var("REDIS_KEY_PREFIX") {
        store = store.with_prefix(&prefix);
    }
    // Not required: without Redis the client fetches on its own.
    if let Err(e) = store.ping() {
        eprintln!("redis_store: Redis does not answer ({e}); tokens will be fetched locally");
    }
    // The store's lock TTL (DEFAULT_LOCK_TTL) is the default token budget;
    // a client with another budget would set `with_lock_ttl` to match it.
    let client = Client::builder()
        .from_env()
        .and_then(|builder| builder.token_store(Arc::new(store)).build())
        .map_err(|e| e.to_string())?;
    let token = client.access_token().map_err(|e| e.to_string())?;
    println!(
        "access token: {} bytes, {} s left; token requests sent: {}",
        token.expose_secret().len(),
        token.remaining().as_secs(),
        client.stats().token_http_requests()
    );
    Ok(())
}
