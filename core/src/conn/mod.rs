//! MConnection: many prioritized channels over one byte stream, as a sans-IO
//! state machine.
//!
//! Feed received bytes with [`handle_input`](MConnection::handle_input), tell
//! it when its deadline passed with [`handle_timeout`](MConnection::handle_timeout),
//! and after every call drain [`poll_transmit`](MConnection::poll_transmit),
//! [`poll_message`](MConnection::poll_message) and
//! [`poll_event`](MConnection::poll_event); then wait for input or
//! [`poll_timeout`](MConnection::poll_timeout).
//!
//! ```
//! use mconn::conn::{ChannelConfig, Config, MConnection};
//! use mconn::Instant;
//!
//! let channels = [ChannelConfig::new(0x20, 10), ChannelConfig::new(0x30, 1)];
//! let now = Instant::ZERO;
//! let mut storage_a = [0u8; 1 << 18];
//! let mut storage_b = [0u8; 1 << 18];
//! let small: Vec<_> = channels.iter().map(|c| c.recv_message_capacity(1000).send_buffer(4096).recv_buffer(4096)).collect();
//! let mut a = MConnection::in_arena(&Config::cometbft(), &small, now, &mut storage_a).unwrap();
//! let mut b = MConnection::in_arena(&Config::cometbft(), &small, now, &mut storage_b).unwrap();
//!
//! a.try_send(0x20, b"vote").unwrap();
//! let mut wire = [0u8; 4096];
//! let n = a.poll_transmit(now, &mut wire);
//! let used = b.handle_input(now, &wire[..n]).unwrap();
//! assert_eq!(used, n);
//! assert_eq!(b.poll_message(), Some((0x20, &b"vote"[..])));
//! ```

mod buf;
mod channel;
mod config;
mod event;
mod fifo;
mod keepalive;
mod partial;
mod rate;

#[cfg(feature = "alloc")]
pub use buf::GrowBuf;
pub use buf::{Arena, ByteBuf, FixedBuf, MAX_STAGE_LEN};
pub use channel::ChannelStats;
pub use config::{
    ChannelConfig, Config, ConfigError, Keepalive, PingLimit, COMETBFT_CHANNELS,
    DEFAULT_PARTIAL_BUDGET, DEFAULT_PARTIAL_TIMEOUT, MAX_CHANNELS, MAX_PAYLOAD_LIMIT,
};
pub use event::{CloseReason, Error, Event};

use core::time::Duration;

use channel::Channel;
use keepalive::KeepaliveState;
use rate::TokenBucket;

use crate::time::{earliest, Instant};
use crate::wire::packet::{Codec, Packet, PacketError};
use crate::wire::varint;
/// Events that can be pending at once: one `Writable` per channel plus `Closed`.
const EVENT_CAP: usize = MAX_CHANNELS + 2;

/// Connection-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConnStats {
    /// Wire bytes produced by `poll_transmit`.
    pub bytes_sent: u64,
    /// Wire bytes consumed by `handle_input`.
    pub bytes_received: u64,
    /// Packets produced.
    pub packets_sent: u64,
    /// Packets consumed.
    pub packets_received: u64,
    /// Pings we sent.
    pub pings_sent: u64,
    /// Pongs we sent.
    pub pongs_sent: u64,
    /// Pings the peer sent.
    pub pings_received: u64,
    /// Pongs the peer sent.
    pub pongs_received: u64,
    /// Round trip of the last answered ping, in microseconds.
    pub last_rtt_micros: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    Closing,
    Closed,
}

/// One packet's worth of staging: bytes `[pos..len)` are pending. The
/// buffer ([`ByteBuf::Stage`]) holds `cap` bytes once used: a packet of the
/// configured payload (a growable one is allocated then, and kept).
#[derive(Debug)]
struct Stage<S> {
    buf: S,
    cap: usize,
    len: usize,
    pos: usize,
}

impl<S: ByteBuf> Stage<S> {
    /// A stage for packets of `max_payload` bytes: the longest packet
    /// `codec` writes, plus room for a length prefix a peer pads to the
    /// longest varint (`frame_len` accepts it).
    fn new<B: ByteBuf<Stage = S>>(codec: Codec, max_payload: usize) -> Self {
        let cap = codec.max_wire_len(max_payload) + varint::MAX_LEN;
        let buf = B::stage(cap);
        Stage {
            cap: cap.min(buf.limit()),
            buf,
            len: 0,
            pos: 0,
        }
    }

    fn pending(&self) -> usize {
        self.len - self.pos
    }

    /// The whole stage, taking its memory if it has none yet (`None`: out
    /// of memory).
    fn room(&mut self) -> Option<&mut [u8]> {
        if !self.buf.grow_to(self.cap) {
            return None;
        }
        self.buf.bytes_mut().get_mut(..self.cap)
    }

    /// The staged bytes.
    fn staged(&self) -> &[u8] {
        self.buf.bytes().get(..self.len).unwrap_or(&[])
    }

    /// Returns the memory of an empty stage (growable buffers only).
    fn shrink(&mut self) {
        if self.len == 0 {
            self.pos = 0;
            self.buf.shrink_to(0);
        }
    }

    /// Copies pending bytes into `out`; returns how many.
    fn drain_into(&mut self, out: &mut [u8]) -> usize {
        let n = self.pending().min(out.len());
        out[..n].copy_from_slice(&self.buf.bytes()[self.pos..self.pos + n]);
        self.pos += n;
        if self.pos == self.len {
            self.pos = 0;
            self.len = 0;
        }
        n
    }

    /// Appends input until one whole packet is staged. Returns bytes taken and
    /// whether the packet is complete.
    fn fill(
        &mut self,
        codec: Codec,
        max_payload: usize,
        input: &[u8],
    ) -> Result<(usize, bool), CloseReason> {
        let mut took = 0;
        loop {
            let want = match codec.frame_len(self.staged(), max_payload)? {
                Some(total) => total,
                None => self.len + 1,
            };
            if want > self.cap {
                return Err(PacketError::TooLarge.into());
            }
            if self.len >= want {
                return Ok((took, true));
            }
            if took == input.len() {
                return Ok((took, false));
            }
            let n = (want - self.len).min(input.len() - took);
            let len = self.len;
            let Some(room) = self.room() else {
                return Ok((took, false)); // out of memory: as if no input came
            };
            room[len..len + n].copy_from_slice(&input[took..took + n]);
            self.len += n;
            took += n;
        }
    }
}

/// What to send next.
#[derive(Clone, Copy, Debug)]
enum Next {
    Ping,
    Pong,
    Msg(usize),
}

/// What became of a received packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Done,
    Stalled,
    Closed,
}

/// The multiplexed connection. `B` is the channel buffer storage:
/// [`FixedBuf`] from caller memory, a `[u8; N]`, or [`GrowBuf`] with `alloc`.
#[derive(Debug)]
pub struct MConnection<B: ByteBuf> {
    rx: Stage<B::Stage>,
    tx: Stage<B::Stage>,
    st: Inner<B>,
}

#[derive(Debug)]
struct Inner<B> {
    codec: Codec,
    max_payload: usize,
    channels: heapless::Vec<Channel<B>, MAX_CHANNELS>,
    /// Channel id → index + 1 (0: no such channel).
    index: [u8; 256],
    state: State,
    keepalive: KeepaliveState,
    send_rate: Option<TokenBucket>,
    recv_rate: Option<TokenBucket>,
    /// Credit an urgent packet may use before it is earned under a rate
    /// cap (see [`send_allows`](Inner::send_allows)): one largest packet.
    rate_borrow: usize,
    events: heapless::Deque<Event, EVENT_CAP>,
    decay_period: Duration,
    next_decay: Instant,
    /// See [`Config::partial_budget`].
    partial_budget: usize,
    /// See [`Config::partial_timeout`].
    partial_timeout: Option<Duration>,
    /// See [`MConnection::set_partial_ceiling`].
    partial_ceiling: usize,
    /// Input refused because a channel's receive budget is full.
    stalled: bool,
    /// The socket does not take our output (the peer's receive window is
    /// closed): see [`MConnection::set_output_blocked`].
    output_blocked: bool,
    /// Channel whose front message `poll_message` lent out.
    lent: Option<usize>,
    /// Where `poll_message` looks first (round robin).
    next_read: usize,
    stats: ConnStats,
}

impl<'a> MConnection<FixedBuf<'a>> {
    /// A connection whose buffers are carved from `storage`, which must hold
    /// at least [`Config::arena_size`] bytes. Needs no allocator.
    pub fn in_arena(
        config: &Config,
        channels: &[ChannelConfig],
        now: Instant,
        storage: &'a mut [u8],
    ) -> Result<Self, ConfigError> {
        let mut arena = Arena::new(storage);
        MConnection::new(config, channels, now, |len| arena.take(len))
    }
}

#[cfg(feature = "alloc")]
impl MConnection<GrowBuf> {
    /// A connection whose buffers grow on demand up to their budgets; memory
    /// is taken while traffic grows and kept for reuse (no allocation per
    /// message in steady state). See [`shrink_buffers`](Self::shrink_buffers).
    pub fn with_alloc(
        config: &Config,
        channels: &[ChannelConfig],
        now: Instant,
    ) -> Result<Self, ConfigError> {
        MConnection::new(config, channels, now, |len| Some(GrowBuf::new(len)))
    }
}

impl<B: ByteBuf> MConnection<B> {
    /// A connection over `channels` (in tie-break order), asking `make_buf`
    /// for each channel's send then receive buffer with the byte budget.
    pub fn new(
        config: &Config,
        channels: &[ChannelConfig],
        now: Instant,
        mut make_buf: impl FnMut(usize) -> Option<B>,
    ) -> Result<Self, ConfigError> {
        config.validate(channels)?;
        let mut list = heapless::Vec::new();
        let mut index = [0u8; 256];
        for (i, c) in channels.iter().enumerate() {
            let send = make_buf(c.send_buffer_bytes()).ok_or(ConfigError::StorageTooSmall)?;
            let recv = make_buf(c.recv_buffer_bytes()).ok_or(ConfigError::StorageTooSmall)?;
            if send.limit() < c.send_buffer_bytes() || recv.limit() < c.recv_buffer_bytes() {
                return Err(ConfigError::StorageTooSmall);
            }
            let payload = config
                .codec
                .payload_for_channel(c.id, config.max_packet_payload);
            list.push(Channel::new(*c, send, recv, payload))
                .map_err(|_| ConfigError::TooManyChannels)?;
            index[usize::from(c.id)] = (i + 1) as u8;
        }
        let burst = config.codec.max_wire_len(config.max_packet_payload);
        let bucket = |rate: u32| TokenBucket::new(rate, (rate as usize / 10).max(2 * burst), now);
        Ok(MConnection {
            rx: Stage::new::<B>(config.codec, config.max_packet_payload),
            tx: Stage::new::<B>(config.codec, config.max_packet_payload),
            st: Inner {
                codec: config.codec,
                max_payload: config.max_packet_payload,
                channels: list,
                index,
                state: State::Open,
                keepalive: KeepaliveState::new(config.keepalive, config.ping_limit, now),
                send_rate: config.send_rate.map(bucket),
                recv_rate: config.recv_rate.map(bucket),
                rate_borrow: burst,
                events: heapless::Deque::new(),
                decay_period: config.decay_period,
                next_decay: now + config.decay_period,
                partial_budget: config.partial_budget,
                partial_timeout: config.partial_timeout,
                partial_ceiling: usize::MAX,
                stalled: false,
                output_blocked: false,
                lent: None,
                next_read: 0,
                stats: ConnStats::default(),
            },
        })
    }

    /// Queues `msg` on channel `ch` without waiting. `Err(Full)` when the
    /// queue has no room; an [`Event::Writable`] follows when it has.
    pub fn try_send(&mut self, ch: u8, msg: &[u8]) -> Result<(), Error> {
        if self.st.state != State::Open {
            return Err(Error::Closed);
        }
        self.st
            .channel_mut(ch)
            .ok_or(Error::UnknownChannel)?
            .try_send(msg)
    }

    /// Whether a `try_send` of `len` bytes on `ch` would be accepted now.
    pub fn can_send(&self, ch: u8, len: usize) -> bool {
        self.st.state == State::Open
            && self
                .st
                .channel(ch)
                .is_some_and(|c| c.queued() < c.cfg.send_queue_capacity && c.send.fits(len, true))
    }

    /// Feeds bytes received from the peer; returns how many were consumed.
    /// Fewer than offered means back-pressure: a channel's receive budget is
    /// full (take messages, then offer the rest again — even an empty slice,
    /// which lets a packet staged inside go on) or a receive rate cap applies
    /// (offer again after [`poll_timeout`](Self::poll_timeout)).
    pub fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<usize, Error> {
        if self.st.state == State::Closed {
            return Err(Error::Closed);
        }
        self.st.release_lent();
        if self.st.stalled {
            // We start reading again: partial messages the peer could not
            // continue while we did not read get their full time again.
            self.st.restart_partial_clocks(now);
        }
        self.st.stalled = false;
        let (codec, max) = (self.st.codec, self.st.max_payload);
        let mut used = 0;
        while self.st.state != State::Closed {
            if let Some(rate) = self.st.recv_rate.as_mut() {
                if !rate.allows_in_debt(now, self.st.rate_borrow) {
                    break;
                }
            }
            if self.rx.len == 0 {
                let rest = &input[used..];
                if rest.is_empty() {
                    break;
                }
                match codec.decode(rest, max) {
                    Err(e) => {
                        self.st.close(e.into());
                        used = input.len();
                        break;
                    }
                    Ok(Some((packet, total))) => {
                        if !self.st.recv_allows(now, &packet) {
                            break;
                        }
                        if self.st.on_packet(now, packet, total) == Flow::Stalled {
                            break;
                        }
                        used += total;
                        continue;
                    }
                    // A packet split across reads: stage it below.
                    Ok(None) => {}
                }
            }
            match self.rx.fill(codec, max, &input[used..]) {
                Err(reason) => {
                    self.st.close(reason);
                    used = input.len();
                }
                Ok((took, complete)) => {
                    used += took;
                    if !complete {
                        break;
                    }
                    let len = self.rx.len;
                    let flow = match codec.decode(self.rx.staged(), max) {
                        Ok(Some((packet, _))) if !self.st.recv_allows(now, &packet) => {
                            Flow::Stalled // staged until the cap allows it
                        }
                        Ok(Some((packet, _))) => self.st.on_packet(now, packet, len),
                        Ok(None) => Flow::Stalled,
                        Err(e) => {
                            self.st.close(e.into());
                            Flow::Closed
                        }
                    };
                    if flow == Flow::Stalled {
                        break;
                    }
                    self.rx.len = 0;
                }
            }
        }
        Ok(used)
    }

    /// A deadline from [`poll_timeout`](Self::poll_timeout) passed (spurious calls are harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.st.state == State::Closed {
            return;
        }
        // A rate cap's ready time may be the deadline: refill so that
        // poll_timeout moves on even if no input or transmit follows.
        for rate in [&mut self.st.send_rate, &mut self.st.recv_rate]
            .into_iter()
            .flatten()
        {
            rate.allows(now);
        }
        let stalled = self.st.stalled || self.st.output_blocked;
        if let Err(reason) = self.st.keepalive.handle_timeout(now, stalled) {
            self.st.close(reason);
            return;
        }
        if let Some(channel) = self.st.stale_partial(now) {
            self.st.close(CloseReason::PartialStale(channel));
        }
    }

    /// Writes as many pending packets as fit into `out` and returns the byte
    /// count. Everything pending goes out at once (no flush timer); a packet
    /// that does not fit is continued in the next call.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> usize {
        let mut n = self.tx.drain_into(out);
        if self.tx.pending() > 0 || self.st.state == State::Closed {
            return n;
        }
        self.st.apply_decay(now);
        let codec = self.st.codec;
        while let Some(next) = self.st.next_packet() {
            if !self.st.send_allows(now, next) {
                break;
            }
            let (packet, len, eof) = self.st.packet(next);
            let room = &mut out[n..];
            // Straight into `out`; a packet that does not fit (the encoder
            // stops without writing past `room`) goes into the stage.
            let (written, wire) = match codec.encode(&packet, room) {
                Ok(w) => (w, w),
                Err(_) => match self.tx.room().and_then(|s| codec.encode(&packet, s).ok()) {
                    Some(w) => {
                        self.tx.len = w;
                        (self.tx.drain_into(room), w)
                    }
                    None => break, // out of memory (the stage holds any packet)
                },
            };
            n += written;
            self.st.commit(now, next, len, eof, wire);
            if self.tx.pending() > 0 {
                break;
            }
        }
        if self.st.state == State::Closing
            && self.tx.pending() == 0
            && !self.st.channels.iter().any(Channel::has_data)
        {
            self.st.close(CloseReason::Closed);
        }
        n
    }

    /// Whether `poll_transmit` has something to write.
    pub fn wants_transmit(&self) -> bool {
        self.st.state != State::Closed
            && (self.tx.pending() > 0
                || self.st.keepalive.ping_pending
                || self.st.keepalive.pong_pending
                || self.st.channels.iter().any(Channel::has_data))
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.st.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next (or poll again
    /// for a rate cap); `None` once closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.st.state == State::Closed {
            return None;
        }
        let send = self
            .st
            .send_rate
            .as_ref()
            .filter(|_| self.wants_transmit())
            .and_then(TokenBucket::ready_at);
        let recv = self.st.recv_rate.as_ref().and_then(TokenBucket::ready_at);
        let partial = self.st.partial_deadline();
        earliest(
            self.st.keepalive.poll_timeout(),
            earliest(send, earliest(recv, partial)),
        )
    }

    /// The next complete received message, round robin over channels. The
    /// message stays lent until the next call to this, `pop_message` or
    /// `handle_input`, which releases its budget.
    pub fn poll_message(&mut self) -> Option<(u8, &[u8])> {
        self.st.release_lent();
        let count = self.st.channels.len();
        let i = (0..count)
            .map(|k| (self.st.next_read + k) % count)
            .find(|&i| self.st.channels[i].recv.complete() > 0)?;
        self.st.lent = Some(i);
        self.st.next_read = (i + 1) % count;
        let ch = &self.st.channels[i];
        ch.recv.front().map(|m| (ch.cfg.id, m))
    }

    /// The oldest complete message on `ch`, left in place.
    pub fn peek_message(&self, ch: u8) -> Result<Option<&[u8]>, Error> {
        Ok(self
            .st
            .channel(ch)
            .ok_or(Error::UnknownChannel)?
            .recv
            .front())
    }

    /// Drops the oldest complete message on `ch`; `Ok(false)` if there was none.
    pub fn pop_message(&mut self, ch: u8) -> Result<bool, Error> {
        self.st.release_lent();
        let c = self.st.channel_mut(ch).ok_or(Error::UnknownChannel)?;
        let had = c.recv.complete() > 0;
        c.recv.pop();
        Ok(had)
    }

    /// Stops accepting sends, sends everything already queued, then closes
    /// with [`CloseReason::Closed`].
    pub fn close(&mut self) {
        if self.st.state == State::Open {
            self.st.state = State::Closing;
            if !self.wants_transmit() {
                self.st.close(CloseReason::Closed);
            }
        }
    }

    /// Closes at once, dropping anything queued.
    pub fn abort(&mut self) {
        if self.st.state != State::Closed {
            self.st.close(CloseReason::Aborted);
        }
    }

    /// Whether the connection is closed (an [`Event::Closed`] says why).
    pub fn is_closed(&self) -> bool {
        self.st.state == State::Closed
    }

    /// Whether input is refused until the application takes messages.
    pub fn is_input_stalled(&self) -> bool {
        self.st.stalled
    }

    /// The driver tells whether the socket currently refuses our output
    /// (a write has been pending for a while: the peer's TCP receive
    /// window is closed). While it does, our ping may sit unread behind
    /// data the peer's application has not taken — the peer is
    /// back-pressuring us, not dead — so an expired pong deadline restarts
    /// instead of closing the connection (as for our own input stall). A
    /// peer that is really gone is caught by TCP itself (unacknowledged
    /// data; adapters set `TCP_USER_TIMEOUT`).
    pub fn set_output_blocked(&mut self, blocked: bool) {
        self.st.output_blocked = blocked;
    }

    /// Whether the driver reported the socket refusing output.
    pub fn is_output_blocked(&self) -> bool {
        self.st.output_blocked
    }

    /// Caps the bytes of all partial messages together, the largest one
    /// included (default: no cap). A packet that would grow them past the
    /// cap closes the connection with [`CloseReason::NodePartialBudget`].
    /// A driver sets it from a budget shared by the node's connections
    /// before each [`handle_input`](Self::handle_input); the connection's own
    /// [`Config::partial_budget`] applies as well.
    ///
    /// ```
    /// # use mconn::conn::{ChannelConfig, CloseReason, Config, Event, MConnection};
    /// # use mconn::Instant;
    /// let now = Instant::from_micros(0);
    /// let ch = [ChannelConfig::new(0x20, 1)];
    /// let mut tx = MConnection::with_alloc(&Config::cometbft(), &ch, now).unwrap();
    /// let mut rx = MConnection::with_alloc(&Config::cometbft(), &ch, now).unwrap();
    /// rx.set_partial_ceiling(1500);
    /// tx.try_send(0x20, &[7; 3000]).unwrap();
    /// let mut wire = [0u8; 4096];
    /// let n = tx.poll_transmit(now, &mut wire);
    /// let _ = rx.handle_input(now, &wire[..n]);
    /// assert_eq!(rx.poll_event(), Some(Event::Closed(CloseReason::NodePartialBudget)));
    /// ```
    pub fn set_partial_ceiling(&mut self, bytes: usize) {
        self.st.partial_ceiling = bytes;
    }

    /// Message bytes held in partial (started, not finished) received
    /// messages, summed over channels: what [`Config::partial_budget`] bounds
    /// (beyond the largest one).
    pub fn partial_bytes(&self) -> usize {
        self.st
            .channels
            .iter()
            .map(|c| c.recv.open_len())
            .fold(0, usize::saturating_add)
    }

    /// Connection-wide counters.
    pub fn stats(&self) -> ConnStats {
        let mut s = self.st.stats;
        s.last_rtt_micros = self.st.keepalive.last_rtt.map(|d| d.as_micros() as u64);
        s
    }

    /// Counters of channel `ch`.
    pub fn channel_stats(&self, ch: u8) -> Option<ChannelStats> {
        self.st.channel(ch).map(Channel::stats)
    }

    /// The configured channels, in order.
    pub fn channels(&self) -> impl Iterator<Item = &ChannelConfig> + '_ {
        self.st.channels.iter().map(|c| &c.cfg)
    }

    /// Restarts every timer (keepalive schedule, decay, rate buckets) from
    /// `now`: for a connection built before its handshake finished.
    pub fn restart_timers(&mut self, now: Instant) {
        let st = &mut self.st;
        st.keepalive = KeepaliveState::new(st.keepalive.mode(), st.keepalive.limit(), now);
        st.next_decay = now + st.decay_period;
        for bucket in [st.send_rate.as_mut(), st.recv_rate.as_mut()]
            .into_iter()
            .flatten()
        {
            bucket.restart(now);
        }
    }

    /// Returns unused buffer memory (for growable buffers) of idle queues
    /// and of empty packet stages.
    pub fn shrink_buffers(&mut self) {
        self.rx.shrink();
        self.tx.shrink();
        for c in self.st.channels.iter_mut() {
            c.send.shrink();
            c.recv.shrink();
        }
    }
}

impl<B: ByteBuf> Inner<B> {
    fn channel(&self, id: u8) -> Option<&Channel<B>> {
        let i = usize::from(self.index[usize::from(id)]).checked_sub(1)?;
        self.channels.get(i)
    }

    fn channel_mut(&mut self, id: u8) -> Option<&mut Channel<B>> {
        let i = usize::from(self.index[usize::from(id)]).checked_sub(1)?;
        self.channels.get_mut(i)
    }

    fn release_lent(&mut self) {
        if let Some(i) = self.lent.take() {
            self.channels[i].recv.pop();
        }
    }

    fn push_event(&mut self, event: Event) {
        // Capacity covers one Writable per channel plus Closed.
        let _ = self.events.push_back(event);
    }

    fn close(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        if reason.is_peer_fault() {
            warn!("mconn: closing: {}", reason);
        }
        self.state = State::Closed;
        for c in self.channels.iter_mut() {
            c.send.clear();
            c.sent_offset = None;
        }
        self.push_event(Event::Closed(reason));
    }

    fn apply_decay(&mut self, now: Instant) {
        if now < self.next_decay {
            return;
        }
        let period = self.decay_period.as_micros().max(1);
        let periods = 1 + now.saturating_duration_since(self.next_decay).as_micros() / period;
        let periods = u32::try_from(periods).unwrap_or(u32::MAX);
        for c in self.channels.iter_mut() {
            c.decay(periods);
        }
        self.next_decay += self
            .decay_period
            .checked_mul(periods)
            .unwrap_or(Duration::MAX);
        if self.next_decay <= now {
            self.next_decay = now + self.decay_period;
        }
    }

    /// Picks what to send: pong, ping, then the channel with the lowest
    /// recently-sent / priority (ties: the earliest channel).
    fn next_packet(&mut self) -> Option<Next> {
        let busy = self.channels.iter().position(Channel::has_data);
        if self.keepalive.pong_pending {
            if self.keepalive.is_seed() && busy.is_some() {
                // Seed mode: our data already proves liveness.
                self.keepalive.pong_pending = false;
            } else {
                return Some(Next::Pong);
            }
        }
        if self.keepalive.ping_pending {
            return Some(Next::Ping);
        }
        let mut best = busy?;
        for (i, c) in self.channels.iter().enumerate().skip(best + 1) {
            let b = &self.channels[best];
            let lower = u128::from(c.recently_sent) * u128::from(b.cfg.priority)
                < u128::from(b.recently_sent) * u128::from(c.cfg.priority);
            if c.has_data() && lower {
                best = i;
            }
        }
        Some(Next::Msg(best))
    }

    /// Whether `next` may be sent now under a send rate cap: with credit,
    /// or on up to [`rate_borrow`](Self::rate_borrow) bytes not earned yet
    /// for pings, pongs, and a channel of higher priority than another that
    /// has data. A vote behind a saturating block channel then goes at once
    /// instead of at the timer's next tick (up to 1 ms on tokio), while the
    /// cap's long-run rate stays (the bulk channel waits for the debt).
    fn send_allows(&mut self, now: Instant, next: Next) -> bool {
        let Some(rate) = self.send_rate.as_mut() else {
            return true; // no cap: nothing to work out per packet
        };
        let may_borrow = match next {
            Next::Ping | Next::Pong => true,
            Next::Msg(i) => {
                let priority = self.channels[i].cfg.priority;
                self.channels
                    .iter()
                    .any(|c| c.has_data() && c.cfg.priority < priority)
            }
        };
        let debt = if may_borrow { self.rate_borrow } else { 0 };
        rate.allows_in_debt(now, debt)
    }

    /// Whether a received `packet` may be taken under a receive rate cap:
    /// with credit, or on up to [`rate_borrow`](Self::rate_borrow) bytes
    /// not earned yet for pings, pongs and channels above the lowest
    /// priority (the receiver cannot see what the sender has queued, so
    /// the lowest-priority channels pay the debt back). As on the send
    /// side, an urgent packet does not wait for the timer's next tick.
    fn recv_allows(&mut self, now: Instant, packet: &Packet<'_>) -> bool {
        if self.recv_rate.is_none() {
            return true; // no cap: nothing to work out per packet
        }
        let debt = match *packet {
            Packet::Msg { channel, .. } => {
                let lowest = self.channels.iter().map(|c| c.cfg.priority).min();
                match self.channel(channel) {
                    Some(c) if Some(c.cfg.priority) > lowest => self.rate_borrow,
                    _ => 0,
                }
            }
            Packet::Ping | Packet::Pong => self.rate_borrow,
        };
        self.recv_rate
            .as_mut()
            .is_none_or(|rate| rate.allows_in_debt(now, debt))
    }

    fn packet(&self, next: Next) -> (Packet<'_>, usize, bool) {
        match next {
            Next::Ping => (Packet::Ping, 0, false),
            Next::Pong => (Packet::Pong, 0, false),
            Next::Msg(i) => {
                let c = &self.channels[i];
                let (data, eof) = c.next_chunk().unwrap_or((&[], true));
                (
                    Packet::Msg {
                        channel: c.cfg.id,
                        eof,
                        data,
                    },
                    data.len(),
                    eof,
                )
            }
        }
    }

    fn commit(&mut self, now: Instant, next: Next, len: usize, eof: bool, wire: usize) {
        self.stats.bytes_sent += wire as u64;
        self.stats.packets_sent += 1;
        if let Some(rate) = self.send_rate.as_mut() {
            rate.spend(wire);
        }
        match next {
            Next::Ping => {
                self.stats.pings_sent += 1;
                self.keepalive.on_ping_sent(now);
            }
            Next::Pong => {
                self.stats.pongs_sent += 1;
                self.keepalive.pong_pending = false;
            }
            Next::Msg(i) => {
                let c = &mut self.channels[i];
                if c.commit_chunk(len, eof, wire) && c.want_writable {
                    c.want_writable = false;
                    let id = c.cfg.id;
                    self.push_event(Event::Writable(id));
                }
            }
        }
    }

    fn on_packet(&mut self, now: Instant, packet: Packet<'_>, wire: usize) -> Flow {
        match packet {
            Packet::Msg { channel, eof, data } => {
                let Some(i) = usize::from(self.index[usize::from(channel)]).checked_sub(1) else {
                    self.close(CloseReason::UnknownChannel(channel));
                    return Flow::Closed;
                };
                let Some(c) = self.channels.get(i) else {
                    self.close(CloseReason::UnknownChannel(channel));
                    return Flow::Closed;
                };
                let grown = c.recv.open_len().saturating_add(data.len());
                if grown > c.cfg.recv_message_capacity {
                    self.close(CloseReason::MessageTooLarge(channel));
                    return Flow::Closed;
                }
                if !eof {
                    let (total, largest) = self.partial_sum(i, grown);
                    if total - largest > self.partial_budget {
                        self.close(CloseReason::PartialBudget);
                        return Flow::Closed;
                    }
                    if total > self.partial_ceiling && !data.is_empty() {
                        self.close(CloseReason::NodePartialBudget);
                        return Flow::Closed;
                    }
                }
                let c = &mut self.channels[i];
                let new_record = !c.recv.has_open();
                if !c.recv.fits(data.len(), new_record) || !c.recv.append(data) {
                    self.stalled = true;
                    return Flow::Stalled;
                }
                c.stats.bytes_received += data.len() as u64;
                if eof {
                    c.recv.finish();
                    c.partial_at = None;
                    c.stats.messages_received += 1;
                } else if new_record || !data.is_empty() {
                    c.partial_at = Some(now);
                }
            }
            Packet::Ping => {
                self.stats.pings_received += 1;
                if let Err(reason) = self.keepalive.on_ping(now) {
                    self.close(reason);
                    return Flow::Closed;
                }
            }
            Packet::Pong => {
                self.stats.pongs_received += 1;
                self.keepalive.on_pong(now);
            }
        }
        self.keepalive.on_packet(now);
        self.stats.packets_received += 1;
        self.stats.bytes_received += wire as u64;
        if let Some(rate) = self.recv_rate.as_mut() {
            rate.spend(wire);
        }
        Flow::Done
    }
}
