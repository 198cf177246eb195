//! `Client::authorize` never lets a redirect carry the credentials
//! elsewhere: the request it returns does not follow redirects.

#[path = "common/http.rs"]
mod http;

use std::sync::atomic::Ordering;
use std::time::Duration;

use alpaca_auth::{Client, Credentials};

const CANARY_API_SECRET: &str = "CANARY-redirect-secret-0042";

/// A server answering every request with a redirect to `target`.
fn redirecting_server(target: String) -> String {
    let addr = http::serve(move |_, _| {
        format!(
            "HTTP/1.1 302 Found\r\nLocation: {target}/v2/account\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
    });
    format!("http://{addr}")
}

#[test]
fn authorized_requests_never_follow_a_redirect_to_another_host() {
    let (elsewhere, connections) = http::counting_listener(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    let redirector = redirecting_server(format!("http://{elsewhere}"));
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
