//! SecretConnection benchmarks: handshakes per second (two in-memory
//! machines), sealed-stream throughput (seal + open + consume) for 1 KiB
//! and 1 MiB messages, and beside them the raw AEAD seal rate on 1028-byte
//! buffers, per backend (`ring` with `--features ring`).
//!
//! `cargo bench -p mconn --bench secret [--features ring]`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mconn::identity::NodeKey;
use mconn::secret::{AeadBackend, RustCryptoChaCha, SecretConnection, SEALED_FRAME_LEN};
use std::time::Duration;

fn handshake<A: AeadBackend>(a_key: &NodeKey, b_key: &NodeKey, n: u8) -> bool {
    let mut a = SecretConnection::<A>::with_backend(a_key, [n; 32]);
    let mut b = SecretConnection::<A>::with_backend(b_key, [n.wrapping_add(1); 32]);
    let mut buf = [0u8; 2 * SEALED_FRAME_LEN];
    for _ in 0..4 {
        let n = a.poll_transmit(&mut buf);
        b.handle_input(&buf[..n]).unwrap();
        let n = b.poll_transmit(&mut buf);
        a.handle_input(&buf[..n]).unwrap();
    }
    a.is_established() && b.is_established()
}

fn pair<A: AeadBackend>() -> (SecretConnection<A>, SecretConnection<A>) {
    let (ka, kb) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
    let mut a = SecretConnection::<A>::with_backend(&ka, [3; 32]);
    let mut b = SecretConnection::<A>::with_backend(&kb, [4; 32]);
    let mut buf = [0u8; 2 * SEALED_FRAME_LEN];
    for _ in 0..4 {
        let n = a.poll_transmit(&mut buf);
        b.handle_input(&buf[..n]).unwrap();
        let n = b.poll_transmit(&mut buf);
        a.handle_input(&buf[..n]).unwrap();
    }
    assert!(a.is_established() && b.is_established());
    (a, b)
}

/// Seals `msg` on `a`, opens and consumes it on `b`.
fn transfer<A: AeadBackend>(
    a: &mut SecretConnection<A>,
    b: &mut SecretConnection<A>,
    msg: &[u8],
    wire: &mut [u8],
) -> usize {
    let (used, written) = a.seal(msg, wire).unwrap();
    assert_eq!(used, msg.len());
    let mut off = 0;
    let mut got = 0;
    while off < written {
        off += b.handle_input(&wire[off..written]).unwrap();
        let n = b.plaintext().len();
        got += n;
        b.consume_plaintext(n);
    }
    got
}

fn bench_backend<A: AeadBackend>(c: &mut Criterion, name: &str) {
    let (ka, kb) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
    let mut g = c.benchmark_group(format!("secret/{name}"));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));

    g.throughput(Throughput::Elements(1));
    let mut n = 0u8;
    g.bench_function("handshake", |bench| {
        bench.iter(|| {
            n = n.wrapping_add(2);
            assert!(handshake::<A>(&ka, &kb, n | 1));
        })
    });

    let aead = A::new(&[7; 32]);
    let mut frame = [0x55u8; 1028];
    g.throughput(Throughput::Bytes(1028));
    g.bench_function("raw_seal_1028", |bench| {
        bench.iter(|| black_box(aead.seal_in_place(&[0; 12], black_box(&mut frame)).unwrap()))
    });

    for size in [1024usize, 1024 * 1024] {
        let (mut a, mut b) = pair::<A>();
        let msg = vec![0xa5u8; size];
        let mut wire = vec![0u8; size.div_ceil(1024) * SEALED_FRAME_LEN];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("stream", size), &msg, |bench, msg| {
            bench.iter(|| assert_eq!(transfer(&mut a, &mut b, msg, &mut wire), msg.len()))
        });
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_backend::<RustCryptoChaCha>(c, "rustcrypto");
    #[cfg(feature = "ring")]
    bench_backend::<mconn::secret::RingChaCha>(c, "ring");
}

criterion_group!(secret, benches);
criterion_main!(secret);
