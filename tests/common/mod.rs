//! Shared helpers of the integration tests: a mock server, clients pointed
//! at it with every timing setting stated, and the checks the tests repeat.
//!
//! Submodules: [`cli`] runs the `alpaca-auth` binary, [`keys`] reads the
//! key fixtures of `tests/keys/`, [`util`] polls, bounds and makes scratch
//! space, [`http`] stands up raw loopback servers, [`c`] builds and runs the
//! C programs. `util`, `http` and `keys` need no mock server, so the tests
//! built without the `mock` feature include them by `#[path]`.
#![allow(dead_code)]

pub mod c;
pub mod cli;
pub mod http;
pub mod keys;
pub mod util;

use std::time::Duration;

use alpaca_auth::mock::{
    generate_p256_pkcs8, MockServer, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET, MOCK_JWT_CLIENT_ID,
};
use alpaca_auth::{
    Client, ClientBuilder, Credentials, Environment, PrivateKey, RefreshPolicy, RetryPolicy,
};

/// Retries fast enough for tests, same shape as the defaults.
pub const FAST_RETRY: RetryPolicy = RetryPolicy::new()
    .max_attempts(4)
    .initial_backoff(Duration::from_millis(20))
    .max_backoff(Duration::from_millis(100));

/// `FAST_RETRY` with `attempts` attempts at most.
pub const fn attempts(max_attempts: u32) -> RetryPolicy {
    FAST_RETRY.max_attempts(max_attempts)
}

/// The refresh policy of the tests, stated rather than defaulted: refresh
/// max(60 s, 20 % of the lifetime) ahead of expiry. The library caps the
/// margin at half the lifetime, so the tokens of a few seconds the timing
/// tests ask the mock for are refreshed at half-life, and the mock's
/// 899-second tokens 180 s before they expire.
pub const REFRESH: RefreshPolicy = RefreshPolicy::new()
    .ahead_min(Duration::from_secs(60))
    .ahead_fraction(0.20);

/// Connect timeout of the tests' clients.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of one token request of the tests' clients: longer than any
/// delay a test gives the mock unless the test sets its own.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Time budget of one token acquisition of the tests' clients (and so,
/// unless a test sets `max_wait`, the longest a call waits).
pub const TOKEN_BUDGET: Duration = Duration::from_secs(30);

pub fn mock() -> MockServer {
    MockServer::start().expect("mock server starts on loopback")
}

/// A builder for the broker sandbox with token endpoint `token_url` and
/// every timing setting stated: [`FAST_RETRY`], [`REFRESH`] and the
/// timeouts above (so that a change of a library default does not change
/// what a test checks).
pub fn builder_for(token_url: &str) -> ClientBuilder {
    Client::builder()
        .environment(Environment::BrokerSandbox)
        .token_url(token_url)
        .retry_policy(FAST_RETRY)
        .refresh_policy(REFRESH)
        .connect_timeout(CONNECT_TIMEOUT)
        .request_timeout(REQUEST_TIMEOUT)
        .token_budget(TOKEN_BUDGET)
}

/// [`builder_for`] the mock's token endpoint, with the API and data URLs
/// pointed at it too.
pub fn builder(mock: &MockServer) -> ClientBuilder {
    builder_for(&mock.token_url())
        .api_base_url(mock.base_url())
        .data_base_url(mock.base_url())
}

/// A client of `credentials` built with [`builder`].
pub fn client_with(mock: &MockServer, credentials: Credentials) -> Client {
    builder(mock)
        .credentials(credentials)
        .build()
        .expect("client builds")
}

/// The mock's default `client_secret_post` client.
pub fn secret_credentials() -> Credentials {
    Credentials::client_secret(MOCK_CLIENT_ID, MOCK_CLIENT_SECRET)
}

/// [`builder`] with the mock's default `client_secret_post` client.
pub fn secret_builder(mock: &MockServer) -> ClientBuilder {
    builder(mock).credentials(secret_credentials())
}

/// A `client_secret_post` client of the mock's default client.
pub fn secret_client(mock: &MockServer) -> Client {
    secret_builder(mock).build().expect("client builds")
}

/// Registers `key` with the mock as the key of its JWT client
/// (`MOCK_JWT_CLIENT_ID`).
pub fn register_key(mock: &MockServer, key: &PrivateKey) {
    mock.register_client_key(
        MOCK_JWT_CLIENT_ID,
        alpaca_auth::mock::jwt::RegisteredKey::from_private_key(key),
    );
}

/// A fresh P-256 key registered for the mock's JWT client, with its
/// PKCS#8 DER.
pub fn fresh_registered_key(mock: &MockServer) -> (PrivateKey, Vec<u8>) {
    let der = generate_p256_pkcs8().expect("a fresh P-256 key").to_vec();
    let key = PrivateKey::from_der(&der).expect("the generated key loads");
    register_key(mock, &key);
    (key, der)
}

/// The fixture key `name` of `tests/keys/`, registered for the mock's JWT
/// client.
pub fn registered_fixture(mock: &MockServer, name: &str) -> PrivateKey {
    let key = keys::load(name);
    register_key(mock, &key);
    key
}

/// `GET /v2/account` with the client's headers; returns the status.
pub fn account_status(mock: &MockServer, client: &Client) -> u16 {
    let url = format!("{}/v2/account", mock.base_url());
    let request = client.authorize(http::agent().get(&url)).expect("headers");
    request.call().expect("mock answers").status().as_u16()
}

/// `GET /v2/account` with these `Name: value` header lines (as the CLI and
/// the C programs print them); returns the status.
pub fn account_status_with_lines<S: AsRef<str>>(mock: &MockServer, header_lines: &[S]) -> u16 {
    let mut request = http::agent().get(format!("{}/v2/account", mock.base_url()));
    for line in header_lines {
        let (name, value) = line.as_ref().split_once(": ").expect("a Name: value line");
        request = request.header(name, value);
    }
    request.call().expect("the mock answers").status().as_u16()
}

/// The `APCA_*` variables of the mock's default `client_secret_post`
/// client with `secret` (for the CLI and `from_env_with`).
pub fn secret_client_env<'a>(token_url: &'a str, secret: &'a str) -> [(&'static str, &'a str); 4] {
    [
        ("APCA_ENVIRONMENT", "broker-sandbox"),
        ("APCA_AUTH_URL", token_url),
        ("APCA_CLIENT_ID", MOCK_CLIENT_ID),
        ("APCA_CLIENT_SECRET", secret),
    ]
}

/// Client secrets of 1, 3, 4, 64 and 128 bytes, each with characters that
/// change under form encoding (`&`, `+`, `%`, `/`, `=`, space).
pub fn secrets_of_every_length() -> Vec<String> {
    let long = |n: usize| {
        "Echo+Me/If=You&Dare%20 zQ"
            .chars()
            .cycle()
            .take(n)
            .collect::<String>()
    };
    vec!["&".into(), "&+%".into(), "&+%/".into(), long(64), long(128)]
}
