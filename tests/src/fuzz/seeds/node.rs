//! Seeds of the node-layer targets: switch policy and routes scripts,
//! address book scripts, real `addrbook.json` and `config.toml` files,
//! and PEX reactor conversations.

use mconn::identity::NetAddr;
use mconn::pex::{AddrBook, BookConfig, UnixTime};
use mconn_node::config::Config;

use super::Seed;
use crate::fuzz::Rng;

/// Every node-layer seed.
pub(super) fn seeds(out: &mut Vec<Seed>) {
    switch_policy(out);
    addrbook(out);
    addrbook_json(out);
    config_toml(out);
    super::super::pex_reactor::seeds(out);
}

/// `switch_policy` scripts (see `switch::Harness::op` for the op codes).
fn switch_policy(out: &mut Vec<Seed>) {
    const ACCEPT: u8 = 0;
    const DIAL: u8 = 1;
    const DONE: u8 = 2;
    const FAIL: u8 = 3;
    const CLOSE: u8 = 4;
    const REPORT: u8 = 5;
    const STOP_PEER: u8 = 6;
    const ADVANCE: u8 = 7;
    const PERSIST: u8 = 8;
    const STOP: u8 = 9;
    const TIMER: u8 = 10;
    const DISCONNECT: u8 = 11;
    // [mode][flags][limits][caps][persistent]: inbound 2, outbound 2,
    // 4 handshakes, allowance 1; 2 per IP, 8 connections; ID 1
    // unconditional, persistent IDs 2 and 3, cooldown 20 s.
    let setups: [(&str, [u8; 5]); 3] = [
        ("fast-backoff", [1, 0x10, 122, 59, 73]),
        ("dup-ip-filters", [2, 0x07, 122, 0xff, 0x4b]),
        ("tiny-one-cooldown", [3, 0x28, 0x15, 0x09, 0x47]),
    ];
    let script: &[&[u8]] = &[
        &[ADVANCE, 40], // persistent dials fire
        &[DONE, 0, 0, 0],
        &[DONE, 0, 0, 2],
        &[ACCEPT, 2],
        &[ACCEPT, 0x83],
        &[DONE, 1, 4, 2],
        &[DONE, 0, 5, 4],
        &[DIAL, 5, 4],
        &[DIAL, 6, 5],
        &[REPORT, 4, 1],
        &[REPORT, 2, 3],
        &[REPORT, 1, 0],
        &[STOP_PEER, 1],
        &[DISCONNECT],
        &[FAIL, 0, 0],
        &[ADVANCE, 130],
        &[DONE, 0, 0, 0],
        &[ACCEPT, 4],
        &[DONE, 0, 4, 0],
        &[PERSIST, 5, 0x23],
        &[TIMER],
        &[ADVANCE, 100],
        &[CLOSE, 0, 0],
        &[CLOSE, 1, 0x81],
        &[ADVANCE, 200],
        &[DONE, 0, 6, 1],
        &[STOP],
        &[DONE, 0, 3, 0],
        &[DISCONNECT],
    ];
    for (name, setup) in setups {
        let mut data = setup.to_vec();
        script.iter().for_each(|op| data.extend_from_slice(op));
        out.push(("switch_policy", format!("seed-{name}"), data));
    }
    // Routes: [0x80] then add_reactor / admit / release ops.
    let mut data = vec![0x80];
    data.extend_from_slice(&[0, 2, 0x20, 0x41, 2, 0x64, 0]); // two channels, 2 msgs, 100 B
    data.extend_from_slice(&[0, 1, 0x82, 0, 0xff, 0]); // drop policy, 0 messages
    data.extend_from_slice(&[0, 2, 0x20, 0x23, 1, 0x10, 0]); // channel 0x20 taken
    data.extend_from_slice(&[0, 3, 0x05, 0x05, 0x06, 3, 0, 1]); // listed twice
    for (ch, len) in [
        (0x08u8, 60u8),
        (0x08, 50),
        (0x01, 40),
        (0x01, 1),
        (0x02, 200),
    ] {
        data.extend_from_slice(&[1, ch, len, 0]);
        data.extend_from_slice(&[2, ch, len, 0]);
    }
    data.extend_from_slice(&[3, 0, 0, 3, 1, 1, 1, 0x08, 10, 0]);
    data.extend_from_slice(&[4, 7, 1, 0, 1, 0x30, 0xff, 0xff]);
    out.push(("switch_policy", "seed-routes".into(), data));
}

/// `addrbook` scripts (see `addrbook::Harness::op` for the op codes).
fn addrbook(out: &mut Vec<Seed>) {
    const ADD: u8 = 0;
    const GOOD: u8 = 3;
    const ATTEMPT: u8 = 4;
    const BAD: u8 = 5;
    const REINSTATE: u8 = 6;
    const REMOVE: u8 = 7;
    const PRUNE: u8 = 8;
    const TICK: u8 = 9;
    const SELECT: u8 = 10;
    const PICK: u8 = 11;
    const OURS: u8 = 12;
    const PRIVATE: u8 = 13;
    const STRICT: u8 = 14;
    const ROUND_TRIP: u8 = 15;
    // [sizes][spread][limits][times][rng]: 3×3 new, 2×2 old buckets.
    for (name, setup) in [
        ("strict", [175u8, 58, 115, 0x45, 1]),
        ("lax", [175, 58, 0x53, 0x15, 2]),
        ("cometbft-sized", [0xff, 0xff, 0x3f, 0x2a, 3]),
    ] {
        let mut data = setup.to_vec();
        // Public IPv4 in a few /24s, then every other class.
        for i in 0..24u8 {
            data.extend_from_slice(&[ADD, i, i % 2, i, 40 + i % 3, 0, i / 3]);
        }
        for class in 2..22u8 {
            data.extend_from_slice(&[ADD, 24 + class, class, class * 7, 41, 1, 9]);
        }
        data.extend_from_slice(&[GOOD, 1, GOOD, 3, ATTEMPT, 5, ATTEMPT, 5, ATTEMPT, 5]);
        data.extend_from_slice(&[BAD, 7, 2, BAD, 9, 255, TICK, 60, REINSTATE]);
        data.extend_from_slice(&[SELECT, 30, PICK, 0, PICK, 100, PICK, 50, ROUND_TRIP]);
        data.extend_from_slice(&[OURS, 11, 0, 11, PRIVATE, 13, REMOVE, 15]);
        data.extend_from_slice(&[TICK, 127, TICK, 127, PRUNE, STRICT, 0]);
        data.extend_from_slice(&[ADD, 30, 6, 1, 31, 2, 2, ROUND_TRIP, 16, 5]);
        out.push(("addrbook", format!("seed-{name}"), data));
    }
}

fn addr(s: &str) -> NetAddr {
    s.parse().expect("valid address")
}

/// Real `addrbook.json` files: CometBFT's, and ours for a busy book.
fn addrbook_json(out: &mut Vec<Seed>) {
    let go = include_str!("../../../../core/tests/data/addrbook_go.json");
    out.push(("addrbook_json", "seed-go".into(), go.as_bytes().to_vec()));
    let mut rng = Rng::new(7);
    let mut book = AddrBook::new(BookConfig::default(), &mut rng);
    let now = UnixTime::from_secs(1_748_736_000);
    let src = addr("24f6ed6acbfe1009c030d7ca567c33ca48309114@5.6.7.8:26656");
    let ips = [
        "1.2.3.4",
        "[2a01:4f8:1:2::3]",
        "9.9.9.9",
        "80.1.2.3",
        "[2001:470:1::1]",
    ];
    for (i, ip) in ips.iter().enumerate() {
        let a = addr(&format!("{:040x}@{ip}:{}", i + 1, 26656 + i));
        let _ = book.add_address(now, a, src, &mut rng);
    }
    let first = addr("0000000000000000000000000000000000000001@1.2.3.4:26656");
    book.mark_attempt(now, &first.id);
    book.mark_good(now, &first.id);
    let third = addr("0000000000000000000000000000000000000003@9.9.9.9:26658");
    book.mark_bad(now, &third.id, core::time::Duration::from_secs(86_400));
    out.push((
        "addrbook_json",
        "seed-ours".into(),
        book.to_json().into_bytes(),
    ));
    out.push((
        "addrbook_json",
        "seed-empty".into(),
        b"{\"key\":\"000000000000000000000000\",\"addrs\":null}".to_vec(),
    ));
}

/// Real `config.toml` files: CometBFT's as `cometbft init` writes it, and
/// ours with defaults and with every value set.
fn config_toml(out: &mut Vec<Seed>) {
    let cometbft = include_str!("../../../../node/tests/data/cometbft_home/config/config.toml");
    out.push((
        "config_toml",
        "seed-cometbft".into(),
        cometbft.as_bytes().to_vec(),
    ));
    let mut config = Config {
        moniker: "seed-node".into(),
        ..Config::default()
    };
    out.push((
        "config_toml",
        "seed-defaults".into(),
        config.to_toml().into_bytes(),
    ));
    let id = "56475aa75463474c0285df5dbf2bcab73da65135";
    config.mconn.network = Some("chain-7".into());
    let p = &mut config.p2p;
    p.laddr = "tcp://[::1]:36656".parse().expect("address");
    p.external_address = Some("tcp://203.0.113.5:26656".parse().expect("address"));
    p.seeds = vec![format!("{id}@seed.example.com:26656")
        .parse()
        .expect("seed")];
    p.persistent_peers = vec![format!("{id}@10.0.0.1:1").parse().expect("peer")];
    p.unconditional_peer_ids = vec![id.parse().expect("id")];
    p.private_peer_ids = vec![id.parse().expect("id")];
    p.max_num_inbound_peers = 7;
    p.seed_mode = true;
    p.addr_book_strict = false;
    p.handshake_timeout = core::time::Duration::from_millis(1500);
    p.persistent_peers_max_dial_period = core::time::Duration::from_secs(3600);
    p.max_packet_msg_payload_size = 4096;
    out.push((
        "config_toml",
        "seed-everything".into(),
        config.to_toml().into_bytes(),
    ));
    let weak = "moniker = 7\n[P2P]\nMAX_NUM_INBOUND_PEERS = \"40\"\npex = 1\n\
                dial_timeout = 3000000000\nseeds = \"\"\n[mconn]\nnetwork = \"x\"\n";
    out.push((
        "config_toml",
        "seed-weak-types".into(),
        weak.as_bytes().to_vec(),
    ));
}
