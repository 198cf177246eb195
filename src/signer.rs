//! Signers of client assertions: the library's own [`PrivateKey`], or an
//! [`AssertionSigner`] of the application's whose key never enters the
//! process (an HSM, a cloud KMS, a TPM, a signing service).
//!
//! The library builds the assertion (header, claims, fresh `jti`,
//! base64url, length limit) and asks the signer only to sign its bytes.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};

use crate::error::{Error, Result};
use crate::key::{Algorithm, PrivateKey, MAX_SIGNATURE_LEN};
use crate::limits::{MAX_RSA_BITS, MAX_SIGNER_DETAIL_LEN, MAX_SIGNER_IDENTITY_LEN, MIN_RSA_BITS};

/// Signs client assertions with a key the library never sees.
///
/// The library builds every assertion itself and calls
/// [`sign`](Self::sign) with the JWS signing input
/// (`base64url(header) "." base64url(claims)`); the signer returns the
/// signature in JWS form: the 64-byte `R || S` for ES256 (a DER signature,
/// as a cloud KMS returns, converts with [`es256_signature_from_der`]),
/// the RSASSA-PKCS1-v1_5 or RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32)
/// signature for RS256 and PS256, the 64-byte Ed25519 signature for
/// `EdDSA` and `Ed25519`.
///
/// A signer gives its [`public_key`](Self::public_key) or, failing that,
/// an [`identity`](Self::identity): one of the two is required (the client
/// build fails with [`InvalidKey`](crate::ErrorKind::InvalidKey)
/// otherwise). It names the key in a shared token store's entry, and a
/// public key also lets the library verify every signature before it is
/// sent: a signer that signs with another key than it claims, or returns
/// garbage, is an `InvalidKey` error at the client build (which signs one
/// assertion to check) and never a 401 from the server.
///
/// # Threading and deadlines
///
/// `sign` runs on the slow path only (a token fetch, never for a cached
/// token), on the calling thread or a library thread, possibly on several
/// threads at once. It must return by `deadline` (the end of the token
/// budget): the library cannot interrupt it, and a signer that hangs holds
/// the fetch it serves until it returns. It must not call back into the
/// client. A panic in `sign` is caught and reported as `InvalidKey`.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use std::time::Instant;
/// use alpaca_auth::{Algorithm, AssertionSigner, Credentials, PrivateKey, SignerError};
///
/// /// Stands for a client of a remote signing service.
/// struct Remote(PrivateKey);
///
/// impl AssertionSigner for Remote {
///     fn algorithm(&self) -> Algorithm {
///         Algorithm::ES256
///     }
///     fn sign(&self, input: &[u8], deadline: Instant) -> Result<Vec<u8>, SignerError> {
///         if Instant::now() >= deadline {
///             return Err(SignerError::transient("the signing service is too slow"));
///         }
///         AssertionSigner::sign(&self.0, input, deadline)
///     }
///     fn public_key(&self) -> Option<Vec<u8>> {
///         Some(self.0.public_key().to_vec())
///     }
/// }
///
/// # fn main() -> alpaca_auth::Result<()> {
/// let key = PrivateKey::from_pem(include_str!("../tests/keys/p256-pkcs8.pem"))?;
/// let signer: Arc<dyn AssertionSigner> = Arc::new(Remote(key));
/// let credentials = Credentials::private_key_jwt("CLIENTID0123456789AB", signer);
/// # let _ = credentials;
/// # Ok(())
/// # }
/// ```
pub trait AssertionSigner: Send + Sync {
    /// The algorithm of the signatures, which the assertion's `alg` header
    /// names. It must not change.
    fn algorithm(&self) -> Algorithm;

    /// Signs `signing_input`, returning the signature in JWS form, by
    /// `deadline`.
    ///
    /// # Errors
    ///
    /// [`SignerError::new`] for a failure that retrying cannot mend (the
    /// caller gets [`InvalidKey`](crate::ErrorKind::InvalidKey)),
    /// [`SignerError::transient`] for one it may (the library signs again
    /// after a backoff, within the token budget).
    fn sign(&self, signing_input: &[u8], deadline: Instant) -> Result<Vec<u8>, SignerError>;

    /// The public key, as ring reads it: the uncompressed point for ES256
    /// (65 bytes, `0x04 || X || Y`), the PKCS#1 `RSAPublicKey` DER for RS256
    /// and PS256, the 32 raw bytes for Ed25519 (the forms
    /// [`PrivateKey::public_key`] gives). Read once, when the signer is
    /// given to [`Credentials`](crate::Credentials). `None` by default.
    fn public_key(&self) -> Option<Vec<u8>> {
        None
    }

    /// A stable name of the key for a signer without a public key (a key
    /// URI, a KMS key ARN): printable ASCII, at most
    /// [`MAX_SIGNER_IDENTITY_LEN`] bytes. Read once, like the public key;
    /// ignored when there is a public key. `None` by default.
    fn identity(&self) -> Option<String> {
        None
    }
}

/// Why an [`AssertionSigner`] did not sign: a message (bounded to
/// [`MAX_SIGNER_DETAIL_LEN`] bytes in the library's error; it must not
/// contain a secret such as a PIN) and whether retrying may help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignerError {
    message: String,
    transient: bool,
}

impl SignerError {
    /// A failure retrying cannot mend (a key that is gone, a refused
    /// login): the caller gets [`InvalidKey`](crate::ErrorKind::InvalidKey).
    pub fn new(message: impl Into<String>) -> Self {
        SignerError {
            message: message.into(),
            transient: false,
        }
    }

    /// A failure retrying may mend (a signing service unreachable or
    /// overloaded): the library signs again after a backoff, within the
    /// token budget.
    pub fn transient(message: impl Into<String>) -> Self {
        SignerError {
            message: message.into(),
            transient: true,
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether retrying may help.
    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// The library's error: `InvalidKey`, marked transient when it is.
    fn into_error(self, algorithm: Algorithm) -> Error {
        let error = Error::invalid_key(format!(
            "the {algorithm} signer failed: {}",
            bounded(&self.message)
        ));
        if self.transient {
            error.into_transient()
        } else {
            error
        }
    }
}

impl fmt::Display for SignerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SignerError {}

impl AssertionSigner for PrivateKey {
    fn algorithm(&self) -> Algorithm {
        PrivateKey::algorithm(self)
    }

    fn sign(&self, signing_input: &[u8], _deadline: Instant) -> Result<Vec<u8>, SignerError> {
        let mut buf = [0u8; MAX_SIGNATURE_LEN];
        let len = self
            .sign_into(signing_input, &mut buf)
            .map_err(|e| SignerError::new(e.message()))?;
        Ok(buf.get(..len).unwrap_or_default().to_vec())
    }

    fn public_key(&self) -> Option<Vec<u8>> {
        Some(PrivateKey::public_key(self).to_vec())
    }
}

/// What signs a client's assertions: a [`PrivateKey`] in memory or an
/// application's [`AssertionSigner`]. Made with `From` (a `PrivateKey`,
/// an `Arc<PrivateKey>`, an `Arc` of a signer) or
/// [`SigningKey::signer`]; cheap to clone (the key or signer is shared).
#[derive(Clone)]
pub struct SigningKey(Inner);

#[derive(Clone)]
enum Inner {
    Key(Arc<PrivateKey>),
    External(Arc<External>),
}

/// What names a signing key in a token store (see `StoreKey`): its public
/// key, or the identity a signer without one gives.
pub(crate) enum Fingerprint<'a> {
    PublicKey(&'a [u8]),
    Identity(&'a str),
}

/// An application's signer and what it said of its key, read once.
struct External {
    signer: Arc<dyn AssertionSigner>,
    algorithm: Algorithm,
    public_key: Option<Vec<u8>>,
    identity: Option<String>,
}

impl SigningKey {
    /// An application's signer; its algorithm, public key and identity are
    /// read now.
    pub fn signer(signer: impl AssertionSigner + 'static) -> Self {
        Self::from(Arc::new(signer) as Arc<dyn AssertionSigner>)
    }

    /// The algorithm of the signatures.
    pub fn algorithm(&self) -> Algorithm {
        match &self.0 {
            Inner::Key(key) => key.algorithm(),
            Inner::External(external) => external.algorithm,
        }
    }

    /// Whether this is an application's signer rather than a
    /// [`PrivateKey`].
    pub fn is_external(&self) -> bool {
        matches!(self.0, Inner::External(_))
    }

    /// The private key to change in place, if this is an unshared one.
    pub(crate) fn private_key_mut(&mut self) -> Result<&mut PrivateKey> {
        match &mut self.0 {
            Inner::Key(key) => Arc::get_mut(key).ok_or_else(|| {
                Error::config("the private key is shared and its algorithm cannot change")
            }),
            Inner::External(_) => Err(Error::config(
                "the assertion algorithm of an external signer is the signer's own and cannot be set",
            )),
        }
    }

    /// Checks what an external signer said of its key: a public key of the
    /// algorithm's shape or a printable identity. A private key is always
    /// valid.
    pub(crate) fn validate(&self) -> Result<()> {
        match &self.0 {
            Inner::Key(_) => Ok(()),
            Inner::External(external) => check_description(
                external.algorithm,
                external.public_key.as_deref(),
                external.identity.as_deref(),
            ),
        }
    }

    /// What names the key in a token store.
    pub(crate) fn fingerprint(&self) -> Fingerprint<'_> {
        match &self.0 {
            Inner::Key(key) => Fingerprint::PublicKey(key.public_key()),
            Inner::External(external) => match (&external.public_key, &external.identity) {
                (Some(public_key), _) => Fingerprint::PublicKey(public_key),
                (None, Some(identity)) => Fingerprint::Identity(identity),
                (None, None) => Fingerprint::Identity(""),
            },
        }
    }

    /// The length of the signatures as far as known before signing (exact
    /// for a private key; the least possible for an external RSA signer).
    pub(crate) fn signature_len_hint(&self) -> usize {
        match &self.0 {
            Inner::Key(key) => key.signature_len(),
            Inner::External(external) => match external.algorithm {
                Algorithm::RS256 | Algorithm::PS256 => MIN_RSA_BITS / 8,
                _ => 64,
            },
        }
    }

    /// Signs `input` into `out`, returning the signature's length; an
    /// external signer's signature is checked (length, and against its
    /// public key when it gave one) before it is returned.
    pub(crate) fn sign_into(
        &self,
        input: &[u8],
        deadline: Instant,
        out: &mut [u8; MAX_SIGNATURE_LEN],
    ) -> Result<usize> {
        match &self.0 {
            Inner::Key(key) => key.sign_into(input, out),
            Inner::External(external) => external.sign_into(input, deadline, out),
        }
    }
}

impl External {
    fn sign_into(
        &self,
        input: &[u8],
        deadline: Instant,
        out: &mut [u8; MAX_SIGNATURE_LEN],
    ) -> Result<usize> {
        let alg = self.algorithm;
        let signature = catch_unwind(AssertUnwindSafe(|| self.signer.sign(input, deadline)))
            .map_err(|_| Error::invalid_key(format!("the {alg} signer panicked")))?
            .map_err(|e| e.into_error(alg))?;
        let (min, max) = signature_len_range(alg);
        if !(min..=max).contains(&signature.len()) {
            return Err(Error::invalid_key(format!(
                "the {alg} signer returned {} bytes, not a {alg} signature in JWS form ({})",
                signature.len(),
                if min == max {
                    format!("{min} bytes")
                } else {
                    format!("{min} to {max} bytes")
                }
            )));
        }
        if let Some(public_key) = &self.public_key {
            UnparsedPublicKey::new(verification_algorithm(alg), public_key)
                .verify(input, &signature)
                .map_err(|_| {
                    Error::invalid_key(format!(
                        "the {alg} signer's signature does not verify with the public key it gave: \
                         it signs with another key, another algorithm, or returns garbage \
                         (nothing was sent)"
                    ))
                })?;
        }
        let len = signature.len();
        out.get_mut(..len)
            .ok_or_else(|| Error::invalid_key("the signature is too long"))?
            .copy_from_slice(&signature);
        Ok(len)
    }
}

/// The signer of the PKCS#11 key at `uri` (an RFC 7512 URI; see
/// `Pkcs11Signer::open`, feature `pkcs11`), signing with `alg` when given.
/// Without the feature, a [`Config`](crate::ErrorKind::Config) error that
/// names it. What `APCA_PKCS11_URI` and
/// `alpaca_auth_builder_set_client_pkcs11` build on.
pub(crate) fn pkcs11_signer(uri: &str, alg: Option<Algorithm>) -> Result<SigningKey> {
    #[cfg(feature = "pkcs11")]
    {
        let mut signer = crate::pkcs11::Pkcs11Signer::open(uri)?;
        if let Some(alg) = alg {
            signer = signer.with_algorithm(alg)?;
        }
        Ok(SigningKey::from(
            Arc::new(signer) as Arc<dyn AssertionSigner>
        ))
    }
    #[cfg(not(feature = "pkcs11"))]
    {
        let _ = (uri, alg);
        Err(Error::config(
            "a PKCS#11 key needs the library built with the cargo feature \"pkcs11\"",
        ))
    }
}

impl From<PrivateKey> for SigningKey {
    fn from(key: PrivateKey) -> Self {
        SigningKey(Inner::Key(Arc::new(key)))
    }
}

impl From<Arc<PrivateKey>> for SigningKey {
    fn from(key: Arc<PrivateKey>) -> Self {
        SigningKey(Inner::Key(key))
    }
}

impl From<Arc<dyn AssertionSigner>> for SigningKey {
    fn from(signer: Arc<dyn AssertionSigner>) -> Self {
        let algorithm = signer.algorithm();
        let public_key = signer.public_key();
        let identity = if public_key.is_none() {
            signer.identity()
        } else {
            None
        };
        SigningKey(Inner::External(Arc::new(External {
            signer,
            algorithm,
            public_key,
            identity,
        })))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Key(key) => fmt::Debug::fmt(key, f),
            Inner::External(external) => f
                .debug_struct("ExternalSigner")
                .field("algorithm", &external.algorithm)
                .field("public_key", &external.public_key.is_some())
                .field("identity", &external.identity)
                .finish(),
        }
    }
}

/// What an external signer says of its key: a public key of the
/// algorithm's shape, or a printable identity.
pub(crate) fn check_description(
    alg: Algorithm,
    public_key: Option<&[u8]>,
    identity: Option<&str>,
) -> Result<()> {
    if let Some(public_key) = public_key {
        return check_public_key(alg, public_key);
    }
    match identity {
        None => Err(Error::invalid_key(format!(
            "the {alg} signer gives neither a public key nor an identity: one is needed to name \
             its key (and a public key lets the library check its signatures)"
        ))),
        Some(id)
            if id.is_empty()
                || id.len() > MAX_SIGNER_IDENTITY_LEN
                || !id.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Err(Error::invalid_key(format!(
                "the {alg} signer's identity must be 1 to {MAX_SIGNER_IDENTITY_LEN} bytes of \
                 printable ASCII without spaces (got {} bytes)",
                id.len()
            )))
        }
        Some(_) => Ok(()),
    }
}

/// The least and most bytes of a JWS signature of `alg`.
fn signature_len_range(alg: Algorithm) -> (usize, usize) {
    match alg {
        Algorithm::RS256 | Algorithm::PS256 => (MIN_RSA_BITS / 8, MAX_RSA_BITS / 8),
        _ => (64, 64),
    }
}

fn verification_algorithm(alg: Algorithm) -> &'static dyn VerificationAlgorithm {
    match alg {
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::EdDSA | Algorithm::Ed25519 => &signature::ED25519,
    }
}

/// The shape of a public key of `alg` in ring's form (its full check is
/// the verification of the first signature).
fn check_public_key(alg: Algorithm, public_key: &[u8]) -> Result<()> {
    let ok = match alg {
        Algorithm::ES256 => public_key.len() == 65 && public_key.first() == Some(&0x04),
        Algorithm::RS256 | Algorithm::PS256 => {
            public_key.first() == Some(&0x30) && public_key.len() >= MIN_RSA_BITS / 8
        }
        Algorithm::EdDSA | Algorithm::Ed25519 => public_key.len() == 32,
    };
    if ok {
        return Ok(());
    }
    Err(Error::invalid_key(format!(
        "the {alg} signer's public key ({} bytes) is not in the form expected: {}",
        public_key.len(),
        match alg {
            Algorithm::ES256 => "the 65-byte uncompressed P-256 point (0x04 || X || Y)",
            Algorithm::RS256 | Algorithm::PS256 =>
                "the PKCS#1 RSAPublicKey DER of a key of at least 2048 bits",
            Algorithm::EdDSA | Algorithm::Ed25519 => "the 32 bytes of the Ed25519 key",
        }
    )))
}

/// The first [`MAX_SIGNER_DETAIL_LEN`] bytes of a signer's message (cut at
/// a character boundary), control characters replaced.
pub(crate) fn bounded(message: &str) -> String {
    let mut end = message.len().min(MAX_SIGNER_DETAIL_LEN);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message
        .get(..end)
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Converts an ECDSA P-256 signature in DER (`SEQUENCE { INTEGER r,
/// INTEGER s }`, the form of a cloud KMS or OpenSSL) to the 64-byte
/// `R || S` of ES256.
///
/// # Errors
///
/// A (non-transient) [`SignerError`] if `der` is not exactly that
/// structure with `r` and `s` of at most 32 bytes.
///
/// # Example
///
/// ```
/// // r = 1, s = 2
/// let der = [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02];
/// let jws = alpaca_auth::es256_signature_from_der(&der).unwrap();
/// assert_eq!((jws[31], jws[63]), (1, 2));
/// ```
pub fn es256_signature_from_der(der: &[u8]) -> Result<[u8; 64], SignerError> {
    let bad = || SignerError::new("the ECDSA signature is not a DER SEQUENCE of two INTEGERs");
    let body = match der {
        [0x30, len, body @ ..] if usize::from(*len) == body.len() && *len < 0x80 => body,
        _ => return Err(bad()),
    };
    let (r, rest) = der_integer(body).ok_or_else(bad)?;
    let (s, rest) = der_integer(rest).ok_or_else(bad)?;
    if !rest.is_empty() {
        return Err(bad());
    }
    let mut out = [0u8; 64];
    let (r_half, s_half) = out.split_at_mut(32);
    for (value, half) in [(r, r_half), (s, s_half)] {
        let start = half.len().checked_sub(value.len()).ok_or_else(bad)?;
        half.get_mut(start..)
            .ok_or_else(bad)?
            .copy_from_slice(value);
    }
    Ok(out)
}

/// A positive DER INTEGER's magnitude (leading zero dropped) and the rest.
fn der_integer(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let [0x02, len, rest @ ..] = input else {
        return None;
    };
    let len = usize::from(*len);
    if len == 0 || len > 33 || rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    let value = match value {
        // A leading zero only where the next byte has its top bit set.
        [0, next, ..] if next & 0x80 != 0 => value.get(1..)?,
        [0, _, ..] => return None,
        [first, ..] if first & 0x80 != 0 => return None,
        _ => value,
    };
    (value.len() <= 32).then_some((value, rest))
}

#[cfg(test)]
mod tests;
