//! Allocations per message in steady state: a counting global allocator
//! around two in-memory sessions (SecretConnection → NodeInfo →
//! MConnection) exchanging messages after a warm-up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use mconn::conn::{Config, GrowBuf};
use mconn::identity::NodeKey;
use mconn::secret::AeadKind;
use mconn::session::{Event, Security, Session, SessionConfig};
use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
use mconn::Instant;

use crate::chans::{channels, BULK, URGENT};

/// Counts allocations (and reallocations) made by the whole process.
pub struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new as u64, Ordering::Relaxed);
        System.realloc(ptr, layout, new)
    }
}

fn counts() -> (u64, u64) {
    (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    )
}

/// Allocations and bytes allocated per delivered message.
#[derive(Clone, Copy, Debug)]
pub struct PerMsg {
    /// Allocation calls per message.
    pub allocs: f64,
    /// Bytes requested per message.
    pub bytes: f64,
}

type S = Session<GrowBuf>;

/// Two connected sessions; `aead`: SecretConnection with that AEAD, `None`
/// plaintext.
fn pair(aead: Option<AeadKind>) -> (S, S) {
    let (ka, kb) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
    let (ida, idb) = (ka.node_id().to_string(), kb.node_id().to_string());
    let info = |id| NodeInfo {
        protocol_version: ProtocolVersion::new(8, 11, 0),
        default_node_id: id,
        listen_addr: "tcp://127.0.0.1:26656",
        network: "mconn-bench",
        channels: &[URGENT, BULK],
        moniker: "node",
        ..NodeInfo::default()
    };
    let mut cfg = SessionConfig::new(Config::cometbft());
    cfg.aead = aead.unwrap_or_default();
    let sec = |k, e| {
        if aead.is_some() {
            Security::Secret {
                key: k,
                ephemeral: [e; 32],
            }
        } else {
            Security::Plaintext
        }
    };
    let make = |len| Some(GrowBuf::new(len));
    let chans = channels();
    let mut a = S::new(
        &cfg,
        &chans,
        &info(&ida),
        sec(&ka, 3),
        None,
        Instant::ZERO,
        make,
    )
    .expect("session");
    let mut b = S::new(
        &cfg,
        &chans,
        &info(&idb),
        sec(&kb, 4),
        None,
        Instant::ZERO,
        make,
    )
    .expect("session");
    let mut wire = vec![0u8; 1 << 16];
    for _ in 0..10 {
        let n = a.poll_transmit(Instant::ZERO, &mut wire);
        b.handle_input(Instant::ZERO, &wire[..n]).expect("input");
        let n = b.poll_transmit(Instant::ZERO, &mut wire);
        a.handle_input(Instant::ZERO, &wire[..n]).expect("input");
    }
    assert_eq!(a.poll_event(), Some(Event::Connected));
    assert_eq!(b.poll_event(), Some(Event::Connected));
    (a, b)
}

/// Sends `count` messages of `size` bytes from a to b; returns delivered.
fn exchange(a: &mut S, b: &mut S, msg: &[u8], count: usize, wire: &mut [u8]) -> usize {
    let now = Instant::ZERO;
    let (mut queued, mut got) = (0, 0);
    while got < count {
        while queued < count && a.try_send(BULK, msg).is_ok() {
            queued += 1;
        }
        let n = a.poll_transmit(now, wire);
        let mut off = 0;
        loop {
            off += b.handle_input(now, &wire[off..n]).expect("input");
            while b.poll_message().is_some() {
                got += 1;
            }
            if off == n {
                break;
            }
        }
        while a.poll_event().is_some() {}
        let n = b.poll_transmit(now, wire);
        a.handle_input(now, &wire[..n]).expect("input");
    }
    got
}

/// Steady-state allocations per message of `size` bytes (encrypted: with
/// the RustCrypto AEAD, the one every target has).
pub fn per_message(size: usize, encrypted: bool) -> PerMsg {
    let (mut a, mut b) = pair(encrypted.then_some(AeadKind::RustCrypto));
    let msg = vec![0x5au8; size];
    let mut wire = vec![0u8; 1 << 16];
    let count = ((64 << 20) / size).clamp(32, 20_000);
    exchange(&mut a, &mut b, &msg, count / 4, &mut wire); // warm-up: buffers grow
    let (a0, b0) = counts();
    let got = exchange(&mut a, &mut b, &msg, count, &mut wire);
    let (a1, b1) = counts();
    PerMsg {
        allocs: (a1 - a0) as f64 / got as f64,
        bytes: (b1 - b0) as f64 / got as f64,
    }
}

/// Bytes/s of two in-memory sessions on one core: everything mconn does per
/// byte (framing, seal, open, reassembly) without the kernel. `aead`: as
/// for [`pair`].
pub fn inmem_rate(size: usize, aead: Option<AeadKind>, dur: std::time::Duration) -> f64 {
    let (mut a, mut b) = pair(aead);
    let msg = vec![0x5au8; size];
    let mut wire = vec![0u8; 1 << 16];
    let batch = ((4 << 20) / size).max(4);
    exchange(&mut a, &mut b, &msg, batch, &mut wire);
    let start = std::time::Instant::now();
    let mut got = 0;
    while start.elapsed() < dur {
        got += exchange(&mut a, &mut b, &msg, batch, &mut wire);
    }
    (got * size) as f64 / start.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counting allocator sees allocations (so a 0 in the report is real).
    #[test]
    fn counter_counts() {
        let (a0, b0) = counts();
        let v = std::hint::black_box(vec![1u8; 4096]);
        let (a1, b1) = counts();
        assert!(a1 > a0 && b1 >= b0 + 4096);
        drop(v);
    }

    #[test]
    fn steady_state_is_measured() {
        let p = per_message(1024, true);
        assert!(p.allocs.is_finite() && p.bytes.is_finite());
    }
}
