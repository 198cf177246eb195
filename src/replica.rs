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

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::clock::{coarse_deadline, coarse_now_ns};
use crate::token::AccessToken;

/// Most caches a thread keeps replicas for; the least recently installed
/// goes first.
const MAX_REPLICAS_PER_THREAD: usize = 8;

/// A cache's epoch, on a cache line of its own so that the writes next to
/// it (locks of the ordinary path) do not evict it from readers' caches.
#[repr(align(128))]
#[derive(Debug, Default)]
pub(crate) struct Epoch {
    epoch: AtomicU64,
    /// Set when the cache is dropped: its replicas are pruned at their
    /// thread's next call.
    closed: AtomicBool,
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
}

/// Drops (and so wipes) this thread's replicas of caches that are gone.
pub(crate) fn prune_closed() {
    let _ = REPLICAS.try_with(|replicas| {
        if let Ok(mut replicas) = replicas.try_borrow_mut() {
            replicas.retain(|r| !r.epoch_cell.is_closed());
        }
    });
}

struct Replica {
    epoch_cell: Arc<Epoch>,
    epoch: u64,
    fresh_until: u64,
    token: AccessToken,
}

thread_local! {
    static REPLICAS: RefCell<Vec<Replica>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's replica of the cache with epoch cell `cell`,
/// if it is current and fresh, without touching any reference count.
#[inline]
pub(crate) fn with_replica<R>(
    cell: &Arc<Epoch>,
    f: &mut impl FnMut(&AccessToken) -> R,
) -> Option<R> {
    REPLICAS
        .try_with(|replicas| {
            let replicas = replicas.try_borrow().ok()?;
            let replica = replicas.iter().find(|r| Arc::ptr_eq(&r.epoch_cell, cell))?;
            (replica.epoch == cell.load() && coarse_now_ns() < replica.fresh_until)
                .then(|| f(&replica.token))
        })
        .ok()
        .flatten()
}

/// Installs a replica of `token`, which was current at `epoch` (read before
/// the token was), if it is still fresh (outside the refresh window, less
/// the clock slack).
pub(crate) fn install(cell: &Arc<Epoch>, epoch: u64, token: &AccessToken) {
    let fresh_until = coarse_deadline(token.refresh_at());
    if fresh_until == 0 {
        return;
    }
    let Some(copy) = token.replicate() else {
        return;
    };
    let _ = REPLICAS.try_with(|replicas| {
        let Ok(mut replicas) = replicas.try_borrow_mut() else {
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
            token: copy,
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{parse_token_response, RefreshPolicy};
    use std::time::Instant;

    fn lookup(cell: &Arc<Epoch>) -> Option<AccessToken> {
        with_replica(cell, &mut AccessToken::clone)
    }

    fn replicas_here() -> usize {
        REPLICAS.with(|r| r.borrow().len())
    }

    #[test]
    fn replicas_follow_the_epoch_and_are_pruned_when_their_cache_closes() {
        let token = parse_token_response(
            br#"{"access_token":"replica-test","expires_in":600}"#,
            Instant::now(),
            &RefreshPolicy::default(),
            &[],
        )
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
