//! The AEAD implementations interoperate: two sessions whose configs pick
//! different [`AeadKind`]s (every pair compiled in) complete the handshake
//! and carry messages of every size both ways.

extern crate std;

use super::AeadKind;
use crate::conn::{ChannelConfig, Config, GrowBuf};
use crate::identity::NodeKey;
use crate::session::{Event, Security, Session, SessionConfig};
use crate::wire::node_info::{NodeInfo, ProtocolVersion};
use crate::Instant;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

const CH: u8 = 0x20;
const SIZES: [usize; 8] = [0, 1, 1023, 1024, 1025, 5000, 65_535, 65_536];

type S = Session<GrowBuf>;

fn session(key: &NodeKey, id: &str, eph: u8, kind: AeadKind, dialed: Option<&NodeKey>) -> S {
    let mut config = SessionConfig::new(Config::cometbft());
    config.aead = kind;
    let info = NodeInfo {
        protocol_version: ProtocolVersion::new(8, 11, 0),
        default_node_id: id,
        listen_addr: "tcp://127.0.0.1:26656",
        network: "aead-test",
        channels: &[CH],
        moniker: "node",
        ..NodeInfo::default()
    };
    let channels = [ChannelConfig::new(CH, 1).recv_message_capacity(1 << 16)];
    Session::with_alloc(
        &config,
        &channels,
        &info,
        Security::Secret {
            key,
            ephemeral: [eph; 32],
        },
        dialed.map(NodeKey::node_id),
        Instant::ZERO,
    )
    .unwrap()
}

/// Moves `tx`'s pending bytes into `rx`, taking every message `rx` then
/// has (so back-pressure clears). Returns whether any byte moved.
fn transfer(tx: &mut S, rx: &mut S, got: &mut Vec<Vec<u8>>, wire: &mut [u8]) -> bool {
    let n = tx.poll_transmit(Instant::ZERO, wire);
    let mut off = 0;
    for _ in 0..n + 2 {
        off += rx.handle_input(Instant::ZERO, &wire[off..n]).unwrap();
        while let Some((ch, msg)) = rx.poll_message() {
            assert_eq!(ch, CH);
            got.push(msg.to_vec());
        }
        if off == n {
            break;
        }
    }
    assert_eq!(off, n, "input stalled");
    n > 0
}

/// Moves bytes both ways until nothing moves (bounded).
fn pump(a: &mut S, b: &mut S, got_a: &mut Vec<Vec<u8>>, got_b: &mut Vec<Vec<u8>>) {
    let mut wire = vec![0u8; 8192];
    for _ in 0..10_000 {
        let ab = transfer(a, b, got_b, &mut wire);
        let ba = transfer(b, a, got_a, &mut wire);
        if !ab && !ba {
            return;
        }
    }
    panic!("traffic never settled");
}

fn message(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn exchange(kind_a: AeadKind, kind_b: AeadKind) {
    let (ka, kb) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
    let (ida, idb): (String, String) = (ka.node_id().to_string(), kb.node_id().to_string());
    let mut a = session(&ka, &ida, 3, kind_a, Some(&kb));
    let mut b = session(&kb, &idb, 4, kind_b, None);
    assert_eq!(a.aead_kind(), Some(kind_a));
    assert_eq!(b.aead_kind(), Some(kind_b));
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    pump(&mut a, &mut b, &mut got_a, &mut got_b);
    let pair = (kind_a, kind_b);
    assert_eq!(a.poll_event(), Some(Event::Connected), "{pair:?}");
    assert_eq!(b.poll_event(), Some(Event::Connected), "{pair:?}");
    assert_eq!(b.remote_id(), Some(ka.node_id()));
    for (k, &len) in SIZES.iter().enumerate() {
        let (to_b, to_a) = (message(len, k as u8), message(len, 0x80 | k as u8));
        a.try_send(CH, &to_b).unwrap();
        b.try_send(CH, &to_a).unwrap();
        pump(&mut a, &mut b, &mut got_a, &mut got_b);
        assert_eq!(got_b, [to_b], "a -> b, {len} bytes, {pair:?}");
        assert_eq!(got_a, [to_a], "b -> a, {len} bytes, {pair:?}");
        got_a.clear();
        got_b.clear();
    }
    assert!(a.is_connected() && b.is_connected());
    assert!(a.stats().bytes_sent > 2 * 65_536 && b.stats().bytes_sent > 2 * 65_536);
}

#[test]
fn every_pair_of_kinds_interoperates_through_a_session() {
    for &kind_a in AeadKind::AVAILABLE {
        for &kind_b in AeadKind::AVAILABLE {
            exchange(kind_a, kind_b);
        }
    }
}

/// With ring compiled in, the mixed pair really runs two implementations.
#[cfg(feature = "ring")]
#[test]
fn ring_and_rustcrypto_are_both_available() {
    assert_eq!(
        AeadKind::AVAILABLE,
        &[AeadKind::Ring, AeadKind::RustCrypto][..]
    );
}
