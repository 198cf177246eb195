//! `alpaca_auth_builder`: a client's `Config` behind a pointer, one thin
//! setter per field, consumed by `alpaca_auth_builder_build`. Each setter
//! runs the field's check of `Config` (so a refused value is reported by
//! the setter that took it, and leaves the builder unchanged);
//! `alpaca_auth_builder_build` runs `Config::validate` as
//! [`ClientBuilder::build`](crate::ClientBuilder::build) does.
//!
//! | Module          | Setters of                                              |
//! |-----------------|---------------------------------------------------------|
//! | this one        | lifetime of the builder, environment, events, refresher |
//! | [`credentials`] | API keys, client credentials, assertion options, scope  |
//! | [`network`]     | URLs, timeouts, trust, proxy, the token store directory |
//! | [`policy`]      | the refresh and retry policies                          |

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::client::alpaca_auth_client;
use super::error::Failure;
use super::event::{alpaca_auth_event, alpaca_auth_event_callback, EventGate, UserData};
use super::panic::ffi_boundary;
use super::result::alpaca_auth_result;
use super::{new_handle, reset_out, str_arg};
use crate::config::{Config, StoreChoice};
use crate::env_vars::process_env;
use crate::events::EventSink;
use crate::{Client, Environment};

pub mod credentials;
pub mod network;
pub mod policy;

pub use credentials::*;
pub use network::*;
pub use policy::*;

/// The configuration of a client (opaque). Create it with
/// `alpaca_auth_builder_new` or `alpaca_auth_builder_new_from_env`, adjust it
/// with the `alpaca_auth_builder_set_*` functions, and turn it into a client
/// with `alpaca_auth_builder_build`, which always consumes it.
///
/// A builder is not for concurrent use: one thread at a time.
pub struct alpaca_auth_builder {
    /// Every setting but the event callback.
    config: Config,
    /// The event callback, wrapped at build in the client's event gate.
    events: Option<(
        unsafe extern "C" fn(*const alpaca_auth_event, *mut c_void),
        UserData,
    )>,
}

impl alpaca_auth_builder {
    fn new(config: Config) -> Self {
        alpaca_auth_builder {
            config,
            events: None,
        }
    }

    /// Shares tokens through `store` (`alpaca_auth_builder_set_token_store`).
    pub(crate) fn set_token_store(&mut self, store: Arc<dyn crate::TokenStore>) {
        self.config.token_store = Some(StoreChoice::Custom(store));
    }

    /// The configuration, and the gate that `alpaca_auth_client_free`
    /// closes so that no event callback runs after it returns.
    fn into_config(self) -> (Config, EventGate) {
        let mut config = self.config;
        let gate = EventGate::default();
        if let Some((callback, user_data)) = self.events {
            let open = gate.clone();
            config.events = Some(EventSink::new(move |event| {
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
            }));
        }
        (config, gate)
    }
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
/// credentials, the environment's URLs, the default timeouts
/// (`ALPACA_AUTH_DEFAULT_*_MS`), refresh and retry policies (see
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
                Ok(alpaca_auth_builder::new(Config::default()))
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
                let mut config = Config::default();
                crate::env_config::apply(&mut config, &process_env)?;
                Ok(alpaca_auth_builder::new(config))
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
                b.config.environment = environment;
                Ok(())
            })
        }
    })
}

/// Turns the background refresher on (`true`) or off (`false`, the
/// default). When on, the client owns a thread that fetches the first token
/// at once and refreshes it ahead of expiry, so callers find a valid token;
/// if it falls behind (no new token once half the refresh window is gone),
/// callers start the refresh themselves, as without it (which thread sends
/// each request: "Which thread sends a token request" in the crate docs).
/// `alpaca_auth_client_free` stops and joins it (waiting at most
/// `ALPACA_AUTH_REFRESHER_SHUTDOWN_WAIT_MS` for a token request in
/// progress). See `alpaca_auth_client_refresher_status`. No effect for API
/// keys.
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
                b.config.background_refresh = on;
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
                let (config, events) = builder.into_config();
                alpaca_auth_client::with_events(Client::from_config(config)?, events)
            })
        }
    })
}
