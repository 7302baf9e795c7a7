//! End-to-end benchmark over loopback TCP, tokio and smol side by side with
//! raw TCP measured in the same run.
//!
//! `cargo run --release -p mconn-tokio --example e2e_bench`
//!
//! * throughput: one peer sends `TOTAL` bytes of 1 KiB or 1 MiB messages on
//!   one channel, the other receives them all; MB/s of message payload,
//!   median of `RUNS` runs, encrypted (SecretConnection) and plaintext;
//! * latency: 100-byte messages every 2 ms on a priority-10 channel while a
//!   priority-1 channel saturates the link with 64 KiB messages; p50/p99
//!   from send to receive.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use mconn::conn::{ChannelConfig, GrowBuf};
use mconn::identity::NodeKey;
use mconn_driver::{Conn, NodeConfig, Platform};

const RUNS: usize = 3;
const BULK: u8 = 0x01;
const URGENT: u8 = 0x0a;

fn channels() -> Vec<ChannelConfig> {
    vec![
        ChannelConfig::new(URGENT, 10)
            .send_queue(1000)
            .recv_message_capacity(4096),
        ChannelConfig::new(BULK, 1)
            .send_queue(64)
            .recv_message_capacity((1 << 20) + 64),
    ]
}

fn config(seed: u8, encrypted: bool) -> NodeConfig {
    let mut c = NodeConfig::new(NodeKey::from_seed([seed; 32]), "bench", &channels());
    c.encrypted = encrypted;
    c
}

fn total_for(size: usize, encrypted: bool) -> usize {
    let base = if encrypted { 48 << 20 } else { 96 << 20 };
    if size < 4096 {
        base / 4
    } else {
        base
    }
}

/// Payload bytes per second from `a` to `b`.
async fn throughput<P: Platform>(
    a: &Conn<P, GrowBuf>,
    b: &Conn<P, GrowBuf>,
    size: usize,
    total: usize,
) -> f64 {
    let count = total / size;
    let msg = vec![0x5au8; size];
    let start = Instant::now();
    let send = async {
        for _ in 0..count {
            a.send(BULK, &msg).await.expect("send");
        }
    };
    let recv = async {
        for _ in 0..count {
            b.recv_with(BULK, |m| assert_eq!(m.len(), size))
                .await
                .expect("recv");
        }
    };
    futures::join!(send, recv);
    (count * size) as f64 / start.elapsed().as_secs_f64()
}

/// p50 and p99 of urgent-message latency under a saturating bulk channel.
async fn latency<P: Platform>(a: &Conn<P, GrowBuf>, b: &Conn<P, GrowBuf>) -> (Duration, Duration) {
    const N: usize = 500;
    let origin = Instant::now();
    let done = std::sync::atomic::AtomicBool::new(false);
    let bulk_tx = async {
        let msg = vec![1u8; 64 * 1024];
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = a.send(BULK, &msg).await;
        }
    };
    let bulk_rx = async {
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = b.recv_with(BULK, |_| ()).await;
        }
    };
    let urgent_tx = async {
        for _ in 0..N {
            let stamp = (origin.elapsed().as_nanos() as u64).to_be_bytes();
            let mut msg = [0u8; 100];
            msg[..8].copy_from_slice(&stamp);
            a.send(URGENT, &msg).await.expect("urgent send");
            P::sleep_until(P::now() + Duration::from_millis(2)).await;
        }
    };
    let urgent_rx = async {
        let mut lat = Vec::with_capacity(N);
        for _ in 0..N {
            let sent = b
                .recv_with(URGENT, |m| u64::from_be_bytes(m[..8].try_into().unwrap()))
                .await
                .unwrap();
            lat.push(origin.elapsed().saturating_sub(Duration::from_nanos(sent)));
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        // Unblock the bulk tasks.
        a.abort();
        lat
    };
    let (_, _, _, mut lat) = futures::join!(bulk_tx, bulk_rx, urgent_tx, urgent_rx);
    lat.sort();
    (lat[N / 2], lat[N * 99 / 100])
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn mbps(bytes_per_sec: f64) -> String {
    format!("{:>9.0} MB/s", bytes_per_sec / 1e6)
}

/// Raw TCP loopback: one thread writes, one reads, same byte count.
fn raw_tcp(size: usize, total: usize) -> f64 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let writer = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        let msg = vec![0x5au8; size];
        for _ in 0..total / size {
            s.write_all(&msg).unwrap();
        }
    });
    let (mut s, _) = listener.accept().unwrap();
    let start = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    while got < total / size * size {
        got += s.read(&mut buf).unwrap();
    }
    writer.join().unwrap();
    got as f64 / start.elapsed().as_secs_f64()
}

struct Row {
    what: String,
    tokio: String,
    smol: String,
    raw: String,
}

fn tokio_pair(
    rt: &tokio::runtime::Runtime,
    encrypted: bool,
) -> (mconn_tokio::Peer, mconn_tokio::Peer) {
    rt.block_on(async {
        let listener = mconn_tokio::Listener::bind("127.0.0.1:0", config(2, encrypted))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let a = config(1, encrypted);
        let (out, inb) = tokio::join!(mconn_tokio::connect(&a, addr, None), listener.accept());
        (out.unwrap(), inb.unwrap().0)
    })
}

fn smol_pair(encrypted: bool) -> (mconn_smol::Peer, mconn_smol::Peer) {
    smol::block_on(async {
        let listener =
            mconn_smol::Listener::bind("127.0.0.1:0".parse().unwrap(), config(2, encrypted))
                .unwrap();
        let addr = listener.local_addr().unwrap();
        let a = config(1, encrypted);
        let (out, inb) = futures::join!(mconn_smol::connect(&a, addr, None), listener.accept());
        (out.unwrap(), inb.unwrap().0)
    })
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for encrypted in [true, false] {
        for size in [1024usize, 1 << 20] {
            let total = total_for(size, encrypted);
            let (mut t, mut s, mut r) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..RUNS {
                let (a, b) = tokio_pair(&rt, encrypted);
                t.push(rt.block_on(throughput(&a, &b, size, total)));
                rt.block_on(async { a.close().await.ok() });
                let (a, b) = smol_pair(encrypted);
                s.push(smol::block_on(throughput(&a, &b, size, total)));
                smol::block_on(async { a.close().await.ok() });
                r.push(raw_tcp(size, total));
            }
            rows.push(Row {
                what: format!(
                    "throughput {} msgs, {}",
                    if size == 1024 { "1 KiB" } else { "1 MiB" },
                    if encrypted { "encrypted" } else { "plaintext" }
                ),
                tokio: mbps(median(t)),
                smol: mbps(median(s)),
                raw: mbps(median(r)),
            });
        }
    }
    for encrypted in [true, false] {
        let (a, b) = tokio_pair(&rt, encrypted);
        let (tp50, tp99) = rt.block_on(latency(&a, &b));
        let (a, b) = smol_pair(encrypted);
        let (sp50, sp99) = smol::block_on(latency(&a, &b));
        rows.push(Row {
            what: format!(
                "100 B prio-10 latency p50/p99, prio-1 saturating, {}",
                if encrypted { "encrypted" } else { "plaintext" }
            ),
            tokio: format!("{tp50:.2?} / {tp99:.2?}"),
            smol: format!("{sp50:.2?} / {sp99:.2?}"),
            raw: "-".into(),
        });
    }
    println!(
        "{:<62} {:>22} {:>22} {:>16}",
        "loopback, median of 3", "mconn-tokio", "mconn-smol", "raw TCP"
    );
    for r in rows {
        println!(
            "{:<62} {:>22} {:>22} {:>16}",
            r.what, r.tokio, r.smol, r.raw
        );
    }
}
