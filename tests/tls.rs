//! Real TLS end to end: the mock behind a rustls front with a certificate
//! from a test CA made at test time (tests/common/tls.rs).
//!
//! Plain `http://` to a non-loopback host is refused before any connection:
//! `plain_http_to_a_remote_host_is_refused_before_any_connection` in
//! tests/flows.rs proves it.

mod common;
#[path = "common/tls.rs"]
mod tls_front;

use alpaca_auth::{Client, ErrorKind, ProxySetting};
use common::{builder_for, mock, secret_credentials};
use tls_front::{TestCa, TlsFront};

/// A client of the mock's default client at `token_url`, trusting `ca_pem`
/// (besides the webpki roots) when given.
fn client(token_url: &str, ca_pem: Option<&str>) -> Client {
    let mut builder = builder_for(token_url)
        .proxy(ProxySetting::Disabled)
        .credentials(secret_credentials());
    if let Some(pem) = ca_pem {
        builder = builder.add_ca_bundle_pem(pem.as_bytes());
    }
    builder.build().expect("client builds")
}

#[test]
fn token_over_https_with_the_test_ca_trusted() {
    let mock = mock();
    let ca = TestCa::new("alpaca-auth test CA");
    let front = TlsFront::start(&ca.server_cert(&["localhost", "127.0.0.1"]), mock.addr());
    for host in ["localhost", "127.0.0.1"] {
        let client = client(&front.token_url(host), Some(&ca.pem()));
        let token = client
            .access_token()
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        assert!(mock.is_token_valid(token.expose_secret()), "{host}");
        // Served from the cache: no second handshake or request.
        client.access_token().unwrap();
        assert_eq!(client.stats().token_http_requests(), 1, "{host}");
    }
    assert_eq!(mock.token_requests(), 2);
    assert!(front.handshakes_ok() >= 2, "{}", front.handshakes_ok());
    assert_eq!(front.handshakes_failed(), 0);
}

#[test]
fn untrusted_certificate_is_a_tls_error_naming_the_problem() {
    let mock = mock();
    let ca = TestCa::new("alpaca-auth untrusted CA");
    let front = TlsFront::start(&ca.server_cert(&["localhost"]), mock.addr());
    let client = client(&front.token_url("localhost"), None);
    let err = client.access_token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    let text = err.to_string().to_ascii_lowercase();
    assert!(text.contains("certificate"), "{err}");
    assert!(
        text.contains("unknownissuer") || text.contains("unknown issuer"),
        "{err}"
    );
    // A certificate problem is not retried, and no request got through.
    assert_eq!(client.stats().token_http_requests(), 1);
    assert_eq!(mock.token_requests(), 0);
    assert_eq!(front.handshakes_ok(), 0);
}

#[test]
fn another_cas_bundle_does_not_make_the_certificate_trusted() {
    let mock = mock();
    let server_ca = TestCa::new("alpaca-auth server CA");
    let other_ca = TestCa::new("alpaca-auth other CA");
    let front = TlsFront::start(&server_ca.server_cert(&["localhost"]), mock.addr());
    let client = client(&front.token_url("localhost"), Some(&other_ca.pem()));
    let err = client.access_token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert_eq!(mock.token_requests(), 0);
}

#[test]
fn certificate_for_another_host_name_is_refused() {
    let mock = mock();
    let ca = TestCa::new("alpaca-auth test CA");
    let front = TlsFront::start(&ca.server_cert(&["auth.other.example"]), mock.addr());
    for host in ["localhost", "127.0.0.1"] {
        let client = client(&front.token_url(host), Some(&ca.pem()));
        let err = client.access_token().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{host}: {err}");
        let text = err.to_string().to_ascii_lowercase();
        assert!(
            text.contains("notvalidforname") || text.contains("not valid for name"),
            "{host}: {err}"
        );
        assert_eq!(client.stats().token_http_requests(), 1, "{host}");
    }
    assert_eq!(mock.token_requests(), 0);
}

#[test]
fn expired_certificate_is_refused() {
    let mock = mock();
    let ca = TestCa::new("alpaca-auth test CA");
    let front = TlsFront::start(&ca.expired_server_cert(&["localhost"]), mock.addr());
    let client = client(&front.token_url("localhost"), Some(&ca.pem()));
    let err = client.access_token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(
        err.to_string().to_ascii_lowercase().contains("expired"),
        "{err}"
    );
    assert_eq!(mock.token_requests(), 0);
}

#[test]
fn plain_http_to_the_tls_port_is_not_a_token() {
    // http:// to loopback is allowed, but talking plain HTTP to a TLS
    // server yields an error, never a token.
    let mock = mock();
    let ca = TestCa::new("alpaca-auth test CA");
    let front = TlsFront::start(&ca.server_cert(&["localhost"]), mock.addr());
    let url = front
        .token_url("127.0.0.1")
        .replacen("https://", "http://", 1);
    let client = client(&url, None);
    let err = client.access_token().unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Transport | ErrorKind::Timeout | ErrorKind::MalformedResponse
        ),
        "{err}"
    );
    assert_eq!(mock.token_requests(), 0);
}

#[test]
fn a_damaged_ca_bundle_is_a_config_error_at_build_time() {
    let err = Client::builder()
        .environment(alpaca_auth::Environment::BrokerSandbox)
        .credentials(secret_credentials())
        .add_ca_bundle_pem(b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
}

// ---------------------------------------------------------------------------
// Trust from the environment: APCA_CA_BUNDLE, SSL_CERT_FILE, SSL_CERT_DIR and
// APCA_TLS_ROOTS, through the command line (its environment is only what
// each test gives it), with a real handshake each time.

/// A TLS front of a fresh mock with a certificate of a fresh CA, the CA's
/// PEM, and a CA that signed nothing here.
struct Setup {
    mock: alpaca_auth::mock::MockServer,
    front: TlsFront,
    ca_pem: String,
    other_pem: String,
}

fn setup() -> Setup {
    let mock = mock();
    let ca = TestCa::new("alpaca-auth corporate CA");
    let front = TlsFront::start(&ca.server_cert(&["localhost"]), mock.addr());
    Setup {
        mock,
        front,
        ca_pem: ca.pem(),
        other_pem: TestCa::new("alpaca-auth unrelated CA").pem(),
    }
}

/// Runs `alpaca-auth token` against `setup` with the client-secret
/// variables and `extra`.
fn token_cli(setup: &Setup, extra: &[(&str, &str)]) -> std::process::Output {
    let url = setup.front.token_url("localhost");
    let mut env = common::secret_client_env(&url, alpaca_auth::mock::MOCK_CLIENT_SECRET).to_vec();
    env.extend_from_slice(extra);
    common::cli::run(&["token"], &env)
}

fn assert_token(setup: &Setup, out: &std::process::Output, what: &str) {
    let printed = common::cli::printed(out);
    assert!(out.status.success(), "{what}: {printed}");
    assert!(
        setup.mock.is_token_valid(common::cli::stdout(out).trim()),
        "{what}: {printed}"
    );
}

fn assert_untrusted(out: &std::process::Output, what: &str) {
    let printed = common::cli::printed(out).to_ascii_lowercase();
    assert!(!out.status.success(), "{what}: {printed}");
    assert!(
        printed.contains("unknownissuer") || printed.contains("unknown issuer"),
        "{what}: {printed}"
    );
}

/// Writes `text` to `name` in a fresh scratch directory; returns the path.
fn file_with(name: &str, text: &str) -> String {
    let dir = common::util::scratch_dir("tls-trust");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

#[test]
fn apca_ca_bundle_adds_the_cas_of_a_file() {
    let s = setup();
    assert_untrusted(&token_cli(&s, &[]), "no CA");
    let bundle = file_with("corp.pem", &format!("{}{}", s.other_pem, s.ca_pem));
    assert_token(&s, &token_cli(&s, &[("APCA_CA_BUNDLE", &bundle)]), "bundle");
    let other = file_with("other.pem", &s.other_pem);
    assert_untrusted(&token_cli(&s, &[("APCA_CA_BUNDLE", &other)]), "another CA");
    assert_eq!(s.mock.token_requests(), 1);
}

#[test]
fn ssl_cert_file_is_trusted_and_apca_ca_bundle_adds_to_it() {
    let s = setup();
    let ca = file_with("ca.pem", &s.ca_pem);
    let other = file_with("other.pem", &s.other_pem);
    assert_token(
        &s,
        &token_cli(&s, &[("SSL_CERT_FILE", &ca)]),
        "SSL_CERT_FILE",
    );
    // APCA_CA_BUNDLE adds to SSL_CERT_FILE: neither replaces the other.
    for (file, bundle) in [(&ca, &other), (&other, &ca)] {
        let out = token_cli(&s, &[("SSL_CERT_FILE", file), ("APCA_CA_BUNDLE", bundle)]);
        assert_token(
            &s,
            &out,
            &format!("SSL_CERT_FILE={file} APCA_CA_BUNDLE={bundle}"),
        );
    }
    assert_untrusted(&token_cli(&s, &[("SSL_CERT_FILE", &other)]), "other CA");
    assert_eq!(s.mock.token_requests(), 3);
}

#[test]
fn ssl_cert_dir_reads_hashed_and_pem_names_and_adds_to_ssl_cert_file() {
    let s = setup();
    let hashed = common::util::scratch_dir("tls-hashed");
    std::fs::write(hashed.join("1a2b3c4d.0"), &s.ca_pem).unwrap();
    // Not read: a CRL's hashed name, a file of another name.
    std::fs::write(hashed.join("1a2b3c4d.r0"), "CANARY not a CRL").unwrap();
    std::fs::write(hashed.join("README"), "CANARY").unwrap();
    let named = common::util::scratch_dir("tls-named");
    std::fs::write(named.join("corp-root.pem"), &s.ca_pem).unwrap();
    let other = common::util::scratch_dir("tls-other");
    std::fs::write(other.join("other.crt"), &s.other_pem).unwrap();
    let (hashed, named, other) = (hashed.display(), named.display(), other.display());

    for dirs in [
        hashed.to_string(),
        named.to_string(),
        // A list: the CA is in the second directory.
        format!("{other}:{named}"),
    ] {
        assert_token(&s, &token_cli(&s, &[("SSL_CERT_DIR", &dirs)]), &dirs);
    }
    assert_untrusted(
        &token_cli(&s, &[("SSL_CERT_DIR", &other.to_string())]),
        "other",
    );
    // With SSL_CERT_FILE: both are read, whichever holds the CA.
    let ca_file = file_with("ca.pem", &s.ca_pem);
    let other_file = file_with("other.pem", &s.other_pem);
    let out = token_cli(
        &s,
        &[
            ("SSL_CERT_FILE", &other_file),
            ("SSL_CERT_DIR", &named.to_string()),
        ],
    );
    assert_token(&s, &out, "file other, dir CA");
    let out = token_cli(
        &s,
        &[
            ("SSL_CERT_FILE", &ca_file),
            ("SSL_CERT_DIR", &other.to_string()),
        ],
    );
    assert_token(&s, &out, "file CA, dir other");
    assert_eq!(s.mock.token_requests(), 5);
}

#[test]
fn apca_tls_roots_bundled_ignores_the_openssl_variables_but_not_apca_ca_bundle() {
    let s = setup();
    let ca = file_with("ca.pem", &s.ca_pem);
    let dir = std::path::Path::new(&ca)
        .parent()
        .unwrap()
        .display()
        .to_string();
    let out = token_cli(
        &s,
        &[
            ("APCA_TLS_ROOTS", "bundled"),
            ("SSL_CERT_FILE", &ca),
            ("SSL_CERT_DIR", &dir),
        ],
    );
    assert_untrusted(&out, "bundled");
    let out = token_cli(
        &s,
        &[("APCA_TLS_ROOTS", "bundled"), ("APCA_CA_BUNDLE", &ca)],
    );
    assert_token(&s, &out, "bundled with APCA_CA_BUNDLE");
    // Unusable variables are not even read.
    let out = token_cli(
        &s,
        &[
            ("APCA_TLS_ROOTS", "bundled"),
            ("APCA_CA_BUNDLE", &ca),
            ("SSL_CERT_FILE", "/nonexistent/ca.pem"),
        ],
    );
    assert_token(&s, &out, "bundled, broken SSL_CERT_FILE");
    assert_eq!(s.mock.token_requests(), 2);
}

#[test]
fn unusable_trust_variables_are_errors_naming_them_and_not_the_content() {
    let s = setup();
    let canary = file_with("canary.pem", "CANARY-secret-text\n");
    let empty_dir = common::util::scratch_dir("tls-empty").display().to_string();
    for (name, value) in [
        ("APCA_CA_BUNDLE", canary.as_str()),
        ("APCA_CA_BUNDLE", "/nonexistent/ca.pem"),
        ("SSL_CERT_FILE", canary.as_str()),
        ("SSL_CERT_FILE", "/nonexistent/ca.pem"),
        ("SSL_CERT_DIR", "/nonexistent/certs"),
        ("SSL_CERT_DIR", empty_dir.as_str()),
        ("APCA_TLS_ROOTS", "system"),
    ] {
        let out = token_cli(&s, &[(name, value)]);
        let printed = common::cli::printed(&out);
        assert_eq!(out.status.code(), Some(1), "{name}={value}: {printed}");
        assert!(printed.contains(name), "{name}={value}: {printed}");
        assert!(
            !printed.contains("CANARY-secret"),
            "{name}={value}: {printed}"
        );
    }
    assert_eq!(s.mock.token_requests(), 0);
}

/// Set in the copy of this test binary that
/// `the_openssl_variables_apply_to_a_client_built_in_code` runs.
const CHILD: &str = "ALPACA_AUTH_TLS_TEST_CHILD_URL";

/// The OpenSSL variables apply whatever way a client is built (here with
/// `ClientBuilder`, not from the `APCA_*` variables), unless its roots are
/// `Bundled`. The client runs in a copy of this test binary, so that no
/// variable of this process changes while other tests run.
#[test]
fn the_openssl_variables_apply_to_a_client_built_in_code() {
    if let Ok(url) = std::env::var(CHILD) {
        let mut builder = builder_for(&url)
            .proxy(ProxySetting::Disabled)
            .credentials(secret_credentials());
        if std::env::var("CHILD_ROOTS").is_ok_and(|r| r == "bundled") {
            builder = builder.tls_roots(alpaca_auth::TlsRoots::Bundled);
        }
        let token = builder
            .build()
            .and_then(|client| client.access_token())
            .unwrap_or_else(|e| panic!("child: {e}"));
        println!("child token: {}", token.expose_secret());
        return;
    }
    let s = setup();
    let ca = file_with("ca.pem", &s.ca_pem);
    let url = s.front.token_url("localhost");
    let child = |env: &[(&str, &str)]| {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "the_openssl_variables_apply_to_a_client_built_in_code",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, &url)
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .envs(env.iter().copied())
            .output()
            .expect("the test binary runs")
    };
    let out = child(&[("SSL_CERT_FILE", &ca)]);
    let printed = common::cli::printed(&out);
    assert!(out.status.success(), "{printed}");
    let token = printed
        .split_once("child token: ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no token: {printed}"));
    assert!(s.mock.is_token_valid(token));
    for env in [
        &[][..],
        &[("SSL_CERT_FILE", ca.as_str()), ("CHILD_ROOTS", "bundled")][..],
    ] {
        let out = child(env);
        assert_untrusted(&out, &format!("{env:?}"));
    }
    assert_eq!(s.mock.token_requests(), 1);
}

#[test]
fn platform_roots_need_their_feature_and_take_no_added_bundle() {
    let s = setup();
    let ca = file_with("ca.pem", &s.ca_pem);
    let platform = ("APCA_TLS_ROOTS", "platform");
    let out = token_cli(&s, &[platform, ("APCA_CA_BUNDLE", &ca)]);
    let printed = common::cli::printed(&out);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert!(printed.contains("platform"), "{printed}");
    if cfg!(feature = "platform-verifier") {
        if cfg!(target_os = "linux") {
            // On Linux the platform's verifier reads the system's CA files,
            // or SSL_CERT_FILE in their place.
            let out = token_cli(&s, &[platform, ("SSL_CERT_FILE", &ca)]);
            assert_token(&s, &out, "platform with SSL_CERT_FILE");
            assert_eq!(s.mock.token_requests(), 1);
        }
        assert!(!token_cli(&s, &[platform]).status.success());
    } else {
        let out = token_cli(&s, &[platform, ("SSL_CERT_FILE", &ca)]);
        let printed = common::cli::printed(&out);
        assert_eq!(out.status.code(), Some(1), "{printed}");
        assert!(printed.contains("platform-verifier feature"), "{printed}");
        assert_eq!(s.mock.token_requests(), 0);
    }
}

#[test]
fn a_ca_bundle_file_is_trusted_from_code_and_a_missing_one_is_a_config_error() {
    let s = setup();
    let ca = file_with("ca.pem", &s.ca_pem);
    let builder = || {
        builder_for(&s.front.token_url("localhost"))
            .proxy(ProxySetting::Disabled)
            .tls_roots(alpaca_auth::TlsRoots::Bundled)
            .credentials(secret_credentials())
    };
    let token = builder()
        .add_ca_bundle_file(&ca)
        .build()
        .and_then(|client| client.access_token())
        .unwrap();
    assert!(s.mock.is_token_valid(token.expose_secret()));
    let err = builder()
        .add_ca_bundle_file("/nonexistent/ca.pem")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.message().contains("/nonexistent/ca.pem"), "{err}");
    assert_eq!(s.mock.token_requests(), 1);
}
