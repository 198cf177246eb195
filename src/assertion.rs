//! The RFC 7523 client assertion: a JWT signed with the client's private key
//! and sent as `client_assertion` (`private_key_jwt` client authentication).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::key::{Algorithm, PrivateKey, MAX_SIGNATURE_LEN};
use crate::limits::{
    DEFAULT_ASSERTION_LIFETIME, DEFAULT_ASSERTION_TYP, MAX_ASSERTION_LEN, MAX_ASSERTION_LIFETIME,
    MAX_KID_LEN, MAX_LONG_ASSERTION_LIFETIME, MIN_ASSERTION_LIFETIME,
};
use crate::secret::SecretString;
use crate::signer::SigningKey;

/// The `typ` header of a client assertion under the IETF update of RFC 7523
/// (draft-ietf-oauth-rfc7523bis), for servers that require it:
/// `AssertionOptions::new().typ(Some(CLIENT_AUTHENTICATION_JWT_TYP.into()))`
/// or `APCA_ASSERTION_TYP=client-authentication+jwt`.
pub const CLIENT_AUTHENTICATION_JWT_TYP: &str = "client-authentication+jwt";

/// The number of random bytes in a `jti` (128 bits).
const JTI_BYTES: usize = 16;

/// Options of the client assertion (RFC 7523).
///
/// The defaults are what Alpaca accepts: a lifetime of
/// [`DEFAULT_ASSERTION_LIFETIME`], `typ` [`DEFAULT_ASSERTION_TYP`], no `kid`,
/// and `aud` equal to the token endpoint URL as requested.
///
/// # The assertion
///
/// The assertion has the header `{"alg":"ES256","typ":"JWT"}` (the `alg` of
/// the key; a `kid` only when one is configured) and the claims
/// `iss` = `sub` = client ID, `aud` = the token endpoint URL as requested,
/// `iat` = now, `exp` = `iat` + lifetime ([`DEFAULT_ASSERTION_LIFETIME`] by
/// default) and a fresh 128-bit random `jti`.
/// A new assertion is signed for every token request; one is never reused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssertionOptions {
    lifetime: Duration,
    allow_long_lifetime: bool,
    kid: Option<String>,
    typ: Option<String>,
    audience: Option<String>,
}

impl Default for AssertionOptions {
    fn default() -> Self {
        AssertionOptions {
            lifetime: DEFAULT_ASSERTION_LIFETIME,
            allow_long_lifetime: false,
            kid: None,
            typ: Some(DEFAULT_ASSERTION_TYP.to_owned()),
            audience: None,
        }
    }
}

impl AssertionOptions {
    /// The default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the lifetime (`exp - iat`), in whole seconds (a fraction is
    /// dropped).
    ///
    /// It must be between [`MIN_ASSERTION_LIFETIME`] and
    /// [`MAX_ASSERTION_LIFETIME`], or up to [`MAX_LONG_ASSERTION_LIFETIME`]
    /// with [`allow_long_lifetime`](Self::allow_long_lifetime); this is
    /// checked when an assertion is created.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Permits lifetimes up to [`MAX_LONG_ASSERTION_LIFETIME`], for servers
    /// that accept them (Alpaca does not).
    pub fn allow_long_lifetime(mut self, yes: bool) -> Self {
        self.allow_long_lifetime = yes;
        self
    }

    /// Adds a `kid` (key ID) header. There is none by default: Alpaca is
    /// reported to refuse assertions that carry one.
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// Sets the `typ` header; `None` omits it. The default is
    /// `Some("JWT")`.
    pub fn typ(mut self, typ: Option<String>) -> Self {
        self.typ = typ;
        self
    }

    /// Sets the `aud` claim. By default it is the token endpoint URL exactly
    /// as requested.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The `kid` header, if one is set.
    pub fn kid_value(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The `typ` header, if one is sent.
    pub fn typ_value(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    /// The `aud` claim, if set; `None` means the token endpoint URL.
    pub fn audience_value(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The lifetime (`exp - iat`).
    pub fn lifetime_value(&self) -> Duration {
        self.lifetime
    }

    /// The lifetime in seconds, after checking it against the limits.
    pub(crate) fn lifetime_secs(&self) -> Result<u64> {
        let max = if self.allow_long_lifetime {
            MAX_LONG_ASSERTION_LIFETIME
        } else {
            MAX_ASSERTION_LIFETIME
        };
        let secs = self.lifetime.as_secs();
        if secs < MIN_ASSERTION_LIFETIME.as_secs() || secs > max.as_secs() {
            let hint = if self.allow_long_lifetime || secs < MIN_ASSERTION_LIFETIME.as_secs() {
                ""
            } else {
                " (allow_long_lifetime permits up to 3600 s for servers that accept it)"
            };
            return Err(Error::config(format!(
                "the client assertion lifetime must be between {} s and {} s, not {:?}{hint}",
                MIN_ASSERTION_LIFETIME.as_secs(),
                max.as_secs(),
                self.lifetime
            )));
        }
        Ok(secs)
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    typ: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    jti: &'a str,
}

/// Builds and signs a fresh client assertion for `client_id` at the token
/// endpoint `token_url`, dated now.
///
/// Every call makes a new assertion with a new `jti`; send each one once.
///
/// # Errors
///
/// A [`Config`](crate::error::ErrorKind::Config) error if the options are
/// out of bounds, the client ID or audience is empty, the system clock is
/// before 1970 or the assertion would be longer than [`MAX_ASSERTION_LEN`];
/// an [`InvalidKey`](crate::error::ErrorKind::InvalidKey) error if signing
/// fails.
///
/// # Example
///
/// ```
/// use alpaca_auth::{sign_assertion, AssertionOptions, PrivateKey};
///
/// # fn main() -> alpaca_auth::Result<()> {
/// let pem = include_str!("../tests/keys/p256-pkcs8.pem");
/// let key = PrivateKey::from_pem(pem)?;
/// let assertion = sign_assertion(
///     &key,
///     "CLIENTID0123456789AB",
///     "https://authx.sandbox.alpaca.markets/v1/oauth2/token",
///     &AssertionOptions::new(),
/// )?;
/// assert_eq!(assertion.expose_secret().split('.').count(), 3);
/// # Ok(())
/// # }
/// ```
pub fn sign_assertion(
    key: &PrivateKey,
    client_id: &str,
    token_url: &str,
    options: &AssertionOptions,
) -> Result<SecretString> {
    create_assertion(
        key,
        client_id,
        token_url,
        options,
        (SystemTime::now(), Instant::now()),
    )
}

/// What signs an assertion: a private key, or either kind of
/// [`SigningKey`].
pub(crate) trait Sign {
    /// The algorithm the `alg` header names.
    fn algorithm(&self) -> Algorithm;
    /// The signature's length as known before signing (a lower bound).
    fn signature_len_hint(&self) -> usize;
    /// Signs `input` into `out` by `deadline`; the signature's length.
    fn sign_into(
        &self,
        input: &[u8],
        deadline: Instant,
        out: &mut [u8; MAX_SIGNATURE_LEN],
    ) -> Result<usize>;
}

impl Sign for PrivateKey {
    fn algorithm(&self) -> Algorithm {
        PrivateKey::algorithm(self)
    }
    fn signature_len_hint(&self) -> usize {
        self.signature_len()
    }
    fn sign_into(
        &self,
        input: &[u8],
        _deadline: Instant,
        out: &mut [u8; MAX_SIGNATURE_LEN],
    ) -> Result<usize> {
        PrivateKey::sign_into(self, input, out)
    }
}

impl Sign for SigningKey {
    fn algorithm(&self) -> Algorithm {
        SigningKey::algorithm(self)
    }
    fn signature_len_hint(&self) -> usize {
        SigningKey::signature_len_hint(self)
    }
    fn sign_into(
        &self,
        input: &[u8],
        deadline: Instant,
        out: &mut [u8; MAX_SIGNATURE_LEN],
    ) -> Result<usize> {
        SigningKey::sign_into(self, input, deadline, out)
    }
}

/// Builds and signs one fresh client assertion; `now` is the wall-clock time
/// used for `iat` and `exp`, and the instant by which the signer must
/// return.
pub(crate) fn create_assertion(
    key: &dyn Sign,
    client_id: &str,
    token_url: &str,
    options: &AssertionOptions,
    (now, deadline): (SystemTime, Instant),
) -> Result<SecretString> {
    let lifetime = options.lifetime_secs()?;
    let audience = options.audience.as_deref().unwrap_or(token_url);
    check_identifiers(client_id, audience, options)?;
    let iat = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::config("the system clock is set before 1970"))?
        .as_secs();
    let exp = iat
        .checked_add(lifetime)
        .ok_or_else(|| Error::config("the system clock is out of range"))?;
    let mut jti_buf = [0u8; 24];
    let jti = fresh_jti(&mut jti_buf)?;

    // Header and claims JSON, one after the other in one buffer.
    let header = Header {
        alg: key.algorithm().as_str(),
        typ: options.typ.as_deref(),
        kid: options.kid.as_deref(),
    };
    let claims = Claims {
        iss: client_id,
        sub: client_id,
        aud: audience,
        iat,
        exp,
        jti,
    };
    let estimate = 160
        + 2 * client_id.len()
        + audience.len()
        + options.kid.as_ref().map_or(0, String::len)
        + options.typ.as_ref().map_or(0, String::len);
    let mut json = Vec::with_capacity(estimate);
    serde_json::to_writer(&mut json, &header)
        .map_err(|_| Error::config("cannot serialize the assertion header"))?;
    let header_len = json.len();
    serde_json::to_writer(&mut json, &claims)
        .map_err(|_| Error::config("cannot serialize the assertion claims"))?;
    let (header_json, claims_json) = json.split_at(header_len);
    encode_and_sign(key, header_json, claims_json, deadline)
}

/// The identifiers of an assertion: a client ID, an audience, and a `kid`
/// and `typ` if set, none of them empty, the `kid` within its limit.
fn check_identifiers(client_id: &str, audience: &str, options: &AssertionOptions) -> Result<()> {
    if client_id.is_empty() {
        return Err(Error::config("the client ID of the assertion is empty"));
    }
    if audience.is_empty() {
        return Err(Error::config(
            "the audience of the assertion (the token endpoint URL) is empty",
        ));
    }
    if options.kid.as_deref() == Some("") {
        return Err(Error::config("the kid of the assertion is empty"));
    }
    if let Some(kid) = options.kid.as_deref() {
        if kid.len() > MAX_KID_LEN {
            return Err(Error::config(format!(
                "the kid of the assertion is {} bytes long, more than the limit of {MAX_KID_LEN}",
                kid.len()
            )));
        }
    }
    if options.typ.as_deref() == Some("") {
        return Err(Error::config(
            "the typ of the assertion is empty; use None to omit it",
        ));
    }
    Ok(())
}

/// A fresh random `jti`, base64url-encoded into `buf`.
fn fresh_jti(buf: &mut [u8; 24]) -> Result<&str> {
    let mut jti_raw = [0u8; JTI_BYTES];
    SystemRandom::new()
        .fill(&mut jti_raw)
        .map_err(|_| Error::config("the system random number generator failed"))?;
    let jti_len = URL_SAFE_NO_PAD
        .encode_slice(jti_raw, &mut buf[..])
        .map_err(|_| Error::config("cannot encode the jti"))?;
    std::str::from_utf8(buf.get(..jti_len).unwrap_or_default())
        .map_err(|_| Error::config("cannot encode the jti"))
}

/// The compact JWS `header.claims.signature` of the two JSON texts, signed
/// by `key`, refused if longer than [`MAX_ASSERTION_LEN`] (before signing
/// when the length of the signature is known, after it otherwise).
fn encode_and_sign(
    key: &dyn Sign,
    header_json: &[u8],
    claims_json: &[u8],
    deadline: Instant,
) -> Result<SecretString> {
    let header_b64 = encoded_len(header_json.len());
    let claims_b64 = encoded_len(claims_json.len());
    let signing_input_len = header_b64 + 1 + claims_b64;
    check_total(signing_input_len + 1 + encoded_len(key.signature_len_hint()))?;

    // The signing input, then the signature; the assertion is then encoded
    // in place in a buffer of its exact final size, which becomes the
    // `SecretString` (zeroized on drop) without a copy.
    let encode_err = || Error::config("cannot encode the client assertion");
    let mut input = vec![0u8; signing_input_len];
    let (head, rest) = input.split_at_mut(header_b64);
    URL_SAFE_NO_PAD
        .encode_slice(header_json, head)
        .map_err(|_| encode_err())?;
    let (dot, body) = rest.split_first_mut().ok_or_else(encode_err)?;
    *dot = b'.';
    URL_SAFE_NO_PAD
        .encode_slice(claims_json, body)
        .map_err(|_| encode_err())?;

    let mut signature = [0u8; MAX_SIGNATURE_LEN];
    let signature_len = key.sign_into(&input, deadline, &mut signature)?;
    let signature = signature.get(..signature_len).ok_or_else(encode_err)?;
    let total = signing_input_len + 1 + encoded_len(signature_len);
    check_total(total)?;

    input.reserve_exact(total - signing_input_len);
    let mut out = input;
    out.push(b'.');
    out.resize(total, 0);
    let sig_b64 = out
        .get_mut(signing_input_len + 1..)
        .ok_or_else(encode_err)?;
    let written = URL_SAFE_NO_PAD
        .encode_slice(signature, sig_b64)
        .map_err(|_| encode_err())?;
    if written != sig_b64.len() {
        return Err(encode_err());
    }
    let text = String::from_utf8(out).map_err(|_| encode_err())?;
    Ok(SecretString::from(text))
}

/// Refuses an assertion longer than [`MAX_ASSERTION_LEN`].
fn check_total(total: usize) -> Result<()> {
    if total > MAX_ASSERTION_LEN {
        return Err(Error::config(format!(
            "the client assertion would be {total} bytes long, more than the {MAX_ASSERTION_LEN} \
             allowed: shorten the client ID, the audience or the kid"
        )));
    }
    Ok(())
}

/// The length of the unpadded base64url encoding of `len` bytes.
const fn encoded_len(len: usize) -> usize {
    (len / 3) * 4
        + match len % 3 {
            0 => 0,
            1 => 2,
            _ => 3,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use ring::signature;
    use serde_json::Value;

    const P256: &str = include_str!("../tests/keys/p256-pkcs8.pem");
    const TOKEN_URL: &str = "https://authx.sandbox.alpaca.markets/v1/oauth2/token";
    const CLIENT_ID: &str = "CLIENTID0123456789AB";

    fn key() -> PrivateKey {
        PrivateKey::from_pem(P256).unwrap()
    }

    fn at(secs: u64) -> (SystemTime, Instant) {
        (
            UNIX_EPOCH + Duration::from_secs(secs),
            Instant::now() + Duration::from_secs(10),
        )
    }

    fn part(assertion: &SecretString, i: usize) -> Value {
        let text = assertion.expose_secret().split('.').nth(i).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).unwrap()).unwrap()
    }

    #[test]
    fn encoded_len_matches_the_encoder() {
        for len in 0..100 {
            assert_eq!(
                encoded_len(len),
                URL_SAFE_NO_PAD.encode(vec![0u8; len]).len()
            );
        }
    }

    #[test]
    fn claims_use_the_given_time_and_lifetime() {
        let options = AssertionOptions::new().lifetime(Duration::from_secs(60));
        let a =
            create_assertion(&key(), CLIENT_ID, TOKEN_URL, &options, at(1_700_000_000)).unwrap();
        let claims = part(&a, 1);
        assert_eq!(claims["iat"], 1_700_000_000u64);
        assert_eq!(claims["exp"], 1_700_000_060u64);
        assert_eq!(claims["iss"], CLIENT_ID);
        assert_eq!(claims["sub"], CLIENT_ID);
        assert_eq!(claims["aud"], TOKEN_URL);
    }

    #[test]
    fn claims_are_serialized_in_a_fixed_order() {
        let a = create_assertion(
            &key(),
            CLIENT_ID,
            TOKEN_URL,
            &AssertionOptions::new(),
            at(1_700_000_000),
        )
        .unwrap();
        let text = a.expose_secret().split('.').nth(1).unwrap();
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(text).unwrap()).unwrap();
        assert!(
            json.starts_with(&format!(
                "{{\"iss\":\"{CLIENT_ID}\",\"sub\":\"{CLIENT_ID}\",\"aud\":\"{TOKEN_URL}\",\
                 \"iat\":1700000000,\"exp\":1700000120,\"jti\":\""
            )),
            "{json}"
        );
        let header = a.expose_secret().split('.').next().unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(header).unwrap(),
            br#"{"alg":"ES256","typ":"JWT"}"#
        );
    }

    #[test]
    fn lifetime_limits_are_enforced_at_creation() {
        let k = key();
        let make =
            |o: AssertionOptions| create_assertion(&k, CLIENT_ID, TOKEN_URL, &o, at(1_700_000_000));
        for bad in [0, 301, 3601] {
            let err = make(AssertionOptions::new().lifetime(Duration::from_secs(bad)))
                .err()
                .unwrap();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
            assert!(err.message().contains("lifetime"), "{}", err.message());
        }
        assert!(make(AssertionOptions::new().lifetime(Duration::from_millis(999))).is_err());
        assert!(make(AssertionOptions::new().lifetime(Duration::from_secs(1))).is_ok());
        assert!(make(AssertionOptions::new().lifetime(Duration::from_secs(300))).is_ok());
        let long = AssertionOptions::new()
            .lifetime(Duration::from_secs(3600))
            .allow_long_lifetime(true);
        let a = make(long.clone()).unwrap();
        assert_eq!(part(&a, 1)["exp"], 1_700_003_600u64);
        assert!(make(long.lifetime(Duration::from_secs(3601))).is_err());
    }

    #[test]
    fn clock_before_1970_is_a_config_error() {
        let err = create_assertion(
            &key(),
            CLIENT_ID,
            TOKEN_URL,
            &AssertionOptions::new(),
            (UNIX_EPOCH - Duration::from_secs(1), Instant::now()),
        )
        .err()
        .unwrap();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("1970"));
    }

    #[test]
    fn empty_client_id_audience_kid_or_typ_are_refused() {
        let k = key();
        let now = at(1_700_000_000);
        let o = AssertionOptions::new();
        assert!(create_assertion(&k, "", TOKEN_URL, &o, now).is_err());
        assert!(create_assertion(&k, CLIENT_ID, "", &o, now).is_err());
        assert!(create_assertion(&k, CLIENT_ID, TOKEN_URL, &o.clone().kid(""), now).is_err());
        assert!(
            create_assertion(&k, CLIENT_ID, TOKEN_URL, &o.typ(Some(String::new())), now).is_err()
        );
        // An audience override makes an empty token URL irrelevant.
        let o = AssertionOptions::new().audience(TOKEN_URL);
        assert!(create_assertion(&k, CLIENT_ID, "", &o, now).is_ok());
    }

    #[test]
    fn oversized_assertion_is_refused_before_signing() {
        let aud = format!("https://example.com/{}", "a".repeat(MAX_ASSERTION_LEN));
        let err = create_assertion(
            &key(),
            CLIENT_ID,
            TOKEN_URL,
            &AssertionOptions::new().audience(aud),
            at(1_700_000_000),
        )
        .err()
        .unwrap();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("16384"));
    }

    #[test]
    fn assertion_at_the_length_limit_is_accepted() {
        let k = key();
        // Find the audience length that makes the assertion exactly the limit.
        let short = create_assertion(
            &k,
            CLIENT_ID,
            TOKEN_URL,
            &AssertionOptions::new().audience("a"),
            at(1_700_000_000),
        )
        .unwrap()
        .len();
        // Each 3 bytes of JSON add 4 characters.
        let extra = (MAX_ASSERTION_LEN - short) / 4 * 3;
        let aud = "a".repeat(1 + extra);
        let a = create_assertion(
            &k,
            CLIENT_ID,
            TOKEN_URL,
            &AssertionOptions::new().audience(aud.clone()),
            at(1_700_000_000),
        )
        .unwrap();
        assert!(a.len() <= MAX_ASSERTION_LEN && a.len() > MAX_ASSERTION_LEN - 4);
        let too_long = aud + "aaaa";
        assert!(create_assertion(
            &k,
            CLIENT_ID,
            TOKEN_URL,
            &AssertionOptions::new().audience(too_long),
            at(1_700_000_000),
        )
        .is_err());
    }

    #[test]
    fn special_characters_are_escaped_in_json() {
        let a = create_assertion(
            &key(),
            CLIENT_ID,
            TOKEN_URL,
            &AssertionOptions::new().kid("k\"1\\\n"),
            at(1_700_000_000),
        )
        .unwrap();
        assert_eq!(part(&a, 0)["kid"], "k\"1\\\n");
    }

    #[test]
    fn signature_covers_header_and_claims() {
        let k = key();
        let a = create_assertion(
            &k,
            CLIENT_ID,
            TOKEN_URL,
            &AssertionOptions::new(),
            at(1_700_000_000),
        )
        .unwrap();
        let text = a.expose_secret();
        let (input, sig) = text.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        assert_eq!(sig.len(), 64);
        let public =
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, k.public_key());
        public.verify(input.as_bytes(), &sig).unwrap();
        let mut changed = input.as_bytes().to_vec();
        changed[3] ^= 1;
        assert!(public.verify(&changed, &sig).is_err());
    }
}
