//! Private key loading and client assertions, through the public API only,
//! against the openssl-made fixtures in `tests/keys/` (see its README.md).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alpaca_auth::limits::{DEFAULT_ASSERTION_LIFETIME, MAX_ASSERTION_LEN};
use alpaca_auth::SecretString;
use alpaca_auth::{sign_assertion, AssertionOptions};
use alpaca_auth::{Algorithm, PrivateKey};
use alpaca_auth::{Error, ErrorKind};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use serde_json::Value;

const CLIENT_ID: &str = "CLIENTID0123456789AB";
const TOKEN_URL: &str = "https://authx.sandbox.alpaca.markets/v1/oauth2/token";

// ---------------------------------------------------------------------------
// helpers

use common::keys::{bytes as fixture, load, path as fixture_path, text as fixture_text};

fn load_err(bytes: &[u8]) -> Error {
    match PrivateKey::from_bytes(bytes) {
        Ok(key) => panic!("expected an error, got {key:?}"),
        Err(e) => e,
    }
}

/// Asserts an `InvalidKey` error whose message contains every `needle`.
fn assert_invalid_key(err: &Error, needles: &[&str]) {
    assert_eq!(err.kind(), ErrorKind::InvalidKey, "{err}");
    for needle in needles {
        assert!(
            err.message().contains(needle),
            "error {:?} should mention {needle:?}",
            err.message()
        );
    }
}

/// The DER inside the first PEM block of `text` (test-side decoder).
fn pem_der(text: &str) -> Vec<u8> {
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .filter(|l| !l.contains(':'))
        .collect();
    STANDARD.decode(body).unwrap()
}

/// A 20-character chunk from the middle of a PEM body, to look for in
/// output that must not contain key material.
fn body_chunk(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| !l.starts_with("-----") && l.len() >= 30)
        .unwrap();
    line.chars().skip(10).take(20).collect()
}

/// Reads one DER element: (tag, contents, rest).
fn der_element(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let (len, header) = match input[1] {
        n if n < 0x80 => (n as usize, 2),
        0x81 => (input[2] as usize, 3),
        0x82 => ((input[2] as usize) << 8 | input[3] as usize, 4),
        _ => panic!("unsupported length"),
    };
    (tag, &input[header..header + len], &input[header + len..])
}

/// The subjectPublicKey of a SubjectPublicKeyInfo, as ring verifies it.
fn spki_public_key(pem: &str) -> Vec<u8> {
    let der = pem_der(pem);
    let (tag, spki, _) = der_element(&der);
    assert_eq!(tag, 0x30);
    let (tag, _algorithm, rest) = der_element(spki);
    assert_eq!(tag, 0x30);
    let (tag, bits, _) = der_element(rest);
    assert_eq!(tag, 0x03);
    assert_eq!(bits[0], 0, "no unused bits");
    bits[1..].to_vec()
}

fn sign(key: &PrivateKey, options: &AssertionOptions) -> SecretString {
    sign_assertion(key, CLIENT_ID, TOKEN_URL, options).unwrap()
}

struct Parts {
    header: Value,
    claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

fn parts(assertion: &SecretString) -> Parts {
    let text = assertion.expose_secret();
    let pieces: Vec<&str> = text.split('.').collect();
    assert_eq!(pieces.len(), 3, "a JWS in compact form");
    for piece in &pieces {
        assert!(
            piece
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "base64url without padding"
        );
    }
    let json = |p: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    Parts {
        header: json(pieces[0]),
        claims: json(pieces[1]),
        signing_input: format!("{}.{}", pieces[0], pieces[1]),
        signature: URL_SAFE_NO_PAD.decode(pieces[2]).unwrap(),
    }
}

fn verifies(
    alg: &'static dyn VerificationAlgorithm,
    public_key: &[u8],
    assertion: &SecretString,
) -> bool {
    let p = parts(assertion);
    UnparsedPublicKey::new(alg, public_key)
        .verify(p.signing_input.as_bytes(), &p.signature)
        .is_ok()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A small deterministic generator for garbage inputs.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

// ---------------------------------------------------------------------------
// supported keys

#[test]
fn p256_pkcs8_sec1_and_der_forms_of_one_key_give_the_same_public_key() {
    let reference = load("p256-pkcs8.pem");
    assert_eq!(reference.algorithm(), Algorithm::ES256);
    assert_eq!(reference.public_key().len(), 65);
    assert_eq!(reference.public_key()[0], 0x04, "uncompressed point");
    let others = [
        load("p256-sec1.pem"),
        load("p256-sec1-with-params.pem"),
        load("p256-pkcs8.der"),
        load("p256-sec1.der"),
        PrivateKey::from_pem(&fixture_text("p256-sec1.pem")).unwrap(),
        PrivateKey::from_der(&fixture("p256-pkcs8.der")).unwrap(),
        PrivateKey::from_der(&fixture("p256-sec1.der")).unwrap(),
        PrivateKey::from_bytes(&fixture("p256-sec1-with-params.pem")).unwrap(),
    ];
    for key in &others {
        assert_eq!(key.algorithm(), Algorithm::ES256);
        assert_eq!(key.public_key(), reference.public_key());
    }
}

#[test]
fn p256_public_key_matches_the_fixture_public_key() {
    let public = spki_public_key(&fixture_text("p256-public.pem"));
    assert_eq!(load("p256-sec1.pem").public_key(), public.as_slice());
}

#[test]
fn es256_assertion_verifies_with_the_fixture_public_key() {
    let public = spki_public_key(&fixture_text("p256-public.pem"));
    for name in [
        "p256-pkcs8.pem",
        "p256-sec1.pem",
        "p256-sec1-with-params.pem",
    ] {
        let a = sign(&load(name), &AssertionOptions::new());
        assert_eq!(parts(&a).signature.len(), 64, "R || S");
        assert!(
            verifies(&signature::ECDSA_P256_SHA256_FIXED, &public, &a),
            "{name}"
        );
        assert!(!verifies(&signature::ECDSA_P256_SHA256_ASN1, &public, &a));
    }
}

#[test]
fn rsa_pkcs8_and_pkcs1_forms_of_one_key_give_the_same_public_key() {
    let spki = spki_public_key(&fixture_text("rsa2048-public.pem"));
    let pkcs1_public = pem_der(&fixture_text("rsa2048-public-pkcs1.pem"));
    assert_eq!(spki, pkcs1_public);
    for name in [
        "rsa2048-pkcs8.pem",
        "rsa2048-pkcs1.pem",
        "rsa2048-pkcs1.der",
    ] {
        let key = load(name);
        assert_eq!(key.algorithm(), Algorithm::RS256, "{name}");
        assert_eq!(key.public_key(), spki.as_slice(), "{name}");
    }
}

#[test]
fn rs256_assertion_verifies_with_the_fixture_public_key() {
    let public = spki_public_key(&fixture_text("rsa2048-public.pem"));
    let a = sign(&load("rsa2048-pkcs1.pem"), &AssertionOptions::new());
    assert_eq!(parts(&a).header["alg"], "RS256");
    assert_eq!(parts(&a).signature.len(), 256);
    assert!(verifies(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        &public,
        &a
    ));
    assert!(!verifies(&signature::RSA_PSS_2048_8192_SHA256, &public, &a));
}

#[test]
fn ps256_assertion_verifies_with_rsa_pss() {
    let public = spki_public_key(&fixture_text("rsa2048-public.pem"));
    let key = load("rsa2048-pkcs8.pem")
        .with_algorithm(Algorithm::PS256)
        .unwrap();
    assert_eq!(key.algorithm(), Algorithm::PS256);
    let a = sign(&key, &AssertionOptions::new());
    assert_eq!(parts(&a).header["alg"], "PS256");
    assert!(verifies(&signature::RSA_PSS_2048_8192_SHA256, &public, &a));
    assert!(!verifies(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        &public,
        &a
    ));
    // And back.
    let key = key.with_algorithm(Algorithm::RS256).unwrap();
    let a = sign(&key, &AssertionOptions::new());
    assert!(verifies(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        &public,
        &a
    ));
}

#[test]
fn rsassa_pss_key_signs_ps256_and_refuses_rs256() {
    let key = load("rsa-pss2048-pkcs8.pem");
    assert_eq!(key.algorithm(), Algorithm::PS256);
    let a = sign(&key, &AssertionOptions::new());
    assert!(verifies(
        &signature::RSA_PSS_2048_8192_SHA256,
        key.public_key(),
        &a
    ));
    let err = key.with_algorithm(Algorithm::RS256).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("PSS"));
}

#[test]
fn eddsa_assertion_verifies_with_the_fixture_public_key() {
    let public = spki_public_key(&fixture_text("ed25519-public.pem"));
    let key = load("ed25519-pkcs8.pem");
    assert_eq!(key.algorithm(), Algorithm::EdDSA);
    assert_eq!(key.public_key(), public.as_slice());
    let a = sign(&key, &AssertionOptions::new());
    assert_eq!(parts(&a).header["alg"], "EdDSA");
    assert!(verifies(&signature::ED25519, &public, &a));
}

const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn ed25519_rfc8032_key_loads_from_pkcs8_v1_and_v2() {
    let mut v1 = hex("302e020100300506032b657004220420");
    v1.extend(hex(RFC8032_SEED));
    let mut v2 = hex("3051020101300506032b657004220420");
    v2.extend(hex(RFC8032_SEED));
    v2.extend(hex("812100"));
    v2.extend(hex(RFC8032_PUBLIC));
    for der in [v1, v2] {
        let key = PrivateKey::from_der(&der).unwrap();
        assert_eq!(key.public_key(), hex(RFC8032_PUBLIC).as_slice());
        let a = sign(&key, &AssertionOptions::new());
        assert!(verifies(&signature::ED25519, &hex(RFC8032_PUBLIC), &a));
    }
    // A v2 whose public key does not belong to the seed is refused.
    let mut wrong = hex("3051020101300506032b657004220420");
    wrong.extend(hex(RFC8032_SEED));
    wrong.extend(hex("812100"));
    wrong.extend([7u8; 32]);
    assert_invalid_key(&load_err(&wrong), &["Ed25519"]);
}

#[test]
fn with_algorithm_switches_only_rsa_between_rs256_and_ps256() {
    let ec = load("p256-pkcs8.pem");
    let err = ec.with_algorithm(Algorithm::RS256).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("P-256") && err.message().contains("RS256"));
    let ed = load("ed25519-pkcs8.pem");
    assert_eq!(
        ed.with_algorithm(Algorithm::ES256).unwrap_err().kind(),
        ErrorKind::Config
    );
    let rsa = load("rsa2048-pkcs8.pem");
    assert_eq!(
        rsa.with_algorithm(Algorithm::EdDSA).unwrap_err().kind(),
        ErrorKind::Config
    );
    let same = load("p256-pkcs8.pem")
        .with_algorithm(Algorithm::ES256)
        .unwrap();
    assert_eq!(same.algorithm(), Algorithm::ES256);
}

#[test]
fn algorithm_names_round_trip_and_are_case_sensitive() {
    for alg in [
        Algorithm::ES256,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::EdDSA,
    ] {
        assert_eq!(alg.as_str().parse::<Algorithm>().unwrap(), alg);
    }
    for bad in ["es256", "EDDSA", "HS256", "none", ""] {
        let err = bad.parse::<Algorithm>().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
        assert!(err.message().contains("ES256, RS256, PS256, EdDSA"));
    }
}

#[test]
fn pem_with_escaped_newlines_or_without_headers_loads() {
    let pem = fixture_text("p256-pkcs8.pem");
    let reference = PrivateKey::from_pem(&pem).unwrap();
    let escaped = pem.trim_end().replace('\n', "\\n");
    assert!(!escaped.contains('\n'));
    let key = PrivateKey::from_pem(&escaped).unwrap();
    assert_eq!(key.public_key(), reference.public_key());
    let crlf = pem.replace('\n', "\r\n");
    assert_eq!(
        PrivateKey::from_pem(&crlf).unwrap().public_key(),
        reference.public_key()
    );
    let bare = STANDARD.encode(pem_der(&pem));
    assert_eq!(
        PrivateKey::from_pem(&bare).unwrap().public_key(),
        reference.public_key()
    );
    let one_line = pem.replace('\n', " ");
    assert_eq!(
        PrivateKey::from_bytes(one_line.as_bytes())
            .unwrap()
            .public_key(),
        reference.public_key()
    );
}

#[test]
fn certificate_before_the_key_in_one_file_is_skipped() {
    let bundle = format!(
        "subject=CN = alpaca-auth-test\n{}{}",
        fixture_text("certificate.pem"),
        fixture_text("p256-sec1.pem")
    );
    let key = PrivateKey::from_pem(&bundle).unwrap();
    assert_eq!(key.public_key(), load("p256-pkcs8.pem").public_key());
}

// ---------------------------------------------------------------------------
// refused inputs

#[test]
fn encrypted_pkcs8_is_refused_with_the_decrypt_command() {
    let pem = fixture("encrypted-pkcs8.pem");
    assert_invalid_key(&load_err(&pem), &["encrypted", "openssl pkcs8 -in key.pem"]);
    let der = pem_der(&fixture_text("encrypted-pkcs8.pem"));
    assert_invalid_key(&load_err(&der), &["encrypted", "openssl pkcs8"]);
}

#[test]
fn legacy_encrypted_pem_is_refused_with_the_decrypt_command() {
    let pem = fixture_text("rsa2048-legacy-encrypted.pem");
    assert!(pem.contains("Proc-Type: 4,ENCRYPTED"));
    assert_invalid_key(
        &load_err(pem.as_bytes()),
        &["encrypted", "openssl rsa -in key.pem"],
    );
    // The same headers on an EC key name `openssl ec`.
    let ec = fixture_text("p256-sec1.pem").replacen(
        "-----\n",
        "-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n",
        1,
    );
    assert_invalid_key(
        &load_err(ec.as_bytes()),
        &["encrypted", "openssl ec -in key.pem"],
    );
}

#[test]
fn public_keys_are_refused_as_public_keys() {
    for name in [
        "p256-public.pem",
        "rsa2048-public.pem",
        "rsa2048-public-pkcs1.pem",
        "ed25519-public.pem",
    ] {
        assert_invalid_key(
            &load_err(&fixture(name)),
            &["public key", "not a private key"],
        );
        let der = pem_der(&fixture_text(name));
        assert_invalid_key(&load_err(&der), &["public key"]);
    }
}

#[test]
fn certificate_is_refused_as_a_certificate() {
    assert_invalid_key(&load_err(&fixture("certificate.pem")), &["certificate"]);
    let der = pem_der(&fixture_text("certificate.pem"));
    assert_invalid_key(&load_err(&der), &["certificate"]);
}

#[test]
fn p384_key_is_refused_naming_its_curve() {
    let err = load_err(&fixture("p384-pkcs8.pem"));
    assert_invalid_key(&err, &["P-384", "1.3.132.0.34", "only P-256"]);
}

#[test]
fn secp256k1_key_is_refused_naming_its_curve() {
    let err = load_err(&fixture("secp256k1-sec1.pem"));
    assert_invalid_key(&err, &["secp256k1", "only P-256"]);
}

#[test]
fn rsa_1024_key_is_refused_with_its_size() {
    let err = load_err(&fixture("rsa1024-pkcs8.pem"));
    assert_invalid_key(&err, &["1024 bits", "at least 2048"]);
}

#[test]
fn sec1_key_without_public_key_is_refused_with_the_fix() {
    let err = load_err(&fixture("p256-sec1-no-public.pem"));
    assert_invalid_key(&err, &["public key", "openssl ec -in key.pem"]);
}

#[test]
fn empty_input_is_refused_as_empty() {
    for empty in [&b""[..], b"   \n\t", b"\xEF\xBB\xBF"] {
        assert_invalid_key(&load_err(empty), &["empty"]);
    }
    assert_invalid_key(&PrivateKey::from_pem("").unwrap_err(), &["empty"]);
    assert_invalid_key(&PrivateKey::from_der(&[]).unwrap_err(), &["empty"]);
    let empty_block = "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n";
    assert_invalid_key(&load_err(empty_block.as_bytes()), &["empty"]);
}

#[test]
fn unknown_pem_label_is_refused_naming_the_label() {
    let pem = fixture_text("p256-pkcs8.pem").replace("PRIVATE KEY", "SECRET THING");
    assert_invalid_key(
        &load_err(pem.as_bytes()),
        &["SECRET THING", "not a supported private key"],
    );
    let ssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
    assert_invalid_key(&load_err(ssh.as_bytes()), &["OpenSSH"]);
    let params = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n";
    assert_invalid_key(
        &load_err(params.as_bytes()),
        &["EC PARAMETERS", "no private key"],
    );
}

#[test]
fn text_that_is_not_pem_is_refused() {
    let err = load_err(b"this is not a key, just a sentence.");
    assert_invalid_key(&err, &["neither PEM", "-----BEGIN"]);
}

#[test]
fn truncated_pem_is_refused_as_truncated() {
    let pem = fixture_text("rsa2048-pkcs8.pem");
    // The END line is missing.
    let cut = &pem[..pem.len() / 2];
    assert_invalid_key(&load_err(cut.as_bytes()), &["truncated"]);
    // Body lines are missing but the END line is present.
    let lines: Vec<&str> = pem.lines().collect();
    let shortened = [&lines[..5], &lines[lines.len() - 1..]].concat().join("\n");
    assert_invalid_key(&load_err(shortened.as_bytes()), &["truncated"]);
}

#[test]
fn corrupt_base64_is_refused_as_corrupt() {
    let pem = fixture_text("p256-pkcs8.pem");
    let corrupt = pem.replacen("MI", "M*", 1);
    assert_invalid_key(&load_err(corrupt.as_bytes()), &["corrupt", "base64"]);
}

#[test]
fn corrupt_der_is_refused_as_corrupt() {
    let mut der = fixture("p256-pkcs8.der");
    der.push(0); // trailing data
    assert_invalid_key(&load_err(&der), &["corrupt"]);
    let mut der = fixture("p256-pkcs8.der");
    der[1] = 0x80; // indefinite length
    assert_invalid_key(&load_err(&der), &["corrupt"]);
}

#[test]
fn der_of_an_unknown_structure_is_refused() {
    // SEQUENCE { BOOLEAN TRUE }
    let err = load_err(&[0x30, 0x03, 0x01, 0x01, 0xFF]);
    assert_invalid_key(&err, &["not a known key structure"]);
    // SEQUENCE { INTEGER 0, NULL }
    let err = load_err(&[0x30, 0x05, 0x02, 0x01, 0x00, 0x05, 0x00]);
    assert_invalid_key(&err, &["not a known key structure"]);
    // PKCS#8 with an unknown algorithm OID 1.2.3.4.
    let err = load_err(&[
        0x30, 0x0F, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2A, 0x03, 0x04, 0x04, 0x03, 1, 2, 3,
    ]);
    assert_invalid_key(&err, &["unknown OID", "not supported"]);
}

#[test]
fn every_prefix_of_a_valid_fixture_is_refused_without_panic() {
    for name in [
        "p256-pkcs8.pem",
        "p256-sec1-with-params.pem",
        "ed25519-pkcs8.pem",
        "rsa2048-pkcs1.pem",
    ] {
        let bytes = fixture(name);
        let text = String::from_utf8(bytes.clone()).unwrap();
        let end_line = text.rfind("-----END").unwrap();
        let complete = end_line + text[end_line..].find("KEY-----").unwrap() + "KEY-----".len();
        for n in 0..bytes.len() {
            let result = PrivateKey::from_bytes(&bytes[..n]);
            if n < complete {
                let err = result.expect_err(name);
                assert_eq!(err.kind(), ErrorKind::InvalidKey);
            } else {
                assert!(result.is_ok(), "{name} up to {n}");
            }
        }
    }
    for name in ["p256-pkcs8.der", "p256-sec1.der", "rsa2048-pkcs1.der"] {
        let bytes = fixture(name);
        for n in 0..bytes.len() {
            let err = PrivateKey::from_der(&bytes[..n]).expect_err(name);
            assert_eq!(err.kind(), ErrorKind::InvalidKey);
        }
    }
}

#[test]
fn random_garbage_and_corrupted_fixtures_never_panic() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for i in 0..3000 {
        let len = (rng.next() % 300) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if i % 2 == 0 && !bytes.is_empty() {
            bytes[0] = 0x30;
        }
        let _ = PrivateKey::from_bytes(&bytes);
        let _ = PrivateKey::from_der(&bytes);
        let text: String = bytes.iter().map(|&b| (b % 95 + 32) as char).collect();
        let _ = PrivateKey::from_pem(&format!(
            "-----BEGIN PRIVATE KEY-----\n{text}\n-----END PRIVATE KEY-----\n"
        ));
    }
    // Every byte of the EC fixtures changed, and a sample of the RSA one.
    for name in ["p256-pkcs8.der", "p256-sec1.der"] {
        let der = fixture(name);
        for i in 0..der.len() {
            for flip in [0x01, 0x80, 0xFF] {
                let mut changed = der.clone();
                changed[i] ^= flip;
                let _ = PrivateKey::from_der(&changed);
            }
        }
    }
    let rsa = fixture("rsa2048-pkcs1.der");
    for i in (0..rsa.len()).step_by(7).chain(0..16) {
        let mut changed = rsa.clone();
        changed[i] ^= 0x80;
        let _ = PrivateKey::from_der(&changed);
    }
    let pem = fixture("p256-sec1-with-params.pem");
    for i in 0..pem.len() {
        let mut changed = pem.clone();
        changed[i] = b'-';
        let _ = PrivateKey::from_bytes(&changed);
    }
}

#[test]
fn no_key_material_appears_in_debug_or_error_output() {
    for name in ["p256-pkcs8.pem", "rsa2048-pkcs1.pem", "ed25519-pkcs8.pem"] {
        let pem = fixture_text(name);
        let chunk = body_chunk(&pem);
        assert_eq!(chunk.len(), 20);
        let key = load(name);
        let debug = format!("{key:?}");
        assert!(debug.contains(key.algorithm().as_str()) && debug.contains("[redacted]"));
        assert!(!debug.contains(&chunk), "Debug of {name} leaks key text");

        // Errors made from damaged copies of the key.
        let lines: Vec<&str> = pem.lines().collect();
        let damaged = [
            pem.replacen("-----END", "-----ENX", 1),
            pem.replacen(&chunk, &format!("{}*", &chunk[1..]), 1),
            format!(
                "{}\n{}\n{}",
                lines[0],
                &lines[1][..32],
                lines[lines.len() - 1]
            ),
            pem.replace("PRIVATE KEY", "PUBLIC KEY"),
        ];
        for text in &damaged {
            let err = load_err(text.as_bytes());
            for output in [err.to_string(), format!("{err:?}")] {
                assert!(!output.contains(&chunk), "error for {name} leaks key text");
                assert!(!output.contains("MI"), "error for {name} leaks base64");
            }
        }
    }
    let a = sign(&load("p256-pkcs8.pem"), &AssertionOptions::new());
    assert_eq!(format!("{a:?}"), "[redacted]");
}

#[test]
fn file_errors_name_the_path_and_never_the_contents() {
    let missing = fixture_path("no-such-key.pem");
    let err = PrivateKey::from_file(&missing).unwrap_err();
    assert_invalid_key(&err, &["no-such-key.pem", "cannot read"]);
    let err = PrivateKey::from_file(fixture_path("certificate.pem")).unwrap_err();
    assert_invalid_key(&err, &["certificate.pem", "certificate"]);
    assert!(!err
        .to_string()
        .contains(&body_chunk(&fixture_text("certificate.pem"))));
}

// ---------------------------------------------------------------------------
// assertions

#[test]
fn header_has_alg_and_typ_and_no_kid_by_default() {
    let a = sign(&load("p256-pkcs8.pem"), &AssertionOptions::new());
    let header = parts(&a).header;
    assert_eq!(header, serde_json::json!({"alg": "ES256", "typ": "JWT"}));
    assert!(header.get("kid").is_none());
}

#[test]
fn header_has_kid_only_when_set_and_typ_can_be_omitted() {
    let key = load("p256-pkcs8.pem");
    let a = sign(&key, &AssertionOptions::new().kid("key-2024"));
    assert_eq!(
        parts(&a).header,
        serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": "key-2024"})
    );
    let a = sign(&key, &AssertionOptions::new().typ(None));
    assert_eq!(parts(&a).header, serde_json::json!({"alg": "ES256"}));
}

#[test]
fn claims_are_client_id_token_url_now_and_lifetime() {
    let key = load("p256-pkcs8.pem");
    let before = unix_now();
    let a = sign(&key, &AssertionOptions::new());
    let after = unix_now();
    let claims = parts(&a).claims;
    let object = claims.as_object().unwrap();
    let mut names: Vec<&str> = object.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["aud", "exp", "iat", "iss", "jti", "sub"]);
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["sub"], CLIENT_ID);
    assert_eq!(claims["aud"], TOKEN_URL);
    let iat = claims["iat"].as_u64().unwrap();
    assert!(before <= iat && iat <= after);
    assert_eq!(
        claims["exp"].as_u64().unwrap(),
        iat + DEFAULT_ASSERTION_LIFETIME.as_secs()
    );
    let jti = claims["jti"].as_str().unwrap();
    assert_eq!(
        URL_SAFE_NO_PAD.decode(jti).unwrap().len(),
        16,
        "128-bit jti"
    );
}

#[test]
fn audience_and_lifetime_options_change_the_claims() {
    let key = load("ed25519-pkcs8.pem");
    let options = AssertionOptions::new()
        .audience("https://example.test/token")
        .lifetime(Duration::from_secs(120));
    let claims = parts(&sign(&key, &options)).claims;
    assert_eq!(claims["aud"], "https://example.test/token");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        120
    );
    let err = sign_assertion(
        &key,
        CLIENT_ID,
        TOKEN_URL,
        &AssertionOptions::new().lifetime(Duration::from_secs(301)),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[test]
fn two_assertions_carry_different_jti_and_signatures() {
    let key = load("rsa2048-pkcs1.pem");
    let a = parts(&sign(&key, &AssertionOptions::new()));
    let b = parts(&sign(&key, &AssertionOptions::new()));
    assert_ne!(a.claims["jti"], b.claims["jti"]);
    assert_ne!(a.signature, b.signature);
}

#[test]
fn assertion_fits_alpacas_length_limit() {
    let a = sign(&load("rsa2048-pkcs8.pem"), &AssertionOptions::new());
    assert!(a.len() <= MAX_ASSERTION_LEN);
    let huge = "x".repeat(MAX_ASSERTION_LEN);
    let err = sign_assertion(
        &load("p256-pkcs8.pem"),
        CLIENT_ID,
        TOKEN_URL,
        &AssertionOptions::new().audience(huge),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("16384"));
}

// ---------------------------------------------------------------------------
// the mock authorization server's verifier

#[cfg(feature = "mock")]
mod mock_verifier {
    use super::*;
    use alpaca_auth::mock::jwt::{verify_assertion, Expectation, RegisteredKey, Rejection};
    use std::collections::HashSet;

    fn expectation(now_unix: u64) -> Expectation<'static> {
        Expectation::new(CLIENT_ID, TOKEN_URL, now_unix)
    }

    fn registered(key: &PrivateKey) -> RegisteredKey {
        RegisteredKey::new(key.algorithm(), key.public_key())
    }

    /// Verifies `a` against `key` as registered, with a fresh replay set.
    fn verify_as(
        a: &SecretString,
        key: &RegisteredKey,
        expect: &Expectation,
    ) -> Result<(), Rejection> {
        verify_assertion(a.expose_secret(), key, expect, &mut HashSet::new())
    }

    fn verify(a: &SecretString, key: &PrivateKey, now_unix: u64) -> Result<(), Rejection> {
        verify_as(a, &registered(key), &expectation(now_unix))
    }

    /// Asserts that `a`, checked at `now_unix`, is refused with `code` and
    /// a description containing `needle`.
    fn assert_refused(a: &SecretString, key: &PrivateKey, now_unix: u64, code: &str, needle: &str) {
        let err = verify(a, key, now_unix).unwrap_err();
        assert_eq!(err.code(), code, "{}", err.description());
        assert!(err.description().contains(needle), "{}", err.description());
    }

    #[test]
    fn fresh_assertions_of_every_algorithm_are_accepted() {
        let keys = [
            load("p256-sec1.pem"),
            load("rsa2048-pkcs1.pem"),
            load("rsa2048-pkcs8.pem")
                .with_algorithm(Algorithm::PS256)
                .unwrap(),
            load("ed25519-pkcs8.pem"),
        ];
        let algs: Vec<Algorithm> = keys.iter().map(PrivateKey::algorithm).collect();
        assert_eq!(
            algs,
            [
                Algorithm::ES256,
                Algorithm::RS256,
                Algorithm::PS256,
                Algorithm::EdDSA
            ]
        );
        for key in &keys {
            let a = sign(key, &AssertionOptions::new());
            verify(&a, key, unix_now()).unwrap();
        }
    }

    #[test]
    fn replayed_assertion_is_refused_with_jti_known() {
        let key = load("p256-pkcs8.pem");
        let a = sign(&key, &AssertionOptions::new());
        let mut seen = HashSet::new();
        let now = unix_now();
        verify_assertion(
            a.expose_secret(),
            &registered(&key),
            &expectation(now),
            &mut seen,
        )
        .unwrap();
        let err = verify_assertion(
            a.expose_secret(),
            &registered(&key),
            &expectation(now),
            &mut seen,
        )
        .unwrap_err();
        assert_eq!(err.code(), "jti_known");
        // A new assertion from the same key is fine.
        let b = sign(&key, &AssertionOptions::new());
        verify_assertion(
            b.expose_secret(),
            &registered(&key),
            &expectation(now),
            &mut seen,
        )
        .unwrap();
    }

    #[test]
    fn tampered_signature_is_refused_with_token_signature_mismatch() {
        let key = load("p256-pkcs8.pem");
        let a = sign(&key, &AssertionOptions::new());
        let (input, sig) = a.expose_secret().rsplit_once('.').unwrap();
        let first = if sig.starts_with('A') { 'B' } else { 'A' };
        let tampered = SecretString::new(format!("{input}.{first}{}", &sig[1..]));
        assert_eq!(
            verify(&tampered, &key, unix_now()).unwrap_err().code(),
            "token_signature_mismatch"
        );
        // A signature by another key of the same kind.
        let other = load("ed25519-pkcs8.pem");
        let mut flipped = other.public_key().to_vec();
        flipped[0] ^= 1;
        let other_pub = RegisteredKey::new(other.algorithm(), flipped);
        let b = sign(&other, &AssertionOptions::new());
        let err = verify_as(&b, &other_pub, &expectation(unix_now())).unwrap_err();
        assert_eq!(err.code(), "token_signature_mismatch");
    }

    #[test]
    fn wrong_audience_is_refused_with_invalid_grant() {
        let key = load("p256-pkcs8.pem");
        let a = sign(
            &key,
            &AssertionOptions::new().audience("https://authx.alpaca.markets/v1/oauth2/token"),
        );
        assert_refused(&a, &key, unix_now(), "invalid_grant", "aud");
    }

    #[test]
    fn expired_assertion_is_refused_with_invalid_grant() {
        let key = load("p256-pkcs8.pem");
        let a = sign(
            &key,
            &AssertionOptions::new().lifetime(Duration::from_secs(30)),
        );
        assert_refused(&a, &key, unix_now() + 31, "invalid_grant", "expired");
    }

    #[test]
    fn lifetime_over_300_s_is_refused_with_invalid_grant() {
        let key = load("p256-pkcs8.pem");
        let a = sign(
            &key,
            &AssertionOptions::new()
                .lifetime(Duration::from_secs(600))
                .allow_long_lifetime(true),
        );
        assert_refused(&a, &key, unix_now(), "invalid_grant", "300 s");
    }

    #[test]
    fn wrong_issuer_is_refused_with_invalid_client() {
        let key = load("p256-pkcs8.pem");
        let a = sign_assertion(
            &key,
            "OTHERCLIENT0123456789",
            TOKEN_URL,
            &AssertionOptions::new(),
        )
        .unwrap();
        assert_refused(&a, &key, unix_now(), "invalid_client", "iss");
    }

    #[test]
    fn kid_is_refused_with_invalid_request_unless_allowed() {
        let key = load("p256-pkcs8.pem");
        let a = sign(&key, &AssertionOptions::new().kid("key-1"));
        assert_refused(&a, &key, unix_now(), "invalid_request", "kid");
        let expect = expectation(unix_now()).allowed_kid(Some("key-1"));
        verify_as(&a, &registered(&key), &expect).unwrap();
    }

    #[test]
    fn key_of_another_algorithm_is_refused() {
        let key = load("rsa2048-pkcs8.pem");
        let a = sign(&key, &AssertionOptions::new());
        let reg = RegisteredKey::new(Algorithm::PS256, key.public_key());
        let err = verify_as(&a, &reg, &expectation(unix_now())).unwrap_err();
        assert_eq!(err.code(), "invalid_client");
        assert!(err.description().contains("RS256"));
    }
}
