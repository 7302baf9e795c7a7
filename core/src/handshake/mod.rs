//! The NodeInfo handshake (spec §3): what a peer's NodeInfo must satisfy
//! ([`validate`], [`check_peer`]) and the sans-IO exchange of the two
//! NodeInfos over the freshly established SecretConnection
//! ([`NodeInfoExchange`]).
//!
//! Order of operations for one connection (Go's `upgrade()`):
//!
//! 1. dialer only, right after the SecretConnection: [`check_dialed_id`];
//! 2. [`NodeInfoExchange`]: send ours, receive theirs (both at once);
//! 3. [`NodeInfoExchange::finish`] (or [`check_peer`]): validate, ID equals
//!    the authenticated ID, not ourselves, compatible.
//!
//! Node IDs are raw `[u8; 20]` here (the first 20 bytes of
//! SHA-256(ed25519 public key)); the identity module's `NodeId` wraps the
//! same bytes.
//!
//! ```
//! use mconn::handshake::{check_peer, NodeInfoError};
//! use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
//! let local = NodeInfo {
//!     protocol_version: ProtocolVersion::new(8, 11, 0),
//!     default_node_id: "56475aa75463474c0285df5dbf2bcab73da65135",
//!     listen_addr: "tcp://0.0.0.0:26656",
//!     network: "test-chain",
//!     channels: &[0x40, 0x20, 0x00],
//!     moniker: "node-a",
//!     ..NodeInfo::default()
//! };
//! let remote = NodeInfo {
//!     protocol_version: ProtocolVersion::new(9, 11, 1), // a v1 node: fine
//!     default_node_id: "24f6ed6acbfe1009c030d7ca567c33ca48309114",
//!     listen_addr: "192.168.1.2:26656",
//!     channels: &[0x20, 0x21],
//!     moniker: "node-b",
//!     ..local
//! };
//! let b_id = [
//!     0x24, 0xf6, 0xed, 0x6a, 0xcb, 0xfe, 0x10, 0x09, 0xc0, 0x30,
//!     0xd7, 0xca, 0x56, 0x7c, 0x33, 0xca, 0x48, 0x30, 0x91, 0x14,
//! ];
//! assert_eq!(check_peer(&remote, &local, &b_id, None), Ok(()));
//! let other_chain = NodeInfo { network: "other", ..remote };
//! assert_eq!(
//!     check_peer(&other_chain, &local, &b_id, None),
//!     Err(NodeInfoError::NetworkMismatch)
//! );
//! ```

mod exchange;
mod listen_addr;
mod validate;

pub use exchange::{NodeInfoExchange, PeerInfoStorage};
pub use listen_addr::{parse_listen_addr, Host, ListenAddr};
pub use validate::{check_compatible, check_dialed_id, check_peer, validate, MAX_NUM_CHANNELS};

use core::fmt;

use crate::wire::DecodeError;

/// Why a peer's NodeInfo (or the exchange carrying it) was rejected.
/// Each rule of spec §3.3 has its own variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NodeInfoError {
    /// `listen_addr` is not `[proto://]host:port` with a usable host and a u16 port.
    InvalidListenAddr,
    /// `version` is non-empty but not printable ASCII, or all spaces.
    InvalidVersion,
    /// More than [`MAX_NUM_CHANNELS`] channels.
    TooManyChannels,
    /// A channel id listed twice.
    DuplicateChannel(u8),
    /// `moniker` is empty, not printable ASCII, or all spaces.
    InvalidMoniker,
    /// `tx_index` is not `""`, `"on"` or `"off"`.
    InvalidTxIndex,
    /// `rpc_address` is non-empty but not printable ASCII, or all spaces.
    InvalidRpcAddress,
    /// `default_node_id` is not 40 hex characters.
    InvalidNodeId,
    /// `default_node_id` differs from the ID the SecretConnection authenticated.
    IdMismatch,
    /// We dialed one ID and reached another.
    DialedIdMismatch,
    /// The peer is ourselves.
    SelfConnection,
    /// `protocol_version.block` differs from ours.
    BlockVersionMismatch,
    /// `network` (chain ID) differs from ours.
    NetworkMismatch,
    /// No channel in common (and our channel list is non-empty).
    NoCommonChannel,
    /// The length prefix announces more than the limit
    /// ([`MAX_NODE_INFO_SIZE`](crate::wire::node_info::MAX_NODE_INFO_SIZE)
    /// or the receive buffer), or our own NodeInfo is above it.
    TooLarge,
    /// The message is not a well-formed NodeInfo (or its length prefix is not a varint).
    Malformed(DecodeError),
}

impl fmt::Display for NodeInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeInfoError::InvalidListenAddr => f.write_str("invalid listen address"),
            NodeInfoError::InvalidVersion => f.write_str("invalid version string"),
            NodeInfoError::TooManyChannels => f.write_str("too many channels"),
            NodeInfoError::DuplicateChannel(ch) => write!(f, "duplicate channel {ch:#04x}"),
            NodeInfoError::InvalidMoniker => f.write_str("invalid moniker"),
            NodeInfoError::InvalidTxIndex => f.write_str("invalid tx_index"),
            NodeInfoError::InvalidRpcAddress => f.write_str("invalid rpc address"),
            NodeInfoError::InvalidNodeId => f.write_str("invalid node id"),
            NodeInfoError::IdMismatch => {
                f.write_str("node id does not match the authenticated key")
            }
            NodeInfoError::DialedIdMismatch => f.write_str("peer is not the node we dialed"),
            NodeInfoError::SelfConnection => f.write_str("connected to ourselves"),
            NodeInfoError::BlockVersionMismatch => f.write_str("incompatible block version"),
            NodeInfoError::NetworkMismatch => f.write_str("different network"),
            NodeInfoError::NoCommonChannel => f.write_str("no common channel"),
            NodeInfoError::TooLarge => f.write_str("node info too large"),
            NodeInfoError::Malformed(e) => write!(f, "malformed node info: {e}"),
        }
    }
}

impl core::error::Error for NodeInfoError {}

impl From<DecodeError> for NodeInfoError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::TooLarge => NodeInfoError::TooLarge,
            other => NodeInfoError::Malformed(other),
        }
    }
}
