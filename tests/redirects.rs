//! `Client::authorize` never lets a redirect carry the credentials
//! elsewhere: the request it returns does not follow redirects.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use alpaca_auth::{Client, Credentials};

const CANARY_API_SECRET: &str = "CANARY-redirect-secret-0042";

/// A listener that counts the connections it receives.
fn counting_listener() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            seen.fetch_add(1, Ordering::SeqCst);
            let Ok(mut stream) = stream else { continue };
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
        }
    });
    (format!("http://{addr}"), count)
}

/// A server answering every request with a redirect to `target`.
fn redirecting_server(target: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let response = format!(
                "HTTP/1.1 302 Found\r\nLocation: {target}/v2/account\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    format!("http://{addr}")
}

#[test]
fn authorized_requests_never_follow_a_redirect_to_another_host() {
    let (elsewhere, connections) = counting_listener();
    let redirector = redirecting_server(elsewhere);
    for credentials in [
        Credentials::api_key("PKREDIRECT", CANARY_API_SECRET),
        Credentials::api_key_basic("PKREDIRECT", CANARY_API_SECRET),
    ] {
        let client = Client::builder().credentials(credentials).build().unwrap();
        let url = format!("{redirector}/v2/account");
        // The default agent follows up to 10 redirects.
        let outcome = client.authorize(ureq::get(&url)).unwrap().call();
        match outcome {
            Ok(response) => assert_eq!(response.status().as_u16(), 302),
            Err(ureq::Error::StatusCode(status)) => assert_eq!(status, 302),
            Err(other) => panic!("unexpected outcome: {other}"),
        }
        // And through an agent of the caller's that follows redirects.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(5)
            .build()
            .into();
        let response = client.authorize(agent.get(&url)).unwrap().call().unwrap();
        assert_eq!(response.status().as_u16(), 302);
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "the redirect target received a connection"
    );
}
