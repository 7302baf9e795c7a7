//! Peer discovery with PEX: the seed documents' usage, in Rust.
//!
//! ```text
//! book := p2p.NewAddrBook(addrBookFilePath)
//! pexReactor := p2p.NewPEXReactor(book)
//! switch := NewSwitch([]Reactor{pexReactor, myReactor, ...})
//! ```
//!
//! becomes `AddrBook::open(path, ..)?`, `PexReactor::new(book, config)` and
//! `Switch::builder(..).reactor(pex)?.reactor(my_reactor)?`. One seed (in
//! seed mode) and three nodes that know only the seed, all on 127.0.0.1
//! (non-strict address books, as CometBFT's `addr_book_strict = false`, and
//! `allow_duplicate_ip`), each with PEX and a small `MyReactor` that greets
//! every peer. PEX runs every 2 s instead of CometBFT's 30 s so the example
//! is quick. It prints who discovered whom and exits by itself within about
//! 20 s.
//!
//! ```text
//! cargo run -p mconn-tokio --example pex
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mconn::identity::{NodeId, NodeKey};
use mconn::pex::{AddrBook, BookConfig, PexConfig, UnixTime};
use mconn::switch::{ChannelDescriptor, SwitchConfig};
use mconn_driver::pex::{PexHandle, PexReactor};
use mconn_driver::switch::Reactor;
use mconn_tokio::{NodeConfig, Switch, SwitchPeer, Tokio};

const MY_CHANNEL_ID: u8 = 0x60;
/// The seed and the three nodes: names and node-key seeds.
const SEED: (&str, u8) = ("seed", 10);
const NODES: [(&str, u8); 3] = [("A", 11), ("B", 12), ("C", 13)];
/// How long the example may take at most.
const DEADLINE: Duration = Duration::from_secs(20);

type Names = Arc<BTreeMap<NodeId, &'static str>>;

fn key(seed: u8) -> NodeKey {
    NodeKey::from_seed([seed; 32])
}

fn name_of(names: &Names, id: &NodeId) -> String {
    names
        .get(id)
        .map_or_else(|| id.to_string(), |n| n.to_string())
}

/// Greets every peer on `MY_CHANNEL_ID` and prints what it hears.
struct MyReactor {
    name: &'static str,
    names: Names,
}

impl Reactor<Tokio> for MyReactor {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(MY_CHANNEL_ID, 1)]
    }

    async fn add_peer(&mut self, peer: &SwitchPeer) {
        let how = if peer.is_outbound() {
            "dialled"
        } else {
            "accepted"
        };
        println!("{}: {how} {}", self.name, name_of(&self.names, &peer.id()));
        let _ = peer.try_send(
            MY_CHANNEL_ID,
            format!("hello from {}", self.name).as_bytes(),
        );
    }

    async fn receive(&mut self, _channel: u8, peer: &SwitchPeer, msg: Vec<u8>) {
        println!(
            "{} <- {}: {}",
            self.name,
            name_of(&self.names, &peer.id()),
            String::from_utf8_lossy(&msg)
        );
    }
}

/// PEX settings with 2 s rounds (CometBFT: 30 s); the inbound request
/// limit follows the round as in CometBFT (one per period / 3).
fn quick(config: PexConfig) -> PexConfig {
    let period = Duration::from_secs(2);
    PexConfig {
        ensure_peers_period: period,
        request_interval: period / 3,
        crawl_period: period,
        ..config
    }
}

/// One node: its book from `dir`, PEX beside `MyReactor`, on 127.0.0.1.
async fn start(
    (name, seed): (&'static str, u8),
    dir: &Path,
    pex_config: PexConfig,
    names: &Names,
) -> Result<(Switch, PexHandle), Box<dyn std::error::Error>> {
    let node = NodeConfig::new(key(seed), "example-chain", &[]);
    let mut config = SwitchConfig::new(node.key.node_id());
    config.allow_duplicate_ip = true; // everyone is on 127.0.0.1
    let book_config = BookConfig {
        strict: false, // addr_book_strict = false: loopback addresses are fine
        ..BookConfig::default()
    };

    let now = UnixTime::from_system_time(SystemTime::now());
    let book = AddrBook::open(
        dir.join(format!("addrbook-{name}.json")),
        book_config,
        now,
        &mut rand_core::OsRng,
    )?;
    let pex = PexReactor::new(book, quick(pex_config));
    let handle = pex.handle();
    let my_reactor = MyReactor {
        name,
        names: names.clone(),
    };
    let switch = Switch::builder(node, config)
        .reactor(pex)?
        .reactor(my_reactor)?
        .listen("127.0.0.1:0".parse()?)
        .start()
        .await?;
    Ok((switch, handle))
}

/// Every node is connected to every other node (the seed aside).
fn all_found(switches: &[Switch]) -> bool {
    switches.iter().all(|s| {
        switches
            .iter()
            .all(|o| o.node_id() == s.node_id() || s.peers().has(&o.node_id()))
    })
}

fn scratch_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("mconn-pex-example-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = scratch_dir()?;
    let names: Names = Arc::new(
        std::iter::once(SEED)
            .chain(NODES)
            .map(|(name, seed)| (key(seed).node_id(), name))
            .collect(),
    );

    let seed_config = PexConfig {
        seed_mode: true,
        ..PexConfig::default()
    };
    let (seed, _seed_book) = start(SEED, &dir, seed_config, &names).await?;
    let seed_addr = seed.net_addr().ok_or("the seed listens")?;
    println!("seed listening at {seed_addr}");

    let mut nodes = Vec::new();
    let mut books = Vec::new();
    for n in NODES {
        let config = PexConfig {
            seeds: vec![seed_addr],
            ..PexConfig::default()
        };
        let (switch, book) = start(n, &dir, config, &names).await?;
        nodes.push(switch);
        books.push(book);
    }

    let started = tokio::time::Instant::now();
    while !all_found(&nodes) && started.elapsed() < DEADLINE {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let found = all_found(&nodes);

    println!();
    for ((name, _), (switch, book)) in NODES.iter().zip(nodes.iter().zip(&books)) {
        let learned: Vec<String> = book
            .book_snapshot()
            .iter()
            .map(|e| {
                format!(
                    "{} (told by {})",
                    name_of(&names, &e.addr.id),
                    name_of(&names, &e.src.id)
                )
            })
            .collect();
        let peers: Vec<String> = switch
            .peers()
            .list()
            .iter()
            .map(|p| {
                let dir = if p.is_outbound() { "out" } else { "in" };
                format!("{} ({dir})", name_of(&names, &p.id()))
            })
            .collect();
        println!("{name}: knows {}", learned.join(", "));
        println!("{name}: connected to {}", peers.join(", "));
    }
    if found {
        println!(
            "\nevery node found every other through the seed in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }

    for switch in nodes.iter().chain([&seed]) {
        switch.stop().await; // saves each address book
    }
    let saved = std::fs::read_dir(&dir)?.count();
    println!("{saved} address books saved under {}", dir.display());
    let _ = std::fs::remove_dir_all(&dir);
    if found {
        Ok(())
    } else {
        Err(format!("not every node found every other within {DEADLINE:?}").into())
    }
}
