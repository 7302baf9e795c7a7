//! What goes into and comes out of the [`PexMachine`](super::PexMachine):
//! peers ([`PexPeer`]), the switch as it sees it ([`PexView`]), actions
//! ([`PexAction`]) and what a message did ([`Received`]).

use alloc::vec::Vec;
use core::net::IpAddr;
use core::time::Duration;

use rand_core::RngCore;

use crate::identity::{NetAddr, NodeId};
use crate::switch::{Misbehaviour, PeerEntry, PeerManager};

/// A peer as PEX needs to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PexPeer {
    /// Its authenticated ID.
    pub id: NodeId,
    /// Whether we dialled it.
    pub outbound: bool,
    /// The listen address it reported in its NodeInfo, if it was an IP.
    pub listen_addr: Option<NetAddr>,
    /// The IP its connection came from (or went to).
    pub remote_ip: IpAddr,
    /// Persistent peers are never let go by a seed and have no dial limit.
    pub persistent: bool,
}

impl From<&PeerEntry> for PexPeer {
    fn from(e: &PeerEntry) -> Self {
        PexPeer {
            id: e.id,
            outbound: e.is_outbound(),
            listen_addr: e.listen_addr,
            remote_ip: e.ip(),
            persistent: e.persistent,
        }
    }
}

impl PexPeer {
    /// The address to put in the book for this peer: its reported listen
    /// address, except that an unroutable one (`0.0.0.0`, a private or
    /// loopback IP) is replaced by the IP we see it at, with the reported
    /// port — a node behind NAT or listening on `0.0.0.0` is still
    /// reachable there. `None` if it reported no IP address.
    ///
    /// ```
    /// use mconn::identity::{NetAddr, NodeId};
    /// use mconn::pex::PexPeer;
    /// let id = NodeId([7; 20]);
    /// let peer = PexPeer {
    ///     id,
    ///     outbound: false,
    ///     listen_addr: Some(NetAddr::new(id, "0.0.0.0".parse().unwrap(), 26656)),
    ///     remote_ip: "1.2.3.4".parse().unwrap(),
    ///     persistent: false,
    /// };
    /// assert_eq!(peer.advertised_addr(), Some(NetAddr::new(id, "1.2.3.4".parse().unwrap(), 26656)));
    /// ```
    pub fn advertised_addr(&self) -> Option<NetAddr> {
        let listen = self.listen_addr?;
        let listen = NetAddr::new(self.id, listen.ip, listen.port);
        if listen.is_routable() || !crate::pex::is_valid_ip(self.remote_ip) {
            return Some(listen);
        }
        Some(NetAddr::new(self.id, self.remote_ip, listen.port))
    }
}

/// The switch as the PEX rules see it, at the moment of a
/// [`handle_timeout`](super::PexMachine::handle_timeout). Implemented for
/// [`PeerManager`]; tests implement it over plain numbers.
pub trait PexView {
    /// The outbound target (`max_num_outbound_peers`).
    fn max_outbound(&self) -> usize;
    /// Outbound peers counted against the target.
    fn num_outbound(&self) -> usize;
    /// Outbound handshakes in flight.
    fn num_dialing(&self) -> usize;
    /// We are connected to `id` or dialling it.
    fn is_dialing_or_connected(&self, id: &NodeId) -> bool;
    /// `id` is a persistent peer (no dial limit, capped backoff).
    fn is_persistent(&self, id: &NodeId) -> bool;
}

impl<R: RngCore> PexView for PeerManager<R> {
    fn max_outbound(&self) -> usize {
        self.config().max_outbound
    }
    fn num_outbound(&self) -> usize {
        PeerManager::num_outbound(self)
    }
    fn num_dialing(&self) -> usize {
        PeerManager::num_dialing(self)
    }
    fn is_dialing_or_connected(&self, id: &NodeId) -> bool {
        PeerManager::is_dialing_or_connected(self, id)
    }
    fn is_persistent(&self, id: &NodeId) -> bool {
        PeerManager::is_persistent(self, id)
    }
}

/// What the runtime must do for the PEX rules, from
/// [`poll_action`](super::PexMachine::poll_action).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PexAction {
    /// Send this encoded PEX message to a peer on channel `0x00`.
    Send {
        /// The peer.
        to: NodeId,
        /// The message (`PexRequest` or `PexAddrs`).
        msg: Vec<u8>,
    },
    /// Dial this address, then report [`dialed`](super::PexMachine::dialed),
    /// [`dial_failed`](super::PexMachine::dial_failed) or
    /// [`dial_refused`](super::PexMachine::dial_refused).
    Dial(NetAddr),
    /// Disconnect a misbehaving peer (report it to the switch).
    Disconnect {
        /// The peer.
        id: NodeId,
        /// What it did.
        why: Misbehaviour,
        /// The ban the rules call for; the machine has already recorded it
        /// in the book (which bans only IDs it knows).
        ban: Option<Duration>,
    },
    /// Close the connection gracefully once everything queued for it is
    /// sent (a seed's goodbye, or a peer kept long enough).
    DisconnectAfterSend {
        /// The peer.
        id: NodeId,
    },
    /// Save the address book now.
    SaveBook,
}

/// What a message did, as [`receive`](super::PexMachine::receive) returns it
/// (the actions it queued say the same for the runtime).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// A request, answered with this many addresses.
    Answered {
        /// Addresses sent.
        addrs: usize,
    },
    /// A response we had asked for.
    Addrs {
        /// Addresses the book took.
        added: usize,
        /// Addresses it did not (invalid ID, invalid or unroutable IP,
        /// banned, already known, …).
        ignored: usize,
    },
    /// The peer broke a rule: it is being disconnected (and banned).
    Rejected(Misbehaviour),
    /// Nothing to do: the peer is unknown, already being disconnected, or
    /// (seed) already answered.
    Ignored,
}
