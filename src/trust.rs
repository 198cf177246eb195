//! Which certificates the token requests trust: the roots ([`TlsRoots`]:
//! the bundled Mozilla roots, the OpenSSL variables `SSL_CERT_FILE` and
//! `SSL_CERT_DIR`, or the platform's verifier) and the CA bundles added to
//! them (`ClientBuilder::add_ca_bundle_pem`, `APCA_CA_BUNDLE`).

use std::collections::HashSet;
use std::fmt;
use std::io::Read as _;
use std::path::Path;
use std::str::FromStr;

use ureq::tls::{Certificate, RootCerts};

use crate::error::{Error, Result};
use crate::key::{open_regular_file, shown_path};
use crate::limits::{MAX_CA_BUNDLE_LEN, MAX_CA_DIR_FILES};
use crate::transport::parse_certificates;

/// OpenSSL's variable naming a file of trusted CA certificates (PEM).
pub(crate) const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
/// OpenSSL's variable naming directories of trusted CA certificates
/// (`:`-separated, as `openssl rehash` lays them out).
pub(crate) const SSL_CERT_DIR: &str = "SSL_CERT_DIR";

/// The roots of trust of token requests. Whatever the choice, the CA bundles
/// added with [`ClientBuilder::add_ca_bundle_pem`](crate::ClientBuilder::add_ca_bundle_pem)
/// (or `APCA_CA_BUNDLE`) are trusted too, except with
/// [`Platform`](Self::Platform), which refuses them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsRoots {
    /// The certificates of `SSL_CERT_FILE` and `SSL_CERT_DIR` when either is
    /// set (both when both are: neither wins, as in OpenSSL), in place of
    /// the bundled roots, as OpenSSL-based tools take them; the bundled
    /// roots when neither is set. Read once, when the client is built. A
    /// variable that is set but unusable (missing, unreadable, no
    /// certificate) is a `Config` error naming it. The default; name
    /// `env`.
    #[default]
    FromEnv,
    /// The Mozilla roots bundled in the library (webpki-root-certs),
    /// whatever the environment says. Name `bundled`.
    Bundled,
    /// The platform's verifier (rustls-platform-verifier: the system's
    /// trust store, where a corporate CA is installed; on Linux the
    /// system's CA files, or `SSL_CERT_FILE`/`SSL_CERT_DIR` when set).
    /// Needs the `platform-verifier` cargo feature (off by default): a
    /// build without it refuses this choice with a `Config` error. Added CA
    /// bundles cannot be combined with it (`Config` error at build: install
    /// the CA into the system's store instead). Name `platform`.
    Platform,
}

impl TlsRoots {
    /// Every choice, in a stable order.
    pub const ALL: [TlsRoots; 3] = [TlsRoots::FromEnv, TlsRoots::Bundled, TlsRoots::Platform];

    /// The name `APCA_TLS_ROOTS` and `alpaca_auth_builder_set_tls_roots`
    /// take.
    pub const fn as_str(self) -> &'static str {
        match self {
            TlsRoots::FromEnv => "env",
            TlsRoots::Bundled => "bundled",
            TlsRoots::Platform => "platform",
        }
    }

    /// Whether this build can verify with the platform's verifier (the
    /// `platform-verifier` cargo feature).
    pub const fn platform_available() -> bool {
        cfg!(feature = "platform-verifier")
    }
}

impl fmt::Display for TlsRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TlsRoots {
    type Err = Error;

    /// Parses `env`, `bundled` or `platform` (ASCII case and surrounding
    /// spaces ignored).
    fn from_str(s: &str) -> Result<Self> {
        let name = s.trim();
        TlsRoots::ALL
            .into_iter()
            .find(|roots| roots.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::config(format!(
                    "unknown TLS roots {:?}: expected one of env, bundled, platform",
                    crate::url::printable_prefix(name)
                ))
            })
    }
}

/// Reads a PEM file of CA certificates: at most [`MAX_CA_BUNDLE_LEN`] bytes
/// (a larger file is refused without being read whole), at least one
/// certificate. Errors show the path, never the content.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<Certificate<'static>>> {
    let certs = read_pem_file(path)?;
    if certs.is_empty() {
        return Err(Error::config(format!(
            "{} holds no certificate (expected -----BEGIN CERTIFICATE----- blocks)",
            shown_path(path)
        )));
    }
    Ok(certs)
}

/// The certificates of a PEM file (none if it holds none), read as
/// [`read_ca_file`] reads it.
fn read_pem_file(path: &Path) -> Result<Vec<Certificate<'static>>> {
    let shown = shown_path(path);
    let cannot_read = |e: std::io::Error| Error::config(format!("cannot read {shown}: {e}"));
    let file = open_regular_file(path).map_err(cannot_read)?;
    if !file.metadata().map_err(cannot_read)?.is_file() {
        return Err(Error::config(format!(
            "{shown} is not a regular file (a FIFO, device, socket or directory is never read)"
        )));
    }
    let mut pem = Vec::new();
    file.take(MAX_CA_BUNDLE_LEN as u64 + 1)
        .read_to_end(&mut pem)
        .map_err(cannot_read)?;
    parse_certificates(&pem).map_err(|e| e.with_message_prefix(&format!("{shown}: ")))
}

/// Whether the file of `metadata` is read for the first time (by device
/// and inode on Unix: a directory links each certificate under several
/// names; always elsewhere).
fn first_visit(seen: &mut HashSet<(u64, u64)>, metadata: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        seen.insert((metadata.dev(), metadata.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = (seen, metadata);
        true
    }
}

/// Whether a file of an `SSL_CERT_DIR` directory is read: the hashed names
/// of `openssl rehash` (`5ad8a5d6.0`: eight hex digits, a dot, a number;
/// CRLs, `.r0`, are not certificates) and names ending in `.pem` or
/// `.crt`. Anything else (a README, a key, a subdirectory) is skipped.
fn is_certificate_name(name: &str) -> bool {
    let hashed = name.split_once('.').is_some_and(|(hash, n)| {
        hash.len() == 8
            && hash.bytes().all(|b| b.is_ascii_hexdigit())
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
    });
    let lower = name.to_ascii_lowercase();
    hashed || lower.ends_with(".pem") || lower.ends_with(".crt")
}

/// Reads the certificates of the directories of `SSL_CERT_DIR`
/// (`:`-separated on Unix): every file [`is_certificate_name`] accepts,
/// symbolic links followed, each file once. A file without a PEM
/// certificate is skipped (a bundle of `TRUSTED CERTIFICATE` blocks, say);
/// one that is too large or damaged is an error naming it. At most
/// [`MAX_CA_DIR_FILES`] files are read; the directories must yield at least
/// one certificate.
fn read_ca_dirs(dirs: &str) -> Result<Vec<Certificate<'static>>> {
    let mut certs = Vec::new();
    let mut read = 0usize;
    let mut seen = HashSet::new();
    for dir in std::env::split_paths(dirs).filter(|d| !d.as_os_str().is_empty()) {
        let shown = shown_path(&dir);
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| Error::config(format!("cannot read the directory {shown}: {e}")))?;
        let mut names: Vec<_> = entries
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path())
            .filter(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(is_certificate_name)
            })
            .collect();
        names.sort();
        for path in names {
            // Follows links; a dangling one is skipped, as OpenSSL would
            // not find it either.
            let Ok(metadata) = std::fs::metadata(&path) else {
                continue;
            };
            if !metadata.is_file() || !first_visit(&mut seen, &metadata) {
                continue;
            }
            read += 1;
            if read > MAX_CA_DIR_FILES {
                return Err(Error::config(format!(
                    "more than {MAX_CA_DIR_FILES} certificate files in the directories"
                )));
            }
            certs.extend(read_pem_file(&path)?);
        }
    }
    if certs.is_empty() {
        return Err(Error::config(
            "no certificate found: the directories hold no *.pem, *.crt or hashed (openssl rehash) file with a PEM certificate",
        ));
    }
    Ok(certs)
}

/// The certificates `SSL_CERT_FILE` and `SSL_CERT_DIR` (read through
/// `lookup`; an empty value is unset) name, or `None` when neither is set.
/// Errors name the variable.
fn openssl_env_roots(lookup: &Lookup<'_>) -> Result<Option<Vec<Certificate<'static>>>> {
    let set = |name: &str| Ok::<_, Error>(lookup(name)?.filter(|v| !v.trim().is_empty()));
    let file = set(SSL_CERT_FILE)?;
    let dirs = set(SSL_CERT_DIR)?;
    if file.is_none() && dirs.is_none() {
        return Ok(None);
    }
    let about = |name: &str| {
        let prefix = format!("{name} is set but unusable: ");
        move |e: Error| e.with_message_prefix(&prefix)
    };
    let mut certs = Vec::new();
    if let Some(file) = file {
        certs.extend(read_ca_file(Path::new(&file)).map_err(about(SSL_CERT_FILE))?);
    }
    if let Some(dirs) = dirs {
        certs.extend(read_ca_dirs(&dirs).map_err(about(SSL_CERT_DIR))?);
    }
    Ok(Some(certs))
}

/// The bundled Mozilla roots as certificates.
fn bundled() -> impl Iterator<Item = Certificate<'static>> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()))
}

/// How the environment is read: a variable's value, `None` when unset, an
/// error when it is not UTF-8 ([`process_env`](crate::env_vars::process_env)).
pub(crate) type Lookup<'a> = dyn Fn(&str) -> Result<Option<String>> + 'a;

/// The roots of a client's agent: `roots` as the environment (read through
/// `lookup`) resolves it, with the `added` CA certificates. Called once, at
/// build.
pub(crate) fn resolve_roots(
    roots: TlsRoots,
    added: &[Certificate<'static>],
    lookup: &Lookup<'_>,
) -> Result<RootCerts> {
    let base: Vec<Certificate<'static>> = match roots {
        TlsRoots::Platform => {
            if !TlsRoots::platform_available() {
                return Err(Error::config(
                    "TLS roots \"platform\" need the platform-verifier feature, which this build of alpaca-auth lacks: rebuild with --features platform-verifier, or use the bundled roots with a CA bundle",
                ));
            }
            if !added.is_empty() {
                return Err(Error::config(
                    "a CA bundle cannot be added to the platform's verifier: install the CA into the system's trust store, or use the bundled roots (or SSL_CERT_FILE) with the bundle",
                ));
            }
            return Ok(RootCerts::PlatformVerifier);
        }
        TlsRoots::FromEnv => match openssl_env_roots(lookup)? {
            Some(certs) => certs,
            None => return Ok(with_bundled(added)),
        },
        TlsRoots::Bundled => return Ok(with_bundled(added)),
    };
    Ok(RootCerts::from(dedup(
        base.into_iter().chain(added.iter().cloned()),
    )))
}

/// The bundled roots and `added`: ureq's own copy of the Mozilla roots
/// (already parsed) when nothing is added.
fn with_bundled(added: &[Certificate<'static>]) -> RootCerts {
    if added.is_empty() {
        RootCerts::WebPki
    } else {
        RootCerts::from(dedup(bundled().chain(added.iter().cloned())))
    }
}

/// The certificates, each once (a directory holds a certificate under its
/// hashed name and its own, and often the bundle file too).
fn dedup(certs: impl Iterator<Item = Certificate<'static>>) -> Vec<Certificate<'static>> {
    let mut seen = HashSet::new();
    certs
        .filter(|cert| seen.insert(cert.der().to_vec()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_ones_are_refused() {
        for roots in TlsRoots::ALL {
            assert_eq!(roots.as_str().parse::<TlsRoots>().unwrap(), roots);
        }
        assert_eq!(" Bundled ".parse::<TlsRoots>().unwrap(), TlsRoots::Bundled);
        let err = "system".parse::<TlsRoots>().unwrap_err();
        assert!(err.message().contains("\"system\""), "{err}");
        assert!(err.message().contains("platform"), "{err}");
    }

    #[test]
    fn hashed_pem_and_crt_names_are_read_and_others_skipped() {
        for name in ["5ad8a5d6.0", "5AD8A5D6.12", "corp-ca.pem", "bundle.CRT"] {
            assert!(is_certificate_name(name), "{name}");
        }
        for name in [
            "5ad8a5d6.r0",
            "5ad8a5d.0",
            "5ad8a5d6.",
            "README",
            "key.key",
            "ca.pem.bak",
        ] {
            assert!(!is_certificate_name(name), "{name}");
        }
    }

    #[test]
    fn without_the_openssl_variables_the_bundled_roots_are_used() {
        let none = |_: &str| Ok(None);
        assert!(matches!(
            resolve_roots(TlsRoots::FromEnv, &[], &none).unwrap(),
            RootCerts::WebPki
        ));
        let empty = |_: &str| Ok(Some(" ".to_owned()));
        assert!(matches!(
            resolve_roots(TlsRoots::FromEnv, &[], &empty).unwrap(),
            RootCerts::WebPki
        ));
        // Bundled ignores them, even when they are unusable.
        let broken = |_: &str| Ok(Some("/nonexistent/ca.pem".to_owned()));
        assert!(matches!(
            resolve_roots(TlsRoots::Bundled, &[], &broken).unwrap(),
            RootCerts::WebPki
        ));
    }

    #[test]
    fn unusable_openssl_variables_are_errors_naming_them() {
        for name in [SSL_CERT_FILE, SSL_CERT_DIR] {
            let lookup = |n: &str| Ok((n == name).then(|| "/nonexistent/ca".to_owned()));
            let err = resolve_roots(TlsRoots::FromEnv, &[], &lookup).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Config, "{err}");
            assert!(err.message().starts_with(name), "{err}");
            // A value that is not UTF-8 is an error too, not an unset variable.
            let lookup = |n: &str| {
                if n == name {
                    Err(Error::config(format!("{n} is not valid UTF-8")))
                } else {
                    Ok(None)
                }
            };
            let err = resolve_roots(TlsRoots::FromEnv, &[], &lookup).unwrap_err();
            assert!(err.message().starts_with(name), "{err}");
        }
    }

    #[test]
    fn the_platform_verifier_needs_its_feature_and_takes_no_bundle() {
        let none = |_: &str| Ok(None);
        let result = resolve_roots(TlsRoots::Platform, &[], &none);
        if TlsRoots::platform_available() {
            assert!(matches!(result.unwrap(), RootCerts::PlatformVerifier));
        } else {
            let err = result.unwrap_err();
            assert!(err.message().contains("platform-verifier feature"), "{err}");
        }
        let cert = bundled().next().unwrap();
        let err = resolve_roots(TlsRoots::Platform, &[cert], &none).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config, "{err}");
    }

    /// A scratch directory of this test process.
    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("alpaca-auth-trust-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Certificate `i` of the bundled roots, as PEM.
    fn pem(i: usize) -> String {
        use base64::Engine as _;
        let der = webpki_root_certs::TLS_SERVER_ROOT_CERTS[i].as_ref();
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    }

    fn der(i: usize) -> Vec<u8> {
        webpki_root_certs::TLS_SERVER_ROOT_CERTS[i]
            .as_ref()
            .to_vec()
    }

    /// The DER of each root of `roots`, sorted.
    fn ders(roots: RootCerts) -> Vec<Vec<u8>> {
        let RootCerts::Specific(certs) = roots else {
            panic!("not a list of certificates: {roots:?}")
        };
        let mut ders: Vec<Vec<u8>> = certs.iter().map(|c| c.der().to_vec()).collect();
        ders.sort();
        ders
    }

    fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        v.sort();
        v
    }

    #[test]
    fn ssl_cert_file_and_dir_replace_the_bundled_roots_and_add_up() {
        let dir = scratch("replace");
        let file = dir.join("file.pem");
        std::fs::write(&file, pem(0)).unwrap();
        let certs = dir.join("certs");
        std::fs::create_dir(&certs).unwrap();
        std::fs::write(certs.join("0badcafe.0"), pem(1)).unwrap();
        // The same certificate under another name, and files skipped.
        std::fs::write(certs.join("corp.pem"), pem(1)).unwrap();
        std::fs::write(certs.join("0badcafe.r0"), "not a CRL").unwrap();
        std::fs::write(certs.join("README"), "-----BEGIN CERTIFICATE-----\n!!\n").unwrap();
        let other = dir.join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("b.crt"), pem(2)).unwrap();
        let dirs = format!("{}:{}", certs.display(), other.display());

        let env = |file: Option<&std::path::Path>, dirs: Option<&str>| {
            let file = file.map(|f| f.display().to_string());
            let dirs = dirs.map(str::to_owned);
            move |name: &str| {
                Ok(match name {
                    SSL_CERT_FILE => file.clone(),
                    SSL_CERT_DIR => dirs.clone(),
                    _ => None,
                })
            }
        };
        // The file alone: its certificate and nothing bundled.
        let roots = resolve_roots(TlsRoots::FromEnv, &[], &env(Some(&file), None)).unwrap();
        assert_eq!(ders(roots), vec![der(0)]);
        // The directories alone: each certificate once.
        let roots = resolve_roots(TlsRoots::FromEnv, &[], &env(None, Some(&dirs))).unwrap();
        assert_eq!(ders(roots), sorted(vec![der(1), der(2)]));
        // Both: neither wins, both are read; an added bundle adds to them.
        let added = vec![Certificate::from_der(&der(3)).to_owned()];
        let roots = resolve_roots(TlsRoots::FromEnv, &added, &env(Some(&file), Some(&dirs)));
        assert_eq!(
            ders(roots.unwrap()),
            sorted(vec![der(0), der(1), der(2), der(3)])
        );
        // Bundled: the variables are not read; the added certificate (a
        // bundled root here) is not listed twice.
        let roots = resolve_roots(TlsRoots::Bundled, &added, &env(Some(&file), Some(&dirs)));
        let roots = ders(roots.unwrap());
        assert_eq!(roots.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn openssl_files_without_certificates_are_errors_that_show_no_content() {
        let dir = scratch("empty");
        let file = dir.join("secret.pem");
        std::fs::write(&file, "CANARY-content\n").unwrap();
        let lookup = |name: &str| Ok((name == SSL_CERT_FILE).then(|| file.display().to_string()));
        let err = resolve_roots(TlsRoots::FromEnv, &[], &lookup).unwrap_err();
        assert!(err.message().starts_with(SSL_CERT_FILE), "{err}");
        assert!(err.message().contains("no certificate"), "{err}");
        assert!(!format!("{err} {err:?}").contains("CANARY"), "{err}");
        // A directory with nothing to read.
        let lookup = |name: &str| Ok((name == SSL_CERT_DIR).then(|| dir.display().to_string()));
        let err = resolve_roots(TlsRoots::FromEnv, &[], &lookup).unwrap_err();
        assert!(err.message().starts_with(SSL_CERT_DIR), "{err}");
        // A file over the limit is refused.
        std::fs::write(&file, vec![b'#'; MAX_CA_BUNDLE_LEN + 1]).unwrap();
        let lookup = |name: &str| Ok((name == SSL_CERT_FILE).then(|| file.display().to_string()));
        let err = resolve_roots(TlsRoots::FromEnv, &[], &lookup).unwrap_err();
        assert!(
            err.message().contains(&MAX_CA_BUNDLE_LEN.to_string()),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
