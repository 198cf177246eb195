//! `alpaca_auth_builder`: the configuration of a client, consumed by
//! `alpaca_auth_builder_build`.

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use super::client::alpaca_auth_client;
use super::error::Failure;
use super::event::{alpaca_auth_event, alpaca_auth_event_callback, EventGate, UserData};
use super::panic::ffi_boundary;
use super::result::alpaca_auth_result;
use super::{bytes_arg, new_handle, non_empty_arg, reset_out, str_arg};
use crate::client::Timeout;
use crate::env_config::var;
use crate::{
    Algorithm, ApiKeyStyle, AssertionOptions, ClientAuth, ClientBuilder, Credentials, Endpoints,
    Environment, PrivateKey, ProxySetting, SecretString, TlsRoots,
};

/// The configuration of a client (opaque). Create it with
/// `alpaca_auth_builder_new` or `alpaca_auth_builder_new_from_env`, adjust it
/// with the `alpaca_auth_builder_set_*` functions, and turn it into a client
/// with `alpaca_auth_builder_build`, which always consumes it.
///
/// A builder is not for concurrent use: one thread at a time.
pub struct alpaca_auth_builder {
    /// Every setting but the two below, set by the setters as they are called.
    base: ClientBuilder,
    /// The assertion options set, in the order set: `_build` applies them to
    /// the private key, whether it was set before or after them or read from
    /// the environment.
    assertion: Vec<AssertionSetting>,
    events: Option<(
        unsafe extern "C" fn(*const alpaca_auth_event, *mut c_void),
        UserData,
    )>,
}

/// An assertion option set through the C API.
struct AssertionSetting {
    /// Its name, for the error when there is no private key.
    name: &'static str,
    apply: AssertionEdit,
}

/// What an assertion option does to the private key and its options.
type AssertionEdit =
    Box<dyn FnOnce(&mut Arc<PrivateKey>, AssertionOptions) -> Result<AssertionOptions, Failure>>;

impl alpaca_auth_builder {
    fn new(base: ClientBuilder) -> Self {
        alpaca_auth_builder {
            base,
            assertion: Vec::new(),
            events: None,
        }
    }

    /// Applies a `ClientBuilder` method to the base configuration.
    fn update(&mut self, f: impl FnOnce(ClientBuilder) -> ClientBuilder) {
        self.base = f(std::mem::take(&mut self.base));
    }

    /// Shares tokens through `store` (`alpaca_auth_builder_set_token_store`).
    pub(crate) fn set_token_store(&mut self, store: Arc<dyn crate::TokenStore>) {
        self.update(|base| base.token_store(store));
    }

    /// Records an assertion option (replacing an earlier value of it).
    fn set_assertion(&mut self, name: &'static str, apply: AssertionEdit) {
        self.assertion.retain(|setting| setting.name != name);
        self.assertion.push(AssertionSetting { name, apply });
    }

    /// Records an assertion option that only edits the options.
    fn set_assertion_option(
        &mut self,
        name: &'static str,
        edit: impl FnOnce(AssertionOptions) -> AssertionOptions + 'static,
    ) {
        self.set_assertion(name, Box::new(|_, options| Ok(edit(options))));
    }

    /// The client builder, and the gate that `alpaca_auth_client_free`
    /// closes so that no event callback runs after it returns.
    fn into_client_builder(self) -> Result<(ClientBuilder, EventGate), Failure> {
        let mut base = self.base;
        apply_assertion_settings(&mut base, self.assertion)?;
        let gate = EventGate::default();
        if let Some((callback, user_data)) = self.events {
            let open = gate.clone();
            base = base.on_event(move |event| {
                // A fetch on a library thread may outlive the client: once
                // it is freed, its user_data may be gone.
                open.run(|| {
                    if let Some(event) = alpaca_auth_event::from_event(event) {
                        // SAFETY: the caller of set_event_callback
                        // guarantees a function callable from any thread with
                        // `user_data` until the client is freed (the gate is
                        // open); the event lives for the call.
                        unsafe { callback(&event, user_data.get()) };
                    }
                });
            });
        }
        Ok((base, gate))
    }
}

/// Applies the assertion options set to the private key of `base`; refuses
/// them without one.
fn apply_assertion_settings(
    base: &mut ClientBuilder,
    settings: Vec<AssertionSetting>,
) -> Result<(), Failure> {
    let Some(first) = settings.first() else {
        return Ok(());
    };
    let Some(Credentials::ClientCredentials {
        auth: ClientAuth::PrivateKeyJwt { key, options },
        ..
    }) = base.credentials_mut()
    else {
        return Err(Failure::new(
            alpaca_auth_result::Config,
            format!(
                "an assertion {} was set, but no private key: assertion options apply only to a key set with alpaca_auth_builder_set_client_private_key or read from {} / {}",
                first.name,
                var::PRIVATE_KEY_PATH,
                var::PRIVATE_KEY
            ),
        ));
    };
    for setting in settings {
        let current = std::mem::take(options);
        *options = (setting.apply)(key, current)?;
    }
    Ok(())
}

/// Runs a setter's `body` on the builder behind a pointer.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
pub(crate) unsafe fn with_builder(
    builder: *mut alpaca_auth_builder,
    body: impl FnOnce(&mut alpaca_auth_builder) -> Result<(), Failure>,
) -> Result<(), Failure> {
    // SAFETY: the caller guarantees NULL or a live, exclusively used builder
    // from alpaca_auth_builder_new*.
    body(unsafe { builder.as_mut() }.ok_or_else(|| Failure::null("builder"))?)
}

/// Creates a builder with the documented defaults: environment `paper`, no
/// credentials, the environment's URLs, the default timeouts (the
/// `DEFAULT_*` values of the library's `limits` module; see
/// docs/c-api.md), the proxy from `ALL_PROXY`/`HTTPS_PROXY`/`HTTP_PROXY`/
/// `NO_PROXY`, the webpki roots.
///
/// On success `*builder_out` owns a builder: pass it to
/// `alpaca_auth_builder_build` (which frees it) or `alpaca_auth_builder_free`.
///
/// # Safety
///
/// `builder_out` is NULL or valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_new(
    builder_out: *mut *mut alpaca_auth_builder,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller guarantees NULL or a writable pointer.
        unsafe {
            new_handle(builder_out, "builder_out", || {
                Ok(alpaca_auth_builder::new(ClientBuilder::default()))
            })
        }
    })
}

/// Creates a builder configured from the `APCA_*` environment variables
/// (the README's "Environment variables" table lists them). Setters called
/// afterwards override what
/// the variables said (credentials set by a setter replace those of the
/// variables).
///
/// Partial or ambiguous variables: `ALPACA_AUTH_RESULT_CONFIG`, with a last
/// error naming the variables; an unreadable key file:
/// `ALPACA_AUTH_RESULT_INVALID_KEY`.
///
/// # Safety
///
/// `builder_out` is NULL or valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_new_from_env(
    builder_out: *mut *mut alpaca_auth_builder,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller guarantees NULL or a writable pointer.
        unsafe {
            new_handle(builder_out, "builder_out", || {
                Ok(alpaca_auth_builder::new(
                    ClientBuilder::default().from_env()?,
                ))
            })
        }
    })
}

/// Frees a builder that was not passed to `alpaca_auth_builder_build`.
/// `NULL` is a no-op.
///
/// # Safety
///
/// `builder` is NULL or a builder from `alpaca_auth_builder_new*` that has
/// not been freed or built, and that no other thread is using.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_free(builder: *mut alpaca_auth_builder) {
    ffi_boundary!({
        if !builder.is_null() {
            // SAFETY: the caller guarantees a live builder from Box::into_raw
            // in alpaca_auth_builder_new*, freed only here or by _build.
            drop(unsafe { Box::from_raw(builder) });
        }
    })
}

/// Sets the environment by name: `live`, `paper` (the default), `broker` or
/// `broker-sandbox` (ASCII case ignored, `_` accepted for `-`).
///
/// An unknown name: `ALPACA_AUTH_RESULT_CONFIG`, builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `name` is NULL
/// or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_environment(
    builder: *mut alpaca_auth_builder,
    name: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder and str_arg need.
        unsafe {
            with_builder(builder, |b| {
                let environment: Environment = str_arg(name, "name")?.parse()?;
                b.update(|base| base.environment(environment));
                Ok(())
            })
        }
    })
}

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
            b.update(|base| base.credentials(credentials));
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
                b.update(|base| base.credentials(credentials));
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
                b.update(|base| base.credentials(credentials));
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
        unsafe { set_assertion_text(builder, kid, "kid", |options, value| options.kid(value)) }
    })
}

/// Records an assertion option given as a non-empty string.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `value` is
/// NULL or a NUL-terminated string.
unsafe fn set_assertion_text(
    builder: *mut alpaca_auth_builder,
    value: *const c_char,
    name: &'static str,
    edit: fn(AssertionOptions, String) -> AssertionOptions,
) -> Result<(), Failure> {
    // SAFETY: forwarded caller guarantees.
    unsafe {
        with_builder(builder, |b| {
            let value = non_empty_arg(value, name)?;
            b.set_assertion_option(name, move |options| edit(options, value));
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
        unsafe {
            set_assertion_text(builder, audience, "audience", |options, value| {
                options.audience(value)
            })
        }
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
        unsafe {
            set_assertion_text(builder, typ, "typ", |options, value| {
                options.typ(Some(value))
            })
        }
    })
}

/// Sets the lifetime of client assertions (`exp - iat`) in seconds, within
/// the library's `MIN_ASSERTION_LIFETIME` and `MAX_ASSERTION_LIFETIME`
/// (default `DEFAULT_ASSERTION_LIFETIME`). Applies to the private key as
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
                let lifetime = Duration::from_secs(seconds);
                AssertionOptions::new().lifetime(lifetime).lifetime_secs()?;
                b.set_assertion_option("lifetime", move |options| options.lifetime(lifetime));
                Ok(())
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
                b.set_assertion(
                    "alg",
                    Box::new(move |key, options| {
                        Arc::get_mut(key)
                            .ok_or_else(|| {
                                Failure::new(
                                    alpaca_auth_result::Config,
                                    "the private key is shared and its algorithm cannot change",
                                )
                            })?
                            .set_algorithm(alg)?;
                        Ok(options)
                    }),
                );
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
                let scope = str_arg(scope, "scope")?;
                crate::client::validate_scope(scope)?;
                let scope = scope.to_owned();
                b.update(|base| base.scope(scope));
                Ok(())
            })
        }
    })
}

/// Shares tokens with the other processes of this user that use the same
/// directory and credential (the built-in file token store; the same as
/// `APCA_TOKEN_CACHE_DIR`): one token request per rotation for the whole
/// fleet. `dir` is an absolute path with no `.` or `..` component and no
/// trailing slash (otherwise `alpaca_auth_builder_build` fails with
/// `ALPACA_AUTH_RESULT_CONFIG`); the directory is created with mode 0700 by
/// `alpaca_auth_builder_build`. A directory that cannot be trusted (another
/// user owns it or can write a directory above it, a symbolic link on the
/// path, permissions open to others) does not fail the build: the client
/// runs without sharing, reports `ALPACA_AUTH_EVENT_KIND_STORE_UNAVAILABLE`
/// to its event callback, and `alpaca_auth_client_token_store_status` says
/// why. Only the access token and its expiry are stored, never a secret or
/// key. No effect for API keys. Works in processes forked after the client
/// was built.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `dir` is NULL
/// or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_token_cache_dir(
    builder: *mut alpaca_auth_builder,
    dir: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder and str_arg need.
        unsafe {
            with_builder(builder, |b| {
                let dir = non_empty_arg(dir, "dir")?;
                b.update(|base| base.token_cache_dir(dir));
                Ok(())
            })
        }
    })
}

/// Which URL a `set_*_url` call overrides.
#[derive(Clone, Copy)]
enum UrlSetting {
    ApiBase,
    DataBase,
    Token,
}

/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `url` is NULL
/// or a NUL-terminated string.
unsafe fn set_url(
    builder: *mut alpaca_auth_builder,
    url: *const c_char,
    which: UrlSetting,
) -> Result<(), Failure> {
    // SAFETY: forwarded caller guarantees.
    unsafe {
        with_builder(builder, |b| {
            let url = str_arg(url, "url")?;
            // Validated now, the same way build does.
            let environment = Environment::default();
            match which {
                UrlSetting::ApiBase => Endpoints::resolve(environment, Some(url), None, None),
                UrlSetting::DataBase => Endpoints::resolve(environment, None, Some(url), None),
                UrlSetting::Token => Endpoints::resolve(environment, None, None, Some(url)),
            }?;
            let url = url.to_owned();
            b.update(|base| match which {
                UrlSetting::ApiBase => base.api_base_url(url),
                UrlSetting::DataBase => base.data_base_url(url),
                UrlSetting::Token => base.token_url(url),
            });
            Ok(())
        })
    }
}

/// Overrides the Trading/Broker API base URL. `https://`, or `http://` to a
/// loopback host only; no `user:password@`. A refused URL:
/// `ALPACA_AUTH_RESULT_CONFIG`, builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `url` is NULL
/// or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_api_base_url(
    builder: *mut alpaca_auth_builder,
    url: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_url(builder, url, UrlSetting::ApiBase) }
    })
}

/// Overrides the Market Data API base URL. Same rules as
/// `alpaca_auth_builder_set_api_base_url`.
///
/// # Safety
///
/// As `alpaca_auth_builder_set_api_base_url`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_data_base_url(
    builder: *mut alpaca_auth_builder,
    url: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_url(builder, url, UrlSetting::DataBase) }
    })
}

/// Overrides the OAuth2 token endpoint (also the `aud` of client
/// assertions). Same rules as `alpaca_auth_builder_set_api_base_url`.
///
/// # Safety
///
/// As `alpaca_auth_builder_set_api_base_url`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_token_url(
    builder: *mut alpaca_auth_builder,
    url: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_url(builder, url, UrlSetting::Token) }
    })
}

/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
unsafe fn set_timeout(
    builder: *mut alpaca_auth_builder,
    ms: u64,
    which: Timeout,
) -> Result<(), Failure> {
    // SAFETY: forwarded caller guarantees.
    unsafe {
        with_builder(builder, |b| {
            Ok(b.base
                .set_timeout_checked(which, Duration::from_millis(ms))?)
        })
    }
}

/// Sets the connect timeout, in milliseconds (default 5000). Zero or more
/// than 600000: `ALPACA_AUTH_RESULT_CONFIG`, builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_connect_timeout_ms(
    builder: *mut alpaca_auth_builder,
    ms: u64,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_timeout(builder, ms, Timeout::Connect) }
    })
}

/// Sets the timeout of one token request attempt, in milliseconds (default
/// 10000). Zero or more than 600000: `ALPACA_AUTH_RESULT_CONFIG`, builder
/// unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_request_timeout_ms(
    builder: *mut alpaca_auth_builder,
    ms: u64,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_timeout(builder, ms, Timeout::Request) }
    })
}

/// Sets the time budget of one token acquisition, every attempt and wait
/// together, in milliseconds (default 30000). Zero or more than 600000:
/// `ALPACA_AUTH_RESULT_CONFIG`, builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_token_budget_ms(
    builder: *mut alpaca_auth_builder,
    ms: u64,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_timeout(builder, ms, Timeout::Budget) }
    })
}

/// Sets the longest any call waits for a token, in milliseconds (default:
/// the token budget). A call that finds no valid token waits for the
/// request under way at most this long, then returns
/// `ALPACA_AUTH_RESULT_TIMEOUT` while the request goes on; a call with a
/// valid token never waits. With the default, the first call sends the
/// token request on its own thread; below the budget, a library thread
/// sends it. Every mode: "Which thread sends a token request" in the crate
/// docs (`cargo doc --open`, then `alpaca_auth`). Zero or more than
/// 600000: `ALPACA_AUTH_RESULT_CONFIG`, builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_max_wait_ms(
    builder: *mut alpaca_auth_builder,
    ms: u64,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe { set_timeout(builder, ms, Timeout::MaxWait) }
    })
}

/// Trusts the CA certificates of a PEM bundle (`pem_len` bytes) in addition
/// to the built-in webpki roots, for TLS-inspecting proxies. May be called
/// more than once. The bytes are copied.
///
/// No `-----BEGIN CERTIFICATE-----` block, or one that does not decode:
/// `ALPACA_AUTH_RESULT_CONFIG`, builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `pem` is NULL
/// or points to `pem_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_add_ca_bundle_pem(
    builder: *mut alpaca_auth_builder,
    pem: *const u8,
    pem_len: usize,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder and bytes_arg need.
        unsafe {
            with_builder(builder, |b| {
                let pem = bytes_arg(pem, pem_len, "pem")?;
                Ok(b.base.add_ca_bundle_pem_checked(pem)?)
            })
        }
    })
}

/// Trusts the CA certificates of a PEM file, read now (at most the
/// library's `MAX_CA_BUNDLE_LEN` bytes), as
/// `alpaca_auth_builder_add_ca_bundle_pem` trusts a bundle in memory; the
/// file `APCA_CA_BUNDLE` names is read the same way. May be called more
/// than once.
///
/// A file that cannot be read, is not a regular file, or holds no
/// certificate: `ALPACA_AUTH_RESULT_CONFIG` (the last error shows the
/// path, never the content), builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `path` is NULL
/// or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_add_ca_bundle_file(
    builder: *mut alpaca_auth_builder,
    path: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder and non_empty_arg need.
        unsafe {
            with_builder(builder, |b| {
                let path = non_empty_arg(path, "path")?;
                let certs = crate::trust::read_ca_file(std::path::Path::new(&path))?;
                b.base.add_ca_certificates(certs);
                Ok(())
            })
        }
    })
}

/// Chooses the roots of trust of token requests by name: `env` (the
/// default: the certificates of `SSL_CERT_FILE` and `SSL_CERT_DIR` when
/// either is set, else the Mozilla roots bundled in the library), `bundled`
/// (the bundled roots, whatever the environment says) or `platform` (the
/// operating system's verifier; only in a library built with the
/// `platform-verifier` feature, and without an added CA bundle, both
/// checked by `alpaca_auth_builder_build`). CA bundles added with
/// `alpaca_auth_builder_add_ca_bundle_pem` are trusted too. An unknown
/// name: `ALPACA_AUTH_RESULT_CONFIG`, builder unchanged.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `name` is NULL
/// or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_tls_roots(
    builder: *mut alpaca_auth_builder,
    name: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder and str_arg need.
        unsafe {
            with_builder(builder, |b| {
                let roots: TlsRoots = str_arg(name, "name")?.parse()?;
                b.update(|base| base.tls_roots(roots));
                Ok(())
            })
        }
    })
}

/// Sends token requests through this proxy (`http://host:port` or
/// `https://host:port`; SOCKS is not supported; it may carry
/// `user:password@`, which is never printed). The URL is checked by
/// `alpaca_auth_builder_build`, which refuses it with a plain `http://`
/// token URL. An empty
/// string: `ALPACA_AUTH_RESULT_INVALID_ARGUMENT` (use
/// `alpaca_auth_builder_disable_proxy` for no proxy).
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `url` is NULL
/// or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_proxy(
    builder: *mut alpaca_auth_builder,
    url: *const c_char,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder and str_arg need.
        unsafe {
            with_builder(builder, |b| {
                let url = str_arg(url, "url")?;
                if url.trim().is_empty() {
                    return Err(Failure::new(
                        alpaca_auth_result::InvalidArgument,
                        "the proxy URL is empty; call alpaca_auth_builder_disable_proxy for no proxy",
                    ));
                }
                let proxy = ProxySetting::Url(SecretString::new(url));
                b.update(|base| base.proxy(proxy));
                Ok(())
            })
        }
    })
}

/// Sends token requests directly, whatever the proxy environment variables
/// say.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_disable_proxy(
    builder: *mut alpaca_auth_builder,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe {
            with_builder(builder, |b| {
                b.update(|base| base.proxy(ProxySetting::Disabled));
                Ok(())
            })
        }
    })
}

/// Turns the background refresher on (`true`) or off (`false`, the
/// default). When on, the client owns a thread that fetches the first token
/// at once and refreshes it ahead of expiry, so no caller ever waits for a
/// refresh; `alpaca_auth_client_free` stops and joins it (waiting at most
/// the library's `REFRESHER_SHUTDOWN_WAIT` for a token request in
/// progress). See
/// `alpaca_auth_client_refresher_status`. No effect for API keys.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_background_refresh(
    builder: *mut alpaca_auth_builder,
    on: bool,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe {
            with_builder(builder, |b| {
                b.update(|base| base.background_refresh(on));
                Ok(())
            })
        }
    })
}

/// Sets a callback for the events of the token lifecycle (token fetched,
/// fetch failed with its kind and HTTP status, hold started and ended,
/// background refresher overdue, fork detected), called with `user_data`
/// (default: none; the library logs nothing). `callback = NULL` removes
/// it. The callback runs on whichever thread the event happens, never while
/// a lock of the library is held: `user_data` must be usable from any
/// thread, and stay valid until the client is freed. No callback runs after
/// `alpaca_auth_client_free` returns (it waits for one that is running), so
/// the callback must not free the client itself.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `callback`
/// is NULL or a function that may be called from any thread with
/// `user_data`.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_event_callback(
    builder: *mut alpaca_auth_builder,
    callback: alpaca_auth_event_callback,
    user_data: *mut c_void,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: forwarded caller guarantees.
        unsafe {
            with_builder(builder, |b| {
                b.events = callback.map(|callback| (callback, UserData(user_data)));
                Ok(())
            })
        }
    })
}

/// Validates the configuration and creates the client (no network request
/// is made). **The builder is always consumed**, on failure too: do not use
/// or free it afterwards (unless it was NULL).
///
/// On success `*client_out` owns a client: free it with
/// `alpaca_auth_client_free`. Failures: `ALPACA_AUTH_RESULT_CONFIG` (no or
/// malformed credentials, client credentials without a token endpoint, a
/// `kid` without a private key, ...), `ALPACA_AUTH_RESULT_INVALID_KEY`, with
/// the detail in the last error.
///
/// # Safety
///
/// `builder` is NULL or a live builder that no other thread is using;
/// `client_out` is NULL or valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_build(
    builder: *mut alpaca_auth_builder,
    client_out: *mut *mut alpaca_auth_client,
) -> alpaca_auth_result {
    ffi_boundary!({
        // SAFETY: reset_out checks for NULL; the caller guarantees it is
        // otherwise writable.
        unsafe { reset_out(client_out) };
        if builder.is_null() {
            return Err(Failure::null("builder"));
        }
        // SAFETY: not NULL; the caller guarantees a live builder from
        // Box::into_raw in alpaca_auth_builder_new*. Taking it back here is
        // what consumes it, whatever happens next.
        let builder = unsafe { Box::from_raw(builder) };
        // SAFETY: the caller guarantees NULL or a writable pointer.
        unsafe {
            new_handle(client_out, "client_out", || {
                let (client, events) = builder.into_client_builder()?;
                alpaca_auth_client::with_events(client.build()?, events)
            })
        }
    })
}
