//! `listen_addr` parsing; see [`parse_listen_addr`].

use core::net::IpAddr;

use super::NodeInfoError;

/// The host part of a listen address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Host<'a> {
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
    /// A syntactically valid DNS name, not resolved.
    Dns(&'a str),
}

/// A parsed `listen_addr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenAddr<'a> {
    /// IP literal or DNS name.
    pub host: Host<'a>,
    /// TCP port.
    pub port: u16,
}

/// Go's `removeProtocolIfDefined`: the text between the first `://` and
/// the next one (or the end), or everything if there is none.
fn strip_protocol(addr: &str) -> &str {
    match addr.split_once("://") {
        Some((_, rest)) => rest.split("://").next().unwrap_or(rest),
        None => addr,
    }
}

/// Go's `net.SplitHostPort`.
fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let bytes = hostport.as_bytes();
    let colon = hostport.rfind(':')?;
    let (host, j, k) = if bytes.first() == Some(&b'[') {
        let end = hostport.find(']')?;
        // The ']' must be right before the last ':'.
        if end + 1 != colon {
            return None;
        }
        (hostport.get(1..end)?, 1, end + 1)
    } else {
        let host = hostport.get(..colon)?;
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hostport.get(j..)?.contains('[') || hostport.get(k..)?.contains(']') {
        return None;
    }
    Some((host, hostport.get(colon + 1..)?))
}

/// Go's `strconv.ParseUint(s, 10, 16)`.
fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u16, |acc, b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u16::from(b - b'0'))
    })
}

/// Go's `isDomainName` (RFC 1035 / 3696 presentation syntax, `_` allowed,
/// at least one non-numeric label character), without the root name `.`.
fn is_domain_name(s: &str) -> bool {
    let b = s.as_bytes();
    let l = b.len();
    if l == 0 || l > 254 || (l == 254 && b[l - 1] != b'.') {
        return false;
    }
    let mut last = b'.';
    let mut non_numeric = false;
    let mut part_len = 0usize;
    for &c in b {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                non_numeric = true;
                part_len += 1;
            }
            b'0'..=b'9' => part_len += 1,
            b'-' => {
                if last == b'.' {
                    return false;
                }
                non_numeric = true;
                part_len += 1;
            }
            b'.' => {
                if last == b'.' || last == b'-' || part_len == 0 || part_len > 63 {
                    return false;
                }
                part_len = 0;
            }
            _ => return false,
        }
        last = c;
    }
    last != b'-' && part_len <= 63 && non_numeric
}

/// `listen_addr` parsing, as Go's `NewNetAddressString` does it
/// (spec §3.3): strip an optional `proto://` prefix, split `host:port` like
/// `net.SplitHostPort` (IPv6 in brackets), host non-empty, port a u16.
///
/// A host that is not an IP literal must be a syntactically valid DNS name
/// (Go's `isDomainName` rules). Go then resolves it and rejects the peer if
/// that fails; the core never does DNS, so an adapter that wants Go's exact
/// behaviour may resolve [`Host::Dns`] itself and reject on failure.
///
/// ```
/// use core::net::{IpAddr, Ipv6Addr};
/// use mconn::handshake::{parse_listen_addr, Host};
/// let a = parse_listen_addr("tcp://0.0.0.0:26656").unwrap();
/// assert_eq!((a.host, a.port), (Host::Ip([0, 0, 0, 0].into()), 26656));
/// let a = parse_listen_addr("[::1]:26656").unwrap();
/// assert_eq!(a.host, Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)));
/// assert_eq!(parse_listen_addr("seed.example.com:26656").unwrap().host, Host::Dns("seed.example.com"));
/// assert!(parse_listen_addr("example.com").is_err()); // no port
/// assert!(parse_listen_addr("1.2.3.4:70000").is_err());
/// ```
///
/// Like Go, an `@` anywhere after the prefix is an error (Go parses
/// `id@listen_addr`).
pub fn parse_listen_addr(addr: &str) -> Result<ListenAddr<'_>, NodeInfoError> {
    let err = NodeInfoError::InvalidListenAddr;
    let hostport = strip_protocol(addr);
    if hostport.contains('@') {
        return Err(err);
    }
    let (host, port) = split_host_port(hostport).ok_or(err)?;
    if host.is_empty() {
        return Err(err);
    }
    let host = match host.parse::<IpAddr>() {
        Ok(ip) => Host::Ip(ip),
        Err(_) if is_domain_name(host) => Host::Dns(host),
        Err(_) => return Err(err),
    };
    let port = parse_port(port).ok_or(err)?;
    Ok(ListenAddr { host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts() {
        for (addr, port) in [
            ("tcp://0.0.0.0:26656", 26656),
            ("0.0.0.0:26656", 26656),
            ("1.2.3.4:0", 0),
            ("1.2.3.4:65535", 65535),
            ("1.2.3.4:00080", 80),
            ("[::]:26656", 26656),
            ("[2001:db8::1]:1", 1),
            ("[::ffff:1.2.3.4]:1", 1),
            ("localhost:26656", 26656),
            ("node-1.example.com.:26656", 26656),
            ("_srv.example:1", 1),
            ("[localhost]:1", 1),
            ("x://h:5", 5),
        ] {
            let parsed = parse_listen_addr(addr);
            assert_eq!(parsed.map(|a| a.port), Ok(port), "{addr}");
        }
        assert_eq!(
            parse_listen_addr("[::1]:2").unwrap().host,
            Host::Ip("::1".parse().unwrap())
        );
    }

    #[test]
    fn rejects() {
        for addr in [
            "",
            "1.2.3.4",
            "1.2.3.4:",
            "1.2.3.4:70000",
            "1.2.3.4:65536",
            "1.2.3.4:-1",
            "1.2.3.4:+1",
            "1.2.3.4:8a",
            ":26656",
            "tcp://:26656",
            "[]:26656",
            "::1:26656",
            "[::1]26656",
            "[::1]:1:2",
            "[::1:2",
            "]1.2.3.4:1",
            "h[:1",
            "garbage",
            "not a host:1",
            "1.2.3.256:1",
            "123.456:1",
            "-bad.example:1",
            "bad-.example:1",
            "a..b:1",
            ".:1",
            "id@1.2.3.4:1",
            "a://b://c:1",
            "fe80::1%eth0:1",
            "[fe80::1%eth0]:1",
        ] {
            assert_eq!(
                parse_listen_addr(addr),
                Err(NodeInfoError::InvalidListenAddr),
                "{addr}"
            );
        }
    }

    #[test]
    fn domain_name_lengths() {
        static A: [u8; 64] = [b'a'; 64];
        let label = |n: usize| core::str::from_utf8(&A[..n]).unwrap();
        assert!(is_domain_name(label(63)));
        assert!(!is_domain_name(label(64)));
    }
}
