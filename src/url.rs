//! Validation of the URLs the library talks to.
//!
//! Only `https://` is accepted, except `http://` to a loopback host
//! (`127.0.0.0/8`, `::1`, `localhost`), which tests and the mock server use.
//! The check happens when the configuration is built, before any connection;
//! `localhost` is then connected as `127.0.0.1`/`::1` without a lookup (see
//! the resolver).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::limits::MAX_ECHO_CHARS;
use crate::limits::MAX_URL_LEN;

/// A validated `http(s)` URL, kept exactly as given (minus surrounding
/// whitespace and, for base URLs, a trailing `/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HttpUrl {
    text: String,
    https: bool,
    host_start: usize,
    host_end: usize,
}

impl HttpUrl {
    /// Parses and validates `input`.
    pub(crate) fn parse(input: &str) -> Result<Self> {
        let text = input.trim();
        if text.is_empty() {
            return Err(Error::config("URL is empty"));
        }
        if text.len() > MAX_URL_LEN {
            return Err(Error::config(format!(
                "URL is {} bytes long, more than the limit of {MAX_URL_LEN}",
                text.len()
            )));
        }
        if let Some(c) = text.chars().find(|c| c.is_control() || c.is_whitespace()) {
            return Err(Error::config(format!(
                "URL contains the character {c:?}, which is not allowed"
            )));
        }
        let (scheme, rest) = text.split_once("://").ok_or_else(|| {
            Error::config(format!(
                "URL {:?} has no scheme: expected https://host/...",
                printable_prefix(text)
            ))
        })?;
        let https = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else {
            return Err(Error::config(format!(
                "URL scheme {:?} is not supported: use https://",
                printable_prefix(scheme)
            )));
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if authority.contains('@') {
            return Err(Error::config(
                "URL contains user information (user:password@); credentials are configured separately, never in a URL",
            ));
        }
        if rest[authority_end..].contains('#') {
            return Err(Error::config("URL must not contain a fragment (#...)"));
        }
        let host = split_host(authority)?;
        let host_start = scheme.len() + 3 + (host.as_ptr() as usize - authority.as_ptr() as usize);
        // The scheme is case-insensitive: keep it in its canonical lowercase
        // form, so endpoints (and the assertion's `aud`) read `https://...`.
        let canonical = if https { "https" } else { "http" };
        let url = HttpUrl {
            text: format!("{canonical}{}", &text[scheme.len()..]),
            https,
            host_start,
            host_end: host_start + host.len(),
        };
        if !url.https && !is_loopback_host(url.host()) {
            return Err(Error::config(format!(
                "refusing plain http:// to non-loopback host {}: credentials would travel unencrypted; use https:// (http:// is allowed only for 127.0.0.0/8, ::1 and localhost)",
                url.host()
            )));
        }
        Ok(url)
    }

    /// Parses a base URL: as [`parse`](Self::parse), with trailing `/` removed.
    pub(crate) fn parse_base(input: &str) -> Result<Self> {
        let mut url = Self::parse(input)?;
        let keep = url.text.trim_end_matches('/').len().max(url.host_end);
        url.text.truncate(keep);
        Ok(url)
    }

    /// The URL text.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the scheme is `https`.
    pub(crate) fn is_https(&self) -> bool {
        self.https
    }

    /// The host, as written (IPv6 in brackets).
    pub(crate) fn host(&self) -> &str {
        &self.text[self.host_start..self.host_end]
    }

    /// The port: as written, or the scheme's (443, 80).
    pub(crate) fn port(&self) -> u16 {
        let written = self.text[self.host_end..]
            .strip_prefix(':')
            .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(rest))
            .and_then(|port| port.parse().ok());
        written.unwrap_or(if self.https { 443 } else { 80 })
    }
}

/// Takes the host out of `host[:port]`, validating both.
fn split_host(authority: &str) -> Result<&str> {
    let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
        let close = stripped
            .find(']')
            .ok_or_else(|| Error::config("URL has an unclosed IPv6 address bracket"))?;
        let literal = &stripped[..close];
        literal
            .parse::<Ipv6Addr>()
            .map_err(|_| Error::config("URL has an invalid IPv6 address"))?;
        let after = &stripped[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port),
            None if after.is_empty() => None,
            None => return Err(Error::config("URL has text after its IPv6 address")),
        };
        (&authority[..close + 2], port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(Error::config("URL has no host"));
    }
    if !host.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(Error::config(format!(
            "URL host {:?} contains characters a host name cannot have",
            printable_prefix(host)
        )));
    }
    if let Some(port) = port {
        if port.is_empty()
            || port.len() > 5
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().is_err()
        {
            return Err(Error::config(format!(
                "URL port {:?} is not a number from 0 to 65535",
                printable_prefix(port)
            )));
        }
    }
    Ok(host)
}

/// Whether `host` is `localhost`, an address in `127.0.0.0/8`, or `[::1]`.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// `text` (a URL, for `Debug`) bounded, with any user information of its
/// authority replaced by `[redacted]`.
pub(crate) fn redact_userinfo(text: &str) -> String {
    let text = printable_prefix(text);
    let authority_start = text.find("://").map_or(0, |i| i + 3);
    let rest = &text[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}[redacted]{}", &text[..authority_start], &rest[at..]),
        None => text.to_owned(),
    }
}

/// A bounded prefix of untrusted text, for quoting in an error message.
pub(crate) fn printable_prefix(text: &str) -> &str {
    match text.char_indices().nth(MAX_ECHO_CHARS) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn https_urls_are_accepted_with_port_and_path() {
        let url = HttpUrl::parse("https://authx.alpaca.markets:443/v1/oauth2/token").unwrap();
        assert_eq!(url.host(), "authx.alpaca.markets");
        assert_eq!(
            url.as_str(),
            "https://authx.alpaca.markets:443/v1/oauth2/token"
        );
    }

    #[test]
    fn plain_http_is_refused_except_for_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.3.4.5/x",
            "http://localhost:1",
            "http://[::1]:80/",
            "HTTP://LOCALHOST",
        ] {
            assert!(HttpUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.alpaca.markets",
            "http://10.0.0.1",
            "http://128.0.0.1",
            "http://localhost.evil.com",
            "http://[::2]",
            "http://127.0.0.1.nip.io",
        ] {
            let err = HttpUrl::parse(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(
                err.message().contains("refusing plain http://"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn malformed_urls_get_config_errors() {
        for bad in [
            "",
            "api.alpaca.markets",
            "ftp://x",
            "https://",
            "https://:443",
            "https://host:99999",
            "https://host:port",
            "https://us er@host",
            "https://user:pw@host/",
            "https://host/#frag",
            "https://[::1",
            "https://ho_st/",
        ] {
            let err = HttpUrl::parse(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
        }
        let long = format!("https://h/{}", "a".repeat(MAX_URL_LEN));
        assert!(HttpUrl::parse(&long).is_err());
    }

    #[test]
    fn userinfo_is_refused_without_echoing_it() {
        let err = HttpUrl::parse("https://key:supersecret@api.alpaca.markets").unwrap_err();
        assert!(!err.to_string().contains("supersecret"));
    }

    #[test]
    fn the_scheme_is_kept_in_lowercase() {
        let url = HttpUrl::parse("HTTPS://Auth.Example.com/Path").unwrap();
        assert_eq!(url.as_str(), "https://Auth.Example.com/Path");
        assert_eq!(url.host(), "Auth.Example.com");
        let url = HttpUrl::parse_base("hTtp://127.0.0.1:1/").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:1");
    }

    #[test]
    fn base_urls_lose_trailing_slashes_only() {
        let url = HttpUrl::parse_base("https://h.example/api//").unwrap();
        assert_eq!(url.as_str(), "https://h.example/api");
        let url = HttpUrl::parse_base("https://h.example/").unwrap();
        assert_eq!(url.as_str(), "https://h.example");
    }
}
