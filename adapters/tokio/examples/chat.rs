//! Two mconn nodes on loopback exchanging messages under load.
//!
//! `cargo run --release -p mconn-tokio --example chat`
//!
//! Node A dials node B over real TCP (SecretConnection, NodeInfo exchange),
//! then for two seconds sends 100-byte chat lines every 10 ms on a
//! priority-10 channel while it saturates a priority-1 channel with 64 KiB
//! bulk messages. Node B reads both channels independently and reports what
//! arrived and each channel's latency; then A closes gracefully (everything
//! queued is delivered) and the program exits.

use std::time::{Duration, Instant};

use mconn::conn::ChannelConfig;
use mconn::identity::NodeKey;
use mconn_tokio::{connect, Listener, NodeConfig, Peer};

const CHAT: u8 = 0x20;
const BULK: u8 = 0x21;
const RUN: Duration = Duration::from_secs(2);

fn stamp(origin: Instant, len: usize) -> Vec<u8> {
    let mut msg = vec![b'.'; len.max(8)];
    msg[..8].copy_from_slice(&(origin.elapsed().as_micros() as u64).to_be_bytes());
    msg
}

fn latency(origin: Instant, msg: &[u8]) -> Duration {
    let sent = u64::from_be_bytes(msg[..8].try_into().expect("stamped"));
    origin.elapsed().saturating_sub(Duration::from_micros(sent))
}

/// Receives one channel until the connection closes; returns (count, bytes, latencies).
async fn drain(peer: Peer, ch: u8, origin: Instant) -> (usize, usize, Vec<Duration>) {
    let (mut count, mut bytes, mut lat) = (0, 0, Vec::new());
    while let Ok(msg) = peer.recv(ch).await {
        count += 1;
        bytes += msg.len();
        lat.push(latency(origin, &msg));
    }
    (count, bytes, lat)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let channels = [
        ChannelConfig::new(CHAT, 10)
            .send_queue(100)
            .recv_message_capacity(1024),
        ChannelConfig::new(BULK, 1)
            .send_queue(4)
            .recv_message_capacity(64 * 1024),
    ];
    let mut config_b = NodeConfig::new(NodeKey::from_seed([2; 32]), "chat-net", &channels);
    config_b.moniker = "bob".into();
    let listener = Listener::bind("127.0.0.1:0", config_b).await?;
    let addr = listener.local_addr()?;
    let bob_id = listener.config().key.node_id();
    let accept = tokio::spawn(async move { listener.accept().await });

    let mut config_a = NodeConfig::new(NodeKey::from_seed([1; 32]), "chat-net", &channels);
    config_a.moniker = "alice".into();
    let alice = connect(&config_a, addr, Some(bob_id)).await?;
    let (bob, _) = accept.await??;
    println!(
        "alice {} -> bob {} at {addr}: connected (SecretConnection)",
        config_a.key.node_id(),
        bob_id
    );

    let origin = Instant::now();
    let chat_rx = tokio::spawn(drain(bob.clone(), CHAT, origin));
    let bulk_rx = tokio::spawn(drain(bob.clone(), BULK, origin));
    let bulk_tx = {
        let alice = alice.clone();
        tokio::spawn(async move {
            while origin.elapsed() < RUN {
                alice.send(BULK, &stamp(origin, 64 * 1024)).await?;
            }
            Ok::<_, mconn_tokio::Error>(())
        })
    };
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    while origin.elapsed() < RUN {
        ticker.tick().await;
        alice.send(CHAT, &stamp(origin, 100)).await?;
    }
    bulk_tx.await??;
    alice.close().await?;
    let elapsed = origin.elapsed();

    println!(
        "{:<28} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "channel", "msgs", "MiB", "p50", "p99", "max"
    );
    for (name, rx) in [
        ("0x20 chat  (priority 10)", chat_rx),
        ("0x21 bulk  (priority 1)", bulk_rx),
    ] {
        let (count, bytes, mut lat) = rx.await?;
        lat.sort();
        println!(
            "{:<28} {:>8} {:>10.1} {:>10.2?} {:>10.2?} {:>10.2?}",
            name,
            count,
            bytes as f64 / (1 << 20) as f64,
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat.last().copied().unwrap_or_default()
        );
    }
    let stats = bob.stats();
    println!(
        "bob received {:.1} MiB on the wire in {elapsed:.2?}; pings/pongs {}/{}; closed: {}",
        stats.bytes_received as f64 / (1 << 20) as f64,
        stats.pings_received,
        stats.pongs_received,
        bob.disconnect_reason()
            .map(|d| d.to_string())
            .unwrap_or_default()
    );
    Ok(())
}
