//! Owned conveniences (with `alloc`): node settings and a cheap-to-clone
//! peer handle whose buffers grow on demand up to their budgets.

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::future::Future;
use core::ops::Deref;
use core::time::Duration;

use embedded_io_async::Write;
use mconn::conn::{ChannelConfig, Config, ConfigError, GrowBuf};
use mconn::identity::{NodeId, NodeKey};
use mconn::session::{Security, Session, SessionConfig};
use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
use mconn::Instant;

use crate::receive_window::{ReadHalf, ReceiveWindow, Windowed};
use crate::{linger, Conn, Disconnect, IoBuf, PartialPool, Platform, PoolRef};

/// Everything a node needs to open connections: its key, what it announces
/// in its NodeInfo, its channels, and the adapter's timeouts and buffers.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Our long-term node key.
    pub key: NodeKey,
    /// Chain ID; peers on another network are refused.
    pub network: String,
    /// Human-readable node name.
    pub moniker: String,
    /// Software version string announced in NodeInfo.
    pub version: String,
    /// The address we announce (`tcp://host:port`).
    pub listen_addr: String,
    /// P2P / block / app protocol versions (block must match the peer's).
    pub protocol_version: ProtocolVersion,
    /// Our channels, in tie-break order.
    pub channels: Vec<ChannelConfig>,
    /// Connection and handshake settings.
    pub session: SessionConfig,
    /// SecretConnection (default) or plaintext.
    pub encrypted: bool,
    /// How long `send` waits for queue room (default 10 s).
    pub send_timeout: Duration,
    /// How long a TCP connect may take (default 3 s).
    pub dial_timeout: Duration,
    /// Most bytes per socket read and per socket write batch (default
    /// 64 KiB; [`plaintext`](Self::plaintext) sets [`PLAINTEXT_IO_BUFFER`]);
    /// batches start at [`HANDSHAKE_IO_BUFFER`] and grow only while the
    /// traffic fills them.
    pub io_buffer: usize,
    /// Unsent bytes the kernel may hold (Linux `TCP_NOTSENT_LOWAT`; default
    /// 32 KiB): beyond it data waits in the priority queues. `None`: the
    /// kernel's default (higher throughput on some links, worse priority).
    pub unsent_limit: Option<u32>,
    /// A fixed socket receive buffer (`SO_RCVBUF`, set before the
    /// handshake; default `None`). Without it the buffer follows the link:
    /// see `receive_window`. A fixed one caps throughput on long links at
    /// about this ÷ round-trip time (2.6 MB/s for 128 KiB at 50 ms).
    pub recv_buffer: Option<u32>,
    /// Without a fixed `recv_buffer`: the receive buffer sized from the
    /// handshake's round trip (see [`ReceiveWindow`]; default
    /// [`ReceiveWindow::DEFAULT`]: at most 2 MB, and only on links whose
    /// handshake took at most 4 ms). `None`: the kernel's autotuning.
    pub receive_window: Option<ReceiveWindow>,
    /// After a close: how long to wait for the last bytes to reach the
    /// socket, then for the peer to close its side (default 5 s).
    pub linger: Duration,
    /// A partial-message budget shared by every connection made from this
    /// configuration (see [`PartialPool`]); `None` (the default): each
    /// connection has only its own `session.conn.partial_budget`. The
    /// switch sets one from `SwitchConfig::node_partial_budget`.
    pub partial_pool: Option<Arc<PartialPool>>,
}

impl NodeConfig {
    /// Settings with CometBFT's defaults around `key`, `network` and `channels`.
    pub fn new(key: NodeKey, network: impl Into<String>, channels: &[ChannelConfig]) -> Self {
        NodeConfig {
            key,
            network: network.into(),
            moniker: String::from("mconn"),
            version: String::from(env!("CARGO_PKG_VERSION")),
            listen_addr: String::from("tcp://127.0.0.1:26656"),
            protocol_version: ProtocolVersion::new(8, 11, 0),
            channels: channels.to_vec(),
            session: SessionConfig::new(Config::cometbft()),
            encrypted: true,
            send_timeout: Duration::from_secs(10),
            dial_timeout: Duration::from_secs(3),
            io_buffer: 64 * 1024,
            unsent_limit: Some(32 * 1024),
            recv_buffer: None,
            receive_window: Some(ReceiveWindow::DEFAULT),
            linger: Duration::from_secs(5),
            partial_pool: None,
        }
    }

    /// The socket options adapters apply ([`tune_socket`](crate::tune_socket)).
    pub fn socket_options(&self) -> SocketOptions {
        SocketOptions {
            unsent_limit: self.unsent_limit,
            recv_buffer: self.recv_buffer,
        }
    }

    /// The same settings without encryption or authentication, with
    /// batches of up to [`PLAINTEXT_IO_BUFFER`] (set `io_buffer` after this
    /// to choose another size).
    pub fn plaintext(mut self) -> Self {
        self.encrypted = false;
        self.io_buffer = PLAINTEXT_IO_BUFFER;
        self
    }
}

/// The per-socket options of a [`NodeConfig`] that adapters apply when
/// they accept or connect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// See [`NodeConfig::unsent_limit`].
    pub unsent_limit: Option<u32>,
    /// See [`NodeConfig::recv_buffer`].
    pub recv_buffer: Option<u32>,
}

/// [`NodeConfig::io_buffer`] of a plaintext connection: 256 KiB. Without
/// crypto a batch is handled about four times faster, so it keeps an urgent
/// message waiting no longer than 64 KiB of sealed frames do (about 60 µs on
/// a server core), while a quarter of the system calls and wake-ups per
/// byte lifted plaintext 1 MiB throughput by a third (BENCHMARKS.md).
pub const PLAINTEXT_IO_BUFFER: usize = 256 * 1024;

/// Socket batch size while the handshake runs and while a connection is
/// quiet: pings, pongs and handshake messages fit; a sealed frame (1044
/// bytes) that does not is read in two batches, or sealed into the
/// SecretConnection's own frame stage and written in two. Larger batches
/// are taken only once the peer is authenticated and traffic fills them.
pub const HANDSHAKE_IO_BUFFER: usize = 1024;

/// How much a batch buffer grows when a batch filled it: bursts of a few
/// frames take a few KiB, sustained bulk reaches `io_buffer` in three steps.
const GROWTH: usize = 4;

/// How long a batch buffer keeps its size after the last batch that needed
/// more than [`HANDSHAKE_IO_BUFFER`]: a small batch within this time (the
/// tail of a message, a short read between full ones) is part of the bulk
/// and does not shrink it. Without it a bulk stream shrank and regrew its
/// buffers thousands of times a second (each 256 KiB plaintext buffer a
/// fresh `mmap`, page faults and `munmap`: plaintext 1 MiB ran at 2.1
/// instead of 5.9 GB/s whenever the allocator's mmap threshold was low).
pub const IO_BUFFER_QUIET: Duration = Duration::from_millis(250);

/// A batch buffer that adapts to the traffic: [`HANDSHAKE_IO_BUFFER`] bytes
/// until the handshake is done; then [`GROWTH`] times larger (up to `full`)
/// after each batch that filled it, and back to [`HANDSHAKE_IO_BUFFER`]
/// after a batch that fit in that, once no batch needed more for
/// [`IO_BUFFER_QUIET`]. An idle connection's batches are pings and pongs,
/// so it holds two small buffers, not two full ones (after a burst, from
/// its first batch once the burst is [`IO_BUFFER_QUIET`] old).
struct GrowingBuf {
    buf: Vec<u8>,
    full: usize,
    authenticated: bool,
    /// When a batch last needed more than the small size.
    busy_at: Option<Instant>,
}

impl GrowingBuf {
    fn new(full: usize) -> Self {
        let full = full.max(1);
        GrowingBuf {
            buf: vec![0u8; full.min(HANDSHAKE_IO_BUFFER)],
            full,
            authenticated: false,
            busy_at: None,
        }
    }

    /// The quiet size: [`HANDSHAKE_IO_BUFFER`], or `full` if smaller.
    fn small(&self) -> usize {
        self.full.min(HANDSHAKE_IO_BUFFER)
    }

    /// The size for the next batch after one of `used` bytes at `now`.
    fn next_len(&self, used: usize, now: Instant) -> usize {
        let len = self.buf.len();
        let quiet = self
            .busy_at
            .is_none_or(|t| now.saturating_duration_since(t) >= IO_BUFFER_QUIET);
        if used >= len && self.authenticated {
            len.saturating_mul(GROWTH).min(self.full)
        } else if used < self.small() && quiet {
            self.small()
        } else {
            len
        }
    }
}

impl IoBuf for GrowingBuf {
    fn bytes(&mut self) -> &mut [u8] {
        &mut self.buf
    }
    fn grow(&mut self) {
        self.authenticated = true;
    }
    /// Called between batches (nothing pending), so the old contents can
    /// go. A fresh zeroed allocation (not `resize`, which writes every
    /// byte) leaves untouched pages unbacked until a batch needs them.
    fn fit(&mut self, used: usize, now: Instant) {
        let len = self.next_len(used, now);
        if used >= self.small() {
            self.busy_at = Some(now);
        }
        if len != self.buf.len() {
            self.buf = vec![0u8; len];
        }
    }
}

/// The write half of a socket that can be shut down (TCP FIN) on its own.
pub trait HalfClose {
    /// Shuts the write direction down; best effort.
    fn half_close(&mut self) -> impl Future<Output = ()>;
}

/// A connection to one peer: a cheap clone of a shared [`Conn`], whose
/// calls it dereferences to: [`send`](Conn::send), [`try_send`](Conn::try_send),
/// [`recv`](Conn::recv), [`try_recv`](Conn::try_recv), [`recv_any`](Conn::recv_any),
/// [`close`](Conn::close), [`abort`](Conn::abort), [`finished`](Conn::finished),
/// [`remote_id`](Conn::remote_id), [`remote_node_info`](Conn::remote_node_info),
/// [`is_outbound`](Conn::is_outbound), [`stats`](Conn::stats),
/// [`channel_stats`](Conn::channel_stats).
///
/// Dropping the last handle aborts the connection (call
/// [`close`](Conn::close) first to flush what is queued).
pub struct Peer<P: Platform> {
    conn: Arc<Conn<P, GrowBuf>>,
    /// Shared by the application's handles only (not the driver loop's):
    /// when the last one is dropped, the connection is aborted.
    handle: Arc<AbortOnDrop<P>>,
    /// Applied to the socket once the handshake is done.
    receive_window: Option<ReceiveWindow>,
}

/// Aborts the connection when the last application handle goes.
struct AbortOnDrop<P: Platform>(Arc<Conn<P, GrowBuf>>);

impl<P: Platform> Drop for AbortOnDrop<P> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<P: Platform> Clone for Peer<P> {
    fn clone(&self) -> Self {
        Peer {
            conn: self.conn.clone(),
            handle: self.handle.clone(),
            receive_window: self.receive_window,
        }
    }
}

impl<P: Platform> Deref for Peer<P> {
    type Target = Conn<P, GrowBuf>;
    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl<P: Platform> core::fmt::Debug for Peer<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.conn.fmt(f)
    }
}

impl<P: Platform> Peer<P> {
    /// A new connection that has not talked yet: `outbound` if we dialed,
    /// `dialed` the ID we expect there (checked against the authenticated
    /// key), if known; `ephemeral` 32 fresh random bytes. Drive it with
    /// [`serve`](Self::serve).
    pub fn new(
        config: &NodeConfig,
        outbound: bool,
        dialed: Option<NodeId>,
        ephemeral: [u8; 32],
    ) -> Result<Self, ConfigError> {
        let id = config.key.node_id().to_string();
        let channels: Vec<u8> = config.channels.iter().map(|c| c.id).collect();
        let info = NodeInfo {
            protocol_version: config.protocol_version,
            default_node_id: &id,
            listen_addr: &config.listen_addr,
            network: &config.network,
            version: &config.version,
            channels: &channels,
            moniker: &config.moniker,
            ..NodeInfo::default()
        };
        let security = if config.encrypted {
            Security::Secret {
                key: &config.key,
                ephemeral,
            }
        } else {
            Security::Plaintext
        };
        let session = Session::with_alloc(
            &config.session,
            &config.channels,
            &info,
            security,
            dialed,
            P::now(),
        )?;
        let mut conn = Conn::new(session, outbound, config.send_timeout, config.linger);
        if let Some(pool) = &config.partial_pool {
            conn = conn.with_partial_pool(PoolRef::Shared(pool.clone()));
        }
        let conn = Arc::new(conn);
        Ok(Peer {
            handle: Arc::new(AbortOnDrop(conn.clone())),
            conn,
            // A fixed receive buffer was set when the socket was made.
            receive_window: config
                .receive_window
                .filter(|_| config.recv_buffer.is_none()),
        })
    }

    /// Drives the connection (see [`Conn::run`]) with batches of up to
    /// `io_buffer` bytes (smaller while the traffic is light), sizes the
    /// socket's receive buffer once the handshake is done (see
    /// [`NodeConfig::receive_window`]), then shuts the write side down and
    /// lingers until the peer closes too, so nothing the peer has yet to
    /// read is reset.
    pub async fn serve<R: ReadHalf, W: Write + HalfClose>(
        self,
        reader: R,
        mut writer: W,
        io_buffer: usize,
    ) -> Disconnect {
        let mut rx = GrowingBuf::new(io_buffer);
        let mut tx = GrowingBuf::new(io_buffer);
        // The loop keeps the connection, not a handle: dropping every
        // handle the application holds stops it.
        let Peer {
            conn,
            handle,
            receive_window,
        } = self;
        drop(handle);
        let mut reader = Windowed {
            inner: reader,
            conn: &conn,
            window: receive_window,
        };
        let end = conn.run(&mut reader, &mut writer, &mut rx, &mut tx).await;
        writer.half_close().await;
        if matches!(end, Disconnect::Eof) || end.is_graceful_close() {
            linger::<P, _>(&mut reader.inner, rx.bytes(), conn.linger).await;
        }
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `used` sizes, one batch per [`IO_BUFFER_QUIET`], and returns
    /// the buffer length after each.
    fn lengths(buf: &mut GrowingBuf, used: &[usize]) -> Vec<usize> {
        let step = IO_BUFFER_QUIET.as_micros() as u64;
        used.iter()
            .enumerate()
            .map(|(i, &u)| {
                let u = u.min(buf.bytes().len());
                buf.fit(u, Instant::from_micros(step * i as u64));
                buf.bytes().len()
            })
            .collect()
    }

    #[test]
    fn stays_small_until_authenticated() {
        let mut buf = GrowingBuf::new(64 * 1024);
        assert_eq!(
            lengths(&mut buf, &[usize::MAX; 3]),
            [HANDSHAKE_IO_BUFFER; 3]
        );
    }

    #[test]
    fn grows_while_full_and_shrinks_when_quiet() {
        let mut buf = GrowingBuf::new(64 * 1024);
        buf.grow();
        let full = usize::MAX;
        assert_eq!(
            lengths(&mut buf, &[full, full, full, full, 5000, 100, 1000]),
            [4096, 16384, 65536, 65536, 65536, 1024, 1024]
        );
    }

    #[test]
    fn plaintext_batches_grow_to_256_kib_and_back_to_1_kib() {
        let key = mconn::identity::NodeKey::from_seed([7; 32]);
        let cfg = NodeConfig::new(key, "net", &[]).plaintext();
        assert_eq!(cfg.io_buffer, PLAINTEXT_IO_BUFFER);
        let mut buf = GrowingBuf::new(cfg.io_buffer);
        buf.grow();
        let full = usize::MAX;
        assert_eq!(
            lengths(&mut buf, &[full, full, full, full, full, 10]),
            [4096, 16384, 65536, 262_144, 262_144, 1024]
        );
    }

    #[test]
    fn a_small_batch_within_the_quiet_time_keeps_the_size() {
        let mut buf = GrowingBuf::new(PLAINTEXT_IO_BUFFER);
        buf.grow();
        let at = |ms: u64| Instant::from_millis(ms);
        for i in 0..4 {
            let filled = buf.bytes().len();
            buf.fit(filled, at(i));
        }
        assert_eq!(buf.bytes().len(), PLAINTEXT_IO_BUFFER);
        // The tail of a message, then more bulk: no shrink, no regrowth.
        buf.fit(10, at(5));
        buf.fit(PLAINTEXT_IO_BUFFER, at(6));
        buf.fit(300, at(200));
        assert_eq!(buf.bytes().len(), PLAINTEXT_IO_BUFFER);
        // Quiet for IO_BUFFER_QUIET after the last busy batch: small again.
        let quiet = IO_BUFFER_QUIET.as_millis() as u64;
        buf.fit(300, at(6 + quiet - 1));
        assert_eq!(buf.bytes().len(), PLAINTEXT_IO_BUFFER);
        buf.fit(300, at(6 + quiet));
        assert_eq!(buf.bytes().len(), HANDSHAKE_IO_BUFFER);
    }

    #[test]
    fn never_exceeds_a_small_io_buffer() {
        let mut buf = GrowingBuf::new(1000);
        buf.grow();
        assert_eq!(lengths(&mut buf, &[usize::MAX, 10]), [1000, 1000]);
    }
}
