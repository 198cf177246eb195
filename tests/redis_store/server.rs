//! A `redis-server` of a test, and a plain connection to look into it.

use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use alpaca_auth::mock::{MockServer, MOCK_CLIENT_ID};
use alpaca_auth::{Client, Credentials};

use crate::common;
use crate::common::util::on_path;

/// A `redis-server` of this test; killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    args: Vec<String>,
}

impl RedisServer {
    /// A server on 127.0.0.1 answering PING, or `None` (with the skip
    /// message printed) where `redis-server` is not installed.
    pub fn start() -> Option<RedisServer> {
        Self::start_with(&[])
    }

    /// [`start`](Self::start) with more arguments of `redis-server`.
    pub fn start_with(args: &[&str]) -> Option<RedisServer> {
        if !on_path("redis-server") {
            println!("skipped: redis-server not found");
            return None;
        }
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        // A free port can be taken between probing and binding: try again.
        for _ in 0..5 {
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                args: args.clone(),
            };
            if server.restart() {
                return Some(server);
            }
        }
        panic!("redis-server did not answer PING within 10 s");
    }

    /// Starts the server (again) on its port; whether it answers.
    pub fn restart(&mut self) -> bool {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.admin().is_ok() {
                return true;
            }
            if let Some(child) = &mut self.child {
                if child.try_wait().expect("status").is_some() {
                    return false; // exited: most likely the port was taken
                }
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A connection as the default user (before any ACL change).
    pub fn admin(&self) -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(self.url())?;
        client.get_connection_with_timeout(Duration::from_secs(2))
    }

    /// The process, for signals.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A stopped server does not die of SIGKILL until continued.
        if self.pid() != 0 {
            let _ = Command::new("kill")
                .args(["-CONT", &self.pid().to_string()])
                .status();
        }
        self.kill();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A client of the mock sharing tokens through Redis at `url`.
pub fn client_at(mock: &MockServer, url: &str, secret: &str) -> Client {
    common::builder(mock)
        .credentials(Credentials::client_secret(MOCK_CLIENT_ID, secret))
        .token_store_url(url)
        .build()
        .expect("client builds")
}

/// Every key in the server, and its value (strings only).
pub fn dump(conn: &mut redis::Connection) -> Vec<(String, Option<String>)> {
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(conn).expect("KEYS");
    keys.into_iter()
        .map(|key| {
            let value: Option<String> = redis::cmd("GET").arg(&key).query(conn).expect("GET");
            (key, value)
        })
        .collect()
}

/// The one entry key (the one without `:lock`).
pub fn entry_key(conn: &mut redis::Connection) -> String {
    let entries: Vec<String> = dump(conn)
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| !k.ends_with(":lock"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

pub fn get(conn: &mut redis::Connection, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query(conn).expect("GET")
}
