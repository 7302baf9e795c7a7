//! Many idle peers: one node process accepts N authenticated connections
//! (SecretConnection + NodeInfo + MConnection with CometBFT keepalive: ping
//! every 60 s, pong timeout 45 s) from a swarm process (CometBFT's Go code
//! for both nodes, so the clients are identical). Measured on the node
//! process: RSS delta / N, and CPU time over an idle window.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mconn::conn::Config;

use crate::driver::{self, App, Opts, Sec, Tx};
use crate::gobench::{Go, GoConf, Proc};

/// Read and write buffer of each mconn connection in the node.
pub const PEER_IO_BUF: usize = 16 * 1024;

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

/// utime + stime of a process, seconds.
pub fn cpu_secs(pid: u32) -> Option<f64> {
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
fn measure(go: &Go, mut node: Proc, addr: &str, n: usize, idle: Duration) -> Result<PeersResult, String> {
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
        ],
    )?;
    let up = swarm.json()?;
    let node_up = node.json()?;
    let connected = node_up["connected"].as_u64().unwrap_or(0) as usize;
    if connected != n || up["connected"].as_u64() != Some(n as u64) {
        return Err(format!("only {connected}/{n} connections came up (swarm: {up})"));
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

/// An mconn node (this binary, `__mconn-node`, tokio multi-thread runtime)
/// with `n` idle peers.
pub fn mconn(go: &Go, n: usize, idle: Duration) -> Result<PeersResult, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut node = go.spawn_exe(&exe, &["__mconn-node".into(), n.to_string()])?;
    let addr = node.listening()?;
    measure(go, node, &addr, n, idle)
}

struct Idle {
    up: Arc<AtomicUsize>,
    counted: bool,
}

impl App for Idle {
    fn pump(&mut self, _: &mut dyn Tx) -> Option<Instant> {
        if !self.counted {
            self.counted = true;
            self.up.fetch_add(1, Ordering::SeqCst);
        }
        None
    }
    fn on_message(&mut self, _: u8, _: &[u8]) {}
    fn done(&self) -> bool {
        false
    }
}

/// The `__mconn-node N` child: accept N connections, report, idle until
/// stdin closes.
pub fn node_main(n: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("listening {}", listener.local_addr().expect("addr"));
        let up = Arc::new(AtomicUsize::new(0));
        for _ in 0..n {
            let (sock, _) = listener.accept().await.expect("accept");
            let up = up.clone();
            tokio::spawn(async move {
                let sock = sock.into_std().expect("std socket");
                let opts = Opts {
                    sec: Sec::RustCrypto,
                    io_buf: PEER_IO_BUF,
                };
                let mut app = Idle { up, counted: false };
                if let driver::End::PeerGone(why) =
                    driver::run(sock, opts, Config::cometbft(), &mut app).await
                {
                    eprintln!("mconn node: a peer ended: {why}");
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while up.load(Ordering::SeqCst) < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        println!("{{\"connected\":{}}}", up.load(Ordering::SeqCst));
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        })
        .await
        .ok();
    });
    std::process::exit(0);
}
