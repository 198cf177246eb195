//! What the token endpoint grants, and the token the cache hands out.
//!
//! * [`Grant`]: what the server said, parsed from its success response
//!   ([`parse_token_response`]): the token, its lifetime (the `expires_in`
//!   rule below), its type and scope, and when the request was sent. No
//!   timing policy: parsing knows nothing of refresh-ahead or margins.
//! * [`AccessToken`]: a grant installed by a cache, with the [`Schedule`]
//!   its refresh policy gave it then (`crate::policy`), once.

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
use crate::secret::SecretString;

/// The longest `expires_in` string read as a number (a number written out
/// with more digits than this is refused as malformed).
const MAX_EXPIRES_IN_STRING_LEN: usize = 64;

const BEARER_PREFIX: &[u8] = b"Bearer ";
const AUTHORIZATION_PREFIX: &[u8] = b"Authorization: ";

/// An OAuth2 access token with its expiry and its schedule. Cheap to clone
/// (shared).
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

/// The grant and, next to it, the schedule it was installed with.
struct TokenInner {
    grant: Grant,
    schedule: Schedule,
}

/// What the token endpoint granted, as it said it (after the `expires_in`
/// rule): a value, no timing policy. A cache installs it as an
/// [`AccessToken`] with a [`Schedule`].
#[derive(Clone)]
pub(crate) struct Grant {
    /// Tells one grant from another (see [`AccessToken::same_token`]).
    serial: u64,
    value: SecretString,
    /// `Authorization: Bearer <token>`; `header` shares its bytes.
    line: Bytes,
    header: HeaderValue,
    lifetime: Duration,
    /// When the request that obtained it was sent.
    sent_at: Instant,
    /// `token_type` as the server wrote it (a Bearer type, in some case).
    token_type: Option<String>,
    scope: Option<String>,
}

/// When the holder of a token refreshes it and stops handing it out: what
/// a cache's refresh policy decides when it installs a [`Grant`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// From then on, the token is due for refresh.
    pub(crate) refresh_at: Instant,
    /// From then on, callers stop leaving the refresh to a background
    /// refresher and start one themselves.
    pub(crate) refresher_overdue_at: Instant,
    /// The token is handed out until then: its expiry less the expiry
    /// margin.
    pub(crate) usable_until: Instant,
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

impl Grant {
    /// A grant of `value` for `lifetime`, by a request sent at `sent_at`.
    /// Refuses a value that is not a usable bearer token.
    pub(crate) fn new(
        value: String,
        lifetime: Duration,
        sent_at: Instant,
        token_type: Option<String>,
        scope: Option<String>,
    ) -> Result<Self> {
        let value = SecretString::new(value);
        validate_token_value(value.expose_secret())?;
        let (line, header) = bearer_line(value.expose_secret().as_bytes())
            .ok_or_else(|| Error::malformed("access_token is not a valid header value"))?;
        static SERIAL: AtomicU64 = AtomicU64::new(1);
        Ok(Grant {
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
            value,
            line,
            header,
            lifetime,
            sent_at,
            token_type,
            scope,
        })
    }

    /// The token itself.
    pub(crate) fn expose_secret(&self) -> &str {
        self.value.expose_secret()
    }

    /// The lifetime granted (after the `expires_in` rule).
    pub(crate) fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// When the request that obtained the grant was sent.
    pub(crate) fn sent_at(&self) -> Instant {
        self.sent_at
    }

    /// When the token expires: `sent_at + lifetime`.
    pub(crate) fn expires_at(&self) -> Instant {
        self.sent_at + self.lifetime
    }

    /// Time left before expiry (zero once expired).
    pub(crate) fn remaining(&self) -> Duration {
        self.expires_at().saturating_duration_since(Instant::now())
    }
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("value", &"[redacted]")
            .field("lifetime", &self.lifetime)
            .field("scope_len", &self.scope.as_ref().map(String::len))
            .finish_non_exhaustive()
    }
}

impl AccessToken {
    /// `grant` as installed by a cache with `schedule`, which its refresh
    /// policy gave it (the refresh time never after the usable end, that
    /// never after the expiry).
    pub(crate) fn new(grant: Grant, schedule: Schedule) -> AccessToken {
        debug_assert!(schedule.refresh_at <= schedule.usable_until);
        debug_assert!(schedule.usable_until <= grant.expires_at());
        AccessToken {
            inner: Arc::new(TokenInner { grant, schedule }),
        }
    }

    /// The token itself. Every use of it is a place to review.
    pub fn expose_secret(&self) -> &str {
        self.inner.grant.value.expose_secret()
    }

    /// The `Authorization` header value, `Bearer <token>`, marked sensitive.
    pub fn authorization(&self) -> &HeaderValue {
        &self.inner.grant.header
    }

    /// The whole header line, `Authorization: Bearer <token>`.
    pub(crate) fn authorization_line(&self) -> &[u8] {
        &self.inner.grant.line
    }

    /// The lifetime the server granted (after the `expires_in` rule).
    pub fn lifetime(&self) -> Duration {
        self.inner.grant.lifetime
    }

    /// When the token expires, on the monotonic clock.
    pub fn expires_at(&self) -> Instant {
        self.inner.grant.expires_at()
    }

    /// When the cache starts refreshing it ahead of expiry.
    pub fn refresh_at(&self) -> Instant {
        self.inner.schedule.refresh_at
    }

    /// When callers stop leaving the refresh to a background refresher.
    pub(crate) fn refresher_overdue_at(&self) -> Instant {
        self.inner.schedule.refresher_overdue_at
    }

    /// Time left before expiry (zero once expired).
    pub fn remaining(&self) -> Duration {
        self.inner.grant.remaining()
    }

    /// Until when the token is handed out: its expiry less the expiry
    /// margin, `min(`[`EXPIRY_MARGIN_MAX`](crate::limits::EXPIRY_MARGIN_MAX)`, `[`EXPIRY_MARGIN_FRACTION`](crate::limits::EXPIRY_MARGIN_FRACTION)` ×
    /// lifetime)`.
    pub fn usable_until(&self) -> Instant {
        self.inner.schedule.usable_until
    }

    /// Usable time left: until [`usable_until`](Self::usable_until), zero
    /// after.
    pub fn usable_remaining(&self) -> Duration {
        self.usable_until()
            .saturating_duration_since(Instant::now())
    }

    /// Whether the token may still be used at `now`: before its expiry less
    /// the expiry margin (see [`usable_until`](Self::usable_until)).
    pub fn is_valid_at(&self, now: Instant) -> bool {
        now < self.inner.schedule.usable_until
    }

    /// The scope the server granted, if it said.
    pub fn scope(&self) -> Option<&str> {
        self.inner.grant.scope.as_deref()
    }

    /// The token type the server named, as it wrote it, if it named one:
    /// always `Bearer` in some letter case (other types are refused).
    pub fn token_type(&self) -> Option<&str> {
        self.inner.grant.token_type.as_deref()
    }

    /// Whether two handles hold the same token (the same grant from the
    /// token endpoint, whichever thread's copy each is).
    pub fn same_token(&self, other: &AccessToken) -> bool {
        self.inner.grant.serial == other.inner.grant.serial
    }

    /// Whether `presented` is this token: the bare token, `Bearer <token>`,
    /// or the whole `Authorization: Bearer <token>` header line (surrounding
    /// whitespace and a trailing CRLF ignored). The token bytes are compared
    /// in constant time.
    pub fn matches_presented(&self, presented: &str) -> bool {
        let token = bare_token(presented);
        crate::secret::constant_time_eq(self.expose_secret().as_bytes(), token.as_bytes())
    }

    /// A copy with its own memory (reference count and header bytes), for
    /// a thread-local replica. `None` only if the header cannot be rebuilt.
    pub(crate) fn replicate(&self) -> Option<AccessToken> {
        let grant = &self.inner.grant;
        let (line, header) = bearer_line(grant.value.expose_secret().as_bytes())?;
        Some(AccessToken {
            inner: Arc::new(TokenInner {
                grant: Grant {
                    line,
                    header,
                    ..grant.clone()
                },
                schedule: self.inner.schedule,
            }),
        })
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"[redacted]")
            .field("lifetime", &self.lifetime())
            .field("remaining", &self.remaining())
            // The server chose the scope: only its length is shown.
            .field("scope_len", &self.scope().map(str::len))
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

/// Parses a token endpoint success body to what the server granted, for
/// a request sent at `sent_at`. Error messages never quote the body; the
/// one server value they name (`token_type`) passes through
/// [`crate::redact::quote`] with the request's `secrets`.
pub(crate) fn parse_token_response(
    body: &[u8],
    sent_at: Instant,
    secrets: &[&str],
) -> Result<Grant> {
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
    let token_type = match parsed.token_type {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(t)) if t.eq_ignore_ascii_case("bearer") => Some(t),
        Some(serde_json::Value::String(t)) => {
            let shown = match crate::redact::quote(&t, TOKEN_TYPE_ECHO_CHARS, secrets) {
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
    };
    let lifetime = lifetime_from(parsed.expires_in.as_ref())?;
    let scope = match parsed.scope {
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    };
    Grant::new(token, lifetime, sent_at, token_type, scope)
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

    /// `grant` installed with a schedule of no refresh ahead and no margin.
    fn installed(grant: Grant) -> AccessToken {
        let end = grant.expires_at();
        let schedule = Schedule {
            refresh_at: end,
            refresher_overdue_at: end,
            usable_until: end,
        };
        AccessToken::new(grant, schedule)
    }

    #[test]
    fn a_grant_is_what_the_server_said_and_nothing_more() {
        let sent = Instant::now() - Duration::from_secs(5);
        let body = br#"{"access_token":"t","expires_in":899,"token_type":"bearer","scope":"a b"}"#;
        let grant = parse_token_response(body, sent, &[]).unwrap();
        assert_eq!(grant.lifetime(), Duration::from_secs(899));
        assert_eq!(grant.sent_at(), sent);
        assert_eq!(grant.expires_at(), sent + Duration::from_secs(899));
        let token = installed(grant);
        assert_eq!(token.token_type(), Some("bearer"));
        assert_eq!(token.scope(), Some("a b"));
        // Installed, it keeps the schedule it was given, whatever it is.
        assert_eq!(token.refresh_at(), token.expires_at());
        assert_eq!(token.usable_until(), token.expires_at());
        let bare = parse_token_response(br#"{"access_token":"t"}"#, sent, &[]).unwrap();
        assert_eq!(bare.lifetime(), ASSUMED_LIFETIME);
        let bare = installed(bare);
        assert_eq!((bare.token_type(), bare.scope()), (None, None));
    }

    #[test]
    fn a_replica_is_the_same_token_with_the_same_schedule() {
        let grant = parse_token_response(
            br#"{"access_token":"r","expires_in":60}"#,
            Instant::now(),
            &[],
        )
        .unwrap();
        let token = installed(grant);
        let copy = token.replicate().unwrap();
        assert!(copy.same_token(&token));
        assert_eq!(copy.refresh_at(), token.refresh_at());
        assert_eq!(copy.usable_until(), token.usable_until());
        assert_eq!(copy.authorization_line(), token.authorization_line());
        assert_ne!(
            copy.authorization_line().as_ptr(),
            token.authorization_line().as_ptr()
        );
    }

    #[test]
    fn a_presented_token_matches_in_every_form_it_is_sent() {
        let token = installed(
            parse_token_response(
                br#"{"access_token":"abc.DEF-123","expires_in":600}"#,
                Instant::now(),
                &[],
            )
            .unwrap(),
        );
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
        parse_token_response(body.as_bytes(), Instant::now(), &[]).map(installed)
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
        let body = br#"{"access_token":"tok-VISIBLE-123","expires_in":60}"#;
        let grant = parse_token_response(body, Instant::now(), &[]).unwrap();
        let grant_debug = format!("{grant:?}");
        let t = installed(grant);
        let debug = format!("{grant_debug} {t:?} {:?}", t.authorization());
        assert!(!debug.contains("VISIBLE"), "{debug}");
    }
}
