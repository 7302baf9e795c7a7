//! Target `mconn_ops`: two MConnections wired back to back, driven by an
//! arbitrary script of application calls, partial transmits and deliveries,
//! clock jumps, closes, aborts and (optionally) bytes injected into a wire;
//! checked against a reference model.
//!
//! Input: `[setup][channels][rates] op…` (see [`Setup`] and [`Harness::op`]).
//!
//! The model keeps, per direction and channel, the FIFO of messages the
//! sender accepted and the receiver has not taken yet. Checks, after every
//! call (the driver drains events after each, as the contract says):
//!
//! * every message taken is the model's front, byte for byte (FIFO per
//!   channel, nothing duplicated, nothing corrupted) — unless bytes were
//!   injected into that direction;
//! * `try_send` succeeds exactly when `can_send` says so; its errors match
//!   the state; `Writable` only follows a `Full`;
//! * queue lengths and bytes stay within the configured capacities, and the
//!   counters agree with the model (sent, received, taken, queued);
//! * every close has a cause in the script (close, abort, an oversized
//!   message, injected bytes, a silent peer with the clock moved on), and is
//!   reported exactly once; a closed connection stays inert;
//! * after `handle_timeout(now)` the next deadline is in the future.
//!
//! At the end, both sides are driven to quiescence (bounded): every message
//! accepted on a direction that saw no fault, abort or injection must have
//! been delivered (nothing lost), every `Full` answered by a `Writable`, and
//! every graceful `close` finished.

use std::collections::VecDeque;

use mconn::conn::{
    ByteBuf, ChannelConfig, CloseReason, Config, Error, Event, Keepalive, MConnection,
};
use mconn::wire::packet::Codec;
use mconn::Instant;

use super::Input;

use core::time::Duration;

/// Channel ids and priorities; a fourth, unknown id is used for misuse.
const CHANNELS: [(u8, u32); 3] = [(0x20, 5), (0x30, 1), (0x00, 10)];
const UNKNOWN: u8 = 0x55;
const PAYLOADS: [usize; 4] = [1024, 16, 64, 200];
const CAPS: [usize; 4] = [300, 2000, 40, 1];
const RATES: [Option<u32>; 4] = [None, Some(20_000), Some(1_000_000), None];
/// Largest backlog kept on a simulated wire (further transmits are skipped).
const WIRE_CAP: usize = 1 << 20;
const HEADER: usize = 4;

/// The configuration both connections share, from the first input bytes.
#[derive(Clone, Debug)]
struct Setup {
    config: Config,
    channels: Vec<ChannelConfig>,
    grow: bool,
    inject: bool,
    rates: bool,
}

impl Setup {
    fn read(input: &mut Input<'_>) -> Setup {
        let s = input.u8();
        let c = input.u8();
        let r = input.u8();
        let mut config = Config::cometbft();
        if s & 1 != 0 {
            config.codec = Codec::GoWire;
        }
        config.max_packet_payload = PAYLOADS[usize::from(s >> 1) & 3];
        config.keepalive = match (s >> 3) & 3 {
            0 => Keepalive::COMETBFT,
            1 => Keepalive::SEED,
            2 => Keepalive::Off,
            _ => Keepalive::CometBft {
                ping_interval: Duration::from_secs(2),
                pong_timeout: Duration::from_secs(1),
            },
        };
        let rates = s & 0x80 != 0;
        if rates {
            config.send_rate = RATES[usize::from(r) & 3];
            config.recv_rate = RATES[usize::from(r >> 2) & 3];
        }
        if r & 0x10 != 0 {
            config.decay_period = Duration::from_millis(10);
        }
        let queue = usize::from(c & 3) + 1;
        let channels = CHANNELS
            .iter()
            .enumerate()
            .map(|(i, &(id, prio))| {
                let cap = CAPS[usize::from(c >> (2 + i * 2)) & 3];
                let mut ch = ChannelConfig::new(id, prio)
                    .send_queue(queue + i)
                    .recv_message_capacity(cap);
                // Bit 6/7 of the rates byte: tight send / receive budgets.
                ch = ch.send_buffer(if r & 0x40 != 0 {
                    cap + HEADER
                } else {
                    4 * (cap + HEADER)
                });
                ch.recv_buffer(if r & 0x80 != 0 {
                    cap + HEADER
                } else {
                    3 * (cap + HEADER)
                })
            })
            .collect();
        Setup {
            config,
            channels,
            grow: s & 0x20 != 0,
            inject: s & 0x40 != 0,
            rates,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Ops,
    Drain,
}

/// One side's connection and what the script did to it.
struct Side<B: ByteBuf> {
    conn: MConnection<B>,
    /// Bytes this side transmitted that the other has not consumed.
    wire: Vec<u8>,
    /// Per channel: messages accepted here, not yet taken by the other side.
    model: [VecDeque<Vec<u8>>; CHANNELS.len()],
    accepted: [u64; CHANNELS.len()],
    /// Per channel: messages this side's application took.
    taken: [u64; CHANNELS.len()],
    /// Channel whose message `poll_message` lent out.
    lent: Option<usize>,
    /// Per channel: a `Full` not answered by `Writable` yet.
    want_writable: [bool; CHANNELS.len()],
    closed: Option<CloseReason>,
    close_called: bool,
    aborted: bool,
    /// This side accepted a message larger than the peer's capacity.
    oversize: bool,
    /// Bytes were injected into this side's outgoing wire.
    tainted: bool,
    transmitted: u64,
}

impl<B: ByteBuf> Side<B> {
    fn new(conn: MConnection<B>) -> Self {
        Side {
            conn,
            wire: Vec::new(),
            model: Default::default(),
            accepted: [0; CHANNELS.len()],
            taken: [0; CHANNELS.len()],
            lent: None,
            want_writable: [false; CHANNELS.len()],
            closed: None,
            close_called: false,
            aborted: false,
            oversize: false,
            tainted: false,
            transmitted: 0,
        }
    }

    fn faulted(&self) -> bool {
        self.closed.is_some_and(|r| r != CloseReason::Closed)
    }
}

struct Harness<B: ByteBuf> {
    setup: Setup,
    sides: [Side<B>; 2],
    now: Instant,
    phase: Phase,
    seq: u32,
    out: Vec<u8>,
}

/// `MCONN_FUZZ_TRACE=1` prints every operation (for debugging a finding).
pub(crate) fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("MCONN_FUZZ_TRACE").is_some())
}

fn message(seq: u32, len: usize) -> Vec<u8> {
    let tag = seq.to_le_bytes();
    (0..len)
        .map(|i| tag.get(i).copied().unwrap_or(i as u8 ^ tag[0]))
        .collect()
}

impl<B: ByteBuf> Harness<B> {
    fn cap(&self, i: usize) -> usize {
        self.setup.channels[i].recv_message_capacity
    }

    /// Drains events of side `s`, checking each against the script.
    fn events(&mut self, s: usize) {
        let inject_in = self.sides[1 - s].tainted;
        let other_closed = self.sides[1 - s].closed.is_some();
        let other_oversize = self.sides[1 - s].oversize;
        let (rates, phase) = (self.setup.rates, self.phase);
        let side = &mut self.sides[s];
        for _ in 0..64 {
            let Some(ev) = side.conn.poll_event() else {
                break;
            };
            match ev {
                Event::Writable(ch) => {
                    let i = CHANNELS
                        .iter()
                        .position(|c| c.0 == ch)
                        .expect("Writable for a channel we have");
                    assert!(side.want_writable[i], "Writable({ch:#x}) without Full");
                    side.want_writable[i] = false;
                }
                Event::Closed(reason) => {
                    assert_eq!(side.closed, None, "second Closed event");
                    let explained = match reason {
                        CloseReason::Closed => side.close_called,
                        CloseReason::Aborted => side.aborted,
                        CloseReason::PongTimeout | CloseReason::PartialStale(_) => {
                            phase == Phase::Ops || rates || other_closed || inject_in
                        }
                        CloseReason::MessageTooLarge(_) => other_oversize || inject_in,
                        _ => inject_in,
                    };
                    assert!(explained, "side {s} closed without cause: {reason:?}");
                    side.closed = Some(reason);
                }
            }
        }
        assert_eq!(side.conn.poll_event(), None, "event queue overflow");
        assert_eq!(side.conn.is_closed(), side.closed.is_some());
    }

    /// Counters and capacities of side `s`.
    fn invariants(&self, s: usize) {
        let side = &self.sides[s];
        let peer = &self.sides[1 - s];
        let conn = &side.conn;
        if side.closed.is_some() {
            assert_eq!(conn.poll_timeout(), None);
            assert!(!conn.wants_transmit());
            assert!(!conn.can_send(CHANNELS[0].0, 0));
        }
        for (i, cfg) in self.setup.channels.iter().enumerate() {
            let st = conn.channel_stats(cfg.id).expect("configured");
            assert!(st.send_queue_len <= cfg.send_queue_capacity, "send queue");
            assert!(st.send_queue_bytes <= cfg.send_buffer_bytes(), "send bytes");
            assert!(
                st.recv_queue_len * HEADER <= cfg.recv_buffer_bytes(),
                "recv"
            );
            if side.closed.is_none() {
                let in_flight = side.accepted[i] - st.messages_sent - st.send_queue_len as u64;
                assert!(in_flight <= 1, "accepted {} sent {st:?}", side.accepted[i]);
            }
            let lent = u64::from(side.lent == Some(i));
            assert_eq!(
                st.recv_queue_len as u64,
                st.messages_received - side.taken[i] + lent,
                "receive queue accounting"
            );
            if !peer.tainted {
                assert!(st.messages_received <= peer.accepted[i]);
            }
        }
        assert!(conn.stats().bytes_sent >= side.transmitted);
    }

    /// Checks a message side `s` took from channel index `i`.
    fn took(&mut self, s: usize, i: usize, msg: Option<&[u8]>) {
        let peer = &mut self.sides[1 - s];
        let front = peer.model[i].pop_front();
        if !peer.tainted {
            let front = front.expect("message never sent (duplicate?)");
            if let Some(msg) = msg {
                assert_eq!(msg, &front[..], "message differs from the model's front");
            }
        }
        self.sides[s].taken[i] += 1;
    }

    fn try_send(&mut self, s: usize, ch_sel: u8, len_sel: u16) {
        let (id, i) = match CHANNELS.get(usize::from(ch_sel & 3)) {
            Some(c) => (c.0, Some(usize::from(ch_sel & 3))),
            None => (UNKNOWN, None),
        };
        let cap = i.map_or(100, |i| self.cap(i));
        let len = usize::from(len_sel) % (cap + cap / 8 + 2);
        self.seq += 1;
        let msg = message(self.seq, len);
        let side = &mut self.sides[s];
        let can = side.conn.can_send(id, len);
        let res = side.conn.try_send(id, &msg);
        assert_eq!(can, res.is_ok(), "can_send disagrees with try_send");
        match res {
            Ok(()) => {
                let i = i.expect("unknown channel accepted");
                side.accepted[i] += 1;
                side.model[i].push_back(msg);
                if len > cap {
                    side.oversize = true;
                }
            }
            Err(Error::Full) => {
                let i = i.expect("unknown channel reported Full");
                assert!(side.closed.is_none() && !side.close_called);
                side.want_writable[i] = true;
            }
            Err(Error::TooLarge) => {
                let i = i.expect("unknown channel reported TooLarge");
                assert!(len + HEADER > self.setup.channels[i].send_buffer_bytes());
            }
            Err(Error::Closed) => assert!(side.closed.is_some() || side.close_called),
            Err(Error::UnknownChannel) => assert!(i.is_none()),
            Err(e) => panic!("try_send on a bare MConnection: {e:?}"),
        }
        self.events(s);
    }

    fn transmit(&mut self, s: usize, size: usize) -> usize {
        self.out.resize(size.max(self.out.len()), 0);
        let now = self.now;
        let receiver_open = self.sides[1 - s].closed.is_none();
        let side = &mut self.sides[s];
        let n = side.conn.poll_transmit(now, &mut self.out[..size]);
        assert!(n <= size);
        side.transmitted += n as u64;
        if receiver_open {
            side.wire.extend_from_slice(&self.out[..n]);
        }
        self.events(s);
        n
    }

    /// Offers up to `max` wire bytes from side `s` to the other side.
    fn deliver(&mut self, s: usize, max: usize) -> usize {
        let r = 1 - s;
        let now = self.now;
        let n = max.min(self.sides[s].wire.len());
        let was_closed = self.sides[r].closed.is_some();
        let res = self.sides[r]
            .conn
            .handle_input(now, &self.sides[s].wire[..n]);
        let used = match res {
            Ok(used) => {
                // Taking input releases the lent message (a refusal does not).
                self.sides[r].lent = None;
                assert!(!was_closed, "closed connection took input");
                assert!(used <= n, "consumed more than offered");
                used
            }
            Err(Error::Closed) => {
                assert!(was_closed);
                0
            }
            Err(e) => panic!("handle_input: {e:?}"),
        };
        self.sides[s].wire.drain(..used);
        self.events(r);
        if self.sides[r].closed.is_some() {
            self.sides[s].wire.clear();
        }
        used
    }

    /// Takes up to `max` messages on side `s` with `poll_message`.
    fn take(&mut self, s: usize, max: usize) -> usize {
        let mut count = 0;
        while count < max {
            let Some((ch, msg)) = self.sides[s].conn.poll_message() else {
                self.sides[s].lent = None;
                break;
            };
            let msg = msg.to_vec();
            let i = CHANNELS
                .iter()
                .position(|c| c.0 == ch)
                .expect("message on a configured channel");
            assert_eq!(self.sides[s].conn.peek_message(ch), Ok(Some(&msg[..])));
            self.sides[s].lent = Some(i);
            self.took(s, i, Some(&msg));
            count += 1;
        }
        count
    }

    fn pop(&mut self, s: usize, ch_sel: u8) {
        let Some(&(id, _)) = CHANNELS.get(usize::from(ch_sel & 3)) else {
            // Like any pop, a failed one still releases the lent message.
            self.sides[s].lent = None;
            let conn = &mut self.sides[s].conn;
            assert_eq!(conn.pop_message(UNKNOWN), Err(Error::UnknownChannel));
            assert_eq!(conn.peek_message(UNKNOWN), Err(Error::UnknownChannel));
            return;
        };
        let i = usize::from(ch_sel & 3);
        let had = self.sides[s].conn.pop_message(id).expect("known channel");
        self.sides[s].lent = None;
        if had {
            self.took(s, i, None);
        }
        let peek = self.sides[s].conn.peek_message(id).expect("known channel");
        let peer = &self.sides[1 - s];
        if let (Some(msg), false) = (peek, peer.tainted) {
            assert_eq!(Some(msg), peer.model[i].front().map(|m| &m[..]), "peek");
        }
    }

    fn tick(&mut self, dt: Duration) {
        self.now += dt;
        for s in 0..2 {
            self.sides[s].conn.handle_timeout(self.now);
            self.events(s);
            if !self.setup.rates {
                if let Some(t) = self.sides[s].conn.poll_timeout() {
                    assert!(t > self.now, "deadline {t:?} not after now {:?}", self.now);
                }
            }
        }
    }

    /// One scripted operation; see the match arms for the encoding.
    fn op(&mut self, input: &mut Input<'_>) {
        let code = input.u8();
        if trace() {
            eprintln!("op {code:#04x} {}", self.describe());
        }
        let s = usize::from(code >> 7);
        match code & 0x0f {
            0..=3 => {
                let ch = input.u8();
                let len = input.u16();
                self.try_send(s, ch, len);
            }
            4 | 5 => {
                let size = usize::from(input.u16()) % 4097;
                if self.sides[s].wire.len() < WIRE_CAP {
                    self.transmit(s, size);
                }
            }
            6 | 7 => {
                let max = usize::from(input.u16()) % 4097;
                self.deliver(s, max);
            }
            8 | 9 => {
                let max = usize::from(input.u8() % 8) + 1;
                self.take(s, max);
            }
            10 => {
                let ch = input.u8();
                self.pop(s, ch);
            }
            11 => {
                let ms = u64::from(input.u16());
                let scale = if code & 0x10 != 0 { 1 } else { 1000 };
                self.tick(Duration::from_micros(ms * scale));
            }
            12 => {
                let side = &mut self.sides[s];
                side.close_called |= side.closed.is_none();
                side.conn.close();
                self.events(s);
            }
            13 => {
                let side = &mut self.sides[s];
                side.aborted |= side.closed.is_none();
                side.conn.abort();
                self.events(s);
                assert!(self.sides[s].conn.is_closed());
            }
            14 if self.setup.inject => {
                let len = usize::from(input.u8() % 64);
                let at = usize::from(input.u16());
                let bytes = input.bytes(len);
                let side = &mut self.sides[s];
                let at = at % (side.wire.len() + 1);
                side.wire.splice(at..at, bytes.iter().copied());
                side.tainted = true;
            }
            _ => self.sides[s].conn.shrink_buffers(),
        }
        self.invariants(0);
        self.invariants(1);
    }

    /// Whether side `s`'s messages must all reach the other side.
    fn must_deliver(&self, s: usize) -> bool {
        let (a, b) = (&self.sides[s], &self.sides[1 - s]);
        !a.tainted
            && !a.oversize
            && !a.aborted
            && !a.faulted()
            && !b.faulted()
            && !b.close_called
            && !b.aborted
    }

    fn done(&self) -> bool {
        (0..2).all(|s| {
            let side = &self.sides[s];
            let delivered = !self.must_deliver(s) || side.model.iter().all(VecDeque::is_empty);
            let closed = !side.close_called || side.closed.is_some();
            delivered && closed
        })
    }

    /// Runs both sides until everything that must arrive has arrived.
    fn drain(&mut self) {
        self.phase = Phase::Drain;
        for _ in 0..100_000 {
            let mut progress = false;
            for s in 0..2 {
                for _ in 0..10_000 {
                    if self.transmit(s, 1 << 16) == 0 {
                        break;
                    }
                    progress = true;
                    if self.sides[1 - s].closed.is_some() {
                        self.sides[s].wire.clear();
                    }
                }
                for _ in 0..100_000 {
                    let used = self.deliver(s, usize::MAX);
                    let took = self.take(1 - s, usize::MAX);
                    progress |= used > 0 || took > 0;
                    if used == 0 && took == 0 {
                        break;
                    }
                }
            }
            self.invariants(0);
            self.invariants(1);
            if self.done() {
                break;
            }
            if !progress {
                let next = [0, 1]
                    .iter()
                    .filter_map(|&s| self.sides[s].conn.poll_timeout())
                    .min();
                let Some(next) = next else {
                    break;
                };
                let dt = next.saturating_duration_since(self.now);
                self.tick(dt);
            }
        }
        assert!(self.done(), "not quiescent: {}", self.describe());
        for s in 0..2 {
            if self.must_deliver(s) && self.sides[s].closed.is_none() {
                let side = &self.sides[s];
                assert_eq!(side.want_writable, [false; 3], "Full never answered");
            }
        }
    }

    fn describe(&self) -> String {
        let mut out = format!("now {:?}", self.now);
        for (s, side) in self.sides.iter().enumerate() {
            let left: Vec<usize> = side.model.iter().map(VecDeque::len).collect();
            out += &format!(
                "; side {s}: closed {:?} close {} abort {} oversize {} tainted {} undelivered {left:?} wire {} stalled {}",
                side.closed,
                side.close_called,
                side.aborted,
                side.oversize,
                side.tainted,
                side.wire.len(),
                side.conn.is_input_stalled(),
            );
        }
        out
    }
}

fn run<B: ByteBuf>(setup: Setup, a: MConnection<B>, b: MConnection<B>, mut input: Input<'_>) {
    let mut h = Harness {
        setup,
        sides: [Side::new(a), Side::new(b)],
        now: Instant::ZERO,
        phase: Phase::Ops,
        seq: 0,
        out: Vec::new(),
    };
    for _ in 0..100_000 {
        if input.is_empty() {
            break;
        }
        h.op(&mut input);
    }
    h.drain();
}

/// See the module docs.
pub fn mconn_ops(data: &[u8]) {
    let mut input = Input::new(data);
    let setup = Setup::read(&mut input);
    let now = Instant::ZERO;
    if setup.grow {
        let make = || MConnection::with_alloc(&setup.config, &setup.channels, now);
        let (a, b) = (make().expect("valid"), make().expect("valid"));
        run(setup.clone(), a, b, input);
    } else {
        let size = Config::arena_size(&setup.channels);
        let (mut sa, mut sb) = (vec![0u8; size], vec![0u8; size]);
        let a = MConnection::in_arena(&setup.config, &setup.channels, now, &mut sa);
        let b = MConnection::in_arena(&setup.config, &setup.channels, now, &mut sb);
        run(setup.clone(), a.expect("valid"), b.expect("valid"), input);
    }
}
