//! PEX against CometBFT's PEX reactor: our node learns a Go node's
//! addresses, and three Go nodes whose only seed is our node in seed mode
//! find each other. Every book is non-strict (`addr_book_strict = false`,
//! as on a local testnet) and every address is on loopback; our switch
//! also refuses to dial anything else.

use crate::addrbook::book_path;
use crate::go::{GoPeer, Line};
use crate::scenarios::{args, go_id, hex, our_key, report_entry, GO_SEED, NETWORK, WAIT};
use crate::switch_node::{go_event, our_id, refusals, runtime, wait_for};
use mconn::identity::{NetAddr, NodeId, NodeKey};
use mconn::pex::{AddrBook, BookConfig, PexConfig};
use mconn::switch::SwitchConfig;
use mconn_driver::pex::{PexHandle, PexReactor};
use mconn_tokio::{NodeConfig, Switch, Tokio};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

/// Our node with only the PEX reactor over an empty non-strict book,
/// listening on loopback and dialling nothing else.
async fn start_pex_node(mut config: SwitchConfig, pex: PexConfig) -> (Switch, PexHandle) {
    let book_config = BookConfig {
        strict: false,
        ..BookConfig::default()
    };
    let book = AddrBook::new(book_config, &mut rand_core::OsRng);
    let reactor = PexReactor::<Tokio>::new(book, pex);
    let handle = reactor.handle();
    config.allow_duplicate_ip = true; // every node is on 127.0.0.1
    let switch = Switch::builder(NodeConfig::new(our_key(), NETWORK, &[]), config)
        .reactor(reactor)
        .unwrap()
        .addr_filter(|a: SocketAddr| a.ip().is_loopback())
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .expect("our switch starts");
    (switch, handle)
}

/// A Go node running CometBFT's PEX reactor (see `pex.go`).
fn spawn_go_pex(line: Line, label: &str, seed: &[u8; 32], book: &str, extra: &[&str]) -> GoPeer {
    let mut a = args(&[
        "-scenario",
        "pex",
        "-listen",
        "-network",
        NETWORK,
        "-seed",
        &hex(seed),
        "-book",
        book,
        "-strict=false",
        "-hold",
        "60s",
        "-timeout",
        "90s",
    ]);
    a.extend(args(extra));
    GoPeer::spawn(line, label, &a)
}

// ---------------------------------------------------------------------------
// Scenario 13: our node learns addresses from Go's PEX.

pub fn we_learn_from_go(line: Line) {
    runtime().block_on(run_we_learn_from_go(line));
}

async fn run_we_learn_from_go(line: Line) {
    // Loopback addresses nobody listens on (Go's own ensurePeers dials them
    // once and fails), one of them IPv6.
    let prefilled: Vec<NetAddr> = [
        "127.0.0.2:1",
        "127.0.0.3:2",
        "[::1]:3",
        "127.1.2.3:4",
        "127.0.0.5:5",
    ]
    .iter()
    .enumerate()
    .map(|(i, s)| {
        let id = NodeKey::from_seed([0x60 + i as u8; 32]).node_id();
        format!("{id}@{s}").parse().unwrap()
    })
    .collect();
    let list: Vec<String> = prefilled.iter().map(NetAddr::to_string).collect();
    let path = book_path(line, "go-pex-prefilled.json");
    let mut go = spawn_go_pex(
        line,
        "PEX node with a pre-filled book",
        &GO_SEED,
        path.to_str().unwrap(),
        &["-book-addrs", &list.join(","), "-ensure", "1h"],
    );
    let addr: SocketAddr = go_event(&mut go, "listening").await["addr"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let go_addr = NetAddr::from_socket(go_id(), addr);

    let (switch, book) =
        start_pex_node(SwitchConfig::new(our_key().node_id()), PexConfig::default()).await;
    if let Err(e) = switch.dial(go_addr).await {
        go.fail(&format!("our switch could not dial Go: {e:?}"));
    }
    let learned = wait_for(WAIT, || {
        prefilled.iter().all(|a| book.with_book(|b| b.has(&a.id)))
    })
    .await;
    if !learned {
        go.fail(&format!(
            "our book has {:?}, expected Go's {list:?}",
            book.book_snapshot()
                .iter()
                .map(|e| e.addr.to_string())
                .collect::<Vec<_>>()
        ));
    }
    let snapshot = book.book_snapshot();
    let ours: BTreeSet<NetAddr> = snapshot.iter().map(|e| e.addr).collect();
    let theirs: BTreeSet<NetAddr> = prefilled.iter().copied().collect();
    assert_eq!(ours, theirs, "exactly Go's book, not Go itself nor us");
    for e in &snapshot {
        assert_eq!(e.src, go_addr, "{}: learned from Go", e.addr);
    }
    let added = go_event(&mut go, "peer_added").await;
    assert_eq!(added["id"], our_id().as_str());
    assert_eq!(added["outbound"], false);
    switch.stop().await;
    let v6 = ours.iter().filter(|a| a.ip.is_ipv6()).count();
    report_entry(
        line,
        "PEX: our node dials a Go node with a pre-filled book",
        &format!(
            "ok; our PexRequest was answered with Go's {} addresses ({v6} IPv6), all in our book with Go's address as source, nothing else",
            ours.len()
        ),
    );
}

// ---------------------------------------------------------------------------
// Scenario 14: our seed introduces three Go nodes to each other.

const GO_NODES: usize = 3;

/// The peers a Go node has now (from its watcher's events).
fn connected(go: &mut GoPeer) -> BTreeSet<String> {
    let mut now = BTreeSet::new();
    for v in go.all_any(&["peer_added", "peer_removed"]) {
        let id = v["id"].as_str().unwrap_or_default().to_string();
        if v["ev"] == "peer_added" {
            now.insert(id);
        } else {
            now.remove(&id);
        }
    }
    now
}

pub fn seed_introduces_go_nodes(line: Line) {
    runtime().block_on(run_seed(line));
}

async fn run_seed(line: Line) {
    let pex = PexConfig {
        seed_mode: true,
        crawl_period: Duration::from_secs(1),
        ..PexConfig::default()
    };
    let (switch, book) = start_pex_node(SwitchConfig::new(our_key().node_id()), pex).await;
    let seed = switch
        .net_addr()
        .expect("listening on loopback")
        .to_string();
    let keys: Vec<[u8; 32]> = (0..GO_NODES).map(|i| [0x70 + i as u8; 32]).collect();
    let ids: Vec<NodeId> = keys
        .iter()
        .map(|k| NodeKey::from_seed(*k).node_id())
        .collect();
    let mut gos: Vec<GoPeer> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let path = book_path(line, &format!("go-pex-{i}.json"));
            spawn_go_pex(
                line,
                &format!("PEX node {i}"),
                k,
                path.to_str().unwrap(),
                &["-seeds", &seed, "-ensure", "1s"],
            )
        })
        .collect();
    let others = |i: usize| -> BTreeSet<String> {
        (0..GO_NODES)
            .filter(|&j| j != i)
            .map(|j| ids[j].to_string())
            .collect()
    };
    let meshed = wait_for(Duration::from_secs(40), || {
        (0..GO_NODES).all(|i| connected(&mut gos[i]).is_superset(&others(i)))
    })
    .await;
    if !meshed {
        let views: Vec<_> = (0..GO_NODES).map(|i| connected(&mut gos[i])).collect();
        gos[0].fail(&format!("Go nodes did not find each other: {views:?}"));
    }
    // The seed knows all three, learned from them.
    let known: BTreeMap<NodeId, NetAddr> = book
        .book_snapshot()
        .iter()
        .map(|e| (e.addr.id, e.addr))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let listen = go_event(&mut gos[i], "listening").await;
        let addr = known.get(id).map(NetAddr::to_string);
        assert_eq!(
            addr.map(|a| a.split('@').nth(1).unwrap_or_default().to_string()),
            listen["addr"].as_str().map(str::to_string),
            "our seed's book has Go node {i}"
        );
    }
    // Every Go node dialled the seed, and the seed crawled every Go node
    // (Go sees it as an inbound peer) at least once.
    let seed_links = |go: &mut GoPeer, outbound: bool| {
        go.all("peer_added")
            .iter()
            .filter(|v| v["id"] == our_id().as_str() && v["outbound"] == outbound)
            .count()
    };
    let crawled = wait_for(WAIT, || {
        gos.iter_mut()
            .all(|go| seed_links(go, true) >= 1 && seed_links(go, false) >= 1)
    })
    .await;
    if !crawled {
        let s = switch.stats();
        gos[0].fail(&format!("the seed did not dial every Go node: {s:?}"));
    }
    let visits: usize = gos.iter_mut().map(|go| seed_links(go, true)).sum();
    let crawls: usize = gos.iter_mut().map(|go| seed_links(go, false)).sum();
    // The seed hangs up after each exchange.
    let hung_up = wait_for(WAIT, || {
        gos.iter_mut().all(|go| !connected(go).contains(&our_id()))
    })
    .await;
    if !hung_up {
        gos[0].fail("the seed kept a connection");
    }
    let stats = switch.stats();
    switch.stop().await;
    let go_links: usize = (0..GO_NODES)
        .map(|i| connected(&mut gos[i]).len())
        .sum::<usize>()
        / 2;
    report_entry(
        line,
        "PEX: our seed (seed mode) and 3 Go nodes that only know it",
        &format!(
            "ok; every Go node connected to the other two ({go_links} Go-Go links); our seed's book has all 3 listen addresses; Go nodes dialled the seed {visits} times, the seed crawled them {crawls} times and hung up every time; seed stats: accepted {}, dialed {}, added {}, removed {}, refused: {}",
            stats.accepted,
            stats.dialed,
            stats.added,
            stats.removed,
            refusals(&stats)
        ),
    );
}
