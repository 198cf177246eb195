//! Real TLS for the tests: a test CA and server certificates made with rcgen
//! at test time (nothing committed, nothing expires), and a TLS-terminating
//! front that forwards decrypted bytes to a plain-HTTP `MockServer`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// How long a forwarded connection may stay idle before the front drops it.
const IDLE: Duration = Duration::from_secs(10);
/// How long one poll of either side waits for bytes.
const POLL: Duration = Duration::from_millis(2);

/// A test CA and what it signed.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate chain and its private key.
pub struct ServerCert {
    pub chain: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
}

impl TestCa {
    /// A fresh CA (P-256, self-signed, allowed to sign server certificates).
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    /// The CA certificate as PEM (what `add_ca_bundle_pem` takes).
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for these names (DNS names or IP addresses).
    pub fn server_cert(&self, names: &[&str]) -> ServerCert {
        self.make_server_cert(names, false)
    }

    /// A server certificate for these names that expired in 2001.
    pub fn expired_server_cert(&self, names: &[&str]) -> ServerCert {
        self.make_server_cert(names, true)
    }

    fn make_server_cert(&self, names: &[&str], expired: bool) -> ServerCert {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("server params");
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        params
            .distinguished_name
            .push(DnType::CommonName, "alpaca-auth test server");
        let key = KeyPair::generate().expect("server key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("server certificate");
        ServerCert {
            chain: vec![cert.der().clone()],
            key_der: key.serialize_der(),
        }
    }
}

impl ServerCert {
    fn config(&self) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), key)
            .expect("server certificate and key match");
        Arc::new(config)
    }
}

/// A TLS listener on `127.0.0.1` forwarding every connection to `backend`.
/// Stops accepting when dropped.
pub struct TlsFront {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handshakes_ok: Arc<AtomicU64>,
    handshakes_failed: Arc<AtomicU64>,
    accept: Option<JoinHandle<()>>,
}

impl TlsFront {
    pub fn start(cert: &ServerCert, backend: SocketAddr) -> TlsFront {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind TLS front");
        let addr = listener.local_addr().expect("front address");
        let config = cert.config();
        let stop = Arc::new(AtomicBool::new(false));
        let handshakes_ok = Arc::new(AtomicU64::new(0));
        let handshakes_failed = Arc::new(AtomicU64::new(0));
        let accept = {
            let stop = Arc::clone(&stop);
            let ok = Arc::clone(&handshakes_ok);
            let failed = Arc::clone(&handshakes_failed);
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let config = Arc::clone(&config);
                    let (ok, failed) = (Arc::clone(&ok), Arc::clone(&failed));
                    thread::spawn(move || forward(stream, config, backend, &ok, &failed));
                }
            })
        };
        TlsFront {
            addr,
            stop,
            handshakes_ok,
            handshakes_failed,
            accept: Some(accept),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `https://<host>:<port>/v1/oauth2/token`.
    pub fn token_url(&self, host: &str) -> String {
        format!(
            "https://{host}:{}{}",
            self.port(),
            alpaca_auth::mock::TOKEN_PATH
        )
    }

    /// Completed TLS handshakes so far.
    pub fn handshakes_ok(&self) -> u64 {
        self.handshakes_ok.load(Ordering::SeqCst)
    }

    /// Connections whose handshake failed (refused certificate, ...).
    pub fn handshakes_failed(&self) -> u64 {
        self.handshakes_failed.load(Ordering::SeqCst)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

fn is_wait(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Completes the handshake (counting it as `ok` or `failed`), then pumps
/// bytes both ways between the TLS client and the backend until either
/// side closes or the connection idles out.
fn forward(
    client: TcpStream,
    config: Arc<ServerConfig>,
    backend: SocketAddr,
    ok: &AtomicU64,
    failed: &AtomicU64,
) {
    let Ok(conn) = ServerConnection::new(config) else {
        failed.fetch_add(1, Ordering::SeqCst);
        return;
    };
    if client.set_read_timeout(Some(POLL)).is_err() {
        failed.fetch_add(1, Ordering::SeqCst);
        return;
    }
    let mut tls = StreamOwned::new(conn, client);
    let handshake_deadline = Instant::now() + IDLE;
    while tls.conn.is_handshaking() {
        match tls.conn.complete_io(&mut tls.sock) {
            Ok(_) => {}
            Err(e) if is_wait(&e) && Instant::now() < handshake_deadline => {}
            Err(_) => {
                failed.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
    }
    ok.fetch_add(1, Ordering::SeqCst);
    let Ok(mut upstream) = TcpStream::connect(backend) else {
        return;
    };
    let _ = upstream.set_read_timeout(Some(POLL));
    let _ = upstream.set_nodelay(true);
    let mut buf = vec![0u8; 16 * 1024];
    let mut last_activity = Instant::now();
    while last_activity.elapsed() < IDLE {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                last_activity = Instant::now();
                if upstream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if is_wait(&e) => {}
            Err(_) => break,
        }
        match upstream.read(&mut buf) {
            Ok(0) => {
                tls.conn.send_close_notify();
                let _ = tls.flush();
                break;
            }
            Ok(n) => {
                last_activity = Instant::now();
                if tls.write_all(&buf[..n]).and_then(|()| tls.flush()).is_err() {
                    break;
                }
            }
            Err(e) if is_wait(&e) => {}
            Err(_) => break,
        }
    }
}
