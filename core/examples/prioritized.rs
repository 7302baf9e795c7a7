//! Two in-memory MConnections over a simulated 10 MB/s link with 2 ms of
//! latency: a priority-1 channel saturated with 64 KiB blocks while a
//! priority-10 channel carries 100-byte "votes" every 5 ms. Prints what
//! arrived per channel and the latency of the urgent messages.
//!
//! `cargo run --release -p mconn --example prioritized`

use std::collections::VecDeque;
use std::time::Duration;

use mconn::conn::{ChannelConfig, Config, Error, GrowBuf, MConnection};
use mconn::Instant;

const URGENT: u8 = 0x22;
const BULK: u8 = 0x40;
const BANDWIDTH: u64 = 10_000_000; // bytes per simulated second
const LATENCY: Duration = Duration::from_millis(2);
const STEP: Duration = Duration::from_micros(100);
const RUN: Duration = Duration::from_secs(3);

struct Link {
    in_flight: VecDeque<(Instant, Vec<u8>)>,
    pending: Vec<u8>,
}

fn main() {
    let channels = [
        ChannelConfig::new(URGENT, 10)
            .send_queue(100)
            .recv_message_capacity(1 << 20),
        ChannelConfig::new(BULK, 1)
            .send_queue(4)
            .recv_message_capacity(1 << 20),
    ];
    let config = Config::cometbft();
    let mut now = Instant::ZERO;
    let mut a: MConnection<GrowBuf> =
        MConnection::with_alloc(&config, &channels, now).expect("config");
    let mut b = MConnection::with_alloc(&config, &channels, now).expect("config");
    let mut link = Link {
        in_flight: VecDeque::new(),
        pending: Vec::new(),
    };
    let mut wire = vec![0u8; 64 * 1024];
    let mut next_vote = now;
    let mut latencies = Vec::new();
    let (mut bulk_msgs, mut bulk_bytes, mut votes_sent) = (0u64, 0u64, 0u64);
    let per_step = (BANDWIDTH as u128 * STEP.as_micros() / 1_000_000) as usize;
    let end = now + RUN;

    while now < end {
        // Application: keep the bulk channel full, send a timestamped vote every 5 ms.
        while a.try_send(BULK, &[0xb0; 64 * 1024]).is_ok() {}
        if now >= next_vote {
            let mut vote = [0u8; 100];
            vote[..8].copy_from_slice(&now.as_micros().to_le_bytes());
            match a.try_send(URGENT, &vote) {
                Ok(()) => votes_sent += 1,
                Err(Error::Full) => {}
                Err(e) => panic!("{e}"),
            }
            next_vote += Duration::from_millis(5);
        }
        // Sender: the link takes at most `per_step` bytes per step.
        if link.pending.len() < per_step {
            let room = (per_step - link.pending.len()).min(wire.len());
            let n = a.poll_transmit(now, &mut wire[..room]);
            link.pending.extend_from_slice(&wire[..n]);
        }
        let chunk: Vec<u8> = link
            .pending
            .drain(..link.pending.len().min(per_step))
            .collect();
        if !chunk.is_empty() {
            link.in_flight.push_back((now + LATENCY, chunk));
        }
        // Receiver: bytes arrive after the latency.
        while link.in_flight.front().is_some_and(|(t, _)| *t <= now) {
            let (_, bytes) = link.in_flight.pop_front().unwrap();
            let used = b.handle_input(now, &bytes).expect("open");
            assert_eq!(used, bytes.len(), "receiver drains every step");
            while let Some((ch, msg)) = b.poll_message() {
                if ch == URGENT {
                    let sent = u64::from_le_bytes(msg[..8].try_into().unwrap());
                    latencies.push(now.as_micros() - sent);
                } else {
                    bulk_msgs += 1;
                    bulk_bytes += msg.len() as u64;
                }
            }
        }
        for c in [&mut a, &mut b] {
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
            }
            while c.poll_event().is_some() {}
        }
        now += STEP;
    }

    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!(
        "simulated link: {} MB/s, {} ms one-way, {} s",
        BANDWIDTH / 1_000_000,
        LATENCY.as_millis(),
        RUN.as_secs()
    );
    println!(
        "channel 0x{BULK:02x} (priority 1):  {bulk_msgs} blocks, {:.1} MB delivered",
        bulk_bytes as f64 / 1e6
    );
    println!(
        "channel 0x{URGENT:02x} (priority 10): {}/{votes_sent} votes delivered, latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "(the link alone adds {:.2} ms; one full 1 KiB packet takes {:.2} ms to serialize)",
        LATENCY.as_secs_f64() * 1e3,
        1036.0 / BANDWIDTH as f64 * 1e3
    );
}
