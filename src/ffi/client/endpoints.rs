//! What a client talks to and how: its resolved URLs (borrowed strings that
//! live as long as the client), the WebSocket stream URLs and the stream
//! auth message, its environment and whether it uses tokens.

use std::ffi::{c_char, CStr};

use super::{alpaca_auth_client, client_ref};
use crate::ffi::error::Failure;
use crate::ffi::panic::ffi_boundary;
use crate::ffi::result::alpaca_auth_result;
use crate::ffi::{check_copy_args, check_out, copy_out, reset_out, write_out};
use crate::Environment;

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
pub unsafe extern "C" fn alpaca_auth_client_market_data_stream_base(
    client: *const alpaca_auth_client,
    url_out: *mut *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { market_data_stream_base(client, url_out) }
    })
}

/// The former name of `alpaca_auth_client_market_data_stream_base` (what
/// it gives is a base: the feed's path goes below it), kept for programs
/// built against 0.1.
///
/// # Safety
///
/// As `alpaca_auth_client_api_base_url`.
#[no_mangle]
#[deprecated(note = "use alpaca_auth_client_market_data_stream_base")]
pub unsafe extern "C" fn alpaca_auth_client_market_data_stream_url(
    client: *const alpaca_auth_client,
    url_out: *mut *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { market_data_stream_base(client, url_out) }
    })
}

/// # Safety
///
/// As `alpaca_auth_client_api_base_url`.
unsafe fn market_data_stream_base(
    client: *const alpaca_auth_client,
    url_out: *mut *const c_char,
) -> Result<(), Failure> {
    // SAFETY: forwarded caller guarantees.
    unsafe {
        borrowed_str(client, url_out, "url_out", |h| {
            h.market_data_stream.as_ptr()
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::client::alpaca_auth_client_free;
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
    fn stream_urls_and_auth_message_from_c() {
        let client = crate::ffi::client::tests::api_key_client(c"s\"c");
        // SAFETY: a live client, valid out pointers and buffers, freed once.
        unsafe {
            let mut url = ptr::null();
            assert_eq!(
                alpaca_auth_client_market_data_stream_base(client, &mut url),
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
