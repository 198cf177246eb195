//! The TLS step of a probe: a handshake with the roots the library trusts,
//! over a connection already made (direct, or a proxy's tunnel), reporting
//! the protocol version, the cipher suite and the certificate chain; on a
//! refused certificate, which CA is missing.

use std::fmt;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
};
use ureq::tls::RootCerts;

use super::cert::{date, CertSummary};
use super::report::{Check, Status};
use crate::limits::DOCTOR_CERT_EXPIRY_WARN;

/// Records the chain the server presents, then lets webpki decide.
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    chain: Mutex<Vec<Vec<u8>>>,
}

impl fmt::Debug for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Recording")
    }
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.chain.lock().unwrap_or_else(PoisonError::into_inner) = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.as_ref().to_vec())
            .collect();
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The DER roots of `roots` (`None`: the platform's verifier, which this
/// probe does not reproduce).
fn root_ders(roots: &RootCerts) -> Option<Vec<Vec<u8>>> {
    match roots {
        RootCerts::Specific(certs) => Some(certs.iter().map(|c| c.der().to_vec()).collect()),
        RootCerts::WebPki => Some(
            webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .map(|c| c.as_ref().to_vec())
                .collect(),
        ),
        _ => None,
    }
}

/// Handshakes with `host` over `stream` and says what it found.
/// `roots_name` says which roots are trusted, for the finding.
pub(super) fn check(
    name: &'static str,
    stream: &mut TcpStream,
    host: &str,
    roots: &RootCerts,
    roots_name: &str,
) -> Check {
    let Some(ders) = root_ders(roots) else {
        return Check::new(
            name,
            Status::Skip,
            "the platform's verifier is in use (APCA_TLS_ROOTS=platform): not probed",
        );
    };
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(ders.into_iter().map(CertificateDer::from));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        match WebPkiServerVerifier::builder_with_provider(Arc::new(store), Arc::clone(&provider))
            .build()
        {
            Ok(v) => v,
            Err(e) => {
                return Check::new(name, Status::Fail, format!("no usable trusted root: {e}"))
            }
        };
    let recording = Arc::new(Recording {
        inner: verifier,
        chain: Mutex::new(Vec::new()),
    });
    let config = match ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(builder) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::clone(&recording) as Arc<dyn ServerCertVerifier>)
            .with_no_client_auth(),
        Err(e) => return Check::new(name, Status::Fail, format!("TLS setup failed: {e}")),
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let Ok(server_name) = ServerName::try_from(bare.to_owned()) else {
        return Check::new(
            name,
            Status::Fail,
            format!("{host} is not a name TLS can verify"),
        );
    };
    let outcome = ClientConnection::new(Arc::new(config), server_name)
        .map_err(|e| e.to_string())
        .and_then(|mut conn| handshake(&mut conn, stream).map(|()| conn));
    let chain: Vec<CertSummary> = recording
        .chain
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter_map(|der| CertSummary::parse(der))
        .collect();
    match outcome {
        Ok(conn) => success(name, &conn, &chain),
        Err(error) => refusal(name, host, &error, &chain, roots_name),
    }
}

/// Drives the handshake to its end.
fn handshake<S: Read + Write>(conn: &mut ClientConnection, stream: &mut S) -> Result<(), String> {
    while conn.is_handshaking() {
        conn.complete_io(stream).map_err(|e| match e.get_ref() {
            Some(inner) => inner.to_string(),
            None => e.to_string(),
        })?;
    }
    Ok(())
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The finding of a completed handshake: version, cipher, chain.
fn success(name: &'static str, conn: &ClientConnection, chain: &[CertSummary]) -> Check {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2".to_owned(),
        other => format!("{other:?}"),
    };
    let cipher = conn
        .negotiated_cipher_suite()
        .map_or_else(|| "?".to_owned(), |s| format!("{:?}", s.suite()));
    let described: Vec<String> = chain
        .iter()
        .map(|c| {
            format!(
                "{} (issuer {}, expires {})",
                c.subject,
                c.issuer,
                date(c.not_after)
            )
        })
        .collect();
    let finding = format!("{version}, {cipher}; chain: {}", described.join(" <- "));
    let soonest = chain.iter().map(|c| c.not_after).min();
    let warn_secs = i64::try_from(DOCTOR_CERT_EXPIRY_WARN.as_secs()).unwrap_or(i64::MAX);
    match soonest {
        Some(at) if at - now_unix() < warn_secs => Check::new(name, Status::Warn, finding)
            .with_hint(format!(
                "a certificate of the chain expires on {}: the server's operator must renew it",
                date(at)
            )),
        _ => Check::new(name, Status::Pass, finding),
    }
}

/// The finding of a refused handshake: which certificate, which CA.
fn refusal(
    name: &'static str,
    host: &str,
    error: &str,
    chain: &[CertSummary],
    roots_name: &str,
) -> Check {
    let unknown_issuer = error.contains(&format!("{:?}", CertificateError::UnknownIssuer))
        || error.to_ascii_lowercase().contains("unknown issuer");
    let Some(leaf) = chain.first() else {
        return Check::new(name, Status::Fail, format!("TLS handshake with {host} failed: {error}"))
            .with_hint("the server (or a proxy) does not speak TLS on this port, or refuses this client's TLS versions");
    };
    let top = chain.last().unwrap_or(leaf);
    if unknown_issuer {
        return Check::new(
            name,
            Status::Fail,
            format!(
                "the certificate of {host} ({}) chains to \"{}\", a CA not among the trusted roots ({roots_name})",
                leaf.subject, top.issuer
            ),
        )
        .with_hint(format!(
            "add the certificate of the CA \"{}\" (PEM) to APCA_CA_BUNDLE (or SSL_CERT_FILE); a TLS-inspecting proxy's CA comes from its operator",
            top.issuer
        ));
    }
    let hint = if error.to_ascii_lowercase().contains("expired") {
        format!("the certificate expired on {}: the server's operator must renew it (or this host's clock is wrong)", date(leaf.not_after))
    } else if error.contains("NotValidForName")
        || error.to_ascii_lowercase().contains("not valid for name")
    {
        format!(
            "the certificate is for {}, not {host}: check the URL, or a proxy intercepting it",
            leaf.subject
        )
    } else {
        "see the error: the certificate chain was refused".to_owned()
    };
    Check::new(
        name,
        Status::Fail,
        format!(
            "the certificate of {host} ({}, issued by {}) was refused: {error}",
            leaf.subject, leaf.issuer
        ),
    )
    .with_hint(hint)
}
