//! The records the switch policy keeps and hands out: connection IDs,
//! attempts (handshakes in flight), peers, actions and counters.

use core::fmt;
use core::net::{IpAddr, SocketAddr};

use super::reason::{DisconnectReason, Refusal};
use crate::identity::{NetAddr, NodeId};
use crate::time::Instant;

/// Identifies one connection attempt or connection (inbound or outbound),
/// unique per [`PeerManager`](super::PeerManager).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Who opened the TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Direction {
    /// The remote connected to our listener.
    Inbound,
    /// We dialled.
    Outbound,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        })
    }
}

/// An authenticated peer, as the runtime reports it after the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The ID the remote authenticated as.
    pub id: NodeId,
    /// The socket's remote address.
    pub remote: SocketAddr,
    /// The self-reported listen address (with `id`), if it parsed as an IP address.
    pub listen_addr: Option<NetAddr>,
}

/// A connection attempt: a handshake in flight (TCP connect, SecretConnection
/// and NodeInfo), before the peer is added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The attempt's connection ID (kept by the peer once added).
    pub conn: ConnId,
    /// Who opened it.
    pub direction: Direction,
    /// Inbound: the accepted socket's remote address; outbound: the dialled one.
    pub remote: SocketAddr,
    /// The dialled address (outbound only).
    pub dialed: Option<NetAddr>,
    /// When it was accepted or dialled.
    pub since: Instant,
}

impl Attempt {
    /// The remote IP (IPv4-mapped IPv6 as IPv4), for the per-IP rules.
    pub fn ip(&self) -> IpAddr {
        self.remote.ip().to_canonical()
    }

    /// The ID we dialled (outbound only).
    pub fn dialed_id(&self) -> Option<NodeId> {
        self.dialed.map(|a| a.id)
    }
}

/// One added peer, as the manager keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerEntry {
    /// Its connection.
    pub conn: ConnId,
    /// The ID it authenticated as.
    pub id: NodeId,
    /// Who opened the connection.
    pub direction: Direction,
    /// The socket's remote address.
    pub remote: SocketAddr,
    /// The self-reported listen address, if it parsed.
    pub listen_addr: Option<NetAddr>,
    /// The address we dialled (outbound only).
    pub dialed: Option<NetAddr>,
    /// Outbound to a persistent ID, or inbound with a listen address equal
    /// to a persistent address (spec §5.4).
    pub persistent: bool,
    /// Its ID is in `unconditional_ids` (exempt from the peer limits).
    pub unconditional: bool,
    /// When it was added.
    pub since: Instant,
    /// [`Report::Good`](super::Report::Good) reports received.
    pub good_reports: u32,
    /// [`Report::Bad`](super::Report::Bad) reports received.
    pub bad_reports: u32,
}

impl PeerEntry {
    /// Whether we dialled it.
    pub fn is_outbound(&self) -> bool {
        self.direction == Direction::Outbound
    }

    /// The remote IP (IPv4-mapped IPv6 as IPv4), for the per-IP rules.
    pub fn ip(&self) -> IpAddr {
        self.remote.ip().to_canonical()
    }
}

/// What the runtime must do next, from [`PeerManager::poll_action`](super::PeerManager::poll_action).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Action {
    /// A scheduled (persistent) dial: TCP connect, then handshake; report
    /// the outcome with `handshake_done` or `connect_failed`.
    Dial {
        /// The attempt's connection ID.
        conn: ConnId,
        /// Where to dial.
        addr: NetAddr,
    },
    /// Close this peer's connection, then report `peer_closed`.
    Disconnect {
        /// The peer's connection.
        conn: ConnId,
        /// The peer.
        id: NodeId,
        /// Why.
        reason: DisconnectReason,
    },
    /// Tell the reactors a peer was added.
    PeerAdded {
        /// The peer's connection.
        conn: ConnId,
        /// The peer.
        id: NodeId,
    },
    /// Tell the reactors a peer is gone.
    PeerRemoved {
        /// The peer's connection.
        conn: ConnId,
        /// The peer.
        id: NodeId,
        /// Why it left.
        reason: DisconnectReason,
    },
}

/// Counters since the manager was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SwitchStats {
    /// Inbound connections admitted by `accept`.
    pub accepted: u64,
    /// Outbound attempts started (by `dial` or a scheduled persistent dial).
    pub dialed: u64,
    /// Refusals, indexed by [`Refusal::index`].
    pub refused_by: [u64; Refusal::COUNT],
    /// Attempts that failed before the handshake completed (`connect_failed`).
    pub failed: u64,
    /// Peers added.
    pub added: u64,
    /// Peers removed.
    pub removed: u64,
    /// Good reports received.
    pub good_reports: u64,
    /// Bad reports received.
    pub bad_reports: u64,
}

impl SwitchStats {
    /// How often `r` was the answer.
    pub fn refused(&self, r: Refusal) -> u64 {
        self.refused_by.get(r.index()).copied().unwrap_or(0)
    }

    /// All refusals.
    pub fn refused_total(&self) -> u64 {
        self.refused_by.iter().sum()
    }
}
