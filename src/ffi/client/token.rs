//! The access token of a client and the headers that carry it, and
//! forgetting a token the API rejected.

use std::ffi::c_char;

use super::{alpaca_auth_client, client_ref};
use crate::ffi::error::Failure;
use crate::ffi::headers::alpaca_auth_headers;
use crate::ffi::panic::ffi_boundary;
use crate::ffi::result::alpaca_auth_result;
use crate::ffi::{check_copy_args, copy_out, new_handle, reset_out, str_arg};

/// Copies the current access token (no `Bearer ` prefix) into `buf`,
/// NUL-terminated, fetching or refreshing it if needed (at most one request
/// however many threads ask).
///
/// `*len_out` receives the length needed, terminating NUL included, on
/// `ALPACA_AUTH_RESULT_OK` and on `ALPACA_AUTH_RESULT_BUFFER_TOO_SMALL`; `buf`
/// is written only on `ALPACA_AUTH_RESULT_OK`. `buf = NULL, len = 0` asks for
/// the length only. A refresh between two calls may change the length: call
/// again while the result is `ALPACA_AUTH_RESULT_BUFFER_TOO_SMALL`, or use a
/// buffer of `ALPACA_AUTH_MAX_TOKEN_LEN + 1` bytes, which always fits. The token
/// is a secret: wipe the buffer when done.
///
/// API key credentials have no token: `ALPACA_AUTH_RESULT_CONFIG` (use
/// `alpaca_auth_client_auth_headers`). A failed token request returns its
/// kind (`ALPACA_AUTH_RESULT_OAUTH`, `_TRANSPORT`, `_TIMEOUT`, ...) with the
/// HTTP status and OAuth error code in the last error; `*len_out` is then
/// not written.
///
/// # Safety
///
/// `client` is NULL or a live client; `buf` is NULL or valid for writes of
/// `len` bytes; `len_out` is NULL or valid for a write of a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_access_token(
    client: *const alpaca_auth_client,
    buf: *mut c_char,
    len: usize,
    len_out: *mut usize,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller guarantees NULL or a live client.
        let handle = unsafe { client_ref(client) }?;
        check_copy_args(buf, len, len_out)?;
        if !handle.client.uses_tokens() {
            return Err(Failure::new(
                alpaca_auth_result::Config,
                "API key credentials have no access token; use alpaca_auth_client_auth_headers",
            ));
        }
        let token = handle.client.access_token()?;
        // SAFETY: the caller's guarantees on buf/len/len_out are those of
        // copy_out.
        unsafe {
            copy_out(
                &[token.expose_secret().as_bytes()],
                buf,
                len,
                len_out,
                "access token",
            )
        }
    })
}

/// Takes a snapshot of the headers that authorize an API request, as
/// `"Name: value"` lines ready for `curl_slist_append`:
/// `Authorization: Bearer <token>` for client credentials (the token fetched
/// or refreshed if needed), `APCA-API-KEY-ID` + `APCA-API-SECRET-KEY` or
/// `Authorization: Basic ...` for API keys.
///
/// On success `*headers_out` owns the snapshot: read it with
/// `alpaca_auth_headers_count` and `alpaca_auth_headers_line`, then free it
/// with `alpaca_auth_headers_free` (which wipes the lines). Failures as for
/// `alpaca_auth_client_access_token`.
///
/// # Safety
///
/// `client` is NULL or a live client; `headers_out` is NULL or valid for a
/// write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_auth_headers(
    client: *const alpaca_auth_client,
    headers_out: *mut *mut alpaca_auth_headers,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: reset_out checks for NULL; the caller guarantees it is
        // otherwise writable.
        unsafe { reset_out(headers_out) };
        // SAFETY: the caller guarantees NULL or a live client.
        let handle = unsafe { client_ref(client) }?;
        // SAFETY: the caller guarantees NULL or a writable pointer.
        unsafe {
            new_handle(headers_out, "headers_out", || {
                Ok(alpaca_auth_headers::new(&handle.client.auth_headers()?))
            })
        }
    })
}

/// Forgets the cached token, after the API answered 401 with it: the next
/// call fetches a new one (still at most one request for all threads). No
/// effect for API keys. A failure hold the server imposed (`Retry-After`)
/// is kept. When several threads may report the same 401, use
/// `alpaca_auth_client_invalidate_presented`, which drops only the token
/// that was rejected.
///
/// # Safety
///
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_invalidate(
    client: *const alpaca_auth_client,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller guarantees NULL or a live client.
        unsafe { client_ref(client) }?.client.invalidate();
        Ok(())
    })
}

/// Forgets the cached token only if it is the one the API rejected:
/// `token_or_header_line` is the bare token or the whole header line that
/// was sent (`"Authorization: Bearer ..."`, as from
/// `alpaca_auth_client_header_line`). When many threads report the same 401,
/// the first report drops the token and the later ones, about a token
/// already replaced, change nothing: one new token request in all. The
/// comparison takes constant time. Returns `ALPACA_AUTH_RESULT_OK` whether
/// or not the token matched (and for API keys); a failure hold imposed by
/// the server (`Retry-After`) is kept.
///
/// # Safety
///
/// `client` is NULL or a live client; `token_or_header_line` is NULL or a
/// NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_invalidate_presented(
    client: *const alpaca_auth_client,
    token_or_header_line: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { invalidate_presented(client, token_or_header_line) }
    })
}

/// The former name of `alpaca_auth_client_invalidate_presented` (the Rust
/// name of the operation is `Client::invalidate_presented`), kept for
/// programs built against 0.1.
///
/// # Safety
///
/// As `alpaca_auth_client_invalidate_presented`.
#[no_mangle]
#[deprecated(note = "use alpaca_auth_client_invalidate_presented")]
pub unsafe extern "C" fn alpaca_auth_client_invalidate_token(
    client: *const alpaca_auth_client,
    token_or_header_line: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { invalidate_presented(client, token_or_header_line) }
    })
}

/// # Safety
///
/// As `alpaca_auth_client_invalidate_presented`.
unsafe fn invalidate_presented(
    client: *const alpaca_auth_client,
    token_or_header_line: *const c_char,
) -> Result<(), Failure> {
    // SAFETY: the caller guarantees NULL or a live client.
    let handle = unsafe { client_ref(client) }?;
    // SAFETY: the caller guarantees NULL or a NUL-terminated string.
    let presented = unsafe { str_arg(token_or_header_line, "token_or_header_line") }?;
    handle.client.invalidate_presented(presented);
    Ok(())
}
