//! The composed session (SecretConnection → NodeInfo → MConnection) between
//! two in-memory peers: success paths under fragmentation, and every
//! handshake-level rejection ending in its typed reason.

use core::time::Duration;

use mconn::conn::{ChannelConfig, Config, Error, GrowBuf};
use mconn::handshake::NodeInfoError;
use mconn::identity::{NodeId, NodeKey};
use mconn::session::{CloseReason, Event, Security, Session, SessionConfig};
use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
use mconn::Instant;

type S = Session<GrowBuf>;

const T0: Instant = Instant::ZERO;
const CHANNELS: [u8; 3] = [0x20, 0x21, 0x30];

fn channels() -> Vec<ChannelConfig> {
    vec![
        ChannelConfig::new(0x20, 5)
            .send_queue(10)
            .recv_message_capacity(1 << 20),
        ChannelConfig::new(0x21, 10)
            .send_queue(10)
            .recv_message_capacity(1 << 20),
        ChannelConfig::new(0x30, 1)
            .send_queue(10)
            .recv_message_capacity(1 << 20),
    ]
}

fn key(n: u8) -> NodeKey {
    NodeKey::from_seed([n; 32])
}

fn info<'a>(id: &'a str, channels: &'a [u8]) -> NodeInfo<'a> {
    NodeInfo {
        protocol_version: ProtocolVersion::new(8, 11, 0),
        default_node_id: id,
        listen_addr: "tcp://127.0.0.1:26656",
        network: "test-chain",
        version: "0.38.25",
        channels,
        moniker: "node",
        tx_index: "on",
        rpc_address: "tcp://127.0.0.1:26657",
    }
}

struct Side<'a> {
    key: NodeKey,
    info: NodeInfo<'a>,
    dialed: Option<NodeId>,
}

fn session(side: &Side<'_>, secure: bool, eph: u8) -> S {
    let security = if secure {
        Security::Secret {
            key: &side.key,
            ephemeral: [eph; 32],
        }
    } else {
        Security::Plaintext
    };
    Session::with_alloc(
        &SessionConfig::new(Config::cometbft()),
        &channels(),
        &side.info,
        security,
        side.dialed,
        T0,
    )
    .unwrap()
}

/// Moves bytes both ways in chunks of at most `chunk` through an output
/// buffer of `out` bytes until nothing moves; returns events per side.
fn pump(a: &mut S, b: &mut S, chunk: usize, out: usize) -> (Vec<Event>, Vec<Event>) {
    let mut buf = vec![0u8; out];
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    let mut pending = [Vec::new(), Vec::new()];
    for _ in 0..200_000 {
        let mut moved = false;
        for (i, queue) in pending.iter_mut().enumerate() {
            let (from, to) = if i == 0 {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            let n = from.poll_transmit(T0, &mut buf);
            queue.extend_from_slice(&buf[..n]);
            let take = queue.len().min(chunk);
            if take > 0 {
                if let Ok(used) = to.handle_input(T0, &queue[..take]) {
                    queue.drain(..used);
                    moved |= used > 0;
                } else {
                    queue.clear();
                }
            }
            moved |= n > 0;
        }
        while let Some(e) = a.poll_event() {
            ea.push(e);
        }
        while let Some(e) = b.poll_event() {
            eb.push(e);
        }
        if !moved {
            return (ea, eb);
        }
    }
    panic!("sessions never went quiet");
}

fn ids(a: &NodeKey) -> String {
    a.node_id().to_string()
}

#[test]
fn connects_and_exchanges_under_any_fragmentation() {
    let (ka, kb) = (key(1), key(2));
    let (ia, ib) = (ids(&ka), ids(&kb));
    for secure in [true, false] {
        for (chunk, out) in [
            (1, 4096),
            (7, 100),
            (1044, 1044),
            (65536, 65536),
            (3000, 1500),
        ] {
            let sa = Side {
                key: ka.clone(),
                info: info(&ia, &CHANNELS),
                dialed: Some(kb.node_id()),
            };
            let sb = Side {
                key: kb.clone(),
                info: info(&ib, &CHANNELS),
                dialed: None,
            };
            let (mut a, mut b) = (session(&sa, secure, 3), session(&sb, secure, 4));
            let (ea, eb) = pump(&mut a, &mut b, chunk, out);
            assert_eq!(
                (ea, eb),
                (vec![Event::Connected], vec![Event::Connected]),
                "secure={secure} chunk={chunk}"
            );
            assert_eq!(a.remote_id(), Some(kb.node_id()));
            assert_eq!(b.remote_id(), Some(ka.node_id()));
            assert!(a.is_outbound() && !b.is_outbound());
            assert_eq!(b.remote_node_info().unwrap().default_node_id, ia);
            let big: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
            a.try_send(0x30, &big).unwrap();
            a.try_send(0x21, b"vote").unwrap();
            b.try_send(0x20, b"").unwrap();
            assert_eq!(
                pump(&mut a, &mut b, chunk, out),
                (vec![], vec![]),
                "no close, no other events"
            );
            let mut got_b = Vec::new();
            while let Some((ch, m)) = b.poll_message() {
                got_b.push((ch, m.len(), m == &big[..] || m == b"vote"));
            }
            assert_eq!(
                got_b,
                vec![(0x21, 4, true), (0x30, big.len(), true)],
                "secure={secure} chunk={chunk} out={out}"
            );
            assert_eq!(a.poll_message(), Some((0x20, &b""[..])));
        }
    }
}

fn rejected(a_side: &Side<'_>, b_side: &Side<'_>) -> (Option<CloseReason>, Option<CloseReason>) {
    let (mut a, mut b) = (session(a_side, true, 3), session(b_side, true, 4));
    let (ea, eb) = pump(&mut a, &mut b, 500, 4096);
    let closed = |events: Vec<Event>| {
        events.into_iter().find_map(|e| match e {
            Event::Closed(r) => Some(r),
            _ => None,
        })
    };
    (closed(ea), closed(eb))
}

#[test]
fn rejections_are_typed() {
    let (ka, kb, kc) = (key(1), key(2), key(9));
    let (ia, ib) = (ids(&ka), ids(&kb));
    let good_b = || Side {
        key: kb.clone(),
        info: info(&ib, &CHANNELS),
        dialed: None,
    };
    let a_with = |info: NodeInfo<'static>, dialed| Side {
        key: ka.clone(),
        info,
        dialed,
    };
    let ia: &'static str = Box::leak(ia.into_boxed_str());
    let ni = |e| Some(CloseReason::NodeInfo(e));

    // A dialer that reached another node than it dialed.
    let (a, _) = rejected(&a_with(info(ia, &CHANNELS), Some(kc.node_id())), &good_b());
    assert_eq!(a, ni(NodeInfoError::DialedIdMismatch));

    // Other network / block version / no common channel: both sides refuse.
    let mut other = info(ia, &CHANNELS);
    other.network = "other-chain";
    assert_eq!(
        rejected(&a_with(other, None), &good_b()),
        (
            ni(NodeInfoError::NetworkMismatch),
            ni(NodeInfoError::NetworkMismatch)
        )
    );
    let mut other = info(ia, &CHANNELS);
    other.protocol_version.block = 12;
    assert_eq!(
        rejected(&a_with(other, None), &good_b()).1,
        ni(NodeInfoError::BlockVersionMismatch)
    );
    // p2p and app versions may differ (v0.38 p2p=8 talks to v1 p2p=9).
    let mut v1 = info(ia, &CHANNELS);
    v1.protocol_version = ProtocolVersion::new(9, 11, 3);
    assert_eq!(rejected(&a_with(v1, None), &good_b()), (None, None));
    let (_, b) = rejected(&a_with(info(ia, &[0x60]), None), &good_b());
    assert_eq!(b, ni(NodeInfoError::NoCommonChannel));

    // Invalid NodeInfos.
    let mut bad = info(ia, &CHANNELS);
    bad.moniker = "";
    assert_eq!(
        rejected(&a_with(bad, None), &good_b()).1,
        ni(NodeInfoError::InvalidMoniker)
    );
    let many: &'static [u8] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0x20];
    assert_eq!(
        rejected(&a_with(info(ia, many), None), &good_b()).1,
        ni(NodeInfoError::TooManyChannels)
    );
    let mut bad = info(ia, &CHANNELS);
    bad.listen_addr = "tcp://127.0.0.1";
    assert_eq!(
        rejected(&a_with(bad, None), &good_b()).1,
        ni(NodeInfoError::InvalidListenAddr)
    );
    // A NodeInfo claiming another node's ID than its key.
    let ic: &'static str = Box::leak(ids(&kc).into_boxed_str());
    assert_eq!(
        rejected(&a_with(info(ic, &CHANNELS), None), &good_b()).1,
        ni(NodeInfoError::IdMismatch)
    );

    // Self-connection: both ends hold our key.
    let self_b = Side {
        key: ka.clone(),
        info: info(ia, &CHANNELS),
        dialed: None,
    };
    assert_eq!(
        rejected(&a_with(info(ia, &CHANNELS), None), &self_b).0,
        ni(NodeInfoError::SelfConnection)
    );
}

#[test]
fn oversize_node_info_is_refused_before_its_body() {
    let kb = key(2);
    let ib = ids(&kb);
    let ka = key(1);
    let ia = ids(&ka);
    let sb = Side {
        key: kb.clone(),
        info: info(&ib, &CHANNELS),
        dialed: None,
    };
    let mut b = session(&sb, false, 0);
    // Plaintext: the peer announces a 10241-byte NodeInfo.
    assert_eq!(b.handle_input(T0, &[0x81, 0x50]), Ok(2));
    assert_eq!(
        b.poll_event(),
        Some(Event::Closed(CloseReason::NodeInfo(
            NodeInfoError::TooLarge
        )))
    );
    let _ = ia;
}

#[test]
fn stalled_peers_hit_the_deadlines() {
    let ka = key(1);
    let ia = ids(&ka);
    let sa = Side {
        key: ka,
        info: info(&ia, &CHANNELS),
        dialed: None,
    };
    // Silent during the SecretConnection handshake.
    let mut a = session(&sa, true, 3);
    let mut buf = [0u8; 2048];
    assert_eq!(a.poll_transmit(T0, &mut buf), 35);
    assert_eq!(a.poll_timeout(), Some(T0 + Duration::from_secs(3)));
    a.handle_timeout(T0 + Duration::from_millis(2999));
    assert!(!a.is_closed());
    a.handle_timeout(T0 + Duration::from_secs(3));
    assert_eq!(
        a.poll_event(),
        Some(Event::Closed(CloseReason::HandshakeTimeout))
    );
    // Silent during the NodeInfo exchange (plaintext starts there).
    let mut a = session(&sa, false, 0);
    assert!(a.poll_transmit(T0, &mut buf) > 0);
    assert_eq!(a.handle_input(T0, &[0x05, 0x0a]), Ok(2)); // half a NodeInfo
    a.handle_timeout(T0 + Duration::from_secs(3));
    assert_eq!(
        a.poll_event(),
        Some(Event::Closed(CloseReason::NodeInfoTimeout))
    );
}

#[test]
fn sends_are_refused_until_connected_and_for_channels_the_peer_lacks() {
    let (ka, kb) = (key(1), key(2));
    let (ia, ib) = (ids(&ka), ids(&kb));
    let sa = Side {
        key: ka,
        info: info(&ia, &CHANNELS),
        dialed: None,
    };
    let sb = Side {
        key: kb,
        info: info(&ib, &[0x20]),
        dialed: None,
    };
    let (mut a, mut b) = (session(&sa, true, 3), session(&sb, true, 4));
    assert_eq!(a.try_send(0x20, b"x"), Err(Error::NotConnected));
    pump(&mut a, &mut b, 4096, 4096);
    assert!(a.is_connected());
    assert_eq!(a.try_send(0x20, b"x"), Ok(()));
    assert_eq!(a.try_send(0x21, b"x"), Err(Error::PeerLacksChannel));
    a.close();
    let (ea, _) = pump(&mut a, &mut b, 4096, 4096);
    assert_eq!(
        ea,
        vec![Event::Closed(CloseReason::Conn(
            mconn::conn::CloseReason::Closed
        ))]
    );
    assert_eq!(b.poll_message(), Some((0x20, &b"x"[..])));
    assert_eq!(a.try_send(0x20, b"x"), Err(Error::Closed));
}

#[test]
fn tampered_ciphertext_closes_with_the_secret_error() {
    let (ka, kb) = (key(1), key(2));
    let (ia, ib) = (ids(&ka), ids(&kb));
    let sa = Side {
        key: ka,
        info: info(&ia, &CHANNELS),
        dialed: None,
    };
    let sb = Side {
        key: kb,
        info: info(&ib, &CHANNELS),
        dialed: None,
    };
    let (mut a, mut b) = (session(&sa, true, 3), session(&sb, true, 4));
    pump(&mut a, &mut b, 4096, 4096);
    a.try_send(0x20, b"payload").unwrap();
    let mut buf = [0u8; 4096];
    let n = a.poll_transmit(T0, &mut buf);
    buf[n / 2] ^= 1;
    b.handle_input(T0, &buf[..n]).unwrap();
    assert_eq!(
        b.poll_event(),
        Some(Event::Closed(CloseReason::Secret(
            mconn::secret::SecretError::FrameAuthFailed
        )))
    );
}
