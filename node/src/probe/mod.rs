//! `mconn probe ID@HOST:PORT`: connect to one peer, show its NodeInfo,
//! how long the connection took, and whether it is compatible with our
//! network.
//!
//! How it works:
//! * The probe uses a fresh random node key, never the home's: a probe must
//!   not look like our running node (the peer would drop one of the two as
//!   a duplicate).
//! * It announces one channel, PEX (0x00), so the peer has no reason to
//!   start gossiping consensus or mempool traffic to it.
//! * With a network known (`--network`, or the home's), it connects like a
//!   node does (`mconn-tokio`). On success the peer is compatible; the
//!   probe waits (within its timeout) for one keepalive round trip and
//!   closes. If the
//!   session refuses the peer as incompatible (another network, block
//!   protocol, or no common channel), the NodeInfo is gone with the
//!   session, so the probe connects a second time and runs only the
//!   handshake and NodeInfo exchange (module `raw`) to show it.
//! * Without a network it runs only that handshake; compatibility is then
//!   unknown (except for problems any node would refuse).
//!
//! Round trips reported: the TCP connect (one network round trip), the
//! handshake (SecretConnection + NodeInfo: a few round trips plus the
//! peer's signing), and a ping/pong measured by the connection's keepalive.

mod raw;
mod report;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use mconn::conn::{ChannelConfig, Keepalive};
use mconn::handshake::{check_peer, NodeInfoError};
use mconn::identity::{NodeId, NodeKey};
use mconn::session::CloseReason;
use mconn::wire::node_info::{NodeInfo, StoredNodeInfo};
use mconn_tokio::{ConnectError, Disconnect, NodeConfig, Peer};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout_at, Instant};

pub use report::{node_info_json, Compatibility, ProbeReport};

use crate::config::{GoDuration, PeerAddress};

/// The channel a probe announces: PEX.
pub const PROBE_CHANNEL: u8 = 0x00;
/// The moniker a probe announces.
pub const PROBE_MONIKER: &str = "mconn-probe";
/// The network a probe announces when it knows none (the peer refuses it,
/// after sending its NodeInfo, which is all the probe needs).
const UNKNOWN_NETWORK: &str = "mconn-probe";
/// Silence after the handshake before the keepalive ping goes out.
const PING_AFTER: Duration = Duration::from_millis(100);
/// How often the connection's stats are read while waiting for the pong.
const STATS_POLL: Duration = Duration::from_millis(5);
/// Longest wait for a graceful close after the probe.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Settings of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeOptions {
    /// Our network (chain ID), if known: decides compatibility.
    pub network: Option<String>,
    /// Bound on the whole probe: resolving, connecting, handshakes, ping.
    pub timeout: Duration,
}

/// Why a probe got no NodeInfo.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProbeFailure {
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// The host.
        host: String,
        /// The resolver's message.
        reason: String,
    },
    /// No TCP connection to any resolved address.
    #[error("cannot connect to {addr}: {} (is a node listening there?)", crate::error::IoText(*kind))]
    Connect {
        /// The last address tried.
        addr: SocketAddr,
        /// Why.
        kind: io::ErrorKind,
    },
    /// The probe's timeout ran out.
    #[error("timed out after {} while {stage} (raise --timeout)", GoDuration(*after))]
    Timeout {
        /// The timeout.
        after: Duration,
        /// What was going on.
        stage: &'static str,
    },
    /// The peer authenticated with another key than the ID dialed.
    #[error("the node there is not {expected}{} (check the ID part of the address)", actual.map(|a| format!(" but {a}")).unwrap_or_default())]
    WrongId {
        /// The ID in the address.
        expected: NodeId,
        /// The ID the peer proved, when known.
        actual: Option<NodeId>,
    },
    /// The peer's NodeInfo does not decode or breaks the protocol's rules.
    #[error("the peer sent an invalid NodeInfo: {0}")]
    InvalidNodeInfo(NodeInfoError),
    /// The peer closed the connection before its NodeInfo arrived.
    #[error("the peer closed the connection during the handshake (is this a CometBFT p2p port?)")]
    Closed,
    /// Another handshake or socket failure.
    #[error("handshake failed: {0}")]
    Handshake(String),
}

impl ProbeFailure {
    fn io(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => ProbeFailure::Closed,
            kind => ProbeFailure::Handshake(format!("socket: {}", crate::error::IoText(kind))),
        }
    }

    fn from_connect(e: ConnectError, dialed: NodeId) -> Self {
        match e {
            ConnectError::Handshake(Disconnect::Session(reason)) => match reason {
                CloseReason::NodeInfo(NodeInfoError::DialedIdMismatch) => ProbeFailure::WrongId {
                    expected: dialed,
                    actual: None,
                },
                CloseReason::NodeInfo(e) => ProbeFailure::InvalidNodeInfo(e),
                other => ProbeFailure::Handshake(other.to_string()),
            },
            ConnectError::Handshake(end) if end.is_hang_up() => ProbeFailure::Closed,
            other => ProbeFailure::Handshake(other.to_string()),
        }
    }
}

/// Whether a NodeInfo refusal means "another network or protocol" (show
/// the NodeInfo anyway) rather than a broken peer.
fn is_incompatibility(e: NodeInfoError) -> bool {
    matches!(
        e,
        NodeInfoError::NetworkMismatch
            | NodeInfoError::BlockVersionMismatch
            | NodeInfoError::NoCommonChannel
    )
}

/// Probes `peer`; see the [module docs](self).
pub async fn probe(
    peer: &PeerAddress,
    options: &ProbeOptions,
) -> Result<ProbeReport, ProbeFailure> {
    let deadline = Instant::now() + options.timeout;
    let bounded = |stage| ProbeFailure::Timeout {
        after: options.timeout,
        stage,
    };
    let addrs = timeout_at(deadline, resolve(&peer.host, peer.port))
        .await
        .map_err(|_| bounded("resolving the host"))??;
    let key = NodeKey::generate(&mut rand_core::OsRng);
    let network = options.network.as_deref();
    let config = node_config(key, network.unwrap_or(UNKNOWN_NETWORK), options.timeout);
    let report = |remote, tcp_connect, found: Found, compatibility| ProbeReport {
        peer: peer.clone(),
        remote,
        node_info: found.node_info,
        tcp_connect,
        handshake: found.handshake,
        ping_rtt: found.ping_rtt,
        compatibility,
    };
    let mut stage = "connecting";
    if let Some(network) = network {
        let (stream, remote, tcp_connect) = timeout_at(deadline, dial(&addrs))
            .await
            .map_err(|_| bounded(stage))??;
        let session = session_probe(&config, stream, peer.id, deadline);
        if let Some(found) = session
            .await
            .map_err(|e| e.unwrap_or_else(|| bounded("in the handshake")))?
        {
            let compatible = Compatibility::Compatible {
                network: network.to_string(),
            };
            return Ok(report(remote, tcp_connect, found, compatible));
        }
        // The session forgot the NodeInfo it refused: connect again.
        stage = "connecting again";
    }
    let (stream, remote, tcp_connect) = timeout_at(deadline, dial(&addrs))
        .await
        .map_err(|_| bounded(stage))??;
    let started = Instant::now();
    let local = local_info(&config)?;
    let node_info = timeout_at(
        deadline,
        raw::fetch_node_info(stream, &config.key, &local.info(), peer.id),
    )
    .await
    .map_err(|_| bounded("in the handshake"))??;
    let compatibility = judge(&local.info(), &node_info.info(), peer.id, network);
    let found = Found {
        node_info,
        handshake: started.elapsed(),
        ping_rtt: None,
    };
    Ok(report(remote, tcp_connect, found, compatibility))
}

/// What a connection to the peer yielded.
struct Found {
    node_info: StoredNodeInfo<Vec<u8>>,
    handshake: Duration,
    ping_rtt: Option<Duration>,
}

/// Connects like a node does, until `deadline`. `Ok(None)` if the
/// session refused the peer as incompatible (its NodeInfo is then gone
/// with the session); `Err(None)` if the handshake ran out of time.
async fn session_probe(
    config: &NodeConfig,
    stream: TcpStream,
    dialed: NodeId,
    deadline: Instant,
) -> Result<Option<Found>, Option<ProbeFailure>> {
    let started = Instant::now();
    let connected = timeout_at(
        deadline,
        mconn_tokio::start(config, stream, true, Some(dialed)),
    )
    .await
    .map_err(|_| None)?;
    let session = match connected {
        Ok(session) => session,
        Err(ConnectError::Handshake(Disconnect::Session(CloseReason::NodeInfo(e))))
            if is_incompatibility(e) =>
        {
            tracing::debug!("probe: refused as incompatible ({e}); reading its NodeInfo again");
            return Ok(None);
        }
        // The session's own deadlines are the probe's timeout.
        Err(ConnectError::Handshake(Disconnect::Session(
            CloseReason::HandshakeTimeout | CloseReason::NodeInfoTimeout,
        ))) => return Err(None),
        Err(e) => return Err(Some(ProbeFailure::from_connect(e, dialed))),
    };
    let handshake = started.elapsed();
    let node_info = session.remote_node_info().ok_or_else(|| {
        Some(ProbeFailure::Handshake(
            "no NodeInfo after connecting".into(),
        ))
    })?;
    // A healthy peer answers at once; the probe's deadline bounds the rest.
    let ping_rtt = keepalive_round_trip(&session, deadline).await;
    // Best effort, within the deadline: the NodeInfo is in.
    let close_by = deadline.min(Instant::now() + CLOSE_WAIT);
    let _ = timeout_at(close_by, session.close()).await;
    session.abort();
    Ok(Some(Found {
        node_info,
        handshake,
        ping_rtt,
    }))
}

/// The probe's connection settings: PEX only, handshake deadlines at the
/// probe's timeout, and a keepalive that pings after a short silence.
fn node_config(key: NodeKey, network: &str, timeout: Duration) -> NodeConfig {
    let pex = ChannelConfig::new(PROBE_CHANNEL, 1)
        .send_queue(10)
        .recv_message_capacity(64_000);
    let mut config = NodeConfig::new(key, network, &[pex]);
    config.moniker = PROBE_MONIKER.into();
    config.session.handshake_timeout = timeout;
    config.session.node_info_timeout = timeout;
    config.session.conn.keepalive = Keepalive::Seed {
        ping_timeout: PING_AFTER,
        pong_timeout: timeout,
    };
    config.linger = CLOSE_WAIT;
    config
}

/// The NodeInfo a session with `config` announces.
fn local_info(config: &NodeConfig) -> Result<StoredNodeInfo<Vec<u8>>, ProbeFailure> {
    let id = config.key.node_id().to_string();
    let channels: Vec<u8> = config.channels.iter().map(|c| c.id).collect();
    let info = NodeInfo {
        protocol_version: config.protocol_version,
        default_node_id: &id,
        listen_addr: &config.listen_addr,
        network: &config.network,
        version: &config.version,
        channels: &channels,
        moniker: &config.moniker,
        ..NodeInfo::default()
    };
    let failed = |e: &dyn std::fmt::Display| ProbeFailure::Handshake(format!("our NodeInfo: {e}"));
    let mut body = vec![0u8; info.encoded_len()];
    let n = info.encode(&mut body).map_err(|e| failed(&e))?;
    body.truncate(n);
    StoredNodeInfo::new(body).map_err(|e| failed(&e))
}

/// Every check a node applies to `remote` (the session's own
/// [`check_peer`]), `authenticated` being the ID its key proved; without a
/// network of ours the network is not judged.
fn judge(
    local: &NodeInfo<'_>,
    remote: &NodeInfo<'_>,
    authenticated: NodeId,
    network: Option<&str>,
) -> Compatibility {
    let local = NodeInfo {
        network: network.unwrap_or(remote.network),
        ..*local
    };
    match (check_peer(remote, &local, &authenticated.0, None), network) {
        (Err(reason), _) => Compatibility::Incompatible {
            network: network.map(str::to_string),
            reason,
        },
        (Ok(()), Some(n)) => Compatibility::Compatible { network: n.into() },
        (Ok(()), None) => Compatibility::Unknown,
    }
}

/// Waits (until `until`) for the keepalive's first answered ping.
async fn keepalive_round_trip(session: &Peer, until: Instant) -> Option<Duration> {
    loop {
        let stats = session.stats();
        if stats.pongs_received > 0 {
            if let Some(micros) = stats.last_rtt_micros {
                return Some(Duration::from_micros(micros));
            }
        }
        if session.disconnect_reason().is_some() || Instant::now() >= until {
            return None;
        }
        sleep(STATS_POLL).await;
    }
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, ProbeFailure> {
    let failed = |reason: String| ProbeFailure::Resolve {
        host: host.to_string(),
        reason,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| failed(e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(failed("no addresses".into()));
    }
    Ok(addrs)
}

/// Connects to the first address that answers; returns the stream, the
/// address and how long the TCP connect took.
async fn dial(addrs: &[SocketAddr]) -> Result<(TcpStream, SocketAddr, Duration), ProbeFailure> {
    let mut last = None;
    for &addr in addrs {
        let started = Instant::now();
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok((stream, addr, started.elapsed()));
            }
            Err(e) => {
                last = Some(ProbeFailure::Connect {
                    addr,
                    kind: e.kind(),
                })
            }
        }
    }
    Err(last.unwrap_or_else(|| ProbeFailure::Handshake("no address to dial".into())))
}
