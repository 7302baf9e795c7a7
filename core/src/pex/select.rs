//! Choosing addresses: one to dial ([`AddrBook::pick_address`]) and a batch
//! to gossip ([`AddrBook::selection`], spec §7.4).

use alloc::vec::Vec;
use rand_core::RngCore;

use super::random::{below, below_u64, choose, isqrt};
use super::{AddrBook, BucketKind};
use crate::identity::{NetAddr, NodeId};

impl AddrBook {
    /// One address to dial (Go's `PickAddress`). `bias_new` (clamped to
    /// 0..=100) is the preference for new entries: the side is chosen with
    /// weights √old·(100 − bias) and √new·bias, then a random non-empty
    /// bucket of that side and a random entry in it. `None` if the book is
    /// empty or the chosen side is.
    pub fn pick_address(&self, bias_new: u8, rng: &mut impl RngCore) -> Option<NetAddr> {
        if self.is_empty() {
            return None;
        }
        let bias = u64::from(bias_new.min(100));
        // √n in 16.16 fixed point: √(n · 2³²) = √n · 2¹⁶.
        let sqrt = |n: usize| isqrt(u64::try_from(n).unwrap_or(u64::MAX).saturating_mul(1 << 32));
        let old_weight = sqrt(self.n_old) * (100 - bias);
        let new_weight = sqrt(self.n_new) * bias;
        let total = old_weight + new_weight;
        let from_old = total > 0 && below_u64(rng, total) < old_weight;
        let (buckets, count) = if from_old {
            (&self.old_buckets, self.n_old)
        } else {
            (&self.new_buckets, self.n_new)
        };
        if count == 0 {
            return None;
        }
        let non_empty = buckets.iter().filter(|b| !b.is_empty()).count();
        let bucket = buckets
            .iter()
            .filter(|b| !b.is_empty())
            .nth(below(rng, non_empty))?;
        let id = bucket.get(below(rng, bucket.len()))?;
        self.entries.get(id).map(|e| e.addr)
    }

    /// How many addresses a selection holds for the current size:
    /// `max(min(32, size), size × 23 / 100)`, at most 250 (spec §7.4).
    pub fn selection_size(&self) -> usize {
        let size = self.size();
        let percent = size.saturating_mul(self.cfg.selection_percent) / 100;
        size.min(self.cfg.min_selection)
            .max(percent)
            .min(self.cfg.max_selection)
            .min(size)
    }

    /// A uniformly random subset of all live entries, of
    /// [`selection_size`](Self::selection_size) (Go's `GetSelection`, what
    /// answers a `PexRequest`).
    pub fn selection(&self, rng: &mut impl RngCore) -> Vec<NetAddr> {
        let mut all: Vec<NetAddr> = self.entries.values().map(|e| e.addr).collect();
        choose(&mut all, self.selection_size(), rng);
        all
    }

    /// A selection of the same size that starts with
    /// `max(round(bias % × n), n − old)` random new entries (as many as
    /// exist) and fills up with random old ones (Go's
    /// `GetSelectionWithBias`, used by seeds with bias 30). `bias` is
    /// clamped to 0..=100.
    pub fn selection_with_bias(&self, bias_new: u8, rng: &mut impl RngCore) -> Vec<NetAddr> {
        let n = self.selection_size();
        let bias = usize::from(bias_new.min(100));
        let want_new = ((bias * n + 50) / 100).max(n.saturating_sub(self.n_old));
        let mut picked = self.random_of_kind(BucketKind::New, want_new, rng);
        let rest = n.saturating_sub(picked.len());
        picked.extend(self.random_of_kind(BucketKind::Old, rest, rng));
        picked
    }

    /// Up to `k` random distinct live entries of one kind.
    fn random_of_kind(&self, kind: BucketKind, k: usize, rng: &mut impl RngCore) -> Vec<NetAddr> {
        let mut of_kind: Vec<NetAddr> = self
            .entries
            .values()
            .filter(|e| e.kind == kind)
            .map(|e| e.addr)
            .collect();
        choose(&mut of_kind, k, rng);
        of_kind
    }

    /// The IDs in one bucket (for tests and diagnostics); empty for an
    /// index out of range.
    pub fn bucket(&self, kind: BucketKind, index: u16) -> &[NodeId] {
        let buckets = match kind {
            BucketKind::New => &self.new_buckets,
            BucketKind::Old => &self.old_buckets,
        };
        buckets
            .get(usize::from(index))
            .map_or(&[], |b| b.as_slice())
    }
}
