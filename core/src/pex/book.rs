//! [`AddrBook`]: CometBFT's bucketed address book (spec §7), sans-IO.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::hash::Hasher;
use core::net::IpAddr;
use core::time::Duration;

use rand_core::RngCore;
use siphasher::sip::SipHasher24;

use super::random::below;
use super::{AddError, BookConfig, BucketKind, CapacityError, KnownAddr, Subnet, UnixTime};
use crate::identity::{NetAddr, NodeId};

/// Length of the book's persisted key (24 hex characters in the file).
pub const BOOK_KEY_LEN: usize = 12;

/// The address book: every address we know, spread over "new" buckets
/// (heard of) and "old" buckets (worked at least once) so that no single
/// network or source can dominate what we dial or gossip.
///
/// It does no I/O and reads no clock or random source: every call that
/// needs them takes `now` (wall-clock [`UnixTime`]) and the caller's RNG.
/// Entries are keyed by node ID; an ID keeps the first address it was
/// learned with.
///
/// **Bucket hashing.** CometBFT hashes with HighwayHash under a random key
/// drawn at each start. We use SipHash-2-4 (the `siphasher` crate) keyed
/// with the book's persisted 12-byte key (zero-padded to 16 bytes), over
/// the fixed-size [`AddrGroup::key_bytes`](super::AddrGroup::key_bytes) of
/// the groups in spec §7.2's formulas:
/// new bucket = H(g(src) ‖ be64(H(g(addr) ‖ g(src)) mod 32)) mod 256,
/// old bucket = H(g(addr) ‖ be64(H(id ‖ ip ‖ port) mod 4)) mod 64.
/// Placement is therefore stable across restarts and unpredictable without
/// the key; only its distribution matters for compatibility.
#[derive(Clone, Debug)]
pub struct AddrBook {
    pub(super) cfg: BookConfig,
    key: [u8; BOOK_KEY_LEN],
    pub(super) entries: BTreeMap<NodeId, KnownAddr>,
    pub(super) new_buckets: Vec<Vec<NodeId>>,
    pub(super) old_buckets: Vec<Vec<NodeId>>,
    pub(super) n_new: usize,
    pub(super) n_old: usize,
    pub(super) banned: BTreeMap<NodeId, KnownAddr>,
    subnets: BTreeMap<Subnet, usize>,
    our_addrs: Vec<NetAddr>,
    private_ids: BTreeSet<NodeId>,
}

impl AddrBook {
    /// An empty book with a fresh random key.
    pub fn new(cfg: BookConfig, rng: &mut impl RngCore) -> Self {
        let mut key = [0u8; BOOK_KEY_LEN];
        rng.fill_bytes(&mut key);
        Self::with_key(cfg, key)
    }

    /// An empty book with a given key (for example the one from a file).
    pub fn with_key(cfg: BookConfig, key: [u8; BOOK_KEY_LEN]) -> Self {
        let cfg = cfg.sanitized();
        AddrBook {
            key,
            entries: BTreeMap::new(),
            new_buckets: (0..cfg.new_bucket_count).map(|_| Vec::new()).collect(),
            old_buckets: (0..cfg.old_bucket_count).map(|_| Vec::new()).collect(),
            n_new: 0,
            n_old: 0,
            banned: BTreeMap::new(),
            subnets: BTreeMap::new(),
            our_addrs: Vec::new(),
            private_ids: BTreeSet::new(),
            cfg,
        }
    }

    /// The configuration (sanitized).
    pub fn config(&self) -> &BookConfig {
        &self.cfg
    }

    /// The book's key (persisted as `key` in `addrbook.json`).
    pub fn key(&self) -> [u8; BOOK_KEY_LEN] {
        self.key
    }

    /// Switches strict routability on or off for later calls. Entries
    /// already in the book stay where they are.
    pub fn set_strict(&mut self, strict: bool) {
        self.cfg.strict = strict;
    }

    /// Records one of our own addresses: `add_address` then refuses both
    /// its ID and its IP and port, and live entries matching either (for
    /// example from a loaded file) are removed.
    pub fn add_our_address(&mut self, addr: NetAddr) -> Result<(), CapacityError> {
        if self.our_addrs.contains(&addr) {
            return Ok(());
        }
        if self.our_addrs.len() >= self.cfg.max_our_addrs {
            return Err(CapacityError {
                capacity: self.cfg.max_our_addrs,
            });
        }
        self.our_addrs.push(addr);
        let ours: Vec<NodeId> = self
            .entries
            .values()
            .filter(|e| self.is_our_address(&e.addr))
            .map(|e| e.addr.id)
            .collect();
        for id in &ours {
            self.delete(id);
        }
        Ok(())
    }

    /// `true` if `addr` has one of our IDs, or one of our IPs and ports.
    pub fn is_our_address(&self, addr: &NetAddr) -> bool {
        self.our_addrs
            .iter()
            .any(|o| o.id == addr.id || o.socket_addr() == addr.socket_addr())
    }

    /// Records IDs that must never be added or gossiped (`private_peer_ids`),
    /// and drops any of them already in the book.
    pub fn add_private_ids(
        &mut self,
        ids: impl IntoIterator<Item = NodeId>,
    ) -> Result<(), CapacityError> {
        for id in ids {
            if !self.private_ids.contains(&id) && self.private_ids.len() >= self.cfg.max_private_ids
            {
                return Err(CapacityError {
                    capacity: self.cfg.max_private_ids,
                });
            }
            self.private_ids.insert(id);
            self.delete(&id);
            self.banned.remove(&id);
        }
        Ok(())
    }

    /// Live entries (new + old; banned ones are not counted).
    pub fn size(&self) -> usize {
        self.n_new + self.n_old
    }

    /// Entries in new buckets.
    pub fn new_count(&self) -> usize {
        self.n_new
    }

    /// Entries in old buckets.
    pub fn old_count(&self) -> usize {
        self.n_old
    }

    /// Entries on the ban list.
    pub fn banned_count(&self) -> usize {
        self.banned.len()
    }

    /// No live entries.
    pub fn is_empty(&self) -> bool {
        self.size() == 0
    }

    /// Fewer entries than `need_address_threshold`: time to ask for more.
    pub fn need_more_addrs(&self) -> bool {
        self.size() < self.cfg.need_address_threshold
    }

    /// `id` is a live entry.
    pub fn has(&self, id: &NodeId) -> bool {
        self.entries.contains_key(id)
    }

    /// `id` is on the ban list (until [`reinstate_expired_bans`](Self::reinstate_expired_bans)
    /// returns it, even after its ban time passed, as in Go).
    pub fn is_banned(&self, id: &NodeId) -> bool {
        self.banned.contains_key(id)
    }

    /// What the book knows about `id`, live or banned.
    pub fn get(&self, id: &NodeId) -> Option<&KnownAddr> {
        self.entries.get(id).or_else(|| self.banned.get(id))
    }

    /// `id` is a live new entry that [`KnownAddr::is_bad`] at `now`.
    pub fn is_bad(&self, id: &NodeId, now: UnixTime) -> bool {
        self.entries
            .get(id)
            .is_some_and(|e| e.is_bad(now, &self.cfg))
    }

    /// Every entry, live ones first then banned ones, each in ID order
    /// (for a crawler's network map or for saving).
    pub fn snapshot(&self) -> Vec<KnownAddr> {
        self.entries
            .values()
            .chain(self.banned.values())
            .cloned()
            .collect()
    }

    /// Adds `addr`, learned from `src`, to a new bucket (spec §7.3).
    ///
    /// `Ok(true)`: a new entry was created, or a known new entry was added
    /// to one more bucket. `Ok(false)`: the ID is known and was left as it
    /// is (the 1/(2·buckets) chance of another bucket did not come up, or
    /// the chosen bucket already holds it). A full bucket first evicts a
    /// bad entry, else the one attempted longest ago.
    pub fn add_address(
        &mut self,
        now: UnixTime,
        addr: NetAddr,
        src: NetAddr,
        rng: &mut impl RngCore,
    ) -> Result<bool, AddError> {
        if !addr.is_valid() {
            return Err(AddError::Invalid);
        }
        if self.banned.contains_key(&addr.id) {
            return Err(AddError::Banned);
        }
        if self.private_ids.contains(&addr.id) {
            return Err(AddError::PrivateId);
        }
        if self.private_ids.contains(&src.id) {
            return Err(AddError::PrivateSource);
        }
        if self.is_our_address(&addr) {
            return Err(AddError::Ours);
        }
        if self.cfg.strict && !addr.is_routable() {
            return Err(AddError::NonRoutable);
        }
        if let Some(known) = self.entries.get(&addr.id) {
            if known.kind == BucketKind::Old {
                return Err(AddError::AlreadyOld);
            }
            let count = known.buckets.len();
            if count >= self.cfg.max_new_buckets_per_addr {
                return Err(AddError::MaxBuckets);
            }
            if below(rng, 2 * count) != 0 {
                return Ok(false);
            }
            // Placement uses the entry's own address: a third party cannot
            // steer a known ID by announcing it under another IP.
            let bucket = self.new_bucket_for(&known.addr, &src);
            return Ok(self.place_new(now, addr.id, bucket));
        }
        if self.subnet_full(addr.ip) {
            return Err(AddError::SubnetFull);
        }
        let bucket = self.new_bucket_for(&addr, &src);
        self.insert_entry(KnownAddr::new(addr, src, now));
        Ok(self.place_new_or_drop(now, addr.id, bucket))
    }

    /// A good connection to `id` (CometBFT calls it after 10 000 useful
    /// messages): attempts reset, last attempt and success set to `now`, and
    /// a new entry moves to its old bucket; if that is full, its entry
    /// attempted longest ago moves back to a new bucket. Unknown IDs are
    /// ignored.
    pub fn mark_good(&mut self, now: UnixTime, id: &NodeId) {
        let Some(e) = self.entries.get_mut(id) else {
            return;
        };
        e.attempts = 0;
        e.last_attempt = now;
        e.last_success = now;
        if e.kind == BucketKind::New {
            self.move_to_old(now, *id);
        }
    }

    /// A dial attempt to `id`: attempts + 1, last attempt = `now`.
    pub fn mark_attempt(&mut self, now: UnixTime, id: &NodeId) {
        if let Some(e) = self.entries.get_mut(id) {
            e.attempts = e.attempts.saturating_add(1);
            e.last_attempt = now;
        }
    }

    /// Bans `id` until `now + ban` (never moving a later ban earlier):
    /// removes it from every bucket and keeps it on the ban list. Only
    /// known IDs can be banned (as in Go); an already banned ID gets the
    /// later of the two ban times. Returns whether `id` is now banned.
    ///
    /// When the ban list is full (`max_banned`), the ban that expires first
    /// is forgotten to make room (or this one, if it expires first).
    pub fn mark_bad(&mut self, now: UnixTime, id: &NodeId, ban: Duration) -> bool {
        let until = now.saturating_add(ban);
        if let Some(e) = self.banned.get_mut(id) {
            e.last_ban = e.last_ban.max(until);
            return true;
        }
        let Some(mut e) = self.delete(id) else {
            return false;
        };
        e.last_ban = e.last_ban.max(until);
        self.insert_banned(e)
    }

    /// Returns every banned entry whose ban time has passed to a new bucket
    /// (Go's `ReinstateBadPeers`); entries whose subnet has filled up in
    /// the meantime are forgotten. Returns how many were reinstated.
    pub fn reinstate_expired_bans(&mut self, now: UnixTime) -> usize {
        let expired: Vec<NodeId> = self
            .banned
            .iter()
            .filter(|(_, e)| !e.is_banned_at(now))
            .map(|(id, _)| *id)
            .collect();
        let mut count = 0;
        for id in expired {
            let Some(mut e) = self.banned.remove(&id) else {
                continue;
            };
            // Since the ban, the address may have become ours or its ID
            // private: such an entry is dropped, never reinstated.
            if self.entries.contains_key(&id)
                || self.subnet_full(e.addr.ip)
                || self.is_our_address(&e.addr)
                || self.private_ids.contains(&id)
                || self.private_ids.contains(&e.src.id)
            {
                continue;
            }
            e.kind = BucketKind::New;
            e.buckets.clear();
            let bucket = self.new_bucket_for(&e.addr, &e.src);
            self.insert_entry(e);
            if self.place_new_or_drop(now, id, bucket) {
                count += 1;
            }
        }
        count
    }

    /// Removes `id` from the buckets (not from the ban list). Returns
    /// whether it was there.
    pub fn remove(&mut self, id: &NodeId) -> bool {
        self.delete(id).is_some()
    }

    /// Ours: removes every live entry that [`KnownAddr::is_bad`] at `now`.
    /// Returns how many were removed.
    pub fn prune_stale(&mut self, now: UnixTime) -> usize {
        let bad: Vec<NodeId> = self
            .entries
            .iter()
            .filter(|(_, e)| e.is_bad(now, &self.cfg))
            .map(|(id, _)| *id)
            .collect();
        for id in &bad {
            self.delete(id);
        }
        bad.len()
    }

    // ---- bucket placement -------------------------------------------------

    fn hash(&self, parts: &[&[u8]]) -> u64 {
        let mut k0 = [0u8; 8];
        let mut k1 = [0u8; 8];
        k0.copy_from_slice(&self.key[..8]);
        k1[..4].copy_from_slice(&self.key[8..]);
        let mut h = SipHasher24::new_with_keys(u64::from_le_bytes(k0), u64::from_le_bytes(k1));
        for part in parts {
            h.write(part);
        }
        h.finish()
    }

    /// The new bucket for `addr` learned from `src`.
    pub(super) fn new_bucket_for(&self, addr: &NetAddr, src: &NetAddr) -> u16 {
        let group = addr.group(self.cfg.strict).key_bytes();
        let src_group = src.group(self.cfg.strict).key_bytes();
        let slot = self.hash(&[&group, &src_group]) % u64::from(self.cfg.new_buckets_per_group);
        let bucket =
            self.hash(&[&src_group, &slot.to_be_bytes()]) % u64::from(self.cfg.new_bucket_count);
        u16::try_from(bucket).unwrap_or(0)
    }

    /// The old bucket for `addr`.
    pub(super) fn old_bucket_for(&self, addr: &NetAddr) -> u16 {
        let ip = match addr.ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        let slot = self.hash(&[&addr.id.0, &ip.octets(), &addr.port.to_be_bytes()])
            % u64::from(self.cfg.old_buckets_per_group);
        let group = addr.group(self.cfg.strict).key_bytes();
        let bucket =
            self.hash(&[&group, &slot.to_be_bytes()]) % u64::from(self.cfg.old_bucket_count);
        u16::try_from(bucket).unwrap_or(0)
    }

    // ---- internal bookkeeping ---------------------------------------------

    /// The subnet cap applies to routable addresses only.
    pub(super) fn subnet_full(&self, ip: IpAddr) -> bool {
        crate::pex::is_routable_ip(ip)
            && self.subnets.get(&Subnet::of(ip)).copied().unwrap_or(0) >= self.cfg.max_per_subnet
    }

    /// Inserts a live entry that is in no bucket yet (the caller places it).
    pub(super) fn insert_entry(&mut self, mut e: KnownAddr) {
        if crate::pex::is_routable_ip(e.addr.ip) {
            *self.subnets.entry(Subnet::of(e.addr.ip)).or_insert(0) += 1;
        }
        e.buckets.clear();
        self.entries.insert(e.addr.id, e);
    }

    /// Removes a live entry from all its buckets and the book; returns it
    /// with its bucket list as it was.
    fn delete(&mut self, id: &NodeId) -> Option<KnownAddr> {
        let e = self.entries.get(id)?;
        let (kind, buckets) = (e.kind, e.buckets.clone());
        for b in &buckets {
            self.detach(*id, kind, *b);
        }
        let mut e = self.entries.remove(id)?;
        e.buckets = buckets;
        if crate::pex::is_routable_ip(e.addr.ip) {
            let subnet = Subnet::of(e.addr.ip);
            if let Some(n) = self.subnets.get_mut(&subnet) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.subnets.remove(&subnet);
                }
            }
        }
        Some(e)
    }

    fn bucket_mut(&mut self, kind: BucketKind, b: u16) -> Option<&mut Vec<NodeId>> {
        match kind {
            BucketKind::New => self.new_buckets.get_mut(usize::from(b)),
            BucketKind::Old => self.old_buckets.get_mut(usize::from(b)),
        }
    }

    /// Puts live entry `id` into bucket `b` of its kind (no capacity check).
    pub(super) fn attach(&mut self, id: NodeId, b: u16) -> bool {
        let Some(e) = self.entries.get_mut(&id) else {
            return false;
        };
        let kind = e.kind;
        if e.buckets.contains(&b) || e.buckets.push(b).is_err() {
            return false;
        }
        let first = e.buckets.len() == 1;
        let Some(bucket) = self.bucket_mut(kind, b) else {
            if let Some(e) = self.entries.get_mut(&id) {
                e.buckets.retain(|x| *x != b);
            }
            return false;
        };
        bucket.push(id);
        if first {
            match kind {
                BucketKind::New => self.n_new += 1,
                BucketKind::Old => self.n_old += 1,
            }
        }
        true
    }

    /// Takes `id` out of bucket `b` of `kind`; the entry stays in the book
    /// even if it is now in no bucket (callers delete or re-place it).
    fn detach(&mut self, id: NodeId, kind: BucketKind, b: u16) {
        if let Some(bucket) = self.bucket_mut(kind, b) {
            bucket.retain(|x| *x != id);
        }
        if let Some(e) = self.entries.get_mut(&id) {
            let before = e.buckets.len();
            e.buckets.retain(|x| *x != b);
            if before == 1 && e.buckets.is_empty() {
                match kind {
                    BucketKind::New => self.n_new = self.n_new.saturating_sub(1),
                    BucketKind::Old => self.n_old = self.n_old.saturating_sub(1),
                }
            }
        }
    }

    /// Adds live new entry `id` to new bucket `b`, evicting from a full
    /// bucket first. Returns whether it was added.
    pub(super) fn place_new(&mut self, now: UnixTime, id: NodeId, b: u16) -> bool {
        let Some(bucket) = self.new_buckets.get(usize::from(b)) else {
            return false;
        };
        if bucket.contains(&id) {
            return false;
        }
        if bucket.len() >= self.cfg.new_bucket_size {
            self.evict_new(now, b);
        }
        self.attach(id, b)
    }

    /// Makes room in new bucket `b`: drops a bad entry, else the one
    /// attempted longest ago; an entry left in no bucket leaves the book.
    fn evict_new(&mut self, now: UnixTime, b: u16) {
        let Some(bucket) = self.new_buckets.get(usize::from(b)) else {
            return;
        };
        let entry = |id: &NodeId| self.entries.get(id);
        let victim = bucket
            .iter()
            .find(|id| entry(id).is_some_and(|e| e.is_bad(now, &self.cfg)))
            .or_else(|| {
                bucket
                    .iter()
                    .min_by_key(|id| entry(id).map(|e| e.last_attempt))
            })
            .copied();
        if let Some(victim) = victim {
            self.detach(victim, BucketKind::New, b);
            if self
                .entries
                .get(&victim)
                .is_some_and(|e| e.buckets.is_empty())
            {
                self.delete(&victim);
            }
        }
    }

    /// Promotes new entry `id` to its old bucket (spec §7.3 `MarkGood`).
    fn move_to_old(&mut self, now: UnixTime, id: NodeId) {
        let Some(e) = self.entries.get(&id) else {
            return;
        };
        let (addr, buckets) = (e.addr, e.buckets.clone());
        for b in &buckets {
            self.detach(id, BucketKind::New, *b);
        }
        if let Some(e) = self.entries.get_mut(&id) {
            e.kind = BucketKind::Old;
        }
        let target = self.old_bucket_for(&addr);
        let full = self
            .old_buckets
            .get(usize::from(target))
            .is_some_and(|b| b.len() >= self.cfg.old_bucket_size);
        if full {
            self.demote_oldest(now, target);
        }
        if !self.attach(id, target) {
            // Unreachable with a sanitized config; never leave a bucketless entry.
            self.delete(&id);
        }
    }

    /// Moves the entry of old bucket `b` attempted longest ago back to a
    /// new bucket.
    fn demote_oldest(&mut self, now: UnixTime, b: u16) {
        let Some(bucket) = self.old_buckets.get(usize::from(b)) else {
            return;
        };
        let oldest = bucket
            .iter()
            .min_by_key(|id| self.entries.get(id).map(|e| e.last_attempt))
            .copied();
        let Some(oldest) = oldest else {
            return;
        };
        self.detach(oldest, BucketKind::Old, b);
        let Some(e) = self.entries.get_mut(&oldest) else {
            return;
        };
        e.kind = BucketKind::New;
        let (addr, src) = (e.addr, e.src);
        let nb = self.new_bucket_for(&addr, &src);
        self.place_new_or_drop(now, oldest, nb);
    }

    /// [`place_new`](Self::place_new) for an entry in no bucket yet; if it
    /// cannot be placed (impossible with a sanitized config) it leaves the
    /// book, so no entry is ever in zero buckets.
    pub(super) fn place_new_or_drop(&mut self, now: UnixTime, id: NodeId, b: u16) -> bool {
        let placed = self.place_new(now, id, b);
        if !placed {
            self.delete(&id);
        }
        placed
    }

    /// Puts a removed entry on the ban list, respecting `max_banned`.
    pub(super) fn insert_banned(&mut self, e: KnownAddr) -> bool {
        if self.banned.len() >= self.cfg.max_banned {
            let first = self
                .banned
                .iter()
                .min_by_key(|(_, b)| b.last_ban)
                .map(|(id, b)| (*id, b.last_ban));
            match first {
                Some((id, until)) if until < e.last_ban => {
                    self.banned.remove(&id);
                }
                _ => return false,
            }
        }
        self.banned.insert(e.addr.id, e);
        true
    }
}
