//! Dial bookkeeping: per-address failure history with CometBFT's backoff
//! (`dialPeer`), and the dials whose outcome we are waiting for.

use alloc::collections::BTreeMap;
use core::net::SocketAddr;
use core::time::Duration;

use rand_core::RngCore;

use super::super::random::below;
use crate::identity::{NetAddr, NodeId};
use crate::time::Instant;

/// Failed dials to one address since its last success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct DialRecord {
    pub(super) attempts: u32,
    pub(super) last: Instant,
}

/// May an address be dialled now?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DialCheck {
    /// Yes.
    Go,
    /// Its backoff has not passed.
    TooEarly,
    /// It failed too often: ban it.
    GiveUp,
}

/// Failure histories keyed by `ip:port` (Go's `attemptsToDial`), bounded.
#[derive(Clone, Debug, Default)]
pub(super) struct DialHistory {
    records: BTreeMap<SocketAddr, DialRecord>,
}

/// `2^attempts` seconds (saturating) plus `U[0, 1 s)`.
fn backoff(attempts: u32, rng: &mut impl RngCore) -> Duration {
    let base = 1u64.checked_shl(attempts).unwrap_or(u64::MAX);
    let jitter = below(rng, 1_000_000) as u64;
    Duration::from_secs(base).saturating_add(Duration::from_micros(jitter))
}

impl DialHistory {
    pub(super) fn get(&self, addr: &NetAddr) -> Option<DialRecord> {
        self.records.get(&addr.socket_addr()).copied()
    }

    /// Go's `dialPeer` checks: more than `max_attempts` failures (and not
    /// persistent) → give up; else with `n > 0` failures, wait
    /// `2^n s + U[0, 1 s)` (capped at `persistent_cap` for persistent
    /// peers when non-zero) since the last attempt.
    pub(super) fn check(
        &self,
        now: Instant,
        addr: &NetAddr,
        persistent: bool,
        max_attempts: u32,
        persistent_cap: Duration,
        rng: &mut impl RngCore,
    ) -> DialCheck {
        let Some(rec) = self.get(addr) else {
            return DialCheck::Go;
        };
        if !persistent && rec.attempts > max_attempts {
            return DialCheck::GiveUp;
        }
        if rec.attempts == 0 {
            return DialCheck::Go;
        }
        let mut wait = backoff(rec.attempts, rng);
        if persistent && !persistent_cap.is_zero() {
            wait = wait.min(persistent_cap);
        }
        if now.saturating_duration_since(rec.last) < wait {
            DialCheck::TooEarly
        } else {
            DialCheck::Go
        }
    }

    /// One more failure at `now`; the least recently dialled record makes
    /// room when `max` are kept.
    pub(super) fn failed(&mut self, now: Instant, addr: &NetAddr, max: usize) {
        let key = addr.socket_addr();
        if !self.records.contains_key(&key) && self.records.len() >= max {
            let oldest = self
                .records
                .iter()
                .min_by_key(|(_, r)| r.last)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => {
                    self.records.remove(&k);
                }
                None => return,
            }
        }
        let rec = self.records.entry(key).or_insert(DialRecord {
            attempts: 0,
            last: now,
        });
        rec.attempts = rec.attempts.saturating_add(1);
        rec.last = now;
    }

    /// The address worked (or was banned): forget its history.
    pub(super) fn forget(&mut self, addr: &NetAddr) {
        self.records.remove(&addr.socket_addr());
    }

    /// Drops records last used more than `ttl` before `now`.
    pub(super) fn prune(&mut self, now: Instant, ttl: Duration) {
        self.records
            .retain(|_, r| now.saturating_duration_since(r.last) <= ttl);
    }

    pub(super) fn len(&self) -> usize {
        self.records.len()
    }
}

/// Why we dialled an address (what to do with the outcome).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DialKind {
    /// From the book, by `ensure_peers`.
    Book,
    /// A configured seed: on failure try the next one.
    Seed,
    /// Seed mode crawling.
    Crawl,
}

/// A dial we asked for and whose outcome is not reported yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pending {
    pub(super) addr: NetAddr,
    pub(super) kind: DialKind,
    pub(super) since: Instant,
}

/// Our dials in flight, by ID (bounded by `max_pending_dials`).
#[derive(Clone, Debug, Default)]
pub(super) struct PendingDials {
    by_id: BTreeMap<NodeId, Pending>,
}

impl PendingDials {
    pub(super) fn contains(&self, id: &NodeId) -> bool {
        self.by_id.contains_key(id)
    }

    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(super) fn insert(&mut self, p: Pending) {
        self.by_id.insert(p.addr.id, p);
    }

    /// Takes the pending dial of `addr`'s ID, if any.
    pub(super) fn take(&mut self, addr: &NetAddr) -> Option<Pending> {
        self.by_id.remove(&addr.id)
    }

    /// Forgets dials older than `timeout` (their report was lost).
    pub(super) fn expire(&mut self, now: Instant, timeout: Duration) {
        self.by_id
            .retain(|_, p| now.saturating_duration_since(p.since) <= timeout);
    }

    /// Dials the switch counts neither as dialling nor as connected (asked
    /// for, not started yet).
    pub(super) fn unknown_to(&self, view: &impl super::PexView) -> usize {
        self.by_id
            .keys()
            .filter(|id| !view.is_dialing_or_connected(id))
            .count()
    }

    pub(super) fn has_kind(&self, kind: DialKind) -> bool {
        self.by_id.values().any(|p| p.kind == kind)
    }
}
