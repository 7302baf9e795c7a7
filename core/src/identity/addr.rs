//! `id@host:port` peer addresses (CometBFT `NetAddress` strings).

use super::{NodeId, NodeIdError};
use core::fmt;

/// A peer address `<id>@<host>:<port>`, borrowing the host from the input.
///
/// Parsing strips an optional `tcp://` prefix; IPv6 hosts are written in
/// brackets. The host is not resolved or checked beyond basic syntax.
///
/// ```
/// use mconn::identity::PeerAddr;
/// let a = PeerAddr::parse("tcp://56475aa75463474c0285df5dbf2bcab73da65135@[::1]:26656").unwrap();
/// assert_eq!(a.host, "::1");
/// assert_eq!(a.port, 26656);
/// assert_eq!(a.to_string(), "56475aa75463474c0285df5dbf2bcab73da65135@[::1]:26656");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PeerAddr<'a> {
    /// The node ID the remote must authenticate as.
    pub id: NodeId,
    /// Host name or IP address, without IPv6 brackets.
    pub host: &'a str,
    /// TCP port.
    pub port: u16,
}

/// Why a string is not a peer address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PeerAddrError {
    /// No `id@` part.
    MissingId,
    /// The part before `@` is not a node ID.
    InvalidId(NodeIdError),
    /// No `:port` after the host.
    MissingPort,
    /// The port is not a decimal number in `0..=65535`.
    InvalidPort,
    /// Empty host, unbalanced brackets, an unbracketed IPv6 address or a
    /// character that cannot be part of a host.
    InvalidHost,
}

impl fmt::Display for PeerAddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddrError::MissingId => f.write_str("peer address has no `id@` part"),
            PeerAddrError::InvalidId(e) => write!(f, "invalid ID in peer address: {e}"),
            PeerAddrError::MissingPort => f.write_str("peer address has no port"),
            PeerAddrError::InvalidPort => f.write_str("invalid port in peer address"),
            PeerAddrError::InvalidHost => f.write_str("invalid host in peer address"),
        }
    }
}

impl core::error::Error for PeerAddrError {}

impl<'a> PeerAddr<'a> {
    /// An address from its parts.
    pub fn new(id: NodeId, host: &'a str, port: u16) -> Self {
        PeerAddr { id, host, port }
    }

    /// Parses `[tcp://]<id>@<host>:<port>`; IPv6 hosts as `[addr]`.
    pub fn parse(s: &'a str) -> Result<Self, PeerAddrError> {
        let s = s.strip_prefix("tcp://").unwrap_or(s);
        let (id, rest) = s.split_once('@').ok_or(PeerAddrError::MissingId)?;
        let id = id.parse().map_err(PeerAddrError::InvalidId)?;
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or(PeerAddrError::InvalidHost)?;
            let port = after.strip_prefix(':').ok_or(PeerAddrError::MissingPort)?;
            (host, port)
        } else {
            let (host, port) = rest.rsplit_once(':').ok_or(PeerAddrError::MissingPort)?;
            if host.contains(':') {
                return Err(PeerAddrError::InvalidHost);
            }
            (host, port)
        };
        if host.is_empty()
            || host
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "@/[]".contains(c))
        {
            return Err(PeerAddrError::InvalidHost);
        }
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PeerAddrError::InvalidPort);
        }
        let port = port.parse().map_err(|_| PeerAddrError::InvalidPort)?;
        Ok(PeerAddr { id, host, port })
    }
}

impl fmt::Display for PeerAddr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}@[{}]:{}", self.id, self.host, self.port)
        } else {
            write!(f, "{}@{}:{}", self.id, self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    const ID: &str = "56475aa75463474c0285df5dbf2bcab73da65135";

    #[test]
    fn round_trips() {
        for (input, host, port, printed) in [
            (
                "ID@127.0.0.1:26656",
                "127.0.0.1",
                26656,
                "ID@127.0.0.1:26656",
            ),
            (
                "tcp://ID@example.com:1",
                "example.com",
                1,
                "ID@example.com:1",
            ),
            ("ID@[::1]:26656", "::1", 26656, "ID@[::1]:26656"),
            (
                "tcp://ID@[fe80::1%eth0]:0",
                "fe80::1%eth0",
                0,
                "ID@[fe80::1%eth0]:0",
            ),
            (
                "ID@localhost:65535",
                "localhost",
                65535,
                "ID@localhost:65535",
            ),
        ] {
            let input = input.replace("ID", ID);
            let a = PeerAddr::parse(&input).unwrap();
            assert_eq!(a.id.to_string(), ID);
            assert_eq!((a.host, a.port), (host, port));
            let printed = printed.replace("ID", ID);
            assert_eq!(a.to_string(), printed);
            assert_eq!(PeerAddr::parse(&printed), Ok(a));
        }
    }

    #[test]
    fn errors() {
        use PeerAddrError::*;
        for (input, err) in [
            ("127.0.0.1:26656", MissingId),
            ("abc@127.0.0.1:1", InvalidId(NodeIdError::Length)),
            ("ID@127.0.0.1", MissingPort),
            ("ID@127.0.0.1:", InvalidPort),
            ("ID@127.0.0.1:65536", InvalidPort),
            ("ID@127.0.0.1:+1", InvalidPort),
            ("ID@127.0.0.1:x", InvalidPort),
            ("ID@:1", InvalidHost),
            ("ID@::1:1", InvalidHost),
            ("ID@[::1:1", InvalidHost),
            ("ID@[::1]1", MissingPort),
            ("ID@[]:1", InvalidHost),
            ("ID@a b:1", InvalidHost),
            ("ID@a@b:1", InvalidHost),
            ("udp://ID@a:1", InvalidId(NodeIdError::Length)),
        ] {
            let input = input.replace("ID", ID);
            assert_eq!(PeerAddr::parse(&input), Err(err), "{input}");
        }
    }
}
