//! PEX on the real `Switch` + `PexReactor`, in deterministic simulation
//! (`mconn_tests::netsim`: simulated time, in-memory network, 127.0.x.y
//! addresses, so `addr_book_strict = false`).
//!
//! * 200 nodes that know only one seed (a node in seed mode) reach their
//!   outbound target and form one connected network in bounded simulated
//!   time, never exceeding the inbound limit; the seed's book is saved to
//!   its file on stop.
//! * A peer that sends addresses we did not ask for is disconnected over
//!   the switch and banned in the book.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use mconn::identity::{NetAddr, NodeId, NodeKey};
use mconn::pex::{AddrBook, BookConfig, PexConfig, PEX_CHANNEL};
use mconn::switch::{ChannelDescriptor, DisconnectReason, Misbehaviour, SwitchConfig};
use mconn::wire::pex as wire;
use mconn::Instant;
use mconn_driver::pex::{PexHandle, PexReactor};
use mconn_driver::switch::{Reactor, Switch, SwitchBuilder, SwitchPeer};
use mconn_driver::NodeConfig;
use mconn_tests::netsim::{node_ip, NetConfig, SeededRng, Sim, Simulation};

const PORT: u16 = 26656;
const NODES: usize = 200;
/// Node index of the seed (the others are 1..=NODES).
const SEED: usize = 0;

fn key(i: usize) -> NodeKey {
    let mut seed = [0x3c; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    NodeKey::from_seed(seed)
}

fn addr(i: usize) -> NetAddr {
    NetAddr::new(key(i).node_id(), node_ip(i), PORT)
}

fn secs(t: Instant) -> f64 {
    t.as_micros() as f64 / 1e6
}

/// A loopback-friendly book (127.0.x.y is not routable).
fn book(i: usize) -> AddrBook {
    let cfg = BookConfig {
        strict: false,
        ..BookConfig::default()
    };
    AddrBook::new(cfg, &mut SeededRng::new(1000 + i as u64))
}

fn builder(i: usize) -> SwitchBuilder<Sim> {
    let node = NodeConfig::new(key(i), "pex-sim", &[]);
    let config = SwitchConfig::new(node.key.node_id());
    Switch::<Sim>::builder(node, config)
}

fn start(sim: &Simulation, i: usize, b: SwitchBuilder<Sim>) -> Switch<Sim> {
    let listen = SocketAddr::new(node_ip(i), PORT);
    sim.block_on_at(node_ip(i), b.listen(listen).start())
        .expect("simulation stuck")
        .expect("switch start")
}

/// Union-find over node indices.
fn components(n: usize, edges: &[(usize, usize)]) -> usize {
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for &(a, b) in edges {
        let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
        parent[ra] = rb;
    }
    (0..n).filter(|&x| root(&mut parent, x) == x).count()
}

struct Sample {
    outbound: Vec<usize>,
    peers: Vec<usize>,
    max_inbound: usize,
    components: usize,
}

/// The peer sets of nodes 1..=NODES (the seed excluded).
fn sample(switches: &[Switch<Sim>], index: &BTreeMap<NodeId, usize>) -> Sample {
    let mut edges = Vec::new();
    let (mut outbound, mut peers, mut max_inbound) = (Vec::new(), Vec::new(), 0);
    for (i, sw) in switches.iter().enumerate().skip(1) {
        let set = sw.peers();
        outbound.push(set.num_outbound());
        peers.push(set.len());
        max_inbound = max_inbound.max(set.num_inbound());
        for p in set.list() {
            if let Some(&j) = index.get(&p.id()) {
                if j != SEED {
                    edges.push((i - 1, j - 1));
                }
            }
        }
    }
    Sample {
        outbound,
        peers,
        max_inbound,
        components: components(NODES, &edges),
    }
}

#[test]
fn two_hundred_nodes_find_each_other_through_one_seed() {
    let wall = std::time::Instant::now();
    let sim = Simulation::new(NetConfig::new(2024));
    let dir = std::env::temp_dir().join(format!("mconn-pex-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seed_book = dir.join("addrbook.json");
    let _ = std::fs::remove_file(&seed_book);

    let seed_cfg = PexConfig {
        seed_mode: true,
        ..PexConfig::default()
    };
    let seed_pex = PexReactor::<Sim>::new(book(SEED), seed_cfg).save_to(&seed_book);
    let seed_handle = seed_pex.handle();
    let mut switches = vec![start(&sim, SEED, builder(SEED).reactor(seed_pex).unwrap())];
    let mut handles: Vec<PexHandle> = vec![seed_handle.clone()];
    for i in 1..=NODES {
        let cfg = PexConfig {
            seeds: vec![addr(SEED)],
            ..PexConfig::default()
        };
        let pex = PexReactor::<Sim>::new(book(i), cfg);
        handles.push(pex.handle());
        switches.push(start(&sim, i, builder(i).reactor(pex).unwrap()));
    }
    let index: BTreeMap<NodeId, usize> = (0..=NODES).map(|i| (key(i).node_id(), i)).collect();
    let target = SwitchConfig::new(key(1).node_id()).max_outbound;
    let max_inbound = SwitchConfig::new(key(1).node_id()).max_inbound;

    // Sample every 5 simulated seconds, for at most 30 simulated minutes.
    let mut converged = None;
    let mut worst_inbound = 0;
    for _ in 0..360 {
        sim.run_for(Duration::from_secs(5))
            .expect("simulation stuck");
        let s = sample(&switches, &index);
        worst_inbound = worst_inbound.max(s.max_inbound);
        assert!(
            s.max_inbound <= max_inbound,
            "inbound limit exceeded: {}",
            s.max_inbound
        );
        if s.outbound.iter().all(|&o| o >= target) && s.components == 1 {
            converged = Some((sim.now(), s));
            break;
        }
    }
    let Some((at, s)) = converged else {
        let s = sample(&switches, &index);
        panic!(
            "not converged after {:.0} s: outbound min {}, components {}",
            secs(sim.now()),
            s.outbound.iter().min().unwrap(),
            s.components
        );
    };
    let total: usize = s.peers.iter().sum();
    let books: Vec<usize> = handles[1..].iter().map(|h| h.book_size()).collect();
    eprintln!(
        "pex_sim: {NODES} nodes + 1 seed converged (all outbound >= {target}, one component) \
         after {:.1} simulated s; peers per node min/mean/max {}/{:.1}/{}; outbound max {}; \
         inbound max {} (worst sampled {}); book size min/mean/max {}/{:.1}/{}; seed book {}; \
         {} sim steps, {:.1} s wall",
        secs(at),
        s.peers.iter().min().unwrap(),
        total as f64 / NODES as f64,
        s.peers.iter().max().unwrap(),
        s.outbound.iter().max().unwrap(),
        s.max_inbound,
        worst_inbound,
        books.iter().min().unwrap(),
        books.iter().sum::<usize>() as f64 / NODES as f64,
        books.iter().max().unwrap(),
        seed_handle.book_size(),
        sim.steps(),
        wall.elapsed().as_secs_f64(),
    );
    assert!(secs(at) < 30.0 * 60.0);
    // Outbound peers are only ever dialled by PEX towards the target.
    assert!(s.outbound.iter().all(|&o| o <= target), "{:?}", s.outbound);
    // The seed's book is full. (Every 127.0.x.y address is in one /16
    // group, and CometBFT's bucket hashing gives one source group's
    // addresses of one group a single new bucket: 64 entries. The network
    // converges all the same.)
    let one_bucket = BookConfig::default().new_bucket_size;
    assert_eq!(seed_handle.book_size(), one_bucket);
    assert!(books.iter().all(|&b| b <= one_bucket));

    // Stopping the seed saves its book; the file holds what the handle saw.
    let size = seed_handle.book_size();
    sim.block_on_at(node_ip(SEED), switches[SEED].stop())
        .unwrap();
    let (loaded, _) = AddrBook::load(
        &seed_book,
        BookConfig {
            strict: false,
            ..BookConfig::default()
        },
        mconn::pex::UnixTime::from_system_time(std::time::SystemTime::now()),
    )
    .expect("the seed saved its book");
    assert_eq!(loaded.size(), size);
    assert!(seed_handle.last_save_error().is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends an unsolicited `PexAddrs` to every peer it meets.
struct Rogue {
    removed: std::sync::Arc<std::sync::Mutex<Vec<DisconnectReason>>>,
}

impl Reactor<Sim> for Rogue {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(PEX_CHANNEL, 1)]
    }
    async fn add_peer(&mut self, peer: &SwitchPeer<Sim>) {
        let other = addr(99);
        let (mut id, mut ip) = ([0; 40], [0; 46]);
        let mut msg = [0u8; 128];
        let n = wire::encode_addrs(&[other.to_wire(&mut id, &mut ip)], &mut msg).unwrap();
        peer.send(PEX_CHANNEL, &msg[..n]).await.unwrap();
    }
    async fn remove_peer(&mut self, _peer: &SwitchPeer<Sim>, reason: DisconnectReason) {
        self.removed.lock().unwrap().push(reason);
    }
    async fn receive(&mut self, _: u8, _: &SwitchPeer<Sim>, _: Vec<u8>) {}
}

/// Records why peers left.
struct Watch {
    removed: std::sync::Arc<std::sync::Mutex<Vec<DisconnectReason>>>,
}

impl Reactor<Sim> for Watch {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(0x60, 1)]
    }
    async fn remove_peer(&mut self, _peer: &SwitchPeer<Sim>, reason: DisconnectReason) {
        self.removed.lock().unwrap().push(reason);
    }
    async fn receive(&mut self, _: u8, _: &SwitchPeer<Sim>, _: Vec<u8>) {}
}

#[test]
fn unsolicited_addresses_get_a_peer_disconnected_and_banned() {
    let sim = Simulation::new(NetConfig::new(7));
    let pex = PexReactor::<Sim>::new(book(1), PexConfig::default());
    let handle = pex.handle();
    let why = std::sync::Arc::default();
    let watch = Watch {
        removed: std::sync::Arc::clone(&why),
    };
    let honest = start(
        &sim,
        1,
        builder(1).reactor(pex).unwrap().reactor(watch).unwrap(),
    );
    let removed = std::sync::Arc::default();
    let rogue = Rogue {
        removed: std::sync::Arc::clone(&removed),
    };
    let rogue_switch = start(&sim, 2, builder(2).reactor(rogue).unwrap());
    // The rogue dials the honest node (inbound there: its listen address
    // goes to the book, so the ban has an entry to land on).
    sim.block_on_at(node_ip(2), rogue_switch.dial(addr(1)))
        .unwrap()
        .expect("dial");
    sim.run_until(|| !removed.lock().unwrap().is_empty() && !why.lock().unwrap().is_empty())
        .unwrap();
    assert_eq!(
        *why.lock().unwrap(),
        vec![DisconnectReason::Misbehaved(Misbehaviour::UnsolicitedAddrs)]
    );
    assert!(honest.peers().is_empty());
    assert!(handle.with_book(|b| b.is_banned(&addr(2).id)));
    assert!(!handle.with_book(|b| b.has(&addr(99).id)));
    assert_eq!(honest.stats().bad_reports, 1);
}
