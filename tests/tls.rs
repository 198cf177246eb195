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
        assert_eq!(client.stats().token_http_requests, 1, "{host}");
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
    assert_eq!(client.stats().token_http_requests, 1);
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
        assert_eq!(client.stats().token_http_requests, 1, "{host}");
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
