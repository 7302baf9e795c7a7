//! Address values of `config.toml`: `tcp://host:port` listen addresses and
//! comma-separated `id@host:port` / node ID lists.

use std::fmt;

use mconn::handshake::{parse_listen_addr, Host};
use mconn::identity::{NodeId, PeerAddr, PeerAddrError};

/// A TCP address to listen on or to advertise: `laddr`, `external_address`.
///
/// ```
/// use mconn_node::config::ListenAddress;
/// let a: ListenAddress = "tcp://0.0.0.0:26656".parse().unwrap();
/// assert_eq!((a.host.as_str(), a.port), ("0.0.0.0", 26656));
/// assert_eq!(a.to_string(), "tcp://0.0.0.0:26656");
/// assert!("unix:///tmp/sock".parse::<ListenAddress>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListenAddress {
    /// IP literal or DNS name (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// Why a string is not a `tcp://host:port` address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ListenAddressError {
    /// A scheme other than `tcp://`.
    #[error("only tcp:// addresses are supported")]
    Scheme,
    /// Not `host:port` with a valid host and port.
    #[error("expected tcp://host:port")]
    Syntax,
}

impl std::str::FromStr for ListenAddress {
    type Err = ListenAddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix("tcp://").unwrap_or(s);
        if rest.contains("://") {
            return Err(ListenAddressError::Scheme);
        }
        let parsed = parse_listen_addr(rest).map_err(|_| ListenAddressError::Syntax)?;
        let host = match parsed.host {
            Host::Ip(ip) => ip.to_string(),
            Host::Dns(name) => name.to_string(),
        };
        Ok(ListenAddress {
            host,
            port: parsed.port,
        })
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "tcp://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "tcp://{}:{}", self.host, self.port)
        }
    }
}

/// An owned `id@host:port` peer address (`seeds`, `persistent_peers`);
/// the host may be a DNS name, resolved when dialing.
///
/// ```
/// use mconn_node::config::PeerAddress;
/// let p: PeerAddress = "56475aa75463474c0285df5dbf2bcab73da65135@seed.example.com:26656".parse().unwrap();
/// assert_eq!(p.peer_addr().host, "seed.example.com");
/// assert_eq!(p.to_string(), "56475aa75463474c0285df5dbf2bcab73da65135@seed.example.com:26656");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeerAddress {
    /// The node ID the remote must authenticate as.
    pub id: NodeId,
    /// Host name or IP address, without IPv6 brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl PeerAddress {
    /// The borrowed form the core uses.
    pub fn peer_addr(&self) -> PeerAddr<'_> {
        PeerAddr::new(self.id, &self.host, self.port)
    }
}

impl std::str::FromStr for PeerAddress {
    type Err = PeerAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let a = PeerAddr::parse(s)?;
        Ok(PeerAddress {
            id: a.id,
            host: a.host.to_string(),
            port: a.port,
        })
    }
}

impl fmt::Display for PeerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.peer_addr().fmt(f)
    }
}

/// One entry of a comma-separated list that did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("entry {entry:?}: {reason}")]
pub struct ListEntryError {
    /// The entry as written (trimmed).
    pub entry: String,
    /// Why it is refused.
    pub reason: String,
}

/// Splits a CometBFT comma-separated list: entries trimmed, empty ones
/// dropped (so `""` is an empty list), each parsed with `T::from_str`.
///
/// ```
/// use mconn_node::config::{parse_list, PeerAddress};
/// let id = "56475aa75463474c0285df5dbf2bcab73da65135";
/// let peers: Vec<PeerAddress> = parse_list(&format!(" {id}@a:1 , {id}@b:2,")).unwrap();
/// assert_eq!(peers.len(), 2);
/// assert!(parse_list::<PeerAddress>("").unwrap().is_empty());
/// ```
pub fn parse_list<T>(text: &str) -> Result<Vec<T>, ListEntryError>
where
    T: std::str::FromStr,
    T::Err: fmt::Display,
{
    text.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            e.parse().map_err(|err: T::Err| ListEntryError {
                entry: e.to_string(),
                reason: err.to_string(),
            })
        })
        .collect()
}

/// Writes a list back in CometBFT's form (`a,b,c`).
pub fn join_list<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "56475aa75463474c0285df5dbf2bcab73da65135";

    #[test]
    fn listen_addresses() {
        for (input, host, port, shown) in [
            (
                "tcp://0.0.0.0:26656",
                "0.0.0.0",
                26656,
                "tcp://0.0.0.0:26656",
            ),
            ("127.0.0.1:1", "127.0.0.1", 1, "tcp://127.0.0.1:1"),
            ("tcp://[::1]:26656", "::1", 26656, "tcp://[::1]:26656"),
            (
                "tcp://node.example.com:26656",
                "node.example.com",
                26656,
                "tcp://node.example.com:26656",
            ),
        ] {
            let a: ListenAddress = input.parse().unwrap();
            assert_eq!((a.host.as_str(), a.port), (host, port), "{input}");
            assert_eq!(a.to_string(), shown);
            assert_eq!(shown.parse::<ListenAddress>().unwrap(), a);
        }
        assert_eq!(
            "unix:///tmp/x.sock".parse::<ListenAddress>(),
            Err(ListenAddressError::Scheme)
        );
        for bad in ["", "tcp://", "0.0.0.0", "0.0.0.0:99999", "tcp://:26656x"] {
            assert_eq!(
                bad.parse::<ListenAddress>(),
                Err(ListenAddressError::Syntax),
                "{bad}"
            );
        }
    }

    #[test]
    fn lists() {
        let ids: Vec<NodeId> = parse_list(&format!("{ID}, {ID} ,,")).unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(join_list(&ids), format!("{ID},{ID}"));
        let err = parse_list::<PeerAddress>(&format!("{ID}@a:1, nope")).unwrap_err();
        assert_eq!(err.entry, "nope");
        assert_eq!(
            err.to_string(),
            "entry \"nope\": peer address has no `id@` part"
        );
        let err = parse_list::<NodeId>("abc").unwrap_err();
        assert_eq!(err.reason, "node ID must be 40 hex characters");
    }
}
