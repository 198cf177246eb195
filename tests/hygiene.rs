//! No secret, token, key or assertion in any error message, `Debug`
//! output or CLI output, on every failure path reachable from the public
//! API and the command line.

mod common;

use std::time::Duration;

use alpaca_auth::mock::{generate_p256_pkcs8, Fault, MOCK_CLIENT_ID, MOCK_JWT_CLIENT_ID};
use alpaca_auth::{Client, Credentials, Error, PrivateKey, RetryPolicy, SecretString};
use base64::Engine as _;
use common::http::serve;
use common::util::{closed_port_url, scratch_dir};
use common::{builder, builder_for, client_with, keys, mock, secrets_of_every_length};

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
    let client = client_with(
        &mock,
        Credentials::client_secret(MOCK_CLIENT_ID, CANARY_SECRET),
    );
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
    let client = common::secret_client(&mock);
    let token = client.access_token().unwrap();
    let secret = token.expose_secret().to_owned();
    let headers = client.auth_headers().unwrap();
    let debug = format!(
        "{token:?} {headers:?} {client:?} {:?} {:?}",
        headers.iter().next().unwrap().1,
        headers.to_lines()
    );
    assert_clean(&debug, &[&secret, alpaca_auth::mock::MOCK_CLIENT_SECRET]);

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

// ---------------------------------------------------------------------
// Every failure path, with recognisable secrets: the client secret, the
// private key (PEM body and DER bytes), the assertion and the access token
// must appear in no error message, no `Debug` output and no CLI output.
// ---------------------------------------------------------------------

/// A secret of unreserved characters only, so a server echoing the raw
/// form body echoes it verbatim.
const CANARY_SECRET_2: &str = "CANARY-client-secret-0099";
/// An API secret key.
const CANARY_API_SECRET: &str = "CANARY-api-secret-key-0077";

const QUICK_RETRY: RetryPolicy = RetryPolicy::new()
    .max_attempts(2)
    .initial_backoff(Duration::from_millis(10))
    .max_backoff(Duration::from_millis(20));

/// A fresh P-256 key: its DER, its PEM, and the needles that would show a
/// leak of either (every 16-character window of the PEM body, hex and
/// decimal renderings of 12-byte windows of the DER).
struct CanaryKey {
    der: Vec<u8>,
    pem: String,
    needles: Vec<String>,
}

impl CanaryKey {
    fn new() -> CanaryKey {
        let der = generate_p256_pkcs8().unwrap().to_vec();
        let pem = keys::pem("PRIVATE KEY", &der);
        let mut needles: Vec<String> = Vec::new();
        for line in pem.lines().filter(|line| !line.starts_with("-----")) {
            for start in (0..line.len().saturating_sub(16)).step_by(8) {
                needles.push(line[start..start + 16].to_owned());
            }
        }
        for window in der.windows(12).step_by(6) {
            let hex: String = window.iter().map(|b| format!("{b:02x}")).collect();
            needles.push(hex.clone());
            needles.push(hex.to_uppercase());
            needles.push(format!("{window:?}").trim_matches(['[', ']']).to_owned());
        }
        CanaryKey { der, pem, needles }
    }
}

fn error_text(err: &Error) -> String {
    format!("{err} | {err:?} | {:?} | {:?}", err.message(), err.oauth())
}

fn assert_no_needles(text: &str, needles: &[String], what: &str) {
    for needle in needles {
        assert!(
            !text.contains(needle.as_str()),
            "{what}: key material leaked"
        );
    }
}

#[test]
fn damaged_keys_never_show_key_material() {
    let key = CanaryKey::new();
    let der = &key.der;
    let pem = &key.pem;
    let mut flipped = der.clone();
    let last = flipped.len() - 40;
    flipped[last] ^= 0xff;
    let body_start = pem.find('\n').unwrap() + 1;
    let mut bad_char = pem.clone();
    bad_char.insert(body_start + 30, '!');
    let cases: Vec<(&str, Result<PrivateKey, Error>)> = vec![
        (
            "truncated DER",
            PrivateKey::from_der(&der[..der.len() - 10]),
        ),
        ("DER with a flipped byte", PrivateKey::from_der(&flipped)),
        ("DER with trailing bytes", {
            let mut d = der.clone();
            d.extend_from_slice(&der[..20]);
            PrivateKey::from_der(&d)
        }),
        (
            "PEM with a bad base64 character",
            PrivateKey::from_pem(&bad_char),
        ),
        (
            "PEM body under the wrong label",
            PrivateKey::from_pem(&pem.replace("PRIVATE KEY", "RSA PRIVATE KEY")),
        ),
        (
            "PEM marked encrypted",
            PrivateKey::from_pem(&pem.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY")),
        ),
        (
            "PEM without its END line",
            PrivateKey::from_pem(&pem[..pem.find("-----END").unwrap()]),
        ),
        (
            "PEM cut in the middle",
            PrivateKey::from_pem(&pem[..pem.len() / 2]),
        ),
        (
            "PEM of a flipped DER",
            PrivateKey::from_pem(&pem.replace(
                &base64::engine::general_purpose::STANDARD.encode(der)[..64],
                &base64::engine::general_purpose::STANDARD.encode(&flipped)[..64],
            )),
        ),
        ("bytes: flipped DER", PrivateKey::from_bytes(&flipped)),
        (
            "an oversized PEM",
            PrivateKey::from_pem(&pem.repeat(64 * 1024 / pem.len() + 1)),
        ),
    ];
    let total = cases.len();
    let mut refused = 0;
    for (what, result) in cases {
        let err = match result {
            Ok(_) => continue, // a harmless change (the key still loads)
            Err(e) => e,
        };
        refused += 1;
        assert_no_needles(&error_text(&err), &key.needles, what);
    }
    assert!(refused >= total - 1, "only {refused} of {total} refused");
    // A good key's Debug output names the algorithm only.
    let loaded = PrivateKey::from_der(der).unwrap();
    assert_no_needles(&format!("{loaded:?}"), &key.needles, "PrivateKey Debug");
    let creds = Credentials::private_key_jwt(MOCK_JWT_CLIENT_ID, loaded);
    assert_no_needles(&format!("{creds:?}"), &key.needles, "Credentials Debug");
}

#[test]
fn damaged_key_files_never_show_key_material() {
    let key = CanaryKey::new();
    let dir = scratch_dir("hygiene-key-files");
    let der_path = dir.join("damaged.der");
    std::fs::write(&der_path, &key.der[..key.der.len() - 7]).unwrap();
    let pem_path = dir.join("damaged.pem");
    std::fs::write(&pem_path, key.pem.replace("END PRIVATE", "END PUBLIC")).unwrap();
    for path in [&der_path, &pem_path] {
        let err = PrivateKey::from_file(path).unwrap_err();
        assert_no_needles(&error_text(&err), &key.needles, "key file");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A hostile token endpoint: answers every request with an OAuth error
/// whose code, description and fields echo the raw form body it received.
/// Returns its token URL.
fn echoing_server() -> String {
    let addr = serve(|_, request| {
        let echoed = String::from_utf8_lossy(&request.body).into_owned();
        let json = serde_json::json!({
            "error": echoed,
            "error_description": format!("you sent: {echoed}"),
            "fields": echoed.split('&').map(|p| serde_json::json!({"name": p})).collect::<Vec<_>>(),
        })
        .to_string();
        format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
            json.len()
        )
    });
    format!("http://{addr}/v1/oauth2/token")
}

#[test]
fn a_server_echoing_the_request_never_gets_the_secret_or_assertion_shown() {
    // client_secret_post
    let client = builder_for(&echoing_server())
        .retry_policy(QUICK_RETRY)
        .credentials(Credentials::client_secret(MOCK_CLIENT_ID, CANARY_SECRET_2))
        .build()
        .unwrap();
    let err = client.access_token().unwrap_err();
    let text = format!(
        "{} | {:?} | {:?}",
        error_text(&err),
        client.last_error(),
        client
    );
    assert!(text.contains("[redacted]"), "the echo was seen: {text}");
    assert_clean(&text, &[CANARY_SECRET_2]);

    // private_key_jwt: the assertion is the secret.
    let key = CanaryKey::new();
    let client = builder_for(&echoing_server())
        .retry_policy(QUICK_RETRY)
        .credentials(Credentials::private_key_jwt(
            MOCK_JWT_CLIENT_ID,
            PrivateKey::from_der(&key.der).unwrap(),
        ))
        .build()
        .unwrap();
    let err = client.access_token().unwrap_err();
    let text = format!("{} | {:?}", error_text(&err), client.last_error());
    assert!(text.contains("[redacted]"), "the echo was seen: {text}");
    // No JWT part at all: header and claims start with `eyJ`, and the
    // signature is the only base64url run after the second dot.
    assert!(!text.contains("eyJ"), "assertion leaked: {text}");
    assert_no_needles(&text, &key.needles, "assertion echo");
}

#[test]
fn assertions_of_a_refused_client_never_appear_in_errors() {
    let mock = mock();
    common::fresh_registered_key(&mock);
    // Signed with another key: the mock refuses each assertion.
    let key = CanaryKey::new();
    let client = client_with(
        &mock,
        Credentials::private_key_jwt(MOCK_JWT_CLIENT_ID, PrivateKey::from_der(&key.der).unwrap()),
    );
    let err = client.access_token().unwrap_err();
    let sent: Vec<String> = mock
        .token_request_log()
        .iter()
        .filter_map(|r| r.field("client_assertion").map(str::to_owned))
        .collect();
    assert!(!sent.is_empty());
    let text = format!(
        "{} | {:?} | {client:?}",
        error_text(&err),
        client.last_error()
    );
    for assertion in &sent {
        let signature = assertion.rsplit('.').next().unwrap();
        assert_clean(&text, &[assertion.as_str(), signature]);
    }
    assert_no_needles(&text, &key.needles, "refused assertion");
}

/// Each server failure, with a client whose secret and (once issued) token
/// are canaries: no error, `last_error`, or `Debug` output shows them.
#[test]
fn server_failures_never_show_secrets_or_tokens() {
    let faults: Vec<Fault> = vec![
        Fault::Status(500),
        Fault::Status(503),
        Fault::RetryAfter(429, "0".into()),
        Fault::OAuthError(401, "invalid_client".into()),
        Fault::OAuthError(400, "invalid_request".into()),
        Fault::MalformedJson,
        Fault::Reset,
        Fault::LargeBody(200 * 1024),
        Fault::Body(
            200,
            r#"{"access_token":"CANARYtoken01 x","expires_in":899}"#.into(),
        ),
        Fault::Body(
            200,
            r#"{"access_token":"CANARYtoken02","token_type":"mac"}"#.into(),
        ),
        Fault::Body(
            200,
            r#"{"access_token":"CANARYtoken03","expires_in":-1}"#.into(),
        ),
        Fault::Body(
            200,
            r#"{"access_token":"CANARYtoken04","expires_in":"x"}"#.into(),
        ),
        Fault::Body(200, r#"{"access_token":["CANARYtoken05"]}"#.into()),
        Fault::Body(
            401,
            format!(
                r#"{{"error":"invalid_client","error_description":"{CANARY_SECRET_2}","fields":[{{"name":"{CANARY_SECRET_2}"}}]}}"#
            ),
        ),
        Fault::Body(
            400,
            format!(r#"{{"error":"{CANARY_SECRET_2}","message":"x"}}"#),
        ),
    ];
    let mut secrets = secrets_of_every_length();
    secrets.push(CANARY_SECRET_2.to_owned());
    let runs = secrets
        .iter()
        .flat_map(|secret| faults.iter().map(move |fault| (secret, fault.clone())));
    for (secret, fault) in runs {
        let mock = mock();
        mock.register_client_secret(MOCK_CLIENT_ID, secret.as_str());
        let client = builder(&mock)
            .retry_policy(QUICK_RETRY)
            .request_timeout(Duration::from_secs(2))
            .credentials(Credentials::client_secret(MOCK_CLIENT_ID, secret.as_str()))
            .build()
            .unwrap();
        mock.inject_n(fault.clone(), 2);
        let err = client.access_token().unwrap_err();
        let text = format!(
            "{} | {:?} | {client:?}",
            error_text(&err),
            client.last_error()
        );
        assert_clean(
            &text,
            &[
                secret.as_str(),
                "CANARYtoken01",
                "CANARYtoken02",
                "CANARYtoken03",
                "CANARYtoken04",
                "CANARYtoken05",
            ],
        );
        // And once a real token is cached, a failed refresh shows neither.
        while mock.pending_faults() > 0 {
            client.invalidate();
            let _ = client.access_token();
        }
        client.invalidate();
        let token = client.access_token().unwrap();
        let value = token.expose_secret().to_owned();
        client.invalidate();
        mock.inject_n(fault, 2);
        if let Err(err) = client.access_token() {
            let text = format!(
                "{} | {:?} | {client:?} | {token:?} | {:?}",
                error_text(&err),
                client.last_error(),
                client.stats()
            );
            assert_clean(&text, &[secret.as_str(), &value]);
        }
    }
}

#[test]
fn api_key_failures_never_show_the_secret() {
    for secret in secrets_of_every_length() {
        // No spaces in a header value: the secret goes in as given
        // otherwise, and each refusal must not show it.
        let secret = secret.replace(' ', "_");
        for creds in [
            Credentials::api_key("PK BAD ID", secret.as_str()),
            Credentials::api_key_basic("PK:ID", secret.as_str()),
            Credentials::api_key("PKID", format!("{secret}\u{7f}")),
        ] {
            let err = Client::builder().credentials(creds).build().unwrap_err();
            assert_clean(&error_text(&err), &[secret.as_str()]);
        }
    }
    for creds in [
        Credentials::api_key("PK BAD ID", CANARY_API_SECRET),
        Credentials::api_key("", CANARY_API_SECRET),
        Credentials::api_key("PKID", format!("{CANARY_API_SECRET}{}", "x".repeat(300))),
        Credentials::api_key_basic("PKID", format!("{CANARY_API_SECRET}\u{7f}")),
    ] {
        let err = Client::builder().credentials(creds).build().unwrap_err();
        assert_clean(&error_text(&err), &[CANARY_API_SECRET]);
    }
    let client = Client::builder()
        .credentials(Credentials::api_key("PKID", CANARY_API_SECRET))
        .build()
        .unwrap();
    let err = client.access_token().unwrap_err();
    let lines = client.auth_headers().unwrap().to_lines();
    assert_clean(
        &format!("{} | {client:?} | {lines:?}", error_text(&err)),
        &[CANARY_API_SECRET],
    );
}

// ---- the command line ----

/// Runs the CLI, which must fail; returns all it printed.
fn cli(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = common::cli::run(args, env);
    assert!(!out.status.success(), "{args:?} was expected to fail");
    common::cli::printed(&out)
}

#[test]
fn cli_failures_never_print_secrets_keys_or_assertions() {
    let mock = mock();
    let key = CanaryKey::new();
    let closed = closed_port_url("/v1/oauth2/token");
    let token_url = mock.token_url();
    let sandbox = ("APCA_ENVIRONMENT", "broker-sandbox");
    let client_id = ("APCA_CLIENT_ID", MOCK_CLIENT_ID);
    let secret = ("APCA_CLIENT_SECRET", CANARY_SECRET_2);
    let long_secret = format!("{CANARY_SECRET_2}{}", "y".repeat(200));
    let damaged_pem = key.pem.replace("END PRIVATE", "END PUBLIC");
    let escaped_pem = key.pem.replace('\n', "\\n");
    let dir = scratch_dir("hygiene-cli");
    let der_path = dir.join("damaged.der");
    std::fs::write(&der_path, &key.der[..key.der.len() - 9]).unwrap();
    let der_path = der_path.to_string_lossy().into_owned();

    let mut outputs = Vec::new();
    let runs: Vec<(&str, Vec<(&str, &str)>)> = vec![
        // wrong secret: invalid_client from the mock
        (
            "token",
            vec![sandbox, ("APCA_AUTH_URL", &token_url), client_id, secret],
        ),
        (
            "headers",
            vec![sandbox, ("APCA_AUTH_URL", &token_url), client_id, secret],
        ),
        // endpoint down
        (
            "token",
            vec![sandbox, ("APCA_AUTH_URL", &closed), client_id, secret],
        ),
        // secret out of bounds
        (
            "token",
            vec![sandbox, client_id, ("APCA_CLIENT_SECRET", &long_secret)],
        ),
        // plain http to a remote host
        (
            "token",
            vec![
                sandbox,
                ("APCA_AUTH_URL", "http://auth.example.com/t"),
                client_id,
                secret,
            ],
        ),
        // ambiguous credentials
        (
            "token",
            vec![
                sandbox,
                client_id,
                secret,
                ("APCA_API_KEY_ID", "PKID"),
                ("APCA_API_SECRET_KEY", CANARY_API_SECRET),
            ],
        ),
        // API keys have no token
        (
            "token",
            vec![
                ("APCA_API_KEY_ID", "PKID"),
                ("APCA_API_SECRET_KEY", CANARY_API_SECRET),
            ],
        ),
        // damaged keys, as text and as a file
        (
            "token",
            vec![
                sandbox,
                ("APCA_AUTH_URL", &token_url),
                ("APCA_CLIENT_ID", MOCK_JWT_CLIENT_ID),
                ("APCA_PRIVATE_KEY", &damaged_pem),
            ],
        ),
        (
            "token",
            vec![
                sandbox,
                ("APCA_AUTH_URL", &token_url),
                ("APCA_CLIENT_ID", MOCK_JWT_CLIENT_ID),
                ("APCA_PRIVATE_KEY_PATH", &der_path),
            ],
        ),
        // a good key the mock does not know: assertions are refused
        (
            "token",
            vec![
                sandbox,
                ("APCA_AUTH_URL", &token_url),
                ("APCA_CLIENT_ID", MOCK_JWT_CLIENT_ID),
                ("APCA_PRIVATE_KEY", &escaped_pem),
            ],
        ),
        // usage error with secrets in the environment
        ("frobnicate", vec![sandbox, client_id, secret]),
    ];
    for (command, env) in &runs {
        outputs.push((command.to_string(), cli(&[command], env)));
    }
    let assertions: Vec<String> = mock
        .token_request_log()
        .iter()
        .filter_map(|r| r.field("client_assertion").map(str::to_owned))
        .collect();
    assert!(!assertions.is_empty(), "the JWT run reached the mock");
    for (command, output) in &outputs {
        assert_clean(output, &[CANARY_SECRET_2, CANARY_API_SECRET]);
        assert_no_needles(output, &key.needles, command);
        for assertion in &assertions {
            let signature = assertion.rsplit('.').next().unwrap();
            assert_clean(output, &[assertion.as_str(), signature]);
        }
        assert!(!output.contains("eyJ"), "{command}: a JWT part was printed");
    }
    // `endpoints` succeeds and prints URLs only.
    let out = common::cli::run(
        &["endpoints"],
        &[sandbox, ("APCA_AUTH_URL", &token_url), client_id, secret],
    );
    assert!(out.status.success());
    assert_clean(&common::cli::stdout(&out), &[CANARY_SECRET_2]);
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- hostile echoes, secrets of every length ----

fn form_encode(value: &str, space_plus: bool) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' if space_plus => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn form_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&value[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The ways a hostile token endpoint echoes the client secret `s` it was
/// sent (`raw` is the form body as received). Each is a status, extra
/// headers and a body; every piece of free text carries `HOSTILE`.
fn hostile_answers(s: &str, raw: &str) -> Vec<(u16, String, String)> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("xy{s}"));
    let spaced = |sep: char| s.chars().flat_map(|c| [c, sep]).collect::<String>();
    let error = |description: String| {
        serde_json::json!({"error": "invalid_client", "error_description": format!("HOSTILE {description}")})
            .to_string()
    };
    vec![
        (
            400,
            String::new(),
            serde_json::json!({"error": s, "error_description": format!("HOSTILE {s}"), "fields": [{"name": s}, {"name": format!("HOSTILE {s}")}]}).to_string(),
        ),
        (400, String::new(), error(raw.to_owned())),
        (400, String::new(), error(form_encode(s, false))),
        (400, String::new(), error(form_encode(s, true).to_lowercase())),
        (400, String::new(), error(s.to_uppercase())),
        (400, String::new(), error(s.to_lowercase())),
        (400, String::new(), error(spaced('\u{200B}'))),
        (400, String::new(), error(spaced('\u{00AD}'))),
        (400, String::new(), error(spaced('\u{202E}'))),
        (400, String::new(), error(b64)),
        (400, String::new(), error(serde_json::to_string(s).unwrap())),
        (400, String::new(), error(s[..s.len() / 2].to_owned())),
        (400, String::new(), error(s[s.len() / 2..].to_owned())),
        (
            200,
            String::new(),
            serde_json::json!({"access_token": "tok", "token_type": s}).to_string(),
        ),
        (
            200,
            String::new(),
            serde_json::json!({"access_token": "tok", "token_type": format!("HOSTILE {s}")})
                .to_string(),
        ),
        (
            429,
            format!("Retry-After: {}\r\nX-Echo: HOSTILE {}\r\n", form_encode(s, true), form_encode(s, true)),
            format!("HOSTILE {s}"),
        ),
        (503, String::new(), format!("HOSTILE {raw}")),
    ]
}

/// A token endpoint that answers the n-th request with the n-th of
/// [`hostile_answers`] for the secret it received.
fn hostile_server() -> String {
    let addr = serve(|n, request| {
        let raw = String::from_utf8_lossy(&request.body).into_owned();
        let secret = raw
            .split('&')
            .find_map(|p| p.strip_prefix("client_secret="))
            .map(form_decode)
            .unwrap_or_default();
        // The path names the answer: /token/<index>.
        let index: usize = request
            .path
            .rsplit('/')
            .next()
            .and_then(|i| i.parse().ok())
            .unwrap_or(n);
        let answers = hostile_answers(&secret, &raw);
        let (status, headers, body) = answers[index % answers.len()].clone();
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    });
    format!("http://{addr}/token")
}

/// Every form of `secret` a reader could recognise, for secrets long enough
/// to be recognised at all.
fn recognisable_forms(secret: &str) -> Vec<String> {
    let mut forms = vec![
        secret.to_owned(),
        secret.to_lowercase(),
        secret.to_uppercase(),
        form_encode(secret, true),
        form_encode(secret, false),
        form_encode(secret, true).to_lowercase(),
        serde_json::to_string(secret).unwrap(),
    ];
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("xy{secret}"));
    forms.push(b64[4..b64.len() - 4].to_owned());
    // Any half of it.
    forms.push(secret[..secret.len() / 2].to_owned());
    forms.push(secret[secret.len() / 2..].to_owned());
    forms
}

#[test]
fn hostile_echoes_of_secrets_of_every_length_are_never_shown() {
    let url = hostile_server();
    let count = hostile_answers("x", "x").len();
    for secret in secrets_of_every_length() {
        for index in 0..count {
            let client = builder_for(&format!("{url}/{index}"))
                .retry_policy(QUICK_RETRY.max_attempts(1))
                .credentials(Credentials::client_secret(MOCK_CLIENT_ID, secret.as_str()))
                .build()
                .unwrap();
            let err = client.access_token().unwrap_err();
            let text = format!(
                "{} | {:?} | {client:?}",
                error_text(&err),
                client.last_error()
            );
            let what = format!("secret of {} bytes, answer {index}", secret.len());
            if secret.len() < alpaca_auth::limits::MIN_REDACTABLE_SECRET_LEN {
                // Too short to recognise: no server free text at all.
                assert!(!text.contains("HOSTILE"), "{what}: free text shown: {text}");
                assert!(!text.contains(secret.as_str()), "{what}: {text}");
            } else {
                for form in recognisable_forms(&secret) {
                    assert!(
                        !text.to_lowercase().contains(&form.to_lowercase()),
                        "{what}: {form:?} shown in {text}"
                    );
                }
            }
            for hidden in ['\u{200B}', '\u{00AD}', '\u{202E}'] {
                assert!(!text.contains(hidden), "{what}: hidden character shown");
            }
        }
        // The command line prints the same errors: the raw echo, the echo
        // as the error code, and the echo as token_type.
        for index in [0, 1, 13] {
            let index_url = format!("{url}/{index}");
            let out = cli(
                &["token"],
                &[
                    ("APCA_ENVIRONMENT", "broker-sandbox"),
                    ("APCA_AUTH_URL", &index_url),
                    ("APCA_CLIENT_ID", MOCK_CLIENT_ID),
                    ("APCA_CLIENT_SECRET", &secret),
                ],
            );
            if secret.len() < alpaca_auth::limits::MIN_REDACTABLE_SECRET_LEN {
                assert!(!out.contains("HOSTILE"), "CLI, answer {index}: {out}");
            }
            assert!(!out.contains(secret.as_str()), "CLI, answer {index}: {out}");
        }
    }
}

#[test]
fn a_token_whose_scope_echoes_secrets_shows_neither_in_debug() {
    let mock = mock();
    let secret = "CANARY-scope-secret-0123";
    mock.register_client_secret(MOCK_CLIENT_ID, secret);
    let client = client_with(&mock, Credentials::client_secret(MOCK_CLIENT_ID, secret));
    mock.inject(Fault::Body(
        200,
        format!(
            r#"{{"access_token":"CANARYtokenScope","expires_in":60,"scope":"{secret} CANARYtokenScope {}"}}"#,
            "x".repeat(10_000)
        ),
    ));
    let token = client.access_token().unwrap();
    let debug = format!("{token:?} {client:?}");
    assert_clean(&debug, &[secret, "CANARYtokenScope"]);
    assert!(debug.len() < 1024, "unbounded Debug: {} bytes", debug.len());
}
