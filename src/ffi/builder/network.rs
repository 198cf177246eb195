//! Setters of how token requests travel: URLs, timeouts, trust, proxy, and
//! the directory of the file token store.

use std::ffi::c_char;
use std::time::Duration;

use super::{alpaca_auth_builder, with_builder};
use crate::config::{StoreChoice, Timeout, UrlSetting};
use crate::ffi::error::Failure;
use crate::ffi::panic::ffi_boundary;
use crate::ffi::result::alpaca_auth_result;
use crate::ffi::{bytes_arg, non_empty_arg, str_arg};
use crate::store::check_key_prefix;
use crate::{ProxySetting, SecretString, TlsRoots};

/// Shares tokens with the other processes of this user that use the same
/// directory and credential (the built-in file token store; the same as
/// `APCA_TOKEN_CACHE_DIR`): one token request per rotation for the whole
/// fleet. `dir` is an absolute path with no `.` or `..` component and no
/// trailing slash (otherwise `alpaca_auth_builder_build` fails with
/// `ALPACA_AUTH_RESULT_CONFIG`); the directory is created with mode 0700 by
/// `alpaca_auth_builder_build`. A directory that cannot be trusted (another
/// user owns it or can write a directory above it, a symbolic link on the
/// path, permissions open to others) does not fail the build: the client
/// runs without sharing, reports `ALPACA_AUTH_EVENT_KIND_STORE_UNAVAILABLE`
/// to its event callback, and `alpaca_auth_client_token_store_status` says
/// why. Only the access token and its expiry are stored, never a secret or
/// key. No effect for API keys. Works in processes forked after the client
/// was built.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `dir` is NULL
/// or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_token_cache_dir(
    builder: *mut alpaca_auth_builder,
    dir: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder and str_arg need.
        unsafe {
            with_builder(builder, |b| {
                let dir = non_empty_arg(dir, "dir")?;
                b.config.token_store = Some(StoreChoice::Dir(dir.into()));
                Ok(())
            })
        }
    })
}

/// Shares tokens through the built-in Redis store (the same as
/// `APCA_TOKEN_STORE_URL` and `APCA_TOKEN_STORE_PREFIX`): processes on
/// every host that use the same Redis and credential send one token request
/// per rotation. `url` is `redis://[[user]:password@]host[:port][/db]`,
/// `rediss://...` (TLS; the server's certificate verified against the
/// operating system's roots, or `SSL_CERT_FILE`/`SSL_CERT_DIR`) or
/// `unix://[[user]:password@]/path[?db=N]`. `key_prefix` is NULL for the
/// default (`alpaca-auth:`), or 1 to 128 bytes of printable ASCII without
/// spaces or braces. A URL or prefix that does not parse, and any URL in a
/// build of the library without the cargo feature `redis`:
/// `ALPACA_AUTH_RESULT_CONFIG` (the last error names the feature; it never
/// shows the password), builder unchanged. `alpaca_auth_builder_build`
/// connects once: a server that refuses the user or password leaves the
/// client running without sharing (`ALPACA_AUTH_EVENT_KIND_STORE_UNAVAILABLE`,
/// `alpaca_auth_client_token_store_status` says why); a server that is
/// down or does not answer is tried again at each fetch, which falls back
/// to the client's own request meanwhile. Only the access token and its
/// expiry are stored. Replaces `alpaca_auth_builder_set_token_cache_dir`
/// and `alpaca_auth_builder_set_token_store`. No effect for API keys.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `url` is NULL
/// or a NUL-terminated string; `key_prefix` is NULL or a NUL-terminated
/// string.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_token_store_url(
    builder: *mut alpaca_auth_builder,
    url: *const c_char,
    key_prefix: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder and str_arg need.
        unsafe {
            with_builder(builder, |b| {
                let url = str_arg(url, "url")?;
                let key_prefix = if key_prefix.is_null() {
                    None
                } else {
                    let prefix = str_arg(key_prefix, "key_prefix")?;
                    check_key_prefix(prefix)?;
                    Some(prefix.to_owned())
                };
                b.config.set_token_store_url(url)?;
                if let Some(StoreChoice::Redis { prefix, .. }) = &mut b.config.token_store {
                    *prefix = key_prefix;
                }
                Ok(())
            })
        }
    })
}

/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `url` is NULL
/// or a NUL-terminated string.
unsafe fn set_url(
    builder: *mut alpaca_auth_builder,
    url: *const c_char,
    which: UrlSetting,
) -> Result<(), Failure> {
    // SAFETY: forwarded caller guarantees.
    unsafe {
        with_builder(builder, |b| {
            Ok(b.config.set_url(which, str_arg(url, "url")?)?)
        })
    }
}

/// Overrides the Trading/Broker API base URL. `https://`, or `http://` to a
/// loopback host only; no `user:password@`. A refused URL:
/// `ALPACA_AUTH_RESULT_CONFIG`, builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `url` is NULL
/// or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_api_base_url(
    builder: *mut alpaca_auth_builder,
    url: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_url(builder, url, UrlSetting::ApiBase) }
    })
}

/// Overrides the Market Data API base URL. Same rules as
/// `alpaca_auth_builder_set_api_base_url`.
///
/// # Safety
///
/// As `alpaca_auth_builder_set_api_base_url`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_data_base_url(
    builder: *mut alpaca_auth_builder,
    url: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_url(builder, url, UrlSetting::DataBase) }
    })
}

/// Overrides the OAuth2 token endpoint (also the `aud` of client
/// assertions). Same rules as `alpaca_auth_builder_set_api_base_url`.
///
/// # Safety
///
/// As `alpaca_auth_builder_set_api_base_url`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_token_url(
    builder: *mut alpaca_auth_builder,
    url: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_url(builder, url, UrlSetting::Token) }
    })
}

/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
unsafe fn set_timeout(
    builder: *mut alpaca_auth_builder,
    ms: u64,
    which: Timeout,
) -> Result<(), Failure> {
    // SAFETY: forwarded caller guarantees.
    unsafe {
        with_builder(builder, |b| {
            Ok(b.config.set_timeout(which, Duration::from_millis(ms))?)
        })
    }
}

/// Sets the connect timeout, in milliseconds (default
/// `ALPACA_AUTH_DEFAULT_CONNECT_TIMEOUT_MS`). Zero or more than
/// `ALPACA_AUTH_MAX_TIMEOUT_MS`: `ALPACA_AUTH_RESULT_CONFIG`, builder
/// unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_connect_timeout_ms(
    builder: *mut alpaca_auth_builder,
    ms: u64,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_timeout(builder, ms, Timeout::Connect) }
    })
}

/// Sets the timeout of one token request attempt, in milliseconds (default
/// `ALPACA_AUTH_DEFAULT_REQUEST_TIMEOUT_MS`). Zero or more than
/// `ALPACA_AUTH_MAX_TIMEOUT_MS`: `ALPACA_AUTH_RESULT_CONFIG`, builder
/// unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_request_timeout_ms(
    builder: *mut alpaca_auth_builder,
    ms: u64,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_timeout(builder, ms, Timeout::Request) }
    })
}

/// Sets the time budget of one token acquisition, every attempt and wait
/// together, in milliseconds (default `ALPACA_AUTH_DEFAULT_TOKEN_BUDGET_MS`).
/// Zero or more than `ALPACA_AUTH_MAX_TIMEOUT_MS`:
/// `ALPACA_AUTH_RESULT_CONFIG`, builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_token_budget_ms(
    builder: *mut alpaca_auth_builder,
    ms: u64,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_timeout(builder, ms, Timeout::Budget) }
    })
}

/// Sets the longest any call waits for a token, in milliseconds (default:
/// the token budget). A call that finds no valid token waits for the
/// request under way at most this long, then returns
/// `ALPACA_AUTH_RESULT_TIMEOUT` while the request goes on; a call with a
/// valid token never waits. With the default, the first call sends the
/// token request on its own thread; below the budget, a library thread
/// sends it. Every mode: "Which thread sends a token request" in the crate
/// docs (`cargo doc --open`, then `alpaca_auth`). Zero or more than
/// `ALPACA_AUTH_MAX_TIMEOUT_MS`: `ALPACA_AUTH_RESULT_CONFIG`, builder
/// unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_max_wait_ms(
    builder: *mut alpaca_auth_builder,
    ms: u64,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_timeout(builder, ms, Timeout::MaxWait) }
    })
}

/// Trusts the CA certificates of a PEM bundle (`pem_len` bytes) in addition
/// to the built-in webpki roots, for TLS-inspecting proxies. May be called
/// more than once. The bytes are copied.
///
/// No `-----BEGIN CERTIFICATE-----` block, or one that does not decode:
/// `ALPACA_AUTH_RESULT_CONFIG`, builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `pem` is NULL
/// or points to `pem_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_add_ca_bundle_pem(
    builder: *mut alpaca_auth_builder,
    pem: *const u8,
    pem_len: usize,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder and bytes_arg need.
        unsafe {
            with_builder(builder, |b| {
                let pem = bytes_arg(pem, pem_len, "pem")?;
                Ok(b.config.add_ca_bundle_pem(pem)?)
            })
        }
    })
}

/// Trusts the CA certificates of a PEM file, read now (at most
/// `ALPACA_AUTH_MAX_CA_BUNDLE_LEN` bytes), as
/// `alpaca_auth_builder_add_ca_bundle_pem` trusts a bundle in memory; the
/// file `APCA_CA_BUNDLE` names is read the same way. May be called more
/// than once.
///
/// A file that cannot be read, is not a regular file, or holds no
/// certificate: `ALPACA_AUTH_RESULT_CONFIG` (the last error shows the
/// path, never the content), builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `path` is NULL
/// or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_add_ca_bundle_file(
    builder: *mut alpaca_auth_builder,
    path: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder and non_empty_arg need.
        unsafe {
            with_builder(builder, |b| {
                let path = non_empty_arg(path, "path")?;
                let certs = crate::trust::read_ca_file(std::path::Path::new(&path))?;
                b.config.add_ca_certificates(certs);
                Ok(())
            })
        }
    })
}

/// Chooses the roots of trust of token requests by name: `env` (the
/// default: the certificates of `SSL_CERT_FILE` and `SSL_CERT_DIR` when
/// either is set, else the Mozilla roots bundled in the library), `bundled`
/// (the bundled roots, whatever the environment says) or `platform` (the
/// operating system's verifier; only in a library built with the
/// `platform-verifier` feature, and without an added CA bundle, both
/// checked by `alpaca_auth_builder_build`). CA bundles added with
/// `alpaca_auth_builder_add_ca_bundle_pem` are trusted too. An unknown
/// name: `ALPACA_AUTH_RESULT_CONFIG`, builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `name` is NULL
/// or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_tls_roots(
    builder: *mut alpaca_auth_builder,
    name: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder and str_arg need.
        unsafe {
            with_builder(builder, |b| {
                let roots: TlsRoots = str_arg(name, "name")?.parse()?;
                b.config.transport.roots = roots;
                Ok(())
            })
        }
    })
}

/// Sends token requests through this proxy (`http://host:port` or
/// `https://host:port`; SOCKS is not supported; it may carry
/// `user:password@`, which is never printed). The URL is checked by
/// `alpaca_auth_builder_build`, which refuses it with a plain `http://`
/// token URL. An empty
/// string: `ALPACA_AUTH_RESULT_INVALID_ARGUMENT` (use
/// `alpaca_auth_builder_disable_proxy` for no proxy).
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `url` is NULL
/// or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_proxy(
    builder: *mut alpaca_auth_builder,
    url: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder and str_arg need.
        unsafe {
            with_builder(builder, |b| {
                let url = str_arg(url, "url")?;
                if url.trim().is_empty() {
                    return Err(Failure::new(
                        alpaca_auth_result::InvalidArgument,
                        "the proxy URL is empty; call alpaca_auth_builder_disable_proxy for no proxy",
                    ));
                }
                let proxy = ProxySetting::Url(SecretString::new(url));
                b.config.transport.proxy = proxy;
                Ok(())
            })
        }
    })
}

/// Sends token requests directly, whatever the proxy environment variables
/// say.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_disable_proxy(
    builder: *mut alpaca_auth_builder,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe {
            with_builder(builder, |b| {
                b.config.transport.proxy = ProxySetting::Disabled;
                Ok(())
            })
        }
    })
}
