//! # mconn-driver — the one async loop behind every mconn adapter
//!
//! The `mconn` core is sans-IO: a [`Session`](mconn::session::Session)
//! takes bytes, timer ticks and application calls and gives back bytes,
//! events and deadlines. This crate is the loop that drives it over a
//! socket, written once for every runtime:
//!
//! * the byte stream is any [`embedded_io_async`] reader/writer pair (a tokio
//!   or async-io `TcpStream` split in two, an embassy-net `TcpSocket` split);
//! * time and the lock come from a small [`Platform`] trait — `now()`,
//!   `sleep_until()` and the mutex type — that `mconn-tokio`, `mconn-smol`
//!   and `mconn-embassy` each implement in a few lines;
//! * [`Conn`] is the state the loop and the application share, with every
//!   application call (`send`, `try_send`, per-channel `recv`, `close`, …).
//!
//! Everything protocol-related stays in `mconn`, so all adapters behave the
//! same. Received messages stay in the core's per-channel buffers until the
//! application takes them: a channel nobody reads holds only its own budget,
//! and when that is full the core refuses input (TCP back-pressure) instead
//! of dropping or growing.
//!
//! `no_std` without features; `alloc` adds [`Peer`] (an `Arc` handle) and
//! [`NodeConfig`]; `std` adds the std mutex, the process clock and OS
//! randomness for ephemeral keys.
#![no_std]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[macro_use]
mod fmt;

mod conn;
mod error;
mod partial_pool;
#[cfg(feature = "alloc")]
mod peer;
#[cfg(feature = "std")]
pub mod pex;
#[cfg(feature = "alloc")]
mod receive_window;
mod run;
#[cfg(feature = "std")]
mod std_glue;
#[cfg(feature = "std")]
pub mod switch;

use core::future::Future;

pub use conn::{Conn, State};
#[cfg(feature = "std")]
pub use error::ConnectError;
pub use error::{Disconnect, Error};
pub use partial_pool::{PartialPool, PoolRef};
#[cfg(feature = "alloc")]
pub use peer::{
    HalfClose, NodeConfig, Peer, SocketOptions, HANDSHAKE_IO_BUFFER, IO_BUFFER_QUIET,
    PLAINTEXT_IO_BUFFER,
};
#[cfg(feature = "alloc")]
pub use receive_window::{ReadHalf, ReceiveWindow};
pub use run::{linger, IoBuf, APP_TURN_WAIT, LOCK_SLICE, YIELD_AFTER};
#[cfg(feature = "std")]
pub use socket2;
#[cfg(feature = "std")]
pub use std_glue::{
    ephemeral_key, listen_socket, std_instant, std_now, tune_socket, LISTEN_BACKLOG,
};

pub use mconn;

/// What a runtime provides: a clock, a timer and a lock.
pub trait Platform: 'static {
    /// The lock around one connection's state (held only for short,
    /// non-blocking sections).
    type Lock<T>: Lock<T>;
    /// The current time, in the same origin every call.
    fn now() -> mconn::Instant;
    /// Completes at `deadline` (at once if it passed).
    fn sleep_until(deadline: mconn::Instant) -> impl Future<Output = ()>;
    /// Lets the executor's other tasks run once (the driver loops call it
    /// after running [`YIELD_AFTER`] without waiting). Default: wake
    /// and return `Pending` once; runtimes whose own yield also lets the
    /// timers and the task that called `block_on` run (tokio's does)
    /// override it.
    fn yield_now() -> impl Future<Output = ()> {
        embassy_futures::yield_now()
    }
}

/// A mutex: `std::sync::Mutex`, or an `embassy-sync` blocking mutex over a
/// `RefCell` with any raw mutex.
pub trait Lock<T> {
    /// A lock holding `value`.
    fn new(value: T) -> Self;
    /// Runs `f` with the value locked.
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R;
}

impl<M: embassy_sync::blocking_mutex::raw::RawMutex, T> Lock<T>
    for embassy_sync::blocking_mutex::Mutex<M, core::cell::RefCell<T>>
{
    fn new(value: T) -> Self {
        embassy_sync::blocking_mutex::Mutex::new(core::cell::RefCell::new(value))
    }
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.lock(|cell| f(&mut cell.borrow_mut()))
    }
}
