//! The schedule of a token: the timing rules the cache applies, once, when
//! it installs a token ([`RefreshPolicy::schedule`]), from the token's
//! lifetime and the instant its request was sent:
//!
//! * when a token is refreshed ahead of its expiry: [`RefreshPolicy`];
//! * when a token stops being handed out: [`expiry_margin`];
//! * when callers step in for a background refresher that has not
//!   refreshed: half the refresh window.
//!
//! These rules know nothing of a token's value or of the token response;
//! parsing knows nothing of them. What follows a failure (the backoff, the
//! `Retry-After` rule and the holds after failed fetches) is in
//! `crate::retry`. The numbers are in [`crate::limits`].

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::limits::{
    DEFAULT_REFRESH_AHEAD_FRACTION, DEFAULT_REFRESH_AHEAD_MIN, EXPIRY_MARGIN_FRACTION,
    EXPIRY_MARGIN_MAX, MAX_TOKEN_LIFETIME, REFRESH_AHEAD_MAX_FRACTION,
};
use crate::token::Schedule;

/// When a token should be refreshed ahead of its expiry
/// ([`ClientBuilder::refresh_policy`](crate::ClientBuilder::refresh_policy)):
/// `max(ahead_min, ahead_fraction × lifetime)` before expiry, never more
/// than [`REFRESH_AHEAD_MAX_FRACTION`] of the lifetime.
///
/// Built from the defaults with one method per setting, read back with the
/// `get_` methods (as [`std::process::Command`] does). The settings are
/// checked when the client is built: a fraction from 0 to 1, a minimum of
/// at most [`MAX_TOKEN_LIFETIME`].
///
/// ```
/// use std::time::Duration;
/// use alpaca_auth::RefreshPolicy;
///
/// let policy = RefreshPolicy::default()
///     .ahead_min(Duration::from_secs(90))
///     .ahead_fraction(0.25);
/// assert_eq!(policy.get_ahead_min(), Duration::from_secs(90));
/// // A 15-minute token is refreshed 225 s (a quarter) before it expires.
/// assert_eq!(policy.margin(Duration::from_secs(900)), Duration::from_secs(225));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RefreshPolicy {
    ahead_min: Duration,
    ahead_fraction: f64,
}

impl Default for RefreshPolicy {
    /// `max(`[`DEFAULT_REFRESH_AHEAD_MIN`]`, `[`DEFAULT_REFRESH_AHEAD_FRACTION`]` × lifetime)`.
    fn default() -> Self {
        RefreshPolicy::new()
    }
}

impl RefreshPolicy {
    /// The default policy ([`RefreshPolicy::default`]), usable in a `const`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use alpaca_auth::RefreshPolicy;
    ///
    /// const EARLY: RefreshPolicy = RefreshPolicy::new().ahead_min(Duration::from_secs(120));
    /// assert_eq!(EARLY.get_ahead_fraction(), RefreshPolicy::default().get_ahead_fraction());
    /// ```
    pub const fn new() -> Self {
        RefreshPolicy {
            ahead_min: DEFAULT_REFRESH_AHEAD_MIN,
            ahead_fraction: DEFAULT_REFRESH_AHEAD_FRACTION,
        }
    }

    /// Refresh at least this long before expiry (default
    /// [`DEFAULT_REFRESH_AHEAD_MIN`]; at most [`MAX_TOKEN_LIFETIME`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use alpaca_auth::RefreshPolicy;
    ///
    /// let policy = RefreshPolicy::default().ahead_min(Duration::from_secs(30));
    /// assert_eq!(policy.get_ahead_min(), Duration::from_secs(30));
    /// ```
    #[must_use]
    pub const fn ahead_min(mut self, ahead_min: Duration) -> Self {
        self.ahead_min = ahead_min;
        self
    }

    /// Refresh at least this fraction of the lifetime before expiry
    /// (default [`DEFAULT_REFRESH_AHEAD_FRACTION`]; a number from 0 to 1).
    ///
    /// ```
    /// use alpaca_auth::RefreshPolicy;
    ///
    /// let policy = RefreshPolicy::default().ahead_fraction(0.3);
    /// assert_eq!(policy.get_ahead_fraction(), 0.3);
    /// ```
    #[must_use]
    pub const fn ahead_fraction(mut self, ahead_fraction: f64) -> Self {
        self.ahead_fraction = ahead_fraction;
        self
    }

    /// The minimum set by [`ahead_min`](Self::ahead_min).
    ///
    /// ```
    /// use alpaca_auth::{limits, RefreshPolicy};
    ///
    /// assert_eq!(RefreshPolicy::default().get_ahead_min(), limits::DEFAULT_REFRESH_AHEAD_MIN);
    /// ```
    pub const fn get_ahead_min(&self) -> Duration {
        self.ahead_min
    }

    /// The fraction set by [`ahead_fraction`](Self::ahead_fraction).
    ///
    /// ```
    /// use alpaca_auth::{limits, RefreshPolicy};
    ///
    /// assert_eq!(
    ///     RefreshPolicy::default().get_ahead_fraction(),
    ///     limits::DEFAULT_REFRESH_AHEAD_FRACTION
    /// );
    /// ```
    pub const fn get_ahead_fraction(&self) -> f64 {
        self.ahead_fraction
    }

    /// How long before expiry a token of `lifetime` is refreshed:
    /// `max(ahead_min, ahead_fraction * lifetime)`, capped at
    /// [`REFRESH_AHEAD_MAX_FRACTION`] of the lifetime.
    ///
    /// ```
    /// use std::time::Duration;
    /// use alpaca_auth::RefreshPolicy;
    ///
    /// let policy = RefreshPolicy::new()
    ///     .ahead_min(Duration::from_secs(60))
    ///     .ahead_fraction(0.2);
    /// // 20 % of 899 s is more than the 60 s minimum.
    /// assert_eq!(policy.margin(Duration::from_secs(899)), Duration::from_secs(899).mul_f64(0.2));
    /// // Never more than half the lifetime.
    /// assert_eq!(policy.margin(Duration::from_secs(100)), Duration::from_secs(50));
    /// ```
    pub fn margin(&self, lifetime: Duration) -> Duration {
        let fraction = if self.ahead_fraction.is_nan() {
            DEFAULT_REFRESH_AHEAD_FRACTION
        } else {
            self.ahead_fraction.clamp(0.0, REFRESH_AHEAD_MAX_FRACTION)
        };
        let wanted = self.ahead_min.max(lifetime.mul_f64(fraction));
        wanted.min(lifetime.mul_f64(REFRESH_AHEAD_MAX_FRACTION))
    }

    /// How long before its expiry a token of `lifetime` is due for refresh:
    /// its refresh [`margin`](Self::margin), or its expiry margin (when it
    /// stops being handed out) if that is longer.
    fn lead(&self, lifetime: Duration) -> Duration {
        self.margin(lifetime).max(expiry_margin(lifetime))
    }

    /// The schedule of a token granted for `lifetime` by a request sent at
    /// `sent_at` (so expiring at `sent_at + lifetime`): refreshed from its
    /// [`lead`](Self::lead) before expiry, handed out until its expiry
    /// margin, and left to a background refresher until half the window
    /// between the two is gone.
    pub(crate) fn schedule(&self, sent_at: Instant, lifetime: Duration) -> Schedule {
        let expires_at = sent_at + lifetime;
        let refresh_at = expires_at - self.lead(lifetime);
        let usable_until = expires_at - expiry_margin(lifetime);
        let window = usable_until.saturating_duration_since(refresh_at);
        Schedule {
            refresh_at,
            refresher_overdue_at: refresh_at + window / 2,
            usable_until,
        }
    }

    /// Whether a token granted for `lifetime` with `remaining` left is due
    /// for refresh (the moment of its schedule's `refresh_at`).
    pub(crate) fn is_due(&self, lifetime: Duration, remaining: Duration) -> bool {
        remaining <= self.lead(lifetime)
    }

    /// Refuses a policy the builder cannot honour (each setting by its
    /// check below).
    pub(crate) fn validate(&self) -> Result<()> {
        Self::check_ahead_fraction(self.ahead_fraction)?;
        Self::check_ahead_min(self.ahead_min)
    }

    /// Refuses a refresh-ahead fraction outside 0 to 1 (or not a number).
    pub(crate) fn check_ahead_fraction(fraction: f64) -> Result<()> {
        if fraction.is_finite() && (0.0..=1.0).contains(&fraction) {
            Ok(())
        } else {
            Err(Error::config(
                "refresh-ahead fraction must be a number from 0 to 1",
            ))
        }
    }

    /// Refuses a refresh-ahead minimum longer than the longest lifetime.
    pub(crate) fn check_ahead_min(ahead_min: Duration) -> Result<()> {
        if ahead_min > MAX_TOKEN_LIFETIME {
            return Err(Error::config(format!(
                "refresh-ahead minimum must be at most the longest token lifetime ({} s)",
                MAX_TOKEN_LIFETIME.as_secs()
            )));
        }
        Ok(())
    }
}

/// The expiry margin of a token of `lifetime`: `min(`[`EXPIRY_MARGIN_MAX`]`,
/// `[`EXPIRY_MARGIN_FRACTION`]` × lifetime)`. A token is not handed out in
/// its last margin, so that a request made with it does not arrive at the
/// API expired.
fn expiry_margin(lifetime: Duration) -> Duration {
    EXPIRY_MARGIN_MAX.min(lifetime.mul_f64(EXPIRY_MARGIN_FRACTION))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A policy stated here, so that these tests follow the rules, not the
    /// defaults (which `defaults_come_from_limits` pins).
    fn sixty_seconds_or_a_fifth() -> RefreshPolicy {
        RefreshPolicy::new()
            .ahead_min(Duration::from_secs(60))
            .ahead_fraction(0.2)
    }

    #[test]
    fn defaults_come_from_limits() {
        let p = RefreshPolicy::default();
        assert_eq!(p.get_ahead_min(), DEFAULT_REFRESH_AHEAD_MIN);
        assert_eq!(p.get_ahead_fraction(), DEFAULT_REFRESH_AHEAD_FRACTION);
        assert_eq!(p, RefreshPolicy::new());
    }

    #[test]
    fn refresh_margin_is_the_larger_rule_capped_at_half_the_lifetime() {
        let p = sixty_seconds_or_a_fifth();
        assert_eq!(
            p.margin(Duration::from_secs(899)),
            Duration::from_secs(899).mul_f64(0.2)
        );
        assert_eq!(p.margin(Duration::from_secs(200)), Duration::from_secs(60));
        assert_eq!(p.margin(Duration::from_secs(2)), Duration::from_secs(1));
    }

    #[test]
    fn tokens_are_not_handed_out_in_their_last_seconds() {
        let sent = Instant::now();
        for (lifetime, margin) in [(899u64, 10u64), (100, 10), (20, 2)] {
            let lifetime = Duration::from_secs(lifetime);
            for policy in [
                RefreshPolicy::default(),
                RefreshPolicy::new()
                    .ahead_min(Duration::ZERO)
                    .ahead_fraction(0.0),
            ] {
                let schedule = policy.schedule(sent, lifetime);
                assert_eq!(
                    sent + lifetime - schedule.usable_until,
                    Duration::from_secs(margin)
                );
                assert!(schedule.refresh_at <= schedule.usable_until);
            }
        }
    }

    #[test]
    fn the_schedule_follows_the_policy_from_the_instant_the_request_was_sent() {
        let sent = Instant::now() - Duration::from_secs(7);
        let lifetime = Duration::from_secs(600);
        let expires_at = sent + lifetime;
        // 20 % of 600 s = 120 s ahead; margin 10 s.
        let s = sixty_seconds_or_a_fifth().schedule(sent, lifetime);
        assert_eq!(s.refresh_at, expires_at - Duration::from_secs(120));
        assert_eq!(s.usable_until, expires_at - Duration::from_secs(10));
        // Half the window of 110 s after the refresh time.
        assert_eq!(
            s.refresher_overdue_at,
            s.refresh_at + Duration::from_secs(55)
        );
        // A minimum above the fraction wins; half the lifetime caps both.
        let s = RefreshPolicy::new()
            .ahead_min(Duration::from_secs(200))
            .schedule(sent, lifetime);
        assert_eq!(s.refresh_at, expires_at - Duration::from_secs(200));
        let s = RefreshPolicy::new()
            .ahead_fraction(0.9)
            .schedule(sent, lifetime);
        assert_eq!(s.refresh_at, expires_at - Duration::from_secs(300));
        // No refresh ahead: due when it stops being handed out.
        let none = RefreshPolicy::new()
            .ahead_min(Duration::ZERO)
            .ahead_fraction(0.0);
        let s = none.schedule(sent, lifetime);
        assert_eq!(
            (s.refresh_at, s.refresher_overdue_at),
            (s.usable_until, s.usable_until)
        );
    }

    #[test]
    fn a_token_is_due_exactly_at_its_refresh_time() {
        for policy in [
            RefreshPolicy::default(),
            RefreshPolicy::new()
                .ahead_min(Duration::ZERO)
                .ahead_fraction(0.0),
        ] {
            let sent = Instant::now();
            let lifetime = Duration::from_secs(600);
            let schedule = policy.schedule(sent, lifetime);
            let left_at_refresh = sent + lifetime - schedule.refresh_at;
            assert!(policy.is_due(lifetime, left_at_refresh));
            assert!(!policy.is_due(lifetime, left_at_refresh + Duration::from_millis(1)));
        }
    }

    #[test]
    fn invalid_policies_are_refused() {
        assert!(RefreshPolicy::default().validate().is_ok());
        for fraction in [f64::NAN, -0.1, 1.5, f64::INFINITY] {
            let p = RefreshPolicy::default().ahead_fraction(fraction);
            assert!(p.validate().is_err(), "{fraction}");
            assert!(RefreshPolicy::check_ahead_fraction(fraction).is_err());
        }
        for fraction in [0.0, 0.5, 1.0] {
            assert!(RefreshPolicy::check_ahead_fraction(fraction).is_ok());
        }
        let too_long = MAX_TOKEN_LIFETIME + Duration::from_secs(1);
        assert!(RefreshPolicy::default()
            .ahead_min(too_long)
            .validate()
            .is_err());
        assert!(RefreshPolicy::check_ahead_min(too_long).is_err());
        assert!(RefreshPolicy::check_ahead_min(MAX_TOKEN_LIFETIME).is_ok());
    }

    #[test]
    fn setters_and_getters_agree_and_new_is_the_default() {
        assert_eq!(RefreshPolicy::new(), RefreshPolicy::default());
        let p = RefreshPolicy::default()
            .ahead_min(Duration::from_secs(5))
            .ahead_fraction(0.4);
        assert_eq!(p.get_ahead_min(), Duration::from_secs(5));
        assert_eq!(p.get_ahead_fraction(), 0.4);
    }
}
