//! `alpaca-auth doctor` and `alpaca_auth::doctor` against the mock server
//! over loopback: a passing run; the mock's clock 40 s ahead (a warning,
//! exit status 0) and 150 s ahead (the token request fails, the clock named
//! as the cause); a wrong secret; a key of another environment; an
//! unreachable token host; a proxy variable pointing at a closed port; an
//! HTTPS token endpoint whose CA is not trusted. No secret, token or key in
//! any output.

mod common;
#[path = "common/tls.rs"]
#[allow(dead_code)]
mod tls_front;

use std::process::Output;

use alpaca_auth::doctor::{self, Report, Status};
use alpaca_auth::mock::{
    generate_p256_pkcs8, Fault, MockServer, MOCK_API_KEY_ID, MOCK_API_SECRET_KEY, MOCK_CLIENT_ID,
    MOCK_CLIENT_SECRET, MOCK_JWT_CLIENT_ID,
};
use alpaca_auth::PrivateKey;
use base64::Engine as _;
use common::util::{closed_port_url, scratch_path};
use common::{mock, register_key, secrets_of_every_length};
use tls_front::{TestCa, TlsFront};

/// The URL variables of a client of `mock`.
fn urls(mock: &MockServer) -> Vec<(&'static str, String)> {
    vec![
        ("APCA_API_BASE_URL", mock.base_url()),
        ("APCA_API_DATA_URL", mock.base_url()),
        ("APCA_AUTH_URL", mock.token_url()),
    ]
}

fn secret_env(mock: &MockServer, secret: &str) -> Vec<(&'static str, String)> {
    let mut env = urls(mock);
    env.push(("APCA_CLIENT_ID", MOCK_CLIENT_ID.into()));
    env.push(("APCA_CLIENT_SECRET", secret.into()));
    env
}

/// A `private_key_jwt` client of `mock`: a fresh key registered for
/// `MOCK_JWT_CLIENT_ID`, in a DER file; the variables and the key's DER.
fn jwt_env(mock: &MockServer) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let der = generate_p256_pkcs8().expect("a key").to_vec();
    register_key(mock, &PrivateKey::from_der(&der).expect("the key loads"));
    let path = scratch_path("doctor-key.der");
    std::fs::write(&path, &der).expect("key file");
    let mut env = urls(mock);
    env.push(("APCA_CLIENT_ID", MOCK_JWT_CLIENT_ID.into()));
    env.push(("APCA_PRIVATE_KEY_PATH", path.to_string_lossy().into_owned()));
    (env, der)
}

/// `doctor::run_with` over exactly these variables.
fn run_with(vars: &[(&'static str, String)]) -> Report {
    let vars = vars.to_vec();
    doctor::run_with(&move |name| {
        Ok(vars
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone()))
    })
}

/// `alpaca-auth doctor [args]` with only these variables: its output and
/// all it printed.
fn cli(args: &[&str], vars: &[(&'static str, String)]) -> (Output, String) {
    let env: Vec<(&str, &str)> = vars.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    let out = common::cli::run(&all, &env);
    let text = common::cli::printed(&out);
    (out, text)
}

fn status(report: &Report, name: &str) -> Status {
    report
        .check(name)
        .unwrap_or_else(|| panic!("no check {name}: {}", report.to_text()))
        .status()
}

fn line<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| {
            l.get(7..)
                .is_some_and(|rest| rest.starts_with(&format!("{name}:")))
        })
        .unwrap_or_else(|| panic!("no line for {name} in:\n{text}"))
}

/// No token-shaped text (the mock's tokens are JWT-shaped, `eyJ...`, or
/// start with `mock_`) and none of `secrets` in `text`.
fn assert_clean(text: &str, secrets: &[&str]) {
    assert!(
        !text.contains("eyJ") && !text.contains("mock_"),
        "a token in:\n{text}"
    );
    for secret in secrets {
        assert!(!text.contains(secret), "{secret:?} in:\n{text}");
    }
}

#[test]
fn every_check_passes_against_the_mock_for_each_kind_of_credential() {
    let mock = mock();
    let (jwt, der) = jwt_env(&mock);
    let mut api_key = urls(&mock);
    api_key.truncate(2);
    api_key.push(("APCA_API_KEY_ID", MOCK_API_KEY_ID.into()));
    api_key.push(("APCA_API_SECRET_KEY", MOCK_API_SECRET_KEY.into()));
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    for (what, env) in [
        ("secret", secret_env(&mock, MOCK_CLIENT_SECRET)),
        ("jwt", jwt),
        ("api key", api_key),
    ] {
        let (out, text) = cli(&[], &env);
        assert!(out.status.success(), "{what}:\n{text}");
        assert!(
            !text.contains("[FAIL]") && !text.contains("[warn]"),
            "{what}:\n{text}"
        );
        assert!(
            line(&text, "api").contains("GET /v2/account: 200"),
            "{text}"
        );
        assert_clean(
            &text,
            &[MOCK_CLIENT_SECRET, MOCK_API_SECRET_KEY, &key_b64[40..80]],
        );
        println!("{what}:\n{text}");
        let (out, json) = cli(&["--json"], &env);
        assert!(out.status.success());
        let value: serde_json::Value = serde_json::from_str(json.trim()).expect("JSON");
        assert_eq!(value["ok"], true, "{json}");
        assert_eq!(value["failed"], 0);
    }
    let report = run_with(&secret_env(&mock, MOCK_CLIENT_SECRET));
    assert!(report.ok(), "{}", report.to_text());
    assert_eq!(status(&report, "token"), Status::Pass);
    assert!(report
        .check("token")
        .unwrap()
        .finding()
        .contains("Bearer token of 900 bytes, expires_in 899 s"));
    println!("full run in-process: {:?}", report.elapsed());
}

#[test]
fn a_clock_40_s_off_is_a_warning_naming_the_skew_and_exits_0() {
    let mock = mock();
    mock.set_clock_offset(40);
    let (env, _) = jwt_env(&mock);
    let (out, text) = cli(&[], &env);
    println!("{text}");
    assert!(out.status.success(), "{text}");
    let clock = line(&text, "clock");
    assert!(clock.starts_with("[warn]"), "{clock}");
    assert!(
        ["39 s", "40 s", "41 s"].iter().any(|s| clock.contains(s)),
        "{clock}"
    );
    assert!(clock.contains("behind") && clock.contains("NTP"), "{clock}");
    assert!(line(&text, "token").starts_with("[ ok ]"), "{text}");
}

#[test]
fn a_clock_150_s_off_fails_the_token_request_and_the_doctor_names_the_clock() {
    let mock = mock();
    mock.set_clock_offset(150);
    let (env, _) = jwt_env(&mock);
    let (out, text) = cli(&[], &env);
    println!("{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    let clock = line(&text, "clock");
    assert!(
        clock.starts_with("[FAIL]") && clock.contains("expired"),
        "{clock}"
    );
    let token = line(&text, "token");
    assert!(
        token.starts_with("[FAIL]") && token.contains("invalid_grant"),
        "{token}"
    );
    assert!(token.contains("=> the clock:"), "{token}");
    assert!(line(&text, "api").starts_with("[skip]"));
}

#[test]
fn a_wrong_secret_is_invalid_client_explained() {
    let mock = mock();
    let (out, text) = cli(&[], &secret_env(&mock, "not-the-secret-0123"));
    println!("{text}");
    assert_eq!(out.status.code(), Some(1));
    let token = line(&text, "token");
    assert!(
        token.starts_with("[FAIL]") && token.contains("invalid_client"),
        "{token}"
    );
    assert!(
        token.contains("APCA_CLIENT_SECRET") && token.contains("another environment"),
        "{token}"
    );
    assert_clean(&text, &["not-the-secret-0123"]);
}

/// The mock has one set of keys: a key of another environment is one it
/// does not know, here a paper key (`PK...`) used with `live`.
#[test]
fn a_key_of_another_environment_is_named() {
    let mock = mock();
    let mut env = urls(&mock);
    env.truncate(2);
    env.push(("APCA_ENVIRONMENT", "live".into()));
    env.push(("APCA_API_KEY_ID", "PKPAPER0000000000009".into()));
    env.push(("APCA_API_SECRET_KEY", "paper-secret-0123456789".into()));
    let report = run_with(&env);
    let text = report.to_text();
    println!("{text}");
    assert_eq!(
        status(&report, "config.credentials"),
        Status::Warn,
        "{text}"
    );
    let api = report.check("api").unwrap();
    assert_eq!(api.status(), Status::Fail, "{text}");
    assert!(api.finding().contains("401"), "{text}");
    let hint = api.hint().unwrap();
    assert!(
        hint.contains("starts with PK (Alpaca's prefix of paper keys) but the environment is live"),
        "{hint}"
    );
    assert_clean(&text, &["paper-secret-0123456789"]);
}

#[test]
fn an_unreachable_token_host_fails_at_tcp() {
    let mock = mock();
    let closed = closed_port_url("/v1/oauth2/token");
    let mut env = secret_env(&mock, MOCK_CLIENT_SECRET);
    env.push(("APCA_AUTH_URL", closed));
    let report = run_with(&env);
    let text = report.to_text();
    println!("{text}");
    assert!(!report.ok());
    assert_eq!(status(&report, "token.tcp"), Status::Fail, "{text}");
    assert!(
        report
            .check("token.tcp")
            .unwrap()
            .finding()
            .contains("refused"),
        "{text}"
    );
    assert_eq!(status(&report, "token"), Status::Fail);
    assert!(report
        .check("token")
        .unwrap()
        .hint()
        .unwrap()
        .contains("token.tcp"));
    // The clock is read from the API base instead.
    assert_eq!(status(&report, "clock"), Status::Pass, "{text}");
}

#[test]
fn a_proxy_variable_pointing_at_a_closed_port_is_named() {
    let closed = closed_port_url("");
    let proxy = closed.replace("http://", "http://user:CANARYpw@");
    let env = vec![
        ("APCA_ENVIRONMENT", "broker-sandbox".to_owned()),
        ("APCA_CLIENT_ID", MOCK_CLIENT_ID.to_owned()),
        ("APCA_CLIENT_SECRET", MOCK_CLIENT_SECRET.to_owned()),
        ("HTTPS_PROXY", proxy),
    ];
    let (out, text) = cli(&[], &env);
    println!("{text}");
    assert_eq!(out.status.code(), Some(1));
    let tcp = line(&text, "token.tcp");
    assert!(
        tcp.starts_with("[FAIL]") && tcp.contains("cannot connect to the proxy"),
        "{tcp}"
    );
    assert!(
        tcp.contains("HTTPS_PROXY") && tcp.contains("NO_PROXY"),
        "{tcp}"
    );
    assert!(
        line(&text, "token.dns").contains("is resolved by the proxy"),
        "{text}"
    );
    assert!(
        line(&text, "config.network").contains("[redacted]"),
        "{text}"
    );
    assert!(line(&text, "token").starts_with("[FAIL]"));
    assert_clean(&text, &["CANARYpw", MOCK_CLIENT_SECRET]);
}

#[test]
fn an_https_token_endpoint_with_an_untrusted_ca_names_the_missing_ca() {
    let mock = mock();
    let ca = TestCa::new("Doctor Test Corporate CA");
    let front = TlsFront::start(&ca.server_cert(&["localhost"]), mock.addr());
    let mut env = secret_env(&mock, MOCK_CLIENT_SECRET);
    env.push(("APCA_AUTH_URL", front.token_url("localhost")));
    let report = run_with(&env);
    let text = report.to_text();
    println!("{text}");
    let tls = report.check("token.tls").unwrap();
    assert_eq!(tls.status(), Status::Fail, "{text}");
    assert!(
        tls.finding()
            .contains("\"CN=Doctor Test Corporate CA\", a CA not among the trusted roots"),
        "{text}"
    );
    assert!(tls.hint().unwrap().contains("APCA_CA_BUNDLE"), "{text}");
    assert_eq!(status(&report, "token"), Status::Fail);

    // With the CA in a bundle, the chain, version and cipher are shown.
    let bundle = scratch_path("doctor-ca.pem");
    std::fs::write(&bundle, ca.pem()).expect("CA file");
    env.push(("APCA_CA_BUNDLE", bundle.to_string_lossy().into_owned()));
    let report = run_with(&env);
    let text = report.to_text();
    println!("{text}");
    assert!(report.ok(), "{text}");
    let tls = report.check("token.tls").unwrap().finding();
    assert!(
        tls.contains("TLS 1.3, TLS13_")
            && tls.contains(
                "CN=alpaca-auth test server (issuer CN=Doctor Test Corporate CA, expires "
            ),
        "{tls}"
    );
}

/// The hygiene test's secrets of every length, echoed by the token
/// endpoint: the doctor shows none of them (nor the server's free text
/// when the secret is too short to recognise).
#[test]
fn doctor_output_never_shows_secrets_of_any_length() {
    let mock = mock();
    for secret in secrets_of_every_length() {
        let body = serde_json::json!({"error": "invalid_client", "error_description": format!("HOSTILE secret {secret} is wrong")});
        // The clock check's GET meets the token endpoint first.
        mock.inject_n(Fault::Body(401, body.to_string()), 2);
        let (out, text) = cli(&["--json"], &secret_env(&mock, &secret));
        assert!(!out.status.success());
        let decoded: serde_json::Value = serde_json::from_str(text.trim()).expect("JSON");
        let plain = decoded.to_string();
        for shown in [&text, &plain] {
            assert!(
                !shown.contains(secret.as_str()),
                "secret of {} bytes in {shown}",
                secret.len()
            );
            if secret.len() < alpaca_auth::limits::MIN_REDACTABLE_SECRET_LEN {
                assert!(!shown.contains("HOSTILE"), "{shown}");
            }
        }
        assert_eq!(mock.pending_faults(), 0);
    }
}

#[test]
fn a_token_store_url_is_shown_without_its_password() {
    let mock = common::mock();
    let mut vars = secret_env(&mock, MOCK_CLIENT_SECRET);
    vars.push((
        "APCA_TOKEN_STORE_URL",
        "redis://app:store-password-5e1f@127.0.0.1:1/0".to_owned(),
    ));
    let report = run_with(&vars);
    let text = report.to_text();
    let json = report.to_json();
    for shown in [&text, &json] {
        assert_clean(shown, &["store-password-5e1f", MOCK_CLIENT_SECRET]);
    }
    // With the feature, the store is named; without it, the setting is a
    // configuration error naming the feature. Either way, no password.
    assert!(
        text.contains("redis://[redacted]@127.0.0.1:1") || text.contains("redis"),
        "{text}"
    );
}
