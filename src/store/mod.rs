//! Sharing one token among processes: the [`TokenStore`] that the slow path
//! consults (never the cached-header path).

// The directory walk, the *at calls relative to the store directory, flock
// and the fork handler are libc calls.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod file;
#[cfg(feature = "redis")]
mod redis_store;
mod redis_url;
mod shared;

use std::fmt;
use std::io;
use std::num::NonZeroU32;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::{digest, pbkdf2};
use serde::{Deserialize, Serialize};

use crate::credentials::ClientAuth;
use crate::secret::SecretString;
use crate::signer::Fingerprint;

#[cfg(target_os = "linux")]
pub use self::file::FileStore;
#[cfg(target_os = "linux")]
pub(crate) use self::file::{check_dir_setting, close_inherited_locks};
#[cfg(feature = "redis")]
pub(crate) use self::redis_store::RedisStore;
pub(crate) use self::redis_url::{check_key_prefix, RedisUrl, REDIS_FEATURE_OFF};
pub(crate) use self::shared::SharedStore;
use crate::limits::{MAX_ENTRY_LEN, STORE_KEY_PBKDF2_ITERATIONS};
use zeroize::Zeroizing;

/// The format version of [`StoredToken::to_entry`]; others are ignored.
/// Version 2 added the store key, binding an entry to its name.
const ENTRY_VERSION: u32 = 2;

/// A token as a store keeps it: made with [`new`](Self::new) or
/// [`from_entry`](Self::from_entry), read with its accessors.
pub struct StoredToken {
    pub(crate) access_token: SecretString,
    pub(crate) expires_at: SystemTime,
    pub(crate) lifetime: Duration,
}

/// The serialized form of a [`StoredToken`].
#[derive(Serialize, Deserialize)]
struct Entry<'a> {
    version: u32,
    /// The [`StoreKey`] the entry was published under.
    #[serde(borrow)]
    key: std::borrow::Cow<'a, str>,
    /// Borrowed when the JSON string has no escapes, else unescaped.
    #[serde(borrow)]
    access_token: std::borrow::Cow<'a, str>,
    expires_at_unix_ms: u64,
    lifetime_ms: u64,
}

impl StoredToken {
    /// A token to hand back from [`TokenStore::load`]: the access token,
    /// when it expires (wall-clock time) and the lifetime it was granted
    /// with.
    pub fn new(access_token: SecretString, expires_at: SystemTime, lifetime: Duration) -> Self {
        StoredToken {
            access_token,
            expires_at,
            lifetime,
        }
    }

    /// The access token (a secret: the store must be private to the user).
    pub fn access_token(&self) -> &SecretString {
        &self.access_token
    }

    /// When it expires, in wall-clock time (monotonic clocks do not cross
    /// processes).
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// The lifetime it was granted with, from which a loading process works
    /// out its refresh margin.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The entry as stores keep it under `key`, the same for every store:
    /// `{"version":2,"key":..,"access_token":..,"expires_at_unix_ms":..,"lifetime_ms":..}`.
    /// It holds the token, so it comes as a [`SecretString`]. The key inside
    /// binds the entry to its name: [`from_entry`](Self::from_entry) refuses
    /// it under any other key (an entry copied or renamed onto another
    /// credential's name).
    pub fn to_entry(&self, key: &StoreKey) -> SecretString {
        let entry = Entry {
            version: ENTRY_VERSION,
            key: std::borrow::Cow::Borrowed(key.as_str()),
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
        let capacity = (self.access_token.expose_secret().len() + key.as_str().len()) * 6 + 160;
        let mut bytes = Vec::with_capacity(capacity);
        let _ = serde_json::to_writer(&mut bytes, &entry);
        SecretString::new(String::from_utf8(bytes).unwrap_or_default())
    }

    /// An entry written by [`to_entry`](Self::to_entry) for `key`; `None`
    /// if it is longer than [`MAX_ENTRY_LEN`], does not parse, is of another
    /// format version, was written for another key or holds an empty token
    /// (a store ignores such an entry).
    pub fn from_entry(key: &StoreKey, bytes: &[u8]) -> Option<StoredToken> {
        if bytes.len() > MAX_ENTRY_LEN {
            return None;
        }
        let entry: Entry<'_> = serde_json::from_slice(bytes).ok()?;
        if entry.version != ENTRY_VERSION
            || entry.key != key.as_str()
            || entry.access_token.is_empty()
        {
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
/// token URL, the client ID, the scope and a fingerprint of the credential.
/// Another credential, or a wrong secret for the same client ID, has another
/// key.
///
/// The fingerprint of a client secret is PBKDF2-HMAC-SHA256 of the secret,
/// salted with a hash of the public parts (token URL, client ID, scope), with
/// [`STORE_KEY_PBKDF2_ITERATIONS`] iterations: a key is public to whoever can
/// list the store, and this makes each guess of the secret tested against it
/// as slow as one key derivation (a plain hash would let a short secret fall
/// in seconds). The fingerprint of a signing key is its public key (not a
/// secret), or the identity an external signer without a public key gives.
/// A client computes its key once, when it is built.
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
        let scope = scope.map_or(b"\0no scope".as_slice(), str::as_bytes);
        let public = [token_url.as_bytes(), client_id.as_bytes(), scope];
        let mut ctx = digest::Context::new(&digest::SHA256);
        update_parts(&mut ctx, b"alpaca-auth token store v2", &public);
        match auth {
            ClientAuth::Secret(secret) => {
                ctx.update(b"client_secret");
                ctx.update(secret_fingerprint(&public, secret).as_ref());
            }
            ClientAuth::PrivateKeyJwt { key, .. } => match key.fingerprint() {
                Fingerprint::PublicKey(public_key) => {
                    ctx.update(b"private_key_jwt");
                    ctx.update(public_key);
                }
                Fingerprint::Identity(identity) => {
                    update_parts(
                        &mut ctx,
                        b"private_key_jwt/identity",
                        &[identity.as_bytes()],
                    );
                }
            },
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

/// Feeds `label` and then each of `parts`, length-prefixed (so that no
/// byte can move from one part to the next without changing the hash).
fn update_parts(ctx: &mut digest::Context, label: &[u8], parts: &[&[u8]]) {
    ctx.update(label);
    for part in parts {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
}

/// PBKDF2-HMAC-SHA256 of the secret, salted with a hash of the public parts
/// of the key ([`StoreKey`]).
fn secret_fingerprint(public: &[&[u8]], secret: &SecretString) -> Zeroizing<[u8; 32]> {
    let mut salt = digest::Context::new(&digest::SHA256);
    update_parts(&mut salt, b"alpaca-auth token store v2 salt", public);
    let salt = salt.finish();
    let mut fingerprint = Zeroizing::new([0u8; 32]);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        STORE_KEY_ITERATIONS,
        salt.as_ref(),
        secret.expose_secret().as_bytes(),
        fingerprint.as_mut(),
    );
    fingerprint
}

/// [`STORE_KEY_PBKDF2_ITERATIONS`] as the type PBKDF2 takes.
const STORE_KEY_ITERATIONS: NonZeroU32 = match NonZeroU32::new(STORE_KEY_PBKDF2_ITERATIONS) {
    Some(n) => n,
    None => panic!("STORE_KEY_PBKDF2_ITERATIONS must not be 0"),
};

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
/// scope and a fingerprint of the credential (PBKDF2 of the secret, or the
/// public key: [`StoreKey`]): never the client secret, the private key or an
/// assertion. Each entry names its key inside, so an entry moved to another
/// key's place is refused. See [`FileStore`] for the built-in store.
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

    const URL: &str = "https://authx.sandbox.alpaca.markets/v1/oauth2/token";
    const ID: &str = "CLIENT0123456789ABCD";

    fn secret(s: &str) -> ClientAuth {
        ClientAuth::Secret(SecretString::new(s.to_owned()))
    }

    fn key(url: &str, id: &str, scope: Option<&str>, s: &str) -> StoreKey {
        StoreKey::new(url, id, scope, &secret(s))
    }

    #[test]
    fn keys_differ_by_secret_client_and_url_and_never_contain_the_secret() {
        let a = key(URL, ID, None, "right-secret");
        assert_eq!(a, key(URL, ID, None, "right-secret"));
        assert_ne!(a, key(URL, ID, None, "wrong-secret"));
        assert_ne!(a, key(URL, "CLIENT0123456789ABCE", None, "right-secret"));
        assert_ne!(a, key("https://other/token", ID, None, "right-secret"));
        assert_ne!(a, key(URL, ID, Some("data"), "right-secret"));
        assert_ne!(key(URL, ID, Some(""), "s"), key(URL, ID, None, "s"));
        // Length-prefixed parts: moving a byte from the URL to the ID
        // changes the key.
        assert_ne!(key("ab", "c", None, "s"), key("a", "bc", None, "s"));
        assert_eq!(a.as_str().len(), 64);
        assert!(a.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!format!("{a:?}").contains("right-secret"));
    }

    /// The key as a plain hash of the secret would make it (the old
    /// derivation): one SHA-256 per guess.
    fn cheap_key(s: &str) -> StoreKey {
        let public = [URL.as_bytes(), ID.as_bytes(), b"\0no scope".as_slice()];
        let mut ctx = digest::Context::new(&digest::SHA256);
        update_parts(&mut ctx, b"alpaca-auth token store v2", &public);
        ctx.update(b"client_secret");
        ctx.update(digest::digest(&digest::SHA256, s.as_bytes()).as_ref());
        StoreKey(hex(ctx.finish().as_ref()))
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn testing_a_guess_of_the_secret_against_a_key_costs_the_full_pbkdf2() {
        // Checked when the tests compile: too few iterations to slow
        // down guessing.
        const { assert!(STORE_KEY_PBKDF2_ITERATIONS >= 100_000) };
        let a = key(URL, ID, None, "123456");
        assert_ne!(a, cheap_key("123456"), "a plain hash of the secret");
        // The fingerprint is PBKDF2 with the named count and a salt of the
        // public parts: recomputed independently here, a count lower by one
        // gives another key.
        let with = |iterations: u32| {
            let mut salt = digest::Context::new(&digest::SHA256);
            salt.update(b"alpaca-auth token store v2 salt");
            for part in [URL.as_bytes(), ID.as_bytes(), b"\0no scope".as_slice()] {
                salt.update(&(part.len() as u64).to_be_bytes());
                salt.update(part);
            }
            let mut fingerprint = [0u8; 32];
            pbkdf2::derive(
                pbkdf2::PBKDF2_HMAC_SHA256,
                NonZeroU32::new(iterations).expect("non-zero"),
                salt.finish().as_ref(),
                b"123456",
                &mut fingerprint,
            );
            let mut ctx = digest::Context::new(&digest::SHA256);
            update_parts(
                &mut ctx,
                b"alpaca-auth token store v2",
                &[URL.as_bytes(), ID.as_bytes(), b"\0no scope".as_slice()],
            );
            ctx.update(b"client_secret");
            ctx.update(&fingerprint);
            StoreKey(hex(ctx.finish().as_ref()))
        };
        assert_eq!(a, with(STORE_KEY_PBKDF2_ITERATIONS));
        assert_ne!(a, with(STORE_KEY_PBKDF2_ITERATIONS - 1));
        // The salt is per client: the same secret elsewhere derives anew.
        assert_ne!(
            secret_fingerprint(&[b"x"], &SecretString::new("123456".to_owned())).as_ref(),
            secret_fingerprint(&[b"y"], &SecretString::new("123456".to_owned())).as_ref()
        );
    }

    fn token() -> StoredToken {
        StoredToken {
            access_token: SecretString::new("tok\"en\u{1}".to_owned()),
            expires_at: UNIX_EPOCH + Duration::from_millis(1_800_000_000_123),
            lifetime: Duration::from_millis(899_000),
        }
    }

    #[test]
    fn entries_round_trip_and_untrusted_ones_are_refused() {
        let key = StoreKey("a".repeat(64));
        let token = token();
        let entry = token.to_entry(&key);
        assert!(
            !format!("{entry:?}").contains("tok"),
            "the entry is a secret"
        );
        let back = StoredToken::from_entry(&key, entry.expose_secret().as_bytes()).expect("parses");
        assert_eq!(back.access_token.expose_secret(), "tok\"en\u{1}");
        assert_eq!(back.expires_at, token.expires_at);
        assert_eq!(back.lifetime, token.lifetime);
        for version in ["1", "3"] {
            let other_version = entry
                .expose_secret()
                .replace("\"version\":2", &format!("\"version\":{version}"));
            assert_ne!(other_version, entry.expose_secret());
            assert!(StoredToken::from_entry(&key, other_version.as_bytes()).is_none());
        }
        let empty = entry.expose_secret().replace("tok\\\"en\\u0001", "");
        assert!(empty.contains("\"access_token\":\"\""), "{empty}");
        assert!(StoredToken::from_entry(&key, empty.as_bytes()).is_none());
        assert!(StoredToken::from_entry(&key, b"{not json").is_none());
        let mut oversized = entry.expose_secret().as_bytes().to_vec();
        oversized.resize(MAX_ENTRY_LEN + 1, b' ');
        assert!(StoredToken::from_entry(&key, &oversized).is_none());
    }

    #[test]
    fn an_entry_is_refused_under_any_key_but_its_own() {
        let a = StoreKey("a".repeat(64));
        let b = StoreKey("b".repeat(64));
        let entry = token().to_entry(&a);
        assert!(entry
            .expose_secret()
            .contains(&format!("\"key\":\"{}\"", a.as_str())));
        assert!(StoredToken::from_entry(&a, entry.expose_secret().as_bytes()).is_some());
        // Renamed onto b's name, a's entry is not b's token.
        assert!(StoredToken::from_entry(&b, entry.expose_secret().as_bytes()).is_none());
        // Without its key (a version 1 entry relabelled), refused too.
        let keyless = entry
            .expose_secret()
            .replace(&format!("\"key\":\"{}\",", a.as_str()), "");
        assert!(!keyless.contains("\"key\""), "{keyless}");
        assert!(StoredToken::from_entry(&a, keyless.as_bytes()).is_none());
    }
}
