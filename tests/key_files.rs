//! Key files: only regular files are read (a FIFO or a terminal never
//! hangs the loader), and error messages show the path bounded and escaped.

use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use alpaca_auth::{Client, ErrorKind, PrivateKey};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "alpaca-auth-key-files-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `f` on another thread; panics if it takes longer than 5 s.
fn within_5s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("loading the key hung")
}

#[test]
fn a_fifo_or_other_non_regular_file_is_refused_without_hanging() {
    let dir = scratch("fifo");
    let fifo = dir.join("key.pem");
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
    for path in [fifo.clone(), dir.clone()] {
        let shown = path.clone();
        let err = within_5s(move || PrivateKey::from_file(&shown).unwrap_err());
        assert_eq!(err.kind(), ErrorKind::InvalidKey, "{err}");
        assert!(err.message().contains("not a regular file"), "{err}");
    }
    // Through the environment, as APCA_PRIVATE_KEY_PATH.
    let path = fifo.to_string_lossy().into_owned();
    let err = within_5s(move || {
        let lookup = move |name: &str| {
            Ok(match name {
                "APCA_ENVIRONMENT" => Some("broker-sandbox".to_owned()),
                "APCA_CLIENT_ID" => Some("MOCKJWTCLIENT0000001".to_owned()),
                "APCA_PRIVATE_KEY_PATH" => Some(path.clone()),
                _ => None,
            })
        };
        Client::builder()
            .from_env_with(&lookup)
            .and_then(|b| b.build())
            .unwrap_err()
    });
    assert_eq!(err.kind(), ErrorKind::InvalidKey, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn key_paths_in_errors_are_escaped_and_bounded() {
    let dir = scratch("escape");
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
