//! The `mconn` binary against CometBFT's own Go code, for each supported
//! CometBFT line (v0.38 and v1.0): `probe` and `start` against a Go node
//! (a Go `p2p.Switch` with the PEX reactor), and `start --home` on a home
//! directory written by Go as `cometbft init` writes one.
//!
//! The Go side is the interop harness in `tests/interop/go` (scenario
//! `node`), built here with `go build` (`-modfile v1.mod` for v1.0). Needs Go
//! and the Go module proxy; run with
//! `cargo test -p mconn-node --features interop-go --test go_interop`.
//! Every wait is bounded.

use std::fs;
use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use mconn_node::Home;
use serde_json::Value;

/// Longest wait for any one thing (an event, a log line, a connection).
const LIMIT: Duration = Duration::from_secs(40);
/// The Go node's network (and the chain_id of the Go-written genesis).
const NETWORK: &str = "go-net";
const GO_MONIKER: &str = "go-node";

// ---- the Go side ----

/// A CometBFT release line the harness is built against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Line {
    V038,
    V1,
}

impl Line {
    /// The module file pinning this line's CometBFT version.
    fn modfile(self) -> &'static str {
        match self {
            Line::V038 => "go.mod",
            Line::V1 => "v1.mod",
        }
    }

    /// The exact CometBFT version pinned for this line.
    fn version(self) -> &'static str {
        match self {
            Line::V038 => "v0.38.26",
            Line::V1 => "v1.0.1",
        }
    }

    /// The p2p protocol version a node of this line advertises.
    fn p2p_protocol(self) -> &'static str {
        match self {
            Line::V038 => "8",
            Line::V1 => "9",
        }
    }
}

fn go_command() -> Command {
    Command::new(std::env::var_os("GO").unwrap_or_else(|| "go".into()))
}

/// Builds the harness for `line` once per test process (`go build` caches
/// across runs) and returns the binary.
fn go_binary(line: Line) -> PathBuf {
    static BUILT: [OnceLock<Result<PathBuf, String>>; 2] = [OnceLock::new(), OnceLock::new()];
    BUILT[line as usize]
        .get_or_init(|| go_build(line))
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn go_build(line: Line) -> Result<PathBuf, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/go");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("go-interop")
        .join(format!("cometbft-{}", line.version()));
    let built = go_command()
        .args(["build", "-buildvcs=false", "-modfile", line.modfile(), "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(&src)
        .output()
        .map_err(|e| format!("Go 1.23+ is needed on PATH (or GO=/path/to/go): {e}"))?;
    if !built.status.success() {
        return Err(format!(
            "`go build -modfile {}` in {} failed (module downloads need the Go module proxy):\n{}",
            line.modfile(),
            src.display(),
            String::from_utf8_lossy(&built.stderr)
        ));
    }
    Ok(out)
}

/// A running Go node (harness scenario `node`), killed on drop.
struct GoNode {
    line: Line,
    child: Child,
    rx: Receiver<Value>,
    events: Vec<Value>,
    stderr: Arc<Mutex<String>>,
    /// Its node ID.
    id: String,
    /// Its listening port on 127.0.0.1.
    port: u16,
}

impl GoNode {
    /// Starts a Go node listening on 127.0.0.1 with the PEX reactor;
    /// `extra` flags are added. Waits until it listens.
    fn start(line: Line, seed: u8, extra: &[&str]) -> GoNode {
        let seed = format!("{seed:02x}").repeat(32);
        let mut child = Command::new(go_binary(line))
            .args(["-scenario", "node", "-listen", "-seed", &seed])
            .args(["-network", NETWORK, "-moniker", GO_MONIKER, "-strict=false"])
            .args(["-hold", "120s", "-timeout", "120s"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the Go node");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for text in BufReader::new(stdout).lines().map_while(Result::ok) {
                let event = serde_json::from_str(&text)
                    .unwrap_or_else(|_| serde_json::json!({"ev": "raw", "line": text}));
                if tx.send(event).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut node = GoNode {
            line,
            child,
            rx,
            events: Vec::new(),
            stderr,
            id: String::new(),
            port: 0,
        };
        let start = node.wait("start", |_| true);
        if start["cometbft"] != line.version() {
            node.fail(&format!("built against {}", start["cometbft"]));
        }
        let listening = node.wait("listening", |_| true);
        node.id = listening["id"].as_str().unwrap().to_string();
        node.port = listening["addr"]
            .as_str()
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap();
        node
    }

    /// `ID@127.0.0.1:PORT`.
    fn addr(&self) -> String {
        format!("{}@127.0.0.1:{}", self.id, self.port)
    }

    /// Waits (bounded) for the first event named `ev` that `also` accepts.
    fn wait(&mut self, ev: &str, also: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(v) = self.events.iter().find(|v| v["ev"] == ev && also(v)) {
                return v.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(v) if v["ev"] == "error" => {
                    self.events.push(v);
                    self.fail("the Go side reported an error");
                }
                Ok(v) => self.events.push(v),
                Err(RecvTimeoutError::Timeout) => self.fail(&format!("no {ev:?} within {LIMIT:?}")),
                Err(RecvTimeoutError::Disconnected) => self.fail(&format!("exited without {ev:?}")),
            }
        }
    }

    /// Panics with the Go side's events and stderr.
    fn fail(&mut self, msg: &str) -> ! {
        let _ = self.child.kill();
        while let Ok(v) = self.rx.recv_timeout(Duration::from_millis(200)) {
            self.events.push(v);
        }
        let events: Vec<String> = self.events.iter().map(Value::to_string).collect();
        let stderr = self.stderr.lock().unwrap().clone();
        let tail = &stderr[stderr.len().saturating_sub(6000)..];
        panic!(
            "[Go {}] {msg}\n--- Go events:\n{}\n--- Go stderr (tail):\n{tail}",
            self.line.version(),
            events.join("\n")
        );
    }
}

impl Drop for GoNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- the mconn side ----

/// A running `mconn` process; killed if the test ends while it runs.
struct Mconn {
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
    _out: tempfile::TempDir,
}

impl Mconn {
    fn spawn(args: &[&str]) -> Mconn {
        let out = tempfile::tempdir().unwrap();
        let (stdout, stderr) = (out.path().join("out"), out.path().join("err"));
        let child = Command::new(env!("CARGO_BIN_EXE_mconn"))
            .args(args)
            .env_remove("MCONN_HOME")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Mconn {
            child: Some(child),
            stdout,
            stderr,
            _out: out,
        }
    }

    /// Runs a command to completion (bounded); exit code, stdout, stderr.
    fn run(args: &[&str]) -> (i32, String, String) {
        let mut m = Mconn::spawn(args);
        let mut child = m.child.take().unwrap();
        let status = wait_exit(&mut child, || m.log());
        let stdout = fs::read_to_string(&m.stdout).unwrap_or_default();
        (status, stdout, m.log())
    }

    /// `start --home DIR` on loopback with `--p2p.persistent_peers PEER`;
    /// waits for "Node is up" and returns its `id=` and `rpc=` fields.
    fn start(home: &Path, peer: &str) -> (Mconn, String, String) {
        let m = Mconn::spawn(&[
            "start",
            "--home",
            home.to_str().unwrap(),
            "--p2p.laddr",
            "tcp://127.0.0.1:0",
            "--rpc",
            "127.0.0.1:0",
            "--p2p.persistent_peers",
            peer,
        ]);
        let line = m.wait_log("Node is up");
        let field = |key: &str| -> String {
            let at = line
                .find(&format!(" {key}="))
                .unwrap_or_else(|| panic!("{key} in {line}"));
            line[at + key.len() + 2..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_string()
        };
        let (id, rpc) = (field("id"), field("rpc"));
        (m, id, rpc.trim_start_matches("http://").to_string())
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The first log line containing `needle` (bounded wait).
    fn wait_log(&self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| l.contains(needle)) {
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
    fn interrupt(mut self) -> (i32, String) {
        let mut child = self.child.take().unwrap();
        let sent = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let code = wait_exit(&mut child, || self.log());
        (code, self.log())
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

/// Waits (bounded) for `child` to exit; its exit code.
fn wait_exit(child: &mut Child, log: impl Fn() -> String) -> i32 {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no exit within {LIMIT:?}:\n{}", log());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// `GET path` on an RPC address; the JSON body.
fn get(rpc: &str, path: &str) -> Value {
    let mut s = TcpStream::connect(rpc).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {rpc}\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    serde_json::from_str(body).unwrap()
}

/// Waits (bounded) until `/net_info` lists `id`; that peer's entry.
fn wait_for_peer(rpc: &str, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let info = get(rpc, "/net_info");
        let peers = info["result"]["peers"].as_array().unwrap();
        if let Some(peer) = peers.iter().find(|p| p["node_info"]["id"] == id) {
            return peer.clone();
        }
        assert!(
            started.elapsed() < LIMIT,
            "{id} not in /net_info within {LIMIT:?}: {info:#}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// `probe` of `go` with our network `network`: the JSON report.
fn probe(go: &GoNode, network: &str) -> Value {
    let (code, stdout, stderr) = Mconn::run(&[
        "probe",
        &go.addr(),
        "--network",
        network,
        "--json",
        "--timeout",
        "20s",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Checks `info` (CometBFT's node_info JSON shape) is the Go node's.
fn assert_go_node_info(info: &Value, go: &GoNode) {
    assert_eq!(info["id"], go.id.as_str(), "{info}");
    assert_eq!(info["moniker"], GO_MONIKER, "{info}");
    assert_eq!(info["network"], NETWORK, "{info}");
    assert_eq!(info["channels"], "0020", "PEX and the watcher: {info}");
    assert_eq!(
        info["version"],
        go.line.version().trim_start_matches('v'),
        "{info}"
    );
    assert_eq!(info["protocol_version"]["p2p"], go.line.p2p_protocol());
    assert_eq!(info["listen_addr"], format!("tcp://127.0.0.1:{}", go.port));
}

// ---- scenarios ----

/// Scenario 1: `probe` shows the Go node's NodeInfo; compatible on its
/// network, incompatible (with the reason) on another.
fn probe_go_node(line: Line) {
    let go = GoNode::start(line, 0x11, &[]);

    let report = probe(&go, NETWORK);
    assert_go_node_info(&report["node_info"], &go);
    assert_eq!(report["probe"]["compatible"], true, "{report:#}");
    assert_eq!(report["probe"]["network"], NETWORK);
    assert_eq!(report["probe"]["reason"], Value::Null);

    let report = probe(&go, "other");
    assert_go_node_info(&report["node_info"], &go);
    assert_eq!(report["probe"]["compatible"], false, "{report:#}");
    assert_eq!(report["probe"]["reason"], "different network", "{report:#}");
}

/// Scenario 2: `start` on a fresh `init` home with the Go node as its
/// persistent peer: both sides add the other; after SIGINT Go removes us.
fn start_with_go_peer(line: Line) {
    let go = GoNode::start(line, 0x22, &[]);
    let dir = tempfile::tempdir().unwrap();
    let home_dir = dir.path().to_str().unwrap();
    let (code, _, stderr) = Mconn::run(&[
        "init",
        "--home",
        home_dir,
        "--network",
        NETWORK,
        "--moniker",
        "rust-node",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let home = Home::new(dir.path());
    let mut config = home.load_config().unwrap();
    config.p2p.addr_book_strict = false;
    config.p2p.allow_duplicate_ip = true;
    fs::write(home.config_file(), config.to_toml()).unwrap();

    let (node, id, rpc) = Mconn::start(dir.path(), &go.addr());
    let mut go = go;
    let added = go.wait("peer_added", |v| v["id"] == id.as_str());
    assert_eq!(added["outbound"], false, "we dialed: {added}");
    let peer = wait_for_peer(&rpc, &go.id);
    assert_go_node_info(&peer["node_info"], &go);
    assert_eq!(peer["is_outbound"], true);

    let (code, log) = node.interrupt();
    assert_eq!(code, 0, "{log}");
    go.wait("peer_removed", |v| v["id"] == id.as_str());
}

/// Scenario 3: a home written by Go (`cometbft init`'s functions) runs
/// with `start --home`: its node key, its genesis chain_id as the network,
/// its config.toml (moniker), and it connects to the Go node.
fn start_on_go_written_home(line: Line) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cometbft-home");
    let root_str = root.to_str().unwrap();
    let mut go = GoNode::start(line, 0x33, &["-write-home", root_str]);
    let written = go.wait("home_written", |_| true);
    let key_id = written["id"].as_str().unwrap().to_string();
    assert_ne!(key_id, go.id, "the home has its own key");
    let key_file = root.join("config/node_key.json");
    let key_json = fs::read(&key_file).unwrap();
    let config_toml = fs::read_to_string(root.join("config/config.toml")).unwrap();
    let go_config: toml::Table = toml::from_str(&config_toml).unwrap();
    let moniker = go_config["moniker"].as_str().unwrap().to_string();

    let (code, stdout, stderr) = Mconn::run(&["show-node-id", "--home", root_str]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout.trim(),
        key_id,
        "show-node-id reads Go's node_key.json"
    );

    let (node, id, rpc) = Mconn::start(&root, &go.addr());
    assert_eq!(id, key_id);
    let status = get(&rpc, "/status");
    let info = &status["result"]["node_info"];
    assert_eq!(info["id"], key_id.as_str());
    assert_eq!(info["network"], NETWORK, "genesis.json's chain_id");
    assert_eq!(info["moniker"], moniker.as_str(), "config.toml's moniker");

    let added = go.wait("peer_added", |v| v["id"] == key_id.as_str());
    assert_eq!(added["outbound"], false, "we dialed: {added}");
    let peer = wait_for_peer(&rpc, &go.id);
    assert_go_node_info(&peer["node_info"], &go);

    let (code, log) = node.interrupt();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("Address book saved"), "{log}");
    assert_eq!(
        fs::read(&key_file).unwrap(),
        key_json,
        "node key kept as is"
    );
    assert!(
        root.join("config/addrbook.json").exists(),
        "the book goes where Go's config.toml says"
    );
}

#[test]
fn v038_probe_go_node() {
    probe_go_node(Line::V038);
}

#[test]
fn v1_probe_go_node() {
    probe_go_node(Line::V1);
}

#[test]
fn v038_start_with_go_persistent_peer() {
    start_with_go_peer(Line::V038);
}

#[test]
fn v1_start_with_go_persistent_peer() {
    start_with_go_peer(Line::V1);
}

#[test]
fn v038_start_on_go_written_home() {
    start_on_go_written_home(Line::V038);
}

#[test]
fn v1_start_on_go_written_home() {
    start_on_go_written_home(Line::V1);
}
