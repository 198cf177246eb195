//! Private keys that sign client assertions: PEM and DER decoding of
//! PKCS#8, SEC1 and PKCS#1 into ring key pairs.
//!
//! Supported keys and the algorithm each one implies:
//!
//! | key                      | encodings                                   | algorithm          |
//! |--------------------------|---------------------------------------------|--------------------|
//! | EC P-256 (prime256v1)    | PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) | [`Algorithm::ES256`] |
//! | RSA, 2048 to 4096 bits   | PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) | [`Algorithm::RS256`] (or [`Algorithm::PS256`]) |
//! | RSASSA-PSS (PKCS#8), unrestricted or restricted to SHA-256, MGF1-SHA-256 and a salt of at most 32 bytes | PKCS#8 (`PRIVATE KEY`) | [`Algorithm::PS256`] |
//! | Ed25519                  | PKCS#8 v1 and v2 (`PRIVATE KEY`)            | [`Algorithm::EdDSA`] (or [`Algorithm::Ed25519`], its RFC 9864 name) |
//!
//! PEM input holding more than one private key is refused (a file with an
//! old and a new key would otherwise sign with whichever comes first).
//! Everything else (encrypted keys, public keys, certificates, other curves,
//! RSA keys under 2048 bits, ...) is refused with an
//! [`ErrorKind::InvalidKey`](crate::error::ErrorKind::InvalidKey) error that
//! says what was found and what to do. No error message and no `Debug`
//! output ever contains key material.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::SecretBytes;

/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// The largest RSA modulus accepted, in bits (ring's limit for signing keys).
pub const MAX_RSA_BITS: usize = 4096;

/// The longest signature any supported key makes, in bytes (RSA-4096).
pub(crate) const MAX_SIGNATURE_LEN: usize = MAX_RSA_BITS / 8;

/// The largest key input accepted (PEM text, DER or a key file), in bytes.
/// An RSA-4096 PEM key is about 3.3 KB; the rest is room for certificates
/// or parameters in the same file.
pub const MAX_KEY_INPUT_LEN: usize = 64 * 1024;

/// Signing algorithm of a client assertion, named as in JOSE (RFC 7518,
/// RFC 8037).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256; the signature is the 64-byte `R || S`.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256.
    PS256,
    /// Ed25519, named `EdDSA` (RFC 8037; the default for Ed25519 keys).
    EdDSA,
    /// Ed25519 under its fully specified name `Ed25519` (RFC 9864, which
    /// deprecates `EdDSA`); the same signature, another `alg` header.
    Ed25519,
}

impl Algorithm {
    /// The JOSE name of the algorithm (`"ES256"`, `"RS256"`, `"PS256"`,
    /// `"EdDSA"`, `"Ed25519"`), as it appears in the `alg` header.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::ES256 => "ES256",
            Algorithm::RS256 => "RS256",
            Algorithm::PS256 => "PS256",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::Ed25519 => "Ed25519",
        }
    }

    /// Whether this is one of the two names of Ed25519 signatures
    /// (`EdDSA`, `Ed25519`).
    pub const fn is_ed25519(self) -> bool {
        matches!(self, Algorithm::EdDSA | Algorithm::Ed25519)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = Error;

    /// Parses a JOSE algorithm name. Names are case-sensitive, as in JOSE.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ES256" => Ok(Algorithm::ES256),
            "RS256" => Ok(Algorithm::RS256),
            "PS256" => Ok(Algorithm::PS256),
            "EdDSA" => Ok(Algorithm::EdDSA),
            "Ed25519" => Ok(Algorithm::Ed25519),
            _ => Err(Error::config(format!(
                "unknown signing algorithm {}: expected one of ES256, RS256, PS256, EdDSA, Ed25519 \
                 (case-sensitive JOSE names)",
                printable(s.as_bytes(), 32)
            ))),
        }
    }
}

/// A private key for signing client assertions.
///
/// Load it with [`from_pem`](PrivateKey::from_pem),
/// [`from_der`](PrivateKey::from_der), [`from_bytes`](PrivateKey::from_bytes)
/// or [`from_file`](PrivateKey::from_file); the signing algorithm follows
/// from the key (P-256 → ES256, RSA → RS256, Ed25519 → EdDSA) and RSA keys
/// can switch to PS256 with [`with_algorithm`](PrivateKey::with_algorithm).
///
/// The key is `Send + Sync`; share one instance (for example in an `Arc`)
/// among threads. Its `Debug` output names the algorithm only.
pub struct PrivateKey {
    pair: Pair,
    algorithm: Algorithm,
    rng: SystemRandom,
}

enum Pair {
    Ecdsa(EcdsaKeyPair),
    Rsa {
        pair: RsaKeyPair,
        /// The key is an `id-RSASSA-PSS` key: PSS only, never PKCS#1 v1.5.
        pss_only: bool,
    },
    Ed25519(Ed25519KeyPair),
}

impl PrivateKey {
    /// Loads a key from PEM text.
    ///
    /// Accepts `PRIVATE KEY` (PKCS#8), `EC PRIVATE KEY` (SEC1, optionally
    /// preceded by an `EC PARAMETERS` block) and `RSA PRIVATE KEY` (PKCS#1).
    /// Other blocks before the key (certificates, parameters) are skipped.
    /// Text whose line breaks were written as the two characters `\n` (as
    /// some environment files do) is accepted too, and so is a bare base64
    /// DER body without the `-----BEGIN` line.
    pub fn from_pem(pem: &str) -> Result<Self> {
        check_input_len(pem.len())?;
        Self::from_pem_bytes(pem.as_bytes())
    }

    /// Loads a key from DER: PKCS#8 `PrivateKeyInfo`, SEC1 `ECPrivateKey` or
    /// PKCS#1 `RSAPrivateKey`, recognised by their structure.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        check_input_len(der.len())?;
        if der.is_empty() {
            return Err(empty_key());
        }
        match sniff_der(der)? {
            DerKind::Pkcs8 => from_pkcs8(der),
            DerKind::Sec1 => from_sec1(der, None, None),
            DerKind::Pkcs1 => from_pkcs1(der, false),
        }
    }

    /// Loads a key from bytes that are either PEM text or DER, whichever
    /// they look like.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        check_input_len(bytes.len())?;
        let trimmed = trim_text_start(bytes);
        if trimmed.is_empty() {
            return Err(empty_key());
        }
        // DER starts with a SEQUENCE tag, which is also the character '0';
        // a BEGIN line settles it for text.
        if trimmed.first() == Some(&TAG_SEQUENCE) && find(trimmed, BEGIN, 0).is_none() {
            Self::from_der(trimmed)
        } else {
            Self::from_pem_bytes(bytes)
        }
    }

    /// Loads a key from a PEM or DER file.
    ///
    /// Only a regular file is read: a FIFO, a terminal, a socket, a device
    /// or a directory is an [`InvalidKey`](crate::ErrorKind::InvalidKey)
    /// error at once (on Linux the file is opened non-blocking and checked
    /// before any read, so a FIFO without a writer never hangs the caller).
    /// Errors name the path (escaped and bounded) and the I/O error; they
    /// never quote the file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        use std::io::Read as _;
        let path = path.as_ref();
        let shown = shown_path(path);
        let cannot_read = |e: std::io::Error| {
            Error::invalid_key(format!("cannot read private key file {shown}: {e}"))
        };
        let file = open_regular_file(path).map_err(cannot_read)?;
        if !file.metadata().map_err(cannot_read)?.is_file() {
            return Err(Error::invalid_key(format!(
                "private key file {shown} is not a regular file (a FIFO, device, socket or directory is never read)"
            )));
        }
        // Read at most one byte past the limit: a huge file is refused
        // without being read whole.
        // Sized once, so no reallocation leaves a copy of key bytes behind.
        let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_KEY_INPUT_LEN + 1));
        file.take(MAX_KEY_INPUT_LEN as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(cannot_read)?;
        Self::from_bytes(&bytes)
            .map_err(|e| e.with_message_prefix(&format!("private key file {shown}: ")))
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Switches the signing algorithm of an RSA key between RS256 and PS256,
    /// or the name of an Ed25519 key's algorithm between `EdDSA` and
    /// `Ed25519` (RFC 9864).
    ///
    /// Any other change (an EC key to RS256, an RSASSA-PSS key to RS256, ...)
    /// is a [`Config`](crate::error::ErrorKind::Config) error. Asking for
    /// the algorithm the key already has always succeeds.
    pub fn with_algorithm(mut self, alg: Algorithm) -> Result<Self> {
        self.set_algorithm(alg)?;
        Ok(self)
    }

    /// [`with_algorithm`](Self::with_algorithm) in place; the key is
    /// unchanged on error.
    pub(crate) fn set_algorithm(&mut self, alg: Algorithm) -> Result<()> {
        if alg == self.algorithm {
            return Ok(());
        }
        match (&self.pair, alg) {
            (Pair::Ed25519(_), Algorithm::EdDSA | Algorithm::Ed25519) => {
                self.algorithm = alg;
                Ok(())
            }
            (Pair::Rsa { pss_only: true, .. }, Algorithm::RS256) => Err(Error::config(
                "this RSA key is an RSASSA-PSS key and may only sign PS256, not RS256",
            )),
            (Pair::Rsa { .. }, Algorithm::RS256 | Algorithm::PS256) => {
                self.algorithm = alg;
                Ok(())
            }
            _ => Err(Error::config(format!(
                "a {} key cannot sign {}: only RSA keys can switch, between RS256 and PS256, \
                 and Ed25519 keys between the names EdDSA and Ed25519",
                self.key_type(),
                alg
            ))),
        }
    }

    /// The public key, as ring encodes it: the uncompressed point for P-256
    /// (65 bytes), the PKCS#1 `RSAPublicKey` DER for RSA, the 32-byte key
    /// for Ed25519.
    pub fn public_key(&self) -> &[u8] {
        match &self.pair {
            Pair::Ecdsa(pair) => pair.public_key().as_ref(),
            Pair::Rsa { pair, .. } => pair.public_key().as_ref(),
            Pair::Ed25519(pair) => pair.public_key().as_ref(),
        }
    }

    /// The length of this key's signatures in bytes.
    pub(crate) fn signature_len(&self) -> usize {
        match &self.pair {
            Pair::Ecdsa(_) | Pair::Ed25519(_) => 64,
            Pair::Rsa { pair, .. } => pair.public().modulus_len(),
        }
    }

    /// The random number generator the key signs with (also good for
    /// nonces such as `jti`).
    pub(crate) fn rng(&self) -> &SystemRandom {
        &self.rng
    }

    /// Signs `message` with the key's algorithm.
    ///
    /// ES256 gives the 64-byte `R || S`, RS256 RSASSA-PKCS1-v1_5/SHA-256,
    /// PS256 RSASSA-PSS/SHA-256, EdDSA Ed25519.
    #[allow(dead_code)]
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let mut buf = [0u8; MAX_SIGNATURE_LEN];
        let len = self.sign_into(message, &mut buf)?;
        Ok(buf.get(..len).unwrap_or_default().to_vec())
    }

    /// Signs `message` into `out` without allocating; returns the length of
    /// the signature.
    pub(crate) fn sign_into(
        &self,
        message: &[u8],
        out: &mut [u8; MAX_SIGNATURE_LEN],
    ) -> Result<usize> {
        let failed = || Error::invalid_key(format!("{} signing failed", self.algorithm));
        match &self.pair {
            Pair::Ecdsa(pair) => {
                let sig = pair.sign(&self.rng, message).map_err(|_| failed())?;
                copy_signature(sig.as_ref(), out).ok_or_else(failed)
            }
            Pair::Ed25519(pair) => {
                let sig = pair.sign(message);
                copy_signature(sig.as_ref(), out).ok_or_else(failed)
            }
            Pair::Rsa { pair, .. } => {
                let padding: &'static dyn signature::RsaEncoding = match self.algorithm {
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let len = pair.public().modulus_len();
                let buf = out.get_mut(..len).ok_or_else(failed)?;
                pair.sign(padding, &self.rng, message, buf)
                    .map_err(|_| failed())?;
                Ok(len)
            }
        }
    }

    fn key_type(&self) -> &'static str {
        match &self.pair {
            Pair::Ecdsa(_) => "P-256",
            Pair::Rsa { .. } => "RSA",
            Pair::Ed25519(_) => "Ed25519",
        }
    }

    fn from_pem_bytes(input: &[u8]) -> Result<Self> {
        let input = trim_text_start(input);
        if input.iter().all(u8::is_ascii_whitespace) {
            return Err(empty_key());
        }
        // `\n` written as two characters (environment files, JSON strings).
        if !input.contains(&b'\n') && find(input, b"\\n", 0).is_some() {
            let unescaped = Zeroizing::new(unescape_newlines(input));
            return Self::from_pem_bytes(&unescaped);
        }
        if find(input, BEGIN, 0).is_none() {
            if input
                .iter()
                .all(|&b| is_base64_char(b) || b.is_ascii_whitespace())
            {
                let der = decode_base64(input)?;
                return Self::from_der(&der.0);
            }
            return Err(Error::invalid_key(
                "the private key is neither PEM (no -----BEGIN line found) nor DER: \
                 expected -----BEGIN PRIVATE KEY-----, -----BEGIN EC PRIVATE KEY----- \
                 or -----BEGIN RSA PRIVATE KEY-----",
            ));
        }
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
                "CERTIFICATE" | "TRUSTED CERTIFICATE" | "X509 CERTIFICATE" => {
                    found.certificate = true
                }
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
        if let Some((block, _)) = key {
            return match block.label {
                "EC PRIVATE KEY" => {
                    block.refuse_legacy_encryption("ec")?;
                    let der = block.decode()?;
                    from_sec1(&der.0, None, None)
                }
                "RSA PRIVATE KEY" => {
                    block.refuse_legacy_encryption("rsa")?;
                    let der = block.decode()?;
                    from_pkcs1(&der.0, false)
                }
                _ => {
                    let der = block.decode()?;
                    from_pkcs8(&der.0)
                }
            };
        }
        Err(found.into_error())
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .field("key", &format_args!("[redacted]"))
            .finish()
    }
}

fn copy_signature(sig: &[u8], out: &mut [u8; MAX_SIGNATURE_LEN]) -> Option<usize> {
    out.get_mut(..sig.len())?.copy_from_slice(sig);
    Some(sig.len())
}

// ---------------------------------------------------------------------------
// Error messages (none of them quotes the input)

fn empty_key() -> Error {
    Error::invalid_key("the private key is empty")
}

fn check_input_len(len: usize) -> Result<()> {
    if len > MAX_KEY_INPUT_LEN {
        return Err(Error::invalid_key(format!(
            "the private key input is more than {MAX_KEY_INPUT_LEN} bytes long: \
             that is not a single private key"
        )));
    }
    Ok(())
}

fn encrypted_pkcs8() -> Error {
    Error::invalid_key(
        "the private key is encrypted (-----BEGIN ENCRYPTED PRIVATE KEY-----), and only \
         unencrypted keys are supported: decrypt it with \
         `openssl pkcs8 -in key.pem -out key-decrypted.pem` and protect the result like a password",
    )
}

fn corrupt(what: &str, err: DerError) -> Error {
    match err {
        DerError::Truncated => Error::invalid_key(format!(
            "the private key is truncated or corrupt: the {what} ends early"
        )),
        DerError::Malformed(detail) => Error::invalid_key(format!(
            "the private key is corrupt or truncated: malformed {what} ({detail})"
        )),
    }
}

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

fn public_key_found() -> Error {
    Error::invalid_key(
        "found a public key, not a private key: signing needs the private key \
         (-----BEGIN PRIVATE KEY-----, EC PRIVATE KEY or RSA PRIVATE KEY); \
         the public key is what you register with the server",
    )
}

fn certificate_found() -> Error {
    Error::invalid_key(
        "found a certificate, not a private key: signing needs the private key \
         (-----BEGIN PRIVATE KEY-----, EC PRIVATE KEY or RSA PRIVATE KEY) the certificate was made for",
    )
}

// ---------------------------------------------------------------------------
// PEM

const BEGIN: &[u8] = b"-----BEGIN ";
const DASHES: &[u8] = b"-----";

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
fn trim_text_start(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// A short, printable rendering of untrusted non-secret text (a label, an
/// algorithm name) for error messages.
fn printable(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    format!("{out:?}")
}

// ---------------------------------------------------------------------------
// DER reader: tag/length/value, bounds-checked, never panics.

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_CONTEXT_0: u8 = 0xA0;
const TAG_CONTEXT_1: u8 = 0xA1;
const TAG_CONTEXT_2: u8 = 0xA2;
const TAG_CONTEXT_3: u8 = 0xA3;
const TAG_CONTEXT_1_PRIMITIVE: u8 = 0x81;

/// Why a DER structure could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DerError {
    /// The input ends before the structure does.
    Truncated,
    /// The input is not the DER expected.
    Malformed(&'static str),
}

/// A cursor over a sequence of DER elements.
struct DerReader<'a> {
    input: &'a [u8],
}

impl<'a> DerReader<'a> {
    fn new(input: &'a [u8]) -> Self {
        DerReader { input }
    }

    fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.input.first().copied()
    }

    /// Reads one element of any tag: `(tag, contents)`.
    fn read_any(&mut self) -> Result<(u8, &'a [u8]), DerError> {
        let (&tag, rest) = self.input.split_first().ok_or(DerError::Truncated)?;
        if tag & 0x1F == 0x1F {
            return Err(DerError::Malformed("multi-byte tags are not used by keys"));
        }
        let (&first, rest) = rest.split_first().ok_or(DerError::Truncated)?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7F);
            if count == 0 {
                return Err(DerError::Malformed("indefinite length"));
            }
            if count > 4 {
                return Err(DerError::Malformed("length too large"));
            }
            let bytes = rest.get(..count).ok_or(DerError::Truncated)?;
            if bytes.first() == Some(&0) {
                return Err(DerError::Malformed("non-minimal length"));
            }
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                return Err(DerError::Malformed("non-minimal length"));
            }
            (len, rest.get(count..).unwrap_or_default())
        };
        if rest.len() < len {
            return Err(DerError::Truncated);
        }
        let (contents, rest) = rest.split_at(len);
        self.input = rest;
        Ok((tag, contents))
    }

    /// Reads one element that must have tag `tag`.
    fn read(&mut self, tag: u8) -> Result<&'a [u8], DerError> {
        match self.peek_tag() {
            None => Err(DerError::Truncated),
            Some(t) if t != tag => Err(DerError::Malformed("unexpected element")),
            Some(_) => Ok(self.read_any()?.1),
        }
    }

    /// Reads the next element if it has tag `tag`.
    fn read_optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, DerError> {
        if self.peek_tag() == Some(tag) {
            Ok(Some(self.read_any()?.1))
        } else {
            Ok(None)
        }
    }

    /// Requires that nothing is left.
    fn finish(self) -> Result<(), DerError> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err(DerError::Malformed("unexpected data after the end"))
        }
    }
}

/// Reads `input` as exactly one element with tag `tag`.
fn der_single(input: &[u8], tag: u8) -> Result<&[u8], DerError> {
    let mut reader = DerReader::new(input);
    let contents = reader.read(tag)?;
    reader.finish()?;
    Ok(contents)
}

/// The value of a small non-negative INTEGER (a version field).
fn small_uint(contents: &[u8]) -> Option<u8> {
    match contents {
        [v] if *v < 0x80 => Some(*v),
        _ => None,
    }
}

/// The bit length of a positive INTEGER's contents.
fn positive_integer_bits(contents: &[u8]) -> Result<usize, DerError> {
    match contents.first() {
        None => return Err(DerError::Malformed("empty INTEGER")),
        Some(b) if b & 0x80 != 0 => return Err(DerError::Malformed("negative modulus")),
        _ => {}
    }
    let start = contents
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(contents.len());
    let digits = contents.get(start..).unwrap_or_default();
    Ok(match digits.first() {
        None => 0,
        Some(&top) => (digits.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    })
}

// ---------------------------------------------------------------------------
// DER writer (for the SEC1 → PKCS#8 wrapping)

/// The encoded size of a DER length field.
fn der_length_len(len: usize) -> usize {
    match len {
        0..=0x7F => 1,
        0x80..=0xFF => 2,
        _ => 3, // keys are far below 64 KiB
    }
}

/// The encoded size of an element with `len` bytes of contents.
fn der_tlv_len(len: usize) -> usize {
    1 + der_length_len(len) + len
}

/// Writes a tag and length (contents of at most 65535 bytes).
fn der_write_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
}

// ---------------------------------------------------------------------------
// Object identifiers (contents bytes)

const OID_EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]; // 1.2.840.10045.2.1
const OID_P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]; // 1.2.840.10045.3.1.7
const OID_RSA_ENCRYPTION: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01]; // 1.2.840.113549.1.1.1
const OID_RSASSA_PSS: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A]; // 1.2.840.113549.1.1.10
const OID_ED25519: &[u8] = &[0x2B, 0x65, 0x70]; // 1.3.101.112
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01]; // 2.16.840.1.101.3.4.2.1
const OID_MGF1: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x08]; // 1.2.840.113549.1.1.8

/// Hash algorithms an RSASSA-PSS key may be restricted to, by name.
const HASH_OIDS: &[(&[u8], &str)] = &[
    (&[0x2B, 0x0E, 0x03, 0x02, 0x1A], "SHA-1"),
    (OID_SHA256, "SHA-256"),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02],
        "SHA-384",
    ),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03],
        "SHA-512",
    ),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04],
        "SHA-224",
    ),
];

/// The salt length PS256 signs with (that of SHA-256), the largest minimum
/// salt length an RSASSA-PSS key's restrictions may ask for.
const PS256_SALT_LEN: u8 = 32;

/// Names of curves and key algorithms that are recognised but refused.
const KNOWN_OIDS: &[(&[u8], &str)] = &[
    (&[0x2B, 0x81, 0x04, 0x00, 0x22], "P-384 (secp384r1)"),
    (&[0x2B, 0x81, 0x04, 0x00, 0x23], "P-521 (secp521r1)"),
    (&[0x2B, 0x81, 0x04, 0x00, 0x21], "P-224 (secp224r1)"),
    (&[0x2B, 0x81, 0x04, 0x00, 0x0A], "secp256k1"),
    (
        &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x01],
        "P-192 (prime192v1)",
    ),
    (
        &[0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07],
        "brainpoolP256r1",
    ),
    (
        &[0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0B],
        "brainpoolP384r1",
    ),
    (
        &[0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0D],
        "brainpoolP512r1",
    ),
    (
        &[0x2A, 0x81, 0x1C, 0xCF, 0x55, 0x01, 0x82, 0x2D],
        "SM2 (sm2p256v1)",
    ),
    (&[0x2B, 0x65, 0x71], "Ed448"),
    (&[0x2B, 0x65, 0x6E], "X25519"),
    (&[0x2B, 0x65, 0x6F], "X448"),
    (&[0x2A, 0x86, 0x48, 0xCE, 0x38, 0x04, 0x01], "DSA"),
    (
        &[0x2A, 0x86, 0x48, 0xCE, 0x3E, 0x02, 0x01],
        "Diffie-Hellman",
    ),
];

/// Most characters of a file path shown in an error message.
pub const MAX_SHOWN_PATH_CHARS: usize = 128;

/// A path for an error message: control characters escaped (a path may
/// come from the environment and must not drive the terminal), bounded to
/// [`MAX_SHOWN_PATH_CHARS`] characters (the end kept, where the file name
/// is).
pub(crate) fn shown_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    let escaped: String = text
        .chars()
        .flat_map(|c| {
            let hidden = crate::redact::is_hidden_char(c);
            let escape: Vec<char> = if hidden {
                c.escape_unicode().collect()
            } else {
                vec![c]
            };
            escape
        })
        .collect();
    let count = escaped.chars().count();
    if count > MAX_SHOWN_PATH_CHARS {
        let tail: String = escaped.chars().skip(count - MAX_SHOWN_PATH_CHARS).collect();
        format!("\"...{tail}\"")
    } else {
        format!("\"{escaped}\"")
    }
}

/// Opens `path` for reading without blocking on a FIFO (Linux: with
/// `O_NONBLOCK`, which has no effect on reads of a regular file; elsewhere
/// the type is checked before opening).
fn open_regular_file(path: &Path) -> std::io::Result<std::fs::File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
    }
    #[cfg(not(target_os = "linux"))]
    {
        if !std::fs::metadata(path)?.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        std::fs::File::open(path)
    }
}

/// A name for an OID: a known name with its dotted form, or "an unknown
/// OID" (the contents of an unknown OID come from the file and could be
/// key bytes a crafted file wants shown).
fn oid_name(oid: &[u8]) -> String {
    match KNOWN_OIDS.iter().find(|(known, _)| *known == oid) {
        Some((_, name)) => format!("{name}, OID {}", oid_dotted(oid)),
        None => "an unknown OID".to_owned(),
    }
}

/// The dotted-decimal form of an OID's contents (bounded, never panics).
fn oid_dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &b in oid.iter().take(64) {
        value = value
            .saturating_mul(128)
            .saturating_add(u64::from(b & 0x7F));
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let (first, second) = match value {
                    0..=39 => (0, value),
                    40..=79 => (1, value - 40),
                    _ => (2, value - 80),
                };
                arcs.push(first);
                arcs.push(second);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    if arcs.is_empty() {
        return "(empty)".to_owned();
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

// ---------------------------------------------------------------------------
// Recognising DER structures

#[derive(Debug, PartialEq, Eq)]
enum DerKind {
    Pkcs8,
    Sec1,
    Pkcs1,
}

/// Tells PKCS#8, SEC1 and PKCS#1 private keys apart, and recognises the
/// structures that are not private keys (encrypted PKCS#8, public keys,
/// certificates) to say what they are.
fn sniff_der(der: &[u8]) -> Result<DerKind> {
    let seq = der_single(der, TAG_SEQUENCE).map_err(|e| match e {
        DerError::Malformed("unexpected element") => unknown_der(),
        e => corrupt("DER key", e),
    })?;
    let mut r = DerReader::new(seq);
    match r.peek_tag() {
        Some(TAG_INTEGER) => {
            let first = r.read(TAG_INTEGER).map_err(|e| corrupt("DER key", e))?;
            let version = small_uint(first);
            match (r.peek_tag(), version) {
                (Some(TAG_SEQUENCE), Some(_)) => Ok(DerKind::Pkcs8),
                (Some(TAG_OCTET_STRING), Some(_)) => Ok(DerKind::Sec1),
                (Some(TAG_INTEGER), Some(_)) => Ok(DerKind::Pkcs1),
                // RSAPublicKey: SEQUENCE { modulus, publicExponent }
                (Some(TAG_INTEGER), None) => Err(public_key_found()),
                _ => Err(unknown_der()),
            }
        }
        Some(TAG_SEQUENCE) => {
            r.read(TAG_SEQUENCE).map_err(|e| corrupt("DER key", e))?;
            match r.peek_tag() {
                // EncryptedPrivateKeyInfo: { algorithm, encryptedData }
                Some(TAG_OCTET_STRING) => Err(encrypted_pkcs8()),
                // SubjectPublicKeyInfo: { algorithm, subjectPublicKey }
                Some(TAG_BIT_STRING) => Err(public_key_found()),
                // Certificate: { tbsCertificate, signatureAlgorithm, signature }
                Some(TAG_SEQUENCE) => Err(certificate_found()),
                _ => Err(unknown_der()),
            }
        }
        None => Err(corrupt("DER key", DerError::Truncated)),
        _ => Err(unknown_der()),
    }
}

fn unknown_der() -> Error {
    Error::invalid_key(
        "the private key is not a known key structure: expected a PKCS#8, SEC1 (EC) or \
         PKCS#1 (RSA) private key in PEM or DER",
    )
}

// ---------------------------------------------------------------------------
// PKCS#8 (RFC 5958)

/// The parts of a `OneAsymmetricKey` (PKCS#8 v1 or v2).
struct Pkcs8<'a> {
    algorithm: &'a [u8],
    parameters: Option<(u8, &'a [u8])>,
    private_key: &'a [u8],
    public_key: Option<&'a [u8]>,
}

fn parse_pkcs8(der: &[u8]) -> Result<Pkcs8<'_>, DerError> {
    let mut r = DerReader::new(der_single(der, TAG_SEQUENCE)?);
    match small_uint(r.read(TAG_INTEGER)?) {
        Some(0 | 1) => {}
        _ => return Err(DerError::Malformed("unsupported PKCS#8 version")),
    }
    let mut alg = DerReader::new(r.read(TAG_SEQUENCE)?);
    let algorithm = alg.read(TAG_OID)?;
    let parameters = if alg.is_empty() {
        None
    } else {
        Some(alg.read_any()?)
    };
    alg.finish()?;
    let private_key = r.read(TAG_OCTET_STRING)?;
    r.read_optional(TAG_CONTEXT_0)?; // attributes
    let public_key = match r.peek_tag() {
        // [1] IMPLICIT BIT STRING; some encoders used the constructed form.
        Some(TAG_CONTEXT_1_PRIMITIVE) => Some(r.read_any()?.1),
        Some(TAG_CONTEXT_1) => Some(der_single(r.read_any()?.1, TAG_BIT_STRING)?),
        _ => None,
    };
    r.finish()?;
    let public_key = match public_key {
        Some([0, key @ ..]) => Some(key),
        Some(_) => return Err(DerError::Malformed("public key BIT STRING")),
        None => None,
    };
    Ok(Pkcs8 {
        algorithm,
        parameters,
        private_key,
        public_key,
    })
}

/// Checks the restrictions an `id-RSASSA-PSS` key may carry in its
/// algorithm parameters (RFC 4055 §3.1, RFC 8017 A.2.3) against what PS256
/// signs with: SHA-256, MGF1 with SHA-256, a 32-byte salt. No parameters
/// means an unrestricted key; an empty parameter sequence means SHA-1
/// (the ASN.1 defaults), which PS256 cannot honour.
fn check_pss_restrictions(parameters: Option<(u8, &[u8])>) -> Result<()> {
    let params = match parameters {
        None | Some((TAG_NULL, [])) => return Ok(()),
        Some((TAG_SEQUENCE, params)) => params,
        Some(_) => return Err(corrupt("RSASSA-PSS key", DerError::Malformed("parameters"))),
    };
    let bad = |e| corrupt("RSASSA-PSS key parameters", e);
    let mut r = DerReader::new(params);
    let hash = match r.read_optional(TAG_CONTEXT_0).map_err(bad)? {
        Some(inner) => {
            hash_algorithm(der_single(inner, TAG_SEQUENCE).map_err(bad)?).map_err(bad)?
        }
        None => HASH_OIDS[0].0,
    };
    let mgf_hash = match r.read_optional(TAG_CONTEXT_1).map_err(bad)? {
        Some(inner) => {
            let mut mgf = DerReader::new(der_single(inner, TAG_SEQUENCE).map_err(bad)?);
            let oid = mgf.read(TAG_OID).map_err(bad)?;
            if oid != OID_MGF1 {
                return Err(Error::invalid_key(format!(
                    "the RSASSA-PSS key is restricted to the mask generation function {}, \
                     but PS256 uses MGF1 with SHA-256",
                    oid_dotted(oid)
                )));
            }
            let hash = hash_algorithm(mgf.read(TAG_SEQUENCE).map_err(bad)?).map_err(bad)?;
            mgf.finish().map_err(bad)?;
            hash
        }
        None => HASH_OIDS[0].0,
    };
    let salt = match r.read_optional(TAG_CONTEXT_2).map_err(bad)? {
        Some(inner) => small_uint(der_single(inner, TAG_INTEGER).map_err(bad)?),
        None => Some(20),
    };
    if let Some(trailer) = r.read_optional(TAG_CONTEXT_3).map_err(bad)? {
        if small_uint(der_single(trailer, TAG_INTEGER).map_err(bad)?) != Some(1) {
            return Err(Error::invalid_key(
                "the RSASSA-PSS key is restricted to a trailer field other than 1 (0xBC), \
                 which PS256 does not use",
            ));
        }
    }
    r.finish().map_err(bad)?;
    let name = |oid: &[u8]| {
        HASH_OIDS
            .iter()
            .find(|(known, _)| *known == oid)
            .map_or_else(|| oid_dotted(oid), |(_, name)| (*name).to_owned())
    };
    if hash != OID_SHA256 || mgf_hash != OID_SHA256 {
        return Err(Error::invalid_key(format!(
            "the RSASSA-PSS key is restricted to {} with MGF1-{}, but PS256 signs with \
             SHA-256 and MGF1-SHA-256: use an unrestricted key or one restricted to SHA-256 \
             (openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_pss_keygen_md:sha256 \
             -pkeyopt rsa_pss_keygen_mgf1_md:sha256)",
            name(hash),
            name(mgf_hash)
        )));
    }
    match salt {
        Some(len) if len <= PS256_SALT_LEN => Ok(()),
        _ => Err(Error::invalid_key(format!(
            "the RSASSA-PSS key requires a salt longer than the {PS256_SALT_LEN} bytes PS256 \
             uses: use an unrestricted key or one with a salt length of at most {PS256_SALT_LEN}"
        ))),
    }
}

/// The hash OID of the contents of an `AlgorithmIdentifier` (parameters
/// absent or NULL).
fn hash_algorithm(contents: &[u8]) -> Result<&[u8], DerError> {
    let mut alg = DerReader::new(contents);
    let oid = alg.read(TAG_OID)?;
    if !alg.is_empty() {
        alg.read(TAG_NULL)?;
    }
    alg.finish()?;
    Ok(oid)
}

fn from_pkcs8(der: &[u8]) -> Result<PrivateKey> {
    let pkcs8 = parse_pkcs8(der).map_err(|e| corrupt("PKCS#8 key", e))?;
    match pkcs8.algorithm {
        OID_EC_PUBLIC_KEY => {
            let curve = match pkcs8.parameters {
                Some((TAG_OID, curve)) => curve,
                Some((TAG_SEQUENCE, _)) => return Err(explicit_curve()),
                _ => {
                    return Err(Error::invalid_key(
                        "the EC private key does not name its curve: only P-256 (prime256v1) \
                         keys with a named curve are supported",
                    ))
                }
            };
            from_sec1(pkcs8.private_key, Some(curve), pkcs8.public_key)
        }
        OID_RSA_ENCRYPTION => from_pkcs1(pkcs8.private_key, false),
        OID_RSASSA_PSS => {
            check_pss_restrictions(pkcs8.parameters)?;
            from_pkcs1(pkcs8.private_key, true)
        }
        OID_ED25519 => {
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|e| {
                Error::invalid_key(format!(
                    "the Ed25519 private key is corrupt or inconsistent ({e})"
                ))
            })?;
            Ok(PrivateKey {
                pair: Pair::Ed25519(pair),
                algorithm: Algorithm::EdDSA,
                rng: SystemRandom::new(),
            })
        }
        other => Err(Error::invalid_key(format!(
            "the private key's algorithm ({}) is not supported: use a P-256 (ES256), \
             RSA (RS256/PS256) or Ed25519 (EdDSA) key",
            oid_name(other)
        ))),
    }
}

fn explicit_curve() -> Error {
    Error::invalid_key(
        "the EC private key spells out its curve parameters instead of naming the curve: \
         convert it with `openssl ec -in key.pem -param_enc named_curve -out key-named.pem`",
    )
}

// ---------------------------------------------------------------------------
// SEC1 (RFC 5915) and its wrapping into PKCS#8

/// The parts of a SEC1 `ECPrivateKey`.
struct Sec1<'a> {
    /// The private scalar as encoded (leading zeros may be missing).
    private_key: &'a [u8],
    /// The named curve in `[0] parameters`, if present.
    curve: Option<&'a [u8]>,
    /// The public point in `[1] publicKey`, if present.
    public_key: Option<&'a [u8]>,
}

enum Sec1Error {
    Der(DerError),
    ExplicitCurve,
}

impl From<DerError> for Sec1Error {
    fn from(e: DerError) -> Self {
        Sec1Error::Der(e)
    }
}

fn parse_sec1(der: &[u8]) -> Result<Sec1<'_>, Sec1Error> {
    let mut r = DerReader::new(der_single(der, TAG_SEQUENCE)?);
    if small_uint(r.read(TAG_INTEGER)?) != Some(1) {
        return Err(DerError::Malformed("unsupported ECPrivateKey version").into());
    }
    let private_key = r.read(TAG_OCTET_STRING)?;
    let curve = match r.read_optional(TAG_CONTEXT_0)? {
        None => None,
        Some(params) => {
            let mut p = DerReader::new(params);
            match p.read_any()? {
                (TAG_OID, oid) => {
                    p.finish()?;
                    Some(oid)
                }
                (TAG_SEQUENCE, _) => return Err(Sec1Error::ExplicitCurve),
                _ => return Err(DerError::Malformed("curve parameters").into()),
            }
        }
    };
    let public_key = match r.read_optional(TAG_CONTEXT_1)? {
        None => None,
        Some(explicit) => match der_single(explicit, TAG_BIT_STRING)? {
            [0, point @ ..] => Some(point),
            _ => return Err(DerError::Malformed("public key BIT STRING").into()),
        },
    };
    r.finish()?;
    Ok(Sec1 {
        private_key,
        curve,
        public_key,
    })
}

/// Wraps a SEC1 P-256 key into a PKCS#8 v1 `PrivateKeyInfo` (the form ring
/// reads), re-encoding the SEC1 structure canonically: the scalar padded to
/// 32 bytes, no `[0]` parameters (the algorithm identifier names the curve),
/// and the public point in `[1]`.
///
/// `outer_curve` and `outer_public` come from an enclosing PKCS#8 when the
/// SEC1 structure was found inside one.
fn sec1_to_pkcs8(
    sec1_der: &[u8],
    outer_curve: Option<&[u8]>,
    outer_public: Option<&[u8]>,
) -> Result<SecretBytes> {
    let sec1 = parse_sec1(sec1_der).map_err(|e| match e {
        Sec1Error::Der(e) => corrupt("EC private key (SEC1)", e),
        Sec1Error::ExplicitCurve => explicit_curve(),
    })?;
    let curve = match (outer_curve, sec1.curve) {
        (Some(a), Some(b)) if a != b => {
            return Err(Error::invalid_key(
                "the EC private key is corrupt: it names two different curves",
            ))
        }
        (Some(c), _) | (None, Some(c)) => c,
        // No curve named anywhere: assume P-256; ring then checks that the
        // public point matches the private scalar on P-256.
        (None, None) => OID_P256,
    };
    if curve != OID_P256 {
        return Err(Error::invalid_key(format!(
            "the EC key is on the curve {}, but only P-256 (prime256v1, ES256) is supported: \
             generate a P-256 key with `openssl ecparam -genkey -name prime256v1 -noout -out key.pem`",
            oid_name(curve)
        )));
    }
    let Some(public) = sec1.public_key.or(outer_public) else {
        return Err(Error::invalid_key(
            "the EC private key does not include its public key, which is needed to load it: \
             add it with `openssl ec -in key.pem -out key-with-public.pem`",
        ));
    };
    match public {
        [0x04, ..] if public.len() == 65 => {}
        [0x02 | 0x03, ..] => {
            return Err(Error::invalid_key(
                "the EC private key holds its public key in compressed form: convert it with \
                 `openssl ec -in key.pem -conv_form uncompressed -out key-uncompressed.pem`",
            ))
        }
        _ => {
            return Err(Error::invalid_key(
                "the EC private key is corrupt: its public key is not a P-256 point",
            ))
        }
    }
    let digits = sec1
        .private_key
        .iter()
        .position(|&b| b != 0)
        .map_or(&[][..], |start| {
            sec1.private_key.get(start..).unwrap_or_default()
        });
    if digits.is_empty() || digits.len() > 32 {
        return Err(Error::invalid_key(
            "the EC private key is corrupt: its private scalar does not fit P-256",
        ));
    }
    let padding = 32 - digits.len();

    // ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING (32),
    //                             publicKey [1] BIT STRING }
    let bit_string_len = der_tlv_len(1 + public.len());
    let sec1_len = der_tlv_len(1) + der_tlv_len(32) + der_tlv_len(bit_string_len);
    // AlgorithmIdentifier ::= SEQUENCE { id-ecPublicKey, prime256v1 }
    let alg_len = der_tlv_len(OID_EC_PUBLIC_KEY.len()) + der_tlv_len(OID_P256.len());
    // PrivateKeyInfo ::= SEQUENCE { version 0, algorithm, privateKey OCTET STRING }
    let info_len = der_tlv_len(1) + der_tlv_len(alg_len) + der_tlv_len(der_tlv_len(sec1_len));
    let total = der_tlv_len(info_len);

    let mut out = SecretBytes(Vec::with_capacity(total));
    let v = &mut out.0;
    der_write_header(v, TAG_SEQUENCE, info_len);
    v.extend_from_slice(&[TAG_INTEGER, 1, 0]);
    der_write_header(v, TAG_SEQUENCE, alg_len);
    der_write_header(v, TAG_OID, OID_EC_PUBLIC_KEY.len());
    v.extend_from_slice(OID_EC_PUBLIC_KEY);
    der_write_header(v, TAG_OID, OID_P256.len());
    v.extend_from_slice(OID_P256);
    der_write_header(v, TAG_OCTET_STRING, der_tlv_len(sec1_len));
    der_write_header(v, TAG_SEQUENCE, sec1_len);
    v.extend_from_slice(&[TAG_INTEGER, 1, 1]);
    der_write_header(v, TAG_OCTET_STRING, 32);
    v.extend(std::iter::repeat_n(0u8, padding));
    v.extend_from_slice(digits);
    der_write_header(v, TAG_CONTEXT_1, bit_string_len);
    der_write_header(v, TAG_BIT_STRING, 1 + public.len());
    v.push(0);
    v.extend_from_slice(public);
    debug_assert_eq!(v.len(), total);
    Ok(out)
}

fn from_sec1(
    sec1_der: &[u8],
    outer_curve: Option<&[u8]>,
    outer_public: Option<&[u8]>,
) -> Result<PrivateKey> {
    let pkcs8 = sec1_to_pkcs8(sec1_der, outer_curve, outer_public)?;
    let rng = SystemRandom::new();
    let pair =
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8.0, &rng)
            .map_err(|e| {
                Error::invalid_key(format!(
                    "the P-256 private key is corrupt or its public key does not match it ({e})"
                ))
            })?;
    Ok(PrivateKey {
        pair: Pair::Ecdsa(pair),
        algorithm: Algorithm::ES256,
        rng,
    })
}

// ---------------------------------------------------------------------------
// PKCS#1 (RFC 8017)

fn from_pkcs1(der: &[u8], pss_only: bool) -> Result<PrivateKey> {
    let bits = {
        let mut r =
            DerReader::new(der_single(der, TAG_SEQUENCE).map_err(|e| corrupt("RSA key", e))?);
        let version = r.read(TAG_INTEGER).map_err(|e| corrupt("RSA key", e))?;
        match small_uint(version) {
            Some(0) => {}
            Some(1) => return Err(Error::invalid_key(
                "the RSA key has more than two primes (multi-prime RSA), which is not supported",
            )),
            _ => return Err(corrupt("RSA key", DerError::Malformed("version"))),
        }
        let modulus = r.read(TAG_INTEGER).map_err(|e| corrupt("RSA key", e))?;
        positive_integer_bits(modulus).map_err(|e| corrupt("RSA key", e))?
    };
    if bits < MIN_RSA_BITS {
        return Err(Error::invalid_key(format!(
            "the RSA key has {bits} bits, but at least {MIN_RSA_BITS} are required: generate a \
             new key with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem`"
        )));
    }
    if bits > MAX_RSA_BITS {
        return Err(Error::invalid_key(format!(
            "the RSA key has {bits} bits, more than the {MAX_RSA_BITS} supported"
        )));
    }
    let pair = RsaKeyPair::from_der(der).map_err(|e| {
        Error::invalid_key(format!(
            "the RSA private key is corrupt or inconsistent ({e})"
        ))
    })?;
    Ok(PrivateKey {
        pair: Pair::Rsa { pair, pss_only },
        algorithm: if pss_only {
            Algorithm::PS256
        } else {
            Algorithm::RS256
        },
        rng: SystemRandom::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    const P256_SEC1_DER: &[u8] = include_bytes!("../../tests/keys/p256-sec1.der");
    const P256_PKCS8_DER: &[u8] = include_bytes!("../../tests/keys/p256-pkcs8.der");
    const RSA_PKCS1_DER: &[u8] = include_bytes!("../../tests/keys/rsa2048-pkcs1.der");

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn der_reader_reads_short_and_long_lengths() {
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7u8, 0x80));
        long.extend_from_slice(&[0x02, 0x01, 0x05]);
        let mut r = DerReader::new(&long);
        let (tag, contents) = r.read_any().unwrap();
        assert_eq!(tag, TAG_OCTET_STRING);
        assert_eq!(contents.len(), 0x80);
        assert_eq!(r.read(TAG_INTEGER).unwrap(), &[5]);
        assert!(r.is_empty());
        r.finish().unwrap();
    }

    #[test]
    fn der_reader_reports_truncation() {
        assert_eq!(DerReader::new(&[]).read_any(), Err(DerError::Truncated));
        assert_eq!(DerReader::new(&[0x30]).read_any(), Err(DerError::Truncated));
        assert_eq!(
            DerReader::new(&[0x30, 0x03, 0x02, 0x01]).read_any(),
            Err(DerError::Truncated)
        );
        assert_eq!(
            DerReader::new(&[0x30, 0x82, 0x01]).read_any(),
            Err(DerError::Truncated)
        );
    }

    #[test]
    fn der_reader_rejects_non_der_lengths_and_tags() {
        for bad in [
            &[0x30, 0x80, 0x00, 0x00][..],      // indefinite
            &[0x30, 0x81, 0x05, 1, 2, 3, 4, 5], // non-minimal
            &[0x30, 0x82, 0x00, 0x81],          // leading zero
            &[0x30, 0x85, 1, 0, 0, 0, 0],       // too many length bytes
            &[0x1F, 0x01, 0x00],                // high tag number
        ] {
            assert!(
                matches!(DerReader::new(bad).read_any(), Err(DerError::Malformed(_))),
                "{bad:02x?}"
            );
        }
        assert_eq!(
            DerReader::new(&[0x02, 0x01, 0x00]).read(TAG_SEQUENCE),
            Err(DerError::Malformed("unexpected element"))
        );
        assert!(der_single(&[0x05, 0x00, 0x00], 0x05).is_err());
    }

    #[test]
    fn der_reader_never_panics_on_any_short_input() {
        // Every input of up to two bytes, and every three-byte input that
        // starts with a SEQUENCE tag.
        let mut inputs: Vec<Vec<u8>> = vec![vec![]];
        for a in 0..=255u8 {
            inputs.push(vec![a]);
            for b in 0..=255u8 {
                inputs.push(vec![a, b]);
                inputs.push(vec![0x30, a, b]);
            }
        }
        for input in &inputs {
            let mut r = DerReader::new(input);
            while r.read_any().is_ok() {}
            let _ = sniff_der(input);
            let _ = parse_pkcs8(input);
            let _ = parse_sec1(input);
            let _ = PrivateKey::from_der(input);
        }
    }

    #[test]
    fn positive_integer_bits_counts_significant_bits() {
        assert_eq!(positive_integer_bits(&[0x00, 0x80, 0x00]), Ok(16));
        assert_eq!(positive_integer_bits(&[0x01]), Ok(1));
        assert_eq!(positive_integer_bits(&[0x00]), Ok(0));
        assert!(positive_integer_bits(&[0x80]).is_err());
        assert!(positive_integer_bits(&[]).is_err());
    }

    #[test]
    fn oid_dotted_decodes_multi_byte_arcs() {
        assert_eq!(oid_dotted(OID_P256), "1.2.840.10045.3.1.7");
        assert_eq!(oid_dotted(OID_ED25519), "1.3.101.112");
        assert_eq!(oid_dotted(&[0x2B, 0x81, 0x04, 0x00, 0x22]), "1.3.132.0.34");
        assert_eq!(oid_dotted(&[]), "(empty)");
        assert!(oid_name(&[0x2B, 0x81, 0x04, 0x00, 0x0A]).contains("secp256k1"));
    }

    #[test]
    fn sec1_wrapper_matches_the_pkcs8_openssl_writes_for_the_same_key() {
        let wrapped = sec1_to_pkcs8(P256_SEC1_DER, None, None).unwrap();
        assert_eq!(wrapped.0, P256_PKCS8_DER);
    }

    #[test]
    fn sec1_wrapper_output_is_accepted_by_ring() {
        let wrapped = sec1_to_pkcs8(P256_SEC1_DER, None, None).unwrap();
        let rng = SystemRandom::new();
        EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &wrapped.0,
            &rng,
        )
        .unwrap();
    }

    #[test]
    fn sec1_wrapper_pads_a_short_scalar_and_takes_the_curve_from_outside() {
        let sec1 = parse_sec1(P256_SEC1_DER).ok().unwrap();
        let public = sec1.public_key.unwrap();
        // A scalar with a leading zero byte, encoded without it.
        let mut scalar = [0x11u8; 31];
        scalar[0] = 0x42;
        let mut der = vec![0x30, 0x00, 0x02, 0x01, 0x01, 0x04, 31];
        der.extend_from_slice(&scalar);
        der.extend_from_slice(&[0xA1, 0x44, 0x03, 0x42, 0x00]);
        der.extend_from_slice(public);
        der[1] = (der.len() - 2) as u8;
        let wrapped = sec1_to_pkcs8(&der, Some(OID_P256), None).unwrap();
        let inner = parse_pkcs8(&wrapped.0).ok().unwrap();
        let inner_sec1 = parse_sec1(inner.private_key).ok().unwrap();
        assert_eq!(inner_sec1.private_key.len(), 32);
        assert_eq!(inner_sec1.private_key[0], 0);
        assert_eq!(&inner_sec1.private_key[1..], &scalar);
        assert_eq!(inner_sec1.public_key, Some(public));
        assert_eq!(inner.parameters, Some((TAG_OID, OID_P256)));
    }

    #[test]
    fn sec1_wrapper_refuses_a_key_without_public_point() {
        let sec1 = parse_sec1(P256_SEC1_DER).ok().unwrap();
        let mut der = vec![0x30, 0x00, 0x02, 0x01, 0x01, 0x04, 0x20];
        der.extend_from_slice(sec1.private_key);
        der.extend_from_slice(&[0xA0, 0x0A, 0x06, 0x08]);
        der.extend_from_slice(OID_P256);
        der[1] = (der.len() - 2) as u8;
        let err = sec1_to_pkcs8(&der, None, None).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidKey);
        assert!(err.message().contains("does not include its public key"));
        assert!(err.message().contains("openssl ec"));
        // The public key of an enclosing PKCS#8 v2 is used when present.
        let wrapped = sec1_to_pkcs8(&der, None, sec1.public_key).unwrap();
        assert_eq!(wrapped.0, P256_PKCS8_DER);
    }

    #[test]
    fn sec1_wrapper_refuses_other_curves_and_conflicting_curves() {
        let secp256k1 = [0x2B, 0x81, 0x04, 0x00, 0x0A];
        let err = sec1_to_pkcs8(P256_SEC1_DER, Some(&secp256k1), None)
            .err()
            .unwrap();
        assert!(err.message().contains("corrupt"), "{}", err.message());
        let mut der = P256_SEC1_DER.to_vec();
        // Replace the curve OID inside the SEC1 [0] parameters.
        let at = find(&der, OID_P256, 0).unwrap();
        der.splice(
            at..at + OID_P256.len(),
            [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x01],
        );
        let err = sec1_to_pkcs8(&der, None, None).err().unwrap();
        assert!(err.message().contains("P-192"), "{}", err.message());
    }

    #[test]
    fn pss_restrictions_default_to_sha1_and_bound_the_salt() {
        // No parameters, or NULL: unrestricted.
        assert!(check_pss_restrictions(None).is_ok());
        assert!(check_pss_restrictions(Some((TAG_NULL, &[]))).is_ok());
        // An empty sequence means the ASN.1 defaults: SHA-1.
        let err = check_pss_restrictions(Some((TAG_SEQUENCE, &[]))).unwrap_err();
        assert!(err.message().contains("SHA-1"), "{err}");
        // SHA-256 / MGF1-SHA-256 with a salt of 32 or 33 bytes.
        let params = |salt: u8| {
            let mut v = hex("a00d300b0609608648016503040201");
            v.extend(hex(
                "a11a301806092a864886f70d010108300b0609608648016503040201",
            ));
            v.extend([0xA2, 0x03, 0x02, 0x01, salt]);
            v
        };
        assert!(check_pss_restrictions(Some((TAG_SEQUENCE, &params(32)))).is_ok());
        assert!(check_pss_restrictions(Some((TAG_SEQUENCE, &params(20)))).is_ok());
        let err = check_pss_restrictions(Some((TAG_SEQUENCE, &params(33)))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidKey);
        assert!(err.message().contains("salt"), "{err}");
        // Garbage never panics.
        for len in 0..params(32).len() {
            let _ = check_pss_restrictions(Some((TAG_SEQUENCE, &params(32)[..len])));
        }
    }

    #[test]
    fn sniff_tells_the_structures_apart() {
        assert_eq!(sniff_der(P256_SEC1_DER).ok(), Some(DerKind::Sec1));
        assert_eq!(sniff_der(P256_PKCS8_DER).ok(), Some(DerKind::Pkcs8));
        assert_eq!(sniff_der(RSA_PKCS1_DER).ok(), Some(DerKind::Pkcs1));
    }

    #[test]
    fn ed25519_signature_matches_rfc8032_test_1() {
        // RFC 8032, section 7.1, TEST 1.
        let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let mut pkcs8 = hex("302e020100300506032b657004220420");
        pkcs8.extend_from_slice(&seed);
        let key = PrivateKey::from_der(&pkcs8).unwrap();
        assert_eq!(key.algorithm(), Algorithm::EdDSA);
        assert_eq!(
            key.public_key(),
            hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        );
        let sig = key.sign(b"").unwrap();
        assert_eq!(
            sig,
            hex(concat!(
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155",
                "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
            ))
        );
    }

    #[test]
    fn es256_signature_is_fixed_64_bytes_and_verifies() {
        let key = PrivateKey::from_der(P256_SEC1_DER).unwrap();
        let sig = key.sign(b"message").unwrap();
        assert_eq!(sig.len(), 64);
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, key.public_key())
            .verify(b"message", &sig)
            .unwrap();
    }

    #[test]
    fn rsa_signs_pkcs1_and_pss_per_algorithm() {
        let key = PrivateKey::from_der(RSA_PKCS1_DER).unwrap();
        assert_eq!(key.algorithm(), Algorithm::RS256);
        let sig = key.sign(b"message").unwrap();
        assert_eq!(sig.len(), 256);
        // PKCS#1 v1.5 is deterministic; PSS is randomised.
        assert_eq!(sig, key.sign(b"message").unwrap());
        let verify =
            |alg: &'static dyn signature::VerificationAlgorithm, key: &PrivateKey, sig: &[u8]| {
                signature::UnparsedPublicKey::new(alg, key.public_key())
                    .verify(b"message", sig)
                    .is_ok()
            };
        assert!(verify(&signature::RSA_PKCS1_2048_8192_SHA256, &key, &sig));
        let key = key.with_algorithm(Algorithm::PS256).unwrap();
        let pss = key.sign(b"message").unwrap();
        assert_ne!(pss, key.sign(b"message").unwrap());
        assert!(verify(&signature::RSA_PSS_2048_8192_SHA256, &key, &pss));
        assert!(!verify(&signature::RSA_PKCS1_2048_8192_SHA256, &key, &pss));
    }

    #[test]
    fn private_key_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PrivateKey>();
    }
}
