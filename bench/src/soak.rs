//! Soak mode (`--soak MINUTES`): one hub switch in its own process (this
//! binary re-executed as `__mconn-soak-hub`, measured through `/proc`), and
//! in this process `STABLE` peers that exchange a message with it every
//! 100 ms for the whole run plus `churn` peers that each loop: dial the hub,
//! exchange a few messages, disconnect (gracefully or by abort, at random),
//! wait a random short time. Every sample interval the hub prints its
//! counters and disconnect reasons; this side adds RSS, fds and CPU of the
//! hub process. Writes `soak.json` and `soak.svg`; fails if a stable peer
//! was disconnected, or if from just after warm-up (the first 20 % of the
//! run) to the end (the last 20 %) the median RSS grew by more than 30 % or
//! the median count of fds not held by peers grew beyond a slack.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mconn::identity::{NetAddr, NodeKey};
use mconn::switch::{ChannelDescriptor, DisconnectReason, Refusal};
use mconn_driver::switch::Reactor;
use mconn_tokio::{NodeConfig, Switch, SwitchPeer, Tokio};
use serde::{Deserialize, Serialize};

use crate::chans::random32;
use crate::gobench::{spawn_exe, Proc};
use crate::peers::{cpu_secs, raise_nofile, rss_kib};

/// The soak channel.
const CH: u8 = 0x70;
/// Peers that stay connected for the whole run.
const STABLE: usize = 20;
/// How often a stable peer sends.
const STABLE_PACE: Duration = Duration::from_millis(100);
/// Messages a churning peer sends per connection.
const CHURN_MSGS: usize = 3;
/// Message size.
const SIZE: usize = 256;
/// Share of the run that is warm-up.
const WARMUP: f64 = 0.2;
/// Allowed growth of the median RSS from just after warm-up to the end.
const RSS_GROWTH: f64 = 0.30;
/// Allowed growth of the median count of fds not held by peers.
const FD_SLACK: f64 = 8.0;

/// What the hub prints every interval (one JSON line).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HubLine {
    /// Peers connected now.
    pub peers: usize,
    /// Peers added so far.
    pub added: u64,
    /// Peers removed so far.
    pub removed: u64,
    /// Attempts refused so far.
    pub refused: u64,
    /// Attempts failed before the handshake completed.
    pub failed: u64,
    /// Messages the hub received.
    pub received: u64,
    /// Removals by reason (`Display` of the reason).
    pub reasons: BTreeMap<String, u64>,
    /// Refusals by reason (`Display` of the [`Refusal`]), those seen so far.
    #[serde(default)]
    pub refusals: BTreeMap<String, u64>,
}

/// One row of the soak table.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// Seconds since the start.
    pub t_s: f64,
    /// Hub RSS, KiB.
    pub rss_kib: u64,
    /// Hub open fds.
    pub fds: usize,
    /// Hub CPU since the previous sample, percent of one core.
    pub cpu_pct: f64,
    /// Successful dials by churning peers so far.
    pub dials: u64,
    /// Failed dials by churning peers so far.
    pub dial_failures: u64,
    /// Failed dials by error (`Display` of the error).
    pub dial_errors: BTreeMap<String, u64>,
    /// Stable peers disconnected so far.
    pub stable_down: usize,
    /// Echoes stable peers received so far.
    pub stable_echoes: u64,
    /// The hub's counters.
    pub hub: HubLine,
}

/// The hub's reactor: echoes every message and counts removal reasons.
struct Echo {
    received: Arc<AtomicU64>,
    reasons: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl Reactor<Tokio> for Echo {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(CH, 1).send_queue(16)]
    }

    async fn remove_peer(&mut self, _peer: &SwitchPeer, reason: DisconnectReason) {
        if let Ok(mut m) = self.reasons.lock() {
            *m.entry(reason.to_string()).or_default() += 1;
        }
    }

    async fn receive(&mut self, _channel: u8, peer: &SwitchPeer, msg: Vec<u8>) {
        self.received.fetch_add(1, Ordering::Relaxed);
        let _ = peer.try_send(CH, &msg);
    }
}

/// A leaf's reactor: counts echoes.
struct Count(Arc<AtomicU64>);

impl Reactor<Tokio> for Count {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(CH, 1).send_queue(16)]
    }

    async fn receive(&mut self, _channel: u8, _peer: &SwitchPeer, _msg: Vec<u8>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

async fn start(inbound: usize, listen: bool, r: impl Reactor<Tokio>) -> Result<Switch, String> {
    let node = NodeConfig::new(NodeKey::from_seed(random32()), "mconn-bench", &[]);
    // Room for churn: many handshakes at once.
    let cfg = crate::switch::config(&node, inbound, 256);
    let mut b = Switch::builder(node, cfg)
        .reactor(r)
        .map_err(|e| e.to_string())?;
    if listen {
        b = b.listen("127.0.0.1:0".parse().expect("loopback"));
    }
    b.start().await.map_err(|e| e.to_string())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The `__mconn-soak-hub PEERS INTERVAL_MS` child: a listening hub that
/// prints a [`HubLine`] every interval until killed.
pub fn hub_main(peers: usize, interval: Duration) -> ! {
    raise_nofile();
    runtime().block_on(async move {
        let received = Arc::new(AtomicU64::new(0));
        let reasons = Arc::new(Mutex::new(BTreeMap::new()));
        let echo = Echo {
            received: received.clone(),
            reasons: reasons.clone(),
        };
        let hub = match start(peers, true, echo).await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("mconn soak-hub: {e}");
                std::process::exit(1)
            }
        };
        match hub.net_addr() {
            Some(a) => println!("listening {a}"),
            None => {
                eprintln!("mconn soak-hub: no listen address");
                std::process::exit(1)
            }
        }
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            let s = hub.stats();
            let line = HubLine {
                peers: hub.peers().len(),
                added: s.added,
                removed: s.removed,
                refused: s.refused_total(),
                failed: s.failed,
                received: received.load(Ordering::Relaxed),
                reasons: reasons.lock().map(|m| m.clone()).unwrap_or_default(),
                refusals: Refusal::ALL
                    .iter()
                    .filter(|r| s.refused(**r) > 0)
                    .map(|r| (r.to_string(), s.refused(*r)))
                    .collect(),
            };
            println!("{}", serde_json::to_string(&line).expect("JSON"));
        }
    })
}

/// Open fds of a process.
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// A small xorshift for churn timing (not security relevant).
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let b = random32();
        Rng(u64::from_le_bytes(b[..8].try_into().expect("8 bytes")) | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Counters the churning peers share.
#[derive(Default)]
struct Churn {
    dials: AtomicU64,
    failures: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

/// One churning peer: connect, exchange, disconnect, pause, until `stop`.
async fn churner(leaf: Switch, addr: NetAddr, stop: Arc<AtomicBool>, c: Arc<Churn>) {
    let mut rng = Rng::new();
    let msg = vec![0x5a; SIZE];
    // Spread the first dials over a second.
    tokio::time::sleep(Duration::from_millis(rng.below(1000))).await;
    while !stop.load(Ordering::Relaxed) {
        match leaf.dial(addr).await {
            Ok(p) => {
                c.dials.fetch_add(1, Ordering::Relaxed);
                for _ in 0..CHURN_MSGS {
                    let _ = p.try_send(CH, &msg);
                    tokio::time::sleep(Duration::from_millis(10 + rng.below(40))).await;
                }
                if rng.below(2) == 0 {
                    leaf.stop_peer_gracefully(p.id());
                } else {
                    p.connection().abort();
                }
                let _ = tokio::time::timeout(Duration::from_secs(10), p.finished()).await;
            }
            Err(e) => {
                c.failures.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut m) = c.errors.lock() {
                    *m.entry(e.to_string()).or_default() += 1;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50 + rng.below(450))).await;
    }
}

/// One stable peer: a message every [`STABLE_PACE`] until `stop`.
async fn stable(p: SwitchPeer, stop: Arc<AtomicBool>) {
    let msg = vec![0xa5; SIZE];
    let mut tick = tokio::time::interval(STABLE_PACE);
    while !stop.load(Ordering::Relaxed) && p.disconnect_reason().is_none() {
        tick.tick().await;
        let _ = p.try_send(CH, &msg);
    }
}

/// Reads the hub's next line off the runtime's threads.
async fn next_line(hub: Proc) -> (Proc, Result<HubLine, String>) {
    tokio::task::spawn_blocking(move || {
        let mut hub = hub;
        let r = hub
            .line()
            .and_then(|l| serde_json::from_str(&l).map_err(|e| format!("{e}: {l}")));
        (hub, r)
    })
    .await
    .expect("reader thread")
}

/// Runs the soak for `minutes` with `churn` churning peers; writes
/// `soak.json` and `soak.svg` into `out`; returns the samples and the list
/// of failures (empty when the run passed).
pub fn run(minutes: f64, churn: usize, out: &Path) -> Result<(Vec<Sample>, Vec<String>), String> {
    let total = Duration::from_secs_f64(minutes * 60.0);
    let interval = if total <= Duration::from_secs(180) {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(5)
    };
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let args = [
        "__mconn-soak-hub".to_string(),
        (STABLE + churn).to_string(),
        interval.as_millis().to_string(),
    ];
    let mut hub = spawn_exe(&exe, &args)?;
    let pid = hub.pid();
    let target: NetAddr = hub
        .listening()?
        .parse()
        .map_err(|e| format!("hub address: {e}"))?;
    let samples = runtime().block_on(async move {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Churn::default());
        let echoes = Arc::new(AtomicU64::new(0));
        let mut stables = Vec::with_capacity(STABLE);
        let mut leaves = Vec::with_capacity(STABLE);
        for _ in 0..STABLE {
            let leaf = start(0, false, Count(echoes.clone())).await?;
            let p = leaf
                .dial(target)
                .await
                .map_err(|e| format!("stable dial: {e}"))?;
            stables.push(p);
            leaves.push(leaf);
        }
        for p in &stables {
            tokio::spawn(stable(p.clone(), stop.clone()));
        }
        let mut tasks = Vec::with_capacity(churn);
        for _ in 0..churn {
            let leaf = start(0, false, Count(Arc::new(AtomicU64::new(0)))).await?;
            tasks.push(tokio::spawn(churner(
                leaf,
                target,
                stop.clone(),
                counters.clone(),
            )));
        }

        let started = Instant::now();
        let mut samples = Vec::new();
        let mut cpu_prev = (started, cpu_secs(pid).unwrap_or(0.0));
        let mut hub = hub;
        while started.elapsed() + interval / 2 < total {
            let (h, line) = next_line(hub).await;
            hub = h;
            let line = line?;
            let now = Instant::now();
            let cpu = cpu_secs(pid).unwrap_or(cpu_prev.1);
            let dt = now.duration_since(cpu_prev.0).as_secs_f64().max(1e-3);
            let s = Sample {
                t_s: started.elapsed().as_secs_f64(),
                rss_kib: rss_kib(pid).unwrap_or(0),
                fds: fd_count(pid),
                cpu_pct: (cpu - cpu_prev.1) / dt * 100.0,
                dials: counters.dials.load(Ordering::Relaxed),
                dial_failures: counters.failures.load(Ordering::Relaxed),
                dial_errors: counters
                    .errors
                    .lock()
                    .map(|m| m.clone())
                    .unwrap_or_default(),
                stable_down: stables
                    .iter()
                    .filter(|p| p.disconnect_reason().is_some())
                    .count(),
                stable_echoes: echoes.load(Ordering::Relaxed),
                hub: line,
            };
            cpu_prev = (now, cpu);
            eprintln!("{}", row(&s));
            samples.push(s);
        }
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
        }
        if let Some(last) = samples.last() {
            for (e, n) in &last.dial_errors {
                eprintln!("churning dials that failed: {n} × {e}");
            }
        }
        for p in &stables {
            if let Some(r) = p.disconnect_reason() {
                eprintln!("stable peer {} disconnected: {r}", p.id());
            }
        }
        drop(leaves);
        drop(hub);
        Ok::<_, String>(samples)
    })?;
    let failures = verdict(&samples, churn);
    write(out, minutes, churn, &samples, &failures).map_err(|e| e.to_string())?;
    Ok((samples, failures))
}

/// Why the run failed (empty when it passed).
fn verdict(s: &[Sample], churn: usize) -> Vec<String> {
    let mut why = Vec::new();
    let Some(last) = s.last() else {
        return vec!["no samples".into()];
    };
    if last.stable_down > 0 {
        why.push(format!(
            "{} stable peers were disconnected",
            last.stable_down
        ));
    }
    if last.stable_echoes == 0 {
        why.push("stable peers got no echoes from the hub".into());
    }
    if churn > 0 && last.dials == 0 {
        why.push("no churning peer ever connected".into());
    }
    // A leak is a level that rises, not a spike: compare the median of the
    // window right after warm-up with the median of the last window.
    let (warm, end) = (last.t_s * WARMUP, last.t_s * (1.0 - WARMUP));
    let early: Vec<&Sample> = s
        .iter()
        .filter(|x| x.t_s >= warm && x.t_s < 2.0 * warm)
        .collect();
    let late: Vec<&Sample> = s.iter().filter(|x| x.t_s >= end).collect();
    let rss = |v: &[&Sample]| median(v.iter().map(|x| x.rss_kib as f64));
    let spare = |v: &[&Sample]| median(v.iter().map(|x| x.fds as f64 - x.hub.peers as f64));
    let (rss0, rss1) = (rss(&early), rss(&late));
    if rss1 > rss0 * (1.0 + RSS_GROWTH) {
        why.push(format!(
            "RSS grew from a median {rss0:.0} KiB after warm-up to {rss1:.0} KiB at the end (> {:.0} %)",
            RSS_GROWTH * 100.0
        ));
    }
    let (fd0, fd1) = (spare(&early), spare(&late));
    if fd1 > fd0 + FD_SLACK {
        why.push(format!(
            "fds not held by peers grew from a median {fd0:.0} after warm-up to {fd1:.0} at the end (slack {FD_SLACK})"
        ));
    }
    why
}

/// The median (NaN when empty; never true in a comparison).
fn median(v: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = v.collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// One table row.
fn row(s: &Sample) -> String {
    let reasons: Vec<String> = s
        .hub
        .reasons
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .chain(
            s.hub
                .refusals
                .iter()
                .map(|(k, v)| format!("refused, {k}: {v}")),
        )
        .collect();
    format!(
        "| {:>6.0} | {:>8.1} | {:>5} | {:>5.1} | {:>5} | {:>7} | {:>7} | {:>6} | {:>4} | {} |",
        s.t_s,
        s.rss_kib as f64 / 1024.0,
        s.fds,
        s.cpu_pct,
        s.hub.peers,
        s.hub.added,
        s.hub.removed,
        s.dial_failures,
        s.stable_down,
        reasons.join("; ")
    )
}

/// The Markdown table.
pub fn table(s: &[Sample]) -> String {
    let mut t = String::from(
        "|    t s |  RSS MiB |   fds | CPU % | peers |   added | removed | dial ✗ | stable ✗ | hub removals and refusals by reason |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for x in s {
        t.push_str(&row(x));
        t.push('\n');
    }
    t
}

fn write(
    out: &Path,
    minutes: f64,
    churn: usize,
    s: &[Sample],
    failures: &[String],
) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let json = serde_json::json!({
        "minutes": minutes,
        "stable": STABLE,
        "churn": churn,
        "passed": failures.is_empty(),
        "failures": failures,
        "samples": s,
    });
    std::fs::write(out.join("soak.json"), serde_json::to_string_pretty(&json)?)?;
    std::fs::write(out.join("soak.md"), table(s))?;
    std::fs::write(out.join("soak.svg"), svg(s, churn))
}

/// Four stacked line panels over time: RSS, fds, peers, CPU.
fn svg(s: &[Sample], churn: usize) -> String {
    use std::fmt::Write as _;
    type Get = fn(&Sample) -> f64;
    let panels: [(&str, Get); 4] = [
        ("hub RSS, MiB", |x| x.rss_kib as f64 / 1024.0),
        ("hub open fds", |x| x.fds as f64),
        ("peers connected to the hub", |x| x.hub.peers as f64),
        ("hub CPU, % of one core", |x| x.cpu_pct),
    ];
    let (w, ph, left, top) = (720.0, 120.0, 70.0, 40.0);
    let gap = 40.0;
    let h = top + panels.len() as f64 * (ph + gap);
    let t_max = s.last().map_or(1.0, |x| x.t_s).max(1.0);
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="{left}" y="20" font-size="14">mconn soak: {STABLE} stable + {churn} churning peers, {:.0} s</text>"#,
        t_max
    );
    let pw = w - left - 20.0;
    for (i, (name, get)) in panels.iter().enumerate() {
        let y0 = top + i as f64 * (ph + gap) + 16.0;
        let v_max = s.iter().map(get).fold(0.0f64, f64::max).max(1e-9) * 1.1;
        let _ = write!(
            o,
            r##"<text x="{left}" y="{}">{name}</text><rect x="{left}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#999"/><text x="{}" y="{}" text-anchor="end">{:.0}</text><text x="{}" y="{}" text-anchor="end">0</text>"##,
            y0 - 4.0,
            left - 4.0,
            y0 + 10.0,
            v_max,
            left - 4.0,
            y0 + ph
        );
        let pts: Vec<String> = s
            .iter()
            .map(|x| {
                format!(
                    "{:.1},{:.1}",
                    left + x.t_s / t_max * pw,
                    y0 + ph - get(x) / v_max * ph
                )
            })
            .collect();
        let _ = write!(
            o,
            r##"<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{}"/>"##,
            pts.join(" ")
        );
        let wx = left + WARMUP * pw;
        let _ = write!(
            o,
            r##"<line x1="{wx:.1}" y1="{y0}" x2="{wx:.1}" y2="{}" stroke="#d62728" stroke-dasharray="4 3"/>"##,
            y0 + ph
        );
    }
    let _ = write!(
        o,
        r#"<text x="{left}" y="{}">time, s (0 to {t_max:.0}); dashed: end of warm-up</text></svg>"#,
        h - 8.0
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_lists_removals_then_refusals_by_reason() {
        let mut hub = HubLine::default();
        hub.reasons.insert("peer closed the connection".into(), 7);
        hub.refusals.insert(Refusal::TooManyInbound.to_string(), 2);
        let sample = Sample {
            t_s: 5.0,
            rss_kib: 2048,
            fds: 10,
            cpu_pct: 1.5,
            dials: 9,
            dial_failures: 0,
            dial_errors: BTreeMap::new(),
            stable_down: 0,
            stable_echoes: 3,
            hub,
        };
        let row = row(&sample);
        let expected = format!(
            "peer closed the connection: 7; refused, {}: 2 |",
            Refusal::TooManyInbound
        );
        assert!(row.ends_with(&expected), "{row}");
    }

    #[test]
    fn an_old_hub_line_without_refusals_still_parses() {
        let line =
            r#"{"peers":1,"added":2,"removed":1,"refused":0,"failed":0,"received":5,"reasons":{}}"#;
        let hub: HubLine = serde_json::from_str(line).unwrap();
        assert!(hub.refusals.is_empty());
        assert_eq!(hub.added, 2);
    }
}
