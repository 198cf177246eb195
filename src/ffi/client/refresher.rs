//! The background refresher's status (`alpaca_auth_refresher_status`, a
//! caller-allocated versioned struct).

use std::mem::offset_of;

use super::{alpaca_auth_client, client_ref};
use crate::ffi::error::{set_last_error, Failure};
use crate::ffi::panic::ffi_boundary;
use crate::ffi::result::alpaca_auth_result;
use crate::ffi::{caller_struct_size, put_field};

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
