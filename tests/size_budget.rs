//! The size budget of the shipped library: the stripped release
//! `libalpaca_auth.so` with the default features stays under 3 MiB, so a
//! size increase is a decision (raise the budget here, in a reviewed
//! change) rather than a drift.
//!
//! A release build takes minutes, too slow for every `cargo test`: this
//! test measures the release library when one exists (`cargo build
//! --release --lib`; `.ci/run` builds it just before running this test)
//! and otherwise prints `skipped: no release build` and passes. It fails
//! when the release library is older than the sources, so a stale build is
//! never measured. `benches/report.sh` prints the size of the default
//! build and of each optional feature.
#![cfg(target_os = "linux")]

use std::path::PathBuf;
use std::process::Command;
use std::time::SystemTime;

/// The most the stripped release `libalpaca_auth.so` may weigh, in bytes.
const LIBRARY_BUDGET: u64 = 3 * 1024 * 1024;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The newest modification time of the files a release build depends on.
fn newest_source() -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut todo = vec![root().join("src")];
    for file in ["Cargo.toml", "Cargo.lock", "build.rs"] {
        todo.push(root().join(file));
    }
    while let Some(path) = todo.pop() {
        let meta = std::fs::metadata(&path).expect("source metadata");
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).expect("source directory") {
                todo.push(entry.expect("entry").path());
            }
        } else {
            newest = newest.max(meta.modified().expect("mtime"));
        }
    }
    newest
}

#[test]
fn stripped_release_library_stays_within_the_size_budget() {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    let library = target.join("release/libalpaca_auth.so");
    let Ok(meta) = std::fs::metadata(&library) else {
        eprintln!(
            "skipped: no release build ({} missing; cargo build --release --lib)",
            library.display()
        );
        return;
    };
    assert!(
        meta.modified().expect("mtime") >= newest_source(),
        "{} is older than the sources: cargo build --release --lib",
        library.display()
    );
    let stripped = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("libalpaca_auth.stripped.so");
    let status = Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(&library)
        .status()
        .expect("strip (binutils) runs");
    assert!(status.success(), "strip failed");
    let size = std::fs::metadata(&stripped)
        .expect("stripped library")
        .len();
    println!("stripped release libalpaca_auth.so: {size} bytes (budget {LIBRARY_BUDGET})");
    assert!(
        size <= LIBRARY_BUDGET,
        "the stripped release libalpaca_auth.so is {size} bytes, over its budget of \
         {LIBRARY_BUDGET}: find what grew (benches/report.sh lists the size per feature), \
         or raise LIBRARY_BUDGET in tests/size_budget.rs deliberately"
    );
}
