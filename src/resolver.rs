//! Name resolution for token requests: IP literals without a lookup, host
//! names looked up once per [`DNS_CACHE_TTL`].
//!
//! ureq resolves the host of every request, even one that reuses a pooled
//! connection, and with a timeout configured its default resolver spawns a
//! thread per lookup: about a tenth of a millisecond per token request for
//! nothing. This resolver answers IP literals at once and keeps each host
//! name's addresses for a minute (as curl does by default); a lookup that is
//! needed still runs under the request's timeout.
//!
//! A connection that fails drops the cached addresses ([`DnsCache::forget`],
//! called by the transport), so the next attempt looks the name up again:
//! a host that moved is found at its new address at once, not after the
//! TTL.
//!
//! `localhost` is never looked up: it is `127.0.0.1` and `::1` (RFC 6761),
//! whatever `/etc/hosts` or DNS say, so a plain `http://localhost` token
//! request cannot be sent elsewhere. And a plain `http://` request is only
//! ever connected to loopback addresses: any other answer is refused.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::limits::DNS_CACHE_TTL;
use crate::limits::MAX_CACHED_HOSTS;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

pub(crate) struct CachingResolver {
    lookup: Box<dyn Resolver>,
    cache: Arc<DnsCache>,
}

/// The addresses a [`CachingResolver`] keeps, shared with the transport so
/// that a failed connection can drop them.
#[derive(Default)]
pub(crate) struct DnsCache {
    hosts: Mutex<HashMap<String, (Instant, ResolvedSocketAddrs)>>,
}

impl DnsCache {
    /// Drops every cached address: the next request looks its host up
    /// again.
    pub(crate) fn forget(&self) {
        self.hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, ResolvedSocketAddrs)>> {
        self.hosts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for CachingResolver {
    fn default() -> Self {
        Self::with_lookup(Box::new(DefaultResolver::default()))
    }
}

impl CachingResolver {
    /// A caching resolver over `lookup` (the system's, or a test's).
    pub(crate) fn with_lookup(lookup: Box<dyn Resolver>) -> Self {
        CachingResolver {
            lookup,
            cache: Arc::new(DnsCache::default()),
        }
    }

    /// The cache, for the transport to drop after a failed connection.
    pub(crate) fn cache(&self) -> Arc<DnsCache> {
        Arc::clone(&self.cache)
    }
}

/// Refuses a plain `http://` request to anything but loopback addresses.
fn check_plain_http(uri: &Uri, addrs: &ResolvedSocketAddrs) -> Result<(), ureq::Error> {
    let plain = uri
        .scheme_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("http"));
    if plain && addrs.iter().any(|a| !a.ip().is_loopback()) {
        return Err(ureq::Error::HostNotFound);
    }
    Ok(())
}

impl fmt::Debug for CachingResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingResolver").finish_non_exhaustive()
    }
}

fn default_port(uri: &Uri) -> Option<u16> {
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => Some(443),
        Some(s) if s.eq_ignore_ascii_case("http") => Some(80),
        _ => None,
    }
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let (Some(host), Some(port)) = (uri.host(), uri.port_u16().or_else(|| default_port(uri)))
        else {
            let addrs = self.lookup.resolve(uri, config, timeout)?;
            check_plain_http(uri, &addrs)?;
            return Ok(addrs);
        };
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            let mut addrs = self.empty();
            addrs.push(SocketAddr::new(ip, port));
            check_plain_http(uri, &addrs)?;
            return Ok(addrs);
        }
        if host.eq_ignore_ascii_case("localhost") {
            let mut addrs = self.empty();
            addrs.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
            addrs.push(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port));
            return Ok(addrs);
        }
        let key = format!("{host}:{port}");
        let now = Instant::now();
        {
            let cache = self.cache.lock();
            if let Some((at, addrs)) = cache.get(&key) {
                if now.duration_since(*at) < DNS_CACHE_TTL {
                    return Ok(addrs.clone());
                }
            }
        }
        let addrs = self.lookup.resolve(uri, config, timeout)?;
        check_plain_http(uri, &addrs)?;
        let mut cache = self.cache.lock();
        if cache.len() >= MAX_CACHED_HOSTS {
            cache.clear();
        }
        cache.insert(key, (now, addrs.clone()));
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hosts file that maps every name, `localhost` included, elsewhere.
    #[derive(Debug)]
    struct HostileHosts;

    impl Resolver for HostileHosts {
        fn resolve(
            &self,
            uri: &Uri,
            _config: &Config,
            _timeout: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            let mut addrs = self.empty();
            let port = uri.port_u16().unwrap_or(80);
            addrs.push(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
                port,
            ));
            Ok(addrs)
        }
    }

    fn try_resolve(r: &CachingResolver, url: &str) -> Result<Vec<SocketAddr>, ureq::Error> {
        let uri: Uri = url.parse().unwrap();
        let timeout = NextTimeout {
            after: std::time::Duration::from_secs(5).into(),
            reason: ureq::Timeout::Resolve,
            per_read: None,
            per_write: None,
        };
        r.resolve(&uri, &Config::default(), timeout)
            .map(|addrs| addrs.iter().copied().collect())
    }

    #[test]
    fn localhost_is_loopback_whatever_the_hosts_file_says() {
        let r = CachingResolver::with_lookup(Box::new(HostileHosts));
        for url in [
            "http://localhost:9/token",
            "HTTP://LocalHost:9/",
            "https://localhost:9/",
        ] {
            let addrs = try_resolve(&r, url).unwrap();
            assert!(!addrs.is_empty());
            assert!(
                addrs.iter().all(|a| a.ip().is_loopback()),
                "{url}: {addrs:?}"
            );
        }
        // Plain http:// to a name that resolves elsewhere is refused.
        assert!(try_resolve(&r, "http://localhost.localdomain:9/").is_err());
        // https:// is protected by the certificate, not the address.
        assert!(try_resolve(&r, "https://auth.example:9/").is_ok());
    }

    fn resolve(r: &CachingResolver, url: &str) -> Vec<SocketAddr> {
        let uri: Uri = url.parse().unwrap();
        let config = Config::default();
        let timeout = NextTimeout {
            after: std::time::Duration::from_secs(5).into(),
            reason: ureq::Timeout::Resolve,
            per_read: None,
            per_write: None,
        };
        r.resolve(&uri, &config, timeout)
            .unwrap()
            .iter()
            .copied()
            .collect()
    }

    #[test]
    fn ip_literals_resolve_without_lookup_or_cache() {
        let r = CachingResolver::default();
        assert_eq!(
            resolve(&r, "http://127.0.0.1:8080/x"),
            ["127.0.0.1:8080".parse().unwrap()]
        );
        assert_eq!(
            resolve(&r, "https://[::1]/x"),
            ["[::1]:443".parse().unwrap()]
        );
        assert!(r.cache.lock().is_empty());
    }

    #[test]
    fn host_names_are_cached() {
        let r = CachingResolver::with_lookup(Box::new(HostileHosts));
        let first = resolve(&r, "https://auth.example:9/");
        assert!(!first.is_empty());
        assert_eq!(r.cache.lock().len(), 1);
        assert_eq!(resolve(&r, "https://auth.example:9/other"), first);
        resolve(&r, "http://localhost:9/");
        assert_eq!(r.cache.lock().len(), 1, "localhost is never looked up");
    }

    /// A lookup that counts its calls.
    #[derive(Debug, Default)]
    struct Counting(std::sync::atomic::AtomicUsize);

    impl Resolver for Counting {
        fn resolve(
            &self,
            uri: &Uri,
            config: &Config,
            timeout: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            HostileHosts.resolve(uri, config, timeout)
        }
    }

    #[test]
    fn a_forgotten_cache_looks_the_name_up_again() {
        let counting = std::sync::Arc::new(Counting::default());
        struct Shared(std::sync::Arc<Counting>);
        impl fmt::Debug for Shared {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("Shared")
            }
        }
        impl Resolver for Shared {
            fn resolve(
                &self,
                uri: &Uri,
                config: &Config,
                timeout: NextTimeout,
            ) -> Result<ResolvedSocketAddrs, ureq::Error> {
                self.0.resolve(uri, config, timeout)
            }
        }
        let r = CachingResolver::with_lookup(Box::new(Shared(std::sync::Arc::clone(&counting))));
        let lookups = || counting.0.load(std::sync::atomic::Ordering::SeqCst);
        resolve(&r, "https://auth.example:9/");
        resolve(&r, "https://auth.example:9/");
        assert_eq!(lookups(), 1, "cached");
        // What the transport does after a failed connection.
        r.cache().forget();
        resolve(&r, "https://auth.example:9/");
        assert_eq!(lookups(), 2, "looked up again");
    }
}
