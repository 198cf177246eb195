//! Sharing one token among processes: the [`TokenStore`] that the slow path
//! consults (never the cached-header path).

// flock, geteuid and the fork handler are libc calls.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod file;
mod shared;

use std::fmt;
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::digest;
use serde::{Deserialize, Serialize};

use crate::credentials::ClientAuth;
use crate::secret::SecretString;

#[cfg(target_os = "linux")]
pub use self::file::FileStore;
pub(crate) use self::shared::SharedStore;
use crate::limits::MAX_ENTRY_LEN;

/// The format version of [`StoredToken::to_entry`]; others are ignored.
const ENTRY_VERSION: u32 = 1;

/// A token as a store keeps it.
pub struct StoredToken {
    /// The access token (a secret: the store must be private to the user).
    pub access_token: SecretString,
    /// When it expires, in wall-clock time (monotonic clocks do not cross
    /// processes).
    pub expires_at: SystemTime,
    /// The lifetime it was granted with, from which a loading process works
    /// out its refresh margin.
    pub lifetime: Duration,
}

/// The serialized form of a [`StoredToken`].
#[derive(Serialize, Deserialize)]
struct Entry<'a> {
    version: u32,
    /// Borrowed when the JSON string has no escapes, else unescaped.
    #[serde(borrow)]
    access_token: std::borrow::Cow<'a, str>,
    expires_at_unix_ms: u64,
    lifetime_ms: u64,
}

impl StoredToken {
    /// The entry as stores keep it, the same for every store:
    /// `{"version":1,"access_token":..,"expires_at_unix_ms":..,"lifetime_ms":..}`.
    /// It holds the token, so it comes as a [`SecretString`].
    pub fn to_entry(&self) -> SecretString {
        let entry = Entry {
            version: ENTRY_VERSION,
            access_token: std::borrow::Cow::Borrowed(self.access_token.expose_secret()),
            expires_at_unix_ms: millis(
                self.expires_at
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default(),
            ),
            lifetime_ms: millis(self.lifetime),
        };
        // Sized for the worst case up front (every byte escaped as \uXXXX):
        // a reallocation would leave a copy of the token behind. Writing
        // this struct into a Vec cannot fail, and serde_json writes UTF-8.
        let mut bytes = Vec::with_capacity(self.access_token.expose_secret().len() * 6 + 128);
        let _ = serde_json::to_writer(&mut bytes, &entry);
        SecretString::new(String::from_utf8(bytes).unwrap_or_default())
    }

    /// An entry written by [`to_entry`](Self::to_entry); `None` if it is
    /// longer than [`MAX_ENTRY_LEN`], does not parse, is of another format
    /// version or holds an empty token (a store ignores such an entry).
    pub fn from_entry(bytes: &[u8]) -> Option<StoredToken> {
        if bytes.len() > MAX_ENTRY_LEN {
            return None;
        }
        let entry: Entry<'_> = serde_json::from_slice(bytes).ok()?;
        if entry.version != ENTRY_VERSION || entry.access_token.is_empty() {
            return None;
        }
        Some(StoredToken {
            access_token: SecretString::new(entry.access_token.into_owned()),
            expires_at: UNIX_EPOCH + Duration::from_millis(entry.expires_at_unix_ms),
            lifetime: Duration::from_millis(entry.lifetime_ms),
        })
    }
}

/// Milliseconds of `duration`, saturating.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredToken")
            .field("access_token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

/// The name of a credential's entry: 64 hex digits of SHA-256 over the
/// token URL, the client ID and a fingerprint of the credential (the hash of
/// the client secret, or the public key of the signing key). Another
/// credential, or a wrong secret for the same client ID, has another key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StoreKey(String);

impl StoreKey {
    /// The key of a client credential at a token endpoint, for a scope.
    pub(crate) fn new(
        token_url: &str,
        client_id: &str,
        scope: Option<&str>,
        auth: &ClientAuth,
    ) -> StoreKey {
        let mut ctx = digest::Context::new(&digest::SHA256);
        let scope = scope.map_or(b"\0no scope".as_slice(), str::as_bytes);
        for part in [
            b"alpaca-auth token store v1".as_slice(),
            token_url.as_bytes(),
            client_id.as_bytes(),
            scope,
        ] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        match auth {
            ClientAuth::Secret(secret) => {
                let fingerprint =
                    digest::digest(&digest::SHA256, secret.expose_secret().as_bytes());
                ctx.update(b"client_secret");
                ctx.update(fingerprint.as_ref());
            }
            ClientAuth::PrivateKeyJwt { key, .. } => {
                ctx.update(b"private_key_jwt");
                ctx.update(key.public_key());
            }
        }
        let hash = ctx.finish();
        let mut hex = String::with_capacity(64);
        for byte in hash.as_ref() {
            hex.push_str(&format!("{byte:02x}"));
        }
        StoreKey(hex)
    }

    /// The key as text (64 lowercase hex digits), e.g. for a file or Redis
    /// key name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreKey({})", self.0)
    }
}

/// Whether a client shares its tokens through a store
/// ([`Client::token_store_status`](crate::Client::token_store_status)).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum TokenStoreStatus {
    /// No store was configured.
    None,
    /// The client shares tokens through its store.
    Shared,
    /// A store was configured but refused at build (see the error): the
    /// client fetches its own tokens, as without a store.
    Unavailable(crate::Error),
}

/// A held fetch lock; dropping it releases the lock.
pub trait StoreLock: Send {}

/// Where processes share tokens. Implementations are called only on the
/// slow path (a fetch, an invalidation), from any thread; every method may
/// fail, which makes the caller fetch on its own.
///
/// # How a store is used
///
/// Before a process fetches a token it *loads* the credential's entry; a
/// token there with enough life left is used as is. Otherwise it takes the
/// store's fetch *lock*: the one process that gets it loads again (another
/// may have just published), fetches, *publishes* and unlocks, while the
/// others poll the entry until the new token appears. So a fleet of
/// processes with one credential sends one token request per rotation.
///
/// A store is never trusted to work: an error from it, a panic in it, a
/// call that does not answer in time, or a lock held by another holder for
/// longer than the store's wait makes the process fetch on its own, exactly
/// as without a store. The store part of a fetch (all its calls, and the
/// wait for another holder) ends after a quarter
/// ([`STORE_WAIT_DIVISOR`](crate::limits::STORE_WAIT_DIVISOR)) of the
/// shorter of the longest wait and the token budget; publishing (and
/// unlocking) afterwards, and removing an entry after a 401, wait as long
/// again at most. Each call runs on a
/// thread of the library's own, so that a caller can stop waiting for it;
/// a call that hangs keeps its thread, and at most
/// [`MAX_STORE_CALLS_IN_FLIGHT`](crate::limits::MAX_STORE_CALLS_IN_FLIGHT)
/// calls of one client are under way at once (beyond that the client
/// fetches without its store). A token from the store is used only if it
/// parses as a token and has more than the refresh margin left.
///
/// What a store holds: the access token, its expiry in wall-clock time and
/// its lifetime, under a key derived from the token URL, the client ID, the
/// scope and a fingerprint (SHA-256) of the credential ([`StoreKey`]): never the client secret, the
/// private key or an assertion. See [`FileStore`] for the built-in store.
pub trait TokenStore: Send + Sync {
    /// The entry of `key`, if there is a usable one. An entry that cannot be
    /// trusted (corrupt, truncated, readable by others) is `Ok(None)`.
    fn load(&self, key: &StoreKey) -> io::Result<Option<StoredToken>>;

    /// Stores `token` as the entry of `key`, replacing any other.
    fn publish(&self, key: &StoreKey, token: &StoredToken) -> io::Result<()>;

    /// Takes the fetch lock of `key` without waiting: `Ok(None)` when
    /// another holder has it. A lock whose holder dies must be released
    /// (by the operating system, or by an expiry).
    fn try_lock(&self, key: &StoreKey) -> io::Result<Option<Box<dyn StoreLock>>>;

    /// Removes the entry of `key` if it still holds `token` (a token the API
    /// refused); an entry with another token stays.
    fn remove_if(&self, key: &StoreKey, token: &str) -> io::Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_secret_client_and_url_and_never_contain_the_secret() {
        let secret = |s: &str| ClientAuth::Secret(SecretString::new(s.to_owned()));
        let url = "https://authx.sandbox.alpaca.markets/v1/oauth2/token";
        let key = |url: &str, id: &str, scope: Option<&str>, s: &str| {
            StoreKey::new(url, id, scope, &secret(s))
        };
        let id = "CLIENT0123456789ABCD";
        let a = key(url, id, None, "right-secret");
        assert_eq!(a, key(url, id, None, "right-secret"));
        assert_ne!(a, key(url, id, None, "wrong-secret"));
        assert_ne!(a, key(url, "CLIENT0123456789ABCE", None, "right-secret"));
        assert_ne!(a, key("https://other/token", id, None, "right-secret"));
        assert_ne!(a, key(url, id, Some("data"), "right-secret"));
        assert_ne!(key(url, id, Some(""), "s"), key(url, id, None, "s"));
        // Length-prefixed parts: moving a byte from the URL to the ID
        // changes the key.
        assert_ne!(key("ab", "c", None, "s"), key("a", "bc", None, "s"));
        assert_eq!(a.as_str().len(), 64);
        assert!(a.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!format!("{a:?}").contains("right-secret"));
    }

    #[test]
    fn entries_round_trip_and_untrusted_ones_are_refused() {
        let token = StoredToken {
            access_token: SecretString::new("tok\"en\u{1}".to_owned()),
            expires_at: UNIX_EPOCH + Duration::from_millis(1_800_000_000_123),
            lifetime: Duration::from_millis(899_000),
        };
        let entry = token.to_entry();
        assert!(
            !format!("{entry:?}").contains("tok"),
            "the entry is a secret"
        );
        let back = StoredToken::from_entry(entry.expose_secret().as_bytes()).expect("parses");
        assert_eq!(back.access_token.expose_secret(), "tok\"en\u{1}");
        assert_eq!(back.expires_at, token.expires_at);
        assert_eq!(back.lifetime, token.lifetime);
        let other_version = entry
            .expose_secret()
            .replace("\"version\":1", "\"version\":2");
        assert!(StoredToken::from_entry(other_version.as_bytes()).is_none());
        let empty = entry.expose_secret().replace("tok\\\"en\\u0001", "");
        assert!(empty.contains("\"access_token\":\"\""), "{empty}");
        assert!(StoredToken::from_entry(empty.as_bytes()).is_none());
        assert!(StoredToken::from_entry(b"{not json").is_none());
        let mut oversized = entry.expose_secret().as_bytes().to_vec();
        oversized.resize(MAX_ENTRY_LEN + 1, b' ');
        assert!(StoredToken::from_entry(&oversized).is_none());
    }
}
