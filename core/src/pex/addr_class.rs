//! Address classes: validity, routability, CometBFT's network groups, and
//! our per-subnet key (CometBFT `p2p.NetAddress` rules, spec §7.2).
//!
//! Every function first folds an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
//! into IPv4, as Go's `net.IP.To4` does; the IPv6 ranges below therefore
//! only ever match real IPv6 addresses.
//!
//! ```
//! use core::net::IpAddr;
//! use mconn::pex::{AddrGroup, Subnet};
//! let ip: IpAddr = "1.2.3.4".parse().unwrap();
//! assert_eq!(AddrGroup::of(ip, true).to_string(), "1.2.0.0");
//! assert_eq!(Subnet::of(ip).to_string(), "1.2.3.0/24");
//! let lan: IpAddr = "192.168.1.7".parse().unwrap();
//! assert_eq!(AddrGroup::of(lan, true), AddrGroup::Unroutable);
//! assert_eq!(AddrGroup::of(lan, false).to_string(), "192.168.0.0");
//! ```

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::identity::NetAddr;

/// `true` if `ip` (an IPv4 address as a `u32`) is in `net/bits`.
fn in_v4(ip: u32, net: u32, bits: u32) -> bool {
    (ip ^ net).checked_shr(32 - bits).unwrap_or(0) == 0
}

/// `true` if `ip` (an IPv6 address as a `u128`) is in `net/bits`.
fn in_v6(ip: u128, net: u128, bits: u32) -> bool {
    (ip ^ net).checked_shr(128 - bits).unwrap_or(0) == 0
}

/// RFC 3849 documentation prefix 2001:db8::/32.
fn is_rfc3849(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if in_v6(v6.into(), 0x2001_0db8 << 96, 32))
}

/// RFC 6145 IPv4-translated `::ffff:0:0:0/96` (not IPv4-mapped `::ffff:0:0/96`).
fn is_rfc6145(v6: Ipv6Addr) -> bool {
    in_v6(v6.into(), 0xffff << 48, 96)
}

/// RFC 6052 well-known NAT64 prefix 64:ff9b::/96.
fn is_rfc6052(v6: Ipv6Addr) -> bool {
    in_v6(v6.into(), 0x0064_ff9b << 96, 96)
}

/// RFC 3964 6to4 prefix 2002::/16.
fn is_rfc3964(v6: Ipv6Addr) -> bool {
    in_v6(v6.into(), 0x2002 << 112, 16)
}

/// RFC 4380 Teredo prefix 2001::/32.
fn is_rfc4380(v6: Ipv6Addr) -> bool {
    in_v6(v6.into(), 0x2001 << 112, 32)
}

/// OnionCat (Tor) prefix fd87:d87e:eb43::/48.
fn is_onion_cat(v6: Ipv6Addr) -> bool {
    in_v6(v6.into(), 0xfd87_d87e_eb43 << 80, 48)
}

/// Hurricane Electric's 2001:470::/32, grouped by /36 instead of /32.
fn is_he_net(v6: Ipv6Addr) -> bool {
    in_v6(v6.into(), 0x2001_0470 << 96, 32)
}

/// A usable address: not unspecified (`0.0.0.0`, `::`), not the RFC 3849
/// documentation prefix, not the IPv4 broadcast address (Go's
/// `NetAddress.Valid`, whose ID check our [`NodeId`](crate::identity::NodeId)
/// type already guarantees).
pub fn is_valid_ip(ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    !(ip.is_unspecified() || is_rfc3849(ip) || ip == IpAddr::V4(Ipv4Addr::BROADCAST))
}

/// Loopback (`127/8`, `::1`) or `0.0.0.0/8`.
pub fn is_local_ip(ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    ip.is_loopback() || matches!(ip, IpAddr::V4(v4) if v4.octets()[0] == 0)
}

/// Valid and reachable over the internet: not RFC 1918 private, RFC 3927
/// link-local (169.254/16), RFC 4862 (fe80::/64), RFC 4193 unique local
/// (fc00::/7), RFC 4843 ORCHID (2001:10::/28), nor local.
pub fn is_routable_ip(ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    if !is_valid_ip(ip) || is_local_ip(ip) {
        return false;
    }
    match ip {
        IpAddr::V4(v4) => {
            let x = u32::from(v4);
            !(in_v4(x, 0x0a00_0000, 8)
                || in_v4(x, 0xc0a8_0000, 16)
                || in_v4(x, 0xac10_0000, 12)
                || in_v4(x, 0xa9fe_0000, 16))
        }
        IpAddr::V6(v6) => {
            let x = u128::from(v6);
            !(in_v6(x, 0xfe80 << 112, 64)
                || in_v6(x, 0xfc00 << 112, 7)
                || in_v6(x, 0x2001_0010 << 96, 28))
        }
    }
}

/// CometBFT's network group of an address: the unit that bucket placement
/// spreads over, so that one network cannot fill the book.
///
/// A small `Copy` value instead of Go's string; [`Display`](fmt::Display)
/// prints exactly Go's string, and [`AddrGroup::key_bytes`] is the fixed-size
/// canonical form that bucket hashing uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AddrGroup {
    /// A local address in strict mode (Go: `local`).
    Local,
    /// A non-routable address in strict mode (Go: `unroutable`).
    Unroutable,
    /// An IPv4 /16 (also for IPv4 embedded in RFC 6145/6052, 6to4 and
    /// Teredo addresses): the first two octets.
    V4([u8; 2]),
    /// An OnionCat address: the low 4 bits of byte 6 (Go: `tor:<n>`).
    Tor(u8),
    /// Another IPv6 address: the first 5 bytes masked to /32, or /36 for
    /// 2001:470::/32.
    V6([u8; 5]),
}

impl AddrGroup {
    /// The group of `ip`. In `strict` mode (CometBFT's `addr_book_strict`)
    /// local and non-routable addresses form the groups `local` and
    /// `unroutable`; otherwise they are grouped by network like any other.
    pub fn of(ip: IpAddr, strict: bool) -> Self {
        let ip = ip.to_canonical();
        if strict && is_local_ip(ip) {
            return AddrGroup::Local;
        }
        if strict && !is_routable_ip(ip) {
            return AddrGroup::Unroutable;
        }
        let v6 = match ip {
            IpAddr::V4(v4) => {
                let [a, b, _, _] = v4.octets();
                return AddrGroup::V4([a, b]);
            }
            IpAddr::V6(v6) => v6,
        };
        let o = v6.octets();
        if is_rfc6145(v6) || is_rfc6052(v6) {
            AddrGroup::V4([o[12], o[13]])
        } else if is_rfc3964(v6) {
            AddrGroup::V4([o[2], o[3]])
        } else if is_rfc4380(v6) {
            AddrGroup::V4([o[12] ^ 0xff, o[13] ^ 0xff])
        } else if is_onion_cat(v6) {
            AddrGroup::Tor(o[6] & 0x0f)
        } else {
            let fifth = if is_he_net(v6) { o[4] & 0xf0 } else { 0 };
            AddrGroup::V6([o[0], o[1], o[2], o[3], fifth])
        }
    }

    /// The canonical bytes hashed for bucket placement: a kind tag and the
    /// payload, zero-padded to a fixed length (so concatenations of keys are
    /// unambiguous).
    pub fn key_bytes(&self) -> [u8; 6] {
        match *self {
            AddrGroup::Local => [1, 0, 0, 0, 0, 0],
            AddrGroup::Unroutable => [2, 0, 0, 0, 0, 0],
            AddrGroup::V4([a, b]) => [3, a, b, 0, 0, 0],
            AddrGroup::Tor(n) => [4, n, 0, 0, 0, 0],
            AddrGroup::V6([a, b, c, d, e]) => [5, a, b, c, d, e],
        }
    }
}

impl fmt::Display for AddrGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AddrGroup::Local => f.write_str("local"),
            AddrGroup::Unroutable => f.write_str("unroutable"),
            AddrGroup::V4([a, b]) => write!(f, "{}", Ipv4Addr::new(a, b, 0, 0)),
            AddrGroup::Tor(n) => write!(f, "tor:{n}"),
            AddrGroup::V6([a, b, c, d, e]) => {
                let mut o = [0u8; 16];
                o[..5].copy_from_slice(&[a, b, c, d, e]);
                write!(f, "{}", Ipv6Addr::from(o))
            }
        }
    }
}

/// The subnet an address belongs to for our per-subnet cap: the IPv4 /24 or
/// the IPv6 /48 (a typical single-site allocation). Not a CometBFT concept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Subnet {
    /// The first three octets of an IPv4 address.
    V4([u8; 3]),
    /// The first six bytes of an IPv6 address.
    V6([u8; 6]),
}

impl Subnet {
    /// The /24 or /48 of `ip` (IPv4-mapped addresses count as IPv4).
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                Subnet::V4([a, b, c])
            }
            IpAddr::V6(v6) => {
                let o = v6.octets();
                Subnet::V6([o[0], o[1], o[2], o[3], o[4], o[5]])
            }
        }
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Subnet::V4([a, b, c]) => write!(f, "{}/24", Ipv4Addr::new(a, b, c, 0)),
            Subnet::V6(p) => {
                let mut o = [0u8; 16];
                o[..6].copy_from_slice(&p);
                write!(f, "{}/48", Ipv6Addr::from(o))
            }
        }
    }
}

/// Routability and grouping of a peer address (the IP decides; the ID is
/// valid by construction).
impl NetAddr {
    /// See [`is_valid_ip`].
    pub fn is_valid(&self) -> bool {
        is_valid_ip(self.ip)
    }

    /// See [`is_local_ip`].
    pub fn is_local(&self) -> bool {
        is_local_ip(self.ip)
    }

    /// See [`is_routable_ip`].
    pub fn is_routable(&self) -> bool {
        is_routable_ip(self.ip)
    }

    /// See [`AddrGroup::of`].
    pub fn group(&self, strict: bool) -> AddrGroup {
        AddrGroup::of(self.ip, strict)
    }

    /// See [`Subnet::of`].
    pub fn subnet(&self) -> Subnet {
        Subnet::of(self.ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Group strings as Go's `groupKeyFor` prints them, per address class of
    /// spec §7.2: (address, strict group, non-strict group).
    #[test]
    fn group_keys_match_go_strings() {
        let table = [
            ("1.2.3.4", "1.2.0.0", "1.2.0.0"),
            ("::ffff:1.2.3.4", "1.2.0.0", "1.2.0.0"),
            ("255.254.1.1", "255.254.0.0", "255.254.0.0"),
            ("127.0.0.1", "local", "127.0.0.0"),
            ("0.1.2.3", "local", "0.1.0.0"),
            ("::1", "local", "::"),
            ("10.1.2.3", "unroutable", "10.1.0.0"),
            ("172.16.5.4", "unroutable", "172.16.0.0"),
            ("172.32.5.4", "172.32.0.0", "172.32.0.0"),
            ("192.168.1.1", "unroutable", "192.168.0.0"),
            ("169.254.1.1", "unroutable", "169.254.0.0"),
            ("0.0.0.0", "local", "0.0.0.0"),
            ("255.255.255.255", "unroutable", "255.255.0.0"),
            ("fe80::1", "unroutable", "fe80::"),
            ("fe80:0:0:1::1", "fe80::", "fe80::"),
            ("fc00::1", "unroutable", "fc00::"),
            ("2001:10::1", "unroutable", "2001:10::"),
            ("2001:db8::1", "unroutable", "2001:db8::"),
            ("::", "unroutable", "::"),
            // RFC 6145 (::ffff:0:a.b.c.d) and RFC 6052 (64:ff9b::a.b.c.d).
            ("::ffff:0:1.2.3.4", "1.2.0.0", "1.2.0.0"),
            ("64:ff9b::102:304", "1.2.0.0", "1.2.0.0"),
            // 6to4: bytes 2..6 are the IPv4 address.
            ("2002:c000:0204::1", "192.0.0.0", "192.0.0.0"),
            // Teredo: the last 4 bytes XOR 0xff.
            (
                "2001:0:4136:e378:8000:63bf:3fff:fdd2",
                "192.0.0.0",
                "192.0.0.0",
            ),
            // OnionCat is inside fc00::/7, so only non-strict books see tor:n.
            ("fd87:d87e:eb43:1234:5678::1", "unroutable", "tor:2"),
            ("2001:4860:4860::8888", "2001:4860::", "2001:4860::"),
            ("2001:470:abcd:1::1", "2001:470:a000::", "2001:470:a000::"),
            ("2001:470:1bcd::1", "2001:470:1000::", "2001:470:1000::"),
            ("2a01:4f8:1:2::3", "2a01:4f8::", "2a01:4f8::"),
            ("0:1:2:3::4", "0:1::", "0:1::"),
        ];
        for (addr, strict, loose) in table {
            assert_eq!(
                AddrGroup::of(ip(addr), true).to_string(),
                strict,
                "{addr} strict"
            );
            assert_eq!(
                AddrGroup::of(ip(addr), false).to_string(),
                loose,
                "{addr} non-strict"
            );
        }
    }

    #[test]
    fn validity_locality_routability() {
        // (address, valid, local, routable)
        let table = [
            ("1.2.3.4", true, false, true),
            ("0.0.0.0", false, true, false),
            ("::", false, false, false),
            ("255.255.255.255", false, false, false),
            ("2001:db8::1", false, false, false),
            ("2001:db9::1", true, false, true),
            ("127.0.0.1", true, true, false),
            ("::1", true, true, false),
            ("0.1.2.3", true, true, false),
            ("::ffff:127.0.0.1", true, true, false),
            ("10.0.0.1", true, false, false),
            ("172.16.0.1", true, false, false),
            ("172.31.255.255", true, false, false),
            ("172.32.0.1", true, false, true),
            ("192.168.0.1", true, false, false),
            ("169.254.3.3", true, false, false),
            ("fe80::1", true, false, false),
            ("fe80:0:0:1::1", true, false, true),
            ("fc00::1", true, false, false),
            ("fdff::1", true, false, false),
            ("2001:10::1", true, false, false),
            ("2001:1f::1", true, false, false),
            ("2001:20::1", true, false, true),
            ("2002:102:304::1", true, false, true),
        ];
        for (addr, valid, local, routable) in table {
            assert_eq!(is_valid_ip(ip(addr)), valid, "{addr} valid");
            assert_eq!(is_local_ip(ip(addr)), local, "{addr} local");
            assert_eq!(is_routable_ip(ip(addr)), routable, "{addr} routable");
        }
    }

    #[test]
    fn group_key_bytes_are_distinct_per_group() {
        let groups = [
            AddrGroup::Local,
            AddrGroup::Unroutable,
            AddrGroup::V4([0, 0]),
            AddrGroup::Tor(0),
            AddrGroup::V6([0; 5]),
            AddrGroup::V4([1, 2]),
            AddrGroup::V6([1, 2, 0, 0, 0]),
        ];
        for (i, a) in groups.iter().enumerate() {
            for b in &groups[i + 1..] {
                assert_ne!(a.key_bytes(), b.key_bytes(), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn subnets() {
        assert_eq!(Subnet::of(ip("1.2.3.4")), Subnet::of(ip("1.2.3.200")));
        assert_ne!(Subnet::of(ip("1.2.3.4")), Subnet::of(ip("1.2.4.4")));
        assert_eq!(Subnet::of(ip("::ffff:1.2.3.4")), Subnet::V4([1, 2, 3]));
        assert_eq!(
            Subnet::of(ip("2a01:4f8:1:2::3")).to_string(),
            "2a01:4f8:1::/48"
        );
        assert_eq!(
            Subnet::of(ip("2a01:4f8:1:2::3")),
            Subnet::of(ip("2a01:4f8:1:ffff::1"))
        );
        assert_eq!(Subnet::of(ip("9.8.7.6")).to_string(), "9.8.7.0/24");
    }
}
