//! Blocking authentication for Alpaca's Trading, Broker and Market Data APIs.
//!
//! * Picks the right hosts for [`Environment::Live`], [`Environment::Paper`]
//!   (the default), [`Environment::Broker`] and
//!   [`Environment::BrokerSandbox`].
//! * Authenticates with an API key pair (APCA headers or HTTP Basic), or with
//!   OAuth2 client credentials: `client_secret_post`, or `private_key_jwt`
//!   signed locally (RFC 7523).
//! * Caches the access token, refreshes it ahead of expiry with exactly one
//!   request however many threads ask, and hands out ready-made headers.
//!
//! No async runtime: every call blocks, and only a call that finds no valid
//! token waits for the network.
//!
//! ```no_run
//! use alpaca_auth::Client;
//!
//! // APCA_ENVIRONMENT=broker-sandbox APCA_CLIENT_ID=... APCA_CLIENT_SECRET=...
//! let client = Client::from_env()?;
//! let headers = client.auth_headers()?; // cached after the first call
//! let url = format!("{}/v1/accounts", client.endpoints().api_base());
//! let response = client.authorize(ureq::get(&url))?.call();
//! if matches!(&response, Err(ureq::Error::StatusCode(401))) {
//!     client.invalidate(); // the next call fetches a new token
//! }
//! # let _ = headers;
//! # Ok::<(), alpaca_auth::Error>(())
//! ```
//!
//! # Which thread sends a token request
//!
//! This is the one statement of the rule: the builder's methods, the C
//! header and `docs/behaviour.md` point here. A call that finds a valid
//! token sends nothing (at most it starts a refresh ahead, below). When a
//! token is needed, exactly one request runs however many threads ask
//! (single flight), on this thread (each case is a test in
//! `tests/threading_contract.rs`):
//!
//! | mode | the thread that sends the token request |
//! |------|------------------------------------------|
//! | default settings, no valid token (the first call, after `invalidate`, after expiry) | the caller's: the calling thread that claims the request sends it; other callers wait for it |
//! | [`max_wait`](ClientBuilder::max_wait) below the [token budget](ClientBuilder::token_budget) | a fetch thread of the library's own, named `alpaca-auth-fetch`; callers wait for it at most `max_wait` |
//! | a token store ([`token_store`](ClientBuilder::token_store), [`token_cache_dir`](ClientBuilder::token_cache_dir)) | `alpaca-auth-fetch`; the calls into the store run on threads named `alpaca-auth-store` |
//! | a [background refresher](ClientBuilder::background_refresh) | its thread, `alpaca-auth-refresh`: the first token (`alpaca-auth-fetch` instead when `max_wait` is below the budget or there is a token store) and every refresh ahead; a caller that finds no valid token before the refresher has claimed the request (right after `build`, after `invalidate`) sends it as in the rows above |
//! | refresh ahead (a valid token in its refresh window, no refresher, or one that is overdue) | `alpaca-auth-fetch`, started by the first caller to notice; every caller keeps the valid token meanwhile |
//! | `try_` calls ([`Client::try_with_auth_header`], C `alpaca_auth_client_try_header_line`) | never the caller's: `alpaca-auth-fetch`, started when no request is under way and no failure hold applies; the call returns a [`WouldBlock`](ErrorKind::WouldBlock) error at once |
//!
//! Only if the system refuses to start a thread does a caller that claimed
//! a request (never a `try_` call) send it itself rather than fail.
//!
//! **`try_` means "does not block"**, in Rust, C and C++ alike: a function
//! whose name starts with `try_` never waits for a token and never sends a
//! request on the caller's thread. (The C++ wrapper's forms that return a
//! result code instead of throwing take a `std::nothrow` first argument.)
//!
//! # Configuration
//!
//! Every setting can be made in three ways, all writing one configuration
//! with one set of defaults ([`limits`]) and one set of checks: the
//! [`ClientBuilder`], the `APCA_*` environment variables
//! ([`ClientBuilder::from_env`]; the README lists them) and the C builder
//! (`alpaca_auth_builder_set_*`, each refusing a bad value at once). The
//! settings without a variable are the event callback and a token store of
//! the application's, which are code.
//!
//! Secrets ([`SecretString`]), tokens ([`AccessToken`]), private keys
//! ([`PrivateKey`]) and header values are redacted from every `Debug`
//! output and error message, and zeroized when dropped.
//!
//! Where to read more:
//!
//! * every default and every limit, each with its reason: [`limits`];
//! * when a token is refreshed: [`RefreshPolicy`]; how token requests are
//!   retried: [`RetryPolicy`]; how a failed fetch holds callers off, how
//!   the cache, the background refresher, `fork()` and shared token stores
//!   behave, what each failure looks like to a caller: `docs/behaviour.md`
//!   in the repository;
//! * the C and C++ API: `docs/c-api.md` and `include/alpaca_auth.h`;
//! * measured figures: `benches/README.md`.
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![warn(unreachable_pub)]

mod assertion;
mod cache;
mod client;
mod clock;
mod config;
mod credentials;
pub mod doctor;
mod env_config;
mod env_vars;
mod environment;
mod error;
mod error_body;
mod events;
#[allow(unsafe_code)]
#[doc(hidden)]
pub mod ffi;
mod fork;
#[doc(hidden)]
pub mod fuzzing;
mod headers;
mod key;
pub mod limits;
#[cfg(feature = "mock")]
pub mod mock;
#[cfg(feature = "pkcs11")]
mod pkcs11;
mod policy;
mod redact;
mod refresher;
mod replica;
mod resolver;
mod retry;
mod secret;
mod signer;
mod store;
mod token;
mod transport;
mod trust;
mod url;

pub use assertion::CLIENT_AUTHENTICATION_JWT_TYP;
pub use assertion::{sign_assertion, AssertionOptions};
pub use client::{Client, ClientBuilder, ClientStats, JWT_BEARER_ASSERTION_TYPE};
pub use credentials::{ApiKeyStyle, ClientAuth, Credentials};
pub use environment::{Endpoints, Environment};
pub use error::{Error, ErrorKind, OAuthError, Result};
pub use events::Event;
pub use headers::{AuthHeaders, APCA_API_KEY_ID, APCA_API_SECRET_KEY};
pub use key::{Algorithm, PrivateKey};
#[cfg(feature = "pkcs11")]
pub use pkcs11::Pkcs11Signer;
pub use policy::RefreshPolicy;
pub use refresher::RefresherStatus;
pub use retry::RetryPolicy;
pub use secret::SecretString;
pub use signer::{es256_signature_from_der, AssertionSigner, SignerError, SigningKey};
pub use store::{FileStore, StoreKey, StoreLock, StoredToken, TokenStore, TokenStoreStatus};
pub use token::AccessToken;
pub use transport::ProxySetting;
pub use trust::TlsRoots;
/// The `http` crate the header types come from (re-exported by ureq).
pub use ureq::http;

/// The README's Rust examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The Rust examples of `docs/behaviour.md`, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/behaviour.md")]
pub struct BehaviourDoctests;
