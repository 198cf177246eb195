//! Key files: only regular files are read (a FIFO or a terminal never
//! hangs the loader), and error messages show the path bounded and escaped.

#[path = "common/util.rs"]
mod util;

use std::process::Command;
use std::time::Duration;

use alpaca_auth::{ClientBuilder, ErrorKind, PrivateKey};
use util::{from_vars, scratch_dir, within};

/// Loading a key must never take this long.
const HUNG: Duration = Duration::from_secs(5);

#[test]
fn a_fifo_or_other_non_regular_file_is_refused_without_hanging() {
    let dir = scratch_dir("key-files-fifo");
    let fifo = dir.join("key.pem");
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
    for path in [fifo.clone(), dir.clone()] {
        let shown = path.clone();
        let err = within("loading the key", HUNG, move || {
            PrivateKey::from_file(&shown).unwrap_err()
        });
        assert_eq!(err.kind(), ErrorKind::InvalidKey, "{err}");
        assert!(err.message().contains("not a regular file"), "{err}");
    }
    // Through the environment, as APCA_PRIVATE_KEY_PATH.
    let path = fifo.to_string_lossy().into_owned();
    let err = within("loading the key", HUNG, move || {
        from_vars(&[
            ("APCA_ENVIRONMENT", "broker-sandbox"),
            ("APCA_CLIENT_ID", "MOCKJWTCLIENT0000001"),
            ("APCA_PRIVATE_KEY_PATH", &path),
        ])
        .and_then(ClientBuilder::build)
        .unwrap_err()
    });
    assert_eq!(err.kind(), ErrorKind::InvalidKey, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn key_paths_in_errors_are_escaped_and_bounded() {
    let dir = scratch_dir("key-files-escape");
    let nasty = dir.join(format!("\u{1b}]0;pwned\u{7}\u{1b}[2J{}", "k".repeat(400)));
    let err = PrivateKey::from_file(&nasty).unwrap_err();
    let text = format!("{err}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(text.len() < 600, "unbounded: {} bytes", text.len());
    std::fs::remove_dir_all(&dir).unwrap();
}
