//! What a probe found, for people (text) and for scripts (JSON in
//! CometBFT's RPC `node_info` shape).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use mconn::handshake::NodeInfoError;
use mconn::wire::node_info::{NodeInfo, StoredNodeInfo};
use serde_json::json;

use crate::config::PeerAddress;

/// Whether the peer could join our network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compatibility {
    /// It passed every check a node applies, on our network.
    Compatible {
        /// Our network.
        network: String,
    },
    /// A node would refuse it.
    Incompatible {
        /// Our network, if known.
        network: Option<String>,
        /// The first check it fails.
        reason: NodeInfoError,
    },
    /// No network of ours to compare with, and nothing else wrong.
    Unknown,
}

/// The result of one probe.
#[derive(Clone, Debug)]
pub struct ProbeReport {
    /// The peer as given.
    pub peer: PeerAddress,
    /// The address connected to.
    pub remote: SocketAddr,
    /// The peer's NodeInfo.
    pub node_info: StoredNodeInfo<Vec<u8>>,
    /// How long the TCP connect took (about one network round trip).
    pub tcp_connect: Duration,
    /// From connected to the peer's NodeInfo accepted (SecretConnection
    /// handshake and NodeInfo exchange).
    pub handshake: Duration,
    /// One keepalive ping/pong, when the connection got that far.
    pub ping_rtt: Option<Duration>,
    /// Whether it could join our network.
    pub compatibility: Compatibility,
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Channel IDs as CometBFT prints them: uppercase hex, no separators.
fn channels_hex(channels: &[u8]) -> String {
    channels.iter().map(|c| format!("{c:02X}")).collect()
}

/// A NodeInfo in CometBFT's RPC JSON shape (`/status` → `node_info`).
///
/// ```
/// use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
/// let info = NodeInfo {
///     protocol_version: ProtocolVersion::new(8, 11, 0),
///     default_node_id: "56475aa75463474c0285df5dbf2bcab73da65135",
///     listen_addr: "tcp://0.0.0.0:26656",
///     network: "test-chain",
///     version: "0.38.25",
///     channels: &[0x40, 0x20, 0x00],
///     moniker: "node0",
///     tx_index: "on",
///     rpc_address: "tcp://127.0.0.1:26657",
/// };
/// let json = mconn_node::probe::node_info_json(&info);
/// assert_eq!(json["protocol_version"]["block"], "11");
/// assert_eq!(json["channels"], "402000");
/// assert_eq!(json["other"]["tx_index"], "on");
/// ```
pub fn node_info_json(info: &NodeInfo<'_>) -> serde_json::Value {
    let v = info.protocol_version;
    json!({
        "protocol_version": {
            "p2p": v.p2p.to_string(),
            "block": v.block.to_string(),
            "app": v.app.to_string(),
        },
        "id": info.default_node_id,
        "listen_addr": info.listen_addr,
        "network": info.network,
        "version": info.version,
        "channels": channels_hex(info.channels),
        "moniker": info.moniker,
        "other": {
            "tx_index": info.tx_index,
            "rpc_address": info.rpc_address,
        },
    })
}

impl ProbeReport {
    /// `{"node_info": {…CometBFT shape…}, "probe": {address, timings in
    /// milliseconds, network, compatible, reason}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let (network, compatible, reason) = match &self.compatibility {
            Compatibility::Compatible { network } => (Some(network.clone()), Some(true), None),
            Compatibility::Incompatible { network, reason } => {
                (network.clone(), Some(false), Some(reason.to_string()))
            }
            Compatibility::Unknown => (None, None, None),
        };
        json!({
            "node_info": node_info_json(&self.node_info.info()),
            "probe": {
                "peer": self.peer.to_string(),
                "address": self.remote.to_string(),
                "tcp_connect_ms": millis(self.tcp_connect),
                "handshake_ms": millis(self.handshake),
                "ping_rtt_ms": self.ping_rtt.map(millis),
                "network": network,
                "compatible": compatible,
                "reason": reason,
            },
        })
    }
}

impl fmt::Display for ProbeReport {
    /// A `key: value` line per NodeInfo field and measurement.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.node_info.info();
        let v = info.protocol_version;
        let or_none = |s: &str| {
            if s.is_empty() {
                "(none)".to_string()
            } else {
                s.to_string()
            }
        };
        let rows = [
            ("peer", format!("{} ({})", self.peer, self.remote)),
            ("id", info.default_node_id.to_string()),
            ("moniker", info.moniker.to_string()),
            ("network", info.network.to_string()),
            ("version", or_none(info.version)),
            (
                "protocol",
                format!("p2p {}, block {}, app {}", v.p2p, v.block, v.app),
            ),
            ("listen_addr", info.listen_addr.to_string()),
            ("channels", channels_hex(info.channels)),
            ("tx_index", or_none(info.tx_index)),
            ("rpc_address", or_none(info.rpc_address)),
            ("tcp_connect", format!("{:.3} ms", millis(self.tcp_connect))),
            ("handshake", format!("{:.3} ms", millis(self.handshake))),
            (
                "ping_rtt",
                match self.ping_rtt {
                    Some(d) => format!("{:.3} ms", millis(d)),
                    None => "(not measured)".into(),
                },
            ),
            (
                "compatible",
                compatibility_text(&self.compatibility, info.network),
            ),
        ];
        for (key, value) in rows {
            writeln!(f, "{:<13}{value}", format!("{key}:"))?;
        }
        Ok(())
    }
}

fn compatibility_text(c: &Compatibility, theirs: &str) -> String {
    match c {
        Compatibility::Compatible { network } => format!("yes (network {network})"),
        Compatibility::Incompatible {
            network: Some(ours),
            reason: NodeInfoError::NetworkMismatch,
        } => format!("no: different network (theirs {theirs:?}, ours {ours:?})"),
        Compatibility::Incompatible { reason, .. } => format!("no: {reason}"),
        Compatibility::Unknown => "unknown (no network of ours: pass --network or --home)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_print_like_cometbft() {
        assert_eq!(channels_hex(&[0x40, 0x20, 0x21, 0x00, 0x6a]), "402021006A");
        assert_eq!(channels_hex(&[]), "");
    }

    #[test]
    fn milliseconds_keep_microseconds() {
        assert_eq!(millis(Duration::from_micros(1234)), 1.234);
        assert_eq!(millis(Duration::from_nanos(1_234_567)), 1.235);
    }
}
