//! Every default and every limit of the library, in one place.
//!
//! Each number a user can meet (a default setting, a bound on an input, a
//! size, a wait) lives here, with what it bounds and why it has this value;
//! the code, the C header, the README and `docs/` refer to these constants
//! instead of restating them. Numbers internal to one algorithm and
//! invisible from outside (a parser's bound, the background refresher's
//! shortest sleep, the margin between two clocks) stay beside the code
//! using them.
//! The rules that use these numbers (how a refresh time, a failure hold or
//! a backoff is computed) each have one home too:
//! [`RefreshPolicy`](crate::RefreshPolicy) for refresh-ahead,
//! [`RetryPolicy`](crate::RetryPolicy) for retries within one token
//! request and, beside it, one function for the failure hold that follows
//! failed fetches (the longer of our backoff, from [`FAILURE_HOLD_MIN`]
//! doubling up to [`FAILURE_HOLD_MAX`], and the server's `Retry-After`, up
//! to [`RETRY_AFTER_HOLD_MAX`]).
//!
//! # Input limits
//!
//! Every string the library accepts has a bound, checked when the client is
//! built (or the key or environment is read), before any network traffic,
//! with an error that names the input and the limit and never quotes a
//! secret (`tests/input_limits.rs`).
//!
//! | input | accepted | error |
//! |-------|----------|-------|
//! | client ID | [`CLIENT_ID_MIN_LEN`]–[`CLIENT_ID_MAX_LEN`] characters of `A-Z0-9` (Alpaca's rule) | `Config` |
//! | client secret | 1–[`CLIENT_SECRET_MAX_LEN`] bytes, no control characters (Alpaca's limit) | `Config` |
//! | API key ID | 1–[`API_KEY_ID_MAX_LEN`] bytes of printable ASCII | `Config` |
//! | API secret key | 1–[`API_SECRET_MAX_LEN`] bytes of printable ASCII | `Config` |
//! | private key: PEM text, DER, key file, `APCA_PRIVATE_KEY` | at most [`MAX_KEY_INPUT_LEN`] bytes; a file is read no further; RSA [`MIN_RSA_BITS`]–[`MAX_RSA_BITS`] bits | `InvalidKey` |
//! | assertion `kid` | 1–[`MAX_KID_LEN`] bytes | `Config` |
//! | assertion `typ` | non-empty, or none | `Config` |
//! | client assertion as built (client ID, audience, `kid`) | at most [`MAX_ASSERTION_LEN`] bytes (Alpaca's limit), checked at build time | `Config` |
//! | assertion lifetime | [`MIN_ASSERTION_LIFETIME`]–[`MAX_ASSERTION_LIFETIME`] ([`MAX_LONG_ASSERTION_LIFETIME`] with [`allow_long_lifetime`](crate::AssertionOptions::allow_long_lifetime)) | `Config` |
//! | `scope` | 1–[`MAX_SCOPE_LEN`] bytes of RFC 6749 scope tokens separated by single spaces | `Config` |
//! | API, data and token URLs | at most [`MAX_URL_LEN`] bytes; `https://` (`http://` only to loopback); no user info, fragment, spaces or control characters; port 0–65535; the scheme is kept in lowercase | `Config` |
//! | proxy URL ([`ProxySetting::Url`](crate::ProxySetting::Url)) | at most [`MAX_URL_LEN`] bytes, no spaces or control characters | `Config` |
//! | CA bundle ([`add_ca_bundle_pem`](crate::ClientBuilder::add_ca_bundle_pem), [`add_ca_bundle_file`](crate::ClientBuilder::add_ca_bundle_file), the file of `APCA_CA_BUNDLE` or `SSL_CERT_FILE`) | at most [`MAX_CA_BUNDLE_LEN`] bytes, at least one certificate | `Config` (naming the variable) |
//! | `SSL_CERT_DIR` | each file at most [`MAX_CA_BUNDLE_LEN`] bytes, at most [`MAX_CA_DIR_FILES`] files, at least one certificate in all | `Config` naming the variable |
//! | each `APCA_*` environment variable | at most [`MAX_ENV_VALUE_LEN`] bytes, valid UTF-8 | `Config` naming the variable |
//! | `APCA_ENVIRONMENT`, `APCA_API_KEY_STYLE` | one of the listed names | `Config` |
//! | timeouts, budget and `max_wait` | more than 0, at most [`MAX_TIMEOUT`] | `Config` |
//! | retry attempts | at least 1 | `Config` |
//!
//! What the server sends is bounded too: the response body is read up to
//! [`MAX_RESPONSE_BODY`] bytes (`MalformedResponse` beyond) and its head up
//! to [`MAX_RESPONSE_HEADER`]; the access token is 1–[`MAX_ACCESS_TOKEN_LEN`]
//! bytes of printable ASCII; `expires_in` is clamped to
//! [`MAX_TOKEN_LIFETIME`] and `Retry-After` to [`MAX_RETRY_AFTER`] (a hold
//! honours at most [`RETRY_AFTER_HOLD_MAX`]); server text kept in errors is
//! cut to [`MAX_CODE_CHARS`] characters for codes, [`MAX_DESCRIPTION_CHARS`]
//! for descriptions and [`MAX_FIELDS`] field names; a shared-store entry is
//! read up to [`MAX_ENTRY_LEN`] bytes. Any header line the library makes fits
//! in [`MAX_HEADER_LINE_LEN`] bytes.

use std::time::Duration;

use crate::environment::Environment;

// ---------------------------------------------------------------------------
// Environment and credentials
// ---------------------------------------------------------------------------

/// The environment used when none is configured: paper trading, which never
/// touches live money.
pub const DEFAULT_ENVIRONMENT: Environment = Environment::Paper;

// Here rather than in `environment`, so that `limits` depends on
// `environment` and not the other way round.
impl Default for Environment {
    /// [`DEFAULT_ENVIRONMENT`].
    fn default() -> Self {
        DEFAULT_ENVIRONMENT
    }
}

/// Shortest client ID Alpaca issues.
pub const CLIENT_ID_MIN_LEN: usize = 20;
/// Longest client ID Alpaca issues.
pub const CLIENT_ID_MAX_LEN: usize = 32;
/// Longest client secret Alpaca accepts.
pub const CLIENT_SECRET_MAX_LEN: usize = 128;
/// Longest API key ID accepted, in bytes.
pub const API_KEY_ID_MAX_LEN: usize = 128;
/// Longest API secret key accepted, in bytes.
pub const API_SECRET_MAX_LEN: usize = 256;
/// Longest environment variable value accepted (a PEM key fits easily).
pub const MAX_ENV_VALUE_LEN: usize = 64 * 1024;
/// Longest `scope` value accepted, in bytes.
pub const MAX_SCOPE_LEN: usize = 1024;
/// The longest URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;

// ---------------------------------------------------------------------------
// Assertions (`private_key_jwt`)
// ---------------------------------------------------------------------------

/// The default lifetime of an assertion (`exp - iat`): 120 seconds.
///
/// Well inside the 300 s a server allows, because a server bounds `exp` by
/// its own clock (`exp - its_now <= 300 s`): with `iat` = our clock's now, a
/// lifetime of 120 s is accepted while our clock runs up to 180 s ahead of
/// the server's (where a 300 s lifetime fails at the first second ahead),
/// and the assertion is still unexpired on arrival while our clock runs up
/// to about 2 minutes behind. An assertion is used once, seconds after it
/// is signed, so the shorter life costs nothing.
pub const DEFAULT_ASSERTION_LIFETIME: Duration = Duration::from_secs(120);
/// The shortest lifetime an assertion may have.
pub const MIN_ASSERTION_LIFETIME: Duration = Duration::from_secs(1);
/// The longest lifetime an assertion may have: the most Alpaca accepts.
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(300);
/// The longest lifetime an assertion may have with
/// [`AssertionOptions::allow_long_lifetime`](crate::AssertionOptions::allow_long_lifetime).
pub const MAX_LONG_ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);
/// The default `typ` header of an assertion.
pub const DEFAULT_ASSERTION_TYP: &str = "JWT";
/// The longest assertion Alpaca accepts, in bytes.
pub const MAX_ASSERTION_LEN: usize = 16384;
/// The longest `kid` header accepted, in bytes.
pub const MAX_KID_LEN: usize = 256;
/// The longest signature an external signer may return, in bytes (RSA-4096;
/// a DER ECDSA signature is at most 72).
pub const MAX_SIGNATURE_LEN: usize = MAX_RSA_BITS / 8;
/// The longest identity an external signer may give its key, in bytes.
pub const MAX_SIGNER_IDENTITY_LEN: usize = 256;
/// The longest part of an external signer's failure message kept in the
/// library's error, in bytes.
pub const MAX_SIGNER_DETAIL_LEN: usize = 256;
/// The longest `pkcs11:` URI accepted, in bytes (feature `pkcs11`).
pub const MAX_PKCS11_URI_LEN: usize = 4096;
/// The longest PKCS#11 PIN accepted (`pin-value`, or the first line of a
/// `pin-source` file), in bytes (feature `pkcs11`).
pub const MAX_PIN_LEN: usize = 256;

// ---------------------------------------------------------------------------
// Private keys
// ---------------------------------------------------------------------------

/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted, in bits (ring's limit for signing keys).
pub const MAX_RSA_BITS: usize = 4096;
/// The largest key input accepted (PEM text, DER or a key file), in bytes.
/// An RSA-4096 PEM key is about 3.3 KB; the rest is room for certificates
/// or parameters in the same file.
pub const MAX_KEY_INPUT_LEN: usize = 64 * 1024;
/// Most characters of a file path shown in an error message.
pub const MAX_SHOWN_PATH_CHARS: usize = 128;

// ---------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------

/// Time allowed to establish a TCP connection (and proxy tunnel).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for one token request, from connect to the last body byte.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for one token acquisition: every attempt and every wait
/// between attempts together.
pub const DEFAULT_TOKEN_BUDGET: Duration = Duration::from_secs(30);
/// Longest timeout, budget or wait accepted by the builder.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Largest response body read from the token endpoint.
pub const MAX_RESPONSE_BODY: u64 = 64 * 1024;
/// Largest response head (status line and headers) accepted.
pub const MAX_RESPONSE_HEADER: usize = 16 * 1024;
/// Largest PEM bundle of extra CA certificates accepted (the whole Mozilla
/// bundle is about 220 KB).
pub const MAX_CA_BUNDLE_LEN: usize = 1024 * 1024;
/// Most certificate files read from the directories of `SSL_CERT_DIR` (a
/// system directory holds a few hundred; each file at most
/// [`MAX_CA_BUNDLE_LEN`] bytes).
pub const MAX_CA_DIR_FILES: usize = 4096;
/// Buffer sizes of a connection: a token request (form of at most ~17 KiB
/// with the longest assertion) and its response fit; larger bodies stream.
/// ureq's defaults (128 KiB each) would cost 256 KiB per idle connection.
pub const CONNECTION_BUFFER: usize = 32 * 1024;
/// Most host names kept; the cache is cleared when it would grow past this.
pub const MAX_CACHED_HOSTS: usize = 64;
/// How long a resolved host name is reused before it is looked up again.
pub const DNS_CACHE_TTL: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// Retries of one token acquisition
// ---------------------------------------------------------------------------

/// Most attempts (first try included) of one token acquisition by default.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;
/// Backoff before the first retry by default; doubles on each further retry.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(250);
/// Longest backoff between two attempts by default.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Longest `Retry-After` believed; longer values are clamped.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

// ---------------------------------------------------------------------------
// Tokens and the cache
// ---------------------------------------------------------------------------

/// Longest access token accepted, in bytes.
pub const MAX_ACCESS_TOKEN_LEN: usize = 8192;
/// Lifetime assumed when a token response has no `expires_in`:
/// conservative, a third of Alpaca's 15 minutes.
pub const ASSUMED_LIFETIME: Duration = Duration::from_secs(300);
/// The longest lifetime believed; longer `expires_in` values are clamped.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// Refresh at least this long before expiry by default.
pub const DEFAULT_REFRESH_AHEAD_MIN: Duration = Duration::from_secs(60);
/// Refresh at least this fraction of the lifetime before expiry by default
/// (the larger of this and [`DEFAULT_REFRESH_AHEAD_MIN`] applies).
pub const DEFAULT_REFRESH_AHEAD_FRACTION: f64 = 0.20;
/// Refresh-ahead never starts before this fraction of the lifetime has
/// passed, so short-lived tokens are still used for half their life.
pub const REFRESH_AHEAD_MAX_FRACTION: f64 = 0.50;
/// A token is not handed out in its last `min(EXPIRY_MARGIN_MAX,
/// EXPIRY_MARGIN_FRACTION × lifetime)`, so that a request made with it does
/// not arrive at the API expired (network time, clock granularity).
pub const EXPIRY_MARGIN_MAX: Duration = Duration::from_secs(10);
/// See [`EXPIRY_MARGIN_MAX`].
pub const EXPIRY_MARGIN_FRACTION: f64 = 0.10;
/// Shortest hold after a failed fetch (doubles with each consecutive
/// failure, up to [`FAILURE_HOLD_MAX`]).
pub const FAILURE_HOLD_MIN: Duration = Duration::from_millis(500);
/// Longest hold after failed fetches of our own choosing.
pub const FAILURE_HOLD_MAX: Duration = Duration::from_secs(30);
/// Longest hold honoured from a server's `Retry-After`.
pub const RETRY_AFTER_HOLD_MAX: Duration = Duration::from_secs(15 * 60);
/// Most caches a thread keeps replicas for; the least recently installed
/// goes first. One thread using up to this many clients in turn stays on
/// the fast path.
pub const MAX_REPLICAS_PER_THREAD: usize = 64;
/// Longest wait for the refresher thread when its client is dropped.
pub const REFRESHER_SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------
// Shared token stores
// ---------------------------------------------------------------------------

/// The largest entry [`StoredToken::from_entry`](crate::StoredToken::from_entry)
/// reads: a token of the longest accepted length with its JSON framing fits
/// several times over.
pub const MAX_ENTRY_LEN: usize = 16 * 1024;
/// How often a process waiting for another's fetch looks at the entry.
pub const STORE_POLL_INTERVAL: Duration = Duration::from_millis(25);
/// How far a stored entry's expiry may lie beyond its granted lifetime
/// (clock differences between processes or hosts) before it is distrusted.
pub const ENTRY_CLOCK_SLACK: Duration = Duration::from_secs(5);
/// The store part of a fetch (loading the entry, taking the fetch lock,
/// waiting for another process's fetch) ends after this fraction (1/N) of
/// the shorter of the longest wait and the token budget: a store that hangs,
/// or a lock holder that is stopped or gone, then costs a caller a quarter
/// of its wait, and the library fetches on its own in the rest.
pub const STORE_WAIT_DIVISOR: u32 = 4;
/// Most store calls of one client (of one process) that may be under way
/// at once. Every store call runs on a thread of its own so that a caller
/// can stop waiting for it; a call that hangs keeps its thread, so at most
/// this many threads per client can be stuck in a hung store. While that
/// many are under way, the client fetches without the store.
pub const MAX_STORE_CALLS_IN_FLIGHT: usize = 4;
/// Prefix of the keys the built-in Redis store writes (see
/// `ClientBuilder::token_store_url`).
pub const DEFAULT_REDIS_KEY_PREFIX: &str = "alpaca-auth:";
/// Longest Redis key prefix accepted, in bytes.
pub const MAX_REDIS_KEY_PREFIX_LEN: usize = 128;
/// Idle connections to Redis one client keeps for reuse (one per store
/// call under way is enough).
pub const MAX_REDIS_IDLE_CONNECTIONS: usize = MAX_STORE_CALLS_IN_FLIGHT;

// ---------------------------------------------------------------------------
// Errors and redaction
// ---------------------------------------------------------------------------

/// Longest description kept from a server's error body, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 256;
/// Longest error code kept, in characters.
pub const MAX_CODE_CHARS: usize = 64;
/// Most field names kept from an Alpaca `fields` list.
pub const MAX_FIELDS: usize = 16;
/// How much of an unrecognised input value an error message repeats.
pub const MAX_ECHO_CHARS: usize = 64;
/// Longest last-error message kept, in bytes (a longer one is cut at a
/// character boundary and marked with `...`).
pub const MAX_LAST_ERROR_LEN: usize = 4096;
/// Most characters of an unsupported `token_type` quoted in an error.
pub const TOKEN_TYPE_ECHO_CHARS: usize = 32;
/// Secrets shorter than this (in bytes) cannot be told apart from ordinary
/// words: with such a secret, a server's free text is never quoted.
pub const MIN_REDACTABLE_SECRET_LEN: usize = 8;
/// A run of this many letters and digits of a secret, found in server text
/// after redaction, withholds the text (a partial or disguised echo).
pub const PARTIAL_MATCH_LEN: usize = 8;

// ---------------------------------------------------------------------------
// Header lines
// ---------------------------------------------------------------------------

/// The size of a buffer that holds any `"Name: value"` auth header line this
/// library can produce, terminating NUL included: the longest of
/// `Authorization: Bearer` with a token of [`MAX_ACCESS_TOKEN_LEN`] bytes,
/// `Authorization: Basic` and the APCA key headers at their input limits.
/// The C header's `ALPACA_AUTH_MAX_HEADER_LINE`.
pub const MAX_HEADER_LINE_LEN: usize = {
    const fn max(a: usize, b: usize) -> usize {
        if a > b {
            a
        } else {
            b
        }
    }
    let bearer = "Authorization: Bearer ".len() + MAX_ACCESS_TOKEN_LEN;
    let basic = "Authorization: Basic ".len()
        + (API_KEY_ID_MAX_LEN + 1 + API_SECRET_MAX_LEN).div_ceil(3) * 4;
    let key_id = "APCA-API-KEY-ID: ".len() + API_KEY_ID_MAX_LEN;
    let secret = "APCA-API-SECRET-KEY: ".len() + API_SECRET_MAX_LEN;
    max(max(bearer, basic), max(key_id, secret)) + 1
};

// ---------------------------------------------------------------------------
// File token store: key derivation and fetch-lock bookkeeping
// ---------------------------------------------------------------------------

/// PBKDF2-HMAC-SHA256 iterations of a client secret's fingerprint in a
/// [`StoreKey`](crate::StoreKey): whoever can list a store learns the key,
/// and each guess of the secret costs this many HMACs to test. Chosen so that
/// one derivation takes about 25 ms in a release build on a 2-core x86-64
/// test machine (the key is computed once per client, at build).
pub const STORE_KEY_PBKDF2_ITERATIONS: u32 = 100_000;
/// How many fetch locks of the file store one process can hold or be taking
/// at once (a fixed table, because the `fork()` child handler that closes
/// them may not allocate). A lock beyond this is refused with an error, so
/// the caller fetches on its own rather than take an untracked descriptor.
pub const MAX_HELD_FILE_LOCKS: usize = 64;
/// Where `/proc/self/fd` cannot be read, the highest descriptor number (not
/// included) that a `fork()` child examines for lock files still being
/// opened by the parent.
pub const LOCK_FD_SCAN_LIMIT: i32 = 65_536;

// ---------------------------------------------------------------------------
// The doctor (`alpaca-auth doctor`, `alpaca_auth::doctor`)
// ---------------------------------------------------------------------------

/// A clock this far (or farther) from a server's `Date` is a warning: the
/// `Date` header counts whole seconds, and a host kept by NTP is within a
/// fraction of one.
pub const DOCTOR_CLOCK_SKEW_WARN: Duration = Duration::from_secs(5);
/// A server certificate expiring within this time is a warning.
pub const DOCTOR_CERT_EXPIRY_WARN: Duration = Duration::from_secs(14 * 24 * 60 * 60);
/// The timeout of each of the doctor's network steps (a DNS answer aside,
/// which the system resolver bounds): a TCP connection, a proxy's
/// `CONNECT`, a TLS handshake, one HTTP request.
pub const DOCTOR_STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// Most addresses of a DNS answer a finding lists.
pub const DOCTOR_MAX_ADDRESSES: usize = 4;
/// Most checks in a report.
pub const DOCTOR_MAX_CHECKS: usize = 24;
/// Longest finding and longest hint of a check, in bytes (a longer one is
/// cut at a character boundary and marked with `...`).
pub const DOCTOR_MAX_TEXT_LEN: usize = 480;
/// The size of a buffer that holds any doctor report, text or JSON,
/// terminating NUL included: [`DOCTOR_MAX_CHECKS`] checks of the longest
/// name, finding and hint, every character of them escaped in JSON, and
/// the summary. The C header's `ALPACA_AUTH_MAX_DOCTOR_REPORT`.
pub const DOCTOR_REPORT_MAX_LEN: usize =
    DOCTOR_MAX_CHECKS * (2 * (32 + 2 * DOCTOR_MAX_TEXT_LEN) + 96) + 256;
