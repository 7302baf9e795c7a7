//! # mconn-smol — mconn connections over smol / async-io TCP
//!
//! The same API as `mconn-tokio`: [`connect`] (dial with a timeout, then
//! SecretConnection — unless [`NodeConfig::plaintext`] — and the NodeInfo
//! exchange) and [`Listener::accept`] return an authenticated [`Peer`]. The
//! connection runs `mconn-driver`'s loop on smol's global executor, with
//! async-io timers; all protocol behaviour lives in the `mconn` core.
//!
//! Sockets get `TCP_NODELAY`; reads and writes go in batches of
//! [`NodeConfig::io_buffer`] (64 KiB; 256 KiB plaintext). Logs go through the `log` crate.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> { smol::block_on(async {
//! use mconn::conn::ChannelConfig;
//! use mconn::identity::NodeKey;
//! use mconn_smol::{connect, NodeConfig};
//!
//! let channels = [ChannelConfig::new(0x20, 10).send_queue(100).recv_message_capacity(1 << 20)];
//! let config = NodeConfig::new(NodeKey::from_seed([7; 32]), "chain", &channels);
//! let peer = connect(&config, "127.0.0.1:26656".parse()?, None).await?;
//! peer.send(0x20, b"hello").await?;
//! let reply = peer.recv(0x20).await?;
//! peer.close().await?;
//! # Ok(()) }) }
//! ```

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;

use mconn::identity::NodeId;
use mconn::Instant;
use mconn_driver::{ephemeral_key, std_instant, std_now, HalfClose, Platform};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{Async, Timer};

pub use mconn_driver::{ConnectError, Disconnect, Error, NodeConfig};

/// The smol platform: the process clock, async-io timers, `std` mutex.
#[derive(Debug)]
pub enum Smol {}

impl Platform for Smol {
    type Lock<T> = std::sync::Mutex<T>;
    fn now() -> Instant {
        std_now()
    }
    async fn sleep_until(deadline: Instant) {
        match std_instant(deadline) {
            Some(at) => {
                Timer::at(at).await;
            }
            None => std::future::pending().await,
        }
    }
}

/// A connection to one peer (cheap to clone; see [`mconn_driver::Conn`]
/// for every call).
pub type Peer = mconn_driver::Peer<Smol>;

/// One half of a shared `Async<TcpStream>` (async-io reads and writes
/// through `&Async<TcpStream>`).
pub struct Half(Arc<Async<TcpStream>>);

impl embedded_io::ErrorType for Half {
    type Error = io::Error;
}
impl embedded_io_async::Read for Half {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf).await
    }
}
impl embedded_io_async::Write for Half {
    async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf).await
    }
    async fn flush(&mut self) -> io::Result<()> {
        (&*self.0).flush().await
    }
}
impl mconn_driver::ReadHalf for Half {
    fn set_receive_buffer(&mut self, bytes: u32) {
        let sock = mconn_driver::socket2::SockRef::from(self.0.get_ref());
        if let Err(e) = sock.set_recv_buffer_size(bytes as usize) {
            log::debug!("mconn-smol: receive buffer not set: {e}");
        }
    }
}
impl HalfClose for Half {
    async fn half_close(&mut self) {
        let _ = self.0.get_ref().shutdown(Shutdown::Write);
    }
}

/// The switch on smol (see [`mconn_driver::switch`]); reactors implement
/// `Reactor<Smol>`. Tasks run on smol's global executor.
pub type Switch = mconn_driver::switch::Switch<Smol>;
/// A peer of a [`Switch`].
pub type SwitchPeer = mconn_driver::switch::SwitchPeer<Smol>;

fn split(
    stream: Async<TcpStream>,
    socket: mconn_driver::SocketOptions,
) -> io::Result<(Half, Half)> {
    mconn_driver::tune_socket(
        mconn_driver::socket2::SockRef::from(stream.get_ref()),
        socket,
    )?;
    let stream = Arc::new(stream);
    Ok((Half(stream.clone()), Half(stream)))
}

impl mconn_driver::switch::Runtime for Smol {
    type Reader = Half;
    type Writer = Half;
    type Listener = Async<TcpListener>;

    fn now() -> Instant {
        std_now()
    }

    async fn sleep_until(deadline: Instant) {
        <Smol as Platform>::sleep_until(deadline).await
    }

    fn spawn(task: impl std::future::Future<Output = ()> + Send + 'static) {
        smol::spawn(task).detach();
    }

    async fn serve(
        peer: mconn_driver::Peer<mconn_driver::switch::OnRuntime<Smol>>,
        reader: Half,
        writer: Half,
        io_buffer: usize,
    ) -> Disconnect {
        peer.serve(reader, writer, io_buffer).await
    }

    async fn bind(addr: SocketAddr) -> io::Result<Async<TcpListener>> {
        Async::new(mconn_driver::listen_socket(addr)?)
    }

    fn local_addr(listener: &Async<TcpListener>) -> io::Result<SocketAddr> {
        listener.get_ref().local_addr()
    }

    async fn accept(
        listener: &Async<TcpListener>,
        socket: mconn_driver::SocketOptions,
    ) -> io::Result<(Half, Half, SocketAddr)> {
        let (stream, addr) = listener.accept().await?;
        let (r, w) = split(stream, socket)?;
        Ok((r, w, addr))
    }

    async fn connect(
        addr: SocketAddr,
        socket: mconn_driver::SocketOptions,
    ) -> io::Result<(Half, Half)> {
        split(Async::<TcpStream>::connect(addr).await?, socket)
    }
}

/// Dials `addr` (within [`NodeConfig::dial_timeout`]) and runs the
/// handshake. `dialed`: the ID we expect there, if known.
pub async fn connect(
    config: &NodeConfig,
    addr: SocketAddr,
    dialed: Option<NodeId>,
) -> Result<Peer, ConnectError> {
    let dial = async {
        Async::<TcpStream>::connect(addr)
            .await
            .map_err(ConnectError::from)
    };
    let timeout = async {
        Timer::after(config.dial_timeout).await;
        Err(ConnectError::DialTimeout)
    };
    let stream = smol::future::or(dial, timeout).await?;
    start(config, stream, true, dialed).await
}

/// Runs the handshake over an already connected stream (`outbound` if we
/// dialed it; `dialed`: the ID expected there) and returns the peer once it is authenticated and
/// its NodeInfo accepted; the session's own deadlines bound the wait.
pub async fn start(
    config: &NodeConfig,
    stream: Async<TcpStream>,
    outbound: bool,
    dialed: Option<NodeId>,
) -> Result<Peer, ConnectError> {
    mconn_driver::tune_socket(
        mconn_driver::socket2::SockRef::from(stream.get_ref()),
        config.socket_options(),
    )?;
    let peer =
        Peer::new(config, outbound, dialed, ephemeral_key()).map_err(ConnectError::Config)?;
    let stream = Arc::new(stream);
    smol::spawn(
        peer.clone()
            .serve(Half(stream.clone()), Half(stream), config.io_buffer),
    )
    .detach();
    peer.connected().await?;
    log::debug!("mconn-smol: connected to {:?}", peer.remote_id());
    Ok(peer)
}

/// A TCP listener that hands out authenticated peers.
#[derive(Debug)]
pub struct Listener {
    inner: Async<TcpListener>,
    config: NodeConfig,
}

impl Listener {
    /// Binds `addr`; accepted connections use `config`.
    pub fn bind(addr: SocketAddr, config: NodeConfig) -> io::Result<Self> {
        Ok(Listener {
            inner: Async::<TcpListener>::bind(addr)?,
            config,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The settings accepted connections use.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The next inbound connection, once its handshake finished.
    pub async fn accept(&self) -> Result<(Peer, SocketAddr), ConnectError> {
        let (stream, addr) = self.inner.accept().await?;
        Ok((start(&self.config, stream, false, None).await?, addr))
    }
}
