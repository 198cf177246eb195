//! `RedisStore`: a [`TokenStore`] over Redis, so that processes on several
//! hosts share one token per credential. Used by `examples/redis_store.rs`
//! and `tests/redis_store.rs`; no dependency beyond the library's own (a
//! minimal RESP2 client over `std::net::TcpStream`).
//!
//! Keys (`<prefix>` defaults to [`DEFAULT_PREFIX`], `<key>` is
//! [`StoreKey::as_str`], 64 hex digits):
//! - `<prefix><key>`: the entry, JSON `{"version":2,"key":..,"access_token":..,
//!   "expires_at_unix_ms":..,"lifetime_ms":..}` (refused under another key),
//!   written with `SET .. PX <the token's remaining life>`, so Redis drops it
//!   when the token expires. Never the client secret, the private key or an assertion.
//! - `<prefix><key>:lock`: the fetch lock, `SET .. <random> NX PX <lock TTL>`
//!   ([`DEFAULT_LOCK_TTL`], the token budget, unless changed). A holder that
//!   dies leaves it to expire; unlocking deletes it only if it still holds
//!   this holder's random value (a script), so a holder whose lock expired
//!   never deletes the next holder's lock.
//! - `remove_if` (after a 401) is a script that deletes the entry only if its
//!   `access_token` is the rejected one (compared inside Redis).
//!
//! Every command has a deadline ([`DEFAULT_IO_TIMEOUT`]); a timeout, a
//! refused connection or an unexpected reply is an `io::Error`, on which the
//! library fetches locally. Errors name the operation and at most a Redis
//! error code (`ERR`, `NOAUTH`, ...), never a token or a password.
//!
//! Not covered: TLS (`rediss://`; use a private network or a local TLS
//! tunnel), Redis Cluster and Sentinel, and a timeout on the DNS lookup of
//! the host name (give an IP address where that matters). Anyone who can
//! read these keys gets the access token (not the credential): protect the
//! instance with a password or an ACL.
#![allow(dead_code)] // the example and the test use different parts

use std::fmt;
use std::io::{self, BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use alpaca_auth::{SecretString, StoreKey, StoreLock, StoredToken, TokenStore};
use zeroize::Zeroizing;

/// Prefix of every key this store writes.
pub const DEFAULT_PREFIX: &str = "alpaca-auth:";

/// How long a fetch lock lives if its holder never releases it: the
/// library's default token budget, the longest a fetch may take.
pub const DEFAULT_LOCK_TTL: Duration = alpaca_auth::limits::DEFAULT_TOKEN_BUDGET;

/// Deadline of one command, connecting included.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_millis(500);

/// The largest reply read (an entry is a few hundred bytes).
pub const MAX_REPLY_LEN: usize = 64 * 1024;

/// Idle connections kept for reuse.
const MAX_IDLE: usize = 4;

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

/// A reply of Redis (an error reply is an `io::Error`).
#[derive(Debug, PartialEq)]
pub enum Reply {
    Status(String),
    Int(i64),
    /// A bulk string; `None` is the null reply.
    Bulk(Option<Zeroizing<Vec<u8>>>),
    /// An array; `None` is the null array.
    Array(Option<Vec<Reply>>),
}

/// A token store in Redis (see the module documentation). Cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// `host:port` as given, for connecting and for messages.
    host_port: String,
    username: Option<String>,
    password: Option<SecretString>,
    db: u32,
    prefix: String,
    lock_ttl: Duration,
    timeout: Duration,
    idle: Mutex<Vec<Conn>>,
}

impl RedisStore {
    /// A store at `redis://[[user]:password@]host[:port][/db]` (port 6379,
    /// database 0 by default; `%XX` escapes in the user and password).
    /// Connects only when first used.
    pub fn open(url: &str) -> io::Result<RedisStore> {
        let invalid = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("redis URL: {what} (expected redis://[[user]:password@]host[:port][/db])"),
            )
        };
        let rest = if let Some(rest) = url.strip_prefix("redis://") {
            rest
        } else if url.starts_with("rediss://") {
            return Err(invalid("TLS (rediss://) is not supported by this store"));
        } else {
            return Err(invalid("not a redis:// URL"));
        };
        let (userinfo, rest) = match rest.rsplit_once('@') {
            Some((userinfo, rest)) => (Some(userinfo), rest),
            None => (None, rest),
        };
        let (host_port, db) = match rest.split_once('/') {
            Some((host_port, "")) => (host_port, 0),
            Some((host_port, db)) => (
                host_port,
                db.parse::<u32>()
                    .map_err(|_| invalid("the database is not a number"))?,
            ),
            None => (rest, 0),
        };
        if host_port.is_empty() {
            return Err(invalid("no host"));
        }
        // "host", "10.0.0.1", "[::1]" have no port; "host:6380" has one.
        let has_port = match host_port.rfind(':') {
            Some(colon) => !host_port[colon..].contains(']'),
            None => false,
        };
        let host_port = if has_port {
            host_port.to_owned()
        } else {
            format!("{host_port}:6379")
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(userinfo) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let user = percent_decode(user).ok_or_else(|| invalid("bad %-escape"))?;
                let password = percent_decode(password).ok_or_else(|| invalid("bad %-escape"))?;
                (
                    (!user.is_empty()).then_some(user),
                    (!password.is_empty()).then(|| SecretString::new(password)),
                )
            }
        };
        if username.is_some() && password.is_none() {
            return Err(invalid("a user needs a password"));
        }
        Ok(RedisStore {
            inner: Arc::new(Inner {
                host_port,
                username,
                password,
                db,
                prefix: DEFAULT_PREFIX.to_owned(),
                lock_ttl: DEFAULT_LOCK_TTL,
                timeout: DEFAULT_IO_TIMEOUT,
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Another key prefix (e.g. one per fleet sharing an instance).
    pub fn with_prefix(self, prefix: &str) -> RedisStore {
        self.with(|inner| inner.prefix = prefix.to_owned())
    }

    /// Another lifetime of a fetch lock whose holder never releases it; set
    /// it to the clients' token budget if that is not the default.
    pub fn with_lock_ttl(self, ttl: Duration) -> RedisStore {
        self.with(|inner| inner.lock_ttl = ttl.max(Duration::from_millis(1)))
    }

    /// Another deadline for each command.
    pub fn with_timeout(self, timeout: Duration) -> RedisStore {
        self.with(|inner| inner.timeout = timeout.max(Duration::from_millis(1)))
    }

    fn with(self, change: impl FnOnce(&mut Inner)) -> RedisStore {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            host_port: shared.host_port.clone(),
            username: shared.username.clone(),
            password: shared.password.clone(),
            db: shared.db,
            prefix: shared.prefix.clone(),
            lock_ttl: shared.lock_ttl,
            timeout: shared.timeout,
            idle: Mutex::new(Vec::new()),
        });
        change(&mut inner);
        RedisStore {
            inner: Arc::new(inner),
        }
    }

    /// The entry's key name of `key`.
    pub fn entry_key(&self, key: &StoreKey) -> String {
        format!("{}{}", self.inner.prefix, key.as_str())
    }

    /// The fetch lock's key name of `key`.
    pub fn lock_key(&self, key: &StoreKey) -> String {
        format!("{}{}:lock", self.inner.prefix, key.as_str())
    }

    /// `PING`: whether the server answers.
    pub fn ping(&self) -> io::Result<()> {
        match self.inner.command("PING", &[b"PING"])? {
            Reply::Status(s) if s == "PONG" => Ok(()),
            _ => Err(unexpected("PING")),
        }
    }

    /// Any command (for checks and tests).
    pub fn command(&self, args: &[&[u8]]) -> io::Result<Reply> {
        self.inner.command("command", args)
    }
}

impl Inner {
    /// Runs one command on an idle connection or a new one; a connection
    /// that saw any error is dropped, not reused.
    fn command(&self, op: &str, args: &[&[u8]]) -> io::Result<Reply> {
        let deadline = Instant::now() + self.timeout;
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut conn = match idle {
            // A connection inherited through fork() is the parent's.
            Some(conn) if conn.pid == std::process::id() => conn,
            _ => self.connect(deadline).map_err(|e| context(op, e))?,
        };
        let reply = conn.call(args, deadline).map_err(|e| context(op, e))?;
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        Ok(reply)
    }

    fn connect(&self, deadline: Instant) -> io::Result<Conn> {
        let mut last = None;
        for addr in self.host_port.to_socket_addrs()? {
            match Conn::connect(addr, deadline) {
                Ok(conn) => return self.handshake(conn, deadline),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")))
    }

    fn handshake(&self, mut conn: Conn, deadline: Instant) -> io::Result<Conn> {
        if let Some(password) = &self.password {
            let password = password.expose_secret().as_bytes();
            let reply = match &self.username {
                Some(user) => conn.call(&[b"AUTH", user.as_bytes(), password], deadline)?,
                None => conn.call(&[b"AUTH", password], deadline)?,
            };
            if reply != Reply::Status("OK".into()) {
                return Err(unexpected("AUTH"));
            }
        }
        if self.db != 0 {
            let db = self.db.to_string();
            if conn.call(&[b"SELECT", db.as_bytes()], deadline)? != Reply::Status("OK".into()) {
                return Err(unexpected("SELECT"));
            }
        }
        Ok(conn)
    }
}

impl TokenStore for RedisStore {
    fn load(&self, key: &StoreKey) -> io::Result<Option<StoredToken>> {
        let entry_key = self.entry_key(key);
        let bytes = match self.inner.command("GET", &[b"GET", entry_key.as_bytes()])? {
            Reply::Bulk(Some(bytes)) => bytes,
            Reply::Bulk(None) => return Ok(None),
            _ => return Err(unexpected("GET")),
        };
        // An entry that does not parse is ignored (the next publish replaces
        // it).
        Ok(StoredToken::from_entry(key, &bytes))
    }

    fn publish(&self, key: &StoreKey, token: &StoredToken) -> io::Result<()> {
        // The key expires with the token.
        let remaining = token
            .expires_at()
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        let px = millis(remaining);
        if px == 0 {
            return Ok(());
        }
        let entry = token.to_entry(key);
        let value = entry.expose_secret().as_bytes();
        let entry_key = self.entry_key(key);
        let px = px.to_string();
        match self.inner.command(
            "SET",
            &[b"SET", entry_key.as_bytes(), value, b"PX", px.as_bytes()],
        )? {
            Reply::Status(s) if s == "OK" => Ok(()),
            _ => Err(unexpected("SET")),
        }
    }

    fn try_lock(&self, key: &StoreKey) -> io::Result<Option<Box<dyn StoreLock>>> {
        let lock_key = self.lock_key(key);
        let value = random_token()?;
        let px = millis(self.inner.lock_ttl).max(1).to_string();
        match self.inner.command(
            "SET NX",
            &[
                b"SET",
                lock_key.as_bytes(),
                value.as_bytes(),
                b"NX",
                b"PX",
                px.as_bytes(),
            ],
        )? {
            Reply::Status(s) if s == "OK" => Ok(Some(Box::new(RedisLock {
                inner: Arc::clone(&self.inner),
                lock_key,
                value,
            }))),
            // Another holder has it.
            Reply::Bulk(None) => Ok(None),
            _ => Err(unexpected("SET NX")),
        }
    }

    fn remove_if(&self, key: &StoreKey, token: &str) -> io::Result<()> {
        let entry_key = self.entry_key(key);
        match self.inner.command(
            "EVAL",
            &[
                b"EVAL",
                REMOVE_IF_SCRIPT.as_bytes(),
                b"1",
                entry_key.as_bytes(),
                token.as_bytes(),
            ],
        )? {
            Reply::Int(_) => Ok(()),
            _ => Err(unexpected("EVAL")),
        }
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("host_port", &self.inner.host_port)
            .field("username", &self.inner.username)
            .field(
                "password",
                &self.inner.password.as_ref().map(|_| "[redacted]"),
            )
            .field("db", &self.inner.db)
            .field("prefix", &self.inner.prefix)
            .field("lock_ttl", &self.inner.lock_ttl)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

/// A held fetch lock; dropping it deletes the lock key if it still holds
/// this holder's value (it may have expired and been taken by another).
struct RedisLock {
    inner: Arc<Inner>,
    lock_key: String,
    value: String,
}

impl StoreLock for RedisLock {}

impl Drop for RedisLock {
    fn drop(&mut self) {
        // If this fails the lock expires on its own.
        let _ = self.inner.command(
            "unlock",
            &[
                b"EVAL",
                UNLOCK_SCRIPT.as_bytes(),
                b"1",
                self.lock_key.as_bytes(),
                self.value.as_bytes(),
            ],
        );
    }
}

/// One connection with a buffered reader; every call has a deadline.
struct Conn {
    reader: BufReader<TcpStream>,
    pid: u32,
}

impl Conn {
    fn connect(addr: SocketAddr, deadline: Instant) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, remaining(deadline)?)?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            reader: BufReader::new(stream),
            pid: std::process::id(),
        })
    }

    /// Sends a command (an array of bulk strings) and reads its reply.
    fn call(&mut self, args: &[&[u8]], deadline: Instant) -> io::Result<Reply> {
        let mut out = Zeroizing::new(Vec::with_capacity(
            16 + args.iter().map(|a| a.len() + 16).sum::<usize>(),
        ));
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        let stream = self.reader.get_mut();
        stream.set_write_timeout(Some(remaining(deadline)?))?;
        stream.write_all(&out)?;
        self.read_reply(deadline, 0)
    }

    fn read_reply(&mut self, deadline: Instant, depth: usize) -> io::Result<Reply> {
        let line = self.read_line(deadline)?;
        let (kind, rest) = line.split_first().ok_or_else(|| unexpected("reply"))?;
        let text = std::str::from_utf8(rest).map_err(|_| unexpected("reply"))?;
        match kind {
            b'+' => Ok(Reply::Status(text.to_owned())),
            // Only the error code: the message might quote an argument.
            b'-' => Err(io::Error::other(format!(
                "redis error {}",
                text.split(' ').next().unwrap_or("").escape_debug()
            ))),
            b':' => text
                .parse()
                .map(Reply::Int)
                .map_err(|_| unexpected("integer")),
            b'$' => {
                let len: i64 = text.parse().map_err(|_| unexpected("bulk length"))?;
                if len < 0 {
                    return Ok(Reply::Bulk(None));
                }
                let len = usize::try_from(len).map_err(|_| unexpected("bulk length"))?;
                if len > MAX_REPLY_LEN {
                    return Err(unexpected("oversized reply"));
                }
                let mut bytes = Zeroizing::new(vec![0; len + 2]);
                self.read_exact(&mut bytes, deadline)?;
                if !bytes.ends_with(b"\r\n") {
                    return Err(unexpected("bulk end"));
                }
                bytes.truncate(len);
                Ok(Reply::Bulk(Some(bytes)))
            }
            b'*' if depth < 2 => {
                let len: i64 = text.parse().map_err(|_| unexpected("array length"))?;
                if len < 0 {
                    return Ok(Reply::Array(None));
                }
                if len > 1024 {
                    return Err(unexpected("oversized array"));
                }
                (0..len)
                    .map(|_| self.read_reply(deadline, depth + 1))
                    .collect::<io::Result<_>>()
                    .map(|items| Reply::Array(Some(items)))
            }
            _ => Err(unexpected("reply type")),
        }
    }

    /// The buffered bytes, reading more (until `deadline`) when there are
    /// none; the end of the stream is an error.
    fn fill(&mut self, deadline: Instant) -> io::Result<&[u8]> {
        self.reader
            .get_ref()
            .set_read_timeout(Some(remaining(deadline)?))?;
        let buf = self.reader.fill_buf()?;
        if buf.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(buf)
    }

    /// A line without its CRLF, at most 4 KiB.
    fn read_line(&mut self, deadline: Instant) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        loop {
            let buf = self.fill(deadline)?;
            let (taken, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            line.extend_from_slice(&buf[..taken]);
            self.reader.consume(taken);
            if line.len() > 4096 {
                return Err(unexpected("oversized line"));
            }
            if done {
                if !line.ends_with(b"\r\n") {
                    return Err(unexpected("line end"));
                }
                line.truncate(line.len() - 2);
                return Ok(line);
            }
        }
    }

    fn read_exact(&mut self, mut out: &mut [u8], deadline: Instant) -> io::Result<()> {
        while !out.is_empty() {
            let buf = self.fill(deadline)?;
            let n = buf.len().min(out.len());
            out[..n].copy_from_slice(&buf[..n]);
            self.reader.consume(n);
            out = &mut out[n..];
        }
        Ok(())
    }
}

/// Time left until `deadline`, or `TimedOut`.
fn remaining(deadline: Instant) -> io::Result<Duration> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(left) if !left.is_zero() => Ok(left),
        _ => Err(io::ErrorKind::TimedOut.into()),
    }
}

fn context(op: &str, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("redis {op}: {error}"))
}

fn unexpected(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("redis: unexpected {what}"),
    )
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// 128 random bits in hex: a lock holder's value.
fn random_token() -> io::Result<String> {
    use ring::rand::{SecureRandom as _, SystemRandom};
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| io::Error::other("no randomness"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `%XX` escapes decoded; `None` for a bad escape or non-UTF-8 result.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
