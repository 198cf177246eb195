//! The `alpaca-auth` command line against the mock server.

mod common;

use base64::Engine as _;

use alpaca_auth::mock::{
    DEFAULT_TOKEN_LEN, MOCK_API_KEY_ID, MOCK_API_SECRET_KEY, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET,
};
use common::cli::{run as cli, stderr, stdout};
use common::{account_status_with_lines, keys, mock, secret_client_env};

#[test]
fn token_prints_a_token_the_mock_issued() {
    let mock = mock();
    let out = cli(
        &["token"],
        &secret_client_env(&mock.token_url(), MOCK_CLIENT_SECRET),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let token = stdout(&out);
    assert!(mock.is_token_valid(token.trim()));
    assert_eq!(mock.token_requests(), 1);
}

#[test]
fn headers_prints_name_value_lines() {
    let mock = mock();
    let out = cli(
        &["headers"],
        &[
            ("APCA_API_BASE_URL", &mock.base_url()),
            ("APCA_API_KEY_ID", MOCK_API_KEY_ID),
            ("APCA_API_SECRET_KEY", MOCK_API_SECRET_KEY),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("APCA-API-KEY-ID: {MOCK_API_KEY_ID}\nAPCA-API-SECRET-KEY: {MOCK_API_SECRET_KEY}\n")
    );
}

#[test]
fn broker_key_pairs_print_basic_unless_the_style_says_headers() {
    let mock = mock();
    let base = mock.base_url();
    let mut env = vec![
        ("APCA_ENVIRONMENT", "broker-sandbox"),
        ("APCA_API_BASE_URL", base.as_str()),
        ("APCA_API_KEY_ID", MOCK_API_KEY_ID),
        ("APCA_API_SECRET_KEY", MOCK_API_SECRET_KEY),
    ];
    let out = cli(&["headers"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{MOCK_API_KEY_ID}:{MOCK_API_SECRET_KEY}"));
    assert_eq!(stdout(&out), format!("Authorization: Basic {basic}\n"));
    // The mock's API accepts the line as printed.
    assert_eq!(
        account_status_with_lines(&mock, &[stdout(&out).trim_end()]),
        200
    );

    env.push(("APCA_API_KEY_STYLE", "headers"));
    let out = cli(&["headers"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("APCA-API-KEY-ID: "),
        "{}",
        stdout(&out)
    );
}

#[test]
fn assertion_variables_and_scope_reach_an_rfc7523bis_server() {
    use alpaca_auth::mock::MOCK_JWT_CLIENT_ID;
    let mock = mock();
    mock.require_assertion_audience(Some(&mock.issuer()));
    mock.require_assertion_typ(Some(alpaca_auth::CLIENT_AUTHENTICATION_JWT_TYP));
    common::registered_fixture(&mock, "p256-pkcs8.pem");
    let key_path = keys::path_text("p256-pkcs8.pem");
    let token_url = mock.token_url();
    let issuer = mock.issuer();
    let env = [
        ("APCA_ENVIRONMENT", "broker-sandbox"),
        ("APCA_AUTH_URL", token_url.as_str()),
        ("APCA_CLIENT_ID", MOCK_JWT_CLIENT_ID),
        ("APCA_PRIVATE_KEY_PATH", key_path.as_str()),
        ("APCA_ASSERTION_AUDIENCE", issuer.as_str()),
        ("APCA_ASSERTION_TYP", "client-authentication+jwt"),
        ("APCA_SCOPE", "trading data"),
    ];
    let out = cli(&["token"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(mock.is_token_valid(stdout(&out).trim()));
    assert_eq!(mock.token_requests(), 1);
    assert_eq!(
        mock.token_request_log()[0].field("scope"),
        Some("trading data")
    );
    // Without the audience, that server refuses.
    let out = cli(&["token"], &env[..4]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("invalid_"), "{}", stderr(&out));
}

#[test]
fn endpoints_prints_urls_and_never_secrets() {
    let out = cli(
        &["endpoints"],
        &[
            ("APCA_ENVIRONMENT", "broker"),
            ("APCA_CLIENT_ID", MOCK_CLIENT_ID),
            ("APCA_CLIENT_SECRET", "CANARY-endpoint-secret"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("api: https://broker-api.alpaca.markets"),
        "{text}"
    );
    assert!(
        text.contains("token: https://authx.alpaca.markets/v1/oauth2/token"),
        "{text}"
    );
    assert!(!text.contains("CANARY"));
}

#[test]
fn errors_exit_non_zero_with_one_line_and_no_secret() {
    let mock = mock();
    let out = cli(
        &["token"],
        &secret_client_env(&mock.token_url(), "CANARY-wrong-secret"),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("invalid_client"), "{err}");
    assert!(!err.contains("CANARY") && stdout(&out).is_empty());

    let out = cli(&["token"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("APCA_API_KEY_ID"));

    let out = cli(&["frobnicate"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("usage"));
}

#[test]
fn demo_walks_through_every_credential_kind() {
    let out = cli(&["demo"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in [
        "auth\":\"headers",
        "auth\":\"basic",
        "second call served from cache: same token = true, token requests = 1",
        "private_key_jwt",
        "32/32 threads got headers; token requests = 1",
        "invalid_client",
        "not available for the Trading API",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(!text.contains(MOCK_API_SECRET_KEY) && !text.contains(MOCK_CLIENT_SECRET));
}

/// Runs `alpaca-auth mock-server` with `args` and `TMPDIR=tmp` until it
/// prints a line holding `marker`, then calls `with` with the rest of that
/// line while the server runs; returns what `with` returned (the server is
/// stopped), or the server's error output if it printed no such line.
#[cfg(unix)]
fn with_mock_server<T>(
    args: &[&str],
    tmp: &std::path::Path,
    marker: &str,
    with: impl FnOnce(&str) -> T,
) -> Result<T, String> {
    use std::io::{BufRead, BufReader};
    let tmp = tmp.to_str().expect("a UTF-8 path");
    let mut child = common::cli::command(&["mock-server"], &[("TMPDIR", tmp)])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let stdout = child.stdout.take().unwrap();
    let mut found = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some((_, rest)) = line.split_once(marker) {
            found = Some(with(rest.trim()));
            break;
        }
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    found.ok_or_else(|| stderr(&out))
}

/// The key file's path `alpaca-auth mock-server` prints.
#[cfg(unix)]
fn mock_server_key_path(args: &[&str], tmp: &std::path::Path) -> Result<String, String> {
    with_mock_server(args, tmp, "APCA_PRIVATE_KEY_PATH=", str::to_owned)
}

#[cfg(unix)]
#[test]
fn mock_server_issues_tokens_of_the_length_asked_for() {
    let tmp = common::util::scratch_dir("cli-len");
    let default_len = DEFAULT_TOKEN_LEN.to_string();
    for (args, expected) in [
        (vec![], &*default_len),
        (vec!["--token-len", "2000"], "2000"),
        (vec!["--token-len", "10"], "37"),
    ] {
        let len = with_mock_server(&args, &tmp, "token endpoint: ", |url| {
            let out = cli(&["token"], &secret_client_env(url, MOCK_CLIENT_SECRET));
            assert!(out.status.success(), "{}", stderr(&out));
            stdout(&out).trim_end().len().to_string()
        })
        .unwrap();
        assert_eq!(len, expected, "{args:?}");
    }
    let out = cli(&["mock-server", "--token-len", "70000"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--token-len takes a number"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[cfg(unix)]
#[test]
fn mock_server_writes_its_key_to_a_fresh_private_place_never_through_a_symlink() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let tmp = common::util::scratch_dir("cli-tmp");
    let victim = tmp.join("victim");
    std::fs::write(&victim, "ORIGINAL").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The predictable name, planted as a symlink to a file of the victim's.
    symlink(&victim, tmp.join(format!("alpaca-auth-mock-{port}.pem"))).unwrap();
    let port_arg = port.to_string();
    let path = mock_server_key_path(&["--port", &port_arg], &tmp).unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "ORIGINAL");
    let path = std::path::PathBuf::from(path);
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.is_file(), "{path:?}");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir = path.parent().unwrap();
    assert_ne!(dir, tmp.as_path(), "not directly in the shared directory");
    assert_eq!(
        std::fs::metadata(dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // --key-file: created new, never over an existing file or symlink.
    let chosen = tmp.join("chosen.pem");
    let shown = mock_server_key_path(&["--key-file", chosen.to_str().unwrap()], &tmp).unwrap();
    assert_eq!(shown, chosen.to_str().unwrap());
    let link = tmp.join("link.pem");
    symlink(&victim, &link).unwrap();
    let err = mock_server_key_path(&["--key-file", link.to_str().unwrap()], &tmp).unwrap_err();
    assert!(err.contains("never overwritten"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "ORIGINAL");
    std::fs::remove_dir_all(&tmp).unwrap();
}
