//! smol ↔ smol and tokio ↔ smol over real loopback TCP, encrypted and
//! plaintext. Every wait is bounded.

#[path = "../../tokio/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use mconn_smol::{Disconnect, Error, Listener, NodeConfig, Peer};

const LIMIT: Duration = Duration::from_secs(180);

/// Runs `fut` on smol, failing the test if it takes longer than `LIMIT`.
fn bounded<T>(fut: impl std::future::Future<Output = T>) -> T {
    smol::block_on(smol::future::or(async { Some(fut.await) }, async {
        smol::Timer::after(LIMIT).await;
        None
    }))
    .expect("test timed out")
}

async fn pair(a: NodeConfig, b: NodeConfig) -> (Peer, Peer) {
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap(), b).unwrap();
    let addr = listener.local_addr().unwrap();
    let dialed = Some(listener.config().key.node_id());
    let (out, inb) = futures::join!(mconn_smol::connect(&a, addr, dialed), listener.accept());
    match (out, inb) {
        (Ok(a), Ok((b, _))) => (a, b),
        (out, inb) => panic!("connect: {out:?}, accept: {inb:?}"),
    }
}

fn smol_pair_exchange(encrypted: bool) {
    bounded(async {
        let (a, b) = pair(config(1, encrypted), config(2, encrypted)).await;
        check_identity(&a, 2, true);
        check_identity(&b, 1, false);
        // A stalled exchange fails the test (with both sides' state),
        // well before `bounded`'s limit.
        let watchdog = async {
            smol::Timer::after(LIMIT - Duration::from_secs(10)).await;
            for (name, p) in [("a", &a), ("b", &b)] {
                eprintln!("{name}: {:?} end {:?}", p.stats(), p.disconnect_reason());
                for ch in [0x10, 0x11, 0x12] {
                    eprintln!("  {:?}", p.channel_stats(ch));
                }
            }
            false
        };
        let both = async {
            futures::join!(exchange(&a), exchange(&b));
            true
        };
        assert!(
            smol::future::or(both, watchdog).await,
            "exchange stalled (state above)"
        );
        a.close().await.unwrap();
        assert_eq!(b.recv(0x10).await, Err(Error::Closed(Disconnect::Eof)));
    });
}

#[test]
fn smol_encrypted_all_sizes_on_several_channels() {
    smol_pair_exchange(true);
}

#[test]
fn smol_plaintext_all_sizes_on_several_channels() {
    smol_pair_exchange(false);
}

#[test]
fn smol_send_times_out_and_close_flushes() {
    bounded(async {
        let mut a = config(1, false);
        a.send_timeout = Duration::from_millis(300);
        let (a, b) = pair(a, config(2, false)).await;
        let msg = vec![7u8; 256 * 1024];
        let mut sent = 0u32;
        let err = loop {
            match a.send(0x11, &msg).await {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
            assert!(sent < 4000);
        };
        assert_eq!(err, Error::Timeout);
        // Now read everything; close must deliver what was queued.
        let closing = async { a.close().await };
        let reading = async {
            for _ in 0..sent {
                assert_eq!(b.recv(0x11).await.unwrap().len(), msg.len());
            }
            b.recv(0x11).await.map(|m| m.len())
        };
        let (closed, tail) = futures::join!(closing, reading);
        closed.unwrap();
        assert_eq!(tail, Err(Error::Closed(Disconnect::Eof)));
    });
}

/// tokio on one side (its own runtime thread), smol on the other.
fn tokio_smol_exchange(encrypted: bool, tokio_dials: bool) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (tokio_seed, smol_seed) = (1, 2);
    if tokio_dials {
        let listener =
            Listener::bind("127.0.0.1:0".parse().unwrap(), config(smol_seed, encrypted)).unwrap();
        let addr = listener.local_addr().unwrap();
        let tokio_side = rt.spawn(async move {
            let cfg = config(tokio_seed, encrypted);
            let peer = mconn_tokio::connect(&cfg, addr, None).await.unwrap();
            check_identity(&peer, smol_seed, true);
            exchange(&peer).await;
            peer.close().await.unwrap();
        });
        bounded(async {
            let (peer, _) = listener.accept().await.unwrap();
            check_identity(&peer, tokio_seed, false);
            exchange(&peer).await;
            assert_eq!(peer.recv_any().await, Err(Error::Closed(Disconnect::Eof)));
        });
        rt.block_on(async {
            tokio::time::timeout(LIMIT, tokio_side)
                .await
                .unwrap()
                .unwrap()
        });
    } else {
        let listener = rt
            .block_on(mconn_tokio::Listener::bind(
                "127.0.0.1:0",
                config(tokio_seed, encrypted),
            ))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let tokio_side = rt.spawn(async move {
            let (peer, _) = listener.accept().await.unwrap();
            check_identity(&peer, smol_seed, false);
            exchange(&peer).await;
            assert_eq!(
                peer.recv_any().await,
                Err(mconn_tokio::Error::Closed(Disconnect::Eof))
            );
        });
        bounded(async {
            let peer = mconn_smol::connect(&config(smol_seed, encrypted), addr, None)
                .await
                .unwrap();
            check_identity(&peer, tokio_seed, true);
            exchange(&peer).await;
            peer.close().await.unwrap();
        });
        rt.block_on(async {
            tokio::time::timeout(LIMIT, tokio_side)
                .await
                .unwrap()
                .unwrap()
        });
    }
}

#[test]
fn tokio_dials_smol_encrypted() {
    tokio_smol_exchange(true, true);
}

#[test]
fn smol_dials_tokio_encrypted() {
    tokio_smol_exchange(true, false);
}

#[test]
fn tokio_dials_smol_plaintext() {
    tokio_smol_exchange(false, true);
}
