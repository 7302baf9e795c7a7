//! End-to-end tests of the `mconn` binary, run as a process: `init`,
//! `show-node-id` and `probe` (against a listener in this process), and the
//! one-line errors for missing or malformed files.

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use mconn::conn::ChannelConfig;
use mconn::identity::NodeKey;
use mconn_node::config::Config;
use mconn_node::Home;
use mconn_tokio::NodeConfig;

use common::{Mconn, TestListener};

/// The fixture's node key is spec §2.10 key A.
const FIXTURE_ID: &str = "56475aa75463474c0285df5dbf2bcab73da65135";
/// Longest a command may run before the test fails.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The single `error: …` line a failure prints.
    fn error_line(&self) -> &str {
        assert_eq!(
            self.code, 1,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one line, got: {}", self.stderr);
        assert!(lines[0].starts_with("error: "), "{}", lines[0]);
        lines[0]
    }

    fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs the binary with `args`, `$HOME` at `home_env` and no inherited
/// `MCONN_HOME`/`RUST_LOG`; output goes to files so nothing can block; the
/// process is killed (and the test fails) after [`COMMAND_LIMIT`].
fn mconn_with(args: &[&str], home_env: &Path, extra_env: &[(&str, &Path)]) -> Run {
    let mut env = vec![("HOME", home_env.as_os_str())];
    env.extend(extra_env.iter().map(|(k, v)| (*k, v.as_os_str())));
    let (code, stdout, stderr) = Mconn::spawn_with(args, &env).finish(COMMAND_LIMIT);
    Run {
        code,
        stdout,
        stderr,
    }
}

/// Runs the binary with an empty `$HOME` of its own.
fn mconn(args: &[&str]) -> Run {
    let empty_home = tempfile::tempdir().unwrap();
    mconn_with(args, empty_home.path(), &[])
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A copy of `tests/data/cometbft_home` in a temporary directory.
fn fixture_home() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cometbft_home/config");
    fs::create_dir(dir.path().join("config")).unwrap();
    for entry in fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        fs::copy(
            entry.path(),
            dir.path().join("config").join(entry.file_name()),
        )
        .unwrap();
    }
    dir
}

fn read(path: impl AsRef<Path>) -> Vec<u8> {
    fs::read(path).unwrap()
}

#[test]
fn init_creates_files_that_parse() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("node0");
    let run = mconn(&[
        "init",
        "--home",
        s(&home),
        "--moniker",
        "node0",
        "--network",
        "test-chain",
    ]);
    run.ok();
    assert!(run.stderr.contains("Generated node key"), "{}", run.stderr);
    assert!(run.stderr.contains("Generated config"), "{}", run.stderr);

    let config =
        Config::from_toml(&fs::read_to_string(home.join("config/config.toml")).unwrap()).unwrap();
    assert_eq!(config.moniker, "node0");
    assert_eq!(config.mconn.network.as_deref(), Some("test-chain"));
    assert_eq!(config.p2p, mconn_node::config::P2pConfig::default());
    NodeKey::load(home.join("config/node_key.json")).unwrap();
    assert!(home.join("data").is_dir());
    // Only the final files: no temporary file left behind.
    let mut names: Vec<String> = fs::read_dir(home.join("config"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["config.toml", "node_key.json"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(home.join("config/node_key.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn init_twice_keeps_key_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    mconn(&["init", "--home", s(home), "--network", "first"]).ok();
    let key = read(home.join("config/node_key.json"));
    let config = read(home.join("config/config.toml"));

    let again = mconn(&[
        "init",
        "--home",
        s(home),
        "--network",
        "second",
        "--moniker",
        "other",
    ]);
    again.ok();
    assert!(again.stderr.contains("Found node key"), "{}", again.stderr);
    assert!(again.stderr.contains("Found config"), "{}", again.stderr);
    assert!(
        again.stderr.contains("--moniker, --network not applied"),
        "{}",
        again.stderr
    );
    assert_eq!(read(home.join("config/node_key.json")), key);
    assert_eq!(read(home.join("config/config.toml")), config);
}

#[test]
fn init_without_network_picks_a_test_chain() {
    let dir = tempfile::tempdir().unwrap();
    mconn(&["init", "--home", s(dir.path())]).ok();
    let home = Home::new(dir.path());
    let network = home.network(&home.load_config().unwrap()).unwrap();
    assert!(
        network.starts_with("test-chain-") && network.len() == 17,
        "{network}"
    );
}

#[test]
fn show_node_id_matches_node_key_json() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    mconn(&["init", "--home", s(&home)]).ok();
    let want = NodeKey::load(home.join("config/node_key.json"))
        .unwrap()
        .node_id()
        .to_string();

    let run = mconn(&["show-node-id", "--home", s(&home)]);
    assert_eq!(run.ok().stdout, format!("{want}\n"));
    // The home from $MCONN_HOME, and the default ~/.mconn.
    let run = mconn_with(&["show-node-id"], dir.path(), &[("MCONN_HOME", &home)]);
    assert_eq!(run.ok().stdout, format!("{want}\n"));
    fs::rename(&home, dir.path().join(".mconn")).unwrap();
    let run = mconn_with(&["show-node-id"], dir.path(), &[]);
    assert_eq!(run.ok().stdout, format!("{want}\n"));
}

#[test]
fn cometbft_home_is_accepted_as_is() {
    let dir = fixture_home();
    let before: Vec<Vec<u8>> = ["config.toml", "node_key.json", "genesis.json"]
        .iter()
        .map(|f| read(dir.path().join("config").join(f)))
        .collect();

    let run = mconn(&["show-node-id", "--home", s(dir.path())]);
    assert_eq!(run.ok().stdout, format!("{FIXTURE_ID}\n"));

    let home = Home::new(dir.path());
    let config = home.load_config().unwrap();
    assert_eq!(config.moniker, "fixture-node");
    assert_eq!(config.p2p.seeds[0].host, "seed.fixture.example");
    assert_eq!(config.p2p.persistent_peers.len(), 2);
    assert_eq!(config.p2p.persistent_peers[1].host, "::1");
    assert_eq!(config.p2p.unconditional_peer_ids.len(), 1);
    assert!(!config.p2p.addr_book_strict && config.p2p.allow_duplicate_ip);
    assert_eq!(
        home.addr_book_file(&config),
        dir.path().join("config/addrbook.json")
    );
    assert_eq!(home.network(&config).unwrap(), "fixture-chain-1");

    // init on a CometBFT home changes nothing.
    let run = mconn(&["init", "--home", s(dir.path())]);
    assert!(run.ok().stderr.contains("Found node key"), "{}", run.stderr);
    for (f, old) in ["config.toml", "node_key.json", "genesis.json"]
        .iter()
        .zip(&before)
    {
        assert_eq!(&read(dir.path().join("config").join(f)), old, "{f} changed");
    }
}

#[test]
fn missing_files_fail_naming_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("nothing-here");
    let run = mconn(&["show-node-id", "--home", s(&home)]);
    let config_file = home.join("config/config.toml");
    assert_eq!(
        run.error_line(),
        format!(
            "error: cannot read {}: no such file (run `mconn init --home {}`)",
            config_file.display(),
            home.display()
        )
    );

    mconn(&["init", "--home", s(&home)]).ok();
    let key_file = home.join("config/node_key.json");
    fs::remove_file(&key_file).unwrap();
    let run = mconn(&["show-node-id", "--home", s(&home)]);
    assert_eq!(
        run.error_line(),
        format!(
            "error: cannot read {}: no such file (run `mconn init --home {}`)",
            key_file.display(),
            home.display()
        )
    );
}

#[test]
fn malformed_files_fail_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    mconn(&["init", "--home", s(home), "--network", "n"]).ok();
    let config_file = home.join("config/config.toml");
    let good_config = fs::read_to_string(&config_file).unwrap();

    fs::write(
        &config_file,
        good_config.replace("dial_timeout = \"3s\"", "dial_timeout = \"3\""),
    )
    .unwrap();
    let run = mconn(&["show-node-id", "--home", s(home)]);
    let line = run.error_line();
    assert!(
        line.starts_with(&format!("error: invalid {}: line ", config_file.display())),
        "{line}"
    );
    assert!(line.contains("p2p.dial_timeout: missing unit"), "{line}");

    fs::write(&config_file, "[p2p\n").unwrap();
    let line = mconn(&["show-node-id", "--home", s(home)])
        .error_line()
        .to_string();
    assert!(
        line.contains(&format!("{}: line 1: invalid TOML", config_file.display())),
        "{line}"
    );

    fs::write(&config_file, &good_config).unwrap();
    let key_file = home.join("config/node_key.json");
    fs::write(&key_file, "{\"priv_key\": 1}").unwrap();
    let line = mconn(&["show-node-id", "--home", s(home)])
        .error_line()
        .to_string();
    assert!(
        line.starts_with(&format!("error: invalid node key {}: ", key_file.display())),
        "{line}"
    );
    // init refuses to go on with a broken key rather than replacing it
    // (after its log lines, the error is the last line).
    let run = mconn(&["init", "--home", s(home)]);
    assert_eq!(run.code, 1);
    let last = run.stderr.lines().last().unwrap();
    assert!(
        last.starts_with(&format!("error: invalid node key {}: ", key_file.display())),
        "{last}"
    );
    assert!(!run.stderr.contains("Found node key"), "{}", run.stderr);
    assert_eq!(fs::read_to_string(&key_file).unwrap(), "{\"priv_key\": 1}");
}

#[test]
fn bad_genesis_or_conflicting_network_fail_naming_the_file() {
    let dir = fixture_home();
    let genesis = dir.path().join("config/genesis.json");
    fs::write(&genesis, "{\"chain_id\": 7}").unwrap();
    let peer = format!("{FIXTURE_ID}@127.0.0.1:1");
    let line = mconn(&["probe", &peer, "--home", s(dir.path())])
        .error_line()
        .to_string();
    assert!(
        line.starts_with(&format!(
            "error: invalid genesis file {}: ",
            genesis.display()
        )),
        "{line}"
    );

    fs::write(&genesis, "{\"chain_id\": \"chain-a\"}").unwrap();
    let config_file = dir.path().join("config/config.toml");
    let mut text = fs::read_to_string(&config_file).unwrap();
    text.push_str("\n[mconn]\nnetwork = \"chain-b\"\n");
    fs::write(&config_file, text).unwrap();
    let line = mconn(&["probe", &peer, "--home", s(dir.path())])
        .error_line()
        .to_string();
    assert!(
        line.contains("\"chain-b\"") && line.contains("\"chain-a\""),
        "{line}"
    );
    assert!(line.contains(&genesis.display().to_string()), "{line}");
}

#[test]
fn usage_errors_exit_1() {
    assert_eq!(mconn(&["no-such-command"]).code, 1);
    assert_eq!(mconn(&["probe", "x", "--timeout", "soon"]).code, 1);
    let run = mconn(&["probe", "not-an-address"]);
    assert_eq!(
        run.error_line(),
        "error: invalid peer address \"not-an-address\": peer address has no `id@` part (expected ID@HOST:PORT)"
    );
    assert_eq!(mconn(&["--help"]).ok().code, 0);
}

/// A node listening on 127.0.0.1 in this process, accepting (and keeping)
/// every connection until dropped.
struct TestNode {
    _listener: TestListener,
    id: String,
    port: u16,
}

impl TestNode {
    fn start(network: &str) -> TestNode {
        let key = NodeKey::generate(&mut rand_core::OsRng);
        let id = key.node_id().to_string();
        let channels = [
            ChannelConfig::new(0x20, 6)
                .send_queue(100)
                .recv_message_capacity(1 << 20),
            ChannelConfig::new(0x00, 1)
                .send_queue(10)
                .recv_message_capacity(64_000),
        ];
        let mut config = NodeConfig::new(key, network, &channels);
        config.moniker = "listener-node".into();
        config.version = "0.38.25".into();
        config.listen_addr = "tcp://127.0.0.1:26656".into();
        let listener = TestListener::start(config);
        TestNode {
            port: listener.port,
            _listener: listener,
            id,
        }
    }

    fn addr(&self, host: &str) -> String {
        format!("{}@{host}:{}", self.id, self.port)
    }
}

fn probe_json(args: &[&str]) -> serde_json::Value {
    let run = mconn(args);
    run.ok();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

#[test]
fn probe_prints_the_node_info() {
    let node = TestNode::start("probe-net");
    let peer = node.addr("127.0.0.1");
    let run = mconn(&["probe", &peer, "--network", "probe-net", "--timeout", "30s"]);
    run.ok();
    let rows: Vec<(&str, &str)> = run
        .stdout
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k, v.trim())
        })
        .collect();
    let get = |key: &str| {
        rows.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .unwrap()
    };
    assert_eq!(get("id"), node.id);
    assert_eq!(get("moniker"), "listener-node");
    assert_eq!(get("network"), "probe-net");
    assert_eq!(get("version"), "0.38.25");
    assert_eq!(get("protocol"), "p2p 8, block 11, app 0");
    assert_eq!(get("listen_addr"), "tcp://127.0.0.1:26656");
    assert_eq!(get("channels"), "2000");
    assert_eq!(get("compatible"), "yes (network probe-net)");
    assert!(get("handshake").ends_with(" ms"));
    assert!(get("ping_rtt").ends_with(" ms"), "{}", run.stdout);
}

#[test]
fn probe_json_has_cometbft_shape_and_host_names_resolve() {
    let node = TestNode::start("probe-net");
    let json = probe_json(&[
        "probe",
        &node.addr("localhost"),
        "--network",
        "probe-net",
        "--json",
        "--timeout",
        "30s",
    ]);
    let info = &json["node_info"];
    assert_eq!(info["id"], node.id.as_str());
    assert_eq!(info["network"], "probe-net");
    assert_eq!(info["moniker"], "listener-node");
    assert_eq!(info["channels"], "2000");
    assert_eq!(
        info["protocol_version"],
        serde_json::json!({"p2p": "8", "block": "11", "app": "0"})
    );
    assert_eq!(
        info["other"],
        serde_json::json!({"tx_index": "", "rpc_address": ""})
    );
    let probe = &json["probe"];
    assert_eq!(probe["address"], format!("127.0.0.1:{}", node.port));
    assert_eq!(probe["compatible"], true);
    assert_eq!(probe["network"], "probe-net");
    assert!(probe["handshake_ms"].as_f64().unwrap() > 0.0);
    assert!(probe["tcp_connect_ms"].as_f64().unwrap() > 0.0);
    assert!(probe["ping_rtt_ms"].as_f64().unwrap() > 0.0, "{json}");
}

#[test]
fn probe_shows_a_peer_on_another_network() {
    let node = TestNode::start("their-net");
    let peer = node.addr("127.0.0.1");
    let json = probe_json(&[
        "probe",
        &peer,
        "--network",
        "our-net",
        "--json",
        "--timeout",
        "30s",
    ]);
    assert_eq!(json["node_info"]["network"], "their-net");
    assert_eq!(json["node_info"]["id"], node.id.as_str());
    assert_eq!(json["probe"]["compatible"], false);
    assert_eq!(json["probe"]["reason"], "different network");
    assert_eq!(json["probe"]["ping_rtt_ms"], serde_json::Value::Null);

    let run = mconn(&["probe", &peer, "--network", "our-net", "--timeout", "30s"]);
    assert!(
        run.ok().stdout.contains(
            "compatible:  no: different network (theirs \"their-net\", ours \"our-net\")"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn probe_uses_the_home_network_or_none() {
    let node = TestNode::start("fixture-chain-1");
    let peer = node.addr("127.0.0.1");
    // The CometBFT fixture's genesis chain_id is the network.
    let home = fixture_home();
    let json = probe_json(&[
        "probe",
        &peer,
        "--home",
        s(home.path()),
        "--json",
        "--timeout",
        "30s",
    ]);
    assert_eq!(json["probe"]["compatible"], true);
    assert_eq!(json["probe"]["network"], "fixture-chain-1");
    // No network at all (an empty $HOME): the NodeInfo, compatibility unknown.
    let json = probe_json(&["probe", &peer, "--json", "--timeout", "30s"]);
    assert_eq!(json["node_info"]["network"], "fixture-chain-1");
    assert_eq!(json["probe"]["compatible"], serde_json::Value::Null);
}

#[test]
fn probe_failures_are_one_line_naming_the_peer() {
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let peer = format!("{FIXTURE_ID}@127.0.0.1:{port}");
    let line = mconn(&["probe", &peer, "--network", "n", "--timeout", "30s"])
        .error_line()
        .to_string();
    assert_eq!(
        line,
        format!("error: probe {peer}: cannot connect to 127.0.0.1:{port}: connection refused (is a node listening there?)")
    );

    // A node that is not the one the address names, with and without a network.
    let node = TestNode::start("probe-net");
    let wrong = format!("{FIXTURE_ID}@127.0.0.1:{}", node.port);
    let line = mconn(&[
        "probe",
        &wrong,
        "--network",
        "probe-net",
        "--timeout",
        "30s",
    ])
    .error_line()
    .to_string();
    assert_eq!(
        line,
        format!("error: probe {wrong}: the node there is not {FIXTURE_ID} (check the ID part of the address)")
    );
    let line = mconn(&["probe", &wrong, "--timeout", "30s"])
        .error_line()
        .to_string();
    assert_eq!(
        line,
        format!(
            "error: probe {wrong}: the node there is not {FIXTURE_ID} but {} (check the ID part of the address)",
            node.id
        )
    );
}

#[test]
fn probe_gives_up_on_silent_or_closing_ports() {
    // Connections complete in the kernel's backlog; nobody ever speaks.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = format!("{FIXTURE_ID}@{}", silent.local_addr().unwrap());
    for network in [&["--network", "n"][..], &[]] {
        let mut args = vec!["probe", &peer, "--timeout", "300ms"];
        args.extend_from_slice(network);
        assert_eq!(
            mconn(&args).error_line(),
            format!("error: probe {peer}: timed out after 300ms while in the handshake (raise --timeout)")
        );
    }

    // A server that hangs up on every connection (one per probe attempt).
    let closing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = format!("{FIXTURE_ID}@{}", closing.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            drop(closing.accept().unwrap());
        }
    });
    for network in [&["--network", "n"][..], &[]] {
        let mut args = vec!["probe", &peer, "--timeout", "30s"];
        args.extend_from_slice(network);
        assert_eq!(
            mconn(&args).error_line(),
            format!("error: probe {peer}: the peer closed the connection during the handshake (is this a CometBFT p2p port?)")
        );
    }
    server.join().unwrap();
}
