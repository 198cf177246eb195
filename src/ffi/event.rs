//! `alpaca_auth_event`: what the token lifecycle reports to a C callback
//! set with `alpaca_auth_builder_set_event_callback`.

use std::ffi::c_void;

use super::result::alpaca_auth_result;
use crate::events::Event;

/// What happened (`alpaca_auth_event.kind`). Values are stable and never
/// reused; later versions may add some: ignore unknown values.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(Clone, Default)]
pub(crate) struct EventGate(std::sync::Arc<std::sync::RwLock<bool>>);

impl EventGate {
    /// Runs `callback` unless the gate is closed (callbacks run in
    /// parallel; closing waits for them).
    pub(crate) fn run(&self, callback: impl FnOnce()) {
        let closed = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !*closed {
            callback();
        }
    }

    /// No callback runs after this returns.
    pub(crate) fn close(&self) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
    }
}
