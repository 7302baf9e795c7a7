//! The periodic rounds: `ensure_peers` (spec §6.3) and seed-mode crawling
//! (spec §6.4), with the seed fallback and the dial checks they share.

use alloc::vec::Vec;
use core::time::Duration;

use rand_core::RngCore;

use super::super::random::{below, choose};
use super::dial::{DialCheck, DialKind, Pending};
use super::{PexAction, PexMachine, PexView};
use crate::identity::{NetAddr, NodeId};
use crate::time::Instant;

impl<R: RngCore> PexMachine<R> {
    /// The first round: a seed dials its seeds (or crawls); a node runs
    /// `ensure_peers` at once if it has no peers and dials nobody, else
    /// after `U[0, period)` so a restarted network does not stampede.
    /// Returns whether a round ran.
    pub(super) fn first_round(&mut self, now: Instant, view: &impl PexView) -> bool {
        if self.cfg.seed_mode {
            self.next_round = now + self.cfg.crawl_period;
            if self.cfg.seeds.is_empty() {
                self.crawl(now, view);
            } else {
                self.dial_seeds(now, view);
            }
            return true;
        }
        let idle = self.peers.is_empty() && view.num_outbound() == 0 && view.num_dialing() == 0;
        if idle {
            self.next_round = now + self.cfg.ensure_peers_period;
            self.ensure_peers(now, view, true);
            true
        } else {
            let period =
                u64::try_from(self.cfg.ensure_peers_period.as_micros()).unwrap_or(u64::MAX);
            let jitter = below(&mut self.rng, usize::try_from(period).unwrap_or(usize::MAX));
            self.next_round = now + Duration::from_micros(jitter as u64);
            false
        }
    }

    /// A periodic round.
    pub(super) fn round(&mut self, now: Instant, view: &impl PexView, ask_peer: bool) {
        if self.cfg.seed_mode {
            self.let_old_peers_go(now);
            self.crawl(now, view);
            let ttl = self.cfg.crawl_record_ttl;
            self.crawled
                .retain(|_, t| now.saturating_duration_since(*t) <= ttl);
        } else {
            self.ensure_peers(now, view, ask_peer);
        }
        self.history.prune(now, self.cfg.dial_record_ttl);
    }

    /// CometBFT's `ensurePeers`: dial towards the outbound target, then,
    /// if the book needs addresses, reinstate expired bans, ask one random
    /// peer (`ask_peer`) and fall back to the seeds if nothing was dialled.
    pub(super) fn ensure_peers(&mut self, now: Instant, view: &impl PexView, ask_peer: bool) {
        let out = view.num_outbound();
        // Dials we asked for that the switch does not know yet count too.
        let dialing = view.num_dialing() + self.pending.unknown_to(view);
        let to_dial = view.max_outbound().saturating_sub(out + dialing);
        if to_dial == 0 {
            return;
        }
        let bias = u8::try_from(out.min(8) * 10 + 10).unwrap_or(90);
        let mut picked: Vec<NetAddr> = Vec::with_capacity(to_dial);
        for _ in 0..to_dial.saturating_mul(3) {
            if picked.len() >= to_dial {
                break;
            }
            let Some(addr) = self.book.pick_address(bias, &mut self.rng) else {
                continue;
            };
            let busy = picked.iter().any(|p| p.id == addr.id)
                || self.pending.contains(&addr.id)
                || view.is_dialing_or_connected(&addr.id);
            if !busy {
                picked.push(addr);
            }
        }
        let mut dialled = 0;
        for addr in picked {
            if self.try_dial(now, addr, DialKind::Book, view.is_persistent(&addr.id)) {
                dialled += 1;
            }
        }
        trace!(
            "pex: ensure_peers: out {}, dialing {}, dialled {}",
            out,
            dialing,
            dialled
        );
        if self.book.need_more_addrs() {
            let wall = self.wall_time(now);
            self.book.reinstate_expired_bans(wall);
        }
        if self.book.need_more_addrs() {
            if ask_peer {
                if let Some(id) = self.random_peer() {
                    self.request(&id);
                }
            }
            // Not on the extra round an answer from a seed triggers: we
            // just heard from a seed, and a seed that hangs up after
            // answering would otherwise be redialled in a burst.
            if dialled == 0 && ask_peer {
                self.dial_seeds(now, view);
            }
        }
    }

    /// A uniformly random peer that is not leaving.
    fn random_peer(&mut self) -> Option<NodeId> {
        let ids: Vec<NodeId> = self
            .peers
            .iter()
            .filter(|(_, p)| !p.leaving)
            .map(|(id, _)| *id)
            .collect();
        if ids.is_empty() {
            return None;
        }
        ids.get(below(&mut self.rng, ids.len())).copied()
    }

    /// Dials `addr` unless its backoff forbids it; more than
    /// `max_dial_attempts` failures ban it instead. Returns whether a
    /// [`PexAction::Dial`] was queued.
    pub(super) fn try_dial(
        &mut self,
        now: Instant,
        addr: NetAddr,
        kind: DialKind,
        persistent: bool,
    ) -> bool {
        if self.pending.len() >= self.cfg.max_pending_dials {
            return false;
        }
        let check = self.history.check(
            now,
            &addr,
            persistent,
            self.cfg.max_dial_attempts,
            self.cfg.persistent_max_dial_period,
            &mut self.rng,
        );
        match check {
            DialCheck::Go => {
                self.pending.insert(Pending {
                    addr,
                    kind,
                    since: now,
                });
                self.actions.push_back(PexAction::Dial(addr));
                true
            }
            DialCheck::TooEarly => false,
            DialCheck::GiveUp => {
                debug!(
                    "pex: giving up on {} after {} failed dials",
                    addr, self.cfg.max_dial_attempts
                );
                let wall = self.wall_time(now);
                self.book.mark_bad(wall, &addr.id, self.cfg.ban_duration);
                self.history.forget(&addr);
                false
            }
        }
    }

    /// Dials the seeds in a random order, one at a time (the next after a
    /// failure), unless a seed dial is under way or the first seed in the
    /// order is already dialling or connected.
    pub(super) fn dial_seeds(&mut self, now: Instant, view: &impl PexView) {
        if self.cfg.seeds.is_empty() || self.pending.has_kind(DialKind::Seed) {
            return;
        }
        let mut order = self.cfg.seeds.clone();
        let n = order.len();
        choose(&mut order, n, &mut self.rng);
        order.reverse(); // pop() takes them in the chosen order
        if order
            .last()
            .is_some_and(|s| view.is_dialing_or_connected(&s.id))
        {
            return;
        }
        self.seed_queue = order;
        self.dial_next_seed(now);
    }

    /// Dials the next seed in the queue, if any (seeds have no backoff).
    pub(super) fn dial_next_seed(&mut self, now: Instant) {
        // Seeds share the bound on dials in flight (a later round retries).
        if self.pending.len() >= self.cfg.max_pending_dials {
            return;
        }
        let Some(seed) = self.seed_queue.pop() else {
            return;
        };
        self.pending.insert(Pending {
            addr: seed,
            kind: DialKind::Seed,
            since: now,
        });
        self.actions.push_back(PexAction::Dial(seed));
    }

    /// Seed mode: dial a selection of the book, skipping addresses crawled
    /// within `min_time_between_crawls`; each one added is asked for
    /// addresses (in `peer_added`).
    pub(super) fn crawl(&mut self, now: Instant, view: &impl PexView) {
        let selection = self.book.selection(&mut self.rng);
        for addr in selection {
            let recent = self.crawled.get(&addr.id).is_some_and(|t| {
                now.saturating_duration_since(*t) < self.cfg.min_time_between_crawls
            });
            if recent {
                continue;
            }
            // Already being dialled or connected (a peer that dialled us):
            // not crawled now, so not recorded — recording it kept such a
            // peer from being crawled for `min_time_between_crawls`.
            if self.pending.contains(&addr.id) || view.is_dialing_or_connected(&addr.id) {
                continue;
            }
            self.record_crawl(now, addr.id);
            self.try_dial(now, addr, DialKind::Crawl, view.is_persistent(&addr.id));
        }
    }

    /// Remembers that `id` was crawled at `now`; at `max_crawl_records`,
    /// the oldest record goes.
    fn record_crawl(&mut self, now: Instant, id: NodeId) {
        if !self.crawled.contains_key(&id) && self.crawled.len() >= self.cfg.max_crawl_records {
            let oldest = self
                .crawled
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(id, _)| *id);
            match oldest {
                Some(old) => {
                    self.crawled.remove(&old);
                }
                None => return,
            }
        }
        self.crawled.insert(id, now);
    }

    /// Seed mode: non-persistent peers connected for `seed_disconnect_wait`
    /// are let go (gracefully).
    fn let_old_peers_go(&mut self, now: Instant) {
        let wait = self.cfg.seed_disconnect_wait;
        for (id, p) in self.peers.iter_mut() {
            if p.leaving || p.peer.persistent || now.saturating_duration_since(p.since) < wait {
                continue;
            }
            p.leaving = true;
            self.actions
                .push_back(PexAction::DisconnectAfterSend { id: *id });
        }
    }
}
