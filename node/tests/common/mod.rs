//! Helpers shared by the node's process tests (`cli`, `node`,
//! `go_interop`): the `mconn` binary as a child process, its "Node is up"
//! line, the RPC, and a listening node in the test process.
//!
//! Every wait is bounded. Each test binary uses a subset of these.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use mconn_node::Home;
use mconn_tokio::{Listener, NodeConfig};
use serde_json::Value;

/// Longest wait for any one thing (a log line, a peer, an exit).
pub const LIMIT: Duration = Duration::from_secs(40);

/// A running `mconn` process with its output in files (so nothing can
/// block); killed if the test ends while it runs.
pub struct Mconn {
    args: Vec<String>,
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
    _out: tempfile::TempDir,
}

impl Mconn {
    /// Starts `mconn ARGS` without inherited `MCONN_HOME`/`RUST_LOG`.
    pub fn spawn(args: &[&str]) -> Mconn {
        Mconn::spawn_with(args, &[])
    }

    /// [`spawn`](Self::spawn) with `env` variables set.
    pub fn spawn_with(args: &[&str], env: &[(&str, &OsStr)]) -> Mconn {
        let out = tempfile::tempdir().unwrap();
        let (stdout, stderr) = (out.path().join("out"), out.path().join("err"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mconn"));
        cmd.args(args)
            .env_remove("MCONN_HOME")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap());
        Mconn {
            args: args.iter().map(|a| a.to_string()).collect(),
            child: Some(cmd.spawn().unwrap()),
            stdout,
            stderr,
            _out: out,
        }
    }

    /// Runs `mconn ARGS` to completion (bounded by [`LIMIT`]): exit code,
    /// stdout, stderr.
    pub fn run(args: &[&str]) -> (i32, String, String) {
        Mconn::spawn(args).finish(LIMIT)
    }

    /// `start --home HOME` on loopback (ephemeral P2P and RPC ports) with
    /// `extra` flags; waits for "Node is up".
    pub fn start(home: &Path, extra: &[&str]) -> (Mconn, Up) {
        let mut args = vec!["start", "--home", home.to_str().unwrap()];
        args.extend_from_slice(&["--p2p.laddr", "tcp://127.0.0.1:0", "--rpc", "127.0.0.1:0"]);
        args.extend_from_slice(extra);
        let m = Mconn::spawn(&args);
        let line = m.wait_log("Node is up");
        (m, Up::parse(&line))
    }

    /// The log (stderr) so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The first log line containing `needle` (bounded wait).
    pub fn wait_log(&self, needle: &str) -> String {
        self.wait_log_where(needle, |_| true)
    }

    /// The first log line containing `needle` that `also` accepts
    /// (bounded wait).
    pub fn wait_log_where(&self, needle: &str, also: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| l.contains(needle) && also(l)) {
                return line.to_string();
            }
            assert!(
                started.elapsed() < LIMIT,
                "no log line with {needle:?} within {LIMIT:?}:\n{log}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGINT; returns the exit code and the whole log.
    pub fn interrupt(mut self) -> (i32, String) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(sent.success());
        let code = self.wait_exit(LIMIT);
        (code, self.log())
    }

    /// Waits (up to `limit`) for the process to exit by itself: exit code
    /// (-1 if killed by a signal), stdout, stderr.
    pub fn finish(mut self, limit: Duration) -> (i32, String, String) {
        let code = self.wait_exit(limit);
        let stdout = fs::read_to_string(&self.stdout).unwrap_or_default();
        (code, stdout, self.log())
    }

    /// Waits (up to `limit`) for the exit; its code. Kills the process
    /// and fails the test if it runs longer.
    fn wait_exit(&mut self, limit: Duration) -> i32 {
        let mut child = self.child.take().unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "mconn {:?}: no exit within {limit:?}:\n{}",
                    self.args,
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Mconn {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What a "Node is up" line says.
pub struct Up {
    /// The node ID.
    pub id: String,
    /// The bound P2P port (on 127.0.0.1).
    pub port: u16,
    /// The RPC address, `HOST:PORT`.
    pub rpc: String,
}

impl Up {
    /// Reads the `id=`, `listen=` and `rpc=` fields of a "Node is up" line.
    pub fn parse(line: &str) -> Up {
        let field = |key: &str| -> String {
            let start = line
                .find(&format!(" {key}="))
                .unwrap_or_else(|| panic!("{key} in {line}"));
            let rest = &line[start + key.len() + 2..];
            rest.split_whitespace().next().unwrap().to_string()
        };
        let listen = field("listen");
        Up {
            id: field("id"),
            port: listen.rsplit(':').next().unwrap().parse().unwrap(),
            rpc: field("rpc").trim_start_matches("http://").to_string(),
        }
    }

    /// `ID@127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("{}@127.0.0.1:{}", self.id, self.port)
    }
}

/// Sets the loopback settings a local network needs in `home`'s
/// config.toml (non-strict address book, duplicate IPs allowed).
pub fn allow_loopback_peers(home: &Home) {
    let mut config = home.load_config().unwrap();
    config.p2p.addr_book_strict = false;
    config.p2p.allow_duplicate_ip = true;
    fs::write(home.config_file(), config.to_toml()).unwrap();
}

/// `GET path` on an RPC address; the JSON body.
pub fn get(rpc: &str, path: &str) -> Value {
    let mut s = TcpStream::connect(rpc).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {rpc}\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    serde_json::from_str(body).unwrap()
}

/// Waits (bounded by [`LIMIT`]) until `ready` holds.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < LIMIT, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// A node listening on 127.0.0.1 in the test process, accepting (and
/// keeping) every connection until dropped.
pub struct TestListener {
    runtime: Option<tokio::runtime::Runtime>,
    /// The bound port.
    pub port: u16,
}

impl TestListener {
    /// Binds 127.0.0.1 on an ephemeral port with `config` and accepts.
    pub fn start(config: NodeConfig) -> TestListener {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(Listener::bind("127.0.0.1:0", config))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        runtime.spawn(async move {
            let mut peers = Vec::new();
            loop {
                // Failed handshakes (refused probes) are expected: go on.
                if let Ok((peer, _)) = listener.accept().await {
                    peers.push(peer);
                }
            }
        });
        TestListener {
            runtime: Some(runtime),
            port,
        }
    }
}

impl Drop for TestListener {
    fn drop(&mut self) {
        // Bounded: the runtime's tasks are cancelled, not awaited.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}
