//! The socket receive buffer, sized from the link once the handshake is
//! done.
//!
//! Whatever sits in the kernel's receive queue is bulk data an urgent
//! message waits behind: the receiver must decrypt all of it first. Linux
//! autotunes that queue to megabytes on a fast link whenever the reader is
//! slower than the link (a node busy with crypto, a reactor that applies
//! back-pressure), so on loopback or a LAN an urgent vote can sit behind
//! milliseconds of blocks. Capping it for every link would cap throughput
//! on long ones (a window of `W` bytes carries at most `W ÷ RTT`).
//!
//! The handshake measures the round trip (an upper bound: see
//! [`Session::handshake_duration`](mconn::session::Session::handshake_duration)),
//! so the buffer can hold what the link needs and no more:
//! `max(min, rate × handshake)` on links whose handshake took at most
//! `max_rtt`; the kernel's autotuning everywhere else.

use core::time::Duration;

use embedded_io_async::Read;

use crate::{Conn, Platform};
use mconn::conn::GrowBuf;

/// How the receive buffer follows the link (see the [module docs](self)).
///
/// ```
/// use core::time::Duration;
/// use mconn_driver::ReceiveWindow;
/// let w = ReceiveWindow::DEFAULT;
/// // Loopback or a LAN: a quarter of a millisecond of handshake.
/// assert_eq!(w.bytes_for(Duration::from_micros(250)), Some(128 * 1024));
/// // 2 ms across a datacenter: room for 512 MB/s.
/// assert_eq!(w.bytes_for(Duration::from_millis(2)), Some(1_024_000));
/// // A long link: the kernel's autotuning.
/// assert_eq!(w.bytes_for(Duration::from_millis(30)), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiveWindow {
    /// Bytes per second the buffer must sustain at the measured round
    /// trip (a window of `rate × RTT`).
    pub rate: u32,
    /// The smallest buffer set.
    pub min: u32,
    /// Links whose handshake took longer keep the kernel's autotuning.
    pub max_rtt: Duration,
}

impl ReceiveWindow {
    /// 512 MB/s, at least 128 KiB, on links whose handshake took at most
    /// 4 ms (at most 2 MB set).
    pub const DEFAULT: ReceiveWindow = ReceiveWindow {
        rate: 512_000_000,
        min: 128 * 1024,
        max_rtt: Duration::from_millis(4),
    };

    /// The receive buffer for a link whose handshake took `handshake`;
    /// `None`: leave the kernel's.
    pub fn bytes_for(&self, handshake: Duration) -> Option<u32> {
        if handshake > self.max_rtt {
            return None;
        }
        let bytes = u128::from(self.rate) * handshake.as_micros() / 1_000_000;
        Some(u32::try_from(bytes).unwrap_or(u32::MAX).max(self.min))
    }
}

impl Default for ReceiveWindow {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The read half of a socket whose receive buffer can be resized.
pub trait ReadHalf: Read {
    /// Sets the socket's receive buffer (`SO_RCVBUF`) to `bytes`; best
    /// effort. Streams without one do nothing.
    fn set_receive_buffer(&mut self, bytes: u32);
}

/// A reader that applies a [`ReceiveWindow`] to its socket on the first
/// read after the handshake (reads go on all the time on a receiving
/// connection; writes may not).
pub(crate) struct Windowed<'a, P: Platform, R> {
    pub(crate) inner: R,
    pub(crate) conn: &'a Conn<P, GrowBuf>,
    /// `None` once applied (or when there is nothing to apply).
    pub(crate) window: Option<ReceiveWindow>,
}

impl<P: Platform, R: ReadHalf> embedded_io::ErrorType for Windowed<'_, P, R> {
    type Error = R::Error;
}

impl<P: Platform, R: ReadHalf> Read for Windowed<'_, P, R> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if let Some(window) = self.window {
            let took = self
                .conn
                .with(|s| s.ready.then(|| s.session.handshake_duration()).ok_or(()));
            if let Ok(took) = took {
                self.window = None;
                if let Some(bytes) = took.and_then(|t| window.bytes_for(t)) {
                    debug!("mconn driver: receive buffer {} bytes", bytes);
                    self.inner.set_receive_buffer(bytes);
                }
            }
        }
        self.inner.read(buf).await
    }
}
