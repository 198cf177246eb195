//! What a store that hangs, panics or whose lock holder is stopped costs a
//! caller (at most its longest wait, and a quarter of it for the store:
//! `limits::STORE_WAIT_DIVISOR`), how many library threads it can hold
//! (`limits::MAX_STORE_CALLS_IN_FLIGHT`), and that late 401 reports change
//! nothing.
#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::io;
use std::os::unix::io::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use alpaca_auth::limits::{MAX_STORE_CALLS_IN_FLIGHT, STORE_WAIT_DIVISOR};
use alpaca_auth::mock::{MockServer, MOCK_CLIENT_SECRET};
use alpaca_auth::{ErrorKind, StoreKey, StoreLock, StoredToken, TokenStore};
use common::secret_builder;

/// A store whose every call sleeps `hang` (a shared cache that stopped
/// answering, or a stalled network file system).
struct HangingStore {
    hang: Duration,
}

impl HangingStore {
    fn nap(&self) {
        thread::sleep(self.hang);
    }
}

impl TokenStore for HangingStore {
    fn load(&self, _: &StoreKey) -> io::Result<Option<StoredToken>> {
        self.nap();
        Ok(None)
    }
    fn publish(&self, _: &StoreKey, _: &StoredToken) -> io::Result<()> {
        self.nap();
        Ok(())
    }
    fn try_lock(&self, _: &StoreKey) -> io::Result<Option<Box<dyn StoreLock>>> {
        self.nap();
        Ok(None)
    }
    fn remove_if(&self, _: &StoreKey, _: &str) -> io::Result<()> {
        self.nap();
        Ok(())
    }
}

/// Threads of this process named `name` (as `/proc` shows it: at most 15
/// bytes).
fn threads_named(name: &str) -> usize {
    let shown = &name[..name.len().min(15)];
    fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == shown)
        .count()
}

#[test]
fn a_store_that_hangs_costs_a_caller_its_store_wait_and_holds_few_threads() {
    let mock = common::mock();
    let wait = Duration::from_secs(2);
    let client = secret_builder(&mock)
        .token_budget(wait)
        .max_wait(wait)
        .token_store(Arc::new(HangingStore {
            hang: Duration::from_secs(15),
        }))
        .build()
        .expect("client builds");
    let mut stuck = 0;
    for round in 0..6 {
        let started = Instant::now();
        let token = client
            .access_token()
            .unwrap_or_else(|e| panic!("round {round}: no token from a hung store: {e}"));
        let took = started.elapsed();
        println!("round {round}: token after {took:?}");
        assert!(
            took < wait,
            "round {round}: {took:?} is past the longest wait"
        );
        assert!(client.invalidate_token(&token));
        stuck = threads_named("alpaca-auth-store");
        assert!(
            stuck <= MAX_STORE_CALLS_IN_FLIGHT,
            "{stuck} threads stuck in the store"
        );
    }
    assert_eq!(stuck, MAX_STORE_CALLS_IN_FLIGHT, "the store was tried");
    assert_eq!(mock.token_requests(), 6);
}

/// A store that panics in the named call and works otherwise.
#[derive(Default)]
struct PanickingStore {
    panic_in: &'static str,
    published: AtomicU64,
}

impl PanickingStore {
    fn maybe_panic(&self, call: &str) {
        if self.panic_in == call {
            panic!("injected panic in the store's {call}");
        }
    }
}

impl TokenStore for PanickingStore {
    fn load(&self, _: &StoreKey) -> io::Result<Option<StoredToken>> {
        self.maybe_panic("load");
        Ok(None)
    }
    fn publish(&self, _: &StoreKey, _: &StoredToken) -> io::Result<()> {
        self.published.fetch_add(1, Ordering::SeqCst);
        self.maybe_panic("publish");
        Ok(())
    }
    fn try_lock(&self, _: &StoreKey) -> io::Result<Option<Box<dyn StoreLock>>> {
        self.maybe_panic("try_lock");
        struct Held;
        impl StoreLock for Held {}
        Ok(Some(Box::new(Held)))
    }
    fn remove_if(&self, _: &StoreKey, _: &str) -> io::Result<()> {
        self.maybe_panic("remove_if");
        Ok(())
    }
}

#[test]
fn a_panicking_store_is_a_failing_store_and_never_costs_the_fetched_token() {
    let mock = common::mock();
    for call in ["load", "try_lock", "publish", "remove_if"] {
        let store = Arc::new(PanickingStore {
            panic_in: call,
            ..PanickingStore::default()
        });
        let client = secret_builder(&mock)
            .token_store(Arc::clone(&store) as Arc<dyn TokenStore>)
            .build()
            .expect("client builds");
        let requests = mock.token_requests();
        let token = client
            .access_token()
            .unwrap_or_else(|e| panic!("a panic in {call} failed the fetch: {e}"));
        assert_eq!(mock.token_requests(), requests + 1, "{call}");
        assert!(client.invalidate_token(&token), "{call}");
        let again = client.access_token().expect("and again");
        assert_ne!(again.expose_secret(), token.expose_secret());
        assert!(store.published.load(Ordering::SeqCst) >= 1, "{call}");
    }
}

/// The lock file of `dir`'s one credential, once there is one.
fn lock_file(dir: &Path) -> Option<PathBuf> {
    fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.path()))
        .find(|path| path.extension().is_some_and(|x| x == "lock"))
}

/// Whether another open file description holds the `flock` of `path`.
fn is_locked(path: &Path) -> bool {
    let Ok(file) = fs::File::open(path) else {
        return false;
    };
    // SAFETY: flock on a descriptor this test owns.
    #[allow(unsafe_code)]
    let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    !taken
}

/// Sends `signal` to `child`.
fn signal(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id()).expect("a pid");
    // SAFETY: kill has no memory preconditions.
    #[allow(unsafe_code)]
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(sent, 0, "kill({pid}, {signal})");
}

#[test]
fn a_stopped_lock_holder_costs_another_process_a_quarter_of_its_wait() {
    let mock = common::mock();
    let dir = common::util::scratch_path("stopped-holder");
    let _ = fs::remove_dir_all(&dir);
    // Another process takes the fetch lock, its token request hangs at the
    // server, and it is stopped (SIGSTOP: a debugger, a paused container).
    mock.set_token_delay(Duration::from_secs(30));
    let token_url = mock.token_url();
    let mut env = common::secret_client_env(&token_url, MOCK_CLIENT_SECRET).to_vec();
    env.push(("APCA_TOKEN_CACHE_DIR", dir.to_str().expect("a UTF-8 path")));
    let mut holder = common::cli::command(&["token"], &env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the CLI starts");
    // Stopped only once its request has reached the server: stopped
    // between taking the lock and sending, it would have sent nothing.
    let until = Instant::now() + Duration::from_secs(20);
    while !(lock_file(&dir).is_some_and(|lock| is_locked(&lock)) && mock.token_requests() >= 1) {
        assert!(
            Instant::now() < until,
            "the other process never took the lock and sent its request"
        );
        thread::sleep(Duration::from_millis(10));
    }
    signal(&holder, libc::SIGSTOP);
    mock.set_token_delay(Duration::ZERO);

    let wait = Duration::from_secs(3);
    let client = secret_builder(&mock)
        .token_budget(wait)
        .token_cache_dir(&dir)
        .build()
        .expect("client builds");
    let started = Instant::now();
    let token = client.access_token();
    let took = started.elapsed();
    signal(&holder, libc::SIGKILL);
    let _ = holder.wait();
    let _ = fs::remove_dir_all(&dir);
    println!("first token after {took:?} with the lock holder stopped");
    let token = token.expect("a token while the holder is stopped");
    assert!(!token.expose_secret().is_empty());
    assert!(
        took >= wait / STORE_WAIT_DIVISOR,
        "the holder was waited for: {took:?}"
    );
    assert!(took < wait, "{took:?} is past the longest wait");
    // The stopped process's request and this one.
    assert_eq!(mock.token_requests(), 2);
}

#[test]
fn stale_401_reports_at_a_thousand_a_second_cost_no_request_and_no_would_block() {
    let mock: MockServer = common::mock();
    let client = common::secret_client(&mock);
    let stale = client.access_token().expect("first token");
    assert!(client.invalidate_token(&stale));
    let current = client.access_token().expect("current token");
    let stale_line = format!("Authorization: Bearer {}", stale.expose_secret());
    let requests = mock.token_requests();

    let stop = Arc::new(AtomicBool::new(false));
    let would_block = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (client, stop, would_block) =
                (client.clone(), Arc::clone(&stop), Arc::clone(&would_block));
            thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // A thread of its own for each read: it has no replica
                    // of the token yet, so it reads the cache itself.
                    let client = client.clone();
                    let answer = thread::spawn(move || {
                        client
                            .try_with_auth_header(0, |_, value| value.len())
                            .map_err(|e| e.kind())
                    })
                    .join()
                    .expect("a reader");
                    match answer {
                        Ok(Some(_)) => reads += 1,
                        Err(ErrorKind::WouldBlock) => {
                            would_block.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("unexpected answer: {other:?}"),
                    }
                }
                reads
            })
        })
        .collect();
    // 1,000 stale reports a second for 3 s, from two threads.
    let reporters: Vec<_> = (0..2)
        .map(|_| {
            let (client, line, stale) = (client.clone(), stale_line.clone(), stale.clone());
            thread::spawn(move || {
                let mut matched = 0;
                for i in 0..1500 {
                    matched += usize::from(if i % 2 == 0 {
                        client.invalidate_presented(&line)
                    } else {
                        client.invalidate_token(&stale)
                    });
                    thread::sleep(Duration::from_millis(2));
                }
                matched
            })
        })
        .collect();
    let matched: usize = reporters.into_iter().map(|r| r.join().unwrap()).sum();
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let would_block = would_block.load(Ordering::Relaxed);
    println!(
        "3,000 stale reports: {reads} reads, {would_block} WOULD_BLOCK, {} requests",
        mock.token_requests() - requests
    );
    assert_eq!(matched, 0, "a stale report matched");
    assert_eq!(would_block, 0);
    assert_eq!(mock.token_requests(), requests);
    let still = client.cached_token().expect("the token is still cached");
    assert_eq!(still.expose_secret(), current.expose_secret());
}
