//! The switch policy: who may connect, who stays, who is redialled, and
//! which reactor gets each channel's messages (spec §5). Sans-IO; needs
//! `alloc`.
//!
//! - [`PeerManager`] is a machine over the peer set. It admits accepted
//!   sockets and dials before any crypto (total, handshake, inbound and
//!   per-IP caps, duplicate IPs, the application's address filter), admits
//!   authenticated peers (self, duplicate ID, inbound limit, cooldown, peer
//!   filter), redials persistent peers with [`Backoff`], and turns reactor
//!   [`Report`]s into disconnects and cooldowns.
//! - [`Routes`] maps each channel to the reactor that owns it and keeps the
//!   reactors' inbox budgets, deciding per channel what happens on overflow.
//!
//! ## Driving contract
//!
//! The runtime (the `mconn-driver` crate) owns the listener, the sockets,
//! the sessions and a timer. It tells the manager what happened —
//! [`accept`](PeerManager::accept), [`dial`](PeerManager::dial),
//! [`handshake_done`](PeerManager::handshake_done),
//! [`connect_failed`](PeerManager::connect_failed),
//! [`peer_closed`](PeerManager::peer_closed), [`report`](PeerManager::report),
//! [`stop_peer`](PeerManager::stop_peer), [`stop`](PeerManager::stop),
//! [`handle_timeout`](PeerManager::handle_timeout) — and after every call
//! drains [`poll_action`](PeerManager::poll_action), carrying out each
//! [`Action`]: dial, disconnect, or tell the reactors a peer was added or
//! removed. Then it waits for the next event or
//! [`poll_timeout`](PeerManager::poll_timeout). Every connection, inbound or
//! outbound, gets a [`ConnId`] when it is admitted and ends with exactly one
//! of `handshake_done` (Ok, later `peer_closed`; or Err) or `connect_failed`.
//! Time comes in as [`Instant`](crate::Instant); randomness (jitter) from the
//! caller's [`RngCore`](rand_core::RngCore).
//!
//! ```
//! use core::net::SocketAddr;
//! use mconn::identity::NodeId;
//! use mconn::switch::{
//!     Action, DisconnectReason, Misbehaviour, PeerInfo, PeerManager, Refusal, Report,
//!     SwitchConfig,
//! };
//! use mconn::Instant;
//!
//! let mut switch = PeerManager::new(SwitchConfig::new(NodeId([1; 20])), rand_core::OsRng, Instant::ZERO);
//! let now = Instant::from_millis(5);
//! let remote: SocketAddr = "127.0.0.1:40000".parse().unwrap();
//!
//! // The listener accepted a socket: may we spend a handshake on it?
//! let conn = switch.accept(now, remote).unwrap();
//! assert_eq!(switch.accept(now, remote), Err(Refusal::DuplicateIp));
//! // The session authenticated the peer: add it, then tell the reactors.
//! let id = NodeId([2; 20]);
//! switch.handshake_done(now, conn, PeerInfo { id, remote, listen_addr: None }).unwrap();
//! assert_eq!(switch.poll_action(), Some(Action::PeerAdded { conn, id }));
//! assert_eq!(switch.poll_action(), None);
//! assert_eq!((switch.num_inbound(), switch.num_handshakes()), (1, 0));
//!
//! // A reactor reports a bad message: the runtime closes the connection...
//! let bad = Misbehaviour::BadMessage { channel: 0x20 };
//! switch.report(now, id, Report::Bad(bad));
//! let reason = DisconnectReason::Misbehaved(bad);
//! assert_eq!(switch.poll_action(), Some(Action::Disconnect { conn, id, reason }));
//! // ...and reports that it is closed; the reactors hear it is gone.
//! switch.peer_closed(now, conn, reason);
//! assert_eq!(switch.poll_action(), Some(Action::PeerRemoved { conn, id, reason }));
//! // The ID is refused for `misbehaviour_cooldown`.
//! let again = switch.accept(now, remote).unwrap();
//! let info = PeerInfo { id, remote, listen_addr: None };
//! assert_eq!(switch.handshake_done(now, again, info), Err(Refusal::CoolingDown));
//! ```

mod config;
mod manager;
mod peer;
mod reason;
mod route;
#[cfg(test)]
mod tests;

pub use config::{Backoff, SwitchConfig, DEFAULT_NODE_PARTIAL_BUDGET};
pub use manager::{AddrFilter, PeerFilter, PeerManager};
pub use peer::{Action, Attempt, ConnId, Direction, PeerEntry, PeerInfo, SwitchStats};
pub use reason::{ConnectFailure, DisconnectReason, Misbehaviour, Refusal, Report};
pub use route::{
    Admit, ChannelDescriptor, InboxBudget, InboxStats, OverflowPolicy, ReactorId, RouteError,
    Routes,
};
