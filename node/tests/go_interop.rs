//! The `mconn` binary against CometBFT's own Go code, for each supported
//! CometBFT line (v0.38 and v1.0): `probe` and `start` against a Go node
//! (a Go `p2p.Switch` with the PEX reactor), and `start --home` on a home
//! directory written by Go as `cometbft init` writes one.
//!
//! The Go side is the interop harness in `tests/interop/go` (scenario
//! `node`), built by `mconn_tests::go_harness` (`-modfile v1.mod` for
//! v1.0). Needs Go
//! and the Go module proxy; run with
//! `cargo test -p mconn-node --features interop-go --test go_interop`.
//! Every wait is bounded.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use mconn_node::Home;
use mconn_tests::go_harness::{self, GoProcess, Line};
use serde_json::Value;

use common::{allow_loopback_peers, get, wait_until, Mconn, LIMIT};
/// The Go node's network (and the chain_id of the Go-written genesis).
const NETWORK: &str = "go-net";
const GO_MONIKER: &str = "go-node";

// ---- the Go side ----

/// The harness for `line`, built once per test process into this crate's
/// target temporary directory.
fn go_binary(line: Line) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-interop");
    go_harness::binary(line, &out)
}

/// A stdout line of the harness as an event (`{"ev": "raw"}` if not JSON).
fn event(line: String) -> Value {
    serde_json::from_str(&line).unwrap_or_else(|_| serde_json::json!({"ev": "raw", "line": line}))
}

/// A running Go node (harness scenario `node`), killed on drop.
struct GoNode {
    line: Line,
    go: GoProcess,
    events: Vec<Value>,
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
        let mut args = vec!["-scenario", "node", "-listen", "-seed", &seed];
        args.extend(["-network", NETWORK, "-moniker", GO_MONIKER, "-strict=false"]);
        args.extend(["-hold", "120s", "-timeout", "120s"]);
        args.extend(extra);
        let go = GoProcess::spawn(&go_binary(line), &args).expect("start the Go node");
        let mut node = GoNode {
            line,
            go,
            events: Vec::new(),
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
            match self.go.lines.recv_timeout(left).map(event) {
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
        let _ = self.go.child.kill();
        while let Ok(line) = self.go.lines.recv_timeout(Duration::from_millis(200)) {
            self.events.push(event(line));
        }
        let events: Vec<String> = self.events.iter().map(Value::to_string).collect();
        let tail = self.go.stderr_tail(6000);
        panic!(
            "[Go {}] {msg}\n--- Go events:\n{}\n--- Go stderr (tail):\n{tail}",
            self.line.version(),
            events.join("\n")
        );
    }
}

// ---- the mconn side ----

/// Waits (bounded) until `/net_info` lists `id`; that peer's entry.
fn wait_for_peer(rpc: &str, id: &str) -> Value {
    let mut found = Value::Null;
    wait_until(&format!("{id} in /net_info"), || {
        let info = get(rpc, "/net_info");
        let peers = info["result"]["peers"].as_array().unwrap();
        match peers.iter().find(|p| p["node_info"]["id"] == id) {
            Some(peer) => found = peer.clone(),
            None => return false,
        }
        true
    });
    found
}

/// `start --home HOME` with `peer` as its persistent peer: the process,
/// its node ID and RPC address.
fn start_mconn(home: &Path, peer: &str) -> (Mconn, String, String) {
    let (m, up) = Mconn::start(home, &["--p2p.persistent_peers", peer]);
    (m, up.id, up.rpc)
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
    assert_eq!(
        info["protocol_version"]["p2p"],
        go.line.p2p_protocol().to_string()
    );
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
    allow_loopback_peers(&Home::new(dir.path()));

    let (node, id, rpc) = start_mconn(dir.path(), &go.addr());
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

    let (node, id, rpc) = start_mconn(&root, &go.addr());
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
