//! From `config.toml` to the settings of the connection layer
//! ([`NodeConfig`]), the switch ([`SwitchConfig`]) and PEX
//! ([`PexConfig`], [`BookConfig`]); and resolving the host names of
//! configured peers.

use std::net::SocketAddr;
use std::time::Duration;

use mconn::identity::{NetAddr, NodeId, NodeKey};
use mconn::pex::{BookConfig, PexConfig};
use mconn::switch::SwitchConfig;
use mconn_tokio::NodeConfig;

use crate::config::{Config, ListenAddress, PeerAddress};

/// The version this node announces in its NodeInfo.
pub const NODE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long resolving one host name may take.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Our connection settings: `key`, `network`, the moniker, `dial_timeout`,
/// `handshake_timeout` (for the SecretConnection handshake and, again, for
/// the NodeInfo exchange), `max_packet_msg_payload_size` and the rate caps
/// (`send_rate`/`recv_rate`, 0 = none). The channels are the reactors'
/// and the announced address the switch's (external or bound).
///
/// ```
/// use mconn::identity::NodeKey;
/// use mconn_node::config::Config;
/// let mut config = Config::default();
/// config.moniker = "node0".into();
/// config.p2p.send_rate = 0;
/// let node = mconn_node::stack::node_config(&config, NodeKey::from_seed([1; 32]), "chain-a");
/// assert_eq!((node.moniker.as_str(), node.network.as_str()), ("node0", "chain-a"));
/// assert_eq!(node.session.conn.send_rate, None);
/// assert_eq!(node.session.conn.recv_rate, Some(5_120_000));
/// ```
pub fn node_config(config: &Config, key: NodeKey, network: &str) -> NodeConfig {
    let p = &config.p2p;
    let mut node = NodeConfig::new(key, network, &[]);
    node.moniker = config.moniker.clone();
    node.version = NODE_VERSION.to_string();
    node.dial_timeout = p.dial_timeout;
    node.session.handshake_timeout = p.handshake_timeout;
    node.session.node_info_timeout = p.handshake_timeout;
    node.session.conn.max_packet_payload = p.max_packet_msg_payload_size;
    node.session.conn.send_rate = rate_cap(p.send_rate);
    node.session.conn.recv_rate = rate_cap(p.recv_rate);
    node
}

/// A `config.toml` rate (bytes per second, 0 = unlimited) as the
/// connection's cap.
fn rate_cap(rate: u64) -> Option<u32> {
    (rate > 0).then(|| u32::try_from(rate).unwrap_or(u32::MAX))
}

/// The switch policy: peer limits, unconditional and private IDs,
/// `persistent` peers (already resolved), duplicate IPs and the redial cap
/// `persistent_peers_max_dial_period`.
pub fn switch_config(config: &Config, our_id: NodeId, persistent: Vec<NetAddr>) -> SwitchConfig {
    let p = &config.p2p;
    let mut s = SwitchConfig::new(our_id);
    s.max_inbound = p.max_num_inbound_peers as usize;
    s.max_outbound = p.max_num_outbound_peers as usize;
    s.max_connections = s.max_inbound + s.max_outbound + s.max_handshakes + 64;
    s.unconditional_ids = p.unconditional_peer_ids.clone();
    s.private_ids = p.private_peer_ids.clone();
    s.persistent_peers = persistent;
    s.allow_duplicate_ip = p.allow_duplicate_ip;
    if !p.persistent_peers_max_dial_period.is_zero() {
        s.persistent_backoff.max_period = Some(p.persistent_peers_max_dial_period);
    }
    s
}

/// The address book's settings: CometBFT's, with `addr_book_strict`.
pub fn book_config(config: &Config) -> BookConfig {
    BookConfig {
        strict: config.p2p.addr_book_strict,
        ..BookConfig::default()
    }
}

/// The PEX rules' settings: `seed_mode`, the (resolved) `seeds` and the
/// persistent peers' dial cap; CometBFT's periods.
pub fn pex_config(config: &Config, seeds: Vec<NetAddr>) -> PexConfig {
    PexConfig {
        seed_mode: config.p2p.seed_mode,
        seeds,
        persistent_max_dial_period: config.p2p.persistent_peers_max_dial_period,
        ..PexConfig::default()
    }
}

/// Why a host name gave no address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot resolve {host}: {reason}")]
pub struct ResolveError {
    /// The host name.
    pub host: String,
    /// The resolver's message.
    pub reason: String,
}

/// The socket addresses of `host:port` (IP literals need no lookup),
/// within [`RESOLVE_TIMEOUT`].
pub async fn lookup(host: &str, port: u16) -> Result<Vec<SocketAddr>, ResolveError> {
    let failed = |reason: String| ResolveError {
        host: host.to_string(),
        reason,
    };
    let found = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| failed(format!("no answer within {RESOLVE_TIMEOUT:?}")))?
        .map_err(|e| failed(e.to_string()))?;
    let addrs: Vec<SocketAddr> = found.collect();
    if addrs.is_empty() {
        return Err(failed("no addresses".into()));
    }
    Ok(addrs)
}

/// A configured peer as the switch dials it: its host resolved (the first
/// address, IPv4 preferred).
pub async fn resolve_peer(peer: &PeerAddress) -> Result<NetAddr, ResolveError> {
    let addrs = lookup(&peer.host, peer.port).await?;
    let pick = addrs.iter().find(|a| a.is_ipv4()).unwrap_or(&addrs[0]);
    Ok(NetAddr::new(peer.id, pick.ip().to_canonical(), pick.port()))
}

/// Resolves every peer of a list (`role`: "seed", "persistent peer", for
/// the log); the ones that do not resolve are left out, each with a
/// one-line warning.
pub async fn resolve_peers(peers: &[PeerAddress], role: &str) -> Vec<NetAddr> {
    let mut out = Vec::with_capacity(peers.len());
    for peer in peers {
        match resolve_peer(peer).await {
            Ok(addr) => out.push(addr),
            Err(e) => tracing::warn!("{role} {peer}: {e}; skipped"),
        }
    }
    out
}

/// The socket address to bind for `laddr` (a host name is resolved).
pub async fn bind_addr(laddr: &ListenAddress) -> Result<SocketAddr, ResolveError> {
    let addrs = lookup(&laddr.host, laddr.port).await?;
    Ok(*addrs.iter().find(|a| a.is_ipv4()).unwrap_or(&addrs[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_map_zero_to_unlimited_and_clamp() {
        assert_eq!(rate_cap(0), None);
        assert_eq!(rate_cap(5_120_000), Some(5_120_000));
        assert_eq!(rate_cap(u64::MAX), Some(u32::MAX));
    }

    #[test]
    fn switch_limits_follow_the_config() {
        let mut config = Config::default();
        config.p2p.max_num_inbound_peers = 3;
        config.p2p.max_num_outbound_peers = 2;
        config.p2p.allow_duplicate_ip = true;
        config.p2p.persistent_peers_max_dial_period = Duration::from_secs(7);
        let s = switch_config(&config, NodeId([1; 20]), Vec::new());
        assert_eq!((s.max_inbound, s.max_outbound), (3, 2));
        assert_eq!(s.max_connections, 3 + 2 + s.max_handshakes + 64);
        assert!(s.allow_duplicate_ip);
        assert_eq!(
            s.persistent_backoff.max_period,
            Some(Duration::from_secs(7))
        );
        let default = switch_config(&Config::default(), NodeId([1; 20]), Vec::new());
        assert_eq!(default.persistent_backoff.max_period, None);
    }

    #[tokio::test]
    async fn ip_literals_resolve_without_lookup_and_bad_names_fail() {
        let id = "56475aa75463474c0285df5dbf2bcab73da65135";
        let peer: PeerAddress = format!("{id}@127.0.0.1:26656").parse().unwrap();
        let addr = resolve_peer(&peer).await.unwrap();
        assert_eq!(addr.to_string(), format!("{id}@127.0.0.1:26656"));
        let bad: PeerAddress = format!("{id}@no-such-host.invalid:1").parse().unwrap();
        let err = resolve_peer(&bad).await.unwrap_err();
        assert_eq!(err.host, "no-such-host.invalid");
    }
}
