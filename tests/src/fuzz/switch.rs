//! Target `switch_policy`: the switch policy (`mconn::switch`) driven by an
//! arbitrary script, checked against a reference model.
//!
//! Input: `[mode] …`. With the top bit of `mode` set, the rest drives
//! [`Routes`](mconn::switch::Routes) (see [`routes`]); otherwise
//! `[flags][limits][caps][persistent] op…` drives a
//! [`PeerManager`] with a small configuration (see [`Setup`] and
//! [`Harness::op`]): accepts, dials, handshake outcomes, failures, closes,
//! reports, `stop_peer`, `add_persistent`, clock jumps, spurious timer
//! calls and `stop`. The harness is the runtime: after every call it
//! drains `poll_action`, keeps every `Disconnect` until the script closes
//! that peer (with the reason asked for, or an EOF), and fires the timer
//! whenever it is due.
//!
//! The model mirrors the peer set, the handshakes in flight, the
//! persistent addresses, the cooldowns and the counters. Checks, after
//! every call:
//!
//! * every refusal (`accept`, `dial`, `handshake_done`) is one the model
//!   can justify from the state and the configuration, and a call the
//!   model finds no reason to refuse succeeds (cooldowns are only
//!   required when no cooldown can have been evicted);
//! * the actions queued are exactly the expected ones (`PeerAdded`,
//!   `Disconnect` once per peer with the requested reason, `PeerRemoved`
//!   with the reason reported, `Stopping` for everyone on `stop`); a
//!   timer call dials only persistent addresses that were due, each
//!   admissible when it is dialled, and skips a due one only when it is
//!   busy or refused;
//! * peers, handshakes in flight, persistent addresses and counters equal
//!   the model's; every cap holds (totals, inbound sockets, outbound load,
//!   handshakes, per IP, duplicate IPs); no duplicate IDs, no ID dialled
//!   twice, never ourselves; connection IDs are fresh;
//! * every persistent address is connected, being dialled or scheduled;
//!   after the timer ran the next deadline is in the future; after `stop`
//!   there is none.

mod model;
mod routes;

use std::collections::BTreeSet;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::time::Duration;

use mconn::identity::{NetAddr, NodeId};
use mconn::session::CloseReason;
use mconn::switch::{
    Action, Attempt, Backoff, ConnId, ConnectFailure, Direction, DisconnectReason, Misbehaviour,
    PeerEntry, PeerInfo, PeerManager, Refusal, Report, SwitchConfig,
};
use mconn::{conn, Instant};

use super::mconn_ops::trace;
use super::{Input, Rng};

use model::{Model, ModelPeer};

/// Node IDs `0..IDS`; 0 is us.
const IDS: u8 = 8;
const OUR: u8 = 0;
/// The peer filter refuses this ID.
const FILTERED_ID: u8 = 7;
/// The address filter refuses this IP index.
const FILTERED_IP: u8 = 5;
const PORT: u16 = 26656;
/// Operations per input at most (inputs are at most a few KB anyway).
const MAX_OPS: usize = 4096;

fn id(n: u8) -> NodeId {
    NodeId([n % IDS; 20])
}

/// IP number `n % 7`: five IPv4 addresses (the last one filtered when the
/// address filter is on), two IPv6 ones; `mapped` writes an IPv4 address
/// as IPv4-mapped IPv6 (the same IP for every per-IP rule).
fn ip(n: u8, mapped: bool) -> IpAddr {
    let n = n % 7;
    let v4 = match n {
        0..=4 => Ipv4Addr::new(10, 0, 0, n + 1),
        5 => Ipv4Addr::new(10, 0, 0, 13),
        _ => return IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 7)),
    };
    if mapped {
        IpAddr::V6(v4.to_ipv6_mapped())
    } else {
        IpAddr::V4(v4)
    }
}

fn filtered_ip() -> IpAddr {
    ip(FILTERED_IP, false)
}

fn misbehaviour(b: u8) -> Misbehaviour {
    match b % 6 {
        0 => Misbehaviour::BadMessage { channel: b },
        1 => Misbehaviour::PexRequestTooSoon,
        2 => Misbehaviour::UnsolicitedAddrs,
        3 => Misbehaviour::BadAddrs,
        4 => Misbehaviour::ReactorOverflow { channel: b },
        _ => Misbehaviour::Other("fuzz"),
    }
}

/// The configuration and hooks, from the first input bytes.
struct Setup {
    config: SwitchConfig,
    addr_filter: bool,
    peer_filter: bool,
}

impl Setup {
    /// `[flags][limits][caps][persistent]`.
    fn read(input: &mut Input<'_>) -> Setup {
        let (flags, limits, caps, pers) = (input.u8(), input.u8(), input.u8(), input.u8());
        let mut c = SwitchConfig::new(id(OUR));
        c.allow_duplicate_ip = flags & 1 != 0;
        c.max_inbound = usize::from(limits & 3);
        c.max_outbound = usize::from(limits >> 2 & 3);
        c.max_handshakes = 1 + usize::from(limits >> 4 & 3);
        c.inbound_handshake_allowance = usize::from(limits >> 6);
        c.max_handshakes_per_ip = 1 + usize::from(caps & 1);
        c.max_connections_per_ip = 1 + usize::from(caps >> 1 & 3);
        c.max_connections = 1 + usize::from(caps >> 3 & 7) + usize::from(caps >> 6);
        c.max_cooldowns = if flags & 8 != 0 { 1 } else { 64 };
        if flags & 0x10 != 0 {
            c.persistent_backoff = Backoff {
                first: Duration::ZERO,
                fast_cap: Duration::from_millis(300),
                fast_attempts: 3,
                slow_base: 2,
                slow_steps: 2,
                jitter: Duration::ZERO,
                max_period: Some(Duration::from_secs(2)),
            };
            c.persistent_start_jitter = Duration::ZERO;
        }
        c.persistent_stable_after = match flags >> 5 & 1 {
            0 => Duration::from_secs(30),
            _ => Duration::ZERO,
        };
        c.misbehaviour_cooldown = Duration::from_secs(u64::from(pers >> 6) * 20);
        // Unconditional: IDs 1 and/or 2.
        c.unconditional_ids = (1..=2)
            .filter(|n| pers >> (n - 1) & 1 != 0)
            .map(id)
            .collect();
        c.private_ids = vec![id(6)];
        // Up to four persistent addresses: IDs 2, 3, us (ignored), 2 again
        // (the second address replaces the first).
        let candidates = [
            NetAddr::new(id(2), ip(1, false), PORT),
            NetAddr::new(id(3), ip(2, true), PORT),
            NetAddr::new(id(OUR), ip(3, false), PORT),
            NetAddr::new(id(2), ip(6, false), PORT + 1),
        ];
        let n = usize::from(pers >> 2 & 7).min(candidates.len());
        c.persistent_peers = candidates[..n].to_vec();
        Setup {
            config: c,
            addr_filter: flags & 2 != 0,
            peer_filter: flags & 4 != 0,
        }
    }
}

struct Harness {
    m: PeerManager<Rng>,
    model: Model,
    now: Instant,
    port: u16,
}

impl Harness {
    fn new(setup: Setup, seed: u64) -> Self {
        let now = Instant::ZERO;
        let mut m = PeerManager::new(setup.config.clone(), Rng::new(seed), now);
        if setup.addr_filter {
            m.set_addr_filter(Box::new(|remote| {
                remote.ip().to_canonical() != filtered_ip()
            }));
        }
        if setup.peer_filter {
            m.set_peer_filter(Box::new(|info| info.id != id(FILTERED_ID)));
        }
        let model = Model::new(&setup);
        let mut h = Harness {
            m,
            model,
            now,
            port: 40_000,
        };
        h.expect_actions(&[]);
        h.run_timer(false);
        h
    }

    fn actions(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        for _ in 0..10_000 {
            match self.m.poll_action() {
                Some(a) => out.push(a),
                None => return out,
            }
        }
        panic!("poll_action never drains");
    }

    fn expect_actions(&mut self, expected: &[Action]) {
        let got = self.actions();
        assert_eq!(got, expected, "actions");
    }

    /// One step of the script.
    fn op(&mut self, input: &mut Input<'_>) {
        let code = input.u8() % 12;
        if trace() {
            eprintln!("{:?} op {code} {:?}", self.now, input);
        }
        match code {
            0 => self.accept(input.u8()),
            1 => {
                let (who, at) = (input.u8(), input.u8());
                self.dial(NetAddr::new(id(who), ip(at, at & 0x80 != 0), PORT));
            }
            2 => self.handshake_done(input.u8(), input.u8(), input.u8()),
            3 => {
                let (pick, kind) = (input.u8(), input.u8());
                let conn = self.pick_attempt(pick);
                let why = match kind % 3 {
                    0 => ConnectFailure::Dial,
                    1 => ConnectFailure::Handshake,
                    _ => ConnectFailure::Refused(Refusal::ALL[usize::from(kind) % Refusal::COUNT]),
                };
                self.connect_failed(conn, why);
            }
            4 => self.close(input.u8(), input.u8()),
            5 => {
                let (who, what) = (input.u8(), input.u8());
                let report = match what & 1 {
                    0 => Report::Good,
                    _ => Report::Bad(misbehaviour(what >> 1)),
                };
                self.report(id(who), report);
            }
            6 => self.stop_peer(id(input.u8())),
            7 => {
                let step = input.u8();
                let dt = match step {
                    0..=127 => Duration::from_millis(u64::from(step) * 100),
                    _ => Duration::from_secs(u64::from(step - 128) * 10),
                };
                self.now += dt;
            }
            8 => {
                let (who, at) = (input.u8(), input.u8());
                let addr = NetAddr::new(id(who), ip(at, false), PORT + u16::from(at >> 4));
                self.m.add_persistent(self.now, addr);
                self.model.add_persistent(addr);
                self.expect_actions(&[]);
            }
            9 => self.stop(),
            10 => self.run_timer(true),
            _ => self.carry_out_disconnects(),
        }
        self.run_timer(false);
        self.check();
    }

    fn accept(&mut self, b: u8) {
        self.port = self.port.wrapping_add(1);
        let remote = SocketAddr::new(ip(b, b & 0x80 != 0), self.port);
        let reasons = self.model.accept_refusals(remote);
        let result = self.m.accept(self.now, remote);
        self.model.judge("accept", &result, &reasons);
        if let Ok(conn) = result {
            self.model.fresh(conn);
            self.model.stats.accepted += 1;
            let attempt = Attempt {
                conn,
                direction: Direction::Inbound,
                remote,
                dialed: None,
                since: self.now,
            };
            self.model.attempts.insert(conn, attempt);
        }
        self.expect_actions(&[]);
    }

    fn dial(&mut self, addr: NetAddr) {
        let reasons = self.model.dial_refusals(self.now, &addr);
        let result = self.m.dial(self.now, addr);
        self.model.judge("dial", &result, &reasons);
        if let Ok(conn) = result {
            self.new_dial(conn, addr);
        }
        self.expect_actions(&[]);
    }

    fn new_dial(&mut self, conn: ConnId, addr: NetAddr) {
        self.model.fresh(conn);
        self.model.stats.dialed += 1;
        let attempt = Attempt {
            conn,
            direction: Direction::Outbound,
            remote: addr.socket_addr(),
            dialed: Some(addr),
            since: self.now,
        };
        self.model.attempts.insert(conn, attempt);
    }

    /// An attempt in flight, or (one pick in `len + 1`) a connection ID
    /// that is none.
    fn pick_attempt(&self, pick: u8) -> ConnId {
        let conns: Vec<ConnId> = self.model.attempts.keys().copied().collect();
        match conns.get(usize::from(pick) % (conns.len() + 1)) {
            Some(c) => *c,
            None => ConnId(self.model.last_conn.map_or(0, |c| c.0) + 1 + u64::from(pick & 1)),
        }
    }

    fn handshake_done(&mut self, pick: u8, who: u8, how: u8) {
        let conn = self.pick_attempt(pick);
        let Some(attempt) = self.model.attempts.get(&conn).copied() else {
            let info = PeerInfo {
                id: id(who),
                remote: SocketAddr::new(ip(who, false), 1),
                listen_addr: None,
            };
            let result = self.m.handshake_done(self.now, conn, info);
            assert_eq!(result, Err(Refusal::UnknownConnection));
            self.model.stats.refused_by[Refusal::UnknownConnection.index()] += 1;
            return self.expect_actions(&[]);
        };
        // An outbound peer is who we dialled (the session checks), except
        // when the script says otherwise.
        let peer = match attempt.dialed_id() {
            Some(dialed) if how & 1 == 0 => dialed,
            _ => id(who),
        };
        let listen_addr = match how >> 1 & 3 {
            0 => None,
            1 => Some(NetAddr::new(peer, ip(who >> 3, false), PORT)),
            // A persistent address, so an inbound peer counts as persistent.
            _ => self
                .model
                .persistent
                .get(usize::from(how >> 3) % self.model.persistent.len().max(1))
                .copied(),
        };
        let info = PeerInfo {
            id: peer,
            remote: attempt.remote,
            listen_addr,
        };
        self.model.attempts.remove(&conn);
        let reasons = self.model.peer_refusals(self.now, &attempt, &info);
        let result = self.m.handshake_done(self.now, conn, info);
        self.model.judge("handshake_done", &result, &reasons);
        if result.is_err() {
            return self.expect_actions(&[]);
        }
        let persistent = match attempt.direction {
            Direction::Outbound => self.model.is_persistent(&peer),
            Direction::Inbound => listen_addr.is_some_and(|l| self.model.persistent.contains(&l)),
        };
        let entry = PeerEntry {
            conn,
            id: peer,
            direction: attempt.direction,
            remote: info.remote,
            listen_addr,
            dialed: attempt.dialed,
            persistent,
            unconditional: self.model.is_unconditional(&peer),
            since: self.now,
            good_reports: 0,
            bad_reports: 0,
        };
        let peer_state = ModelPeer {
            entry,
            disconnect: None,
        };
        self.model.peers.insert(conn, peer_state);
        self.model.wrong_id |= attempt.dialed_id().is_some_and(|d| d != peer);
        self.model.stats.added += 1;
        self.expect_actions(&[Action::PeerAdded { conn, id: peer }]);
    }

    fn connect_failed(&mut self, conn: ConnId, why: ConnectFailure) {
        self.m.connect_failed(self.now, conn, why);
        if self.model.attempts.remove(&conn).is_some() {
            self.model.stats.failed += 1;
        }
        self.expect_actions(&[]);
    }

    /// Closes a peer (with its requested disconnect reason or one from the
    /// script), or reports `peer_closed` for an attempt or unknown ID.
    fn close(&mut self, pick: u8, why: u8) {
        let peers: Vec<ConnId> = self.model.peers.keys().copied().collect();
        let conn = match peers.get(usize::from(pick) % (peers.len() + 1)) {
            Some(c) => *c,
            None => self.pick_attempt(why),
        };
        let reason = match why % 6 {
            0 => DisconnectReason::Eof,
            1 => DisconnectReason::SocketError,
            2 => DisconnectReason::Session(CloseReason::HandshakeTimeout),
            3 => DisconnectReason::Session(CloseReason::Conn(conn::CloseReason::PongTimeout)),
            4 => DisconnectReason::Session(CloseReason::Conn(conn::CloseReason::Closed)),
            _ => DisconnectReason::Requested,
        };
        let reason = self
            .model
            .peers
            .get(&conn)
            .and_then(|p| p.disconnect)
            .filter(|_| why & 0x80 == 0)
            .unwrap_or(reason);
        self.peer_closed(conn, reason);
    }

    fn peer_closed(&mut self, conn: ConnId, reason: DisconnectReason) {
        self.m.peer_closed(self.now, conn, reason);
        match self.model.peers.remove(&conn) {
            Some(p) => {
                self.model.stats.removed += 1;
                let id = p.entry.id;
                // A session closed for the peer's fault (not a missing
                // pong) counts as a bad report.
                let pong = CloseReason::Conn(conn::CloseReason::PongTimeout);
                if let DisconnectReason::Session(r) = reason {
                    if r.is_peer_fault() && r != pong {
                        self.model.stats.bad_reports += 1;
                        self.cool_down(id);
                    }
                }
                self.expect_actions(&[Action::PeerRemoved { conn, id, reason }]);
            }
            None => {
                if self.model.attempts.remove(&conn).is_some() {
                    self.model.stats.failed += 1;
                }
                self.expect_actions(&[]);
            }
        }
    }

    /// Carries out every requested disconnect.
    fn carry_out_disconnects(&mut self) {
        let pending: Vec<(ConnId, DisconnectReason)> = self
            .model
            .peers
            .iter()
            .filter_map(|(c, p)| p.disconnect.map(|r| (*c, r)))
            .collect();
        for (conn, reason) in pending {
            self.peer_closed(conn, reason);
        }
    }

    /// The model's side of a disconnect request for `id`.
    fn request_disconnect(&mut self, id: NodeId, reason: DisconnectReason) -> Vec<Action> {
        let Some(p) = self.model.peers.values_mut().find(|p| p.entry.id == id) else {
            return Vec::new();
        };
        if p.disconnect.is_some() {
            return Vec::new();
        }
        p.disconnect = Some(reason);
        let conn = p.entry.conn;
        vec![Action::Disconnect { conn, id, reason }]
    }

    fn report(&mut self, id: NodeId, report: Report) {
        self.m.report(self.now, id, report);
        let peer = self.model.peers.values_mut().find(|p| p.entry.id == id);
        let expected = match report {
            Report::Good => {
                self.model.stats.good_reports += 1;
                if let Some(p) = peer {
                    p.entry.good_reports += 1;
                }
                Vec::new()
            }
            Report::Bad(m) => {
                self.model.stats.bad_reports += 1;
                if let Some(p) = peer {
                    p.entry.bad_reports += 1;
                }
                self.cool_down(id);
                self.request_disconnect(id, DisconnectReason::Misbehaved(m))
            }
        };
        self.expect_actions(&expected);
    }

    /// A bad report on `id`: refused for the cooldown unless persistent.
    fn cool_down(&mut self, id: NodeId) {
        if !self.model.is_persistent(&id) {
            let until = self.now + self.model.cfg.misbehaviour_cooldown;
            let t = self.model.cooldowns.entry(id).or_insert(until);
            *t = (*t).max(until);
        }
    }

    fn stop_peer(&mut self, id: NodeId) {
        let found = self.m.stop_peer(id, DisconnectReason::Requested);
        assert_eq!(found, self.model.peer_by_id(&id).is_some(), "stop_peer");
        let expected = self.request_disconnect(id, DisconnectReason::Requested);
        self.expect_actions(&expected);
    }

    fn stop(&mut self) {
        self.m.stop();
        self.model.stopped = true;
        let ids: Vec<NodeId> = self.model.peers.values().map(|p| p.entry.id).collect();
        let mut expected = Vec::new();
        for id in ids {
            expected.extend(self.request_disconnect(id, DisconnectReason::Stopping));
        }
        self.expect_actions(&expected);
        assert!(self.m.is_stopped());
        assert_eq!(self.m.poll_timeout(), None, "a deadline after stop");
    }

    /// Fires the timer if it is due (or always, if `spurious`) and checks
    /// the dials it starts.
    fn run_timer(&mut self, spurious: bool) {
        let now = self.now;
        if !(spurious || self.m.poll_timeout().is_some_and(|t| t <= now)) {
            return;
        }
        let due: Vec<NetAddr> = self
            .model
            .persistent
            .iter()
            .filter(|p| self.m.next_dial(&p.id).is_some_and(|t| t <= now))
            .copied()
            .collect();
        let before: Vec<Option<Instant>> = self
            .model
            .persistent
            .iter()
            .map(|p| self.m.next_dial(&p.id))
            .collect();
        self.m.handle_timeout(now);
        let mut dialled = BTreeSet::new();
        for action in self.actions() {
            let Action::Dial { conn, addr } = action else {
                panic!("handle_timeout queued {action:?}");
            };
            assert!(due.contains(&addr), "dialled {addr:?}, not due: {due:?}");
            let reasons = self.model.dial_refusals(now, &addr);
            let binding = reasons
                .iter()
                .any(|r| *r != Refusal::CoolingDown || self.model.cooldowns_exact());
            assert!(!binding, "scheduled dial of {addr:?} despite {reasons:?}");
            assert!(dialled.insert(addr.id), "{addr:?} dialled twice");
            self.new_dial(conn, addr);
        }
        for (p, was) in self.model.persistent.clone().iter().zip(before) {
            let next = self.m.next_dial(&p.id);
            if !due.contains(p) {
                assert_eq!(next, was, "timer moved {p:?}, which was not due");
                continue;
            }
            if dialled.contains(&p.id) || self.model.is_dialing_or_connected(&p.id) {
                continue;
            }
            // Skipped: only if admission refused it, rescheduled.
            assert!(next.is_some_and(|t| t > now), "{p:?} due and dropped");
            let reasons = self.model.dial_refusals(now, p);
            assert!(!reasons.is_empty(), "due {p:?} neither dialled nor refused");
            self.model.hidden_refusals += 1;
        }
        if let Some(t) = self.m.poll_timeout() {
            assert!(t > now, "deadline {t:?} not after the timer ran at {now:?}");
        }
    }

    /// The manager's state against the model, and the caps.
    fn check(&self) {
        let m = &self.m;
        let model = &self.model;
        let c = &model.cfg;
        let now = self.now;
        let attempts: Vec<Attempt> = m.attempts().copied().collect();
        let expected: Vec<Attempt> = model.attempts.values().copied().collect();
        assert_eq!(attempts, expected, "handshakes in flight");
        let peers: Vec<PeerEntry> = m.peers().copied().collect();
        let expected: Vec<PeerEntry> = model.peers.values().map(|p| p.entry).collect();
        assert_eq!(peers, expected, "peers");
        let persistent: Vec<NetAddr> = m.persistent_peers().copied().collect();
        assert_eq!(persistent, model.persistent, "persistent addresses");
        assert_eq!(m.is_stopped(), model.stopped);

        let stats = m.stats();
        let mut expected = model.stats;
        expected.refused_by = stats.refused_by;
        assert_eq!(stats, expected, "counters");
        for r in Refusal::ALL {
            assert!(stats.refused(r) >= model.stats.refused(r), "{r:?} count");
        }
        let total = model.stats.refused_total() + model.hidden_refusals;
        assert_eq!(stats.refused_total(), total, "refusal count");

        // The caps, independently of how the model judged each call.
        assert!(m.num_inbound() <= c.max_inbound);
        let limited = |id: &NodeId| !model.is_persistent(id) && !model.is_unconditional(id);
        let limited_out = peers
            .iter()
            .filter(|p| p.is_outbound() && limited(&p.id))
            .count()
            + attempts
                .iter()
                .filter_map(|a| a.dialed_id())
                .filter(limited)
                .count();
        // A peer that is not who we dialled (the session refuses those)
        // is added without the outbound check.
        if !model.wrong_id {
            assert!(
                limited_out <= c.max_outbound,
                "{limited_out} limited outbound"
            );
        }
        assert!(m.num_handshakes() <= c.max_handshakes);
        assert!(peers.len() + attempts.len() <= c.max_connections);
        let inbound = peers.iter().filter(|p| !p.is_outbound()).count()
            + attempts
                .iter()
                .filter(|a| a.direction == Direction::Inbound)
                .count();
        let cap = c.max_inbound + c.unconditional_ids.len() + c.inbound_handshake_allowance;
        assert!(inbound <= cap, "{inbound} inbound sockets");
        for n in 0..7 {
            let at = ip(n, false);
            let sockets = model.sockets_at(at);
            assert!(sockets <= c.max_connections_per_ip);
            assert!(
                c.allow_duplicate_ip || sockets <= 1,
                "{sockets} sockets at {at}"
            );
            let handshakes = attempts
                .iter()
                .filter(|a| a.direction == Direction::Inbound && a.ip() == at)
                .count();
            assert!(handshakes <= c.max_handshakes_per_ip);
        }
        for n in 0..IDS {
            let who = id(n);
            assert!(
                peers.iter().filter(|p| p.id == who).count() <= 1,
                "duplicate ID"
            );
            let dialing = attempts
                .iter()
                .filter(|a| a.dialed_id() == Some(who))
                .count();
            assert!(dialing <= 1, "{who} dialled twice at once");
            assert_eq!(
                m.is_dialing_or_connected(&who),
                model.is_dialing_or_connected(&who)
            );
            assert_eq!(m.is_persistent(&who), model.is_persistent(&who));
            if model.cooldowns_exact() {
                let cooling = model.is_cooling_down(now, &who);
                assert_eq!(m.is_cooling_down(now, &who), cooling, "cooldown of {who}");
            }
        }
        assert!(m.peer(&id(OUR)).is_none(), "connected to ourselves");

        if model.stopped {
            assert_eq!(m.poll_timeout(), None);
            return;
        }
        let mut earliest: Option<Instant> = None;
        for p in &model.persistent {
            let next = m.next_dial(&p.id);
            let busy = model.is_dialing_or_connected(&p.id);
            assert!(busy || next.is_some(), "persistent {p:?} forgotten");
            earliest = match (earliest, next) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        assert_eq!(m.poll_timeout(), earliest, "poll_timeout is the next dial");
        if let Some(t) = earliest {
            assert!(t > now, "deadline {t:?} not after now {now:?}");
        }
    }
}

/// See the module docs.
pub fn switch_policy(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.u8();
    if mode & 0x80 != 0 {
        return routes::routes(input);
    }
    let setup = Setup::read(&mut input);
    let mut h = Harness::new(setup, u64::from(mode));
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        h.op(&mut input);
    }
    // The runtime carries out what is left; everyone ends up closed.
    h.stop();
    h.carry_out_disconnects();
    h.check();
    assert_eq!(h.m.num_peers(), 0, "peers left after stop and disconnects");
}
