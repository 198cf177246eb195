//! Auth header lines copied into caller buffers: the cached-header fast path
//! (no allocation, no lock, no shared write) and its non-blocking variant for
//! the order path.

use std::ffi::c_char;

use super::{alpaca_auth_client, client_ref};
use crate::ffi::error::Failure;
use crate::ffi::panic::ffi_boundary;
use crate::ffi::result::alpaca_auth_result;
use crate::ffi::{check_copy_args, copy_parts, too_small};

/// The number of auth header lines of this client: 1 for a bearer token or
/// HTTP Basic, 2 for the APCA key headers. It never changes for a client.
/// `0` if `client` is NULL.
///
/// # Safety
///
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_header_count(
    client: *const alpaca_auth_client,
) -> usize {
    ffi_boundary!({
        // SAFETY: the caller guarantees NULL or a live client.
        unsafe { client_ref(client) }.map_or(0, |handle| handle.client.auth_header_count())
    })
}

/// Copies auth header line `index` (from 0 to
/// `alpaca_auth_client_header_count() - 1`) as `"Name: value"`,
/// NUL-terminated, into `buf`: the line to pass to `curl_slist_append`. The
/// token is fetched or refreshed if needed (at most one request however many
/// threads ask); when it is cached this is the fast path: no allocation, no
/// lock, nothing written to memory shared with other threads.
///
/// `*len_out` receives the length needed, terminating NUL included, on
/// `ALPACA_AUTH_RESULT_OK` and on `ALPACA_AUTH_RESULT_BUFFER_TOO_SMALL`; `buf`
/// is written only on `ALPACA_AUTH_RESULT_OK`. `buf = NULL, len = 0` asks for
/// the length. A buffer of `ALPACA_AUTH_MAX_HEADER_LINE` bytes holds every line.
/// An `index` out of range: `ALPACA_AUTH_RESULT_INVALID_ARGUMENT`. Failed
/// token requests as for `alpaca_auth_client_access_token`. The line holds a
/// secret: wipe the buffer when done.
///
/// # Safety
///
/// `client` is NULL or a live client; `buf` is NULL or valid for writes of
/// `len` bytes; `len_out` is NULL or valid for a write of a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_header_line(
    client: *const alpaca_auth_client,
    index: usize,
    buf: *mut c_char,
    len: usize,
    len_out: *mut usize,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { header_line::<false>(client, index, buf, len, len_out) }
    })
}

/// `alpaca_auth_client_header_line` for the order path: the same arguments
/// and results, but it never blocks and never sends a token request from
/// the calling thread. With a valid token cached it copies the line (the
/// same fast path); without one it returns
/// `ALPACA_AUTH_RESULT_WOULD_BLOCK` at once, after starting a token request
/// on a library thread if none is under way and no failure hold applies
/// (`*len_out` and `buf` are then not written). In the refresh window it
/// copies the still-valid line and starts the refresh the same way.
///
/// # Safety
///
/// As `alpaca_auth_client_header_line`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_try_header_line(
    client: *const alpaca_auth_client,
    index: usize,
    buf: *mut c_char,
    len: usize,
    len_out: *mut usize,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { header_line::<true>(client, index, buf, len, len_out) }
    })
}

/// The body of the two header-line calls.
///
/// # Safety
///
/// As `alpaca_auth_client_header_line`.
#[inline(always)]
unsafe fn header_line<const NON_BLOCKING: bool>(
    client: *const alpaca_auth_client,
    index: usize,
    buf: *mut c_char,
    len: usize,
    len_out: *mut usize,
) -> Result<(), Failure> {
    // SAFETY: the caller guarantees NULL or a live client.
    let handle = unsafe { client_ref(client) }?;
    check_copy_args(buf, len, len_out)?;
    let copy = |parts: &[&[u8]]| {
        // SAFETY: the arguments passed check_copy_args; the caller's
        // guarantees on them are those of copy_parts.
        unsafe { copy_parts(parts, buf, len, len_out) }
    };
    let copied = if NON_BLOCKING {
        handle.client.try_with_auth_line(index, copy)?
    } else {
        handle.client.with_auth_line(index, copy)?
    };
    match copied {
        Some(Ok(())) => Ok(()),
        Some(Err(needed)) => Err(too_small(len, needed, "header line")),
        None => Err(Failure::new(
            alpaca_auth_result::InvalidArgument,
            format!(
                "header index {index} is out of range: this client has {} header lines",
                handle.client.auth_header_count()
            ),
        )),
    }
}
