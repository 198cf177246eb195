//! Tokens shared across processes: the file token store
//! (`APCA_TOKEN_CACHE_DIR`, `ClientBuilder::token_cache_dir`) and custom
//! stores, against the mock. Separate clients stand for separate processes
//! (each has its own cache and its own lock descriptors); the CLI tests run
//! real processes at once.
#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alpaca_auth::mock::{MockServer, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET, MOCK_JWT_CLIENT_ID};
use alpaca_auth::{
    Client, Credentials, ErrorKind, Event, StoreKey, StoreLock, StoredToken, TokenStore,
    TokenStoreStatus,
};
use common::secret_builder;

/// A fresh store directory (not created: the client creates it `0700`).
fn store_dir(name: &str) -> PathBuf {
    common::util::scratch_path(&format!("token-store-{name}"))
}

fn shared_client(mock: &MockServer, dir: &Path, secret: &str) -> Client {
    common::builder(mock)
        .credentials(Credentials::client_secret(MOCK_CLIENT_ID, secret))
        .token_cache_dir(dir)
        .build()
        .expect("client builds")
}

/// The one entry file of the store (`<key>.token`).
fn entry_file(dir: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = fs::read_dir(dir)
        .expect("store directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "token"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn two_processes_sharing_a_directory_make_one_token_request() {
    let mock = common::mock();
    let dir = store_dir("two");
    let a = shared_client(&mock, &dir, MOCK_CLIENT_SECRET);
    let b = shared_client(&mock, &dir, MOCK_CLIENT_SECRET);
    let first = a.access_token().expect("a fetches");
    let second = b.access_token().expect("b loads the stored token");
    assert_eq!(first.expose_secret(), second.expose_secret());
    assert_eq!(mock.token_requests(), 1);
    // The stored token keeps its expiry: b does not think it fresher.
    assert!(second.remaining() <= first.remaining() + Duration::from_secs(1));
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&entry_file(&dir)), 0o600);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_wrong_secret_for_the_same_client_id_never_reads_the_stored_token() {
    let mock = common::mock();
    let dir = store_dir("wrong");
    let right = shared_client(&mock, &dir, MOCK_CLIENT_SECRET);
    right.access_token().expect("the right secret fetches");
    let wrong = shared_client(&mock, &dir, "not-the-secret-of-this-client");
    let err = wrong
        .access_token()
        .expect_err("a wrong secret gets no token");
    assert_eq!(err.kind(), ErrorKind::OAuth, "{err}");
    assert_eq!(
        mock.token_requests(),
        2,
        "the wrong secret asked the server"
    );
    let _ = fs::remove_dir_all(&dir);
}

/// Every file under `dir`, read whole.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fs::read_dir(dir)
        .expect("store directory")
        .map(|e| {
            let path = e.expect("entry").path();
            let bytes = fs::read(&path).expect("readable");
            (path, bytes)
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_secret_key_or_assertion_is_ever_written_to_the_store() {
    use base64::Engine as _;
    let mock = common::mock();
    let dir = store_dir("hygiene");
    let secret_client = shared_client(&mock, &dir, MOCK_CLIENT_SECRET);
    secret_client.access_token().expect("token");

    let (key, der) = common::fresh_registered_key(&mock);
    let jwt_client = common::builder(&mock)
        .credentials(Credentials::private_key_jwt(MOCK_JWT_CLIENT_ID, key))
        .token_cache_dir(&dir)
        .build()
        .expect("client builds");
    jwt_client.access_token().expect("token");

    // The access tokens are JWTs too: look for this assertion's own parts.
    let log = mock.token_request_log();
    let assertion = log
        .iter()
        .find_map(|request| request.field("client_assertion"))
        .expect("the JWT client sent an assertion");
    let [assertion_header, assertion_claims, assertion_signature]: [&str; 3] = assertion
        .split('.')
        .collect::<Vec<_>>()
        .try_into()
        .expect("three segments");

    let files = files_under(&dir);
    assert!(files.len() >= 2, "two entries (and lock files): {files:?}");
    let der_b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    for (path, bytes) in &files {
        for (what, needle) in [
            ("client secret", MOCK_CLIENT_SECRET.as_bytes()),
            ("key (DER)", &der[der.len() - 32..]),
            ("key (base64)", &der_b64.as_bytes()[..40]),
            ("assertion type", b"jwt-bearer"),
            ("assertion header", assertion_header.as_bytes()),
            ("assertion claims", assertion_claims.as_bytes()),
            ("assertion signature", assertion_signature.as_bytes()),
        ] {
            assert!(!contains(bytes, needle), "{what} in {}", path.display());
        }
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn untrusted_entries_are_ignored_and_replaced() {
    let mock = common::mock();
    let dir = store_dir("untrusted");
    let stored = shared_client(&mock, &dir, MOCK_CLIENT_SECRET)
        .access_token()
        .expect("token");
    let entry = entry_file(&dir);
    let good = fs::read(&entry).expect("entry");
    // The same entry holding another token of the same length.
    let stored = stored.expose_secret();
    let planted_token = format!("planted_{}", &stored["planted_".len()..]);
    let planted = String::from_utf8(good.clone())
        .expect("JSON")
        .replace(stored, &planted_token);
    assert!(planted.contains(&planted_token), "the token was planted");
    let decoy = dir.join("decoy");

    type Spoil = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Spoil)> = vec![
        ("corrupt", Box::new(|p| fs::write(p, b"{not json").unwrap())),
        (
            "truncated",
            Box::new(move |p| fs::write(p, &good[..good.len() / 2]).unwrap()),
        ),
        (
            "readable by others",
            Box::new({
                let planted = planted.clone();
                move |p| {
                    fs::write(p, &planted).unwrap();
                    fs::set_permissions(p, fs::Permissions::from_mode(0o644)).unwrap();
                }
            }),
        ),
        (
            "a symbolic link",
            Box::new({
                let planted = planted.clone();
                let decoy = decoy.clone();
                move |p| {
                    fs::write(&decoy, &planted).unwrap();
                    fs::set_permissions(&decoy, fs::Permissions::from_mode(0o600)).unwrap();
                    fs::remove_file(p).unwrap();
                    symlink(&decoy, p).unwrap();
                }
            }),
        ),
        (
            "another format version",
            Box::new({
                let planted = planted.replace("\"version\":2", "\"version\":3");
                move |p| fs::write(p, &planted).unwrap()
            }),
        ),
        (
            "oversized",
            Box::new(|p| fs::write(p, vec![b' '; 64 * 1024]).unwrap()),
        ),
    ];
    for (case, spoil) in cases {
        spoil(&entry);
        let before = mock.token_requests();
        let client = shared_client(&mock, &dir, MOCK_CLIENT_SECRET);
        let token = client.access_token().expect("a token despite the entry");
        assert!(
            !token.expose_secret().starts_with("planted_"),
            "{case}: the planted token was used"
        );
        assert_eq!(mock.token_requests(), before + 1, "{case}: fetched anew");
        // Replaced by a private regular file holding the new token.
        assert_eq!(mode(&entry), 0o600, "{case}");
        let replaced = fs::read_to_string(&entry).expect("entry");
        assert!(replaced.contains(token.expose_secret()), "{case}");
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn invalidation_removes_the_stored_entry_only_if_it_holds_that_token() {
    let mock = common::mock();
    let dir = store_dir("invalidate");
    let a = shared_client(&mock, &dir, MOCK_CLIENT_SECRET);
    let b = shared_client(&mock, &dir, MOCK_CLIENT_SECRET);
    let t1 = a.access_token().expect("a fetches");
    assert_eq!(
        b.access_token().expect("b loads").expose_secret(),
        t1.expose_secret()
    );
    assert_eq!(mock.token_requests(), 1);

    // The API refuses t1 for a: the entry goes, a fetches t2 and stores it.
    assert!(a.invalidate_token(&t1));
    let t2 = a.access_token().expect("a fetches anew");
    assert_ne!(t1.expose_secret(), t2.expose_secret());
    assert_eq!(mock.token_requests(), 2);

    // b reports t1 late: the entry holds t2 and stays; b loads t2.
    let b_t1 = b.cached_token().expect("b still holds t1");
    assert!(b.invalidate_token(&b_t1));
    let b_t2 = b.access_token().expect("b loads t2");
    assert_eq!(b_t2.expose_secret(), t2.expose_secret());
    assert_eq!(mock.token_requests(), 2, "no request for b");

    // invalidate() drops the entry holding the cached token, too.
    a.invalidate();
    let c = shared_client(&mock, &dir, MOCK_CLIENT_SECRET);
    let t3 = c.access_token().expect("c fetches");
    assert_ne!(t3.expose_secret(), t2.expose_secret());
    assert_eq!(mock.token_requests(), 3);
    let _ = fs::remove_dir_all(&dir);
}

/// The client built with `dir` as its store directory, the events it
/// reported at build, and the reason its store is not used.
fn refused_store(mock: &MockServer, dir: &Path) -> (Client, Vec<Event>, String) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let client = secret_builder(mock)
        .token_cache_dir(dir)
        .on_event(move |event| seen.lock().unwrap().push(event.clone()))
        .build()
        .expect("an untrusted store directory does not stop the build");
    let reason = match client.token_store_status() {
        TokenStoreStatus::Unavailable(reason) => reason.to_string(),
        other => panic!("the store of {dir:?} was used: {other:?}"),
    };
    let events = events.lock().unwrap().clone();
    (client, events, reason)
}

#[test]
fn an_untrusted_store_directory_is_refused_and_the_client_runs_without_sharing() {
    let mock = common::mock();
    let open = store_dir("open");
    fs::create_dir_all(&open).expect("dir");
    fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).expect("chmod");
    let (client, events, reason) = refused_store(&mock, &open);
    assert!(reason.contains("chmod 700"), "{reason}");
    assert_eq!(events, [Event::StoreUnavailable]);
    // It fetches its own token and writes nothing into the directory.
    client.access_token().expect("a token without the store");
    assert_eq!(fs::read_dir(&open).expect("dir").count(), 0);

    let file = store_dir("file");
    fs::write(&file, b"").expect("file");
    let (_, _, reason) = refused_store(&mock, &file);
    assert!(reason.contains("not a directory"), "{reason}");

    let link = store_dir("link");
    let target = store_dir("target");
    fs::create_dir_all(&target).expect("dir");
    fs::set_permissions(&target, fs::Permissions::from_mode(0o700)).expect("chmod");
    symlink(&target, &link).expect("symlink");
    let (_, _, reason) = refused_store(&mock, &link);
    assert!(reason.contains("link"), "{reason}");
    assert_eq!(mock.token_requests(), 1);

    // A store that is used says so.
    let good = store_dir("good");
    let client = shared_client(&mock, &good, MOCK_CLIENT_SECRET);
    assert!(matches!(
        client.token_store_status(),
        TokenStoreStatus::Shared
    ));
    for path in [&open, &target, &good] {
        let _ = fs::remove_dir_all(path);
    }
    let _ = fs::remove_file(&file);
    let _ = fs::remove_file(&link);
}

/// A store whose every operation fails.
struct BrokenStore;

impl TokenStore for BrokenStore {
    fn load(&self, _: &StoreKey) -> io::Result<Option<StoredToken>> {
        Err(io::Error::other("load fails"))
    }
    fn publish(&self, _: &StoreKey, _: &StoredToken) -> io::Result<()> {
        Err(io::Error::other("publish fails"))
    }
    fn try_lock(&self, _: &StoreKey) -> io::Result<Option<Box<dyn StoreLock>>> {
        Err(io::Error::other("lock fails"))
    }
    fn remove_if(&self, _: &StoreKey, _: &str) -> io::Result<()> {
        Err(io::Error::other("remove fails"))
    }
}

/// A store whose lock someone else always holds, and which never has a
/// token: a hung holder.
struct HeldStore;

impl TokenStore for HeldStore {
    fn load(&self, _: &StoreKey) -> io::Result<Option<StoredToken>> {
        Ok(None)
    }
    fn publish(&self, _: &StoreKey, _: &StoredToken) -> io::Result<()> {
        Ok(())
    }
    fn try_lock(&self, _: &StoreKey) -> io::Result<Option<Box<dyn StoreLock>>> {
        Ok(None)
    }
    fn remove_if(&self, _: &StoreKey, _: &str) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_broken_store_or_a_hung_lock_holder_never_fails_a_caller_that_can_fetch() {
    let mock = common::mock();
    let broken = secret_builder(&mock)
        .token_store(Arc::new(BrokenStore))
        .build()
        .expect("client builds");
    broken.access_token().expect("fetches despite the store");
    broken.invalidate();
    broken.access_token().expect("and again");
    assert_eq!(mock.token_requests(), 2);

    let budget = Duration::from_millis(2000);
    let held = secret_builder(&mock)
        .token_budget(budget)
        .max_wait(budget)
        .token_store(Arc::new(HeldStore))
        .build()
        .expect("client builds");
    // A library thread waits for the hung holder a quarter of the shorter
    // of max_wait and the budget (STORE_WAIT_DIVISOR), then fetches on its
    // own: the first caller gets its token within max_wait.
    let store_wait = budget / alpaca_auth::limits::STORE_WAIT_DIVISOR;
    let started = Instant::now();
    let token = held.access_token().expect("a token within max_wait");
    let waited = started.elapsed();
    assert!(!token.expose_secret().is_empty());
    assert!(
        waited >= store_wait,
        "the holder was waited for: {waited:?}"
    );
    assert!(waited < budget, "bounded by max_wait: {waited:?}");
    assert_eq!(mock.token_requests(), 3);
}

/// The lock of `dir`'s one credential, taken as another process would.
fn hold_lock(dir: &Path) -> fs::File {
    let lock = fs::read_dir(dir)
        .expect("store directory")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "lock"))
        .expect("a lock file");
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(lock)
        .expect("lock file");
    // SAFETY: flock on a descriptor this test owns.
    #[allow(unsafe_code)]
    let locked = unsafe {
        libc::flock(
            std::os::unix::io::AsRawFd::as_raw_fd(&file),
            libc::LOCK_EX | libc::LOCK_NB,
        )
    };
    assert_eq!(locked, 0, "the test takes the lock");
    file
}

#[test]
fn a_rejected_token_is_never_loaded_back_even_when_the_entry_stays() {
    let mock = common::mock();
    let dir = store_dir("rejected");
    let client = shared_client(&mock, &dir, MOCK_CLIENT_SECRET);
    let t1 = client.access_token().expect("first token");
    // Another process holds the lock, so the entry cannot be removed now.
    let other = hold_lock(&dir);
    assert!(client.invalidate_token(&t1));
    assert!(
        fs::read_to_string(entry_file(&dir))
            .expect("entry")
            .contains(t1.expose_secret()),
        "the entry still holds t1"
    );
    drop(other);
    let t2 = client.access_token().expect("a new token");
    assert_ne!(t2.expose_secret(), t1.expose_secret(), "t1 was refused");
    assert_eq!(mock.token_requests(), 2);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_stored_token_inside_its_expiry_margin_is_not_taken() {
    let mock = common::mock();
    // 20 s tokens; a policy that would not refresh before the end.
    mock.set_expires_in(20);
    let dir = store_dir("margin");
    let late = |policy| {
        secret_builder(&mock)
            .refresh_policy(policy)
            .token_cache_dir(&dir)
            .build()
            .expect("client builds")
    };
    let no_refresh_ahead = alpaca_auth::RefreshPolicy::default()
        .ahead_min(Duration::ZERO)
        .ahead_fraction(0.0);
    let first = late(no_refresh_ahead);
    first.access_token().expect("token");
    // Rewrite the entry so that 1.5 s are left: inside the expiry margin
    // (min(10 s, 10 %) = 2 s of a 20 s token), though outside the policy's.
    let entry = entry_file(&dir);
    let text = fs::read_to_string(&entry).expect("entry");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let start = text.find("\"expires_at_unix_ms\":").expect("field") + 21;
    let end = start + text[start..].find(',').expect("next field");
    let rewritten = format!("{}{}{}", &text[..start], now_ms + 1_500, &text[end..]);
    fs::write(&entry, rewritten).expect("entry");
    let second = late(no_refresh_ahead);
    let token = second.access_token().expect("a usable token");
    assert!(token.remaining() > Duration::from_secs(10), "fetched anew");
    assert_eq!(mock.token_requests(), 2);
    let _ = fs::remove_dir_all(&dir);
}

/// `alpaca-auth token` processes started together with one store.
fn cli_fleet(mock: &MockServer, dir: &Path, processes: usize) -> Vec<String> {
    let children: Vec<_> = (0..processes)
        .map(|_| {
            let token_url = mock.token_url();
            let mut env = common::secret_client_env(&token_url, MOCK_CLIENT_SECRET).to_vec();
            env.push(("APCA_TOKEN_CACHE_DIR", dir.to_str().expect("a UTF-8 path")));
            common::cli::command(&["token"], &env)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the CLI starts")
        })
        .collect();
    children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().expect("the CLI ends");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
        .collect()
}

#[test]
fn a_fleet_of_cli_processes_makes_one_token_request_per_rotation() {
    let mock = common::mock();
    // Long enough for 16 debug-build processes to derive their store key
    // (PBKDF2, unoptimised here) on a 2-core machine within one token's
    // life.
    mock.set_expires_in(10);
    let dir = store_dir("fleet");
    let first = cli_fleet(&mock, &dir, 16);
    assert!(first.iter().all(|t| t == &first[0] && !t.is_empty()));
    let after_first = mock.token_requests();
    eprintln!("16 CLI processes at once: {after_first} token request(s)");
    assert_eq!(after_first, 1);

    // The token expires; 8 more processes at once.
    std::thread::sleep(Duration::from_millis(10_200));
    let second = cli_fleet(&mock, &dir, 8);
    assert!(second.iter().all(|t| t == &second[0] && t != &first[0]));
    let after_second = mock.token_requests();
    eprintln!(
        "8 more after expiry: {} more token request(s)",
        after_second - after_first
    );
    assert_eq!(after_second, 2);
    let _ = fs::remove_dir_all(&dir);
}

/// The `.token` entries of `dir`.
fn token_entries(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .expect("store directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "token"))
        .collect()
}

#[test]
fn an_entry_renamed_onto_another_credentials_name_is_never_used_by_it() {
    let mock = common::mock();
    let (b_id, b_secret) = ("MOCKCLIENTB000000002", "second-account-secret-0002");
    mock.register_client_secret(b_id, b_secret);
    let dir = store_dir("renamed");
    let a = shared_client(&mock, &dir, MOCK_CLIENT_SECRET);
    let a_token = a.access_token().expect("a fetches");
    let [a_entry]: [PathBuf; 1] = token_entries(&dir).try_into().expect("a's entry");
    let b_client = || {
        common::builder(&mock)
            .credentials(Credentials::client_secret(b_id, b_secret))
            .token_cache_dir(&dir)
            .build()
            .expect("client builds")
    };
    b_client().access_token().expect("b fetches");
    let b_entry = token_entries(&dir)
        .into_iter()
        .find(|p| p != &a_entry)
        .expect("b's entry");
    fs::rename(&a_entry, &b_entry).expect("rename");
    let b_token = b_client().access_token().expect("b fetches again");
    assert!(
        b_token.expose_secret() != a_token.expose_secret(),
        "b used a's token"
    );
    assert_eq!(mock.token_requests(), 3, "b fetched its own");
    let replaced = fs::read_to_string(&b_entry).expect("b's entry");
    assert!(replaced.contains(b_token.expose_secret()));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_relative_path_a_trailing_slash_or_a_dot_component_is_refused_at_build() {
    let mock = common::mock();
    let real = store_dir("syntax");
    let shown = real.to_str().expect("a UTF-8 path");
    for dir in [
        "relative-store".to_owned(),
        format!("{shown}/"),
        format!("{shown}/."),
        format!("{shown}/../x"),
    ] {
        let err = secret_builder(&mock)
            .token_cache_dir(&dir)
            .build()
            .expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::Config, "{dir}: {err}");
        assert!(err.to_string().contains(&dir), "{dir}: {err}");
        let env_err = common::util::from_vars(&[
            ("APCA_ENVIRONMENT", "broker-sandbox"),
            ("APCA_AUTH_URL", mock.token_url().as_str()),
            ("APCA_CLIENT_ID", MOCK_CLIENT_ID),
            ("APCA_CLIENT_SECRET", MOCK_CLIENT_SECRET),
            ("APCA_TOKEN_CACHE_DIR", dir.as_str()),
        ])
        .and_then(|b| b.build())
        .expect_err("refused from the environment too");
        assert_eq!(env_err.kind(), ErrorKind::Config, "{dir}: {env_err}");
    }
    assert!(!real.exists(), "nothing was created");
    assert_eq!(mock.token_requests(), 0);
}
