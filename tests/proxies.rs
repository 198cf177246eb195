//! Proxies: never for a plain `http://` token request, never silently
//! skipped when set but unusable, never printed. Every proxy here is a
//! loopback listener, and the refusals happen before any connection.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use alpaca_auth::mock::MOCK_CLIENT_SECRET;
use alpaca_auth::{ErrorKind, ProxySetting, SecretString};

/// A loopback listener standing in for a proxy; counts connections.
fn loopback_proxy() -> (String, Arc<AtomicUsize>) {
    let (addr, count) = common::http::counting_listener(b"");
    (format!("http://user:CANARYpw@{addr}"), count)
}

#[test]
fn an_explicit_proxy_with_a_plain_http_token_url_is_refused_at_build() {
    let mock = common::mock();
    let (proxy, connections) = loopback_proxy();
    let err = common::secret_builder(&mock)
        .proxy(ProxySetting::Url(SecretString::new(proxy)))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.message().contains("http://"), "{err}");
    assert!(!format!("{err} {err:?}").contains("CANARYpw"));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[test]
fn unsupported_or_unparsable_proxy_urls_are_refused_at_build() {
    for url in [
        "socks5://user:CANARYpw@127.0.0.1:1080",
        "socks5h://127.0.0.1:1080",
        "socks4://127.0.0.1:1080",
        "socks://127.0.0.1:1080",
        "ftp://127.0.0.1:21",
        "gopher://127.0.0.1:70",
        "http://[::1",
        "http://user:CANARYpw@",
    ] {
        let err = common::builder_for("https://127.0.0.1:1/v1/oauth2/token")
            .credentials(common::secret_credentials())
            .proxy(ProxySetting::Url(SecretString::new(url)))
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err}");
        assert!(!format!("{err} {err:?}").contains("CANARYpw"), "{err}");
    }
}

/// The environment path, through the CLI (its own process environment):
/// an unusable proxy variable stops the request with an error naming the
/// variable, even for a loopback token URL that would not use it.
#[test]
fn unusable_proxy_variables_are_config_errors_naming_them() {
    let mock = common::mock();
    let token_url = mock.token_url();
    for (name, value) in [
        ("HTTPS_PROXY", "socks5://user:CANARYpw@127.0.0.1:1080"),
        ("ALL_PROXY", "socks4://127.0.0.1:1080"),
        ("https_proxy", "ftp://127.0.0.1:21"),
        ("all_proxy", "http://[::1"),
    ] {
        let mut env = common::secret_client_env(&token_url, MOCK_CLIENT_SECRET).to_vec();
        env.push((name, value));
        let out = common::cli::run(&["token"], &env);
        let text = common::cli::printed(&out);
        assert!(!out.status.success(), "{name}={value} was ignored");
        assert!(text.contains(name), "{name}: {text}");
        assert!(!text.contains("CANARYpw"), "{text}");
        assert!(!text.contains("panicked"), "{text}");
    }
    assert!(mock.token_request_log().is_empty(), "a request went direct");
}
