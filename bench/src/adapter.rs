//! mconn through the adapters users run, `mconn-tokio` and `mconn-smol`:
//! `Peer::send(..).await`, `recv_with`, `recv_any_with`, `abort`, with their
//! defaults (I/O batches of up to 64 KiB, `TCP_NOTSENT_LOWAT` 32 KiB, the
//! default AEAD: ring on std) unless a row says otherwise.
//!
//! Each side of a connection is one thread: mconn-tokio a current-thread
//! runtime (the connection task spawned on it); mconn-smol `smol::block_on`
//! for the application, the connection task on smol's global executor
//! (`SMOL_THREADS`, set to 2 by the bench if unset: one per side).

use std::net::TcpStream as StdStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mconn::conn::Config;
use mconn::identity::NodeKey;
use mconn::secret::AeadKind;
use mconn_driver::Platform;
use mconn_tokio::{NodeConfig, Peer};

use crate::chans::{channels, random32, BULK, URGENT};
use crate::latency::{stamp, Lat, Load, Recorder, BULK_SIZE};
use crate::net::Net;
use crate::throughput::{rt, Counter, Shape};

/// An async adapter under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapter {
    /// `mconn-tokio`.
    Tokio,
    /// `mconn-smol`.
    Smol,
}

impl Adapter {
    /// The crate name.
    pub fn name(self) -> &'static str {
        match self {
            Adapter::Tokio => "mconn-tokio",
            Adapter::Smol => "mconn-smol",
        }
    }
}

/// The bench node's settings: the adapters' defaults around the bench
/// channels, with `config` as the MConnection settings; `aead`: another
/// AEAD than the default; `encrypted: false`: plaintext.
pub fn node_config(
    encrypted: bool,
    config: Config,
    aead: Option<AeadKind>,
    io_buffer: Option<usize>,
) -> NodeConfig {
    let mut c = NodeConfig::new(NodeKey::from_seed(random32()), "mconn-bench", &channels());
    c.session.conn = config;
    if let Some(kind) = aead {
        c.session.aead = kind;
    }
    if !encrypted {
        c = c.plaintext();
    }
    if let Some(b) = io_buffer {
        c.io_buffer = b;
    }
    c
}

/// What one side of a connection does with its authenticated peer, on any
/// platform.
trait Side {
    /// The side's result.
    type Out;
    /// Runs with the peer until done.
    async fn run<P: Platform>(self, peer: mconn_driver::Peer<P>) -> Self::Out;
}

/// Handshakes over an accepted or dialed std socket with `adapter`, runs
/// `side` with the peer on the calling thread.
fn drive<S: Side>(
    adapter: Adapter,
    cfg: &NodeConfig,
    sock: StdStream,
    outbound: bool,
    side: S,
) -> S::Out {
    sock.set_nonblocking(true).expect("nonblocking");
    match adapter {
        Adapter::Tokio => rt().block_on(async {
            let sock = tokio::net::TcpStream::from_std(sock).expect("tokio stream");
            let p = mconn_tokio::start(cfg, sock, outbound, None)
                .await
                .expect("mconn-tokio handshake");
            side.run(p).await
        }),
        Adapter::Smol => smol::block_on(async {
            let sock = smol::Async::new(sock).expect("smol stream");
            let p = mconn_smol::start(cfg, sock, outbound, None)
                .await
                .expect("mconn-smol handshake");
            side.run(p).await
        }),
    }
}

/// Sends `size`-byte bulk messages until the peer goes away.
struct SendBulk {
    size: usize,
}

impl Side for SendBulk {
    type Out = ();
    async fn run<P: Platform>(self, p: mconn_driver::Peer<P>) {
        let msg = vec![0xa5u8; self.size];
        while p.send(BULK, &msg).await.is_ok() {}
    }
}

/// Counts bulk messages for a window, then aborts.
struct CountBulk {
    shape: Shape,
}

impl Side for CountBulk {
    type Out = f64;
    async fn run<P: Platform>(self, p: mconn_driver::Peer<P>) -> f64 {
        let mut c = Counter::new(self.shape);
        while !c.done() {
            if p.recv_with(BULK, |_| ()).await.is_err() {
                break;
            }
            c.on_msg();
        }
        p.abort();
        c.rate()
    }
}

/// Keeps the bulk channel full and sends a stamped urgent message every
/// `load.interval` (from the same task, through the platform's timer).
struct Loader {
    load: Load,
}

impl Side for Loader {
    type Out = ();
    async fn run<P: Platform>(self, p: mconn_driver::Peer<P>) {
        let step = self.load.interval.as_micros() as u64;
        let ticker = async {
            if !self.load.urgent {
                return core::future::pending().await;
            }
            let mut next = P::now().as_micros();
            loop {
                next += step;
                P::sleep_until(mconn::Instant::from_micros(next)).await;
                if p.send(URGENT, &stamp()).await.is_err() {
                    return;
                }
                // More than a period late: skip the missed ticks (as Go's
                // ticker and the yamux loader's tokio interval do), so
                // urgent/s falls only when the application ran late.
                let now = P::now().as_micros();
                if now > next + step {
                    next = now;
                }
            }
        };
        let bulk = async {
            let msg = vec![0xb0u8; BULK_SIZE];
            while p.send(BULK, &msg).await.is_ok() {}
        };
        futures::future::select(std::pin::pin!(ticker), std::pin::pin!(bulk)).await;
    }
}

/// Records urgent latencies and bulk bytes for a window, then aborts.
struct RecordLatency {
    load: Load,
}

impl Side for RecordLatency {
    type Out = Lat;
    async fn run<P: Platform>(self, p: mconn_driver::Peer<P>) -> Lat {
        let mut rec = Recorder::new(self.load.dur);
        while !rec.done() {
            let got = p
                .recv_any_with(|ch, m| {
                    if ch == URGENT {
                        rec.urgent(m);
                    } else {
                        rec.bulk(m.len());
                    }
                })
                .await;
            if got.is_err() {
                break;
            }
        }
        p.abort();
        rec.result()
    }
}

/// Throughput through `adapter`: one connection, one channel; `aead`: as
/// for [`node_config`].
pub fn throughput(
    adapter: Adapter,
    net: &Net,
    shape: Shape,
    encrypted: bool,
    aead: Option<AeadKind>,
) -> f64 {
    let listener = net.listen();
    let addr = listener.local_addr().expect("addr");
    let cfg = node_config(encrypted, Config::cometbft(), aead, None);
    std::thread::scope(|s| {
        let cfg2 = node_config(encrypted, Config::cometbft(), aead, None);
        let recv = s.spawn(move || {
            let (sock, _) = listener.accept().expect("accept");
            drive(adapter, &cfg2, sock, false, CountBulk { shape })
        });
        let sock = net.connect(addr);
        drive(adapter, &cfg, sock, true, SendBulk { size: shape.size });
        recv.join().expect("receiver")
    })
}

/// Priority under load through `adapter` (encrypted; `aead` as for
/// [`node_config`]).
pub fn latency(
    adapter: Adapter,
    net: &Net,
    load: Load,
    config: Config,
    aead: Option<AeadKind>,
) -> Lat {
    let listener = net.listen();
    let addr = listener.local_addr().expect("addr");
    let cfg = node_config(true, config, aead, None);
    std::thread::scope(|s| {
        let cfg2 = node_config(true, config, aead, None);
        let recv = s.spawn(move || {
            let (sock, _) = listener.accept().expect("accept");
            drive(adapter, &cfg2, sock, false, RecordLatency { load })
        });
        let sock = net.connect(addr);
        drive(adapter, &cfg, sock, true, Loader { load });
        recv.join().expect("receiver")
    })
}

/// Handshakes over an accepted or dialed std socket with mconn-tokio
/// (inside a runtime).
async fn peer(cfg: &NodeConfig, sock: StdStream, outbound: bool) -> Peer {
    sock.set_nonblocking(true).expect("nonblocking");
    let sock = tokio::net::TcpStream::from_std(sock).expect("tokio stream");
    mconn_tokio::start(cfg, sock, outbound, None)
        .await
        .expect("mconn-tokio handshake")
}

/// The `__mconn-node N IO_BUF` child on mconn-tokio: accept N connections
/// (handshakes concurrently), report, idle until stdin closes.
pub fn node_main(n: usize, io_buf: usize) {
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
        let cfg = Arc::new(node_config(true, Config::cometbft(), None, Some(io_buf)));
        let up = Arc::new(AtomicUsize::new(0));
        let peers = Arc::new(std::sync::Mutex::new(Vec::with_capacity(n)));
        for _ in 0..n {
            let (sock, _) = listener.accept().await.expect("accept");
            let (cfg, up, peers) = (cfg.clone(), up.clone(), peers.clone());
            tokio::spawn(async move {
                match mconn_tokio::start(&cfg, sock, false, None).await {
                    Ok(p) => {
                        up.fetch_add(1, Ordering::SeqCst);
                        if let Ok(mut v) = peers.lock() {
                            v.push(p);
                        }
                    }
                    Err(e) => eprintln!("mconn node: handshake failed: {e}"),
                }
            });
        }
        let deadline = Instant::now() + crate::peers::patience(n);
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

/// A multi-thread runtime with two workers (both cores of the bench machine).
pub(crate) fn rt2() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The config label of [`many_bulk`]'s figure for `peers` connections (the
/// report finds the 1- and 8-peer figures by it).
pub fn many_bulk_label(peers: usize) -> String {
    format!("mconn-tokio defaults, {peers} concurrent peer(s), aggregate")
}

/// Aggregate throughput of `peers` concurrent encrypted bulk connections
/// into one node through mconn-tokio: each side one multi-thread runtime
/// with two workers; the receiving node counts whole messages over all
/// connections together.
pub fn many_bulk(net: &Net, shape: Shape, peers: usize) -> f64 {
    let listener = net.listen();
    let addr = listener.local_addr().expect("addr");
    let cfg = Arc::new(node_config(true, Config::cometbft(), None, None));
    std::thread::scope(|s| {
        let cfg2 = Arc::new(node_config(true, Config::cometbft(), None, None));
        let recv = s.spawn(move || {
            let socks: Vec<StdStream> = (0..peers)
                .map(|_| listener.accept().expect("accept").0)
                .collect();
            rt2().block_on(async move {
                let counter = Arc::new(std::sync::Mutex::new(Counter::new(shape)));
                let tasks: Vec<_> = socks
                    .into_iter()
                    .map(|sock| {
                        let (cfg, counter) = (cfg2.clone(), counter.clone());
                        tokio::spawn(async move {
                            let p = peer(&cfg, sock, false).await;
                            loop {
                                if p.recv_with(BULK, |_| ()).await.is_err() {
                                    break;
                                }
                                let mut c = counter.lock().expect("counter");
                                c.on_msg();
                                if c.done() {
                                    break;
                                }
                            }
                            p.abort();
                        })
                    })
                    .collect();
                // The first task to see the window end stops; abort the rest.
                let mut tasks = tasks.into_iter();
                if let Some(t) = tasks.next() {
                    let _ = t.await;
                }
                while !counter.lock().expect("counter").done() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                for t in tasks {
                    t.abort();
                }
                let rate = counter.lock().expect("counter").rate();
                rate
            })
        });
        let socks: Vec<StdStream> = (0..peers).map(|_| net.connect(addr)).collect();
        rt2().block_on(async move {
            let tasks: Vec<_> = socks
                .into_iter()
                .map(|sock| {
                    let cfg = cfg.clone();
                    tokio::spawn(async move {
                        let p = peer(&cfg, sock, true).await;
                        let msg = vec![0xa5u8; shape.size];
                        while p.send(BULK, &msg).await.is_ok() {}
                    })
                })
                .collect();
            for t in tasks {
                let _ = t.await;
            }
        });
        recv.join().expect("mconn-tokio receiver")
    })
}
