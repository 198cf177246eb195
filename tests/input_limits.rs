//! Every string the library accepts has a documented bound, enforced with a
//! clear error before any network traffic (the bounds are documented in the
//! `limits` module: `alpaca_auth::limits`).
//!
//! Each case builds a client whose token URL is a live mock, and the mock
//! must see no request: the error comes from `build()` (or from the key and
//! environment readers before it).

mod common;

use std::time::Duration;

use alpaca_auth::limits::MAX_ACCESS_TOKEN_LEN;
use alpaca_auth::limits::MAX_CA_BUNDLE_LEN;
use alpaca_auth::limits::MAX_KEY_INPUT_LEN;
use alpaca_auth::limits::{
    API_KEY_ID_MAX_LEN, API_SECRET_MAX_LEN, CLIENT_ID_MAX_LEN, CLIENT_ID_MIN_LEN,
    CLIENT_SECRET_MAX_LEN,
};
use alpaca_auth::limits::{MAX_ASSERTION_LEN, MAX_KID_LEN};
use alpaca_auth::mock::{Fault, MockServer, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET};
use alpaca_auth::{
    limits::{MAX_ENV_VALUE_LEN, MAX_URL_LEN},
    AssertionOptions, ClientBuilder, Credentials, Error, ErrorKind, PrivateKey, ProxySetting,
    SecretString,
};
use common::secret_credentials as creds;

const P256_PEM: &str = include_str!("keys/p256-pkcs8.pem");

fn key() -> PrivateKey {
    PrivateKey::from_pem(P256_PEM).unwrap()
}

/// Builds with `creds` against `mock` after `tweak`; returns the error.
fn build_err(
    mock: &MockServer,
    creds: Credentials,
    tweak: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> Error {
    let err = tweak(common::builder(mock).credentials(creds))
        .build()
        .map(|_| ())
        .expect_err("the limit is enforced");
    assert_eq!(mock.token_requests(), 0, "no request before the error");
    err
}

fn build_ok(
    mock: &MockServer,
    creds: Credentials,
    tweak: impl FnOnce(ClientBuilder) -> ClientBuilder,
) {
    tweak(common::builder(mock).credentials(creds))
        .build()
        .expect("a value at the limit is accepted");
}

fn expect(err: &Error, kind: ErrorKind, needle: &str) {
    assert_eq!(err.kind(), kind, "{err}");
    assert!(err.to_string().contains(needle), "{needle:?} not in: {err}");
}

#[test]
fn client_id_is_20_to_32_of_a_z_and_digits() {
    let mock = common::mock();
    for ok in ["A".repeat(CLIENT_ID_MIN_LEN), "9".repeat(CLIENT_ID_MAX_LEN)] {
        build_ok(&mock, Credentials::client_secret(ok, "s"), |b| b);
    }
    for bad in [
        "A".repeat(CLIENT_ID_MIN_LEN - 1),
        "A".repeat(CLIENT_ID_MAX_LEN + 1),
        "a".repeat(CLIENT_ID_MIN_LEN),
        format!("{}-", "A".repeat(CLIENT_ID_MIN_LEN)),
        String::new(),
    ] {
        let err = build_err(&mock, Credentials::client_secret(bad, "s"), |b| b);
        expect(
            &err,
            ErrorKind::Config,
            "20 to 32 characters of A-Z and 0-9",
        );
    }
}

#[test]
fn client_secret_is_at_most_128_bytes() {
    let mock = common::mock();
    let at_limit = "s".repeat(CLIENT_SECRET_MAX_LEN);
    build_ok(
        &mock,
        Credentials::client_secret(MOCK_CLIENT_ID, at_limit),
        |b| b,
    );
    let err = build_err(
        &mock,
        Credentials::client_secret(MOCK_CLIENT_ID, "s".repeat(CLIENT_SECRET_MAX_LEN + 1)),
        |b| b,
    );
    expect(&err, ErrorKind::Config, "128");
    let err = build_err(&mock, Credentials::client_secret(MOCK_CLIENT_ID, ""), |b| b);
    expect(&err, ErrorKind::Config, "empty");
    let err = build_err(
        &mock,
        Credentials::client_secret(MOCK_CLIENT_ID, "line\nbreak"),
        |b| b,
    );
    expect(&err, ErrorKind::Config, "control characters");
}

#[test]
fn api_key_id_and_secret_are_bounded_printable_ascii() {
    let mock = common::mock();
    build_ok(
        &mock,
        Credentials::api_key(
            "K".repeat(API_KEY_ID_MAX_LEN),
            "s".repeat(API_SECRET_MAX_LEN),
        ),
        |b| b,
    );
    let cases = [
        (
            Credentials::api_key("K".repeat(API_KEY_ID_MAX_LEN + 1), "s"),
            "128",
        ),
        (
            Credentials::api_key("PK", "s".repeat(API_SECRET_MAX_LEN + 1)),
            "256",
        ),
        (Credentials::api_key("", "s"), "empty"),
        (Credentials::api_key("PK", ""), "empty"),
        (Credentials::api_key("PK ID", "s"), "spaces"),
        (Credentials::api_key_basic("PK", "sécret"), "non-ASCII"),
    ];
    for (creds, needle) in cases {
        let err = build_err(&mock, creds, |b| b);
        expect(&err, ErrorKind::Config, needle);
    }
}

#[test]
fn assertion_is_at_most_16384_bytes_and_kid_at_most_256() {
    let mock = common::mock();
    let jwt = |options: AssertionOptions| {
        Credentials::private_key_jwt_with("CLIENTID0123456789AB", key(), options)
    };
    build_ok(
        &mock,
        jwt(AssertionOptions::new().kid("k".repeat(MAX_KID_LEN))),
        |b| b,
    );
    let err = build_err(
        &mock,
        jwt(AssertionOptions::new().kid("k".repeat(MAX_KID_LEN + 1))),
        |b| b,
    );
    expect(&err, ErrorKind::Config, "256");
    let err = build_err(
        &mock,
        jwt(AssertionOptions::new().audience(format!(
            "https://auth.example.com/{}",
            "a".repeat(MAX_ASSERTION_LEN)
        ))),
        |b| b,
    );
    expect(&err, ErrorKind::Config, "16384");
}

#[test]
fn urls_are_at_most_2048_bytes() {
    let mock = common::mock();
    let long = format!("https://api.example.com/{}", "p".repeat(MAX_URL_LEN));
    for tweak in [
        (|b: ClientBuilder, u: &str| b.api_base_url(u)) as fn(ClientBuilder, &str) -> ClientBuilder,
        |b, u| b.data_base_url(u),
        |b, u| b.token_url(u),
    ] {
        let err = build_err(&mock, creds(), |b| tweak(b, &long));
        expect(&err, ErrorKind::Config, "2048");
    }
    let at_limit = format!("https://a.example/{}", "p".repeat(MAX_URL_LEN - 18));
    assert_eq!(at_limit.len(), MAX_URL_LEN);
    build_ok(&mock, creds(), |b| b.api_base_url(at_limit.as_str()));
}

#[test]
fn proxy_url_is_bounded_and_never_quoted() {
    let mock = common::mock();
    let long = format!(
        "http://user:CANARYpw@proxy.example:3128/{}",
        "p".repeat(MAX_URL_LEN)
    );
    for (url, needle) in [
        (long.as_str(), "2048"),
        ("http://user:CANARYpw@proxy .example:3128", "spaces"),
        ("", "empty"),
        ("not a url CANARYpw", "spaces"),
    ] {
        let err = build_err(&mock, creds(), |b| {
            b.proxy(ProxySetting::Url(SecretString::new(url)))
        });
        expect(&err, ErrorKind::Config, needle);
        assert!(!err.to_string().contains("CANARYpw"), "{err}");
    }
}

#[test]
fn ca_bundle_is_at_most_one_mib() {
    let mock = common::mock();
    let huge = vec![b'#'; MAX_CA_BUNDLE_LEN + 1];
    let err = build_err(&mock, creds(), |b| b.add_ca_bundle_pem(&huge));
    expect(&err, ErrorKind::Config, &MAX_CA_BUNDLE_LEN.to_string());
    let err = build_err(&mock, creds(), |b| b.add_ca_bundle_pem(b"no certificates"));
    expect(&err, ErrorKind::Config, "no certificate");
}

#[test]
fn key_input_is_at_most_64_kib() {
    // A key with other PEM blocks around it fits as long as the whole is
    // within the limit.
    let padded = format!(
        "{}{P256_PEM}",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".repeat(100)
    );
    assert!(padded.len() < MAX_KEY_INPUT_LEN);
    PrivateKey::from_pem(&padded).expect("within the limit");
    let oversized = format!("{}{P256_PEM}", " ".repeat(MAX_KEY_INPUT_LEN));
    for err in [
        PrivateKey::from_pem(&oversized).unwrap_err(),
        PrivateKey::from_bytes(oversized.as_bytes()).unwrap_err(),
        PrivateKey::from_der(&vec![0x30; MAX_KEY_INPUT_LEN + 1]).unwrap_err(),
    ] {
        expect(&err, ErrorKind::InvalidKey, &MAX_KEY_INPUT_LEN.to_string());
    }
    let dir = std::env::temp_dir().join(format!("alpaca-auth-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("huge.pem");
    std::fs::write(&path, &oversized).unwrap();
    let err = PrivateKey::from_file(&path).unwrap_err();
    expect(&err, ErrorKind::InvalidKey, &MAX_KEY_INPUT_LEN.to_string());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn an_endless_key_file_is_refused_without_reading_it_all() {
    // /dev/zero never ends: as a device, it is not read at all.
    let err = PrivateKey::from_file("/dev/zero").unwrap_err();
    expect(&err, ErrorKind::InvalidKey, "not a regular file");
    // A (sparse) regular file past the limit: only the limit is read.
    let path =
        std::env::temp_dir().join(format!("alpaca-auth-huge-key-{}.pem", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(1 << 40).unwrap();
    let err = PrivateKey::from_file(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    expect(&err, ErrorKind::InvalidKey, &MAX_KEY_INPUT_LEN.to_string());
}

#[test]
fn environment_values_are_at_most_64_kib() {
    let mock = common::mock();
    let huge = "x".repeat(MAX_ENV_VALUE_LEN + 1);
    for name in [
        "APCA_CLIENT_SECRET",
        "APCA_PRIVATE_KEY",
        "APCA_AUTH_URL",
        "APCA_ENVIRONMENT",
    ] {
        let token_url = mock.token_url();
        let mut vars = common::secret_client_env(&token_url, MOCK_CLIENT_SECRET).to_vec();
        vars.push((name, &huge));
        let err = common::util::from_vars(&vars)
            .and_then(ClientBuilder::build)
            .unwrap_err();
        expect(&err, ErrorKind::Config, name);
        expect(&err, ErrorKind::Config, &MAX_ENV_VALUE_LEN.to_string());
    }
    assert_eq!(mock.token_requests(), 0);
}

#[test]
fn timeouts_and_budget_are_bounded() {
    let mock = common::mock();
    for tweak in [
        (|b: ClientBuilder, d| b.connect_timeout(d))
            as fn(ClientBuilder, Duration) -> ClientBuilder,
        |b, d| b.request_timeout(d),
        |b, d| b.token_budget(d),
    ] {
        for bad in [Duration::ZERO, Duration::from_secs(601)] {
            let err = build_err(&mock, creds(), |b| tweak(b, bad));
            expect(&err, ErrorKind::Config, "600");
        }
        build_ok(&mock, creds(), |b| tweak(b, Duration::from_secs(600)));
    }
}

#[test]
fn server_input_is_bounded_too() {
    // An access token longer than 8192 bytes is refused, and so is a body
    // over 64 KiB (tests/fault_matrix.rs); server text in errors is cut at
    // 256 characters.
    let mock = common::mock();
    let client = common::secret_client(&mock);
    mock.inject(Fault::Body(
        200,
        format!(
            r#"{{"access_token":"{}","expires_in":899}}"#,
            "t".repeat(MAX_ACCESS_TOKEN_LEN + 1)
        ),
    ));
    let err = client.access_token().unwrap_err();
    expect(&err, ErrorKind::MalformedResponse, "8192");
    client.invalidate();
    mock.inject(Fault::Body(
        400,
        format!(
            r#"{{"error":"invalid_request","error_description":"{}"}}"#,
            "d".repeat(10_000)
        ),
    ));
    let err = client.access_token().unwrap_err();
    let description = err.oauth().unwrap().description().unwrap().to_owned();
    assert!(
        description.chars().count() <= 256 + 3,
        "{}",
        description.len()
    );
    client.invalidate();
    let token = client.access_token().unwrap();
    assert!(token.expose_secret().len() <= MAX_ACCESS_TOKEN_LEN);
}
