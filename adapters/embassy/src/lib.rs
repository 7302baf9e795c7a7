//! # mconn-embassy — mconn connections on embassy, without alloc
//!
//! Drives an `mconn` [`Session`] over any [`embedded_io_async`] byte stream
//! — typically an embassy-net [`TcpSocket`](embassy_net::tcp::TcpSocket) —
//! with embassy-time timers, using the same loop as `mconn-tokio` and
//! `mconn-smol` (`mconn-driver`). Nothing is allocated: the session's
//! channel buffers are carved from caller storage (see [`storage_size`]),
//! and the loop's batch buffers are caller slices.
//!
//! ```ignore
//! static STORAGE: StaticCell<[u8; N]> = StaticCell::new();
//! let conn = mconn_embassy::new_conn(STORAGE.init([0; N]), &config, &channels, &info,
//!     Security::Secret { key: &key, ephemeral }, true, Some(peer_id), Duration::from_secs(10))?;
//! socket.connect(endpoint).await?;
//! join(mconn_embassy::run_socket(&conn, &mut socket, &mut rx, &mut tx), async {
//!     conn.connected().await?;
//!     conn.send(0x20, b"vote").await?;
//!     conn.recv_with(0x20, |msg| handle(msg)).await
//! }).await;
//! ```
//!
//! Logging: `defmt` (feature `defmt`) or `log` (feature `log`).
#![no_std]
#![warn(missing_docs)]

use core::future::Future;
use core::marker::PhantomData;
use core::time::Duration;

use embassy_sync::blocking_mutex::raw::RawMutex;
use mconn::conn::{Arena, ChannelConfig, ConfigError, FixedBuf};
use mconn::identity::NodeId;
use mconn::session::{Security, Session, SessionConfig};
use mconn::wire::node_info::{NodeInfo, MAX_NODE_INFO_SIZE};
use mconn::Instant;
use mconn_driver::Platform;

pub use mconn_driver::{linger, Disconnect, Error};

/// The default lock of a connection. On Cortex-M it is embassy-sync's
/// `ThreadModeRawMutex`: it never masks interrupts (the driver holds the
/// lock while it seals or opens up to [`LOCK_SLICE`](mconn_driver::LOCK_SLICE)
/// bytes, far too long for interrupts to wait), and it requires the
/// connection and its users to run in thread mode (embassy's usual
/// `Executor`; it panics if locked from an interrupt). Use
/// `CriticalSectionRawMutex` explicitly to share a connection with an
/// `InterruptExecutor`, or `NoopRawMutex` when everything runs on one
/// executor. Elsewhere (host tests, other targets) the default is
/// `CriticalSectionRawMutex`.
#[cfg(mconn_cortex_m)]
pub type DefaultMutex = embassy_sync::blocking_mutex::raw::ThreadModeRawMutex;
/// The default lock of a connection (see the Cortex-M note on this alias
/// in the docs built for a Cortex-M target): `CriticalSectionRawMutex`.
#[cfg(not(mconn_cortex_m))]
pub type DefaultMutex = embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;

/// The embassy platform: embassy-time clock and timers, an embassy-sync
/// blocking mutex over `M` ([`DefaultMutex`] unless chosen).
#[derive(Debug)]
pub struct Embassy<M = DefaultMutex>(PhantomData<M>);

impl<M: RawMutex + 'static> Platform for Embassy<M> {
    type Lock<T> = embassy_sync::blocking_mutex::Mutex<M, core::cell::RefCell<T>>;
    fn now() -> Instant {
        Instant::from_micros(embassy_time::Instant::now().as_micros())
    }
    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> {
        let at = embassy_time::Instant::from_micros(
            deadline
                .as_micros()
                .min(embassy_time::Instant::MAX.as_micros()),
        );
        embassy_time::Timer::at(at)
    }
}

/// A connection whose buffers live in caller storage. Every call
/// (`send`, `try_send`, `recv_with`, `close`, `abort`, `stats`, …) is on
/// [`mconn_driver::Conn`].
pub type Conn<'a, M = DefaultMutex> = mconn_driver::Conn<Embassy<M>, FixedBuf<'a>>;

/// Bytes of storage [`new_conn`] needs for `channels` and our NodeInfo.
pub fn storage_size(channels: &[ChannelConfig], local_info: &NodeInfo<'_>) -> usize {
    mconn::conn::Config::arena_size(channels) + local_info.encoded_len() + MAX_NODE_INFO_SIZE
}

/// A connection that has not talked yet, its buffers carved from
/// `storage` (at least [`storage_size`] bytes). `outbound` if we dialed;
/// `dialed` the ID we expect there, if known; `send_timeout` bounds
/// `send` (CometBFT: 10 s). Drive it with [`run_socket`] or [`Conn::run`](mconn_driver::Conn::run).
#[allow(clippy::too_many_arguments)]
pub fn new_conn<'a, M: RawMutex + 'static>(
    storage: &'a mut [u8],
    config: &SessionConfig,
    channels: &[ChannelConfig],
    local_info: &NodeInfo<'_>,
    security: Security<'_>,
    outbound: bool,
    dialed: Option<NodeId>,
    send_timeout: Duration,
) -> Result<Conn<'a, M>, ConfigError> {
    let now = Embassy::<M>::now();
    let mut arena = Arena::new(storage);
    let session = Session::new(config, channels, local_info, security, dialed, now, |len| {
        arena.take(len)
    })?;
    Ok(Conn::new(
        session,
        outbound,
        send_timeout,
        Duration::from_secs(5),
    ))
}

/// Drives `conn` over a connected embassy-net socket until the connection
/// ends (Nagle off; batches of `rx_buf`/`tx_buf`), then closes the socket:
/// FIN, and after a graceful end a bounded wait for the peer's FIN so that
/// nothing it has yet to read is reset.
#[cfg(feature = "net")]
pub async fn run_socket<M: RawMutex + 'static>(
    conn: &Conn<'_, M>,
    socket: &mut embassy_net::tcp::TcpSocket<'_>,
    rx_buf: &mut [u8],
    tx_buf: &mut [u8],
) -> Disconnect {
    socket.set_nagle_enabled(false);
    let end = {
        let (mut reader, mut writer) = socket.split();
        conn.run(&mut reader, &mut writer, rx_buf, tx_buf).await
    };
    socket.close();
    if matches!(end, Disconnect::Eof) || end.is_graceful_close() {
        let _ =
            embassy_time::with_timeout(embassy_time::Duration::from_secs(5), socket.flush()).await;
        linger::<Embassy<M>, _>(socket, rx_buf, Duration::from_secs(5)).await;
    } else {
        socket.abort();
        let _ =
            embassy_time::with_timeout(embassy_time::Duration::from_secs(1), socket.flush()).await;
    }
    end
}
