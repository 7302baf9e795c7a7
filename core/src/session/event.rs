//! What a session reports: events and close reasons across all three layers.

use core::fmt;

use crate::conn;
use crate::handshake::NodeInfoError;
use crate::secret::SecretError;

/// Why a session closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CloseReason {
    /// The SecretConnection handshake did not finish within its deadline.
    HandshakeTimeout,
    /// The NodeInfo exchange did not finish within its deadline.
    NodeInfoTimeout,
    /// The SecretConnection failed (bad key message, signature, frame…).
    Secret(SecretError),
    /// The peer's NodeInfo was refused.
    NodeInfo(NodeInfoError),
    /// The MConnection closed (including a local `close`/`abort`).
    Conn(conn::CloseReason),
}

impl CloseReason {
    /// Whether the peer caused the close (as opposed to us).
    pub fn is_peer_fault(self) -> bool {
        match self {
            CloseReason::Conn(r) => r.is_peer_fault(),
            _ => true,
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::HandshakeTimeout => f.write_str("secret handshake timed out"),
            CloseReason::NodeInfoTimeout => f.write_str("node info exchange timed out"),
            CloseReason::Secret(e) => write!(f, "secret connection: {e}"),
            CloseReason::NodeInfo(e) => write!(f, "node info: {e}"),
            CloseReason::Conn(e) => write!(f, "connection: {e}"),
        }
    }
}

impl core::error::Error for CloseReason {}

/// Something the application should know, from
/// [`Session::poll_event`](super::Session::poll_event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event {
    /// Handshake and NodeInfo exchange done: the peer is authenticated and
    /// compatible; sending and receiving may start.
    Connected,
    /// A channel that refused a send with `Full` has room again.
    Writable(u8),
    /// The session is over.
    Closed(CloseReason),
}
