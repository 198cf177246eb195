//! A local Alpaca-like authorization and resource server, for tests, the
//! demo, and users' own offline tests. Plain HTTP on loopback, std
//! networking only.
//!
//! * `POST /v1/oauth2/token` checks what Alpaca checks (form content type,
//!   `grant_type`, client ID format, secret only in the body, no
//!   `Authorization` header, assertions verified with the registered public
//!   key) and issues random tokens.
//! * `GET /v2/account` accepts a valid bearer token, APCA key headers or
//!   HTTP Basic, and answers 401 otherwise.
//! * Counters, a record of the last token request, and fault injection.
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

mod http;
pub mod jwt;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io::{self, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::json;

use self::http::{parse_form, read_request, write_response, Request, Response};
pub use self::jwt::RegisteredKey;
use crate::client::JWT_BEARER_ASSERTION_TYPE;
use crate::credentials::validate_client_id;

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
/// How long a connection may stay idle before the mock closes it.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest client assertion accepted (Alpaca's published limit).
pub const MAX_CLIENT_ASSERTION_LEN: usize = 16384;
/// Longest client secret accepted (Alpaca's published limit).
pub const MAX_CLIENT_SECRET_LEN: usize = 128;

/// A misbehaviour of the token endpoint, applied to the next token request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and an empty body.
    Status(u16),
    /// Answer with this status, a `Retry-After` header of this value and no
    /// OAuth body.
    RetryAfter(u16, String),
    /// Answer with an OAuth error body of this code and status.
    OAuthError(u16, String),
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Answer 200 with a body that is not JSON.
    MalformedJson,
    /// Answer with this status and this body (as `application/json`).
    Body(u16, String),
    /// Answer 200 with a JSON body of this many bytes.
    LargeBody(usize),
    /// Send part of a response, then close the connection.
    Reset,
    /// Accept the request, say nothing for this long, then close.
    Hang(Duration),
    /// Send a valid response one byte per this interval.
    Trickle(Duration),
}

/// A token request as the mock received it. Holds secrets: its `Debug`
/// shows names only.
#[derive(Clone)]
pub struct RecordedRequest {
    /// Request headers (lowercase names).
    pub headers: Vec<(String, String)>,
    /// Decoded form fields, in order.
    pub form: Vec<(String, String)>,
}

impl RecordedRequest {
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

struct State {
    client_secrets: HashMap<String, String>,
    client_keys: HashMap<String, RegisteredKey>,
    api_keys: HashMap<String, String>,
    allowed_kid: Option<String>,
    required_audience: Option<String>,
    required_typ: Option<String>,
    clock_offset_secs: i64,
    tokens: HashMap<String, Instant>,
    seen_jti: HashSet<String>,
    faults: VecDeque<Fault>,
    expires_in: serde_json::Value,
    token_delay: Duration,
    token_len: Option<usize>,
    requests: Vec<RecordedRequest>,
}

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
    token_requests: AtomicU64,
    account_requests: AtomicU64,
    tokens_issued: AtomicU64,
    token_url: String,
    rng: SystemRandom,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running mock server on `127.0.0.1`. Stops when dropped.
pub struct MockServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Starts on an ephemeral loopback port with the default registrations
    /// ([`MOCK_CLIENT_ID`], [`MOCK_API_KEY_ID`]).
    pub fn start() -> io::Result<MockServer> {
        Self::start_on(0)
    }

    /// Starts on `127.0.0.1:port` (0 for an ephemeral port).
    pub fn start_on(port: u16) -> io::Result<MockServer> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                client_secrets: HashMap::from([(
                    MOCK_CLIENT_ID.to_owned(),
                    MOCK_CLIENT_SECRET.to_owned(),
                )]),
                client_keys: HashMap::new(),
                api_keys: HashMap::from([(
                    MOCK_API_KEY_ID.to_owned(),
                    MOCK_API_SECRET_KEY.to_owned(),
                )]),
                allowed_kid: None,
                required_audience: None,
                required_typ: None,
                clock_offset_secs: 0,
                tokens: HashMap::new(),
                seen_jti: HashSet::new(),
                faults: VecDeque::new(),
                expires_in: json!(DEFAULT_EXPIRES_IN),
                token_delay: Duration::ZERO,
                token_len: None,
                requests: Vec::new(),
            }),
            stop: AtomicBool::new(false),
            token_requests: AtomicU64::new(0),
            account_requests: AtomicU64::new(0),
            tokens_issued: AtomicU64::new(0),
            token_url: format!("http://{addr}{TOKEN_PATH}"),
            rng: SystemRandom::new(),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name("mock-accept".into())
            .spawn(move || accept_loop(listener, accept_shared))?;
        Ok(MockServer {
            shared,
            addr,
            accept: Some(accept),
        })
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the API and data base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token endpoint URL (also the `aud` assertions must carry).
    pub fn token_url(&self) -> String {
        self.shared.token_url.clone()
    }

    /// Registers (or replaces) a client authenticating with a secret.
    pub fn register_client_secret(&self, client_id: &str, secret: &str) {
        self.shared
            .state()
            .client_secrets
            .insert(client_id.to_owned(), secret.to_owned());
    }

    /// Registers (or replaces) a client authenticating with `private_key_jwt`.
    pub fn register_client_key(&self, client_id: &str, key: RegisteredKey) {
        self.shared
            .state()
            .client_keys
            .insert(client_id.to_owned(), key);
    }

    /// Registers (or replaces) an API key pair.
    pub fn register_api_key(&self, key_id: &str, secret: &str) {
        self.shared
            .state()
            .api_keys
            .insert(key_id.to_owned(), secret.to_owned());
    }

    /// Accepts assertions whose header carries this `kid` (none by default:
    /// a `kid` is refused, as reported of Alpaca).
    pub fn allow_kid(&self, kid: Option<&str>) {
        self.shared.state().allowed_kid = kid.map(str::to_owned);
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
        self.shared.state().required_audience = audience.map(str::to_owned);
    }

    /// The `typ` header client assertions must carry (such as
    /// [`CLIENT_AUTHENTICATION_JWT_TYP`](crate::CLIENT_AUTHENTICATION_JWT_TYP));
    /// `None` (the default) accepts any.
    pub fn require_assertion_typ(&self, typ: Option<&str>) {
        self.shared.state().required_typ = typ.map(str::to_owned);
    }

    /// Runs the mock's clock `seconds` ahead of the system clock (behind if
    /// negative) when it checks client assertions: a client whose clock is
    /// 20 s ahead of the server's is a mock with an offset of -20.
    pub fn set_clock_offset(&self, seconds: i64) {
        self.shared.state().clock_offset_secs = seconds;
    }

    /// The `expires_in` of tokens issued from now on.
    pub fn set_expires_in(&self, seconds: u64) {
        self.shared.state().expires_in = json!(seconds);
    }

    /// The raw `expires_in` JSON value of tokens issued from now on (`null`
    /// leaves it out), to exercise clients' handling of odd values.
    pub fn set_expires_in_raw(&self, value: serde_json::Value) {
        self.shared.state().expires_in = value;
    }

    /// The length in bytes of the access tokens issued from now on (at
    /// least their random part, 37 bytes): real access tokens are JWTs of
    /// several hundred bytes, and [`MAX_ACCESS_TOKEN_LEN`] is the longest a
    /// client accepts. `None`: the short default.
    ///
    /// [`MAX_ACCESS_TOKEN_LEN`]: crate::token::MAX_ACCESS_TOKEN_LEN
    pub fn set_token_len(&self, len: Option<usize>) {
        self.shared.state().token_len = len;
    }

    /// A delay before every token response.
    pub fn set_token_delay(&self, delay: Duration) {
        self.shared.state().token_delay = delay;
    }

    /// Queues a fault for the next token request.
    pub fn inject(&self, fault: Fault) {
        self.shared.state().faults.push_back(fault);
    }

    /// Queues the same fault for the next `n` token requests.
    pub fn inject_n(&self, fault: Fault, n: usize) {
        let mut state = self.shared.state();
        state.faults.extend(std::iter::repeat_n(fault, n));
    }

    /// Faults still queued.
    pub fn pending_faults(&self) -> usize {
        self.shared.state().faults.len()
    }

    /// Requests received at the token endpoint (faulted ones included).
    pub fn token_requests(&self) -> u64 {
        self.shared.token_requests.load(Ordering::SeqCst)
    }

    /// Requests received at the account endpoint.
    pub fn account_requests(&self) -> u64 {
        self.shared.account_requests.load(Ordering::SeqCst)
    }

    /// Tokens issued.
    pub fn tokens_issued(&self) -> u64 {
        self.shared.tokens_issued.load(Ordering::SeqCst)
    }

    /// Every token request received, in order.
    pub fn token_request_log(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// Whether `token` was issued here and has not expired.
    pub fn is_token_valid(&self, token: &str) -> bool {
        self.shared
            .state()
            .tokens
            .get(token)
            .is_some_and(|exp| Instant::now() < *exp)
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

impl fmt::Debug for MockServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
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

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // Out of descriptors or similar: do not spin.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let shared = Arc::clone(&shared);
        let _ = thread::Builder::new()
            .name("mock-conn".into())
            .spawn(move || serve_connection(stream, &shared));
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut writer = write_half;
    let mut reader = BufReader::new(stream);
    while !shared.stop.load(Ordering::SeqCst) {
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let response = Response::json(
                    400,
                    &json!({"error": "invalid_request", "error_description": e.to_string()}),
                );
                let _ = write_response(&mut writer, &response, true);
                return;
            }
            Err(_) => return,
        };
        if shared.stop.load(Ordering::SeqCst) {
            // Stopped while this connection idled: answer nothing.
            return;
        }
        let close = request.wants_close();
        let keep_going = match (request.method.as_str(), request.path.as_str()) {
            (_, TOKEN_PATH) => token_endpoint(&request, shared, &mut writer, close),
            (_, ACCOUNT_PATH) => {
                shared.account_requests.fetch_add(1, Ordering::SeqCst);
                let response = account_endpoint(&request, shared);
                write_response(&mut writer, &response, close).is_ok()
            }
            _ => {
                let response =
                    Response::json(404, &json!({"code": 40410000, "message": "not found"}));
                write_response(&mut writer, &response, close).is_ok()
            }
        };
        if close || !keep_going {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Handles one token request; returns whether the connection stays open.
fn token_endpoint(request: &Request, shared: &Shared, out: &mut TcpStream, close: bool) -> bool {
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    let (fault, delay) = {
        let mut state = shared.state();
        state.requests.push(RecordedRequest {
            headers: request.headers.clone(),
            form: parse_form(&request.body).unwrap_or_default(),
        });
        (state.faults.pop_front(), state.token_delay)
    };
    if !delay.is_zero() {
        thread::sleep(delay);
    }
    let response = match fault {
        None => issue_or_refuse(request, shared),
        Some(Fault::Delay(wait)) => {
            thread::sleep(wait);
            issue_or_refuse(request, shared)
        }
        Some(Fault::Status(status)) => Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        },
        Some(Fault::RetryAfter(status, value)) => Response {
            status,
            headers: vec![("Retry-After", value)],
            body: Vec::new(),
        },
        Some(Fault::OAuthError(status, code)) => Response::json(status, &json!({ "error": code })),
        Some(Fault::MalformedJson) => Response {
            status: 200,
            headers: vec![("Content-Type", "application/json".to_owned())],
            body: b"{\"access_token\": \"unterminated".to_vec(),
        },
        Some(Fault::Body(status, body)) => Response {
            status,
            headers: vec![("Content-Type", "application/json".to_owned())],
            body: body.into_bytes(),
        },
        Some(Fault::LargeBody(len)) => {
            let filler = "x".repeat(len.saturating_sub(40));
            Response::json(200, &json!({ "access_token": "big", "pad": filler }))
        }
        Some(Fault::Reset) => {
            let partial = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"access_tok";
            let _ = out.write_all(partial);
            let _ = out.flush();
            return false;
        }
        Some(Fault::Hang(wait)) => {
            thread::sleep(wait);
            return false;
        }
        Some(Fault::Trickle(interval)) => {
            let response = issue_or_refuse(request, shared);
            let mut bytes = self::http::head_bytes(&response, response.body.len(), close);
            bytes.extend_from_slice(&response.body);
            for byte in bytes {
                if out.write_all(&[byte]).and_then(|()| out.flush()).is_err() {
                    return false;
                }
                thread::sleep(interval);
            }
            return !close;
        }
    };
    write_response(out, &response, close).is_ok()
}

fn oauth_error(status: u16, code: &str, description: &str, fields: &[&str]) -> Response {
    let mut body = json!({ "error": code, "error_description": description });
    if !fields.is_empty() {
        body["fields"] = fields.iter().map(|f| json!({ "name": f })).collect();
    }
    Response::json(status, &body)
}

fn issue_or_refuse(request: &Request, shared: &Shared) -> Response {
    match check_token_request(request, shared) {
        Ok(()) => issue_token(shared),
        Err(response) => response,
    }
}

fn check_token_request(request: &Request, shared: &Shared) -> Result<(), Response> {
    if request.method != "POST" {
        return Err(oauth_error(
            405,
            "invalid_request",
            "the token endpoint takes POST",
            &[],
        ));
    }
    if request.header("authorization").is_some() {
        return Err(oauth_error(
            400,
            "invalid_request",
            "client authentication in an Authorization header is not supported; send the credentials in the form body",
            &["authorization"],
        ));
    }
    let form_type = request
        .header("content-type")
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if !form_type.is_some_and(|t| t.eq_ignore_ascii_case("application/x-www-form-urlencoded")) {
        return Err(oauth_error(
            400,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
            &["content-type"],
        ));
    }
    let form = parse_form(&request.body).ok_or_else(|| {
        oauth_error(
            400,
            "invalid_request",
            "the form body cannot be decoded",
            &[],
        )
    })?;
    // RFC 6749 §3.2: request parameters must not be included more than once.
    for (i, (name, _)) in form.iter().enumerate() {
        if form.iter().skip(i + 1).any(|(other, _)| other == name) {
            return Err(oauth_error(
                400,
                "invalid_request",
                &format!("the parameter {name:?} is repeated"),
                &[name.as_str()],
            ));
        }
    }
    let field = |name: &str| {
        form.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    match field("grant_type") {
        None => {
            return Err(oauth_error(
                400,
                "invalid_request",
                "grant_type is required",
                &["grant_type"],
            ))
        }
        Some("client_credentials") => {}
        Some(_) => {
            return Err(oauth_error(
                400,
                "unsupported_grant_type",
                "only client_credentials is supported",
                &["grant_type"],
            ))
        }
    }
    let client_id = field("client_id").ok_or_else(|| {
        oauth_error(
            400,
            "invalid_request",
            "client_id is required",
            &["client_id"],
        )
    })?;
    if validate_client_id(client_id).is_err() {
        return Err(oauth_error(
            400,
            "invalid_request",
            "client_id must be 20 to 32 characters of A-Z and 0-9",
            &["client_id"],
        ));
    }
    match (field("client_secret"), field("client_assertion")) {
        (Some(_), Some(_)) => Err(oauth_error(
            400,
            "invalid_request",
            "client_secret and client_assertion are mutually exclusive",
            &["client_secret", "client_assertion"],
        )),
        (Some(secret), None) => {
            if secret.len() > MAX_CLIENT_SECRET_LEN {
                return Err(oauth_error(
                    400,
                    "invalid_request",
                    "client_secret is too long",
                    &["client_secret"],
                ));
            }
            let state = shared.state();
            match state.client_secrets.get(client_id) {
                Some(expected) if constant_time_eq(expected.as_bytes(), secret.as_bytes()) => {
                    Ok(())
                }
                _ => Err(oauth_error(
                    401,
                    "invalid_client",
                    "client authentication failed",
                    &[],
                )),
            }
        }
        (None, Some(assertion)) => {
            if field("client_assertion_type") != Some(JWT_BEARER_ASSERTION_TYPE) {
                return Err(oauth_error(
                    400,
                    "invalid_request",
                    "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    &["client_assertion_type"],
                ));
            }
            if assertion.len() > MAX_CLIENT_ASSERTION_LEN {
                return Err(oauth_error(
                    400,
                    "invalid_request",
                    "client_assertion is too long",
                    &["client_assertion"],
                ));
            }
            let mut state = shared.state();
            let State {
                client_keys,
                seen_jti,
                allowed_kid,
                required_audience,
                required_typ,
                clock_offset_secs,
                ..
            } = &mut *state;
            let Some(key) = client_keys.get(client_id) else {
                return Err(oauth_error(
                    401,
                    "invalid_client",
                    "client authentication failed",
                    &[],
                ));
            };
            let now_unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                .saturating_add_signed(*clock_offset_secs);
            let expect = jwt::Expectation {
                client_id,
                audience: required_audience.as_deref().unwrap_or(&shared.token_url),
                now_unix,
                allowed_kid: allowed_kid.as_deref(),
                required_typ: required_typ.as_deref(),
            };
            jwt::verify_assertion(assertion, key, &expect, seen_jti).map_err(|rejection| {
                let status = match rejection.code {
                    "invalid_client" | "token_signature_mismatch" => 401,
                    _ => 400,
                };
                oauth_error(status, rejection.code, &rejection.description, &[])
            })
        }
        (None, None) => Err(oauth_error(
            401,
            "invalid_client",
            "no client authentication: send client_secret or client_assertion",
            &[],
        )),
    }
}

fn issue_token(shared: &Shared) -> Response {
    let mut raw = [0u8; 24];
    if shared.rng.fill(&mut raw).is_err() {
        return oauth_error(500, "server_error", "no randomness", &[]);
    }
    let mut token = format!(
        "mock_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    );
    let (expires_in, token_len) = {
        let state = shared.state();
        (state.expires_in.clone(), state.token_len)
    };
    if let Some(len) = token_len {
        // JWT-like padding: base64url characters, as in a real token.
        while token.len() < len {
            token.push(if token.len() % 64 == 63 { '.' } else { 'x' });
        }
    }
    let lifetime = expires_in
        .as_u64()
        .unwrap_or(DEFAULT_EXPIRES_IN)
        .min(86_400 * 365);
    shared.state().tokens.insert(
        token.clone(),
        Instant::now() + Duration::from_secs(lifetime),
    );
    shared.tokens_issued.fetch_add(1, Ordering::SeqCst);
    let mut body = json!({ "access_token": token, "token_type": "Bearer" });
    if !expires_in.is_null() {
        body["expires_in"] = expires_in;
    }
    Response::json(200, &body).with_header("Cache-Control", "no-store".to_owned())
}

fn account_endpoint(request: &Request, shared: &Shared) -> Response {
    let unauthorized = || {
        Response::json(
            401,
            &json!({"code": 40110000, "message": "request is not authorized"}),
        )
    };
    let state = shared.state();
    let method = if let Some(auth) = request.header("authorization") {
        if let Some(token) = auth.strip_prefix("Bearer ") {
            match state.tokens.get(token) {
                Some(exp) if Instant::now() < *exp => "bearer",
                _ => return unauthorized(),
            }
        } else if let Some(encoded) = auth.strip_prefix("Basic ") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok());
            let Some((id, secret)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                return unauthorized();
            };
            match state.api_keys.get(id) {
                Some(expected) if constant_time_eq(expected.as_bytes(), secret.as_bytes()) => {
                    "basic"
                }
                _ => return unauthorized(),
            }
        } else {
            return unauthorized();
        }
    } else {
        match (
            request.header("apca-api-key-id"),
            request.header("apca-api-secret-key"),
        ) {
            (Some(id), Some(secret)) => match state.api_keys.get(id) {
                Some(expected) if constant_time_eq(expected.as_bytes(), secret.as_bytes()) => {
                    "headers"
                }
                _ => return unauthorized(),
            },
            _ => return unauthorized(),
        }
    };
    if request.method != "GET" {
        return Response::json(
            405,
            &json!({"code": 40510000, "message": "method not allowed"}),
        );
    }
    Response::json(
        200,
        &json!({"id": "mock-account-0001", "account_number": "PA0MOCK0001", "status": "ACTIVE", "currency": "USD", "auth": method}),
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
