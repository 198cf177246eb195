//! [`AccessToken`]: a bearer token, its expiry, and the parsing of the token
//! endpoint's success response.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Deserialize;
use ureq::http::HeaderValue;
use zeroize::Zeroize;

use crate::error::{Error, ErrorKind, Result};
use crate::limits::TOKEN_TYPE_ECHO_CHARS;
use crate::limits::{ASSUMED_LIFETIME, MAX_ACCESS_TOKEN_LEN, MAX_TOKEN_LIFETIME};
use crate::policy::expiry_margin;
use crate::secret::SecretString;

/// The longest `expires_in` string read as a number (a number written out
/// with more digits than this is refused as malformed).
const MAX_EXPIRES_IN_STRING_LEN: usize = 64;

const BEARER_PREFIX: &[u8] = b"Bearer ";
const AUTHORIZATION_PREFIX: &[u8] = b"Authorization: ";

/// An OAuth2 access token with its expiry. Cheap to clone (shared).
///
/// `Debug` never shows the token; the value is reachable only through
/// [`expose_secret`](AccessToken::expose_secret). The memory holding it is
/// zeroized when the last clone is dropped.
///
/// # The `expires_in` rule
///
/// | `expires_in` in the response        | lifetime used                               |
/// |-------------------------------------|---------------------------------------------|
/// | a positive integer                  | that many seconds                           |
/// | a positive fraction                 | rounded down, at least one second           |
/// | a string of either                  | the same as the number                      |
/// | missing or `null`                   | [`ASSUMED_LIFETIME`] (conservative)         |
/// | more than [`MAX_TOKEN_LIFETIME`]    | clamped to [`MAX_TOKEN_LIFETIME`]           |
/// | zero, negative, non-numeric, other  | refused: [`ErrorKind::MalformedResponse`]   |
///
/// The lifetime counts from the moment the request was *sent*, on the
/// monotonic clock, so network time only makes the token expire early.
#[derive(Clone)]
pub struct AccessToken {
    inner: Arc<TokenInner>,
}

struct TokenInner {
    serial: u64,
    value: SecretString,
    /// `Authorization: Bearer <token>`; `header` shares its bytes.
    line: Bytes,
    header: HeaderValue,
    lifetime: Duration,
    refresh_at: Instant,
    /// `expires_at` less the expiry margin: handed out until then.
    usable_until: Instant,
    expires_at: Instant,
    scope: Option<String>,
}

/// A buffer that zeroizes itself when the last `Bytes` sharing it drops.
struct ZeroizingBuf(Vec<u8>);

impl AsRef<[u8]> for ZeroizingBuf {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for ZeroizingBuf {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The `Authorization: Bearer <token>` line and the header value that
/// shares its bytes (zeroized when the last user drops).
fn bearer_line(token: &[u8]) -> Option<(Bytes, HeaderValue)> {
    let mut line =
        Vec::with_capacity(AUTHORIZATION_PREFIX.len() + BEARER_PREFIX.len() + token.len());
    line.extend_from_slice(AUTHORIZATION_PREFIX);
    line.extend_from_slice(BEARER_PREFIX);
    line.extend_from_slice(token);
    let line = Bytes::from_owner(ZeroizingBuf(line));
    let mut header =
        HeaderValue::from_maybe_shared(line.slice(AUTHORIZATION_PREFIX.len()..)).ok()?;
    header.set_sensitive(true);
    Some((line, header))
}

/// Builds a sensitive header value whose bytes are zeroized on drop.
pub(crate) fn sensitive_header(bytes: Vec<u8>) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_maybe_shared(Bytes::from_owner(ZeroizingBuf(bytes)))
        .map_err(|_| {
            Error::config("credential contains characters not allowed in an HTTP header")
        })?;
    value.set_sensitive(true);
    Ok(value)
}

impl AccessToken {
    /// Wraps a token value obtained at `sent_at` with the given lifetime.
    /// Its refresh time is its usable end until a cache installs it.
    pub(crate) fn new(
        value: String,
        lifetime: Duration,
        scope: Option<String>,
        sent_at: Instant,
    ) -> Result<Self> {
        let value = SecretString::new(value);
        validate_token_value(value.expose_secret())?;
        let (line, header) = bearer_line(value.expose_secret().as_bytes())
            .ok_or_else(|| Error::malformed("access_token is not a valid header value"))?;
        let expires_at = sent_at + lifetime;
        let usable_until = expires_at - expiry_margin(lifetime);
        static SERIAL: AtomicU64 = AtomicU64::new(1);
        Ok(AccessToken {
            inner: Arc::new(TokenInner {
                serial: SERIAL.fetch_add(1, Ordering::Relaxed),
                value,
                line,
                header,
                lifetime,
                // No refresh ahead until the cache installs the token with
                // its refresh policy (`RefreshPolicy::apply`).
                refresh_at: usable_until,
                usable_until,
                expires_at,
                scope,
            }),
        })
    }

    /// The token itself. Every use of it is a place to review.
    pub fn expose_secret(&self) -> &str {
        self.inner.value.expose_secret()
    }

    /// The `Authorization` header value, `Bearer <token>`, marked sensitive.
    pub fn authorization(&self) -> &HeaderValue {
        &self.inner.header
    }

    /// The whole header line, `Authorization: Bearer <token>`.
    pub(crate) fn authorization_line(&self) -> &[u8] {
        &self.inner.line
    }

    /// The lifetime the server granted (after the `expires_in` rule).
    pub fn lifetime(&self) -> Duration {
        self.inner.lifetime
    }

    /// When the token expires, on the monotonic clock.
    pub fn expires_at(&self) -> Instant {
        self.inner.expires_at
    }

    /// When the cache starts refreshing it ahead of expiry.
    pub fn refresh_at(&self) -> Instant {
        self.inner.refresh_at
    }

    /// Time left before expiry (zero once expired).
    pub fn remaining(&self) -> Duration {
        self.inner
            .expires_at
            .saturating_duration_since(Instant::now())
    }

    /// Until when the token is handed out: its expiry less the expiry
    /// margin, `min(`[`EXPIRY_MARGIN_MAX`](crate::limits::EXPIRY_MARGIN_MAX)`, `[`EXPIRY_MARGIN_FRACTION`](crate::limits::EXPIRY_MARGIN_FRACTION)` ×
    /// lifetime)`.
    pub fn usable_until(&self) -> Instant {
        self.inner.usable_until
    }

    /// Usable time left: until [`usable_until`](Self::usable_until), zero
    /// after.
    pub fn usable_remaining(&self) -> Duration {
        self.inner
            .usable_until
            .saturating_duration_since(Instant::now())
    }

    /// Whether the token may still be used at `now`: before its expiry less
    /// the expiry margin (see [`usable_until`](Self::usable_until)).
    pub fn is_valid_at(&self, now: Instant) -> bool {
        now < self.inner.usable_until
    }

    /// The scope the server granted, if it said.
    pub fn scope(&self) -> Option<&str> {
        self.inner.scope.as_deref()
    }

    /// Whether two handles hold the same token (the same grant from the
    /// token endpoint, whichever thread's copy each is).
    pub fn same_token(&self, other: &AccessToken) -> bool {
        self.inner.serial == other.inner.serial
    }

    /// Whether `presented` is this token: the bare token, `Bearer <token>`,
    /// or the whole `Authorization: Bearer <token>` header line (surrounding
    /// whitespace and a trailing CRLF ignored). The token bytes are compared
    /// in constant time.
    pub fn matches_presented(&self, presented: &str) -> bool {
        let token = bare_token(presented);
        let mine = self.expose_secret().as_bytes();
        mine.len() == token.len()
            && std::hint::black_box(
                mine.iter()
                    .zip(token.as_bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b)),
            ) == 0
    }

    /// The same token, refreshed from `refresh_at` on (never later than its
    /// usable end). In place when this is the only handle to it.
    pub(crate) fn with_refresh_at(mut self, refresh_at: Instant) -> AccessToken {
        let refresh_at = refresh_at.min(self.inner.usable_until);
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.refresh_at = refresh_at,
            None => {
                let inner = &self.inner;
                self.inner = Arc::new(TokenInner {
                    serial: inner.serial,
                    value: inner.value.clone(),
                    line: inner.line.clone(),
                    header: inner.header.clone(),
                    lifetime: inner.lifetime,
                    refresh_at,
                    usable_until: inner.usable_until,
                    expires_at: inner.expires_at,
                    scope: inner.scope.clone(),
                });
            }
        }
        self
    }

    /// A copy with its own memory (reference count and header bytes), for
    /// a thread-local replica. `None` only if the header cannot be rebuilt.
    pub(crate) fn replicate(&self) -> Option<AccessToken> {
        let inner = &self.inner;
        let (line, header) = bearer_line(inner.value.expose_secret().as_bytes())?;
        Some(AccessToken {
            inner: Arc::new(TokenInner {
                serial: inner.serial,
                value: inner.value.clone(),
                line,
                header,
                lifetime: inner.lifetime,
                refresh_at: inner.refresh_at,
                usable_until: inner.usable_until,
                expires_at: inner.expires_at,
                scope: inner.scope.clone(),
            }),
        })
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"[redacted]")
            .field("lifetime", &self.inner.lifetime)
            .field("remaining", &self.remaining())
            // The server chose the scope: only its length is shown.
            .field(
                "scope_len",
                &self.inner.scope.as_ref().map(|scope| scope.len()),
            )
            .finish()
    }
}

fn validate_token_value(value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::malformed("access_token is empty"));
    }
    if value.len() > MAX_ACCESS_TOKEN_LEN {
        return Err(Error::malformed(format!(
            "access_token is {} bytes, more than the limit of {MAX_ACCESS_TOKEN_LEN}",
            value.len()
        )));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::malformed(
            "access_token contains characters other than printable ASCII",
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
struct TokenResponseBody {
    access_token: Option<serde_json::Value>,
    token_type: Option<serde_json::Value>,
    expires_in: Option<serde_json::Value>,
    scope: Option<serde_json::Value>,
}

/// The token of a bare token, a `Bearer <token>` value or an
/// `Authorization: Bearer <token>` line (names matched case-insensitively).
pub(crate) fn bare_token(presented: &str) -> &str {
    fn strip_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
        let head = s.get(..prefix.len())?;
        head.eq_ignore_ascii_case(prefix)
            .then(|| &s[prefix.len()..])
    }
    let mut s = presented.trim();
    if let Some(rest) = strip_ci(s, "authorization:") {
        s = rest.trim_start();
    }
    if let Some(rest) = strip_ci(s, "bearer ") {
        s = rest.trim_start();
    }
    s
}

/// Parses a token endpoint success body. Error messages never quote the
/// body; the one server value they name (`token_type`) passes through
/// [`crate::redact::quote`] with the request's `secrets`.
pub(crate) fn parse_token_response(
    body: &[u8],
    sent_at: Instant,
    secrets: &[&str],
) -> Result<AccessToken> {
    let parsed: TokenResponseBody = serde_json::from_slice(body).map_err(|e| {
        // serde_json's message can quote the input: report only the position.
        Error::malformed(format!(
            "token response is not the expected JSON object (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let token = match parsed.access_token {
        Some(serde_json::Value::String(s)) => s,
        Some(_) => {
            return Err(Error::malformed(
                "access_token in the token response is not a string",
            ))
        }
        None => return Err(Error::malformed("token response has no access_token")),
    };
    match &parsed.token_type {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::String(t)) if t.eq_ignore_ascii_case("bearer") => {}
        Some(serde_json::Value::String(t)) => {
            let shown = match crate::redact::quote(t, TOKEN_TYPE_ECHO_CHARS, secrets) {
                Some(t) => format!("{t:?}"),
                None => crate::redact::WITHHELD.to_owned(),
            };
            return Err(Error::malformed(format!(
                "token_type is {shown}, but only Bearer tokens are supported"
            )));
        }
        Some(_) => {
            return Err(Error::malformed(
                "token_type in the token response is not a string",
            ))
        }
    }
    let lifetime = lifetime_from(parsed.expires_in.as_ref())?;
    let scope = match parsed.scope {
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    };
    AccessToken::new(token, lifetime, scope, sent_at)
}

/// Applies the `expires_in` rule of this module's documentation.
pub(crate) fn lifetime_from(expires_in: Option<&serde_json::Value>) -> Result<Duration> {
    let seconds: f64 = match expires_in {
        None | Some(serde_json::Value::Null) => return Ok(ASSUMED_LIFETIME),
        Some(serde_json::Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| Error::malformed("expires_in is not a usable number"))?,
        // A string goes through the same rules as a number ("899.7", a huge
        // value), written as an unsigned decimal: digits, a fraction, an
        // exponent; no sign ("+5" and "-5" are refused), no hex, NaN or inf.
        Some(serde_json::Value::String(s)) => {
            let text = s.trim();
            let unsigned_decimal = !text.is_empty()
                && text.len() <= MAX_EXPIRES_IN_STRING_LEN
                && text.as_bytes()[0].is_ascii_digit()
                && text
                    .bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
            let value = if unsigned_decimal {
                text.parse::<f64>().ok()
            } else {
                None
            };
            value.filter(|v| v.is_finite()).ok_or_else(|| {
                Error::malformed("expires_in is a string that is not a number of seconds")
            })?
        }
        Some(_) => {
            return Err(Error::malformed(
                "expires_in is neither a number nor a string",
            ))
        }
    };
    if !seconds.is_finite() || seconds < 1.0 {
        return Err(Error::new(
            ErrorKind::MalformedResponse,
            format!("expires_in is {seconds}: the token would already be expired"),
        ));
    }
    let max = MAX_TOKEN_LIFETIME.as_secs() as f64;
    Ok(Duration::from_secs(seconds.min(max).floor() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RefreshPolicy;

    #[test]
    fn tokens_are_not_handed_out_in_their_last_seconds() {
        for (expires_in, margin) in [(899u64, 10u64), (100, 10), (20, 2)] {
            let body = format!(r#"{{"access_token":"t","expires_in":{expires_in}}}"#);
            let token = parse_token_response(body.as_bytes(), Instant::now(), &[]).unwrap();
            let margin = Duration::from_secs(margin);
            assert_eq!(token.expires_at() - token.usable_until(), margin);
            assert!(token.is_valid_at(token.usable_until() - Duration::from_millis(1)));
            assert!(!token.is_valid_at(token.usable_until()));
            assert!(token.refresh_at() <= token.usable_until());
        }
        // Parsed and not yet installed: no refresh ahead.
        let token = parse_token_response(
            br#"{"access_token":"t","expires_in":60}"#,
            Instant::now(),
            &[],
        )
        .unwrap();
        assert_eq!(token.refresh_at(), token.usable_until());
        // Installed with a policy: in place for the only handle, and the
        // same token (serial) when other handles exist.
        let policy = RefreshPolicy::default();
        let other = token.clone();
        let installed = policy.apply(token);
        assert!(installed.refresh_at() < installed.usable_until());
        assert_eq!(other.refresh_at(), other.usable_until());
        assert!(installed.same_token(&other));
        let refreshed = policy.apply(other);
        assert_eq!(refreshed.refresh_at(), installed.refresh_at());
    }

    #[test]
    fn a_presented_token_matches_in_every_form_it_is_sent() {
        let token = parse_token_response(
            br#"{"access_token":"abc.DEF-123","expires_in":600}"#,
            Instant::now(),
            &[],
        )
        .unwrap();
        for form in [
            "abc.DEF-123",
            "Bearer abc.DEF-123",
            "Authorization: Bearer abc.DEF-123",
            "authorization:bearer abc.DEF-123\r\n",
            "  abc.DEF-123 ",
        ] {
            assert!(token.matches_presented(form), "{form:?}");
        }
        for other in [
            "",
            "abc.DEF-12",
            "abc.DEF-1234",
            "Basic abc.DEF-123",
            "ABC.DEF-123",
        ] {
            assert!(!token.matches_presented(other), "{other:?}");
        }
    }
    use serde_json::json;

    fn parse(body: &str) -> Result<AccessToken> {
        parse_token_response(body.as_bytes(), Instant::now(), &[])
    }

    #[test]
    fn alpaca_success_body_parses_into_a_bearer_header() {
        let t =
            parse(r#"{"access_token":"abc.def","expires_in":899,"token_type":"Bearer"}"#).unwrap();
        assert_eq!(t.expose_secret(), "abc.def");
        assert_eq!(t.authorization().to_str().unwrap(), "Bearer abc.def");
        assert!(t.authorization().is_sensitive());
        assert_eq!(t.lifetime(), Duration::from_secs(899));
    }

    #[test]
    fn expires_in_rule_is_applied() {
        let secs = |v: serde_json::Value| lifetime_from(Some(&v)).map(|d| d.as_secs());
        assert_eq!(lifetime_from(None).unwrap(), ASSUMED_LIFETIME);
        assert_eq!(lifetime_from(Some(&json!(null))).unwrap(), ASSUMED_LIFETIME);
        assert_eq!(secs(json!(899)).unwrap(), 899);
        assert_eq!(secs(json!("899")).unwrap(), 899);
        assert_eq!(secs(json!(2.9)).unwrap(), 2);
        assert_eq!(secs(json!(1_000_000_000_000u64)).unwrap(), 86_400);
        // A string follows the same rules as the number it writes.
        assert_eq!(secs(json!("899.7")).unwrap(), 899);
        assert_eq!(secs(json!(899.7)).unwrap(), 899);
        assert_eq!(secs(json!(" 60 ")).unwrap(), 60);
        assert_eq!(secs(json!("1000000000000")).unwrap(), 86_400);
        assert_eq!(
            secs(json!("99999999999999999999999999999999")).unwrap(),
            86_400
        );
        assert_eq!(secs(json!("1e5")).unwrap(), 86_400);
        for bad in [
            json!(0),
            json!(-5),
            json!(0.5),
            json!("0.5"),
            json!("0"),
            json!("soon"),
            json!("-1"),
            json!("NaN"),
            json!("inf"),
            json!("1e999"),
            json!(""),
            json!("0x10"),
            json!("9".repeat(100)),
            json!([1]),
            json!({}),
        ] {
            let err = secs(bad.clone()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::MalformedResponse, "{bad}");
        }
    }

    #[test]
    fn malformed_bodies_are_refused_without_quoting_them() {
        for (body, needle) in [
            ("not json sk-SECRETISH", "not the expected JSON"),
            (r#"{"token_type":"Bearer"}"#, "no access_token"),
            (r#"{"access_token":42}"#, "not a string"),
            (r#"{"access_token":"x y"}"#, "printable ASCII"),
            (r#"{"access_token":""}"#, "empty"),
            (
                r#"{"access_token":"tok","token_type":"mac"}"#,
                "only Bearer",
            ),
            (
                r#"{"access_token":"tok","expires_in":0}"#,
                "already be expired",
            ),
            (
                r#"{"access_token":"SECRETISH","expires_in":"x"}"#,
                "not a number of seconds",
            ),
        ] {
            let err = parse(body).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::MalformedResponse, "{body}");
            assert!(err.to_string().contains(needle), "{body}: {err}");
            assert!(!err.to_string().contains("SECRETISH"), "{err}");
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let t = parse(r#"{"access_token":"tok-VISIBLE-123","expires_in":60}"#).unwrap();
        let debug = format!("{t:?} {:?}", t.authorization());
        assert!(!debug.contains("VISIBLE"), "{debug}");
    }
}
