//! Link settings of the C library (`cdylib`): the SONAME carries the major
//! version, so programs linked today keep loading `libalpaca_auth.so.0`
//! until an incompatible `1.x`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".to_owned());
    if target_os == "linux" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libalpaca_auth.so.{major}");
    }
}
