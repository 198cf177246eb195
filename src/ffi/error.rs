//! The thread-local last error: the detail of the most recent failure on the
//! calling thread, copied out like libgit2's `git_error_last` or hyper's
//! `hyper_error_print`, into a caller buffer with the needed length. It is
//! kept in the thread's `ThreadState` (`crate::replica`), beside the token
//! replicas, so that a call on the cached path looks up one thread-local,
//! not two.

use std::ffi::c_char;

use super::panic::{ffi_boundary, LastErrorUntouched};
use super::result::alpaca_auth_result;
use crate::limits::MAX_LAST_ERROR_LEN;
use crate::replica::with_thread;

/// A failure on its way to the C caller: the code returned and the message
/// kept as the last error.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: alpaca_auth_result,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: alpaca_auth_result, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// A NULL pointer argument, named.
    #[cold]
    #[inline(never)]
    pub(crate) fn null(name: &str) -> Self {
        Self::new(alpaca_auth_result::NullArgument, format!("{name} is NULL"))
    }
}

impl From<crate::Error> for Failure {
    /// The error's kind as the code; its `Display` (message, HTTP status,
    /// OAuth code and description, never a secret) as the message.
    fn from(error: crate::Error) -> Self {
        Failure {
            code: alpaca_auth_result::from_kind(error.kind()),
            message: error.to_string(),
        }
    }
}

/// Replaces the calling thread's last error.
pub(crate) fn set_last_error(mut message: String) {
    if message.len() > MAX_LAST_ERROR_LEN {
        let mut cut = MAX_LAST_ERROR_LEN - 3;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str("...");
    }
    // During thread teardown the state may be gone: then there is no one
    // left to read the message either.
    with_thread(|thread| {
        if let Ok(mut slot) = thread.last_error.try_borrow_mut() {
            *slot = message;
        }
    });
}

/// Empties the calling thread's last error (keeping its allocation).
#[inline(always)]
pub(crate) fn clear_last_error() {
    with_thread(|thread| {
        if let Ok(mut slot) = thread.last_error.try_borrow_mut() {
            slot.clear();
        }
    });
}

/// The calling thread's last error (empty if none).
pub(crate) fn last_error() -> String {
    with_thread(|thread| thread.last_error.try_borrow().map(|s| s.clone()).ok())
        .flatten()
        .unwrap_or_default()
}

/// Copies the detail of the most recent failed call on the calling thread
/// into `buf`: what went wrong, with the HTTP status and the OAuth error code
/// and description where there are some. It never contains a secret.
///
/// The rule, for every function of this header (`tests/c/last_error.c`
/// checks each one):
///
/// * A function that returns an `alpaca_auth_result` clears the last error
///   on entry and sets it on failure: after `ALPACA_AUTH_RESULT_OK` it is
///   empty. Two exceptions return `ALPACA_AUTH_RESULT_OK` and leave a
///   reason there: `alpaca_auth_client_token_store_status` when the status
///   is `UNAVAILABLE` (why the store was refused), and
///   `alpaca_auth_client_refresher_status` when the refresher's last
///   attempt failed (that failure).
/// * A function that returns no result code (the `_free` and `_count`
///   functions, `alpaca_auth_result_str`, `alpaca_auth_version`,
///   `alpaca_auth_version_number`) never changes it, so it may be called
///   between a failure and the reading of its detail; nor does this
///   function.
///
/// `*len_out` receives the length needed, terminating NUL included, both on
/// `ALPACA_AUTH_RESULT_OK` and on `ALPACA_AUTH_RESULT_BUFFER_TOO_SMALL`; the
/// buffer is written only on `ALPACA_AUTH_RESULT_OK`. Pass `buf = NULL, len =
/// 0` to ask for the length only. A buffer of
/// `ALPACA_AUTH_MAX_ERROR_LEN` bytes always suffices.
///
/// This function does not change the last error, whatever it returns.
///
/// Returns `ALPACA_AUTH_RESULT_NULL_ARGUMENT` if `len_out` is NULL, or `buf`
/// is NULL while `len` is not 0.
///
/// # Safety
///
/// `buf` is NULL or valid for writes of `len` bytes; `len_out` is NULL or
/// valid for a write of a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_last_error(
    buf: *mut c_char,
    len: usize,
    len_out: *mut usize,
) -> alpaca_auth_result {
    ffi_boundary!({
        let message = last_error();
        // SAFETY: the caller's guarantees on buf/len/len_out are those of
        // copy_out.
        LastErrorUntouched(unsafe {
            super::copy_out(&[message.as_bytes()], buf, len, len_out, "last error")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        set_last_error("é".repeat(MAX_LAST_ERROR_LEN));
        let kept = last_error();
        assert!(kept.len() <= MAX_LAST_ERROR_LEN, "{}", kept.len());
        assert!(kept.ends_with("..."));
        clear_last_error();
        assert_eq!(last_error(), "");
    }

    #[test]
    fn last_error_copy_out_reports_the_needed_length_and_leaves_it_alone() {
        set_last_error("bad thing".into());
        let mut needed = 0usize;
        let mut one = [b'#' as c_char; 1];
        // SAFETY: valid buffer of 1 byte and a valid len_out.
        let r = unsafe { alpaca_auth_last_error(one.as_mut_ptr(), 1, &mut needed) };
        assert_eq!(r, alpaca_auth_result::BufferTooSmall);
        assert_eq!(needed, "bad thing".len() + 1);
        assert_eq!(one[0], b'#' as c_char, "buffer untouched");
        let mut buf = vec![0 as c_char; needed];
        // SAFETY: valid buffer of `needed` bytes.
        let r = unsafe { alpaca_auth_last_error(buf.as_mut_ptr(), buf.len(), &mut needed) };
        assert_eq!(r, alpaca_auth_result::Ok);
        let bytes: Vec<u8> = buf.iter().map(|&c| c as u8).collect();
        assert_eq!(&bytes[..], b"bad thing\0");
        assert_eq!(last_error(), "bad thing", "copying does not clear it");
        // SAFETY: NULL len_out is refused before any write.
        let r = unsafe { alpaca_auth_last_error(buf.as_mut_ptr(), 1, std::ptr::null_mut()) };
        assert_eq!(r, alpaca_auth_result::NullArgument);
    }
}
