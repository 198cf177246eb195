//! Private keys that sign client assertions: PEM and DER decoding of
//! PKCS#8, SEC1 and PKCS#1 into ring key pairs.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use zeroize::Zeroizing;

use self::pkcs::KeyDer;
use crate::error::{Error, Result};

// The input goes PEM text (`pem`) -> DER (read by `der`) -> a checked key
// structure (`pkcs`) -> a ring key pair here.
pub(crate) mod der;
mod pem;
mod pkcs;

use crate::limits::{MAX_KEY_INPUT_LEN, MAX_RSA_BITS, MAX_SHOWN_PATH_CHARS, MIN_RSA_BITS};

pub(crate) use crate::limits::MAX_SIGNATURE_LEN;

/// Signing algorithm of a client assertion, named as in JOSE (RFC 7518,
/// RFC 8037). Later versions may support more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
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
///
/// Supported keys and the algorithm each one implies:
///
/// | key                      | encodings                                   | algorithm          |
/// |--------------------------|---------------------------------------------|--------------------|
/// | EC P-256 (prime256v1)    | PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) | [`Algorithm::ES256`] |
/// | RSA, [`MIN_RSA_BITS`] to [`MAX_RSA_BITS`] bits | PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) | [`Algorithm::RS256`] (or [`Algorithm::PS256`]) |
/// | RSASSA-PSS (PKCS#8), unrestricted or restricted to SHA-256, MGF1-SHA-256 and a salt of at most 32 bytes | PKCS#8 (`PRIVATE KEY`) | [`Algorithm::PS256`] |
/// | Ed25519                  | PKCS#8 v1 and v2 (`PRIVATE KEY`)            | [`Algorithm::EdDSA`] (or [`Algorithm::Ed25519`], its RFC 9864 name) |
///
/// PEM input holding more than one private key is refused (a file with an
/// old and a new key would otherwise sign with whichever comes first).
/// Everything else (encrypted keys, public keys, certificates, other curves,
/// RSA keys under [`MIN_RSA_BITS`], ...) is refused with an
/// [`ErrorKind::InvalidKey`](crate::error::ErrorKind::InvalidKey) error that
/// says what was found and what to do. No error message and no `Debug`
/// output ever contains key material.
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
        Self::from_key_der(pkcs::parse(der, pkcs::sniff_der(der)?)?)
    }

    /// Loads a key from bytes that are either PEM text or DER, whichever
    /// they look like.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        check_input_len(bytes.len())?;
        let trimmed = pem::trim_text_start(bytes);
        if trimmed.is_empty() {
            return Err(empty_key());
        }
        // DER starts with a SEQUENCE tag, which is also the character '0';
        // a BEGIN line settles it for text.
        if trimmed.first() == Some(&der::TAG_SEQUENCE) && !pem::has_begin_line(trimmed) {
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
        let key = pem::private_key(input)?;
        match key.kind {
            Some(kind) => Self::from_key_der(pkcs::parse(&key.der.0, kind)?),
            // A bare base64 body: the structure is told from the DER.
            None => Self::from_der(&key.der.0),
        }
    }

    /// Loads a checked key into ring.
    fn from_key_der(key: KeyDer<'_>) -> Result<Self> {
        let rng = SystemRandom::new();
        let (pair, algorithm) = match key {
            KeyDer::P256(pkcs8) => {
                let pair = EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &pkcs8.0,
                    &rng,
                )
                .map_err(|e| {
                    Error::invalid_key(format!(
                        "the P-256 private key is corrupt or its public key does not match it ({e})"
                    ))
                })?;
                (Pair::Ecdsa(pair), Algorithm::ES256)
            }
            KeyDer::Rsa { pkcs1, pss_only } => {
                let pair = RsaKeyPair::from_der(pkcs1).map_err(|e| {
                    Error::invalid_key(format!(
                        "the RSA private key is corrupt or inconsistent ({e})"
                    ))
                })?;
                let algorithm = if pss_only {
                    Algorithm::PS256
                } else {
                    Algorithm::RS256
                };
                (Pair::Rsa { pair, pss_only }, algorithm)
            }
            KeyDer::Ed25519(pkcs8) => {
                let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(|e| {
                    Error::invalid_key(format!(
                        "the Ed25519 private key is corrupt or inconsistent ({e})"
                    ))
                })?;
                (Pair::Ed25519(pair), Algorithm::EdDSA)
            }
        };
        Ok(PrivateKey {
            pair,
            algorithm,
            rng,
        })
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
// Error messages (none of them quotes the input), the refusals shared by
// the PEM and DER paths

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
// Key files

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
pub(crate) fn open_regular_file(path: &Path) -> std::io::Result<std::fs::File> {
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const P256_SEC1_DER: &[u8] = include_bytes!("../../tests/keys/p256-sec1.der");
    pub(super) const P256_PKCS8_DER: &[u8] = include_bytes!("../../tests/keys/p256-pkcs8.der");
    pub(super) const RSA_PKCS1_DER: &[u8] = include_bytes!("../../tests/keys/rsa2048-pkcs1.der");

    pub(super) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
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
