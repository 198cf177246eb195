//! A local Alpaca-like authorization and resource server, for tests, the
//! demo, and users' own offline tests. Plain HTTP on loopback, std
//! networking only.
//!
//! * `POST /v1/oauth2/token` checks what Alpaca checks (form content type,
//!   `grant_type`, client ID format, secret only in the body, no
//!   `Authorization` header, assertions verified with the registered public
//!   key) and issues random JWT-shaped tokens of [`DEFAULT_TOKEN_LEN`]
//!   bytes.
//! * `GET /v2/account` accepts a valid bearer token, APCA key headers or
//!   HTTP Basic, and answers 401 otherwise.
//! * Counters, a record of the last token request, and fault injection.
//!
//! This module is the public face ([`MockServer`] and its settings); the
//! listener and routing, the shared state, the token endpoint's checks,
//! the tokens it issues, its faults, the account endpoint, HTTP parsing
//! and the assertion verifier ([`jwt`]) each have their own file.
//!
//! ```
//! use alpaca_auth::mock::{MockServer, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET};
//! use alpaca_auth::{Client, Credentials};
//!
//! let mock = MockServer::start()?;
//! let client = Client::builder()
//!     .credentials(Credentials::client_secret(MOCK_CLIENT_ID, MOCK_CLIENT_SECRET))
//!     .token_url(mock.token_url())
//!     .build()?;
//! client.access_token()?;
//! client.access_token()?;
//! assert_eq!(mock.token_requests(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod access_token;
mod account;
mod faults;
mod http;
pub mod jwt;
mod server;
mod state;
mod token_endpoint;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ring::rand::SystemRandom;
use serde_json::json;

pub use self::faults::Fault;
use self::jwt::RegisteredKey;
use self::server::Listener;
use self::state::Shared;

/// Path of the token endpoint, as on Alpaca's authx hosts.
pub const TOKEN_PATH: &str = "/v1/oauth2/token";
/// Path of the resource endpoint.
pub const ACCOUNT_PATH: &str = "/v2/account";
/// Client ID registered with [`MOCK_CLIENT_SECRET`] by default.
pub const MOCK_CLIENT_ID: &str = "MOCKCLIENT0000000001";
/// Client secret of [`MOCK_CLIENT_ID`]. A test value, not a secret.
pub const MOCK_CLIENT_SECRET: &str = "mock-client-secret-0001";
/// API key ID registered with [`MOCK_API_SECRET_KEY`] by default.
pub const MOCK_API_KEY_ID: &str = "PKMOCK00000000000001";
/// API secret key of [`MOCK_API_KEY_ID`]. A test value, not a secret.
pub const MOCK_API_SECRET_KEY: &str = "mock-api-secret-key-0001";
/// Client ID the CLI's mock server and the demo register for `private_key_jwt`.
pub const MOCK_JWT_CLIENT_ID: &str = "MOCKJWTCLIENT0000001";
/// `expires_in` of issued tokens unless set otherwise (Alpaca's value).
pub const DEFAULT_EXPIRES_IN: u64 = 899;
/// Length in bytes of the access tokens issued unless
/// [`MockServer::set_token_len`] says otherwise: about the size of Alpaca's,
/// which are JWTs of several hundred bytes. The tokens are JWT-shaped
/// (header, claims and a signature-sized segment, base64url, joined by
/// dots) and unique.
pub const DEFAULT_TOKEN_LEN: usize = 900;
/// How long a connection may stay idle before the mock closes it.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// A token request as the mock received it. Holds secrets: its `Debug`
/// shows names only.
#[derive(Clone)]
pub struct RecordedRequest {
    pub(super) headers: Vec<(String, String)>,
    pub(super) form: Vec<(String, String)>,
}

impl RecordedRequest {
    /// Request headers (lowercase names), in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Decoded form fields, in order.
    pub fn form(&self) -> &[(String, String)] {
        &self.form
    }

    /// The first form field of that name.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first header of that (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordedRequest")
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field(
                "form",
                &self.form.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A running mock server on `127.0.0.1`. Stops when dropped.
pub struct MockServer {
    listener: Listener,
}

impl MockServer {
    /// Starts on an ephemeral loopback port with the default registrations
    /// ([`MOCK_CLIENT_ID`], [`MOCK_API_KEY_ID`]).
    pub fn start() -> io::Result<MockServer> {
        Self::start_on(0)
    }

    /// Starts on `127.0.0.1:port` (0 for an ephemeral port).
    pub fn start_on(port: u16) -> io::Result<MockServer> {
        Ok(MockServer {
            listener: Listener::start(port)?,
        })
    }

    fn shared(&self) -> &Shared {
        self.listener.shared()
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.listener.addr()
    }

    /// `http://127.0.0.1:PORT`: the API and data base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The token endpoint URL (also the `aud` assertions must carry).
    pub fn token_url(&self) -> String {
        self.shared().token_url.clone()
    }

    /// Registers (or replaces) a client authenticating with a secret.
    pub fn register_client_secret(&self, client_id: &str, secret: &str) {
        self.shared()
            .state()
            .client_secrets
            .insert(client_id.to_owned(), secret.to_owned());
    }

    /// Registers (or replaces) a client authenticating with `private_key_jwt`.
    pub fn register_client_key(&self, client_id: &str, key: RegisteredKey) {
        self.shared()
            .state()
            .client_keys
            .insert(client_id.to_owned(), key);
    }

    /// Registers (or replaces) an API key pair.
    pub fn register_api_key(&self, key_id: &str, secret: &str) {
        self.shared()
            .state()
            .api_keys
            .insert(key_id.to_owned(), secret.to_owned());
    }

    /// Accepts assertions whose header carries this `kid` (none by default:
    /// a `kid` is refused, as reported of Alpaca).
    pub fn allow_kid(&self, kid: Option<&str>) {
        self.shared().state().allowed_kid = kid.map(str::to_owned);
    }

    /// The issuer identifier of this mock authorization server,
    /// `http://127.0.0.1:PORT`: the audience a client assertion carries under
    /// the IETF update of RFC 7523, once
    /// [`require_assertion_audience`](Self::require_assertion_audience) asks
    /// for it.
    pub fn issuer(&self) -> String {
        self.base_url()
    }

    /// The one `aud` value client assertions must carry; `None` (the
    /// default) means the token endpoint URL.
    pub fn require_assertion_audience(&self, audience: Option<&str>) {
        self.shared().state().required_audience = audience.map(str::to_owned);
    }

    /// The `typ` header client assertions must carry (such as
    /// [`CLIENT_AUTHENTICATION_JWT_TYP`](crate::CLIENT_AUTHENTICATION_JWT_TYP));
    /// `None` (the default) accepts any.
    pub fn require_assertion_typ(&self, typ: Option<&str>) {
        self.shared().state().required_typ = typ.map(str::to_owned);
    }

    /// Runs the mock's clock `seconds` ahead of the system clock (behind if
    /// negative): the clock it checks client assertions by, and the `Date`
    /// header of its responses. A client whose clock is 20 s ahead of the
    /// server's is a mock with an offset of -20.
    pub fn set_clock_offset(&self, seconds: i64) {
        self.shared().state().clock_offset_secs = seconds;
    }

    /// The `expires_in` of tokens issued from now on.
    pub fn set_expires_in(&self, seconds: u64) {
        self.shared().state().expires_in = json!(seconds);
    }

    /// The raw `expires_in` JSON value of tokens issued from now on (`null`
    /// leaves it out), to exercise clients' handling of odd values.
    pub fn set_expires_in_raw(&self, value: serde_json::Value) {
        self.shared().state().expires_in = value;
    }

    /// The length in bytes of the access tokens issued from now on; `None`:
    /// [`DEFAULT_TOKEN_LEN`]. [`MAX_ACCESS_TOKEN_LEN`] is the longest a
    /// client accepts; longer tokens are issued all the same, to test that.
    ///
    /// Tokens are JWT-shaped (three base64url segments: a header, realistic
    /// claims with a random `jti` and a `pad` claim making up the length,
    /// and a random signature of up to 256 bytes). A length too short for
    /// that (under about 400 bytes) gives an opaque token instead: `mock_`
    /// and 32 random base64url characters (37 bytes, the shortest token
    /// issued), padded with base64url characters and dots to the length
    /// asked for.
    ///
    /// [`MAX_ACCESS_TOKEN_LEN`]: crate::limits::MAX_ACCESS_TOKEN_LEN
    pub fn set_token_len(&self, len: Option<usize>) {
        self.shared().state().token_len = len.unwrap_or(DEFAULT_TOKEN_LEN);
    }

    /// A delay before every token response.
    pub fn set_token_delay(&self, delay: Duration) {
        self.shared().state().token_delay = delay;
    }

    /// Queues a fault for the next token request.
    pub fn inject(&self, fault: Fault) {
        self.shared().state().faults.push_back(fault);
    }

    /// Queues the same fault for the next `n` token requests.
    pub fn inject_n(&self, fault: Fault, n: usize) {
        let mut state = self.shared().state();
        state.faults.extend(std::iter::repeat_n(fault, n));
    }

    /// Faults still queued.
    pub fn pending_faults(&self) -> usize {
        self.shared().state().faults.len()
    }

    /// Requests received at the token endpoint (faulted ones included).
    pub fn token_requests(&self) -> u64 {
        self.shared().token_requests.load(Ordering::SeqCst)
    }

    /// Requests received at the account endpoint.
    pub fn account_requests(&self) -> u64 {
        self.shared().account_requests.load(Ordering::SeqCst)
    }

    /// Tokens issued.
    pub fn tokens_issued(&self) -> u64 {
        self.shared().tokens_issued.load(Ordering::SeqCst)
    }

    /// Every token request received, in order.
    pub fn token_request_log(&self) -> Vec<RecordedRequest> {
        self.shared().state().requests.clone()
    }

    /// Whether `token` was issued here and has not expired.
    pub fn is_token_valid(&self, token: &str) -> bool {
        self.shared()
            .state()
            .tokens
            .get(token)
            .is_some_and(|exp| Instant::now() < *exp)
    }
}

impl fmt::Debug for MockServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr())
            .finish()
    }
}

/// A fresh P-256 private key as PKCS#8 DER (zeroized on drop), for tests
/// and the demo.
pub fn generate_p256_pkcs8() -> io::Result<zeroize::Zeroizing<Vec<u8>>> {
    let rng = SystemRandom::new();
    ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .map(|doc| zeroize::Zeroizing::new(doc.as_ref().to_vec()))
    .map_err(|_| io::Error::other("key generation failed"))
}

/// A `Retry-After` HTTP-date `after` from now, for [`Fault::RetryAfter`].
pub fn retry_after_date(after: Duration) -> String {
    let at = SystemTime::now() + after;
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    crate::retry::format_imf_fixdate(secs)
}
