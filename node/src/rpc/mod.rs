//! `--rpc 127.0.0.1:PORT`: a tiny read-only HTTP server with CometBFT's
//! `GET /status` and `GET /net_info` (see [`json`] for the shapes).
//!
//! Hand-written HTTP/1.1, just enough for `curl` and CometBFT's URI
//! clients: one `GET` per connection (`Connection: close`), the request
//! head at most [`MAX_REQUEST`] bytes and read within [`READ_TIMEOUT`], at
//! most [`MAX_CONNECTIONS`] connections served at once; query strings are
//! ignored. Anything else is a JSON-RPC error (404 unknown path, 405 other
//! methods, 400 unreadable request).
//!
//! ```no_run
//! # async fn demo(switch: mconn_tokio::Switch) -> std::io::Result<()> {
//! let rpc = mconn_node::rpc::RpcServer::start("127.0.0.1:26657".parse().unwrap(), switch).await?;
//! println!("curl http://{}/net_info", rpc.local_addr());
//! # Ok(()) }
//! ```

pub mod json;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mconn_tokio::Switch;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// The longest request head accepted.
pub const MAX_REQUEST: usize = 8 * 1024;
/// How long a client may take to send its request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 32;

/// A running RPC server; stopped when dropped.
#[derive(Debug)]
pub struct RpcServer {
    local: SocketAddr,
    task: JoinHandle<()>,
}

impl RpcServer {
    /// Binds `addr` and serves `switch`'s status until stopped.
    pub async fn start(addr: SocketAddr, switch: Switch) -> io::Result<RpcServer> {
        Ok(RpcListener::bind(addr).await?.serve(switch))
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Stops accepting (connections being answered finish on their own).
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// A bound RPC address not serving yet: bind before starting the switch,
/// so a taken port fails the node before it connects to anyone.
#[derive(Debug)]
pub struct RpcListener {
    listener: TcpListener,
    local: SocketAddr,
}

impl RpcListener {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr) -> io::Result<RpcListener> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        Ok(RpcListener { listener, local })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Serves `switch`'s status from now on.
    pub fn serve(self, switch: Switch) -> RpcServer {
        let rpc_address = format!("tcp://{}", self.local);
        let task = tokio::spawn(serve(self.listener, Arc::new((switch, rpc_address))));
        RpcServer {
            local: self.local,
            task,
        }
    }
}

impl Drop for RpcServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Shared = Arc<(Switch, String)>;

async fn serve(listener: TcpListener, shared: Shared) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::debug!("rpc: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = answer(stream, &shared).await {
                tracing::debug!("rpc: {e}");
            }
        });
    }
}

/// Reads one request and writes its response.
async fn answer(mut stream: TcpStream, shared: &Shared) -> io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "request timed out")),
    };
    let (status, body) = route(&head, shared);
    let body = body.to_string();
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// The request head (up to the blank line), or `None` in it when the
/// client sent more than [`MAX_REQUEST`] bytes without one.
async fn read_head(stream: &mut TcpStream) -> io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = find_blank_line(&buf) {
            return Ok(Some(String::from_utf8_lossy(&buf[..end]).into_owned()));
        }
        if buf.len() >= MAX_REQUEST {
            return Ok(None);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the request ended",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find_blank_line(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").or_else(|| {
        // Tolerate bare LF line ends (netcat by hand).
        buf.windows(2).position(|w| w == b"\n\n")
    })
}

/// Status line and JSON body for a request head.
fn route(head: &Option<String>, shared: &Shared) -> (&'static str, Value) {
    let (switch, rpc_address) = (&shared.0, shared.1.as_str());
    let Some(head) = head else {
        return bad_request("request head too large");
    };
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return bad_request("not an HTTP request");
    };
    let path = target.split('?').next().unwrap_or(target);
    if method != "GET" {
        let e = json::error(-32600, "Invalid Request", "only GET is supported");
        return ("405 Method Not Allowed", e);
    }
    match path {
        "/status" => ("200 OK", json::envelope(json::status(switch, rpc_address))),
        "/net_info" => ("200 OK", json::envelope(json::net_info(switch))),
        "/" => (
            "200 OK",
            serde_json::json!({ "routes": ["/status", "/net_info"] }),
        ),
        other => {
            let data = format!("unknown route {other}: try /status or /net_info");
            (
                "404 Not Found",
                json::error(-32601, "Method not found", &data),
            )
        }
    }
}

fn bad_request(why: &str) -> (&'static str, Value) {
    ("400 Bad Request", json::error(-32700, "Parse error", why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_line_ends_the_head() {
        assert_eq!(
            find_blank_line(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(23)
        );
        assert_eq!(find_blank_line(b"GET / HTTP/1.0\n\n"), Some(14));
        assert_eq!(find_blank_line(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }
}
