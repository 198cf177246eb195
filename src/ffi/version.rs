//! The library version.

use std::ffi::{c_char, CStr};

use super::panic::ffi_boundary;

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
    ffi_boundary!({ VERSION.as_ptr() })
}

/// A decimal component of the crate version, at compile time.
const fn component(text: &str) -> u32 {
    let bytes = text.as_bytes();
    let mut value = 0u32;
    let mut i = 0;
    while i < bytes.len() {
        assert!(
            bytes[i].is_ascii_digit(),
            "a version component is not a number"
        );
        value = value * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    value
}

/// The version as one integer, `major * 1000000 + minor * 1000 + patch`
/// (0.1.0 is 1000): the C header's `ALPACA_AUTH_VERSION_NUMBER`.
pub(crate) const VERSION_NUMBER: u32 = component(env!("CARGO_PKG_VERSION_MAJOR")) * 1_000_000
    + component(env!("CARGO_PKG_VERSION_MINOR")) * 1_000
    + component(env!("CARGO_PKG_VERSION_PATCH"));

/// The version of the library as one integer, `major * 1000000 + minor *
/// 1000 + patch`. A program refuses a library older than its header with
/// `alpaca_auth_version_number() < ALPACA_AUTH_VERSION_NUMBER` (a 0.x
/// library of another minor version has another SONAME and is never loaded
/// in its place).
#[no_mangle]
pub extern "C" fn alpaca_auth_version_number() -> u32 {
    VERSION_NUMBER
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

    #[test]
    fn version_number_encodes_major_minor_patch() {
        let [major, minor, patch] = ["MAJOR", "MINOR", "PATCH"].map(|part| match part {
            "MAJOR" => env!("CARGO_PKG_VERSION_MAJOR"),
            "MINOR" => env!("CARGO_PKG_VERSION_MINOR"),
            _ => env!("CARGO_PKG_VERSION_PATCH"),
        });
        let number = |part: &str| part.parse::<u32>().unwrap_or(u32::MAX);
        let expected = number(major) * 1_000_000 + number(minor) * 1_000 + number(patch);
        assert_eq!(alpaca_auth_version_number(), expected);
    }
}
