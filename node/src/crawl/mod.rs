//! `mconn crawl SEED...`: map a network.
//!
//! The crawler is a seed-mode node with a fresh identity that does not
//! listen: its book starts with the seeds, and every [`CRAWL_PERIOD`] it
//! dials addresses from the book it has not crawled in the last 2 minutes,
//! asks each for addresses and hangs up once answered (CometBFT's crawl,
//! spec §6.4, with a shorter period). An observer reactor records the
//! NodeInfo of every node reached. When the duration is up (or earlier,
//! once every address found was tried and nothing changed for 3 s), the
//! book and the observations become a [`NetworkMap`].
//!
//! It announces PEX (0x00) only, `mconn-crawler` as its moniker and
//! `tcp://0.0.0.0:0` as its address (it accepts no connections, and
//! `0.0.0.0` is not a valid book entry for anyone). Several nodes on one IP
//! are allowed (common in real networks); the book is strict (public
//! addresses only) unless a seed itself has a local or private address.

pub mod map;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mconn::identity::{NetAddr, NodeId, NodeKey};
use mconn::pex::AddrBook;
use mconn::switch::ChannelDescriptor;
use mconn_driver::switch::{Reactor, Runtime, SwitchPeer};
use mconn_tokio::Switch;

pub use map::{MapEntry, NetworkMap, Reached, Summary};

use crate::book::{pex_from_book, PexHandle};
use crate::config::{Config, PeerAddress};
use crate::error::Error;
use crate::probe::{probe, ProbeOptions};
use crate::stack;

/// How often the crawler picks new addresses to dial.
pub const CRAWL_PERIOD: Duration = Duration::from_secs(1);
/// Dials and connections the crawler keeps in flight at most.
pub const CRAWL_CONCURRENCY: usize = 64;
/// The crawler's moniker.
pub const CRAWLER_MONIKER: &str = "mconn-crawler";
/// How long learning the network from a seed may take.
const NETWORK_PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the progress line and the stop condition are checked.
const TICK: Duration = Duration::from_millis(200);
/// The crawl ends early once every address found was tried and nothing
/// changed for this long (a small network is mapped).
const SETTLED: Duration = Duration::from_secs(3);

/// What to crawl.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrawlOptions {
    /// Where to start.
    pub seeds: Vec<PeerAddress>,
    /// The network; `None`: the first seed that answers says.
    pub network: Option<String>,
    /// How long to crawl.
    pub duration: Duration,
    /// Show a live progress line on stderr (when it is a terminal).
    pub progress: bool,
}

/// Crawls (see the [module docs](self)) and returns the map.
pub async fn crawl(options: &CrawlOptions) -> Result<NetworkMap, Error> {
    let mut seeds = Vec::new();
    for s in &options.seeds {
        match stack::resolve_peer(s).await {
            Ok(a) => seeds.push(a),
            Err(e) => tracing::warn!("seed {s}: {e}; skipped"),
        }
    }
    if seeds.is_empty() {
        return Err(Error::Crawl("no seed resolves".into()));
    }
    let network = match &options.network {
        Some(n) => n.clone(),
        None => learn_network(&options.seeds).await?,
    };
    let strict = seeds.iter().all(NetAddr::is_routable);
    let mut config = Config {
        moniker: CRAWLER_MONIKER.into(),
        ..Config::default()
    };
    config.p2p.seed_mode = true;
    config.p2p.addr_book_strict = strict;
    config.p2p.allow_duplicate_ip = true;
    config.p2p.max_num_outbound_peers = CRAWL_CONCURRENCY as u32;
    let key = NodeKey::generate(&mut rand_core::OsRng);
    let mut node = stack::node_config(&config, key, &network);
    node.listen_addr = "tcp://0.0.0.0:0".into();
    let switch_config = stack::switch_config(&config, node.key.node_id(), Vec::new());
    let mut pex_config = stack::pex_config(&config, Vec::new());
    pex_config.crawl_period = CRAWL_PERIOD;
    let mut rng = rand_core::OsRng;
    let mut book = AddrBook::new(stack::book_config(&config), &mut rng);
    let now = mconn::pex::UnixTime::from_system_time(std::time::SystemTime::now());
    for seed in &seeds {
        if let Err(e) = book.add_address(now, *seed, *seed, &mut rng) {
            tracing::warn!("seed {seed}: not usable ({e:?}); skipped");
        }
    }
    let (reactor, pex) = pex_from_book(book, pex_config);
    let reached = Arc::new(Mutex::new(BTreeMap::new()));
    let switch = Switch::builder(node, switch_config)
        .reactor(reactor)
        .and_then(|b| {
            b.reactor(Observer {
                reached: reached.clone(),
            })
        })
        .map_err(|e| Error::Switch(e.to_string()))?
        .start()
        .await
        .map_err(|e| Error::Switch(e.to_string()))?;
    tracing::info!(network = %network, seeds = seeds.len(), strict, "Crawling");
    let started = Instant::now();
    let bar = progress_bar(options.progress, options.duration);
    let mut last = (0, 0, 0);
    let mut settled_since = Instant::now();
    while started.elapsed() < options.duration {
        let now = counts(&pex, &reached);
        let (found, reachable, failed) = now;
        bar.set_position(started.elapsed().as_millis() as u64);
        bar.set_message(format!(
            "found {found} · reachable {reachable} · failed {failed}"
        ));
        if now != last {
            last = now;
            settled_since = Instant::now();
        } else if found > 0 && found == reachable + failed && settled_since.elapsed() >= SETTLED {
            tracing::info!("Every address found was tried: done early");
            break;
        }
        tokio::time::sleep(TICK.min(options.duration.saturating_sub(started.elapsed()))).await;
    }
    bar.finish_and_clear();
    let book = pex.book_snapshot();
    switch.stop().await;
    let reached = lock(&reached).clone();
    let seeds_given = options.seeds.iter().map(ToString::to_string).collect();
    Ok(NetworkMap::build(
        network,
        seeds_given,
        started.elapsed(),
        &book,
        &reached,
    ))
}

/// The network the seeds are on: the first seed whose NodeInfo a probe
/// can read says.
async fn learn_network(seeds: &[PeerAddress]) -> Result<String, Error> {
    let options = ProbeOptions {
        network: None,
        timeout: NETWORK_PROBE_TIMEOUT,
    };
    let mut last = String::new();
    for seed in seeds {
        match probe(seed, &options).await {
            Ok(report) => {
                let network = report.node_info.info().network.to_string();
                tracing::info!(seed = %seed, network = %network, "Network learned from a seed");
                return Ok(network);
            }
            Err(e) => {
                tracing::warn!("seed {seed}: {e}");
                last = e.to_string();
            }
        }
    }
    Err(Error::Crawl(format!(
        "no seed answered ({last}); pass --network to crawl anyway"
    )))
}

/// Addresses found, nodes reached, addresses that failed every dial.
fn counts(pex: &PexHandle, reached: &Reachable) -> (usize, usize, usize) {
    let book = pex.book_snapshot();
    let reached = lock(reached);
    let found = book.len()
        + reached
            .keys()
            .filter(|id| !book.iter().any(|k| k.addr.id == **id))
            .count();
    let failed = book
        .iter()
        .filter(|k| k.attempts > 0 && !reached.contains_key(&k.addr.id))
        .count();
    (found, reached.len(), failed)
}

fn progress_bar(enabled: bool, duration: Duration) -> ProgressBar {
    let target = if enabled {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(duration.as_millis() as u64), target);
    let style = ProgressStyle::with_template("{spinner} [{elapsed}/{prefix}] {bar:30} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(crate::config::GoDuration(duration).to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

type Reachable = Arc<Mutex<BTreeMap<NodeId, Reached>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Owns no channel; records the NodeInfo of every peer added.
struct Observer {
    reached: Reachable,
}

impl<RT: Runtime> Reactor<RT> for Observer {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        Vec::new()
    }

    async fn add_peer(&mut self, peer: &SwitchPeer<RT>) {
        if let Some(node_info) = peer.node_info() {
            let remote = peer
                .dialed_addr()
                .map_or(peer.remote_addr(), |a| a.socket_addr());
            lock(&self.reached).insert(peer.id(), Reached { remote, node_info });
        }
    }

    async fn receive(&mut self, _channel: u8, _peer: &SwitchPeer<RT>, _msg: Vec<u8>) {}
}
