//! Thread-local replicas of a cache's current token: the cached-header path
//! that writes no shared memory.
//!
//! Every thread keeps, per cache it uses, its own copy of the current token
//! (its own reference count, its own header bytes) together with the cache's
//! *epoch* at the time of copying and a freshness deadline on the coarse
//! clock. A call that finds its replica's epoch still current and the
//! deadline not reached returns the replica: one load of the shared epoch
//! (read-only, so the cache line stays shared between cores), one clock
//! read, and a reference-count increment on a line only this thread touches.
//! Anything else (no replica, a new token or an invalidation since, the
//! refresh window reached) takes the cache's ordinary path, which then
//! refreshes the replica.
//!
//! A replica is dropped (and its token bytes zeroized) when its thread
//! exits, or at the thread's next call into a cache that finds no current
//! replica (every such call prunes the replicas of dropped caches and
//! replaces a stale one). A thread that never calls again keeps its copy of
//! a replaced or dropped token until it exits.
//!
//! The replicas live in the thread's [`ThreadState`], the library's one
//! thread-local, beside the C ABI's last error: a C call on the cached path
//! clears the one and finds the other with a single thread-local lookup
//! (a call into the dynamic linker in a shared library).

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::clock::{coarse_deadline, coarse_now_ns};
use crate::limits::MAX_REPLICAS_PER_THREAD;
use crate::token::AccessToken;

/// A cache's epoch, on a cache line of its own so that the writes next to
/// it (locks of the ordinary path) do not evict it from readers' caches.
#[repr(align(128))]
#[derive(Debug, Default)]
pub(crate) struct Epoch {
    epoch: AtomicU64,
    /// Set when the cache is dropped: its replicas are pruned at their
    /// thread's next call.
    closed: AtomicBool,
    /// Mirrors of the cache's refresh state, written at its transitions
    /// only (a few times per token), so that calls in the refresh window
    /// are served from replicas while nothing needs doing: a refresh is
    /// under way, ...
    refreshing: AtomicBool,
    /// ... a failed refresh is held off until this coarse-clock time, ...
    hold_until: AtomicU64,
    /// ... or a background refresher owns refreshing.
    background: AtomicBool,
}

impl Epoch {
    /// The current epoch.
    #[inline]
    pub(crate) fn load(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Moves to a new epoch: every replica of the old one goes stale.
    pub(crate) fn advance(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Marks the cache gone, and every replica of it stale.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.advance();
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Records whether a refresh is under way.
    pub(crate) fn set_refreshing(&self, on: bool) {
        self.refreshing.store(on, Ordering::Release);
    }

    /// Records until when a failed refresh is held off (`None`: no hold).
    pub(crate) fn set_hold(&self, until: Option<std::time::Instant>) {
        let until = until.map_or(0, coarse_deadline);
        self.hold_until.store(until, Ordering::Release);
    }

    /// Records whether a background refresher owns refreshing.
    pub(crate) fn set_background(&self, on: bool) {
        self.background.store(on, Ordering::Release);
    }

    /// In the refresh window at coarse time `now`: whether a caller has
    /// nothing to start (so the replica may be served).
    #[inline]
    fn nothing_to_start(&self, now: u64, overdue_at: u64) -> bool {
        self.refreshing.load(Ordering::Acquire)
            || now < self.hold_until.load(Ordering::Acquire)
            || (self.background.load(Ordering::Acquire) && now < overdue_at)
    }
}

/// Drops (and so wipes) this thread's replicas of caches that are gone.
pub(crate) fn prune_closed() {
    with_thread(|thread| {
        if let Ok(mut replicas) = thread.replicas.try_borrow_mut() {
            replicas.retain(|r| !r.epoch_cell.is_closed());
        }
    });
}

struct Replica {
    epoch_cell: Arc<Epoch>,
    epoch: u64,
    /// Coarse-clock times: the refresh window opens, ...
    fresh_until: u64,
    /// ... a background refresher is overdue, ...
    overdue_at: u64,
    /// ... the token stops being handed out.
    usable_until: u64,
    token: AccessToken,
}

/// What the library keeps for the calling thread.
pub(crate) struct ThreadState {
    replicas: RefCell<Vec<Replica>>,
    /// The index of the replica found last, looked at first (a hint:
    /// checked, and left stale when replicas come and go).
    recent: Cell<usize>,
    /// The C ABI's last error (see `ffi::error`): empty if none.
    pub(crate) last_error: RefCell<String>,
}

impl ThreadState {
    /// The replica of the cache with epoch cell `cell`, if there is one.
    #[inline(always)]
    fn find<'a>(&self, replicas: &'a [Replica], cell: &Arc<Epoch>) -> Option<&'a Replica> {
        if let Some(replica) = replicas.get(self.recent.get()) {
            if Arc::ptr_eq(&replica.epoch_cell, cell) {
                return Some(replica);
            }
        }
        let index = replicas
            .iter()
            .position(|r| Arc::ptr_eq(&r.epoch_cell, cell))?;
        self.recent.set(index);
        Some(&replicas[index])
    }
}

thread_local! {
    static THREAD: ThreadState = const {
        ThreadState {
            replicas: RefCell::new(Vec::new()),
            recent: Cell::new(0),
            last_error: RefCell::new(String::new()),
        }
    };
}

/// Runs `f` on the calling thread's state; `None` while the thread is
/// being torn down (its state may be gone).
#[inline(always)]
pub(crate) fn with_thread<R>(f: impl FnOnce(&ThreadState) -> R) -> Option<R> {
    THREAD.try_with(f).ok()
}

/// Runs `f` on this thread's replica of the cache with epoch cell `cell`,
/// if it is current and fresh, without touching any reference count.
#[inline]
pub(crate) fn with_replica<R>(
    cell: &Arc<Epoch>,
    f: &mut impl FnMut(&AccessToken) -> R,
) -> Option<R> {
    with_thread(|thread| {
        let replicas = thread.replicas.try_borrow().ok()?;
        let replica = thread.find(&replicas, cell)?;
        if replica.epoch != cell.load() {
            return None;
        }
        let now = coarse_now_ns();
        (now < replica.fresh_until
            || (now < replica.usable_until && cell.nothing_to_start(now, replica.overdue_at)))
        .then(|| f(&replica.token))
    })
    .flatten()
}

/// Installs a replica of `token`, which was current at `epoch` (read before
/// the token was), if it is still usable (less the clock slack).
pub(crate) fn install(cell: &Arc<Epoch>, epoch: u64, token: &AccessToken) {
    let usable_until = coarse_deadline(token.usable_until());
    if usable_until == 0 {
        return;
    }
    let fresh_until = coarse_deadline(token.refresh_at());
    let overdue_at = coarse_deadline(token.refresher_overdue_at());
    let Some(copy) = token.replicate() else {
        return;
    };
    with_thread(|thread| {
        let Ok(mut replicas) = thread.replicas.try_borrow_mut() else {
            return;
        };
        // Replicas of dropped caches, and this cache's previous one.
        replicas.retain(|r| !r.epoch_cell.is_closed() && !Arc::ptr_eq(&r.epoch_cell, cell));
        if replicas.len() >= MAX_REPLICAS_PER_THREAD {
            replicas.remove(0);
        }
        replicas.push(Replica {
            epoch_cell: Arc::clone(cell),
            epoch,
            fresh_until,
            overdue_at,
            usable_until,
            token: copy,
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::install_grant;
    use crate::policy::RefreshPolicy;
    use crate::token::parse_token_response;
    use std::time::Instant;

    fn lookup(cell: &Arc<Epoch>) -> Option<AccessToken> {
        with_replica(cell, &mut AccessToken::clone)
    }

    fn replicas_here() -> usize {
        THREAD.with(|thread| thread.replicas.borrow().len())
    }

    fn token_in_its_refresh_window() -> AccessToken {
        // 600 s token sent 500 s ago: refresh window from 480 s, usable
        // until 590 s.
        let sent = Instant::now() - std::time::Duration::from_secs(500);
        parse_token_response(
            br#"{"access_token":"window-test","expires_in":600}"#,
            sent,
            &[],
        )
        .map(|grant| install_grant(&RefreshPolicy::default(), grant))
        .unwrap()
    }

    #[test]
    fn the_refresh_window_is_served_from_replicas_while_nothing_needs_starting() {
        let token = token_in_its_refresh_window();
        let cell = Arc::new(Epoch::default());
        install(&cell, cell.load(), &token);
        assert!(lookup(&cell).is_none(), "a refresh must be started first");
        cell.set_refreshing(true);
        assert!(lookup(&cell).is_some(), "a refresh is under way");
        cell.set_refreshing(false);
        cell.set_hold(Some(Instant::now() + std::time::Duration::from_secs(5)));
        assert!(lookup(&cell).is_some(), "a failed refresh is held off");
        cell.set_hold(None);
        cell.set_background(true);
        assert!(lookup(&cell).is_some(), "the background refresher's job");
        cell.close();
        prune_closed();
    }

    #[test]
    fn one_thread_keeps_replicas_of_64_caches() {
        let token = parse_token_response(
            br#"{"access_token":"many","expires_in":600}"#,
            Instant::now(),
            &[],
        )
        .map(|grant| install_grant(&RefreshPolicy::default(), grant))
        .unwrap();
        let cells: Vec<_> = (0..64).map(|_| Arc::new(Epoch::default())).collect();
        for cell in &cells {
            install(cell, cell.load(), &token);
        }
        for _ in 0..3 {
            for cell in &cells {
                assert!(lookup(cell).is_some(), "round robin over 64 clients");
            }
        }
        for cell in &cells {
            cell.close();
        }
        prune_closed();
    }

    #[test]
    fn replicas_follow_the_epoch_and_are_pruned_when_their_cache_closes() {
        let token = parse_token_response(
            br#"{"access_token":"replica-test","expires_in":600}"#,
            Instant::now(),
            &[],
        )
        .map(|grant| install_grant(&RefreshPolicy::default(), grant))
        .unwrap();
        let cell = Arc::new(Epoch::default());
        let before = replicas_here();
        install(&cell, cell.load(), &token);
        assert_eq!(replicas_here(), before + 1);
        assert!(lookup(&cell).is_some_and(|t| t.same_token(&token)));
        cell.advance();
        assert!(lookup(&cell).is_none(), "a stale epoch is never served");
        install(&cell, cell.load(), &token);
        assert_eq!(replicas_here(), before + 1, "replaced, not added");
        cell.close();
        assert!(lookup(&cell).is_none());
        prune_closed();
        assert_eq!(replicas_here(), before, "the closed cache's copy is gone");
    }
}
