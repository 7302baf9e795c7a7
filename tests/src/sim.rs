//! A deterministic two-peer simulator for [`MConnection`]s.
//!
//! In the style of quinn-proto's test harness and str0m's emulator: two
//! connections joined by one simulated link per direction, simulated time
//! that jumps to the next event (a chunk arriving, either machine's
//! [`poll_timeout`](MConnection::poll_timeout), or an application drain
//! timer), and a driver that follows the driving contract exactly:
//!
//! * after every call it drains `poll_transmit`, `poll_message` and
//!   `poll_event`;
//! * bytes `handle_input` did not consume stay at the front of the link and
//!   are offered again (an empty slice when a packet is staged inside and
//!   nothing else is readable) after the application took messages;
//! * `handle_timeout` is called when `poll_timeout` is due, and a deadline
//!   that does not move forward afterwards is reported as an error;
//! * a send refused with [`Error::Full`] is retried only after
//!   [`Event::Writable`] for that channel.
//!
//! The link model per direction ([`LinkConfig`]): latency, bandwidth
//! (serialisation delay in bytes per simulated second), a window (bytes
//! written but not yet consumed by the receiver, like TCP's buffers: a
//! receiver that stops reading stops the sender; it reopens once half of it
//! is free), and fragmentation: every
//! write is split into chunks whose sizes come from a seeded RNG, and each
//! chunk is a separate read at the receiver (down to single bytes). The
//! sizes of the buffers handed to `poll_transmit` are random too.
//!
//! The application model per channel ([`Drain`]) takes messages eagerly, at
//! most one per interval, or not at all (to exercise back-pressure).
//!
//! Everything is bounded: [`SimConfig::max_steps`] and
//! [`SimConfig::max_time`] turn a stuck machine into a [`SimError`] with a
//! snapshot of both peers instead of a hang.
//!
//! ```
//! use mconn::conn::{ChannelConfig, Config, MConnection};
//! use mconn::Instant;
//! use mconn_tests::sim::{Side, Sim, SimConfig};
//!
//! let channels = [ChannelConfig::new(0x20, 5).recv_message_capacity(4096)];
//! let conn = || MConnection::with_alloc(&Config::cometbft(), &channels, Instant::ZERO).unwrap();
//! let mut sim = Sim::new(SimConfig::default(), conn(), conn());
//! sim.send(Side::A, 0x20, b"hello".to_vec());
//! sim.run_until_delivered().unwrap();
//! assert_eq!(sim.peer(Side::B).chan(0x20).received, vec![b"hello".to_vec()]);
//! ```

use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::time::Duration;

use mconn::conn::{ByteBuf, CloseReason, Error, Event, MConnection};
use mconn::wire::packet::{Codec, Packet};
use mconn::Instant;

/// A small deterministic RNG (xorshift64*, seeded through splitmix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, including 0).
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `lo..=hi` (`lo` if `hi < lo`).
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo) as u64 + 1;
        lo + (self.next_u64() % span) as usize
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.fill(&mut v);
        v
    }
}

/// One direction of the simulated network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub latency: Duration,
    /// Bytes per simulated second; `None` = infinitely fast.
    pub bandwidth: Option<u64>,
    /// Writes are split into chunks of `1..=max_chunk` bytes (random sizes),
    /// each delivered as a separate read.
    pub max_chunk: usize,
    /// `poll_transmit` is given buffers of `1..=max_write` bytes (random).
    pub max_write: usize,
    /// Bytes written but not yet consumed by the receiver, at most (TCP
    /// send + receive buffers). A receiver that stops reading stops the sender.
    pub window: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency: Duration::from_millis(5),
            bandwidth: None,
            max_chunk: 64 * 1024,
            max_write: 64 * 1024,
            window: 256 * 1024,
        }
    }
}

impl LinkConfig {
    /// Splits writes into chunks of `1..=max_chunk` bytes.
    pub fn fragment(mut self, max_chunk: usize) -> Self {
        self.max_chunk = max_chunk.max(1);
        self
    }

    /// Sets the bandwidth in bytes per simulated second.
    pub fn bandwidth(mut self, bytes_per_sec: u64) -> Self {
        self.bandwidth = Some(bytes_per_sec.max(1));
        self
    }

    /// Sets the latency.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
}

/// Simulator settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Seed of the RNG for fragmentation and write sizes.
    pub seed: u64,
    /// `links[0]` carries A → B, `links[1]` carries B → A.
    pub links: [LinkConfig; 2],
    /// Steps before the run fails (a machine that keeps "making progress"
    /// without finishing).
    pub max_steps: u64,
    /// Simulated time after which the run fails.
    pub max_time: Duration,
    /// Bytes written to the links (both directions) after which the run
    /// fails (a machine that transmits forever).
    pub max_bytes: u64,
    /// Keep every accepted and received message (else counts and digests only).
    pub record: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            links: [LinkConfig::default(); 2],
            max_steps: 10_000_000,
            max_time: Duration::from_secs(3600),
            max_bytes: 1 << 30,
            record: true,
        }
    }
}

impl SimConfig {
    /// The same link model in both directions.
    pub fn link(mut self, link: LinkConfig) -> Self {
        self.links = [link; 2];
        self
    }
}

/// Which peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The first peer (index 0).
    A,
    /// The second peer (index 1).
    B,
}

impl Side {
    fn idx(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }

    /// The other peer.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// How the application takes received messages of one channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drain {
    /// Every message as soon as it is complete.
    All,
    /// At most one message per interval of simulated time.
    Every(Duration),
    /// Never (until the policy changes).
    Never,
}

/// An order-sensitive digest of a message sequence (FNV-1a over lengths and bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest(u64);

impl Default for Digest {
    fn default() -> Self {
        Digest(0xcbf2_9ce4_8422_2325)
    }
}

impl Digest {
    fn add(&mut self, msg: &[u8]) {
        let len = (msg.len() as u64).to_le_bytes();
        for &b in len.iter().chain(msg) {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Application-side state of one channel of one peer.
#[derive(Clone, Debug)]
pub struct ChanState {
    /// Channel id.
    pub id: u8,
    /// Messages the application still wants to send, in order.
    pub outbox: VecDeque<Vec<u8>>,
    /// A send was refused with `Full`; waiting for `Event::Writable`.
    pub blocked: bool,
    /// How received messages are taken.
    pub drain: Drain,
    next_drain: Instant,
    /// Messages `try_send` accepted (with [`SimConfig::record`]).
    pub accepted: Vec<Vec<u8>>,
    /// Count of accepted messages.
    pub accepted_count: u64,
    /// Payload bytes of accepted messages.
    pub accepted_bytes: u64,
    /// Digest of the accepted sequence.
    pub accepted_digest: Digest,
    /// Messages received, in order (with [`SimConfig::record`]).
    pub received: Vec<Vec<u8>>,
    /// Count of received messages.
    pub received_count: u64,
    /// Payload bytes of received messages.
    pub received_bytes: u64,
    /// Digest of the received sequence.
    pub received_digest: Digest,
    /// `try_send` returned `Full` this many times.
    pub full_count: u64,
    /// `Event::Writable` arrived this many times.
    pub writable_count: u64,
}

impl ChanState {
    fn new(id: u8) -> Self {
        ChanState {
            id,
            outbox: VecDeque::new(),
            blocked: false,
            drain: Drain::All,
            next_drain: Instant::ZERO,
            accepted: Vec::new(),
            accepted_count: 0,
            accepted_bytes: 0,
            accepted_digest: Digest::default(),
            received: Vec::new(),
            received_count: 0,
            received_bytes: 0,
            received_digest: Digest::default(),
            full_count: 0,
            writable_count: 0,
        }
    }
}

/// What a tap saw on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TapKind {
    /// A ping.
    Ping,
    /// A pong.
    Pong,
    /// A message chunk.
    Msg {
        /// Channel id.
        channel: u8,
        /// Data bytes.
        len: usize,
        /// Last chunk of its message.
        eof: bool,
    },
}

/// One packet a peer wrote, decoded by an independent observer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TapPacket {
    /// When `poll_transmit` produced its last byte.
    pub at: Instant,
    /// What it was.
    pub kind: TapKind,
    /// Wire bytes including the length prefix.
    pub wire: usize,
}

#[derive(Debug)]
struct Tap {
    codec: Codec,
    max_payload: usize,
    pending: Vec<u8>,
    packets: Vec<TapPacket>,
}

impl Tap {
    fn feed(&mut self, now: Instant, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        let mut pos = 0;
        while let Ok(Some((packet, used))) =
            self.codec.decode(&self.pending[pos..], self.max_payload)
        {
            let kind = match packet {
                Packet::Ping => TapKind::Ping,
                Packet::Pong => TapKind::Pong,
                Packet::Msg { channel, eof, data } => TapKind::Msg {
                    channel,
                    len: data.len(),
                    eof,
                },
            };
            self.packets.push(TapPacket {
                at: now,
                kind,
                wire: used,
            });
            pos += used;
        }
        self.pending.drain(..pos);
    }
}

/// One peer: its connection and its application model.
#[derive(Debug)]
pub struct Peer<B: ByteBuf> {
    /// The machine under test.
    pub conn: MConnection<B>,
    /// Per-channel application state, in the connection's channel order.
    pub chans: Vec<ChanState>,
    /// Why the connection closed, once it did.
    pub closed: Option<(Instant, CloseReason)>,
    /// `handle_input` calls that consumed fewer bytes than offered.
    pub short_reads: u64,
    /// Most bytes ever waiting at this peer's end of the incoming link.
    pub max_unread: usize,
    tap: Option<Tap>,
}

impl<B: ByteBuf> Peer<B> {
    fn new(conn: MConnection<B>) -> Self {
        let chans = conn.channels().map(|c| ChanState::new(c.id)).collect();
        Peer {
            conn,
            chans,
            closed: None,
            short_reads: 0,
            max_unread: 0,
            tap: None,
        }
    }

    /// Application state of channel `ch` (panics if there is no such channel).
    pub fn chan(&self, ch: u8) -> &ChanState {
        self.chans
            .iter()
            .find(|c| c.id == ch)
            .unwrap_or_else(|| panic!("no channel {ch:#04x}"))
    }

    /// Mutable application state of channel `ch`.
    pub fn chan_mut(&mut self, ch: u8) -> &mut ChanState {
        self.chans
            .iter_mut()
            .find(|c| c.id == ch)
            .unwrap_or_else(|| panic!("no channel {ch:#04x}"))
    }

    /// Sets how channel `ch`'s messages are taken.
    pub fn set_drain(&mut self, ch: u8, drain: Drain) {
        self.chan_mut(ch).drain = drain;
    }

    /// Packets this peer wrote, if a tap is on.
    pub fn tapped(&self) -> &[TapPacket] {
        self.tap.as_ref().map_or(&[], |t| &t.packets)
    }

    /// Whether nothing is waiting in any outbox.
    pub fn outboxes_empty(&self) -> bool {
        self.chans.iter().all(|c| c.outbox.is_empty())
    }

    /// Offers outbox messages to `try_send`. Returns whether any was accepted.
    fn send_outbox(&mut self, record: bool) -> bool {
        let mut progress = false;
        for c in self.chans.iter_mut() {
            while !c.blocked {
                let Some(msg) = c.outbox.front() else { break };
                match self.conn.try_send(c.id, msg) {
                    Ok(()) => {
                        let msg = c.outbox.pop_front().unwrap_or_default();
                        c.accepted_count += 1;
                        c.accepted_bytes += msg.len() as u64;
                        c.accepted_digest.add(&msg);
                        if record {
                            c.accepted.push(msg);
                        }
                        progress = true;
                    }
                    Err(Error::Full) => {
                        c.full_count += 1;
                        c.blocked = true;
                    }
                    Err(Error::Closed) => break,
                    Err(e) => panic!(
                        "try_send of {} bytes on {:#04x} failed: {e}",
                        msg.len(),
                        c.id
                    ),
                }
            }
        }
        progress
    }

    fn deliver(c: &mut ChanState, msg: &[u8], record: bool) {
        c.received_count += 1;
        c.received_bytes += msg.len() as u64;
        c.received_digest.add(msg);
        if record {
            c.received.push(msg.to_vec());
        }
    }

    /// Takes received messages per the drain policies. Returns whether any was taken.
    fn take_messages(&mut self, now: Instant, record: bool) -> bool {
        let mut progress = false;
        if self.chans.iter().all(|c| c.drain == Drain::All) {
            // Round robin over all channels through poll_message.
            while let Some((ch, msg)) = self.conn.poll_message() {
                let c = self
                    .chans
                    .iter_mut()
                    .find(|c| c.id == ch)
                    .expect("message on an unknown channel");
                Self::deliver(c, msg, record);
                progress = true;
            }
            return progress;
        }
        for c in self.chans.iter_mut() {
            let budget = match c.drain {
                Drain::All => usize::MAX,
                Drain::Every(_) if c.next_drain <= now => 1,
                Drain::Every(_) | Drain::Never => 0,
            };
            for _ in 0..budget {
                let Ok(Some(msg)) = self.conn.peek_message(c.id) else {
                    break;
                };
                Self::deliver(c, msg, record);
                assert_eq!(self.conn.pop_message(c.id), Ok(true));
                if let Drain::Every(d) = c.drain {
                    c.next_drain = now + d;
                }
                progress = true;
            }
        }
        progress
    }

    /// The next drain timer that matters (a message is waiting for it).
    fn next_drain(&self, now: Instant) -> Option<Instant> {
        self.chans
            .iter()
            .filter(|c| matches!(c.drain, Drain::Every(_)) && c.next_drain > now)
            .filter(|c| matches!(self.conn.peek_message(c.id), Ok(Some(_))))
            .map(|c| c.next_drain)
            .min()
    }
}

/// One direction's bytes in flight: written, not yet consumed by the receiver.
#[derive(Debug)]
struct Link {
    cfg: LinkConfig,
    data: Vec<u8>,
    /// Consumed prefix of `data`.
    read: usize,
    /// Chunks: arrival time and end offset in `data`.
    chunks: VecDeque<(Instant, usize)>,
    /// When the sender side of the link is free (bandwidth model), in nanoseconds.
    busy_until_ns: u128,
}

impl Link {
    fn new(cfg: LinkConfig) -> Self {
        Link {
            cfg,
            data: Vec::new(),
            read: 0,
            chunks: VecDeque::new(),
            busy_until_ns: 0,
        }
    }

    fn unread(&self) -> usize {
        self.data.len() - self.read
    }

    /// Bytes the sender may write now. Like TCP's silly-window avoidance,
    /// the window reopens only once half of it is free (else writes, and so
    /// chunks, would shrink towards single bytes).
    fn room(&self) -> usize {
        let room = self.cfg.window.saturating_sub(self.unread());
        if self.unread() == 0 || room >= self.cfg.window.div_ceil(2) {
            room
        } else {
            0
        }
    }

    fn write(&mut self, now: Instant, mut bytes: &[u8], rng: &mut Rng) {
        let now_ns = u128::from(now.as_micros()) * 1000;
        while !bytes.is_empty() {
            let n = rng.range(1, self.cfg.max_chunk).min(bytes.len());
            let start = self.busy_until_ns.max(now_ns);
            let done = match self.cfg.bandwidth {
                Some(bw) => start + (n as u128 * 1_000_000_000).div_ceil(u128::from(bw)),
                None => start,
            };
            self.busy_until_ns = done;
            let done_us = u64::try_from(done.div_ceil(1000)).unwrap_or(u64::MAX);
            let arrival = Instant::from_micros(done_us) + self.cfg.latency;
            self.data.extend_from_slice(&bytes[..n]);
            self.chunks.push_back((arrival, self.data.len()));
            bytes = &bytes[n..];
        }
    }

    /// The rest of the first chunk, if it has arrived.
    fn readable(&self, now: Instant) -> &[u8] {
        match self.chunks.front() {
            Some(&(at, end)) if at <= now => &self.data[self.read..end],
            _ => &[],
        }
    }

    fn consume(&mut self, n: usize) {
        self.read += n;
        while let Some(&(_, end)) = self.chunks.front() {
            if end > self.read {
                break;
            }
            self.chunks.pop_front();
        }
        if self.read == self.data.len() {
            self.data.clear();
            self.read = 0;
        } else if self.read >= 1 << 20 && self.read * 2 >= self.data.len() {
            let read = self.read;
            self.data.drain(..read);
            for c in self.chunks.iter_mut() {
                c.1 -= read;
            }
            self.read = 0;
        }
    }

    /// When the first chunk arrives, if that is later than `now`.
    fn next_arrival(&self, now: Instant) -> Option<Instant> {
        self.chunks.front().map(|c| c.0).filter(|&at| at > now)
    }
}

/// Why a simulation run failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimError {
    /// What went wrong.
    pub kind: SimErrorKind,
    /// A snapshot of both peers and links.
    pub state: String,
}

/// The failure classes of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimErrorKind {
    /// More than [`SimConfig::max_steps`] steps.
    StepLimit,
    /// Simulated time passed [`SimConfig::max_time`].
    TimeLimit,
    /// More than [`SimConfig::max_bytes`] written.
    ByteLimit,
    /// Nothing can happen any more and the goal was not reached.
    Idle,
    /// A peer's `poll_timeout` stayed at or before `now` after `handle_timeout`.
    TimerStuck(Side),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            SimErrorKind::StepLimit => {
                "step limit reached (a machine keeps busy without finishing)".to_string()
            }
            SimErrorKind::TimeLimit => "simulated time limit reached before the goal".to_string(),
            SimErrorKind::ByteLimit => {
                "byte limit reached (a machine keeps transmitting without finishing)".to_string()
            }
            SimErrorKind::Idle => {
                "simulation idle (nothing left to happen) before the goal: stuck".to_string()
            }
            SimErrorKind::TimerStuck(side) => {
                format!("peer {side:?}: poll_timeout() did not move past now after handle_timeout")
            }
        };
        write!(f, "{what}\n{}", self.state)
    }
}

impl std::error::Error for SimError {}

/// Whether a step did something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Something happened (at the current time, or time advanced).
    Busy,
    /// Nothing can happen any more: no bytes in flight, no deadline.
    Idle,
}

/// Rounds of call-and-drain per peer per step (the driver stops earlier
/// once a round did nothing).
const ROUNDS: usize = 1000;

/// Two connections, two links, one clock.
#[derive(Debug)]
pub struct Sim<B: ByteBuf> {
    now: Instant,
    peers: [Peer<B>; 2],
    links: [Link; 2],
    rng: Rng,
    cfg: SimConfig,
    steps: u64,
    written: u64,
    buf: Vec<u8>,
}

impl<B: ByteBuf> Sim<B> {
    /// Joins `a` and `b` (both created at [`Instant::ZERO`]).
    pub fn new(cfg: SimConfig, a: MConnection<B>, b: MConnection<B>) -> Self {
        let max_write = cfg
            .links
            .iter()
            .map(|l| l.max_write)
            .max()
            .unwrap_or(1)
            .max(1);
        Sim {
            now: Instant::ZERO,
            peers: [Peer::new(a), Peer::new(b)],
            links: [Link::new(cfg.links[0]), Link::new(cfg.links[1])],
            rng: Rng::new(cfg.seed),
            cfg,
            steps: 0,
            written: 0,
            buf: vec![0; max_write],
        }
    }

    /// The simulated time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One peer.
    pub fn peer(&self, side: Side) -> &Peer<B> {
        &self.peers[side.idx()]
    }

    /// One peer, mutable (to change drain policies or call the connection).
    pub fn peer_mut(&mut self, side: Side) -> &mut Peer<B> {
        &mut self.peers[side.idx()]
    }

    /// Records every packet `side` writes, decoded with `codec`.
    pub fn tap(&mut self, side: Side, codec: Codec, max_payload: usize) {
        self.peers[side.idx()].tap = Some(Tap {
            codec,
            max_payload,
            pending: Vec::new(),
            packets: Vec::new(),
        });
    }

    /// Queues `msg` for `side` to send on `ch` (offered to `try_send` in order).
    pub fn send(&mut self, side: Side, ch: u8, msg: Vec<u8>) {
        self.peers[side.idx()].chan_mut(ch).outbox.push_back(msg);
    }

    /// Bytes `from` wrote that the other peer has not consumed yet.
    pub fn unread(&self, from: Side) -> usize {
        self.links[from.idx()].unread()
    }

    /// Whether every outbox is empty and every accepted message arrived
    /// (no closed connection needed).
    pub fn all_delivered(&self) -> bool {
        (0..2).all(|i| {
            let (p, q) = (&self.peers[i], &self.peers[1 - i]);
            p.chans
                .iter()
                .zip(&q.chans)
                .all(|(s, r)| s.outbox.is_empty() && s.accepted_count == r.received_count)
        })
    }

    /// Runs until [`all_delivered`](Self::all_delivered).
    pub fn run_until_delivered(&mut self) -> Result<(), SimError> {
        self.run_until(Self::all_delivered)
    }

    /// Runs until `goal` holds (checked before every step).
    pub fn run_until(&mut self, mut goal: impl FnMut(&Self) -> bool) -> Result<(), SimError> {
        loop {
            if goal(self) {
                return Ok(());
            }
            if self.step()? == Step::Idle {
                return Err(self.error(SimErrorKind::Idle));
            }
        }
    }

    /// Runs until simulated time reaches `now + d` (idle periods are skipped).
    pub fn run_for(&mut self, d: Duration) -> Result<(), SimError> {
        let end = self.now + d;
        self.run_until_time(end)
    }

    /// Runs until simulated time reaches `end`, with everything due at
    /// `end` handled.
    pub fn run_until_time(&mut self, end: Instant) -> Result<(), SimError> {
        loop {
            let next = self.step_bounded(Some(end))?;
            if next == Step::Idle {
                self.now = self.now.max(end);
                return Ok(());
            }
        }
    }

    /// Does everything due now; if nothing was, jumps to the next event.
    pub fn step(&mut self) -> Result<Step, SimError> {
        self.step_bounded(None)
    }

    /// Like `step`, but never jumps past `end` (reports `Idle` there).
    fn step_bounded(&mut self, end: Option<Instant>) -> Result<Step, SimError> {
        self.steps += 1;
        if self.steps > self.cfg.max_steps {
            return Err(self.error(SimErrorKind::StepLimit));
        }
        let mut progress = false;
        for i in 0..2 {
            progress |= self.service(i);
        }
        if self.written > self.cfg.max_bytes {
            return Err(self.error(SimErrorKind::ByteLimit));
        }
        if progress {
            return Ok(Step::Busy);
        }
        for (i, side) in [Side::A, Side::B].into_iter().enumerate() {
            if self.peers[i]
                .conn
                .poll_timeout()
                .is_some_and(|t| t <= self.now)
            {
                return Err(self.error(SimErrorKind::TimerStuck(side)));
            }
        }
        let Some(next) = self.next_event() else {
            return Ok(Step::Idle);
        };
        if end.is_some_and(|end| next > end) {
            return Ok(Step::Idle);
        }
        if next.saturating_duration_since(Instant::ZERO) > self.cfg.max_time {
            return Err(self.error(SimErrorKind::TimeLimit));
        }
        self.now = next;
        Ok(Step::Busy)
    }

    fn next_event(&self) -> Option<Instant> {
        let now = self.now;
        let mut next: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for i in 0..2 {
            consider(self.links[i].next_arrival(now));
            consider(self.peers[i].conn.poll_timeout());
            consider(self.peers[i].next_drain(now));
        }
        next
    }

    /// Drives peer `i` until a round does nothing. Returns whether anything happened.
    fn service(&mut self, i: usize) -> bool {
        let now = self.now;
        let record = self.cfg.record;
        let max_bytes = self.cfg.max_bytes;
        let (lo, hi) = self.links.split_at_mut(1);
        let (out_link, in_link) = if i == 0 {
            (&mut lo[0], &mut hi[0])
        } else {
            (&mut hi[0], &mut lo[0])
        };
        let peer = &mut self.peers[i];
        let rng = &mut self.rng;
        let buf = &mut self.buf;
        let written = &mut self.written;
        peer.max_unread = peer.max_unread.max(in_link.unread());

        if peer.closed.is_some() {
            // A closed peer reads nothing more: what arrives is discarded.
            let n = in_link.readable(now).len();
            in_link.consume(n);
            return n > 0;
        }
        if peer.conn.poll_timeout().is_some_and(|t| t <= now) {
            peer.conn.handle_timeout(now);
        }
        let mut progress = false;
        for _ in 0..ROUNDS {
            let mut p = peer.send_outbox(record);

            // Input: offer each arrived chunk; stop at back-pressure.
            loop {
                let chunk = in_link.readable(now);
                let stalled = peer.conn.is_input_stalled();
                if chunk.is_empty() && !stalled {
                    break;
                }
                let offered = chunk.len();
                match peer.conn.handle_input(now, chunk) {
                    Ok(n) => {
                        assert!(n <= offered, "handle_input consumed {n} of {offered}");
                        in_link.consume(n);
                        if n > 0 || (stalled && !peer.conn.is_input_stalled()) {
                            p = true;
                        }
                        if n < offered {
                            peer.short_reads += 1;
                        }
                        if n < offered || offered == 0 {
                            break;
                        }
                    }
                    Err(Error::Closed) => break,
                    Err(e) => panic!("handle_input: unexpected error {e}"),
                }
            }

            p |= peer.take_messages(now, record);

            // Output: as much as the link window takes.
            loop {
                let room = out_link.room().min(out_link.cfg.max_write);
                if room == 0 {
                    break;
                }
                if *written > max_bytes {
                    break;
                }
                let len = rng.range(1, room);
                let n = peer.conn.poll_transmit(now, &mut buf[..len]);
                assert!(n <= len);
                if n == 0 {
                    break;
                }
                if let Some(tap) = peer.tap.as_mut() {
                    tap.feed(now, &buf[..n]);
                }
                out_link.write(now, &buf[..n], rng);
                *written += n as u64;
                p = true;
            }

            while let Some(ev) = peer.conn.poll_event() {
                p = true;
                match ev {
                    Event::Writable(ch) => {
                        let c = peer.chan_mut(ch);
                        c.writable_count += 1;
                        c.blocked = false;
                    }
                    Event::Closed(reason) => {
                        assert!(peer.closed.is_none(), "second Closed event: {reason}");
                        peer.closed = Some((now, reason));
                    }
                }
            }
            if !p || *written > max_bytes {
                break;
            }
            progress = true;
        }
        progress
    }

    fn error(&self, kind: SimErrorKind) -> SimError {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "now = {:?}, steps = {}, bytes written = {}",
            self.now, self.steps, self.written
        );
        for (i, side) in [Side::A, Side::B].into_iter().enumerate() {
            let p = &self.peers[i];
            let _ = writeln!(
                s,
                "peer {side:?}: closed = {:?}, stalled = {}, wants_transmit = {}, poll_timeout = {:?}, unread toward it = {}, next chunk at {:?}",
                p.closed,
                p.conn.is_input_stalled(),
                p.conn.wants_transmit(),
                p.conn.poll_timeout(),
                self.links[1 - i].unread(),
                self.links[1 - i].chunks.front().map(|c| c.0),
            );
            for c in &p.chans {
                let _ = writeln!(
                    s,
                    "  ch {:#04x}: outbox {} blocked {} accepted {} received {} drain {:?} stats {:?}",
                    c.id,
                    c.outbox.len(),
                    c.blocked,
                    c.accepted_count,
                    c.received_count,
                    c.drain,
                    p.conn.channel_stats(c.id),
                );
            }
        }
        SimError { kind, state: s }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mconn::conn::{ChannelConfig, Config, GrowBuf};

    fn pair(cfg: SimConfig) -> Sim<GrowBuf> {
        let channels = [
            ChannelConfig::new(0x20, 5).recv_message_capacity(10_000),
            ChannelConfig::new(0x30, 1).recv_message_capacity(10_000),
        ];
        let conn =
            || MConnection::with_alloc(&Config::cometbft(), &channels, Instant::ZERO).unwrap();
        Sim::new(cfg, conn(), conn())
    }

    #[test]
    fn rng_is_deterministic() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
        assert_ne!(Rng::new(0).next_u64(), Rng::new(1).next_u64());
        assert!((0..1000).all(|_| (3..=5).contains(&a.range(3, 5))));
    }

    #[test]
    fn single_byte_fragments_with_latency_and_bandwidth() {
        let link = LinkConfig::default()
            .fragment(1)
            .bandwidth(100_000)
            .latency(Duration::from_millis(30));
        let mut sim = pair(SimConfig::default().link(link));
        let mut rng = Rng::new(3);
        let msgs: Vec<_> = (0..5).map(|i| rng.bytes(i * 1500)).collect();
        for m in &msgs {
            sim.send(Side::A, 0x20, m.clone());
            sim.send(Side::B, 0x30, m.clone());
        }
        sim.run_until_delivered().unwrap();
        assert_eq!(sim.peer(Side::B).chan(0x20).received, msgs);
        assert_eq!(sim.peer(Side::A).chan(0x30).received, msgs);
        // 15 KB at 100 KB/s plus latency: simulated time passed accordingly.
        assert!(sim.now() >= Instant::from_millis(150));
    }

    #[test]
    fn same_seed_same_run() {
        let run = || {
            let link = LinkConfig::default().fragment(7).bandwidth(50_000);
            let mut sim = pair(
                SimConfig {
                    seed: 9,
                    ..SimConfig::default()
                }
                .link(link),
            );
            for i in 0..20 {
                sim.send(Side::A, 0x20, vec![i; 3000]);
            }
            sim.run_until_delivered().unwrap();
            (sim.now(), sim.steps())
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn a_goal_that_never_holds_fails_with_a_message() {
        let mut sim = pair(SimConfig {
            max_time: Duration::from_secs(200),
            ..SimConfig::default()
        });
        let err = sim.run_until(|_| false).unwrap_err();
        assert_eq!(err.kind, SimErrorKind::TimeLimit);
        assert!(err.to_string().contains("peer A"));
    }
}
