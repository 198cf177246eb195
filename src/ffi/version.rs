//! The library version.

use std::ffi::{c_char, CStr};

/// The version, as a C string.
const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(version) => version,
        Err(_) => panic!("the crate version contains a NUL byte"),
    };

/// The version of the library, such as `"0.1.0"`: a static string, never
/// NULL. Compare it with the `ALPACA_AUTH_VERSION` macro of the header the
/// program was compiled with.
#[no_mangle]
pub extern "C" fn alpaca_auth_version() -> *const c_char {
    super::panic::guard_or("alpaca_auth_version", VERSION.as_ptr(), || VERSION.as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_crate_version() {
        // SAFETY: a static NUL-terminated string.
        let version = unsafe { CStr::from_ptr(alpaca_auth_version()) };
        assert_eq!(version.to_str().ok(), Some(env!("CARGO_PKG_VERSION")));
    }
}
