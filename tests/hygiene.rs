//! No secret, token, key or assertion in any error message or `Debug`
//! output, on every failure path reachable from the public API.

mod common;

use alpaca_auth::mock::{Fault, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET};
use alpaca_auth::{Client, Credentials, SecretString};
use common::{builder, mock};

const CANARY_SECRET: &str = "CANARYsecretValue0042";

fn assert_clean(text: &str, canaries: &[&str]) {
    for canary in canaries {
        assert!(!text.contains(canary), "{canary:?} leaked in: {text}");
    }
}

#[test]
fn server_echoing_the_secret_is_redacted_from_errors() {
    let mock = mock();
    mock.register_client_secret(MOCK_CLIENT_ID, "something-else");
    let client = builder(&mock)
        .credentials(Credentials::client_secret(MOCK_CLIENT_ID, CANARY_SECRET))
        .build()
        .unwrap();
    mock.inject(Fault::Body(
        401,
        format!(
            r#"{{"error":"invalid_client","error_description":"secret {CANARY_SECRET} is wrong"}}"#
        ),
    ));
    let err = client.access_token().unwrap_err();
    assert_clean(&format!("{err} {err:?}"), &[CANARY_SECRET]);
    assert!(err.to_string().contains("[redacted]"), "{err}");
    // and the plain refusal
    client.invalidate();
    let err = client.access_token().unwrap_err();
    assert_clean(&format!("{err} {err:?}"), &[CANARY_SECRET]);
}

#[test]
fn tokens_never_appear_in_debug_or_errors() {
    let mock = mock();
    let client = builder(&mock)
        .credentials(Credentials::client_secret(
            MOCK_CLIENT_ID,
            MOCK_CLIENT_SECRET,
        ))
        .build()
        .unwrap();
    let token = client.access_token().unwrap();
    let secret = token.expose_secret().to_owned();
    let headers = client.auth_headers().unwrap();
    let debug = format!(
        "{token:?} {headers:?} {client:?} {:?} {:?}",
        headers.iter().next().unwrap().1,
        headers.to_lines()
    );
    assert_clean(&debug, &[&secret, MOCK_CLIENT_SECRET]);

    // A malformed success body carrying a token-like value.
    client.invalidate();
    mock.inject(Fault::Body(
        200,
        r#"{"access_token":"CANARYtok en","expires_in":60}"#.into(),
    ));
    let err = client.access_token().unwrap_err();
    assert_clean(&format!("{err} {err:?}"), &["CANARYtok"]);
    client.invalidate();
    mock.inject(Fault::Body(
        200,
        r#"{"access_token":"CANARYtoken","expires_in":"x"}"#.into(),
    ));
    let err = client.access_token().unwrap_err();
    assert_clean(&format!("{err} {err:?}"), &["CANARYtoken"]);
}

#[test]
fn credentials_builders_and_secrets_are_redacted_in_debug() {
    let creds = Credentials::api_key("PKID", CANARY_SECRET);
    let builder = Client::builder().credentials(creds.clone());
    let client = builder.clone().build().unwrap();
    let text = format!(
        "{creds:?} {builder:?} {client:?} {:?} {:?}",
        SecretString::new(CANARY_SECRET),
        client.auth_headers().unwrap()
    );
    assert_clean(&text, &[CANARY_SECRET]);
    let creds = Credentials::client_secret(MOCK_CLIENT_ID, CANARY_SECRET);
    assert_clean(&format!("{creds:?}"), &[CANARY_SECRET]);
    let proxy =
        alpaca_auth::ProxySetting::Url(SecretString::new("http://user:CANARYpw@proxy:3128"));
    assert_clean(&format!("{proxy:?}"), &["CANARYpw"]);
}

#[test]
fn configuration_errors_never_quote_secrets() {
    for creds in [
        Credentials::client_secret(
            MOCK_CLIENT_ID,
            format!("{CANARY_SECRET}{}", "x".repeat(200)),
        ),
        Credentials::client_secret("bad id", CANARY_SECRET),
        Credentials::api_key("PKID", format!("{CANARY_SECRET} with space")),
        Credentials::api_key("PKID", format!("{CANARY_SECRET}\n")),
    ] {
        let err = Client::builder()
            .environment(alpaca_auth::Environment::BrokerSandbox)
            .credentials(creds)
            .build()
            .unwrap_err();
        assert_clean(&format!("{err} {err:?}"), &[CANARY_SECRET]);
    }
    let err = Client::builder()
        .api_base_url(format!("https://key:{CANARY_SECRET}@api.alpaca.markets"))
        .credentials(Credentials::api_key("PKID", "s"))
        .build()
        .unwrap_err();
    assert_clean(&format!("{err} {err:?}"), &[CANARY_SECRET]);
}
