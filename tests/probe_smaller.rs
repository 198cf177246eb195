//! The smaller findings of the adversarial probe: each one a test.

mod common;

use std::time::Duration;

use alpaca_auth::mock::Fault;
use alpaca_auth::{Client, Credentials, ErrorKind, RetryPolicy};

#[test]
fn status_suffixes_are_never_repeated() {
    let mock = common::mock();
    let client = common::secret_builder(&mock)
        .retry_policy(
            RetryPolicy::default()
                .max_attempts(3)
                .initial_backoff(Duration::from_millis(10))
                .max_backoff(Duration::from_millis(20)),
        )
        .token_budget(Duration::from_millis(300))
        .build()
        .unwrap();
    for fault in [
        Fault::MalformedJson,
        Fault::Body(200, r#"{"access_token":"tok","token_type":"mac"}"#.into()),
        Fault::LargeBody(200 * 1024),
        Fault::Status(503),
        Fault::RetryAfter(503, "5".into()),
        Fault::OAuthError(401, "invalid_client".into()),
    ] {
        client.invalidate();
        mock.inject_n(fault.clone(), 3);
        let err = client.access_token().unwrap_err();
        let text = err.to_string();
        if let Some(status) = err.status() {
            let suffix = format!("HTTP {status}");
            assert_eq!(text.matches(&suffix).count(), 1, "{fault:?}: {text}");
        }
        while mock.pending_faults() > 0 {
            client.invalidate();
            let _ = client.access_token();
        }
    }
}

#[test]
fn builder_debug_never_shows_user_info_of_urls() {
    let builder = Client::builder()
        .api_base_url("https://key:CANARYpw1@api.example")
        .data_base_url("https://CANARYuser2@data.example/v2")
        .token_url("http://u:CANARYpw3@127.0.0.1:1/token");
    let debug = format!("{builder:?}");
    for canary in ["CANARYpw1", "CANARYuser2", "CANARYpw3"] {
        assert!(!debug.contains(canary), "{debug}");
    }
    assert!(debug.contains("[redacted]@api.example"), "{debug}");
}

#[test]
fn unknown_oids_are_never_printed_as_dotted_decimal() {
    // PKCS#8 whose algorithm OID is 1.2.3.4.
    let err = alpaca_auth::PrivateKey::from_der(&[
        0x30, 0x0F, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2A, 0x03, 0x04, 0x04, 0x03, 1, 2, 3,
    ])
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert!(!err.to_string().contains("1.2.3.4"), "{err}");
    assert!(err.to_string().contains("unknown OID"), "{err}");
    // An EC key whose curve OID carries bytes a crafted file wants shown.
    let mut curve = vec![0x2A];
    curve.extend_from_slice(&[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]);
    let mut alg = vec![0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
    alg.push(0x06);
    alg.push(curve.len() as u8);
    alg.extend_from_slice(&curve);
    let mut body = vec![0x02, 0x01, 0x00, 0x30, alg.len() as u8];
    body.extend_from_slice(&alg);
    body.extend_from_slice(&[0x04, 0x03, 1, 2, 3]);
    let mut der = vec![0x30, body.len() as u8];
    der.extend_from_slice(&body);
    let err = alpaca_auth::PrivateKey::from_der(&der).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert!(!err.to_string().contains("17.34.51"), "{err}");
    assert!(!err.to_string().contains("OID 1."), "{err}");
}

#[test]
fn a_basic_api_key_id_with_a_colon_is_refused() {
    let err = Client::builder()
        .credentials(Credentials::api_key_basic("PK:ID", "secret-key"))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("':'"), "{err}");
}

#[test]
fn ports_with_a_sign_are_refused() {
    for url in ["https://auth.example:+80/t", "http://127.0.0.1:+80/t"] {
        let err = common::builder_for(url)
            .credentials(common::secret_credentials())
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{url}");
        assert!(err.message().contains("port"), "{err}");
    }
}

#[test]
fn signed_expires_in_strings_are_refused() {
    let mock = common::mock();
    let client = common::secret_client(&mock);
    for value in ["+5", "-5", " +899"] {
        client.invalidate();
        mock.inject(Fault::Body(
            200,
            format!(r#"{{"access_token":"tok","expires_in":"{value}"}}"#),
        ));
        let err = client.access_token().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MalformedResponse, "{value}: {err}");
    }
}

#[test]
fn impossible_retry_after_dates_are_ignored() {
    let mock = common::mock();
    let client = common::secret_builder(&mock)
        .retry_policy(common::attempts(1))
        .build()
        .unwrap();
    for date in [
        "Sat, 31 Feb 2099 00:00:00 GMT",
        "Thu, 31 Apr 2099 00:00:00 GMT",
        "Sun, 29 Feb 2098 00:00:00 GMT",
        // 1 Jan 2099 is a Thursday, not a Monday.
        "Mon, 01 Jan 2099 00:00:00 GMT",
    ] {
        client.invalidate();
        mock.inject(Fault::RetryAfter(503, date.into()));
        let err = client.access_token().unwrap_err();
        assert_eq!(err.status(), Some(503), "{err}");
        assert_eq!(err.retry_after(), None, "{date} was believed: {err}");
    }
    // A real date still counts.
    client.invalidate();
    mock.inject(Fault::RetryAfter(
        503,
        "Thu, 01 Jan 2099 00:00:00 GMT".into(),
    ));
    let err = client.access_token().unwrap_err();
    assert!(err.retry_after().is_some(), "{err}");
}
