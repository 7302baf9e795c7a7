//! Eclipse resistance, measured: an attacker with 1,000 addresses in one
//! IPv4 /16 gossips them to a victim whose book already holds 300 honest
//! addresses from 300 different /16s. For two layouts of the attacker's
//! addresses (all in one /24, or spread over 250 /24s of the /16), several
//! attacker sources (inside the attacker's /16 or each in a /16 of its own),
//! and two rule sets (ours: `BookConfig::default()`; CometBFT's alone: no
//! per-/24 cap, Go's 65-entry new buckets), the test prints the attacker's
//! share of the victim's book and of the dials `ensure_peers` makes, and
//! asserts the structural bounds that must hold whatever the numbers.
//!
//! The victim is the real [`PexMachine`] driven with a fake [`PexView`] on
//! simulated time, deterministic from a seed: every peer is a connected
//! outbound peer and answers each `PexRequest` the machine sends (honest
//! sources with their 50 addresses, attacker sources with the next 250 of
//! the attacker's 1,000), every dial "succeeds" at once and the view keeps
//! reporting 10 free outbound slots, so each round `ensure_peers` makes 10
//! picks.
//!
//! ```text
//! cargo test -p mconn --test pex_eclipse -- --nocapture
//! ```

mod common;
use common::Rng;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use mconn::identity::{NetAddr, NodeId};
use mconn::pex::{
    AddrBook, AddrGroup, BookConfig, BucketKind, PexAction, PexConfig, PexMachine, PexPeer,
    PexView, Received, Subnet, UnixTime,
};
use mconn::wire::pex::{self as wire, NetAddress, PexMessage};
use mconn::Instant;

const WALL: UnixTime = UnixTime::from_secs(1_700_000_000);
/// Honest addresses in the victim's book, each in its own /16.
const HONEST: u32 = 300;
/// Honest peers that told the victim about them (50 each).
const HONEST_SOURCES: u32 = 6;
/// The attacker's addresses, all in [`ATTACK_NET`].
const ATTACK: u32 = 1000;
/// The attacker's /16: 66.66.0.0/16.
const ATTACK_NET: [u8; 2] = [66, 66];
/// The victim's outbound target: picks per `ensure_peers` round.
const MAX_OUTBOUND: usize = 10;
/// Each attacker source answers at least this many requests (every one of
/// its 1,000 addresses offered at least once) before dials are counted.
const WARM_UP_ANSWERS: u32 = 4;
/// Dials counted per run.
const PICKS: usize = 1000;
/// Book keys (and RNG streams) per configuration.
const SEEDS: u64 = 4;
/// Bound on timer steps per run.
const MAX_STEPS: usize = 20_000;

fn node_id(tag: u8, i: u32) -> NodeId {
    let mut b = [tag; 20];
    b[..4].copy_from_slice(&i.to_be_bytes());
    NodeId(b)
}

fn v4(id: NodeId, a: u8, b: u8, c: u8, d: u8, port: u16) -> NetAddr {
    NetAddr::new(id, IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port)
}

/// Honest address `i`: 20.0.7.1, 20.1.7.1, …, 21.43.7.1 (300 /16s).
fn honest(i: u32) -> NetAddr {
    v4(node_id(0x11, i), 20 + (i / 256) as u8, i as u8, 7, 1, 26656)
}

/// Honest source `k`, in a /16 of its own (30.k.0.0/16).
fn honest_source(k: u32) -> NetAddr {
    v4(node_id(0x22, k), 30, k as u8, 0, 1, 26656)
}

/// Where the attacker puts its 1,000 addresses inside its /16.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// All in 66.66.1.0/24: 250 IPs × 4 ports.
    OneSlash24,
    /// 4 per /24 over 66.66.0.0/24 … 66.66.249.0/24.
    ManySlash24s,
}

impl Layout {
    fn addr(self, i: u32) -> NetAddr {
        let [a, b] = ATTACK_NET;
        let id = node_id(0x66, i);
        match self {
            Layout::OneSlash24 => v4(id, a, b, 1, (i / 4 + 1) as u8, 26656 + (i % 4) as u16),
            Layout::ManySlash24s => v4(id, a, b, (i / 4) as u8, (i % 4 + 1) as u8, 26656),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Layout::OneSlash24 => "(a) one /24",
            Layout::ManySlash24s => "(b) 250 /24s",
        }
    }
}

/// Where the attacker's gossiping peers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sources {
    count: u32,
    /// In the attacker's /16 (66.66.255.x) or each in a /16 of its own
    /// (70+j.1.0.0/16).
    inside: bool,
}

impl Sources {
    fn addr(self, j: u32) -> NetAddr {
        let id = node_id(0x77, j);
        if self.inside {
            let [a, b] = ATTACK_NET;
            v4(id, a, b, 255, (j + 1) as u8, 26656)
        } else {
            v4(id, 70 + j as u8, 1, 0, 1, 26656)
        }
    }

    fn name(self) -> String {
        let where_ = if self.inside {
            "in the attacker's /16"
        } else {
            "each in its own /16"
        };
        format!("{} {}", self.count, where_)
    }
}

/// Which rules the victim's book follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rules {
    /// `BookConfig::default()`: CometBFT's buckets plus our 16-per-/24 cap.
    Ours,
    /// CometBFT's rules alone: no per-subnet cap, and new buckets that
    /// reach 65 entries as Go's `len > 64` check lets them.
    CometBft,
}

impl Rules {
    fn book_config(self) -> BookConfig {
        match self {
            Rules::Ours => BookConfig::default(),
            Rules::CometBft => BookConfig {
                max_per_subnet: usize::MAX,
                new_bucket_size: 65,
                ..BookConfig::default()
            },
        }
    }

    fn name(self) -> &'static str {
        match self {
            Rules::Ours => "ours",
            Rules::CometBft => "CometBFT",
        }
    }
}

/// The switch as the victim's PEX sees it: its peers are connected, and
/// all outbound slots are free (dials are counted, not kept).
struct View {
    connected: BTreeSet<NodeId>,
}

impl PexView for View {
    fn max_outbound(&self) -> usize {
        MAX_OUTBOUND
    }
    fn num_outbound(&self) -> usize {
        0
    }
    fn num_dialing(&self) -> usize {
        0
    }
    fn is_dialing_or_connected(&self, id: &NodeId) -> bool {
        self.connected.contains(id)
    }
    fn is_persistent(&self, _: &NodeId) -> bool {
        false
    }
}

/// One of the victim's peers and what it answers a `PexRequest` with.
struct Responder {
    addrs: Vec<NetAddr>,
    /// Where the next answer starts (attackers cycle through their list).
    cursor: usize,
    answers: u32,
}

impl Responder {
    fn next_answer(&mut self, max: usize) -> Vec<NetAddr> {
        let n = self.addrs.len().min(max);
        let out = (0..n)
            .map(|k| self.addrs[(self.cursor + k) % self.addrs.len()])
            .collect();
        self.cursor = (self.cursor + n) % self.addrs.len();
        self.answers += 1;
        out
    }
}

fn addrs_msg(addrs: &[NetAddr]) -> Vec<u8> {
    let mut bufs = vec![([0u8; 40], [0u8; 46]); addrs.len()];
    let w: Vec<NetAddress<'_>> = addrs
        .iter()
        .zip(bufs.iter_mut())
        .map(|(a, (i, p))| a.to_wire(i, p))
        .collect();
    let mut out = vec![0u8; wire::addrs_encoded_len(&w)];
    let n = wire::encode_addrs(&w, &mut out).unwrap();
    out.truncate(n);
    out
}

fn outbound_peer(a: NetAddr) -> PexPeer {
    PexPeer {
        id: a.id,
        outbound: true,
        listen_addr: Some(a),
        remote_ip: a.ip,
        persistent: false,
    }
}

/// The victim, its peers, and what it dialled.
struct Victim {
    pex: PexMachine<Rng>,
    view: View,
    peers: BTreeMap<NodeId, Responder>,
    /// Dials counted so far (`None` while warming up).
    dials: Option<Vec<NetAddr>>,
}

impl Victim {
    fn connect(&mut self, now: Instant, addr: NetAddr, answers_with: Vec<NetAddr>) {
        self.view.connected.insert(addr.id);
        self.peers.insert(
            addr.id,
            Responder {
                addrs: answers_with,
                cursor: 0,
                answers: 0,
            },
        );
        self.pex.peer_added(now, outbound_peer(addr));
        self.serve(now);
    }

    /// Carries out the machine's actions until it has none: requests are
    /// answered by the peer asked, dials succeed at once.
    fn serve(&mut self, now: Instant) {
        let max = self.pex.config().max_addrs_per_msg;
        for _ in 0..1000 {
            let Some(action) = self.pex.poll_action() else {
                return;
            };
            match action {
                PexAction::Send { to, msg } => {
                    assert_eq!(PexMessage::decode(&msg), Ok(PexMessage::Request));
                    let answer = self.peers.get_mut(&to).unwrap().next_answer(max);
                    let got = self.pex.receive(now, &to, &addrs_msg(&answer));
                    assert!(matches!(got, Received::Addrs { .. }), "{got:?}");
                }
                PexAction::Dial(addr) => {
                    if let Some(dials) = &mut self.dials {
                        dials.push(addr);
                    }
                    self.pex.dialed(now, &addr);
                }
                PexAction::SaveBook => {}
                other => panic!("the victim should never disconnect here: {other:?}"),
            }
        }
        panic!("the machine keeps producing actions");
    }
}

/// What one run measured.
#[derive(Default, Clone, Copy)]
struct Outcome {
    book: usize,
    attacker_entries: usize,
    honest_entries: usize,
    attacker_buckets: usize,
    nonempty_new_buckets: usize,
    dials: usize,
    attacker_dials: usize,
    /// The most attacker dials among one round's 10.
    worst_round: usize,
    /// Rounds in which the attacker got at least half of the 10 dials.
    majority_rounds: usize,
    rounds: usize,
}

fn is_attacker(a: &NetAddr) -> bool {
    matches!(a.ip, IpAddr::V4(v) if v.octets()[..2] == ATTACK_NET)
}

fn run(layout: Layout, sources: Sources, rules: Rules, seed: u64) -> Outcome {
    let cfg = rules.book_config();
    let book = AddrBook::new(cfg, &mut Rng(seed));
    let mut v = Victim {
        pex: PexMachine::new(
            book,
            PexConfig::default(),
            Rng(seed ^ 0xec11),
            Instant::ZERO,
            WALL,
        ),
        view: View {
            connected: BTreeSet::new(),
        },
        peers: BTreeMap::new(),
        dials: None,
    };
    let mut now = Instant::ZERO;

    // The honest network first: 6 sources, 50 addresses each.
    let per_source = HONEST / HONEST_SOURCES;
    for k in 0..HONEST_SOURCES {
        let list = (k * per_source..(k + 1) * per_source).map(honest).collect();
        v.connect(now, honest_source(k), list);
    }
    assert_eq!(
        v.pex.book().size(),
        HONEST as usize,
        "every honest address kept"
    );

    // Then the attacker's sources connect; each gossips all 1,000.
    let attack: Vec<NetAddr> = (0..ATTACK).map(|i| layout.addr(i)).collect();
    for j in 0..sources.count {
        let mut list = attack.clone();
        list.rotate_left((j as usize * 250) % attack.len());
        v.connect(now, sources.addr(j), list);
    }

    // ensure_peers rounds: each asks one random peer for addresses and
    // dials 10 picks. Dials count once every attacker source has answered
    // WARM_UP_ANSWERS times.
    let attacker_ids: Vec<NodeId> = (0..sources.count).map(|j| sources.addr(j).id).collect();
    let mut per_round: Vec<usize> = Vec::new();
    for _ in 0..MAX_STEPS {
        if v.dials.as_ref().is_some_and(|d| d.len() >= PICKS) {
            break;
        }
        if v.dials.is_none()
            && attacker_ids
                .iter()
                .all(|id| v.peers[id].answers >= WARM_UP_ANSWERS)
        {
            v.dials = Some(Vec::new());
        }
        now = v
            .pex
            .poll_timeout()
            .expect("the machine always has a next round");
        let before = v.dials.as_ref().map_or(0, Vec::len);
        v.pex.handle_timeout(now, &v.view);
        v.serve(now);
        if let Some(d) = &v.dials {
            if d.len() > before {
                per_round.push(d[before..].iter().filter(|a| is_attacker(a)).count());
            }
        }
    }
    let dials = v.dials.expect("warm-up finished within the step bound");
    assert!(dials.len() >= PICKS, "only {} dials", dials.len());

    let book = v.pex.book();
    let snapshot = book.snapshot();
    let attacker: Vec<_> = snapshot.iter().filter(|e| is_attacker(&e.addr)).collect();
    let attacker_buckets: BTreeSet<u16> = attacker
        .iter()
        .flat_map(|e| e.buckets.iter().copied())
        .collect();
    let nonempty = (0..cfg.new_bucket_count)
        .filter(|b| !book.bucket(BucketKind::New, *b).is_empty())
        .count();
    let honest_entries = snapshot
        .iter()
        .filter(|e| e.addr.id.0[4..] == [0x11; 16])
        .count();

    // ---- the structural bounds --------------------------------------------
    let source_groups: BTreeSet<AddrGroup> = (0..sources.count)
        .map(|j| sources.addr(j).group(true))
        .collect();
    // Nothing was marked good: every attacker entry is new.
    assert!(attacker.iter().all(|e| e.kind == BucketKind::New));
    // All attacker addresses share one /16 group, so bucket hashing gives
    // each source group exactly one new bucket for them.
    assert!(
        attacker_buckets.len() <= source_groups.len(),
        "{} attacker buckets from {} source groups",
        attacker_buckets.len(),
        source_groups.len()
    );
    assert!(attacker.len() <= cfg.new_bucket_size * source_groups.len());
    // Honest entries can only have been evicted from those buckets.
    assert!(honest_entries + cfg.new_bucket_size * attacker_buckets.len() >= HONEST as usize);
    assert_eq!(honest_entries + attacker.len(), book.size());
    // Our cap: at most 16 entries per /24, so layout (a) keeps at most 16.
    if rules == Rules::Ours {
        let mut per_subnet: BTreeMap<Subnet, usize> = BTreeMap::new();
        for e in &attacker {
            *per_subnet.entry(e.addr.subnet()).or_default() += 1;
        }
        assert!(per_subnet.values().all(|&n| n <= cfg.max_per_subnet));
        if layout == Layout::OneSlash24 {
            assert!(attacker.len() <= cfg.max_per_subnet);
        }
    }
    // Every book bucket respects its size.
    for b in 0..cfg.new_bucket_count {
        assert!(book.bucket(BucketKind::New, b).len() <= cfg.new_bucket_size);
    }

    let attacker_dials = dials.iter().filter(|a| is_attacker(a)).count();
    Outcome {
        book: book.size(),
        attacker_entries: attacker.len(),
        honest_entries,
        attacker_buckets: attacker_buckets.len(),
        nonempty_new_buckets: nonempty,
        dials: dials.len(),
        attacker_dials,
        worst_round: per_round.iter().copied().max().unwrap_or(0),
        majority_rounds: per_round.iter().filter(|&&n| 2 * n >= MAX_OUTBOUND).count(),
        rounds: per_round.len(),
    }
}

fn pct(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

/// The table rows for one layout: every source placement, both rule sets,
/// each summed over [`SEEDS`] book keys.
fn table(layout: Layout) -> String {
    let sources = [
        Sources {
            count: 1,
            inside: true,
        },
        Sources {
            count: 8,
            inside: true,
        },
        Sources {
            count: 8,
            inside: false,
        },
    ];
    let mut out = format!(
        "eclipse, layout {}: victim book {HONEST} honest addresses (300 /16s, {HONEST_SOURCES} \
         sources) + attacker {ATTACK} addresses in {}.{}.0.0/16; {SEEDS} book keys per row, \
         {PICKS} ensure_peers picks each after warm-up; figures summed over the keys\n",
        layout.name(),
        ATTACK_NET[0],
        ATTACK_NET[1]
    );
    out +=
        "| layout | attacker sources | rules | attacker entries (mean) | attacker share of book \
            | honest entries kept (mean) | attacker buckets / non-empty new buckets (mean) \
            | attacker share of dials | worst round (of 10) | rounds with ≥ 5 of 10 |\n";
    out += "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
    for s in sources {
        for rules in [Rules::Ours, Rules::CometBft] {
            let runs: Vec<Outcome> = (0..SEEDS)
                .map(|seed| run(layout, s, rules, 1000 + seed))
                .collect();
            let sum = |f: fn(&Outcome) -> usize| runs.iter().map(f).sum::<usize>();
            let n = runs.len() as f64;
            out += &format!(
                "| {} | {} | {} | {:.1} | {:.1} % | {:.1} | {:.1} / {:.1} | {:.2} % ({}/{}) \
                 | {} | {}/{} |\n",
                layout.name(),
                s.name(),
                rules.name(),
                sum(|o| o.attacker_entries) as f64 / n,
                pct(sum(|o| o.attacker_entries), sum(|o| o.book)),
                sum(|o| o.honest_entries) as f64 / n,
                sum(|o| o.attacker_buckets) as f64 / n,
                sum(|o| o.nonempty_new_buckets) as f64 / n,
                pct(sum(|o| o.attacker_dials), sum(|o| o.dials)),
                sum(|o| o.attacker_dials),
                sum(|o| o.dials),
                runs.iter().map(|o| o.worst_round).max().unwrap_or(0),
                sum(|o| o.majority_rounds),
                sum(|o| o.rounds),
            );
        }
    }
    out
}

#[test]
fn attacker_addresses_in_one_slash24() {
    println!("{}", table(Layout::OneSlash24));
}

#[test]
fn attacker_addresses_over_many_slash24s() {
    println!("{}", table(Layout::ManySlash24s));
}
