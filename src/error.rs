//! The one error type of the crate, with a stable [`ErrorKind`] shared with
//! the C ABI.

use std::fmt;
use std::time::Duration;

/// What went wrong, coarsely: the part of an [`Error`] a program branches on.
///
/// Each kind has a stable numeric [`code`](ErrorKind::code) that the C ABI
/// reuses; codes are never renumbered or reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration is incomplete, contradictory or out of bounds
    /// (missing credential, unknown environment, refused `http://` URL, ...).
    Config,
    /// A private key could not be loaded or used.
    InvalidKey,
    /// The connection failed: DNS, connect, proxy or I/O error.
    Transport,
    /// The TLS handshake failed, typically an untrusted or mismatched
    /// certificate.
    Tls,
    /// The time budget of the token acquisition ran out.
    Timeout,
    /// The token endpoint refused the request with an OAuth error code
    /// (`invalid_client`, `invalid_grant`, ...); see [`Error::oauth`].
    OAuth,
    /// The server asked us to slow down (HTTP 429 or `quota_exceeded`) and
    /// retrying would exceed the budget; see [`Error::retry_after`].
    RateLimited,
    /// The server answered, but not with something we can use: not JSON, no
    /// `access_token`, a token type other than `Bearer`, a bad `expires_in`,
    /// or a body larger than the limit.
    MalformedResponse,
    /// The server answered with an HTTP error status (5xx, 404, a redirect,
    /// ...) and no OAuth error body; see [`Error::status`].
    HttpStatus,
    /// A non-blocking call found no valid token cached; a token request
    /// may have been started on a library thread. Try again later, or make
    /// a blocking call.
    WouldBlock,
}

impl ErrorKind {
    /// Every kind, in code order.
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::Config,
        ErrorKind::InvalidKey,
        ErrorKind::Transport,
        ErrorKind::Tls,
        ErrorKind::Timeout,
        ErrorKind::OAuth,
        ErrorKind::RateLimited,
        ErrorKind::MalformedResponse,
        ErrorKind::HttpStatus,
        ErrorKind::WouldBlock,
    ];

    /// The stable numeric code of this kind (the C ABI's result code).
    pub const fn code(self) -> u32 {
        match self {
            ErrorKind::Config => 1,
            ErrorKind::InvalidKey => 2,
            ErrorKind::Transport => 3,
            ErrorKind::Tls => 4,
            ErrorKind::Timeout => 5,
            ErrorKind::OAuth => 6,
            ErrorKind::RateLimited => 7,
            ErrorKind::MalformedResponse => 8,
            ErrorKind::HttpStatus => 9,
            ErrorKind::WouldBlock => 10,
        }
    }

    /// A short lowercase name for logs and the CLI (`config`, `oauth`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::InvalidKey => "invalid_key",
            ErrorKind::Transport => "transport",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::OAuth => "oauth",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::MalformedResponse => "malformed_response",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::WouldBlock => "would_block",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error an authorization server returned in its body, in Alpaca's shape
/// (`{"error", "fields"}`) or RFC 6749's (`{"error", "error_description"}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub(crate) code: String,
    pub(crate) description: Option<String>,
    pub(crate) fields: Vec<String>,
}

impl OAuthError {
    /// The error code, such as `invalid_client` or `jti_known`.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The server's human-readable description, if it sent one.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The names of the request fields the server found fault with.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }
}

/// The error of every fallible operation in this crate.
///
/// `Display` gives one line a user can act on; the accessors give the parts a
/// program branches on. Cloning is cheap enough for sharing one failed token
/// request among the threads that waited for it.
///
/// Every message is written by this crate or copied (bounded and sanitised)
/// from a server's error body; no message ever contains a secret, a private
/// key, an assertion or an access token.
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone, Debug)]
struct Inner {
    kind: ErrorKind,
    message: String,
    status: Option<u16>,
    oauth: Option<OAuthError>,
    retry_after: Option<Duration>,
    /// A failure retrying may mend before the budget ends (an external
    /// signer's, marked so).
    transient: bool,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                status: None,
                oauth: None,
                retry_after: None,
                transient: false,
            }),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    pub(crate) fn invalid_key(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidKey, message)
    }

    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::MalformedResponse, message)
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    pub(crate) fn with_oauth(mut self, oauth: OAuthError) -> Self {
        self.inner.oauth = Some(oauth);
        self
    }

    pub(crate) fn with_message_suffix(mut self, suffix: &str) -> Self {
        self.inner.message.push_str(suffix);
        self
    }

    pub(crate) fn with_message_prefix(mut self, prefix: &str) -> Self {
        self.inner.message.insert_str(0, prefix);
        self
    }

    /// Marks the error as one a retry within the budget may mend.
    pub(crate) fn into_transient(mut self) -> Self {
        self.inner.transient = true;
        self
    }

    /// Whether a retry within the budget may mend the failure.
    pub(crate) fn is_transient(&self) -> bool {
        self.inner.transient
    }

    pub(crate) fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.inner.retry_after = retry_after;
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The message, without the status and OAuth code that `Display` adds.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The HTTP status of the response that caused the error, if any.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// The OAuth error the server returned, if any.
    pub fn oauth(&self) -> Option<&OAuthError> {
        self.inner.oauth.as_ref()
    }

    /// How long the server asked us to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)?;
        if let Some(status) = self.inner.status {
            write!(f, " (HTTP {status}")?;
            if let Some(oauth) = &self.inner.oauth {
                write!(f, ", error {}", oauth.code)?;
            }
            f.write_str(")")?;
        } else if let Some(oauth) = &self.inner.oauth {
            write!(f, " (error {})", oauth.code)?;
        }
        if let Some(oauth) = &self.inner.oauth {
            if let Some(description) = &oauth.description {
                write!(f, ": {description}")?;
            }
            if !oauth.fields.is_empty() {
                write!(f, " [fields: {}]", oauth.fields.join(", "))?;
            }
        }
        if let Some(wait) = self.inner.retry_after {
            write!(f, "; retry after {} s", wait.as_secs_f64().ceil())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("message", &self.inner.message)
            .field("status", &self.inner.status)
            .field("oauth", &self.inner.oauth)
            .field("retry_after", &self.inner.retry_after)
            .finish()
    }
}

impl std::error::Error for Error {}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_distinct() {
        let codes: Vec<u32> = ErrorKind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(codes, vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }

    #[test]
    fn display_names_status_code_and_fields() {
        let e = Error::new(ErrorKind::OAuth, "token endpoint refused the request")
            .with_status(401)
            .with_oauth(OAuthError {
                code: "invalid_client".into(),
                description: Some("unknown client".into()),
                fields: vec!["client_id".into()],
            });
        assert_eq!(
            e.to_string(),
            "token endpoint refused the request (HTTP 401, error invalid_client): unknown client [fields: client_id]"
        );
    }
}
