//! The timing rules of the token cache, each in one function:
//!
//! * when a token is refreshed ahead of its expiry: [`RefreshPolicy`],
//!   applied by the cache when it installs a token
//!   ([`RefreshPolicy::refresh_at`]);
//! * when a token stops being handed out: [`expiry_margin`];
//! * when callers step in for a background refresher that has not
//!   refreshed: [`refresher_overdue_at`];
//! * how long failed fetches hold callers and the background refresher off:
//!   [`failure_hold`];
//! * how a backoff grows ([`doubling`]) and meets a server's `Retry-After`
//!   ([`honour_retry_after`]), shared by that hold and the retries of one
//!   token request ([`RetryPolicy`](crate::RetryPolicy)).
//!
//! Parsing a token response knows nothing of these rules, and the
//! transport uses only the `Retry-After` rule, between the attempts of one
//! request. The numbers are in [`crate::limits`].

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::limits::{
    DEFAULT_REFRESH_AHEAD_FRACTION, DEFAULT_REFRESH_AHEAD_MIN, EXPIRY_MARGIN_FRACTION,
    EXPIRY_MARGIN_MAX, FAILURE_HOLD_MAX, FAILURE_HOLD_MIN, MAX_TOKEN_LIFETIME,
    REFRESH_AHEAD_MAX_FRACTION, RETRY_AFTER_HOLD_MAX,
};
use crate::token::AccessToken;

/// When a token should be refreshed ahead of its expiry
/// ([`ClientBuilder::refresh_policy`](crate::ClientBuilder::refresh_policy)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RefreshPolicy {
    /// Refresh at least this long before expiry.
    pub ahead_min: Duration,
    /// Refresh at least this fraction of the lifetime before expiry.
    pub ahead_fraction: f64,
}

impl Default for RefreshPolicy {
    /// `max(`[`DEFAULT_REFRESH_AHEAD_MIN`]`, `[`DEFAULT_REFRESH_AHEAD_FRACTION`]` × lifetime)`.
    fn default() -> Self {
        RefreshPolicy {
            ahead_min: DEFAULT_REFRESH_AHEAD_MIN,
            ahead_fraction: DEFAULT_REFRESH_AHEAD_FRACTION,
        }
    }
}

impl RefreshPolicy {
    /// How long before expiry a token of `lifetime` is refreshed:
    /// `max(ahead_min, ahead_fraction * lifetime)`, capped at
    /// [`REFRESH_AHEAD_MAX_FRACTION`] of the lifetime.
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

    /// When the cache starts refreshing `token`.
    pub(crate) fn refresh_at(&self, token: &AccessToken) -> Instant {
        token.expires_at() - self.lead(token.lifetime())
    }

    /// Whether a token granted for `lifetime` with `remaining` left is due
    /// for refresh (the moment of [`refresh_at`](Self::refresh_at)).
    pub(crate) fn is_due(&self, lifetime: Duration, remaining: Duration) -> bool {
        remaining <= self.lead(lifetime)
    }

    /// `token` with its refresh time set by this policy: what the cache
    /// installs and hands out.
    pub(crate) fn apply(&self, token: AccessToken) -> AccessToken {
        let at = self.refresh_at(&token);
        token.with_refresh_at(at)
    }

    /// Refuses a policy the builder cannot honour.
    pub(crate) fn validate(&self) -> Result<()> {
        if !(self.ahead_fraction.is_finite() && (0.0..=1.0).contains(&self.ahead_fraction)) {
            return Err(Error::config(
                "refresh-ahead fraction must be a number from 0 to 1",
            ));
        }
        if self.ahead_min > MAX_TOKEN_LIFETIME {
            return Err(Error::config(format!(
                "refresh-ahead minimum must be at most the longest token lifetime ({} s)",
                MAX_TOKEN_LIFETIME.as_secs()
            )));
        }
        Ok(())
    }
}

/// When callers stop leaving the refresh of `token` to a background
/// refresher and start one themselves: half its refresh window gone
/// without a new token.
pub(crate) fn refresher_overdue_at(token: &AccessToken) -> Instant {
    let window = token
        .usable_until()
        .saturating_duration_since(token.refresh_at());
    token.refresh_at() + window / 2
}

/// The expiry margin of a token of `lifetime`: `min(`[`EXPIRY_MARGIN_MAX`]`,
/// `[`EXPIRY_MARGIN_FRACTION`]` × lifetime)`. A token is not handed out in
/// its last margin, so that a request made with it does not arrive at the
/// API expired.
pub(crate) fn expiry_margin(lifetime: Duration) -> Duration {
    EXPIRY_MARGIN_MAX.min(lifetime.mul_f64(EXPIRY_MARGIN_FRACTION))
}

/// `base` doubled for each `step` after the first (`step` 1 is `base`), at
/// most `cap`.
pub(crate) fn doubling(base: Duration, step: u32, cap: Duration) -> Duration {
    base.saturating_mul(1u32 << step.saturating_sub(1).min(20))
        .min(cap)
}

/// The wait after a failure: our own `backoff`, or the server's
/// `Retry-After` (at most `cap`) when it asks for longer. A `Retry-After`
/// of zero or in the past never makes the wait shorter than the backoff.
pub(crate) fn honour_retry_after(
    backoff: Duration,
    retry_after: Option<Duration>,
    cap: Duration,
) -> Duration {
    retry_after.map_or(backoff, |asked| asked.min(cap).max(backoff))
}

/// The part of a hold the server imposed: its `Retry-After`, when it is
/// more than zero, at most [`RETRY_AFTER_HOLD_MAX`]. Kept when a token is
/// invalidated (our own backoff is not).
pub(crate) fn server_hold(retry_after: Option<Duration>) -> Option<Duration> {
    retry_after
        .filter(|wait| !wait.is_zero())
        .map(|wait| wait.min(RETRY_AFTER_HOLD_MAX))
}

/// How long to hold off after `failures` failed fetches in a row (at least
/// 1), the last of which carried `retry_after`: the longer of our own
/// backoff ([`FAILURE_HOLD_MIN`] doubling up to [`FAILURE_HOLD_MAX`]) and the
/// server's wait (capped at [`RETRY_AFTER_HOLD_MAX`]). The one rule for the
/// cache and the background refresher.
pub(crate) fn failure_hold(failures: u32, retry_after: Option<Duration>) -> Duration {
    let backoff = doubling(FAILURE_HOLD_MIN, failures, FAILURE_HOLD_MAX);
    honour_retry_after(backoff, retry_after, RETRY_AFTER_HOLD_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hold_is_the_longer_of_backoff_and_retry_after() {
        assert_eq!(failure_hold(1, None), FAILURE_HOLD_MIN);
        assert_eq!(failure_hold(1, Some(Duration::ZERO)), FAILURE_HOLD_MIN);
        assert_eq!(failure_hold(3, Some(Duration::ZERO)), FAILURE_HOLD_MIN * 4);
        assert_eq!(
            failure_hold(1, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
        assert_eq!(
            failure_hold(1, Some(Duration::from_secs(86_400))),
            RETRY_AFTER_HOLD_MAX
        );
        assert_eq!(failure_hold(40, None), FAILURE_HOLD_MAX);
    }

    #[test]
    fn doubling_starts_at_the_base_and_stops_at_the_cap() {
        let base = Duration::from_millis(250);
        let cap = Duration::from_secs(8);
        assert_eq!(doubling(base, 0, cap), base);
        assert_eq!(doubling(base, 1, cap), base);
        assert_eq!(doubling(base, 2, cap), base * 2);
        assert_eq!(doubling(base, 6, cap), cap);
        assert_eq!(doubling(base, u32::MAX, cap), cap);
    }

    #[test]
    fn refresh_margin_is_the_larger_rule_capped_at_half_the_lifetime() {
        let p = RefreshPolicy::default();
        assert_eq!(
            p.margin(Duration::from_secs(899)),
            Duration::from_secs(899).mul_f64(0.2)
        );
        assert_eq!(p.margin(Duration::from_secs(200)), Duration::from_secs(60));
        assert_eq!(p.margin(Duration::from_secs(2)), Duration::from_secs(1));
    }

    #[test]
    fn a_token_is_due_exactly_at_its_refresh_time() {
        use crate::token::parse_token_response;
        for policy in [
            RefreshPolicy::default(),
            RefreshPolicy {
                ahead_min: Duration::ZERO,
                ahead_fraction: 0.0,
            },
        ] {
            let sent = Instant::now();
            let body = br#"{"access_token":"t","expires_in":600}"#;
            let token = policy.apply(parse_token_response(body, sent, &[]).unwrap());
            let lifetime = token.lifetime();
            let left_at_refresh = token.expires_at() - token.refresh_at();
            assert!(policy.is_due(lifetime, left_at_refresh));
            assert!(!policy.is_due(lifetime, left_at_refresh + Duration::from_millis(1)));
        }
    }

    #[test]
    fn invalid_policies_are_refused() {
        assert!(RefreshPolicy::default().validate().is_ok());
        for fraction in [f64::NAN, -0.1, 1.5, f64::INFINITY] {
            let p = RefreshPolicy {
                ahead_fraction: fraction,
                ..RefreshPolicy::default()
            };
            assert!(p.validate().is_err(), "{fraction}");
        }
        let p = RefreshPolicy {
            ahead_min: MAX_TOKEN_LIFETIME + Duration::from_secs(1),
            ..RefreshPolicy::default()
        };
        assert!(p.validate().is_err());
    }
}
