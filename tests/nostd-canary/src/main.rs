//! No-std canary: runs a full session (SecretConnection handshake, NodeInfo
//! exchange, MConnection traffic) between two in-memory peers with no
//! allocator, no std and no runtime. If anything in the core pulls in `std`
//! or `alloc`, this fails to build (there is no global allocator to link).
//! On the emulated Cortex-M4 it exits 0 only if every message arrived
//! intact, and prints one peer's state size and the peak stack.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use mconn::conn::{Arena, Config, FixedBuf};
use mconn::identity::NodeKey;
use mconn::session::{Event, Security, Session, SessionConfig};
use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
use mconn::Instant;
use mconn_nostd_canary::{pump, received_both, CHANNELS};

const STORAGE: usize = 4 * 2048 + 512 + 10240;

fn info(id: &str) -> NodeInfo<'_> {
    NodeInfo {
        protocol_version: ProtocolVersion::new(8, 11, 0),
        default_node_id: id,
        listen_addr: "tcp://10.0.0.1:26656",
        network: "canary",
        channels: &[0x20, 0x30],
        moniker: "canary",
        ..NodeInfo::default()
    }
}

type S<'a> = Session<FixedBuf<'a>>;

fn exchange() -> Option<usize> {
    let now = Instant::ZERO;
    let config = SessionConfig::new(Config::cometbft());
    let (key_a, key_b) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
    let (mut hex_a, mut hex_b) = ([0u8; 40], [0u8; 40]);
    let id_a = key_a.node_id().write_hex(&mut hex_a);
    let id_b = key_b.node_id().write_hex(&mut hex_b);
    let (mut storage_a, mut storage_b) = ([0u8; STORAGE], [0u8; STORAGE]);
    let (mut arena_a, mut arena_b) = (Arena::new(&mut storage_a), Arena::new(&mut storage_b));
    let secure_a = Security::Secret {
        key: &key_a,
        ephemeral: [3; 32],
    };
    let secure_b = Security::Secret {
        key: &key_b,
        ephemeral: [4; 32],
    };
    let mut a = Session::new(
        &config,
        &CHANNELS,
        &info(id_a),
        secure_a,
        Some(key_b.node_id()),
        now,
        |n| arena_a.take(n),
    )
    .ok()?;
    let mut b = Session::new(&config, &CHANNELS, &info(id_b), secure_b, None, now, |n| {
        arena_b.take(n)
    })
    .ok()?;
    pump(&mut a, &mut b, now)?;
    if a.poll_event() != Some(Event::Connected) || b.poll_event() != Some(Event::Connected) {
        return None;
    }
    a.try_send(0x30, &[7u8; 300]).ok()?;
    a.try_send(0x20, b"urgent").ok()?;
    pump(&mut a, &mut b, now)?;
    received_both(&mut b)
}

#[entry]
fn main() -> ! {
    mconn_nostd_canary::paint_stack();
    let ok = core::hint::black_box(exchange()).is_some();
    // One peer: its session and the storage its buffers are carved from.
    let state = core::mem::size_of::<S<'static>>() + STORAGE;
    mconn_nostd_canary::finish("session", ok, state)
}
