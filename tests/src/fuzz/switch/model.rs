//! The reference model of `switch_policy`: what the [`PeerManager`] should
//! know, and every reason it may have to refuse a call.
//!
//! [`PeerManager`]: mconn::switch::PeerManager

use std::collections::BTreeMap;

use core::net::{IpAddr, SocketAddr};

use mconn::identity::{NetAddr, NodeId};
use mconn::switch::{
    Attempt, ConnId, Direction, DisconnectReason, PeerEntry, PeerInfo, Refusal, SwitchConfig,
    SwitchStats,
};
use mconn::Instant;

use super::{filtered_ip, id, Setup, FILTERED_ID};

/// A peer as the model keeps it: its entry and the disconnect asked for.
#[derive(Clone, Debug)]
pub(super) struct ModelPeer {
    pub(super) entry: PeerEntry,
    pub(super) disconnect: Option<DisconnectReason>,
}

/// What the manager should know, maintained from the calls and actions.
pub(super) struct Model {
    pub(super) cfg: SwitchConfig,
    pub(super) addr_filter: bool,
    pub(super) peer_filter: bool,
    pub(super) stopped: bool,
    pub(super) attempts: BTreeMap<ConnId, Attempt>,
    pub(super) peers: BTreeMap<ConnId, ModelPeer>,
    pub(super) persistent: Vec<NetAddr>,
    /// Until when each ID reported bad (while not persistent) is refused.
    pub(super) cooldowns: BTreeMap<NodeId, Instant>,
    pub(super) last_conn: Option<ConnId>,
    pub(super) stats: SwitchStats,
    /// An outbound peer turned out to be another ID than the one dialled.
    pub(super) wrong_id: bool,
    /// Refusals of scheduled dials inside `handle_timeout` (not visible
    /// to the caller, but counted in the stats).
    pub(super) hidden_refusals: u64,
}

impl Model {
    pub(super) fn new(setup: &Setup) -> Self {
        let mut m = Model {
            cfg: setup.config.clone(),
            addr_filter: setup.addr_filter,
            peer_filter: setup.peer_filter,
            stopped: false,
            attempts: BTreeMap::new(),
            peers: BTreeMap::new(),
            persistent: Vec::new(),
            cooldowns: BTreeMap::new(),
            last_conn: None,
            stats: SwitchStats::default(),
            hidden_refusals: 0,
            wrong_id: false,
        };
        for addr in setup.config.persistent_peers.clone() {
            m.add_persistent(addr);
        }
        m
    }

    pub(super) fn add_persistent(&mut self, addr: NetAddr) {
        if addr.id == self.cfg.our_id {
            return;
        }
        match self.persistent.iter_mut().find(|p| p.id == addr.id) {
            Some(p) => *p = addr,
            None => self.persistent.push(addr),
        }
    }

    pub(super) fn is_persistent(&self, id: &NodeId) -> bool {
        self.persistent.iter().any(|p| p.id == *id)
    }

    pub(super) fn is_unconditional(&self, id: &NodeId) -> bool {
        self.cfg.unconditional_ids.contains(id)
    }

    pub(super) fn peer_by_id(&self, id: &NodeId) -> Option<&ModelPeer> {
        self.peers.values().find(|p| p.entry.id == *id)
    }

    pub(super) fn is_dialing(&self, id: &NodeId) -> bool {
        self.attempts.values().any(|a| a.dialed_id() == Some(*id))
    }

    pub(super) fn is_dialing_or_connected(&self, id: &NodeId) -> bool {
        self.peer_by_id(id).is_some() || self.is_dialing(id)
    }

    pub(super) fn is_cooling_down(&self, now: Instant, id: &NodeId) -> bool {
        !self.is_persistent(id) && self.cooldowns.get(id).is_some_and(|t| *t > now)
    }

    /// No cooldown can have been evicted to respect `max_cooldowns`.
    pub(super) fn cooldowns_exact(&self) -> bool {
        self.cooldowns.len() <= self.cfg.max_cooldowns
    }

    pub(super) fn sockets_at(&self, ip: IpAddr) -> usize {
        let ip = ip.to_canonical();
        self.peers.values().filter(|p| p.entry.ip() == ip).count()
            + self.attempts.values().filter(|a| a.ip() == ip).count()
    }

    pub(super) fn addr_refused(&self, remote: SocketAddr) -> bool {
        self.addr_filter && remote.ip().to_canonical() == filtered_ip()
    }

    pub(super) fn totals(&self, out: &mut Vec<Refusal>) {
        if self.peers.len() + self.attempts.len() >= self.cfg.max_connections {
            out.push(Refusal::TooManyConnections);
        }
        if self.attempts.len() >= self.cfg.max_handshakes {
            out.push(Refusal::TooManyHandshakes);
        }
    }

    pub(super) fn per_ip(&self, ip: IpAddr, out: &mut Vec<Refusal>) {
        let sockets = self.sockets_at(ip);
        if sockets > 0 && !self.cfg.allow_duplicate_ip {
            out.push(Refusal::DuplicateIp);
        }
        if sockets >= self.cfg.max_connections_per_ip {
            out.push(Refusal::TooManyFromIp);
        }
    }

    /// Every reason the model sees to refuse `accept(remote)`.
    pub(super) fn accept_refusals(&self, remote: SocketAddr) -> Vec<Refusal> {
        let mut out = Vec::new();
        if self.stopped {
            out.push(Refusal::Stopped);
        }
        self.totals(&mut out);
        let inbound = self
            .peers
            .values()
            .filter(|p| !p.entry.is_outbound())
            .count()
            + self
                .attempts
                .values()
                .filter(|a| a.direction == Direction::Inbound)
                .count();
        let cap = self.cfg.max_inbound
            + self.cfg.unconditional_ids.len()
            + self.cfg.inbound_handshake_allowance;
        if inbound >= cap {
            out.push(Refusal::TooManyInbound);
        }
        let ip = remote.ip().to_canonical();
        self.per_ip(ip, &mut out);
        let handshakes = self
            .attempts
            .values()
            .filter(|a| a.direction == Direction::Inbound && a.ip() == ip)
            .count();
        if handshakes >= self.cfg.max_handshakes_per_ip {
            out.push(Refusal::TooManyFromIp);
        }
        if self.addr_refused(remote) {
            out.push(Refusal::Filtered);
        }
        out
    }

    /// Outbound peers plus outbound handshakes, unconditional IDs excluded.
    pub(super) fn outbound_load(&self) -> usize {
        let peers = self
            .peers
            .values()
            .filter(|p| p.entry.is_outbound() && !p.entry.unconditional)
            .count();
        let dialing = self
            .attempts
            .values()
            .filter_map(|a| a.dialed_id())
            .filter(|id| !self.is_unconditional(id))
            .count();
        peers + dialing
    }

    /// Every reason the model sees to refuse dialling `addr` at `now`.
    pub(super) fn dial_refusals(&self, now: Instant, addr: &NetAddr) -> Vec<Refusal> {
        let mut out = Vec::new();
        if self.stopped {
            out.push(Refusal::Stopped);
        }
        if addr.id == self.cfg.our_id {
            out.push(Refusal::SelfConnection);
        }
        if self.peer_by_id(&addr.id).is_some() {
            out.push(Refusal::AlreadyConnected);
        }
        if self.is_dialing(&addr.id) {
            out.push(Refusal::AlreadyDialing);
        }
        if self.is_cooling_down(now, &addr.id) {
            out.push(Refusal::CoolingDown);
        }
        self.totals(&mut out);
        self.per_ip(addr.ip, &mut out);
        let limited = !self.is_persistent(&addr.id) && !self.is_unconditional(&addr.id);
        if limited && self.outbound_load() >= self.cfg.max_outbound {
            out.push(Refusal::TooManyOutbound);
        }
        if self.addr_refused(addr.socket_addr()) {
            out.push(Refusal::Filtered);
        }
        out
    }

    /// Every reason to refuse the peer `info` after the handshake of
    /// `attempt` (already out of the attempt set).
    pub(super) fn peer_refusals(
        &self,
        now: Instant,
        attempt: &Attempt,
        info: &PeerInfo,
    ) -> Vec<Refusal> {
        let mut out = Vec::new();
        if self.stopped {
            out.push(Refusal::Stopped);
        }
        if info.id == self.cfg.our_id {
            out.push(Refusal::SelfConnection);
        }
        if self.peer_by_id(&info.id).is_some() {
            out.push(Refusal::DuplicateId);
        }
        if self.is_cooling_down(now, &info.id) {
            out.push(Refusal::CoolingDown);
        }
        let num_inbound = self
            .peers
            .values()
            .filter(|p| !p.entry.is_outbound() && !p.entry.unconditional)
            .count();
        let limited = attempt.direction == Direction::Inbound && !self.is_unconditional(&info.id);
        if limited && num_inbound >= self.cfg.max_inbound {
            out.push(Refusal::TooManyInbound);
        }
        self.per_ip(info.remote.ip(), &mut out);
        if self.peer_filter && info.id == id(FILTERED_ID) {
            out.push(Refusal::Filtered);
        }
        out
    }

    /// Checks a call's outcome against the reasons the model found.
    pub(super) fn judge<T>(
        &mut self,
        what: &str,
        result: &Result<T, Refusal>,
        reasons: &[Refusal],
    ) {
        match result {
            Err(r) => {
                assert!(
                    reasons.contains(r),
                    "{what}: refused {r:?}; model: {reasons:?}"
                );
                self.stats.refused_by[r.index()] += 1;
            }
            Ok(_) => {
                // A cooldown may have been evicted (`max_cooldowns`).
                let binding = reasons
                    .iter()
                    .any(|r| *r != Refusal::CoolingDown || self.cooldowns_exact());
                assert!(!binding, "{what}: admitted; model refuses: {reasons:?}");
            }
        }
    }

    /// A new connection ID must be larger than every earlier one.
    pub(super) fn fresh(&mut self, conn: ConnId) {
        assert!(self.last_conn < Some(conn), "connection ID {conn} reused");
        self.last_conn = Some(conn);
    }
}
