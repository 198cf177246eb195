//! `private_key_jwt` end to end: every supported key file through the client
//! and the CLI, fresh assertions per request, replays refused.

mod common;

use std::path::PathBuf;
use std::process::Command;

use alpaca_auth::mock::{Fault, MockServer, RegisteredKey, MOCK_JWT_CLIENT_ID};
use alpaca_auth::{Algorithm, AssertionOptions, Client, Credentials, ErrorKind, PrivateKey};
use base64::Engine as _;
use common::{account_status, builder, mock};

/// Every key file a user is likely to hold, with the algorithm it implies.
const SUPPORTED: &[(&str, Algorithm)] = &[
    ("p256-pkcs8.pem", Algorithm::ES256),
    ("p256-pkcs8.der", Algorithm::ES256),
    ("p256-sec1.pem", Algorithm::ES256),
    ("p256-sec1.der", Algorithm::ES256),
    ("p256-sec1-with-params.pem", Algorithm::ES256),
    ("rsa2048-pkcs8.pem", Algorithm::RS256),
    ("rsa2048-pkcs1.pem", Algorithm::RS256),
    ("rsa2048-pkcs1.der", Algorithm::RS256),
    ("ed25519-pkcs8.pem", Algorithm::EdDSA),
];

fn key_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(name)
}

fn jwt_client(mock: &MockServer, file: &str, options: AssertionOptions) -> Client {
    let key = PrivateKey::from_file(key_path(file)).unwrap();
    mock.register_client_key(MOCK_JWT_CLIENT_ID, RegisteredKey::from_private_key(&key));
    builder(mock)
        .credentials(Credentials::private_key_jwt_with(
            MOCK_JWT_CLIENT_ID,
            key,
            options,
        ))
        .build()
        .unwrap()
}

fn claims(assertion: &str) -> serde_json::Value {
    let payload = assertion.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn every_supported_key_file_gets_a_token_the_api_accepts() {
    for (file, algorithm) in SUPPORTED {
        let mock = mock();
        let client = jwt_client(&mock, file, AssertionOptions::new());
        client
            .access_token()
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(account_status(&mock, &client), 200, "{file}");
        let key = PrivateKey::from_file(key_path(file)).unwrap();
        assert_eq!(key.algorithm(), *algorithm, "{file}");
    }
}

#[test]
fn ps256_is_selectable_for_rsa_keys() {
    let mock = mock();
    let key = PrivateKey::from_file(key_path("rsa2048-pkcs8.pem"))
        .unwrap()
        .with_algorithm(Algorithm::PS256)
        .unwrap();
    mock.register_client_key(MOCK_JWT_CLIENT_ID, RegisteredKey::from_private_key(&key));
    let client = builder(&mock)
        .credentials(Credentials::private_key_jwt(MOCK_JWT_CLIENT_ID, key))
        .build()
        .unwrap();
    client.access_token().unwrap();
}

#[test]
fn assertion_is_never_reused_across_requests_and_retries() {
    let mock = mock();
    let client = jwt_client(&mock, "p256-pkcs8.pem", AssertionOptions::new());
    client.access_token().unwrap();
    client.invalidate();
    mock.inject(Fault::Status(500));
    client.access_token().unwrap();
    let log = mock.token_request_log();
    assert_eq!(log.len(), 3, "first, then a 500 and its retry");
    let assertions: Vec<&str> = log
        .iter()
        .map(|r| r.field("client_assertion").unwrap())
        .collect();
    let jtis: Vec<String> = assertions
        .iter()
        .map(|a| claims(a)["jti"].as_str().unwrap().to_owned())
        .collect();
    assert_ne!(assertions[1], assertions[2], "the retry signs anew");
    assert!(jtis[0] != jtis[1] && jtis[1] != jtis[2] && jtis[0] != jtis[2]);
    let c = claims(assertions[0]);
    assert_eq!(c["iss"], MOCK_JWT_CLIENT_ID);
    assert_eq!(c["sub"], MOCK_JWT_CLIENT_ID);
    assert_eq!(c["aud"], mock.token_url());
    assert!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap() <= 300);
}

#[test]
fn replayed_assertion_is_refused_with_jti_known() {
    let mock = mock();
    let client = jwt_client(&mock, "ed25519-pkcs8.pem", AssertionOptions::new());
    client.access_token().unwrap();
    let form = mock.token_request_log()[0].form.clone();
    let body: String = form
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(':', "%3A")))
        .collect::<Vec<_>>()
        .join("&");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(mock.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .send(body.as_str())
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let text = response.body_mut().read_to_string().unwrap();
    assert!(text.contains("\"jti_known\""), "{text}");
}

#[test]
fn kid_is_sent_only_when_set_and_refused_unless_configured() {
    let mock = mock();
    let client = jwt_client(
        &mock,
        "p256-pkcs8.pem",
        AssertionOptions::new().kid("key-1"),
    );
    let err = client.access_token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OAuth);
    assert_eq!(err.oauth().unwrap().code, "invalid_request", "{err}");
    mock.allow_kid(Some("key-1"));
    client.invalidate();
    client.access_token().unwrap();
}

#[test]
fn wrong_key_is_token_signature_mismatch() {
    let mock = mock();
    let client = jwt_client(&mock, "p256-pkcs8.pem", AssertionOptions::new());
    let other = alpaca_auth::mock::generate_p256_pkcs8().unwrap();
    let other = PrivateKey::from_der(&other).unwrap();
    mock.register_client_key(MOCK_JWT_CLIENT_ID, RegisteredKey::from_private_key(&other));
    let err = client.access_token().unwrap_err();
    assert_eq!(err.oauth().unwrap().code, "token_signature_mismatch");
    assert_eq!(mock.token_requests(), 1, "not retried");
}

#[test]
fn cli_token_works_with_each_supported_key_file() {
    for (file, _) in SUPPORTED {
        let mock = mock();
        let key = PrivateKey::from_file(key_path(file)).unwrap();
        mock.register_client_key(MOCK_JWT_CLIENT_ID, RegisteredKey::from_private_key(&key));
        let out = Command::new(env!("CARGO_BIN_EXE_alpaca-auth"))
            .arg("token")
            .env_clear()
            .env("APCA_ENVIRONMENT", "broker-sandbox")
            .env("APCA_AUTH_URL", mock.token_url())
            .env("APCA_CLIENT_ID", MOCK_JWT_CLIENT_ID)
            .env("APCA_PRIVATE_KEY_PATH", key_path(file))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout).unwrap();
        assert!(mock.is_token_valid(token.trim()), "{file}");
    }
}

#[test]
fn private_key_from_env_text_works_and_bad_keys_fail_at_build() {
    let mock = mock();
    let pem = std::fs::read_to_string(key_path("p256-sec1.pem")).unwrap();
    let key = PrivateKey::from_pem(&pem).unwrap();
    mock.register_client_key(MOCK_JWT_CLIENT_ID, RegisteredKey::from_private_key(&key));
    let env = |name: &str| -> alpaca_auth::Result<Option<String>> {
        Ok(match name {
            "APCA_ENVIRONMENT" => Some("broker-sandbox".into()),
            "APCA_AUTH_URL" => Some(mock.token_url()),
            "APCA_CLIENT_ID" => Some(MOCK_JWT_CLIENT_ID.into()),
            "APCA_PRIVATE_KEY" => Some(pem.clone()),
            _ => None,
        })
    };
    let client = Client::builder()
        .from_env_with(&env)
        .unwrap()
        .build()
        .unwrap();
    client.access_token().unwrap();

    let encrypted = std::fs::read_to_string(key_path("encrypted-pkcs8.pem")).unwrap();
    let env = |name: &str| -> alpaca_auth::Result<Option<String>> {
        Ok(match name {
            "APCA_CLIENT_ID" => Some(MOCK_JWT_CLIENT_ID.into()),
            "APCA_PRIVATE_KEY" => Some(encrypted.clone()),
            _ => None,
        })
    };
    let err = Client::builder().from_env_with(&env).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert!(err.message().starts_with("APCA_PRIVATE_KEY: "), "{err}");
    assert!(err.message().contains("openssl"), "{err}");
}

#[test]
fn a_pem_with_two_private_keys_is_refused_before_any_request() {
    let mock = mock();
    // An old and a new key in one file, as during a key rotation.
    let two = format!(
        "{}{}",
        std::fs::read_to_string(key_path("p256-pkcs8.pem")).unwrap(),
        std::fs::read_to_string(key_path("rsa2048-pkcs8.pem")).unwrap()
    );
    let err = PrivateKey::from_pem(&two).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert!(err.message().contains("more than one private key"), "{err}");
    // Two keys of the same kind, through the environment.
    let same = two.replace(
        &std::fs::read_to_string(key_path("rsa2048-pkcs8.pem")).unwrap(),
        &std::fs::read_to_string(key_path("p256-sec1.pem")).unwrap(),
    );
    let token_url = mock.token_url();
    let err = alpaca_auth::ClientBuilder::default()
        .from_env_with(&|name| {
            Ok(match name {
                "APCA_ENVIRONMENT" => Some("broker-sandbox".to_owned()),
                "APCA_AUTH_URL" => Some(token_url.clone()),
                "APCA_CLIENT_ID" => Some(MOCK_JWT_CLIENT_ID.to_owned()),
                "APCA_PRIVATE_KEY" => Some(same.clone()),
                _ => None,
            })
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert!(err.message().contains("APCA_PRIVATE_KEY"), "{err}");
    assert!(err.message().contains("more than one private key"), "{err}");
    assert!(!err.to_string().contains("BEGIN"), "no key text: {err}");
    assert_eq!(mock.token_requests(), 0);
}

#[test]
fn rsa_pss_keys_restricted_to_sha256_sign_ps256_and_others_are_refused() {
    let mock = mock();
    let client = jwt_client(
        &mock,
        "rsa-pss2048-sha256-pkcs8.pem",
        AssertionOptions::new(),
    );
    client.access_token().unwrap();
    assert_eq!(account_status(&mock, &client), 200);

    let err = PrivateKey::from_file(key_path("rsa-pss2048-sha512-pkcs8.pem")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert!(err.message().contains("SHA-512"), "{err}");
    assert!(err.message().contains("PS256"), "{err}");
    // The unrestricted RSASSA-PSS key still loads.
    let key = PrivateKey::from_file(key_path("rsa-pss2048-pkcs8.pem")).unwrap();
    assert_eq!(key.algorithm(), Algorithm::PS256);
}

#[test]
fn ed25519_is_accepted_as_the_name_of_eddsa() {
    assert_eq!("Ed25519".parse::<Algorithm>().unwrap(), Algorithm::Ed25519);
    let key = PrivateKey::from_file(key_path("ed25519-pkcs8.pem")).unwrap();
    assert_eq!(key.algorithm(), Algorithm::EdDSA, "EdDSA stays the default");
    let key = key.with_algorithm(Algorithm::Ed25519).unwrap();
    let mock = mock();
    mock.register_client_key(
        MOCK_JWT_CLIENT_ID,
        RegisteredKey::from_private_key(
            &PrivateKey::from_file(key_path("ed25519-pkcs8.pem")).unwrap(),
        ),
    );
    let client = builder(&mock)
        .credentials(Credentials::private_key_jwt(MOCK_JWT_CLIENT_ID, key))
        .build()
        .unwrap();
    client.access_token().unwrap();
    let log = mock.token_request_log();
    let assertion = log[0].field("client_assertion").unwrap();
    let header = assertion.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    assert_eq!(header, br#"{"alg":"Ed25519","typ":"JWT"}"#);
    // Only Ed25519 keys take the name.
    let p256 = PrivateKey::from_file(key_path("p256-pkcs8.pem")).unwrap();
    assert!(p256.with_algorithm(Algorithm::Ed25519).is_err());
}
