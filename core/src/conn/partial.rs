//! The bounds on partial (started, not finished) received messages: the
//! byte budget outside the largest one and the no-progress timeout (see
//! [`Config::partial_budget`](super::Config::partial_budget) and
//! `docs/memory.md`).

use super::{ByteBuf, Inner};
use crate::time::Instant;

impl<B: ByteBuf> Inner<B> {
    /// Bytes of all partial messages together and of the largest one, if
    /// channel `i`'s partial message had `len` bytes.
    pub(super) fn partial_sum(&self, i: usize, len: usize) -> (usize, usize) {
        let (mut sum, mut largest) = (0usize, 0usize);
        for (j, c) in self.channels.iter().enumerate() {
            let open = if j == i { len } else { c.recv.open_len() };
            sum = sum.saturating_add(open);
            largest = largest.max(open);
        }
        (sum, largest)
    }

    /// When the stalest partial message runs out of time.
    pub(super) fn partial_deadline(&self) -> Option<Instant> {
        let timeout = self.partial_timeout?;
        self.channels
            .iter()
            .filter_map(|c| c.partial_at)
            .min()
            .map(|at| at + timeout)
    }

    /// The channel of a partial message whose time ran out, unless our own
    /// input is stalled (then every expired clock restarts instead).
    pub(super) fn stale_partial(&mut self, now: Instant) -> Option<u8> {
        let timeout = self.partial_timeout?;
        let stalled = self.stalled;
        for c in self.channels.iter_mut() {
            if c.partial_at.is_some_and(|at| now >= at + timeout) {
                if !stalled {
                    return Some(c.cfg.id);
                }
                c.partial_at = Some(now);
            }
        }
        None
    }

    /// We read again after a stall: every partial message gets its full time.
    pub(super) fn restart_partial_clocks(&mut self, now: Instant) {
        for c in self.channels.iter_mut() {
            if c.partial_at.is_some() {
                c.partial_at = Some(now);
            }
        }
    }
}
