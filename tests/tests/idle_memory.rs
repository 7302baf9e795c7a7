//! Memory per idle authenticated connection, by component: a counting
//! global allocator (this test binary only) tracks the bytes live on the
//! heap while connections come up through the real path and then idle.
//!
//! * `session`: core [`Session`]s (SecretConnection → NodeInfo →
//!   MConnection, growable buffers, CometBFT's ten channels), each boxed as
//!   an adapter keeps it, handshaken in memory through 1 KiB batches and
//!   then idle through one keepalive ping and pong each way.
//! * `tokio`: `mconn-tokio` connections over loopback TCP with its defaults
//!   (what the `peers` benchmark runs), both ends in this process.
//!
//! Each reports its components (run with `--nocapture` to see them) and
//! asserts a byte bound on what one idle connection keeps, and on what its
//! handshake needs at its peak. Before the staging buffers were sized from
//! the configured payload and the handshake-only buffers freed, a session
//! kept 19,658 B (29,782 B at its handshake's peak) and a tokio connection
//! 26,336 B; now about 9.6 KB (9.6 KB) and 16.3 KB. The figures are heap bytes asked of the
//! allocator (no allocator overhead or fragmentation: see
//! `docs/memory.md` for RSS).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use mconn::conn::{Config, GrowBuf, MConnection, COMETBFT_CHANNELS};
use mconn::identity::NodeKey;
use mconn::secret::SecretConnection;
use mconn::session::{Event, Security, Session, SessionConfig};
use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
use mconn::Instant;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(by: usize) {
    LIVE.fetch_sub(by, Ordering::Relaxed);
}

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            grew(new_size);
            shrank(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One test at a time: the counters are process-wide.
static SERIAL: Mutex<()> = Mutex::new(());

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Bytes live now beyond `from` (0 if fewer).
fn since(from: usize) -> usize {
    live().saturating_sub(from)
}

/// Restarts the peak from the bytes live now.
fn reset_peak() {
    PEAK.store(live(), Ordering::Relaxed);
}

fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Live heap bytes per connection that one idle session (boxed) may keep:
/// its state, both NodeInfos, no staging or channel memory.
const SESSION_IDLE_BOUND: usize = 11 * 1024;
/// Heap bytes per connection that sessions may need at the height of
/// their handshakes (everything above is freed once authenticated).
const SESSION_PEAK_BOUND: usize = 12 * 1024;
/// Live heap bytes per idle `mconn-tokio` connection: the session, the
/// driver's state, its two quiet batch buffers, the task, the socket.
const TOKIO_IDLE_BOUND: usize = 18 * 1024;

type S = Session<GrowBuf>;

fn info(id: &str) -> NodeInfo<'_> {
    NodeInfo {
        protocol_version: ProtocolVersion::new(8, 11, 0),
        default_node_id: id,
        listen_addr: "tcp://127.0.0.1:26656",
        network: "idle-memory",
        version: "0.38.0",
        channels: &[0x40, 0x20, 0x21, 0x22, 0x23, 0x38, 0x30, 0x60, 0x61, 0x00],
        moniker: "idle-node",
        ..NodeInfo::default()
    }
}

/// A fresh pair of sessions (dialer, listener) with distinct keys.
fn pair(seed: u8) -> [Box<S>; 2] {
    let keys = [
        NodeKey::from_seed([seed; 32]),
        NodeKey::from_seed([seed.wrapping_add(128); 32]),
    ];
    let ids = keys.each_ref().map(|k| k.node_id().to_string());
    let config = SessionConfig::new(Config::cometbft());
    [0, 1].map(|i| {
        let security = Security::Secret {
            key: &keys[i],
            ephemeral: [seed ^ (i as u8 + 1); 32],
        };
        let dialed = (i == 0).then(|| keys[1].node_id());
        Box::new(
            S::with_alloc(
                &config,
                &COMETBFT_CHANNELS,
                &info(&ids[i]),
                security,
                dialed,
                Instant::ZERO,
            )
            .expect("session"),
        )
    })
}

/// Moves bytes both ways through a `wire` buffer until neither side has
/// anything to send (bounded).
fn pump(ends: &mut [Box<S>; 2], now: Instant, wire: &mut [u8]) {
    for _ in 0..64 {
        let mut moved = 0;
        for side in 0..2 {
            let [a, b] = ends;
            let (tx, rx) = if side == 0 { (a, b) } else { (b, a) };
            let n = tx.poll_transmit(now, wire);
            assert_eq!(rx.handle_input(now, &wire[..n]), Ok(n));
            moved += n;
        }
        if moved == 0 {
            return;
        }
    }
    panic!("sessions kept talking");
}

#[test]
fn idle_session_keeps_little_heap() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const N: usize = 40;
    let mut wire = vec![0u8; 2048];
    reset_peak();
    let mut pairs: Vec<[Box<S>; 2]> = Vec::with_capacity(N);
    let list = live();
    for k in 0..N {
        pairs.push(pair(k as u8 + 1));
    }
    let built = since(list);
    for ends in pairs.iter_mut() {
        pump(ends, Instant::ZERO, &mut wire);
        for end in ends.iter_mut() {
            assert_eq!(end.poll_event(), Some(Event::Connected));
        }
    }
    let handshake_peak = peak().saturating_sub(list);
    let connected = since(list);
    // Idle: keepalive pings go out after 60 s and are answered.
    let later = Instant::ZERO + Duration::from_secs(61);
    for ends in pairs.iter_mut() {
        for end in ends.iter_mut() {
            end.handle_timeout(later);
        }
        pump(ends, later, &mut wire);
        for end in ends.iter() {
            assert!(end.is_connected() && end.stats().pongs_received == 1);
        }
    }
    let idle = since(list);
    let per = |bytes: usize| bytes / (2 * N);
    let inline = std::mem::size_of::<S>();
    let conn = std::mem::size_of::<MConnection<GrowBuf>>();
    let secret = std::mem::size_of::<SecretConnection>();
    eprintln!("idle session memory per connection ({N} pairs, CometBFT's ten channels):");
    eprintln!("  Session inline (boxed)        {inline:>7} B");
    eprintln!("    of which MConnection        {conn:>7} B");
    eprintln!("    of which SecretConnection   {secret:>7} B");
    eprintln!("  built (+ NodeInfo buffers)    {:>7} B", per(built));
    eprintln!(
        "  handshake peak                {:>7} B",
        per(handshake_peak)
    );
    eprintln!("  connected                     {:>7} B", per(connected));
    eprintln!("  idle after ping/pong          {:>7} B", per(idle));
    eprintln!(
        "  of which heap beyond inline   {:>7} B",
        per(idle) - inline
    );
    assert!(
        per(idle) <= SESSION_IDLE_BOUND,
        "an idle session keeps {} B (bound {SESSION_IDLE_BOUND})",
        per(idle)
    );
    assert!(
        per(handshake_peak) <= SESSION_PEAK_BOUND,
        "a handshake needs {} B at its peak (bound {SESSION_PEAK_BOUND})",
        per(handshake_peak)
    );
    drop(pairs);
}

#[test]
fn idle_tokio_connection_keeps_little_heap() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const N: usize = 40;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        use mconn_tokio::{connect, Listener, NodeConfig};
        let config = |seed: u8| {
            NodeConfig::new(
                NodeKey::from_seed([seed; 32]),
                "idle-memory",
                &COMETBFT_CHANNELS,
            )
        };
        let listener = Listener::bind("127.0.0.1:0", config(200))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = config(201);
        let mut peers = Vec::with_capacity(2 * N);
        // Warm the runtime (timer wheel, I/O driver) with one connection
        // that stays out of the count.
        let (warm, warm_in) = tokio::join!(connect(&client, addr, None), listener.accept());
        let (warm, warm_in) = (warm.expect("connect"), warm_in.expect("accept").0);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let before = live();
        for _ in 0..N {
            let dial = tokio::spawn({
                let client = client.clone();
                async move { connect(&client, addr, None).await }
            });
            let (inbound, _) = listener.accept().await.expect("accept");
            peers.push(dial.await.expect("join").expect("connect"));
            peers.push(inbound);
        }
        // Let the driver loops reach their idle state (quiet batches). Each
        // connection's tasks get there on their own turns after the
        // handshake, which on a loaded machine can take longer than any
        // fixed pause: after a short one, poll (bounded) for the bound
        // asserted below.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let settle = tokio::time::Instant::now() + Duration::from_secs(10);
        while since(before) / (2 * N) > TOKIO_IDLE_BOUND && tokio::time::Instant::now() < settle {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let per = since(before) / (2 * N);
        let conn = std::mem::size_of::<mconn_driver::Conn<mconn_tokio::Tokio, GrowBuf>>();
        let io = 2 * mconn_driver::HANDSHAKE_IO_BUFFER;
        eprintln!("idle mconn-tokio memory per connection ({N} pairs, both ends here):");
        eprintln!("  Conn (session + driver state) {conn:>7} B");
        eprintln!("  two quiet batch buffers       {io:>7} B");
        eprintln!(
            "  rest (NodeInfo, task, socket) {:>7} B",
            per.saturating_sub(conn + io)
        );
        eprintln!("  total                         {per:>7} B");
        for p in &peers {
            assert!(p.disconnect_reason().is_none());
        }
        assert!(
            per <= TOKIO_IDLE_BOUND,
            "an idle mconn-tokio connection keeps {per} B (bound {TOKIO_IDLE_BOUND})"
        );
        drop((peers, warm, warm_in));
    });
    // Joins the workers: nothing of this runtime runs during the next test.
    rt.shutdown_timeout(Duration::from_secs(10));
}
