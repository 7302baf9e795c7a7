//! The PEX reactor's rules (`mconn::pex::PexMachine`, spec §6) with a fake
//! switch view and simulated time.

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

/// SplitMix64: a small deterministic RNG for the machine and the book.
struct Rng(u64);

impl rand_core::RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next_u64() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

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

// ---- requests and responses ----------------------------------------------

#[test]
fn unsolicited_addrs_disconnect_and_ban() {
    let mut m = machine(PexConfig::default());
    // An inbound peer: its listen address goes to the book, so it can be banned.
    m.peer_added(at(0), inbound(1));
    assert!(
        drain(&mut m).is_empty(),
        "inbound peers are not asked at once"
    );
    assert!(m.book().has(&id(1)));
    let got = m.receive(at(1), &id(1), &addrs_msg(&[addr(2)]));
    expect_ban(&mut m, id(1), got, Misbehaviour::UnsolicitedAddrs);
    assert!(m.book().is_banned(&id(1)));
    assert!(
        !m.book().has(&id(2)),
        "nothing from an unsolicited list is kept"
    );
    // It is on its way out: whatever else it sends is ignored.
    assert_eq!(m.receive(at(1), &id(1), &request_msg()), Received::Ignored);
    assert!(drain(&mut m).is_empty());
}

#[test]
fn a_second_list_for_one_request_is_unsolicited() {
    let mut m = machine(PexConfig::default());
    let p = asked_peer(&mut m, 1);
    assert_eq!(
        m.receive(at(1), &p, &addrs_msg(&[addr(2)])),
        Received::Addrs {
            added: 1,
            ignored: 0
        }
    );
    assert!(!m.is_request_outstanding(&p));
    let got = m.receive(at(2), &p, &addrs_msg(&[addr(3)]));
    expect_ban(&mut m, p, got, Misbehaviour::UnsolicitedAddrs);
}

#[test]
fn unknown_peer_and_garbage() {
    let mut m = machine(PexConfig::default());
    assert_eq!(m.receive(at(0), &id(5), &request_msg()), Received::Ignored);
    m.peer_added(at(0), inbound(5));
    let got = m.receive(at(0), &id(5), &[0xff, 0x01, 0x02]);
    expect_ban(&mut m, id(5), got, Misbehaviour::BadMessage { channel: 0 });
}

#[test]
fn requests_are_answered_with_a_selection() {
    let mut m = machine(PexConfig::default());
    fill_book(&mut m, (10..50).map(addr));
    m.peer_added(at(0), inbound(1));
    let got = m.receive(at(0), &id(1), &request_msg());
    let actions = drain(&mut m);
    let sent = sends_to(&actions, id(1));
    assert_eq!(sent.len(), 1);
    let answer = decoded_addrs(&sent[0]);
    // 41 entries (40 + the peer itself): max(min(32, 41), 41·23/100) = 32.
    assert_eq!(got, Received::Answered { addrs: 32 });
    assert_eq!(answer.len(), 32);
    let distinct: BTreeSet<_> = answer.iter().map(|a| a.id).collect();
    assert_eq!(distinct.len(), 32);
    assert!(answer.iter().all(|a| m.book().has(&a.id)));
}

#[test]
fn request_rate_two_free_then_too_soon_is_banned() {
    // CometBFT's exact rule: burst 2, then 10 s apart.
    let cfg = PexConfig {
        request_burst: 2,
        ..PexConfig::default()
    };
    let mut m = machine(cfg.clone());
    m.peer_added(at(0), inbound(1));
    for t in [0, 0, 10, 20, 31] {
        assert!(
            matches!(
                m.receive(at(t), &id(1), &request_msg()),
                Received::Answered { .. }
            ),
            "t={t}"
        );
    }
    let mut m = machine(cfg);
    m.peer_added(at(0), inbound(1));
    for _ in 0..2 {
        assert!(matches!(
            m.receive(at(0), &id(1), &request_msg()),
            Received::Answered { .. }
        ));
    }
    drain(&mut m);
    let got = m.receive(at_ms(9_999), &id(1), &request_msg());
    expect_ban(&mut m, id(1), got, Misbehaviour::PexRequestTooSoon);
    assert!(m.book().is_banned(&id(1)));
}

#[test]
fn request_rate_default_burst_of_three() {
    let mut m = machine(PexConfig::default());
    m.peer_added(at(0), inbound(1));
    for _ in 0..3 {
        assert!(matches!(
            m.receive(at(5), &id(1), &request_msg()),
            Received::Answered { .. }
        ));
    }
    drain(&mut m);
    let got = m.receive(at(6), &id(1), &request_msg());
    expect_ban(&mut m, id(1), got, Misbehaviour::PexRequestTooSoon);
}

/// CometBFT's own rule, for comparison: two free, then ≥ 10 s after the
/// previous accepted request.
struct GoRule {
    seen: u32,
    last_ms: u64,
}

impl GoRule {
    fn accept(&mut self, t_ms: u64) -> bool {
        self.seen += 1;
        if self.seen <= 2 {
            self.last_ms = t_ms;
            return true;
        }
        if t_ms - self.last_ms < 10_000 {
            return false;
        }
        self.last_ms = t_ms;
        true
    }
}

/// A Go peer asks when it adds us, then on its `ensurePeers` ticks (first
/// after `U[0, 30 s)`, then every 30 s); each request reaches our reactor
/// after a network + inbox delay of up to 25 s, in order. Ours never
/// punishes it; CometBFT's exact rule would in some runs.
#[test]
fn tolerant_floor_never_punishes_a_jittery_go_peer() {
    use rand_core::RngCore;
    let mut rng = Rng(77);
    let mut go_would_punish = 0;
    for run in 0..300u32 {
        let mut m = machine_seeded(PexConfig::default(), u64::from(run));
        m.peer_added(at(0), inbound(1));
        let mut go = GoRule {
            seen: 0,
            last_ms: 0,
        };
        let mut go_punished = false;
        let first_tick = rng.next_u64() % 30_000;
        let sends = std::iter::once(0).chain((0..120).map(|k| first_tick + k * 30_000));
        let mut delivered = 0u64;
        for sent in sends {
            delivered = delivered.max(sent + rng.next_u64() % 25_000);
            let got = m.receive(at_ms(delivered), &id(1), &request_msg());
            assert!(
                matches!(got, Received::Answered { .. }),
                "run {run}: punished at {delivered} ms"
            );
            go_punished |= !go.accept(delivered);
        }
        go_would_punish += u32::from(go_punished);
    }
    assert!(
        go_would_punish > 0,
        "the scenario never strains CometBFT's rule"
    );
    eprintln!("CometBFT's exact rule would punish {go_would_punish} of 300 honest peers");

    // Peers over the sustained rate are caught: every 5 s within a few
    // requests, every 9 s once the 20 s of slack are used up.
    for (every, within) in [(5, 6), (9, 22)] {
        let mut m = machine(PexConfig::default());
        m.peer_added(at(0), inbound(2));
        let caught = (0..40u64).position(|k| {
            matches!(
                m.receive(at(every * k), &id(2), &request_msg()),
                Received::Rejected(_)
            )
        });
        let k = caught.expect("a peer over the rate is never caught");
        assert!(k <= within, "every {every} s: caught only at request {k}");
    }
}

#[test]
fn limiter_accepts_everything_cometbft_accepts() {
    // Random sequences that pass Go's rule (two free, then ≥ 10 s apart)
    // pass ours too (burst 2 and 3).
    use rand_core::RngCore;
    let mut rng = Rng(5);
    for _ in 0..500 {
        let mut go = RequestLimiter::new(Duration::from_secs(10), 2);
        let mut ours = RequestLimiter::new(Duration::from_secs(10), 3);
        let mut t = rng.next_u64() % 1_000_000;
        let mut gaps = vec![rng.next_u64() % 10_000_000];
        gaps.extend((0..30).map(|_| 10_000_000 + rng.next_u64() % 30_000_000));
        assert!(go.accept(Instant::from_micros(t)) && ours.accept(Instant::from_micros(t)));
        for g in gaps {
            t += g;
            assert!(go.accept(Instant::from_micros(t)));
            assert!(ours.accept(Instant::from_micros(t)));
        }
    }
}

#[test]
fn response_limits_and_parse_errors() {
    // 251 addresses: over maxGetSelection.
    let mut m = machine(PexConfig::default());
    let p = asked_peer(&mut m, 1);
    let many: Vec<NetAddr> = (100..351).map(addr).collect();
    let got = m.receive(at(1), &p, &addrs_msg(&many));
    expect_ban(&mut m, p, got, Misbehaviour::BadAddrs);
    assert_eq!(m.book().size(), 0);

    // 250 is fine.
    let mut m = machine(PexConfig::default());
    let p = asked_peer(&mut m, 1);
    let got = m.receive(at(1), &p, &addrs_msg(&many[..250]));
    assert!(
        matches!(got, Received::Addrs { added, .. } if added > 200),
        "{got:?}"
    );

    let good_id = id(7).to_string();
    let g = good_id.as_str();
    let bad_lists: [&[(&str, &str, u32)]; 4] = [
        &[(g, "1.2.3", 26656)],
        &[(g, "", 26656)],
        &[(g, "1.2.3.4", 70_000)],
        &[(g, "1.2.3.4", 26656), (g, "[::1]", 1)],
    ];
    for list in bad_lists {
        let mut m = machine(PexConfig::default());
        let p = asked_peer(&mut m, 1);
        let w: Vec<NetAddress<'_>> = list
            .iter()
            .map(|(id, ip, port)| NetAddress {
                id,
                ip,
                port: *port,
            })
            .collect();
        let got = m.receive(at(1), &p, &raw_msg(&w));
        expect_ban(&mut m, p, got, Misbehaviour::BadAddrs);
        assert_eq!(m.book().size(), 0, "{list:?}: nothing kept from a bad list");
    }

    // A bad ID, an unspecified IP and an unroutable one cost only themselves.
    let mut m = machine(PexConfig::default());
    let p = asked_peer(&mut m, 1);
    let ok = addr(3);
    let (mut ib, mut pb) = ([0u8; 40], [0u8; 46]);
    let list = [
        NetAddress {
            id: "not-an-id",
            ip: "1.2.3.4",
            port: 1,
        },
        NetAddress {
            id: g,
            ip: "0.0.0.0",
            port: 1,
        },
        NetAddress {
            id: g,
            ip: "192.168.1.1",
            port: 1,
        },
        ok.to_wire(&mut ib, &mut pb),
    ];
    let got = m.receive(at(1), &p, &raw_msg(&list));
    assert_eq!(
        got,
        Received::Addrs {
            added: 1,
            ignored: 3
        }
    );
    assert!(
        drain(&mut m).is_empty(),
        "no disconnect for single bad addresses"
    );
    assert!(m.book().has(&ok.id));
    assert_eq!(
        m.book().get(&ok.id).unwrap().src,
        addr(1),
        "the sender is the source"
    );
}

#[test]
fn one_outstanding_request_per_peer() {
    let mut m = machine(PexConfig {
        ensure_peers_period: Duration::from_secs(1),
        ..PexConfig::default()
    });
    let p = asked_peer(&mut m, 1);
    let mut view = View::new(10);
    view.out = 10; // full: ensure_peers stops before asking anyone
    m.handle_timeout(at(0), &view);
    assert!(sends_to(&drain(&mut m), p).is_empty());
    view.out = 1;
    view.busy.insert(p);
    for t in 1..5 {
        m.handle_timeout(at(t), &view);
        assert!(
            sends_to(&drain(&mut m), p).is_empty(),
            "asked again at {t} s"
        );
    }
    m.receive(at(5), &p, &addrs_msg(&[addr(2)]));
    m.handle_timeout(at(6), &view);
    let sent = sends_to(&drain(&mut m), p);
    assert!(
        sent.len() == 1 && is_request(&sent[0]),
        "asked again once answered"
    );
}

#[test]
fn outbound_peers_are_asked_only_when_the_book_needs_addresses() {
    let book_cfg = BookConfig {
        need_address_threshold: 5,
        ..BookConfig::default()
    };
    let book = AddrBook::new(book_cfg, &mut Rng(1));
    let mut m = PexMachine::new(book, PexConfig::default(), Rng(3), Instant::ZERO, WALL);
    fill_book(&mut m, (10..15).map(addr));
    m.peer_added(at(0), outbound(1));
    assert!(drain(&mut m).is_empty());
    assert!(!m.is_request_outstanding(&id(1)));
}

// ---- inbound peers' addresses ----------------------------------------------

#[test]
fn unroutable_listen_address_is_replaced_by_the_observed_ip() {
    let mut m = machine(PexConfig::default());
    let observed: IpAddr = "5.6.7.8".parse().unwrap();
    for (i, listen) in [(1, "0.0.0.0"), (2, "192.168.1.5"), (3, "127.0.0.1")] {
        let listen = NetAddr::new(id(i), listen.parse().unwrap(), 26000 + i as u16);
        m.peer_added(
            at(0),
            PexPeer {
                id: id(i),
                outbound: false,
                listen_addr: Some(listen),
                remote_ip: IpAddr::V4(Ipv4Addr::new(5, 6, 7, i as u8)),
                persistent: false,
            },
        );
        let got = m.book().get(&id(i)).expect("added").addr;
        assert_eq!(
            got,
            NetAddr::new(
                id(i),
                IpAddr::V4(Ipv4Addr::new(5, 6, 7, i as u8)),
                26000 + i as u16
            )
        );
    }
    // A routable listen address is kept as reported.
    let reported = addr(4);
    m.peer_added(
        at(0),
        PexPeer {
            id: reported.id,
            outbound: false,
            listen_addr: Some(reported),
            remote_ip: observed,
            persistent: false,
        },
    );
    assert_eq!(m.book().get(&reported.id).unwrap().addr, reported);
    // Its source is itself.
    assert_eq!(m.book().get(&reported.id).unwrap().src, reported);
}

// ---- ensure_peers ----------------------------------------------------------

fn ensure_cfg() -> PexConfig {
    PexConfig {
        ensure_peers_period: Duration::from_millis(100),
        ..PexConfig::default()
    }
}

#[test]
fn ensure_peers_dials_towards_the_target() {
    let mut m = machine(ensure_cfg());
    fill_book(&mut m, (10..60).map(addr));
    let mut view = View::new(10);
    view.out = 3;
    view.dialing = 2;
    view.busy.insert(id(10)); // already connected: never dialled
                              // First round: we have some peers, so it is delayed by U[0, period).
    m.handle_timeout(at(0), &view);
    assert!(drain(&mut m).is_empty());
    m.handle_timeout(at(1), &view);
    let first = dials(&drain(&mut m));
    assert!(!first.is_empty() && first.len() <= 5, "{first:?}");
    // Dials just asked for count as in flight even before the switch
    // counts them: 10 − (3 + 2) = 5 in all.
    m.handle_timeout(at(2), &view);
    let second = dials(&drain(&mut m));
    let all: Vec<NetAddr> = first.iter().chain(&second).copied().collect();
    assert_eq!(all.len(), 5, "{all:?}");
    assert!(all.iter().all(|a| a.id != id(10)));
    let distinct: BTreeSet<_> = all.iter().map(|a| a.id).collect();
    assert_eq!(distinct.len(), 5);
    // Once the switch counts them too, nothing more until they report.
    view.dialing = 2 + 5;
    m.handle_timeout(at(3), &view);
    assert!(dials(&drain(&mut m)).is_empty());
    let first = all;
    // They are done (no longer dialing), new round fills up again.
    for a in &first {
        m.dialed(at(2), a);
    }
    view.dialing = 0;
    view.out = 10;
    m.handle_timeout(at(4), &view);
    assert!(drain(&mut m).is_empty(), "at the target nothing happens");
}

#[test]
fn ensure_peers_bias_follows_the_outbound_count() {
    // 30 old and 30 new entries; bias = min(out, 8)·10 + 10.
    let new_fraction = |out: usize| {
        let mut m = machine(ensure_cfg());
        fill_book(&mut m, (10..70).map(addr));
        for i in 10..40 {
            m.book_mut().mark_good(WALL, &id(i));
        }
        assert_eq!((m.book().old_count(), m.book().new_count()), (30, 30));
        let mut view = View::new(out + 1);
        view.out = out;
        let (mut new, mut total) = (0, 0);
        for round in 0..600u64 {
            m.handle_timeout(at(round), &view);
            for a in dials(&drain(&mut m)) {
                total += 1;
                if m.book().get(&a.id).unwrap().kind == BucketKind::New {
                    new += 1;
                }
                m.dialed(at(round), &a);
            }
        }
        assert!(total >= 500, "{total}");
        new as f64 / total as f64
    };
    let low = new_fraction(0); // bias 10
    let mid = new_fraction(4); // bias 50
    let high = new_fraction(9); // bias 90
    assert!(low < 0.2, "{low}");
    assert!((0.4..0.6).contains(&mid), "{mid}");
    assert!(high > 0.8, "{high}");
}

#[test]
fn dial_backoff_and_give_up() {
    let mut m = machine(ensure_cfg());
    let target = addr(10);
    fill_book(&mut m, [target]);
    let view = View::new(10);
    m.handle_timeout(at(0), &view); // idle: the first round runs at once
    assert_eq!(dials(&drain(&mut m)), vec![target]);
    let mut last_fail = at(0);
    m.dial_failed(last_fail, &target);
    for failures in 1..=16u32 {
        assert_eq!(m.dial_attempts(&target), failures);
        assert_eq!(m.book().get(&target.id).unwrap().attempts, failures);
        // Never before 2^failures s; always by 2^failures + 1 s.
        let early = last_fail + (Duration::from_secs(1 << failures) - Duration::from_millis(1));
        m.handle_timeout(early, &view);
        assert!(
            dials(&drain(&mut m)).is_empty(),
            "dialled early after {failures} failures"
        );
        let due = last_fail + Duration::from_secs((1 << failures) + 1);
        m.handle_timeout(due, &view);
        assert_eq!(
            dials(&drain(&mut m)),
            vec![target],
            "not dialled after {failures} failures"
        );
        last_fail = due;
        m.dial_failed(last_fail, &target);
    }
    // 17 failures (> maxAttemptsToDial): the next pick bans it for 24 h.
    assert_eq!(m.dial_attempts(&target), 17);
    m.handle_timeout(last_fail + Duration::from_secs(1 << 18), &view);
    assert!(dials(&drain(&mut m)).is_empty());
    assert!(m.book().is_banned(&target.id));
    assert_eq!(
        m.dial_attempts(&target),
        0,
        "its history is dropped with the ban"
    );
}

#[test]
fn persistent_peers_are_never_given_up_and_their_backoff_is_capped() {
    let cfg = PexConfig {
        persistent_max_dial_period: Duration::from_secs(10),
        ..ensure_cfg()
    };
    let mut m = machine(cfg);
    let target = addr(10);
    fill_book(&mut m, [target]);
    let mut view = View::new(10);
    view.persistent.insert(target.id);
    m.handle_timeout(at(0), &view);
    assert_eq!(dials(&drain(&mut m)).len(), 1);
    for _ in 0..20 {
        m.dial_failed(at(0), &target);
    }
    m.handle_timeout(at(9), &view);
    assert!(dials(&drain(&mut m)).is_empty());
    m.handle_timeout(at(10), &view);
    assert_eq!(dials(&drain(&mut m)), vec![target]);
    assert!(!m.book().is_banned(&target.id));
}

#[test]
fn success_clears_the_dial_history() {
    let mut m = machine(ensure_cfg());
    let target = addr(10);
    fill_book(&mut m, [target]);
    let view = View::new(10);
    m.handle_timeout(at(0), &view);
    drain(&mut m);
    m.dial_failed(at(0), &target);
    m.dial_failed(at(0), &target);
    assert_eq!(m.dial_attempts(&target), 2);
    m.dialed(at(1), &target);
    assert_eq!(m.dial_attempts(&target), 0);
    // Refusals by our own switch cost nothing.
    m.dial_refused(at(1), &target, Refusal::TooManyOutbound);
    assert_eq!(m.dial_attempts(&target), 0);
}

#[test]
fn dialling_ourselves_forgets_the_address() {
    let mut m = machine(ensure_cfg());
    let me = addr(10);
    fill_book(&mut m, [me]);
    m.dial_refused(at(0), &me, Refusal::SelfConnection);
    assert!(!m.book().has(&me.id));
    assert!(m.book().is_our_address(&me));
}

#[test]
fn seeds_are_dialled_when_the_book_is_empty_one_at_a_time() {
    let seeds = vec![addr(1), addr(2), addr(3)];
    let mut m = machine(PexConfig {
        seeds: seeds.clone(),
        ..ensure_cfg()
    });
    let view = View::new(10);
    assert!(m.can_bootstrap());
    m.handle_timeout(at(0), &view);
    let mut tried = Vec::new();
    let first = dials(&drain(&mut m));
    assert_eq!(first.len(), 1);
    tried.extend(first);
    // A failed seed makes way for the next; each once.
    for _ in 0..2 {
        m.dial_failed(at(0), tried.last().unwrap());
        let next = dials(&drain(&mut m));
        assert_eq!(next.len(), 1);
        tried.extend(next);
    }
    m.dial_failed(at(0), tried.last().unwrap());
    assert!(drain(&mut m).is_empty());
    let set: BTreeSet<_> = tried.iter().copied().collect();
    assert_eq!(set, seeds.iter().copied().collect());
    // Seed failures do not feed the dial history.
    assert!(seeds.iter().all(|s| m.dial_attempts(s) == 0));
    // The next round tries them again, in a (possibly) new order.
    m.handle_timeout(at(1), &view);
    assert_eq!(dials(&drain(&mut m)).len(), 1);
}

#[test]
fn seed_order_is_random() {
    let seeds: Vec<NetAddr> = (1..=4).map(addr).collect();
    let firsts: BTreeSet<NetAddr> = (0..40u64)
        .map(|s| {
            let mut m = machine_seeded(
                PexConfig {
                    seeds: seeds.clone(),
                    ..ensure_cfg()
                },
                s,
            );
            m.handle_timeout(at(0), &View::new(10));
            dials(&drain(&mut m))[0]
        })
        .collect();
    assert!(firsts.len() >= 3, "{firsts:?}");
}

#[test]
fn a_seeds_answer_triggers_ensure_peers_at_once() {
    let seed = addr(1);
    let mut m = machine(PexConfig {
        seeds: vec![seed],
        ..PexConfig::default()
    });
    let mut view = View::new(10);
    m.handle_timeout(at(0), &view);
    assert_eq!(dials(&drain(&mut m)), vec![seed]);
    m.dialed(at(1), &seed);
    m.peer_added(at(1), outbound(1));
    view.out = 1;
    view.busy.insert(seed.id);
    assert!(is_request(&sends_to(&drain(&mut m), seed.id)[0]));
    let news: Vec<NetAddr> = (10..15).map(addr).collect();
    m.receive(at(2), &seed.id, &addrs_msg(&news));
    // Not waiting the 30 s period.
    assert_eq!(m.poll_timeout(), Some(at(2)));
    m.handle_timeout(at(2), &view);
    let dialled: BTreeSet<_> = dials(&drain(&mut m)).into_iter().collect();
    assert_eq!(dialled, news.into_iter().collect());
    assert!(m.poll_timeout().unwrap() > at(2));
}

#[test]
fn expired_bans_are_reinstated_when_the_book_needs_addresses() {
    let mut m = machine(ensure_cfg());
    fill_book(&mut m, [addr(10)]);
    m.book_mut().mark_bad(WALL, &id(10), DAY);
    let mut view = View::new(10);
    view.out = 1;
    m.handle_timeout(at(0), &view);
    m.handle_timeout(at(3600), &view);
    drain(&mut m);
    assert!(m.book().is_banned(&id(10)));
    m.handle_timeout(at(24 * 3600 + 1), &view);
    assert!(!m.book().is_banned(&id(10)) && m.book().has(&id(10)));
}

#[test]
fn random_peer_is_asked_each_round() {
    let mut m = machine(ensure_cfg());
    let mut view = View::new(10);
    for i in 1..=5 {
        m.peer_added(at(0), inbound(i));
        view.busy.insert(id(i));
    }
    // Inbound peers are in the book, but connected: nothing to dial.
    m.handle_timeout(at(0), &view);
    let mut asked = BTreeSet::new();
    for t in 1..40 {
        m.handle_timeout(at(t), &view);
        for a in drain(&mut m) {
            if let PexAction::Send { to, msg } = a {
                assert!(is_request(&msg));
                asked.insert(to);
                m.receive(at(t), &to, &addrs_msg(&[]));
            }
        }
    }
    assert_eq!(asked.len(), 5, "{asked:?}");
}

#[test]
fn save_book_is_asked_for_periodically() {
    let mut m = machine(PexConfig::default());
    let view = View::new(0);
    m.handle_timeout(at(0), &view);
    assert!(!drain(&mut m).contains(&PexAction::SaveBook));
    assert!(m.poll_timeout().unwrap() <= at(120));
    let mut saves = 0;
    let mut now = at(0);
    for _ in 0..100 {
        now = m.poll_timeout().unwrap().max(now);
        if now > at(600) {
            break;
        }
        m.handle_timeout(now, &view);
        saves += drain(&mut m)
            .iter()
            .filter(|a| **a == PexAction::SaveBook)
            .count();
    }
    assert_eq!(saves, 5, "every 2 min over 10 min");
}

// ---- seed mode -------------------------------------------------------------

fn seed_cfg() -> PexConfig {
    PexConfig {
        seed_mode: true,
        ..PexConfig::default()
    }
}

#[test]
fn seed_answers_inbound_once_then_disconnects() {
    let mut m = machine(seed_cfg());
    fill_book(&mut m, (10..110).map(addr));
    m.peer_added(at(0), inbound(1));
    let got = m.receive(at(0), &id(1), &request_msg());
    let actions = drain(&mut m);
    assert_eq!(actions.len(), 2, "{actions:?}");
    let PexAction::Send { to, msg } = &actions[0] else {
        panic!("{actions:?}")
    };
    assert_eq!(*to, id(1));
    let n = decoded_addrs(msg).len();
    assert_eq!(got, Received::Answered { addrs: n });
    assert_eq!(n, m.book().selection_size());
    assert_eq!(actions[1], PexAction::DisconnectAfterSend { id: id(1) });
    // Asking again before it is gone: ignored, never punished.
    for t in 0..3 {
        assert_eq!(m.receive(at(t), &id(1), &request_msg()), Received::Ignored);
    }
    assert!(drain(&mut m).is_empty());
}

#[test]
fn seed_crawls_asks_and_hangs_up() {
    let mut m = machine(seed_cfg());
    fill_book(&mut m, (10..20).map(addr));
    let view = View::new(10);
    m.handle_timeout(at(0), &view);
    let crawled = dials(&drain(&mut m));
    assert_eq!(crawled.len(), 10, "{crawled:?}");
    // One is reached: asked at once (seeds always ask), hung up on once it answered.
    let first = crawled[0];
    m.dialed(at(1), &first);
    let i = (10..20).find(|i| id(*i) == first.id).unwrap();
    m.peer_added(at(1), outbound(i));
    assert!(is_request(&sends_to(&drain(&mut m), first.id)[0]));
    m.receive(at(2), &first.id, &addrs_msg(&[addr(50)]));
    assert_eq!(
        drain(&mut m),
        vec![PexAction::DisconnectAfterSend { id: first.id }]
    );
    assert!(m.book().has(&id(50)));
    // The rest could not be dialled; within 2 min they are not crawled again.
    for a in &crawled[1..] {
        m.dial_refused(at(1), a, Refusal::TooManyOutbound);
    }
    m.handle_timeout(at(30), &view);
    let again = dials(&drain(&mut m));
    assert!(again.iter().all(|a| a.id == id(50)), "{again:?}");
    m.handle_timeout(at(150), &view);
    let later = dials(&drain(&mut m));
    assert!(later.len() >= 9, "{later:?}");
    assert!(m.num_crawl_records() <= 11);
    // Records older than 24 h are forgotten (here nothing is crawled again:
    // the book is emptied).
    for a in &later {
        m.dial_refused(at(150), a, Refusal::TooManyOutbound);
        m.book_mut().remove(&a.id);
    }
    m.book_mut().remove(&id(50));
    m.handle_timeout(at(150 + 24 * 3600), &view);
    assert!(m.num_crawl_records() > 0);
    m.handle_timeout(at(150 + 24 * 3600 + 31), &view);
    assert_eq!(m.num_crawl_records(), 0);
}

#[test]
fn seed_lets_go_of_old_non_persistent_peers() {
    let mut m = machine(seed_cfg());
    let mut view = View::new(10);
    view.busy.extend([id(1), id(2), id(3)]);
    m.handle_timeout(at(0), &view);
    m.peer_added(at(0), inbound(1));
    m.peer_added(
        at(0),
        PexPeer {
            persistent: true,
            ..inbound(2)
        },
    );
    m.peer_added(at(3600), inbound(3));
    drain(&mut m);
    let wait = 28 * 3600;
    m.handle_timeout(at(wait + 10), &view);
    assert_eq!(
        no_saves(drain(&mut m)),
        vec![PexAction::DisconnectAfterSend { id: id(1) }]
    );
    m.handle_timeout(at(wait + 3600 + 10), &view);
    assert_eq!(
        no_saves(drain(&mut m)),
        vec![PexAction::DisconnectAfterSend { id: id(3) }]
    );
    m.handle_timeout(at(wait + 7200), &view);
    assert!(
        no_saves(drain(&mut m)).is_empty(),
        "persistent peers stay; no one twice"
    );
}

#[test]
fn seed_with_seeds_dials_them_first() {
    let mut m = machine(PexConfig {
        seeds: vec![addr(1)],
        ..seed_cfg()
    });
    fill_book(&mut m, (10..20).map(addr));
    m.handle_timeout(at(0), &View::new(10));
    assert_eq!(dials(&drain(&mut m)), vec![addr(1)]);
}

// ---- bounds ----------------------------------------------------------------

#[test]
fn per_peer_state_and_histories_are_bounded() {
    let mut m = machine(PexConfig {
        max_peers: 8,
        max_dial_records: 16,
        ..PexConfig::default()
    });
    for i in 0..20 {
        m.peer_added(at(0), inbound(i));
    }
    assert_eq!(m.num_peers(), 8);
    for i in 0..8 {
        m.peer_removed(at(1), &id(i));
    }
    assert_eq!(m.num_peers(), 0);
    for i in 0..100 {
        m.dial_failed(at(u64::from(i)), &addr(1000 + i));
    }
    assert_eq!(m.num_dial_records(), 16);
    // The most recent ones are kept.
    assert_eq!(m.dial_attempts(&addr(1099)), 1);
    assert_eq!(m.dial_attempts(&addr(1000)), 0);
}

#[test]
fn lost_dial_reports_expire() {
    let mut m = machine(ensure_cfg());
    fill_book(&mut m, (10..15).map(addr));
    let mut view = View::new(10);
    m.handle_timeout(at(0), &view);
    let asked = dials(&drain(&mut m)).len();
    assert!(asked > 0);
    assert_eq!(m.num_pending_dials(), asked);
    view.out = 10; // nothing new is dialled from here on
    m.handle_timeout(at(60), &view);
    assert_eq!(m.num_pending_dials(), asked);
    m.handle_timeout(at(121), &view);
    assert_eq!(m.num_pending_dials(), 0);
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
