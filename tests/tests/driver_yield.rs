//! The driver's writer lets the executor's other tasks run once it has run
//! for [`YIELD_AFTER`] without waiting (under bulk traffic a socket that
//! never blocks would otherwise keep a single-threaded executor's other
//! tasks — the application's timers — from running).
//!
//! Deterministic: a fake platform whose clock advances 100 µs per reading
//! and which counts its yields, a socket that takes every write at once, a
//! plaintext peer that only sends its NodeInfo, and `embassy_futures`'
//! polling executor.

use core::future::{poll_fn, Future};
use core::task::Poll;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use mconn::conn::{ChannelConfig, Config};
use mconn::session::{Security, Session, SessionConfig};
use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
use mconn::Instant;
use mconn_driver::{Conn, Platform, YIELD_AFTER};

/// The fake clock, µs; every reading advances it by [`TICK_US`].
static CLOCK_US: AtomicU64 = AtomicU64::new(0);
const TICK_US: u64 = 100;
/// Yields asked for.
static YIELDS: AtomicUsize = AtomicUsize::new(0);

enum Fake {}

impl Platform for Fake {
    type Lock<T> = std::sync::Mutex<T>;
    fn now() -> Instant {
        Instant::from_micros(CLOCK_US.fetch_add(TICK_US, SeqCst))
    }
    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> {
        // The executor polls everything in a loop, so no waker is needed.
        poll_fn(move |_| {
            if CLOCK_US.load(SeqCst) >= deadline.as_micros() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
    fn yield_now() -> impl Future<Output = ()> {
        YIELDS.fetch_add(1, SeqCst);
        embassy_futures::yield_now()
    }
}

/// Hands over `bytes` once, then never has more.
struct Once(Vec<u8>);
impl embedded_io::ErrorType for Once {
    type Error = Infallible;
}
impl embedded_io_async::Read for Once {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        if self.0.is_empty() {
            return core::future::pending().await;
        }
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0.drain(..n);
        Ok(n)
    }
}

/// Takes every write at once; counts the bytes.
struct Sink(u64);
impl embedded_io::ErrorType for Sink {
    type Error = Infallible;
}
impl embedded_io_async::Write for Sink {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

fn session(id: &str, chans: &[ChannelConfig]) -> Session<mconn::conn::GrowBuf> {
    let info = NodeInfo {
        protocol_version: ProtocolVersion::new(8, 11, 0),
        default_node_id: id,
        listen_addr: "tcp://127.0.0.1:26656",
        network: "yield-test",
        channels: &[0x40],
        moniker: "node",
        ..NodeInfo::default()
    };
    let cfg = SessionConfig::new(Config::cometbft());
    Session::with_alloc(&cfg, chans, &info, Security::Plaintext, None, Instant::ZERO).unwrap()
}

#[test]
fn the_writer_yields_after_running_without_a_break() {
    const MSG: usize = 64 * 1024;
    const COUNT: usize = 400;
    let chans = [ChannelConfig::new(0x40, 1).send_queue(64)];
    // The peer's side of the plaintext handshake: its NodeInfo.
    let mut peer = session(&"b".repeat(40), &chans);
    let mut hello = vec![0u8; 4096];
    let n = peer.poll_transmit(Instant::ZERO, &mut hello);
    hello.truncate(n);
    assert!(n > 0);

    let conn: Conn<Fake, _> = Conn::new(
        session(&"a".repeat(40), &chans),
        true,
        Duration::from_secs(3600),
        Duration::from_secs(1),
    );
    let (mut reader, mut writer) = (Once(hello), Sink(0));
    let (mut rx, mut tx) = (vec![0u8; MSG], vec![0u8; MSG]);
    let app = async {
        conn.connected().await.unwrap();
        let msg = vec![0x5a; MSG];
        for _ in 0..COUNT {
            conn.send(0x40, &msg).await.unwrap();
        }
        conn.close().await.unwrap();
    };
    let (_, ()) = embassy_futures::block_on(embassy_futures::join::join(
        conn.run(&mut reader, &mut writer, &mut rx[..], &mut tx[..]),
        app,
    ));

    assert!(
        writer.0 >= (COUNT * MSG) as u64,
        "only {} bytes written",
        writer.0
    );
    // The app keeps 64 messages (4 MiB, 64 batches of at least three
    // clock readings) queued: the writer runs well over `YIELD_AFTER` of
    // fake time between waits.
    let ran = Duration::from_micros(CLOCK_US.load(SeqCst));
    let yields = YIELDS.load(SeqCst);
    assert!(
        ran > YIELD_AFTER * 20,
        "the fake clock only reached {ran:?}"
    );
    assert!(yields >= 10, "{yields} yields in {ran:?} of writing");
    // ... and not at every batch: at most one per `YIELD_AFTER` of clock.
    assert!(
        (yields as u128) <= ran.as_micros() / YIELD_AFTER.as_micros(),
        "{yields} yields in {ran:?}"
    );
}
