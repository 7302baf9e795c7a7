//! Target `session`: the composed machine (SecretConnection or plaintext,
//! NodeInfo exchange, MConnection) from the first byte, with arbitrary
//! input splits, output buffer sizes and timer ticks.
//!
//! Input: `[mode][seed] op…`. Mode bit 3 picks the variant:
//!
//! * **raw**: one session whose peer is the fuzzer (ops feed input bytes).
//!   With mode bit 0 (plaintext) the fuzzer can reach the MConnection.
//! * **pair**: two honest sessions wired back to back; ops send, move
//!   bytes in pieces, take messages, tick, corrupt a wire byte, close or
//!   abort. Taken messages must match the per-channel FIFO of accepted ones;
//!   with no fault injected everything accepted must arrive.
//!
//! Invariants for every session: consumed ≤ offered; `Connected` at most
//! once and before `Closed`; `Closed` at most once; a closed session is
//! inert; sends before `Connected` are `NotConnected`; after
//! `handle_timeout(now)` the deadline is in the future; a session not
//! connected 6 s (both handshake deadlines) after its start is closed.

use core::time::Duration;
use std::collections::VecDeque;

use mconn::conn::{ChannelConfig, Config, Error, GrowBuf, Keepalive};
use mconn::identity::{NodeId, NodeKey};
use mconn::session::{CloseReason, Event, Security, Session, SessionConfig};
use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
use mconn::wire::packet::Codec;
use mconn::Instant;

use super::{Input, Rng};

const CHANNELS: [(u8, usize); 3] = [(0x20, 300), (0x30, 2000), (0x00, 50)];
const CHANNEL_IDS: [u8; 3] = [0x20, 0x30, 0x00];
const ALL_DEADLINES: Duration = Duration::from_secs(6);

struct Keys {
    keys: [NodeKey; 2],
    ids: [String; 2],
}

fn keys() -> &'static Keys {
    static K: std::sync::OnceLock<Keys> = std::sync::OnceLock::new();
    K.get_or_init(|| {
        let keys = [NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32])];
        let ids = [keys[0].node_id().to_string(), keys[1].node_id().to_string()];
        Keys { keys, ids }
    })
}

fn info(id: &str) -> NodeInfo<'_> {
    NodeInfo {
        protocol_version: ProtocolVersion::new(8, 11, 0),
        default_node_id: id,
        listen_addr: "tcp://127.0.0.1:26656",
        network: "test-chain",
        version: "0.38.0",
        channels: &CHANNEL_IDS,
        moniker: "fuzz",
        ..NodeInfo::default()
    }
}

fn config(mode: u8) -> SessionConfig {
    let mut conn = Config::cometbft();
    if mode & 0x10 != 0 {
        conn.codec = Codec::GoWire;
        conn.keepalive = Keepalive::SEED;
    }
    if mode & 0x20 != 0 {
        conn.max_packet_payload = 64;
    }
    SessionConfig::new(conn)
}

fn channels() -> Vec<ChannelConfig> {
    CHANNELS
        .iter()
        .map(|&(id, cap)| {
            ChannelConfig::new(id, 1)
                .send_queue(3)
                .recv_message_capacity(cap)
                .send_buffer(4 * (cap + 4))
                .recv_buffer(2 * (cap + 4))
        })
        .collect()
}

/// One session and what it reported.
struct Peer {
    s: Session<GrowBuf>,
    start: Instant,
    connected: bool,
    closed: Option<CloseReason>,
    /// Bytes transmitted, not yet consumed by the other side.
    wire: Vec<u8>,
    /// Per channel: messages accepted here, not yet taken by the other side.
    model: [VecDeque<Vec<u8>>; 3],
    /// Everything transmitted (for seed generation).
    log: Vec<u8>,
    /// `close()` was called (sends are refused while it flushes).
    closing: bool,
    /// Bytes transmitted after `Closed`.
    after_close: usize,
}

impl Peer {
    fn new(mode: u8, side: usize, now: Instant) -> Self {
        let k = keys();
        let security = if mode & 1 != 0 {
            Security::Plaintext
        } else {
            Security::Secret {
                key: &k.keys[side],
                ephemeral: [side as u8 + 7; 32],
            }
        };
        // Side 0 dials side 1 (mode bit 1), maybe the wrong ID (bit 2).
        let dialed = (side == 0 && mode & 2 != 0).then(|| {
            if mode & 4 != 0 {
                NodeId([9; 20])
            } else {
                k.keys[1].node_id()
            }
        });
        let local = info(&k.ids[side]);
        let s = Session::with_alloc(&config(mode), &channels(), &local, security, dialed, now)
            .expect("valid session");
        Peer {
            s,
            start: now,
            connected: false,
            closed: None,
            wire: Vec::new(),
            model: Default::default(),
            log: Vec::new(),
            closing: false,
            after_close: 0,
        }
    }

    fn events(&mut self) {
        for _ in 0..64 {
            let Some(ev) = self.s.poll_event() else {
                break;
            };
            match ev {
                Event::Connected => {
                    assert!(!self.connected, "second Connected");
                    assert!(self.closed.is_none(), "Connected after Closed");
                    self.connected = true;
                    assert!(self.s.remote_id().is_some());
                    assert!(self.s.remote_node_info().is_some());
                }
                Event::Writable(_) => assert!(self.connected),
                Event::Closed(reason) => {
                    assert!(self.closed.is_none(), "second Closed");
                    self.closed = Some(reason);
                }
            }
        }
        assert_eq!(self.s.poll_event(), None, "event flood");
        if self.closed.is_some() {
            assert!(self.s.is_closed());
            assert!(!self.s.is_connected());
            assert_eq!(self.s.poll_timeout(), None);
        } else {
            assert_eq!(self.s.is_connected(), self.connected);
        }
    }

    fn transmit(&mut self, now: Instant, size: usize) -> usize {
        let mut out = vec![0u8; size];
        let n = self.s.poll_transmit(now, &mut out);
        assert!(n <= size);
        if self.closed.is_some() {
            // Only the rest of a started frame and, after refusing the
            // peer's NodeInfo, the rest of ours (as CometBFT) may follow.
            self.after_close += n;
            assert!(self.after_close <= 3 * 1044, "closed session transmits");
        }
        self.wire.extend_from_slice(&out[..n]);
        self.log.extend_from_slice(&out[..n]);
        self.events();
        n
    }

    /// Feeds `input`; returns bytes consumed.
    fn feed(&mut self, now: Instant, input: &[u8]) -> usize {
        let was_closed = self.closed.is_some();
        let n = match self.s.handle_input(now, input) {
            Ok(n) => {
                assert!(!was_closed, "closed session took input");
                assert!(n <= input.len(), "consumed more than offered");
                n
            }
            Err(Error::Closed) => {
                assert!(was_closed || self.s.is_closed());
                0
            }
            Err(e) => panic!("handle_input: {e:?}"),
        };
        self.events();
        n
    }

    fn tick(&mut self, now: Instant) {
        self.s.handle_timeout(now);
        self.events();
        if let Some(t) = self.s.poll_timeout() {
            assert!(t > now, "deadline {t:?} not after {now:?}");
        }
        if !self.connected && now.saturating_duration_since(self.start) >= ALL_DEADLINES {
            assert!(self.s.is_closed(), "handshake outlived its deadlines");
        }
    }

    fn try_send(&mut self, ch: usize, msg: Vec<u8>) {
        let id = CHANNEL_IDS[ch];
        match self.s.try_send(id, &msg) {
            Ok(()) => {
                assert!(self.connected);
                self.model[ch].push_back(msg);
            }
            Err(Error::NotConnected) => assert!(!self.connected && self.closed.is_none()),
            Err(Error::Closed) => {
                assert!(self.closed.is_some() || self.s.is_closed() || self.closing)
            }
            Err(Error::Full) | Err(Error::TooLarge) => assert!(self.connected),
            Err(Error::PeerLacksChannel) => {
                let info = self.s.remote_node_info().expect("connected");
                assert!(!info.channels.contains(&id), "peer has {id:#x}");
            }
            Err(e) => panic!("try_send: {e:?}"),
        }
        self.events();
    }
}

fn raw(mode: u8, mut input: Input<'_>, rng: &mut Rng) {
    let mut now = Instant::ZERO;
    let mut a = Peer::new(mode, 0, now);
    let mut pending: Vec<u8> = Vec::new();
    for _ in 0..10_000 {
        if input.is_empty() {
            break;
        }
        let op = input.u8();
        match op & 7 {
            0..=2 => {
                let len = usize::from(input.u16() % 2048);
                pending.extend_from_slice(input.bytes(len));
                let max = rng.range(1, pending.len().max(1)).min(pending.len());
                let n = a.feed(now, &pending[..max]);
                pending.drain(..n);
                while a.s.poll_message().is_some() {}
            }
            3 => {
                now += Duration::from_millis(u64::from(input.u16()));
                a.tick(now);
            }
            4 => {
                let size = usize::from(input.u16() % 4096);
                a.transmit(now, size);
                a.wire.clear();
            }
            5 => {
                let len = usize::from(input.u16()) % 400;
                a.try_send(usize::from(op >> 6) % 3, vec![op; len]);
            }
            6 => {
                while a.s.poll_message().is_some() {}
                let n = a.feed(now, &pending);
                pending.drain(..n);
            }
            _ => {
                if op & 0x80 != 0 {
                    a.s.abort();
                } else {
                    a.closing = true;
                    a.s.close();
                }
                a.events();
                if op & 0x80 != 0 {
                    assert!(a.s.is_closed());
                }
            }
        }
    }
    // Both deadlines pass: a session still not connected must be closed.
    now += ALL_DEADLINES;
    a.tick(now);
}

struct Pair {
    p: [Peer; 2],
    now: Instant,
    seq: u32,
    /// A fault was injected (corruption, close, abort, a long tick before
    /// connecting): completeness is not required.
    clean: bool,
}

impl Pair {
    fn deliver(&mut self, s: usize, max: usize) -> usize {
        let n = max.min(self.p[s].wire.len());
        let chunk = self.p[s].wire[..n].to_vec();
        let used = self.p[1 - s].feed(self.now, &chunk);
        self.p[s].wire.drain(..used);
        if self.p[1 - s].closed.is_some() {
            self.p[s].wire.clear();
        }
        used
    }

    fn take(&mut self, s: usize, max: usize) -> usize {
        let mut count = 0;
        while count < max {
            let Some((ch, msg)) = self.p[s].s.poll_message() else {
                break;
            };
            let i = CHANNEL_IDS.iter().position(|&c| c == ch).expect("known");
            let msg = msg.to_vec();
            let front = self.p[1 - s].model[i].pop_front();
            if self.clean {
                assert_eq!(front.as_deref(), Some(&msg[..]), "message differs");
            }
            count += 1;
        }
        count
    }

    fn op(&mut self, input: &mut Input<'_>) {
        let op = input.u8();
        if super::mconn_ops::trace() {
            let st = |p: &Peer| {
                (
                    p.connected,
                    p.closed,
                    p.wire.len(),
                    p.s.stats().packets_received,
                )
            };
            eprintln!(
                "op {op:#04x} clean {} a {:?} b {:?}",
                self.clean,
                st(&self.p[0]),
                st(&self.p[1])
            );
        }
        let s = usize::from(op >> 7);
        match op & 15 {
            0..=3 => {
                let ch = usize::from(input.u8()) % 3;
                let len = usize::from(input.u16()) % (CHANNELS[ch].1 + 1);
                self.seq += 1;
                let mut msg = self.seq.to_le_bytes().to_vec();
                msg.resize(len, op);
                self.p[s].try_send(ch, msg);
            }
            4..=6 => {
                let size = usize::from(input.u16()) % 4096;
                if self.p[s].wire.len() < 1 << 20 {
                    self.p[s].transmit(self.now, size);
                }
            }
            7..=9 => {
                let max = usize::from(input.u16()) % 4096;
                self.deliver(s, max);
            }
            10 | 11 => {
                let max = usize::from(input.u8() % 8) + 1;
                self.take(s, max);
            }
            12 => {
                let ms = u64::from(input.u16());
                self.now += Duration::from_millis(ms);
                for p in &mut self.p {
                    p.tick(self.now);
                }
            }
            13 => {
                let at = usize::from(input.u16());
                let bit = input.u8() & 7;
                let wire = &mut self.p[s].wire;
                if !wire.is_empty() {
                    let at = at % wire.len();
                    wire[at] ^= 1 << bit;
                    self.clean = false;
                }
            }
            14 => {
                self.p[s].closing = true;
                self.p[s].s.close();
                self.p[s].events();
                self.clean = false;
            }
            _ => {
                self.p[s].s.abort();
                self.p[s].events();
                self.clean = false;
            }
        }
    }

    /// Moves everything until nothing moves (bounded), without time passing.
    fn drain(&mut self) {
        for _ in 0..10_000 {
            let mut progress = false;
            for s in 0..2 {
                for _ in 0..10_000 {
                    let n = self.p[s].transmit(self.now, 1 << 16);
                    if super::mconn_ops::trace() {
                        eprintln!(
                            "drain: side {s} transmit {n} stats {:?}",
                            self.p[s].s.stats()
                        );
                    }
                    if n == 0 {
                        break;
                    }
                    progress = true;
                }
                for _ in 0..10_000 {
                    let used = self.deliver(s, usize::MAX);
                    let took = self.take(1 - s, usize::MAX);
                    if used == 0 && took == 0 {
                        break;
                    }
                    progress = true;
                }
            }
            if !progress {
                break;
            }
        }
    }

    fn check_done(&mut self) {
        let k = keys();
        for s in 0..2 {
            let peer_stalled = self.p[1 - s].s.conn().is_input_stalled();
            let p = &self.p[s];
            assert!(p.connected, "side {s} never connected: {:?}", p.closed);
            assert_eq!(p.closed, None, "side {s} closed");
            assert_eq!(p.s.remote_id(), Some(k.keys[1 - s].node_id()));
            let info = p.s.remote_node_info().expect("connected");
            assert_eq!(info.default_node_id, k.ids[1 - s]);
            let left: Vec<usize> = p.model.iter().map(VecDeque::len).collect();
            assert!(
                p.model.iter().all(VecDeque::is_empty),
                "side {s}: lost messages {left:?}, wire {}, peer stalled {}, {:?}",
                p.wire.len(),
                peer_stalled,
                p.s.stats(),
            );
        }
    }
}

fn pair(mode: u8, mut input: Input<'_>) {
    let now = Instant::ZERO;
    let wrong_dial = mode & 6 == 6;
    let mut pair = Pair {
        p: [Peer::new(mode, 0, now), Peer::new(mode, 1, now)],
        now,
        seq: 0,
        clean: true,
    };
    for _ in 0..10_000 {
        if input.is_empty() {
            break;
        }
        pair.op(&mut input);
    }
    pair.drain();
    if wrong_dial {
        // The dialer must refuse the authenticated but unexpected peer.
        assert!(!pair.p[0].connected);
        return;
    }
    if !pair.clean {
        return;
    }
    // Without injected faults, only the clock can end a session.
    let mut timed_out = false;
    for p in &pair.p {
        if let Some(reason) = p.closed {
            let by_clock = matches!(
                reason,
                CloseReason::HandshakeTimeout
                    | CloseReason::NodeInfoTimeout
                    | CloseReason::Conn(mconn::conn::CloseReason::PongTimeout)
                    | CloseReason::Conn(mconn::conn::CloseReason::PartialStale(_))
            );
            assert!(by_clock && pair.now > Instant::ZERO, "closed: {reason:?}");
            timed_out = true;
        }
    }
    if !timed_out {
        pair.check_done();
    }
}

/// A clean conversation in `mode`: what the second side sent to the first
/// (its whole byte stream, handshake included) — seeds for the raw variant.
pub(crate) fn record(mode: u8) -> Vec<u8> {
    let mut pair = Pair {
        p: [
            Peer::new(mode, 0, Instant::ZERO),
            Peer::new(mode, 1, Instant::ZERO),
        ],
        now: Instant::ZERO,
        seq: 0,
        clean: true,
    };
    pair.drain();
    for (ch, len) in [(0, 5), (1, 1500), (2, 0), (0, 300)] {
        pair.seq += 1;
        let mut msg = pair.seq.to_le_bytes().to_vec();
        msg.resize(len, 0xab);
        pair.p[1].try_send(ch, msg);
    }
    pair.drain();
    pair.check_done();
    std::mem::take(&mut pair.p[1].log)
}

/// See the module docs.
pub fn session(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.u8();
    let seed = input.u8();
    let mut rng = Rng::new(u64::from(seed));
    if mode & 8 != 0 {
        raw(mode, input, &mut rng);
    } else {
        pair(mode, input);
    }
}
