//! What an async runtime supplies to the switch: spawning, TCP, a clock and
//! timers whose futures are `Send` (so the switch's tasks can run on a
//! multi-threaded executor).

use core::future::Future;
use core::marker::PhantomData;
use std::boxed::Box;
use std::io;
use std::net::SocketAddr;

use embedded_io_async::Write;
use mconn::Instant;

use crate::{Disconnect, HalfClose, Platform, ReadHalf};

/// An async runtime the [`Switch`](super::Switch) can run on. `mconn-tokio`
/// and `mconn-smol` implement it in a few lines each; everything else —
/// accept loop, dialer, admission, reactor tasks, timers — is written once
/// in this crate.
pub trait Runtime: Send + Sync + Sized + 'static {
    /// The read half of a TCP stream.
    type Reader: ReadHalf + Send + 'static;
    /// The write half of a TCP stream.
    type Writer: Write + HalfClose + Send + 'static;
    /// A bound TCP listener.
    type Listener: Send + Sync + 'static;

    /// The current time, in the same origin every call.
    fn now() -> Instant;

    /// Completes at `deadline` (at once if it passed).
    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send;

    /// Lets the executor's other tasks run once (see
    /// [`Platform::yield_now`]; default: wake and return `Pending` once).
    fn yield_now() -> impl Future<Output = ()> + Send {
        embassy_futures::yield_now()
    }

    /// Runs `task` in the background until it completes.
    fn spawn(task: impl Future<Output = ()> + Send + 'static);

    /// Binds a TCP listener.
    fn bind(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;

    /// The address a listener is bound to.
    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr>;

    /// The next inbound TCP connection, tuned with [`tune_socket`](crate::tune_socket)
    /// (`socket`), split in two, with the peer's address.
    fn accept(
        listener: &Self::Listener,
        socket: crate::SocketOptions,
    ) -> impl Future<Output = io::Result<(Self::Reader, Self::Writer, SocketAddr)>> + Send;

    /// Opens a TCP connection (the switch bounds it with the dial timeout),
    /// tuned and split like [`accept`](Self::accept)'s.
    fn connect(
        addr: SocketAddr,
        socket: crate::SocketOptions,
    ) -> impl Future<Output = io::Result<(Self::Reader, Self::Writer)>> + Send;

    /// Drives a connection over a stream's halves: implementations write
    /// `peer.serve(reader, writer, io_buffer)` (here the stream types are
    /// concrete, so the future is known to be `Send`).
    fn serve(
        peer: crate::Peer<OnRuntime<Self>>,
        reader: Self::Reader,
        writer: Self::Writer,
        io_buffer: usize,
    ) -> impl Future<Output = Disconnect> + Send;

    /// A random source for the policy's jitter (default: the OS's). A
    /// simulated runtime returns a seeded one, so runs are reproducible.
    fn rng() -> Box<dyn rand_core::RngCore + Send> {
        Box::new(rand_core::OsRng)
    }

    /// 32 fresh random bytes for a connection's ephemeral key (default:
    /// from the OS).
    fn ephemeral_key() -> [u8; 32] {
        crate::ephemeral_key()
    }
}

/// The [`Platform`] of a runtime's switch connections: the runtime's clock
/// and timers, and `std::sync::Mutex` as the lock (so connections can be
/// shared across threads).
pub struct OnRuntime<RT>(PhantomData<RT>);

impl<RT: Runtime> Platform for OnRuntime<RT> {
    type Lock<T> = std::sync::Mutex<T>;

    fn now() -> Instant {
        RT::now()
    }

    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> {
        RT::sleep_until(deadline)
    }

    fn yield_now() -> impl Future<Output = ()> {
        RT::yield_now()
    }
}
