//! The boundary every export's body runs behind (after rustls-ffi's
//! `ffi_panic_boundary!`): no unwind ever crosses into C, and the calling
//! thread's last error follows the call.
//!
//! ```text
//! #[no_mangle]
//! pub unsafe extern "C" fn alpaca_auth_thing_do(thing: *const Thing) -> alpaca_auth_result {
//!     ffi_boundary!({
//!         let thing = unsafe { thing.as_ref() }.ok_or_else(|| Failure::null("thing"))?;
//!         thing.work()?;
//!         Ok(())
//!     })
//! }
//! ```
//!
//! The function items stay written out (cbindgen reads them, and expands no
//! macro); the macro wraps only the body. What the body evaluates to
//! decides the rest (`Outcome`): a `Result<(), Failure>` becomes an
//! `alpaca_auth_result`, with the last error cleared on entry and set to
//! `"<export>: <message>"` on failure; any other value is returned as it is.
//! After a panic the export returns its return type's `PanicFallback` and
//! the last error says which export caught it. The export's name comes from
//! the macro, never from a string typed beside it.
//!
//! `AssertUnwindSafe` is used throughout: after a caught panic the handles
//! involved may hold a partial update, which is why
//! `ALPACA_AUTH_RESULT_PANIC` tells callers to free them rather than use them
//! again. The client's own state is behind poison-tolerant locks.

use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::{clear_last_error, set_last_error, Failure};
use super::result::alpaca_auth_result;

/// Runs the body of an export behind the boundary (see the module
/// documentation). Use it directly in the `extern "C" fn`, not in a closure
/// or a nested function: the export's name is taken from the function it
/// expands in.
macro_rules! ffi_boundary {
    ($body:block) => {{
        // Its path (`...::<export>::export`) names the export.
        fn export() {}
        $crate::ffi::panic::run(export, || $body)
    }};
}
pub(crate) use ffi_boundary;

/// What an export returns after a caught panic.
pub(crate) trait PanicFallback {
    /// The value returned.
    fn fallback() -> Self;
}

impl PanicFallback for alpaca_auth_result {
    fn fallback() -> Self {
        alpaca_auth_result::Panic
    }
}

impl PanicFallback for usize {
    fn fallback() -> Self {
        0
    }
}

impl PanicFallback for () {
    fn fallback() -> Self {}
}

impl PanicFallback for *const c_char {
    /// A static `"unknown"`: the exports returning a string promise never to
    /// return NULL, and `alpaca_auth_result_str` says `"unknown"` for what it
    /// cannot name.
    fn fallback() -> Self {
        c"unknown".as_ptr()
    }
}

/// What the body of an export evaluates to, and how it reaches C.
pub(crate) trait Outcome {
    /// The export's C return type.
    type Returned: PanicFallback;

    /// Runs before the body.
    #[inline(always)]
    fn enter() {}

    /// The value returned to C; `export` names the export.
    fn returned(self, export: impl FnOnce() -> &'static str) -> Self::Returned;

    /// The value returned to C after a panic in the body.
    #[cold]
    fn panicked(export: &'static str) -> Self::Returned {
        // The payload is not quoted: it could hold anything.
        set_last_error(format!(
            "{export}: internal error: a panic was caught at the C boundary (a bug in alpaca-auth; please report it)"
        ));
        Self::Returned::fallback()
    }
}

/// A fallible export: it clears the last error on entry and sets it on
/// failure.
impl Outcome for Result<(), Failure> {
    type Returned = alpaca_auth_result;

    #[inline(always)]
    fn enter() {
        clear_last_error();
    }

    #[inline(always)]
    fn returned(self, export: impl FnOnce() -> &'static str) -> alpaca_auth_result {
        match self {
            Ok(()) => alpaca_auth_result::Ok,
            Err(failure) => failed(export(), failure),
        }
    }
}

#[cold]
#[inline(never)]
fn failed(export: &str, failure: Failure) -> alpaca_auth_result {
    set_last_error(format!("{export}: {}", failure.message));
    failure.code
}

/// The outcome of `alpaca_auth_last_error`, which never changes the last
/// error, whatever happens.
pub(crate) struct LastErrorUntouched(pub(crate) Result<(), Failure>);

impl Outcome for LastErrorUntouched {
    type Returned = alpaca_auth_result;

    fn returned(self, _export: impl FnOnce() -> &'static str) -> alpaca_auth_result {
        self.0.err().map_or(alpaca_auth_result::Ok, |f| f.code)
    }

    fn panicked(_export: &'static str) -> alpaca_auth_result {
        alpaca_auth_result::Panic
    }
}

/// Exports that cannot report a result (a `_free`, a count, a static
/// string) return their value as it is.
macro_rules! plain_outcome {
    ($($t:ty),*) => {$(
        impl Outcome for $t {
            type Returned = $t;

            #[inline(always)]
            fn returned(self, _export: impl FnOnce() -> &'static str) -> $t {
                self
            }
        }
    )*};
}
plain_outcome!(usize, (), *const c_char);

/// The boundary itself, which `ffi_boundary!` expands to. `E` is the type
/// of a function item declared inside the export: its type name is the
/// export's path.
#[inline(always)]
pub(crate) fn run<E: Fn(), O: Outcome>(_export: E, body: impl FnOnce() -> O) -> O::Returned {
    // The outcome becomes the C value inside: only that (a register) is
    // carried out of `catch_unwind`.
    let guarded = || {
        O::enter();
        body().returned(export_name::<E>)
    };
    match catch_unwind(AssertUnwindSafe(guarded)) {
        Ok(value) => value,
        Err(_) => O::panicked(export_name::<E>()),
    }
}

/// The export's name: the segment before the last of `E`'s type name
/// (`alpaca_auth::ffi::client::alpaca_auth_client_free::export`).
fn export_name<E>() -> &'static str {
    let path = std::any::type_name::<E>();
    let mut segments = path.rsplit("::");
    segments.next();
    segments.next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::super::error::last_error;
    use super::*;

    /// A body that panics, whatever it should return.
    fn boom<T>() -> T {
        panic!("boom with detail")
    }

    fn alpaca_auth_test_panics() -> alpaca_auth_result {
        ffi_boundary!({ boom::<Result<(), Failure>>() })
    }

    fn alpaca_auth_test_count_panics() -> usize {
        ffi_boundary!({ boom::<usize>() })
    }

    fn alpaca_auth_test_string_panics() -> *const c_char {
        ffi_boundary!({ boom::<*const c_char>() })
    }

    fn alpaca_auth_x(fail: bool) -> alpaca_auth_result {
        ffi_boundary!({
            if fail {
                return Err(Failure::new(alpaca_auth_result::Config, "what was wrong"));
            }
            Ok(())
        })
    }

    #[test]
    fn a_panic_becomes_the_fallback_and_a_last_error() {
        assert_eq!(alpaca_auth_test_panics(), alpaca_auth_result::Panic);
        let message = last_error();
        assert!(
            message.starts_with("alpaca_auth_test_panics: internal error"),
            "{message}"
        );
        assert!(!message.contains("boom"), "payload not quoted: {message}");
        assert_eq!(alpaca_auth_test_count_panics(), 0);
        assert!(last_error().starts_with("alpaca_auth_test_count_panics: internal error"));
        let text = alpaca_auth_test_string_panics();
        assert!(!text.is_null());
        // SAFETY: a static NUL-terminated string (checked non-NULL).
        assert_eq!(unsafe { std::ffi::CStr::from_ptr(text) }, c"unknown");
    }

    #[test]
    fn failures_are_prefixed_with_the_function_and_success_clears() {
        assert_eq!(alpaca_auth_x(true), alpaca_auth_result::Config);
        assert_eq!(last_error(), "alpaca_auth_x: what was wrong");
        assert_eq!(alpaca_auth_x(false), alpaca_auth_result::Ok);
        assert_eq!(last_error(), "");
    }

    #[test]
    fn the_last_error_export_leaves_the_last_error_alone() {
        assert_eq!(alpaca_auth_x(true), alpaca_auth_result::Config);
        let r = run(|| {}, || LastErrorUntouched(Ok(())));
        assert_eq!(r, alpaca_auth_result::Ok);
        let r = run(|| {}, boom::<LastErrorUntouched>);
        assert_eq!(r, alpaca_auth_result::Panic);
        assert_eq!(last_error(), "alpaca_auth_x: what was wrong");
    }
}
