//! In-memory encode + decode throughput through two connected MConnections:
//! sender `try_send` → `poll_transmit` into a 64 KiB buffer → receiver
//! `handle_input` → `poll_message`. Protobuf codec, no keepalive traffic
//! (time stands still), growable buffers warmed up before measuring.
//!
//! `cargo bench -p mconn --bench conn`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

use mconn::conn::{ChannelConfig, Config, GrowBuf, MConnection};
use mconn::Instant;

const CH: u8 = 0x21;
const WIRE: usize = 64 * 1024;

fn pair() -> (MConnection<GrowBuf>, MConnection<GrowBuf>) {
    let channels = [ChannelConfig::new(CH, 10)
        .send_queue(16)
        .recv_message_capacity(1 << 20)];
    let config = Config::cometbft();
    let a = MConnection::with_alloc(&config, &channels, Instant::ZERO).unwrap();
    let b = MConnection::with_alloc(&config, &channels, Instant::ZERO).unwrap();
    (a, b)
}

/// Sends `msg` from `a` to `b` and takes it; returns the received length.
fn transfer(
    a: &mut MConnection<GrowBuf>,
    b: &mut MConnection<GrowBuf>,
    wire: &mut [u8],
    msg: &[u8],
) -> usize {
    let now = Instant::ZERO;
    a.try_send(CH, msg).unwrap();
    loop {
        let n = a.poll_transmit(now, wire);
        if n == 0 {
            break;
        }
        let mut rest = &wire[..n];
        while !rest.is_empty() {
            let used = b.handle_input(now, rest).unwrap();
            assert!(used > 0, "receiver stalled");
            rest = &rest[used..];
        }
    }
    let (_, got) = b.poll_message().expect("message delivered");
    got.len()
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("conn_transfer");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for size in [100usize, 1024, 64 * 1024, 1 << 20] {
        let msg: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let (mut a, mut b) = pair();
        let mut wire = vec![0u8; WIRE];
        // Warm up: grow every buffer to its working size.
        for _ in 0..4 {
            assert_eq!(transfer(&mut a, &mut b, &mut wire, &msg), size);
        }
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &msg, |bench, msg| {
            bench.iter(|| black_box(transfer(&mut a, &mut b, &mut wire, black_box(msg))))
        });
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
