//! Handshake rate: SecretConnection + NodeInfo exchange (and the connection
//! started), both ends measured, on loopback. For each system a listener
//! process accepts and handshakes concurrently, and a dialer process runs
//! `K` concurrent dialers back to back for a window. The listener closes
//! each connection once it is through; the dialer counts a handshake when it
//! is authenticated and the listener closed. One node key per process.
//!
//! * mconn: this binary re-executed as `__mconn-hs-listen` and
//!   `__mconn-hs-dial ADDR K MILLIS`, `mconn-tokio` on a multi-thread
//!   runtime with 2 workers each;
//! * CometBFT: the interop harness's bench roles `hs-listen` and `hs-dial`
//!   (`MakeSecretConnection`, the transport's NodeInfo exchange and checks,
//!   `MConnection` start; GOMAXPROCS default).
//!
//! The rate is the dialer's: handshakes completed ÷ time until the last one
//! in flight at the end of the window completed. The listener's count is
//! checked to agree (every dialer handshake needs the listener's NodeInfo,
//! so they differ by at most the ones in flight).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mconn::conn::Config;
use serde_json::{json, Value};

use crate::adapter::{node_config, rt2};
use crate::gobench::{ms, spawn_exe, Go, Proc};
use crate::stats::Figure;

/// Concurrent dialers.
pub const DIALERS: usize = 16;
/// Bound on one handshake (and on the listener's wait for the dialer to
/// close).
const PATIENCE: Duration = Duration::from_secs(10);

/// `__mconn-hs-listen`: prints `listening ADDR`, handshakes every inbound
/// connection in its own task and closes it (gracefully) at once; once
/// stdin closes prints `{"handshakes": N, "failed": F}`
/// and exits.
pub fn listen_main() -> ! {
    rt2().block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("listening {}", listener.local_addr().expect("addr"));
        let cfg = Arc::new(node_config(true, Config::cometbft(), None, None));
        let done = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (d, f) = (done.clone(), failed.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (cfg, done, failed) = (cfg.clone(), d.clone(), f.clone());
                tokio::spawn(async move {
                    let start = mconn_tokio::start(&cfg, sock, false, None);
                    match tokio::time::timeout(PATIENCE, start).await {
                        Ok(Ok(p)) => {
                            done.fetch_add(1, Ordering::Relaxed);
                            let _ = tokio::time::timeout(PATIENCE, p.close()).await;
                        }
                        Ok(Err(e)) => {
                            if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                                eprintln!("mconn hs-listen: {e}");
                            }
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        })
        .await
        .ok();
        println!(
            "{}",
            json!({
                "handshakes": done.load(Ordering::Relaxed),
                "failed": failed.load(Ordering::Relaxed),
            })
        );
    });
    std::process::exit(0)
}

/// `__mconn-hs-dial ADDR K MILLIS`: `k` tasks dial and handshake back to
/// back for `window`; a handshake counts once it is authenticated and
/// the listener closed the connection; prints
/// `{"handshakes", "failed", "secs", "per_sec"}`.
pub fn dial_main(addr: &str, k: usize, window: Duration) -> ! {
    let addr: std::net::SocketAddr = addr.parse().expect("ADDR");
    rt2().block_on(async move {
        let cfg = Arc::new(node_config(true, Config::cometbft(), None, None));
        let done = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let end = start + window;
        let tasks: Vec<_> = (0..k)
            .map(|_| {
                let (cfg, done, failed) = (cfg.clone(), done.clone(), failed.clone());
                tokio::spawn(async move {
                    while Instant::now() < end {
                        let hs = async {
                            let sock = tokio::net::TcpStream::connect(addr).await?;
                            mconn_tokio::start(&cfg, sock, true, None).await
                        };
                        match tokio::time::timeout(PATIENCE, hs).await {
                            Ok(Ok(p)) => {
                                let _ = tokio::time::timeout(PATIENCE, p.finished()).await;
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(Err(e)) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                eprintln!("mconn hs-dial: {e}");
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                            Err(_) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
        let secs = start.elapsed().as_secs_f64();
        let n = done.load(Ordering::Relaxed);
        println!(
            "{}",
            json!({
                "handshakes": n,
                "failed": failed.load(Ordering::Relaxed),
                "secs": secs,
                "per_sec": n as f64 / secs,
            })
        );
    });
    std::process::exit(0)
}

/// One run: a started listener, a dialer started against it; handshakes/s.
fn run(mut listener: Proc, dial: impl FnOnce(&str) -> Result<Proc, String>) -> Result<f64, String> {
    let addr = listener.listening()?;
    let mut dialer = dial(&addr)?;
    let d = dialer.json()?;
    listener.close_stdin();
    let l = listener.json()?;
    check(&d, &l)
}

/// The dialer's rate, once both sides' counts agree and nothing failed.
fn check(d: &Value, l: &Value) -> Result<f64, String> {
    let count = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    let (dn, ln) = (count(d, "handshakes"), count(l, "handshakes"));
    if count(d, "failed") + count(l, "failed") > 0 || dn == 0 {
        return Err(format!("handshakes failed: dialer {d}, listener {l}"));
    }
    if ln + (DIALERS as u64) < dn {
        return Err(format!(
            "listener completed fewer: dialer {d}, listener {l}"
        ));
    }
    d["per_sec"]
        .as_f64()
        .ok_or_else(|| format!("no rate in {d}"))
}

/// mconn-tokio ↔ mconn-tokio.
pub fn mconn(window: Duration) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let listener = spawn_exe(&exe, &["__mconn-hs-listen".into()])?;
    run(listener, |addr| {
        let args = [
            "__mconn-hs-dial".to_string(),
            addr.to_string(),
            DIALERS.to_string(),
            window.as_millis().to_string(),
        ];
        spawn_exe(&exe, &args)
    })
}

/// CometBFT ↔ CometBFT.
pub fn cometbft(go: &Go, window: Duration) -> Result<f64, String> {
    let listener = go.spawn(&[], &["-role".into(), "hs-listen".into()])?;
    run(listener, |addr| {
        let args = [
            "-role".to_string(),
            "hs-dial".into(),
            "-dial".into(),
            addr.to_string(),
            "-k".into(),
            DIALERS.to_string(),
            "-dur".into(),
            ms(window),
        ];
        go.spawn(&[], &args)
    })
}

/// The handshake scenario: both systems `runs` times, interleaved.
pub fn figures(go: Option<&Go>, quick: bool, runs: usize) -> Vec<Figure> {
    let window = Duration::from_millis(if quick { 1000 } else { 3000 });
    let case = format!(
        "SecretConnection + NodeInfo, {DIALERS} concurrent dialers, {} s window, loopback",
        window.as_secs()
    );
    type Run<'a> = Box<dyn Fn() -> Result<f64, String> + 'a>;
    let mut systems: Vec<(&str, String, Run<'_>)> = vec![(
        "mconn",
        "mconn-tokio defaults, listener and dialer processes, 2 workers each".into(),
        Box::new(move || mconn(window)),
    )];
    if let Some(go) = go {
        systems.push((
            "cometbft",
            "p2p/conn + transport NodeInfo exchange, listener and dialer processes".into(),
            Box::new(move || cometbft(go, window)),
        ));
    }
    let mut res: Vec<Vec<f64>> = vec![Vec::new(); systems.len()];
    let mut errs: Vec<String> = vec![String::new(); systems.len()];
    for round in 0..runs {
        for (i, (name, _, run)) in systems.iter().enumerate() {
            match run() {
                Ok(v) => {
                    eprintln!("[{}/{runs}] handshakes {name}: {v:.0}/s", round + 1);
                    res[i].push(v);
                }
                Err(e) => {
                    eprintln!("handshakes {name}: {e}");
                    errs[i] = e;
                }
            }
        }
    }
    systems
        .iter()
        .zip(res)
        .zip(errs)
        .map(|(((name, config, _), r), e)| {
            if r.is_empty() {
                Figure::skipped("handshakes", &case, name, config, &e)
            } else {
                Figure::new("handshakes", &case, name, config, "handshakes/s", true, r)
            }
        })
        .collect()
}
