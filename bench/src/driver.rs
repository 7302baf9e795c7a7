//! A minimal tokio driver for one mconn [`Session`] over a TCP stream: the
//! crate's documented drain loop (feed input, take messages and events, let
//! the application queue sends, drain `poll_transmit`, wait for readiness or
//! the next deadline). The application runs inside the loop, as a
//! [`App`] callback set, so no channel hop is measured.
//!
//! This stands in for the `mconn-tokio` adapter until it lands on main; it
//! does the same work per byte (one task per connection, non-blocking I/O
//! through caller-owned buffers).

use std::io;
use std::net::TcpStream as StdStream;
use std::sync::OnceLock;
use std::time::Duration;

use mconn::conn::{ChannelConfig, Config, Error, GrowBuf};
use mconn::identity::NodeKey;
use mconn::secret::{AeadBackend, RingChaCha, RustCryptoChaCha};
use mconn::session::{Event, Security, Session, SessionConfig};
use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
use mconn::Instant;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// The bulk channel (priority 1) and the urgent one (priority 10): the same
/// ids and priorities the Go side uses.
pub const BULK: u8 = 0x40;
/// The urgent channel.
pub const URGENT: u8 = 0x22;

/// Which AEAD, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sec {
    /// No SecretConnection.
    Plain,
    /// SecretConnection with RustCrypto's ChaCha20-Poly1305 (the default).
    RustCrypto,
    /// SecretConnection with ring's ChaCha20-Poly1305.
    Ring,
}

/// Driver knobs.
#[derive(Clone, Copy, Debug)]
pub struct Opts {
    /// Encryption.
    pub sec: Sec,
    /// Bytes of the read buffer and of the write buffer.
    pub io_buf: usize,
}

/// The bench channels: urgent (priority 10) and bulk (priority 1), queues of
/// 100 messages, 2 MiB message capacity (the Go side uses the same).
pub fn channels() -> [ChannelConfig; 2] {
    [
        ChannelConfig::new(URGENT, 10)
            .send_queue(100)
            .recv_message_capacity(2 << 20),
        ChannelConfig::new(BULK, 1)
            .send_queue(100)
            .recv_message_capacity(2 << 20),
    ]
}

/// What a connection's application does, called from inside the drain loop.
pub trait App {
    /// Connected, and after every turn: queue sends through `tx`. Returns
    /// when it wants to be called again even without I/O.
    fn pump(&mut self, tx: &mut dyn Tx) -> Option<std::time::Instant>;
    /// A complete message arrived.
    fn on_message(&mut self, ch: u8, msg: &[u8]);
    /// Whether the connection should end now.
    fn done(&self) -> bool;
}

/// Sending side of a session, object-safe over the AEAD type.
pub trait Tx {
    /// [`Session::try_send`].
    fn try_send(&mut self, ch: u8, msg: &[u8]) -> Result<(), Error>;
}

impl<A: AeadBackend> Tx for Session<GrowBuf, A> {
    fn try_send(&mut self, ch: u8, msg: &[u8]) -> Result<(), Error> {
        Session::try_send(self, ch, msg)
    }
}

/// Microseconds since the first call: the core's clock.
pub fn now() -> Instant {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    let start = *START.get_or_init(std::time::Instant::now);
    Instant::from_micros(start.elapsed().as_micros() as u64)
}

/// Unix time in nanoseconds (shared by processes on one machine).
pub fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// 32 random bytes.
pub fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).expect("OS randomness");
    b
}

/// How the connection ended.
#[derive(Debug)]
pub enum End {
    /// The application said done.
    Done,
    /// The peer closed (EOF, reset, or a session close).
    PeerGone(String),
}

/// Runs one session over `stream` until the application is done or the peer
/// goes away.
pub async fn run<P: App>(stream: StdStream, opts: Opts, config: Config, app: &mut P) -> End {
    match opts.sec {
        Sec::Plain | Sec::RustCrypto => {
            run_with::<RustCryptoChaCha, P>(stream, opts, config, app).await
        }
        Sec::Ring => run_with::<RingChaCha, P>(stream, opts, config, app).await,
    }
}

fn session<A: AeadBackend>(
    key: &NodeKey,
    id: &str,
    sec: Sec,
    config: Config,
) -> Session<GrowBuf, A> {
    let info = NodeInfo {
        protocol_version: ProtocolVersion::new(8, 11, 0),
        default_node_id: id,
        listen_addr: "tcp://127.0.0.1:26656",
        network: "mconn-bench",
        version: "0.1.0",
        channels: &[URGENT, BULK],
        moniker: "mconn-bench",
        ..NodeInfo::default()
    };
    let security = match sec {
        Sec::Plain => Security::Plaintext,
        _ => Security::Secret {
            key,
            ephemeral: random32(),
        },
    };
    let cfg = SessionConfig::new(config);
    Session::new(&cfg, &channels(), &info, security, None, now(), |len| {
        Some(GrowBuf::new(len))
    })
    .expect("session config")
}

async fn run_with<A: AeadBackend, P: App>(
    stream: StdStream,
    opts: Opts,
    config: Config,
    app: &mut P,
) -> End {
    let key = NodeKey::from_seed(random32());
    let id = key.node_id().to_string();
    let mut s: Session<GrowBuf, A> = session(&key, &id, opts.sec, config);
    stream.set_nodelay(true).ok();
    stream.set_nonblocking(true).expect("nonblocking");
    let stream = TcpStream::from_std(stream).expect("tokio stream");
    drive(&stream, &mut s, opts.io_buf, app).await
}

async fn drive<A: AeadBackend, P: App>(
    stream: &TcpStream,
    s: &mut Session<GrowBuf, A>,
    io_buf: usize,
    app: &mut P,
) -> End {
    let mut rbuf = vec![0u8; io_buf];
    let (mut rlo, mut rhi) = (0usize, 0usize);
    let mut wbuf = vec![0u8; io_buf];
    let (mut wlo, mut whi) = (0usize, 0usize);
    let mut connected = false;
    let mut app_wake = None;
    let mut turns = 0u32;
    loop {
        let mut progress = false;
        let t = now();
        if s.poll_timeout().is_some_and(|d| d <= t) {
            s.handle_timeout(t);
        }
        if rlo < rhi {
            match s.handle_input(t, &rbuf[rlo..rhi]) {
                Ok(used) => {
                    progress |= used > 0;
                    rlo += used;
                    if rlo == rhi {
                        (rlo, rhi) = (0, 0);
                    }
                }
                Err(e) => return End::PeerGone(e.to_string()),
            }
        }
        while let Some((ch, msg)) = s.poll_message() {
            app.on_message(ch, msg);
            progress = true;
        }
        while let Some(ev) = s.poll_event() {
            match ev {
                Event::Connected => connected = true,
                Event::Closed(r) => return End::PeerGone(r.to_string()),
                Event::Writable(_) => {}
            }
        }
        if app.done() {
            return End::Done;
        }
        if connected {
            app_wake = app.pump(s);
        }
        // At most one buffer's worth of new output per turn, so the
        // application gets to queue urgent messages between buffers.
        let mut refills = 0;
        loop {
            if wlo == whi {
                if refills == 1 {
                    break;
                }
                refills += 1;
                whi = s.poll_transmit(t, &mut wbuf);
                wlo = 0;
                if whi == 0 {
                    break;
                }
            }
            match stream.try_write(&wbuf[wlo..whi]) {
                Ok(n) => {
                    wlo += n;
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return End::PeerGone(e.to_string()),
            }
        }
        if rlo > 0 && rlo < rhi {
            rbuf.copy_within(rlo..rhi, 0);
            (rlo, rhi) = (0, rhi - rlo);
        }
        let can_read = rhi < rbuf.len();
        if can_read {
            match stream.try_read(&mut rbuf[rhi..]) {
                Ok(0) => return End::PeerGone("eof".into()),
                Ok(n) => {
                    rhi += n;
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return End::PeerGone(e.to_string()),
            }
        }
        if progress {
            turns += 1;
            if turns % 64 == 0 {
                tokio::task::yield_now().await;
            }
            continue;
        }
        // Nothing moved: wait for the socket or the next deadline.
        let deadline = [
            s.poll_timeout().map(|d| {
                let wait = d.as_micros().saturating_sub(now().as_micros());
                std::time::Instant::now() + Duration::from_micros(wait)
            }),
            app_wake,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or_else(|| std::time::Instant::now() + Duration::from_secs(3600));
        let interest = match (can_read, wlo < whi) {
            (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
            (true, false) => Some(Interest::READABLE),
            (false, true) => Some(Interest::WRITABLE),
            (false, false) => None,
        };
        let sleep = tokio::time::sleep_until(deadline.into());
        match interest {
            Some(i) => {
                tokio::select! {
                    r = stream.ready(i) => if let Err(e) = r { return End::PeerGone(e.to_string()) },
                    _ = sleep => {}
                }
            }
            None => sleep.await,
        }
    }
}
