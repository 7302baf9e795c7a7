//! mconn through `mconn-tokio`, the adapter users run: `Peer::send(..).await`,
//! `try_send`, `recv_with`, `abort`, with its defaults (I/O batches of up to
//! 64 KiB, `TCP_NOTSENT_LOWAT` 128 KiB, the `ring` AEAD).

use std::net::TcpStream as StdStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mconn::conn::Config;
use mconn::identity::NodeKey;
use mconn_tokio::{NodeConfig, Peer};

use crate::driver::{channels, random32, BULK, URGENT};
use crate::latency::{stamp, Lat, Load, Recorder, BULK_SIZE};
use crate::net::Net;
use crate::throughput::{rt, Counter, Shape};

/// The bench node's settings on mconn-tokio.
pub fn node_config(encrypted: bool, config: Config, io_buffer: Option<usize>) -> NodeConfig {
    let mut c = NodeConfig::new(NodeKey::from_seed(random32()), "mconn-bench", &channels());
    c.session.conn = config;
    if !encrypted {
        c = c.plaintext();
    }
    if let Some(b) = io_buffer {
        c.io_buffer = b;
    }
    c
}

/// Handshakes over an accepted or dialed std socket (inside a runtime).
async fn peer(cfg: &NodeConfig, sock: StdStream, outbound: bool) -> Peer {
    sock.set_nonblocking(true).expect("nonblocking");
    let sock = tokio::net::TcpStream::from_std(sock).expect("tokio stream");
    mconn_tokio::start(cfg, sock, outbound, None)
        .await
        .expect("mconn-tokio handshake")
}

/// Throughput through mconn-tokio (each side a current-thread runtime).
pub fn throughput(net: &Net, shape: Shape, encrypted: bool) -> f64 {
    let listener = net.listen();
    let addr = listener.local_addr().expect("addr");
    let cfg = node_config(encrypted, Config::cometbft(), None);
    std::thread::scope(|s| {
        let cfg2 = node_config(encrypted, Config::cometbft(), None);
        let recv = s.spawn(move || {
            let (sock, _) = listener.accept().expect("accept");
            rt().block_on(async {
                let p = peer(&cfg2, sock, false).await;
                let mut c = Counter::new(shape);
                while !c.done() {
                    if p.recv_with(BULK, |_| ()).await.is_err() {
                        break;
                    }
                    c.on_msg();
                }
                p.abort();
                c.rate()
            })
        });
        let sock = net.connect(addr);
        rt().block_on(async {
            let p = peer(&cfg, sock, true).await;
            let msg = vec![0xa5u8; shape.size];
            while p.send(BULK, &msg).await.is_ok() {}
        });
        recv.join().expect("mconn-tokio receiver")
    })
}

/// Priority under load through mconn-tokio.
pub fn latency(net: &Net, load: Load, config: Config) -> Lat {
    let listener = net.listen();
    let addr = listener.local_addr().expect("addr");
    let cfg = node_config(true, config, None);
    std::thread::scope(|s| {
        let cfg2 = node_config(true, config, None);
        let recv = s.spawn(move || {
            let (sock, _) = listener.accept().expect("accept");
            rt().block_on(async {
                let p = peer(&cfg2, sock, false).await;
                let mut rec = Recorder::new(load.dur);
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
            })
        });
        let sock = net.connect(addr);
        rt().block_on(async {
            let p = peer(&cfg, sock, true).await;
            let urgent = p.clone();
            let ticker = tokio::spawn(async move {
                let mut tick = tokio::time::interval(load.interval);
                loop {
                    tick.tick().await;
                    if urgent.send(URGENT, &stamp()).await.is_err() {
                        return;
                    }
                }
            });
            let msg = vec![0xb0u8; BULK_SIZE];
            while p.send(BULK, &msg).await.is_ok() {}
            ticker.abort();
        });
        recv.join().expect("mconn-tokio receiver")
    })
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
        let cfg = Arc::new(node_config(true, Config::cometbft(), Some(io_buf)));
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

/// A multi-thread runtime with two workers (both cores of the bench machine).
fn rt2() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Aggregate throughput of `peers` concurrent encrypted bulk connections
/// into one node through mconn-tokio: each side one multi-thread runtime
/// with two workers; the receiving node counts whole messages over all
/// connections together.
pub fn many_bulk(net: &Net, shape: Shape, peers: usize) -> f64 {
    let listener = net.listen();
    let addr = listener.local_addr().expect("addr");
    let cfg = Arc::new(node_config(true, Config::cometbft(), None));
    std::thread::scope(|s| {
        let cfg2 = Arc::new(node_config(true, Config::cometbft(), None));
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
