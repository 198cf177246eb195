//! Setters of the credentials: API keys, client credentials, the options of
//! client assertions and the scope.

use std::ffi::c_char;
use std::time::Duration;

use super::{alpaca_auth_builder, with_builder};
use crate::config::{AssertionOverrides, Config};
use crate::ffi::error::Failure;
use crate::ffi::panic::ffi_boundary;
use crate::ffi::result::alpaca_auth_result;
use crate::ffi::signer::{alpaca_auth_signer, callback_signer};
use crate::ffi::{bytes_arg, non_empty_arg, str_arg};
use crate::{Algorithm, ApiKeyStyle, Credentials, PrivateKey, SecretString};

/// Authenticates with an API key pair in the environment's form: HTTP Basic
/// (`Authorization: Basic`) in `broker` and `broker-sandbox`, the
/// `APCA-API-KEY-ID` and `APCA-API-SECRET-KEY` headers in `live` and
/// `paper` (decided by `alpaca_auth_builder_build`, whatever the order of
/// the calls). Replaces any credentials set before. Their bounds (non-empty,
/// printable ASCII, length) are checked by `alpaca_auth_builder_build`.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `key_id` and
/// `secret` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_api_key(
    builder: *mut alpaca_auth_builder,
    key_id: *const c_char,
    secret: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_api_key(builder, key_id, secret, ApiKeyStyle::ForEnvironment) }
    })
}

/// Authenticates with an API key pair sent as the `APCA-API-KEY-ID` and
/// `APCA-API-SECRET-KEY` headers in every environment (Trading API keys).
/// Replaces any credentials set before; bounds are checked by
/// `alpaca_auth_builder_build`.
///
/// # Safety
///
/// As `alpaca_auth_builder_set_api_key`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_api_key_headers(
    builder: *mut alpaca_auth_builder,
    key_id: *const c_char,
    secret: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_api_key(builder, key_id, secret, ApiKeyStyle::Headers) }
    })
}

/// Authenticates with an API key pair sent as HTTP Basic
/// (`Authorization: Basic`), the form Broker API keys need. Replaces any
/// credentials set before; bounds are checked by `alpaca_auth_builder_build`.
///
/// # Safety
///
/// As `alpaca_auth_builder_set_api_key`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_api_key_basic(
    builder: *mut alpaca_auth_builder,
    key_id: *const c_char,
    secret: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_api_key(builder, key_id, secret, ApiKeyStyle::Basic) }
    })
}

/// # Safety
///
/// As `alpaca_auth_builder_set_api_key`.
unsafe fn set_api_key(
    builder: *mut alpaca_auth_builder,
    key_id: *const c_char,
    secret: *const c_char,
    style: ApiKeyStyle,
) -> Result<(), Failure> {
    // SAFETY: forwarded caller guarantees.
    unsafe {
        with_builder(builder, |b| {
            let credentials = Credentials::ApiKey {
                key_id: str_arg(key_id, "key_id")?.to_owned(),
                secret: SecretString::new(str_arg(secret, "secret")?),
                style,
            };
            b.config.credentials = Some(credentials);
            Ok(())
        })
    }
}

/// Authenticates with OAuth2 client credentials, `client_secret_post`.
/// Replaces any credentials set before. The client ID format (20 to 32
/// characters of `A-Z0-9`) and the secret's bounds are checked by
/// `alpaca_auth_builder_build`, which also needs a token endpoint: the
/// `broker` or `broker-sandbox` environment, or `alpaca_auth_builder_set_token_url`.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `client_id`
/// and `secret` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_client_secret(
    builder: *mut alpaca_auth_builder,
    client_id: *const c_char,
    secret: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder and str_arg need.
        unsafe {
            with_builder(builder, |b| {
                let client_id = str_arg(client_id, "client_id")?;
                let secret = SecretString::new(str_arg(secret, "secret")?);
                let credentials = Credentials::client_secret(client_id, secret);
                b.config.credentials = Some(credentials);
                Ok(())
            })
        }
    })
}

/// Authenticates with OAuth2 client credentials, `private_key_jwt`: a client
/// assertion signed with this key for every token request. The key is
/// `key_len` bytes of PEM text (PKCS#8, SEC1 or PKCS#1) or DER; it is parsed
/// here and copied, so the caller may wipe its buffer on return. Replaces any
/// credentials set before.
///
/// A key that cannot be loaded (garbage, encrypted, an unsupported curve,
/// zero length): `ALPACA_AUTH_RESULT_INVALID_KEY`, builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `client_id` is
/// NULL or a NUL-terminated string; `key` is NULL or points to `key_len`
/// readable bytes.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_client_private_key(
    builder: *mut alpaca_auth_builder,
    client_id: *const c_char,
    key: *const u8,
    key_len: usize,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder, str_arg and
        // bytes_arg need.
        unsafe {
            with_builder(builder, |b| {
                let client_id = str_arg(client_id, "client_id")?.to_owned();
                let key = PrivateKey::from_bytes(bytes_arg(key, key_len, "key")?)?;
                let credentials = Credentials::private_key_jwt(client_id, key);
                b.config.credentials = Some(credentials);
                Ok(())
            })
        }
    })
}

/// Authenticates with OAuth2 client credentials, `private_key_jwt`, with
/// client assertions signed on a PKCS#11 token (an HSM; the key never
/// leaves it): `uri` is an RFC 7512 URI naming the module, the token, the
/// key and the PIN, for example
/// `pkcs11:token=trading;object=alpaca?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/run/secrets/pin`
/// (the same as `APCA_PKCS11_URI`). The module is loaded, the session
/// logged in and the key found here; the PIN is never shown. Replaces any
/// credentials set before.
///
/// A library built without the cargo feature `pkcs11`, or a URI that cannot
/// be used: `ALPACA_AUTH_RESULT_CONFIG`; a module that does not load, a
/// refused PIN, no such token or key, or a key of another type:
/// `ALPACA_AUTH_RESULT_INVALID_KEY`; builder unchanged either way.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `client_id`
/// and `uri` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_client_pkcs11(
    builder: *mut alpaca_auth_builder,
    client_id: *const c_char,
    uri: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder and str_arg need.
        unsafe {
            with_builder(builder, |b| {
                let client_id = str_arg(client_id, "client_id")?.to_owned();
                let uri = SecretString::new(str_arg(uri, "uri")?);
                let signer = crate::signer::pkcs11_signer(uri.expose_secret(), None)?;
                b.config.credentials = Some(Credentials::private_key_jwt(client_id, signer));
                Ok(())
            })
        }
    })
}

/// Authenticates with OAuth2 client credentials, `private_key_jwt`, with
/// client assertions signed by `signer`, the application's callback for a
/// key the library never sees (see `alpaca_auth_signer`). The struct and
/// what it points to are copied; on `ALPACA_AUTH_RESULT_OK` the library
/// owns `user_data` and calls `free_user_data` (if set) exactly once for
/// this call. Replaces any credentials set before. The assertion options
/// (`alpaca_auth_builder_set_assertion_kid` and the others) apply, except
/// the algorithm, which is the signer's.
///
/// Refused, with nothing kept and `user_data` still the caller's: NULL
/// (`ALPACA_AUTH_RESULT_NULL_ARGUMENT`); a `struct_size` too small, no
/// `sign` callback, a `signature_format` that
/// is unknown or DER for another algorithm than ES256
/// (`ALPACA_AUTH_RESULT_INVALID_ARGUMENT`); an unknown algorithm
/// (`ALPACA_AUTH_RESULT_CONFIG`); neither a public key nor an identity, or
/// a public key not of the algorithm's form
/// (`ALPACA_AUTH_RESULT_INVALID_KEY`).
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `client_id` is
/// NULL or a NUL-terminated string; `signer` is NULL or points to an
/// `alpaca_auth_signer` with `struct_size` set, whose callbacks follow its
/// rules for as long as the library holds them.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_client_signer(
    builder: *mut alpaca_auth_builder,
    client_id: *const c_char,
    signer: *const alpaca_auth_signer,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder, str_arg
        // and callback_signer need.
        unsafe {
            with_builder(builder, |b| {
                let client_id = str_arg(client_id, "client_id")?.to_owned();
                let signer = callback_signer(signer, Config::check_signer)?;
                b.config.credentials = Some(Credentials::private_key_jwt(client_id, signer));
                Ok(())
            })
        }
    })
}

/// Adds a `kid` (key ID) header to client assertions. There is none by
/// default (Alpaca is reported to refuse one). Only for a private key, set
/// with `alpaca_auth_builder_set_client_private_key` (in either order) or
/// read from the environment by `alpaca_auth_builder_new_from_env` (over
/// the `APCA_ASSERTION_*` variables); `alpaca_auth_builder_build` fails with
/// `ALPACA_AUTH_RESULT_CONFIG` otherwise.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `kid` is NULL
/// or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_assertion_kid(
    builder: *mut alpaca_auth_builder,
    kid: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_assertion_text(builder, kid, "kid", |a| &mut a.kid) }
    })
}

/// Sets an assertion option given as a non-empty string.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `value` is
/// NULL or a NUL-terminated string.
unsafe fn set_assertion_text(
    builder: *mut alpaca_auth_builder,
    value: *const c_char,
    name: &'static str,
    field: fn(&mut AssertionOverrides) -> &mut Option<String>,
) -> Result<(), Failure> {
    // SAFETY: forwarded caller guarantees.
    unsafe {
        with_builder(builder, |b| {
            *field(&mut b.config.assertion) = Some(non_empty_arg(value, name)?);
            Ok(())
        })
    }
}

/// Sets the `aud` claim of client assertions exactly (by default the token
/// endpoint URL as requested). Servers following the IETF update of
/// RFC 7523 want their issuer identifier here. Applies to the private key
/// as `alpaca_auth_builder_set_assertion_kid` does. An empty audience:
/// `ALPACA_AUTH_RESULT_INVALID_ARGUMENT`, builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `audience` is
/// NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_assertion_audience(
    builder: *mut alpaca_auth_builder,
    audience: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_assertion_text(builder, audience, "audience", |a| &mut a.audience) }
    })
}

/// Sets the `typ` header of client assertions (default `JWT`), for example
/// `client-authentication+jwt` for servers following the IETF update of
/// RFC 7523. Applies to the private key as
/// `alpaca_auth_builder_set_assertion_kid` does. An empty `typ`:
/// `ALPACA_AUTH_RESULT_INVALID_ARGUMENT`, builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `typ` is NULL
/// or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_assertion_typ(
    builder: *mut alpaca_auth_builder,
    typ: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_assertion_text(builder, typ, "typ", |a| &mut a.typ) }
    })
}

/// Sets the lifetime of client assertions (`exp - iat`) in seconds, within
/// `ALPACA_AUTH_MIN_ASSERTION_LIFETIME_S` and
/// `ALPACA_AUTH_MAX_ASSERTION_LIFETIME_S` (default
/// `ALPACA_AUTH_DEFAULT_ASSERTION_LIFETIME_S`). Applies to the private key as
/// `alpaca_auth_builder_set_assertion_kid` does. Out of range:
/// `ALPACA_AUTH_RESULT_CONFIG`, builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_assertion_lifetime_s(
    builder: *mut alpaca_auth_builder,
    seconds: u64,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder needs.
        unsafe {
            with_builder(builder, |b| {
                Ok(b.config
                    .assertion
                    .set_lifetime(Duration::from_secs(seconds))?)
            })
        }
    })
}

/// Sets the signing algorithm of client assertions by its JOSE name:
/// `RS256` or `PS256` for an RSA key, `EdDSA` or `Ed25519` (RFC 9864) for an
/// Ed25519 key, `ES256` for a P-256 key (each key's default is the first
/// it can sign). An unknown name: `ALPACA_AUTH_RESULT_CONFIG`, builder
/// unchanged; a name the key cannot sign is reported by
/// `alpaca_auth_builder_build`. Applies to the private key as
/// `alpaca_auth_builder_set_assertion_kid` does.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `alg` is NULL
/// or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_assertion_alg(
    builder: *mut alpaca_auth_builder,
    alg: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder and str_arg need.
        unsafe {
            with_builder(builder, |b| {
                let alg: Algorithm = str_arg(alg, "alg")?.parse()?;
                b.config.assertion.alg = Some(alg);
                Ok(())
            })
        }
    })
}

/// Sets the `scope` of token requests (RFC 6749 section 3.3): scope tokens
/// separated by single spaces, sent form-encoded; none by default. For
/// client credentials only (`alpaca_auth_builder_build` refuses it with an
/// API key). A malformed scope: `ALPACA_AUTH_RESULT_CONFIG`, builder
/// unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `scope` is
/// NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_scope(
    builder: *mut alpaca_auth_builder,
    scope: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder and str_arg need.
        unsafe {
            with_builder(builder, |b| {
                Ok(b.config.set_scope(str_arg(scope, "scope")?)?)
            })
        }
    })
}
