//! Another local user against the file token store: the attacks of the
//! review, played with two unprivileged user IDs. The victim's processes
//! are `alpaca-auth token` run as [`VICTIM`] (by `setpriv`); the attacker's
//! moves are made by root standing for [`ATTACKER`] (files chowned to it),
//! or for someone who once had write access to the store. Two accounts of
//! the victim, A (the mock's default client) and B (registered here), share
//! one store; whatever the attacker does, B must never print A's token.
//!
//! Needs root (two user IDs); elsewhere each test prints
//! `skipped: not root (the attacks need two user IDs)` and passes.
#![cfg(all(target_os = "linux", feature = "mock"))]

mod common;

use std::fs;
use std::os::unix::fs::{chown, lchown, symlink, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use alpaca_auth::mock::{MockServer, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET};

/// The victim's user ID (no passwd entry needed).
const VICTIM: u32 = 64_001;
/// The other local user's ID.
const ATTACKER: u32 = 64_002;
/// Account B of the victim, registered with the mock.
const B_CLIENT_ID: &str = "MOCKCLIENTB000000002";
const B_CLIENT_SECRET: &str = "second-account-secret-0002";

/// The scene of one test: a mock with both accounts, a world-traversable
/// scratch directory, the CLI copied into it, and `setpriv`.
struct Scene {
    mock: MockServer,
    base: PathBuf,
    cli: PathBuf,
    setpriv: PathBuf,
}

/// The scene, or `None` (with the skip line printed) where not root.
fn scene(name: &str) -> Option<Scene> {
    let euid = fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if euid != 0 {
        eprintln!("skipped: not root (the attacks need two user IDs)");
        return None;
    }
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("setpriv (util-linux) is installed");
    let base = trusted_parent().join(format!(
        "alpaca-auth-store-attacks-{name}-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&base);
    fs::create_dir(&base).expect("the scene's directory");
    chmod(&base, 0o755);
    // Copied into a directory every user can reach, whatever the modes
    // above the build directory.
    let cli = base.join("alpaca-auth");
    fs::copy(env!("CARGO_BIN_EXE_alpaca-auth"), &cli).expect("the CLI copies");
    chmod(&cli, 0o755);
    let mock = common::mock();
    mock.register_client_secret(B_CLIENT_ID, B_CLIENT_SECRET);
    Some(Scene {
        mock,
        base,
        cli,
        setpriv,
    })
}

/// A directory for the scene that the victim can trust, wherever the
/// checkout is (a checkout under `/tmp` has a root-owned directory in a
/// sticky one above it, which the store rightly refuses): the scratch
/// directory if every directory above it is root's and writable by root
/// alone, else the first such of `/run`, `/var/lib`, `/srv`.
fn trusted_parent() -> PathBuf {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    [
        scratch,
        Path::new("/run"),
        Path::new("/var/lib"),
        Path::new("/srv"),
    ]
    .into_iter()
    .find(|dir| {
        dir.ancestors().all(|d| {
            fs::symlink_metadata(d)
                .is_ok_and(|m| m.is_dir() && m.uid() == 0 && m.mode() & 0o022 == 0)
        })
    })
    .expect("a directory whose every ancestor is root's and not writable by others")
    .to_owned()
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `path`, created with `mode` and owned by `uid`.
fn dir_of(path: &Path, uid: u32, mode: u32) -> PathBuf {
    fs::create_dir(path).expect("mkdir");
    chmod(path, mode);
    chown(path, Some(uid), Some(uid)).expect("chown");
    path.to_owned()
}

/// One account of the victim.
#[derive(Clone, Copy)]
enum Account {
    A,
    B,
}

impl Account {
    fn credentials(self) -> (&'static str, &'static str) {
        match self {
            Account::A => (MOCK_CLIENT_ID, MOCK_CLIENT_SECRET),
            Account::B => (B_CLIENT_ID, B_CLIENT_SECRET),
        }
    }
}

/// What one `alpaca-auth token` run of the victim printed.
struct Run {
    ok: bool,
    token: String,
    stderr: String,
}

impl Scene {
    /// `alpaca-auth token` as the victim, for `account`, with the store in
    /// `dir` (given exactly as the user would), in working directory `cwd`.
    fn victim_token_in(&self, account: Account, dir: &str, cwd: &Path) -> Run {
        let (id, secret) = account.credentials();
        let token_url = self.mock.token_url();
        let uid = VICTIM.to_string();
        let out: Output = Command::new(&self.setpriv)
            .args(["--reuid", &uid, "--regid", &uid, "--clear-groups"])
            .arg(&self.cli)
            .arg("token")
            .current_dir(cwd)
            .env_clear()
            .envs([
                ("APCA_ENVIRONMENT", "broker-sandbox"),
                ("APCA_AUTH_URL", token_url.as_str()),
                ("APCA_CLIENT_ID", id),
                ("APCA_CLIENT_SECRET", secret),
                ("APCA_TOKEN_CACHE_DIR", dir),
            ])
            .output()
            .expect("setpriv runs");
        Run {
            ok: out.status.success(),
            token: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn victim_token(&self, account: Account, dir: &Path) -> Run {
        self.victim_token_in(account, dir.to_str().expect("UTF-8"), &self.base)
    }

    /// The victim's home: `base/victim`, 0700, the victim's.
    fn victim_home(&self) -> PathBuf {
        dir_of(&self.base.join("victim"), VICTIM, 0o700)
    }

    /// Runs `dir` as a store directory the victim must not trust: the
    /// client still runs, without sharing (each account fetches its own
    /// token, and nothing is written there), and says why on stderr, naming
    /// the path and `why`, never a secret.
    fn assert_refused(&self, dir: &str, cwd: &Path, why: &str) {
        let before = self.mock.token_requests();
        let mut tokens = Vec::new();
        for account in [Account::A, Account::B] {
            let run = self.victim_token_in(account, dir, cwd);
            assert!(run.ok, "{dir}: the client did not run: {}", run.stderr);
            assert!(!run.token.is_empty(), "{dir}: no token printed");
            assert!(
                run.stderr.contains("token store not used"),
                "{}",
                run.stderr
            );
            assert!(run.stderr.contains(why), "{dir}: {}", run.stderr);
            assert!(run.stderr.contains(&format!("\"{dir}\"")), "{}", run.stderr);
            assert!(!run.stderr.contains(MOCK_CLIENT_SECRET));
            assert!(!run.stderr.contains(B_CLIENT_SECRET));
            tokens.push(run.token);
        }
        assert_ne!(tokens[0], tokens[1], "{dir}: B sent A's token");
        assert_eq!(
            self.mock.token_requests(),
            before + 2,
            "{dir}: each fetched alone"
        );
    }

    /// Runs `dir` as a store directory setting the victim's build refuses
    /// (not absolute, an empty, `.` or `..` component): no token is printed
    /// and no request made.
    fn assert_setting_refused(&self, dir: &str, cwd: &Path, why: &str) {
        let before = self.mock.token_requests();
        for account in [Account::A, Account::B] {
            let run = self.victim_token_in(account, dir, cwd);
            assert!(!run.ok, "{dir}: accepted");
            assert!(run.token.is_empty(), "{dir}: a token was printed");
            assert!(run.stderr.contains(why), "{dir}: {}", run.stderr);
            assert!(run.stderr.contains(&format!("\"{dir}\"")), "{}", run.stderr);
            assert!(!run.stderr.contains(MOCK_CLIENT_SECRET));
            assert!(!run.stderr.contains(B_CLIENT_SECRET));
        }
        assert_eq!(self.mock.token_requests(), before, "{dir}: a request");
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.base);
    }
}

/// The `.token` entries in `dir` (read as root).
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .expect("store")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "token"))
        .collect();
    found.sort();
    found
}

#[test]
fn a_store_inside_a_directory_another_user_can_write_is_refused_at_open() {
    let Some(scene) = scene("writable-parent") else {
        return;
    };
    // The attacker's own directory, open to all: they could swap the store
    // after the check.
    let theirs = dir_of(&scene.base.join("theirs"), ATTACKER, 0o777);
    scene.assert_refused(
        theirs.join("store").to_str().expect("UTF-8"),
        &scene.base,
        "belongs to another user",
    );
    assert!(!theirs.join("store").exists(), "nothing created there");
    // The same with the victim's own private store already inside (made
    // while the directory was open, then closed to others): the attacker
    // can still rename it away and put their own in its place.
    let closed = dir_of(&scene.base.join("closed"), ATTACKER, 0o755);
    let store = dir_of(&closed.join("store"), VICTIM, 0o700);
    scene.assert_refused(
        store.to_str().expect("UTF-8"),
        &scene.base,
        "belongs to another user",
    );
    assert_eq!(fs::read_dir(&store).expect("store").count(), 0, "unused");
    // A directory anyone can write, without the sticky bit, higher up.
    let open = dir_of(&scene.base.join("open"), 0, 0o777);
    let below = dir_of(&open.join("victim"), VICTIM, 0o700);
    scene.assert_refused(
        below.join("store").to_str().expect("UTF-8"),
        &scene.base,
        "writable by other users",
    );
    // Group-writable counts as others.
    let group = dir_of(&scene.base.join("group"), 0, 0o775);
    scene.assert_refused(
        group.join("store").to_str().expect("UTF-8"),
        &scene.base,
        "writable by other users",
    );
}

#[test]
fn a_symbolic_link_even_with_a_trailing_slash_or_dot_is_refused() {
    let Some(scene) = scene("links") else {
        return;
    };
    let home = scene.victim_home();
    let real = dir_of(&home.join("real"), VICTIM, 0o700);
    let link = home.join("link");
    symlink(&real, &link).expect("symlink");
    lchown(&link, Some(VICTIM), Some(VICTIM)).expect("chown");
    let link_text = link.to_str().expect("UTF-8");
    scene.assert_refused(link_text, &scene.base, "is a symbolic link");
    scene.assert_setting_refused(&format!("{link_text}/"), &scene.base, "empty component");
    scene.assert_setting_refused(&format!("{link_text}/."), &scene.base, "\".\" or \"..\"");
    scene.assert_refused(
        &format!("{link_text}/store"),
        &scene.base,
        "is a symbolic link",
    );
    assert_eq!(fs::read_dir(&real).expect("real").count(), 0, "unused");
    // The resolved path works.
    let run = scene.victim_token(Account::A, &real);
    assert!(run.ok && !run.token.is_empty(), "{}", run.stderr);
}

#[test]
fn a_relative_store_directory_is_refused() {
    let Some(scene) = scene("relative") else {
        return;
    };
    let home = scene.victim_home();
    for dir in ["store", "./store", "store/sub"] {
        scene.assert_setting_refused(dir, &home, "not an absolute path");
    }
    assert_eq!(
        fs::read_dir(&home).expect("home").count(),
        0,
        "nothing made"
    );
}

#[test]
fn an_entry_of_account_a_renamed_onto_bs_name_is_refused_and_b_fetches_its_own() {
    let Some(scene) = scene("rename") else {
        return;
    };
    let home = scene.victim_home();
    let store = home.join("store");
    let a = scene.victim_token(Account::A, &store);
    assert!(a.ok && !a.token.is_empty(), "{}", a.stderr);
    let [a_entry]: [PathBuf; 1] = entries(&store).try_into().expect("A's entry");
    let b1 = scene.victim_token(Account::B, &store);
    assert!(b1.ok && !b1.token.is_empty(), "{}", b1.stderr);
    assert!(b1.token != a.token, "B printed A's token");
    let b_entry = entries(&store)
        .into_iter()
        .find(|p| p != &a_entry)
        .expect("B's entry");
    assert_eq!(scene.mock.token_requests(), 2);

    // Someone who had write access once renames A's entry (the victim's
    // file, 0600, unread) onto B's name.
    fs::rename(&a_entry, &b_entry).expect("rename");
    let meta = fs::metadata(&b_entry).expect("entry");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (VICTIM, 0o600));
    assert!(fs::read_to_string(&b_entry)
        .expect("entry")
        .contains(&a.token));

    let b2 = scene.victim_token(Account::B, &store);
    assert!(b2.ok, "{}", b2.stderr);
    assert!(b2.token != a.token, "B sent A's token");
    assert_eq!(scene.mock.token_requests(), 3, "B fetched its own");
    let log = scene.mock.token_request_log();
    assert_eq!(
        log.last().and_then(|r| r.field("client_id")),
        Some(B_CLIENT_ID)
    );
    // B's entry is B's again; A, run again, fetches its own too.
    let replaced = fs::read_to_string(&b_entry).expect("entry");
    assert!(replaced.contains(&b2.token) && !replaced.contains(&a.token));
    let a2 = scene.victim_token(Account::A, &store);
    assert!(a2.ok && a2.token != b2.token, "{}", a2.stderr);
}

#[test]
fn a_sticky_shared_parent_is_accepted_only_for_a_store_the_victim_owns() {
    let Some(scene) = scene("sticky") else {
        return;
    };
    let tmp = dir_of(&scene.base.join("tmp"), 0, 0o1777);
    // Created by the victim's own run.
    let mine = tmp.join("alpaca-cache-victim");
    let run = scene.victim_token(Account::A, &mine);
    assert!(run.ok && !run.token.is_empty(), "{}", run.stderr);
    let meta = fs::metadata(&mine).expect("created");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (VICTIM, 0o700));
    assert_eq!(entries(&mine).len(), 1);
    // Pre-created by the attacker, open to the victim, and renameable by its
    // owner at any time.
    let planted = dir_of(&tmp.join("alpaca-cache"), ATTACKER, 0o777);
    scene.assert_refused(
        planted.to_str().expect("UTF-8"),
        &scene.base,
        "belongs to another user",
    );
    scene.assert_refused(
        planted.join("store").to_str().expect("UTF-8"),
        &scene.base,
        "belongs to another user",
    );
    assert_eq!(fs::read_dir(&planted).expect("planted").count(), 0);
}
