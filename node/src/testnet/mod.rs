//! `mconn testnet`: a whole network in one process, on 127.0.0.1.
//!
//! Node 0 is a seed (seed mode); every other node knows only the seed and
//! must find the rest through PEX. Each node is a real [`Switch`] with the
//! real PEX reactor (its book in a temporary directory) and a
//! [`DemoReactor`] greeting its peers every second, all talking over
//! loopback TCP. Settings that differ from a node's defaults: because
//! every node shares one IP address, `addr_book_strict = false`,
//! `allow_duplicate_ip = true` and the per-IP admission caps lifted; PEX
//! periods of [`PEX_PERIOD`] instead of 30 s (inbound requests are then
//! allowed every `PEX_PERIOD / 3`, as CometBFT scales them) so discovery
//! takes seconds; and peer limits of at least the network's size. (Like
//! CometBFT's, the PEX rules stop asking for addresses once a node's
//! outbound target is reached: with the default target of 10, a node of a
//! larger network would never learn every address.)
//!
//! Discovery is complete when every non-seed node's book holds every other
//! non-seed node and it is connected to `min(others, max outbound)` of
//! them. (The seed is left out of both counts: it answers and hangs up, as
//! seeds do.)

pub mod demo;
mod progress;
mod report;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mconn::identity::{NetAddr, NodeId, NodeKey};
use mconn_tokio::Switch;

pub use demo::{DemoCounters, DemoReactor, DEMO_CHANNEL};
pub use report::{NodeView, Report, Stats};

use crate::book::{open_pex, PexHandle};
use crate::config::{Config, ListenAddress};
use crate::error::Error;
use crate::rpc::RpcServer;
use crate::stack;

/// The PEX period of testnet nodes (ensure-peers rounds, seed crawls).
pub const PEX_PERIOD: Duration = Duration::from_secs(1);
/// How often discovery is checked.
const POLL: Duration = Duration::from_millis(100);

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestnetOptions {
    /// Nodes, the seed included (at least 2).
    pub nodes: usize,
    /// Serve node `i`'s RPC at this address's port + `i` (port 0: any).
    pub rpc: Option<SocketAddr>,
    /// Show live progress bars on stderr (when it is a terminal).
    pub progress: bool,
}

/// One node of the testnet.
#[derive(Debug)]
pub struct TestnetNode {
    /// `seed` or `node<i>`.
    pub moniker: String,
    /// Its switch.
    pub switch: Switch,
    /// Its PEX reactor's book.
    pub pex: PexHandle,
    /// Its demo reactor's counters.
    pub demo: Arc<DemoCounters>,
    /// Its RPC server, with `--rpc`.
    pub rpc: Option<RpcServer>,
    /// Whether it is the seed.
    pub is_seed: bool,
}

impl TestnetNode {
    /// Its ID.
    pub fn id(&self) -> NodeId {
        self.switch.node_id()
    }
}

/// A running testnet.
#[derive(Debug)]
pub struct Testnet {
    /// The nodes; index 0 is the seed.
    pub nodes: Vec<TestnetNode>,
    /// The network (chain ID) they share.
    pub network: String,
    started: Instant,
    _dir: tempfile::TempDir,
}

impl Testnet {
    /// Starts the seed, then every other node with the seed as its only
    /// seed.
    pub async fn start(options: &TestnetOptions) -> Result<Testnet, Error> {
        let dir = tempfile::Builder::new()
            .prefix("mconn-testnet-")
            .tempdir()
            .map_err(|e| Error::write(&std::env::temp_dir(), &e))?;
        let network = format!("mconn-testnet-{}", std::process::id());
        let started = Instant::now();
        let mut nodes: Vec<TestnetNode> = Vec::with_capacity(options.nodes);
        let mut seed: Option<NetAddr> = None;
        for i in 0..options.nodes.max(2) {
            let is_seed = i == 0;
            let moniker = if is_seed {
                "seed".to_string()
            } else {
                format!("node{i}")
            };
            let mut config = Config {
                moniker: moniker.clone(),
                ..Config::default()
            };
            config.p2p.laddr = ListenAddress {
                host: "127.0.0.1".into(),
                port: 0,
            };
            config.p2p.addr_book_strict = false;
            config.p2p.allow_duplicate_ip = true;
            config.p2p.seed_mode = is_seed;
            // Room for everyone (see the module docs).
            let everyone = options.nodes as u32;
            config.p2p.max_num_outbound_peers = config.p2p.max_num_outbound_peers.max(everyone);
            config.p2p.max_num_inbound_peers = config.p2p.max_num_inbound_peers.max(everyone);
            let key = NodeKey::generate(&mut rand_core::OsRng);
            let node = stack::node_config(&config, key, &network);
            let mut switch_config = stack::switch_config(&config, node.key.node_id(), Vec::new());
            switch_config.max_handshakes_per_ip = switch_config.max_handshakes;
            switch_config.max_connections_per_ip = switch_config.max_connections;
            let mut pex_config = stack::pex_config(&config, seed.into_iter().collect());
            pex_config.ensure_peers_period = PEX_PERIOD;
            pex_config.crawl_period = PEX_PERIOD;
            pex_config.request_interval = PEX_PERIOD / 3;
            let book_file = dir.path().join(&moniker).join("addrbook.json");
            let (reactor, handle) = open_pex(&book_file, stack::book_config(&config), pex_config)?;
            let demo = Arc::new(DemoCounters::default());
            let switch = Switch::builder(node, switch_config)
                .reactor(reactor)
                .and_then(|b| b.reactor(DemoReactor::new(moniker.clone(), demo.clone())))
                .map_err(|e| Error::Switch(e.to_string()))?
                .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
                .start()
                .await
                .map_err(|e| Error::Listen {
                    addr: "tcp://127.0.0.1:0".into(),
                    reason: e.to_string(),
                })?;
            if is_seed {
                seed = switch.net_addr();
            }
            let rpc = match options.rpc {
                Some(base) => Some(start_rpc(base, i, &switch).await?),
                None => None,
            };
            nodes.push(TestnetNode {
                moniker,
                switch,
                pex: handle,
                demo,
                rpc,
                is_seed,
            });
        }
        Ok(Testnet {
            nodes,
            network,
            started,
            _dir: dir,
        })
    }

    /// Time since [`start`](Self::start) began.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// What every node knows and is connected to, now.
    pub fn observe(&self) -> Vec<NodeView> {
        let members: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|n| !n.is_seed)
            .map(TestnetNode::id)
            .collect();
        self.nodes
            .iter()
            .map(|n| NodeView::of(n, &members))
            .collect()
    }

    /// Waits until discovery is complete (see the [module docs](self)) or
    /// `timeout` passed since the start; returns the time it took.
    pub async fn wait_for_discovery(
        &self,
        timeout: Duration,
        progress: bool,
    ) -> Result<Duration, Error> {
        let bars = progress::Bars::new(progress, self);
        loop {
            let views = self.observe();
            let messages = self.nodes.iter().map(|n| n.demo.received()).sum();
            bars.update(&views, messages);
            if views.iter().all(NodeView::is_complete) {
                bars.finish();
                return Ok(self.elapsed());
            }
            if self.elapsed() >= timeout {
                bars.finish();
                return Err(Error::Discovery {
                    after: timeout,
                    detail: report::missing(&views),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The summary, now.
    pub fn report(&self, discovery: Option<Duration>) -> Report {
        Report::new(self, discovery)
    }

    /// Stops every node (gracefully, each within its linger time), all at
    /// once.
    pub async fn stop(self) {
        let mut stops = tokio::task::JoinSet::new();
        for n in &self.nodes {
            let switch = n.switch.clone();
            stops.spawn(async move { switch.stop().await });
        }
        while stops.join_next().await.is_some() {}
    }
}

/// Node `index`'s RPC server: at `base`'s port + `index`, or any free port.
async fn start_rpc(base: SocketAddr, index: usize, switch: &Switch) -> Result<RpcServer, Error> {
    let mut addr = base;
    if base.port() != 0 {
        let port = usize::from(base.port()) + index;
        addr.set_port(u16::try_from(port).unwrap_or(0));
    }
    RpcServer::start(addr, switch.clone())
        .await
        .map_err(|e| Error::Rpc {
            addr,
            kind: e.kind(),
        })
}
