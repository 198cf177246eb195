//! [`RedisStore`]: the built-in token store over Redis (cargo feature
//! `redis`), so that processes on several hosts share one token per
//! credential. It speaks through the `redis` crate's synchronous
//! connection (TCP, TLS with rustls, or a Unix socket).
//!
//! Keys (`<prefix>` is [`DEFAULT_REDIS_KEY_PREFIX`] unless set, `<key>` the
//! credential's [`StoreKey`]); the braces are a hash tag, so that a
//! credential's keys live in one Redis Cluster slot:
//! - `<prefix>{<key>}`: the entry ([`StoredToken::to_entry`]), written with
//!   `SET .. PX <the token's remaining life>`, so Redis drops it when the
//!   token expires;
//! - `<prefix>{<key>}:lock`: the fetch lock, `SET .. <128 random bits> NX
//!   PX <the token budget>`; unlocking deletes it only if it still holds
//!   the holder's value (a script), so a holder whose lock expired never
//!   deletes the next holder's.
//!
//! After a 401, `remove_if` deletes the entry only if its access token is
//! the refused one (compared inside Redis, by a script).
//!
//! The password never reaches the `redis` crate: this module sends `AUTH`
//! itself, from a buffer that is zeroized, as are the buffers of the
//! commands that carry a token. Errors name the operation, the address and
//! at most a Redis error code.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use redis::{ConnectionAddr, ConnectionInfo, ConnectionLike as _, IntoConnectionInfo as _, Value};
use zeroize::Zeroizing;

use super::redis_url::{RedisAddr, RedisUrl};
use super::{millis, StoreKey, StoreLock, StoredToken, TokenStore};
use crate::limits::MAX_REDIS_IDLE_CONNECTIONS;

/// Deletes KEYS[1] if it holds ARGV[1] (the holder's lock value).
const UNLOCK_SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     return redis.call('DEL', KEYS[1]) else return 0 end";

/// Deletes the entry KEYS[1] if its access token is ARGV[1].
const REMOVE_IF_SCRIPT: &str = "local v = redis.call('GET', KEYS[1]) \
     if not v then return 0 end \
     local ok, e = pcall(cjson.decode, v) \
     if ok and type(e) == 'table' and e.access_token == ARGV[1] then \
     return redis.call('DEL', KEYS[1]) end \
     return 0";

/// A token store in Redis (see the module documentation). Cheap to clone.
#[derive(Clone)]
pub(crate) struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where, and the credentials (the password a secret).
    url: RedisUrl,
    /// The address for the `redis` crate, without credentials.
    info: ConnectionInfo,
    /// `host:port` or the socket path, for messages.
    shown: String,
    prefix: String,
    /// How long a fetch lock lives if its holder never releases it.
    lock_ttl: Duration,
    /// Deadline of connecting, and of each command.
    timeout: Duration,
    /// Connections for reuse, each with the process that opened it (one
    /// inherited through `fork()` is the parent's, and never used).
    idle: Mutex<Vec<(u32, redis::Connection)>>,
}

/// A held fetch lock: dropping it runs the unlock script.
struct RedisLock {
    store: RedisStore,
    lock_key: String,
    holder: String,
}

impl StoreLock for RedisLock {}

impl Drop for RedisLock {
    fn drop(&mut self) {
        let _ = self.store.inner.command(
            "unlock",
            &[
                b"EVAL",
                UNLOCK_SCRIPT.as_bytes(),
                b"1",
                self.lock_key.as_bytes(),
                self.holder.as_bytes(),
            ],
        );
    }
}

impl RedisStore {
    /// A store at `url` with keys under `prefix`; fetch locks live
    /// `lock_ttl` at most, and connecting and each command end after
    /// `timeout`. Connects only when used.
    pub(crate) fn new(
        url: RedisUrl,
        prefix: &str,
        lock_ttl: Duration,
        timeout: Duration,
    ) -> io::Result<RedisStore> {
        let (addr, shown) = match &url.addr {
            RedisAddr::Tcp { host, port } => (
                ConnectionAddr::Tcp(host.clone(), *port),
                format!("{host}:{port}"),
            ),
            RedisAddr::Tls { host, port } => (
                ConnectionAddr::TcpTls {
                    host: host.clone(),
                    port: *port,
                    insecure: false,
                    tls_params: None,
                },
                format!("{host}:{port} (TLS)"),
            ),
            RedisAddr::Unix(path) => (ConnectionAddr::Unix(path.into()), path.clone()),
        };
        let info = addr
            .into_connection_info()
            .map_err(|e| io::Error::other(format!("Redis address {shown}: {e}")))?;
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        Ok(RedisStore {
            inner: Arc::new(Inner {
                info: info.set_redis_settings(settings),
                url,
                shown,
                prefix: prefix.to_owned(),
                lock_ttl: lock_ttl.max(Duration::from_millis(1)),
                timeout: timeout.max(Duration::from_millis(1)),
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    /// `PING`: whether the server answers and accepts the credentials.
    pub(crate) fn ping(&self) -> io::Result<()> {
        match self.inner.command("PING", &[b"PING"])? {
            Value::SimpleString(s) if s == "PONG" => Ok(()),
            _ => Err(self.inner.unexpected("PING")),
        }
    }

    /// The key of `key`'s entry: the hash tag is the whole store key.
    fn entry_key(&self, key: &StoreKey) -> String {
        format!("{}{{{}}}", self.inner.prefix, key.as_str())
    }

    fn lock_key(&self, key: &StoreKey) -> String {
        format!("{}:lock", self.entry_key(key))
    }
}

/// The RESP encoding of a command, in a buffer zeroized when dropped (it
/// may hold a token or the password).
fn pack(args: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let len: usize = args.iter().map(|a| a.len() + 16).sum();
    let mut out = Zeroizing::new(Vec::with_capacity(len + 16));
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl Inner {
    /// Runs one command on an idle connection of this process or a new one;
    /// a connection that saw an error is dropped, not reused. Never waits
    /// for the pool's lock (a `fork()` may have left it held).
    fn command(&self, op: &str, args: &[&[u8]]) -> io::Result<Value> {
        let pid = std::process::id();
        let idle = match self.idle.try_lock() {
            Ok(mut idle) => {
                idle.retain(|(owner, _)| *owner == pid);
                idle.pop()
            }
            Err(_) => None,
        };
        let mut conn = match idle {
            Some((_, conn)) => conn,
            None => self.connect()?,
        };
        let reply = self.request(&mut conn, op, &pack(args))?;
        if let Ok(mut idle) = self.idle.try_lock() {
            if idle.len() < MAX_REDIS_IDLE_CONNECTIONS {
                idle.push((pid, conn));
            }
        }
        Ok(reply)
    }

    /// Sends a packed command and reads its reply; an error reply is an
    /// error naming its code.
    fn request(&self, conn: &mut redis::Connection, op: &str, packed: &[u8]) -> io::Result<Value> {
        match conn.req_packed_command(packed) {
            Ok(Value::ServerError(error)) => Err(self.refused(op, error.code())),
            Ok(value) => Ok(value),
            Err(error) => Err(self.failed(op, &error)),
        }
    }

    /// A new connection, authenticated and on its database.
    fn connect(&self) -> io::Result<redis::Connection> {
        let client =
            redis::Client::open(self.info.clone()).map_err(|e| self.failed("connect", &e))?;
        let mut conn = client
            .get_connection_with_timeout(self.timeout)
            .map_err(|e| self.failed("connect", &e))?;
        let timeout = Some(self.timeout);
        conn.set_read_timeout(timeout)
            .and_then(|()| conn.set_write_timeout(timeout))
            .map_err(|e| self.failed("connect", &e))?;
        if let Some(password) = &self.url.password {
            let password = password.expose_secret().as_bytes();
            let auth = match &self.url.username {
                Some(user) => pack(&[b"AUTH", user.as_bytes(), password]),
                None => pack(&[b"AUTH", password]),
            };
            self.request(&mut conn, "AUTH", &auth)?;
        }
        if self.url.db != 0 {
            let db = self.url.db.to_string();
            self.request(&mut conn, "SELECT", &pack(&[b"SELECT", db.as_bytes()]))?;
        }
        Ok(conn)
    }

    /// An error reply: its code (`WRONGPASS`, `NOAUTH`, `NOPERM`, ...),
    /// never its arguments.
    fn refused(&self, op: &str, code: &str) -> io::Error {
        let code: String = code
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(32)
            .collect();
        let who = match &self.url.username {
            Some(user) => format!("user {user:?}"),
            None => "the default user".to_owned(),
        };
        let hint = match code.as_str() {
            "WRONGPASS" => format!(
                ": the password of {who} in the token store URL is wrong, or the user is disabled"
            ),
            "NOAUTH" => ": the server wants a password (redis://user:password@host)".to_owned(),
            "NOPERM" => format!(": {who} may not run this command (ACL)"),
            _ => String::new(),
        };
        let kind = if matches!(code.as_str(), "WRONGPASS" | "NOAUTH" | "NOPERM") {
            io::ErrorKind::PermissionDenied
        } else {
            io::ErrorKind::Other
        };
        io::Error::new(
            kind,
            format!(
                "Redis token store {}: {op} refused ({code}){hint}",
                self.shown
            ),
        )
    }

    /// An error of the connection (refused, reset, timed out, TLS).
    fn failed(&self, op: &str, error: &redis::RedisError) -> io::Error {
        let kind = if error.is_timeout() {
            io::ErrorKind::TimedOut
        } else {
            io::ErrorKind::Other
        };
        // The crate's own text: it never saw the password (this module
        // sends AUTH) and holds no token.
        io::Error::new(
            kind,
            format!("Redis token store {}: {op}: {error}", self.shown),
        )
    }

    fn unexpected(&self, op: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("Redis token store {}: unexpected reply to {op}", self.shown),
        )
    }
}

impl TokenStore for RedisStore {
    fn load(&self, key: &StoreKey) -> io::Result<Option<StoredToken>> {
        let entry_key = self.entry_key(key);
        match self.inner.command("GET", &[b"GET", entry_key.as_bytes()])? {
            Value::BulkString(bytes) => {
                let bytes = Zeroizing::new(bytes);
                // An entry that does not parse is ignored (the next publish
                // replaces it).
                Ok(StoredToken::from_entry(key, &bytes))
            }
            Value::Nil => Ok(None),
            _ => Err(self.inner.unexpected("GET")),
        }
    }

    fn publish(&self, key: &StoreKey, token: &StoredToken) -> io::Result<()> {
        let remaining = token
            .expires_at()
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        let px = millis(remaining);
        if px == 0 {
            return Ok(());
        }
        let entry = token.to_entry(key);
        let entry_key = self.entry_key(key);
        let px = px.to_string();
        let args: [&[u8]; 5] = [
            b"SET",
            entry_key.as_bytes(),
            entry.expose_secret().as_bytes(),
            b"PX",
            px.as_bytes(),
        ];
        match self.inner.command("SET", &args)? {
            Value::Okay => Ok(()),
            _ => Err(self.inner.unexpected("SET")),
        }
    }

    fn try_lock(&self, key: &StoreKey) -> io::Result<Option<Box<dyn StoreLock>>> {
        let lock_key = self.lock_key(key);
        let holder = random_holder()?;
        let px = millis(self.inner.lock_ttl).to_string();
        let args: [&[u8]; 6] = [
            b"SET",
            lock_key.as_bytes(),
            holder.as_bytes(),
            b"NX",
            b"PX",
            px.as_bytes(),
        ];
        match self.inner.command("lock", &args)? {
            Value::Okay => Ok(Some(Box::new(RedisLock {
                store: self.clone(),
                lock_key,
                holder,
            }))),
            Value::Nil => Ok(None),
            _ => Err(self.inner.unexpected("lock")),
        }
    }

    fn remove_if(&self, key: &StoreKey, token: &str) -> io::Result<()> {
        let entry_key = self.entry_key(key);
        let args: [&[u8]; 5] = [
            b"EVAL",
            REMOVE_IF_SCRIPT.as_bytes(),
            b"1",
            entry_key.as_bytes(),
            token.as_bytes(),
        ];
        match self.inner.command("remove", &args)? {
            Value::Int(_) => Ok(()),
            _ => Err(self.inner.unexpected("remove")),
        }
    }
}

/// 128 random bits in hex: a lock holder's value.
fn random_holder() -> io::Result<String> {
    use ring::rand::{SecureRandom as _, SystemRandom};
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| io::Error::other("no randomness for a lock holder"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_packed_as_resp_arrays_of_bulk_strings() {
        assert_eq!(
            pack(&[b"SET", b"k", b"v\r\n"]).as_slice(),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n"
        );
    }

    #[test]
    fn a_credentials_keys_share_one_hash_tag() {
        let url = RedisUrl::parse("redis://127.0.0.1:1").unwrap();
        let store =
            RedisStore::new(url, "p:", Duration::from_secs(1), Duration::from_secs(1)).unwrap();
        let key = StoreKey("ab".repeat(32));
        let tag = format!("{{{}}}", key.as_str());
        assert_eq!(store.entry_key(&key), format!("p:{tag}"));
        assert_eq!(store.lock_key(&key), format!("p:{tag}:lock"));
    }
}
