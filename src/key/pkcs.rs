//! The private key structures inside the DER: PKCS#8 (RFC 5958), SEC1
//! (RFC 5915) and PKCS#1 (RFC 8017), with the restrictions of RSASSA-PSS
//! keys (RFC 4055) and the object identifiers they name.
//!
//! [`parse`] checks a structure and says which key it holds, as
//! [`KeyDer`], for ring to load: P-256 keys are re-encoded as the PKCS#8
//! v1 form ring reads, RSA keys are bounded in size, and anything
//! recognised but unsupported (other curves, DSA, PSS restrictions PS256
//! cannot honour, ...) is refused by name. Error messages name OIDs only
//! when they are known: the contents of an unknown one come from the input.

use super::der::{
    der_single, der_tlv_len, der_write_header, positive_integer_bits, small_uint, DerError,
    DerReader, TAG_BIT_STRING, TAG_CONTEXT_0, TAG_CONTEXT_1, TAG_CONTEXT_1_PRIMITIVE,
    TAG_CONTEXT_2, TAG_CONTEXT_3, TAG_INTEGER, TAG_NULL, TAG_OCTET_STRING, TAG_OID, TAG_SEQUENCE,
};
use super::{certificate_found, encrypted_pkcs8, public_key_found, MAX_RSA_BITS, MIN_RSA_BITS};
use crate::error::{Error, Result};
use crate::secret::SecretBytes;

/// A private key found in DER, checked for everything ring does not check.
pub(super) enum KeyDer<'a> {
    /// A P-256 key, re-encoded as the PKCS#8 v1 `PrivateKeyInfo` ring
    /// reads (whether it came as SEC1 or as PKCS#8 v1 or v2).
    P256(SecretBytes),
    /// A PKCS#1 `RSAPrivateKey` of [`MIN_RSA_BITS`] to [`MAX_RSA_BITS`]
    /// bits.
    Rsa {
        /// The `RSAPrivateKey` DER.
        pkcs1: &'a [u8],
        /// The key is an `id-RSASSA-PSS` key (whose restrictions PS256
        /// meets): PSS only, never PKCS#1 v1.5.
        pss_only: bool,
    },
    /// A PKCS#8 (v1 or v2) `OneAsymmetricKey` holding an Ed25519 key.
    Ed25519(&'a [u8]),
}

/// Reads `der` as the private key structure `kind`.
pub(super) fn parse(der: &[u8], kind: DerKind) -> Result<KeyDer<'_>> {
    match kind {
        DerKind::Pkcs8 => pkcs8_key(der),
        DerKind::Sec1 => Ok(KeyDer::P256(sec1_to_pkcs8(der, None, None)?)),
        DerKind::Pkcs1 => pkcs1_key(der, false),
    }
}

/// The failure of a DER structure `what`, as a key error.
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

/// The private key structures, told apart by [`sniff_der`] or named by a
/// PEM label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DerKind {
    /// PKCS#8 `PrivateKeyInfo` / `OneAsymmetricKey` (`PRIVATE KEY`).
    Pkcs8,
    /// SEC1 `ECPrivateKey` (`EC PRIVATE KEY`).
    Sec1,
    /// PKCS#1 `RSAPrivateKey` (`RSA PRIVATE KEY`).
    Pkcs1,
}

/// Tells PKCS#8, SEC1 and PKCS#1 private keys apart, and recognises the
/// structures that are not private keys (encrypted PKCS#8, public keys,
/// certificates) to say what they are.
pub(super) fn sniff_der(der: &[u8]) -> Result<DerKind> {
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

fn pkcs8_key(der: &[u8]) -> Result<KeyDer<'_>> {
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
            sec1_to_pkcs8(pkcs8.private_key, Some(curve), pkcs8.public_key).map(KeyDer::P256)
        }
        OID_RSA_ENCRYPTION => pkcs1_key(pkcs8.private_key, false),
        OID_RSASSA_PSS => {
            check_pss_restrictions(pkcs8.parameters)?;
            pkcs1_key(pkcs8.private_key, true)
        }
        OID_ED25519 => Ok(KeyDer::Ed25519(der)),
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
    check_p256(outer_curve, sec1.curve)?;
    let public = p256_public_point(sec1.public_key.or(outer_public))?;
    let digits = p256_scalar_digits(sec1.private_key)?;
    Ok(p256_pkcs8(digits, public))
}

/// The curve named by the SEC1 structure or its enclosing PKCS#8 (they must
/// agree) is P-256, or none is named.
fn check_p256(outer_curve: Option<&[u8]>, sec1_curve: Option<&[u8]>) -> Result<()> {
    let curve = match (outer_curve, sec1_curve) {
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
    Ok(())
}

/// The public point, which must be present and an uncompressed P-256 point.
fn p256_public_point(public: Option<&[u8]>) -> Result<&[u8]> {
    let Some(public) = public else {
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
    Ok(public)
}

/// The private scalar without its leading zeros: 1 to 32 bytes.
fn p256_scalar_digits(private_key: &[u8]) -> Result<&[u8]> {
    let digits = private_key
        .iter()
        .position(|&b| b != 0)
        .map_or(&[][..], |start| {
            private_key.get(start..).unwrap_or_default()
        });
    if digits.is_empty() || digits.len() > 32 {
        return Err(Error::invalid_key(
            "the EC private key is corrupt: its private scalar does not fit P-256",
        ));
    }
    Ok(digits)
}

/// The canonical PKCS#8 v1 DER of a P-256 key: `digits` (1 to 32 bytes,
/// padded to 32) and the uncompressed `public` point.
fn p256_pkcs8(digits: &[u8], public: &[u8]) -> SecretBytes {
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
    out
}

// ---------------------------------------------------------------------------
// PKCS#1 (RFC 8017)

fn pkcs1_key(der: &[u8], pss_only: bool) -> Result<KeyDer<'_>> {
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
    Ok(KeyDer::Rsa {
        pkcs1: der,
        pss_only,
    })
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{self, EcdsaKeyPair};

    use super::*;
    use crate::error::ErrorKind;
    use crate::key::tests::{hex, P256_PKCS8_DER, P256_SEC1_DER, RSA_PKCS1_DER};
    use crate::key::PrivateKey;

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
        let at = der
            .windows(OID_P256.len())
            .position(|w| w == OID_P256)
            .unwrap();
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
}
