//! `alpaca_auth_result`: what every fallible C function returns.

use std::ffi::{c_char, CStr};

use crate::error::ErrorKind;

/// The result of a fallible function. `ALPACA_AUTH_RESULT_OK` is 0; every
/// other value is a failure whose detail `alpaca_auth_last_error` gives.
///
/// Values are stable and never reused. 1 to 99 are the library's error kinds
/// (the same numbers as the Rust `ErrorKind::code()`); 100 and up are
/// failures of the call itself. Treat an unknown value as a failure: later
/// versions may add values.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum alpaca_auth_result {
    /// Success.
    Ok = 0,
    /// The configuration is incomplete, contradictory or out of bounds:
    /// missing or malformed credentials, an unknown environment name, a
    /// refused URL (`http://` to a non-loopback host), a zero timeout, an
    /// access token asked of API key credentials.
    Config = 1,
    /// A private key could not be loaded or used.
    InvalidKey = 2,
    /// The connection to the token endpoint failed: DNS, connect, proxy, I/O.
    Transport = 3,
    /// The TLS handshake with the token endpoint failed.
    Tls = 4,
    /// The time budget of the token acquisition ran out.
    Timeout = 5,
    /// The token endpoint refused the request with an OAuth error code
    /// (`invalid_client`, ...); the last error names the code and HTTP status.
    Oauth = 6,
    /// The token endpoint asked to slow down and retrying would exceed the
    /// budget.
    RateLimited = 7,
    /// The token endpoint answered with something unusable.
    MalformedResponse = 8,
    /// The token endpoint answered with an HTTP error status and no OAuth
    /// error body; the last error names the status.
    HttpStatus = 9,
    /// `alpaca_auth_client_try_header_line` found no valid token cached: it
    /// never waits. A token request may have been started on a library
    /// thread; try again later, or call `alpaca_auth_client_header_line`.
    WouldBlock = 10,
    /// A required pointer argument was NULL.
    NullArgument = 100,
    /// A string argument was not valid UTF-8.
    InvalidUtf8 = 101,
    /// The caller's buffer is too small; the needed length was stored in
    /// `*len_out` and the buffer was not written.
    BufferTooSmall = 102,
    /// An argument is out of range (an index past the end, an impossible
    /// length, an empty proxy URL).
    InvalidArgument = 103,
    /// A panic inside the library was caught at the boundary. This is a bug
    /// in alpaca-auth; free the handles involved rather than use them again.
    Panic = 104,
}

impl alpaca_auth_result {
    /// The code of a library error kind. Inside this crate the match is
    /// exhaustive, so a new `ErrorKind` cannot be added without its code.
    pub(crate) fn from_kind(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Config => Self::Config,
            ErrorKind::InvalidKey => Self::InvalidKey,
            ErrorKind::Transport => Self::Transport,
            ErrorKind::Tls => Self::Tls,
            ErrorKind::Timeout => Self::Timeout,
            ErrorKind::OAuth => Self::Oauth,
            ErrorKind::RateLimited => Self::RateLimited,
            ErrorKind::MalformedResponse => Self::MalformedResponse,
            ErrorKind::HttpStatus => Self::HttpStatus,
            ErrorKind::WouldBlock => Self::WouldBlock,
        }
    }

    fn name(value: u32) -> &'static CStr {
        match value {
            0 => c"ok",
            1 => c"config",
            2 => c"invalid_key",
            3 => c"transport",
            4 => c"tls",
            5 => c"timeout",
            6 => c"oauth",
            7 => c"rate_limited",
            8 => c"malformed_response",
            9 => c"http_status",
            10 => c"would_block",
            100 => c"null_argument",
            101 => c"invalid_utf8",
            102 => c"buffer_too_small",
            103 => c"invalid_argument",
            104 => c"panic",
            _ => c"unknown",
        }
    }
}

/// A short, static, lowercase name of a result value (`"ok"`, `"config"`,
/// `"oauth"`, `"buffer_too_small"`, ...; `"unknown"` for a value this version
/// does not know). Never NULL; the string lives as long as the library.
///
/// Takes a plain integer so that any value a caller holds is acceptable.
#[no_mangle]
pub extern "C" fn alpaca_auth_result_str(result: u32) -> *const c_char {
    super::panic::ffi_boundary!({ alpaca_auth_result::name(result).as_ptr() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kind_codes_are_the_result_values() {
        for kind in ErrorKind::ALL {
            assert_eq!(alpaca_auth_result::from_kind(kind) as u32, kind.code());
            let name = alpaca_auth_result::name(kind.code());
            assert_eq!(name.to_str().ok(), Some(kind.as_str()));
        }
    }

    #[test]
    fn result_names_cover_every_value_and_unknown_ones() {
        assert_eq!(alpaca_auth_result::name(0), c"ok");
        assert_eq!(alpaca_auth_result::name(104), c"panic");
        assert_eq!(alpaca_auth_result::name(10), c"would_block");
        assert_eq!(alpaca_auth_result::name(11), c"unknown");
        assert_eq!(alpaca_auth_result::name(u32::MAX), c"unknown");
        // SAFETY: the returned pointer is a static C string.
        let s = unsafe { CStr::from_ptr(alpaca_auth_result_str(102)) };
        assert_eq!(s, c"buffer_too_small");
    }
}
