//! The optional background refresher: a thread owned by a client that
//! refreshes the token ahead of expiry, so no caller ever waits for a
//! refresh.
//!
//! It fetches the first token as soon as it starts, sleeps until the
//! token's refresh time, refreshes, and so on. It never sleeps blind: the
//! cache wakes it whenever the token changes (a caller's fetch, an
//! invalidation) or a fetch fails, and dropping the client wakes it to
//! stop. After a failure it sleeps for the hold, but never past the cached
//! token's usable life; if it falls behind (half the refresh window gone,
//! by the token's schedule), callers start the refresh themselves, on a
//! library thread. A failure is retried after a backoff
//! ([`crate::retry::failure_hold`]: the longer of our own backoff and the
//! server's `Retry-After`) while callers keep the still-valid token; the
//! failures are visible through [`RefresherStatus`]. When the last clone of
//! the client is dropped, the thread is told to stop and is joined; a thread
//! in the middle of a token request is waited for at most
//! [`REFRESHER_SHUTDOWN_WAIT`] and then left to finish that request alone.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::limits::REFRESHER_SHUTDOWN_WAIT;
use crate::retry::failure_hold;
use crate::token::AccessToken;

/// Shortest sleep between two passes, so a clock edge cannot make it spin.
const MIN_SLEEP: Duration = Duration::from_millis(10);

/// Sleep while another thread's token request is under way.
const BUSY_POLL: Duration = Duration::from_millis(50);

/// What the background refresher has done so far.
#[derive(Clone, Debug, Default)]
pub struct RefresherStatus {
    pub(crate) running: bool,
    pub(crate) refreshes: u64,
    pub(crate) consecutive_failures: u32,
    pub(crate) last_error: Option<Error>,
}

impl RefresherStatus {
    /// The thread is running (false once stopped).
    pub fn running(&self) -> bool {
        self.running
    }

    /// New tokens it obtained or saw arrive.
    pub fn refreshes(&self) -> u64 {
        self.refreshes
    }

    /// Failed attempts since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// The error of the last failed attempt, cleared by a success.
    pub fn last_error(&self) -> Option<&Error> {
        self.last_error.as_ref()
    }
}

/// What the refresher needs of its client's token source.
pub(crate) trait TokenSource: Send + Sync + 'static {
    /// The cached token, valid or not.
    fn current(&self) -> Option<AccessToken>;
    /// A valid token, fetching (single-flight with callers) if needed.
    fn get(&self) -> Result<AccessToken>;
    /// Refreshes now; `Ok(None)` if another fetch is already under way.
    fn refresh_now(&self) -> Result<Option<AccessToken>>;
    /// The refresher has stopped: callers take refresh-ahead back.
    fn refresher_stopped(&self);
    /// Calls `on_change` whenever the cached token changes (a new token,
    /// an invalidation) or a fetch fails.
    fn watch(&self, on_change: Arc<dyn Fn() + Send + Sync>);
}

/// Marks the refresher stopped however its thread ends (a panic included),
/// so that callers refresh again and the status says so.
struct StopGuard<'a> {
    source: &'a dyn TokenSource,
    control: &'a Control,
}

impl Drop for StopGuard<'_> {
    fn drop(&mut self) {
        self.source.refresher_stopped();
        self.control
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .running = false;
    }
}

/// What wakes the refresher before its sleep ends.
#[derive(Default)]
struct Signals {
    /// The client is gone: exit.
    stop: bool,
    /// The cache changed: look again.
    changed: bool,
}

struct Control {
    signals: Mutex<Signals>,
    wake: Condvar,
    status: Mutex<RefresherStatus>,
}

impl Control {
    fn signal(&self, set: impl FnOnce(&mut Signals)) {
        set(&mut self.signals.lock().unwrap_or_else(PoisonError::into_inner));
        self.wake.notify_all();
    }
}

/// The handle a client keeps; dropping it stops the thread.
pub(crate) struct Refresher {
    control: Arc<Control>,
    /// In a mutex only so that the client stays `Sync`.
    exited: Mutex<Receiver<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Refresher {
    /// Starts the thread.
    pub(crate) fn start(source: Arc<dyn TokenSource>) -> Result<Refresher> {
        let control = Arc::new(Control {
            signals: Mutex::new(Signals::default()),
            wake: Condvar::new(),
            status: Mutex::new(RefresherStatus {
                running: true,
                ..RefresherStatus::default()
            }),
        });
        let watcher = Arc::clone(&control);
        source.watch(Arc::new(move || watcher.signal(|s| s.changed = true)));
        let (exit_signal, exited) = mpsc::channel();
        let thread_control = Arc::clone(&control);
        let thread = thread::Builder::new()
            .name("alpaca-auth-refresh".into())
            .spawn(move || run(source, thread_control, exit_signal))
            .map_err(|e| Error::config(format!("cannot start the background refresher: {e}")))?;
        Ok(Refresher {
            control,
            exited: Mutex::new(exited),
            thread: Some(thread),
        })
    }

    /// A snapshot of the refresher's status.
    pub(crate) fn status(&self) -> RefresherStatus {
        self.control
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        self.control.signal(|s| s.stop = true);
        // The thread's sender drops when it exits: then joining is instant.
        let exited = self
            .exited
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        match exited.recv_timeout(REFRESHER_SHUTDOWN_WAIT) {
            Err(RecvTimeoutError::Disconnected) | Ok(()) => {
                if let Some(thread) = self.thread.take() {
                    let _ = thread.join();
                }
            }
            Err(RecvTimeoutError::Timeout) => {} // still in a request: detach
        }
    }
}

fn run(source: Arc<dyn TokenSource>, control: Arc<Control>, _exit_signal: Sender<()>) {
    let _stopped = StopGuard {
        source: &*source,
        control: &control,
    };
    let mut last: Option<AccessToken> = None;
    loop {
        let now = Instant::now();
        let outcome = match source.current() {
            Some(token) if now < token.refresh_at() => Ok(Some(token)),
            Some(token) if token.is_valid_at(now) => source.refresh_now(),
            _ => source.get().map(Some),
        };
        // Changes so far are this pass's own doing (or seen by it).
        control.signal(|s| s.changed = false);
        let sleep = {
            let mut status = control
                .status
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match outcome {
                Ok(Some(token)) => {
                    if !last.as_ref().is_some_and(|seen| seen.same_token(&token)) {
                        status.refreshes += 1;
                        status.consecutive_failures = 0;
                        status.last_error = None;
                    }
                    let sleep = token.refresh_at().saturating_duration_since(Instant::now());
                    last = Some(token);
                    sleep
                }
                Ok(None) => BUSY_POLL,
                Err(error) => {
                    status.consecutive_failures = status.consecutive_failures.saturating_add(1);
                    let hold = failure_hold(status.consecutive_failures, error.retry_after());
                    status.last_error = Some(error);
                    // Never past the cached token's usable life: by then
                    // callers need a token, whatever the hold says.
                    match source.current().filter(|t| t.is_valid_at(Instant::now())) {
                        Some(token) => hold.min(token.usable_remaining()),
                        None => hold,
                    }
                }
            }
        };
        let signals = control
            .signals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (signals, _) = control
            .wake
            .wait_timeout_while(signals, sleep.max(MIN_SLEEP), |s| !s.stop && !s.changed)
            .unwrap_or_else(PoisonError::into_inner);
        if signals.stop {
            break;
        }
    }
}
