//! `mconn start`: a node — the switch with the PEX reactor (or a seed),
//! its address book, and optionally the RPC server — until stopped.
//!
//! What it announces: the configured `external_address`, else the address
//! it actually bound (so `laddr` port 0 announces the real port, and
//! `0.0.0.0` is announced as CometBFT does; peers then use the IP they see
//! us at). Its channels: PEX (0x00) only.

use std::net::SocketAddr;
use std::path::PathBuf;

use mconn::identity::{NetAddr, NodeKey};
use mconn::switch::{ChannelDescriptor, DisconnectReason, Refusal};
use mconn_driver::switch::{DialError, Reactor, Runtime, SwitchPeer};
use mconn_tokio::Switch;

use crate::book::{open_pex, PexHandle};
use crate::config::Config;
use crate::error::Error;
use crate::home::Home;
use crate::rpc::{RpcListener, RpcServer};
use crate::stack;

/// What `start` adds to the configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StartOptions {
    /// Serve `/status` and `/net_info` here.
    pub rpc: Option<SocketAddr>,
}

/// A running node.
#[derive(Debug)]
pub struct Node {
    switch: Switch,
    pex: Option<PexHandle>,
    rpc: Option<RpcServer>,
    book_file: PathBuf,
}

impl Node {
    /// Starts the node of `home` with `config` (already overridden by the
    /// command line), as `key` on `network`. Seeds and persistent peers
    /// that do not resolve are skipped with a warning; persistent peers
    /// that cannot be reached are logged once and redialled for ever.
    pub async fn start(
        home: &Home,
        config: &Config,
        key: NodeKey,
        network: &str,
        options: &StartOptions,
    ) -> Result<Node, Error> {
        let p = &config.p2p;
        let bind = stack::bind_addr(&p.laddr)
            .await
            .map_err(|e| Error::Listen {
                addr: p.laddr.to_string(),
                reason: e.to_string(),
            })?;
        let rpc = match options.rpc {
            Some(addr) => Some(RpcListener::bind(addr).await.map_err(|e| Error::Rpc {
                addr,
                kind: e.kind(),
            })?),
            None => None,
        };
        let seeds = stack::resolve_peers(&p.seeds, "seed").await;
        let persistent = stack::resolve_peers(&p.persistent_peers, "persistent peer").await;
        let node = stack::node_config(config, key, network);
        let switch_config = stack::switch_config(config, node.key.node_id(), persistent.clone());
        let book_file = home.addr_book_file(config);
        let mut builder = Switch::builder(node, switch_config);
        let mut pex = None;
        let mut check_seeds = Vec::new();
        if p.pex {
            let pex_config = stack::pex_config(config, seeds.clone());
            let (reactor, handle) = open_pex(&book_file, stack::book_config(config), pex_config)?;
            builder = builder
                .reactor(reactor)
                .map_err(|e| Error::Switch(e.to_string()))?;
            if handle.book_size() == 0 {
                // PEX dials a seed at once anyway; dialling each here too
                // gets every unusable seed a log line.
                check_seeds = seeds;
            }
            pex = Some(handle);
        } else {
            if !p.seeds.is_empty() {
                tracing::warn!("p2p.pex is off: seeds are not used");
            }
            builder = builder
                .reactor(SilentPex)
                .map_err(|e| Error::Switch(e.to_string()))?;
        }
        builder = builder
            .reactor(PeerLog)
            .map_err(|e| Error::Switch(e.to_string()))?
            .listen(bind);
        if let Some(ext) = &p.external_address {
            builder = builder.external_address(ext.to_string());
        }
        let switch = builder.start().await.map_err(|e| Error::Listen {
            addr: p.laddr.to_string(),
            reason: e.to_string(),
        })?;
        let rpc = rpc.map(|l| l.serve(switch.clone()));
        tracing::info!(
            id = %switch.node_id(),
            listen = %switch.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            advertised = %switch.node_config().listen_addr,
            network = %network,
            moniker = %config.moniker,
            mode = if !p.pex { "no PEX" } else if p.seed_mode { "seed" } else { "PEX" },
            rpc = %rpc.as_ref().map(|r| format!("http://{}", r.local_addr())).unwrap_or_else(|| "off".into()),
            "Node is up"
        );
        for addr in persistent {
            tokio::spawn(first_dial(switch.clone(), addr, Role::Persistent));
        }
        for addr in check_seeds {
            tokio::spawn(first_dial(switch.clone(), addr, Role::Seed));
        }
        Ok(Node {
            switch,
            pex,
            rpc,
            book_file,
        })
    }

    /// The switch.
    pub fn switch(&self) -> &Switch {
        &self.switch
    }

    /// The RPC server's address, if serving.
    pub fn rpc_addr(&self) -> Option<SocketAddr> {
        self.rpc.as_ref().map(RpcServer::local_addr)
    }

    /// The address book, if PEX runs.
    pub fn pex(&self) -> Option<&PexHandle> {
        self.pex.as_ref()
    }

    /// Stops: the RPC server, then every peer gracefully, then the
    /// reactors (PEX saves its book).
    pub async fn stop(self) {
        if let Some(rpc) = &self.rpc {
            rpc.stop();
        }
        self.switch.stop().await;
        if let Some(pex) = &self.pex {
            match pex.last_save_error() {
                None => tracing::info!(
                    path = %self.book_file.display(),
                    addresses = pex.book_size(),
                    "Address book saved"
                ),
                Some(e) => tracing::warn!("address book not saved: {e}"),
            }
        }
    }
}

/// A configured peer's role, for the log.
#[derive(Clone, Copy, Debug)]
enum Role {
    Persistent,
    Seed,
}

/// Dials a configured peer at once to log why it cannot be reached (the
/// switch's and PEX's own redials stay quiet). A persistent peer is
/// redialled by the switch with its backoff either way; a seed is tried
/// again by PEX whenever the book needs addresses. If another dial of the
/// same peer is in flight, it waits for that one to end and tries again
/// (a few times), so a failure is always reported.
async fn first_dial(switch: Switch, addr: NetAddr, role: Role) {
    const TRIES: usize = 20;
    const WAIT: std::time::Duration = std::time::Duration::from_millis(250);
    let (name, then) = match role {
        Role::Persistent => ("persistent peer", "will keep retrying"),
        Role::Seed => ("seed", "PEX will try it again when it needs addresses"),
    };
    for _ in 0..TRIES {
        match switch.dial(addr).await {
            Ok(peer) => tracing::debug!(peer = %peer.id(), "{name} connected"),
            Err(DialError::Refused(Refusal::AlreadyDialing)) => {
                tokio::time::sleep(WAIT).await;
                continue;
            }
            Err(DialError::Refused(r @ (Refusal::AlreadyConnected | Refusal::Stopped))) => {
                tracing::debug!("{name} {addr}: {r}")
            }
            Err(e) => tracing::warn!("{name} {addr}: {e}; {then}"),
        }
        return;
    }
}

/// With `p2p.pex = false`: the node still announces PEX's channel, so
/// peers share a channel with it, but it neither asks for nor answers
/// addresses (it keeps only its persistent peers).
struct SilentPex;

impl<RT: Runtime> Reactor<RT> for SilentPex {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![
            ChannelDescriptor::new(mconn::pex::PEX_CHANNEL, mconn::pex::PEX_PRIORITY)
                .send_queue(mconn::pex::PEX_SEND_QUEUE)
                .recv_message_capacity(mconn::pex::PEX_MAX_MSG_SIZE),
        ]
    }

    async fn receive(&mut self, _channel: u8, peer: &SwitchPeer<RT>, _msg: Vec<u8>) {
        tracing::trace!(peer = %peer.id(), "PEX is off: message ignored");
    }
}

/// Owns no channel: logs every peer added and removed.
struct PeerLog;

impl<RT: Runtime> Reactor<RT> for PeerLog {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        Vec::new()
    }

    async fn add_peer(&mut self, peer: &SwitchPeer<RT>) {
        let moniker = peer
            .node_info()
            .map(|i| i.info().moniker.to_string())
            .unwrap_or_default();
        tracing::info!(
            id = %peer.id(),
            moniker = %moniker,
            direction = if peer.is_outbound() { "outbound" } else { "inbound" },
            remote = %peer.remote_addr(),
            "Peer added"
        );
    }

    async fn remove_peer(&mut self, peer: &SwitchPeer<RT>, reason: DisconnectReason) {
        tracing::info!(id = %peer.id(), reason = %reason, "Peer removed");
    }

    async fn receive(&mut self, _channel: u8, _peer: &SwitchPeer<RT>, _msg: Vec<u8>) {}
}
