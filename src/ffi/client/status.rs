//! How a client is doing: whether it shares tokens through a store, its
//! counters (`alpaca_auth_stats`, a caller-allocated versioned struct), and
//! how long its cached token still lasts.

use std::mem::offset_of;

use super::{alpaca_auth_client, client_ref};
use crate::ffi::error::{set_last_error, Failure};
use crate::ffi::panic::ffi_boundary;
use crate::ffi::result::alpaca_auth_result;
use crate::ffi::{caller_struct_size, check_out, put_field, write_out};
use crate::TokenStoreStatus;

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

/// Whether a client shares its tokens through a token store
/// (`alpaca_auth_client_token_store_status`). Values are stable and never
/// reused.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
