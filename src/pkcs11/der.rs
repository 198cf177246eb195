//! The few DER shapes a PKCS#11 token's public keys come in.

/// `CKA_EC_PARAMS` of P-256: the OID 1.2.840.10045.3.1.7.
pub(super) const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// Whether `CKA_EC_PARAMS` names Ed25519: the OID 1.3.101.112 or the
/// printable string `edwards25519` (both are in use).
pub(super) fn is_ed25519_params(params: &[u8]) -> bool {
    params == [0x06, 0x03, 0x2b, 0x65, 0x70] || params == b"\x13\x0cedwards25519"
}

/// The key of a `CKA_EC_POINT`, `len` bytes: the DER OCTET STRING the
/// specification asks for, or the raw bytes some modules return.
pub(super) fn ec_point(value: &[u8], len: usize) -> Option<Vec<u8>> {
    let inner = match value {
        [0x04, n, rest @ ..] if usize::from(*n) == rest.len() && rest.len() == len => rest,
        raw if raw.len() == len => raw,
        _ => return None,
    };
    (len != 65 || inner.first() == Some(&0x04)).then(|| inner.to_vec())
}

/// The PKCS#1 `RSAPublicKey` DER of a modulus and exponent (big-endian
/// magnitudes), the form ring verifies with.
pub(super) fn rsa_public_key(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    let mut body = integer(modulus);
    body.extend(integer(exponent));
    let mut out = vec![0x30];
    out.extend(length(body.len()));
    out.extend(body);
    out
}

fn integer(magnitude: &[u8]) -> Vec<u8> {
    let start = magnitude
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(magnitude.len());
    let digits = magnitude.get(start..).unwrap_or_default();
    let pad = digits.first().is_none_or(|&b| b & 0x80 != 0);
    let mut out = vec![0x02];
    out.extend(length(digits.len() + usize::from(pad)));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(digits);
    out
}

fn length(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .into_iter()
        .skip_while(|&b| b == 0)
        .collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_public_key_der_matches_ring_for_the_test_key() {
        let key = crate::PrivateKey::from_pem(include_str!("../../tests/keys/rsa2048-pkcs8.pem"))
            .unwrap();
        let public = key.public_key();
        // Take n and e back out of ring's DER and write them again.
        let (n, e) = split_rsa(public);
        assert_eq!(rsa_public_key(n, e), public);
        let mut padded = vec![0, 0];
        padded.extend_from_slice(n);
        assert_eq!(rsa_public_key(&padded, e), public);
    }

    fn split_rsa(der: &[u8]) -> (&[u8], &[u8]) {
        // 30 82 LL LL | 02 82 01 01 00 <256> | 02 03 <3>
        let n = &der[4 + 4 + 1..4 + 4 + 257];
        let e = &der[4 + 4 + 257 + 2..];
        (n, e)
    }

    #[test]
    fn ec_points_in_both_forms() {
        let mut point = vec![0x04];
        point.extend([7u8; 64]);
        let mut wrapped = vec![0x04, 65];
        wrapped.extend(&point);
        assert_eq!(ec_point(&wrapped, 65).unwrap(), point);
        assert_eq!(ec_point(&point, 65).unwrap(), point);
        assert!(ec_point(&point[1..], 65).is_none());
        let ed = [9u8; 32];
        let mut wrapped = vec![0x04, 32];
        wrapped.extend(ed);
        assert_eq!(ec_point(&wrapped, 32).unwrap(), ed);
    }
}
