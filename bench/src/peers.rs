//! Many idle peers: one node process accepts N authenticated connections
//! (SecretConnection + NodeInfo + MConnection with CometBFT keepalive: ping
//! every 60 s, pong timeout 45 s) from a swarm process (CometBFT's Go code
//! for both nodes, so the clients are identical). Measured on the node
//! process: RSS delta / N, and CPU time over an idle window.

use std::time::{Duration, Instant};

use crate::gobench::{Go, GoConf, Proc};
use crate::stats::Figure;

/// Read and write buffer of each mconn connection in the node (the
/// mconn-tokio default).
pub const PEER_IO_BUF: usize = 64 * 1024;
/// A smaller buffer (about 4 sealed frames), to show the core's own share.
pub const SMALL_IO_BUF: usize = 4 * 1024;

/// How long `n` connections may take to come up: a minute, plus 10 ms
/// each (10,000 peers: under three minutes at the Go swarm's 64 handshakes
/// in flight).
pub fn patience(n: usize) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(10) * n as u32
}

/// Source addresses the swarm spreads `n` connections over (127.0.0.1 ..
/// 127.0.0.k): at most 4,000 per address, far below the ephemeral port
/// range of one (source, destination) pair.
pub fn swarm_sources(n: usize) -> usize {
    n.div_ceil(4000).max(1)
}

/// One run's result.
#[derive(Clone, Copy, Debug)]
pub struct PeersResult {
    /// RSS growth per connection, KiB.
    pub kib_per_conn: f64,
    /// CPU used while idle, percent of one core.
    pub idle_cpu_pct: f64,
}

/// `VmRSS` of a process in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time of a process, seconds: the sum of its threads' run time from
/// `/proc/<pid>/task/*/schedstat` (nanoseconds), falling back to utime +
/// stime from `/proc/<pid>/stat` (clock ticks).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        let mut ns = 0u64;
        let mut any = false;
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                if let Some(v) = s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    ns += v;
                    any = true;
                }
            }
        }
        if any {
            return Some(ns as f64 / 1e9);
        }
    }
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces).
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / hz)
}

/// Raises the open-files soft limit to the hard limit (children inherit it).
pub fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Measures a node process (already listening at `addr`) while `n` swarm
/// connections come up and then idle for `idle`.
pub fn measure(
    go: &Go,
    mut node: Proc,
    addr: &str,
    n: usize,
    idle: Duration,
) -> Result<PeersResult, String> {
    let pid = node.pid();
    std::thread::sleep(Duration::from_millis(300));
    let before = rss_kib(pid).ok_or("no RSS")?;
    let mut swarm = go.spawn(
        &[],
        &[
            "-role".into(),
            "swarm".into(),
            "-dial".into(),
            addr.into(),
            "-n".into(),
            n.to_string(),
            "-sources".into(),
            swarm_sources(n).to_string(),
        ],
    )?;
    let up = swarm.json()?;
    let node_up = node.json()?;
    let connected = node_up["connected"].as_u64().unwrap_or(0) as usize;
    if connected != n || up["connected"].as_u64() != Some(n as u64) {
        return Err(format!(
            "only {connected}/{n} connections came up (swarm: {up})"
        ));
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib(pid).ok_or("no RSS")?;
    let cpu0 = cpu_secs(pid).ok_or("no CPU")?;
    let t0 = Instant::now();
    std::thread::sleep(idle);
    let cpu1 = cpu_secs(pid).ok_or("no CPU")?;
    let wall = t0.elapsed().as_secs_f64();
    swarm.finish();
    node.finish();
    Ok(PeersResult {
        kib_per_conn: (after as f64 - before as f64) / n as f64,
        idle_cpu_pct: (cpu1 - cpu0) / wall * 100.0,
    })
}

/// A CometBFT node (defaults) with `n` idle peers.
pub fn cometbft(go: &Go, n: usize, idle: Duration) -> Result<PeersResult, String> {
    let mut args = vec![
        "-role".to_string(),
        "node".into(),
        "-n".into(),
        n.to_string(),
    ];
    args.extend(GoConf::DEFAULTS.args());
    let mut node = go.spawn(&[], &args)?;
    let addr = node.listening()?;
    measure(go, node, &addr, n, idle)
}

/// An mconn node (this binary, `__mconn-node`, mconn-tokio on a multi-thread runtime)
/// with `n` idle peers.
pub fn mconn(go: &Go, n: usize, idle: Duration, io_buf: usize) -> Result<PeersResult, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let args = ["__mconn-node".into(), n.to_string(), io_buf.to_string()];
    let mut node = go.spawn_exe(&exe, &args)?;
    let addr = node.listening()?;
    measure(go, node, &addr, n, idle)
}

/// A named node under test.
struct System<'a> {
    name: &'static str,
    config: String,
    run: Box<dyn Fn() -> Result<PeersResult, String> + 'a>,
}

/// The many-peers scenario with `n` peers: both nodes `runs` times, interleaved.
pub fn figures(go: Option<&Go>, quick: bool, runs: usize, n: usize) -> Vec<Figure> {
    let idle = Duration::from_secs(if quick { 2 } else { 10 });
    let case = format!(
        "{n} idle peers, keepalive 60 s/45 s, {} s idle window",
        idle.as_secs()
    );
    let Some(go) = go else {
        return vec![Figure::skipped(
            "peers",
            &case,
            "-",
            "-",
            "needs Go (the peer swarm is CometBFT's code)",
        )];
    };
    let mut bufs = vec![PEER_IO_BUF];
    if !quick {
        bufs.push(SMALL_IO_BUF);
    }
    let mut systems: Vec<System<'_>> = bufs
        .into_iter()
        .map(|b| System {
            name: "mconn",
            config: format!(
                "mconn-tokio, multi-thread runtime (2 workers), 2 × {} KiB I/O buffers",
                b / 1024
            ),
            run: Box::new(move || mconn(go, n, idle, b)),
        })
        .collect();
    systems.push(System {
        name: "cometbft",
        config: "node defaults".into(),
        run: Box::new(move || cometbft(go, n, idle)),
    });
    let mut res: Vec<Vec<PeersResult>> = vec![Vec::new(); systems.len()];
    for round in 0..runs {
        for (i, s) in systems.iter().enumerate() {
            match (s.run)() {
                Ok(r) => {
                    eprintln!(
                        "[{}/{runs}] peers {}: {:.1} KiB/conn, idle CPU {:.3} %",
                        round + 1,
                        s.name,
                        r.kib_per_conn,
                        r.idle_cpu_pct
                    );
                    res[i].push(r);
                }
                Err(e) => eprintln!("peers {}: {e}", s.name),
            }
        }
    }
    let mut figs = Vec::new();
    for (s, r) in systems.iter().zip(res) {
        if r.is_empty() {
            figs.push(Figure::skipped("peers", &case, s.name, &s.config, "failed"));
            continue;
        }
        let kib = r.iter().map(|p| p.kib_per_conn).collect();
        let cpu = r.iter().map(|p| p.idle_cpu_pct).collect();
        figs.push(Figure::new(
            "peers", &case, s.name, &s.config, "KiB/conn", false, kib,
        ));
        figs.push(Figure::new(
            "peers",
            &case,
            s.name,
            &s.config,
            "idle CPU %",
            false,
            cpu,
        ));
    }
    figs
}
