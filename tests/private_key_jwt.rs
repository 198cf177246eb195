//! `private_key_jwt` end to end: every supported key file through the client
//! and the CLI, fresh assertions per request, replays refused.

mod common;

use alpaca_auth::mock::{Fault, MockServer, MOCK_JWT_CLIENT_ID};
use alpaca_auth::{Algorithm, AssertionOptions, Client, Credentials, ErrorKind, PrivateKey};
use common::keys::{self, jwt_claims as claims, jwt_header};
use common::util::from_vars;
use common::{account_status, client_with, mock, register_key, registered_fixture};

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

fn jwt_client(mock: &MockServer, file: &str, options: AssertionOptions) -> Client {
    let key = registered_fixture(mock, file);
    client_with(
        mock,
        Credentials::private_key_jwt_with(MOCK_JWT_CLIENT_ID, key, options),
    )
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
        assert_eq!(keys::load(file).algorithm(), *algorithm, "{file}");
    }
}

#[test]
fn ps256_is_selectable_for_rsa_keys() {
    let mock = mock();
    let key = keys::load("rsa2048-pkcs8.pem")
        .with_algorithm(Algorithm::PS256)
        .unwrap();
    register_key(&mock, &key);
    let client = client_with(&mock, Credentials::private_key_jwt(MOCK_JWT_CLIENT_ID, key));
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
    let form = mock.token_request_log()[0].form().to_vec();
    let body: String = form
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(':', "%3A")))
        .collect::<Vec<_>>()
        .join("&");
    let mut response = common::http::agent()
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
    assert_eq!(err.oauth().unwrap().code(), "invalid_request", "{err}");
    mock.allow_kid(Some("key-1"));
    client.invalidate();
    client.access_token().unwrap();
}

#[test]
fn wrong_key_is_token_signature_mismatch() {
    let mock = mock();
    let client = jwt_client(&mock, "p256-pkcs8.pem", AssertionOptions::new());
    common::fresh_registered_key(&mock);
    let err = client.access_token().unwrap_err();
    assert_eq!(err.oauth().unwrap().code(), "token_signature_mismatch");
    assert_eq!(mock.token_requests(), 1, "not retried");
}

#[test]
fn cli_token_works_with_each_supported_key_file() {
    for (file, _) in SUPPORTED {
        let mock = mock();
        registered_fixture(&mock, file);
        let out = common::cli::run(
            &["token"],
            &[
                ("APCA_ENVIRONMENT", "broker-sandbox"),
                ("APCA_AUTH_URL", &mock.token_url()),
                ("APCA_CLIENT_ID", MOCK_JWT_CLIENT_ID),
                ("APCA_PRIVATE_KEY_PATH", &keys::path_text(file)),
            ],
        );
        assert!(
            out.status.success(),
            "{file}: {}",
            common::cli::stderr(&out)
        );
        let token = common::cli::stdout(&out);
        assert!(mock.is_token_valid(token.trim()), "{file}");
    }
}

#[test]
fn private_key_from_env_text_works_and_bad_keys_fail_at_build() {
    let mock = mock();
    let pem = keys::text("p256-sec1.pem");
    registered_fixture(&mock, "p256-sec1.pem");
    let client = from_vars(&[
        ("APCA_ENVIRONMENT", "broker-sandbox"),
        ("APCA_AUTH_URL", &mock.token_url()),
        ("APCA_CLIENT_ID", MOCK_JWT_CLIENT_ID),
        ("APCA_PRIVATE_KEY", &pem),
    ])
    .unwrap()
    .build()
    .unwrap();
    client.access_token().unwrap();

    let err = from_vars(&[
        ("APCA_CLIENT_ID", MOCK_JWT_CLIENT_ID.to_owned()),
        ("APCA_PRIVATE_KEY", keys::text("encrypted-pkcs8.pem")),
    ])
    .unwrap_err();
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
        keys::text("p256-pkcs8.pem"),
        keys::text("rsa2048-pkcs8.pem")
    );
    let err = PrivateKey::from_pem(&two).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert!(err.message().contains("more than one private key"), "{err}");
    // Two keys of the same kind, through the environment.
    let same = two.replace(
        &keys::text("rsa2048-pkcs8.pem"),
        &keys::text("p256-sec1.pem"),
    );
    let err = from_vars(&[
        ("APCA_ENVIRONMENT", "broker-sandbox"),
        ("APCA_AUTH_URL", &mock.token_url()),
        ("APCA_CLIENT_ID", MOCK_JWT_CLIENT_ID),
        ("APCA_PRIVATE_KEY", &same),
    ])
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

    let err = PrivateKey::from_file(keys::path("rsa-pss2048-sha512-pkcs8.pem")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert!(err.message().contains("SHA-512"), "{err}");
    assert!(err.message().contains("PS256"), "{err}");
    // The unrestricted RSASSA-PSS key still loads.
    assert_eq!(
        keys::load("rsa-pss2048-pkcs8.pem").algorithm(),
        Algorithm::PS256
    );
}

#[test]
fn ed25519_is_accepted_as_the_name_of_eddsa() {
    assert_eq!("Ed25519".parse::<Algorithm>().unwrap(), Algorithm::Ed25519);
    let key = keys::load("ed25519-pkcs8.pem");
    assert_eq!(key.algorithm(), Algorithm::EdDSA, "EdDSA stays the default");
    let key = key.with_algorithm(Algorithm::Ed25519).unwrap();
    let mock = mock();
    registered_fixture(&mock, "ed25519-pkcs8.pem");
    let client = client_with(&mock, Credentials::private_key_jwt(MOCK_JWT_CLIENT_ID, key));
    client.access_token().unwrap();
    let log = mock.token_request_log();
    let assertion = log[0].field("client_assertion").unwrap();
    let header = keys::jwt_part_bytes(assertion, 0);
    assert_eq!(header, br#"{"alg":"Ed25519","typ":"JWT"}"#);
    // Only Ed25519 keys take the name.
    let p256 = keys::load("p256-pkcs8.pem");
    assert!(p256.with_algorithm(Algorithm::Ed25519).is_err());
}

fn p256_vars(mock: &MockServer) -> Vec<(&'static str, String)> {
    registered_fixture(mock, "p256-pkcs8.pem");
    vec![
        ("APCA_ENVIRONMENT", "broker-sandbox".to_owned()),
        ("APCA_AUTH_URL", mock.token_url()),
        ("APCA_API_BASE_URL", mock.base_url()),
        ("APCA_CLIENT_ID", MOCK_JWT_CLIENT_ID.to_owned()),
        ("APCA_PRIVATE_KEY_PATH", keys::path_text("p256-pkcs8.pem")),
    ]
}

#[test]
fn assertion_options_and_scope_from_the_environment_reach_an_rfc7523bis_server() {
    let mock = mock();
    // A server following the IETF update of RFC 7523: its issuer identifier
    // as the one audience, typ client-authentication+jwt.
    mock.require_assertion_audience(Some(&mock.issuer()));
    mock.require_assertion_typ(Some(alpaca_auth::CLIENT_AUTHENTICATION_JWT_TYP));
    mock.allow_kid(Some("key-2026"));
    let mut vars = p256_vars(&mock);

    // With the defaults, that server refuses the assertion.
    let err = from_vars(&vars)
        .unwrap()
        .retry_policy(common::FAST_RETRY)
        .build()
        .unwrap()
        .access_token()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OAuth, "{err}");

    vars.extend([
        ("APCA_ASSERTION_AUDIENCE", mock.issuer()),
        ("APCA_ASSERTION_TYP", "client-authentication+jwt".to_owned()),
        ("APCA_ASSERTION_LIFETIME", "90".to_owned()),
        ("APCA_ASSERTION_ALG", "ES256".to_owned()),
        ("APCA_ASSERTION_KID", "key-2026".to_owned()),
        ("APCA_SCOPE", "trading account:read".to_owned()),
    ]);
    let client = from_vars(&vars).unwrap().build().unwrap();
    client.access_token().unwrap();
    assert_eq!(account_status(&mock, &client), 200);
    let log = mock.token_request_log();
    let request = log.last().unwrap();
    assert_eq!(request.field("scope"), Some("trading account:read"));
    let assertion = request.field("client_assertion").unwrap();
    let claims = claims(assertion);
    assert_eq!(claims["aud"], mock.issuer());
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        90
    );
    let header = jwt_header(assertion);
    assert_eq!(header["typ"], "client-authentication+jwt");
    assert_eq!(header["kid"], "key-2026");
    assert_eq!(header["alg"], "ES256");
}

#[test]
fn assertion_variables_are_checked_and_name_themselves() {
    let mock = mock();
    let base = p256_vars(&mock);
    let with = |extra: &[(&'static str, &str)]| {
        let mut vars = base.clone();
        vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        from_vars(&vars).and_then(alpaca_auth::ClientBuilder::build)
    };
    for (extra, needle) in [
        (
            ("APCA_ASSERTION_LIFETIME", "ninety"),
            "APCA_ASSERTION_LIFETIME",
        ),
        (
            ("APCA_ASSERTION_LIFETIME", "301"),
            "APCA_ASSERTION_LIFETIME",
        ),
        (("APCA_ASSERTION_LIFETIME", "0"), "APCA_ASSERTION_LIFETIME"),
        (("APCA_ASSERTION_ALG", "PS256"), "APCA_ASSERTION_ALG"),
        (("APCA_ASSERTION_ALG", "HS256"), "APCA_ASSERTION_ALG"),
        (("APCA_SCOPE", "a  b"), "APCA_SCOPE"),
        (("APCA_SCOPE", "quote\"d"), "APCA_SCOPE"),
    ] {
        let err = with(&[extra]).unwrap_err();
        assert!(err.message().contains(needle), "{extra:?}: {err}");
    }
    // Assertion options without a private key, a scope with an API key.
    let err = from_vars(&[
        ("APCA_ENVIRONMENT", "broker-sandbox".to_owned()),
        ("APCA_CLIENT_ID", MOCK_JWT_CLIENT_ID.to_owned()),
        ("APCA_CLIENT_SECRET", "s".to_owned()),
        ("APCA_ASSERTION_TYP", "client-authentication+jwt".to_owned()),
    ])
    .unwrap_err();
    assert!(err.message().contains("APCA_ASSERTION_TYP"), "{err}");
    let err = from_vars(&[
        ("APCA_API_KEY_ID", "PK".to_owned()),
        ("APCA_API_SECRET_KEY", "s".to_owned()),
        ("APCA_SCOPE", "trading".to_owned()),
    ])
    .unwrap_err();
    assert!(err.message().contains("APCA_SCOPE"), "{err}");
    assert_eq!(mock.token_requests(), 0);
}

#[test]
fn private_key_jwt_survives_20_s_of_clock_skew_either_way() {
    for client_ahead in [20i64, -20] {
        let mock = mock();
        // The server checks exp against its own clock: exp - now <= 300 s,
        // iat <= now + 60 s.
        mock.set_clock_offset(-client_ahead);
        let client = jwt_client(&mock, "p256-pkcs8.pem", AssertionOptions::new());
        client
            .access_token()
            .unwrap_or_else(|e| panic!("client {client_ahead:+} s: {e}"));
        assert_eq!(mock.token_requests(), 1, "client {client_ahead:+} s");
    }
    // The former default, a 300 s lifetime, fails with the clock 20 s ahead.
    let mock = mock();
    mock.set_clock_offset(-20);
    let client = jwt_client(
        &mock,
        "p256-pkcs8.pem",
        AssertionOptions::new().lifetime(std::time::Duration::from_secs(300)),
    );
    let err = client.access_token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OAuth);
    assert_eq!(err.oauth().map(|o| o.code()), Some("invalid_grant"));
}

#[test]
fn the_mock_refuses_repeated_form_parameters() {
    let mock = mock();
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&client_secret=other",
        alpaca_auth::mock::MOCK_CLIENT_ID,
        alpaca_auth::mock::MOCK_CLIENT_SECRET
    );
    let mut response = common::http::agent()
        .post(mock.token_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(body)
        .unwrap();
    assert_eq!(response.status(), 400);
    let text = response.body_mut().read_to_string().unwrap();
    assert!(
        text.contains("invalid_request") && text.contains("repeated"),
        "{text}"
    );
    assert_eq!(mock.tokens_issued(), 0);
}
