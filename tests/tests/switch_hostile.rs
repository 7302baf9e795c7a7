//! A switch on loopback TCP under attack by the hostile peer of
//! `mconn_tests::hostile`, while a good peer keeps exchanging messages with
//! it: admission floods (silent, slowloris, connection floods), identity
//! lies, crafted input after an honest handshake, and a peer that stops
//! reading while the switch stops. Every hostile
//! connection must end by a deadline or a typed refusal, the good peer must
//! be unaffected, file descriptors must return to their baseline, and
//! half-finished messages must not hold more memory than the documented
//! per-connection budget (docs/memory.md).
//!
//! The tests measure process-wide things (fds, RSS), so they run one at a
//! time. Round-trip times are printed (`--nocapture`), never asserted.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mconn::conn::{self, ChannelConfig, COMETBFT_CHANNELS, DEFAULT_PARTIAL_BUDGET};
use mconn::handshake::NodeInfoError;
use mconn::identity::{NetAddr, NodeId, NodeKey};
use mconn::session::CloseReason;
use mconn::switch::{ChannelDescriptor, DisconnectReason, Refusal, SwitchConfig};
use mconn_driver::switch::{DialError, Reactor};
use mconn_driver::Disconnect;
use mconn_tests::hostile::{self, Attack, End, HostilePeer, Identity};
use mconn_tokio::{NodeConfig, Peer, Switch, SwitchPeer, Tokio};

const NETWORK: &str = "hostile-net";
/// The channel the good peer's messages travel on (echoed by the reactor).
const ECHO: u8 = 0x20;
const MIB: usize = 1 << 20;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn channel_ids() -> Vec<u8> {
    COMETBFT_CHANNELS.iter().map(|c| c.id).collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn sleep(d: Duration) {
    tokio::time::sleep(d).await;
}

/// Waits (bounded) until `ready` holds, polling every 20 ms.
async fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(20)).await;
    }
}

/// What the switch's reactor saw.
#[derive(Default)]
struct Log {
    added: BTreeSet<NodeId>,
    removed: BTreeMap<NodeId, DisconnectReason>,
    /// Messages per (peer, channel).
    received: BTreeMap<(NodeId, u8), usize>,
}

type Shared = Arc<Mutex<Log>>;

fn log(shared: &Shared) -> MutexGuard<'_, Log> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Owns CometBFT's ten channels, records everything, echoes [`ECHO`].
/// Keeps no peer handles (so a cut peer's memory is freed).
struct Recorder {
    log: Shared,
}

impl Reactor<Tokio> for Recorder {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        COMETBFT_CHANNELS
            .iter()
            .map(|c| ChannelDescriptor::from_config(*c))
            .collect()
    }

    async fn add_peer(&mut self, peer: &SwitchPeer) {
        log(&self.log).added.insert(peer.id());
    }

    async fn remove_peer(&mut self, peer: &SwitchPeer, reason: DisconnectReason) {
        log(&self.log).removed.insert(peer.id(), reason);
    }

    async fn receive(&mut self, channel: u8, peer: &SwitchPeer, msg: Vec<u8>) {
        if channel == ECHO {
            let _ = peer.try_send(channel, &msg);
        }
        *log(&self.log)
            .received
            .entry((peer.id(), channel))
            .or_default() += 1;
    }
}

async fn start_switch(encrypted: bool, tune: impl FnOnce(&mut SwitchConfig)) -> (Switch, Shared) {
    let mut node = NodeConfig::new(NodeKey::from_seed([100; 32]), NETWORK, &[]);
    if !encrypted {
        node = node.plaintext();
    }
    let mut config = SwitchConfig::new(node.key.node_id());
    // Several hostile connections per address, so the per-IP caps apply
    // (with duplicates refused, each address would get one socket).
    config.allow_duplicate_ip = true;
    tune(&mut config);
    let shared = Shared::default();
    let switch = Switch::builder(node, config)
        .reactor(Recorder {
            log: shared.clone(),
        })
        .unwrap()
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    (switch, shared)
}

/// A well-behaved peer dialing `switch` from `source`; returns it and how
/// long connecting and the handshake took.
async fn good_peer(seed: u8, source: IpAddr, switch: &Switch) -> (Peer, Duration) {
    let node = NodeConfig::new(NodeKey::from_seed([seed; 32]), NETWORK, &COMETBFT_CHANNELS);
    let started = Instant::now();
    let stream = hostile::connect_from(source, switch.local_addr().unwrap())
        .await
        .expect("good peer connects");
    let peer = mconn_tokio::start(&node, stream, true, Some(switch.node_id()))
        .await
        .expect("good peer's handshake");
    (peer, started.elapsed())
}

/// One echoed message; its round-trip time. Bounded: the good peer must
/// get every answer within 10 s.
async fn round_trip(peer: &Peer, seq: u32) -> Duration {
    let msg = [&seq.to_be_bytes()[..], &[0xab; 60]].concat();
    let t = Instant::now();
    let exchange = async {
        peer.send(ECHO, &msg).await.expect("good peer sends");
        peer.recv(ECHO).await.expect("good peer receives")
    };
    let back = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("the good peer's echo came back");
    assert_eq!(back, msg, "echo out of order");
    t.elapsed()
}

async fn round_trips(peer: &Peer, count: u32) -> Vec<Duration> {
    let mut out = Vec::new();
    for seq in 0..count {
        out.push(round_trip(peer, seq).await);
    }
    out
}

/// Round trips in the background until `stop` (at most 100,000).
fn keep_exchanging(peer: Peer, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<Duration>> {
    tokio::spawn(async move {
        let mut out = Vec::new();
        for seq in 0..100_000 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            out.push(round_trip(&peer, seq).await);
            sleep(Duration::from_millis(2)).await;
        }
        out
    })
}

fn percentiles(mut v: Vec<Duration>) -> String {
    assert!(!v.is_empty(), "no round trips");
    v.sort();
    let at = |p: usize| v[(v.len() * p / 100).min(v.len() - 1)];
    format!("n={} p50={:?} p99={:?}", v.len(), at(50), at(99))
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// File descriptors return to `baseline` (bounded wait).
async fn fds_return_to(baseline: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = fd_count();
        if now <= baseline || Instant::now() > deadline {
            return now;
        }
        sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn floods_from_few_addresses_do_not_starve_a_good_peer() {
    let _serial = serial();
    runtime().block_on(async {
        let (switch, shared) = start_switch(true, |_| {}).await;
        let target = switch.local_addr().unwrap();
        let (good, first_connect) = good_peer(1, ip(127, 0, 0, 3), &switch).await;
        let quiet = round_trips(&good, 200).await;
        let fds_before = fd_count();

        let stop = Arc::new(AtomicBool::new(false));
        let exchanging = keep_exchanging(good.clone(), stop.clone());
        let limit = Duration::from_secs(20);
        let silent = tokio::spawn(hostile::silent(ip(127, 0, 0, 2), target, 500, 16, limit));
        let slow = tokio::spawn(hostile::slowloris(
            ip(127, 0, 0, 4),
            target,
            50,
            16,
            Duration::from_secs(1),
            limit,
        ));
        let flood = tokio::spawn(hostile::flood(
            ip(127, 0, 0, 5),
            target,
            2_000,
            8,
            Duration::from_secs(10),
            Duration::from_secs(40),
        ));
        // A second good peer arrives in the middle of the attack.
        sleep(Duration::from_millis(300)).await;
        let (late, late_connect) = good_peer(2, ip(127, 0, 0, 6), &switch).await;
        round_trip(&late, 0).await;
        let (silent, slow, flood) = (
            silent.await.unwrap(),
            slow.await.unwrap(),
            flood.await.unwrap(),
        );
        stop.store(true, Ordering::Relaxed);
        let attacked = exchanging.await.unwrap();

        // Every hostile connection was closed by the switch: refused at once
        // or cut by its handshake deadline.
        let not_closed = |ends: &mut dyn Iterator<Item = End>| {
            ends.filter(|e| !e.closed_by_target()).collect::<Vec<_>>()
        };
        let left = not_closed(&mut silent.iter().copied());
        assert!(
            left.is_empty(),
            "silent not closed by the switch: {} {:?}",
            left.len(),
            &left[..left.len().min(5)]
        );
        let left = not_closed(&mut slow.iter().map(|s| s.end));
        assert!(
            left.is_empty(),
            "slowloris not closed by the switch: {} {:?}",
            left.len(),
            &left[..left.len().min(5)]
        );
        assert!(
            slow.iter().all(|s| s.bytes_sent < 35),
            "no slowloris handshake finished"
        );
        assert_eq!(flood.failed, 0, "the kernel took every flood connection");
        assert_eq!(
            flood.connected, 2_000,
            "the flood ran to its end: {flood:?}"
        );
        assert_eq!(flood.closed_by_target, flood.connected, "flood left open");
        let quick = |ends: &mut dyn Iterator<Item = End>| {
            ends.filter(|e| matches!(e, End::ClosedByTarget(d) if *d < Duration::from_secs(1)))
                .count()
        };
        let silent_quick = quick(&mut silent.iter().copied());
        let slow_quick = quick(&mut slow.iter().map(|s| s.end));

        // The switch counts a failed attempt just after it closed the socket.
        wait_until(
            "every admitted hostile counted failed",
            Duration::from_secs(10),
            || {
                let s = switch.stats();
                s.failed + s.added == s.accepted
            },
        )
        .await;
        let stats = switch.stats();
        let inbound = 500 + 50 + flood.connected as u64 + 2;
        assert_eq!(stats.accepted + stats.refused_total(), inbound, "{stats:?}");
        assert!(stats.refused(Refusal::TooManyFromIp) > 0, "{stats:?}");
        assert_eq!(stats.added, 2, "only the good peers were added: {stats:?}");
        assert_eq!(
            stats.failed,
            stats.accepted - 2,
            "every admitted hostile failed"
        );
        {
            let log = log(&shared);
            assert_eq!(log.added.len(), 2);
            assert!(
                log.removed.is_empty(),
                "a good peer was removed: {:?}",
                log.removed
            );
        }
        assert!(good.disconnect_reason().is_none() && late.disconnect_reason().is_none());

        late.close().await.unwrap();
        let fds_after = fds_return_to(fds_before).await;
        assert!(
            fds_after <= fds_before,
            "fds: {fds_before} before, {fds_after} after"
        );
        println!(
            "admission: accepted {} (good 2), refused {:?}, failed handshakes {}",
            stats.accepted,
            Refusal::ALL
                .iter()
                .filter(|r| stats.refused(**r) > 0)
                .map(|r| (r, stats.refused(*r)))
                .collect::<Vec<_>>(),
            stats.failed
        );
        println!(
            "admission: silent 500 (closed < 1 s: {silent_quick}), slowloris 50 (closed < 1 s: \
             {slow_quick}, bytes sent max {}), flood {} connected",
            slow.iter().map(|s| s.bytes_sent).max().unwrap_or(0),
            flood.connected
        );
        println!(
            "admission: good peer connect quiet {first_connect:?}, under attack {late_connect:?}"
        );
        println!("admission: round trips quiet {}", percentiles(quiet));
        println!(
            "admission: round trips under attack {}",
            percentiles(attacked)
        );
        println!("admission: fds {fds_before} before, {fds_after} after");
        switch.stop().await;
    });
}

#[test]
fn many_addresses_fill_the_handshake_cap_but_not_the_peer_set() {
    let _serial = serial();
    runtime().block_on(async {
        let (switch, shared) = start_switch(true, |c| c.max_handshakes = 16).await;
        let target = switch.local_addr().unwrap();
        let (good, _) = good_peer(1, ip(127, 0, 0, 3), &switch).await;
        let fds_before = fd_count();
        let limit = Duration::from_secs(20);
        let silent: Vec<_> = (1..=100u8)
            .map(|d| tokio::spawn(hostile::silent(ip(127, 0, 1, d), target, 1, 1, limit)))
            .collect();
        // While every handshake slot is taken, the connected peer is served.
        let attacked = round_trips(&good, 100).await;
        let mut ends = Vec::new();
        for s in silent {
            ends.extend(s.await.unwrap());
        }
        assert!(ends.iter().all(|e| e.closed_by_target()), "{ends:?}");
        wait_until(
            "every admitted hostile counted failed",
            Duration::from_secs(10),
            || {
                let s = switch.stats();
                s.failed + s.added == s.accepted
            },
        )
        .await;
        let stats = switch.stats();
        assert_eq!(stats.accepted + stats.refused_total(), 101, "{stats:?}");
        assert!(stats.refused(Refusal::TooManyHandshakes) > 0, "{stats:?}");
        assert_eq!(stats.failed, stats.accepted - 1);
        // Once the deadlines freed the slots, a new peer gets in.
        let (late, _) = good_peer(2, ip(127, 0, 0, 6), &switch).await;
        round_trip(&late, 0).await;
        assert!(log(&shared).removed.is_empty());
        late.close().await.unwrap();
        let fds_after = fds_return_to(fds_before).await;
        assert!(
            fds_after <= fds_before,
            "fds: {fds_before} before, {fds_after} after"
        );
        println!(
            "distributed: accepted {}, refused too-many-handshakes {}, round trips {}",
            stats.accepted,
            stats.refused(Refusal::TooManyHandshakes),
            percentiles(attacked)
        );
        switch.stop().await;
    });
}

/// A hostile listener the switch dials: accepts one connection and runs
/// the handshake as `me`; the connection stays open until dropped.
async fn hostile_listener(
    me: Identity,
    at: IpAddr,
) -> (SocketAddr, tokio::task::JoinHandle<Option<HostilePeer>>) {
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(at, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
            .await
            .ok()?
            .ok()?;
        HostilePeer::handshake(stream, &me, Duration::from_secs(10))
            .await
            .ok()
    });
    (addr, task)
}

fn handshake_refused(reason: NodeInfoError) -> DialError {
    DialError::Handshake(Disconnect::Session(CloseReason::NodeInfo(reason)))
}

#[test]
fn identity_lies_are_refused_with_typed_reasons() {
    let _serial = serial();
    runtime().block_on(async {
        let (switch, shared) = start_switch(true, |_| {}).await;
        let target = switch.local_addr().unwrap();
        let other = NodeKey::from_seed([77; 32]).node_id();

        // Inbound: authenticated as one key, NodeInfo claiming another ID.
        let mut liar = Identity::new(21, NETWORK, &channel_ids());
        liar.claimed_id = Some(other);
        let mut h = HostilePeer::connect(ip(127, 0, 0, 7), target, &liar, Duration::from_secs(15))
            .await
            .expect("the handshake itself completes");
        assert!(
            h.wait_closed(Duration::from_secs(10)).await.is_some(),
            "liar kept"
        );
        wait_until("the failed attempt", Duration::from_secs(15), || {
            switch.stats().failed == 1
        })
        .await;

        // Outbound: the same lie from a node we dial.
        let (addr, task) = hostile_listener(liar.clone(), ip(127, 0, 0, 9)).await;
        let dialed = NetAddr::new(liar.node_id(), addr.ip(), addr.port());
        let err = switch.dial(dialed).await.unwrap_err();
        assert_eq!(err, handshake_refused(NodeInfoError::IdMismatch));
        drop(task.await.unwrap());

        // Outbound: an honest node, but not the one we meant to dial.
        let honest = Identity::new(22, NETWORK, &channel_ids());
        let (addr, task) = hostile_listener(honest, ip(127, 0, 0, 9)).await;
        let err = switch
            .dial(NetAddr::new(other, addr.ip(), addr.port()))
            .await
            .unwrap_err();
        assert_eq!(err, handshake_refused(NodeInfoError::DialedIdMismatch));
        drop(task.await.unwrap());
        assert!(log(&shared).added.is_empty());
        switch.stop().await;

        // Plaintext: the ID is whatever the NodeInfo claims; a dial still
        // refuses a claim that is not the dialled ID.
        let (plain, shared) = start_switch(false, |_| {}).await;
        let mut claimant = Identity::new(23, NETWORK, &channel_ids());
        claimant.encrypted = false;
        claimant.claimed_id = Some(other);
        let (addr, task) = hostile_listener(claimant.clone(), ip(127, 0, 0, 9)).await;
        let dialed = NetAddr::new(claimant.node_id(), addr.ip(), addr.port());
        let err = plain.dial(dialed).await.unwrap_err();
        assert_eq!(err, handshake_refused(NodeInfoError::DialedIdMismatch));
        drop(task.await.unwrap());
        // Inbound plaintext claiming the switch's own ID.
        claimant.claimed_id = Some(plain.node_id());
        let mut h = HostilePeer::connect(
            ip(127, 0, 0, 7),
            plain.local_addr().unwrap(),
            &claimant,
            Duration::from_secs(15),
        )
        .await
        .expect("plaintext handshake");
        assert!(h.wait_closed(Duration::from_secs(10)).await.is_some());
        assert!(log(&shared).added.is_empty());
        plain.stop().await;
    });
}

/// Connects a hostile peer, waits until the switch added it, sends `attack`;
/// returns the peer, its ID and what was sent.
async fn attack(
    switch: &Switch,
    shared: &Shared,
    seed: u8,
    attack: &Attack,
) -> (HostilePeer, NodeId, hostile::Sent) {
    let me = Identity::new(seed, NETWORK, &channel_ids());
    let id = me.node_id();
    let target = switch.local_addr().unwrap();
    let mut h = HostilePeer::connect(ip(127, 0, 0, 7), target, &me, Duration::from_secs(15))
        .await
        .expect("hostile handshake");
    wait_until("the hostile peer added", Duration::from_secs(10), || {
        log(shared).added.contains(&id)
    })
    .await;
    let sent = h.attack(attack).await;
    (h, id, sent)
}

async fn removed_reason(shared: &Shared, id: NodeId) -> DisconnectReason {
    wait_until("the hostile peer removed", Duration::from_secs(20), || {
        log(shared).removed.contains_key(&id)
    })
    .await;
    log(shared).removed[&id]
}

#[test]
fn crafted_input_after_the_handshake_is_cut_with_typed_reasons() {
    let _serial = serial();
    runtime().block_on(async {
        let (switch, shared) = start_switch(true, |_| {}).await;
        let (good, _) = good_peer(1, ip(127, 0, 0, 3), &switch).await;
        let quiet = round_trips(&good, 200).await;
        let stop = Arc::new(AtomicBool::new(false));
        let exchanging = keep_exchanging(good.clone(), stop.clone());

        let cases = [
            (Attack::VarintOverflow, conn::CloseReason::VarintOverflow),
            (Attack::OversizedPacket, conn::CloseReason::PacketTooLarge),
            (
                Attack::Message {
                    channel: 0x99,
                    data: b"nobody owns this".to_vec(),
                },
                conn::CloseReason::UnknownChannel(0x99),
            ),
            (
                Attack::OverCapacity {
                    channel: 0x00,
                    capacity: 64_000,
                },
                conn::CloseReason::MessageTooLarge(0x00),
            ),
            (
                Attack::PingFlood {
                    per_second: 100_000,
                    duration: Duration::from_secs(2),
                },
                conn::CloseReason::PingFlood,
            ),
            // Protobuf (and CometBFT) would keep the last member; no encoder
            // writes two, so we cut the peer.
            (
                Attack::TwoOneofFields {
                    channel: 0x30,
                    data: b"last member wins".to_vec(),
                },
                conn::CloseReason::SeveralPacketTypes,
            ),
        ];
        let mut lines = Vec::new();
        for (i, (input, expected)) in cases.iter().enumerate() {
            let (mut h, id, sent) = attack(&switch, &shared, 30 + i as u8, input).await;
            let reason = removed_reason(&shared, id).await;
            assert_eq!(
                reason,
                DisconnectReason::Session(CloseReason::Conn(*expected))
            );
            assert!(h.wait_closed(Duration::from_secs(10)).await.is_some());
            lines.push(format!("{expected}: sent {} bytes", sent.bytes));
        }

        stop.store(true, Ordering::Relaxed);
        let attacked = exchanging.await.unwrap();
        assert!(good.disconnect_reason().is_none());
        for l in lines {
            println!("crafted: {l}");
        }
        println!("crafted: round trips quiet {}", percentiles(quiet));
        println!(
            "crafted: round trips under attack {}",
            percentiles(attacked)
        );
        switch.stop().await;
    });
}

/// Samples the process's peak RSS every 2 ms (for at most 60 s) until
/// stopped.
struct PeakRss {
    before: usize,
    sampling: Arc<AtomicBool>,
    sampler: std::thread::JoinHandle<usize>,
}

impl PeakRss {
    fn start() -> Self {
        let before = rss_bytes();
        let sampling = Arc::new(AtomicBool::new(true));
        let flag = sampling.clone();
        let sampler = std::thread::spawn(move || {
            let mut peak = before;
            for _ in 0..30_000 {
                if !flag.load(Ordering::Relaxed) {
                    break;
                }
                peak = peak.max(rss_bytes());
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        });
        PeakRss {
            before,
            sampling,
            sampler,
        }
    }

    /// Stops sampling; how far the RSS rose above where it started.
    fn stop(self) -> usize {
        self.sampling.store(false, Ordering::Relaxed);
        self.sampler.join().unwrap().saturating_sub(self.before)
    }
}

/// The attack: half-finished messages on all ten CometBFT channels
/// (127 MB of capacities together). The peer tries to send 64 MiB of them;
/// the switch cuts it at the partial-message budget, and the process's
/// memory grows by about that budget, not by what the channels would allow.
#[test]
fn half_finished_messages_on_every_channel_are_cut_within_the_budget() {
    let _serial = serial();
    runtime().block_on(async {
        let (switch, shared) = start_switch(true, |_| {}).await;
        let (good, _) = good_peer(1, ip(127, 0, 0, 3), &switch).await;
        round_trips(&good, 50).await;
        let rss = PeakRss::start();
        let channels: Vec<(u8, usize)> = COMETBFT_CHANNELS
            .iter()
            .map(|c: &ChannelConfig| (c.id, c.recv_message_capacity))
            .collect();
        let tried = 64 * MIB;
        let input = Attack::HalfFinished {
            channels,
            max_bytes: tried,
        };
        let (mut h, id, sent) = attack(&switch, &shared, 50, &input).await;
        let reason = removed_reason(&shared, id).await;
        assert!(h.wait_closed(Duration::from_secs(10)).await.is_some());
        let grown = rss.stop();
        assert_eq!(
            reason,
            DisconnectReason::Session(CloseReason::Conn(conn::CloseReason::PartialBudget))
        );
        assert!(
            sent.cut && sent.bytes < tried,
            "sent {} of {tried}",
            sent.bytes
        );
        // Round robin over ten channels is cut once 9/10 of what it holds
        // exceeds the budget (≈ 4.4 MiB held); growable buffers may double
        // that, plus buffers in flight. Without the budget it would hold 64 MiB.
        let bound = 3 * DEFAULT_PARTIAL_BUDGET + 16 * MIB;
        assert!(grown < bound, "RSS grew {grown} bytes (bound {bound})");
        round_trip(&good, 1).await;
        println!(
            "half-finished: cut after {:.1} MiB sent (of {} MiB tried); peak RSS +{:.1} MiB \
             (bound {} MiB)",
            sent.bytes as f64 / MIB as f64,
            tried / MIB,
            grown as f64 / MIB as f64,
            bound / MIB
        );
        switch.stop().await;
    });
}

/// Four peers each start one huge message on the blocksync channel (which
/// the per-connection budget lets grow to its 100 MB capacity, as it must
/// for real blocks) and never finish it: without a node-wide bound they
/// would pin 4 × 32 MiB. With a 16 MiB node budget every one of them is cut
/// with `NodePartialBudget` once the node is full and it holds more than
/// its share, memory stays near the budget, the good peer keeps
/// exchanging, and the pool is empty again afterwards.
#[test]
fn half_finished_messages_from_many_peers_share_the_node_budget() {
    let _serial = serial();
    runtime().block_on(async {
        let budget = 16 * MIB;
        let (switch, shared) = start_switch(true, |c| c.node_partial_budget = budget).await;
        let (good, _) = good_peer(1, ip(127, 0, 0, 3), &switch).await;
        round_trips(&good, 50).await;
        let rss = PeakRss::start();
        let blocksync = COMETBFT_CHANNELS.iter().find(|c| c.id == 0x40).unwrap();
        let tried = 32 * MIB;
        let input = Attack::HalfFinished {
            channels: vec![(0x40, blocksync.recv_message_capacity)],
            max_bytes: tried,
        };
        let (a, b, c, d) = tokio::join!(
            attack(&switch, &shared, 60, &input),
            attack(&switch, &shared, 61, &input),
            attack(&switch, &shared, 62, &input),
            attack(&switch, &shared, 63, &input),
        );
        let mut sent_total = 0;
        for (mut h, id, sent) in [a, b, c, d] {
            let reason = removed_reason(&shared, id).await;
            assert_eq!(
                reason,
                DisconnectReason::Session(CloseReason::Conn(conn::CloseReason::NodePartialBudget))
            );
            assert!(
                sent.cut && sent.bytes < tried,
                "sent {} of {tried}",
                sent.bytes
            );
            assert!(h.wait_closed(Duration::from_secs(10)).await.is_some());
            sent_total += sent.bytes;
        }
        let grown = rss.stop();
        // Growable buffers may double what is held, plus socket batches.
        let bound = 2 * budget + 16 * MIB;
        assert!(grown < bound, "RSS grew {grown} bytes (bound {bound})");
        round_trip(&good, 1).await;
        let pool = switch.node_config().partial_pool.clone().unwrap();
        wait_until("the pool emptied", Duration::from_secs(10), || {
            (pool.used(), pool.members()) == (0, 1)
        })
        .await;
        println!(
            "node budget: 4 peers cut after {:.1} MiB sent together (of {} MiB tried); \
             peak RSS +{:.1} MiB (budget {} MiB)",
            sent_total as f64 / MIB as f64,
            4 * tried / MIB,
            grown as f64 / MIB as f64,
            budget / MIB
        );
        switch.stop().await;
    });
}

/// A peer that stops reading (its application never receives, so its
/// receive window closes and TCP backs up): our graceful close cannot
/// flush, `stop` cuts it after the linger time — and the reactor still
/// hears `remove_peer` for it before its own `stop`.
#[test]
fn stop_tells_reactors_of_a_peer_it_had_to_cut() {
    let _serial = serial();
    runtime().block_on(async {
        let (switch, shared) = start_switch(true, |_| {}).await;
        let (stuck, _) = good_peer(9, ip(127, 0, 0, 9), &switch).await;
        let id = NodeKey::from_seed([9; 32]).node_id();
        wait_until("the peer added", Duration::from_secs(10), || {
            log(&shared).added.contains(&id)
        })
        .await;
        let ours = switch.peers().get(&id).cloned().expect("a peer");
        // Fill everything between us and its application: our send queue,
        // both socket buffers, its receive window (bounded: 4,000 × 16 KiB).
        let msg = vec![0x5a; 16 * 1024];
        let mut blocked = false;
        for _ in 0..4_000 {
            let send = tokio::time::timeout(Duration::from_millis(500), ours.send(ECHO, &msg));
            if send.await.is_err() {
                blocked = true;
                break;
            }
        }
        assert!(blocked, "the peer kept taking 64 MiB without reading");
        switch.stop().await;
        assert!(
            log(&shared).removed.contains_key(&id),
            "the reactor was stopped without hearing of the cut peer"
        );
        drop(stuck);
    });
}
