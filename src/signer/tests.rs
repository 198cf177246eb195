use super::*;
use crate::credentials::ClientAuth;
use crate::store::StoreKey;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

const P256: &str = include_str!("../../tests/keys/p256-pkcs8.pem");
const P256_PKCS8_DER: &[u8] = include_bytes!("../../tests/keys/p256-pkcs8.der");

fn far() -> Instant {
    Instant::now() + std::time::Duration::from_secs(10)
}

/// A signer that returns what it is told, with the public key it is told.
struct Fixed {
    alg: Algorithm,
    signature: Vec<u8>,
    public_key: Option<Vec<u8>>,
    identity: Option<String>,
}

impl AssertionSigner for Fixed {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
    fn sign(&self, _: &[u8], _: Instant) -> Result<Vec<u8>, SignerError> {
        Ok(self.signature.clone())
    }
    fn public_key(&self) -> Option<Vec<u8>> {
        self.public_key.clone()
    }
    fn identity(&self) -> Option<String> {
        self.identity.clone()
    }
}

fn fixed(alg: Algorithm, len: usize, public_key: Option<Vec<u8>>) -> SigningKey {
    SigningKey::signer(Fixed {
        alg,
        signature: vec![7; len],
        public_key,
        identity: Some("id".into()),
    })
}

#[test]
fn der_signatures_convert_to_the_fixed_form_that_verifies() {
    let rng = SystemRandom::new();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, P256_PKCS8_DER, &rng).unwrap();
    let key = PrivateKey::from_pem(P256).unwrap();
    // Enough signatures to meet r and s with a high bit (a leading zero in
    // DER) and short ones.
    for i in 0..64u32 {
        let message = i.to_be_bytes();
        let der = pair.sign(&rng, &message).unwrap();
        let jws = es256_signature_from_der(der.as_ref()).unwrap();
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, key.public_key())
            .verify(&message, &jws)
            .unwrap();
    }
}

#[test]
fn malformed_der_signatures_are_refused() {
    for bad in [
        &[][..],
        &[0x30, 0x00],
        &[0x30, 0x03, 0x02, 0x01, 0x01],
        // Trailing bytes.
        &[0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02, 0x00],
        // A negative integer, an unneeded leading zero.
        &[0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x02],
        &[0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x02],
        // Wrong outer length.
        &[0x30, 0x05, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02],
    ] {
        assert!(es256_signature_from_der(bad).is_err(), "{bad:02x?}");
    }
    // 33-byte r with a non-zero first byte.
    let mut big = vec![0x30, 0x26, 0x02, 0x21, 0x01];
    big.extend_from_slice(&[1; 32]);
    big.extend_from_slice(&[0x02, 0x01, 0x02]);
    assert!(es256_signature_from_der(&big).is_err());
}

#[test]
fn an_external_signature_of_the_wrong_length_is_refused() {
    for (alg, len) in [
        (Algorithm::ES256, 63),
        (Algorithm::ES256, 72),
        (Algorithm::EdDSA, 65),
        (Algorithm::RS256, 255),
        (Algorithm::PS256, 513),
    ] {
        let err = fixed(alg, len, None)
            .sign_into(b"x", far(), &mut [0; MAX_SIGNATURE_LEN])
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidKey);
        assert!(err.message().contains("not a"), "{err}");
    }
    assert_eq!(
        fixed(Algorithm::RS256, 384, None)
            .sign_into(b"x", far(), &mut [0; MAX_SIGNATURE_LEN])
            .unwrap(),
        384
    );
}

#[test]
fn public_keys_of_the_wrong_shape_are_refused() {
    let key = PrivateKey::from_pem(P256).unwrap();
    assert!(fixed(Algorithm::ES256, 64, Some(key.public_key().to_vec()))
        .validate()
        .is_ok());
    for (alg, public_key) in [
        (Algorithm::ES256, vec![4; 64]),
        (Algorithm::ES256, vec![3; 65]),
        (Algorithm::EdDSA, key.public_key().to_vec()),
        (Algorithm::RS256, key.public_key().to_vec()),
    ] {
        let err = fixed(alg, 64, Some(public_key)).validate().unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidKey);
        assert!(err.message().contains("not in the form"), "{err}");
    }
}

#[test]
fn a_signers_message_is_bounded_and_stripped_of_control_characters() {
    let err = SignerError::new(format!("a\nb{}", "é".repeat(400))).into_error(Algorithm::ES256);
    assert!(!err.message().contains('\n'));
    assert!(
        err.message().len() < MAX_SIGNER_DETAIL_LEN + 64,
        "{}",
        err.message().len()
    );
    let err = SignerError::transient("busy").into_error(Algorithm::ES256);
    assert!(err.is_transient());
    assert_eq!(err.kind(), crate::ErrorKind::InvalidKey);
}

#[test]
fn the_store_key_follows_the_signers_public_key_or_identity() {
    let key = || PrivateKey::from_pem(P256).unwrap();
    let store_key = |signing: SigningKey| {
        let auth = ClientAuth::PrivateKeyJwt {
            key: signing,
            options: crate::AssertionOptions::new(),
        };
        StoreKey::new("https://a/token", "CLIENTID0123456789AB", None, &auth)
    };
    let in_memory = store_key(SigningKey::from(key()));
    // The same public key through a signer: the same entry.
    let external = store_key(SigningKey::from(Arc::new(key()) as Arc<dyn AssertionSigner>));
    assert!(in_memory == external);
    let named = |id: &str| {
        store_key(SigningKey::signer(Fixed {
            alg: Algorithm::ES256,
            signature: Vec::new(),
            public_key: None,
            identity: Some(id.into()),
        }))
    };
    assert!(named("key-1") == named("key-1"));
    assert!(named("key-1") != named("key-2"));
    assert!(named("key-1") != in_memory);
}
