//! The doctor's [`Report`]: a list of [`Check`]s, each with a [`Status`], a
//! finding and a hint, rendered as text (one line per check with a mark)
//! or as JSON. Every text is bounded ([`DOCTOR_MAX_TEXT_LEN`]) and free of
//! control characters, so a whole report fits in
//! [`DOCTOR_REPORT_MAX_LEN`](crate::limits::DOCTOR_REPORT_MAX_LEN) bytes.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::limits::{DOCTOR_MAX_CHECKS, DOCTOR_MAX_TEXT_LEN};

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    /// Works as it should.
    Pass,
    /// Works, but something deserves attention (the finding says what).
    Warn,
    /// Does not work: authentication fails on this host because of it.
    Fail,
    /// Not run: it does not apply here, or an earlier failure prevents it.
    Skip,
}

impl Status {
    /// The mark of the text form: `[ ok ]`, `[warn]`, `[FAIL]`, `[skip]`.
    pub const fn mark(self) -> &'static str {
        match self {
            Status::Pass => "[ ok ]",
            Status::Warn => "[warn]",
            Status::Fail => "[FAIL]",
            Status::Skip => "[skip]",
        }
    }
}

/// One check of the doctor: what it found, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    name: &'static str,
    status: Status,
    finding: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

impl Check {
    /// A check named `name` (such as `"token.tls"`) with its finding; texts
    /// are cut to [`DOCTOR_MAX_TEXT_LEN`] bytes, control characters become
    /// spaces.
    pub(crate) fn new(name: &'static str, status: Status, finding: impl Into<String>) -> Check {
        Check {
            name,
            status,
            finding: bounded(finding.into()),
            hint: None,
        }
    }

    /// The same check with a hint.
    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Check {
        self.hint = Some(bounded(hint.into()));
        self
    }

    /// The check's name: a stable identifier such as `"clock"` or
    /// `"token.tls"`.
    pub fn name(&self) -> &str {
        self.name
    }

    /// Its outcome.
    pub fn status(&self) -> Status {
        self.status
    }

    /// What it found.
    pub fn finding(&self) -> &str {
        &self.finding
    }

    /// What to do about it, if anything.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

/// `text` without control characters, at most [`DOCTOR_MAX_TEXT_LEN`] bytes.
fn bounded(text: String) -> String {
    let mut text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.len() > DOCTOR_MAX_TEXT_LEN {
        let mut cut = DOCTOR_MAX_TEXT_LEN - 3;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

/// The result of a doctor run: every check, in the order run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    checks: Vec<Check>,
    elapsed: Duration,
}

impl Report {
    /// Adds a check (beyond [`DOCTOR_MAX_CHECKS`], the last one is replaced,
    /// so a failure is never lost to the bound).
    pub(crate) fn push(&mut self, check: Check) {
        if self.checks.len() == DOCTOR_MAX_CHECKS {
            self.checks.pop();
        }
        self.checks.push(check);
    }

    pub(crate) fn set_elapsed(&mut self, elapsed: Duration) {
        self.elapsed = elapsed;
    }

    /// The checks, in the order they ran.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// The check of that name, if it ran.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// How long the run took.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// The number of failed checks.
    pub fn failures(&self) -> usize {
        self.count(Status::Fail)
    }

    /// The number of warnings.
    pub fn warnings(&self) -> usize {
        self.count(Status::Warn)
    }

    /// Whether no check failed (warnings allowed): the CLI's exit status 0.
    pub fn ok(&self) -> bool {
        self.failures() == 0
    }

    /// One line per check (`[ ok ] name: finding => hint`) and a summary
    /// line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            let _ = write!(
                out,
                "{} {}: {}",
                check.status.mark(),
                check.name,
                check.finding
            );
            if let Some(hint) = &check.hint {
                let _ = write!(out, " => {hint}");
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "doctor: {} passed, {} warnings, {} failed, {} skipped, in {} ms",
            self.count(Status::Pass),
            self.warnings(),
            self.failures(),
            self.count(Status::Skip),
            self.elapsed.as_millis()
        );
        out
    }

    /// The report as one JSON object: `ok`, the counts, `elapsed_ms` and
    /// `checks` (each with `name`, `status`, `finding` and maybe `hint`).
    pub fn to_json(&self) -> String {
        json!({
            "ok": self.ok(),
            "passed": self.count(Status::Pass),
            "warnings": self.warnings(),
            "failed": self.failures(),
            "skipped": self.count(Status::Skip),
            "elapsed_ms": u64::try_from(self.elapsed.as_millis()).unwrap_or(u64::MAX),
            "checks": self.checks,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::DOCTOR_REPORT_MAX_LEN;

    #[test]
    fn the_longest_report_fits_the_documented_buffer() {
        let mut report = Report::default();
        for _ in 0..DOCTOR_MAX_CHECKS + 3 {
            report.push(
                Check::new(
                    "token.tls.a-long-name-of-32-byte",
                    Status::Fail,
                    "\"".repeat(1000),
                )
                .with_hint("\\".repeat(1000)),
            );
        }
        report.set_elapsed(Duration::from_secs(u64::MAX / 4));
        assert_eq!(report.checks().len(), DOCTOR_MAX_CHECKS);
        assert!(
            report.to_json().len() < DOCTOR_REPORT_MAX_LEN,
            "{}",
            report.to_json().len()
        );
        assert!(report.to_text().len() < DOCTOR_REPORT_MAX_LEN);
    }

    #[test]
    fn texts_are_bounded_and_lose_control_characters() {
        let check = Check::new("x", Status::Warn, format!("a\nb\u{1b}{}", "é".repeat(400)));
        assert!(check.finding().len() <= DOCTOR_MAX_TEXT_LEN);
        assert!(check.finding().starts_with("a b "), "{}", check.finding());
        assert!(check.finding().ends_with("..."));
    }

    #[test]
    fn text_has_one_line_per_check_and_json_parses() {
        let mut report = Report::default();
        report.push(Check::new("clock", Status::Warn, "40 s ahead").with_hint("sync it"));
        report.push(Check::new("token", Status::Pass, "ok"));
        let text = report.to_text();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.starts_with("[warn] clock: 40 s ahead => sync it\n[ ok ] token: ok\n"));
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["ok"], true);
        assert_eq!(json["checks"][0]["status"], "warn");
        assert_eq!(json["checks"][1].get("hint"), None);
        assert!(report.ok());
    }
}
