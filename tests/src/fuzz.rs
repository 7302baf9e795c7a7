//! Fuzz entry points: one function per target in `fuzz/fuzz_targets/`.
//!
//! Each function takes arbitrary bytes, drives one decoder or state machine
//! of `mconn` with them and panics when an invariant breaks. `cargo fuzz`
//! calls them from libFuzzer; `tests/fuzz_corpus.rs` replays every committed
//! corpus file through the same functions on stable, so a finding stays a
//! regression test once its input is committed.
//!
//! Inputs are interpreted by plain byte slicing ([`Input`]): leading bytes
//! pick a configuration, the rest is a byte stream or an operation script.
//! Running out of bytes always ends the run cleanly.

mod addrbook;
mod config;
mod mconn_ops;
mod node_info;
mod packet_stream;
mod pex;
mod pex_reactor;
mod secret;
pub mod seeds;
mod session;
mod switch;

pub use addrbook::{addrbook, addrbook_json};
pub use config::config_toml;
pub use mconn_ops::mconn_ops;
pub use node_info::node_info;
pub use packet_stream::packet_stream;
pub use pex::pex;
pub use pex_reactor::pex_reactor;
pub use secret::{auth_sig, secret_frames, secret_handshake};
pub use session::session;
pub use switch::switch_policy;

/// A fuzz entry point.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name (the directory names under `fuzz/corpus/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("packet_stream", packet_stream),
    ("mconn_ops", mconn_ops),
    ("node_info", node_info),
    ("pex", pex),
    ("secret_handshake", secret_handshake),
    ("secret_frames", secret_frames),
    ("auth_sig", auth_sig),
    ("session", session),
    ("switch_policy", switch_policy),
    ("addrbook", addrbook),
    ("addrbook_json", addrbook_json),
    ("pex_reactor", pex_reactor),
    ("config_toml", config_toml),
];

/// Reads fuzz input front to back; past the end every read yields zeros.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Reads from `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte (0 at the end).
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes, little endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// Up to `n` next bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.data)
    }
}

/// A small deterministic generator (xorshift64*) for choices that need not
/// be steered byte by byte, such as how a stream is split into reads.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value).
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
}

/// The state machines that draw randomness (the switch's jitter, the
/// address book, PEX) take it from here, so a run depends on its input only.
impl rand_core::RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        (Rng::next_u64(self) >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        Rng::next_u64(self)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = Rng::next_u64(self).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// Splits `data` into consecutive chunks of 1..=`max` bytes (the last may
/// be shorter), as reads from a socket would.
pub fn chunks<'a>(data: &'a [u8], max: usize, rng: &mut Rng) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = data;
    let mut rng = rng.clone();
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = rng.range(1, max.max(1)).min(rest.len());
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    })
}
