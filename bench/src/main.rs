//! `mconn-bench`: mconn beside CometBFT's Go MConnection and the `yamux`
//! crate, on the same machine in the same run.
//!
//! ```text
//! cargo run --release -p mconn-bench -- [--quick] [--out DIR] [--only LIST] [--runs N]
//!                                       [--peers N] [--no-go]
//! cargo run --release -p mconn-bench -- --soak MINUTES [--soak-churn N] [--out DIR]
//! ```
//!
//! `LIST` is a comma-separated subset of
//! `allocs,ceilings,throughput,latency,handshakes,peers,netem,switch`.
//! Writes `results.json`, `results.md` and `chart.svg` into `DIR`
//! (default `target/mconn-bench`) and prints the table. `--soak` runs only
//! the soak (see [`soak`]), writing `soak.{json,md,svg}` and exiting non-zero
//! if it failed.

mod adapter;
mod allocs;
mod chans;
mod gobench;
mod handshake;
mod latency;
mod net;
mod peers;
mod report;
mod soak;
mod stats;
mod switch;
mod throughput;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use adapter::Adapter;
use gobench::{Go, GoConf};
use mconn::secret::AeadKind;
use net::{Net, Netns};
use stats::Figure;
use throughput::Shape;

#[global_allocator]
static ALLOC: allocs::Counting = allocs::Counting;

const SCENARIOS: [&str; 8] = [
    "allocs",
    "ceilings",
    "throughput",
    "latency",
    "handshakes",
    "peers",
    "netem",
    "switch",
];

struct Args {
    quick: bool,
    out: PathBuf,
    only: Vec<String>,
    runs: Option<usize>,
    peers: Option<usize>,
    no_go: bool,
    soak: Option<f64>,
    soak_churn: Option<usize>,
    /// `--match TEXT`: only the throughput jobs whose "case · system ·
    /// config" and the latency systems whose "system · config" contain
    /// TEXT (for profiling and A/B runs).
    matching: Option<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: mconn-bench [--quick] [--out DIR] [--only {}] [--runs N] [--peers N] [--no-go] [--match TEXT]\n       mconn-bench --soak MINUTES [--soak-churn N] [--out DIR]\n       mconn-bench --replot DIR",
        SCENARIOS.join(",")
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        quick: false,
        out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/mconn-bench"),
        only: SCENARIOS.iter().map(|s| s.to_string()).collect(),
        runs: None,
        peers: None,
        no_go: false,
        soak: None,
        soak_churn: None,
        matching: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => a.quick = true,
            "--no-go" => a.no_go = true,
            "--out" => a.out = it.next().unwrap_or_else(|| usage()).into(),
            "--only" => {
                let list = it.next().unwrap_or_else(|| usage());
                a.only = list.split(',').map(str::to_string).collect();
                if let Some(bad) = a.only.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
                    eprintln!("unknown scenario {bad}");
                    usage();
                }
            }
            "--runs" => {
                a.runs = Some(
                    it.next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "--peers" => {
                a.peers = Some(
                    it.next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "--soak" => {
                a.soak = Some(
                    it.next()
                        .and_then(|n| n.parse().ok())
                        .filter(|m: &f64| *m > 0.0)
                        .unwrap_or_else(|| usage()),
                )
            }
            "--soak-churn" => {
                a.soak_churn = Some(
                    it.next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "--match" => a.matching = Some(it.next().unwrap_or_else(|| usage())),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    a
}

/// One thing to measure repeatedly.
struct Job<'a> {
    scenario: &'static str,
    case: String,
    system: &'static str,
    config: String,
    run: Box<dyn Fn() -> Result<f64, String> + 'a>,
}

/// `--match TEXT`: whether a job or system labelled `label` runs (all do
/// without a TEXT).
fn selected(text: Option<&str>, label: &str) -> bool {
    text.is_none_or(|t| label.contains(t))
}

/// The jobs whose "case · system · config" contains `text` (all without).
fn matching<'a>(jobs: Vec<Job<'a>>, text: Option<&str>) -> Vec<Job<'a>> {
    jobs.into_iter()
        .filter(|j| selected(text, &format!("{} · {} · {}", j.case, j.system, j.config)))
        .collect()
}

/// Runs every job `runs` times, interleaved (round r runs every job once),
/// so that machine noise spreads over all systems.
fn run_jobs(jobs: &[Job<'_>], runs: usize, metric: &str, scale: f64, higher: bool) -> Vec<Figure> {
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); jobs.len()];
    let mut errors: Vec<Option<String>> = vec![None; jobs.len()];
    for round in 0..runs {
        for (i, j) in jobs.iter().enumerate() {
            match (j.run)() {
                Ok(v) if v.is_finite() => {
                    samples[i].push(v * scale);
                    eprintln!(
                        "[{}/{}] {} {} · {} · {}: {:.2} {metric}",
                        round + 1,
                        runs,
                        j.scenario,
                        j.case,
                        j.system,
                        j.config,
                        v * scale
                    );
                }
                Ok(v) => errors[i] = Some(format!("no value ({v})")),
                Err(e) => {
                    eprintln!("{} {} {} {}: {e}", j.scenario, j.case, j.system, j.config);
                    errors[i] = Some(e);
                }
            }
        }
    }
    jobs.iter()
        .zip(samples)
        .zip(errors)
        .map(|((j, s), e)| {
            if s.is_empty() {
                Figure::skipped(
                    j.scenario,
                    &j.case,
                    j.system,
                    &j.config,
                    &e.unwrap_or_default(),
                )
            } else {
                Figure::new(j.scenario, &j.case, j.system, &j.config, metric, higher, s)
            }
        })
        .collect()
}

fn size_label(size: usize) -> String {
    if size >= 1 << 20 {
        format!("{} MiB", size >> 20)
    } else {
        format!("{} KiB", size >> 10)
    }
}

/// Throughput jobs for one path.
fn throughput_jobs<'a>(
    scenario: &'static str,
    net: &'a Net,
    go: Option<&'a Go>,
    sizes: &[usize],
    dur: Duration,
    go_confs: &[GoConf],
    full: bool,
) -> Vec<Job<'a>> {
    let mut jobs = Vec::new();
    for &size in sizes {
        let shape = Shape {
            size,
            dur,
            min_msgs: 6,
        };
        let sz = size_label(size);
        let plain = format!("{sz} plaintext");
        let enc = format!("{sz} encrypted");
        let mut job = |case: &str,
                       system: &'static str,
                       config: String,
                       run: Box<dyn Fn() -> Result<f64, String> + 'a>| {
            jobs.push(Job {
                scenario,
                case: case.to_string(),
                system,
                config,
                run,
            })
        };
        job(
            &plain,
            "tcp",
            "raw write/read loop, 64 KiB buffers (ceiling)".into(),
            Box::new(move || Ok(throughput::tcp(net, shape))),
        );
        for a in [Adapter::Tokio, Adapter::Smol] {
            job(
                &plain,
                "mconn",
                format!("{} defaults (no rate cap, no flush timer)", a.name()),
                Box::new(move || Ok(adapter::throughput(a, net, shape, false, None))),
            );
        }
        if let Some(go) = go {
            for &conf in go_confs {
                job(
                    &plain,
                    "cometbft",
                    conf.label(),
                    Box::new(move || throughput::cometbft(go, net, shape, false, conf)),
                );
            }
        }
        job(
            &plain,
            "yamux",
            "default config".into(),
            Box::new(move || Ok(throughput::yamux(net, shape, false))),
        );
        if full || scenario == "throughput" {
            job(
                &plain,
                "yamux",
                "split send size 256 KiB".into(),
                Box::new(move || Ok(throughput::yamux(net, shape, true))),
            );
        }
        for a in [Adapter::Tokio, Adapter::Smol] {
            job(
                &enc,
                "mconn",
                format!(
                    "{} defaults (SecretConnection, {} AEAD)",
                    a.name(),
                    AeadKind::DEFAULT
                ),
                Box::new(move || Ok(adapter::throughput(a, net, shape, true, None))),
            );
        }
        if full && AeadKind::DEFAULT != AeadKind::RustCrypto {
            job(
                &enc,
                "mconn",
                "mconn-tokio, RustCrypto AEAD (`session.aead`)".into(),
                Box::new(move || {
                    Ok(adapter::throughput(
                        Adapter::Tokio,
                        net,
                        shape,
                        true,
                        Some(AeadKind::RustCrypto),
                    ))
                }),
            );
        }
        if let Some(go) = go {
            for &conf in go_confs {
                job(
                    &enc,
                    "cometbft",
                    conf.label(),
                    Box::new(move || throughput::cometbft(go, net, shape, true, conf)),
                );
            }
        }
        if scenario == "throughput" && size == 1 << 20 {
            // Several peers on one node: does the multi-thread runtime use
            // both cores, or do connections serialize?
            let case =
                format!("{sz} encrypted, one node, multi-thread runtime (2 workers) per side");
            for peers in [1, 8] {
                job(
                    &case,
                    "mconn",
                    adapter::many_bulk_label(peers),
                    Box::new(move || Ok(adapter::many_bulk(net, shape, peers))),
                );
            }
        }
    }
    jobs
}

/// The checkout's commit (`git rev-parse --short HEAD`), marked when the
/// tree has uncommitted changes, so a results file names what it measured.
fn commit() -> String {
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        None => "unknown (not a git checkout)".into(),
        Some(head) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(s) if s.is_empty() => head,
            _ => format!("{head} with uncommitted changes"),
        },
    }
}

fn machine() -> Vec<String> {
    let cmd = |c: &str, args: &[&str]| {
        std::process::Command::new(c)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|_| format!("{c}: not found"))
    };
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(String::new(), |kb| {
            format!("{:.1} GiB RAM", kb as f64 / 1048576.0)
        });
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let gomod = include_str!("../../tests/interop/go/go.mod");
    let comet = gomod
        .lines()
        .find(|l| l.contains("github.com/cometbft/cometbft "))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or("?");
    vec![
        format!("commit measured: {}", commit()),
        format!("CPU: {model}, {cores} cores available; {mem}"),
        format!("kernel: {}", cmd("uname", &["-sr"])),
        format!("load average at start: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")),
        format!("{}; {}", cmd("rustc", &["-V"]), Go::version()),
        format!("CometBFT {comet} (p2p/conn and p2p, via tests/interop/go's bench modes); yamux 0.13 over tokio"),
        format!("mconn: every connection row through the adapters users run, with their defaults unless the row says otherwise (AEAD {}; other AEADs through `NodeConfig.session.aead`); the core alone only in `ceiling` (in-memory session pair)", AeadKind::DEFAULT),
        format!("threads: throughput/latency one thread per side (mconn-tokio: a current-thread runtime; mconn-smol: block_on plus smol's global executor, SMOL_THREADS={}); peers, handshakes, switch: one multi-thread tokio runtime with 2 workers per process; Go: GOMAXPROCS default", std::env::var("SMOL_THREADS").unwrap_or_default()),
    ]
}

fn main() {
    // mconn-smol runs connections on smol's global executor: one thread per
    // side of a bench connection (both sides live in this process).
    if std::env::var_os("SMOL_THREADS").is_none() {
        std::env::set_var("SMOL_THREADS", "2");
    }
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("__mconn-node") {
        let n = argv.get(2).and_then(|n| n.parse().ok()).unwrap_or(100);
        let buf = argv
            .get(3)
            .and_then(|n| n.parse().ok())
            .unwrap_or(peers::PEER_IO_BUF);
        adapter::node_main(n, buf);
    }
    let arg =
        |i: usize, default: usize| argv.get(i).and_then(|n| n.parse().ok()).unwrap_or(default);
    match argv.get(1).map(String::as_str) {
        Some("__mconn-switch-bcast") => switch::bcast_main(
            arg(2, 50),
            arg(3, 1000),
            Duration::from_micros(arg(4, 0) as u64),
        ),
        Some("__mconn-switch-hub") => switch::hub_main(arg(2, 1000), arg(3, peers::PEER_IO_BUF)),
        Some("__mconn-soak-hub") => {
            soak::hub_main(arg(2, 520), Duration::from_millis(arg(3, 5000) as u64))
        }
        Some("__mconn-hs-listen") => handshake::listen_main(),
        Some("__mconn-hs-dial") => handshake::dial_main(
            argv.get(2).map_or("", String::as_str),
            arg(3, handshake::DIALERS),
            Duration::from_millis(arg(4, 1000) as u64),
        ),
        _ => {}
    }
    if argv.get(1).map(String::as_str) == Some("--replot") {
        replot(argv.get(2).map(PathBuf::from).unwrap_or_else(|| usage()));
        return;
    }
    let args = parse_args();
    let want = |s: &str| args.only.iter().any(|o| o == s);
    peers::raise_nofile();
    if let Some(minutes) = args.soak {
        run_soak(minutes, args.soak_churn.unwrap_or(500), &args.out);
    }
    let started = Instant::now();
    let machine = machine();
    let go = if args.no_go {
        None
    } else {
        match Go::build() {
            Ok(go) => Some(go),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        }
    };
    let go = go.as_ref();
    let q = args.quick;
    let runs = args.runs.unwrap_or(if q { 3 } else { 5 });
    let mut figs: Vec<Figure> = Vec::new();

    if want("allocs") {
        for (size, enc) in [(1024, true), (1 << 20, true), (1024, false)] {
            let case = format!(
                "{} {}",
                size_label(size),
                if enc { "encrypted" } else { "plaintext" }
            );
            let r: Vec<allocs::PerMsg> =
                (0..runs).map(|_| allocs::per_message(size, enc)).collect();
            eprintln!("allocs {case}: {:?}", r[0]);
            figs.push(Figure::new(
                "allocs",
                &case,
                "mconn",
                "in-memory session pair",
                "allocs/msg",
                false,
                r.iter().map(|p| p.allocs).collect(),
            ));
            figs.push(Figure::new(
                "allocs",
                &case,
                "mconn",
                "in-memory session pair",
                "bytes/msg",
                false,
                r.iter().map(|p| p.bytes).collect(),
            ));
        }
    }

    if want("ceilings") {
        let d = Duration::from_millis(if q { 300 } else { 1000 });
        let mut jobs: Vec<Job<'_>> = Vec::new();
        for &kind in AeadKind::AVAILABLE {
            let config = match kind {
                AeadKind::RustCrypto => {
                    "RustCrypto chacha20poly1305 (mconn default without std)".to_string()
                }
                k => format!("{k} (mconn default on std: `AeadKind::DEFAULT`)"),
            };
            jobs.push(Job {
                scenario: "ceiling",
                case: "seal 1028 B".into(),
                system: "aead",
                config,
                run: Box::new(move || Ok(throughput::seal_rate(kind, d))),
            });
        }
        let mut kinds = vec![None];
        kinds.extend(AeadKind::AVAILABLE.iter().rev().map(|&k| Some(k)));
        for aead in kinds {
            let name = match aead {
                None => "plaintext".to_string(),
                Some(AeadKind::RustCrypto) => "RustCrypto".to_string(),
                Some(k) => k.to_string(),
            };
            jobs.push(Job {
                scenario: "ceiling",
                case: "mconn in memory, 1 MiB messages".into(),
                system: "mconn",
                config: format!("session pair on one core, {name}"),
                run: Box::new(move || Ok(allocs::inmem_rate(1 << 20, aead, d))),
            });
        }
        if let Some(go) = go {
            jobs.push(Job {
                scenario: "ceiling",
                case: "seal 1028 B".into(),
                system: "aead",
                config: "Go x/crypto chacha20poly1305 (CometBFT)".into(),
                run: Box::new(move || go.seal_rate(d)),
            });
        }
        figs.extend(run_jobs(&jobs, runs, "MB/s", 1e-6, true));
    }

    if want("throughput") {
        let dur = Duration::from_millis(if q { 500 } else { 2000 });
        let net = Net::Loopback;
        // CometBFT's defaults measure its 5 MB/s cap (the same figure every
        // run, ≥ 1.2 s per 1 MiB run): the full run keeps them, `--quick`
        // leaves them out to stay under 3 minutes.
        let confs: &[GoConf] = if q {
            &[GoConf::UNCAPPED, GoConf::TUNED]
        } else {
            &[GoConf::DEFAULTS, GoConf::UNCAPPED, GoConf::TUNED]
        };
        let jobs = throughput_jobs("throughput", &net, go, &[1024, 1 << 20], dur, confs, !q);
        let jobs = matching(jobs, args.matching.as_deref());
        figs.extend(run_jobs(&jobs, runs, "MB/s", 1e-6, true));
    }

    if want("latency") {
        figs.extend(latency::figures(go, q, runs, args.matching.as_deref()));
    }

    if want("handshakes") {
        figs.extend(handshake::figures(go, q, runs));
    }

    if want("peers") {
        let n = args.peers.unwrap_or(if q { 200 } else { 1000 });
        figs.extend(peers::figures(go, q, runs, n));
    }

    if want("switch") {
        let n = args.peers.unwrap_or(if q { 200 } else { 1000 });
        figs.extend(switch::figures(go, q, runs, n));
    }

    if want("netem") {
        match Netns::create(25) {
            Err(e) => figs.push(Figure::skipped(
                "netem",
                "50 ms RTT",
                "-",
                "-",
                &format!("no netns/tc ({e})"),
            )),
            Ok(ns) => {
                let net = Net::Netns(ns);
                let dur = Duration::from_millis(if q { 2000 } else { 5000 });
                let sizes: &[usize] = if q { &[1 << 20] } else { &[1024, 1 << 20] };
                let confs = [GoConf::DEFAULTS, GoConf::TUNED];
                let jobs = throughput_jobs("netem", &net, go, sizes, dur, &confs, !q);
                figs.extend(run_jobs(&jobs, runs, "MB/s", 1e-6, true));
            }
        }
    }

    let command = format!(
        "cargo run --release -p mconn-bench --{}",
        std::env::args()
            .skip(1)
            .map(|a| format!(" {a}"))
            .collect::<String>()
    );
    let rep = report::Report {
        command,
        machine,
        runs,
        figures: &figs,
        wall_secs: started.elapsed().as_secs_f64(),
    };
    let md = report::markdown(&rep);
    println!("{md}");
    if let Err(e) = write_out(&args.out, &rep, &md) {
        eprintln!("error writing {}: {e}", args.out.display());
        std::process::exit(1);
    }
    eprintln!(
        "wrote {}/results.{{json,md}} and chart.svg in {:.0} s",
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
}

/// `--soak MINUTES`: runs the soak, prints its table, exits 1 if it failed.
fn run_soak(minutes: f64, churn: usize, out: &std::path::Path) -> ! {
    match soak::run(minutes, churn, out) {
        Ok((samples, failures)) => {
            println!("{}", soak::table(&samples));
            eprintln!("wrote {}/soak.{{json,md,svg}}", out.display());
            if failures.is_empty() {
                println!("soak passed");
                std::process::exit(0)
            }
            for f in &failures {
                println!("soak FAILED: {f}");
            }
            std::process::exit(1)
        }
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(1)
        }
    }
}

/// `--replot DIR`: re-renders `results.md` and `chart.svg` from `DIR/results.json`.
fn replot(dir: PathBuf) {
    let run = || -> Result<(), Box<dyn std::error::Error>> {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("results.json"))?)?;
        let figs: Vec<Figure> = serde_json::from_value(v["figures"].clone())?;
        let rep = report::Report {
            command: v["command"].as_str().unwrap_or_default().to_string(),
            machine: serde_json::from_value(v["machine"].clone())?,
            runs: v["runs"].as_u64().unwrap_or(0) as usize,
            figures: &figs,
            wall_secs: v["wall_secs"].as_f64().unwrap_or(0.0),
        };
        let md = report::markdown(&rep);
        write_out(&dir, &rep, &md)?;
        println!("{md}");
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("replot {}: {e}", dir.display());
        std::process::exit(1);
    }
}

fn write_out(dir: &std::path::Path, rep: &report::Report<'_>, md: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::json!({
        "command": rep.command,
        "machine": rep.machine,
        "runs": rep.runs,
        "wall_secs": rep.wall_secs,
        "figures": rep.figures,
        "ratios": report::ratios(rep.figures),
    });
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    std::fs::write(dir.join("results.md"), md)?;
    std::fs::write(dir.join("chart.svg"), report::svg(rep.figures))?;
    Ok(())
}
