//! The network probe of one endpoint (the token endpoint or the API base):
//! DNS answers, TCP connect time, a proxy's `CONNECT` when one is in
//! effect, and the TLS handshake ([`tls`](super::tls)). Plain std sockets,
//! so each step's failure is told apart from the others.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use base64::Engine as _;
use ureq::tls::RootCerts;
use ureq::Proxy;

use super::report::{Check, Report, Status};
use super::tls;
use crate::limits::{DOCTOR_MAX_ADDRESSES, DOCTOR_STEP_TIMEOUT};
use crate::url::HttpUrl;

/// The names of one endpoint's checks.
pub(super) struct Names {
    pub(super) what: &'static str,
    pub(super) dns: &'static str,
    pub(super) tcp: &'static str,
    pub(super) tls: &'static str,
}

/// The token endpoint's checks.
pub(super) const TOKEN: Names = Names {
    what: "token endpoint",
    dns: "token.dns",
    tcp: "token.tcp",
    tls: "token.tls",
};

/// The API base's checks.
pub(super) const API: Names = Names {
    what: "API base",
    dns: "api.dns",
    tcp: "api.tcp",
    tls: "api.tls",
};

/// The proxy an endpoint is reached through, as the doctor shows it.
pub(super) struct ProxyRoute<'a> {
    pub(super) proxy: &'a Proxy,
    /// `http://host:port` with any user information left out.
    pub(super) shown: String,
    /// Where it comes from: the variable's name, or "code".
    pub(super) source: String,
}

/// The trust a TLS step uses.
pub(super) struct Trust<'a> {
    pub(super) roots: &'a RootCerts,
    pub(super) name: &'a str,
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Probes `url`; returns whether a TCP connection (through the proxy, if
/// any) was made.
pub(super) fn probe(
    names: &Names,
    url: &HttpUrl,
    route: Option<&ProxyRoute<'_>>,
    trust: &Trust<'_>,
    report: &mut Report,
) -> bool {
    let (host, port) = match route {
        Some(route) => (route.proxy.host().to_owned(), route.proxy.port()),
        None => (url.host().to_owned(), url.port()),
    };
    let Some(addrs) = dns(names, &host, port, url, route, report) else {
        report.push(Check::new(
            names.tcp,
            Status::Skip,
            "no address to connect to",
        ));
        report.push(Check::new(names.tls, Status::Skip, "no connection"));
        return false;
    };
    let Some(mut stream) = connect(names, &addrs, url, route, report) else {
        report.push(Check::new(names.tls, Status::Skip, "no connection"));
        return false;
    };
    if let Some(route) = route {
        if let Err(check) = tunnel(names, &mut stream, url, route) {
            report.push(check);
            return false;
        }
    }
    let check = if !url.is_https() {
        Check::new(
            names.tls,
            Status::Skip,
            "plain http:// (loopback only): no TLS",
        )
    } else if route.is_some_and(|r| r.proxy.protocol() != ureq::ProxyProtocol::Http) {
        Check::new(
            names.tls,
            Status::Skip,
            "not probed through an https:// proxy",
        )
    } else {
        tls::check(names.tls, &mut stream, url.host(), trust.roots, trust.name)
    };
    report.push(check);
    true
}

/// The DNS answers for `host`, with a check saying what they are.
fn dns(
    names: &Names,
    host: &str,
    port: u16,
    url: &HttpUrl,
    route: Option<&ProxyRoute<'_>>,
    report: &mut Report,
) -> Option<Vec<SocketAddr>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let started = Instant::now();
    let answer = (bare, port).to_socket_addrs();
    let took = started.elapsed();
    let (what, through) = match route {
        Some(r) => (
            format!("the proxy {}", r.shown),
            format!("; {} is resolved by the proxy", url.host()),
        ),
        None => (host.to_owned(), String::new()),
    };
    match answer {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            let shown: Vec<String> = addrs
                .iter()
                .take(DOCTOR_MAX_ADDRESSES)
                .map(|a| a.ip().to_string())
                .collect();
            let more = addrs.len().saturating_sub(DOCTOR_MAX_ADDRESSES);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            let how = if bare.parse::<std::net::IpAddr>().is_ok() {
                "an address, no DNS query".to_owned()
            } else {
                ms(took)
            };
            report.push(Check::new(
                names.dns,
                Status::Pass,
                format!("{what} -> {}{more} ({how}){through}", shown.join(", ")),
            ));
            Some(addrs)
        }
        Err(e) => {
            report.push(
                Check::new(names.dns, Status::Fail, format!("{what} does not resolve: {e}"))
                    .with_hint("check the host name in the URL, /etc/resolv.conf and /etc/hosts, or the DNS server this host uses"),
            );
            None
        }
    }
}

/// A TCP connection to the first address that takes one.
fn connect(
    names: &Names,
    addrs: &[SocketAddr],
    url: &HttpUrl,
    route: Option<&ProxyRoute<'_>>,
    report: &mut Report,
) -> Option<TcpStream> {
    let mut last = None;
    for addr in addrs {
        let started = Instant::now();
        match TcpStream::connect_timeout(addr, DOCTOR_STEP_TIMEOUT) {
            Ok(stream) => {
                let _ = stream.set_read_timeout(Some(DOCTOR_STEP_TIMEOUT));
                let _ = stream.set_write_timeout(Some(DOCTOR_STEP_TIMEOUT));
                let via = route.map_or_else(String::new, |r| format!(" (the proxy {})", r.shown));
                report.push(Check::new(
                    names.tcp,
                    Status::Pass,
                    format!("connected to {addr}{via} in {}", ms(started.elapsed())),
                ));
                return Some(stream);
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    let (addr, error) = last?;
    let check = match route {
        Some(r) => Check::new(
            names.tcp,
            Status::Fail,
            format!("cannot connect to the proxy {} at {addr}: {error}", r.shown),
        )
        .with_hint(format!(
            "the proxy of {} is not there: start it, fix or unset {}, or add {} to NO_PROXY",
            r.source,
            r.source,
            url.host()
        )),
        None => Check::new(
            names.tcp,
            Status::Fail,
            format!("cannot connect to {} at {addr}: {error}", names.what),
        )
        .with_hint(format!(
            "is {} right, and the server up? A firewall may block port {}; a network that only goes out through a proxy needs HTTPS_PROXY",
            url.host(),
            url.port()
        )),
    };
    report.push(check);
    None
}

/// Asks the proxy for a tunnel to the endpoint (`CONNECT`), with its
/// credentials if its URL has some (never shown).
fn tunnel(
    names: &Names,
    stream: &mut TcpStream,
    url: &HttpUrl,
    route: &ProxyRoute<'_>,
) -> Result<(), Check> {
    let target = format!("{}:{}", url.host(), url.port());
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(user) = route.proxy.username() {
        let pair = format!("{user}:{}", route.proxy.password().unwrap_or(""));
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        request.push_str(&format!("Proxy-Authorization: Basic {encoded}\r\n"));
    }
    request.push_str("\r\n");
    let failed = |finding: String| {
        Check::new(names.tls, Status::Fail, finding).with_hint(
            "the proxy refuses the tunnel: check its credentials (in the proxy variable's URL) and whether it allows this host and port",
        )
    };
    stream.write_all(request.as_bytes()).map_err(|e| {
        failed(format!(
            "sending CONNECT {target} to the proxy {} failed: {e}",
            route.shown
        ))
    })?;
    let mut reader = BufReader::new(&*stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).map_err(|e| {
        failed(format!(
            "the proxy {} did not answer CONNECT {target}: {e}",
            route.shown
        ))
    })?;
    let status = status_line.split(' ').nth(1).unwrap_or("").to_owned();
    // The rest of the head, bounded.
    let mut line = String::new();
    for _ in 0..64 {
        line.clear();
        if reader.read_line(&mut line).map_or(true, |n| n == 0) || line == "\r\n" {
            break;
        }
    }
    if status.starts_with('2') {
        Ok(())
    } else {
        let status: String = status
            .chars()
            .filter(char::is_ascii_digit)
            .take(3)
            .collect();
        Err(failed(format!(
            "the proxy {} answered {} to CONNECT {target}",
            route.shown,
            if status.is_empty() {
                "no HTTP status"
            } else {
                &status
            }
        )))
    }
}
