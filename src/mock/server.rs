//! The mock's HTTP side: the loopback listener, its accept loop, one thread
//! per connection reading requests with keep-alive, and the routing of each
//! request to its endpoint.

use std::io::{self, BufReader};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::json;

use super::http::{read_request, write_response, Response};
use super::state::Shared;
use super::{account, faults, ACCOUNT_PATH, IDLE_TIMEOUT, TOKEN_PATH};

/// A listening mock server and its accept thread; stops when dropped.
pub(super) struct Listener {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
}

impl Listener {
    /// Binds `127.0.0.1:port` (0 for an ephemeral port) and starts accepting.
    pub(super) fn start(port: u16) -> io::Result<Listener> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(&format!("http://{addr}")));
        let accept_shared = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name("mock-accept".into())
            .spawn(move || accept_loop(listener, accept_shared))?;
        Ok(Listener {
            shared,
            addr,
            accept: Some(accept),
        })
    }

    /// The state the connections share.
    pub(super) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The bound socket address.
    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // Out of descriptors or similar: do not spin.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let shared = Arc::clone(&shared);
        let _ = thread::Builder::new()
            .name("mock-conn".into())
            .spawn(move || serve_connection(stream, &shared));
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut writer = write_half;
    let mut reader = BufReader::new(stream);
    while !shared.stop.load(Ordering::SeqCst) {
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let response = Response::json(
                    400,
                    &json!({"error": "invalid_request", "error_description": e.to_string()}),
                );
                let _ = write_response(&mut writer, &response, &shared.http_date(), true);
                return;
            }
            Err(_) => return,
        };
        if shared.stop.load(Ordering::SeqCst) {
            // Stopped while this connection idled: answer nothing.
            return;
        }
        let close = request.wants_close();
        let keep_going = match (request.method.as_str(), request.path.as_str()) {
            (_, TOKEN_PATH) => faults::serve_token_request(&request, shared, &mut writer, close),
            (_, ACCOUNT_PATH) => {
                shared.account_requests.fetch_add(1, Ordering::SeqCst);
                let response = account::respond(&request, shared);
                write_response(&mut writer, &response, &shared.http_date(), close).is_ok()
            }
            _ => {
                let response =
                    Response::json(404, &json!({"code": 40410000, "message": "not found"}));
                write_response(&mut writer, &response, &shared.http_date(), close).is_ok()
            }
        };
        if close || !keep_going {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}
