//! PEM framing of private keys (RFC 7468, and the RFC 1421 headers of
//! OpenSSL's legacy encrypted keys): finding the blocks, telling their
//! labels apart, and decoding the one private key among them.
//!
//! Besides well-formed PEM, the text may have its line breaks written as
//! the two characters `\n` (environment files, JSON strings) or be a bare
//! base64 DER body. Encrypted keys (`ENCRYPTED PRIVATE KEY`,
//! `Proc-Type: 4,ENCRYPTED`), OpenSSH and DSA keys, and text with two
//! private keys are refused with a message that says what to do; so is text
//! with no private key, naming what was found instead. Every buffer that
//! holds key bytes (unescaped text, base64, DER) is zeroized when dropped.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use zeroize::Zeroizing;

use super::pkcs::DerKind;
use super::{certificate_found, empty_key, encrypted_pkcs8, public_key_found};
use crate::error::{Error, Result};
use crate::secret::SecretBytes;

/// The private key of PEM text.
pub(super) struct PemKey {
    /// The DER of the key.
    pub(super) der: SecretBytes,
    /// The structure the PEM label names; `None` for a bare base64 body,
    /// whose structure is told from the DER.
    pub(super) kind: Option<DerKind>,
}

/// Finds the one private key in PEM text (see the module documentation
/// for what is accepted) and decodes it.
pub(super) fn private_key(input: &[u8]) -> Result<PemKey> {
    let input = trim_text_start(input);
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(empty_key());
    }
    // `\n` written as two characters (environment files, JSON strings).
    if !input.contains(&b'\n') && find(input, b"\\n", 0).is_some() {
        let unescaped = Zeroizing::new(unescape_newlines(input));
        return private_key(&unescaped);
    }
    if !has_begin_line(input) {
        if input
            .iter()
            .all(|&b| is_base64_char(b) || b.is_ascii_whitespace())
        {
            return Ok(PemKey {
                der: decode_base64(input)?,
                kind: None,
            });
        }
        return Err(Error::invalid_key(
            "the private key is neither PEM (no -----BEGIN line found) nor DER: \
             expected -----BEGIN PRIVATE KEY-----, -----BEGIN EC PRIVATE KEY----- \
             or -----BEGIN RSA PRIVATE KEY-----",
        ));
    }
    decode_key_block(only_private_key_block(input)?)
}

/// The one private key block of PEM text that has a `-----BEGIN` line; an
/// error naming what was found instead when there is none, or more than one.
fn only_private_key_block(input: &[u8]) -> Result<PemBlock<'_>> {
    let mut found = Found::default();
    let mut pos = 0;
    // The first private key block, decoded once the whole input has
    // been seen: a second private key (an old and a new key in one file
    // during a rotation) is refused rather than silently ignored.
    let mut key: Option<(PemBlock<'_>, usize)> = None;
    let mut index = 0usize;
    while let Some(block) = next_pem_block(input, &mut pos)? {
        index += 1;
        let is_private_key = matches!(
            block.label,
            "PRIVATE KEY"
                | "EC PRIVATE KEY"
                | "RSA PRIVATE KEY"
                | "ENCRYPTED PRIVATE KEY"
                | "OPENSSH PRIVATE KEY"
                | "DSA PRIVATE KEY"
        );
        if is_private_key {
            if let Some((first, first_index)) = &key {
                return Err(Error::invalid_key(format!(
                    "the PEM input holds more than one private key (block {first_index}, \
                     {}, and block {index}, {}): keep only the key to sign with in the \
                     file or variable",
                    first.label, block.label
                )));
            }
        }
        match block.label {
            "PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY" => key = Some((block, index)),
            "ENCRYPTED PRIVATE KEY" => return Err(encrypted_pkcs8()),
            "EC PARAMETERS" => found.parameters = true,
            "PUBLIC KEY" | "RSA PUBLIC KEY" | "EC PUBLIC KEY" => found.public_key = true,
            "CERTIFICATE" | "TRUSTED CERTIFICATE" | "X509 CERTIFICATE" => found.certificate = true,
            "OPENSSH PRIVATE KEY" => {
                return Err(Error::invalid_key(
                    "found an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----), \
                     which is not supported: export the key as PKCS#8 PEM \
                     (-----BEGIN PRIVATE KEY-----), for example with \
                     `ssh-keygen -p -m PKCS8 -f <copy of the key>`",
                ))
            }
            "DSA PRIVATE KEY" => {
                return Err(Error::invalid_key(
                    "found a DSA private key, which is not supported: \
                     use a P-256 (ES256), RSA or Ed25519 key",
                ))
            }
            other => {
                if found.unknown.is_none() {
                    found.unknown = Some(other.to_owned());
                }
            }
        }
    }
    match key {
        Some((block, _)) => Ok(block),
        None => Err(found.into_error()),
    }
}

/// The DER of a private key block, with the structure its label names.
fn decode_key_block(block: PemBlock<'_>) -> Result<PemKey> {
    let kind = match block.label {
        "EC PRIVATE KEY" => {
            block.refuse_legacy_encryption("ec")?;
            DerKind::Sec1
        }
        "RSA PRIVATE KEY" => {
            block.refuse_legacy_encryption("rsa")?;
            DerKind::Pkcs1
        }
        _ => DerKind::Pkcs8,
    };
    Ok(PemKey {
        der: block.decode()?,
        kind: Some(kind),
    })
}

/// What the text held instead of a private key, for the error that says
/// so.
#[derive(Default)]
struct Found {
    parameters: bool,
    public_key: bool,
    certificate: bool,
    unknown: Option<String>,
}

impl Found {
    fn into_error(self) -> Error {
        if self.public_key {
            public_key_found()
        } else if self.certificate {
            certificate_found()
        } else if let Some(label) = self.unknown {
            Error::invalid_key(format!(
                "found a PEM block labelled {label:?}, which is not a supported private key: \
                 expected PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY"
            ))
        } else if self.parameters {
            Error::invalid_key(
                "found EC PARAMETERS but no private key: generate a key with \
                 `openssl ecparam -genkey -name prime256v1 -noout -out key.pem`",
            )
        } else {
            Error::invalid_key("no PEM block found in the private key text")
        }
    }
}

const BEGIN: &[u8] = b"-----BEGIN ";
const DASHES: &[u8] = b"-----";

/// One `-----BEGIN X-----` ... `-----END X-----` block of the input.
struct PemBlock<'a> {
    label: &'a str,
    /// Everything between the BEGIN and END lines (headers and base64).
    body: &'a [u8],
}

impl PemBlock<'_> {
    /// Refuses RFC 1421 encryption headers (`Proc-Type: 4,ENCRYPTED`).
    fn refuse_legacy_encryption(&self, tool: &str) -> Result<()> {
        let encrypted = self.body.split(|&b| b == b'\n').any(|line| {
            let line = trim_ascii(line);
            (starts_with_ignore_case(line, b"Proc-Type:") && find(line, b"ENCRYPTED", 0).is_some())
                || starts_with_ignore_case(line, b"DEK-Info:")
        });
        if encrypted {
            return Err(Error::invalid_key(format!(
                "the private key is encrypted (PEM header Proc-Type: 4,ENCRYPTED), and only \
                 unencrypted keys are supported: decrypt it with \
                 `openssl {tool} -in key.pem -out key-decrypted.pem` and protect the result like a password"
            )));
        }
        Ok(())
    }

    /// The DER inside the block, without any headers.
    fn decode(&self) -> Result<SecretBytes> {
        let mut compact = Zeroizing::new(Vec::with_capacity(self.body.len()));
        for line in self.body.split(|&b| b == b'\n') {
            if line.contains(&b':') {
                continue; // an RFC 1421 header line; base64 never has ':'
            }
            compact.extend(line.iter().copied().filter(|b| !b.is_ascii_whitespace()));
        }
        if compact.is_empty() {
            return Err(Error::invalid_key(format!(
                "the PEM block {} is empty: the private key is truncated",
                self.label
            )));
        }
        decode_base64(&compact)
    }
}

/// Finds the next `-----BEGIN X-----` ... `-----END X-----` block at or after
/// `*pos` and moves `*pos` past it.
fn next_pem_block<'a>(input: &'a [u8], pos: &mut usize) -> Result<Option<PemBlock<'a>>> {
    let Some(begin) = find(input, BEGIN, *pos) else {
        return Ok(None);
    };
    let label_start = begin + BEGIN.len();
    let Some(label_end) = find(input, DASHES, label_start) else {
        return Err(Error::invalid_key(
            "the PEM text is truncated or corrupt: its -----BEGIN line does not end with -----",
        ));
    };
    let label = input.get(label_start..label_end).unwrap_or_default();
    let label = std::str::from_utf8(label)
        .ok()
        .filter(|l| {
            !l.is_empty()
                && l.len() <= 64
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-')
        })
        .ok_or_else(|| {
            Error::invalid_key("the PEM text is corrupt: its -----BEGIN line has no valid label")
        })?;
    let body_start = label_end + DASHES.len();
    let mut end_marker = Vec::with_capacity(label.len() + 20);
    end_marker.extend_from_slice(b"-----END ");
    end_marker.extend_from_slice(label.as_bytes());
    end_marker.extend_from_slice(DASHES);
    let Some(body_end) = find(input, &end_marker, body_start) else {
        return Err(Error::invalid_key(format!(
            "the PEM block {label} is truncated: its -----END {label}----- line is missing"
        )));
    };
    // A BEGIN line inside the body means the END of the first block is lost.
    if find(input.get(..body_end).unwrap_or_default(), BEGIN, body_start).is_some() {
        return Err(Error::invalid_key(format!(
            "the PEM block {label} is truncated or corrupt: another -----BEGIN line comes before its END line"
        )));
    }
    *pos = body_end + end_marker.len();
    Ok(Some(PemBlock {
        label,
        body: input.get(body_start..body_end).unwrap_or_default(),
    }))
}

/// Decodes standard base64 (whitespace allowed) into a zeroized buffer.
fn decode_base64(text: &[u8]) -> Result<SecretBytes> {
    let mut compact = Zeroizing::new(Vec::with_capacity(text.len()));
    compact.extend(text.iter().copied().filter(|b| !b.is_ascii_whitespace()));
    if let Some(_bad) = compact.iter().find(|&&b| !is_base64_char(b)) {
        return Err(Error::invalid_key(
            "the private key is corrupt: its PEM body contains characters that are not base64",
        ));
    }
    let mut out = SecretBytes(vec![0u8; compact.len() / 4 * 3 + 3]);
    let len = STANDARD.decode_slice(&*compact, &mut out.0).map_err(|_| {
        Error::invalid_key(
            "the private key is truncated or corrupt: its PEM body is not valid base64 \
             (missing or extra characters)",
        )
    })?;
    out.0.truncate(len);
    if out.0.is_empty() {
        return Err(empty_key());
    }
    Ok(out)
}

fn is_base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
}

fn unescape_newlines(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'\\' && input.get(i + 1) == Some(&b'n') {
            out.push(b'\n');
            i += 2;
        } else if b == b'\\' && input.get(i + 1) == Some(&b'r') {
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

/// Whether `bytes` holds a `-----BEGIN ` line (PEM text rather than DER).
pub(super) fn has_begin_line(bytes: &[u8]) -> bool {
    find(bytes, BEGIN, 0).is_some()
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let hay = haystack.get(from..)?;
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn starts_with_ignore_case(line: &[u8], prefix: &[u8]) -> bool {
    line.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Skips a UTF-8 byte-order mark and leading ASCII whitespace.
pub(super) fn trim_text_start(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}
