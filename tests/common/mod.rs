//! Shared helpers of the integration tests: a mock server and clients
//! pointed at it.
#![allow(dead_code)]

use std::time::Duration;

use alpaca_auth::mock::{MockServer, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET};
use alpaca_auth::{Client, ClientBuilder, Credentials, Environment, RetryPolicy};

/// Retries fast enough for tests, same shape as the defaults.
pub const FAST_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    initial_backoff: Duration::from_millis(20),
    max_backoff: Duration::from_millis(100),
};

pub fn mock() -> MockServer {
    MockServer::start().expect("mock server starts on loopback")
}

/// A builder for the broker sandbox with every URL pointed at `mock`.
pub fn builder(mock: &MockServer) -> ClientBuilder {
    Client::builder()
        .environment(Environment::BrokerSandbox)
        .api_base_url(mock.base_url())
        .data_base_url(mock.base_url())
        .token_url(mock.token_url())
        .retry_policy(FAST_RETRY)
}

/// A `client_secret_post` client of the mock's default client.
pub fn secret_client(mock: &MockServer) -> Client {
    builder(mock)
        .credentials(Credentials::client_secret(
            MOCK_CLIENT_ID,
            MOCK_CLIENT_SECRET,
        ))
        .build()
        .expect("client builds")
}

/// `GET /v2/account` with the client's headers; returns the status.
pub fn account_status(mock: &MockServer, client: &Client) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}/v2/account", mock.base_url());
    let request = client.authorize(agent.get(&url)).expect("headers");
    request.call().expect("mock answers").status().as_u16()
}
