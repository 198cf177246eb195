//! [`SharedStore`]: a client's view of its token store, the protocol of
//! load, lock, fetch and publish that makes a fleet send one request.

use std::fmt;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError, TryLockError};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use ring::digest;

use super::{StoreKey, StoreLock, StoredToken, TokenStore};
use crate::error::Result;
use crate::limits::{
    ENTRY_CLOCK_SLACK, MAX_STORE_CALLS_IN_FLIGHT, MAX_TOKEN_LIFETIME, STORE_POLL_INTERVAL,
};
use crate::secret::{constant_time_eq, SecretString};
use crate::token::Grant;

/// A client's view of its store: the store, the credential's key, how long
/// the store part of a fetch may take, and this process's own state (never
/// shared with a child process: see [`for_child`](Self::for_child)).
///
/// Every call into the store runs on a thread of its own
/// ([`STORE_THREAD_NAME`]) that the caller waits for only until the store
/// deadline: a store that hangs (a stalled network file system, a C callback
/// that blocks, a panicking implementation) costs a fetch at most that
/// deadline, after which the library fetches on its own. A call that hangs
/// keeps its thread; at most [`MAX_STORE_CALLS_IN_FLIGHT`] calls of one
/// client are under way at once, and while that many are, the client
/// fetches without its store.
pub(crate) struct SharedStore {
    store: Arc<dyn TokenStore>,
    key: StoreKey,
    /// How long the store part of one fetch may take, in all.
    wait: Duration,
    /// SHA-256 of the last token the API refused, never taken from the
    /// store again (its entry may outlive the refusal when the store could
    /// not remove it: a busy lock, an error). This process's own.
    rejected: Mutex<Option<digest::Digest>>,
    /// Store calls of this process under way (each on its own thread).
    calls: Arc<AtomicUsize>,
}

/// Name of the threads that call the token store.
pub(crate) const STORE_THREAD_NAME: &str = "alpaca-auth-store";

/// One of the [`MAX_STORE_CALLS_IN_FLIGHT`] places for a store call,
/// given back when the call's thread ends (however it ends).
struct CallSlot(Arc<AtomicUsize>);

impl Drop for CallSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl SharedStore {
    /// `wait`: how long the store part of a fetch may take in all (see
    /// [`STORE_WAIT_DIVISOR`](crate::limits::STORE_WAIT_DIVISOR)).
    pub(crate) fn new(store: Arc<dyn TokenStore>, key: StoreKey, wait: Duration) -> SharedStore {
        SharedStore {
            store,
            key,
            wait,
            rejected: Mutex::new(None),
            calls: Arc::default(),
        }
    }

    /// The same store and key for a child process after `fork()`, with
    /// state of its own: a parent thread may have held the `rejected` lock
    /// at the fork, and the parent's store calls have no thread here.
    pub(crate) fn for_child(&self) -> SharedStore {
        // Never waits: a lock held by a parent thread stays held here.
        let rejected = match self.rejected.try_lock() {
            Ok(rejected) => *rejected,
            Err(TryLockError::Poisoned(rejected)) => *rejected.into_inner(),
            Err(TryLockError::WouldBlock) => None,
        };
        SharedStore {
            store: Arc::clone(&self.store),
            key: self.key.clone(),
            wait: self.wait,
            rejected: Mutex::new(rejected),
            calls: Arc::default(),
        }
    }

    /// A token through the store: a stored one that `wanted` accepts (the
    /// cache's test, given the token's lifetime and remaining life: not yet
    /// due for refresh); else the one this process fetches under the lock
    /// (and publishes); else, while another process holds the lock, the one
    /// it publishes; else (store errors, a store that does not answer, or
    /// no token within the store's wait) one fetched here.
    pub(crate) fn fetch(
        &self,
        wanted: &dyn Fn(Duration, Duration) -> bool,
        fetch: &dyn Fn() -> Result<Grant>,
    ) -> Result<Grant> {
        let deadline = Instant::now() + self.wait;
        if let Some(token) = self.fresh(wanted, deadline) {
            return Ok(token);
        }
        loop {
            match self.call(deadline, |store, key| store.try_lock(key)) {
                Ok(Some(lock)) => {
                    if let Some(token) = self.fresh(wanted, deadline) {
                        self.release(lock);
                        return Ok(token);
                    }
                    return match fetch() {
                        Ok(token) => {
                            self.publish(&token, Some(lock));
                            Ok(token)
                        }
                        Err(error) => {
                            self.release(lock);
                            Err(error)
                        }
                    };
                }
                Ok(None) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break; // a holder that outlived the wait
                    }
                    std::thread::sleep(STORE_POLL_INTERVAL.min(left));
                    if let Some(token) = self.fresh(wanted, deadline) {
                        return Ok(token);
                    }
                }
                // A broken or hung store.
                Err(_) => break,
            }
        }
        let token = fetch()?;
        self.publish(&token, None);
        Ok(token)
    }

    /// After a 401: never takes `token` from the store again, and removes
    /// the stored entry if it holds `token` (on a store thread, waiting for
    /// it at most the store's wait). Called before the local cache drops the
    /// token, so that no fetch in between loads it back.
    pub(crate) fn forget(&self, token: &str) {
        if token.is_empty() {
            return;
        }
        *self.rejected.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(digest::digest(&digest::SHA256, token.as_bytes()));
        let token = SecretString::new(token.to_owned());
        if let Ok(removed) =
            self.spawn(move |store, key| store.remove_if(key, token.expose_secret()))
        {
            let _ = removed.recv_timeout(self.wait);
        }
    }

    /// Runs `call` on a store thread and waits for it until `deadline`: a
    /// `TimedOut` error after that (the call goes on, holding its place),
    /// and an error if the store panics or too many calls are under way.
    fn call<T: Send + 'static>(
        &self,
        deadline: Instant,
        call: impl FnOnce(&dyn TokenStore, &StoreKey) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        match self.spawn(call)?.recv_timeout(left) {
            Ok(outcome) => outcome,
            Err(_) => Err(timed_out()),
        }
    }

    /// Starts `call` on a store thread; its outcome arrives on the channel
    /// (and is dropped there, a lock released, if no one waits for it).
    fn spawn<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn TokenStore, &StoreKey) -> io::Result<T> + Send + 'static,
    ) -> io::Result<mpsc::Receiver<io::Result<T>>> {
        let slot = self.reserve().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                "too many token store calls are under way (the store does not answer)",
            )
        })?;
        self.start(slot, call)
    }

    /// [`spawn`](Self::spawn) in a place already reserved.
    fn start<T: Send + 'static>(
        &self,
        slot: CallSlot,
        call: impl FnOnce(&dyn TokenStore, &StoreKey) -> io::Result<T> + Send + 'static,
    ) -> io::Result<mpsc::Receiver<io::Result<T>>> {
        let (sender, receiver) = mpsc::sync_channel(1);
        let store = Arc::clone(&self.store);
        let key = self.key.clone();
        thread::Builder::new()
            .name(STORE_THREAD_NAME.into())
            .spawn(move || {
                let _slot = slot;
                let outcome = catch_unwind(AssertUnwindSafe(|| call(&*store, &key)))
                    .unwrap_or_else(|_| Err(io::Error::other("the token store panicked")));
                let _ = sender.send(outcome);
            })?;
        Ok(receiver)
    }

    /// A place for one more store call, if fewer than the most are under way.
    fn reserve(&self) -> Option<CallSlot> {
        let mut under_way = self.calls.load(Ordering::Acquire);
        loop {
            if under_way >= MAX_STORE_CALLS_IN_FLIGHT {
                return None;
            }
            match self.calls.compare_exchange_weak(
                under_way,
                under_way + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(CallSlot(Arc::clone(&self.calls))),
                Err(now) => under_way = now,
            }
        }
    }

    /// Releases a fetch lock on a store thread (waiting for it at most the
    /// store's wait). If no store thread can be had (the store hangs), the
    /// lock is leaked rather than released on this thread, which could hang
    /// too: other processes then wait at most their store wait for it.
    fn release(&self, lock: Box<dyn StoreLock>) {
        self.publish_and_release(None, Some(lock));
    }

    /// Publishes `token` (if any), then releases `lock` (if any), on a store
    /// thread, waiting for it at most the store's wait: a process that exits
    /// right after its first token still leaves it for the others, and a
    /// store that hangs costs the caller that wait and no more. The lock
    /// goes only after the entry is written, so that a process that takes
    /// it next finds the new token.
    fn publish_and_release(&self, token: Option<&Grant>, lock: Option<Box<dyn StoreLock>>) {
        let stored = token.map(|token| StoredToken {
            access_token: SecretString::new(token.expose_secret().to_owned()),
            expires_at: SystemTime::now() + token.remaining(),
            lifetime: token.lifetime(),
        });
        let Some(slot) = self.reserve() else {
            std::mem::forget(lock);
            return;
        };
        let published = self.start(slot, move |store, key| {
            let published = stored.map_or(Ok(()), |stored| store.publish(key, &stored));
            drop(lock);
            published
        });
        if let Ok(published) = published {
            let _ = published.recv_timeout(self.wait);
        }
    }

    /// Whether `token` is the one last refused.
    fn is_rejected(&self, token: &str) -> bool {
        let rejected = self.rejected.lock().unwrap_or_else(PoisonError::into_inner);
        rejected.as_ref().is_some_and(|hash| {
            let candidate = digest::digest(&digest::SHA256, token.as_bytes());
            constant_time_eq(hash.as_ref(), candidate.as_ref())
        })
    }

    /// The stored token, if it parses, is trusted and `wanted` accepts it.
    fn fresh(
        &self,
        wanted: &dyn Fn(Duration, Duration) -> bool,
        deadline: Instant,
    ) -> Option<Grant> {
        let stored = self.call(deadline, |store, key| store.load(key)).ok()??;
        if self.is_rejected(stored.access_token.expose_secret()) {
            return None;
        }
        let remaining = stored.expires_at.duration_since(SystemTime::now()).ok()?;
        // An entry that claims more life than it was granted (a clock step,
        // a bogus entry) is not trusted, nor one beyond the longest lifetime.
        if stored.lifetime > MAX_TOKEN_LIFETIME || remaining > stored.lifetime + ENTRY_CLOCK_SLACK {
            return None;
        }
        let lifetime = stored.lifetime.max(remaining);
        // Judged on the lifetime it was granted, whatever this process can
        // represent below.
        if !wanted(lifetime, remaining) {
            return None;
        }
        // Issued `lifetime - remaining` ago, as far as this process knows.
        let now = Instant::now();
        let (issued, lifetime) = match now.checked_sub(lifetime - remaining) {
            Some(issued) => (issued, lifetime),
            None => (now, remaining),
        };
        Grant::new(
            stored.access_token.expose_secret().to_owned(),
            lifetime,
            issued,
            None,
            None,
        )
        .ok()
    }

    fn publish(&self, token: &Grant, lock: Option<Box<dyn StoreLock>>) {
        self.publish_and_release(Some(token), lock);
    }
}

/// What a store call that did not answer in time gives.
fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the token store did not answer within its wait",
    )
}

impl fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedStore")
            .field("key", &self.key)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}
