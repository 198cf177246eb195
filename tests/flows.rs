//! Every credential flow end to end against the mock over loopback HTTP.

mod common;

use alpaca_auth::mock::{
    MOCK_API_KEY_ID, MOCK_API_SECRET_KEY, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET, MOCK_JWT_CLIENT_ID,
};
use alpaca_auth::{Client, Credentials, Environment, ErrorKind};
use common::{account_status, client_with, fresh_registered_key, mock, secret_client};

#[test]
fn api_key_headers_authorize_account_request_without_token_requests() {
    let mock = mock();
    let client = client_with(
        &mock,
        Credentials::api_key_headers(MOCK_API_KEY_ID, MOCK_API_SECRET_KEY),
    );
    let names: Vec<String> = client
        .auth_headers()
        .unwrap()
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(names, ["apca-api-key-id", "apca-api-secret-key"]);
    assert_eq!(account_status(&mock, &client), 200);
    assert_eq!(mock.token_requests(), 0);
    assert_eq!(client.access_token().unwrap_err().kind(), ErrorKind::Config);
}

#[test]
fn api_key_basic_authorizes_account_request() {
    let mock = mock();
    let client = client_with(
        &mock,
        Credentials::api_key_basic(MOCK_API_KEY_ID, MOCK_API_SECRET_KEY),
    );
    let lines = client.auth_headers().unwrap().to_lines();
    assert_eq!(lines.len(), 1);
    assert!(lines[0]
        .expose_secret()
        .starts_with("Authorization: Basic "));
    assert_eq!(account_status(&mock, &client), 200);
}

#[test]
fn wrong_api_secret_gets_401_from_the_resource_endpoint() {
    let mock = mock();
    let client = client_with(
        &mock,
        Credentials::api_key(MOCK_API_KEY_ID, "not-the-secret"),
    );
    assert_eq!(account_status(&mock, &client), 401);
}

#[test]
fn client_secret_post_sends_the_secret_in_the_body_only() {
    let mock = mock();
    let client = secret_client(&mock);
    let token = client.access_token().unwrap();
    assert!(mock.is_token_valid(token.expose_secret()));
    let log = mock.token_request_log();
    assert_eq!(log.len(), 1);
    let request = &log[0];
    assert_eq!(request.field("grant_type"), Some("client_credentials"));
    assert_eq!(request.field("client_id"), Some(MOCK_CLIENT_ID));
    assert_eq!(request.field("client_secret"), Some(MOCK_CLIENT_SECRET));
    assert_eq!(request.field("client_assertion"), None);
    assert_eq!(request.header("authorization"), None);
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(account_status(&mock, &client), 200);
}

#[test]
fn two_calls_make_one_token_request() {
    let mock = mock();
    let client = secret_client(&mock);
    let first = client.access_token().unwrap();
    let second = client.access_token().unwrap();
    let headers = client.auth_headers().unwrap();
    assert!(first.same_token(&second));
    assert!(headers.access_token().unwrap().same_token(&first));
    assert_eq!(mock.token_requests(), 1);
    assert_eq!(client.stats().token_http_requests(), 1);
}

#[test]
fn private_key_jwt_flow_gets_a_token_the_api_accepts() {
    let mock = mock();
    let (key, _) = fresh_registered_key(&mock);
    let client = client_with(&mock, Credentials::private_key_jwt(MOCK_JWT_CLIENT_ID, key));
    client.access_token().unwrap();
    assert_eq!(account_status(&mock, &client), 200);
    let log = mock.token_request_log();
    assert_eq!(
        log[0].field("client_assertion_type"),
        Some(alpaca_auth::JWT_BEARER_ASSERTION_TYPE)
    );
    assert!(log[0].field("client_secret").is_none());
}

#[test]
fn wrong_client_secret_is_invalid_client_and_not_retried() {
    let mock = mock();
    let client = client_with(&mock, Credentials::client_secret(MOCK_CLIENT_ID, "wrong"));
    let err = client.access_token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OAuth);
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.oauth().unwrap().code(), "invalid_client");
    assert_eq!(
        mock.token_requests(),
        1,
        "invalid_client must not be retried"
    );
}

#[test]
fn client_credentials_on_trading_environments_are_a_config_error() {
    for env in [Environment::Live, Environment::Paper] {
        let err = Client::builder()
            .environment(env)
            .credentials(Credentials::client_secret(
                MOCK_CLIENT_ID,
                MOCK_CLIENT_SECRET,
            ))
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("not available for the Trading API"));
    }
}

#[test]
fn plain_http_to_a_remote_host_is_refused_before_any_connection() {
    // A listener that counts connections: nothing may reach it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let err = Client::builder()
        .environment(Environment::BrokerSandbox)
        .token_url("http://auth.example.com/v1/oauth2/token")
        .credentials(Credentials::client_secret(
            MOCK_CLIENT_ID,
            MOCK_CLIENT_SECRET,
        ))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("refusing plain http://"), "{err}");
    for override_url in ["http://10.1.2.3", "http://api.alpaca.markets"] {
        let err = Client::builder()
            .api_base_url(override_url)
            .credentials(Credentials::api_key(MOCK_API_KEY_ID, MOCK_API_SECRET_KEY))
            .build()
            .unwrap_err();
        assert!(err.message().contains("refusing plain http://"), "{err}");
    }
    assert!(listener.accept().is_err(), "no connection was attempted");
}

#[test]
fn oauth_error_shapes_are_both_parsed() {
    let mock = mock();
    let client = secret_client(&mock);
    mock.inject(alpaca_auth::mock::Fault::Body(
        400,
        r#"{"error":"invalid_request","fields":[{"name":"client_id"}]}"#.into(),
    ));
    let err = client.access_token().unwrap_err();
    let oauth = err.oauth().unwrap();
    assert_eq!(oauth.code(), "invalid_request");
    assert_eq!(oauth.fields(), ["client_id"]);
    assert!(err.to_string().contains("[fields: client_id]"), "{err}");

    client.invalidate();
    mock.inject(alpaca_auth::mock::Fault::Body(
        401,
        r#"{"error":"invalid_client","error_description":"client is disabled"}"#.into(),
    ));
    let err = client.access_token().unwrap_err();
    assert_eq!(err.oauth().unwrap().code(), "invalid_client");
    assert_eq!(
        err.oauth().unwrap().description(),
        Some("client is disabled")
    );
}

#[test]
fn alpacas_rest_error_shape_keeps_its_message() {
    use alpaca_auth::mock::Fault;
    let mock = mock();
    mock.inject(Fault::Body(
        403,
        r#"{"code":40310000,"message":"client is not allowed to trade"}"#.to_owned(),
    ));
    let err = secret_client(&mock).access_token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HttpStatus);
    assert_eq!(err.status(), Some(403));
    assert!(
        err.to_string()
            .contains("code 40310000: client is not allowed to trade"),
        "{err}"
    );
    assert_eq!(mock.token_requests(), 1, "a 403 is not retried");
}

#[test]
fn expires_in_rule_applies_to_real_responses() {
    use serde_json::json;
    use std::time::Duration;
    let cases = [
        (json!(null), Ok(300)),
        (json!("899"), Ok(899)),
        (json!("899.7"), Ok(899)),
        (json!(899.7), Ok(899)),
        (json!("1000000000000"), Ok(86_400)),
        (json!(1_000_000_000_000u64), Ok(86_400)),
        (json!(0), Err(())),
        (json!(-30), Err(())),
        (json!("soon"), Err(())),
    ];
    for (value, expected) in cases {
        let mock = mock();
        mock.set_expires_in_raw(value.clone());
        let client = secret_client(&mock);
        match (client.access_token(), expected) {
            (Ok(token), Ok(secs)) => {
                assert_eq!(token.lifetime(), Duration::from_secs(secs), "{value}")
            }
            (Err(e), Err(())) => assert_eq!(e.kind(), ErrorKind::MalformedResponse, "{value}"),
            (other, _) => panic!("{value}: unexpected {:?}", other.map(|t| t.lifetime())),
        }
    }
}

#[test]
fn stream_auth_message_is_a_secret_for_key_pairs_only() {
    let mock = mock();
    let client = client_with(
        &mock,
        Credentials::api_key(MOCK_API_KEY_ID, MOCK_API_SECRET_KEY),
    );
    let message = client.stream_auth_message().unwrap();
    let parsed: serde_json::Value = serde_json::from_str(message.expose_secret()).unwrap();
    assert_eq!(
        parsed,
        serde_json::json!({"action": "auth", "key": MOCK_API_KEY_ID, "secret": MOCK_API_SECRET_KEY})
    );
    assert!(!format!("{message:?}").contains(MOCK_API_SECRET_KEY));
    assert!(!format!("{client:?}").contains(MOCK_API_SECRET_KEY));
    assert_eq!(
        client.endpoints().market_data_stream_url("sip"),
        "wss://stream.data.sandbox.alpaca.markets/v2/sip"
    );
    assert_eq!(client.endpoints().trade_updates_stream_url(), None);

    let err = secret_client(&mock).stream_auth_message().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("API key pair"), "{err}");
    assert_eq!(mock.token_requests(), 0);
}
