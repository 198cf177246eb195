//! Setters of the refresh and retry policies.

use std::time::Duration;

use super::{alpaca_auth_builder, with_builder};
use crate::config::Config;
use crate::ffi::error::Failure;
use crate::ffi::panic::ffi_boundary;
use crate::ffi::result::alpaca_auth_result;

/// Sets the least time before expiry a token is refreshed, in milliseconds
/// (default `ALPACA_AUTH_DEFAULT_REFRESH_AHEAD_MIN_MS`). The refresh starts
/// at the larger of this and `alpaca_auth_builder_set_refresh_ahead_fraction`
/// of the lifetime, at most half the lifetime. More than the longest token
/// lifetime (a day): `ALPACA_AUTH_RESULT_CONFIG`, builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_refresh_ahead_min_ms(
    builder: *mut alpaca_auth_builder,
    ms: u64,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_ms(builder, ms, Config::set_refresh_ahead_min) }
    })
}

/// Sets the least fraction of a token's lifetime before its expiry that it
/// is refreshed (default `ALPACA_AUTH_DEFAULT_REFRESH_AHEAD_FRACTION`; for
/// example 0.25 refreshes at 75 % of the lifetime). Not a number from 0 to
/// 1: `ALPACA_AUTH_RESULT_CONFIG`, builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_refresh_ahead_fraction(
    builder: *mut alpaca_auth_builder,
    fraction: f64,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe {
            with_builder(builder, |b| {
                Ok(b.config.set_refresh_ahead_fraction(fraction)?)
            })
        }
    })
}

/// Sets the most HTTP requests of one token acquisition, the first
/// included (default `ALPACA_AUTH_DEFAULT_RETRY_MAX_ATTEMPTS`); all of them
/// fit in the token budget. Zero: `ALPACA_AUTH_RESULT_CONFIG`, builder
/// unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_retry_max_attempts(
    builder: *mut alpaca_auth_builder,
    attempts: u32,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe {
            with_builder(builder, |b| {
                Ok(b.config.set_retry_max_attempts(attempts)?)
            })
        }
    })
}

/// Sets the backoff before the first retry, in milliseconds (default
/// `ALPACA_AUTH_DEFAULT_RETRY_INITIAL_BACKOFF_MS`); it doubles with each
/// retry up to `alpaca_auth_builder_set_retry_max_backoff_ms`, with jitter,
/// and a server's `Retry-After` is honoured when longer. More than
/// `ALPACA_AUTH_MAX_TIMEOUT_MS`: `ALPACA_AUTH_RESULT_CONFIG`, builder
/// unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_retry_initial_backoff_ms(
    builder: *mut alpaca_auth_builder,
    ms: u64,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_ms(builder, ms, Config::set_retry_initial_backoff) }
    })
}

/// Sets the longest backoff between retries, in milliseconds (default
/// `ALPACA_AUTH_DEFAULT_RETRY_MAX_BACKOFF_MS`). More than
/// `ALPACA_AUTH_MAX_TIMEOUT_MS`: `ALPACA_AUTH_RESULT_CONFIG`, builder
/// unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_retry_max_backoff_ms(
    builder: *mut alpaca_auth_builder,
    ms: u64,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_ms(builder, ms, Config::set_retry_max_backoff) }
    })
}

/// Sets a duration given in milliseconds through its `Config` setter
/// (which checks it).
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
unsafe fn set_ms(
    builder: *mut alpaca_auth_builder,
    ms: u64,
    setter: fn(&mut Config, Duration) -> crate::Result<()>,
) -> Result<(), Failure> {
    // SAFETY: forwarded caller guarantees.
    unsafe {
        with_builder(builder, |b| {
            Ok(setter(&mut b.config, Duration::from_millis(ms))?)
        })
    }
}
