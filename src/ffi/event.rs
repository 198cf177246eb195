//! `alpaca_auth_event`: what the token lifecycle reports to a C callback
//! set with `alpaca_auth_builder_set_event_callback`.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use super::result::alpaca_auth_result;
use crate::events::Event;
use crate::fork::{self, ForkSlot};

/// What happened (`alpaca_auth_event.kind`). Values are stable and never
/// reused; later versions may add some: ignore unknown values.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum alpaca_auth_event_kind {
    /// A new token arrived; `duration_ms` is its lifetime.
    TokenFetched = 1,
    /// A token acquisition failed; `result` is its kind and `http_status`
    /// the last HTTP status (0 if none).
    FetchFailed = 2,
    /// Token requests are held off for `duration_ms`; `by_server` says
    /// whether the server imposed it (`Retry-After`).
    HoldStarted = 3,
    /// A token arrived after failures: the hold is over.
    HoldEnded = 4,
    /// The background refresher fell behind: callers start the refresh.
    RefresherOverdue = 5,
    /// The client found itself in a child process after `fork()` and built
    /// fresh state there.
    ForkDetected = 6,
    /// The token store was refused at build (a directory another user owns
    /// or can write, a symbolic link, permissions open to others): the
    /// client runs without sharing tokens. Reported during
    /// `alpaca_auth_builder_build`; `alpaca_auth_client_token_store_status`
    /// says why.
    StoreUnavailable = 7,
}

/// An event, valid only during the callback. Never carries a secret.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct alpaca_auth_event {
    /// What happened.
    pub kind: alpaca_auth_event_kind,
    /// For `FETCH_FAILED`, the kind of failure; otherwise `OK`.
    pub result: alpaca_auth_result,
    /// For `FETCH_FAILED`, the last HTTP status, or 0.
    pub http_status: u16,
    /// For `HOLD_STARTED`, whether the server imposed the hold.
    pub by_server: bool,
    /// The token's lifetime (`TOKEN_FETCHED`) or the hold (`HOLD_STARTED`),
    /// in milliseconds; otherwise 0.
    pub duration_ms: u64,
}

/// An event callback: called with the event and the `user_data` given to
/// `alpaca_auth_builder_set_event_callback`, on whichever thread the event
/// happens (a caller's, the refresher's, a library fetch thread), never
/// while a lock of the library is held. Keep it short; it must not call
/// `alpaca_auth_client_free` on the client that reports.
pub type alpaca_auth_event_callback =
    Option<unsafe extern "C" fn(event: *const alpaca_auth_event, user_data: *mut c_void)>;

/// The caller's `user_data` pointer, passed back to its callback.
pub(crate) struct UserData(pub(crate) *mut c_void);

impl UserData {
    /// The pointer (a method, so closures capture the whole `UserData`).
    pub(crate) fn get(&self) -> *mut c_void {
        self.0
    }
}

// SAFETY: the library never dereferences the pointer; it only hands it back
// to the caller's callback, from any thread. The documentation of
// `alpaca_auth_builder_set_event_callback` makes the caller responsible
// for `user_data` being usable from any thread.
unsafe impl Send for UserData {}
// SAFETY: as for Send: shared access only passes the pointer value on.
unsafe impl Sync for UserData {}

impl alpaca_auth_event {
    pub(crate) fn from_event(event: &Event) -> Option<Self> {
        let mut out = alpaca_auth_event {
            kind: alpaca_auth_event_kind::TokenFetched,
            result: alpaca_auth_result::Ok,
            http_status: 0,
            by_server: false,
            duration_ms: 0,
        };
        let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        match event {
            Event::TokenFetched { lifetime } => out.duration_ms = millis(*lifetime),
            Event::FetchFailed { kind, status } => {
                out.kind = alpaca_auth_event_kind::FetchFailed;
                out.result = alpaca_auth_result::from_kind(*kind);
                out.http_status = status.unwrap_or(0);
            }
            Event::HoldStarted {
                duration,
                by_server,
            } => {
                out.kind = alpaca_auth_event_kind::HoldStarted;
                out.duration_ms = millis(*duration);
                out.by_server = *by_server;
            }
            Event::HoldEnded => out.kind = alpaca_auth_event_kind::HoldEnded,
            Event::RefresherOverdue => out.kind = alpaca_auth_event_kind::RefresherOverdue,
            Event::ForkDetected => out.kind = alpaca_auth_event_kind::ForkDetected,
            Event::StoreUnavailable => out.kind = alpaca_auth_event_kind::StoreUnavailable,
        }
        Some(out)
    }
}

/// Whether a client's event callback may still run. `alpaca_auth_client_free`
/// closes it, waiting for a callback that is running: a token fetch on a
/// library thread can outlive the client, and after the free its
/// `user_data` may be gone.
///
/// Each fork generation has a lock of its own ([`ForkSlot`]): a thread of
/// the parent that was inside a callback at `fork()` holds the parent's
/// lock for ever in the child, where that thread does not exist, so a
/// close in the child must not wait on it. The parent's lock is never
/// touched (nor dropped) in the child.
#[derive(Clone, Default)]
pub(crate) struct EventGate(Arc<Gate>);

/// The state shared by the clones of an [`EventGate`].
#[derive(Default)]
struct Gate {
    /// Set by [`EventGate::close`] in any generation; the lock of a later
    /// generation starts closed when it is set.
    closed: AtomicBool,
    /// This generation's lock: a callback runs under its read lock, and
    /// `close` sets its flag under the write lock.
    locks: ForkSlot<RwLock<bool>>,
}

impl Gate {
    /// The lock of the current fork generation, built at its first use.
    fn lock(&self) -> &RwLock<bool> {
        let generation = fork::generation();
        match self.locks.get(generation) {
            Some(lock) => lock,
            None => {
                let closed = self.closed.load(Ordering::Acquire);
                self.locks.install(generation, RwLock::new(closed)).0
            }
        }
    }
}

impl EventGate {
    /// Runs `callback` unless the gate is closed (callbacks run in
    /// parallel; closing waits for them).
    pub(crate) fn run(&self, callback: impl FnOnce()) {
        let closed = self.0.lock().read().unwrap_or_else(PoisonError::into_inner);
        if !*closed {
            callback();
        }
    }

    /// No callback runs after this returns, and none is running in this
    /// process. Returns at once in a child process whose parent had a
    /// thread inside a callback at `fork()`.
    pub(crate) fn close(&self) {
        self.0.closed.store(true, Ordering::Release);
        *self
            .0
            .lock()
            .write()
            .unwrap_or_else(PoisonError::into_inner) = true;
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::thread;
    use std::time::{Duration, Instant};

    /// Exit code of a child whose `close` returned.
    const CLOSED: i32 = 7;
    /// Exit code of a child that panicked.
    const PANICKED: i32 = 8;
    /// How long the child's `close` may take before it counts as hung.
    const CHILD_BOUND: Duration = Duration::from_secs(5);

    /// A thread inside `gate.run` until the returned sender sends (or is
    /// dropped), and the handle to join it.
    fn thread_inside(gate: &EventGate) -> (mpsc::Sender<()>, thread::JoinHandle<()>) {
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let inside = gate.clone();
        let handle = thread::spawn(move || {
            inside.run(|| {
                entered_tx.send(()).expect("the test waits");
                let _ = release_rx.recv();
            });
        });
        entered_rx.recv().expect("the thread entered the callback");
        (release_tx, handle)
    }

    /// Waits for `pid` at most `bound`; kills it if it is still running.
    /// Its exit code, or `None` if it hung (or died of a signal).
    fn wait_bounded(pid: libc::pid_t, bound: Duration) -> Option<i32> {
        let started = Instant::now();
        loop {
            let mut status = 0;
            // SAFETY: waits for our own child without blocking; `status`
            // is a valid out-pointer.
            let reaped = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if reaped == pid {
                return libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
            }
            assert_eq!(reaped, 0, "waitpid failed");
            if started.elapsed() > bound {
                // SAFETY: `pid` is our own child, not yet reaped.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn close_in_a_child_returns_while_a_parent_thread_is_inside_a_callback() {
        fork::register();
        let gate = EventGate::default();
        let (release, inside) = thread_inside(&gate);
        // SAFETY: the child only closes the gate and leaves with _exit,
        // running no destructor of the parent's state.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let closed = std::panic::catch_unwind(|| gate.close()).is_ok();
            let code = if closed { CLOSED } else { PANICKED };
            // SAFETY: ends the child at once, without unwinding into the
            // test harness or running its atexit handlers.
            unsafe { libc::_exit(code) };
        }
        let child = wait_bounded(pid, CHILD_BOUND);
        release.send(()).expect("the thread is inside the callback");
        inside.join().expect("the callback thread");
        assert_eq!(
            child,
            Some(CLOSED),
            "the child's close did not return within {CHILD_BOUND:?} (None: hung)"
        );
    }

    #[test]
    fn close_waits_for_a_running_callback_and_none_runs_after() {
        fork::register();
        let gate = EventGate::default();
        let (release, inside) = thread_inside(&gate);
        let closing = gate.clone();
        let (closed_tx, closed_rx) = mpsc::channel();
        let closer = thread::spawn(move || {
            closing.close();
            closed_tx.send(()).expect("the test waits");
        });
        assert!(
            closed_rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "close returned while a callback was running"
        );
        release.send(()).expect("the thread is inside the callback");
        closed_rx
            .recv_timeout(CHILD_BOUND)
            .expect("close returns once the callback is over");
        inside.join().expect("the callback thread");
        closer.join().expect("the closing thread");
        let mut ran = false;
        gate.run(|| ran = true);
        assert!(!ran, "a callback ran after close");
    }
}
