//! PeerManager tests: every refusal, persistent redials, cooldowns, stop,
//! and a property test that the limits hold under any sequence of calls.

extern crate std;

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;
use std::boxed::Box;
use std::vec::Vec;

use rand_core::RngCore;

use super::*;
use crate::identity::{NetAddr, NodeId};
use crate::Instant;

/// A tiny deterministic RNG (xorshift64*).
pub(crate) struct XorShift(u64);

impl XorShift {
    pub(crate) fn new(seed: u64) -> Self {
        XorShift(seed | 1)
    }
}

impl RngCore for XorShift {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

const OUR: u8 = 0;
const PORT: u16 = 26656;

fn id(n: u8) -> NodeId {
    NodeId([n; 20])
}

fn ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
}

/// A remote socket at IP `n` (ephemeral port `port`).
fn sock(n: u8, port: u16) -> SocketAddr {
    SocketAddr::new(ip(n), port)
}

/// Node `n`'s listen address, at IP `n`.
fn addr(n: u8) -> NetAddr {
    NetAddr::new(id(n), ip(n), PORT)
}

fn info(n: u8, remote: SocketAddr) -> PeerInfo {
    PeerInfo {
        id: id(n),
        remote,
        listen_addr: None,
    }
}

fn config() -> SwitchConfig {
    SwitchConfig::new(id(OUR))
}

fn manager(config: SwitchConfig) -> PeerManager<XorShift> {
    PeerManager::new(config, XorShift::new(42), Instant::ZERO)
}

fn at(secs: u64) -> Instant {
    Instant::from_millis(secs * 1_000)
}

fn drain(m: &mut PeerManager<XorShift>) -> Vec<Action> {
    core::iter::from_fn(|| m.poll_action())
        .take(10_000)
        .collect()
}

/// Node `n` connects from its own IP and is added.
fn inbound_peer(m: &mut PeerManager<XorShift>, now: Instant, n: u8) -> ConnId {
    let remote = sock(n, 40_000);
    let conn = m.accept(now, remote).unwrap();
    m.handshake_done(now, conn, info(n, remote)).unwrap();
    conn
}

/// We dial node `n` and it is added.
fn outbound_peer(m: &mut PeerManager<XorShift>, now: Instant, n: u8) -> ConnId {
    let conn = m.dial(now, addr(n)).unwrap();
    m.handshake_done(now, conn, info(n, addr(n).socket_addr()))
        .unwrap();
    conn
}

// ---- one test per refusal ----

#[test]
fn self_connection_is_refused_both_ways() {
    let mut m = manager(config());
    assert_eq!(m.dial(at(0), addr(OUR)), Err(Refusal::SelfConnection));
    let conn = m.accept(at(0), sock(1, 1)).unwrap();
    assert_eq!(
        m.handshake_done(at(0), conn, info(OUR, sock(1, 1))),
        Err(Refusal::SelfConnection)
    );
    assert_eq!((m.num_peers(), m.num_handshakes()), (0, 0));
    assert_eq!(m.stats().refused(Refusal::SelfConnection), 2);
}

#[test]
fn duplicate_id_refuses_the_second_connection() {
    let mut c = config();
    c.allow_duplicate_ip = true;
    let mut m = manager(c);
    let first = inbound_peer(&mut m, at(0), 5);
    let second = m.accept(at(1), sock(6, 1)).unwrap();
    assert_eq!(
        m.handshake_done(at(1), second, info(5, sock(6, 1))),
        Err(Refusal::DuplicateId)
    );
    assert_eq!(m.peer(&id(5)).map(|p| p.conn), Some(first));
    assert_eq!(m.num_peers(), 1);
}

#[test]
fn duplicate_ip_counts_peers_and_handshakes_unless_allowed() {
    let mut m = manager(config());
    let conn = m.accept(at(0), sock(1, 1)).unwrap();
    assert_eq!(
        m.accept(at(0), sock(1, 2)),
        Err(Refusal::DuplicateIp),
        "handshake"
    );
    m.handshake_done(at(0), conn, info(1, sock(1, 1))).unwrap();
    assert_eq!(
        m.accept(at(0), sock(1, 3)),
        Err(Refusal::DuplicateIp),
        "peer"
    );
    let same_ip = NetAddr::new(id(9), ip(1), PORT);
    assert_eq!(m.dial(at(0), same_ip), Err(Refusal::DuplicateIp), "dial");
    let mapped = SocketAddr::new(IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped()), 9);
    assert_eq!(
        m.accept(at(0), mapped),
        Err(Refusal::DuplicateIp),
        "IPv4-mapped"
    );

    let mut c = config();
    c.allow_duplicate_ip = true;
    let mut m = manager(c);
    inbound_peer(&mut m, at(0), 1);
    m.accept(at(0), sock(1, 2)).unwrap();
    m.dial(at(0), same_ip).unwrap();
}

#[test]
fn duplicate_ip_after_the_handshake() {
    let mut c = config();
    c.allow_duplicate_ip = false;
    let mut m = manager(c);
    inbound_peer(&mut m, at(0), 1);
    // The runtime reports an address other than the one it accepted.
    let conn = m.accept(at(0), sock(2, 1)).unwrap();
    assert_eq!(
        m.handshake_done(at(0), conn, info(2, sock(1, 7))),
        Err(Refusal::DuplicateIp)
    );
}

#[test]
fn already_dialing_and_already_connected() {
    let mut m = manager(config());
    let conn = m.dial(at(0), addr(3)).unwrap();
    assert_eq!(m.dial(at(0), addr(3)), Err(Refusal::AlreadyDialing));
    assert!(m.is_dialing_or_connected(&id(3)));
    assert_eq!(m.num_dialing(), 1);
    m.handshake_done(at(0), conn, info(3, addr(3).socket_addr()))
        .unwrap();
    assert_eq!(m.dial(at(0), addr(3)), Err(Refusal::AlreadyConnected));
    assert_eq!((m.num_dialing(), m.num_outbound()), (0, 1));
}

#[test]
fn too_many_inbound_peers_and_unconditional_exemption() {
    let mut c = config();
    c.max_inbound = 2;
    c.unconditional_ids = std::vec![id(9)];
    let mut m = manager(c);
    inbound_peer(&mut m, at(0), 1);
    inbound_peer(&mut m, at(0), 2);
    let conn = m.accept(at(0), sock(3, 1)).unwrap();
    assert_eq!(
        m.handshake_done(at(0), conn, info(3, sock(3, 1))),
        Err(Refusal::TooManyInbound)
    );
    inbound_peer(&mut m, at(0), 9);
    assert_eq!((m.num_inbound(), m.num_peers()), (2, 3));
    assert!(m.peer(&id(9)).unwrap().unconditional);
}

#[test]
fn accepted_sockets_are_capped_before_the_handshake() {
    let mut c = config();
    c.max_inbound = 1;
    c.unconditional_ids = std::vec![id(9)];
    c.inbound_handshake_allowance = 1;
    let mut m = manager(c);
    inbound_peer(&mut m, at(0), 1);
    m.accept(at(0), sock(2, 1)).unwrap();
    m.accept(at(0), sock(3, 1)).unwrap();
    assert_eq!(m.accept(at(0), sock(4, 1)), Err(Refusal::TooManyInbound));
    m.dial(at(0), addr(5))
        .expect("outbound sockets are not inbound");
}

#[test]
fn too_many_outbound_counts_handshakes_and_exempts_persistent_and_unconditional() {
    let mut c = config();
    c.max_outbound = 2;
    c.unconditional_ids = std::vec![id(8)];
    c.persistent_peers = std::vec![addr(9)];
    let mut m = manager(c);
    outbound_peer(&mut m, at(0), 1);
    m.dial(at(0), addr(2)).unwrap();
    assert_eq!(m.dial(at(0), addr(3)), Err(Refusal::TooManyOutbound));
    m.dial(at(0), addr(8)).expect("unconditional");
    m.dial(at(0), addr(9)).expect("persistent");
    assert_eq!(m.num_dialing(), 3);
}

#[test]
fn too_many_handshakes_frees_on_completion() {
    let mut c = config();
    c.max_handshakes = 2;
    let mut m = manager(c);
    let a = m.accept(at(0), sock(1, 1)).unwrap();
    m.dial(at(0), addr(2)).unwrap();
    assert_eq!(m.accept(at(0), sock(3, 1)), Err(Refusal::TooManyHandshakes));
    assert_eq!(m.dial(at(0), addr(3)), Err(Refusal::TooManyHandshakes));
    m.handshake_done(at(0), a, info(1, sock(1, 1))).unwrap();
    m.accept(at(0), sock(3, 1)).unwrap();
}

#[test]
fn too_many_from_one_ip() {
    let mut c = config();
    c.allow_duplicate_ip = true;
    c.max_handshakes_per_ip = 2;
    c.max_connections_per_ip = 3;
    let mut m = manager(c);
    let a = m.accept(at(0), sock(1, 1)).unwrap();
    let b = m.accept(at(0), sock(1, 2)).unwrap();
    assert_eq!(
        m.accept(at(0), sock(1, 3)),
        Err(Refusal::TooManyFromIp),
        "handshakes"
    );
    m.accept(at(0), sock(2, 1)).expect("another IP");
    m.handshake_done(at(0), a, info(5, sock(1, 1))).unwrap();
    m.handshake_done(at(0), b, info(6, sock(1, 2))).unwrap();
    m.accept(at(0), sock(1, 3)).unwrap();
    assert_eq!(
        m.accept(at(0), sock(1, 4)),
        Err(Refusal::TooManyFromIp),
        "sockets"
    );
    let there = NetAddr::new(id(7), ip(1), PORT);
    assert_eq!(m.dial(at(0), there), Err(Refusal::TooManyFromIp));
}

#[test]
fn too_many_connections() {
    let mut c = config();
    c.max_connections = 2;
    let mut m = manager(c);
    inbound_peer(&mut m, at(0), 1);
    m.dial(at(0), addr(2)).unwrap();
    assert_eq!(
        m.accept(at(0), sock(3, 1)),
        Err(Refusal::TooManyConnections)
    );
    assert_eq!(m.dial(at(0), addr(3)), Err(Refusal::TooManyConnections));
}

#[test]
fn filters_refuse_addresses_and_peers() {
    let mut m = manager(config());
    m.set_addr_filter(Box::new(|a: SocketAddr| a.ip() != ip(66)));
    m.set_peer_filter(Box::new(|p: &PeerInfo| p.id != id(77)));
    assert_eq!(m.accept(at(0), sock(66, 1)), Err(Refusal::Filtered));
    assert_eq!(m.dial(at(0), addr(66)), Err(Refusal::Filtered));
    let conn = m.accept(at(0), sock(1, 1)).unwrap();
    assert_eq!(
        m.handshake_done(at(0), conn, info(77, sock(1, 1))),
        Err(Refusal::Filtered)
    );
    inbound_peer(&mut m, at(0), 1);
    assert_eq!(m.stats().refused(Refusal::Filtered), 3);
}

#[test]
fn cooling_down_after_a_bad_report_then_expiry() {
    let mut m = manager(config());
    let conn = inbound_peer(&mut m, at(0), 4);
    drain(&mut m);
    let bad = Misbehaviour::PexRequestTooSoon;
    m.report(at(10), id(4), Report::Bad(bad));
    let reason = DisconnectReason::Misbehaved(bad);
    assert_eq!(
        drain(&mut m),
        [Action::Disconnect {
            conn,
            id: id(4),
            reason
        }]
    );
    assert_eq!(m.peer(&id(4)).unwrap().bad_reports, 1);
    m.peer_closed(at(10), conn, reason);
    assert_eq!(m.dial(at(11), addr(4)), Err(Refusal::CoolingDown));
    let again = m.accept(at(69), sock(4, 2)).unwrap();
    assert_eq!(
        m.handshake_done(at(69), again, info(4, sock(4, 2))),
        Err(Refusal::CoolingDown)
    );
    assert!(m.is_cooling_down(at(69), &id(4)));
    assert!(!m.is_cooling_down(at(70), &id(4)), "60 s later");
    m.dial(at(70), addr(4)).unwrap();
}

#[test]
fn a_session_closed_for_misbehaviour_cools_down_but_a_missing_pong_does_not() {
    use crate::conn::CloseReason as Conn;
    use crate::session::CloseReason;
    let mut m = manager(config());
    let flood = inbound_peer(&mut m, at(0), 4);
    let quiet = inbound_peer(&mut m, at(0), 5);
    drain(&mut m);
    let bad = DisconnectReason::Session(CloseReason::Conn(Conn::PingFlood));
    m.peer_closed(at(1), flood, bad);
    let gone = DisconnectReason::Session(CloseReason::Conn(Conn::PongTimeout));
    m.peer_closed(at(1), quiet, gone);
    assert_eq!(m.dial(at(2), addr(4)), Err(Refusal::CoolingDown));
    assert!(m.is_cooling_down(at(60), &id(4)));
    assert!(!m.is_cooling_down(at(61), &id(4)));
    assert!(
        !m.is_cooling_down(at(2), &id(5)),
        "a bad network is not misbehaviour"
    );
    m.dial(at(2), addr(5)).unwrap();
    assert_eq!(m.stats().bad_reports, 1);
}

#[test]
fn cooldowns_are_bounded_and_forget_the_earliest_expiry() {
    let mut c = config();
    c.max_cooldowns = 2;
    let mut m = manager(c);
    let bad = Report::Bad(Misbehaviour::BadAddrs);
    for (secs, n) in [(0, 1), (1, 2), (2, 3)] {
        m.report(at(secs), id(n), bad);
    }
    assert!(!m.is_cooling_down(at(3), &id(1)), "evicted");
    assert!(m.is_cooling_down(at(3), &id(2)) && m.is_cooling_down(at(3), &id(3)));
    let mut none = config();
    none.max_cooldowns = 0;
    let mut m = manager(none);
    m.report(at(0), id(1), bad);
    assert!(!m.is_cooling_down(at(0), &id(1)));
}

#[test]
fn stopped_refuses_everything_and_disconnects_every_peer_once() {
    let mut c = config();
    c.persistent_peers = std::vec![addr(9)];
    let mut m = manager(c);
    let a = inbound_peer(&mut m, at(0), 1);
    let b = outbound_peer(&mut m, at(0), 2);
    let pending = m.accept(at(0), sock(3, 1)).unwrap();
    assert!(m.stop_peer(id(2), DisconnectReason::Requested));
    drain(&mut m);
    m.stop();
    let stopping = DisconnectReason::Stopping;
    assert_eq!(
        drain(&mut m),
        [Action::Disconnect {
            conn: a,
            id: id(1),
            reason: stopping
        }]
    );
    assert_eq!(m.poll_timeout(), None);
    m.handle_timeout(at(100));
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.accept(at(1), sock(4, 1)), Err(Refusal::Stopped));
    assert_eq!(m.dial(at(1), addr(4)), Err(Refusal::Stopped));
    assert_eq!(
        m.handshake_done(at(1), pending, info(3, sock(3, 1))),
        Err(Refusal::Stopped)
    );
    m.peer_closed(at(1), a, stopping);
    m.peer_closed(at(1), b, DisconnectReason::Requested);
    assert_eq!(drain(&mut m).len(), 2);
    m.add_persistent(at(1), addr(7));
    assert_eq!((m.num_peers(), m.poll_timeout()), (0, None));
    assert!(m.is_stopped());
}

#[test]
fn stop_withdraws_scheduled_dials_not_yet_polled() {
    let mut c = config();
    c.persistent_peers = std::vec![addr(1)];
    let mut m = manager(c);
    m.handle_timeout(at(10));
    assert_eq!(m.num_dialing(), 1);
    m.stop();
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.num_handshakes(), 0);
}

#[test]
fn unknown_connections_are_caller_misuse() {
    let mut m = manager(config());
    assert_eq!(
        m.handshake_done(at(0), ConnId(99), info(1, sock(1, 1))),
        Err(Refusal::UnknownConnection)
    );
    m.connect_failed(at(0), ConnId(99), ConnectFailure::Dial);
    m.peer_closed(at(0), ConnId(99), DisconnectReason::Eof);
    assert!(!m.stop_peer(id(1), DisconnectReason::Requested));
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.stats().failed, 0);
}

// ---- peers, reports, actions ----

#[test]
fn stop_peer_queues_one_disconnect_and_close_clears_it() {
    let mut m = manager(config());
    let conn = inbound_peer(&mut m, at(0), 1);
    assert_eq!(drain(&mut m), [Action::PeerAdded { conn, id: id(1) }]);
    assert!(m.stop_peer(id(1), DisconnectReason::Requested));
    assert!(m.stop_peer(id(1), DisconnectReason::Requested));
    m.report(at(0), id(1), Report::Bad(Misbehaviour::UnsolicitedAddrs));
    m.peer_closed(at(0), conn, DisconnectReason::Eof);
    let reason = DisconnectReason::Eof;
    assert_eq!(
        drain(&mut m),
        [Action::PeerRemoved {
            conn,
            id: id(1),
            reason
        }]
    );
}

#[test]
fn good_reports_are_counted_and_stats_add_up() {
    let mut m = manager(config());
    inbound_peer(&mut m, at(0), 1);
    m.report(at(0), id(1), Report::Good);
    m.report(at(0), id(1), Report::Good);
    m.report(at(0), id(2), Report::Good); // unknown peer: counted only in stats
    assert_eq!(m.peer(&id(1)).unwrap().good_reports, 2);
    let d = m.dial(at(0), addr(3)).unwrap();
    m.connect_failed(at(0), d, ConnectFailure::Dial);
    let _ = m.accept(at(0), sock(1, 9));
    let s = m.stats();
    assert_eq!(
        (s.accepted, s.dialed, s.added, s.failed, s.good_reports),
        (1, 1, 1, 1, 3)
    );
    assert_eq!((s.refused(Refusal::DuplicateIp), s.refused_total()), (1, 1));
}

#[test]
fn peer_entries_describe_the_connection() {
    let mut c = config();
    c.persistent_peers = std::vec![addr(5)];
    let mut m = manager(c);
    let out = outbound_peer(&mut m, at(2), 5);
    let p = *m.peer(&id(5)).unwrap();
    assert!(p.is_outbound() && p.persistent && !p.unconditional);
    assert_eq!((p.conn, p.dialed, p.since), (out, Some(addr(5)), at(2)));
    // Inbound: persistent only if its listen address is the persistent one.
    let remote = sock(6, 1);
    let conn = m.accept(at(3), remote).unwrap();
    let listen = Some(NetAddr::new(id(6), ip(6), PORT));
    m.handshake_done(
        at(3),
        conn,
        PeerInfo {
            id: id(6),
            remote,
            listen_addr: listen,
        },
    )
    .unwrap();
    let p = *m.peer(&id(6)).unwrap();
    assert!(!p.is_outbound() && !p.persistent);
    assert_eq!((p.listen_addr, p.dialed), (listen, None));
    assert_eq!(m.peers().count(), 2);
}

// ---- persistent peers ----

/// Fires the timer until an `Action::Dial` comes out; returns it and when.
fn next_dial(m: &mut PeerManager<XorShift>) -> (Instant, ConnId, NetAddr) {
    for _ in 0..100 {
        let t = m.poll_timeout().expect("a dial is scheduled");
        m.handle_timeout(t);
        for a in drain(m) {
            if let Action::Dial { conn, addr } = a {
                return (t, conn, addr);
            }
        }
    }
    panic!("no dial");
}

fn assert_within(t: Instant, from: Instant, min: Duration, max_excl: Duration) {
    let d = t.saturating_duration_since(from);
    assert!(
        t > from && d >= min && d < max_excl,
        "{d:?} not in [{min:?}, {max_excl:?})"
    );
}

#[test]
fn persistent_peers_are_dialled_within_the_start_jitter() {
    let mut c = config();
    c.persistent_peers = std::vec![addr(1), addr(2), addr(OUR)];
    let mut m = PeerManager::new(c, XorShift::new(9), at(100));
    assert_eq!(
        m.persistent_peers().count(),
        2,
        "our own address is ignored"
    );
    let mut dialled = Vec::new();
    for _ in 0..2 {
        let (t, _, a) = next_dial(&mut m);
        assert!(t >= at(100) && t < at(103));
        dialled.push(a);
    }
    dialled.sort();
    assert_eq!(dialled, [addr(1), addr(2)]);
    assert_eq!(m.poll_timeout(), None, "both dialing");
    assert_eq!(m.dial(at(104), addr(1)), Err(Refusal::AlreadyDialing));
    m.handle_timeout(at(200));
    assert!(drain(&mut m).is_empty(), "never dialled twice at once");
    assert_eq!(m.num_dialing(), 2);
}

#[test]
fn failed_persistent_dials_back_off_within_bounds() {
    let mut c = config();
    c.persistent_peers = std::vec![addr(1)];
    let mut m = manager(c);
    let backoff = Backoff::default();
    let jitter = backoff.jitter;
    for attempt in 1..=25u32 {
        let (_, conn, a) = next_dial(&mut m);
        assert_eq!(a, addr(1));
        let failed_at = m.attempts().next().unwrap().since + Duration::from_secs(1);
        m.connect_failed(failed_at, conn, ConnectFailure::Dial);
        let step = if attempt <= 20 {
            Duration::from_secs(1 << (attempt - 1).min(3)).min(Duration::from_secs(5))
        } else {
            Duration::from_secs(3u64.pow(attempt - 20))
        };
        let next = m.next_dial(&id(1)).unwrap();
        assert_within(next, failed_at, step, step + jitter);
    }
}

#[test]
fn redial_after_peer_closed_restarts_or_continues_the_backoff() {
    let mut c = config();
    c.persistent_peers = std::vec![addr(1)];
    let mut m = manager(c);
    let (t, conn, _) = next_dial(&mut m);
    m.connect_failed(t, conn, ConnectFailure::Handshake); // attempt 1
    let (t, conn, _) = next_dial(&mut m);
    m.handshake_done(t, conn, info(1, addr(1).socket_addr()))
        .unwrap();
    assert_eq!(m.next_dial(&id(1)), None);
    // A short connection continues the backoff: attempt 2 waits 2 s + jitter.
    let closed = t + Duration::from_secs(5);
    m.peer_closed(closed, conn, DisconnectReason::Eof);
    assert_within(
        m.next_dial(&id(1)).unwrap(),
        closed,
        Duration::from_secs(2),
        Duration::from_secs(5),
    );
    let (t, conn, _) = next_dial(&mut m);
    m.handshake_done(t, conn, info(1, addr(1).socket_addr()))
        .unwrap();
    // One that lasted restarts at attempt 1: 1 s + jitter.
    let closed = t + Duration::from_secs(3_600);
    m.peer_closed(closed, conn, DisconnectReason::SocketError);
    assert_within(
        m.next_dial(&id(1)).unwrap(),
        closed,
        Duration::from_secs(1),
        Duration::from_secs(4),
    );
    let (_, _, a) = next_dial(&mut m);
    assert_eq!(a, addr(1));
}

#[test]
fn redial_is_skipped_while_connected_inbound_and_resumes_after() {
    let mut c = config();
    c.persistent_peers = std::vec![addr(1)];
    let mut m = manager(c);
    let remote = sock(1, 50_000);
    let conn = m.accept(at(0), remote).unwrap();
    let listen = Some(addr(1));
    m.handshake_done(
        at(0),
        conn,
        PeerInfo {
            id: id(1),
            remote,
            listen_addr: listen,
        },
    )
    .unwrap();
    assert!(
        m.peer(&id(1)).unwrap().persistent,
        "listen address is persistent"
    );
    m.handle_timeout(at(10));
    assert!(!drain(&mut m)
        .iter()
        .any(|a| matches!(a, Action::Dial { .. })));
    assert_eq!(m.poll_timeout(), None);
    m.peer_closed(at(20), conn, DisconnectReason::Eof);
    let (t, _, a) = next_dial(&mut m);
    assert_eq!(a, addr(1));
    assert!(t > at(20));
}

#[test]
fn a_persistent_id_refused_at_dial_time_is_rescheduled() {
    let mut c = config();
    c.persistent_peers = std::vec![addr(1)];
    c.max_handshakes = 1;
    let mut m = manager(c);
    let other = m.accept(at(0), sock(2, 1)).unwrap();
    let due = m.poll_timeout().unwrap();
    m.handle_timeout(due);
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.stats().refused(Refusal::TooManyHandshakes), 1);
    let next = m.next_dial(&id(1)).unwrap();
    assert_within(next, due, Duration::from_secs(1), Duration::from_secs(4));
    m.connect_failed(due, other, ConnectFailure::Handshake);
    assert_eq!(next_dial(&mut m).2, addr(1));
}

#[test]
fn a_misbehaving_persistent_peer_is_not_cooled_down_but_backs_off() {
    let mut c = config();
    c.persistent_peers = std::vec![addr(1)];
    let mut m = manager(c);
    let (t, conn, _) = next_dial(&mut m);
    m.handshake_done(t, conn, info(1, addr(1).socket_addr()))
        .unwrap();
    let bad = Misbehaviour::BadMessage { channel: 0x30 };
    let later = t + Duration::from_secs(3_600);
    m.report(later, id(1), Report::Bad(bad));
    assert!(!m.is_cooling_down(later, &id(1)));
    m.peer_closed(later, conn, DisconnectReason::Misbehaved(bad));
    // Lasted an hour, but it misbehaved: attempt 1 (never failed) + 1 = 2.
    assert_within(
        m.next_dial(&id(1)).unwrap(),
        later,
        Duration::from_secs(2),
        Duration::from_secs(5),
    );
}

#[test]
fn add_persistent_schedules_and_ignores_ourselves() {
    let mut m = manager(config());
    m.add_persistent(at(50), addr(OUR));
    assert_eq!(m.poll_timeout(), None);
    m.add_persistent(at(50), addr(4));
    assert!(m.is_persistent(&id(4)));
    let (t, _, a) = next_dial(&mut m);
    assert!(t >= at(50) && t < at(53) && a == addr(4));
    let moved = NetAddr::new(id(4), ip(44), PORT);
    m.add_persistent(at(60), moved);
    assert_eq!(m.persistent_peers().copied().collect::<Vec<_>>(), [moved]);
}

#[test]
fn private_and_unconditional_lookups() {
    let mut c = config();
    c.private_ids = std::vec![id(3)];
    c.unconditional_ids = std::vec![id(4)];
    let m = manager(c);
    assert!(m.is_private(&id(3)) && !m.is_private(&id(4)));
    assert!(m.is_unconditional(&id(4)) && !m.is_unconditional(&id(3)));
    assert!(!m.is_persistent(&id(3)));
    assert_eq!(m.config().our_id, id(OUR));
}

// ---- property: limits hold under any sequence ----

mod property;
