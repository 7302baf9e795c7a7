//! Errors of the switch's calls.

use core::fmt;

use mconn::switch::{Refusal, RouteError};

use crate::Disconnect;

/// Why a switch could not be built or started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchError {
    /// Two reactors claim one channel, or too many channels.
    Route(RouteError),
    /// A switch needs at least one reactor.
    NoReactors,
    /// The listen address could not be bound.
    Bind(std::io::ErrorKind),
}

impl fmt::Display for SwitchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwitchError::Route(e) => write!(f, "reactor channels: {e}"),
            SwitchError::NoReactors => f.write_str("a switch needs at least one reactor"),
            SwitchError::Bind(k) => write!(f, "cannot bind the listen address: {k}"),
        }
    }
}

impl std::error::Error for SwitchError {}

/// Why [`Switch::dial`](super::Switch::dial) did not add a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialError {
    /// The policy refused the dial or, after the handshake, the peer.
    Refused(Refusal),
    /// The TCP connection could not be opened.
    Connect(std::io::ErrorKind),
    /// The TCP connection took longer than the dial timeout.
    Timeout,
    /// The handshake failed or the connection ended before the peer was added.
    Handshake(Disconnect),
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialError::Refused(r) => write!(f, "refused: {r}"),
            DialError::Connect(k) => write!(f, "cannot connect: {k}"),
            DialError::Timeout => f.write_str("dial timed out"),
            DialError::Handshake(d) => write!(f, "handshake failed: {d}"),
        }
    }
}

impl std::error::Error for DialError {}
