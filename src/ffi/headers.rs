//! `alpaca_auth_headers`: a snapshot of the auth headers as `"Name: value"`
//! lines, for `curl_slist_append` and any other C HTTP client.

use std::ffi::c_char;

use zeroize::Zeroizing;

use super::error::Failure;
use super::panic::ffi_boundary;
use super::result::alpaca_auth_result;
use super::{reset_out, write_out};
use crate::AuthHeaders;

/// The auth headers of one moment (opaque), from
/// `alpaca_auth_client_auth_headers`: one or two `"Name: value"` lines. The
/// lines hold secrets; they are wiped by `alpaca_auth_headers_free`.
///
/// A snapshot never changes: it may be read from several threads at once,
/// and freed once, after the last read.
pub struct alpaca_auth_headers {
    /// Each line with its terminating NUL, wiped on drop.
    lines: Vec<Zeroizing<Vec<u8>>>,
}

impl alpaca_auth_headers {
    pub(crate) fn new(headers: &AuthHeaders) -> Self {
        let lines = headers
            .to_lines()
            .iter()
            .map(|line| {
                let text = line.expose_secret().as_bytes();
                let mut bytes = Zeroizing::new(Vec::with_capacity(text.len() + 1));
                bytes.extend_from_slice(text);
                bytes.push(0);
                bytes
            })
            .collect();
        alpaca_auth_headers { lines }
    }
}

/// The number of lines in the snapshot (1 or 2); 0 for NULL.
///
/// # Safety
///
/// `headers` is NULL or a live snapshot.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_headers_count(headers: *const alpaca_auth_headers) -> usize {
    ffi_boundary!({
        // SAFETY: the caller guarantees NULL or a live snapshot.
        unsafe { headers.as_ref() }.map_or(0, |h| h.lines.len())
    })
}

/// Stores in `*line_out` line `index` (from 0) of the snapshot, a
/// NUL-terminated `"Name: value"` string such as
/// `"Authorization: Bearer eyJ..."`, ready for `curl_slist_append` (which
/// copies it). The string belongs to the snapshot: valid until
/// `alpaca_auth_headers_free`.
///
/// An index at or past `alpaca_auth_headers_count`:
/// `ALPACA_AUTH_RESULT_INVALID_ARGUMENT`.
///
/// # Safety
///
/// `headers` is NULL or a live snapshot; `line_out` is NULL or valid for a
/// write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_headers_line(
    headers: *const alpaca_auth_headers,
    index: usize,
    line_out: *mut *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: reset_out checks for NULL; the caller guarantees it is
        // otherwise writable.
        unsafe { reset_out(line_out) };
        // SAFETY: the caller guarantees NULL or a live snapshot.
        let headers = unsafe { headers.as_ref() }.ok_or_else(|| Failure::null("headers"))?;
        let line = headers.lines.get(index).ok_or_else(|| {
            Failure::new(
                alpaca_auth_result::InvalidArgument,
                format!(
                    "index {index} is out of range: the snapshot has {} lines",
                    headers.lines.len()
                ),
            )
        })?;
        // SAFETY: write_out checks for NULL; the caller guarantees it is
        // otherwise writable. The pointer stays valid while the snapshot
        // lives: its lines are never modified before the drop.
        unsafe { write_out(line_out, line.as_ptr().cast::<c_char>(), "line_out") }
    })
}

/// Frees a snapshot, wiping its lines. `NULL` is a no-op.
///
/// # Safety
///
/// `headers` is NULL or a live snapshot, not freed before, that no other
/// thread is reading.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_headers_free(headers: *mut alpaca_auth_headers) {
    ffi_boundary!({
        if !headers.is_null() {
            // SAFETY: the caller guarantees a live snapshot from
            // Box::into_raw in alpaca_auth_client_auth_headers, freed only
            // here.
            drop(unsafe { Box::from_raw(headers) });
        }
    })
}
