//! Parsing tests: CometBFT files as is, weak typing, and every error with
//! its line and key.

use std::time::Duration;

use super::*;

const ID: &str = "56475aa75463474c0285df5dbf2bcab73da65135";
const ID2: &str = "24f6ed6acbfe1009c030d7ca567c33ca48309114";

fn err(text: &str) -> ConfigError {
    Config::from_toml(text).unwrap_err()
}

#[test]
fn empty_file_is_all_defaults() {
    let c = Config::from_toml("").unwrap();
    assert_eq!(c.p2p, P2pConfig::default());
    assert_eq!(c.node_key_file, PathBuf::from("config/node_key.json"));
    assert_eq!(c.mconn.network, None);
}

#[test]
fn reads_p2p_values_and_ignores_other_sections() {
    let text = format!(
        r#"
version = "0.38.25"
proxy_app = "kvstore"
moniker = "validator-1"
node_key_file = "/etc/node/key.json"
genesis_file = "config/genesis.json"
log_level = "info"

[rpc]
laddr = "tcp://127.0.0.1:26657"
cors_allowed_origins = []

[p2p]
laddr = "tcp://127.0.0.1:36656"
external_address = "203.0.113.7:26656"
seeds = "{ID}@seed-1.example.com:26656, {ID2}@[2001:db8::1]:26656"
persistent_peers = "  {ID2}@10.0.0.2:26656  "
unconditional_peer_ids = "{ID},{ID2}"
private_peer_ids = ""
max_num_inbound_peers = 100
max_num_outbound_peers = 0
pex = false
seed_mode = true
addr_book_file = "data/book.json"
addr_book_strict = false
allow_duplicate_ip = true
handshake_timeout = "1m30s"
dial_timeout = "500ms"
send_rate = 0
recv_rate = 1024000
persistent_peers_max_dial_period = "10s"
flush_throttle_timeout = "10ms"
max_packet_msg_payload_size = 2048
test_dial_fail = false

[p2p.test_fuzz_config]
Mode = 0

[mempool]
size = 5000

[consensus]
timeout_commit = "1s"
"#
    );
    let c = Config::from_toml(&text).unwrap();
    assert_eq!(c.moniker, "validator-1");
    assert_eq!(c.node_key_file, PathBuf::from("/etc/node/key.json"));
    let p = &c.p2p;
    assert_eq!(p.laddr.to_string(), "tcp://127.0.0.1:36656");
    assert_eq!(
        p.external_address
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("tcp://203.0.113.7:26656")
    );
    assert_eq!(p.seeds.len(), 2);
    assert_eq!(p.seeds[0].host, "seed-1.example.com");
    assert_eq!(p.seeds[1].host, "2001:db8::1");
    assert_eq!(
        p.persistent_peers[0].to_string(),
        format!("{ID2}@10.0.0.2:26656")
    );
    assert_eq!(join_list(&p.unconditional_peer_ids), format!("{ID},{ID2}"));
    assert!(p.private_peer_ids.is_empty());
    assert_eq!(
        (p.max_num_inbound_peers, p.max_num_outbound_peers),
        (100, 0)
    );
    assert!(!p.pex && p.seed_mode && !p.addr_book_strict && p.allow_duplicate_ip);
    assert_eq!(p.addr_book_file, PathBuf::from("data/book.json"));
    assert_eq!(p.handshake_timeout, Duration::from_secs(90));
    assert_eq!(p.dial_timeout, Duration::from_millis(500));
    assert_eq!((p.send_rate, p.recv_rate), (0, 1_024_000));
    assert_eq!(p.persistent_peers_max_dial_period, Duration::from_secs(10));
    assert_eq!(p.flush_throttle_timeout, Duration::from_millis(10));
    assert_eq!(p.max_packet_msg_payload_size, 2048);
}

#[test]
fn weak_typing_and_case_insensitive_keys_like_viper() {
    let c = Config::from_toml(
        r#"
Moniker = 42
[P2P]
MAX_NUM_INBOUND_PEERS = "7"
pex = "false"
seed_mode = 1
dial_timeout = 2000000000
max_packet_msg_payload_size = 0x400
"#,
    )
    .unwrap();
    assert_eq!(c.moniker, "42");
    assert_eq!(c.p2p.max_num_inbound_peers, 7);
    assert!(!c.p2p.pex && c.p2p.seed_mode);
    assert_eq!(c.p2p.dial_timeout, Duration::from_secs(2));
    assert_eq!(c.p2p.max_packet_msg_payload_size, 1024);
}

#[test]
fn mconn_section() {
    let c = Config::from_toml("[mconn]\nnetwork = \"chain-1\"\n").unwrap();
    assert_eq!(c.mconn.network.as_deref(), Some("chain-1"));
    let e = err("[mconn]\nnetwork = \"chain-1\"\nnetwrok = \"x\"\n");
    assert_eq!((e.line, e.key.as_str()), (Some(3), "mconn.netwrok"));
    assert_eq!(e.problem, Problem::UnknownKey("network"));
    let e = err("[mconn]\nnetwork = \"  \"\n");
    assert_eq!(
        e.to_string(),
        "line 2: mconn.network: \"  \" must be printable ASCII and not blank"
    );
}

#[test]
fn errors_name_line_and_key() {
    let e = err("moniker = \"a\"\n[p2p]\nhandshake_timeout = \"20\"\n");
    assert_eq!(e.line, Some(3));
    assert_eq!(e.key, "p2p.handshake_timeout");
    assert!(matches!(
        e.problem,
        Problem::Duration(DurationError::MissingUnit(_))
    ));
    assert_eq!(
        e.to_string(),
        "line 3: p2p.handshake_timeout: missing unit in duration \"20\" (one of ns, us, ms, s, m, h)"
    );

    let e = err("[p2p]\n\n\nseeds = \"abc@1.2.3.4:1\"\n");
    assert_eq!((e.line, e.key.as_str()), (Some(4), "p2p.seeds"));
    assert_eq!(
        e.to_string(),
        "line 4: p2p.seeds: entry \"abc@1.2.3.4:1\": invalid ID in peer address: node ID must be 40 hex characters"
    );

    let e = err("[p2p]\nmax_num_inbound_peers = -1\n");
    assert_eq!(
        e.to_string(),
        "line 2: p2p.max_num_inbound_peers: -1 is out of range (0..=4294967295)"
    );
    let e = err("[p2p]\nmax_packet_msg_payload_size = 10240\n");
    assert_eq!(
        e.problem,
        Problem::Range {
            value: "10240".into(),
            min: 1,
            max: 4096
        }
    );
    let e = err("[p2p]\npex = \"maybe\"\n");
    assert_eq!(
        e.problem,
        Problem::Type {
            expected: "a boolean",
            found: "a string"
        }
    );
    let e = err("[p2p]\nladdr = \"unix:///tmp/node.sock\"\n");
    assert_eq!(
        e.to_string(),
        "line 2: p2p.laddr: \"unix:///tmp/node.sock\": only tcp:// addresses are supported"
    );
    let e = err("[p2p]\nexternal_address = \"no-port\"\n");
    assert_eq!(e.key, "p2p.external_address");
    let e = err("[p2p]\nunconditional_peer_ids = \"xyz\"\n");
    assert_eq!(e.key, "p2p.unconditional_peer_ids");
    let e = err("p2p = 5\n");
    assert_eq!(
        e.problem,
        Problem::Type {
            expected: "a table",
            found: "an integer"
        }
    );
    let e = err("moniker = \"caf\u{e9}\"\n");
    assert!(matches!(e.problem, Problem::Text(_)));
    let e = err("node_key_file = \"\"\n");
    assert_eq!(e.problem, Problem::Empty);
    let e = err("[p2p]\ndial_timeout = [1]\n");
    assert_eq!(
        e.problem,
        Problem::Type {
            expected: "a duration string",
            found: "an array"
        }
    );
}

#[test]
fn syntax_errors_have_a_line() {
    let e = err("moniker = \"a\"\n[p2p\nladdr = 1\n");
    assert_eq!(e.line, Some(2));
    assert!(e.key.is_empty());
    assert!(matches!(e.problem, Problem::Syntax(_)));
    assert!(e.to_string().starts_with("line 2: invalid TOML: "), "{e}");
    assert!(!e.to_string().contains('\n'));
    let e = err("[p2p]\npex = true\npex = false\n");
    assert_eq!(e.line, Some(3));
}
