//! The state one connection shares between its driver loop and the
//! application, and the application-facing calls.

use core::future::poll_fn;
use core::task::{Context, Poll};
use core::time::Duration;

use embassy_futures::select::{select, Either};
use embassy_sync::waitqueue::{MultiWakerRegistration, WakerRegistration};
use mconn::conn::{self, ByteBuf, ChannelStats, ConnStats, MAX_CHANNELS};
use mconn::identity::NodeId;
use mconn::session::{CloseReason, Event, Session};
use mconn::wire::node_info::NodeInfo;
use mconn::Instant;

use crate::partial_pool::PoolRef;
use crate::{Disconnect, Error, Lock, Platform};

/// Tasks that may wait on one channel's receive at once before they take
/// turns (more still work, with spurious wake-ups).
const RECV_WAITERS: usize = 2;
/// Tasks that may wait for room to send, or for any message/state change.
const WAITERS: usize = 8;

/// What the driver loop and the application share, behind the lock.
pub struct State<B: ByteBuf> {
    pub(crate) session: Session<B>,
    /// Why the connection ended; the first reason wins.
    pub(crate) end: Option<Disconnect>,
    /// The last bytes of a graceful close reached the socket.
    pub(crate) flushed: bool,
    /// The driver loop returned.
    pub(crate) finished: bool,
    /// The session is connected and the peer's NodeInfo can be read (the
    /// core keeps it once both NodeInfos crossed, a moment after `Connected`).
    pub(crate) ready: bool,
    ids: [u8; MAX_CHANNELS],
    count: usize,
    next_read: usize,
    /// The deadline the timer task sleeps towards, and whether it must
    /// re-read `poll_timeout` because an earlier one appeared.
    pub(crate) armed: Option<Instant>,
    pub(crate) rearm: bool,
    /// The reader waits for the application to take messages.
    pub(crate) rx: WakerRegistration,
    /// The writer waits for something to transmit.
    pub(crate) tx: WakerRegistration,
    /// The timer waits for an earlier deadline.
    pub(crate) timer: WakerRegistration,
    recv: [MultiWakerRegistration<RECV_WAITERS>; MAX_CHANNELS],
    pub(crate) any: MultiWakerRegistration<WAITERS>,
    send: MultiWakerRegistration<WAITERS>,
    /// Partial-message bytes charged to the node's [`PartialPool`](crate::PartialPool).
    pub(crate) pool_charge: usize,
    /// Receive calls the application made (wrapping): after handing a
    /// waiting receiver messages, the reader reads one more batch at most
    /// before it waits for the next call (see [`Conn::run`](crate::Conn::run)).
    pub(crate) app_polls: u32,
    /// A receiver that was waiting was handed messages and has not called
    /// again since.
    pub(crate) handed: bool,
    /// Bit `i`: a receiver waits on channel `i`; bit [`MAX_CHANNELS`]: on any.
    waiting: u32,
}

/// The `waiting` bit of receivers of any channel.
const ANY_BIT: u32 = 1 << MAX_CHANNELS;

/// Who calls [`State::after`]: a task is never woken by its own call.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    Reader,
    Writer,
    Timer,
    App,
}

impl<B: ByteBuf> State<B> {
    fn new(mut session: Session<B>) -> Self {
        let mut ids = [0u8; MAX_CHANNELS];
        let mut count = 0;
        for (slot, c) in ids.iter_mut().zip(session.conn().channels()) {
            *slot = c.id;
            count += 1;
        }
        State {
            session,
            end: None,
            flushed: false,
            finished: false,
            ready: false,
            ids,
            count,
            next_read: 0,
            armed: None,
            rearm: false,
            rx: WakerRegistration::new(),
            tx: WakerRegistration::new(),
            timer: WakerRegistration::new(),
            recv: core::array::from_fn(|_| MultiWakerRegistration::new()),
            any: MultiWakerRegistration::new(),
            send: MultiWakerRegistration::new(),
            pool_charge: 0,
            app_polls: 0,
            handed: false,
            waiting: 0,
        }
    }

    fn index(&self, ch: u8) -> Option<usize> {
        self.ids[..self.count].iter().position(|&id| id == ch)
    }

    /// Records why the connection ended (first reason wins) and wakes everyone.
    pub(crate) fn end_with(&mut self, reason: Disconnect) {
        if self.end.is_none() {
            debug!("mconn driver: connection over: {}", reason);
            self.end = Some(reason);
        }
        self.session.abort();
        while self.session.poll_event().is_some() {}
        self.wake_all();
    }

    fn wake_all(&mut self) {
        self.rx.wake();
        self.tx.wake();
        self.timer.wake();
        self.any.wake();
        self.send.wake();
        for r in self.recv.iter_mut() {
            r.wake();
        }
    }

    /// The step after every call into the session: drain events, wake the
    /// tasks that can now make progress, move the timer if needed.
    pub(crate) fn after(&mut self, caller: Caller) {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Connected => {
                    debug!("mconn driver: connected");
                    self.any.wake();
                }
                Event::Writable(_) => self.send.wake(),
                Event::Closed(reason) => {
                    if self.end.is_none() {
                        debug!("mconn driver: session closed: {}", reason);
                        self.end = Some(Disconnect::Session(reason));
                    }
                    self.wake_all();
                }
            }
        }
        if !self.ready && self.session.is_connected() && self.session.remote_node_info().is_some() {
            self.ready = true;
            self.any.wake();
        }
        if caller == Caller::Reader {
            let mut arrived = false;
            for i in 0..self.count {
                if matches!(self.session.conn().peek_message(self.ids[i]), Ok(Some(_))) {
                    self.recv[i].wake();
                    arrived = true;
                    self.hand(1 << i);
                }
            }
            if arrived {
                self.any.wake();
                self.hand(ANY_BIT);
            }
        }
        if caller != Caller::Writer {
            self.tx.wake();
        }
        if caller != Caller::Timer {
            let next = self.session.poll_timeout();
            if next.is_some() && (self.armed.is_none() || next < self.armed) {
                self.rearm = true;
                self.timer.wake();
            }
        }
    }

    /// Receivers behind `bits` were woken: note whether one was waiting.
    fn hand(&mut self, bits: u32) {
        if self.waiting & bits != 0 {
            self.waiting &= !bits;
            self.handed = true;
        }
    }

    fn closed_error(&self) -> Error {
        Error::Closed(self.end.unwrap_or(Disconnect::Session(CloseReason::Conn(
            conn::CloseReason::Aborted,
        ))))
    }

    fn try_send(&mut self, ch: u8, msg: &[u8]) -> Result<(), Error> {
        if self.end.is_some() {
            return Err(self.closed_error());
        }
        match self.session.try_send(ch, msg) {
            Ok(()) => {
                self.after(Caller::App);
                Ok(())
            }
            Err(conn::Error::Closed) => Err(self.closed_error()),
            Err(e) => Err(Error::Conn(e)),
        }
    }

    /// Takes the oldest message of channel `i` through `f`.
    fn take<R>(&mut self, i: usize, f: &mut Option<impl FnOnce(u8, &[u8]) -> R>) -> Option<R> {
        let id = self.ids[i];
        let conn = self.session.conn();
        let msg = conn.peek_message(id).ok().flatten()?;
        let out = f.take().map(|f| f(id, msg));
        let _ = conn.pop_message(id);
        // Room in the channel's budget: input the core refused can go on.
        self.rx.wake();
        out
    }

    fn poll_recv<R>(
        &mut self,
        cx: Option<&mut Context<'_>>,
        ch: Option<u8>,
        f: &mut Option<impl FnOnce(u8, &[u8]) -> R>,
    ) -> Poll<Result<R, Error>> {
        self.app_polls = self.app_polls.wrapping_add(1);
        if core::mem::take(&mut self.handed) {
            self.rx.wake(); // the reader may wait for this call
        }
        let found = match ch {
            Some(ch) => {
                let Some(i) = self.index(ch) else {
                    return Poll::Ready(Err(Error::Conn(conn::Error::UnknownChannel)));
                };
                self.take(i, f).ok_or(i)
            }
            None => {
                let start = self.next_read;
                let hit = (0..self.count)
                    .map(|k| (start + k) % self.count.max(1))
                    .find(|&i| {
                        matches!(self.session.conn().peek_message(self.ids[i]), Ok(Some(_)))
                    });
                match hit {
                    Some(i) => {
                        self.next_read = (i + 1) % self.count;
                        self.take(i, f).ok_or(usize::MAX)
                    }
                    None => Err(usize::MAX),
                }
            }
        };
        match found {
            Ok(r) => Poll::Ready(Ok(r)),
            Err(_) if self.end.is_some() => Poll::Ready(Err(self.closed_error())),
            Err(i) => {
                if let Some(cx) = cx {
                    match self.recv.get_mut(i) {
                        Some(w) => {
                            w.register(cx.waker());
                            self.waiting |= 1 << i;
                        }
                        None => {
                            self.any.register(cx.waker());
                            self.waiting |= ANY_BIT;
                        }
                    }
                }
                Poll::Pending
            }
        }
    }
}

/// One connection: the [`Session`], the wake-up plumbing between the
/// driver loop ([`run`](Self::run)) and the application, and the
/// application-facing calls. All calls take `&self`; share it by reference
/// (no alloc) or through [`Peer`](crate::Peer) (an `Arc`).
pub struct Conn<P: Platform, B: ByteBuf> {
    pub(crate) state: P::Lock<State<B>>,
    pub(crate) send_timeout: Duration,
    pub(crate) linger: Duration,
    outbound: bool,
    pub(crate) pool: Option<PoolRef>,
}

impl<P: Platform, B: ByteBuf> Drop for Conn<P, B> {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            pool.leave(self.state.with(|s| s.pool_charge));
        }
    }
}

impl<P: Platform, B: ByteBuf> core::fmt::Debug for Conn<P, B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.with(|s| {
            f.debug_struct("Conn")
                .field("session", &s.session)
                .field("end", &s.end)
                .finish()
        })
    }
}

impl<P: Platform, B: ByteBuf> Conn<P, B> {
    /// Wraps a fresh session; `outbound` if we dialed. `send_timeout`
    /// bounds [`send`](Self::send) (CometBFT: 10 s); `linger` bounds how
    /// long a graceful close may take to hand its last bytes to the socket.
    pub fn new(
        session: Session<B>,
        outbound: bool,
        send_timeout: Duration,
        linger: Duration,
    ) -> Self {
        Conn {
            state: P::Lock::new(State::new(session)),
            send_timeout,
            linger,
            outbound,
            pool: None,
        }
    }

    /// Charges this connection's partial messages to a budget shared with
    /// other connections (see [`PartialPool`](crate::PartialPool)).
    pub fn with_partial_pool(mut self, pool: PoolRef) -> Self {
        pool.join();
        if let Some(old) = self.pool.replace(pool) {
            old.leave(0);
        }
        self
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut State<B>) -> R) -> R {
        self.state.with(f)
    }

    /// Waits until the handshake and NodeInfo exchange finished (the
    /// session enforces their deadlines) and the peer's NodeInfo is
    /// readable, or the connection ended before that. A connection that
    /// got through and ended at once (the peer closed right after its
    /// handshake) is still `Ok`: its messages can be taken, and the next
    /// call reports the end.
    pub async fn connected(&self) -> Result<(), Error> {
        poll_fn(|cx| {
            self.with(|s| {
                if s.ready {
                    Poll::Ready(Ok(()))
                } else if let Some(end) = s.end {
                    Poll::Ready(Err(Error::Closed(end)))
                } else {
                    s.any.register(cx.waker());
                    Poll::Pending
                }
            })
        })
        .await
    }

    /// Queues `msg` on channel `ch` without waiting: `Err(Conn(Full))` when
    /// the channel's send queue has no room.
    pub fn try_send(&self, ch: u8, msg: &[u8]) -> Result<(), Error> {
        self.with(|s| s.try_send(ch, msg))
    }

    /// Queues `msg` on channel `ch`, waiting for queue room up to the send
    /// timeout, then `Err(Timeout)`.
    pub async fn send(&self, ch: u8, msg: &[u8]) -> Result<(), Error> {
        // With room in the queue (the usual case) no clock read and no
        // timer: with 1 KiB messages those were a tenth of the sender's time.
        match self.try_send(ch, msg) {
            Err(Error::Conn(conn::Error::Full)) => {}
            done => return done,
        }
        let deadline = P::now() + self.send_timeout;
        let attempt = poll_fn(|cx| {
            self.with(|s| match s.try_send(ch, msg) {
                Err(Error::Conn(conn::Error::Full)) => {
                    s.send.register(cx.waker());
                    Poll::Pending
                }
                done => Poll::Ready(done),
            })
        });
        match select(attempt, P::sleep_until(deadline)).await {
            Either::First(done) => done,
            Either::Second(()) => Err(Error::Timeout),
        }
    }

    /// Takes the oldest message of channel `ch` through `f` if there is one
    /// (`f` runs under the connection's lock: keep it short). Messages
    /// received before the connection ended can still be taken after.
    pub fn try_recv_with<R>(&self, ch: u8, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, Error> {
        let mut f = Some(|_: u8, m: &[u8]| f(m));
        match self.with(|s| s.poll_recv(None, Some(ch), &mut f)) {
            Poll::Ready(r) => r.map(Some),
            Poll::Pending => Ok(None),
        }
    }

    /// Waits for a message on channel `ch` and takes it through `f`. Each
    /// channel is independent: a channel nobody reads holds only its own
    /// receive budget.
    pub async fn recv_with<R>(&self, ch: u8, f: impl FnOnce(&[u8]) -> R) -> Result<R, Error> {
        let mut f = Some(|_: u8, m: &[u8]| f(m));
        poll_fn(|cx| self.with(|s| s.poll_recv(Some(cx), Some(ch), &mut f))).await
    }

    /// Waits for a message on any channel (round robin) and takes it
    /// through `f(channel, message)`.
    pub async fn recv_any_with<R>(&self, f: impl FnOnce(u8, &[u8]) -> R) -> Result<R, Error> {
        let mut f = Some(f);
        poll_fn(|cx| self.with(|s| s.poll_recv(Some(cx), None, &mut f))).await
    }

    /// Graceful close: stops accepting sends, sends everything already
    /// queued, hands it to the socket, then the socket closes. `Ok` once all
    /// of it was written; otherwise why not.
    pub async fn close(&self) -> Result<(), Error> {
        self.with(|s| {
            s.session.close();
            s.after(Caller::App);
        });
        poll_fn(|cx| {
            self.with(|s| {
                if !s.finished {
                    s.any.register(cx.waker());
                    return Poll::Pending;
                }
                Poll::Ready(match s.end {
                    Some(end) if end.is_graceful_close() && s.flushed => Ok(()),
                    Some(end) if end.is_graceful_close() => Err(Error::Timeout),
                    _ => Err(s.closed_error()),
                })
            })
        })
        .await
    }

    /// Closes at once, dropping anything queued.
    pub fn abort(&self) {
        self.with(|s| {
            s.end_with(Disconnect::Session(CloseReason::Conn(
                conn::CloseReason::Aborted,
            )))
        });
    }

    /// Why the connection ended, once it did.
    pub fn disconnect_reason(&self) -> Option<Disconnect> {
        self.with(|s| s.end)
    }

    /// Waits until the driver loop returned (the socket is done) and gives
    /// why the connection ended.
    pub async fn finished(&self) -> Disconnect {
        poll_fn(|cx| {
            self.with(|s| match (s.finished, s.end) {
                (true, Some(end)) => Poll::Ready(end),
                (true, None) => Poll::Ready(Disconnect::Eof),
                _ => {
                    s.any.register(cx.waker());
                    Poll::Pending
                }
            })
        })
        .await
    }

    /// Whether the driver loop has returned (the socket is done).
    pub fn is_finished(&self) -> bool {
        self.with(|s| s.finished)
    }

    /// Whether we dialed this peer.
    pub fn is_outbound(&self) -> bool {
        self.outbound
    }

    /// The peer's ID (authenticated, unless plaintext), once known.
    pub fn remote_id(&self) -> Option<NodeId> {
        self.with(|s| s.session.remote_id())
    }

    /// Runs `f` on the peer's NodeInfo (under the lock), once received.
    pub fn with_remote_node_info<R>(&self, f: impl FnOnce(&NodeInfo<'_>) -> R) -> Option<R> {
        self.with(|s| s.session.remote_node_info().map(|i| f(&i)))
    }

    /// Connection-wide counters.
    pub fn stats(&self) -> ConnStats {
        self.with(|s| s.session.stats())
    }

    /// Counters of channel `ch`.
    pub fn channel_stats(&self, ch: u8) -> Option<ChannelStats> {
        self.with(|s| s.session.channel_stats(ch))
    }
}

#[cfg(feature = "alloc")]
impl<P: Platform, B: ByteBuf> Conn<P, B> {
    /// Waits for a message on channel `ch`.
    pub async fn recv(&self, ch: u8) -> Result<alloc::vec::Vec<u8>, Error> {
        self.recv_with(ch, <[u8]>::to_vec).await
    }

    /// Takes a message on channel `ch` if one is there.
    pub fn try_recv(&self, ch: u8) -> Result<Option<alloc::vec::Vec<u8>>, Error> {
        self.try_recv_with(ch, <[u8]>::to_vec)
    }

    /// Waits for a message on any channel: `(channel, message)`.
    pub async fn recv_any(&self) -> Result<(u8, alloc::vec::Vec<u8>), Error> {
        self.recv_any_with(|ch, m| (ch, m.to_vec())).await
    }

    /// An owned copy of the peer's NodeInfo, once received.
    pub fn remote_node_info(
        &self,
    ) -> Option<mconn::wire::node_info::StoredNodeInfo<alloc::vec::Vec<u8>>> {
        self.with_remote_node_info(|info| {
            let mut body = alloc::vec![0u8; info.encoded_len()];
            info.encode(&mut body).ok()?;
            mconn::wire::node_info::StoredNodeInfo::new(body).ok()
        })
        .flatten()
    }
}
