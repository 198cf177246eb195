//! [`SecretString`]: text that must never be printed, and
//! [`constant_time_eq`], the one comparison of secrets.

use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// A secret (API secret key, client secret, access token, assertion).
///
/// Its `Debug` prints `[redacted]`, it has no `Display`, and its memory is
/// zeroized when it is dropped. The value is reachable only through the
/// explicit [`expose_secret`](SecretString::expose_secret).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }

    /// The secret value. Every use of it is a place to review.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The length of the secret in bytes (safe to report).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        SecretString(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        SecretString(value.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Bytes that must never be printed (private key material).
#[derive(Clone)]
pub(crate) struct SecretBytes(pub(crate) Vec<u8>);

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Whether two secrets (tokens, client secrets, API secret keys, their
/// digests) are equal, in time that does not depend on where they differ:
/// the one comparison of secrets in the crate (`subtle`). Only the lengths
/// may leak, as they do on the wire anyway.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = SecretString::new("hunter2-very-secret");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(s.expose_secret(), "hunter2-very-secret");
        let b = SecretBytes(b"-----BEGIN PRIVATE KEY-----".to_vec());
        assert_eq!(format!("{b:?}"), "[redacted]");
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokem"));
        assert!(!constant_time_eq(b"token", b"token "));
        assert!(!constant_time_eq(b"token", b""));
    }
}
