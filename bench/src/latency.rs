//! Priority under load: the bulk channel (priority 1) is kept saturated with
//! 64 KiB messages while 100-byte messages carrying their send time go on
//! the urgent channel (priority 10) every `interval`. The receiver records
//! each urgent message's delivery latency (same machine, same clock).

use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use mconn::conn::Config;

use crate::adapter::{self, Adapter};
use crate::chans::unix_nanos;
use crate::gobench::{ms, Go, GoConf};
use crate::net::Net;
use crate::stats::{percentile, Figure};
use crate::throughput::{rt, yamux_client, yamux_config, yamux_server};
use mconn::secret::AeadKind;

/// Bulk message size.
pub const BULK_SIZE: usize = 64 * 1024;
/// Urgent message size.
pub const URGENT_SIZE: usize = 100;

/// One run's result.
#[derive(Clone, Copy, Debug)]
pub struct Lat {
    /// Median latency, ms.
    pub p50: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// Worst, ms.
    pub max: f64,
    /// Urgent messages delivered.
    pub count: usize,
    /// Bulk throughput meanwhile, bytes/s.
    pub bulk_rate: f64,
    /// Urgent messages delivered per second (due: one per `interval`): below
    /// that, the sender's application did not get to run on time.
    pub urgent_rate: f64,
}

/// Shape of a run.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Run length.
    pub dur: Duration,
    /// Urgent period.
    pub interval: Duration,
    /// `false`: bulk only, no urgent messages (the baseline the bulk
    /// throughput under urgent traffic is compared with).
    pub urgent: bool,
}

/// Collects latencies on the receiving side.
pub struct Recorder {
    dur: Duration,
    start: Option<Instant>,
    lat_ms: Vec<f64>,
    bulk: u64,
}

impl Recorder {
    pub fn new(dur: Duration) -> Self {
        Recorder {
            dur,
            start: None,
            lat_ms: Vec::new(),
            bulk: 0,
        }
    }

    pub fn urgent(&mut self, msg: &[u8]) {
        self.start.get_or_insert_with(Instant::now);
        if let Some(ts) = msg.get(..8) {
            let sent = u64::from_le_bytes(ts.try_into().expect("8 bytes"));
            self.lat_ms
                .push(unix_nanos().saturating_sub(sent) as f64 / 1e6);
        }
    }

    pub fn bulk(&mut self, n: usize) {
        self.start.get_or_insert_with(Instant::now);
        self.bulk += n as u64;
    }

    pub fn done(&self) -> bool {
        self.start.is_some_and(|s| s.elapsed() >= self.dur)
    }

    pub fn result(mut self) -> Lat {
        self.lat_ms.sort_by(f64::total_cmp);
        let secs = self.start.map_or(1.0, |s| s.elapsed().as_secs_f64());
        Lat {
            p50: percentile(&self.lat_ms, 0.5),
            p99: percentile(&self.lat_ms, 0.99),
            max: self.lat_ms.last().copied().unwrap_or(f64::NAN),
            count: self.lat_ms.len(),
            bulk_rate: self.bulk as f64 / secs,
            urgent_rate: self.lat_ms.len() as f64 / secs,
        }
    }
}

pub fn stamp() -> [u8; URGENT_SIZE] {
    let mut m = [0u8; URGENT_SIZE];
    m[..8].copy_from_slice(&unix_nanos().to_le_bytes());
    m
}

/// yamux ↔ yamux: a bulk stream and an urgent stream (no priorities).
pub fn yamux(net: &Net, load: Load) -> Lat {
    let listener = net.listen();
    let addr = listener.local_addr().expect("addr");
    std::thread::scope(|s| {
        let recv = s.spawn(move || {
            let (sock, _) = listener.accept().expect("accept");
            rt().block_on(async {
                let mut streams = yamux_server(sock, yamux_config(false), 2).await;
                // Each stream starts with a tag byte: b'B' bulk, b'U' urgent.
                let mut tag = [0u8; 1];
                streams[0].read_exact(&mut tag).await.expect("tag");
                let (mut bulk, mut urgent) = if tag[0] == b'B' {
                    let u = streams.pop().expect("2 streams");
                    (streams.pop().expect("2 streams"), u)
                } else {
                    let b = streams.pop().expect("2 streams");
                    (b, streams.pop().expect("2 streams"))
                };
                if tag[0] == b'B' {
                    urgent.read_exact(&mut tag).await.expect("tag");
                } else {
                    bulk.read_exact(&mut tag).await.expect("tag");
                }
                let rec = std::rc::Rc::new(std::cell::RefCell::new(Recorder::new(load.dur)));
                let r2 = rec.clone();
                let local = tokio::task::LocalSet::new();
                local
                    .run_until(async move {
                        let urgent_task = tokio::task::spawn_local(async move {
                            let mut m = [0u8; URGENT_SIZE];
                            while urgent.read_exact(&mut m).await.is_ok() {
                                r2.borrow_mut().urgent(&m);
                            }
                        });
                        let mut buf = vec![0u8; 64 * 1024];
                        while !rec.borrow().done() {
                            match bulk.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => rec.borrow_mut().bulk(n),
                            }
                        }
                        urgent_task.abort();
                        let r = rec.replace(Recorder::new(load.dur));
                        r.result()
                    })
                    .await
            })
        });
        let sock = net.connect(addr);
        rt().block_on(async {
            let mut streams = yamux_client(sock, yamux_config(false), 2).await;
            let mut urgent = streams.pop().expect("2 streams");
            let mut bulk = streams.pop().expect("2 streams");
            let give_up = load.dur * 4 + Duration::from_secs(20);
            let local = tokio::task::LocalSet::new();
            local
                .run_until(async move {
                    let u = tokio::task::spawn_local(async move {
                        if urgent.write_all(b"U").await.is_err() {
                            return;
                        }
                        // Late ticks are not made up in a burst (as mconn's
                        // loader and Go's ticker): urgent/s falls when the
                        // sending application did not run on time.
                        let mut tick = tokio::time::interval(load.interval);
                        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        loop {
                            tick.tick().await;
                            if urgent.write_all(&stamp()).await.is_err() {
                                return;
                            }
                        }
                    });
                    let msg = vec![0xb0u8; BULK_SIZE];
                    let _ = tokio::time::timeout(give_up, async {
                        if bulk.write_all(b"B").await.is_ok() {
                            while bulk.write_all(&msg).await.is_ok() {}
                        }
                    })
                    .await;
                    u.abort();
                })
                .await;
        });
        recv.join().expect("receiver")
    })
}

/// CometBFT ↔ CometBFT, with SecretConnection.
pub fn cometbft(go: &Go, net: &Net, load: Load, conf: GoConf) -> Result<Lat, String> {
    let mut args = vec![
        "-mode".to_string(),
        "latency".into(),
        "-size".into(),
        BULK_SIZE.to_string(),
        "-urgent-size".into(),
        URGENT_SIZE.to_string(),
        "-dur".into(),
        ms(load.dur),
        "-interval".into(),
        ms(load.interval),
        "-secret".into(),
    ];
    args.extend(conf.args());
    let v = go.pair(net, &args)?;
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    Ok(Lat {
        p50: f("p50_ms"),
        p99: f("p99_ms"),
        max: f("max_ms"),
        count: v["urgent"].as_u64().unwrap_or(0) as usize,
        bulk_rate: f("bulk_bytes") / f("secs"),
        urgent_rate: f("urgent") / f("secs"),
    })
}

/// A named system under test.
/// Config label prefix of the bulk-only baseline (no urgent messages:
/// only its bulk MB/s is reported).
pub const BULK_ONLY: &str = "baseline without urgent traffic: ";

struct System<'a> {
    name: &'static str,
    config: String,
    run: Box<dyn Fn() -> Result<Lat, String> + 'a>,
}

/// The latency scenario: every system `runs` times, interleaved.
/// `matching`: only the systems whose "name · config" contains it.
pub fn figures(go: Option<&Go>, quick: bool, runs: usize, matching: Option<&str>) -> Vec<Figure> {
    let load = Load {
        dur: Duration::from_millis(if quick { 1000 } else { 3000 }),
        interval: Duration::from_millis(5),
        urgent: true,
    };
    let bulk_only = Load {
        urgent: false,
        ..load
    };
    let case = "urgent 100 B every 5 ms (prio 10), bulk 64 KiB saturated (prio 1)";
    let net = &Net::Loopback;
    let mut capped = Config::cometbft();
    capped.send_rate = Some(5_120_000);
    capped.recv_rate = Some(5_120_000);
    let aead = AeadKind::DEFAULT;
    let mut systems = Vec::new();
    for a in [Adapter::Tokio, Adapter::Smol] {
        systems.push(System {
            name: "mconn",
            config: format!(
                "{} defaults (SecretConnection, {aead} AEAD, no caps)",
                a.name()
            ),
            run: Box::new(move || Ok(adapter::latency(a, net, load, Config::cometbft(), None))),
        });
    }
    systems.push(System {
        name: "mconn",
        config: format!("{BULK_ONLY}mconn-tokio defaults"),
        run: Box::new(move || {
            Ok(adapter::latency(
                Adapter::Tokio,
                net,
                bulk_only,
                Config::cometbft(),
                None,
            ))
        }),
    });
    systems.push(System {
        name: "mconn",
        config: "mconn-tokio, 5 MB/s rate caps (as CometBFT defaults)".into(),
        run: Box::new(move || Ok(adapter::latency(Adapter::Tokio, net, load, capped, None))),
    });
    if !quick && aead != AeadKind::RustCrypto {
        systems.push(System {
            name: "mconn",
            config: "mconn-tokio, RustCrypto AEAD (`session.aead`), no caps".into(),
            run: Box::new(move || {
                Ok(adapter::latency(
                    Adapter::Tokio,
                    net,
                    load,
                    Config::cometbft(),
                    Some(AeadKind::RustCrypto),
                ))
            }),
        });
    }
    if let Some(go) = go {
        for conf in [GoConf::DEFAULTS, GoConf::TUNED] {
            systems.push(System {
                name: "cometbft",
                config: format!("SecretConnection, {}", conf.label()),
                run: Box::new(move || cometbft(go, net, load, conf)),
            });
        }
    }
    systems.push(System {
        name: "yamux",
        config: "plaintext, 2 streams, no priorities".into(),
        run: Box::new(move || Ok(yamux(net, load))),
    });
    systems.retain(|s| crate::selected(matching, &format!("{} · {}", s.name, s.config)));
    let mut res: Vec<Vec<Lat>> = vec![Vec::new(); systems.len()];
    for round in 0..runs {
        for (i, s) in systems.iter().enumerate() {
            match (s.run)() {
                Ok(l) => {
                    eprintln!(
                        "[{}/{runs}] latency {} · {}: p50 {:.2} p99 {:.2} max {:.2} ms ({} urgent, bulk {:.0} MB/s)",
                        round + 1,
                        s.name,
                        s.config,
                        l.p50,
                        l.p99,
                        l.max,
                        l.count,
                        l.bulk_rate / 1e6
                    );
                    res[i].push(l);
                }
                Err(e) => eprintln!("latency {} {}: {e}", s.name, s.config),
            }
        }
    }
    let mut figs = Vec::new();
    for (s, r) in systems.iter().zip(res) {
        if r.is_empty() {
            figs.push(Figure::skipped(
                "latency", case, s.name, &s.config, "failed",
            ));
            continue;
        }
        let col = |m: &str, higher: bool, v: Vec<f64>| {
            Figure::new("latency", case, s.name, &s.config, m, higher, v)
        };
        if !s.config.starts_with(BULK_ONLY) {
            figs.push(col("p50 ms", false, r.iter().map(|l| l.p50).collect()));
            figs.push(col("p99 ms", false, r.iter().map(|l| l.p99).collect()));
            figs.push(col("max ms", false, r.iter().map(|l| l.max).collect()));
            figs.push(col(
                "urgent/s",
                true,
                r.iter().map(|l| l.urgent_rate).collect(),
            ));
        }
        figs.push(col(
            "bulk MB/s",
            true,
            r.iter().map(|l| l.bulk_rate / 1e6).collect(),
        ));
    }
    figs
}
