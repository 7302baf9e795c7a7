//! Byte storage for channel queues: caller-provided ([`FixedBuf`], arrays) or,
//! with `alloc`, growable up to a hard limit ([`GrowBuf`]).
//!
//! Every buffer has a `limit` fixed at construction; nothing ever grows past
//! it. A [`GrowBuf`] only allocates while it grows to its high-water mark, so
//! steady-state traffic allocates nothing.
//!
//! ```
//! use mconn::conn::{Arena, ByteBuf};
//! let mut storage = [0u8; 100];
//! let mut arena = Arena::new(&mut storage);
//! let a = arena.take(60).unwrap();
//! let b = arena.take(40).unwrap();
//! assert!(arena.take(1).is_none());
//! assert_eq!((a.limit(), b.limit()), (60, 40));
//! ```

use super::config::MAX_PAYLOAD_LIMIT;

/// Bytes of a fixed (inline) packet staging buffer: one packet of the
/// largest payload any configuration allows, with room for its header.
pub const MAX_STAGE_LEN: usize = MAX_PAYLOAD_LIMIT + 32;

/// Memory that can hold up to [`limit`](ByteBuf::limit) bytes.
pub trait ByteBuf {
    /// The two one-packet staging buffers (a packet split across reads, or
    /// one that did not fit the caller's output) of an
    /// [`MConnection`](super::MConnection) whose channels use this storage:
    /// inline `[u8; MAX_STAGE_LEN]` for caller memory (no allocator, a fixed
    /// size), a [`GrowBuf`] of the configured packet size, taken on first
    /// use, with `alloc`.
    type Stage: ByteBuf + core::fmt::Debug;
    /// A staging buffer for packets of up to `len` bytes on the wire.
    fn stage(len: usize) -> Self::Stage;
    /// The most bytes this buffer may ever hold.
    fn limit(&self) -> usize;
    /// Makes at least `len` bytes addressable, keeping the current content.
    /// Returns `false` if `len` exceeds the limit (or memory is exhausted).
    fn grow_to(&mut self, len: usize) -> bool;
    /// The addressable bytes.
    fn bytes(&self) -> &[u8];
    /// The addressable bytes, mutable.
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Returns memory above `keep` bytes to the allocator, if it can.
    fn shrink_to(&mut self, keep: usize) {
        let _ = keep;
    }
}

/// A caller-provided slice used as a buffer.
#[derive(Debug)]
pub struct FixedBuf<'a>(&'a mut [u8]);

impl<'a> FixedBuf<'a> {
    /// Uses all of `slice`.
    pub fn new(slice: &'a mut [u8]) -> Self {
        FixedBuf(slice)
    }
}

impl ByteBuf for FixedBuf<'_> {
    type Stage = [u8; MAX_STAGE_LEN];
    fn stage(_len: usize) -> Self::Stage {
        [0; MAX_STAGE_LEN]
    }
    fn limit(&self) -> usize {
        self.0.len()
    }
    fn grow_to(&mut self, len: usize) -> bool {
        len <= self.0.len()
    }
    fn bytes(&self) -> &[u8] {
        self.0
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self.0
    }
}

impl<const N: usize> ByteBuf for [u8; N] {
    type Stage = [u8; MAX_STAGE_LEN];
    fn stage(_len: usize) -> Self::Stage {
        [0; MAX_STAGE_LEN]
    }
    fn limit(&self) -> usize {
        N
    }
    fn grow_to(&mut self, len: usize) -> bool {
        len <= N
    }
    fn bytes(&self) -> &[u8] {
        self
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
}

/// Hands out consecutive [`FixedBuf`]s from one caller-provided slice.
#[derive(Debug)]
pub struct Arena<'a> {
    rest: &'a mut [u8],
}

impl<'a> Arena<'a> {
    /// An arena over all of `storage`.
    pub fn new(storage: &'a mut [u8]) -> Self {
        Arena { rest: storage }
    }

    /// The next `len` bytes, or `None` if fewer remain.
    pub fn take(&mut self, len: usize) -> Option<FixedBuf<'a>> {
        if len > self.rest.len() {
            return None;
        }
        let (head, tail) = core::mem::take(&mut self.rest).split_at_mut(len);
        self.rest = tail;
        Some(FixedBuf(head))
    }

    /// Bytes not handed out yet.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }
}

/// A heap buffer that grows (doubling) on demand up to a fixed limit.
#[cfg(feature = "alloc")]
#[derive(Debug, Default)]
pub struct GrowBuf {
    vec: alloc::vec::Vec<u8>,
    limit: usize,
}

#[cfg(feature = "alloc")]
impl GrowBuf {
    /// An empty buffer that will never hold more than `limit` bytes.
    pub fn new(limit: usize) -> Self {
        GrowBuf {
            vec: alloc::vec::Vec::new(),
            limit,
        }
    }

    /// Bytes currently allocated.
    pub fn allocated(&self) -> usize {
        self.vec.capacity()
    }
}

#[cfg(feature = "alloc")]
impl ByteBuf for GrowBuf {
    type Stage = GrowBuf;
    fn stage(len: usize) -> Self::Stage {
        GrowBuf::new(len)
    }
    fn limit(&self) -> usize {
        self.limit
    }
    fn grow_to(&mut self, len: usize) -> bool {
        if len > self.limit {
            return false;
        }
        if len > self.vec.len() {
            let target = len
                .max(self.vec.len().saturating_mul(2))
                .max(256)
                .min(self.limit);
            if self.vec.try_reserve_exact(target - self.vec.len()).is_err() {
                return false;
            }
            self.vec.resize(target, 0);
        }
        true
    }
    fn bytes(&self) -> &[u8] {
        &self.vec
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.vec
    }
    fn shrink_to(&mut self, keep: usize) {
        if self.vec.len() > keep {
            self.vec.truncate(keep);
            self.vec.shrink_to_fit();
        }
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;

    #[test]
    fn grow_buf_respects_its_limit() {
        let mut b = GrowBuf::new(1000);
        assert!(b.grow_to(10));
        assert!(b.bytes().len() >= 10);
        assert!(b.grow_to(1000));
        assert_eq!(b.bytes().len(), 1000);
        assert!(!b.grow_to(1001));
        b.shrink_to(0);
        assert_eq!(b.allocated(), 0);
    }

    #[test]
    fn arrays_and_fixed_buffers_do_not_grow() {
        let mut a = [0u8; 8];
        assert!(a.grow_to(8) && !a.grow_to(9));
        let mut s = [0u8; 4];
        let mut f = FixedBuf::new(&mut s);
        assert!(f.grow_to(4) && !f.grow_to(5));
    }
}
