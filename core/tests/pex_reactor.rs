//! The PEX reactor's rules (`mconn::pex::PexMachine`, spec §6) with a fake
//! switch view and simulated time.

mod common;
use common::Rng;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use mconn::identity::{NetAddr, NodeId};
use mconn::pex::{
    AddrBook, BookConfig, BucketKind, PexAction, PexConfig, PexMachine, PexPeer, PexView, Received,
    RequestLimiter, UnixTime,
};
use mconn::switch::{Misbehaviour, Refusal};
use mconn::wire::pex::{self as wire, NetAddress, PexMessage};
use mconn::Instant;
use proptest::prelude::*;

#[path = "pex_reactor/ensure.rs"]
mod ensure;
#[path = "pex_reactor/messages.rs"]
mod messages;
#[path = "pex_reactor/seed.rs"]
mod seed;

/// The switch as PEX sees it.
#[derive(Default)]
struct View {
    max_out: usize,
    out: usize,
    dialing: usize,
    busy: BTreeSet<NodeId>,
    persistent: BTreeSet<NodeId>,
}

impl View {
    fn new(max_out: usize) -> Self {
        View {
            max_out,
            ..View::default()
        }
    }
}

impl PexView for View {
    fn max_outbound(&self) -> usize {
        self.max_out
    }
    fn num_outbound(&self) -> usize {
        self.out
    }
    fn num_dialing(&self) -> usize {
        self.dialing
    }
    fn is_dialing_or_connected(&self, id: &NodeId) -> bool {
        self.busy.contains(id)
    }
    fn is_persistent(&self, id: &NodeId) -> bool {
        self.persistent.contains(id)
    }
}

const DAY: Duration = Duration::from_secs(24 * 3600);
const WALL: UnixTime = UnixTime::from_secs(1_700_000_000);

fn at(secs: u64) -> Instant {
    Instant::from_millis(secs * 1000)
}

fn at_ms(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn id(i: u32) -> NodeId {
    let mut b = [0xa5u8; 20];
    b[..4].copy_from_slice(&i.to_be_bytes());
    NodeId(b)
}

/// A routable address, each in its own /16.
fn addr(i: u32) -> NetAddr {
    let ip = Ipv4Addr::new(20 + (i / 256) as u8, (i % 256) as u8, 0, 1);
    NetAddr::new(id(i), IpAddr::V4(ip), 26656)
}

fn machine(cfg: PexConfig) -> PexMachine<Rng> {
    machine_seeded(cfg, 2)
}

fn machine_seeded(cfg: PexConfig, seed: u64) -> PexMachine<Rng> {
    let book = AddrBook::new(BookConfig::default(), &mut Rng(1));
    PexMachine::new(book, cfg, Rng(seed), Instant::ZERO, WALL)
}

fn inbound(i: u32) -> PexPeer {
    let a = addr(i);
    PexPeer {
        id: a.id,
        outbound: false,
        listen_addr: Some(a),
        remote_ip: a.ip,
        persistent: false,
    }
}

fn outbound(i: u32) -> PexPeer {
    PexPeer {
        outbound: true,
        ..inbound(i)
    }
}

fn drain(m: &mut PexMachine<Rng>) -> Vec<PexAction> {
    std::iter::from_fn(|| m.poll_action()).collect()
}

/// Adds `addrs` to the book as if `src` had told us.
fn fill_book(m: &mut PexMachine<Rng>, addrs: impl IntoIterator<Item = NetAddr>) {
    let src = addr(9999);
    let (book, rng) = m.book_and_rng();
    for a in addrs {
        book.add_address(WALL, a, src, rng).unwrap();
    }
}

fn addrs_msg(addrs: &[NetAddr]) -> Vec<u8> {
    let mut bufs = vec![([0u8; 40], [0u8; 46]); addrs.len()];
    let w: Vec<NetAddress<'_>> = addrs
        .iter()
        .zip(bufs.iter_mut())
        .map(|(a, (i, p))| a.to_wire(i, p))
        .collect();
    raw_msg(&w)
}

fn raw_msg(w: &[NetAddress<'_>]) -> Vec<u8> {
    let mut out = vec![0u8; wire::addrs_encoded_len(w)];
    let n = wire::encode_addrs(w, &mut out).unwrap();
    out.truncate(n);
    out
}

fn request_msg() -> Vec<u8> {
    let mut b = [0u8; 2];
    let n = wire::encode_request(&mut b).unwrap();
    b[..n].to_vec()
}

fn no_saves(actions: Vec<PexAction>) -> Vec<PexAction> {
    actions
        .into_iter()
        .filter(|a| *a != PexAction::SaveBook)
        .collect()
}

fn sends_to(actions: &[PexAction], to: NodeId) -> Vec<Vec<u8>> {
    actions
        .iter()
        .filter_map(|a| match a {
            PexAction::Send { to: t, msg } if *t == to => Some(msg.clone()),
            _ => None,
        })
        .collect()
}

fn dials(actions: &[PexAction]) -> Vec<NetAddr> {
    actions
        .iter()
        .filter_map(|a| match a {
            PexAction::Dial(a) => Some(*a),
            _ => None,
        })
        .collect()
}

fn is_request(msg: &[u8]) -> bool {
    PexMessage::decode(msg) == Ok(PexMessage::Request)
}

fn decoded_addrs(msg: &[u8]) -> Vec<NetAddr> {
    match PexMessage::decode(msg) {
        Ok(PexMessage::Addrs(list)) => list
            .iter()
            .map(|a| NetAddr::from_wire(&a).unwrap())
            .collect(),
        other => panic!("not PexAddrs: {other:?}"),
    }
}

/// An outbound peer we have asked for addresses (the book is empty, so
/// adding it sends the request).
fn asked_peer(m: &mut PexMachine<Rng>, i: u32) -> NodeId {
    m.peer_added(at(0), outbound(i));
    let actions = drain(m);
    let sent = sends_to(&actions, id(i));
    assert!(sent.len() == 1 && is_request(&sent[0]), "{actions:?}");
    assert!(m.is_request_outstanding(&id(i)));
    id(i)
}

fn expect_ban(m: &mut PexMachine<Rng>, who: NodeId, got: Received, why: Misbehaviour) {
    assert_eq!(got, Received::Rejected(why));
    assert_eq!(
        drain(m),
        vec![PexAction::Disconnect {
            id: who,
            why,
            ban: Some(DAY)
        }]
    );
}

// ---- nothing a peer sends can panic us -------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..20),
        seed_mode in any::<bool>(),
        outbound_peer in any::<bool>(),
    ) {
        let mut m = machine(PexConfig { seed_mode, ..PexConfig::default() });
        fill_book(&mut m, (10..40).map(addr));
        let peer = if outbound_peer { outbound(1) } else { inbound(1) };
        m.peer_added(at(0), peer);
        let mut now = 0;
        for msg in &msgs {
            now += 1;
            let _ = m.receive(at(now), &id(1), msg);
            let actions = drain(&mut m);
            prop_assert!(actions.len() <= 3);
            for a in actions {
                if let PexAction::Send { msg, .. } = a {
                    prop_assert!(msg.len() <= mconn::pex::PEX_MAX_MSG_SIZE);
                    prop_assert!(PexMessage::decode(&msg).is_ok());
                }
            }
        }
        m.handle_timeout(at(now + 1), &View::new(10));
        prop_assert!(m.num_peers() <= 1);
    }

    #[test]
    fn arbitrary_address_lists_never_panic(
        list in proptest::collection::vec(
            ("[0-9a-f]{0,41}", "[0-9a-f:.]{0,20}", any::<u32>()), 0..60),
    ) {
        let mut m = machine(PexConfig::default());
        let p = asked_peer(&mut m, 1);
        let w: Vec<NetAddress<'_>> = list
            .iter()
            .map(|(id, ip, port)| NetAddress { id, ip, port: *port })
            .collect();
        match m.receive(at(1), &p, &raw_msg(&w)) {
            Received::Addrs { added, ignored } => prop_assert_eq!(added + ignored, list.len()),
            Received::Rejected(why) => prop_assert_eq!(why, Misbehaviour::BadAddrs),
            other => prop_assert!(false, "{:?}", other),
        }
        prop_assert!(m.book().size() <= list.len());
    }
}
