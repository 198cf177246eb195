//! `alpaca_auth_client`: an authenticated handle, shared among threads.
//!
//! This module holds the handle and its lifetime (`alpaca_auth_client_new_from_env`,
//! `alpaca_auth_client_free`); the calls on a client are grouped by job:
//!
//! | module          | functions                                                            |
//! |-----------------|----------------------------------------------------------------------|
//! | [`token`]       | the access token, a header snapshot, invalidating a rejected token   |
//! | [`endpoints`]   | URLs, stream URLs and auth message, environment, credential kind     |
//! | [`status`]      | token store status, counters (`alpaca_auth_stats`), token lifetime   |
//! | [`header_line`] | header lines copied into caller buffers: the cached-header fast path |
//! | [`refresher`]   | the background refresher's status (`alpaca_auth_refresher_status`)   |
//!
//! Every item is re-exported here (`alpaca_auth::ffi::client::*`). The
//! modules are declared in the order of the functions in
//! `include/alpaca_auth.h`: cbindgen reads them in declaration order.

// Declaration order is header order (see above): keep these groups apart so
// that rustfmt does not sort them.
pub mod token;

pub mod endpoints;

pub mod status;

pub mod header_line;

pub mod refresher;

use std::ffi::CString;

use super::error::Failure;
use super::event::EventGate;
use super::new_handle;
use super::panic::ffi_boundary;
use super::result::alpaca_auth_result;
use crate::Client;

pub use self::endpoints::{
    alpaca_auth_client_api_base_url, alpaca_auth_client_data_base_url,
    alpaca_auth_client_environment, alpaca_auth_client_market_data_stream_base,
    alpaca_auth_client_stream_auth_message, alpaca_auth_client_token_url,
    alpaca_auth_client_trade_updates_stream_url, alpaca_auth_client_uses_tokens,
};
pub use self::header_line::{
    alpaca_auth_client_header_count, alpaca_auth_client_header_line,
    alpaca_auth_client_try_header_line,
};
pub use self::refresher::{alpaca_auth_client_refresher_status, alpaca_auth_refresher_status};
pub use self::status::{
    alpaca_auth_client_stats, alpaca_auth_client_token_remaining_ms,
    alpaca_auth_client_token_store_status, alpaca_auth_stats, alpaca_auth_store_status,
};
pub use self::token::{
    alpaca_auth_client_access_token, alpaca_auth_client_auth_headers,
    alpaca_auth_client_invalidate, alpaca_auth_client_invalidate_presented,
};
// The former names, deprecated (still exported for programs built against
// 0.1).
#[allow(deprecated)]
pub use self::endpoints::alpaca_auth_client_market_data_stream_url;
#[allow(deprecated)]
pub use self::token::alpaca_auth_client_invalidate_token;

/// An authenticated client (opaque). Create it with
/// `alpaca_auth_builder_build` or `alpaca_auth_client_new_from_env`; free it
/// with `alpaca_auth_client_free`.
///
/// **Thread safety**: every function taking a `const alpaca_auth_client *`
/// may be called from any number of threads at once on the same client;
/// share one client so that all threads share one cached token (many
/// threads asking at once cause at most one token request). Only
/// `alpaca_auth_client_free` needs exclusive access: call it once, after
/// every other thread is done with the client.
///
/// **fork()**: a client may be used in a child process, whatever the parent
/// was doing at `fork()` (idle, fetching a token, refreshing in the
/// background, another thread inside the library). At its first use in the
/// child, the client leaves behind everything it inherited (cached token,
/// locks, pooled connections and TLS sessions, the refresher thread) and
/// starts afresh: one token request of the child's own, a refresher of its
/// own if one was configured. `alpaca_auth_client_free` in the child
/// returns at once (what it inherited is left in place, not freed: it is
/// the child's copy of the parent's memory). The parent is unaffected.
//
// This holds without any `unsafe impl`: the handle is made of `Send + Sync`
// Rust values only (checked at compile time in `ffi/mod.rs`).
pub struct alpaca_auth_client {
    client: Client,
    /// Closed when the handle is freed: no event callback after that.
    events: EventGate,
    api_base: CString,
    data_base: CString,
    token_url: CString,
    market_data_stream: CString,
    trade_updates_stream: CString,
}

impl Drop for alpaca_auth_client {
    fn drop(&mut self) {
        // Before the client goes: a fetch still running on a library thread
        // reports nothing any more.
        self.events.close();
    }
}

impl alpaca_auth_client {
    pub(crate) fn new(client: Client) -> Result<Self, Failure> {
        Self::with_events(client, EventGate::default())
    }

    /// A handle whose event callback (if any) runs behind `events`.
    pub(crate) fn with_events(client: Client, events: EventGate) -> Result<Self, Failure> {
        let endpoints = client.endpoints();
        let api_base = c_string(endpoints.api_base())?;
        let data_base = c_string(endpoints.data_base())?;
        let token_url = c_string(endpoints.token_url().map_or("", |url| url))?;
        let market_data_stream = c_string(endpoints.market_data_stream_base())?;
        let trade_updates_stream =
            c_string(endpoints.trade_updates_stream_url().map_or("", |url| url))?;
        Ok(alpaca_auth_client {
            client,
            events,
            api_base,
            data_base,
            token_url,
            market_data_stream,
            trade_updates_stream,
        })
    }
}

fn c_string(url: &str) -> Result<CString, Failure> {
    CString::new(url)
        .map_err(|_| Failure::new(alpaca_auth_result::Config, "a URL contains a NUL character"))
}

/// Borrows the client behind a pointer.
///
/// # Safety
///
/// `client` is NULL or a live client from `alpaca_auth_builder_build` or
/// `alpaca_auth_client_new_from_env`, not freed before `'a` ends.
unsafe fn client_ref<'a>(
    client: *const alpaca_auth_client,
) -> Result<&'a alpaca_auth_client, Failure> {
    // SAFETY: the caller guarantees NULL or a live client; shared references
    // are fine from many threads (the type is Sync).
    unsafe { client.as_ref() }.ok_or_else(|| Failure::null("client"))
}

/// Creates a client from the `APCA_*` environment variables: the same as
/// `alpaca_auth_builder_new_from_env` followed by `alpaca_auth_builder_build`.
///
/// # Safety
///
/// `client_out` is NULL or valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_new_from_env(
    client_out: *mut *mut alpaca_auth_client,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller guarantees NULL or a writable pointer.
        unsafe {
            new_handle(client_out, "client_out", || {
                alpaca_auth_client::new(Client::from_env()?)
            })
        }
    })
}

/// Frees a client and its cached token (wiped from memory), stopping its
/// background refresher if it has one. Copies of the token that other
/// threads kept for the fast path are wiped at their thread's next call
/// into the library, or when the thread exits. `NULL` is a no-op.
///
/// # Safety
///
/// `client` is NULL or a live client, not freed before, that no other
/// thread is using or will use.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_free(client: *mut alpaca_auth_client) {
    ffi_boundary!({
        if !client.is_null() {
            // SAFETY: the caller guarantees a live client from Box::into_raw,
            // freed only here, with no other user.
            drop(unsafe { Box::from_raw(client) });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::builder::{
        alpaca_auth_builder_build, alpaca_auth_builder_new, alpaca_auth_builder_set_api_key,
        alpaca_auth_builder_set_api_key_headers, alpaca_auth_builder_set_environment,
    };
    use std::ffi::{c_char, CStr};
    use std::ptr;

    #[test]
    fn new_calls_check_their_pointers() {
        let mut len = 0;
        // SAFETY: NULL handles and pointers are what is being tested.
        unsafe {
            assert_eq!(
                alpaca_auth_client_invalidate_presented(ptr::null(), c"token".as_ptr()),
                alpaca_auth_result::NullArgument
            );
            assert_eq!(
                alpaca_auth_client_try_header_line(ptr::null(), 0, ptr::null_mut(), 0, &mut len),
                alpaca_auth_result::NullArgument
            );
        }
    }

    /// A client of API key `PKID` with `secret`, built through the C API
    /// (the caller frees it).
    pub(super) fn api_key_client(secret: &CStr) -> *mut alpaca_auth_client {
        let mut builder = ptr::null_mut();
        let mut client = ptr::null_mut();
        // SAFETY: valid out pointers and C strings; the builder is consumed.
        unsafe {
            assert_eq!(
                alpaca_auth_builder_new(&mut builder),
                alpaca_auth_result::Ok
            );
            assert_eq!(
                alpaca_auth_builder_set_api_key(builder, c"PKID".as_ptr(), secret.as_ptr()),
                alpaca_auth_result::Ok
            );
            assert_eq!(
                alpaca_auth_builder_build(builder, &mut client),
                alpaca_auth_result::Ok
            );
        }
        client
    }

    #[test]
    fn api_key_client_has_no_token_and_two_header_lines() {
        let client = api_key_client(c"sec");
        // SAFETY: a live client, valid out pointers, freed once.
        unsafe {
            let mut len = 0;
            assert_eq!(
                alpaca_auth_client_access_token(client, ptr::null_mut(), 0, &mut len),
                alpaca_auth_result::Config
            );
            let mut headers = ptr::null_mut();
            assert_eq!(
                alpaca_auth_client_auth_headers(client, &mut headers),
                alpaca_auth_result::Ok
            );
            assert_eq!(crate::ffi::headers::alpaca_auth_headers_count(headers), 2);
            crate::ffi::headers::alpaca_auth_headers_free(headers);
            let mut url = ptr::null();
            assert_eq!(
                alpaca_auth_client_token_url(client, &mut url),
                alpaca_auth_result::Ok
            );
            assert_eq!(CStr::from_ptr(url), c"");
            assert_eq!(
                alpaca_auth_client_invalidate_presented(client, ptr::null()),
                alpaca_auth_result::NullArgument
            );
            assert_eq!(
                alpaca_auth_client_invalidate_presented(client, c"Authorization: Basic x".as_ptr()),
                alpaca_auth_result::Ok
            );
            let mut line = [0 as c_char; 256];
            assert_eq!(
                alpaca_auth_client_try_header_line(client, 1, line.as_mut_ptr(), 256, &mut len),
                alpaca_auth_result::Ok,
                "API key lines never block"
            );
            alpaca_auth_client_free(client);
        }
    }

    #[test]
    fn broker_key_pairs_default_to_basic_from_c_and_headers_override() {
        type Setter = unsafe extern "C" fn(
            *mut crate::ffi::builder::alpaca_auth_builder,
            *const std::ffi::c_char,
            *const std::ffi::c_char,
        ) -> alpaca_auth_result;
        let cases: [(&CStr, Setter, &str); 4] = [
            (
                c"broker-sandbox",
                alpaca_auth_builder_set_api_key,
                "Authorization: Basic ",
            ),
            (
                c"broker",
                alpaca_auth_builder_set_api_key,
                "Authorization: Basic ",
            ),
            (
                c"paper",
                alpaca_auth_builder_set_api_key,
                "APCA-API-KEY-ID: PKID",
            ),
            (
                c"broker-sandbox",
                alpaca_auth_builder_set_api_key_headers,
                "APCA-API-KEY-ID: PKID",
            ),
        ];
        for (environment, setter, first_line) in cases {
            let mut builder = ptr::null_mut();
            let mut client = ptr::null_mut();
            // SAFETY: valid out pointers, C strings, and handles used as
            // documented.
            unsafe {
                assert_eq!(
                    alpaca_auth_builder_new(&mut builder),
                    alpaca_auth_result::Ok
                );
                // The credentials first: the style is decided at build time.
                assert_eq!(
                    setter(builder, c"PKID".as_ptr(), c"sec".as_ptr()),
                    alpaca_auth_result::Ok
                );
                assert_eq!(
                    alpaca_auth_builder_set_environment(builder, environment.as_ptr()),
                    alpaca_auth_result::Ok
                );
                assert_eq!(
                    alpaca_auth_builder_build(builder, &mut client),
                    alpaca_auth_result::Ok
                );
                let mut headers = ptr::null_mut();
                assert_eq!(
                    alpaca_auth_client_auth_headers(client, &mut headers),
                    alpaca_auth_result::Ok
                );
                let mut line = ptr::null();
                assert_eq!(
                    crate::ffi::headers::alpaca_auth_headers_line(headers, 0, &mut line),
                    alpaca_auth_result::Ok
                );
                let line = CStr::from_ptr(line).to_string_lossy().into_owned();
                crate::ffi::headers::alpaca_auth_headers_free(headers);
                alpaca_auth_client_free(client);
                assert!(line.starts_with(first_line), "{environment:?}");
            }
        }
    }
}
