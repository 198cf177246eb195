//! Clock skew against a server's `Date` header, with what it means for
//! `private_key_jwt`: an assertion lives `exp - iat` seconds by this host's
//! clock, and Alpaca refuses one whose `exp` is more than
//! [`MAX_ASSERTION_LIFETIME`] ahead of its own clock, or already past.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::report::{Check, Status};
use crate::limits::{DOCTOR_CLOCK_SKEW_WARN, MAX_ASSERTION_LIFETIME};
use crate::retry::parse_http_date;

/// The skew measured: the server's clock minus this host's, in seconds
/// (positive: the server is ahead, this host behind).
#[derive(Clone, Copy, Debug)]
pub(super) struct Skew {
    pub(super) secs: i64,
    /// Whether it makes assertions fail.
    pub(super) breaks_assertions: bool,
}

fn unix(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Asks `url` for its `Date` (any answer will do) and reports the skew.
/// `assertion_lifetime` is `Some` for `private_key_jwt`.
pub(super) fn check(
    agent: &ureq::Agent,
    url: &str,
    what: &str,
    assertion_lifetime: Option<Duration>,
) -> (Check, Option<Skew>) {
    let sent = SystemTime::now();
    let response = agent.get(url).call();
    let received = SystemTime::now();
    let response = match response {
        Ok(response) => response,
        Err(e) => {
            return (
                Check::new(
                    "clock",
                    Status::Skip,
                    format!("no answer from the {what} to read its Date from: {e}"),
                ),
                None,
            )
        }
    };
    let date = response
        .headers()
        .get("date")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_http_date(v, unix(received) as u64));
    let Some(date) = date else {
        return (
            Check::new(
                "clock",
                Status::Skip,
                format!("the {what} sends no Date header"),
            ),
            None,
        );
    };
    // The server's second [date, date + 1) against the middle of the exchange.
    let local = (unix(sent) + unix(received)) / 2.0;
    let secs = (date as f64 + 0.5 - local).round() as i64;
    assess(secs, what, assertion_lifetime)
}

/// The check of a skew of `secs` seconds.
pub(super) fn assess(
    secs: i64,
    what: &str,
    assertion_lifetime: Option<Duration>,
) -> (Check, Option<Skew>) {
    let off = secs.unsigned_abs();
    let direction = if secs > 0 { "behind" } else { "ahead of" };
    let measured = if off == 0 {
        format!("this host's clock is within 1 s of the {what}'s (its Date header)")
    } else {
        format!("this host's clock is {off} s {direction} the {what}'s (its Date header)")
    };
    let hint = "synchronise this host's clock (NTP: chrony, ntpd or systemd-timesyncd; `timedatectl status` shows whether it is synchronised)";
    let max = MAX_ASSERTION_LIFETIME.as_secs();
    let (status, consequence) = match assertion_lifetime.map(|d| d.as_secs()) {
        _ if off < DOCTOR_CLOCK_SKEW_WARN.as_secs() => (Status::Pass, String::new()),
        Some(lifetime) if secs > 0 && off >= lifetime => (
            Status::Fail,
            format!("; client assertions live {lifetime} s by this clock, so they have expired by the server's when they arrive"),
        ),
        Some(lifetime) if secs < 0 && lifetime + off > max => (
            Status::Fail,
            format!("; an assertion's exp is {} s ahead of the server's clock, beyond the {max} s Alpaca allows", lifetime + off),
        ),
        Some(lifetime) if secs > 0 => (
            Status::Warn,
            format!("; client assertions ({lifetime} s) arrive with {} s left", lifetime - off),
        ),
        Some(lifetime) => (
            Status::Warn,
            format!("; an assertion's exp is {} s ahead of the server's clock (Alpaca allows {max}), and its iat {off} s in the server's future", lifetime + off),
        ),
        None => (
            Status::Warn,
            "; tokens count their lifetime from expires_in, so this does not stop authentication".to_owned(),
        ),
    };
    let mut check = Check::new("clock", status, format!("{measured}{consequence}"));
    if status != Status::Pass {
        check = check.with_hint(hint);
    }
    let skew = Skew {
        secs,
        breaks_assertions: status == Status::Fail,
    };
    (check, Some(skew))
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: Option<Duration> = Some(Duration::from_secs(120));

    #[test]
    fn the_consequence_for_assertions_follows_the_lifetime() {
        assert_eq!(assess(2, "token endpoint", JWT).0.status(), Status::Pass);
        let (check, _) = assess(40, "token endpoint", JWT);
        assert_eq!(check.status(), Status::Warn);
        assert!(
            check.finding().contains("40 s behind"),
            "{}",
            check.finding()
        );
        assert!(check.finding().contains("80 s left"), "{}", check.finding());
        let (check, skew) = assess(150, "token endpoint", JWT);
        assert_eq!(check.status(), Status::Fail);
        assert!(skew.unwrap().breaks_assertions);
        assert_eq!(assess(-150, "token endpoint", JWT).0.status(), Status::Warn);
        assert_eq!(assess(-181, "token endpoint", JWT).0.status(), Status::Fail);
        assert_eq!(assess(150, "API base", None).0.status(), Status::Warn);
    }
}
