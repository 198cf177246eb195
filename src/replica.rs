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
//! Replicas are dropped (and the token bytes zeroized) when their thread
//! exits, when the thread next installs a replica after the cache was
//! dropped, or when the epoch moves on.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
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
pub(crate) struct Epoch(AtomicU64);

impl Epoch {
    /// The current epoch.
    #[inline]
    pub(crate) fn load(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Moves to a new epoch: every replica of the old one goes stale.
    pub(crate) fn advance(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
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

/// This thread's replica of the cache with epoch cell `cell`, if it is
/// current and fresh.
#[inline]
pub(crate) fn lookup(cell: &Arc<Epoch>) -> Option<AccessToken> {
    with_replica(cell, &mut AccessToken::clone)
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
/// the token was), if it is fresh for long enough to be worth it.
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
        // Replicas of dropped caches (only this list holds their epoch cell).
        replicas
            .retain(|r| Arc::strong_count(&r.epoch_cell) > 1 && !Arc::ptr_eq(&r.epoch_cell, cell));
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
