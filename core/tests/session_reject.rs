//! A session that refuses the peer's NodeInfo still finishes sending its
//! own, so the peer refuses with its own reason instead of seeing the
//! socket close mid-handshake. CometBFT's transport always writes its whole
//! NodeInfo before checking the peer's; found by the Go interop suite
//! (`tests/tests/interop_go`, scenario "reject"), where a Go node logged
//! "handshake failed: EOF" instead of "peer is on a different network".

use mconn::conn::{ChannelConfig, Config};
use mconn::handshake::NodeInfoError;
use mconn::identity::NodeKey;
use mconn::session::{CloseReason, Event, Security, Session, SessionConfig};
use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
use mconn::Instant;

fn info<'a>(id: &'a str, network: &'a str) -> NodeInfo<'a> {
    NodeInfo {
        protocol_version: ProtocolVersion::new(8, 11, 0),
        default_node_id: id,
        listen_addr: "tcp://127.0.0.1:26656",
        network,
        channels: &[0x20],
        moniker: "node",
        ..NodeInfo::default()
    }
}

fn closed(s: &mut S) -> Option<CloseReason> {
    let mut reason = None;
    while let Some(e) = s.poll_event() {
        if let Event::Closed(r) = e {
            reason = Some(r);
        }
    }
    reason
}

type S = Session<mconn::conn::GrowBuf>;

/// Everything `from` writes goes to `to` in one piece.
fn hand_over(from: &mut S, to: &mut S, from_reason: &mut Option<CloseReason>, wire: &mut [u8]) {
    let now = Instant::ZERO;
    let mut input = Vec::new();
    loop {
        let n = from.poll_transmit(now, wire);
        if n == 0 {
            break;
        }
        input.extend_from_slice(&wire[..n]);
    }
    if let Some(r) = closed(from) {
        *from_reason = Some(r);
    }
    if !to.is_closed() {
        to.handle_input(now, &input).unwrap();
    }
}

fn run(secure: bool) {
    let channels = [ChannelConfig::new(0x20, 1).recv_message_capacity(1 << 16)];
    let (ka, kb) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
    let (ida, idb) = (ka.node_id().to_string(), kb.node_id().to_string());
    let config = SessionConfig::new(Config::cometbft());
    let now = Instant::ZERO;
    let security = |key, ephemeral| {
        if secure {
            Security::Secret { key, ephemeral }
        } else {
            Security::Plaintext
        }
    };
    let mut a = Session::with_alloc(
        &config,
        &channels,
        &info(&ida, "chain-a"),
        security(&ka, [7; 32]),
        None,
        now,
    )
    .unwrap();
    let mut b = Session::with_alloc(
        &config,
        &channels,
        &info(&idb, "chain-b"),
        security(&kb, [8; 32]),
        None,
        now,
    )
    .unwrap();
    let mut wire = vec![0u8; 1 << 16];

    // Strict turns: each side reads all the other wrote before writing
    // again, so one side gets the other's handshake end and NodeInfo in
    // one piece and refuses before it wrote its own NodeInfo; it must still
    // write it, or the other side only ever sees the stream end.
    let (mut a_reason, mut b_reason) = (None, None);
    for _ in 0..8 {
        hand_over(&mut b, &mut a, &mut b_reason, &mut wire);
        hand_over(&mut a, &mut b, &mut a_reason, &mut wire);
    }
    let want = Some(CloseReason::NodeInfo(NodeInfoError::NetworkMismatch));
    assert_eq!(
        (a_reason, b_reason),
        (want, want),
        "both refuse with their own reason"
    );
}

#[test]
fn refusing_side_still_sends_its_node_info_encrypted() {
    run(true);
}

#[test]
fn refusing_side_still_sends_its_node_info_plaintext() {
    run(false);
}
