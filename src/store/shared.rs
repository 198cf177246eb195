//! [`SharedStore`]: a client's view of its token store, the protocol of
//! load, lock, fetch and publish that makes a fleet send one request.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use ring::digest;

use super::{StoreKey, StoredToken, TokenStore};
use crate::error::Result;
use crate::limits::{ENTRY_CLOCK_SLACK, MAX_TOKEN_LIFETIME, STORE_POLL_INTERVAL};
use crate::secret::SecretString;
use crate::token::AccessToken;

/// A client's view of its store: the store, the credential's key and how
/// long to wait for another process's fetch.
#[derive(Clone)]
pub(crate) struct SharedStore {
    store: Arc<dyn TokenStore>,
    key: StoreKey,
    wait: Duration,
    /// SHA-256 of the last token the API refused, never taken from the
    /// store again (its entry may outlive the refusal when the store could
    /// not remove it: a busy lock, an error). Shared by the clones of one
    /// client, a child process's included.
    rejected: Arc<Mutex<Option<digest::Digest>>>,
}

impl SharedStore {
    pub(crate) fn new(store: Arc<dyn TokenStore>, key: StoreKey, wait: Duration) -> SharedStore {
        SharedStore {
            store,
            key,
            wait,
            rejected: Arc::default(),
        }
    }

    /// A token through the store: a stored one that `wanted` accepts (the
    /// cache's test, given the token's lifetime and remaining life: not yet
    /// due for refresh); else the one this
    /// process fetches under the lock (and publishes); else, while another
    /// process holds the lock, the one it publishes; else (store errors, or
    /// no token within the wait) one fetched here.
    pub(crate) fn fetch(
        &self,
        wanted: &dyn Fn(Duration, Duration) -> bool,
        fetch: &dyn Fn() -> Result<AccessToken>,
    ) -> Result<AccessToken> {
        if let Some(token) = self.fresh(wanted) {
            return Ok(token);
        }
        let deadline = Instant::now() + self.wait;
        loop {
            match self.store.try_lock(&self.key) {
                Ok(Some(lock)) => {
                    if let Some(token) = self.fresh(wanted) {
                        return Ok(token);
                    }
                    let token = fetch()?;
                    self.publish(&token);
                    drop(lock);
                    return Ok(token);
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(STORE_POLL_INTERVAL);
                    if let Some(token) = self.fresh(wanted) {
                        return Ok(token);
                    }
                }
                // A broken store, or a holder that outlived the wait.
                Ok(None) | Err(_) => break,
            }
        }
        let token = fetch()?;
        self.publish(&token);
        Ok(token)
    }

    /// After a 401: removes the stored entry if it holds `token`, and never
    /// takes `token` from the store again. Called before the local cache
    /// drops the token, so that no fetch in between loads it back.
    pub(crate) fn forget(&self, token: &str) {
        if token.is_empty() {
            return;
        }
        *self.rejected.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(digest::digest(&digest::SHA256, token.as_bytes()));
        let _ = self.store.remove_if(&self.key, token);
    }

    /// Whether `token` is the one last refused.
    fn is_rejected(&self, token: &str) -> bool {
        let rejected = self.rejected.lock().unwrap_or_else(PoisonError::into_inner);
        rejected.as_ref().is_some_and(|hash| {
            let candidate = digest::digest(&digest::SHA256, token.as_bytes());
            bool::from(subtle::ConstantTimeEq::ct_eq(
                hash.as_ref(),
                candidate.as_ref(),
            ))
        })
    }

    /// The stored token, if it parses, is trusted and `wanted` accepts it.
    fn fresh(&self, wanted: &dyn Fn(Duration, Duration) -> bool) -> Option<AccessToken> {
        let stored = self.store.load(&self.key).ok()??;
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
        AccessToken::new(
            stored.access_token.expose_secret().to_owned(),
            lifetime,
            None,
            issued,
        )
        .ok()
    }

    fn publish(&self, token: &AccessToken) {
        let stored = StoredToken {
            access_token: SecretString::new(token.expose_secret().to_owned()),
            expires_at: SystemTime::now() + token.remaining(),
            lifetime: token.lifetime(),
        };
        let _ = self.store.publish(&self.key, &stored);
    }
}

impl fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedStore")
            .field("key", &self.key)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}
