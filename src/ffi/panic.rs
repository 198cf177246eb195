//! The panic boundary (after rustls-ffi's `panic.rs`): every export runs its
//! body inside `catch_unwind`, so no unwind ever crosses into C.
//!
//! `AssertUnwindSafe` is used throughout: after a caught panic the handles
//! involved may hold a partial update, which is why
//! `ALPACA_AUTH_RESULT_PANIC` tells callers to free them rather than use them
//! again. The client's own state is behind poison-tolerant locks.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::{clear_last_error, set_last_error, Failure};
use super::result::alpaca_auth_result;

/// Runs a fallible export: clears the last error, maps the outcome to a
/// result code, and on failure keeps `function: message` as the last error.
pub(crate) fn guard(
    function: &str,
    body: impl FnOnce() -> Result<(), Failure>,
) -> alpaca_auth_result {
    clear_last_error();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => alpaca_auth_result::Ok,
        Ok(Err(failure)) => {
            set_last_error(format!("{function}: {}", failure.message));
            failure.code
        }
        Err(_) => {
            set_last_error(panic_message(function));
            alpaca_auth_result::Panic
        }
    }
}

/// Runs `alpaca_auth_last_error`, which must not touch the last error.
pub(crate) fn guard_keep_last_error(
    body: impl FnOnce() -> Result<(), Failure>,
) -> alpaca_auth_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => alpaca_auth_result::Ok,
        Ok(Err(failure)) => failure.code,
        Err(_) => alpaca_auth_result::Panic,
    }
}

/// Runs an export that cannot report a result (a `_free`, a getter):
/// `fallback` if it panics.
pub(crate) fn guard_or<T>(function: &str, fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(_) => {
            set_last_error(panic_message(function));
            fallback
        }
    }
}

/// The payload is not quoted: it could hold anything.
fn panic_message(function: &str) -> String {
    format!("{function}: internal error: a panic was caught at the C boundary (a bug in alpaca-auth; please report it)")
}

#[cfg(test)]
mod tests {
    use super::super::error::last_error;
    use super::*;

    #[test]
    fn a_panic_becomes_the_panic_result_and_a_last_error() {
        let r = guard("alpaca_auth_test", || panic!("boom with detail"));
        assert_eq!(r, alpaca_auth_result::Panic);
        let message = last_error();
        assert!(
            message.starts_with("alpaca_auth_test: internal error"),
            "{message}"
        );
        assert!(!message.contains("boom"), "payload not quoted: {message}");
        let value = guard_or("alpaca_auth_test", 7usize, || panic!("again"));
        assert_eq!(value, 7);
    }

    #[test]
    fn failures_are_prefixed_with_the_function_and_success_clears() {
        let r = guard("alpaca_auth_x", || {
            Err(Failure::new(alpaca_auth_result::Config, "what was wrong"))
        });
        assert_eq!(r, alpaca_auth_result::Config);
        assert_eq!(last_error(), "alpaca_auth_x: what was wrong");
        assert_eq!(guard("alpaca_auth_y", || Ok(())), alpaca_auth_result::Ok);
        assert_eq!(last_error(), "");
    }
}
