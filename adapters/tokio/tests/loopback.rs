//! tokio ↔ tokio over real loopback TCP. Every test is bounded by a timeout.

mod common;

use std::time::Duration;

use common::*;
use mconn::conn::{ChannelConfig, Config, Keepalive};
use mconn::identity::NodeKey;
use mconn::session::SessionConfig;
use mconn_tokio::{connect, ConnectError, Disconnect, Error, Listener, NodeConfig, Peer};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(180);

async fn pair(a: NodeConfig, b: NodeConfig) -> (Peer, Peer) {
    let listener = Listener::bind("127.0.0.1:0", b).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dialed = Some(listener.config().key.node_id());
    let (out, inb) = tokio::join!(connect(&a, addr, dialed), listener.accept());
    (out.unwrap(), inb.unwrap().0)
}

async fn exchange_both_ways(encrypted: bool) {
    let (a, b) = pair(config(1, encrypted), config(2, encrypted)).await;
    check_identity(&a, 2, true);
    check_identity(&b, 1, false);
    tokio::join!(exchange(&a), exchange(&b));
    let stats = a.stats();
    assert!(stats.bytes_sent > 2 * MIB as u64 && stats.bytes_received > 2 * MIB as u64);
    assert_eq!(a.channel_stats(0x12).unwrap().messages_received, 200);
    a.close().await.unwrap();
    assert_eq!(b.recv(0x10).await, Err(Error::Closed(Disconnect::Eof)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_all_sizes_on_several_channels() {
    timeout(LIMIT, exchange_both_ways(true)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_all_sizes_on_several_channels() {
    timeout(LIMIT, exchange_both_ways(false)).await.unwrap();
}

#[tokio::test]
async fn send_times_out_when_the_peer_does_not_read() {
    timeout(LIMIT, async {
        let mut a = config(1, true);
        a.send_timeout = Duration::from_millis(300);
        let (a, _b) = pair(a, config(2, true)).await;
        let msg = vec![7u8; 256 * 1024];
        let mut sent = 0usize;
        let err = loop {
            match a.send(0x11, &msg).await {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
            assert!(sent < 4000, "socket buffers never filled");
        };
        assert_eq!(err, Error::Timeout);
        assert!(sent > 4, "only {sent} messages before the timeout");
        assert_eq!(
            a.try_send(0x11, &msg),
            Err(Error::Conn(mconn::conn::Error::Full))
        );
        a.abort();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn close_flushes_everything_queued() {
    timeout(LIMIT, async {
        let (a, b) = pair(config(1, true), config(2, true)).await;
        // Fill every send queue without waiting, then close at once.
        let mut queued = Vec::new();
        for (ch, _) in plan() {
            let mut seq = 0;
            while a.try_send(ch, &payload(ch, seq, 50_000)).is_ok() {
                seq += 1;
            }
            queued.push((ch, seq));
        }
        a.close().await.unwrap();
        assert_eq!(
            a.try_send(0x10, b"late"),
            Err(Error::Closed(Disconnect::Session(
                mconn::session::CloseReason::Conn(mconn::conn::CloseReason::Closed)
            )))
        );
        for (ch, count) in queued {
            assert!(count > 0);
            for seq in 0..count {
                assert_eq!(
                    b.recv(ch).await.unwrap(),
                    payload(ch, seq, 50_000),
                    "{ch:#x}/{seq}"
                );
            }
        }
        assert_eq!(b.recv_any().await, Err(Error::Closed(Disconnect::Eof)));
    })
    .await
    .unwrap();
}

/// A hand-driven plaintext peer (the core over a blocking socket) sends the
/// first 16 KiB of a 1 MiB message and drops the connection.
fn raw_peer_dropping_mid_message(addr: std::net::SocketAddr) {
    use mconn::session::{Security, Session};
    use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
    use std::io::{Read, Write};
    let cfg = config(1, false);
    let id = cfg.key.node_id().to_string();
    let ids: Vec<u8> = cfg.channels.iter().map(|c| c.id).collect();
    let info = NodeInfo {
        protocol_version: ProtocolVersion::new(8, 11, 0),
        default_node_id: &id,
        listen_addr: "tcp://127.0.0.1:1",
        network: NETWORK,
        channels: &ids,
        moniker: "node-1",
        ..NodeInfo::default()
    };
    let now = mconn::Instant::ZERO;
    let mut s = Session::with_alloc(
        &cfg.session,
        &cfg.channels,
        &info,
        Security::Plaintext,
        None,
        now,
    )
    .unwrap();
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = vec![0u8; 16 * 1024];
    for _ in 0..100 {
        let n = s.poll_transmit(now, &mut buf);
        sock.write_all(&buf[..n]).unwrap();
        if s.is_connected() {
            break;
        }
        let n = sock.read(&mut buf).unwrap();
        assert!(n > 0);
        s.handle_input(now, &buf[..n]).unwrap();
    }
    assert!(s.is_connected());
    s.try_send(0x11, &vec![1u8; MIB]).unwrap();
    let n = s.poll_transmit(now, &mut buf);
    sock.write_all(&buf[..n]).unwrap();
    drop(sock);
}

#[tokio::test]
async fn a_peer_dropping_mid_message_is_a_typed_error() {
    timeout(LIMIT, async {
        let listener = Listener::bind("127.0.0.1:0", config(2, false))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let raw = std::thread::spawn(move || raw_peer_dropping_mid_message(addr));
        let (b, _) = listener.accept().await.unwrap();
        let got = b.recv(0x11).await.map(|m| m.len());
        assert!(
            matches!(got, Err(Error::Closed(Disconnect::Eof | Disconnect::Io(_)))),
            "{got:?}"
        );
        assert!(b.channel_stats(0x11).unwrap().bytes_received > 10_000);
        raw.join().unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_handshake_cut_short_is_a_typed_error() {
    timeout(LIMIT, async {
        let listener = Listener::bind("127.0.0.1:0", config(2, true))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let raw = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(&[0x22, 0x0a, 0x20, 1, 2, 3]).await.unwrap(); // half a key message
        });
        let err = listener.accept().await.unwrap_err();
        assert!(
            matches!(
                err,
                ConnectError::Handshake(Disconnect::Eof | Disconnect::Io(_))
            ),
            "{err:?}"
        );
        raw.await.unwrap();
        // A dial to nobody fails fast with an I/O error.
        let nobody = config(1, true);
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(matches!(
            connect(&nobody, free, None).await,
            Err(ConnectError::Io(_))
        ));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_wrong_node_at_the_address_is_refused() {
    timeout(LIMIT, async {
        let listener = Listener::bind("127.0.0.1:0", config(2, true))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let wrong = Some(NodeKey::from_seed([9; 32]).node_id());
        let a = config(1, true);
        let (out, _inb) = tokio::join!(connect(&a, addr, wrong), listener.accept());
        assert!(
            matches!(out, Err(ConnectError::Handshake(Disconnect::Session(_)))),
            "{out:?}"
        );
    })
    .await
    .unwrap();
}

/// One channel's reader stops for several pong timeouts while another
/// channel keeps flowing: the connection stays up and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_does_not_break_liveness() {
    timeout(LIMIT, async {
        let keepalive = Keepalive::CometBft {
            ping_interval: Duration::from_millis(150),
            pong_timeout: Duration::from_millis(100),
        };
        let chans = [
            ChannelConfig::new(0x01, 5)
                .send_queue(4)
                .recv_message_capacity(1024)
                .recv_buffer(64 * 1024),
            ChannelConfig::new(0x02, 5)
                .send_queue(4)
                .recv_message_capacity(4096),
        ];
        let cfg = |seed| {
            let mut c = NodeConfig::new(NodeKey::from_seed([seed; 32]), NETWORK, &chans);
            c.session = SessionConfig::new(Config {
                keepalive,
                ..Config::cometbft()
            });
            c
        };
        let (a, b) = pair(cfg(1), cfg(2)).await;
        // 40 slow-channel messages: within 0x01's receive budget, never read for now.
        for i in 0..40u32 {
            a.send(0x01, &i.to_be_bytes()).await.unwrap();
        }
        let start = std::time::Instant::now();
        let mut i = 0u32;
        while start.elapsed() < Duration::from_millis(1200) {
            a.send(0x02, &i.to_be_bytes()).await.unwrap();
            assert_eq!(b.recv(0x02).await.unwrap(), i.to_be_bytes());
            i += 1;
        }
        assert!(i > 50, "fast channel moved only {i} messages");
        assert_eq!(a.disconnect_reason(), None);
        assert_eq!(b.disconnect_reason(), None);
        assert!(
            a.stats().pongs_received >= 4,
            "keepalive ran: {:?}",
            a.stats()
        );
        for i in 0..40u32 {
            assert_eq!(b.recv(0x01).await.unwrap(), i.to_be_bytes());
        }
        a.close().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn dropping_every_handle_stops_the_connection() {
    timeout(Duration::from_secs(30), async {
        let (a, b) = pair(config(1, true), config(2, true)).await;
        drop(a);
        // Our side's driver loop is gone, so the peer sees the end; and
        // `finished` reports it without polling.
        let end = b.finished().await;
        assert!(
            matches!(end, Disconnect::Eof | Disconnect::Io(_)),
            "the peer sees the stream end: {end:?}"
        );
        assert!(b.is_finished());
    })
    .await
    .unwrap();
}

/// A listener that closes each connection as soon as its handshake is
/// through: the dialer's handshake still succeeds (the listener's last
/// NodeInfo bytes and its close may arrive in one read) and the end is
/// reported after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_right_after_the_handshake_does_not_fail_the_dialer() {
    timeout(LIMIT, async {
        let listener = Listener::bind("127.0.0.1:0", config(2, true))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let closer = tokio::spawn(async move {
            while let Ok((peer, _)) = listener.accept().await {
                tokio::spawn(async move { peer.close().await });
            }
        });
        let a = config(1, true);
        for round in 0..200 {
            let peer = connect(&a, addr, None)
                .await
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            check_identity(&peer, 2, true);
            assert_eq!(peer.recv_any().await, Err(Error::Closed(Disconnect::Eof)));
        }
        closer.abort();
    })
    .await
    .unwrap();
}

/// A receiver waiting on a single-threaded runtime — this test's body runs
/// in tokio's current-thread `block_on`, which is polled only between runs
/// of up to 61 tasks — is handed messages as they come: the connection's
/// reader reads at most one more batch before the application takes them,
/// rather than decrypting until the channel's receive budget (here ~68
/// messages) is full, which kept an urgent message that came with the first
/// batch from the application for milliseconds (`mconn-bench`'s latency).
#[tokio::test]
async fn the_reader_runs_at_most_a_batch_ahead_of_a_waiting_receiver() {
    const MSG: usize = 16 * 1024;
    const COUNT: usize = 2000;
    timeout(LIMIT, async {
        let listener = Listener::bind("127.0.0.1:0", config(2, true))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let id = listener.config().key.node_id();
        let sender = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let a = connect(&config(1, true), addr, Some(id)).await.unwrap();
                let msg = vec![5u8; MSG];
                for _ in 0..COUNT {
                    if a.send(0x12, &msg).await.is_err() {
                        return;
                    }
                }
                let _ = a.close().await;
            })
        });
        let (b, _) = listener.accept().await.unwrap();
        // Block this runtime's only thread while the sender fills the
        // socket buffers: the reader then has far more than a batch to read.
        std::thread::sleep(Duration::from_millis(300));
        let mut most_waiting = 0;
        for _ in 0..COUNT {
            b.recv_with(0x12, |m| assert_eq!(m.len(), MSG))
                .await
                .unwrap();
            most_waiting = most_waiting.max(b.channel_stats(0x12).unwrap().recv_queue_len);
        }
        sender.join().unwrap();
        // A 64 KiB batch holds 4 messages: two batches ahead at most.
        assert!(most_waiting <= 8, "{most_waiting} messages waited");
        assert!(most_waiting >= 1, "the sender never got ahead");
    })
    .await
    .unwrap();
}
