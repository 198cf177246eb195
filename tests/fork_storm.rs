//! A fork storm through the C ABI (`tests/c/fork_storm.c`): thousands of
//! `fork()`s from a process whose threads are inside the library all the
//! time (token fetches, store loads, locks and publishes, event callbacks),
//! and every child must get its header lines, report a 401, free its
//! clients and keep no `.lock` descriptor of the file store, within its
//! hang guard. Not under valgrind: too slow for thousands of processes.
#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::time::Duration;

use common::c::*;
use common::mock;

/// Forks at most, and for at most how long: the whole test stays near a
/// minute on a small machine (children still running at the deadline are
/// waited for, up to the program's own kill bound).
const FORKS: u64 = 4000;
const FORK_SECONDS: u64 = 40;
/// Fewer forks than this in `FORK_SECONDS` is no storm: the program or the
/// machine is broken.
const MIN_FORKS: u64 = 500;
/// Token lifetime at the mock: refreshed at half-life, so a rotation every
/// second on top of the 401s the parent's threads report.
const TOKEN_SECONDS: u64 = 2;
/// Every token response is this late, so fetches are in flight at most
/// forks.
const TOKEN_DELAY: Duration = Duration::from_millis(2);

/// The `name N` counts of the summary line `forks N, ok A, ...`.
fn counts(summary: &str) -> Vec<(String, f64)> {
    summary
        .split(", ")
        .filter_map(|part| {
            let (name, value) = part.split_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn count(counts: &[(String, f64)], name: &str) -> u64 {
    counts
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| *v as u64)
        .unwrap_or_else(|| panic!("no {name} in the summary"))
}

#[test]
fn every_child_of_a_fork_storm_gets_its_headers_frees_its_clients_and_keeps_no_lock() {
    let built = built();
    let mock = mock();
    mock.set_expires_in(TOKEN_SECONDS);
    mock.set_token_delay(TOKEN_DELAY);
    let dir = scratch().join(format!("fork-storm-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let mut command = program_for(&built.program("fork_storm"), "STORM", &mock);
    command
        .env("STORM_CACHE_DIR", &dir)
        .env("STORM_FORKS", FORKS.to_string())
        .env("STORM_SECONDS", FORK_SECONDS.to_string());
    let ran = run(command, "fork_storm");
    let _ = fs::remove_dir_all(&dir);
    eprintln!("{}", ran.stdout);
    let summary = ran
        .lines_starting("storm: forks ")
        .first()
        .map(|rest| format!("forks {rest}"))
        .unwrap_or_else(|| panic!("no summary\n{}\n{}", ran.stdout, ran.stderr));
    let counts = counts(&summary);
    let forks = count(&counts, "forks");
    eprintln!(
        "fork storm: {forks} forks, {} token requests at the mock",
        mock.token_requests()
    );
    assert!(
        forks >= MIN_FORKS,
        "only {forks} forks in {FORK_SECONDS} s\n{}",
        ran.stderr
    );
    assert_eq!(
        (
            count(&counts, "hung"),
            count(&counts, "failed"),
            count(&counts, "lock_fd")
        ),
        (0, 0, 0),
        "children hung, failed or kept a lock descriptor: {summary}\n--- stderr\n{}",
        ran.stderr
    );
    assert_eq!(count(&counts, "ok"), forks, "{summary}");
    ran.assert_success("tests/c/fork_storm.c");
}
