//! Events for operators: what the token lifecycle did, reported to a
//! callback the program installs ([`ClientBuilder::on_event`](crate::ClientBuilder::on_event)).

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use crate::error::ErrorKind;

/// Something that happened to a client's token.
///
/// Nothing is reported (and nothing logged) unless a callback is set. An
/// event never carries a secret.
///
/// Later versions may add events, and fields to the events that have some:
/// match with a wildcard arm and `..`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A new token arrived; `lifetime` as granted.
    #[non_exhaustive]
    TokenFetched {
        /// The token's lifetime.
        lifetime: Duration,
    },
    /// A token acquisition failed (all its attempts).
    #[non_exhaustive]
    FetchFailed {
        /// What went wrong.
        kind: ErrorKind,
        /// The HTTP status of the last answer, if there was one.
        status: Option<u16>,
    },
    /// Token requests are held off for `duration` after a failure (the
    /// longer of our backoff and the server's `Retry-After`).
    #[non_exhaustive]
    HoldStarted {
        /// How long.
        duration: Duration,
        /// Whether the server imposed it (`Retry-After`).
        by_server: bool,
    },
    /// A token arrived after failures: the hold is over.
    HoldEnded,
    /// The background refresher fell behind: callers start the refresh
    /// themselves (see
    /// [`ClientBuilder::background_refresh`](crate::ClientBuilder::background_refresh)).
    RefresherOverdue,
    /// The client found itself in a child process after `fork()` and built
    /// fresh state there.
    ForkDetected,
    /// The token store was refused at build (a directory another user owns
    /// or can write, a symbolic link, permissions too open): the client runs
    /// without sharing tokens, fetching its own.
    /// [`Client::token_store_status`](crate::Client::token_store_status)
    /// says why.
    StoreUnavailable,
}

/// A shareable event callback. Panics inside it are caught and ignored.
#[derive(Clone)]
pub(crate) struct EventSink(Arc<dyn Fn(&Event) + Send + Sync>);

impl EventSink {
    pub(crate) fn new(f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        EventSink(Arc::new(f))
    }

    /// Reports `event` (never while a lock of the library is held).
    pub(crate) fn emit(&self, event: Event) {
        let _ = catch_unwind(AssertUnwindSafe(|| (self.0)(&event)));
    }
}

impl fmt::Debug for EventSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventSink(..)")
    }
}
