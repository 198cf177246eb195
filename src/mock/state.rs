//! What a running mock server knows and shares between its threads: the
//! registered credentials, the assertion rules, the tokens it issued, the
//! queued faults and the counters.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ring::rand::SystemRandom;
use serde_json::json;

use super::jwt::RegisteredKey;
use super::{
    Fault, RecordedRequest, DEFAULT_EXPIRES_IN, DEFAULT_TOKEN_LEN, MOCK_API_KEY_ID,
    MOCK_API_SECRET_KEY, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET, TOKEN_PATH,
};

/// The mutable part, behind one lock.
pub(super) struct State {
    pub(super) client_secrets: HashMap<String, String>,
    pub(super) client_keys: HashMap<String, RegisteredKey>,
    pub(super) api_keys: HashMap<String, String>,
    pub(super) allowed_kid: Option<String>,
    pub(super) required_audience: Option<String>,
    pub(super) required_typ: Option<String>,
    pub(super) clock_offset_secs: i64,
    /// Issued tokens and when each expires.
    pub(super) tokens: HashMap<String, Instant>,
    pub(super) seen_jti: HashSet<String>,
    pub(super) faults: VecDeque<Fault>,
    pub(super) expires_in: serde_json::Value,
    pub(super) token_delay: Duration,
    pub(super) token_len: usize,
    pub(super) requests: Vec<RecordedRequest>,
}

/// Everything the accept loop and the connection threads share.
pub(super) struct Shared {
    state: Mutex<State>,
    pub(super) stop: AtomicBool,
    pub(super) token_requests: AtomicU64,
    pub(super) account_requests: AtomicU64,
    pub(super) tokens_issued: AtomicU64,
    /// `http://127.0.0.1:PORT`, the `iss` of the tokens issued.
    pub(super) issuer: String,
    pub(super) token_url: String,
    pub(super) rng: SystemRandom,
}

impl Shared {
    /// A fresh server at `base_url` with the default registrations
    /// ([`MOCK_CLIENT_ID`], [`MOCK_API_KEY_ID`]).
    pub(super) fn new(base_url: &str) -> Shared {
        Shared {
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
                token_len: DEFAULT_TOKEN_LEN,
                requests: Vec::new(),
            }),
            stop: AtomicBool::new(false),
            token_requests: AtomicU64::new(0),
            account_requests: AtomicU64::new(0),
            tokens_issued: AtomicU64::new(0),
            issuer: base_url.to_owned(),
            token_url: format!("{base_url}{TOKEN_PATH}"),
            rng: SystemRandom::new(),
        }
    }

    /// Now by the mock's clock (the system clock and the offset of
    /// [`set_clock_offset`](super::MockServer::set_clock_offset)), in
    /// seconds since the epoch.
    pub(super) fn now_unix(&self) -> u64 {
        let offset = self.state().clock_offset_secs;
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_add_signed(offset)
    }

    /// The `Date` header of a response: now by the mock's clock.
    pub(super) fn http_date(&self) -> String {
        crate::retry::format_imf_fixdate(self.now_unix())
    }

    /// The state, even if a thread panicked while holding it.
    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
