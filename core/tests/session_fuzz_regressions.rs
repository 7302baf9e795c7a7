//! Session regressions found by the `session` fuzz target (`fuzz/`).

use mconn::conn::{ChannelConfig, Config, GrowBuf};
use mconn::identity::NodeKey;
use mconn::session::{Event, Security, Session, SessionConfig};
use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
use mconn::Instant;

fn info<'a>(id: &'a str, moniker: &'static str) -> NodeInfo<'a> {
    NodeInfo {
        protocol_version: ProtocolVersion::new(8, 11, 0),
        default_node_id: id,
        listen_addr: "tcp://127.0.0.1:26656",
        network: "test-chain",
        channels: &[0x20],
        moniker,
        ..NodeInfo::default()
    }
}

/// `Connected` can come before our own NodeInfo went out (the peer's
/// arrived first); the peer's NodeInfo must be available from then on.
#[test]
fn remote_node_info_is_there_as_soon_as_connected() {
    let channels = [ChannelConfig::new(0x20, 1).recv_message_capacity(1 << 16)];
    let config = SessionConfig::new(Config::cometbft());
    let (ka, kb) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
    let (ida, idb) = (ka.node_id().to_string(), kb.node_id().to_string());
    let now = Instant::ZERO;
    let new = |id, moniker| -> Session<GrowBuf> {
        Session::with_alloc(
            &config,
            &channels,
            &info(id, moniker),
            Security::Plaintext,
            None,
            now,
        )
        .unwrap()
    };
    let (mut a, mut b) = (new(&ida, "a"), new(&idb, "b"));
    let mut wire = vec![0u8; 4096];
    // Only b speaks: a accepts b's NodeInfo before sending its own.
    let n = b.poll_transmit(now, &mut wire);
    assert_eq!(a.handle_input(now, &wire[..n]), Ok(n));
    assert_eq!(a.poll_event(), Some(Event::Connected));
    assert_eq!(a.remote_node_info().map(|i| i.moniker), Some("b"));
    a.try_send(0x20, b"early").unwrap();
    // Once a's NodeInfo went out too, it is still there.
    let n = a.poll_transmit(now, &mut wire);
    assert!(n > 0);
    assert_eq!(a.remote_node_info().map(|i| i.moniker), Some("b"));
}

/// A packet split across SecretConnection frames is staged inside the
/// MConnection; if the receive budget is full when it completes, the
/// MConnection has consumed every plaintext byte yet is stalled. Taking
/// messages and offering input again (even none) must let it go on.
#[test]
fn staged_packet_resumes_after_back_pressure() {
    let channels = [ChannelConfig::new(0x20, 1)
        .send_queue(10)
        .recv_message_capacity(2000)
        .recv_buffer(2004)];
    let config = SessionConfig::new(Config::cometbft());
    let (ka, kb) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
    let (ida, idb) = (ka.node_id().to_string(), kb.node_id().to_string());
    let now = Instant::ZERO;
    let new = |key, eph, id, moniker| -> Session<GrowBuf> {
        Session::with_alloc(
            &config,
            &channels,
            &info(id, moniker),
            Security::Secret {
                key,
                ephemeral: [eph; 32],
            },
            None,
            now,
        )
        .unwrap()
    };
    let (mut a, mut b) = (new(&ka, 3, &ida, "a"), new(&kb, 4, &idb, "b"));
    let mut wire = vec![0u8; 1 << 16];
    for _ in 0..10 {
        let n = a.poll_transmit(now, &mut wire);
        assert_eq!(b.handle_input(now, &wire[..n]), Ok(n));
        let n = b.poll_transmit(now, &mut wire);
        assert_eq!(a.handle_input(now, &wire[..n]), Ok(n));
    }
    assert!(a.is_connected() && b.is_connected());

    // m1 fills b's receive budget; m2's only packet straddles the boundary
    // of two frames (the data starts at a frame boundary: m1's two packets
    // take about 2020 bytes, frames carry 1024).
    let (m1, m2) = (vec![1u8; 2000], vec![2u8; 100]);
    a.try_send(0x20, &m1).unwrap();
    a.try_send(0x20, &m2).unwrap();
    let n = a.poll_transmit(now, &mut wire);
    assert_eq!(n, 3 * 1044);
    // b takes all of it, but m2's packet cannot be stored yet.
    assert_eq!(b.handle_input(now, &wire[..n]), Ok(n));
    assert_eq!(b.poll_message(), Some((0x20, &m1[..])));
    // Offering input again, even none, lets the staged packet go on.
    assert_eq!(b.handle_input(now, &[]), Ok(0));
    assert_eq!(b.poll_message(), Some((0x20, &m2[..])));
}
