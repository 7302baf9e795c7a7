//! No allocation per message: a counting global allocator (this test binary
//! only) watches two connected machines exchange many messages of mixed
//! sizes (0 to 64 KiB), both ways, on three channels, with keepalive pings
//! going on.
//!
//! * `with_alloc` (growable buffers): allocations happen while buffers grow
//!   during warm-up, then none at all in steady state.
//! * `in_arena` (caller storage): no allocation at any time, construction
//!   included.
//! * `session` (SecretConnection → NodeInfo → MConnection, growable
//!   buffers), with every AEAD implementation compiled in: none in steady
//!   state either.
//!
//! Counting is per thread, so tests running in parallel do not disturb
//! each other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use mconn::conn::{ByteBuf, ChannelConfig, Config, Error, GrowBuf, MConnection};
use mconn::identity::NodeKey;
use mconn::secret::AeadKind;
use mconn::session::{Event, Security, Session, SessionConfig};
use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
use mconn::Instant;

struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    let _ = ON.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts this thread's allocations while `f` runs.
fn count<R>(f: impl FnOnce() -> R) -> (R, u64) {
    COUNT.with(|c| c.set(0));
    ON.with(|on| on.set(true));
    let r = f();
    ON.with(|on| on.set(false));
    (r, COUNT.with(Cell::get))
}

const IDS: [u8; 3] = [0x20, 0x21, 0x30];
const SIZES: [usize; 12] = [
    0, 1, 100, 1023, 1024, 1025, 5000, 20_000, 65_536, 65_535, 3000, 40_000,
];

fn channels() -> [ChannelConfig; 3] {
    [
        ChannelConfig::new(IDS[0], 6)
            .send_queue(4)
            .recv_message_capacity(65_536),
        ChannelConfig::new(IDS[1], 10)
            .send_queue(4)
            .recv_message_capacity(65_536),
        ChannelConfig::new(IDS[2], 1)
            .send_queue(4)
            .recv_message_capacity(65_536),
    ]
}

/// Preallocated payloads: `pool[k]` has size `SIZES[k]`, distinct content.
fn pool() -> Vec<Vec<u8>> {
    SIZES
        .iter()
        .enumerate()
        .map(|(k, &n)| (0..n).map(|i| (i * 7 + k * 13) as u8).collect())
        .collect()
}

/// Per direction and channel: next message to send, next expected.
#[derive(Default)]
struct Cursor {
    sent: [usize; 3],
    got: [usize; 3],
}

/// What the driver below needs of a connected machine: an [`MConnection`]
/// or a whole [`Session`] (same driving contract).
trait Machine {
    fn try_send(&mut self, ch: u8, msg: &[u8]) -> Result<(), Error>;
    fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> usize;
    fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<usize, Error>;
    fn poll_message(&mut self) -> Option<(u8, &[u8])>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
    /// Whether an empty input must be offered to resume a staged packet
    /// (a session does that itself).
    fn is_input_stalled(&self) -> bool;
    /// Drains events; anything but "writable" fails the test.
    fn check_events(&mut self);
    fn is_closed(&self) -> bool;
}

impl<B: ByteBuf> Machine for MConnection<B> {
    fn try_send(&mut self, ch: u8, msg: &[u8]) -> Result<(), Error> {
        MConnection::try_send(self, ch, msg)
    }
    fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> usize {
        MConnection::poll_transmit(self, now, out)
    }
    fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<usize, Error> {
        MConnection::handle_input(self, now, input)
    }
    fn poll_message(&mut self) -> Option<(u8, &[u8])> {
        MConnection::poll_message(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        MConnection::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        MConnection::handle_timeout(self, now)
    }
    fn is_input_stalled(&self) -> bool {
        MConnection::is_input_stalled(self)
    }
    fn check_events(&mut self) {
        while let Some(ev) = self.poll_event() {
            assert!(matches!(ev, mconn::conn::Event::Writable(_)), "{ev:?}");
        }
    }
    fn is_closed(&self) -> bool {
        MConnection::is_closed(self)
    }
}

impl<B: ByteBuf> Machine for Session<B> {
    fn try_send(&mut self, ch: u8, msg: &[u8]) -> Result<(), Error> {
        Session::try_send(self, ch, msg)
    }
    fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> usize {
        Session::poll_transmit(self, now, out)
    }
    fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<usize, Error> {
        Session::handle_input(self, now, input)
    }
    fn poll_message(&mut self) -> Option<(u8, &[u8])> {
        Session::poll_message(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Session::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Session::handle_timeout(self, now)
    }
    fn is_input_stalled(&self) -> bool {
        false
    }
    fn check_events(&mut self) {
        while let Some(ev) = self.poll_event() {
            assert!(matches!(ev, Event::Writable(_)), "{ev:?}");
        }
    }
    fn is_closed(&self) -> bool {
        Session::is_closed(self)
    }
}

/// Two machines and a driver that allocates nothing itself (the wire
/// buffer is the caller's).
struct Pair<M: Machine> {
    ends: [M; 2],
    cursors: [Cursor; 2],
    now: Instant,
}

impl<M: Machine> Pair<M> {
    fn new(a: M, b: M) -> Self {
        Pair {
            ends: [a, b],
            cursors: [Cursor::default(), Cursor::default()],
            now: Instant::ZERO,
        }
    }

    /// Offers one message per channel each way, moves all bytes, takes all
    /// messages, checking each against the pool. Returns messages delivered.
    fn round(&mut self, pool: &[Vec<u8>], wire: &mut [u8]) -> usize {
        self.now += Duration::from_millis(150);
        let mut delivered = 0;
        for side in 0..2 {
            let c = &mut self.cursors[side];
            for (k, &id) in IDS.iter().enumerate() {
                let msg = &pool[(c.sent[k] + k) % pool.len()];
                match self.ends[side].try_send(id, msg) {
                    Ok(()) => c.sent[k] += 1,
                    Err(Error::Full) => {}
                    Err(e) => panic!("try_send: {e}"),
                }
            }
        }
        // Bounded: each pass moves at least one byte or ends the round.
        for _ in 0..100_000 {
            let mut moved = false;
            for side in 0..2 {
                let [a, b] = &mut self.ends;
                let (tx, rx) = if side == 0 { (a, b) } else { (b, a) };
                if tx.poll_timeout().is_some_and(|t| t <= self.now) {
                    tx.handle_timeout(self.now);
                }
                let n = tx.poll_transmit(self.now, wire);
                let mut off = 0;
                // Bounded: taking the messages frees room for more input.
                for _ in 0..n + 2 {
                    if off == n {
                        break;
                    }
                    let used = rx.handle_input(self.now, &wire[off..n]).unwrap();
                    off += used;
                    delivered += take(rx, &mut self.cursors[1 - side], pool);
                    if used == 0 && rx.is_input_stalled() {
                        assert!(rx.handle_input(self.now, &[]).is_ok());
                    }
                }
                assert_eq!(off, n, "input stalled");
                delivered += take(rx, &mut self.cursors[1 - side], pool);
                moved |= n > 0;
                tx.check_events();
            }
            if !moved {
                break;
            }
        }
        assert!(!self.ends[0].is_closed() && !self.ends[1].is_closed());
        delivered
    }
}

/// Takes every complete message at `rx`, checking order and content.
fn take(rx: &mut impl Machine, c: &mut Cursor, pool: &[Vec<u8>]) -> usize {
    let mut n = 0;
    while let Some((id, msg)) = rx.poll_message() {
        let k = IDS.iter().position(|&i| i == id).unwrap();
        assert_eq!(msg, &pool[(c.got[k] + k) % pool.len()][..], "on {id:#04x}");
        c.got[k] += 1;
        n += 1;
    }
    n
}

fn run<M: Machine>(
    pair: &mut Pair<M>,
    pool: &[Vec<u8>],
    wire: &mut [u8],
    messages: usize,
) -> usize {
    let mut total = 0;
    for _ in 0..messages {
        total += pair.round(pool, wire);
        if total >= messages {
            break;
        }
    }
    assert!(total >= messages, "only {total} messages delivered");
    total
}

#[test]
fn with_alloc_allocates_nothing_per_message_in_steady_state() {
    let pool = pool();
    let config = Config::cometbft();
    let mut pair = Pair::new(
        MConnection::with_alloc(&config, &channels(), Instant::ZERO).unwrap(),
        MConnection::with_alloc(&config, &channels(), Instant::ZERO).unwrap(),
    );
    let mut wire = vec![0u8; 16 * 1024];
    let (_, warm) = count(|| run(&mut pair, &pool, &mut wire, 500));
    assert!(warm > 0, "the counter sees the buffers grow");
    let (delivered, steady) = count(|| run(&mut pair, &pool, &mut wire, 5000));
    assert!(delivered >= 5000);
    assert_eq!(
        steady, 0,
        "allocations while delivering {delivered} messages"
    );
    // The run went through keepalive rounds too.
    assert!(pair.now > Instant::from_millis(120_000));
    assert!(pair.ends[0].stats().pongs_received > 0 && pair.ends[1].stats().pongs_received > 0);
}

#[test]
fn in_arena_never_allocates() {
    let pool = pool();
    let config = Config::cometbft();
    let size = Config::arena_size(&channels());
    let mut storage_a = vec![0u8; size];
    let mut storage_b = vec![0u8; size];
    let (delivered, allocs) = count(|| {
        let mut pair = Pair::new(
            MConnection::in_arena(&config, &channels(), Instant::ZERO, &mut storage_a).unwrap(),
            MConnection::in_arena(&config, &channels(), Instant::ZERO, &mut storage_b).unwrap(),
        );
        let mut wire = [0u8; 16 * 1024];
        run(&mut pair, &pool, &mut wire, 3000)
    });
    assert!(delivered >= 3000);
    assert_eq!(
        allocs, 0,
        "allocations while delivering {delivered} messages"
    );
}

/// Two encrypted sessions (`kind` on one side, the default on the other),
/// handshake done.
fn session_pair(kind: AeadKind) -> Pair<Session<GrowBuf>> {
    let keys = [NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32])];
    let ids = keys.each_ref().map(|k| k.node_id().to_string());
    let kinds = [kind, AeadKind::default()];
    let mut ends = [0, 1].map(|i| {
        let mut config = SessionConfig::new(Config::cometbft());
        config.aead = kinds[i];
        let info = NodeInfo {
            protocol_version: ProtocolVersion::new(8, 11, 0),
            default_node_id: &ids[i],
            listen_addr: "tcp://127.0.0.1:26656",
            network: "alloc-test",
            channels: &IDS,
            moniker: "node",
            ..NodeInfo::default()
        };
        let security = Security::Secret {
            key: &keys[i],
            ephemeral: [i as u8 + 3; 32],
        };
        let dialed = (i == 0).then(|| keys[1].node_id());
        Session::with_alloc(&config, &channels(), &info, security, dialed, Instant::ZERO).unwrap()
    });
    let mut wire = vec![0u8; 16 * 1024];
    for _ in 0..10 {
        for side in 0..2 {
            let [a, b] = &mut ends;
            let (tx, rx) = if side == 0 { (a, b) } else { (b, a) };
            let n = tx.poll_transmit(Instant::ZERO, &mut wire);
            assert_eq!(rx.handle_input(Instant::ZERO, &wire[..n]), Ok(n));
        }
    }
    for (end, kind) in ends.iter_mut().zip(kinds) {
        assert_eq!(end.poll_event(), Some(Event::Connected));
        assert_eq!(end.aead_kind(), Some(kind));
    }
    let [a, b] = ends;
    Pair::new(a, b)
}

#[test]
fn session_allocates_nothing_per_message_in_steady_state() {
    let pool = pool();
    let mut wire = vec![0u8; 16 * 1024];
    for &kind in AeadKind::AVAILABLE {
        let mut pair = session_pair(kind);
        let (_, warm) = count(|| run(&mut pair, &pool, &mut wire, 500));
        assert!(warm > 0, "the counter sees the buffers grow");
        let (delivered, steady) = count(|| run(&mut pair, &pool, &mut wire, 3000));
        assert!(delivered >= 3000);
        assert_eq!(
            steady, 0,
            "{kind}: allocations while delivering {delivered} messages"
        );
        // Both directions carried traffic, and keepalive ran.
        for end in &pair.ends {
            let stats = end.stats();
            assert!(stats.bytes_sent > 1 << 20 && stats.bytes_received > 1 << 20);
            assert!(stats.pongs_received > 0, "{kind}: {stats:?}");
        }
    }
}
