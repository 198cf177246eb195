//! Verification of client assertions (RFC 7523 `private_key_jwt`) by the
//! mock authorization server, with the OAuth error codes Alpaca answers.
//!
//! Checks, in order: the JWS compact form; the header (`alg` equal to the
//! registered key's algorithm, no `kid` unless allowed, the required `typ`
//! if any, no `crit`); the signature; `iss` = `sub` = client ID; exactly one
//! `aud`; `exp` (by the server's own clock, at most 300 s ahead), `iat`
//! (required, at most 60 s ahead), `nbf` and the lifetime; `jti` and replay.

use std::collections::HashSet;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use serde_json::{Map, Value};

use crate::key::{Algorithm, PrivateKey};
use crate::limits::{MAX_ASSERTION_LEN, MAX_ASSERTION_LIFETIME};

/// How far in the future `iat` and `nbf` may be, for clock skew, in seconds.
pub const CLOCK_SKEW_SECS: u64 = 60;

/// What a registered client's key is.
#[derive(Clone, Debug)]
pub struct RegisteredKey {
    algorithm: Algorithm,
    public_key: Vec<u8>,
}

impl RegisteredKey {
    /// A registration of `public_key` for `algorithm`: the key as ring reads
    /// it, the uncompressed point for ES256, the PKCS#1 `RSAPublicKey` DER
    /// for RS256/PS256, 32 bytes for EdDSA.
    pub fn new(algorithm: Algorithm, public_key: impl Into<Vec<u8>>) -> Self {
        RegisteredKey {
            algorithm,
            public_key: public_key.into(),
        }
    }

    /// The registration of the public half of `key`, with its algorithm.
    pub fn from_private_key(key: &PrivateKey) -> Self {
        Self::new(key.algorithm(), key.public_key())
    }

    /// The algorithm the client must sign with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The public key, as given to [`new`](Self::new).
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }
}

/// What the mock expects of an assertion.
#[derive(Clone, Copy, Debug)]
pub struct Expectation<'a> {
    client_id: &'a str,
    audience: &'a str,
    now_unix: u64,
    allowed_kid: Option<&'a str>,
    required_typ: Option<&'a str>,
}

impl<'a> Expectation<'a> {
    /// An assertion from `client_id` (which `iss` and `sub` must equal) for
    /// `audience` (the token endpoint URL, which `aud` must name), checked
    /// at `now_unix` (seconds since the Unix epoch); no `kid` accepted, any
    /// `typ`.
    pub fn new(client_id: &'a str, audience: &'a str, now_unix: u64) -> Self {
        Expectation {
            client_id,
            audience,
            now_unix,
            allowed_kid: None,
            required_typ: None,
        }
    }

    /// The only `kid` header accepted; with `None` (the default) any `kid`
    /// is refused.
    pub fn allowed_kid(mut self, kid: Option<&'a str>) -> Self {
        self.allowed_kid = kid;
        self
    }

    /// The `typ` header required (compared as a media type: ASCII case
    /// ignored, an `application/` prefix allowed); `None` (the default)
    /// accepts any.
    pub fn required_typ(mut self, typ: Option<&'a str>) -> Self {
        self.required_typ = typ;
        self
    }
}

/// Why the mock refused an assertion: the OAuth error code and a
/// description, as Alpaca would answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    code: &'static str,
    description: String,
}

impl Rejection {
    /// The OAuth error code (`invalid_request`, `invalid_client`,
    /// `invalid_grant`, `token_signature_mismatch`, `jti_known`).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// A human-readable description (never the assertion itself).
    pub fn description(&self) -> &str {
        &self.description
    }

    fn new(code: &'static str, description: impl Into<String>) -> Self {
        Rejection {
            code,
            description: description.into(),
        }
    }

    fn request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    fn client(description: impl Into<String>) -> Self {
        Self::new("invalid_client", description)
    }

    fn grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for Rejection {}

/// Verifies the signature and claims of a client assertion; `seen_jti` is
/// the replay cache, to which the `jti` is added when the assertion is
/// accepted. The checks run in the order of the module documentation; the
/// first that fails gives the rejection.
pub fn verify_assertion(
    assertion: &str,
    key: &RegisteredKey,
    expect: &Expectation<'_>,
    seen_jti: &mut HashSet<String>,
) -> Result<(), Rejection> {
    let jws = split_compact(assertion)?;
    check_header(&decode_object(jws.header, "header")?, key, expect)?;
    // The signature before trusting any claim.
    check_signature(jws.signing_input, jws.signature, key)?;
    let claims = decode_object(jws.claims, "claims")?;
    check_identity(&claims, expect)?;
    check_times(&claims, expect.now_unix)?;
    check_jti(&claims, seen_jti)
}

/// A JWS in compact form: its three base64url parts, and the signed part.
struct Compact<'a> {
    header: &'a str,
    claims: &'a str,
    signature: &'a str,
    /// `header.claims`, what the signature covers.
    signing_input: &'a [u8],
}

/// The parts of a JWS in compact form.
fn split_compact(assertion: &str) -> Result<Compact<'_>, Rejection> {
    if assertion.is_empty() {
        return Err(Rejection::request("client_assertion is empty"));
    }
    if assertion.len() > MAX_ASSERTION_LEN {
        return Err(Rejection::request(format!(
            "client_assertion is longer than {MAX_ASSERTION_LEN} characters"
        )));
    }
    let mut parts = assertion.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::request(
            "client_assertion is not a JWT: expected three base64url parts separated by '.'",
        ));
    };
    let signing_input = assertion
        .as_bytes()
        .get(..header.len() + 1 + claims.len())
        .ok_or_else(|| Rejection::request("client_assertion is malformed"))?;
    Ok(Compact {
        header,
        claims,
        signature,
        signing_input,
    })
}

/// The header: `alg` that of the registered key, no `kid` unless allowed,
/// the required `typ` if any, no `crit`.
fn check_header(
    header: &Map<String, Value>,
    key: &RegisteredKey,
    expect: &Expectation<'_>,
) -> Result<(), Rejection> {
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg.as_str(),
        Some(_) => return Err(Rejection::request("the JWT header's alg is not a string")),
        None => return Err(Rejection::request("the JWT header has no alg")),
    };
    // An Ed25519 key verifies under either of its names (RFC 9864).
    let same = alg == key.algorithm.as_str()
        || (key.algorithm.is_ed25519() && matches!(alg, "EdDSA" | "Ed25519"));
    if !same {
        return Err(Rejection::client(format!(
            "the JWT is signed with alg {}, but the client's registered key uses {}",
            quote(alg),
            key.algorithm.as_str()
        )));
    }
    if let Some(kid) = header.get("kid") {
        let accepted = match (kid, expect.allowed_kid) {
            (Value::String(kid), Some(allowed)) => kid == allowed,
            _ => false,
        };
        if !accepted {
            return Err(Rejection::request(match (kid, expect.allowed_kid) {
                (Value::String(kid), Some(_)) => {
                    format!("unknown kid {} in the JWT header", quote(kid))
                }
                _ => "the JWT header carries a kid, which this server does not accept".to_owned(),
            }));
        }
    }
    if let Some(required) = expect.required_typ {
        let ok = match header.get("typ") {
            Some(Value::String(typ)) => {
                let typ = match typ.get(..12) {
                    Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
                    _ => typ.as_str(),
                };
                typ.eq_ignore_ascii_case(required)
            }
            _ => false,
        };
        if !ok {
            return Err(Rejection::client(format!(
                "the JWT header's typ must be {}",
                quote(required)
            )));
        }
    }
    if header.contains_key("crit") {
        return Err(Rejection::request(
            "the JWT header has a crit parameter, which this server does not support",
        ));
    }
    Ok(())
}

/// The signature over `signing_input` by the registered key.
fn check_signature(
    signing_input: &[u8],
    signature_b64: &str,
    key: &RegisteredKey,
) -> Result<(), Rejection> {
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| Rejection::request("the JWT signature is not base64url"))?;
    UnparsedPublicKey::new(verification_algorithm(key.algorithm), &key.public_key)
        .verify(signing_input, &signature)
        .map_err(|_| {
            Rejection::new(
                "token_signature_mismatch",
                "the client_assertion signature does not verify with the client's registered key",
            )
        })
}

/// `iss` = `sub` = the client ID, and exactly one `aud`, the expected one.
fn check_identity(claims: &Map<String, Value>, expect: &Expectation<'_>) -> Result<(), Rejection> {
    for name in ["iss", "sub"] {
        match claims.get(name) {
            Some(Value::String(v)) if v == expect.client_id => {}
            Some(Value::String(v)) => {
                return Err(Rejection::client(format!(
                    "the JWT claim {name} is {}, not the client_id",
                    quote(v)
                )))
            }
            _ => {
                return Err(Rejection::client(format!(
                    "the JWT has no string claim {name} (it must be the client_id)"
                )))
            }
        }
    }
    // Exactly one audience value (as the IETF update of RFC 7523 requires):
    // a string, or an array of one string.
    let aud_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == expect.audience,
        Some(Value::Array(auds)) if auds.len() == 1 => {
            auds.first().and_then(Value::as_str) == Some(expect.audience)
        }
        Some(Value::Array(_)) => {
            return Err(Rejection::request(
                "the JWT claim aud must hold exactly one value, this server's audience",
            ))
        }
        Some(_) => return Err(Rejection::request("the JWT claim aud is not a string")),
        None => return Err(Rejection::request("the JWT has no aud claim")),
    };
    if !aud_ok {
        return Err(Rejection::grant(format!(
            "the JWT claim aud does not name this token endpoint (expected {})",
            quote(expect.audience)
        )));
    }
    Ok(())
}

/// `exp`, `iat`, `nbf` and the lifetime, against the server's clock `now`.
fn check_times(claims: &Map<String, Value>, now: u64) -> Result<(), Rejection> {
    let exp = integer_claim(claims, "exp")?
        .ok_or_else(|| Rejection::request("the JWT has no exp claim"))?;
    let iat = integer_claim(claims, "iat")?
        .ok_or_else(|| Rejection::request("the JWT has no iat claim"))?;
    let nbf = integer_claim(claims, "nbf")?;
    let max = MAX_ASSERTION_LIFETIME.as_secs();
    if exp <= now {
        return Err(Rejection::grant(format!(
            "the JWT expired {} s ago",
            now - exp
        )));
    }
    // `exp` bounded by this server's clock, not only by `iat`, which the
    // client's clock sets: a client whose clock runs ahead is caught here.
    if exp - now > max {
        return Err(Rejection::grant(format!(
            "the JWT expires {} s from now by this server's clock, more than the {max} s allowed",
            exp - now
        )));
    }
    if iat > now.saturating_add(CLOCK_SKEW_SECS) {
        return Err(Rejection::grant(format!(
            "the JWT is issued {} s in the future",
            iat - now
        )));
    }
    if exp < iat {
        return Err(Rejection::grant("the JWT expires before it is issued"));
    }
    if let Some(nbf) = nbf {
        if nbf > now.saturating_add(CLOCK_SKEW_SECS) {
            return Err(Rejection::grant("the JWT is not valid yet (nbf)"));
        }
    }
    let lifetime = exp - iat;
    if lifetime > max {
        return Err(Rejection::grant(format!(
            "the JWT lives {lifetime} s (exp - iat), more than the {max} s allowed"
        )));
    }
    Ok(())
}

/// A `jti`, not seen before; recorded in `seen_jti`.
fn check_jti(claims: &Map<String, Value>, seen_jti: &mut HashSet<String>) -> Result<(), Rejection> {
    let jti = match claims.get("jti") {
        Some(Value::String(jti)) if !jti.is_empty() => jti,
        _ => return Err(Rejection::request("the JWT has no jti claim")),
    };
    if seen_jti.contains(jti.as_str()) {
        return Err(Rejection::new(
            "jti_known",
            "this client_assertion (jti) was already used: sign a new one for every request",
        ));
    }
    seen_jti.insert(jti.clone());
    Ok(())
}

fn verification_algorithm(alg: Algorithm) -> &'static dyn VerificationAlgorithm {
    match alg {
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::EdDSA | Algorithm::Ed25519 => &signature::ED25519,
    }
}

/// Decodes one base64url part holding a JSON object.
fn decode_object(part: &str, what: &str) -> Result<Map<String, Value>, Rejection> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Rejection::request(format!("the JWT {what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Rejection::request(format!(
            "the JWT {what} is not a JSON object"
        ))),
    }
}

/// A claim that must be a non-negative integer (NumericDate), if present.
fn integer_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            Rejection::request(format!(
                "the JWT claim {name} is not a whole number of seconds"
            ))
        }),
    }
}

/// A bounded, quoted rendering of a claim value for a description.
fn quote(value: &str) -> String {
    const MAX: usize = 80;
    let mut short: String = value.chars().take(MAX).collect();
    if value.chars().nth(MAX).is_some() {
        short.push('…');
    }
    format!("{short:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assertion::{create_assertion, AssertionOptions};
    use std::time::{Duration, UNIX_EPOCH};

    const CLIENT_ID: &str = "CLIENTID0123456789AB";
    const TOKEN_URL: &str = "https://authx.sandbox.alpaca.markets/v1/oauth2/token";
    const NOW: u64 = 1_700_000_000;

    fn key() -> PrivateKey {
        PrivateKey::from_pem(include_str!("../../tests/keys/p256-pkcs8.pem")).unwrap()
    }

    fn expect() -> Expectation<'static> {
        Expectation {
            client_id: CLIENT_ID,
            audience: TOKEN_URL,
            now_unix: NOW,
            allowed_kid: None,
            required_typ: None,
        }
    }

    fn assertion(key: &PrivateKey, options: &AssertionOptions, issued: u64) -> String {
        create_assertion(
            key,
            CLIENT_ID,
            TOKEN_URL,
            options,
            (
                UNIX_EPOCH + Duration::from_secs(issued),
                std::time::Instant::now() + Duration::from_secs(10),
            ),
        )
        .unwrap()
        .expose_secret()
        .to_owned()
    }

    /// Signs arbitrary header and claims JSON with `key`.
    fn forge(key: &PrivateKey, header: &str, claims: &str) -> String {
        let mut out = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let sig = key.sign(out.as_bytes()).unwrap();
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(sig));
        out
    }

    fn check(a: &str, key: &PrivateKey) -> Result<(), Rejection> {
        verify_assertion(
            a,
            &RegisteredKey::from_private_key(key),
            &expect(),
            &mut HashSet::new(),
        )
    }

    #[test]
    fn fresh_assertion_is_accepted_and_its_jti_recorded() {
        let k = key();
        let a = assertion(&k, &AssertionOptions::new(), NOW);
        let mut seen = HashSet::new();
        verify_assertion(
            &a,
            &RegisteredKey::from_private_key(&k),
            &expect(),
            &mut seen,
        )
        .unwrap();
        assert_eq!(seen.len(), 1);
        let err = verify_assertion(
            &a,
            &RegisteredKey::from_private_key(&k),
            &expect(),
            &mut seen,
        )
        .unwrap_err();
        assert_eq!(err.code, "jti_known");
    }

    #[test]
    fn expiry_and_lifetime_are_checked_against_now() {
        let k = key();
        let expired = assertion(
            &k,
            &AssertionOptions::new().lifetime(Duration::from_secs(10)),
            NOW - 10,
        );
        let err = check(&expired, &k).unwrap_err();
        assert_eq!(err.code, "invalid_grant");
        assert!(err.description.contains("expired"));
        let still_valid = assertion(
            &k,
            &AssertionOptions::new().lifetime(Duration::from_secs(11)),
            NOW - 10,
        );
        check(&still_valid, &k).unwrap();
        let long = assertion(
            &k,
            &AssertionOptions::new()
                .lifetime(Duration::from_secs(301))
                .allow_long_lifetime(true),
            NOW,
        );
        let err = check(&long, &k).unwrap_err();
        assert_eq!(err.code, "invalid_grant");
        assert!(err.description.contains("301 s"));
    }

    #[test]
    fn iat_in_the_future_beyond_skew_is_refused() {
        let k = key();
        check(
            &assertion(&k, &AssertionOptions::new(), NOW + CLOCK_SKEW_SECS),
            &k,
        )
        .unwrap();
        let err = check(
            &assertion(&k, &AssertionOptions::new(), NOW + CLOCK_SKEW_SECS + 1),
            &k,
        )
        .unwrap_err();
        assert_eq!(err.code, "invalid_grant");
        assert!(err.description.contains("future"));
    }

    #[test]
    fn kid_is_refused_unless_it_is_the_allowed_one() {
        let k = key();
        let a = assertion(&k, &AssertionOptions::new().kid("key-1"), NOW);
        let err = check(&a, &k).unwrap_err();
        assert_eq!(err.code, "invalid_request");
        assert!(err.description.contains("kid"));
        let registered = RegisteredKey::from_private_key(&k);
        let mut e = expect();
        e.allowed_kid = Some("key-2");
        let err = verify_assertion(&a, &registered, &e, &mut HashSet::new()).unwrap_err();
        assert_eq!(err.code, "invalid_request");
        e.allowed_kid = Some("key-1");
        verify_assertion(&a, &registered, &e, &mut HashSet::new()).unwrap();
    }

    #[test]
    fn alg_must_match_the_registered_key() {
        let k = key();
        let claims = format!(
            r#"{{"iss":"{CLIENT_ID}","sub":"{CLIENT_ID}","aud":"{TOKEN_URL}","iat":{NOW},"exp":{},"jti":"x"}}"#,
            NOW + 60
        );
        for alg in ["RS256", "none", "es256"] {
            let a = forge(&k, &format!(r#"{{"alg":"{alg}"}}"#), &claims);
            let err = check(&a, &k).unwrap_err();
            assert_eq!(err.code, "invalid_client", "{alg}");
            assert!(err.description.contains("ES256"));
        }
        let a = forge(&k, r#"{"alg":"ES256"}"#, &claims);
        check(&a, &k).unwrap();
        let a = forge(&k, r#"{"alg":"ES256","crit":["exp"]}"#, &claims);
        assert_eq!(check(&a, &k).unwrap_err().code, "invalid_request");
    }

    #[test]
    fn claims_of_the_wrong_type_or_missing_are_refused() {
        let k = key();
        let header = r#"{"alg":"ES256","typ":"JWT"}"#;
        let cases = [
            (
                r#"{"sub":"CLIENTID0123456789AB","aud":"https://authx.sandbox.alpaca.markets/v1/oauth2/token","exp":1700000060,"jti":"a"}"#,
                "invalid_client",
            ),
            (
                r#"{"iss":"CLIENTID0123456789AB","sub":"OTHER","aud":"https://authx.sandbox.alpaca.markets/v1/oauth2/token","exp":1700000060,"jti":"a"}"#,
                "invalid_client",
            ),
            (
                r#"{"iss":"CLIENTID0123456789AB","sub":"CLIENTID0123456789AB","exp":1700000060,"jti":"a"}"#,
                "invalid_request",
            ),
            (
                r#"{"iss":"CLIENTID0123456789AB","sub":"CLIENTID0123456789AB","aud":["x","https://authx.sandbox.alpaca.markets/v1/oauth2/token"],"jti":"a"}"#,
                "invalid_request",
            ),
            (
                r#"{"iss":"CLIENTID0123456789AB","sub":"CLIENTID0123456789AB","aud":"https://authx.sandbox.alpaca.markets/v1/oauth2/token","exp":1700000060.5,"jti":"a"}"#,
                "invalid_request",
            ),
            (
                r#"{"iss":"CLIENTID0123456789AB","sub":"CLIENTID0123456789AB","aud":"https://authx.sandbox.alpaca.markets/v1/oauth2/token","exp":1700000060}"#,
                "invalid_request",
            ),
            (
                r#"{"iss":"CLIENTID0123456789AB","sub":"CLIENTID0123456789AB","aud":"https://authx.sandbox.alpaca.markets/v1/oauth2/token","iat":1700000000,"exp":1700000060,"nbf":1700000100,"jti":"a"}"#,
                "invalid_grant",
            ),
            // No iat.
            (
                r#"{"iss":"CLIENTID0123456789AB","sub":"CLIENTID0123456789AB","aud":"https://authx.sandbox.alpaca.markets/v1/oauth2/token","exp":1700000060,"jti":"a"}"#,
                "invalid_request",
            ),
            // Two audiences, one of them this server.
            (
                r#"{"iss":"CLIENTID0123456789AB","sub":"CLIENTID0123456789AB","aud":["x","https://authx.sandbox.alpaca.markets/v1/oauth2/token"],"iat":1700000000,"exp":1700000060,"jti":"a"}"#,
                "invalid_request",
            ),
            // exp - iat is 270 s, but exp is 320 s ahead of the server's clock.
            (
                r#"{"iss":"CLIENTID0123456789AB","sub":"CLIENTID0123456789AB","aud":"https://authx.sandbox.alpaca.markets/v1/oauth2/token","iat":1700000050,"exp":1700000320,"jti":"a"}"#,
                "invalid_grant",
            ),
            (r#"[1,2]"#, "invalid_request"),
        ];
        for (claims, code) in cases {
            let a = forge(&k, header, claims);
            assert_eq!(check(&a, &k).unwrap_err().code, code, "{claims}");
        }
        // An aud array of exactly this endpoint is accepted.
        let ok = r#"{"iss":"CLIENTID0123456789AB","sub":"CLIENTID0123456789AB","aud":["https://authx.sandbox.alpaca.markets/v1/oauth2/token"],"iat":1700000000,"exp":1700000060,"jti":"a"}"#;
        check(&forge(&k, header, ok), &k).unwrap();
    }

    #[test]
    fn required_typ_is_compared_as_a_media_type() {
        let k = key();
        let registered = RegisteredKey::from_private_key(&k);
        let mut e = expect();
        e.required_typ = Some(crate::assertion::CLIENT_AUTHENTICATION_JWT_TYP);
        let a = assertion(&k, &AssertionOptions::new(), NOW);
        let err = verify_assertion(&a, &registered, &e, &mut HashSet::new()).unwrap_err();
        assert_eq!(err.code, "invalid_client");
        assert!(err.description.contains("typ"), "{err}");
        for typ in [
            "client-authentication+jwt",
            "application/Client-Authentication+JWT",
        ] {
            let a = assertion(&k, &AssertionOptions::new().typ(Some(typ.into())), NOW);
            verify_assertion(&a, &registered, &e, &mut HashSet::new()).unwrap();
        }
    }

    #[test]
    fn malformed_jwts_are_invalid_request_and_never_panic() {
        let k = key();
        let good = assertion(&k, &AssertionOptions::new(), NOW);
        for bad in [
            "",
            ".",
            "..",
            "a.b",
            "a.b.c.d",
            "!!!.@@@.###",
            "e30.e30.",
            "bnVsbA.e30.AAAA",
        ] {
            let err = check(bad, &k).unwrap_err();
            assert_eq!(err.code, "invalid_request", "{bad:?}");
        }
        let long = "a".repeat(MAX_ASSERTION_LEN + 1);
        assert_eq!(check(&long, &k).unwrap_err().code, "invalid_request");
        // Every prefix and every single-character change: no panic, and
        // only the complete original is accepted.
        for n in 0..good.len() {
            assert!(check(&good[..n], &k).is_err());
        }
        let bytes = good.as_bytes();
        for i in 0..bytes.len() {
            let mut changed = bytes.to_vec();
            changed[i] = if changed[i] == b'A' { b'B' } else { b'A' };
            if let Ok(text) = std::str::from_utf8(&changed) {
                let _ = check(text, &k);
            }
        }
        let _ = check("é.é.é", &k);
    }
}
