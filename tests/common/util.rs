//! Polling with a bound, calls with a time limit, scratch space, programs
//! on `PATH`, and configuration from a list of variables. Needs no mock
//! server (tests built without the `mock` feature include this file by
//! `#[path]`).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use alpaca_auth::ClientBuilder;

/// Polls `done` every 10 ms until it holds; panics naming `what` after
/// `limit`.
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `f` on another thread; panics naming `what` if it takes longer
/// than `limit` (a call that must never hang).
pub fn within<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what} took longer than {limit:?}"))
}

/// A fresh path under the target directory's scratch space, unique to this
/// process and call; nothing is there (it is not created).
pub fn scratch_path(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&path);
    let _ = std::fs::remove_file(&path);
    path
}

/// [`scratch_path`], created as an empty directory.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = scratch_path(name);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// Whether `program` is an executable file in a directory of `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// A URL of a loopback port nothing listens on (connections are refused).
pub fn closed_port_url(path: &str) -> String {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
    };
    format!("http://127.0.0.1:{port}{path}")
}

/// `ClientBuilder::default().from_env_with` over exactly these variables
/// (the last value of a name counts).
pub fn from_vars<V: AsRef<str>>(vars: &[(&str, V)]) -> alpaca_auth::Result<ClientBuilder> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.as_ref().to_owned()))
        .collect();
    ClientBuilder::default().from_env_with(&move |name| {
        Ok(vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone()))
    })
}
