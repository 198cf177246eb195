//! The doctor from C: its report, text or JSON, copied into a caller
//! buffer.

use std::ffi::c_char;

use super::error::Failure;
use super::panic::ffi_boundary;
use super::result::alpaca_auth_result;
use super::{check_copy_args, copy_out, str_arg};

/// Runs the doctor's checks with the process environment (the `APCA_*`,
/// proxy and `SSL_CERT_*` variables, as `alpaca_auth_client_new_from_env`
/// reads them): the configuration, DNS, TCP and TLS of the token endpoint
/// and the API base, the clock against their `Date` header, a token request
/// and one authenticated read-only API request. It blocks for the network
/// steps, each bounded by a few seconds. Then it copies the report,
/// NUL-terminated, into `buf`: `format` `"text"` gives one line per check
/// (`[ ok ]`, `[warn]`, `[FAIL]` or `[skip]`, the check's name, its finding
/// and maybe a hint) and a summary line, `"json"` one JSON object (`ok`,
/// counts, `elapsed_ms`, `checks`). A report never holds a secret, a token
/// or a private key.
///
/// `*len_out` receives the length needed, terminating NUL included, on
/// `ALPACA_AUTH_RESULT_OK` and on `ALPACA_AUTH_RESULT_BUFFER_TOO_SMALL`;
/// `buf` is written only on `ALPACA_AUTH_RESULT_OK`. Each call runs the
/// checks again, and a second report may be a few bytes longer than the
/// first (timings): a buffer of `ALPACA_AUTH_MAX_DOCTOR_REPORT` bytes holds
/// any report. `*failures_out` (if not NULL) receives the number of failed
/// checks on `ALPACA_AUTH_RESULT_OK`: 0 means authentication works on this
/// host (warnings aside). A failed check is not a failure of this call.
///
/// Returns `ALPACA_AUTH_RESULT_NULL_ARGUMENT` if `format` or `len_out` is
/// NULL, or `buf` is NULL while `len` is not 0;
/// `ALPACA_AUTH_RESULT_INVALID_ARGUMENT` for a `format` other than `"text"`
/// and `"json"`.
///
/// # Safety
///
/// `format` is NULL or a NUL-terminated string; `buf` is NULL or valid for
/// writes of `len` bytes; `len_out` and `failures_out` are NULL or valid
/// for a write of a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_doctor_report(
    format: *const c_char,
    buf: *mut c_char,
    len: usize,
    len_out: *mut usize,
    failures_out: *mut usize,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller guarantees NULL or a NUL-terminated string.
        let json = match unsafe { str_arg(format, "format") }? {
            "text" => false,
            "json" => true,
            _ => {
                return Err(Failure::new(
                    alpaca_auth_result::InvalidArgument,
                    "format must be \"text\" or \"json\"",
                ))
            }
        };
        check_copy_args(buf, len, len_out)?;
        let report = crate::doctor::run();
        let text = if json {
            report.to_json()
        } else {
            report.to_text()
        };
        // SAFETY: the caller's guarantees on buf/len/len_out are those of
        // copy_out.
        unsafe { copy_out(&[text.as_bytes()], buf, len, len_out, "doctor report") }?;
        if !failures_out.is_null() {
            // SAFETY: not NULL; the caller guarantees it is valid for a write.
            unsafe { failures_out.write(report.failures()) };
        }
        Ok(())
    })
}
