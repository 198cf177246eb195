//! The key fixtures of `tests/keys/` (made with openssl, see its
//! README.md), PEM armour, and decoding the parts of a JWT. Needs no mock
//! server (tests built without the `mock` feature include this file by
//! `#[path]`).
#![allow(dead_code)]

use std::path::PathBuf;

use alpaca_auth::PrivateKey;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

/// The path of fixture `name` (`p256-pkcs8.pem`).
pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(name)
}

/// The path of fixture `name` as a string (for environment variables).
pub fn path_text(name: &str) -> String {
    path(name).display().to_string()
}

/// The bytes of fixture `name`.
pub fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// The text of fixture `name`.
pub fn text(name: &str) -> String {
    String::from_utf8(bytes(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Fixture `name`, loaded.
pub fn load(name: &str) -> PrivateKey {
    PrivateKey::from_file(path(name)).unwrap_or_else(|e| panic!("fixture {name} should load: {e}"))
}

/// PEM armour of DER bytes: `label` lines around base64 in 64-column lines.
pub fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

/// The bytes of part `index` of a compact JWT (0 the header, 1 the
/// claims, 2 the signature).
pub fn jwt_part_bytes(jwt: &str, index: usize) -> Vec<u8> {
    let part = jwt.split('.').nth(index).expect("a JWT part");
    URL_SAFE_NO_PAD.decode(part).expect("base64url")
}

/// Part `index` of a compact JWT, decoded as JSON.
pub fn jwt_part(jwt: &str, index: usize) -> serde_json::Value {
    serde_json::from_slice(&jwt_part_bytes(jwt, index)).expect("JSON")
}

/// The header of a compact JWT.
pub fn jwt_header(jwt: &str) -> serde_json::Value {
    jwt_part(jwt, 0)
}

/// The claims of a compact JWT.
pub fn jwt_claims(jwt: &str) -> serde_json::Value {
    jwt_part(jwt, 1)
}
