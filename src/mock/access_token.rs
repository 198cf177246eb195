//! The access tokens the mock issues: shaped and sized like Alpaca's, which
//! are JWTs of several hundred bytes, so that clients, caches, stores and
//! the C ABI carry tokens of a real size.
//!
//! A token of length `len` is three base64url segments joined by dots:
//!
//! * the header `{"alg":"RS256","typ":"JWT","kid":"mock-signing-key-1"}`;
//! * the claims `iss`, `aud` (the mock's issuer), `sub` and `client_id`
//!   (the client), `iat`, `nbf`, `exp` and a random `jti`, plus a `pad`
//!   claim of `x`s (or a longer `jti`) making up the length asked for;
//! * a random "signature" of 256 bytes (an RS256 signature with a 2048-bit
//!   key), fewer (down to 32) when `len` leaves no room for that many.
//!
//! Nothing verifies the signature: the mock knows its tokens by their text.
//! A `len` too short for the header, the claims and a 32-byte signature
//! (about 400 bytes, depending on the client ID and port) gives an opaque
//! token instead: `mock_` and 24 random bytes in base64url (37 bytes),
//! padded with base64url characters and dots to `len` if that is longer.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::error::Unspecified;
use ring::rand::SecureRandom;
use serde_json::json;

/// The header of every JWT-shaped token.
const HEADER: &str = r#"{"alg":"RS256","typ":"JWT","kid":"mock-signing-key-1"}"#;
/// Signature bytes when `len` leaves room: an RS256 signature, 2048-bit key.
const SIGNATURE_BYTES: usize = 256;
/// The fewest signature bytes of a JWT-shaped token (an HS256 MAC's).
const MIN_SIGNATURE_BYTES: usize = 32;
/// Length of the `jti` claim (128 random bits in base64url) when no padding
/// goes into it.
const JTI_LEN: usize = 22;
/// What a `pad` claim adds to the claims JSON besides its value.
const PAD_CLAIM_OVERHEAD: usize = r#","pad":"""#.len();
/// The start of an opaque token.
const OPAQUE_PREFIX: &str = "mock_";
/// Random bytes of an opaque token.
const OPAQUE_RANDOM_BYTES: usize = 24;

/// What the claims of an issued token say.
pub(super) struct Claims<'a> {
    /// `iss` and `aud`: the mock's base URL.
    pub(super) issuer: &'a str,
    /// `sub` and `client_id`.
    pub(super) client_id: &'a str,
    /// `iat` and `nbf`, seconds since the epoch.
    pub(super) issued_at: u64,
    /// `exp` - `iat`, in seconds.
    pub(super) lifetime: u64,
}

/// A new token of `len` bytes (at least 37), unique by its random parts:
/// JWT-shaped when `len` leaves room, opaque otherwise.
pub(super) fn mint(
    len: usize,
    claims: &Claims<'_>,
    rng: &dyn SecureRandom,
) -> Result<String, Unspecified> {
    match jwt_shaped(len, claims, rng)? {
        Some(token) => Ok(token),
        None => opaque(len, rng),
    }
}

/// A JWT-shaped token of exactly `len` bytes, or `None` if `len` is too
/// short for one.
fn jwt_shaped(
    len: usize,
    claims: &Claims<'_>,
    rng: &dyn SecureRandom,
) -> Result<Option<String>, Unspecified> {
    let header = URL_SAFE_NO_PAD.encode(HEADER);
    let base_len = claims_json(claims, "", None).len() + JTI_LEN;
    // The longest signature that leaves a valid length for the claims,
    // trying the full size first, then one character more, then shorter.
    let full = encoded_len(SIGNATURE_BYTES);
    let shorter = (encoded_len(MIN_SIGNATURE_BYTES)..full).rev();
    for signature_chars in [full, full + 1].into_iter().chain(shorter) {
        let Some(claims_chars) = len.checked_sub(header.len() + signature_chars + 2) else {
            continue;
        };
        let (Some(signature_bytes), Some(claims_bytes)) =
            (decoded_len(signature_chars), decoded_len(claims_chars))
        else {
            continue;
        };
        let Some(extra) = claims_bytes.checked_sub(base_len) else {
            continue;
        };
        // A few bytes more lengthen the jti; more than a pad claim's
        // overhead go into one.
        let (jti_len, pad) = if extra < PAD_CLAIM_OVERHEAD {
            (JTI_LEN + extra, None)
        } else {
            (JTI_LEN, Some(extra - PAD_CLAIM_OVERHEAD))
        };
        let jti = random_text(jti_len, rng)?;
        let payload = claims_json(claims, &jti, pad);
        debug_assert_eq!(payload.len(), claims_bytes);
        let mut signature = vec![0u8; signature_bytes];
        rng.fill(&mut signature)?;
        let token = format!(
            "{header}.{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature)
        );
        debug_assert_eq!(token.len(), len);
        return Ok(Some(token));
    }
    Ok(None)
}

/// The claims as compact JSON, with a `pad` claim of that many `x`s if any.
fn claims_json(claims: &Claims<'_>, jti: &str, pad: Option<usize>) -> String {
    let mut object = json!({
        "iss": claims.issuer,
        "aud": claims.issuer,
        "sub": claims.client_id,
        "client_id": claims.client_id,
        "iat": claims.issued_at,
        "nbf": claims.issued_at,
        "exp": claims.issued_at.saturating_add(claims.lifetime),
        "jti": jti,
    });
    if let Some(pad) = pad {
        object["pad"] = "x".repeat(pad).into();
    }
    object.to_string()
}

/// `len` random base64url characters.
fn random_text(len: usize, rng: &dyn SecureRandom) -> Result<String, Unspecified> {
    let mut raw = vec![0u8; len.div_ceil(4) * 3];
    rng.fill(&mut raw)?;
    let mut text = URL_SAFE_NO_PAD.encode(raw);
    text.truncate(len);
    Ok(text)
}

/// `mock_` and random base64url, padded to `len` with base64url characters
/// and dots.
fn opaque(len: usize, rng: &dyn SecureRandom) -> Result<String, Unspecified> {
    let mut raw = [0u8; OPAQUE_RANDOM_BYTES];
    rng.fill(&mut raw)?;
    let mut token = format!("{OPAQUE_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw));
    while token.len() < len {
        token.push(if token.len() % 64 == 63 { '.' } else { 'x' });
    }
    Ok(token)
}

/// The length of the unpadded base64url encoding of `len` bytes.
const fn encoded_len(len: usize) -> usize {
    len / 3 * 4 + [0, 2, 3][len % 3]
}

/// How many bytes unpadded base64url of `chars` characters encodes; `None`
/// for a length no encoding has.
const fn decoded_len(chars: usize) -> Option<usize> {
    match chars % 4 {
        1 => None,
        rest => Some(chars / 4 * 3 + rest.saturating_sub(1)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use ring::rand::SystemRandom;
    use serde_json::Value;

    use super::*;

    const CLAIMS: Claims<'static> = Claims {
        issuer: "http://127.0.0.1:45678",
        client_id: "MOCKCLIENT0000000001",
        issued_at: 1_800_000_000,
        lifetime: 899,
    };

    fn decode(segment: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(segment).expect("base64url")
    }

    #[test]
    fn base64_lengths_round_trip() {
        for bytes in 0..100 {
            assert_eq!(decoded_len(encoded_len(bytes)), Some(bytes));
            assert_eq!(
                URL_SAFE_NO_PAD.encode(vec![0; bytes]).len(),
                encoded_len(bytes)
            );
        }
        assert_eq!(decoded_len(5), None);
    }

    #[test]
    fn every_length_is_exact_and_jwt_shaped_from_a_threshold_on() {
        let rng = SystemRandom::new();
        let mut first_jwt = None;
        for len in 0..=2000 {
            let token = mint(len, &CLAIMS, &rng).unwrap();
            assert_eq!(token.len(), len.max(37), "len {len}");
            let segments: Vec<&str> = token.split('.').collect();
            if token.starts_with(OPAQUE_PREFIX) {
                assert!(first_jwt.is_none(), "opaque at {len} after a JWT");
                continue;
            }
            first_jwt.get_or_insert(len);
            assert_eq!(segments.len(), 3, "len {len}");
            let header: Value = serde_json::from_slice(&decode(segments[0])).unwrap();
            assert_eq!(header["alg"], "RS256");
            let claims: Value = serde_json::from_slice(&decode(segments[1])).unwrap();
            assert_eq!(claims["sub"], CLAIMS.client_id);
            assert_eq!(claims["exp"], 1_800_000_899u64);
            assert!(claims["jti"].as_str().unwrap().len() >= JTI_LEN);
            let signature = decode(segments[2]).len();
            assert!((MIN_SIGNATURE_BYTES..=SIGNATURE_BYTES + 1).contains(&signature));
        }
        let first_jwt = first_jwt.expect("JWTs from some length on");
        assert!((300..500).contains(&first_jwt), "{first_jwt}");
    }

    #[test]
    fn long_tokens_carry_a_full_signature_and_a_pad_claim() {
        let rng = SystemRandom::new();
        for len in [900, 901, 902, 903, 8192] {
            let token = mint(len, &CLAIMS, &rng).unwrap();
            assert_eq!(token.len(), len);
            let segments: Vec<&str> = token.split('.').collect();
            let signature = decode(segments[2]).len();
            assert!(signature == SIGNATURE_BYTES || signature == SIGNATURE_BYTES + 1);
            let claims: Value = serde_json::from_slice(&decode(segments[1])).unwrap();
            assert!(claims["pad"].as_str().unwrap().bytes().all(|b| b == b'x'));
        }
    }

    #[test]
    fn tokens_are_unique() {
        let rng = SystemRandom::new();
        let mut seen = HashSet::new();
        for len in [0, 37, 100, 900, 900, 900] {
            for _ in 0..50 {
                assert!(seen.insert(mint(len, &CLAIMS, &rng).unwrap()));
            }
        }
    }
}
