//! # mconn-tokio — mconn connections over tokio TCP
//!
//! [`connect`] dials (with a timeout) and runs the full handshake —
//! SecretConnection (unless [`NodeConfig::plaintext`]), NodeInfo exchange —
//! and returns an authenticated [`Peer`]; [`Listener::accept`] does the same
//! for inbound connections. The connection is driven by a spawned task
//! running `mconn-driver`'s loop, which is shared with `mconn-smol` and
//! `mconn-embassy`: all protocol behaviour lives in the `mconn` core.
//!
//! Sockets get `TCP_NODELAY`; reads and writes go in batches of
//! [`NodeConfig::io_buffer`] (64 KiB; 256 KiB plaintext). Logs go through the `log` crate
//! (use `tracing-log` to see them in `tracing`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mconn::conn::ChannelConfig;
//! use mconn::identity::NodeKey;
//! use mconn_tokio::{connect, Listener, NodeConfig};
//!
//! let channels = [ChannelConfig::new(0x20, 10).send_queue(100).recv_message_capacity(1 << 20)];
//! let key = NodeKey::generate(&mut rand_core::OsRng);
//! let listener = Listener::bind("127.0.0.1:0", NodeConfig::new(key, "chain", &channels)).await?;
//! let addr = listener.local_addr()?;
//! let server = tokio::spawn(async move { listener.accept().await });
//!
//! let client = NodeConfig::new(NodeKey::generate(&mut rand_core::OsRng), "chain", &channels);
//! let peer = connect(&client, addr, None).await?;
//! peer.send(0x20, b"hello").await?;
//! let (inbound, _) = server.await??;
//! assert_eq!(inbound.recv(0x20).await?, b"hello");
//! peer.close().await?;
//! # Ok(()) }
//! ```

use std::io;
use std::net::SocketAddr;

use mconn::identity::NodeId;
use mconn::Instant;
use mconn_driver::{ephemeral_key, std_instant, std_now, HalfClose, Platform};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};

pub use mconn_driver::{ConnectError, Disconnect, Error, NodeConfig};

/// The tokio platform: the process clock, tokio timers, `std` mutex.
#[derive(Debug)]
pub enum Tokio {}

impl Platform for Tokio {
    type Lock<T> = std::sync::Mutex<T>;
    fn now() -> Instant {
        std_now()
    }
    async fn sleep_until(deadline: Instant) {
        match std_instant(deadline) {
            Some(at) => tokio::time::sleep_until(at.into()).await,
            None => std::future::pending().await,
        }
    }
    /// tokio's yield: the wake is deferred until the runtime polled its
    /// timers and I/O (and, on a current-thread runtime, `block_on`'s task).
    async fn yield_now() {
        tokio::task::yield_now().await
    }
}

/// A connection to one peer (cheap to clone; see [`mconn_driver::Conn`]
/// for every call).
pub type Peer = mconn_driver::Peer<Tokio>;

/// The read half of a tokio TCP stream.
pub struct Reader(OwnedReadHalf);
/// The write half of a tokio TCP stream.
pub struct Writer(OwnedWriteHalf);

impl embedded_io::ErrorType for Reader {
    type Error = io::Error;
}
impl embedded_io::ErrorType for Writer {
    type Error = io::Error;
}
impl embedded_io_async::Read for Reader {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).await
    }
}
impl embedded_io_async::Write for Writer {
    async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).await
    }
    async fn flush(&mut self) -> io::Result<()> {
        self.0.flush().await
    }
}
impl mconn_driver::ReadHalf for Reader {
    fn set_receive_buffer(&mut self, bytes: u32) {
        let sock = mconn_driver::socket2::SockRef::from(self.0.as_ref());
        if let Err(e) = sock.set_recv_buffer_size(bytes as usize) {
            log::debug!("mconn-tokio: receive buffer not set: {e}");
        }
    }
}
impl HalfClose for Writer {
    async fn half_close(&mut self) {
        let _ = self.0.shutdown().await;
    }
}

/// Dials `addr` (within [`NodeConfig::dial_timeout`]) and runs the
/// handshake. `dialed`: the ID we expect there (checked against the
/// authenticated key), if known.
pub async fn connect(
    config: &NodeConfig,
    addr: impl ToSocketAddrs,
    dialed: Option<NodeId>,
) -> Result<Peer, ConnectError> {
    let stream = tokio::time::timeout(config.dial_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| ConnectError::DialTimeout)??;
    start(config, stream, true, dialed).await
}

/// Runs the handshake over an already connected stream (`outbound` if we
/// dialed it; `dialed`: the ID expected there) and returns the peer once it is authenticated and
/// its NodeInfo accepted; the session's own deadlines bound the wait.
pub async fn start(
    config: &NodeConfig,
    stream: TcpStream,
    outbound: bool,
    dialed: Option<NodeId>,
) -> Result<Peer, ConnectError> {
    mconn_driver::tune_socket(
        mconn_driver::socket2::SockRef::from(&stream),
        config.socket_options(),
    )?;
    let peer =
        Peer::new(config, outbound, dialed, ephemeral_key()).map_err(ConnectError::Config)?;
    let (r, w) = stream.into_split();
    tokio::spawn(peer.clone().serve(Reader(r), Writer(w), config.io_buffer));
    peer.connected().await?;
    log::debug!("mconn-tokio: connected to {:?}", peer.remote_id());
    Ok(peer)
}

/// The switch on tokio (see [`mconn_driver::switch`]); reactors implement
/// `Reactor<Tokio>`.
pub type Switch = mconn_driver::switch::Switch<Tokio>;
/// A peer of a [`Switch`].
pub type SwitchPeer = mconn_driver::switch::SwitchPeer<Tokio>;

impl mconn_driver::switch::Runtime for Tokio {
    type Reader = Reader;
    type Writer = Writer;
    type Listener = TcpListener;

    fn now() -> Instant {
        std_now()
    }

    async fn sleep_until(deadline: Instant) {
        <Tokio as Platform>::sleep_until(deadline).await
    }

    async fn yield_now() {
        <Tokio as Platform>::yield_now().await
    }

    fn spawn(task: impl std::future::Future<Output = ()> + Send + 'static) {
        tokio::spawn(task);
    }

    async fn serve(
        peer: mconn_driver::Peer<mconn_driver::switch::OnRuntime<Tokio>>,
        reader: Reader,
        writer: Writer,
        io_buffer: usize,
    ) -> Disconnect {
        peer.serve(reader, writer, io_buffer).await
    }

    async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::from_std(mconn_driver::listen_socket(addr)?)
    }

    fn local_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(
        listener: &TcpListener,
        socket: mconn_driver::SocketOptions,
    ) -> io::Result<(Reader, Writer, SocketAddr)> {
        let (stream, addr) = listener.accept().await?;
        mconn_driver::tune_socket(mconn_driver::socket2::SockRef::from(&stream), socket)?;
        let (r, w) = stream.into_split();
        Ok((Reader(r), Writer(w), addr))
    }

    async fn connect(
        addr: SocketAddr,
        socket: mconn_driver::SocketOptions,
    ) -> io::Result<(Reader, Writer)> {
        let stream = TcpStream::connect(addr).await?;
        mconn_driver::tune_socket(mconn_driver::socket2::SockRef::from(&stream), socket)?;
        let (r, w) = stream.into_split();
        Ok((Reader(r), Writer(w)))
    }
}

/// A TCP listener that hands out authenticated peers.
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
    config: NodeConfig,
}

impl Listener {
    /// Binds `addr`; accepted connections use `config`.
    pub async fn bind(addr: impl ToSocketAddrs, config: NodeConfig) -> io::Result<Self> {
        Ok(Listener {
            inner: TcpListener::bind(addr).await?,
            config,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The settings accepted connections use.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The next inbound connection, once its handshake finished. A failed
    /// handshake is returned as an error; call again for the next one.
    pub async fn accept(&self) -> Result<(Peer, SocketAddr), ConnectError> {
        let (stream, addr) = self.inner.accept().await?;
        Ok((start(&self.config, stream, false, None).await?, addr))
    }
}
