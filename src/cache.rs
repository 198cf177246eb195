//! The token cache: refresh ahead of expiry, single-flight fetching,
//! invalidation, and serving the old token while a refresh fails.
//!
//! States of the cached token at time `now`:
//!
//! * **fresh** (`now < refresh_at`): returned at once from the calling
//!   thread's replica ([`crate::replica`]), which writes no shared memory;
//!   a thread without a current replica reads the cache under a read lock
//!   once and makes one.
//! * **refresh window** (`refresh_at <= now < expires_at`): the first caller
//!   to notice starts a refresh on a thread of the library's own (or, with
//!   a background refresher, that thread does it) and, like every other
//!   caller, gets the cached token at once. If the refresh fails, the old
//!   token is served until it expires and the next refresh is held off.
//! * **expired or absent**: exactly one fetch runs; every caller waits for
//!   it (at most the cache's wait limit) and shares its token or its error.
//!
//! Which thread runs a fetch in each case (the claiming caller's own, with
//! `fetch_inline`; otherwise one spawned by [`TokenCache::spawn_fetch`]) is
//! the crate's threading contract: [the table in the crate
//! docs](crate#which-thread-sends-a-token-request).
//!
//! A failed fetch with no valid token to fall back on is remembered for a
//! short hold (the server's `Retry-After` when it sent one), during which
//! callers get the same error without a new request, so an outage does not
//! turn into a request storm. The hold is [`failure_hold`]: the longer of
//! our own backoff and the server's `Retry-After`, so a `Retry-After: 0`
//! never shortens it. [`TokenCache::invalidate`] drops the token and our
//! own backoff, but never a hold the server imposed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{
    Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, RwLock, TryLockError, Weak,
};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, EventSink};
use crate::policy::RefreshPolicy;
use crate::replica::{self, Epoch};
use crate::retry::{failure_hold, server_hold};
use crate::token::{AccessToken, Grant};

#[derive(Default)]
struct Flight {
    /// A fetch is under way.
    in_flight: bool,
    /// Number of completed fetches; waiters watch it change.
    completed: u64,
    /// The error of the last completed fetch, if it failed.
    last_error: Option<Error>,
    /// Failures in a row.
    failures: u32,
    /// Until then, a refresh-ahead is not attempted.
    refresh_hold_until: Option<Instant>,
    /// Until then, callers with no valid token get `last_error` at once.
    fetch_hold_until: Option<Instant>,
    /// The part of the holds the server imposed (`Retry-After`): kept by
    /// invalidation.
    server_hold_until: Option<Instant>,
}

/// Counters of a cache, for tests, status calls and the demo.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CacheStats {
    /// Token fetches started (each may send several HTTP requests).
    pub fetches: u64,
    /// Fetches that failed.
    pub failures: u64,
}

/// A single-flight, refresh-ahead token cache.
pub(crate) struct TokenCache {
    /// Advances whenever `current` changes; see [`crate::replica`].
    epoch: Arc<Epoch>,
    /// A background refresher owns refresh-ahead: callers never do it.
    background: AtomicBool,
    current: RwLock<Option<AccessToken>>,
    flight: Mutex<Flight>,
    landed: Condvar,
    wait_limit: Duration,
    /// When installed tokens are refreshed ahead of expiry.
    policy: RefreshPolicy,
    /// A caller without a valid token fetches on its own thread.
    fetch_inline: bool,
    stats: Mutex<CacheStats>,
    /// Runs claimed fetches on a library thread; unset, callers run them.
    fetcher: OnceLock<Weak<dyn Fetcher>>,
    /// Told of every change (the background refresher's wake-up).
    watcher: OnceLock<Arc<dyn Fn() + Send + Sync>>,
    /// The program's event callback, if any.
    events: OnceLock<EventSink>,
}

/// What runs a fetch the cache has claimed (the in-flight flag set), on a
/// thread of its own: the client's token source.
pub(crate) trait Fetcher: Send + Sync + 'static {
    /// Runs the claimed fetch and publishes it (`TokenCache::run_fetch`).
    fn run_claimed(&self, background: bool);
}

impl Drop for TokenCache {
    fn drop(&mut self) {
        self.epoch.close();
    }
}

/// Name of the threads that run token requests for callers.
pub(crate) const FETCH_THREAD_NAME: &str = "alpaca-auth-fetch";

/// Resets the in-flight flag if the fetching thread unwinds, so waiters are
/// released with an error instead of waiting forever.
struct FlightGuard<'a> {
    cache: &'a TokenCache,
    armed: bool,
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let error = Error::new(ErrorKind::Transport, "token fetch was aborted by a panic");
            let _ = self.cache.finish(Err(error), Instant::now(), false);
        }
    }
}

impl TokenCache {
    /// A cache whose callers wait at most `wait_limit` for a token. With
    /// `fetch_inline` (the wait limit is at least the fetch's own budget), a
    /// caller without a valid token runs the fetch on its own thread, which
    /// saves a thread hand-off; refreshes ahead of expiry always run on a
    /// library thread.
    pub(crate) fn new(wait_limit: Duration, fetch_inline: bool, policy: RefreshPolicy) -> Self {
        TokenCache {
            epoch: Arc::new(Epoch::default()),
            background: AtomicBool::new(false),
            current: RwLock::new(None),
            flight: Mutex::new(Flight::default()),
            landed: Condvar::new(),
            wait_limit,
            policy,
            fetch_inline,
            stats: Mutex::new(CacheStats::default()),
            fetcher: OnceLock::new(),
            watcher: OnceLock::new(),
            events: OnceLock::new(),
        }
    }

    /// An empty cache with the same settings (for a child process).
    pub(crate) fn empty_like(&self) -> Self {
        TokenCache::new(self.wait_limit, self.fetch_inline, self.policy)
    }

    /// Reports events to `sink`.
    pub(crate) fn set_events(&self, sink: EventSink) {
        let _ = self.events.set(sink);
    }

    fn emit(&self, event: impl FnOnce() -> Event) {
        if let Some(sink) = self.events.get() {
            sink.emit(event());
        }
    }

    /// Calls `on_change` after every published fetch and invalidation.
    pub(crate) fn set_watcher(&self, on_change: Arc<dyn Fn() + Send + Sync>) {
        let _ = self.watcher.set(on_change);
    }

    fn changed(&self) {
        if let Some(on_change) = self.watcher.get() {
            on_change();
        }
    }

    /// Whether this cache would hand out, without refreshing it, a token
    /// granted for `lifetime` with `remaining` left: not yet due for refresh
    /// under its policy (a token from a shared store is taken only then).
    pub(crate) fn would_serve(&self, lifetime: Duration, remaining: Duration) -> bool {
        !self.policy.is_due(lifetime, remaining)
    }

    /// Whether refresh-ahead of `token` is the background refresher's job
    /// at `now`: it is on, and not overdue (half the refresh window gone,
    /// in the token's schedule: callers then start one).
    fn refresher_owns(&self, token: &AccessToken, now: Instant) -> bool {
        self.background.load(Ordering::Acquire) && now < token.refresher_overdue_at()
    }

    /// From now on, fetches run on threads spawned for them, calling
    /// `fetcher` (held weakly: it usually owns this cache).
    pub(crate) fn set_fetcher(&self, fetcher: Weak<dyn Fetcher>) {
        let _ = self.fetcher.set(fetcher);
    }

    /// Starts the claimed fetch on a new library thread; `false` (the
    /// caller then runs it) without a fetcher or if no thread can start.
    fn spawn_fetch(&self, background: bool) -> bool {
        let Some(fetcher) = self.fetcher.get().cloned() else {
            return false;
        };
        thread::Builder::new()
            .name(FETCH_THREAD_NAME.into())
            .spawn(move || {
                if let Some(fetcher) = fetcher.upgrade() {
                    fetcher.run_claimed(background);
                }
            })
            .is_ok()
    }

    fn flight(&self) -> MutexGuard<'_, Flight> {
        self.flight.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached token, valid or not, without fetching.
    pub(crate) fn current(&self) -> Option<AccessToken> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Counters since the cache was made.
    pub(crate) fn stats(&self) -> CacheStats {
        *self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached token if still valid, without fetching.
    pub(crate) fn peek(&self) -> Option<AccessToken> {
        self.current().filter(|t| t.is_valid_at(Instant::now()))
    }

    /// The last fetch error, if the last fetch failed.
    pub(crate) fn last_error(&self) -> Option<Error> {
        self.flight().last_error.clone()
    }

    /// Returns a valid token, fetching with `fetch` when needed (see the
    /// module documentation for who fetches and who waits).
    #[inline]
    pub(crate) fn get(&self, fetch: impl FnOnce() -> Result<Grant>) -> Result<AccessToken> {
        self.with_token(fetch, AccessToken::clone)
    }

    /// Runs `f` on a valid token, borrowed from the thread's replica when it
    /// is fresh (no reference count touched), else as [`get`](Self::get).
    #[inline]
    pub(crate) fn with_token<R>(
        &self,
        fetch: impl FnOnce() -> Result<Grant>,
        mut f: impl FnMut(&AccessToken) -> R,
    ) -> Result<R> {
        if let Some(out) = replica::with_replica(&self.epoch, &mut f) {
            return Ok(out);
        }
        self.get_shared(fetch).map(|token| f(&token))
    }

    /// Runs `f` on a valid token if one is cached, without ever waiting:
    /// `None` otherwise. Never sends a request on this thread; in the
    /// refresh window or without a valid token, it starts one on a library
    /// thread when none is under way and no hold applies (unless a
    /// background refresher owns refreshing).
    pub(crate) fn try_with_token<R>(&self, mut f: impl FnMut(&AccessToken) -> R) -> Option<R> {
        if let Some(out) = replica::with_replica(&self.epoch, &mut f) {
            return Some(out);
        }
        let epoch = self.epoch.load();
        let token = match self.current.try_read() {
            Ok(current) => current.clone(),
            Err(TryLockError::Poisoned(current)) => current.into_inner().clone(),
            // A writer is installing a new token or dropping a refused one
            // (a fetch follows either way): no answer now, and no request.
            Err(TryLockError::WouldBlock) => return None,
        };
        let now = Instant::now();
        let valid = token.filter(|t| t.is_valid_at(now));
        if valid
            .as_ref()
            .is_none_or(|t| now >= t.refresh_at() && !self.refresher_owns(t, now))
        {
            self.start_without_waiting(valid.is_some(), now);
        }
        let token = valid?;
        replica::install(&self.epoch, epoch, &token);
        Some(f(&token))
    }

    /// Starts a fetch on a library thread if none is under way and no hold
    /// applies, without blocking (gives up if the flight lock is busy).
    fn start_without_waiting(&self, have_valid: bool, now: Instant) {
        if self.fetcher.get().is_none() {
            return;
        }
        let mut flight = match self.flight.try_lock() {
            Ok(flight) => flight,
            Err(TryLockError::Poisoned(flight)) => flight.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        let hold = if have_valid {
            flight.refresh_hold_until
        } else {
            flight.fetch_hold_until
        };
        if flight.in_flight || hold.is_some_and(|until| now < until) {
            return;
        }
        flight.in_flight = true;
        self.epoch.set_refreshing(true);
        drop(flight);
        if !self.spawn_fetch(have_valid) {
            let error = Error::new(ErrorKind::Transport, "cannot start a token request");
            let _ = self.finish(Err(error), Instant::now(), have_valid);
        }
    }

    /// [`get`](Self::get) without the thread's replica; installs one when
    /// the token it returns is fresh.
    #[cold]
    #[inline(never)]
    fn get_shared(&self, fetch: impl FnOnce() -> Result<Grant>) -> Result<AccessToken> {
        replica::prune_closed();
        let epoch = self.epoch.load();
        let token = self.get_uncached(fetch)?;
        replica::install(&self.epoch, epoch, &token);
        Ok(token)
    }

    /// Hands refresh-ahead to a background refresher (or back to callers).
    pub(crate) fn set_background(&self, on: bool) {
        self.background.store(on, Ordering::Release);
        self.epoch.set_background(on);
    }

    /// For the background refresher: refreshes now unless a fetch is
    /// already under way (then `Ok(None)`).
    pub(crate) fn refresh_now(
        &self,
        fetch: impl FnOnce() -> Result<Grant>,
    ) -> Result<Option<AccessToken>> {
        {
            let mut flight = self.flight();
            if flight.in_flight {
                return Ok(None);
            }
            flight.in_flight = true;
            self.epoch.set_refreshing(true);
        }
        self.run_fetch(fetch, true).map(Some)
    }

    fn get_uncached(&self, fetch: impl FnOnce() -> Result<Grant>) -> Result<AccessToken> {
        let now = Instant::now();
        if let Some(token) = self.current() {
            if now < token.refresh_at() {
                return Ok(token);
            }
            if token.is_valid_at(now) {
                return self.refresh_ahead(token, now, fetch);
            }
        }
        self.fetch_or_wait(fetch)
    }

    /// In the refresh window: one caller refreshes, the rest keep the token.
    fn refresh_ahead(
        &self,
        token: AccessToken,
        now: Instant,
        fetch: impl FnOnce() -> Result<Grant>,
    ) -> Result<AccessToken> {
        if self.refresher_owns(&token, now) {
            return Ok(token);
        }
        let overdue = self.background.load(Ordering::Acquire);
        {
            let mut flight = self.flight();
            if flight.in_flight || flight.refresh_hold_until.is_some_and(|t| now < t) {
                return Ok(token);
            }
            // Another thread may have refreshed between our read and this
            // lock: then there is nothing to do.
            if let Some(current) = self.current() {
                if !current.same_token(&token) {
                    return Ok(current);
                }
            }
            flight.in_flight = true;
            self.epoch.set_refreshing(true);
        }
        if overdue {
            self.emit(|| Event::RefresherOverdue);
        }
        if self.spawn_fetch(true) {
            return Ok(token);
        }
        match self.run_fetch(fetch, true) {
            Ok(new) => Ok(new),
            // The refresh may have outlived the old token.
            Err(_) if token.is_valid_at(Instant::now()) => Ok(token),
            Err(error) => Err(error),
        }
    }

    /// No valid token: start the fetch on a library thread (or, without a
    /// fetcher, become the fetching thread), or wait for the one under way.
    fn fetch_or_wait(&self, fetch: impl FnOnce() -> Result<Grant>) -> Result<AccessToken> {
        let deadline = Instant::now() + self.wait_limit;
        let mut fetch = Some(fetch);
        let mut flight = self.flight();
        loop {
            let now = Instant::now();
            if let Some(token) = self.current().filter(|t| t.is_valid_at(now)) {
                return Ok(token);
            }
            let seen = flight.completed;
            if !flight.in_flight {
                if let (Some(until), Some(error)) = (flight.fetch_hold_until, &flight.last_error) {
                    if now < until {
                        return Err(error.clone());
                    }
                }
                flight.in_flight = true;
                self.epoch.set_refreshing(true);
                drop(flight);
                if self.fetch_inline || !self.spawn_fetch(false) {
                    if let Some(fetch) = fetch.take() {
                        return self.run_fetch(fetch, false);
                    }
                    // Only if a spawn fails after an earlier one in this
                    // call worked: release the claim and report.
                    let error = Error::new(ErrorKind::Transport, "cannot start a token request");
                    return self.finish(Err(error), Instant::now(), false);
                }
                flight = self.flight();
            }
            while flight.in_flight && flight.completed == seen {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "no token within the longest wait of {} s (the token request goes on)",
                            self.wait_limit.as_secs_f64()
                        ),
                    ));
                }
                flight = self
                    .landed
                    .wait_timeout(flight, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            if let Some(error) = &flight.last_error {
                if flight.completed != seen {
                    // The fetch we waited for failed: share its error,
                    // unless a valid token exists after all.
                    let error = error.clone();
                    drop(flight);
                    return match self.peek() {
                        Some(token) => Ok(token),
                        None => Err(error),
                    };
                }
            }
        }
    }

    /// Runs `fetch` as the one fetching thread (the in-flight flag already
    /// claimed) and publishes its outcome.
    pub(crate) fn run_fetch(
        &self,
        fetch: impl FnOnce() -> Result<Grant>,
        background: bool,
    ) -> Result<AccessToken> {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fetches += 1;
        let mut guard = FlightGuard {
            cache: self,
            armed: true,
        };
        let outcome = fetch();
        guard.armed = false;
        self.finish(outcome, Instant::now(), background)
    }

    fn finish(
        &self,
        outcome: Result<Grant>,
        now: Instant,
        background: bool,
    ) -> Result<AccessToken> {
        // Installed with its schedule under this cache's refresh policy:
        // the one place the policy is asked.
        let outcome = outcome.map(|grant| install_grant(&self.policy, grant));
        if let Ok(token) = &outcome {
            *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(token.clone());
            self.epoch.advance();
        } else {
            self.stats
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .failures += 1;
        }
        let mut flight = self.flight();
        let mut events = Vec::new();
        flight.in_flight = false;
        self.epoch.set_refreshing(false);
        flight.completed += 1;
        match &outcome {
            Ok(token) => {
                events.push(Event::TokenFetched {
                    lifetime: token.lifetime(),
                });
                if flight.failures > 0 {
                    events.push(Event::HoldEnded);
                }
                flight.last_error = None;
                flight.failures = 0;
                flight.refresh_hold_until = None;
                self.epoch.set_hold(flight.refresh_hold_until);
                flight.fetch_hold_until = None;
                flight.server_hold_until = None;
            }
            Err(error) => {
                flight.failures = flight.failures.saturating_add(1);
                let hold = failure_hold(flight.failures, error.retry_after());
                flight.refresh_hold_until = Some(now + hold);
                self.epoch.set_hold(flight.refresh_hold_until);
                let server = server_hold(error.retry_after()).map(|wait| now + wait);
                flight.server_hold_until = server;
                // A failed refresh-ahead holds callers off only when the
                // server said so; a caller's failed fetch always does.
                if !background || server.is_some() {
                    flight.fetch_hold_until = Some(now + hold);
                }
                events.push(Event::FetchFailed {
                    kind: error.kind(),
                    status: error.status(),
                });
                events.push(Event::HoldStarted {
                    duration: hold,
                    by_server: server.is_some(),
                });
                flight.last_error = Some(error.clone());
            }
        }
        drop(flight);
        self.landed.notify_all();
        self.changed();
        for event in events {
            self.emit(|| event);
        }
        outcome
    }

    /// Whether the cached token is one `rejected` matches (read lock only).
    pub(crate) fn is_current(&self, rejected: &dyn Fn(&AccessToken) -> bool) -> bool {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(rejected)
    }

    /// Drops the cached token (after a 401 from the API) and our own failure
    /// backoff: the next call fetches a new token, still single-flight,
    /// unless the server imposed a hold (`Retry-After`), which is kept.
    pub(crate) fn invalidate(&self) {
        self.invalidate_matching(None);
    }

    /// Like [`invalidate`](Self::invalidate), but only if `rejected` is still
    /// the cached token: late reports about an old token change nothing.
    pub(crate) fn invalidate_token(&self, rejected: &AccessToken) -> bool {
        self.invalidate_matching(Some(&|current| current.same_token(rejected)))
    }

    /// Like [`invalidate_token`](Self::invalidate_token), for a token (or
    /// header line) as the caller presented it: compared in constant time.
    pub(crate) fn invalidate_presented(&self, presented: &str) -> bool {
        self.invalidate_matching(Some(&|current| current.matches_presented(presented)))
    }

    fn invalidate_matching(&self, rejected: Option<&dyn Fn(&AccessToken) -> bool>) -> bool {
        if let Some(rejected) = rejected {
            // A late report about a token already replaced is the common
            // case in a 401 storm: it is answered under the read lock, so
            // that it never makes a reader find the lock busy.
            if !self.is_current(rejected) {
                return false;
            }
        }
        {
            // Never held together with the flight lock (which is taken
            // first everywhere else).
            let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(rejected) = rejected {
                if !current.as_ref().is_some_and(rejected) {
                    return false;
                }
            }
            *current = None;
        }
        self.epoch.advance();
        let mut flight = self.flight();
        let server_hold = flight.server_hold_until.filter(|&t| Instant::now() < t);
        flight.refresh_hold_until = server_hold;
        self.epoch.set_hold(flight.refresh_hold_until);
        flight.fetch_hold_until = server_hold;
        drop(flight);
        self.changed();
        true
    }
}

/// `grant` installed under `policy`: its schedule, asked for once, here,
/// and kept with the token from then on.
pub(crate) fn install_grant(policy: &RefreshPolicy, grant: Grant) -> AccessToken {
    let schedule = policy.schedule(grant.sent_at(), grant.lifetime());
    AccessToken::new(grant, schedule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::parse_token_response;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    /// A grant of `life` seconds obtained `age` seconds ago.
    fn grant(life: u64, age: u64) -> Grant {
        let body = format!(r#"{{"access_token":"cache-test-{life}-{age}","expires_in":{life}}}"#);
        let sent = Instant::now() - Duration::from_secs(age);
        parse_token_response(body.as_bytes(), sent, &[]).unwrap()
    }

    fn cache() -> TokenCache {
        TokenCache::new(Duration::from_secs(5), true, RefreshPolicy::default())
    }

    #[test]
    fn a_token_is_installed_with_the_schedule_of_its_cache_policy() {
        let policy = RefreshPolicy::new()
            .ahead_min(Duration::from_secs(200))
            .ahead_fraction(0.0);
        let custom = TokenCache::new(Duration::from_secs(5), true, policy);
        let granted = grant(600, 30);
        let (sent, lifetime) = (granted.sent_at(), granted.lifetime());
        let token = custom.get(|| Ok(granted)).unwrap();
        // Lifetime 600 s from the instant the request was sent: refreshed
        // 200 s before expiry, handed out until its last 10 s.
        assert_eq!(token.expires_at(), sent + lifetime);
        assert_eq!(token.refresh_at(), sent + Duration::from_secs(400));
        assert_eq!(token.usable_until(), sent + Duration::from_secs(590));
        assert_eq!(
            token.refresher_overdue_at(),
            sent + Duration::from_secs(400 + 95)
        );
        // Kept with the token: every later handle has the same schedule.
        for later in [
            custom.current().unwrap(),
            custom.peek().unwrap(),
            custom.get(|| panic!("fresh")).unwrap(),
        ] {
            assert!(later.same_token(&token));
            assert_eq!(later.refresh_at(), token.refresh_at());
            assert_eq!(later.usable_until(), token.usable_until());
        }
        // Another cache's policy gives the same grant another schedule.
        let fifth = RefreshPolicy::new()
            .ahead_min(Duration::from_secs(60))
            .ahead_fraction(0.2);
        let other = TokenCache::new(Duration::from_secs(5), true, fifth)
            .get(|| Ok(grant(600, 30)))
            .unwrap();
        assert_eq!(
            other.expires_at() - other.refresh_at(),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn a_panic_during_a_refresh_ahead_releases_the_claim_and_keeps_the_token() {
        let cache = cache();
        // 600 s token, 500 s old: in its refresh window, still usable.
        let old = cache.get(|| Ok(grant(600, 500))).unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            cache.get(|| panic!("injected panic in a refresh-ahead"))
        }));
        assert!(outcome.is_err(), "the panic reached the caller");
        assert!(!cache.flight().in_flight, "the claim was released");
        assert!(cache.peek().is_some_and(|t| t.same_token(&old)));
        assert_eq!(cache.stats().failures, 1);
        // Held off like any failed refresh: served from the cache.
        let again = cache.get(|| panic!("no fetch during the hold")).unwrap();
        assert!(again.same_token(&old));
    }

    #[test]
    fn an_invalidation_during_a_refresh_ahead_is_superseded_by_the_new_token() {
        let cache = cache();
        let old = cache.get(|| Ok(grant(600, 500))).unwrap();
        let got = cache
            .get(|| {
                // A thread reports a 401 for the old token meanwhile.
                assert!(cache.invalidate_token(&old));
                Ok(grant(600, 0))
            })
            .unwrap();
        assert!(!got.same_token(&old));
        assert!(cache.peek().is_some_and(|t| t.same_token(&got)));
        // A late report about the old token changes nothing.
        assert!(!cache.invalidate_token(&old));
        assert!(cache.peek().is_some_and(|t| t.same_token(&got)));
    }
}
