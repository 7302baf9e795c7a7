//! The driver loop: three cooperating tasks inside one future, sharing the
//! connection state through its lock.
//!
//! * reader: reads the socket in large batches, feeds the session, keeps the
//!   bytes the session refused (back-pressure) and offers them again — even
//!   as an empty slice — once the application took messages. It runs at
//!   most one batch ahead of a waiting receiver: after handing one messages
//!   it reads one more batch, then waits for the application's next receive
//!   call (at most [`APP_TURN_WAIT`]). Without this, on a single-threaded
//!   executor that polls the application rarely (tokio's current-thread
//!   `block_on` runs 61 tasks before it polls its future again), the reader
//!   decrypted until the bulk channel's receive budget was full — megabytes
//!   — before the application saw an urgent message that came with the
//!   first batch;
//! * writer: drains `poll_transmit` into one large buffer and writes it with
//!   one call; sleeps until the session or the application has more. Both
//!   loops yield to the executor after [`YIELD_AFTER`] without waiting;
//! * timer: sleeps until `poll_timeout`, then calls `handle_timeout`.
//!
//! Reads and writes are never cancelled while the connection lives, so the
//! streams need not be cancel-safe.

use core::future::poll_fn;
use core::task::Poll;

use embassy_futures::select::{select, select4, Either, Either4};
use embedded_io::Error as _;
use embedded_io_async::{Read, Write};
use mconn::conn::ByteBuf;
use mconn::Instant;

use crate::conn::Caller;

/// How long a socket write may stay pending before the session is told
/// that the peer refuses our output (see
/// [`MConnection::set_output_blocked`](mconn::conn::MConnection::set_output_blocked)).
pub const OUTPUT_BLOCKED_AFTER: core::time::Duration = core::time::Duration::from_millis(200);

/// Most bytes sealed or opened per hold of the connection's lock: a batch
/// of up to `io_buffer` bytes is processed in slices of this size, so an
/// application call (an urgent `try_send`, a receive) or the other
/// direction waits for at most one slice of crypto (about 20 µs with `ring`
/// on a server core; on a microcontroller the lock is held no longer than
/// one slice either).
pub const LOCK_SLICE: usize = 16 * 1024;

/// How long the reader waits, after handing a waiting receiver messages
/// and reading one more batch, for the application to call again before it
/// reads on anyway (a receiver whose future was dropped never calls).
pub const APP_TURN_WAIT: core::time::Duration = core::time::Duration::from_millis(1);

/// How long the reader or the writer may run without waiting before it
/// lets the executor's other tasks run once ([`Platform::yield_now`]):
/// under bulk traffic a socket that never blocks would otherwise keep the
/// application — a timer that must send a vote, say — off a single-threaded
/// executor for as long as the peer keeps up. (Measured in time, not bytes:
/// a yield costs tokio a poll of its I/O driver, which every 256 KiB cost
/// a third of plaintext throughput.)
pub const YIELD_AFTER: core::time::Duration = core::time::Duration::from_millis(1);
use crate::{Conn, Disconnect, Platform};

impl<P: Platform, B: ByteBuf> Conn<P, B> {
    /// Drives the connection over a split byte stream until it ends; returns
    /// why. `rx_buf` and `tx_buf` are the batch buffers (64 KiB each is a
    /// good size on a server; a few KiB on a microcontroller). After it
    /// returns, the caller closes the socket (see [`linger`](crate::linger)).
    pub async fn run<R: Read, W: Write>(
        &self,
        reader: &mut R,
        writer: &mut W,
        rx_buf: &mut (impl IoBuf + ?Sized),
        tx_buf: &mut (impl IoBuf + ?Sized),
    ) -> Disconnect {
        self.with(|s| s.after(Caller::App));
        let outcome = select4(
            self.read_loop(reader, rx_buf),
            self.write_loop(writer, tx_buf),
            self.timer_loop(),
            self.until_aborted(),
        )
        .await;
        self.with(|s| {
            match outcome {
                Either4::First(d) | Either4::Second(Some(d)) => s.end_with(d),
                Either4::Second(None) => s.flushed = true,
                Either4::Third(()) | Either4::Fourth(()) => {}
            }
            s.finished = true;
            if let Some(pool) = &self.pool {
                pool.recharge(s.pool_charge, 0);
                s.pool_charge = 0;
            }
            let end = s.end.unwrap_or(Disconnect::Eof);
            s.end_with(end);
            end
        })
    }

    async fn read_loop<R: Read>(
        &self,
        reader: &mut R,
        io: &mut (impl IoBuf + ?Sized),
    ) -> Disconnect {
        let (mut start, mut end) = (0, 0);
        let mut grown = false;
        // `app_polls` when a waiting receiver was handed messages and had
        // not called since: the batch after that is the last before waiting.
        let mut owed: Option<u32> = None;
        let mut busy = Busy::<P>::new();
        loop {
            if start == end {
                // Between batches: wait for the application (see above), or
                // let the executor's other tasks run after a long busy spell.
                if let Some(mark) = owed.take() {
                    if noting_wait(self.wait_for_app(mark)).await.1 {
                        busy.rested();
                    }
                } else {
                    busy.yield_if_long().await;
                }
                owed = self.with(|s| s.handed.then_some(s.app_polls));
                if !grown && self.with(|s| s.ready) {
                    io.grow();
                    grown = true;
                }
                io.fit(end, P::now());
                start = 0;
                let (read, waited) = noting_wait(reader.read(io.bytes())).await;
                end = match read {
                    Ok(0) => return Disconnect::Eof,
                    Ok(n) => n,
                    Err(e) => return Disconnect::Io(e.kind()),
                };
                trace!("mconn driver: read {} bytes", end);
                if waited {
                    busy.rested();
                }
            }
            let buf = io.bytes();
            poll_fn(|cx| loop {
                let step = self.with(|s| {
                    if s.session.is_closed() {
                        start = end; // nothing more to deliver; keep reading until the end
                        return Some(Poll::Ready(()));
                    }
                    let now = P::now();
                    let was_stalled = s.session.conn().is_input_stalled();
                    let (before, fed) = (start, s.session.stats().bytes_received);
                    if let Some(pool) = &self.pool {
                        let ceiling = pool.ceiling(s.pool_charge);
                        s.session.conn().set_partial_ceiling(ceiling);
                    }
                    let slice_end = end.min(start + LOCK_SLICE);
                    match s.session.handle_input(now, &buf[start..slice_end]) {
                        Ok(n) => start += n,
                        Err(_) => start = end,
                    }
                    if let Some(pool) = &self.pool {
                        let held = s.session.conn().partial_bytes();
                        pool.recharge(s.pool_charge, held);
                        s.pool_charge = held;
                    }
                    let stalled = s.session.conn().is_input_stalled();
                    // Skipping `after` when nothing moved keeps a stalled
                    // reader from waking the other tasks in a loop. (Bytes
                    // the SecretConnection decrypted earlier can move on
                    // without any new ciphertext being taken.)
                    let moved = start > before || s.session.stats().bytes_received != fed;
                    if moved || was_stalled != stalled || s.session.is_closed() {
                        s.after(Caller::Reader);
                    }
                    if start == end && !stalled {
                        return Some(Poll::Ready(()));
                    }
                    if start == slice_end && !stalled {
                        return None; // the next slice, after letting go of the lock
                    }
                    // Back-pressure (a full receive budget, or a rate cap):
                    // offer the rest again once messages were taken or time passed.
                    s.rx.register(cx.waker());
                    Some(Poll::Pending)
                });
                if let Some(poll) = step {
                    return poll;
                }
            })
            .await;
        }
    }

    /// Waits until the application made a receive call after `mark`, the
    /// connection ended, or [`APP_TURN_WAIT`] passed (then the hand-off is
    /// forgotten: the receiver may have been dropped).
    async fn wait_for_app(&self, mark: u32) {
        let turn = poll_fn(|cx| {
            self.with(|s| {
                if s.app_polls != mark || s.end.is_some() {
                    Poll::Ready(())
                } else {
                    s.rx.register(cx.waker());
                    Poll::Pending
                }
            })
        });
        let timeout = P::sleep_until(P::now() + APP_TURN_WAIT);
        if let Either::Second(()) = select(turn, timeout).await {
            self.with(|s| s.handed = false);
        }
    }

    /// `None` once the session closed and everything was written.
    async fn write_loop<W: Write>(
        &self,
        writer: &mut W,
        io: &mut (impl IoBuf + ?Sized),
    ) -> Option<Disconnect> {
        let mut grown = false;
        let mut busy = Busy::<P>::new();
        loop {
            if !grown && self.with(|s| s.ready) {
                io.grow();
                grown = true;
            }
            let buf = io.bytes();
            let mut n = 0;
            let mut waited = false;
            let ready = poll_fn(|cx| loop {
                let step = self.with(|s| {
                    let now = P::now();
                    // One slice per lock hold: an urgent message queued
                    // meanwhile goes into the next slice of this batch.
                    let slice_end = buf.len().min(n + LOCK_SLICE);
                    let mut more = false;
                    while n < slice_end {
                        let k = s.session.poll_transmit(now, &mut buf[n..]);
                        if k == 0 {
                            break;
                        }
                        n += k;
                        more = n >= slice_end && n < buf.len();
                    }
                    s.after(Caller::Writer);
                    if more {
                        None
                    } else if n > 0 {
                        Some(Poll::Ready(Some(n)))
                    } else if s.end.is_some() {
                        Some(Poll::Ready(None))
                    } else {
                        s.tx.register(cx.waker());
                        waited = true;
                        Some(Poll::Pending)
                    }
                });
                if let Some(poll) = step {
                    return poll;
                }
            })
            .await;
            let Some(n) = ready else {
                return writer.flush().await.err().map(|e| Disconnect::Io(e.kind()));
            };
            trace!("mconn driver: write {} bytes", n);
            let (written, blocked) =
                noting_wait(self.write_all_noting_blocks(writer, &buf[..n])).await;
            if let Err(e) = written {
                return Some(Disconnect::Io(e.kind()));
            }
            io.fit(n, P::now());
            if waited || blocked {
                busy.rested();
            } else {
                busy.yield_if_long().await;
            }
        }
    }

    /// Writes `bytes`; when the socket has not taken them after
    /// [`OUTPUT_BLOCKED_AFTER`], tells the session its output is blocked
    /// (the peer is back-pressuring: a pong may be stuck behind our data)
    /// until the write completes. The write itself is never cancelled.
    async fn write_all_noting_blocks<W: Write>(
        &self,
        writer: &mut W,
        bytes: &[u8],
    ) -> Result<(), W::Error> {
        let write = writer.write_all(bytes);
        let mut write = core::pin::pin!(write);
        let soon = P::sleep_until(P::now() + OUTPUT_BLOCKED_AFTER);
        if let Either::First(done) = select(write.as_mut(), soon).await {
            return done;
        }
        self.with(|s| s.session.conn().set_output_blocked(true));
        let done = write.await;
        self.with(|s| s.session.conn().set_output_blocked(false));
        done
    }

    /// Calls `handle_timeout` at each deadline. Once the session ended
    /// gracefully, gives the writer `linger` to hand over the last bytes.
    async fn timer_loop(&self) {
        loop {
            let (deadline, over) = self.with(|s| {
                s.rearm = false;
                s.armed = s.session.poll_timeout();
                (s.armed, s.end.is_some())
            });
            if over {
                P::sleep_until(P::now() + self.linger).await;
                return;
            }
            let rearm = poll_fn(|cx| {
                self.with(|s| {
                    if s.rearm || s.end.is_some() {
                        Poll::Ready(())
                    } else {
                        s.timer.register(cx.waker());
                        Poll::Pending
                    }
                })
            });
            let fired = match deadline {
                Some(at) => matches!(select(P::sleep_until(at), rearm).await, Either::First(())),
                None => {
                    rearm.await;
                    false
                }
            };
            if fired {
                self.with(|s| {
                    let now: Instant = P::now();
                    if s.session.poll_timeout().is_some_and(|t| t <= now) {
                        s.session.handle_timeout(now);
                    }
                    // A receive rate cap may allow input again.
                    s.rx.wake();
                    s.after(Caller::Timer);
                });
            }
        }
    }

    /// Completes when the connection ended other than by a graceful close
    /// (abort, keepalive timeout, peer misbehaviour): the writer may be
    /// stuck on a full socket and must not hold the end.
    async fn until_aborted(&self) {
        poll_fn(|cx| {
            self.with(|s| match s.end {
                Some(end) if !end.is_graceful_close() => Poll::Ready(()),
                _ => {
                    s.any.register(cx.waker());
                    Poll::Pending
                }
            })
        })
        .await
    }
}

/// Since when a driver loop has worked without waiting.
struct Busy<P: Platform> {
    since: Instant,
    platform: core::marker::PhantomData<P>,
}

impl<P: Platform> Busy<P> {
    fn new() -> Self {
        Busy {
            since: P::now(),
            platform: core::marker::PhantomData,
        }
    }

    /// The loop waited (the executor had a turn): busy from now on.
    fn rested(&mut self) {
        self.since = P::now();
    }

    /// After [`YIELD_AFTER`] of work without waiting, yields once.
    async fn yield_if_long(&mut self) {
        if P::now() >= self.since + YIELD_AFTER {
            P::yield_now().await;
            self.rested();
        }
    }
}

/// Runs `fut`; also says whether it had to wait (returned `Pending` at
/// least once), i.e. whether the task gave the executor a turn meanwhile.
async fn noting_wait<F: core::future::Future>(fut: F) -> (F::Output, bool) {
    let mut fut = core::pin::pin!(fut);
    let mut waited = false;
    let out = poll_fn(|cx| {
        let poll = fut.as_mut().poll(cx);
        waited |= poll.is_pending();
        poll
    })
    .await;
    (out, waited)
}

/// A socket batch buffer for [`Conn::run`]: a plain `[u8]`, or one that
/// adapts its size to the traffic (so a connection that never
/// authenticates, or sits idle, holds little memory).
pub trait IoBuf {
    /// The buffer as it is now.
    fn bytes(&mut self) -> &mut [u8];
    /// The handshake is done: the buffer may take its full size from now
    /// on (default: nothing to do). Called only between batches, when the
    /// buffer holds nothing pending.
    fn grow(&mut self) {}
    /// A batch of `used` bytes was read or written through the buffer
    /// (`used == bytes().len()`: it was full, more may be waiting), ending
    /// at `now`: adapt the size for the next one (default: nothing to do).
    /// Called only between batches, when the buffer holds nothing pending.
    fn fit(&mut self, used: usize, now: Instant) {
        let _ = (used, now);
    }
}

impl IoBuf for [u8] {
    fn bytes(&mut self) -> &mut [u8] {
        self
    }
}

/// After [`Conn::run`] returned and the write side was shut down: reads
/// and discards until the peer closes too, an error, or `timeout`, so that
/// closing the socket does not reset data the peer has yet to read.
pub async fn linger<P: Platform, R: Read>(
    reader: &mut R,
    buf: &mut [u8],
    timeout: core::time::Duration,
) {
    let drain = async { while let Ok(1..) = reader.read(buf).await {} };
    let _ = select(drain, P::sleep_until(P::now() + timeout)).await;
}
