//! Errors of the application-facing calls, and why a connection ended.

use core::fmt;

use mconn::conn;
use mconn::session::CloseReason;

/// Why a connection is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Disconnect {
    /// The session closed: a local `close`/`abort`, a handshake or keepalive
    /// timeout, or peer misbehaviour (see [`CloseReason`]).
    Session(CloseReason),
    /// The peer closed the TCP stream (possibly in the middle of a message).
    Eof,
    /// Reading or writing the socket failed.
    Io(embedded_io::ErrorKind),
}

impl Disconnect {
    /// Whether this is the end of a local graceful [`close`](crate::Conn::close).
    pub fn is_graceful_close(self) -> bool {
        self == Disconnect::Session(CloseReason::Conn(conn::CloseReason::Closed))
    }

    /// Whether the peer hung up: it closed the stream, or reset it (a peer
    /// that closes with our bytes unread resets the connection instead).
    pub fn is_hang_up(self) -> bool {
        matches!(
            self,
            Disconnect::Eof | Disconnect::Io(embedded_io::ErrorKind::ConnectionReset)
        )
    }
}

impl fmt::Display for Disconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Disconnect::Session(r) => write!(f, "{r}"),
            Disconnect::Eof => f.write_str("peer closed the stream"),
            Disconnect::Io(k) => write!(f, "socket error: {k:?}"),
        }
    }
}

impl core::error::Error for Disconnect {}

/// Why a call on a connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// The connection is over (for receives: and no message is left to take).
    Closed(Disconnect),
    /// `send` waited its whole timeout for queue room; `close` could not
    /// hand the last bytes to the socket within the linger time.
    Timeout,
    /// Refused by the connection: [`conn::Error::Full`] (from `try_send`),
    /// `TooLarge`, `UnknownChannel`, `PeerLacksChannel`, `NotConnected`.
    Conn(conn::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Closed(d) => write!(f, "connection closed: {d}"),
            Error::Timeout => f.write_str("timed out"),
            Error::Conn(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for Error {}

/// Why [`connect`/`accept`](crate::Peer) did not produce a peer.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// The TCP connect or accept failed.
    Io(std::io::ErrorKind),
    /// The TCP connect did not finish within the dial timeout.
    DialTimeout,
    /// The configuration was refused.
    Config(mconn::conn::ConfigError),
    /// The stream ended before the handshake and NodeInfo exchange finished.
    Handshake(Disconnect),
}

#[cfg(feature = "std")]
impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Io(k) => write!(f, "tcp: {k}"),
            ConnectError::DialTimeout => f.write_str("dial timed out"),
            ConnectError::Config(e) => write!(f, "config: {e}"),
            ConnectError::Handshake(d) => write!(f, "handshake failed: {d}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConnectError {}

#[cfg(feature = "std")]
impl From<std::io::Error> for ConnectError {
    fn from(e: std::io::Error) -> Self {
        ConnectError::Io(e.kind())
    }
}

#[cfg(feature = "std")]
impl From<Error> for ConnectError {
    /// A handshake that ended ([`Conn::connected`](crate::Conn::connected) failed).
    fn from(e: Error) -> Self {
        match e {
            Error::Closed(d) => ConnectError::Handshake(d),
            Error::Timeout => {
                ConnectError::Handshake(Disconnect::Io(embedded_io::ErrorKind::TimedOut))
            }
            Error::Conn(_) => {
                ConnectError::Handshake(Disconnect::Io(embedded_io::ErrorKind::Other))
            }
        }
    }
}
