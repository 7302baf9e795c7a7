//! No allocation per message: a counting global allocator (this test binary
//! only) watches two connected machines exchange many messages of mixed
//! sizes, both ways, on three channels, with keepalive pings going on.
//!
//! * `with_alloc` (growable buffers): allocations happen while buffers grow
//!   during warm-up, then none at all in steady state.
//! * `in_arena` (caller storage): no allocation at any time, construction
//!   included.
//!
//! Counting is per thread, so tests running in parallel do not disturb
//! each other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use mconn::conn::{ByteBuf, ChannelConfig, Config, MConnection};
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

/// Two machines and a driver that allocates nothing itself (the wire
/// buffer is the caller's).
struct Pair<B: ByteBuf> {
    ends: [MConnection<B>; 2],
    cursors: [Cursor; 2],
    now: Instant,
}

impl<B: ByteBuf> Pair<B> {
    fn new(a: MConnection<B>, b: MConnection<B>) -> Self {
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
                    Err(mconn::conn::Error::Full) => {}
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
                while off < n {
                    let used = rx.handle_input(self.now, &wire[off..n]).unwrap();
                    off += used;
                    delivered += take(rx, &mut self.cursors[1 - side], pool);
                    if used == 0 && rx.is_input_stalled() {
                        assert!(rx.handle_input(self.now, &[]).is_ok());
                    }
                }
                delivered += take(rx, &mut self.cursors[1 - side], pool);
                moved |= n > 0;
                while let Some(ev) = tx.poll_event() {
                    assert!(matches!(ev, mconn::conn::Event::Writable(_)), "{ev:?}");
                }
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
fn take<B: ByteBuf>(rx: &mut MConnection<B>, c: &mut Cursor, pool: &[Vec<u8>]) -> usize {
    let mut n = 0;
    while let Some((id, msg)) = rx.poll_message() {
        let k = IDS.iter().position(|&i| i == id).unwrap();
        assert_eq!(msg, &pool[(c.got[k] + k) % pool.len()][..], "on {id:#04x}");
        c.got[k] += 1;
        n += 1;
    }
    n
}

fn run<B: ByteBuf>(
    pair: &mut Pair<B>,
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
