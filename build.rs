//! Link settings of the C library (`cdylib`). This is the one place the
//! ABI's version rule lives:
//!
//! - The SONAME follows semver: `libalpaca_auth.so.0.<minor>` while the
//!   version is 0.x (where a minor release may break the ABI),
//!   `libalpaca_auth.so.<major>` from 1.0 on, so a program linked today
//!   never loads an incompatible library. `examples-c/Makefile` reads the
//!   SONAME off the built library.
//! - A linker version script exports only `alpaca_auth_*`, each under the
//!   version node `ALPACA_AUTH_<abi>` (`ALPACA_AUTH_0.1`), and makes every
//!   other symbol local. A program records the node of each function it
//!   uses, and the loader refuses a library without it.
//!
//! rustc passes the linker a version script of its own (an anonymous node
//! listing every `#[no_mangle]` function), and linkers either keep the
//! first script's assignment (lld: no version) or refuse to combine an
//! anonymous node with a named one (GNU ld). So the cdylib is linked by
//! GNU ld through `ld-filter/ld.bfd`, a script written here that drops
//! every version script but this one and runs the system's `ld.bfd`
//! (binutils). `tests/abi.rs` fails if an export lacks the node.

use std::path::{Path, PathBuf};

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
        let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
        let script = out.join("alpaca_auth.map");
        write(&script, &version_script(&abi), false);
        let filter = out.join("ld-filter");
        std::fs::create_dir_all(&filter).expect("create the linker filter's directory");
        write(&filter.join("ld.bfd"), &linker_filter(&script), true);
        println!(
            "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
            script.display()
        );
        // The last -fuse-ld wins; the compiler driver looks for `ld.bfd` in
        // the -B directories (rustc's holds only lld) before its own.
        println!("cargo:rustc-cdylib-link-arg=-fuse-ld=bfd");
        println!("cargo:rustc-cdylib-link-arg=-B{}", filter.display());
    }
}

/// The version script: every `alpaca_auth_*` function under one node named
/// for the ABI, nothing else exported.
fn version_script(abi: &str) -> String {
    format!("ALPACA_AUTH_{abi} {{\n  global:\n    alpaca_auth_*;\n  local:\n    *;\n}};\n")
}

/// A POSIX shell script that runs the system's GNU ld without any version
/// script other than `ours`.
fn linker_filter(ours: &Path) -> String {
    format!(
        r#"#!/bin/sh
# Written by alpaca-auth's build.rs: GNU ld with only the library's own
# version script ({ours}), without the one rustc writes.
for arg; do
  shift
  case "$arg" in
    --version-script={ours}) set -- "$@" "$arg" ;;
    --version-script=*) ;;
    *) set -- "$@" "$arg" ;;
  esac
done
exec ld.bfd "$@"
"#,
        ours = ours.display()
    )
}

fn write(path: &Path, text: &str, executable: bool) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    #[cfg(unix)]
    if executable {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    }
}
