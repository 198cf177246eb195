//! Entry points for the fuzz targets (`fuzz/`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`): one function per parser, taking raw bytes.
//!
//! Not a stable API. Each function runs the parser on untrusted input and
//! checks the invariants that must hold whatever the input: no panic, a
//! typed error of the expected kind, bounded and control-free server text,
//! echoed secrets redacted. A broken invariant panics, which is what a
//! fuzzer reports.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::cache::install_grant;
use crate::client::ClientBuilder;
use crate::error::{Error, ErrorKind, Result};
use crate::error_body::parse_error_body;
use crate::key::PrivateKey;
use crate::limits::{MAX_ACCESS_TOKEN_LEN, MAX_TOKEN_LIFETIME};
use crate::limits::{MAX_CODE_CHARS, MAX_DESCRIPTION_CHARS, MAX_FIELDS};
use crate::policy::RefreshPolicy;
use crate::retry::parse_retry_after;
use crate::token::parse_token_response;
use crate::url::HttpUrl;

/// The secret the parsers of server responses are given to redact, as a
/// token request's client secret would be.
pub const FUZZ_SECRET: &str = "fuzz-secret";

/// Panics if `text` shows [`FUZZ_SECRET`] in any case, or any invisible or
/// bidirectional format character.
fn assert_no_secret(text: &str, what: &str) {
    assert!(
        !text.to_ascii_lowercase().contains(FUZZ_SECRET),
        "{what}: echoed secret not redacted"
    );
    assert!(
        !text.chars().any(crate::redact::is_hidden_char),
        "{what}: hidden character in server text"
    );
}

fn expect_kind(error: &Error, kinds: &[ErrorKind], what: &str) {
    assert!(
        kinds.contains(&error.kind()),
        "{what}: unexpected error kind {:?}",
        error.kind()
    );
    assert!(!error.message().is_empty(), "{what}: empty error message");
}

/// `PrivateKey::from_bytes` (PEM or DER): a key, or an `InvalidKey` /
/// `Config` error. A key that loads must sign.
pub fn private_key(data: &[u8]) -> Result<()> {
    match PrivateKey::from_bytes(data) {
        Ok(key) => {
            let signature = key.sign(b"fuzz")?;
            assert_eq!(signature.len(), key.signature_len(), "signature length");
            Ok(())
        }
        Err(e) => {
            expect_kind(&e, &[ErrorKind::InvalidKey, ErrorKind::Config], "key");
            Err(e)
        }
    }
}

/// The token endpoint's success body: a token within the documented bounds,
/// or a `MalformedResponse` error.
pub fn token_response(data: &[u8]) -> Result<()> {
    match parse_token_response(data, Instant::now(), &[FUZZ_SECRET]) {
        Ok(grant) => {
            let token = install_grant(&RefreshPolicy::default(), grant);
            let value = token.expose_secret();
            assert!(!value.is_empty() && value.len() <= MAX_ACCESS_TOKEN_LEN);
            assert!(value.bytes().all(|b| b.is_ascii_graphic()));
            assert_eq!(
                token.authorization().as_bytes(),
                format!("Bearer {value}").as_bytes()
            );
            assert!(token.authorization().is_sensitive());
            let lifetime = token.lifetime();
            assert!(lifetime.as_secs() >= 1 && lifetime <= MAX_TOKEN_LIFETIME);
            assert!(token.refresh_at() <= token.expires_at());
            Ok(())
        }
        Err(e) => {
            expect_kind(&e, &[ErrorKind::MalformedResponse], "token response");
            assert_no_secret(&e.to_string(), "token response error");
            Err(e)
        }
    }
}

/// An error body of the token endpoint: an OAuth error whose text is
/// bounded, free of control characters and of [`FUZZ_SECRET`], or `None`.
pub fn error_body(data: &[u8]) -> Option<crate::error::OAuthError> {
    let oauth = parse_error_body(data, &[FUZZ_SECRET])?;
    let check = |text: &str, max: usize| {
        assert!(text.chars().count() <= max + 3, "unbounded server text");
        assert!(!text.chars().any(char::is_control), "control character");
        assert_no_secret(text, "error body");
    };
    assert!(!oauth.code.is_empty(), "empty error code");
    check(&oauth.code, MAX_CODE_CHARS);
    if let Some(description) = &oauth.description {
        check(description, MAX_DESCRIPTION_CHARS);
    }
    assert!(oauth.fields.len() <= MAX_FIELDS);
    for field in &oauth.fields {
        check(field, MAX_CODE_CHARS);
    }
    let error = Error::new(ErrorKind::OAuth, "token endpoint refused the request")
        .with_status(400)
        .with_oauth(oauth.clone());
    assert_no_secret(&error.to_string(), "Display");
    assert!(
        !format!("{error:?}")
            .to_ascii_lowercase()
            .contains(FUZZ_SECRET),
        "echoed secret in Debug"
    );
    Some(oauth)
}

/// A URL as the builder takes it (`https://`, or `http://` to loopback),
/// both as an endpoint and as a base URL. Valid UTF-8 only; other input is
/// a `Config` error, as the environment reader reports it.
pub fn url(data: &[u8]) -> Result<()> {
    let text = std::str::from_utf8(data).map_err(|_| Error::config("URL is not valid UTF-8"))?;
    let parsed = HttpUrl::parse(text);
    let base = HttpUrl::parse_base(text);
    assert_eq!(
        parsed.is_ok(),
        base.is_ok(),
        "parse and parse_base disagree"
    );
    match parsed {
        Ok(url) => {
            assert!(!url.host().is_empty());
            assert!(url.as_str().starts_with("https://") || url.as_str().starts_with("http://"));
            assert!(url.as_str().contains(url.host()));
            assert!(url.as_str().len() <= crate::limits::MAX_URL_LEN);
            let base = base?;
            assert_eq!(base.host(), url.host());
            assert!(url.as_str().starts_with(base.as_str()));
            Ok(())
        }
        Err(e) => {
            expect_kind(&e, &[ErrorKind::Config], "url");
            Err(e)
        }
    }
}

/// `Retry-After` (delta-seconds or an IMF-fixdate), against a fixed clock.
pub fn retry_after(data: &[u8]) -> Option<std::time::Duration> {
    let text = std::str::from_utf8(data).ok()?;
    let now = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let wait = parse_retry_after(text, now);
    let _ = parse_retry_after(text, SystemTime::now());
    wait
}

/// Environment configuration: `NAME=VALUE` lines (a `\` at the end of a
/// line continues the value on the next, for PEM text) read as the
/// environment, then the client built (no request is sent). The result is a
/// client or a `Config` / `InvalidKey` error.
///
/// `APCA_PRIVATE_KEY_PATH` is dropped: the fuzzer must not read the files
/// of the machine it runs on.
pub fn env_config(data: &[u8]) -> Result<()> {
    let text = String::from_utf8_lossy(data);
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let mut value = value.to_owned();
        while value.ends_with('\\') {
            value.pop();
            value.push('\n');
            match lines.next() {
                Some(next) => value.push_str(next),
                None => break,
            }
        }
        let name = name.trim();
        if name == "APCA_PRIVATE_KEY_PATH" {
            continue;
        }
        vars.push((name.to_owned(), value));
    }
    let lookup = |name: &str| -> Result<Option<String>> {
        Ok(vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone()))
    };
    let outcome = ClientBuilder::default()
        .proxy(crate::transport::ProxySetting::Disabled)
        .from_env_with(&lookup)
        .and_then(ClientBuilder::build);
    match outcome {
        Ok(client) => {
            let endpoints = client.endpoints();
            for url in [endpoints.api_base(), endpoints.data_base()] {
                assert!(url.starts_with("https://") || url.starts_with("http://"));
            }
            Ok(())
        }
        Err(e) => {
            expect_kind(&e, &[ErrorKind::Config, ErrorKind::InvalidKey], "env");
            Err(e)
        }
    }
}
