//! What the connection reports: events, close reasons, and call errors.

use core::fmt;

use crate::wire::packet::PacketError;
use crate::wire::DecodeError;

/// Why the connection closed. Local reasons first, then peer misbehaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CloseReason {
    /// [`close`](super::MConnection::close) finished: everything queued was sent.
    Closed,
    /// [`abort`](super::MConnection::abort) was called.
    Aborted,
    /// No pong (CometBFT) or no sign of life (seed) within the pong timeout.
    PongTimeout,
    /// The peer sent pings faster than the configured limit.
    PingFlood,
    /// A message on a channel we do not have.
    UnknownChannel(u8),
    /// A reassembled message would exceed the channel's receive capacity.
    MessageTooLarge(u8),
    /// Partial messages on channels other than the one holding the largest
    /// exceeded [`Config::partial_budget`](super::Config::partial_budget).
    PartialBudget,
    /// All partial messages together outgrew this connection's share of
    /// the node's budget (see
    /// [`MConnection::set_partial_ceiling`](super::MConnection::set_partial_ceiling)).
    /// Not counted as the peer's fault: an honest peer streaming a large
    /// message can meet it while the node is short of memory.
    NodePartialBudget,
    /// A partial message on this channel got no packet for
    /// [`Config::partial_timeout`](super::Config::partial_timeout).
    PartialStale(u8),
    /// A packet larger than the receive limit was announced.
    PacketTooLarge,
    /// The packet length prefix overflowed.
    VarintOverflow,
    /// Neither ping, pong nor msg.
    UnknownPacketType,
    /// A msg packet with a channel id outside 0..=255.
    ChannelOutOfRange,
    /// A packet that sets several of ping, pong and msg.
    SeveralPacketTypes,
    /// A packet body that does not decode.
    MalformedPacket(DecodeError),
}

impl CloseReason {
    /// Whether the peer caused the close (as opposed to us).
    pub fn is_peer_fault(self) -> bool {
        !matches!(
            self,
            CloseReason::Closed | CloseReason::Aborted | CloseReason::NodePartialBudget
        )
    }
}

impl From<PacketError> for CloseReason {
    fn from(e: PacketError) -> Self {
        match e {
            PacketError::TooLarge => CloseReason::PacketTooLarge,
            PacketError::VarintOverflow => CloseReason::VarintOverflow,
            PacketError::UnknownType => CloseReason::UnknownPacketType,
            PacketError::ChannelOutOfRange => CloseReason::ChannelOutOfRange,
            PacketError::SeveralTypes => CloseReason::SeveralPacketTypes,
            PacketError::Malformed(d) => CloseReason::MalformedPacket(d),
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Closed => f.write_str("closed"),
            CloseReason::Aborted => f.write_str("aborted"),
            CloseReason::PongTimeout => f.write_str("pong timeout"),
            CloseReason::PingFlood => f.write_str("ping flood"),
            CloseReason::UnknownChannel(c) => write!(f, "unknown channel {c:#04x}"),
            CloseReason::MessageTooLarge(c) => {
                write!(f, "message on channel {c:#04x} exceeds its capacity")
            }
            CloseReason::PartialBudget => {
                f.write_str("partial messages exceed the connection's budget")
            }
            CloseReason::NodePartialBudget => {
                f.write_str("partial messages exceed this connection's share of the node's budget")
            }
            CloseReason::PartialStale(c) => {
                write!(f, "partial message on channel {c:#04x} made no progress")
            }
            CloseReason::PacketTooLarge => f.write_str("packet exceeds max size"),
            CloseReason::VarintOverflow => f.write_str("varint overflow"),
            CloseReason::UnknownPacketType => f.write_str("unknown packet type"),
            CloseReason::ChannelOutOfRange => f.write_str("channel id out of range"),
            CloseReason::SeveralPacketTypes => f.write_str("packet sets several oneof members"),
            CloseReason::MalformedPacket(e) => write!(f, "malformed packet: {e}"),
        }
    }
}

impl core::error::Error for CloseReason {}

/// Something the application should know; drained with
/// [`poll_event`](super::MConnection::poll_event).
///
/// Received messages are not events: take them with
/// [`poll_message`](super::MConnection::poll_message) or per channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event {
    /// A channel that refused a send with [`Error::Full`] has room again.
    Writable(u8),
    /// The connection is closed; nothing more will be sent or received.
    Closed(CloseReason),
}

/// Why an application call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// No channel with this id.
    UnknownChannel,
    /// The channel's send queue is full (messages or bytes); wait for
    /// [`Event::Writable`].
    Full,
    /// The message is larger than the channel's whole send budget.
    TooLarge,
    /// The connection is closing or closed.
    Closed,
    /// The session's handshake has not finished yet.
    NotConnected,
    /// The peer's NodeInfo does not list this channel (CometBFT's `Peer.Send`
    /// refuses such sends too: the peer would disconnect us).
    PeerLacksChannel,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::UnknownChannel => "unknown channel",
            Error::Full => "send queue full",
            Error::TooLarge => "message larger than the channel's send buffer",
            Error::Closed => "connection closed",
            Error::NotConnected => "handshake not finished",
            Error::PeerLacksChannel => "peer does not have this channel",
        })
    }
}

impl core::error::Error for Error {}
