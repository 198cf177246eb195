//! The HTTP side of token acquisition: one ureq agent per client, the token
//! request with retries inside one time budget, and error classification.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use ring::rand::SystemRandom;
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::{Agent, Proxy};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};
use crate::error_body::{is_final_code, is_retryable_code, parse_error_body, parse_rest_error};
use crate::limits::CONNECTION_BUFFER;
use crate::limits::MAX_DESCRIPTION_CHARS;
use crate::limits::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_TOKEN_BUDGET, MAX_CA_BUNDLE_LEN,
    MAX_RESPONSE_BODY, MAX_RESPONSE_HEADER,
};
use crate::redact::quote_or_withheld;
use crate::resolver::{CachingResolver, DnsCache};
use crate::retry::{honour_retry_after, is_retryable_status, parse_retry_after, RetryPolicy};
use crate::secret::SecretString;
use crate::token::{parse_token_response, Grant};
use crate::trust::{resolve_roots, TlsRoots};
use crate::url::{is_loopback_host, HttpUrl};

/// The `User-Agent` of token requests.
pub(crate) const USER_AGENT: &str = concat!("alpaca-auth/", env!("CARGO_PKG_VERSION"));

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Where token requests go through a proxy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ProxySetting {
    /// `ALL_PROXY` / `HTTPS_PROXY` / `HTTP_PROXY` (and `NO_PROXY`, lower
    /// case too; the first one set and not empty wins, in that order),
    /// except for `http://` (loopback) token endpoints. A variable that is set but unusable is a `Config`
    /// error naming it. The default.
    #[default]
    FromEnv,
    /// No proxy, whatever the environment says.
    Disabled,
    /// This proxy (`http://` or `https://`; SOCKS is not supported). Its URL
    /// may carry credentials and is never printed. Refused with a plain
    /// `http://` token URL.
    Url(SecretString),
}

/// The transport settings of a client.
#[derive(Clone, Debug)]
pub(crate) struct TransportConfig {
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) budget: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) proxy: ProxySetting,
    pub(crate) roots: TlsRoots,
    pub(crate) extra_roots: Vec<Certificate<'static>>,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            budget: DEFAULT_TOKEN_BUDGET,
            retry: RetryPolicy::default(),
            proxy: ProxySetting::FromEnv,
            roots: TlsRoots::FromEnv,
            extra_roots: Vec::new(),
        }
    }
}

/// Parses a PEM bundle of CA certificates to trust besides the webpki roots.
pub(crate) fn parse_ca_bundle(pem: &[u8]) -> Result<Vec<Certificate<'static>>> {
    let certs = parse_certificates(pem)?;
    if certs.is_empty() {
        return Err(Error::config(
            "CA bundle holds no certificate (no PEM certificate: expected -----BEGIN CERTIFICATE----- blocks)",
        ));
    }
    Ok(certs)
}

/// The certificates of a PEM text of at most [`MAX_CA_BUNDLE_LEN`] bytes
/// (none if it holds none; other PEM blocks are skipped).
pub(crate) fn parse_certificates(pem: &[u8]) -> Result<Vec<Certificate<'static>>> {
    if pem.len() > MAX_CA_BUNDLE_LEN {
        return Err(Error::config(format!(
            "CA bundle is {} bytes, more than the limit of {MAX_CA_BUNDLE_LEN}",
            pem.len()
        )));
    }
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(_) => return Err(Error::config("CA bundle is not valid PEM")),
        }
    }
    Ok(certs)
}

/// The proxy environment variables, in the order ureq consults them: the
/// first one set (and not empty) is the proxy of token requests.
pub(crate) const PROXY_ENV_VARS: [&str; 6] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
];

/// Checks a proxy URL and parses it; the messages never quote it (it may
/// carry credentials). Only `http://` and `https://` proxies are supported
/// (a URL without a scheme is `http://`); SOCKS and anything else is a
/// `Config` error, never a silent direct connection.
fn parse_proxy_url(text: &str) -> Result<Proxy> {
    if text.is_empty() {
        return Err(Error::config("proxy URL is empty"));
    }
    if text.len() > crate::limits::MAX_URL_LEN {
        return Err(Error::config(format!(
            "proxy URL is {} bytes long, more than the limit of {}",
            text.len(),
            crate::limits::MAX_URL_LEN
        )));
    }
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::config(
            "proxy URL contains spaces or control characters",
        ));
    }
    if let Some((scheme, _)) = text.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            let shown = match scheme.as_str() {
                "socks" | "socks4" | "socks4a" | "socks5" | "socks5h" => "a SOCKS proxy",
                _ => "this proxy scheme",
            };
            return Err(Error::config(format!(
                "{shown} is not supported: use an http:// or https:// proxy"
            )));
        }
    }
    let proxy = Proxy::new(text).map_err(|_| {
        Error::config("proxy URL is not valid (expected http://[user:password@]host:port)")
    })?;
    if proxy.host().is_empty() {
        return Err(Error::config("proxy URL has no host"));
    }
    Ok(proxy)
}

/// The proxy the environment asks for, read through `lookup`: the first of
/// [`PROXY_ENV_VARS`] that is set and not empty, which must be a usable
/// proxy URL. An unusable one is a `Config` error naming the variable (never
/// its value), not a reason to connect directly.
pub(crate) fn proxy_from_env_with(
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(&'static str, Proxy)>> {
    for name in PROXY_ENV_VARS {
        let Some(value) = lookup(name) else { continue };
        if value.trim().is_empty() {
            continue;
        }
        return match parse_proxy_url(value.trim()) {
            Ok(proxy) => Ok(Some((name, proxy))),
            Err(e) => Err(e.with_message_prefix(&format!("{name} is set but unusable: "))),
        };
    }
    Ok(None)
}

/// A form body for the token endpoint, and the secret it carries (redacted
/// from anything the server echoes back).
pub(crate) struct TokenForm {
    pub(crate) body: SecretString,
    pub(crate) secret: SecretString,
}

/// Appends `key=value` to a form body, percent-encoding both.
pub(crate) fn push_form_pair(body: &mut String, key: &str, value: &str) {
    if !body.is_empty() {
        body.push('&');
    }
    for (i, part) in [key, value].into_iter().enumerate() {
        if i == 1 {
            body.push('=');
        }
        for b in part.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    body.push(b as char)
                }
                b' ' => body.push('+'),
                _ => {
                    const HEX: &[u8; 16] = b"0123456789ABCDEF";
                    body.push('%');
                    body.push(HEX[usize::from(b >> 4)] as char);
                    body.push(HEX[usize::from(b & 15)] as char);
                }
            }
        }
    }
}

/// What one attempt came to.
enum Attempt {
    Done(Grant),
    Retry(Error, Option<Duration>),
    Fail(Error),
}

/// Sends token requests. One per client; its agent keeps connections alive.
pub(crate) struct Transport {
    agent: Agent,
    /// The agent's resolver cache, dropped after a failed connection.
    dns: Arc<DnsCache>,
    /// The proxy resolved at build.
    proxy: Option<Proxy>,
    /// The roots of trust resolved at build.
    roots: RootCerts,
    config: TransportConfig,
    rng: SystemRandom,
    http_requests: AtomicU64,
}

impl Transport {
    pub(crate) fn new(config: TransportConfig, token_url: &HttpUrl) -> Result<Self> {
        let proxy = resolve_proxy(&config, token_url)?;
        let roots = resolve_roots(
            config.roots,
            &config.extra_roots,
            &crate::env_vars::process_env,
        )?;
        Self::with_parts(config, proxy, roots)
    }

    /// A transport for `url` trusting `roots`, already resolved (the
    /// doctor's requests, which resolve the roots once per run).
    pub(crate) fn with_roots(
        config: TransportConfig,
        url: &HttpUrl,
        roots: RootCerts,
    ) -> Result<Self> {
        let proxy = resolve_proxy(&config, url)?;
        Self::with_parts(config, proxy, roots)
    }

    /// A transport with the same settings, proxy and roots and nothing else
    /// in common (a new agent, connection pool and resolver cache), for a
    /// child process after `fork()`. It does not read the environment
    /// again: the proxy and the roots are the ones resolved at build (and a
    /// parent thread may hold the environment's lock at the fork).
    pub(crate) fn for_child(&self) -> Result<Self> {
        Self::with_parts(self.config.clone(), self.proxy.clone(), self.roots.clone())
    }

    fn with_parts(config: TransportConfig, proxy: Option<Proxy>, roots: RootCerts) -> Result<Self> {
        let tls = TlsConfig::builder().root_certs(roots.clone());
        let agent_config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_global(Some(config.request_timeout))
            .user_agent(USER_AGENT)
            .max_response_header_size(MAX_RESPONSE_HEADER)
            .input_buffer_size(CONNECTION_BUFFER)
            .output_buffer_size(CONNECTION_BUFFER)
            .proxy(proxy.clone())
            .tls_config(tls.build())
            .build();
        let resolver = CachingResolver::default();
        let dns = resolver.cache();
        let agent = Agent::with_parts(
            agent_config,
            ureq::unversioned::transport::DefaultConnector::default(),
            resolver,
        );
        Ok(Transport {
            agent,
            dns,
            proxy,
            roots,
            config,
            rng: SystemRandom::new(),
            http_requests: AtomicU64::new(0),
        })
    }

    /// The agent: the proxy, roots and timeouts of token requests (the
    /// doctor's requests go the same way).
    pub(crate) fn agent(&self) -> &Agent {
        &self.agent
    }

    /// HTTP requests sent to the token endpoint so far (retries included).
    pub(crate) fn http_requests(&self) -> u64 {
        self.http_requests.load(Ordering::Relaxed)
    }

    /// Obtains a token, retrying within the budget. `make_form` is called
    /// once per attempt, so every attempt carries a fresh assertion.
    pub(crate) fn request_token(
        &self,
        url: &str,
        make_form: &mut dyn FnMut(Instant) -> Result<TokenForm>,
    ) -> Result<Grant> {
        let started = Instant::now();
        let deadline = started + self.config.budget;
        let max_attempts = self.config.retry.get_max_attempts().max(1);
        let mut attempt = 1;
        loop {
            let (error, retry_after) = match self.form_and_attempt(url, deadline, make_form) {
                Attempt::Done(token) => return Ok(token),
                Attempt::Fail(error) => return Err(error),
                Attempt::Retry(error, retry_after) => (error, retry_after),
            };
            if attempt >= max_attempts {
                return Err(annotate(error, attempt));
            }
            let backoff = self.config.retry.backoff(attempt, &self.rng);
            // The server may ask for longer than our backoff, never shorter
            // (a wait of the whole budget or more ends the acquisition
            // below, so nothing longer is needed).
            let wait = honour_retry_after(backoff, retry_after, self.config.budget);
            if Instant::now()
                .checked_add(wait)
                .is_none_or(|at| at >= deadline)
            {
                return Err(match error.kind() {
                    ErrorKind::RateLimited => annotate(error, attempt),
                    _ => self.budget_exhausted(Some(error)),
                });
            }
            thread::sleep(wait);
            attempt += 1;
        }
    }

    /// One attempt: the form (a transient failure to make it, such as an
    /// external signer's, is retried like a failed request), then the
    /// request with what is left of the budget.
    fn form_and_attempt(
        &self,
        url: &str,
        deadline: Instant,
        make_form: &mut dyn FnMut(Instant) -> Result<TokenForm>,
    ) -> Attempt {
        let form = match make_form(deadline) {
            Ok(form) => form,
            Err(error) if error.is_transient() => return Attempt::Retry(error, None),
            Err(error) => return Attempt::Fail(error),
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Attempt::Fail(self.budget_exhausted(None));
        }
        self.attempt(url, &form, remaining.min(self.config.request_timeout))
    }

    fn budget_exhausted(&self, last: Option<Error>) -> Error {
        let mut message = format!(
            "no token within the time budget of {} s",
            self.config.budget.as_secs_f64()
        );
        // The last failure's message only: its status, OAuth error and
        // wait are carried over as fields, so `Display` shows each once.
        if let Some(last) = &last {
            message.push_str("; last failure: ");
            message.push_str(last.message());
        }
        let mut error = Error::new(ErrorKind::Timeout, message)
            .with_retry_after(last.as_ref().and_then(Error::retry_after));
        if let Some(status) = last.as_ref().and_then(Error::status) {
            error = error.with_status(status);
        }
        if let Some(oauth) = last.as_ref().and_then(Error::oauth) {
            error = error.with_oauth(oauth.clone());
        }
        error
    }

    fn attempt(&self, url: &str, form: &TokenForm, timeout: Duration) -> Attempt {
        self.http_requests.fetch_add(1, Ordering::Relaxed);
        let sent_at = Instant::now();
        let request = self
            .agent
            .post(url)
            .header("content-type", FORM_CONTENT_TYPE)
            .header("accept", "application/json");
        // The agent's own timeout applies unless the budget leaves less.
        let request = if timeout < self.config.request_timeout {
            request.config().timeout_global(Some(timeout)).build()
        } else {
            request
        };
        let response = request.send(form.body.expose_secret().as_bytes());
        let mut response = match response {
            Ok(response) => response,
            Err(e) => {
                if fails_the_connection(&e) {
                    // The host may have moved: look it up again next time.
                    self.dns.forget();
                }
                return classify_ureq_error(e, &[form.secret.expose_secret()]);
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = match read_body(response.body_mut()) {
            Ok(body) => body,
            // An oversized error page (a proxy's maintenance page, say) is
            // judged by its status alone.
            Err(ureq::Error::BodyExceedsLimit(_)) if !(200..300).contains(&status) => {
                zeroize::Zeroizing::new(Vec::new())
            }
            Err(e) => {
                return classify_ureq_error(e, &[form.secret.expose_secret()]).with_status(status)
            }
        };
        if (200..300).contains(&status) {
            return match parse_token_response(&body, sent_at, &[form.secret.expose_secret()]) {
                Ok(token) => Attempt::Done(token),
                Err(e) => Attempt::Fail(e.with_status(status)),
            };
        }
        classify_error_response(status, &body, retry_after, form.secret.expose_secret())
    }
}

impl Attempt {
    fn with_status(self, status: u16) -> Self {
        match self {
            Attempt::Retry(e, r) => Attempt::Retry(e.with_status(status), r),
            Attempt::Fail(e) => Attempt::Fail(e.with_status(status)),
            done => done,
        }
    }
}

fn annotate(error: Error, attempts: u32) -> Error {
    if attempts <= 1 {
        return error;
    }
    error.with_message_suffix(&format!(" after {attempts} attempts"))
}

/// Turns a non-2xx token response into an attempt outcome: body first,
/// status second.
fn classify_error_response(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    secret: &str,
) -> Attempt {
    if let Some(oauth) = parse_error_body(body, &[secret]) {
        // The body decides: a known final code is never retried, whatever
        // the status; anything else on a retryable status is.
        let retryable = is_retryable_code(&oauth.code)
            || (is_retryable_status(status) && !is_final_code(&oauth.code));
        let kind = if status == 429 || oauth.code == "quota_exceeded" {
            ErrorKind::RateLimited
        } else {
            ErrorKind::OAuth
        };
        let error = Error::new(kind, "token endpoint refused the request")
            .with_status(status)
            .with_oauth(oauth)
            .with_retry_after(retry_after);
        return if retryable {
            Attempt::Retry(error, retry_after)
        } else {
            Attempt::Fail(error)
        };
    }
    let (kind, message) = match status {
        429 => (ErrorKind::RateLimited, "token endpoint is rate limiting requests"),
        300..=399 => (
            ErrorKind::HttpStatus,
            "token endpoint answered with a redirect, which is not followed: configure the exact token URL",
        ),
        _ => (ErrorKind::HttpStatus, "token endpoint answered with an HTTP error and no OAuth error body"),
    };
    // Alpaca's REST error shape keeps its message.
    let message = match parse_rest_error(body, &[secret]) {
        Some(detail) => format!("{message} (Alpaca: {detail})"),
        None => message.to_owned(),
    };
    let error = Error::new(kind, message)
        .with_status(status)
        .with_retry_after(retry_after);
    if is_retryable_status(status) {
        Attempt::Retry(error, retry_after)
    } else {
        Attempt::Fail(error)
    }
}

/// Reads a response body of at most [`MAX_RESPONSE_BODY`] bytes into one
/// buffer allocated at its final size (the `Content-Length`, or the limit)
/// and zeroized when dropped: no reallocation leaves a stray copy of a
/// token behind.
fn read_body(body: &mut ureq::Body) -> std::result::Result<Zeroizing<Vec<u8>>, ureq::Error> {
    let limit = MAX_RESPONSE_BODY;
    let size = body.content_length().map_or(limit, |len| len.min(limit));
    // One byte more than allowed, to tell "exactly at the limit" from "over".
    let mut buf = Zeroizing::new(vec![0u8; usize::try_from(size).unwrap_or(0) + 1]);
    let mut reader = body.with_config().limit(limit + 1).reader();
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            return Err(ureq::Error::BodyExceedsLimit(limit));
        }
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ureq::Error::from(e)),
        }
    }
    if filled as u64 > limit {
        return Err(ureq::Error::BodyExceedsLimit(limit));
    }
    buf.truncate(filled);
    Ok(buf)
}

/// Whether `e` means no connection could be made or kept (refused,
/// unreachable, timed out), as opposed to a bad answer on a working one.
fn fails_the_connection(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::ConnectionFailed | ureq::Error::Timeout(_) | ureq::Error::Io(_)
    )
}

/// Maps a ureq error to an attempt outcome. ureq's messages carry the host
/// and the I/O cause, never request bodies or headers; parts of a response
/// may appear in them, so they pass through [`crate::redact::quote`].
fn classify_ureq_error(e: ureq::Error, secrets: &[&str]) -> Attempt {
    use ureq::Error as U;
    let quoted = |text: String| quote_or_withheld(&text, MAX_DESCRIPTION_CHARS, secrets);
    match e {
        U::Timeout(which) => Attempt::Retry(
            Error::new(
                ErrorKind::Timeout,
                format!("token request timed out ({which})"),
            ),
            None,
        ),
        U::HostNotFound => Attempt::Retry(
            Error::new(
                ErrorKind::Transport,
                "could not resolve the token endpoint's host",
            ),
            None,
        ),
        U::ConnectionFailed => Attempt::Retry(
            Error::new(
                ErrorKind::Transport,
                "could not connect to the token endpoint",
            ),
            None,
        ),
        U::BodyExceedsLimit(_) => Attempt::Fail(Error::malformed(format!(
            "token response body is larger than the limit of {MAX_RESPONSE_BODY} bytes"
        ))),
        U::Tls(what) => Attempt::Fail(Error::new(
            ErrorKind::Tls,
            format!("TLS failure: {}", quoted(what.to_string())),
        )),
        // rustls refusing to start a connection (not an I/O failure).
        U::Rustls(e) => Attempt::Fail(Error::new(
            ErrorKind::Tls,
            format!("TLS failure: {}", quoted(e.to_string())),
        )),
        U::Io(io) => classify_io_error(&io, &quoted),
        U::Protocol(p) => Attempt::Retry(
            Error::new(
                ErrorKind::Transport,
                format!(
                    "token endpoint broke the HTTP protocol: {}",
                    quoted(p.to_string())
                ),
            ),
            None,
        ),
        U::InvalidProxyUrl | U::ConnectProxyFailed(_) => Attempt::Fail(Error::new(
            ErrorKind::Transport,
            "could not connect through the configured proxy",
        )),
        other => Attempt::Fail(Error::new(
            ErrorKind::Transport,
            format!("token request failed: {}", quoted(other.to_string())),
        )),
    }
}

/// An I/O failure of a token request: a TLS handshake refused (final),
/// or a connection that failed or dropped (retried).
fn classify_io_error(io: &std::io::Error, quoted: &dyn Fn(String) -> String) -> Attempt {
    let text = io.to_string();
    let dropped = matches!(
        io.kind(),
        std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe
    );
    if !dropped && looks_like_tls(&text) {
        Attempt::Fail(Error::new(
            ErrorKind::Tls,
            format!(
                "TLS handshake with the token endpoint failed: {}",
                quoted(text)
            ),
        ))
    } else {
        Attempt::Retry(
            Error::new(
                ErrorKind::Transport,
                format!("connection to the token endpoint failed: {}", quoted(text)),
            ),
            None,
        )
    }
}

fn looks_like_tls(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "certificate",
        "handshake",
        "received fatal alert",
        "unknownissuer",
        "notvalidforname",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// The proxy of token requests to `token_url` under `config`: read from the
/// environment (once, at build) for [`ProxySetting::FromEnv`].
pub(crate) fn resolve_proxy(
    config: &TransportConfig,
    token_url: &HttpUrl,
) -> Result<Option<Proxy>> {
    Ok(match &config.proxy {
        ProxySetting::FromEnv => {
            // Checked whatever the token URL, so a broken setting shows
            // at once, not when the endpoint moves.
            let env = |name: &str| std::env::var(name).ok();
            match proxy_from_env_with(&env)? {
                // Plain http:// (loopback only) and loopback endpoints
                // never go through a proxy.
                Some(_) if !token_url.is_https() || is_loopback_host(token_url.host()) => None,
                // ureq's reading adds NO_PROXY; it picks the same
                // variable, which has just been checked.
                Some(_) => Proxy::try_from_env(),
                None => None,
            }
        }
        ProxySetting::Disabled => None,
        ProxySetting::Url(url) => {
            let proxy = parse_proxy_url(url.expose_secret())?;
            if !token_url.is_https() {
                return Err(Error::config(
                    "a proxy cannot be used with a plain http:// token URL: http:// is for local testing only and never leaves the machine; use https://, or no proxy",
                ));
            }
            Some(proxy)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_percent_encoded() {
        let mut body = String::new();
        push_form_pair(&mut body, "grant_type", "client_credentials");
        push_form_pair(&mut body, "client_secret", "a b&c=d/é");
        assert_eq!(
            body,
            "grant_type=client_credentials&client_secret=a+b%26c%3Dd%2F%C3%A9"
        );
    }

    #[test]
    fn invalid_client_is_not_retried_and_quota_is() {
        let a = classify_error_response(401, br#"{"error":"invalid_client"}"#, None, "s3cret");
        assert!(matches!(a, Attempt::Fail(ref e) if e.kind() == ErrorKind::OAuth));
        let a = classify_error_response(500, br#"{"error":"invalid_grant"}"#, None, "s3cret");
        assert!(matches!(a, Attempt::Fail(_)), "body decides before status");
        let a = classify_error_response(
            503,
            br#"{"status":503,"error":"Service Unavailable"}"#,
            None,
            "x",
        );
        assert!(
            matches!(a, Attempt::Retry(..)),
            "an unknown code on a 503 is retried"
        );
        let a = classify_error_response(
            429,
            br#"{"error":"quota_exceeded"}"#,
            Some(Duration::from_secs(1)),
            "x",
        );
        assert!(matches!(a, Attempt::Retry(ref e, Some(_)) if e.kind() == ErrorKind::RateLimited));
        let a = classify_error_response(503, b"<html>busy</html>", None, "x");
        assert!(matches!(a, Attempt::Retry(ref e, None) if e.kind() == ErrorKind::HttpStatus));
        let a = classify_error_response(404, b"", None, "x");
        assert!(matches!(a, Attempt::Fail(ref e) if e.status() == Some(404)));
    }

    #[test]
    fn unusable_proxy_variables_are_errors_naming_them() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        for (name, value) in [
            ("HTTPS_PROXY", "socks5://user:CANARYpw@127.0.0.1:1080"),
            ("ALL_PROXY", "socks4://127.0.0.1:1080"),
            ("https_proxy", "ftp://127.0.0.1:21"),
            ("all_proxy", "http://[::1"),
            ("HTTP_PROXY", "http://user:CANARYpw@"),
        ] {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(vec![(name, value)].into_boxed_slice());
            let err = proxy_from_env_with(&env(pairs)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{name}");
            let text = format!("{err} {err:?}");
            assert!(text.contains(name), "{text}");
            assert!(!text.contains("CANARYpw"), "{text}");
        }
        assert!(proxy_from_env_with(&env(&[])).unwrap().is_none());
        assert!(proxy_from_env_with(&env(&[("HTTPS_PROXY", "")]))
            .unwrap()
            .is_none());
        let (name, _) = proxy_from_env_with(&env(&[
            ("HTTPS_PROXY", "http://127.0.0.1:3128"),
            ("HTTP_PROXY", "socks5://127.0.0.1:1"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(name, "HTTPS_PROXY", "the first variable set decides");
    }

    #[test]
    fn ca_bundle_without_certificates_is_refused() {
        assert!(parse_ca_bundle(b"").is_err());
        assert!(
            parse_ca_bundle(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n")
                .is_err()
        );
    }

    #[test]
    fn connection_failures_drop_cached_addresses_and_answers_do_not() {
        assert!(fails_the_connection(&ureq::Error::ConnectionFailed));
        assert!(fails_the_connection(&ureq::Error::Timeout(
            ureq::Timeout::Connect
        )));
        assert!(fails_the_connection(&ureq::Error::Io(
            std::io::ErrorKind::ConnectionRefused.into()
        )));
        assert!(!fails_the_connection(&ureq::Error::StatusCode(503)));
        assert!(!fails_the_connection(&ureq::Error::HostNotFound));
    }
}
