//! [`NetAddr`]: an owned, resolved peer address `id@ip:port` — the one
//! address type the switch, PEX, the address book and the CLI share.
//!
//! Unlike [`PeerAddr`](super::PeerAddr) (which borrows an unresolved host
//! name from a config string), a `NetAddr` holds an IP literal, so it can be
//! copied, hashed, compared and stored without allocation. Routability and
//! address groups (CometBFT's `p2p.NetAddress` rules) live in
//! [`crate::pex`] beside the address book that uses them.

use core::fmt;
use core::net::{IpAddr, SocketAddr};

use super::{NodeId, PeerAddr, PeerAddrError};
use crate::wire::pex::NetAddress;

/// A peer's ID, IP address and TCP port.
///
/// ```
/// use mconn::identity::NetAddr;
/// let a: NetAddr = "56475aa75463474c0285df5dbf2bcab73da65135@[::1]:26656".parse().unwrap();
/// assert_eq!(a.port, 26656);
/// assert!(a.ip.is_ipv6());
/// assert_eq!(a.to_string(), "56475aa75463474c0285df5dbf2bcab73da65135@[::1]:26656");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetAddr {
    /// The node ID the remote must authenticate as.
    pub id: NodeId,
    /// The IP address (IPv4-mapped IPv6 addresses are kept as IPv4).
    pub ip: IpAddr,
    /// TCP port.
    pub port: u16,
}

/// Why something is not a [`NetAddr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NetAddrError {
    /// Not `id@host:port` (see [`PeerAddrError`]).
    Syntax(PeerAddrError),
    /// The host is not an IP literal (resolve names first).
    NotAnIp,
    /// A port above 65535 (from a PEX message).
    PortRange,
}

impl fmt::Display for NetAddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetAddrError::Syntax(e) => write!(f, "{e}"),
            NetAddrError::NotAnIp => f.write_str("host is not an IP address"),
            NetAddrError::PortRange => f.write_str("port above 65535"),
        }
    }
}

impl core::error::Error for NetAddrError {}

impl NetAddr {
    /// An address from its parts; an IPv4-mapped IPv6 `ip` becomes IPv4.
    pub fn new(id: NodeId, ip: IpAddr, port: u16) -> Self {
        NetAddr {
            id,
            ip: ip.to_canonical(),
            port,
        }
    }

    /// The address of `id` at a socket address.
    pub fn from_socket(id: NodeId, addr: SocketAddr) -> Self {
        Self::new(id, addr.ip(), addr.port())
    }

    /// The socket address to dial.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// A [`PeerAddr`] whose host is an IP literal.
    pub fn from_peer_addr(a: &PeerAddr<'_>) -> Result<Self, NetAddrError> {
        let ip = a
            .host
            .parse::<IpAddr>()
            .map_err(|_| NetAddrError::NotAnIp)?;
        Ok(Self::new(a.id, ip, a.port))
    }

    /// An address from a PEX message: the ID must be 40 hex characters, the
    /// IP Go's textual form (IPv4 or IPv6 without brackets), the port ≤ 65535.
    pub fn from_wire(a: &NetAddress<'_>) -> Result<Self, NetAddrError> {
        let id =
            a.id.parse()
                .map_err(|e| NetAddrError::Syntax(PeerAddrError::InvalidId(e)))?;
        let ip = a.ip.parse::<IpAddr>().map_err(|_| NetAddrError::NotAnIp)?;
        let port = u16::try_from(a.port).map_err(|_| NetAddrError::PortRange)?;
        Ok(Self::new(id, ip, port))
    }

    /// The PEX wire form, with the ID and IP written into caller buffers
    /// (no allocation): `id_buf` holds the hex ID, `ip_buf` the textual IP
    /// (46 bytes fit any IPv6 address).
    ///
    /// ```
    /// use mconn::identity::NetAddr;
    /// let a: NetAddr = "56475aa75463474c0285df5dbf2bcab73da65135@1.2.3.4:26656".parse().unwrap();
    /// let (mut id, mut ip) = ([0u8; 40], [0u8; 46]);
    /// let w = a.to_wire(&mut id, &mut ip);
    /// assert_eq!((w.ip, w.port), ("1.2.3.4", 26656));
    /// assert_eq!(NetAddr::from_wire(&w), Ok(a));
    /// ```
    pub fn to_wire<'b>(
        &self,
        id_buf: &'b mut [u8; 40],
        ip_buf: &'b mut [u8; 46],
    ) -> NetAddress<'b> {
        let id = self.id.write_hex(id_buf);
        let mut w = SliceWriter {
            buf: ip_buf,
            len: 0,
        };
        let _ = fmt::write(&mut w, format_args!("{}", self.ip));
        let len = w.len;
        NetAddress {
            id,
            ip: core::str::from_utf8(&ip_buf[..len]).unwrap_or_default(),
            port: u32::from(self.port),
        }
    }
}

struct SliceWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl fmt::Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl core::str::FromStr for NetAddr {
    type Err = NetAddrError;

    /// Parses `[tcp://]id@ip:port` (IPv6 in brackets).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let a = PeerAddr::parse(s).map_err(NetAddrError::Syntax)?;
        Self::from_peer_addr(&a)
    }
}

impl fmt::Display for NetAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.socket_addr())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for NetAddr {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "{}@{}",
            self.id,
            defmt::Display2Format(&self.socket_addr())
        );
    }
}

impl fmt::Debug for NetAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetAddr({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    const ID: &str = "56475aa75463474c0285df5dbf2bcab73da65135";

    #[test]
    fn parses_prints_and_round_trips_through_the_wire() {
        for (input, printed) in [
            ("ID@127.0.0.1:26656", "ID@127.0.0.1:26656"),
            ("tcp://ID@[::1]:1", "ID@[::1]:1"),
            ("ID@[::ffff:10.0.0.1]:5", "ID@10.0.0.1:5"),
            ("ID@[2001:db8::1]:65535", "ID@[2001:db8::1]:65535"),
        ] {
            let a: NetAddr = input.replace("ID", ID).parse().unwrap();
            assert_eq!(a.to_string(), printed.replace("ID", ID));
            let (mut id, mut ip) = ([0u8; 40], [0u8; 46]);
            assert_eq!(NetAddr::from_wire(&a.to_wire(&mut id, &mut ip)), Ok(a));
        }
        let long = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        let a: NetAddr = std::format!("{ID}@[{long}]:1").parse().unwrap();
        let (mut id, mut ip) = ([0u8; 40], [0u8; 46]);
        assert_eq!(a.to_wire(&mut id, &mut ip).ip, long);
    }

    #[test]
    fn refuses_names_bad_ids_and_ports() {
        assert_eq!(
            std::format!("{ID}@example.com:1").parse::<NetAddr>(),
            Err(NetAddrError::NotAnIp)
        );
        let wire = |id, ip, port| NetAddr::from_wire(&NetAddress { id, ip, port });
        assert_eq!(wire(ID, "1.2.3.4", 70000), Err(NetAddrError::PortRange));
        assert_eq!(wire(ID, "[::1]", 1), Err(NetAddrError::NotAnIp));
        assert!(matches!(
            wire("xyz", "1.2.3.4", 1),
            Err(NetAddrError::Syntax(_))
        ));
    }
}
