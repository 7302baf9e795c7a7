//! Typed reasons: why a connection is refused ([`Refusal`]), why a peer left
//! ([`DisconnectReason`]), what a reactor reports ([`Report`],
//! [`Misbehaviour`]) and why an attempt failed ([`ConnectFailure`]).

use core::fmt;

use crate::session::CloseReason;

/// Why a connection is refused (by [`accept`](super::PeerManager::accept),
/// [`dial`](super::PeerManager::dial) or
/// [`handshake_done`](super::PeerManager::handshake_done)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Refusal {
    /// The remote is this node.
    SelfConnection,
    /// A peer with this ID is already connected (the second connection loses).
    DuplicateId,
    /// A peer or handshake with this IP exists and duplicate IPs are not allowed.
    DuplicateIp,
    /// We are already dialing this ID.
    AlreadyDialing,
    /// A peer with this ID is already connected (refused before dialing).
    AlreadyConnected,
    /// The inbound peer or socket limit is reached.
    TooManyInbound,
    /// The outbound peer limit is reached.
    TooManyOutbound,
    /// The limit on handshakes in flight is reached.
    TooManyHandshakes,
    /// A per-IP limit (connections, or inbound handshakes) is reached.
    TooManyFromIp,
    /// The limit on all sockets is reached.
    TooManyConnections,
    /// The application's address or peer filter said no.
    Filtered,
    /// This ID misbehaved recently (see `misbehaviour_cooldown`).
    CoolingDown,
    /// The switch is stopping.
    Stopped,
    /// Caller misuse: the connection is not a handshake in flight.
    UnknownConnection,
}

impl Refusal {
    /// Number of variants (the size of [`SwitchStats::refused_by`](super::SwitchStats::refused_by)).
    pub const COUNT: usize = 14;
    /// Every variant, in [`index`](Self::index) order.
    pub const ALL: [Refusal; Self::COUNT] = [
        Refusal::SelfConnection,
        Refusal::DuplicateId,
        Refusal::DuplicateIp,
        Refusal::AlreadyDialing,
        Refusal::AlreadyConnected,
        Refusal::TooManyInbound,
        Refusal::TooManyOutbound,
        Refusal::TooManyHandshakes,
        Refusal::TooManyFromIp,
        Refusal::TooManyConnections,
        Refusal::Filtered,
        Refusal::CoolingDown,
        Refusal::Stopped,
        Refusal::UnknownConnection,
    ];

    /// A dense index in `0..COUNT`.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::SelfConnection => "connection to ourselves",
            Refusal::DuplicateId => "duplicate peer ID",
            Refusal::DuplicateIp => "duplicate IP address",
            Refusal::AlreadyDialing => "already dialing this peer",
            Refusal::AlreadyConnected => "already connected to this peer",
            Refusal::TooManyInbound => "too many inbound peers",
            Refusal::TooManyOutbound => "too many outbound peers",
            Refusal::TooManyHandshakes => "too many handshakes in flight",
            Refusal::TooManyFromIp => "too many connections from this IP address",
            Refusal::TooManyConnections => "too many connections",
            Refusal::Filtered => "refused by filter",
            Refusal::CoolingDown => "peer misbehaved recently",
            Refusal::Stopped => "switch is stopping",
            Refusal::UnknownConnection => "unknown connection",
        })
    }
}

impl core::error::Error for Refusal {}

/// What a reactor reports a peer did wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Misbehaviour {
    /// A message on `channel` did not decode or broke the reactor's rules.
    BadMessage {
        /// The channel it arrived on.
        channel: u8,
    },
    /// A PEX request arrived sooner than allowed (spec §6.2).
    PexRequestTooSoon,
    /// PEX addresses arrived that we did not ask for.
    UnsolicitedAddrs,
    /// A PEX address list was invalid.
    BadAddrs,
    /// The reactor's inbox for `channel` overflowed (policy `Disconnect`).
    ReactorOverflow {
        /// The channel whose message did not fit.
        channel: u8,
    },
    /// Anything else, described by the reactor.
    Other(&'static str),
}

impl fmt::Display for Misbehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misbehaviour::BadMessage { channel } => {
                write!(f, "bad message on channel {channel:#04x}")
            }
            Misbehaviour::PexRequestTooSoon => f.write_str("PEX request too soon"),
            Misbehaviour::UnsolicitedAddrs => f.write_str("unsolicited PEX addresses"),
            Misbehaviour::BadAddrs => f.write_str("invalid PEX addresses"),
            Misbehaviour::ReactorOverflow { channel } => {
                write!(f, "reactor inbox overflow on channel {channel:#04x}")
            }
            Misbehaviour::Other(what) => f.write_str(what),
        }
    }
}

impl core::error::Error for Misbehaviour {}

/// A reactor's verdict on a peer, for [`PeerManager::report`](super::PeerManager::report).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Report {
    /// The peer did something useful (counted).
    Good,
    /// The peer misbehaved: it is disconnected and cools down.
    Bad(Misbehaviour),
}

/// Why an added peer left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DisconnectReason {
    /// The connection closed itself (keepalive, bad bytes, local close).
    Session(CloseReason),
    /// The peer closed the TCP stream.
    Eof,
    /// Reading or writing the socket failed.
    SocketError,
    /// Refused after the handshake.
    Refused(Refusal),
    /// A reactor reported it (also the overflow policy `Disconnect`).
    Misbehaved(Misbehaviour),
    /// The application stopped it.
    Requested,
    /// The switch is stopping.
    Stopping,
}

impl DisconnectReason {
    /// Whether the connection itself caught the peer breaking the protocol:
    /// bad bytes, a ping flood, an unknown channel, an oversize or stale
    /// message. A missing pong is not (that is a bad network), nor is a
    /// local close.
    ///
    /// ```
    /// use mconn::conn;
    /// use mconn::session::CloseReason;
    /// use mconn::switch::DisconnectReason;
    ///
    /// let flood = DisconnectReason::Session(CloseReason::Conn(conn::CloseReason::PingFlood));
    /// let silent = DisconnectReason::Session(CloseReason::Conn(conn::CloseReason::PongTimeout));
    /// assert!(flood.is_protocol_violation());
    /// assert!(!silent.is_protocol_violation());
    /// assert!(!DisconnectReason::Eof.is_protocol_violation());
    /// ```
    pub fn is_protocol_violation(self) -> bool {
        match self {
            DisconnectReason::Session(r) => {
                r.is_peer_fault() && r != CloseReason::Conn(crate::conn::CloseReason::PongTimeout)
            }
            _ => false,
        }
    }

    /// Whether the peer left through its own fault: a
    /// [protocol violation](Self::is_protocol_violation) or a reactor's
    /// report ([`DisconnectReason::Misbehaved`]).
    pub fn is_misbehaviour(self) -> bool {
        self.is_protocol_violation() || matches!(self, DisconnectReason::Misbehaved(_))
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::Session(r) => write!(f, "{r}"),
            DisconnectReason::Eof => f.write_str("peer closed the connection"),
            DisconnectReason::SocketError => f.write_str("socket error"),
            DisconnectReason::Refused(r) => write!(f, "refused: {r}"),
            DisconnectReason::Misbehaved(m) => write!(f, "misbehaved: {m}"),
            DisconnectReason::Requested => f.write_str("stopped by the application"),
            DisconnectReason::Stopping => f.write_str("switch stopping"),
        }
    }
}

impl core::error::Error for DisconnectReason {}

/// Why a connection attempt failed before the peer was added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConnectFailure {
    /// The TCP connect failed or timed out.
    Dial,
    /// The SecretConnection or NodeInfo exchange failed or timed out.
    Handshake,
    /// Refused by our policy (or the runtime's).
    Refused(Refusal),
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectFailure::Dial => f.write_str("dial failed"),
            ConnectFailure::Handshake => f.write_str("handshake failed"),
            ConnectFailure::Refused(r) => write!(f, "refused: {r}"),
        }
    }
}

impl core::error::Error for ConnectFailure {}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    #[test]
    fn indices_are_dense_and_names_distinct() {
        for (i, r) in Refusal::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        let names: std::collections::BTreeSet<_> =
            Refusal::ALL.iter().map(|r| r.to_string()).collect();
        assert_eq!(names.len(), Refusal::COUNT);
    }

    #[test]
    fn reasons_print_on_one_line() {
        let reasons = [
            DisconnectReason::Misbehaved(Misbehaviour::BadMessage { channel: 0x22 }),
            DisconnectReason::Refused(Refusal::DuplicateId),
            DisconnectReason::Misbehaved(Misbehaviour::Other("spam")),
            DisconnectReason::Eof,
        ];
        let printed: std::vec::Vec<_> = reasons.iter().map(|r| r.to_string()).collect();
        assert_eq!(printed[0], "misbehaved: bad message on channel 0x22");
        assert_eq!(printed[1], "refused: duplicate peer ID");
        assert_eq!(printed[2], "misbehaved: spam");
        assert!(printed.iter().all(|p| !p.contains('\n')));
    }
}
