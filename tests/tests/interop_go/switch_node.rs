//! Our `Switch` (on tokio) against Go's `Switch` with the test reactor:
//! broadcasts both ways in both dial directions, our inbound limit against
//! N+1 Go nodes, and a persistent Go peer killed mid-stream, restarted on
//! the same address and key, and redialled.

use crate::go::{GoPeer, Line};
use crate::scenarios::{
    args, check_go_received, go_channels, go_id, hex, our_key, report, report_entry, Chan, GO_SALT,
    GO_SEED, MIB, NETWORK, OUR_MONIKER, OUR_SALT, OUR_VERSION, WAIT,
};
use crate::traffic::{bytes_value, content, sha256, unwrap_bytes_value, Plan};
use mconn::identity::{NetAddr, NodeId, NodeKey};
use mconn::switch::{
    Backoff, ChannelDescriptor, DisconnectReason, Refusal, SwitchConfig, SwitchStats,
};
use mconn_driver::switch::Reactor;
use mconn_tokio::{NodeConfig, Switch, SwitchPeer, Tokio};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{sleep, Instant};

/// What our test reactor saw, in order.
#[derive(Default)]
struct Log {
    /// (sender, connection number of that sender counted from 1, channel,
    /// payload).
    msgs: Vec<(NodeId, usize, u8, Vec<u8>)>,
    added: Vec<NodeId>,
    removed: Vec<(NodeId, DisconnectReason)>,
    /// Messages that were not a `BytesValue`.
    bad: usize,
}

type Shared = Arc<Mutex<Log>>;

impl Log {
    fn from(&self, id: NodeId) -> impl Iterator<Item = &(NodeId, usize, u8, Vec<u8>)> {
        self.msgs.iter().filter(move |m| m.0 == id)
    }
}

/// Records everything on its channels (the Go test reactor's
/// `BytesValue` messages, unwrapped).
struct Recorder {
    channels: Vec<ChannelDescriptor>,
    log: Shared,
}

impl Reactor<Tokio> for Recorder {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        self.channels.clone()
    }

    async fn add_peer(&mut self, peer: &SwitchPeer) {
        self.log.lock().unwrap().added.push(peer.id());
    }

    async fn remove_peer(&mut self, peer: &SwitchPeer, reason: DisconnectReason) {
        self.log.lock().unwrap().removed.push((peer.id(), reason));
    }

    async fn receive(&mut self, channel: u8, peer: &SwitchPeer, msg: Vec<u8>) {
        let mut log = self.log.lock().unwrap();
        let conn = log.added.iter().filter(|&&id| id == peer.id()).count();
        match unwrap_bytes_value(&msg) {
            Some(payload) => {
                let payload = payload.to_vec();
                log.msgs.push((peer.id(), conn, channel, payload));
            }
            None => log.bad += 1,
        }
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Our switch with one recording reactor on `chans`, listening on an
/// ephemeral loopback port.
async fn start_switch(config: SwitchConfig, chans: &[Chan], log: &Shared) -> Switch {
    let mut node = NodeConfig::new(our_key(), NETWORK, &[]);
    node.moniker = OUR_MONIKER.into();
    node.version = OUR_VERSION.into();
    let channels = chans
        .iter()
        .map(|c| {
            ChannelDescriptor::new(c.0, c.1)
                .send_queue(c.2)
                .recv_message_capacity(c.3)
        })
        .collect();
    let recorder = Recorder {
        channels,
        log: log.clone(),
    };
    Switch::builder(node, config)
        .reactor(recorder)
        .unwrap()
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .expect("our switch starts")
}

/// Polls `ready` every 5 ms for up to `limit`; whether it came true.
pub(crate) async fn wait_for(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        sleep(Duration::from_millis(5)).await;
    }
}

/// Waits (without blocking the runtime) for Go's event `ev`.
pub(crate) async fn go_event(go: &mut GoPeer, ev: &str) -> Value {
    let mut found = None;
    if !wait_for(WAIT, || {
        found = go.find(ev);
        found.is_some()
    })
    .await
    {
        go.fail(&format!("no {ev:?} event within {WAIT:?}"));
    }
    found.unwrap()
}

/// The non-zero refusal counters, e.g. `DuplicateId×1`, or `none`.
pub(crate) fn refusals(stats: &SwitchStats) -> String {
    let list: Vec<String> = Refusal::ALL
        .iter()
        .filter(|r| stats.refused(**r) > 0)
        .map(|r| format!("{r:?}×{}", stats.refused(*r)))
        .collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

pub(crate) fn our_id() -> String {
    our_key().node_id().to_string()
}

fn go_switch_args(chans: &[Chan], seed: &[u8; 32], extra: &[&str]) -> Vec<String> {
    let mut a = args(&[
        "-scenario",
        "switch",
        "-network",
        NETWORK,
        "-channels",
        &go_channels(chans),
        "-peer-id",
        &our_id(),
        "-seed",
        &hex(seed),
        "-timeout",
        "30s",
    ]);
    a.extend(args(extra));
    a
}

/// Every message of `plan` (salt `salt`) by (channel, SHA-256), with its
/// index in its channel.
fn planned_index(plan: &Plan, salt: u64) -> BTreeMap<(u8, [u8; 32]), usize> {
    plan.0
        .iter()
        .flat_map(|(ch, lens)| {
            lens.iter()
                .enumerate()
                .map(move |(idx, &n)| ((*ch, sha256(&content(salt, *ch, idx, n))), idx))
        })
        .collect()
}

/// Checks what arrived from `from` against `plan` as a multiset (Go's
/// `Switch.Broadcast` does not keep the order of successive calls); returns
/// how many messages arrived after a later one of their channel.
fn check_unordered(go: &mut GoPeer, log: &Log, from: NodeId, plan: &Plan, salt: u64) -> usize {
    let index = planned_index(plan, salt);
    let arrival: Vec<(u8, [u8; 32])> = log.from(from).map(|m| (m.2, sha256(&m.3))).collect();
    let mut got = arrival.clone();
    got.sort();
    if !got.iter().eq(index.keys()) || log.bad != 0 {
        go.fail(&format!(
            "we received {} messages ({} not BytesValue) that are not the {} Go broadcast",
            got.len(),
            log.bad,
            index.len()
        ));
    }
    let mut highest: BTreeMap<u8, usize> = BTreeMap::new();
    let mut overtaken = 0;
    for key in arrival {
        let idx = index[&key];
        let top = highest.entry(key.0).or_insert(idx);
        if idx < *top {
            overtaken += 1;
        }
        *top = (*top).max(idx);
    }
    overtaken
}

// ---------------------------------------------------------------------------
// Scenario 7: broadcasts both ways.

pub fn broadcast(line: Line, go_dials: bool) {
    runtime().block_on(run_broadcast(line, go_dials));
}

async fn run_broadcast(line: Line, go_dials: bool) {
    // Go: 20 21 22; we: 21 22 30. Common: 21 22.
    let go_chans = [
        Chan(0x20, 6, 100, MIB),
        Chan(0x21, 10, 100, MIB),
        Chan(0x22, 7, 100, MIB),
    ];
    let our_chans = [
        Chan(0x21, 10, 100, MIB),
        Chan(0x22, 7, 100, MIB),
        Chan(0x30, 5, 10, MIB),
    ];
    let votes: Vec<usize> = (0..20).map(|i| 120 + 3 * i).collect();
    let plan = Plan(vec![
        (0x21, vec![1, 100, 1024, 5000, 65536, 200_000]),
        (0x22, votes),
    ]);
    let log = Shared::default();
    let switch = start_switch(SwitchConfig::new(our_key().node_id()), &our_chans, &log).await;
    let plan_arg = plan.arg();
    let extra = [
        "-broadcast",
        "-send",
        &plan_arg,
        "-send-salt",
        &GO_SALT.to_string(),
        "-recv",
        &plan_arg,
        "-recv-salt",
        &OUR_SALT.to_string(),
    ];
    let mut go_args = go_switch_args(&go_chans, &GO_SEED, &extra);
    let mut go = if go_dials {
        let addr = switch.local_addr().unwrap().to_string();
        go_args.extend(args(&["-connect", &addr]));
        GoPeer::spawn(line, "switch broadcast", &go_args)
    } else {
        go_args.push("-listen".into());
        let mut go = GoPeer::spawn(line, "switch broadcast", &go_args);
        let addr: SocketAddr = go_event(&mut go, "listening").await["addr"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        if let Err(e) = switch.dial(NetAddr::from_socket(go_id(), addr)).await {
            go.fail(&format!("our switch could not dial Go: {e:?}"));
        }
        go
    };
    if !wait_for(WAIT, || switch.peers().len() == 1).await {
        go.fail("Go was not added to our switch");
    }
    let peer = switch.peers().list()[0].clone();
    assert_eq!(peer.id(), go_id());
    assert_eq!(peer.is_outbound(), !go_dials);
    assert!(peer.has_channel(0x20) && !peer.has_channel(0x30));
    let skipped = switch.broadcast(0x30, b"Go has no 0x30").await;
    assert_eq!((skipped.queued, skipped.failed, skipped.skipped), (0, 0, 1));

    // Our broadcasts: one task per channel, each channel in order.
    let senders: Vec<_> = plan
        .0
        .iter()
        .map(|(ch, lens)| {
            let (switch, ch, lens) = (switch.clone(), *ch, lens.clone());
            tokio::spawn(async move {
                let mut queued = 0;
                for (idx, &n) in lens.iter().enumerate() {
                    let b = switch
                        .broadcast(ch, &bytes_value(&content(OUR_SALT, ch, idx, n)))
                        .await;
                    queued += b.queued;
                }
                queued
            })
        })
        .collect();
    let (total_msgs, total_bytes) = plan.totals();
    let mut queued = 0;
    for s in senders {
        queued += s.await.unwrap();
    }
    assert_eq!(queued, total_msgs, "every broadcast queued for Go");
    if !wait_for(WAIT, || {
        log.lock().unwrap().from(go_id()).count() >= total_msgs
    })
    .await
    {
        let got = log.lock().unwrap().from(go_id()).count();
        go.fail(&format!(
            "we received {got} of Go's {total_msgs} broadcasts"
        ));
    }
    let overtaken = check_unordered(&mut go, &log.lock().unwrap(), go_id(), &plan, GO_SALT);
    go_event(&mut go, "recv_done").await;
    let (msgs, bytes) = check_go_received(&mut go, &plan);

    let connected = go_event(&mut go, "connected").await;
    let expect = [
        ("remote_id", Value::from(our_id())),
        ("outbound", Value::from(go_dials)),
        ("moniker", Value::from(OUR_MONIKER)),
        ("channels", Value::from("212230")),
    ];
    for (k, v) in expect {
        if connected[k] != v {
            go.fail(&format!(
                "Go's view of us: {k} = {}, expected {v}",
                connected[k]
            ));
        }
    }
    switch.stop().await;
    let closed = go_event(&mut go, "closed").await;
    go.expect_clean_exit(WAIT);
    assert!(switch.peers().is_empty());
    let log = log.lock().unwrap();
    assert_eq!(log.added, vec![go_id()]);
    assert_eq!(log.removed.len(), 1);
    report(
        line,
        "our Switch vs Go Switch, broadcasts",
        go_dials,
        &format!(
            "ok; to Go {msgs} broadcasts / {bytes} bytes (in order per channel), from Go {total_msgs} / {total_bytes} (all, {overtaken} overtaken by a later one: Go broadcasts in goroutines); broadcast on the channel Go lacks skipped; we stopped, Go saw {}",
            closed["reason"]
        ),
    );
}

// ---------------------------------------------------------------------------
// Scenario 8: our inbound limit.

const INBOUND_LIMIT: usize = 2;

pub fn inbound_limit(line: Line) {
    runtime().block_on(run_inbound_limit(line));
}

async fn run_inbound_limit(line: Line) {
    let chans = [Chan(0x20, 1, 10, 1024)];
    let log = Shared::default();
    let mut config = SwitchConfig::new(our_key().node_id());
    config.max_inbound = INBOUND_LIMIT;
    config.allow_duplicate_ip = true; // every Go node is 127.0.0.1
    let switch = start_switch(config, &chans, &log).await;
    let addr = switch.local_addr().unwrap().to_string();
    // N+1 Go nodes dial us at once.
    let keys: Vec<[u8; 32]> = (0..=INBOUND_LIMIT).map(|i| [0x50 + i as u8; 32]).collect();
    let mut gos: Vec<GoPeer> = keys
        .iter()
        .enumerate()
        .map(|(i, seed)| {
            let a = go_switch_args(&chans, seed, &["-connect", &addr]);
            GoPeer::spawn(line, &format!("inbound node {i}"), &a)
        })
        .collect();
    let ids: Vec<NodeId> = keys
        .iter()
        .map(|s| NodeKey::from_seed(*s).node_id())
        .collect();
    let settled = wait_for(WAIT, || {
        switch.stats().refused(Refusal::TooManyInbound) >= 1
            && switch.peers().len() == INBOUND_LIMIT
    })
    .await;
    if !settled {
        let s = switch.stats();
        gos[0].fail(&format!(
            "expected {INBOUND_LIMIT} peers and a TooManyInbound refusal: {} peers, {s:?}",
            switch.peers().len()
        ));
    }
    let peers = switch.peers();
    let refused: Vec<usize> = (0..ids.len()).filter(|&i| !peers.has(&ids[i])).collect();
    assert_eq!(refused.len(), 1, "exactly one Go node is left out");
    let out = refused[0];
    // The refused one learns it (its connection ends); the others stay.
    let mut end = None;
    let gone = wait_for(WAIT, || {
        end = gos[out].find_any(&["closed", "rejected"]);
        end.is_some()
    })
    .await;
    if !gone {
        gos[out].fail("the refused Go node did not see its connection end");
    }
    let end = end.unwrap();
    for (i, go) in gos.iter_mut().enumerate().filter(|(i, _)| *i != out) {
        let connected = go_event(go, "connected").await;
        assert_eq!(connected["remote_id"], our_id().as_str(), "node {i}");
        if let Some(c) = go.find_any(&["closed", "rejected"]) {
            go.fail(&format!("an admitted Go node lost us: {c}"));
        }
    }
    let stats = switch.stats();
    assert_eq!(stats.refused(Refusal::TooManyInbound), 1);
    assert_eq!(stats.refused_total(), 1, "{stats:?}");
    assert_eq!(
        (stats.accepted, stats.added),
        (INBOUND_LIMIT as u64 + 1, INBOUND_LIMIT as u64)
    );
    assert_eq!(peers.num_inbound(), INBOUND_LIMIT);
    switch.stop().await;
    for go in &mut gos {
        go_event(go, "exit").await;
        go.expect_clean_exit(WAIT);
    }
    report_entry(
        line,
        "our Switch, max_inbound = 2, 3 Go nodes dial at once",
        &format!(
            "ok; {} added, 1 refused after its handshake (stats: accepted {}, added {}, refused TooManyInbound {}); the refused Go node saw {} {}",
            stats.added,
            stats.accepted,
            stats.added,
            stats.refused(Refusal::TooManyInbound),
            end["ev"],
            end["reason"]
        ),
    );
}

// ---------------------------------------------------------------------------
// Scenario 9: a persistent Go peer killed mid-stream, restarted, redialled.

pub fn persistent_redial(line: Line) {
    runtime().block_on(run_persistent_redial(line));
}

/// Messages we see from the first run before its process is killed.
const BEFORE_KILL: usize = 20;

async fn run_persistent_redial(line: Line) {
    let chans = [Chan(0x21, 5, 100, 4096)];
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let port_arg = port.to_string();
    let salt = GO_SALT.to_string();
    // First run: 400 messages, 10 ms apart (far longer than we wait).
    let stream = Plan(vec![(0x21, vec![1000; 400])]).arg();
    let first_args = go_switch_args(
        &chans,
        &GO_SEED,
        &[
            "-listen",
            "-port",
            &port_arg,
            "-send",
            &stream,
            "-send-salt",
            &salt,
            "-pace",
            "10ms",
        ],
    );
    let mut first = GoPeer::spawn(line, "persistent peer, first run", &first_args);
    go_event(&mut first, "listening").await;

    let go_addr: NetAddr = format!("{}@127.0.0.1:{port}", go_id()).parse().unwrap();
    let mut config = SwitchConfig::new(our_key().node_id());
    config.persistent_peers = vec![go_addr];
    config.persistent_start_jitter = Duration::ZERO;
    config.persistent_backoff = Backoff {
        first: Duration::from_millis(100),
        fast_cap: Duration::from_millis(400),
        jitter: Duration::from_millis(100),
        ..Backoff::default()
    };
    let log = Shared::default();
    let switch = start_switch(config, &chans, &log).await;
    let count = |conn: usize| {
        log.lock()
            .unwrap()
            .msgs
            .iter()
            .filter(|m| m.1 == conn)
            .count()
    };
    if !wait_for(WAIT, || count(1) >= BEFORE_KILL).await {
        first.fail(&format!(
            "received {} messages from the first run",
            count(1)
        ));
    }
    let peer = switch.peers().get(&go_id()).cloned().expect("Go is a peer");
    assert!(peer.is_persistent() && peer.is_outbound());
    first.kill();
    if !wait_for(WAIT, || switch.peers().is_empty()).await {
        panic!(
            "[{}] the killed Go peer stayed in our peer set",
            line.name()
        );
    }
    // Reactors hear of the removal from their own tasks, after the peer
    // left the set: wait for ours rather than assume it already ran.
    if !wait_for(WAIT, || !log.lock().unwrap().removed.is_empty()).await {
        panic!("[{}] our reactor was not told of the removal", line.name());
    }
    let (received, reason) = {
        let log = log.lock().unwrap();
        assert_eq!(log.removed.len(), 1);
        (log.msgs.len(), log.removed[0].1)
    };
    assert!(
        matches!(
            reason,
            DisconnectReason::Eof | DisconnectReason::SocketError
        ),
        "removed for {reason:?}"
    );
    assert!(received < 400, "the kill came mid-stream");
    // While it is down our redials fail (connection refused) and back off.
    if !wait_for(WAIT, || switch.stats().failed >= 1).await {
        panic!(
            "[{}] no redial while the peer was down: {:?}",
            line.name(),
            switch.stats()
        );
    }

    // Second run: same key, same address; a short burst.
    let burst = Plan(vec![(0x21, vec![1000; 5])]);
    let burst_arg = burst.arg();
    let second_args = go_switch_args(
        &chans,
        &GO_SEED,
        &[
            "-listen",
            "-port",
            &port_arg,
            "-send",
            &burst_arg,
            "-send-salt",
            &salt,
        ],
    );
    let mut second = GoPeer::spawn(line, "persistent peer, second run", &second_args);
    if !wait_for(WAIT, || switch.peers().has(&go_id()) && count(2) >= 5).await {
        let s = switch.stats();
        second.fail(&format!(
            "our switch did not redial the restarted peer: {s:?}, {} messages",
            count(2)
        ));
    }
    {
        let log = log.lock().unwrap();
        assert_eq!(log.added, vec![go_id(), go_id()]);
        for conn in [1, 2] {
            for (idx, m) in log.msgs.iter().filter(|m| m.1 == conn).enumerate() {
                assert!(
                    m.3 == content(GO_SALT, 0x21, idx, 1000),
                    "run {conn} message {idx} content"
                );
            }
        }
    }
    let connected = go_event(&mut second, "connected").await;
    assert_eq!(
        connected["outbound"], false,
        "we dialled the restarted node"
    );
    let stats = switch.stats();
    switch.stop().await;
    go_event(&mut second, "closed").await;
    second.expect_clean_exit(WAIT);
    report_entry(
        line,
        "persistent Go peer killed mid-stream, restarted",
        &format!(
            "ok; {received} of 400 messages in order before the kill, peer removed ({reason}), redials fail while it is down, it is redialled after the restart on the same address and key: 5 of 5 messages; switch stats: dialed {}, failed {}, added {}, removed {}",
            stats.dialed, stats.failed, stats.added, stats.removed
        ),
    );
}
