//! [`PeerManager`]: the peer set and every rule about who may connect.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use rand_core::RngCore;

use super::config::{uniform, SwitchConfig};
use super::peer::{Action, Attempt, ConnId, Direction, PeerEntry, PeerInfo, SwitchStats};
use super::reason::{ConnectFailure, DisconnectReason, Refusal, Report};
use crate::identity::{NetAddr, NodeId};
use crate::time::Instant;

/// An application hook on a new socket's remote address: `false` refuses it.
pub type AddrFilter = Box<dyn FnMut(SocketAddr) -> bool + Send>;
/// An application hook on an authenticated peer: `false` refuses it.
pub type PeerFilter = Box<dyn FnMut(&PeerInfo) -> bool + Send>;

/// The switch policy: a sans-IO machine over the peer set (spec §5).
///
/// It decides which connections are admitted (before and after the
/// handshake), keeps the peers, schedules persistent redials with
/// [`Backoff`](super::Backoff), and turns reactor reports into disconnects and
/// cooldowns. The runtime carries out the [`Action`]s it queues and reports
/// back what happened; see the [module docs](super) for the driving contract.
///
/// Sizes: peers and attempts are bounded by `max_connections`, cooldowns by
/// `max_cooldowns`, persistent peers by the configuration plus
/// [`add_persistent`](Self::add_persistent) calls; the action queue holds a
/// few actions per call and is drained by the runtime after every call.
pub struct PeerManager<R: RngCore> {
    config: SwitchConfig,
    rng: R,
    next_conn: u64,
    stopped: bool,
    attempts: BTreeMap<ConnId, Attempt>,
    peers: BTreeMap<ConnId, Peer>,
    persistent: Vec<Persistent>,
    cooldowns: BTreeMap<NodeId, Instant>,
    actions: VecDeque<Action>,
    addr_filter: Option<AddrFilter>,
    peer_filter: Option<PeerFilter>,
    stats: SwitchStats,
}

/// A peer plus whether a `Disconnect` was already queued for it.
struct Peer {
    entry: PeerEntry,
    disconnecting: bool,
}

/// A persistent address and its redial state.
struct Persistent {
    addr: NetAddr,
    /// Failed attempts in a row (0 before the first failure).
    attempt: u32,
    /// The scheduled dial; `None` while dialing or connected (or stopped).
    next_dial: Option<Instant>,
    /// Reported bad: the next redial continues the backoff.
    misbehaved: bool,
}

/// How the next persistent redial is scheduled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Redial {
    /// After a connection that lasted: from attempt 1.
    Restart,
    /// After a failure: the next attempt of the backoff.
    Backoff,
}

impl<R: RngCore> PeerManager<R> {
    /// A manager with no peers; schedules the persistent peers' first dials
    /// at `now + U[0, persistent_start_jitter)`.
    pub fn new(config: SwitchConfig, rng: R, now: Instant) -> Self {
        let persistent = config.persistent_peers.clone();
        let mut manager = PeerManager {
            config,
            rng,
            next_conn: 0,
            stopped: false,
            attempts: BTreeMap::new(),
            peers: BTreeMap::new(),
            persistent: Vec::with_capacity(persistent.len()),
            cooldowns: BTreeMap::new(),
            actions: VecDeque::new(),
            addr_filter: None,
            peer_filter: None,
            stats: SwitchStats::default(),
        };
        for addr in persistent {
            manager.add_persistent(now, addr);
        }
        manager
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &SwitchConfig {
        &self.config
    }

    /// Sets a hook on every new socket's remote address (inbound and
    /// outbound): `false` refuses it with [`Refusal::Filtered`].
    pub fn set_addr_filter(&mut self, f: AddrFilter) {
        self.addr_filter = Some(f);
    }

    /// Sets a hook on every authenticated peer: `false` refuses it with
    /// [`Refusal::Filtered`].
    pub fn set_peer_filter(&mut self, f: PeerFilter) {
        self.peer_filter = Some(f);
    }

    /// Admission of an accepted TCP connection, before any crypto: the total
    /// cap, the accepted-socket cap (`max_inbound + unconditional_ids.len() +
    /// inbound_handshake_allowance`), the handshake caps, the per-IP caps,
    /// duplicate IP (unless allowed) and the address filter.
    /// `Ok` = start the handshake and report it with
    /// [`handshake_done`](Self::handshake_done) or
    /// [`connect_failed`](Self::connect_failed).
    pub fn accept(&mut self, now: Instant, remote: SocketAddr) -> Result<ConnId, Refusal> {
        match self.admit_inbound(remote) {
            Ok(()) => {
                self.stats.accepted += 1;
                Ok(self.start_attempt(now, Direction::Inbound, remote, None))
            }
            Err(r) => Err(self.count_refusal(r)),
        }
    }

    /// An outbound dial requested by the application or PEX. Refused if it
    /// is us, already dialing or connected to that ID, cooling down, over
    /// the connection, handshake or per-IP caps, a duplicate IP (unless
    /// allowed), filtered, or — for IDs neither persistent nor unconditional
    /// — if outbound peers plus outbound handshakes reach `max_outbound`.
    /// `Ok` = connect and handshake now, then report the outcome.
    pub fn dial(&mut self, now: Instant, addr: NetAddr) -> Result<ConnId, Refusal> {
        match self.admit_dial(now, addr) {
            Ok(()) => {
                self.stats.dialed += 1;
                let remote = addr.socket_addr();
                Ok(self.start_attempt(now, Direction::Outbound, remote, Some(addr)))
            }
            Err(r) => Err(self.count_refusal(r)),
        }
    }

    /// Adds a persistent peer at runtime (CometBFT `DialPeersAsync` with
    /// `persistent = true`) and schedules its dial at `now + U[0,
    /// persistent_start_jitter)`. One address per ID: a second call for the
    /// same ID replaces the address. Our own ID is ignored.
    pub fn add_persistent(&mut self, now: Instant, addr: NetAddr) {
        if addr.id == self.config.our_id {
            return;
        }
        if let Some(p) = self.persistent.iter_mut().find(|p| p.addr.id == addr.id) {
            p.addr = addr;
            return;
        }
        let next_dial = (!self.stopped)
            .then(|| now + uniform(&mut self.rng, self.config.persistent_start_jitter));
        self.persistent.push(Persistent {
            addr,
            attempt: 0,
            next_dial,
            misbehaved: false,
        });
    }

    /// The attempt `conn` failed before the peer was added (either
    /// direction). A persistent address gets its next dial scheduled with
    /// the backoff. Unknown connections are ignored.
    pub fn connect_failed(&mut self, now: Instant, conn: ConnId, why: ConnectFailure) {
        let Some(attempt) = self.attempts.remove(&conn) else {
            return;
        };
        let _ = why; // for the caller's logs: every kind is a failed attempt
        self.stats.failed += 1;
        if let Some(id) = attempt.dialed_id() {
            self.reschedule(now, id, Redial::Backoff);
        }
    }

    /// The handshake of `conn` completed with `info`. Refused if the switch
    /// is stopping, the peer is us, a peer with its ID exists, the ID is
    /// cooling down, it is a non-unconditional inbound peer while inbound
    /// peers reach `max_inbound`, its IP is a duplicate (unless allowed) or
    /// over the per-IP cap, or the peer filter says no. (That an outbound
    /// peer is the ID we dialled is the session's check.)
    ///
    /// `Ok`: the peer is added and [`Action::PeerAdded`] queued. `Err`: close
    /// the connection; the attempt is forgotten (and a persistent address
    /// rescheduled). An inbound peer whose `listen_addr` equals a persistent
    /// address counts as persistent.
    pub fn handshake_done(
        &mut self,
        now: Instant,
        conn: ConnId,
        info: PeerInfo,
    ) -> Result<(), Refusal> {
        let Some(attempt) = self.attempts.remove(&conn) else {
            return Err(self.count_refusal(Refusal::UnknownConnection));
        };
        if let Err(r) = self.admit_peer(now, &attempt, &info) {
            if let Some(dialed) = attempt.dialed_id() {
                self.reschedule(now, dialed, Redial::Backoff);
            }
            self.reschedule(now, info.id, Redial::Backoff);
            return Err(self.count_refusal(r));
        }
        let persistent = match attempt.direction {
            Direction::Outbound => self.is_persistent(&info.id),
            Direction::Inbound => info
                .listen_addr
                .is_some_and(|listen| self.persistent.iter().any(|p| p.addr == listen)),
        };
        let entry = PeerEntry {
            conn,
            id: info.id,
            direction: attempt.direction,
            remote: info.remote,
            listen_addr: info.listen_addr,
            dialed: attempt.dialed,
            persistent,
            unconditional: self.is_unconditional(&info.id),
            since: now,
            good_reports: 0,
            bad_reports: 0,
        };
        self.peers.insert(
            conn,
            Peer {
                entry,
                disconnecting: false,
            },
        );
        if let Some(p) = self.persistent.iter_mut().find(|p| p.addr.id == info.id) {
            p.next_dial = None; // connected: redialled when it closes
        }
        self.stats.added += 1;
        self.actions
            .push_back(Action::PeerAdded { conn, id: info.id });
        if let Some(dialed) = attempt.dialed_id().filter(|d| *d != info.id) {
            // Not the ID we dialled (the session refuses that; be safe anyway).
            self.reschedule(now, dialed, Redial::Backoff);
        }
        Ok(())
    }

    /// An added peer's connection ended: [`Action::PeerRemoved`] is queued
    /// and a persistent ID's redial scheduled (from attempt 1 after a
    /// connection that lasted `persistent_stable_after`, continuing the
    /// backoff otherwise or after a bad report). A session that closed for
    /// the peer's fault counts as a bad report (cooldown). A `conn` still in its
    /// handshake is treated as [`connect_failed`](Self::connect_failed).
    pub fn peer_closed(&mut self, now: Instant, conn: ConnId, reason: DisconnectReason) {
        let Some(peer) = self.peers.remove(&conn) else {
            self.connect_failed(now, conn, ConnectFailure::Handshake);
            return;
        };
        let PeerEntry { id, since, .. } = peer.entry;
        self.actions
            .retain(|a| !matches!(a, Action::Disconnect { conn: c, .. } if *c == conn));
        self.actions
            .push_back(Action::PeerRemoved { conn, id, reason });
        self.stats.removed += 1;
        // The connection itself caught the peer misbehaving (bad bytes, a
        // ping flood, an unknown channel, an oversize or stale message):
        // treated like a bad report, so it is not readmitted or redialled
        // at once. A missing pong is not misbehaviour (a bad network).
        if reason.is_protocol_violation() {
            self.stats.bad_reports += 1;
            match self.persistent.iter_mut().find(|p| p.addr.id == id) {
                Some(p) => p.misbehaved = true,
                None => self.start_cooldown(now, id),
            }
        }
        let lasted = now.saturating_duration_since(since) >= self.config.persistent_stable_after;
        let redial = if lasted {
            Redial::Restart
        } else {
            Redial::Backoff
        };
        self.reschedule(now, id, redial);
    }

    /// Asks to disconnect a peer (application or reactor): queues
    /// [`Action::Disconnect`] once. `false` if no such peer.
    pub fn stop_peer(&mut self, id: NodeId, reason: DisconnectReason) -> bool {
        let Some(peer) = self.peers.values_mut().find(|p| p.entry.id == id) else {
            return false;
        };
        if !peer.disconnecting {
            peer.disconnecting = true;
            let conn = peer.entry.conn;
            self.actions
                .push_back(Action::Disconnect { conn, id, reason });
        }
        true
    }

    /// A reactor's report on `id`. `Good` is counted. `Bad` is counted,
    /// queues a disconnect ([`DisconnectReason::Misbehaved`]) and refuses
    /// the ID for `misbehaviour_cooldown` — or, for a persistent ID, makes
    /// its next redial continue the backoff instead.
    pub fn report(&mut self, now: Instant, id: NodeId, report: Report) {
        let peer = self.peers.values_mut().find(|p| p.entry.id == id);
        match report {
            Report::Good => {
                self.stats.good_reports += 1;
                if let Some(p) = peer {
                    p.entry.good_reports = p.entry.good_reports.saturating_add(1);
                }
            }
            Report::Bad(m) => {
                self.stats.bad_reports += 1;
                if let Some(p) = peer {
                    p.entry.bad_reports = p.entry.bad_reports.saturating_add(1);
                }
                self.stop_peer(id, DisconnectReason::Misbehaved(m));
                match self.persistent.iter_mut().find(|p| p.addr.id == id) {
                    Some(p) => p.misbehaved = true,
                    None => self.start_cooldown(now, id),
                }
            }
        }
    }

    /// Stops: [`Action::Disconnect`] with [`DisconnectReason::Stopping`] for
    /// every peer not already disconnecting, no more dials (queued
    /// [`Action::Dial`]s not yet polled are withdrawn); `accept`, `dial` and
    /// `handshake_done` refuse with [`Refusal::Stopped`]. (The runtime aborts
    /// the handshakes in flight itself.)
    pub fn stop(&mut self) {
        self.stopped = true;
        for p in &mut self.persistent {
            p.next_dial = None;
        }
        // Scheduled dials not yet taken by the runtime never start.
        let attempts = &mut self.attempts;
        self.actions.retain(|a| match a {
            Action::Dial { conn, .. } => attempts.remove(conn).is_none(),
            _ => true,
        });
        for peer in self.peers.values_mut() {
            if !peer.disconnecting {
                peer.disconnecting = true;
                self.actions.push_back(Action::Disconnect {
                    conn: peer.entry.conn,
                    id: peer.entry.id,
                    reason: DisconnectReason::Stopping,
                });
            }
        }
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Fires the persistent dials that are due: each becomes an
    /// [`Action::Dial`], or is skipped if the ID is already dialing or
    /// connected, or is rescheduled with the backoff if admission refuses
    /// it (caps, duplicate IP, filter). Spurious calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        self.cooldowns.retain(|_, until| *until > now);
        for i in 0..self.persistent.len() {
            let Some(p) = self.persistent.get_mut(i) else {
                break;
            };
            if !matches!(p.next_dial, Some(due) if due <= now) {
                continue;
            }
            p.next_dial = None;
            let addr = p.addr;
            if self.is_dialing_or_connected(&addr.id) {
                continue;
            }
            match self.admit_dial(now, addr) {
                Ok(()) => {
                    self.stats.dialed += 1;
                    let remote = addr.socket_addr();
                    let conn = self.start_attempt(now, Direction::Outbound, remote, Some(addr));
                    self.actions.push_back(Action::Dial { conn, addr });
                }
                Err(r) => {
                    self.count_refusal(r);
                    self.reschedule(now, addr.id, Redial::Backoff);
                }
            }
        }
    }

    /// The next persistent dial, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.persistent.iter().filter_map(|p| p.next_dial).min()
    }

    /// The next thing the runtime must do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The peers, in connection order.
    pub fn peers(&self) -> impl Iterator<Item = &PeerEntry> {
        self.peers.values().map(|p| &p.entry)
    }

    /// The peer with this ID.
    pub fn peer(&self, id: &NodeId) -> Option<&PeerEntry> {
        self.peers().find(|p| p.id == *id)
    }

    /// The handshakes in flight, in connection order.
    pub fn attempts(&self) -> impl Iterator<Item = &Attempt> {
        self.attempts.values()
    }

    /// The persistent addresses (configured and added).
    pub fn persistent_peers(&self) -> impl Iterator<Item = &NetAddr> {
        self.persistent.iter().map(|p| &p.addr)
    }

    /// When the persistent ID `id` is next dialled (`None` while it is
    /// dialing or connected, after `stop`, or if it is not persistent).
    pub fn next_dial(&self, id: &NodeId) -> Option<Instant> {
        self.persistent
            .iter()
            .find(|p| p.addr.id == *id)
            .and_then(|p| p.next_dial)
    }

    /// Inbound peers that are not unconditional.
    pub fn num_inbound(&self) -> usize {
        self.peers()
            .filter(|p| !p.is_outbound() && !p.unconditional)
            .count()
    }

    /// Outbound peers that are not unconditional (persistent ones included).
    pub fn num_outbound(&self) -> usize {
        self.peers()
            .filter(|p| p.is_outbound() && !p.unconditional)
            .count()
    }

    /// All peers.
    pub fn num_peers(&self) -> usize {
        self.peers.len()
    }

    /// Handshakes in flight, both directions.
    pub fn num_handshakes(&self) -> usize {
        self.attempts.len()
    }

    /// Outbound handshakes in flight.
    pub fn num_dialing(&self) -> usize {
        self.attempts()
            .filter(|a| a.direction == Direction::Outbound)
            .count()
    }

    /// Whether a peer with this ID exists or we are dialing it.
    pub fn is_dialing_or_connected(&self, id: &NodeId) -> bool {
        self.peer(id).is_some() || self.attempts().any(|a| a.dialed_id() == Some(*id))
    }

    /// Whether `id` has a persistent address.
    pub fn is_persistent(&self, id: &NodeId) -> bool {
        self.persistent.iter().any(|p| p.addr.id == *id)
    }

    /// Whether `id` is exempt from the peer limits.
    pub fn is_unconditional(&self, id: &NodeId) -> bool {
        self.config.unconditional_ids.contains(id)
    }

    /// Whether `id`'s address must never be gossiped.
    pub fn is_private(&self, id: &NodeId) -> bool {
        self.config.private_ids.contains(id)
    }

    /// Whether `id` is refused for misbehaving recently (never for a
    /// persistent ID).
    pub fn is_cooling_down(&self, now: Instant, id: &NodeId) -> bool {
        !self.is_persistent(id) && self.cooldowns.get(id).is_some_and(|until| *until > now)
    }

    /// Counters since the manager was built.
    pub fn stats(&self) -> SwitchStats {
        self.stats
    }

    fn start_attempt(
        &mut self,
        now: Instant,
        direction: Direction,
        remote: SocketAddr,
        dialed: Option<NetAddr>,
    ) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let attempt = Attempt {
            conn,
            direction,
            remote,
            dialed,
            since: now,
        };
        self.attempts.insert(conn, attempt);
        conn
    }

    fn count_refusal(&mut self, r: Refusal) -> Refusal {
        if let Some(n) = self.stats.refused_by.get_mut(r.index()) {
            *n += 1;
        }
        r
    }

    /// The rules for an accepted socket (see [`accept`](Self::accept)).
    fn admit_inbound(&mut self, remote: SocketAddr) -> Result<(), Refusal> {
        if self.stopped {
            return Err(Refusal::Stopped);
        }
        self.check_totals()?;
        let inbound_peers = self.peers().filter(|p| !p.is_outbound()).count();
        let inbound_attempts = self
            .attempts()
            .filter(|a| a.direction == Direction::Inbound)
            .count();
        let socket_cap = self
            .config
            .max_inbound
            .saturating_add(self.config.unconditional_ids.len())
            .saturating_add(self.config.inbound_handshake_allowance);
        if inbound_peers + inbound_attempts >= socket_cap {
            return Err(Refusal::TooManyInbound);
        }
        let ip = remote.ip().to_canonical();
        self.check_ip(ip)?;
        let handshakes_from_ip = self
            .attempts()
            .filter(|a| a.direction == Direction::Inbound && a.ip() == ip)
            .count();
        if handshakes_from_ip >= self.config.max_handshakes_per_ip {
            return Err(Refusal::TooManyFromIp);
        }
        self.check_addr_filter(remote)
    }

    /// The rules for a dial (see [`dial`](Self::dial)).
    fn admit_dial(&mut self, now: Instant, addr: NetAddr) -> Result<(), Refusal> {
        let id = addr.id;
        if self.stopped {
            return Err(Refusal::Stopped);
        }
        if id == self.config.our_id {
            return Err(Refusal::SelfConnection);
        }
        if self.peer(&id).is_some() {
            return Err(Refusal::AlreadyConnected);
        }
        if self.attempts().any(|a| a.dialed_id() == Some(id)) {
            return Err(Refusal::AlreadyDialing);
        }
        if self.is_cooling_down(now, &id) {
            return Err(Refusal::CoolingDown);
        }
        self.check_totals()?;
        self.check_ip(addr.ip.to_canonical())?;
        let limited = !self.is_persistent(&id) && !self.is_unconditional(&id);
        if limited && self.outbound_load() >= self.config.max_outbound {
            return Err(Refusal::TooManyOutbound);
        }
        self.check_addr_filter(addr.socket_addr())
    }

    /// The rules after the handshake (see [`handshake_done`](Self::handshake_done));
    /// `attempt` is already out of the attempt set.
    fn admit_peer(
        &mut self,
        now: Instant,
        attempt: &Attempt,
        info: &PeerInfo,
    ) -> Result<(), Refusal> {
        if self.stopped {
            return Err(Refusal::Stopped);
        }
        if info.id == self.config.our_id {
            return Err(Refusal::SelfConnection);
        }
        if self.peer(&info.id).is_some() {
            return Err(Refusal::DuplicateId);
        }
        if self.is_cooling_down(now, &info.id) {
            return Err(Refusal::CoolingDown);
        }
        let limited = attempt.direction == Direction::Inbound && !self.is_unconditional(&info.id);
        if limited && self.num_inbound() >= self.config.max_inbound {
            return Err(Refusal::TooManyInbound);
        }
        self.check_ip(info.remote.ip().to_canonical())?;
        match self.peer_filter.as_mut().map(|filter| filter(info)) {
            Some(false) => Err(Refusal::Filtered),
            _ => Ok(()),
        }
    }

    /// The caps on all sockets and on handshakes in flight.
    fn check_totals(&self) -> Result<(), Refusal> {
        if self.peers.len() + self.attempts.len() >= self.config.max_connections {
            return Err(Refusal::TooManyConnections);
        }
        if self.attempts.len() >= self.config.max_handshakes {
            return Err(Refusal::TooManyHandshakes);
        }
        Ok(())
    }

    /// Duplicate IP (unless allowed) and the per-IP connection cap, counting
    /// peers and handshakes in both directions.
    fn check_ip(&self, ip: IpAddr) -> Result<(), Refusal> {
        let peers = self.peers().filter(|p| p.ip() == ip).count();
        let attempts = self.attempts().filter(|a| a.ip() == ip).count();
        let sockets = peers + attempts;
        if sockets > 0 && !self.config.allow_duplicate_ip {
            return Err(Refusal::DuplicateIp);
        }
        if sockets >= self.config.max_connections_per_ip {
            return Err(Refusal::TooManyFromIp);
        }
        Ok(())
    }

    fn check_addr_filter(&mut self, remote: SocketAddr) -> Result<(), Refusal> {
        match self.addr_filter.as_mut().map(|filter| filter(remote)) {
            Some(false) => Err(Refusal::Filtered),
            _ => Ok(()),
        }
    }

    /// Outbound peers plus outbound handshakes, unconditional IDs excluded.
    fn outbound_load(&self) -> usize {
        let handshakes = self
            .attempts()
            .filter_map(|a| a.dialed_id())
            .filter(|id| !self.is_unconditional(id))
            .count();
        self.num_outbound() + handshakes
    }

    /// Schedules the next dial of a persistent `id`, unless it is not
    /// persistent, already scheduled, dialing or connected, or we stopped.
    fn reschedule(&mut self, now: Instant, id: NodeId, redial: Redial) {
        if self.stopped || self.is_dialing_or_connected(&id) {
            return;
        }
        let Some(p) = self.persistent.iter_mut().find(|p| p.addr.id == id) else {
            return;
        };
        if p.next_dial.is_some() {
            return;
        }
        p.attempt = if redial == Redial::Restart && !p.misbehaved {
            1
        } else {
            p.attempt.saturating_add(1)
        };
        p.misbehaved = false;
        let delay = self
            .config
            .persistent_backoff
            .delay(p.attempt, &mut self.rng);
        // At least 1 ms, so the deadline moves forward whatever the config.
        p.next_dial = Some(now + delay.max(Duration::from_millis(1)));
    }

    /// Refuses `id` until `now + misbehaviour_cooldown`, within `max_cooldowns`.
    fn start_cooldown(&mut self, now: Instant, id: NodeId) {
        let until = now + self.config.misbehaviour_cooldown;
        if !self.cooldowns.contains_key(&id) {
            if self.cooldowns.len() >= self.config.max_cooldowns {
                self.cooldowns.retain(|_, t| *t > now);
            }
            while self.cooldowns.len() >= self.config.max_cooldowns {
                let first = self
                    .cooldowns
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(k, _)| *k);
                match first {
                    Some(k) => self.cooldowns.remove(&k),
                    None => return,
                };
            }
        }
        let entry = self.cooldowns.entry(id).or_insert(until);
        *entry = (*entry).max(until);
    }
}

impl<R: RngCore> fmt::Debug for PeerManager<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerManager")
            .field("our_id", &self.config.our_id)
            .field("peers", &self.peers.len())
            .field("handshakes", &self.attempts.len())
            .field("persistent", &self.persistent.len())
            .field("cooling_down", &self.cooldowns.len())
            .field("queued_actions", &self.actions.len())
            .field("stopped", &self.stopped)
            .finish()
    }
}
