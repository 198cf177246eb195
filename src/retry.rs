//! What follows a failure: the retry policy of token requests (which
//! failures are retried, exponential backoff with jitter), how a backoff
//! grows ([`doubling`]) and meets a server's `Retry-After`
//! ([`honour_retry_after`]; the header is parsed here too, delta-seconds or
//! HTTP-date), and the holds after failed fetches that the cache and the
//! background refresher share ([`failure_hold`], [`server_hold`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Error, Result};
use crate::limits::MAX_TIMEOUT;
use crate::limits::{
    DEFAULT_INITIAL_BACKOFF, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_BACKOFF, FAILURE_HOLD_MAX,
    FAILURE_HOLD_MIN, MAX_RETRY_AFTER, RETRY_AFTER_HOLD_MAX,
};

/// How token requests are retried
/// ([`ClientBuilder::retry_policy`](crate::ClientBuilder::retry_policy)):
/// at most `max_attempts` attempts in all, the waits between them doubling
/// from `initial_backoff` up to `max_backoff`, each jittered between half
/// and all of it, never shorter than a server's `Retry-After`.
///
/// Built from the defaults with one method per setting, read back with the
/// `get_` methods (as [`std::process::Command`] does). The settings are
/// checked when the client is built: at least one attempt.
///
/// ```
/// use std::time::Duration;
/// use alpaca_auth::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .max_attempts(3)
///     .initial_backoff(Duration::from_millis(100))
///     .max_backoff(Duration::from_secs(2));
/// assert_eq!(policy.get_max_attempts(), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// [`DEFAULT_MAX_ATTEMPTS`] attempts, backoff from
    /// [`DEFAULT_INITIAL_BACKOFF`] up to [`DEFAULT_MAX_BACKOFF`].
    fn default() -> Self {
        RetryPolicy::new()
    }
}

impl RetryPolicy {
    /// The default policy ([`RetryPolicy::default`]), usable in a `const`.
    ///
    /// ```
    /// use alpaca_auth::RetryPolicy;
    ///
    /// const ONE_TRY: RetryPolicy = RetryPolicy::new().max_attempts(1);
    /// assert_eq!(ONE_TRY.get_max_attempts(), 1);
    /// ```
    pub const fn new() -> Self {
        RetryPolicy {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }

    /// Most attempts, first try included (default [`DEFAULT_MAX_ATTEMPTS`];
    /// at least 1).
    ///
    /// ```
    /// use alpaca_auth::RetryPolicy;
    ///
    /// assert_eq!(RetryPolicy::default().max_attempts(2).get_max_attempts(), 2);
    /// ```
    #[must_use]
    pub const fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Backoff before the first retry (default [`DEFAULT_INITIAL_BACKOFF`]);
    /// it doubles with each further retry.
    ///
    /// ```
    /// use std::time::Duration;
    /// use alpaca_auth::RetryPolicy;
    ///
    /// let policy = RetryPolicy::default().initial_backoff(Duration::from_millis(50));
    /// assert_eq!(policy.get_initial_backoff(), Duration::from_millis(50));
    /// ```
    #[must_use]
    pub const fn initial_backoff(mut self, initial_backoff: Duration) -> Self {
        self.initial_backoff = initial_backoff;
        self
    }

    /// Longest backoff (default [`DEFAULT_MAX_BACKOFF`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use alpaca_auth::RetryPolicy;
    ///
    /// let policy = RetryPolicy::default().max_backoff(Duration::from_secs(1));
    /// assert_eq!(policy.get_max_backoff(), Duration::from_secs(1));
    /// ```
    #[must_use]
    pub const fn max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = max_backoff;
        self
    }

    /// The attempts set by [`max_attempts`](Self::max_attempts).
    ///
    /// ```
    /// use alpaca_auth::{limits, RetryPolicy};
    ///
    /// assert_eq!(RetryPolicy::default().get_max_attempts(), limits::DEFAULT_MAX_ATTEMPTS);
    /// ```
    pub const fn get_max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The backoff set by [`initial_backoff`](Self::initial_backoff).
    ///
    /// ```
    /// use alpaca_auth::{limits, RetryPolicy};
    ///
    /// assert_eq!(RetryPolicy::default().get_initial_backoff(), limits::DEFAULT_INITIAL_BACKOFF);
    /// ```
    pub const fn get_initial_backoff(&self) -> Duration {
        self.initial_backoff
    }

    /// The longest backoff set by [`max_backoff`](Self::max_backoff).
    ///
    /// ```
    /// use alpaca_auth::{limits, RetryPolicy};
    ///
    /// assert_eq!(RetryPolicy::default().get_max_backoff(), limits::DEFAULT_MAX_BACKOFF);
    /// ```
    pub const fn get_max_backoff(&self) -> Duration {
        self.max_backoff
    }

    /// Refuses a policy the builder cannot honour (each setting by its
    /// check below).
    pub(crate) fn validate(&self) -> Result<()> {
        Self::check_max_attempts(self.max_attempts)?;
        Self::check_backoff("initial retry backoff", self.initial_backoff)?;
        Self::check_backoff("longest retry backoff", self.max_backoff)
    }

    /// Refuses a backoff longer than any timeout ([`MAX_TIMEOUT`]).
    pub(crate) fn check_backoff(what: &str, backoff: Duration) -> Result<()> {
        if backoff > MAX_TIMEOUT {
            return Err(Error::config(format!(
                "{what} must be at most {} s",
                MAX_TIMEOUT.as_secs()
            )));
        }
        Ok(())
    }

    /// Refuses a policy of no attempt at all.
    pub(crate) fn check_max_attempts(max_attempts: u32) -> Result<()> {
        if max_attempts == 0 {
            return Err(Error::config(
                "retry policy must allow at least one attempt",
            ));
        }
        Ok(())
    }

    /// The wait before retry number `retry` (1 for the first retry): "equal
    /// jitter", uniformly between half and all of the exponential backoff.
    pub(crate) fn backoff(&self, retry: u32, rng: &SystemRandom) -> Duration {
        let exp = doubling(self.initial_backoff, retry, self.max_backoff);
        let mut bytes = [0u8; 4];
        let unit = match rng.fill(&mut bytes) {
            Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
            Err(_) => 0.5,
        };
        exp / 2 + (exp / 2).mul_f64(unit)
    }
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

/// Whether an HTTP status of a token response is worth retrying.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP-date in any of
/// the three forms of RFC 9110 §5.6.7 (IMF-fixdate, the obsolete RFC 850
/// form, and asctime). A date in the past means zero; anything else
/// (a negative or fractional number, garbage) is `None`.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let at = parse_http_date(value, now)?;
    Some(Duration::from_secs(at.saturating_sub(now)).min(MAX_RETRY_AFTER))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// An HTTP-date (RFC 9110 §5.6.7) to seconds since the Unix epoch; `now`
/// (seconds since the epoch) places the two-digit years of RFC 850 dates.
pub(crate) fn parse_http_date(s: &str, now: u64) -> Option<u64> {
    parse_imf_fixdate(s)
        .or_else(|| parse_rfc850(s, now))
        .or_else(|| parse_asctime(s))
}

fn digits(part: &str, len: usize) -> Option<u64> {
    (part.len() == len && part.bytes().all(|c| c.is_ascii_digit()))
        .then(|| part.parse().ok())
        .flatten()
}

fn month(name: &str) -> Option<u64> {
    MONTHS.iter().position(|m| *m == name).map(|i| i as u64 + 1)
}

/// `08:49:37` to (hour, minute, second).
fn time_of_day(s: &str) -> Option<(u64, u64, u64)> {
    let mut parts = s.split(':');
    let t = (
        digits(parts.next()?, 2)?,
        digits(parts.next()?, 2)?,
        digits(parts.next()?, 2)?,
    );
    (parts.next().is_none() && t.0 <= 23 && t.1 <= 59 && t.2 <= 60).then_some(t)
}

/// Seconds since the epoch of a date that exists (no 31 Feb), on or after
/// 1970, whose weekday is `weekday` (index into [`WEEKDAYS`]) when given.
fn epoch_seconds(
    year: u64,
    month: u64,
    day: u64,
    (h, m, s): (u64, u64, u64),
    weekday: Option<usize>,
) -> Option<u64> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=month_days).contains(&day) || year < 1970 {
        return None;
    }
    let days = days_from_civil(year as i64, month as i64, day as i64);
    // 1970-01-01 was a Thursday (index 3 of WEEKDAYS).
    if weekday.is_some_and(|w| w != (days.rem_euclid(7) as usize + 3) % 7) {
        return None;
    }
    Some(days as u64 * 86_400 + h * 3600 + m * 60 + s)
}

/// The index in [`WEEKDAYS`] of a three-letter day name.
fn short_weekday(name: &str) -> Option<usize> {
    WEEKDAYS.iter().position(|d| &d[..3] == name)
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` to seconds since the Unix epoch.
fn parse_imf_fixdate(s: &str) -> Option<u64> {
    let mut parts = s.split(' ');
    let weekday = short_weekday(parts.next()?.strip_suffix(',')?)?;
    let day = digits(parts.next()?, 2)?;
    let month = month(parts.next()?)?;
    let year = digits(parts.next()?, 4)?;
    let time = time_of_day(parts.next()?)?;
    (parts.next()? == "GMT" && parts.next().is_none()).then_some(())?;
    epoch_seconds(year, month, day, time, Some(weekday))
}

/// `Sunday, 06-Nov-94 08:49:37 GMT` (RFC 850). A two-digit year that would
/// be more than 50 years ahead of `now` is in the previous century (RFC 9110
/// §5.6.7).
fn parse_rfc850(s: &str, now: u64) -> Option<u64> {
    let mut parts = s.split(' ');
    let weekday = parts.next()?.strip_suffix(',')?;
    let weekday = WEEKDAYS.iter().position(|d| *d == weekday)?;
    let mut date = parts.next()?.split('-');
    let day = digits(date.next()?, 2)?;
    let month = month(date.next()?)?;
    let yy = digits(date.next()?, 2)?;
    date.next().is_none().then_some(())?;
    let time = time_of_day(parts.next()?)?;
    (parts.next()? == "GMT" && parts.next().is_none()).then_some(())?;
    let this_year = 1970 + now / 31_556_952; // mean Gregorian year; ±1 is fine here
    let mut year = this_year - this_year % 100 + yy;
    if year > this_year + 50 {
        year -= 100;
    }
    epoch_seconds(year, month, day, time, Some(weekday))
}

/// `Sun Nov  6 08:49:37 1994` (C's asctime; the day padded with a space).
fn parse_asctime(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 24 || b[3] != b' ' || b[7] != b' ' || b[10] != b' ' || b[19] != b' ' {
        return None;
    }
    let weekday = short_weekday(s.get(0..3)?)?;
    let month = month(s.get(4..7)?)?;
    let day = s.get(8..10)?;
    let day = match day.strip_prefix(' ') {
        Some(single) => digits(single, 1)?,
        None => digits(day, 2)?,
    };
    let time = time_of_day(s.get(11..19)?)?;
    let year = digits(s.get(20..24)?, 4)?;
    epoch_seconds(year, month, day, time, Some(weekday))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's method).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats seconds since the epoch as an IMF-fixdate (for the mock server).
#[cfg(feature = "mock")]
pub(crate) fn format_imf_fixdate(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // civil_from_days (inverse of days_from_civil).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_http_date_parse() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_770); // 08:49:30 GMT
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 UTC",
            "Sun Nov 6 08:49:37 1994",
            "Sun Nov  6 08:49:37 94",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn retry_after_accepts_all_three_http_date_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_770); // 08:49:30 GMT
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                parse_retry_after(date, now),
                Some(Duration::from_secs(7)),
                "{date}"
            );
        }
        // Two-digit years: not more than 50 years ahead (RFC 9110 §5.6.7).
        let now_2026 = UNIX_EPOCH + Duration::from_secs(1_780_000_000);
        assert_eq!(
            parse_retry_after("Friday, 01-Jan-99 00:00:00 GMT", now_2026),
            Some(Duration::ZERO),
            "99 is 1999, in the past"
        );
        assert_eq!(
            parse_retry_after("Tuesday, 01-Jan-69 00:00:00 GMT", now_2026),
            Some(MAX_RETRY_AFTER),
            "69 is 2069, less than 50 years ahead"
        );
    }

    #[cfg(feature = "mock")]
    #[test]
    fn imf_fixdate_round_trips() {
        assert_eq!(
            format_imf_fixdate(784_111_777),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        for secs in [0u64, 951_782_400, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse_imf_fixdate(&format_imf_fixdate(secs)), Some(secs));
        }
    }

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
    fn only_a_positive_retry_after_is_a_server_hold() {
        assert_eq!(server_hold(None), None);
        assert_eq!(server_hold(Some(Duration::ZERO)), None);
        assert_eq!(
            server_hold(Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            server_hold(Some(Duration::from_secs(86_400))),
            Some(RETRY_AFTER_HOLD_MAX)
        );
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
    fn a_retry_after_never_shortens_the_backoff() {
        let backoff = Duration::from_secs(2);
        let cap = Duration::from_secs(60);
        assert_eq!(honour_retry_after(backoff, None, cap), backoff);
        assert_eq!(
            honour_retry_after(backoff, Some(Duration::ZERO), cap),
            backoff
        );
        assert_eq!(
            honour_retry_after(backoff, Some(Duration::from_secs(9)), cap),
            Duration::from_secs(9)
        );
        assert_eq!(honour_retry_after(backoff, Some(Duration::MAX), cap), cap);
    }

    #[test]
    fn setters_and_getters_agree_and_zero_attempts_are_refused() {
        assert_eq!(RetryPolicy::new(), RetryPolicy::default());
        let p = RetryPolicy::default()
            .max_attempts(7)
            .initial_backoff(Duration::from_millis(5))
            .max_backoff(Duration::from_millis(9));
        assert_eq!(p.get_max_attempts(), 7);
        assert_eq!(p.get_initial_backoff(), Duration::from_millis(5));
        assert_eq!(p.get_max_backoff(), Duration::from_millis(9));
        assert!(p.validate().is_ok());
        assert!(p.max_attempts(0).validate().is_err());
        assert!(RetryPolicy::check_max_attempts(0).is_err());
        assert!(RetryPolicy::check_max_attempts(1).is_ok());
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let rng = SystemRandom::new();
        let p = RetryPolicy::default();
        for retry in 1..=10 {
            let exp = p
                .initial_backoff
                .saturating_mul(1 << (retry - 1))
                .min(p.max_backoff);
            let b = p.backoff(retry, &rng);
            assert!(b >= exp / 2 && b <= exp, "retry {retry}: {b:?} vs {exp:?}");
        }
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s));
        }
        for s in [200, 400, 401, 403, 404, 302] {
            assert!(!is_retryable_status(s));
        }
    }
}
