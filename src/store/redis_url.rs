//! [`RedisUrl`]: where the built-in Redis token store is, parsed from a
//! `redis://`, `rediss://` or `unix://` URL. Compiled in every build, so
//! that every front end checks the URL the same way; only a build with the
//! cargo feature `redis` can use it (see [`REDIS_FEATURE_OFF`]).

use std::fmt;

use crate::error::{Error, Result};
use crate::limits::{DEFAULT_REDIS_KEY_PREFIX, MAX_REDIS_KEY_PREFIX_LEN, MAX_URL_LEN};
use crate::secret::SecretString;

/// The error of a Redis store setting in a build without the feature.
pub(crate) const REDIS_FEATURE_OFF: &str =
    "a Redis token store needs the cargo feature \"redis\", which this build of alpaca-auth was made without (cargo build --features redis)";

/// The default port of `redis://` and `rediss://`.
const DEFAULT_PORT: u16 = 6379;

/// How to reach a Redis server. The password is a secret: `Debug` shows
/// `[redacted]`, it is zeroized on drop, and no error names it (nor the
/// URL, which holds it).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RedisUrl {
    /// Host and port, or a socket.
    pub(crate) addr: RedisAddr,
    /// An ACL user (with a password), or none (`default`).
    pub(crate) username: Option<String>,
    /// `AUTH` password, if any.
    pub(crate) password: Option<SecretString>,
    /// The database number (`SELECT`), 0 by default.
    pub(crate) db: u32,
}

/// Where the server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RedisAddr {
    /// `redis://host:port`.
    Tcp { host: String, port: u16 },
    /// `rediss://host:port`: TLS, the host name verified against the
    /// certificate.
    Tls { host: String, port: u16 },
    /// `unix:///path/to/socket`.
    Unix(String),
}

impl RedisUrl {
    /// Parses `redis://[[user]:password@]host[:port][/db]`, the same with
    /// `rediss://` (TLS), or `unix://[[user]:password@]/path[?db=N]`.
    /// `%XX` escapes are decoded in the user and password. Errors say which
    /// part is wrong, never the URL.
    pub(crate) fn parse(url: &str) -> Result<RedisUrl> {
        if url.len() > MAX_URL_LEN {
            return Err(invalid(&format!("longer than {MAX_URL_LEN} bytes")));
        }
        if let Some(rest) = url.strip_prefix("unix://") {
            return parse_unix(rest);
        }
        let (tls, rest) = if let Some(rest) = url.strip_prefix("redis://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("rediss://") {
            (true, rest)
        } else {
            return Err(invalid("the scheme must be redis://, rediss:// or unix://"));
        };
        let (userinfo, rest) = split_userinfo(rest);
        let (username, password) = credentials(userinfo)?;
        let (host_port, db) = match rest.split_once('/') {
            Some((host_port, db)) => (host_port, parse_db(db)?),
            None => (rest, 0),
        };
        let (host, port) = host_and_port(host_port)?;
        let addr = if tls {
            RedisAddr::Tls { host, port }
        } else {
            RedisAddr::Tcp { host, port }
        };
        Ok(RedisUrl {
            addr,
            username,
            password,
            db,
        })
    }
}

fn invalid(what: &str) -> Error {
    Error::config(format!(
        "token store URL: {what} (expected redis://[[user]:password@]host[:port][/db], rediss://... or unix:///path[?db=N])"
    ))
}

/// `user:password` before the last `@` (a password may hold `@` escaped or
/// not), and the rest.
fn split_userinfo(rest: &str) -> (Option<&str>, &str) {
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    }
}

/// The user and password of `user:password` (either may be empty; a user
/// needs a password).
fn credentials(userinfo: Option<&str>) -> Result<(Option<String>, Option<SecretString>)> {
    let Some(userinfo) = userinfo else {
        return Ok((None, None));
    };
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let user = percent_decode(user).ok_or_else(|| invalid("a bad %-escape in the user"))?;
    let password = percent_decode(password)
        .map(SecretString::new)
        .ok_or_else(|| invalid("a bad %-escape in the password"))?;
    let user = (!user.is_empty()).then_some(user);
    let password = (!password.is_empty()).then_some(password);
    if user.is_some() && password.is_none() {
        return Err(invalid("a user needs a password"));
    }
    Ok((user, password))
}

fn parse_db(db: &str) -> Result<u32> {
    if db.is_empty() {
        return Ok(0);
    }
    db.parse()
        .map_err(|_| invalid("the database must be a number"))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn host_and_port(host_port: &str) -> Result<(String, u16)> {
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| invalid("an IPv6 address without its closing ]"))?;
        (host, after.strip_prefix(':'))
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    let ok_host = |h: &str| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
    };
    if !ok_host(host) {
        return Err(invalid(
            "no host, or a host with characters other than letters, digits, '-', '.', '_'",
        ));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| invalid("the port must be a number from 1 to 65535"))?,
    };
    Ok((host.to_owned(), port))
}

/// `unix://[[user]:password@]/path[?db=N]`.
fn parse_unix(rest: &str) -> Result<RedisUrl> {
    let (userinfo, rest) = match rest.find("@/") {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let (username, password) = credentials(userinfo)?;
    let (path, db) = match rest.split_once('?') {
        Some((path, query)) => {
            let db = query
                .strip_prefix("db=")
                .ok_or_else(|| invalid("the only query of unix:// is db=N"))?;
            (path, parse_db(db)?)
        }
        None => (rest, 0),
    };
    if !path.starts_with('/') || path.len() < 2 {
        return Err(invalid("unix:// needs an absolute socket path"));
    }
    Ok(RedisUrl {
        addr: RedisAddr::Unix(path.to_owned()),
        username,
        password,
        db,
    })
}

/// `%XX` escapes decoded; `None` for a bad escape or a non-UTF-8 result.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(bytes.len()));
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
    std::str::from_utf8(&out).ok().map(str::to_owned)
}

/// Checks a key prefix: 1 to [`MAX_REDIS_KEY_PREFIX_LEN`] bytes of printable
/// ASCII, without spaces or braces (a brace would move the hash tag).
pub(crate) fn check_key_prefix(prefix: &str) -> Result<()> {
    let ok = |b: u8| b.is_ascii_graphic() && b != b'{' && b != b'}';
    if prefix.is_empty() || prefix.len() > MAX_REDIS_KEY_PREFIX_LEN || !prefix.bytes().all(ok) {
        return Err(Error::config(format!(
            "token store key prefix must be 1 to {MAX_REDIS_KEY_PREFIX_LEN} bytes of printable ASCII without spaces, '{{' or '}}' (default {DEFAULT_REDIS_KEY_PREFIX:?})"
        )));
    }
    Ok(())
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisUrl")
            .field("addr", &self.addr)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("db", &self.db)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> RedisAddr {
        RedisAddr::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn urls_of_every_scheme_parse() {
        let url = RedisUrl::parse("redis://127.0.0.1").unwrap();
        assert_eq!((url.addr, url.db), (tcp("127.0.0.1", 6379), 0));
        let url = RedisUrl::parse("redis://app:p%40ss:w@cache.internal:6380/3").unwrap();
        assert_eq!(url.addr, tcp("cache.internal", 6380));
        assert_eq!(url.username.as_deref(), Some("app"));
        assert_eq!(url.password.unwrap().expose_secret(), "p@ss:w");
        assert_eq!(url.db, 3);
        let url = RedisUrl::parse("redis://:only-password@[::1]:7000/").unwrap();
        assert_eq!((url.addr, url.username), (tcp("::1", 7000), None));
        let url = RedisUrl::parse("rediss://cache.internal").unwrap();
        assert_eq!(
            url.addr,
            RedisAddr::Tls {
                host: "cache.internal".into(),
                port: 6379
            }
        );
        let url = RedisUrl::parse("unix://app:pw@/run/redis.sock?db=2").unwrap();
        assert_eq!(url.addr, RedisAddr::Unix("/run/redis.sock".into()));
        assert_eq!((url.username.as_deref(), url.db), (Some("app"), 2));
    }

    #[test]
    fn bad_urls_are_config_errors_that_never_show_the_password() {
        for bad in [
            "http://127.0.0.1",
            "redis://",
            "redis://user@host",
            "redis://u:pa%zzss@host",
            "redis://u:secret-pw@host:0",
            "redis://u:secret-pw@host:port",
            "redis://u:secret-pw@host/db",
            "redis://u:secret-pw@ho st",
            "redis://u:secret-pw@[::1",
            "unix://u:secret-pw@relative.sock",
            "unix://u:secret-pw@/s.sock?timeout=1",
        ] {
            let error = RedisUrl::parse(bad).unwrap_err();
            assert_eq!(error.kind(), crate::ErrorKind::Config, "{bad}");
            assert!(!error.to_string().contains("secret-pw"), "{error}");
        }
        let url = RedisUrl::parse("redis://u:secret-pw@host").unwrap();
        let debug = format!("{url:?}");
        assert!(
            !debug.contains("secret-pw") && debug.contains("[redacted]"),
            "{debug}"
        );
    }

    #[test]
    fn key_prefixes_cannot_move_the_hash_tag() {
        check_key_prefix("alpaca-auth:").unwrap();
        check_key_prefix("fleet-7/").unwrap();
        for bad in [
            "",
            "a{b",
            "a}b",
            "with space",
            &"x".repeat(MAX_REDIS_KEY_PREFIX_LEN + 1),
        ] {
            assert!(check_key_prefix(bad).is_err(), "{bad}");
        }
    }
}
