//! The switch beside CometBFT's `p2p.Switch`, each in its own process.
//!
//! * Broadcast: one hub switch and `LEAVES` leaf switches in one process
//!   (ours: this binary re-executed as `__mconn-switch-bcast`, `mconn-tokio`
//!   on a multi-thread runtime with 2 workers; CometBFT: the interop
//!   harness's bench role `switch-bcast`, `p2p.Switch` +
//!   `p2p.MultiplexTransport`). The hub
//!   broadcasts `COUNT` 1 KiB messages on one channel, each carrying its
//!   sequence number and send time, waiting for each broadcast to be queued
//!   for every peer before the next; every leaf records each arrival.
//! * Memory: a hub switch process (ours: `__mconn-switch-hub`; CometBFT:
//!   `switch-hub`) accepts N authenticated peers from the Go swarm (the same
//!   dialers for both), measured as in [`crate::peers`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mconn::identity::NodeKey;
use mconn::switch::{ChannelDescriptor, SwitchConfig};
use mconn_driver::switch::Reactor;
use mconn_tokio::{NodeConfig, Switch, SwitchPeer, Tokio};
use serde::{Deserialize, Serialize};

use crate::chans::{random32, BULK};
use crate::gobench::{spawn_exe, Go, GoConf, Proc};
use crate::peers::{self, PeersResult};
use crate::stats::{percentile, Figure};

/// The broadcast channel (the Go swarm's bulk channel, so it shares it).
const CH: u8 = BULK;
/// Message size on the wire (CometBFT: a `BytesValue` of 1021 bytes).
const SIZE: usize = 1024;
/// Send queue of the channel, in messages, on both sides.
const SEND_QUEUE: usize = 100;
/// Bound on every wait for peers or deliveries.
const PATIENCE: Duration = Duration::from_secs(60);

/// One broadcast run, as printed by either child (same field names).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct BcastResult {
    /// Broadcasts the hub made.
    pub broadcasts: u64,
    /// Per-peer sends that failed (queue full for the send timeout, or closed).
    pub failed: u64,
    /// Messages that arrived at leaves.
    pub delivered: u64,
    /// Leaves × broadcasts.
    pub expected: u64,
    /// Broadcasts completed per second (queued for every peer).
    pub hub_per_sec: f64,
    /// Deliveries per second, all leaves together, first send to last arrival.
    pub delivered_per_sec: f64,
    /// Median send-to-arrival time, ms.
    pub p50_ms: f64,
    /// 99th percentile send-to-arrival time, ms.
    pub p99_ms: f64,
    /// Largest send-to-arrival time, ms.
    pub max_ms: f64,
}

/// What every leaf of one process shares: the clock origin and totals.
struct Tally {
    base: Instant,
    delivered: AtomicU64,
    last_ns: AtomicU64,
}

impl Tally {
    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

/// One leaf's record: the shared tally and its own latencies (ns).
struct Recording {
    tally: Arc<Tally>,
    lat: Arc<Mutex<Vec<u64>>>,
}

/// The test reactor: owns [`CH`]; on a leaf it records every arrival.
struct Bench {
    record: Option<Recording>,
}

impl Reactor<Tokio> for Bench {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(CH, 1)
            .send_queue(SEND_QUEUE)
            .recv_message_capacity(1 << 20)]
    }

    async fn receive(&mut self, _channel: u8, _peer: &SwitchPeer, msg: Vec<u8>) {
        let Some(Recording { tally, lat }) = &self.record else {
            return;
        };
        let Some(sent) = msg.get(8..16).and_then(|b| b.try_into().ok()) else {
            return;
        };
        let now = tally.now_ns();
        let sent = u64::from_le_bytes(sent);
        if let Ok(mut v) = lat.lock() {
            v.push(now.saturating_sub(sent));
        }
        tally.delivered.fetch_add(1, Ordering::Relaxed);
        tally.last_ns.fetch_max(now, Ordering::Relaxed);
    }
}

/// A switch policy with room for `inbound` peers, all from 127.0.0.1, and
/// `handshakes` in flight at once.
pub(crate) fn config(node: &NodeConfig, inbound: usize, handshakes: usize) -> SwitchConfig {
    let mut c = SwitchConfig::new(node.key.node_id());
    c.allow_duplicate_ip = true;
    c.max_inbound = inbound.max(c.max_inbound);
    c.max_handshakes = handshakes;
    c.max_handshakes_per_ip = c.max_handshakes;
    c.max_connections = c.max_inbound + c.max_outbound + c.max_handshakes + 64;
    c.max_connections_per_ip = c.max_connections;
    c
}

/// Starts a switch with the bench reactor; listens on loopback if `listen`;
/// `io_buf` overrides the adapter's I/O batch size.
async fn start(
    inbound: usize,
    listen: bool,
    io_buf: Option<usize>,
    record: Option<Recording>,
) -> Result<Switch, String> {
    let mut node = NodeConfig::new(NodeKey::from_seed(random32()), "mconn-bench", &[]);
    if let Some(b) = io_buf {
        node.io_buffer = b;
    }
    let cfg = config(&node, inbound, 128);
    let mut b = Switch::builder(node, cfg)
        .reactor(Bench { record })
        .map_err(|e| e.to_string())?;
    if listen {
        b = b.listen("127.0.0.1:0".parse().expect("loopback"));
    }
    b.start().await.map_err(|e| e.to_string())
}

/// Waits (bounded) until `s` has `n` peers; returns how many it has.
async fn wait_peers(s: &Switch, n: usize) -> usize {
    let deadline = Instant::now() + PATIENCE;
    while s.peers().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.peers().len()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// One broadcast run in this process: a flood (`pace` zero) or one
/// broadcast every `pace`.
async fn broadcast(leaves: usize, count: usize, pace: Duration) -> Result<BcastResult, String> {
    let tally = Arc::new(Tally {
        base: Instant::now(),
        delivered: AtomicU64::new(0),
        last_ns: AtomicU64::new(0),
    });
    let hub = start(leaves, true, None, None).await?;
    let addr = hub.net_addr().ok_or("hub has no address")?;
    let mut lats = Vec::with_capacity(leaves);
    let mut switches = Vec::with_capacity(leaves);
    for _ in 0..leaves {
        let lat = Arc::new(Mutex::new(Vec::with_capacity(count)));
        switches.push(
            start(
                0,
                false,
                None,
                Some(Recording {
                    tally: tally.clone(),
                    lat: lat.clone(),
                }),
            )
            .await?,
        );
        lats.push(lat);
    }
    for r in futures::future::join_all(switches.iter().map(|s| s.dial(addr))).await {
        r.map_err(|e| format!("leaf dial: {e}"))?;
    }
    let got = wait_peers(&hub, leaves).await;
    if got != leaves {
        return Err(format!("hub has {got} of {leaves} peers"));
    }

    let mut msg = vec![0u8; SIZE];
    for (i, b) in msg.iter_mut().enumerate() {
        *b = i as u8;
    }
    let mut failed = 0u64;
    let start = tally.now_ns();
    let t0 = tokio::time::Instant::now();
    for seq in 0..count as u64 {
        if !pace.is_zero() {
            tokio::time::sleep_until(t0 + pace * seq as u32).await;
        }
        msg[..8].copy_from_slice(&seq.to_le_bytes());
        msg[8..16].copy_from_slice(&tally.now_ns().to_le_bytes());
        let b = hub.broadcast(CH, &msg).await;
        failed += leaves.saturating_sub(b.queued) as u64;
    }
    let hub_done = tally.now_ns();
    let expected = (leaves * count) as u64;
    let deadline = Instant::now() + PATIENCE;
    while tally.delivered.load(Ordering::Relaxed) + failed < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut all: Vec<f64> = Vec::with_capacity(leaves * count);
    for l in &lats {
        if let Ok(v) = l.lock() {
            all.extend(v.iter().map(|&ns| ns as f64 / 1e6));
        }
    }
    all.sort_by(f64::total_cmp);
    let delivered = tally.delivered.load(Ordering::Relaxed);
    let last = tally.last_ns.load(Ordering::Relaxed);
    Ok(BcastResult {
        broadcasts: count as u64,
        failed,
        delivered,
        expected,
        hub_per_sec: count as f64 / ((hub_done - start) as f64 / 1e9),
        delivered_per_sec: delivered as f64 / (last.saturating_sub(start) as f64 / 1e9),
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        max_ms: all.last().copied().unwrap_or(f64::NAN),
    })
}

/// The `__mconn-switch-bcast LEAVES COUNT PACE_US` child: one run, one JSON line.
pub fn bcast_main(leaves: usize, count: usize, pace: Duration) -> ! {
    match runtime().block_on(broadcast(leaves, count, pace)) {
        Ok(r) => {
            println!("{}", serde_json::to_string(&r).expect("JSON"));
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("mconn switch-bcast: {e}");
            std::process::exit(1)
        }
    }
}

/// The `__mconn-switch-hub N IO_BUF` child: a listening switch; reports
/// when it has N peers (or gives up waiting), then idles until stdin closes.
pub fn hub_main(n: usize, io_buf: usize) -> ! {
    runtime().block_on(async move {
        let hub = match start(n, true, Some(io_buf), None).await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("mconn switch-hub: {e}");
                std::process::exit(1)
            }
        };
        println!("listening {}", hub.local_addr().expect("listening"));
        let got = wait_peers(&hub, n).await;
        println!("{{\"connected\":{got}}}");
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        })
        .await
        .ok();
    });
    std::process::exit(0)
}

/// Reads a child's result line and checks every message arrived.
fn finish_bcast(mut p: Proc) -> Result<BcastResult, String> {
    let v = p.json()?;
    let r: BcastResult = serde_json::from_value(v.clone()).map_err(|e| format!("{e}: {v}"))?;
    if r.failed > 0 || r.delivered != r.expected {
        return Err(format!(
            "{} of {} delivered, {} sends failed",
            r.delivered, r.expected, r.failed
        ));
    }
    Ok(r)
}

/// Our broadcast run.
fn mconn_bcast(leaves: usize, count: usize, pace: Duration) -> Result<BcastResult, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let args = [
        "__mconn-switch-bcast".to_string(),
        leaves.to_string(),
        count.to_string(),
        pace.as_micros().to_string(),
    ];
    finish_bcast(spawn_exe(&exe, &args)?)
}

/// CometBFT's broadcast run with `conf`'s rate caps and flush throttle.
fn cometbft_bcast(
    go: &Go,
    leaves: usize,
    count: usize,
    pace: Duration,
    conf: GoConf,
) -> Result<BcastResult, String> {
    let mut args = vec![
        "-role".to_string(),
        "switch-bcast".into(),
        "-n".into(),
        leaves.to_string(),
        "-count".into(),
        count.to_string(),
        "-size".into(),
        SIZE.to_string(),
        "-pace".into(),
        format!("{}us", pace.as_micros()),
    ];
    args.extend(conf.args());
    finish_bcast(go.spawn(&[], &args)?)
}

/// Our hub (`io_buf`-byte I/O batches) with `n` idle peers from the Go swarm.
fn mconn_idle(go: &Go, n: usize, idle: Duration, io_buf: usize) -> Result<PeersResult, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let args = [
        "__mconn-switch-hub".into(),
        n.to_string(),
        io_buf.to_string(),
    ];
    let mut hub = spawn_exe(&exe, &args)?;
    let addr = hub.listening()?;
    peers::measure(go, hub, &addr, n, idle)
}

/// CometBFT's hub (node defaults) with `n` idle peers from the Go swarm.
fn cometbft_idle(go: &Go, n: usize, idle: Duration) -> Result<PeersResult, String> {
    let mut args = vec![
        "-role".to_string(),
        "switch-hub".into(),
        "-n".into(),
        n.to_string(),
    ];
    args.extend(GoConf::DEFAULTS.args());
    let mut hub = go.spawn(&[], &args)?;
    let addr = hub.listening()?;
    peers::measure(go, hub, &addr, n, idle)
}

/// A system under test and its samples.
struct Row<'a, T> {
    system: &'static str,
    config: String,
    run: Box<dyn Fn() -> Result<T, String> + 'a>,
    samples: Vec<T>,
    error: Option<String>,
}

impl<'a, T> Row<'a, T> {
    fn new(system: &'static str, config: String, run: impl Fn() -> Result<T, String> + 'a) -> Self {
        Row {
            system,
            config,
            run: Box::new(run),
            samples: Vec::new(),
            error: None,
        }
    }
}

/// Runs every row `runs` times, interleaved (round r runs each row once).
fn interleave<T: std::fmt::Debug>(rows: &mut [Row<'_, T>], runs: usize, what: &str) {
    for round in 0..runs {
        for row in rows.iter_mut() {
            match (row.run)() {
                Ok(v) => {
                    eprintln!(
                        "[{}/{runs}] switch {what} · {} · {}: {v:?}",
                        round + 1,
                        row.system,
                        row.config
                    );
                    row.samples.push(v);
                }
                Err(e) => {
                    eprintln!("switch {what} {} {}: {e}", row.system, row.config);
                    row.error = Some(e);
                }
            }
        }
    }
}

/// A metric: name, whether higher is better, and how to read it.
type Metric<T> = (&'static str, bool, fn(&T) -> f64);

/// Figures for each row and metric (`get`, `higher`), or a skipped row.
fn to_figures<T>(rows: &[Row<'_, T>], case: &str, metrics: &[Metric<T>]) -> Vec<Figure> {
    let mut figs = Vec::new();
    for row in rows {
        if row.samples.is_empty() {
            let why = row.error.clone().unwrap_or_else(|| "no runs".into());
            figs.push(Figure::skipped(
                "switch",
                case,
                row.system,
                &row.config,
                &why,
            ));
            continue;
        }
        for (metric, higher, get) in metrics {
            figs.push(Figure::new(
                "switch",
                case,
                row.system,
                &row.config,
                metric,
                *higher,
                row.samples.iter().map(get).collect(),
            ));
        }
    }
    figs
}

/// The switch scenario: broadcast (`leaves` peers, `count` messages) and
/// memory (`idle_peers` idle peers), `runs` interleaved runs each.
pub fn figures(go: Option<&Go>, quick: bool, runs: usize, idle_peers: usize) -> Vec<Figure> {
    let leaves = 50;
    let ours = "mconn-tokio defaults, multi-thread runtime (2 workers)".to_string();
    let flood = if quick { 500 } else { 5_000 };
    let paced = if quick { 50 } else { 300 };
    let pace = Duration::from_millis(10);
    let mut figs = Vec::new();
    for (count, pace) in [(flood, Duration::ZERO), (paced, pace)] {
        let mut rows = vec![Row::new("mconn", ours.clone(), move || {
            mconn_bcast(leaves, count, pace)
        })];
        if let Some(go) = go {
            for conf in [GoConf::DEFAULTS, GoConf::UNCAPPED] {
                rows.push(Row::new(
                    "cometbft",
                    format!("p2p.Switch, {}", conf.label()),
                    move || cometbft_bcast(go, leaves, count, pace, conf),
                ));
            }
        }
        interleave(&mut rows, runs, "broadcast");
        let latency: [Metric<BcastResult>; 2] = [
            ("p50 ms", false, |r| r.p50_ms),
            ("p99 ms", false, |r| r.p99_ms),
        ];
        if pace.is_zero() {
            let case = format!("broadcast 1 KiB to {leaves} peers, {count} back to back");
            let rates: [Metric<BcastResult>; 2] = [
                ("broadcasts/s", true, |r| r.hub_per_sec),
                ("delivered msgs/s", true, |r| r.delivered_per_sec),
            ];
            figs.extend(to_figures(
                &rows,
                &case,
                &[rates[0], rates[1], latency[0], latency[1]],
            ));
        } else {
            let case = format!(
                "broadcast 1 KiB to {leaves} peers, one every {} ms ({count})",
                pace.as_millis()
            );
            figs.extend(to_figures(&rows, &case, &latency));
        }
    }

    let idle = Duration::from_secs(if quick { 1 } else { 10 });
    let case = format!(
        "{idle_peers} idle peers on one switch, {} s idle window",
        idle.as_secs()
    );
    let Some(go) = go else {
        figs.push(Figure::skipped(
            "switch",
            &case,
            "-",
            "-",
            "needs Go (the peer swarm is CometBFT's code)",
        ));
        return figs;
    };
    let mut bufs = vec![peers::PEER_IO_BUF];
    if !quick {
        bufs.push(peers::SMALL_IO_BUF);
    }
    let mut rows: Vec<Row<'_, PeersResult>> = bufs
        .into_iter()
        .map(|b| {
            let config = format!("{ours}, 2 × {} KiB I/O buffers", b / 1024);
            Row::new("mconn", config, move || mconn_idle(go, idle_peers, idle, b))
        })
        .collect();
    rows.push(Row::new(
        "cometbft",
        "p2p.Switch, node defaults".to_string(),
        move || cometbft_idle(go, idle_peers, idle),
    ));
    interleave(&mut rows, runs, "idle peers");
    figs.extend(to_figures(
        &rows,
        &case,
        &[
            ("KiB/peer", false, |r: &PeersResult| r.kib_per_conn),
            ("idle CPU %", false, |r: &PeersResult| r.idle_cpu_pct),
        ],
    ));
    figs
}
