//! Link settings of the C library (`cdylib`). The SONAME follows semver:
//! `libalpaca_auth.so.0.<minor>` while the version is 0.x (where a minor
//! release may break the ABI), `libalpaca_auth.so.<major>` from 1.0 on, so a
//! program linked today never loads an incompatible library. This is the one
//! place the rule lives; `examples-c/Makefile` reads the SONAME off the
//! built library.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".to_owned());
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_else(|_| "0".to_owned());
    let abi = if major == "0" {
        format!("0.{minor}")
    } else {
        major
    };
    if target_os == "linux" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libalpaca_auth.so.{abi}");
    }
}
