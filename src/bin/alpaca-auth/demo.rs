//! `alpaca-auth demo`: every credential kind against the in-process mock.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;

use alpaca_auth::mock::{
    generate_p256_pkcs8, MockServer, MOCK_API_KEY_ID, MOCK_API_SECRET_KEY, MOCK_CLIENT_ID,
    MOCK_CLIENT_SECRET, MOCK_JWT_CLIENT_ID,
};
use alpaca_auth::{AuthHeaders, Client, Credentials, Environment, PrivateKey};

/// Threads that ask for a token at once in the single-flight step.
const DEMO_THREADS: usize = 32;

fn step(title: &str) {
    println!("\n== {title}");
}

/// Shows a header without its secret part: the first characters only.
fn masked(headers: &AuthHeaders) -> Vec<String> {
    headers
        .to_lines()
        .iter()
        .map(|line| {
            let line = line.expose_secret();
            let (name, value) = line.split_once(": ").unwrap_or((line, ""));
            let shown: String = value.chars().take(12).collect();
            format!("{name}: {shown}... ({} bytes)", value.len())
        })
        .collect()
}

fn get_account(mock: &MockServer, client: &Client) -> Result<String, String> {
    let url = format!("{}/v2/account", client.endpoints().api_base());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let request = client
        .authorize(agent.get(&url))
        .map_err(|e| e.to_string())?;
    let mut response = request.call().map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    let _ = mock;
    Ok(format!("GET /v2/account -> {status} {body}"))
}

fn builder(mock: &MockServer) -> alpaca_auth::ClientBuilder {
    Client::builder()
        .environment(Environment::BrokerSandbox)
        .api_base_url(mock.base_url())
        .data_base_url(mock.base_url())
        .token_url(mock.token_url())
}

/// Attempts at creating a fresh private directory before giving up.
const PRIVATE_DIR_ATTEMPTS: u32 = 16;

/// The name of the mock client's key file in its private directory.
pub const KEY_FILE_NAME: &str = "mock-jwt-key.pem";

/// Generates a P-256 key, registers it for [`MOCK_JWT_CLIENT_ID`] and writes
/// it to `key_file`, or to a fresh private directory (mode 0700, random
/// name) in the temporary directory. The file is created new (mode 0600,
/// never through a symlink, never over an existing file).
pub fn register_jwt_client(mock: &MockServer, key_file: Option<&Path>) -> Result<PathBuf, String> {
    use base64::Engine as _;
    let der = generate_p256_pkcs8().map_err(|e| e.to_string())?;
    let key = PrivateKey::from_der(&der).map_err(|e| e.to_string())?;
    mock.register_client_key(
        MOCK_JWT_CLIENT_ID,
        alpaca_auth::mock::jwt::RegisteredKey::from_private_key(&key),
    );
    let encoded = zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*der));
    let mut pem = zeroize::Zeroizing::new(String::from("-----BEGIN PRIVATE KEY-----\n"));
    for chunk in encoded.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    let path = match key_file {
        Some(path) => path.to_owned(),
        None => private_dir()?.join(KEY_FILE_NAME),
    };
    write_private(&path, pem.as_bytes()).map_err(|e| {
        format!(
            "cannot create {:?}: {e} (an existing file or symlink is never overwritten)",
            path.to_string_lossy()
        )
    })?;
    Ok(path)
}

/// Removes a key file written by [`register_jwt_client`] into its own
/// private directory, and the directory.
pub fn remove_key_file(path: &Path) {
    let _ = std::fs::remove_file(path);
    if let Some(dir) = path.parent() {
        let _ = std::fs::remove_dir(dir);
    }
}

/// Creates a directory only this user can enter, with an unpredictable
/// name, in the temporary directory.
fn private_dir() -> Result<PathBuf, String> {
    use ring::rand::SecureRandom as _;
    let rng = ring::rand::SystemRandom::new();
    for _ in 0..PRIVATE_DIR_ATTEMPTS {
        let mut suffix = [0u8; 8];
        rng.fill(&mut suffix)
            .map_err(|_| "the system random number generator failed".to_owned())?;
        let name: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("alpaca-auth-mock-{name}"));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create a private directory: {e}")),
        }
    }
    Err("cannot create a private directory: every name tried exists".into())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    // O_CREAT|O_EXCL: fails on any existing file or symlink.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    #[cfg(target_os = "linux")]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    options.open(path)?.write_all(bytes)
}

pub fn run() -> Result<(), String> {
    let mock = MockServer::start().map_err(|e| format!("cannot start the mock server: {e}"))?;
    println!("alpaca-auth {} demo", env!("CARGO_PKG_VERSION"));
    println!(
        "mock Alpaca server on {} (loopback, in this process)",
        mock.base_url()
    );

    step("1. API key, APCA headers (Trading API)");
    api_key(&mock, builder(&mock).environment(Environment::Paper))?;

    step("2. API key in broker-sandbox: HTTP Basic, the broker environments' default");
    api_key(&mock, builder(&mock))?;

    step("3. OAuth2 client credentials, client_secret_post");
    client_secret(&mock)?;

    step("4. OAuth2 client credentials, private_key_jwt (ES256 assertion signed locally)");
    let client = private_key_jwt(&mock)?;

    step(&format!(
        "5. {DEMO_THREADS} threads ask at once after invalidate(): one token request"
    ));
    one_request_for_many_threads(&mock, client);

    step("6. A failure, and its error");
    failures(&mock)?;

    println!(
        "\ndone: {} token requests, {} account requests served by the mock",
        mock.token_requests(),
        mock.account_requests()
    );
    Ok(())
}

/// The mock's API key pair, in the form `builder`'s environment takes: its
/// header lines (masked) and an account request.
fn api_key(mock: &MockServer, builder: alpaca_auth::ClientBuilder) -> Result<(), String> {
    let client = builder
        .credentials(Credentials::api_key(MOCK_API_KEY_ID, MOCK_API_SECRET_KEY))
        .build()
        .map_err(|e| e.to_string())?;
    for line in masked(&client.auth_headers().map_err(|e| e.to_string())?) {
        println!("   {line}");
    }
    println!("   {}", get_account(mock, &client)?);
    Ok(())
}

/// A token fetched with the client secret, then served from the cache.
fn client_secret(mock: &MockServer) -> Result<(), String> {
    let client = builder(mock)
        .credentials(Credentials::client_secret(
            MOCK_CLIENT_ID,
            MOCK_CLIENT_SECRET,
        ))
        .build()
        .map_err(|e| e.to_string())?;
    let before = mock.token_requests();
    let token = client.access_token().map_err(|e| e.to_string())?;
    println!("   token fetched: {token:?}");
    let again = client.access_token().map_err(|e| e.to_string())?;
    println!(
        "   second call served from cache: same token = {}, token requests = {}",
        token.same_token(&again),
        mock.token_requests() - before
    );
    for line in masked(&client.auth_headers().map_err(|e| e.to_string())?) {
        println!("   {line}");
    }
    println!("   {}", get_account(mock, &client)?);
    Ok(())
}

/// A client of a freshly registered ES256 key, with its first token.
fn private_key_jwt(mock: &MockServer) -> Result<Client, String> {
    let key_path = register_jwt_client(mock, None)?;
    let key = PrivateKey::from_file(&key_path).map_err(|e| e.to_string());
    remove_key_file(&key_path);
    let key = key?;
    println!("   key: {key:?}");
    let client = builder(mock)
        .credentials(Credentials::private_key_jwt(MOCK_JWT_CLIENT_ID, key))
        .build()
        .map_err(|e| e.to_string())?;
    let token = client.access_token().map_err(|e| e.to_string())?;
    println!("   token fetched: {token:?}");
    println!("   {}", get_account(mock, &client)?);
    Ok(client)
}

/// [`DEMO_THREADS`] threads ask `client` for headers at once, after an
/// invalidation: one token request in all.
fn one_request_for_many_threads(mock: &MockServer, client: Client) {
    client.invalidate();
    let before = mock.token_requests();
    let client = Arc::new(client);
    let handles: Vec<_> = (0..DEMO_THREADS)
        .map(|_| {
            let client = Arc::clone(&client);
            thread::spawn(move || client.auth_headers().map(|_| ()))
        })
        .collect();
    let ok = handles
        .into_iter()
        .map(|h| h.join())
        .filter(|r| matches!(r, Ok(Ok(()))))
        .count();
    println!(
        "   {ok}/{DEMO_THREADS} threads got headers; token requests = {}",
        mock.token_requests() - before
    );
}

/// A wrong secret refused by the server, and a configuration refused at
/// build: each error with its kind.
fn failures(mock: &MockServer) -> Result<(), String> {
    let client = builder(mock)
        .credentials(Credentials::client_secret(MOCK_CLIENT_ID, "wrong-secret"))
        .build()
        .map_err(|e| e.to_string())?;
    match client.access_token() {
        Ok(_) => return Err("the mock accepted a wrong secret".into()),
        Err(e) => println!("   error ({}): {e}", e.kind()),
    }
    let err = Client::builder()
        .environment(Environment::Paper)
        .credentials(Credentials::client_secret(
            MOCK_CLIENT_ID,
            MOCK_CLIENT_SECRET,
        ))
        .build()
        .map(|_| ())
        .unwrap_err();
    println!("   error ({}): {err}", err.kind());
    Ok(())
}
