//! Replays the fuzzers' corpora (`fuzz/corpus/<target>/`) and the inputs of
//! fixed findings (`fuzz/regressions/<target>/`) through the same entry
//! points the fuzz targets call (`alpaca_auth::fuzzing`), so every change is
//! checked against them without a fuzzer. Each entry point asserts its own
//! invariants (no panic, typed errors, bounded and redacted server text);
//! this test adds the result kinds.

use std::fs;
use std::path::{Path, PathBuf};

use alpaca_auth::fuzzing;
use alpaca_auth::ErrorKind;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("corpus entry").path();
            if path.is_file() {
                let bytes = fs::read(&path).expect("corpus file");
                files.push((path, bytes));
            }
        }
    }
    files.sort();
    assert!(
        files.len() >= 5,
        "the corpus of {target} is missing ({} files)",
        files.len()
    );
    files
}

/// Runs `check` on every input, naming the file of a failure.
fn replay(target: &str, check: impl Fn(&[u8])) -> usize {
    let files = inputs(target);
    for (path, bytes) in &files {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(bytes)));
        assert!(outcome.is_ok(), "{target}: {} failed", path.display());
    }
    files.len()
}

#[test]
fn private_key_corpus_replays() {
    let mut loaded = 0;
    let n = replay("private_key", |data| match fuzzing::private_key(data) {
        Ok(()) => {}
        Err(e) => assert!(
            matches!(e.kind(), ErrorKind::InvalidKey | ErrorKind::Config),
            "{e}"
        ),
    });
    for (_, data) in inputs("private_key") {
        loaded += usize::from(fuzzing::private_key(&data).is_ok());
    }
    // The seeds include every supported key format.
    assert!(loaded >= 5, "only {loaded} of {n} inputs are loadable keys");
}

#[test]
fn token_response_corpus_replays() {
    replay("token_response", |data| {
        if let Err(e) = fuzzing::token_response(data) {
            assert_eq!(e.kind(), ErrorKind::MalformedResponse, "{e}");
        }
    });
}

#[test]
fn error_body_corpus_replays() {
    replay("error_body", |data| {
        if let Some(oauth) = fuzzing::error_body(data) {
            assert!(!oauth.code().is_empty());
        }
    });
}

#[test]
fn env_config_corpus_replays() {
    replay("env_config", |data| {
        if let Err(e) = fuzzing::env_config(data) {
            assert!(
                matches!(e.kind(), ErrorKind::Config | ErrorKind::InvalidKey),
                "{e}"
            );
        }
    });
}

#[test]
fn url_corpus_replays() {
    replay("url", |data| {
        if let Err(e) = fuzzing::url(data) {
            assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        }
        let _ = fuzzing::retry_after(data);
    });
}
