//! A cheap monotonic clock for the cached-header path.
//!
//! `Instant::now()` costs tens of nanoseconds here, more than the rest of a
//! cached-header call. On Linux the coarse monotonic clock is read from the
//! vDSO in a few nanoseconds; its resolution is one scheduler tick (1 to
//! 4 ms), which is plenty for deciding whether a token that lives minutes is
//! still fresh. It never runs ahead of `Instant`, so the tick of lag only
//! makes a refresh start a few milliseconds late, never a token be used
//! after its expiry: [`FRESHNESS_SLACK`] is kept between the two.

use std::time::{Duration, Instant};

/// Kept between a replica's freshness deadline and the token's refresh
/// time, to cover the coarse clock's resolution and conversion error.
pub(crate) const FRESHNESS_SLACK: Duration = Duration::from_millis(20);

/// Nanoseconds on a coarse monotonic clock with an arbitrary origin.
#[cfg(target_os = "linux")]
#[inline]
#[allow(unsafe_code)]
pub(crate) fn coarse_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the
    // call, and CLOCK_MONOTONIC_COARSE is a clock id every Linux since 2.6.32
    // supports; clock_gettime writes nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    if rc != 0 {
        return fallback_now_ns();
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Nanoseconds on a monotonic clock with an arbitrary origin.
#[cfg(not(target_os = "linux"))]
#[inline]
pub(crate) fn coarse_now_ns() -> u64 {
    fallback_now_ns()
}

fn fallback_now_ns() -> u64 {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The coarse-clock reading at which `deadline` (an `Instant`) falls, less
/// [`FRESHNESS_SLACK`]; `0` if it has passed.
pub(crate) fn coarse_deadline(deadline: Instant) -> u64 {
    // The coarse clock first: a pause between the two readings then only
    // makes the deadline earlier, never later.
    let coarse_now = coarse_now_ns();
    let left = deadline.saturating_duration_since(Instant::now());
    match left.checked_sub(FRESHNESS_SLACK) {
        Some(left) => coarse_now.saturating_add(u64::try_from(left.as_nanos()).unwrap_or(u64::MAX)),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_clock_is_monotonic_and_follows_real_time() {
        let a = coarse_now_ns();
        std::thread::sleep(Duration::from_millis(30));
        let b = coarse_now_ns();
        assert!(b >= a + 15_000_000, "{a} -> {b}");
    }

    #[test]
    fn deadlines_in_the_past_or_within_the_slack_are_zero() {
        assert_eq!(coarse_deadline(Instant::now()), 0);
        assert_eq!(coarse_deadline(Instant::now() + FRESHNESS_SLACK / 2), 0);
        let d = coarse_deadline(Instant::now() + Duration::from_secs(1));
        let now = coarse_now_ns();
        assert!(d > now && d <= now + 1_000_000_000, "{d} vs {now}");
    }
}
