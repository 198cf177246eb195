//! What the doctor shows of an X.509 certificate: its subject, its issuer
//! (common name and organisation) and its expiry, read with the crate's
//! small DER reader. Nothing here verifies anything: rustls does.

use crate::key::der::{DerReader, TAG_CONTEXT_0, TAG_OID, TAG_SEQUENCE};
use crate::retry::days_from_civil;

/// `id-at-commonName` (2.5.4.3) and `id-at-organizationName` (2.5.4.10).
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_O: &[u8] = &[0x55, 0x04, 0x0A];
const TAG_SET: u8 = 0x31;
const TAG_UTC_TIME: u8 = 0x17;
const TAG_GENERALIZED_TIME: u8 = 0x18;
/// Longest attribute value shown, in characters.
const MAX_NAME_CHARS: usize = 64;

/// The parts of a certificate the doctor shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct CertSummary {
    /// `CN=..., O=...` of the subject.
    pub(super) subject: String,
    /// `CN=..., O=...` of the issuer.
    pub(super) issuer: String,
    /// `notAfter`, seconds since the epoch.
    pub(super) not_after: i64,
}

impl CertSummary {
    /// Reads a DER certificate; `None` if it is not one.
    pub(super) fn parse(der: &[u8]) -> Option<CertSummary> {
        let cert = DerReader::new(der).read(TAG_SEQUENCE).ok()?;
        let mut tbs = DerReader::new(DerReader::new(cert).read(TAG_SEQUENCE).ok()?);
        tbs.read_optional(TAG_CONTEXT_0).ok()?; // version
        tbs.read_any().ok()?; // serialNumber
        tbs.read(TAG_SEQUENCE).ok()?; // signature
        let issuer = name(tbs.read(TAG_SEQUENCE).ok()?)?;
        let mut validity = DerReader::new(tbs.read(TAG_SEQUENCE).ok()?);
        validity.read_any().ok()?; // notBefore
        let not_after = time(validity.read_any().ok()?)?;
        let subject = name(tbs.read(TAG_SEQUENCE).ok()?)?;
        Some(CertSummary {
            subject,
            issuer,
            not_after,
        })
    }

    /// Whether subject and issuer are the same name (a root, or a
    /// self-signed certificate).
    #[cfg(test)]
    fn self_issued(&self) -> bool {
        self.subject == self.issuer
    }
}

/// `CN=..., O=...` of an X.501 `Name` (the attributes shown, in order);
/// `(no name)` when it has neither.
fn name(contents: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    let mut rdns = DerReader::new(contents);
    while !rdns.is_empty() {
        let mut set = DerReader::new(rdns.read(TAG_SET).ok()?);
        while !set.is_empty() {
            let mut attribute = DerReader::new(set.read(TAG_SEQUENCE).ok()?);
            let oid = attribute.read(TAG_OID).ok()?;
            let (_, value) = attribute.read_any().ok()?;
            let label = match oid {
                OID_CN => "CN",
                OID_O => "O",
                _ => continue,
            };
            let text: String = String::from_utf8_lossy(value)
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_NAME_CHARS)
                .collect();
            parts.push(format!("{label}={text}"));
        }
    }
    Some(if parts.is_empty() {
        "(no name)".to_owned()
    } else {
        parts.join(", ")
    })
}

/// A `UTCTime` or `GeneralizedTime` (`...Z`) as seconds since the epoch.
fn time((tag, contents): (u8, &[u8])) -> Option<i64> {
    let text = std::str::from_utf8(contents).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        TAG_UTC_TIME => {
            let yy: i64 = text.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
        }
        TAG_GENERALIZED_TIME => (text.get(..4)?.parse().ok()?, text.get(4..)?),
        _ => return None,
    };
    let field = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
    let (month, day, hour, minute) = (field(0)?, field(2)?, field(4)?, field(6)?);
    let second = field(8).unwrap_or(0);
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Seconds since the epoch as `YYYY-MM-DD`.
pub(super) fn date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    // civil_from_days (H. Hinnant), the inverse of days_from_civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundled_root_reads_with_its_name_and_expiry() {
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS;
        let mut read = 0;
        for der in roots {
            let summary = CertSummary::parse(der.as_ref()).expect("a root certificate parses");
            assert!(summary.self_issued(), "{summary:?}");
            assert!(summary.not_after > 1_262_304_000, "{summary:?}"); // after 2010
            read += 1;
        }
        assert!(read > 100);
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(
            date(days_from_civil(2026, 12, 31) * 86_400 + 3600),
            "2026-12-31"
        );
        assert_eq!(
            time((TAG_UTC_TIME, b"491231235959Z")),
            time((TAG_GENERALIZED_TIME, b"20491231235959Z"))
        );
        assert_eq!(time((TAG_UTC_TIME, b"bad")), None);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(CertSummary::parse(b"\x30\x03\x02\x01\x01"), None);
        assert_eq!(CertSummary::parse(b""), None);
    }
}
