//! `alpaca-auth`: tokens and auth headers for Alpaca from the command line.

use std::process::ExitCode;

#[cfg(feature = "mock")]
mod demo;

const USAGE: &str = "\
usage: alpaca-auth <command>

commands:
  token                  print the access token (client credentials)
  headers                print the auth headers, one 'Name: value' per line
  endpoints              print the resolved URLs (never secrets)
  doctor [--json]        check why authentication fails on this host: the
                         configuration, DNS, TCP, TLS, the clock, a token
                         request and one API request, one line per check
                         (exit status 0 when no check fails)
  mock-server [--port N] [--key-file PATH] [--token-len N] [--clock-offset S]
                         run the local mock Alpaca server (its JWT client's
                         key goes to PATH, created new, or to a fresh private
                         directory; its access tokens are N bytes long,
                         by default alpaca_auth::mock::DEFAULT_TOKEN_LEN; its
                         clock runs S seconds ahead, behind if negative)
  demo                   walk through every credential kind against the mock
  help                   print this help
  version                print the version

Configuration comes from the APCA_* environment variables: see README.md,
section \"Environment variables\".";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("token") if args.len() == 1 => token(),
        Some("headers") if args.len() == 1 => headers(),
        Some("endpoints") if args.len() == 1 => endpoints(),
        Some("doctor") => match args[1..] {
            [] => return doctor(false),
            [ref flag] if flag == "--json" => return doctor(true),
            _ => Err("usage: alpaca-auth doctor [--json]".into()),
        },
        Some("mock-server") => mock_server(&args[1..]),
        Some("demo") if args.len() == 1 => run_demo(),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some("version" | "-V" | "--version") => {
            println!("alpaca-auth {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("alpaca-auth: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The client from the environment. A token store directory that was
/// refused (the client then runs without sharing) is said on stderr.
fn client() -> Result<alpaca_auth::Client, String> {
    let client = alpaca_auth::Client::from_env().map_err(|e| e.to_string())?;
    if let alpaca_auth::TokenStoreStatus::Unavailable(reason) = client.token_store_status() {
        eprintln!("alpaca-auth: warning: token store not used, fetching alone: {reason}");
    }
    Ok(client)
}

fn token() -> Result<(), String> {
    let client = client()?;
    let token = client.access_token().map_err(|e| e.to_string())?;
    println!("{}", token.expose_secret());
    Ok(())
}

fn headers() -> Result<(), String> {
    let client = client()?;
    let headers = client.auth_headers().map_err(|e| e.to_string())?;
    for line in headers.to_lines() {
        println!("{}", line.expose_secret());
    }
    Ok(())
}

fn endpoints() -> Result<(), String> {
    let client = client()?;
    let e = client.endpoints();
    println!("environment: {}", e.environment());
    println!("api: {}", e.api_base());
    println!("data: {}", e.data_base());
    println!(
        "token: {}",
        e.token_url().unwrap_or("(none: API key credentials only)")
    );
    println!("market data stream: {}", e.market_data_stream_base());
    println!(
        "trade updates stream: {}",
        e.trade_updates_stream_url().unwrap_or("(none)")
    );
    Ok(())
}

/// Runs every check and prints the report; exit status 0 when no check
/// failed (warnings allowed), 1 otherwise.
fn doctor(json: bool) -> ExitCode {
    let report = alpaca_auth::doctor::run();
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(feature = "mock")]
fn run_demo() -> Result<(), String> {
    demo::run()
}

#[cfg(not(feature = "mock"))]
fn run_demo() -> Result<(), String> {
    Err("this build has no mock server (built without the \"mock\" feature)".into())
}

#[cfg(feature = "mock")]
fn mock_server(args: &[String]) -> Result<(), String> {
    const USAGE: &str = "usage: alpaca-auth mock-server [--port N] [--key-file PATH] [--token-len N] [--clock-offset S]";
    let mut port = 0;
    let mut key_file = None;
    let mut token_len = None;
    let mut clock_offset = 0;
    let mut rest = args;
    while let [flag, value, tail @ ..] = rest {
        match flag.as_str() {
            "--port" => {
                port = value.parse::<u16>().map_err(|_| {
                    format!(
                        "--port takes a number from 0 to 65535, not {:?}",
                        value.chars().take(16).collect::<String>()
                    )
                })?
            }
            "--key-file" => key_file = Some(std::path::PathBuf::from(value)),
            "--clock-offset" => {
                clock_offset = value.parse::<i32>().map_err(|_| {
                    format!(
                        "--clock-offset takes a number of seconds, not {:?}",
                        value.chars().take(16).collect::<String>()
                    )
                })?
            }
            "--token-len" => {
                token_len = Some(usize::from(value.parse::<u16>().map_err(|_| {
                    format!(
                        "--token-len takes a number of bytes from 0 to 65535, not {:?}",
                        value.chars().take(16).collect::<String>()
                    )
                })?))
            }
            _ => return Err(USAGE.into()),
        }
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(USAGE.into());
    }
    let mock = alpaca_auth::mock::MockServer::start_on(port)
        .map_err(|e| format!("cannot start the mock server on port {port}: {e}"))?;
    mock.set_token_len(token_len);
    mock.set_clock_offset(i64::from(clock_offset));
    let key_path = demo::register_jwt_client(&mock, key_file.as_deref())?;
    use alpaca_auth::mock::*;
    println!("mock Alpaca server listening on {}", mock.base_url());
    println!("token endpoint: {}", mock.token_url());
    println!();
    println!("# point a client at it (test credentials, not secrets):");
    println!(
        "export APCA_API_BASE_URL={} APCA_API_DATA_URL={} APCA_AUTH_URL={}",
        mock.base_url(),
        mock.base_url(),
        mock.token_url()
    );
    println!("# API key:          export APCA_API_KEY_ID={MOCK_API_KEY_ID} APCA_API_SECRET_KEY={MOCK_API_SECRET_KEY}");
    println!("# client secret:    export APCA_CLIENT_ID={MOCK_CLIENT_ID} APCA_CLIENT_SECRET={MOCK_CLIENT_SECRET}");
    println!(
        "# private_key_jwt:  export APCA_CLIENT_ID={MOCK_JWT_CLIENT_ID} APCA_PRIVATE_KEY_PATH={}",
        key_path.display()
    );
    println!();
    println!("press Ctrl-C to stop");
    loop {
        std::thread::park();
    }
}

#[cfg(not(feature = "mock"))]
fn mock_server(_args: &[String]) -> Result<(), String> {
    Err("this build has no mock server (built without the \"mock\" feature)".into())
}
