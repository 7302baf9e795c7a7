//! A budget for partial (started, not finished) received messages shared by
//! a node's connections, on top of each connection's own
//! [`Config::partial_budget`](mconn::conn::Config::partial_budget).
//!
//! Every connection in the pool may always hold a fair share (limit ÷
//! connections) and more while the pool has room. Before each batch of
//! input the driver gives the connection a ceiling
//! ([`MConnection::set_partial_ceiling`](mconn::conn::MConnection::set_partial_ceiling))
//! of the larger of the two; after it, the connection's partial bytes are
//! charged to the pool. A peer above its share that grows while the node is
//! full is cut with
//! [`CloseReason::NodePartialBudget`](mconn::conn::CloseReason::NodePartialBudget).
//! With several connections reading at once the pool may be exceeded by
//! at most one read batch per connection reading at that moment.

use core::sync::atomic::{AtomicUsize, Ordering};

/// The shared budget (see the [module docs](self)). No allocation, no lock:
/// a `static` works on a microcontroller, an `Arc` on a server.
///
/// ```
/// use mconn_driver::PartialPool;
/// static POOL: PartialPool = PartialPool::new(8 << 20);
/// assert_eq!((POOL.limit(), POOL.used(), POOL.members()), (8 << 20, 0, 0));
/// ```
#[derive(Debug)]
pub struct PartialPool {
    limit: usize,
    used: AtomicUsize,
    members: AtomicUsize,
}

impl PartialPool {
    /// A pool of `limit` bytes.
    pub const fn new(limit: usize) -> Self {
        PartialPool {
            limit,
            used: AtomicUsize::new(0),
            members: AtomicUsize::new(0),
        }
    }

    /// The budget.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Partial-message bytes charged now, over all connections.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Connections sharing the pool now.
    pub fn members(&self) -> usize {
        self.members.load(Ordering::Relaxed)
    }

    /// What one connection's share is now: `limit / members`.
    pub fn fair_share(&self) -> usize {
        self.limit / self.members().max(1)
    }

    /// The ceiling for a member that holds `charge` bytes: its fair share,
    /// or its charge plus what the pool has free, whichever is larger.
    pub(crate) fn ceiling(&self, charge: usize) -> usize {
        let free = self.limit.saturating_sub(self.used());
        self.fair_share().max(charge.saturating_add(free))
    }

    /// A member's charge moves from `old` to `new` bytes.
    pub(crate) fn recharge(&self, old: usize, new: usize) {
        if new > old {
            self.used.fetch_add(new - old, Ordering::Relaxed);
        } else if old > new {
            self.used.fetch_sub(old - new, Ordering::Relaxed);
        }
    }

    pub(crate) fn join(&self) {
        self.members.fetch_add(1, Ordering::Relaxed);
    }

    /// A member leaves, returning its charge.
    pub(crate) fn leave(&self, charge: usize) {
        self.recharge(charge, 0);
        self.members.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How a connection holds its pool: a `'static` one (no alloc) or an `Arc`.
#[derive(Clone, Debug)]
pub enum PoolRef {
    /// A pool in a `static`.
    Static(&'static PartialPool),
    /// A pool shared through an `Arc`.
    #[cfg(feature = "alloc")]
    Shared(alloc::sync::Arc<PartialPool>),
}

impl core::ops::Deref for PoolRef {
    type Target = PartialPool;
    fn deref(&self) -> &PartialPool {
        match self {
            PoolRef::Static(p) => p,
            #[cfg(feature = "alloc")]
            PoolRef::Shared(p) => p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_headroom() {
        let pool = PartialPool::new(1000);
        for _ in 0..4 {
            pool.join();
        }
        assert_eq!(pool.fair_share(), 250);
        // An empty pool lets one member take it all.
        assert_eq!(pool.ceiling(0), 1000);
        pool.recharge(0, 900);
        // The member holding 900 may keep it and take the 100 left ...
        assert_eq!(pool.ceiling(900), 1000);
        // ... the others still get their fair share.
        assert_eq!(pool.ceiling(0), 250);
        pool.recharge(900, 100);
        assert_eq!(pool.used(), 100);
        pool.leave(100);
        assert_eq!(
            (pool.used(), pool.members(), pool.fair_share()),
            (0, 3, 333)
        );
    }
}
