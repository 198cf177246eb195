//! `alpaca_auth_client`: an authenticated handle, shared among threads.

use std::ffi::{c_char, CStr, CString};

use super::error::{set_last_error, Failure};
use super::event::EventGate;
use super::headers::alpaca_auth_headers;
use super::panic::ffi_boundary;
use super::result::alpaca_auth_result;
use super::{
    caller_struct_size, check_copy_args, check_out, copy_out, copy_parts, new_handle, put_field,
    reset_out, str_arg, too_small, write_out,
};
use crate::{Client, Environment, TokenStoreStatus};
use std::mem::offset_of;

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

/// Counters of a client, for monitoring and tests. Set `struct_size` before
/// the call: `alpaca_auth_stats stats = {.struct_size = sizeof stats};`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct alpaca_auth_stats {
    /// `sizeof(alpaca_auth_stats)` as the caller compiled it, set by the
    /// caller; the library writes only the fields that fit.
    pub struct_size: usize,
    /// Token acquisitions started (each one or more HTTP requests).
    pub token_fetches: u64,
    /// Token acquisitions that failed.
    pub token_fetch_failures: u64,
    /// HTTP requests sent to the token endpoint, retries included.
    pub token_http_requests: u64,
}

/// `sizeof(alpaca_auth_stats)` in its first published version: the
/// smallest `struct_size` accepted: up to the end of its last field, so it
/// stays the same when fields are added after it.
const STATS_V1_SIZE: usize =
    offset_of!(alpaca_auth_stats, token_http_requests) + std::mem::size_of::<u64>();

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
/// `alpaca_auth_client_invalidate_token`, which drops only the token that
/// was rejected.
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
pub unsafe extern "C" fn alpaca_auth_client_invalidate_token(
    client: *const alpaca_auth_client,
    token_or_header_line: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller guarantees NULL or a live client.
        let handle = unsafe { client_ref(client) }?;
        // SAFETY: the caller guarantees NULL or a NUL-terminated string.
        let presented = unsafe { str_arg(token_or_header_line, "token_or_header_line") }?;
        handle.client.invalidate_presented(presented);
        Ok(())
    })
}

/// Stores a string that belongs to the client (picked by `pick`) in `*out`.
///
/// # Safety
///
/// `client` is NULL or a live client; `out` is NULL or writable.
unsafe fn borrowed_str(
    client: *const alpaca_auth_client,
    out: *mut *const c_char,
    out_name: &str,
    pick: impl FnOnce(&alpaca_auth_client) -> *const c_char,
) -> Result<(), Failure> {
    // SAFETY: reset_out checks for NULL; the caller guarantees it is
    // otherwise writable.
    unsafe { reset_out(out) };
    // SAFETY: the caller guarantees NULL or a live client.
    let handle = unsafe { client_ref(client) }?;
    check_out(out, out_name)?;
    // SAFETY: checked non-NULL; the caller guarantees it is writable.
    unsafe { write_out(out, pick(handle), out_name) }
}

/// Stores in `*url_out` the resolved Trading/Broker API base URL, without a
/// trailing slash (e.g. `https://broker-api.sandbox.alpaca.markets`). The
/// string belongs to the client: valid until `alpaca_auth_client_free`.
///
/// # Safety
///
/// `client` is NULL or a live client; `url_out` is NULL or valid for a write
/// of a pointer.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_api_base_url(
    client: *const alpaca_auth_client,
    url_out: *mut *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { borrowed_str(client, url_out, "url_out", |h| h.api_base.as_ptr()) }
    })
}

/// Stores in `*url_out` the resolved Market Data API base URL. Valid until
/// `alpaca_auth_client_free`.
///
/// # Safety
///
/// As `alpaca_auth_client_api_base_url`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_data_base_url(
    client: *const alpaca_auth_client,
    url_out: *mut *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { borrowed_str(client, url_out, "url_out", |h| h.data_base.as_ptr()) }
    })
}

/// Stores in `*url_out` the OAuth2 token endpoint, or the empty string when
/// the client has none (API keys with `live` or `paper`). Valid until
/// `alpaca_auth_client_free`.
///
/// # Safety
///
/// As `alpaca_auth_client_api_base_url`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_token_url(
    client: *const alpaca_auth_client,
    url_out: *mut *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { borrowed_str(client, url_out, "url_out", |h| h.token_url.as_ptr()) }
    })
}

/// Stores in `*url_out` the base of the environment's Market Data WebSocket
/// streams, without a trailing slash (`wss://stream.data.alpaca.markets`, or
/// `wss://stream.data.sandbox.alpaca.markets` for `broker-sandbox`); stocks
/// stream at `/v2/iex` or `/v2/sip` below it. Not changed by the base URL
/// overrides. These streams authenticate with an API key pair
/// (`alpaca_auth_client_stream_auth_message`) and are reported not to accept
/// OAuth access tokens. Valid until `alpaca_auth_client_free`.
///
/// # Safety
///
/// As `alpaca_auth_client_api_base_url`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_market_data_stream_url(
    client: *const alpaca_auth_client,
    url_out: *mut *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe {
            borrowed_str(client, url_out, "url_out", |h| {
                h.market_data_stream.as_ptr()
            })
        }
    })
}

/// Stores in `*url_out` the environment's trade-updates WebSocket
/// (`wss://api.alpaca.markets/stream` for `live`,
/// `wss://paper-api.alpaca.markets/stream` for `paper`), or the empty
/// string for `broker` and `broker-sandbox`, which have none this library
/// knows of. Authenticated with an API key pair like the market data
/// streams. Valid until `alpaca_auth_client_free`.
///
/// # Safety
///
/// As `alpaca_auth_client_api_base_url`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_trade_updates_stream_url(
    client: *const alpaca_auth_client,
    url_out: *mut *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe {
            borrowed_str(client, url_out, "url_out", |h| {
                h.trade_updates_stream.as_ptr()
            })
        }
    })
}

/// Copies the first message of an Alpaca WebSocket stream for the client's
/// API key pair, `{"action":"auth","key":"<key id>","secret":"<secret>"}`,
/// NUL-terminated, into `buf`. Length rules as for
/// `alpaca_auth_client_access_token`. The message holds the secret: wipe
/// the buffer when done.
///
/// Client credentials: `ALPACA_AUTH_RESULT_CONFIG` (Alpaca does not
/// document OAuth access tokens on its streams, and market-data streams
/// reportedly refuse them).
///
/// # Safety
///
/// `client` is NULL or a live client; `buf` is NULL or valid for writes of
/// `len` bytes; `len_out` is NULL or valid for a write of a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_stream_auth_message(
    client: *const alpaca_auth_client,
    buf: *mut c_char,
    len: usize,
    len_out: *mut usize,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller guarantees NULL or a live client.
        let handle = unsafe { client_ref(client) }?;
        check_copy_args(buf, len, len_out)?;
        let message = handle.client.stream_auth_message()?;
        // SAFETY: the caller's guarantees on buf/len/len_out are those of
        // copy_out.
        unsafe {
            copy_out(
                &[message.expose_secret().as_bytes()],
                buf,
                len,
                len_out,
                "stream auth message",
            )
        }
    })
}

/// Stores in `*name_out` the client's environment name (`live`, `paper`,
/// `broker` or `broker-sandbox`), a static string.
///
/// # Safety
///
/// `client` is NULL or a live client; `name_out` is NULL or valid for a
/// write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_environment(
    client: *const alpaca_auth_client,
    name_out: *mut *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe {
            borrowed_str(client, name_out, "name_out", |h| {
                environment_name(h.client.endpoints().environment()).as_ptr()
            })
        }
    })
}

fn environment_name(environment: Environment) -> &'static CStr {
    match environment {
        Environment::Live => c"live",
        Environment::Paper => c"paper",
        Environment::Broker => c"broker",
        Environment::BrokerSandbox => c"broker-sandbox",
    }
}

/// Stores in `*uses_tokens_out` whether the client uses OAuth2 access tokens
/// (client credentials) rather than API keys.
///
/// # Safety
///
/// `client` is NULL or a live client; `uses_tokens_out` is NULL or valid for
/// a write of a `bool`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_uses_tokens(
    client: *const alpaca_auth_client,
    uses_tokens_out: *mut bool,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller guarantees NULL or a live client.
        let handle = unsafe { client_ref(client) }?;
        let uses_tokens = handle.client.uses_tokens();
        // SAFETY: write_out checks for NULL; the caller guarantees it is
        // otherwise writable.
        unsafe { write_out(uses_tokens_out, uses_tokens, "uses_tokens_out") }
    })
}

/// Whether a client shares its tokens through a token store
/// (`alpaca_auth_client_token_store_status`). Values are stable and never
/// reused.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum alpaca_auth_store_status {
    /// No token store was configured (or the client uses API keys).
    None = 0,
    /// The client shares tokens through its store.
    Shared = 1,
    /// A store was configured but refused at build: the client runs
    /// without sharing, fetching its own tokens.
    Unavailable = 2,
}

/// Stores in `*status_out` whether the client shares its tokens through a
/// token store. A store directory that cannot be trusted (another user owns
/// it or can write a directory above it, a symbolic link, permissions open
/// to others) does not fail `alpaca_auth_builder_build`: the client runs
/// without sharing, reports `ALPACA_AUTH_EVENT_KIND_STORE_UNAVAILABLE` to
/// its event callback, and this call gives `UNAVAILABLE`, with the reason in
/// the calling thread's last error (`alpaca_auth_last_error`): one of the
/// two calls that leave a last error while returning
/// `ALPACA_AUTH_RESULT_OK` (the rule is on `alpaca_auth_last_error`).
///
/// # Safety
///
/// `client` is NULL or a live client; `status_out` is NULL or valid for a
/// write of an `alpaca_auth_store_status`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_token_store_status(
    client: *const alpaca_auth_client,
    status_out: *mut alpaca_auth_store_status,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller guarantees NULL or a live client.
        let handle = unsafe { client_ref(client) }?;
        let status = match handle.client.token_store_status() {
            TokenStoreStatus::Shared => alpaca_auth_store_status::Shared,
            TokenStoreStatus::Unavailable(reason) => {
                set_last_error(format!("token store not used: {reason}"));
                alpaca_auth_store_status::Unavailable
            }
            _ => alpaca_auth_store_status::None,
        };
        // SAFETY: write_out checks for NULL; the caller guarantees it is
        // otherwise writable.
        unsafe { write_out(status_out, status, "status_out") }
    })
}

/// Stores the client's counters in `*stats_out` (all zero for API keys).
/// The caller sets `stats_out->struct_size` to `sizeof(alpaca_auth_stats)`
/// first (`ALPACA_AUTH_RESULT_INVALID_ARGUMENT` if it is smaller than the
/// first version of the struct); fields beyond it are not written.
///
/// # Safety
///
/// `client` is NULL or a live client; `stats_out` is NULL or points to an
/// `alpaca_auth_stats` of `struct_size` writable bytes whose `struct_size`
/// is set.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_stats(
    client: *const alpaca_auth_client,
    stats_out: *mut alpaca_auth_stats,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller guarantees NULL or a live client.
        let handle = unsafe { client_ref(client) }?;
        // SAFETY: the caller guarantees NULL or a struct with struct_size set.
        let size = unsafe { caller_struct_size(stats_out, "stats_out", STATS_V1_SIZE) }?;
        let stats = handle.client.stats();
        let base = stats_out.cast::<u8>();
        // SAFETY: the caller guarantees `size` writable bytes at stats_out.
        unsafe {
            put_field(
                base,
                size,
                offset_of!(alpaca_auth_stats, token_fetches),
                stats.token_fetches,
            );
            put_field(
                base,
                size,
                offset_of!(alpaca_auth_stats, token_fetch_failures),
                stats.token_fetch_failures,
            );
            put_field(
                base,
                size,
                offset_of!(alpaca_auth_stats, token_http_requests),
                stats.token_http_requests,
            );
        }
        Ok(())
    })
}

/// Stores in `*ms_out` how long the cached token will still be handed out
/// (until its expiry less the expiry margin), in milliseconds: 0 when no
/// valid token is cached. Makes no request. API key credentials:
/// `ALPACA_AUTH_RESULT_CONFIG`.
///
/// # Safety
///
/// `client` is NULL or a live client; `ms_out` is NULL or valid for a write
/// of a `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_token_remaining_ms(
    client: *const alpaca_auth_client,
    ms_out: *mut u64,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller guarantees NULL or a live client.
        let handle = unsafe { client_ref(client) }?;
        check_out(ms_out, "ms_out")?;
        if !handle.client.uses_tokens() {
            return Err(Failure::new(
                alpaca_auth_result::Config,
                "API key credentials have no access token",
            ));
        }
        let ms = handle.client.token_remaining().map_or(0, |left| {
            u64::try_from(left.as_millis()).unwrap_or(u64::MAX)
        });
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { write_out(ms_out, ms, "ms_out") }
    })
}

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

/// What the background refresher has done (see
/// `alpaca_auth_builder_set_background_refresh`). Set `struct_size` before
/// the call:
/// `alpaca_auth_refresher_status status = {.struct_size = sizeof status};`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct alpaca_auth_refresher_status {
    /// `sizeof(alpaca_auth_refresher_status)` as the caller compiled it, set
    /// by the caller; the library writes only the fields that fit.
    pub struct_size: usize,
    /// The refresher thread is running.
    pub running: bool,
    /// New tokens it obtained or saw arrive.
    pub refreshes: u64,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
}

/// `sizeof(alpaca_auth_refresher_status)` in its first published version.
/// Up to the end of its last field, so it stays the same when fields are
/// added after it.
const REFRESHER_STATUS_V1_SIZE: usize =
    offset_of!(alpaca_auth_refresher_status, consecutive_failures) + std::mem::size_of::<u32>();

/// Reads the background refresher's status into `*status_out`. When the
/// last attempt failed (`consecutive_failures > 0`), the calling thread's
/// last error receives that failure's message (with its HTTP status and
/// OAuth code), readable with `alpaca_auth_last_error`, while the call
/// returns `ALPACA_AUTH_RESULT_OK` (one of the two exceptions to the rule
/// stated on `alpaca_auth_last_error`). A client without a
/// background refresher: `ALPACA_AUTH_RESULT_CONFIG`. The caller sets
/// `status_out->struct_size` first, as for `alpaca_auth_client_stats`.
///
/// # Safety
///
/// `client` is NULL or a live client; `status_out` is NULL or points to an
/// `alpaca_auth_refresher_status` of `struct_size` writable bytes whose
/// `struct_size` is set.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_client_refresher_status(
    client: *const alpaca_auth_client,
    status_out: *mut alpaca_auth_refresher_status,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller guarantees NULL or a live client.
        let handle = unsafe { client_ref(client) }?;
        // SAFETY: the caller guarantees NULL or a struct with struct_size set.
        let size =
            unsafe { caller_struct_size(status_out, "status_out", REFRESHER_STATUS_V1_SIZE) }?;
        let status = handle.client.refresher_status().ok_or_else(|| {
            Failure::new(
                alpaca_auth_result::Config,
                "this client has no background refresher (alpaca_auth_builder_set_background_refresh)",
            )
        })?;
        let base = status_out.cast::<u8>();
        // SAFETY: the caller guarantees `size` writable bytes at status_out.
        unsafe {
            put_field(
                base,
                size,
                offset_of!(alpaca_auth_refresher_status, running),
                status.running,
            );
            put_field(
                base,
                size,
                offset_of!(alpaca_auth_refresher_status, refreshes),
                status.refreshes,
            );
            put_field(
                base,
                size,
                offset_of!(alpaca_auth_refresher_status, consecutive_failures),
                status.consecutive_failures,
            );
        }
        // After a success the last error is empty, unless the last attempt
        // failed: then it says why.
        if let Some(detail) = &status.last_error {
            set_last_error(format!("background refresher: {detail}"));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::builder::{
        alpaca_auth_builder_build, alpaca_auth_builder_new, alpaca_auth_builder_set_api_key,
        alpaca_auth_builder_set_api_key_headers, alpaca_auth_builder_set_environment,
    };
    use std::ptr;

    #[test]
    fn environment_names_match_the_rust_names() {
        for environment in Environment::ALL {
            assert_eq!(
                environment_name(environment).to_str().ok(),
                Some(environment.as_str())
            );
        }
    }

    #[test]
    fn new_calls_check_their_pointers() {
        let mut len = 0;
        // SAFETY: NULL handles and pointers are what is being tested.
        unsafe {
            assert_eq!(
                alpaca_auth_client_invalidate_token(ptr::null(), c"token".as_ptr()),
                alpaca_auth_result::NullArgument
            );
            assert_eq!(
                alpaca_auth_client_try_header_line(ptr::null(), 0, ptr::null_mut(), 0, &mut len),
                alpaca_auth_result::NullArgument
            );
        }
    }

    #[test]
    fn api_key_client_has_no_token_and_two_header_lines() {
        let mut builder = ptr::null_mut();
        let mut client = ptr::null_mut();
        // SAFETY: valid out pointers, C strings, and handles used as
        // documented.
        unsafe {
            assert_eq!(
                alpaca_auth_builder_new(&mut builder),
                alpaca_auth_result::Ok
            );
            assert_eq!(
                alpaca_auth_builder_set_api_key(builder, c"PKID".as_ptr(), c"sec".as_ptr()),
                alpaca_auth_result::Ok
            );
            assert_eq!(
                alpaca_auth_builder_build(builder, &mut client),
                alpaca_auth_result::Ok
            );
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
                alpaca_auth_client_invalidate_token(client, ptr::null()),
                alpaca_auth_result::NullArgument
            );
            assert_eq!(
                alpaca_auth_client_invalidate_token(client, c"Authorization: Basic x".as_ptr()),
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

    #[test]
    fn stream_urls_and_auth_message_from_c() {
        let mut builder = ptr::null_mut();
        let mut client = ptr::null_mut();
        // SAFETY: valid out pointers, C strings, buffers and handles used as
        // documented.
        unsafe {
            assert_eq!(
                alpaca_auth_builder_new(&mut builder),
                alpaca_auth_result::Ok
            );
            assert_eq!(
                alpaca_auth_builder_set_api_key(builder, c"PKID".as_ptr(), c"s\"c".as_ptr()),
                alpaca_auth_result::Ok
            );
            assert_eq!(
                alpaca_auth_builder_build(builder, &mut client),
                alpaca_auth_result::Ok
            );
            let mut url = ptr::null();
            assert_eq!(
                alpaca_auth_client_market_data_stream_url(client, &mut url),
                alpaca_auth_result::Ok
            );
            assert_eq!(CStr::from_ptr(url), c"wss://stream.data.alpaca.markets");
            assert_eq!(
                alpaca_auth_client_trade_updates_stream_url(client, &mut url),
                alpaca_auth_result::Ok
            );
            assert_eq!(
                CStr::from_ptr(url),
                c"wss://paper-api.alpaca.markets/stream"
            );
            let mut len = 0;
            assert_eq!(
                alpaca_auth_client_stream_auth_message(client, ptr::null_mut(), 0, &mut len),
                alpaca_auth_result::BufferTooSmall
            );
            let mut buf = vec![0 as c_char; len];
            assert_eq!(
                alpaca_auth_client_stream_auth_message(client, buf.as_mut_ptr(), len, &mut len),
                alpaca_auth_result::Ok
            );
            assert_eq!(
                CStr::from_ptr(buf.as_ptr()),
                c"{\"action\":\"auth\",\"key\":\"PKID\",\"secret\":\"s\\\"c\"}"
            );
            alpaca_auth_client_free(client);
        }
    }
}
