//! Target `addrbook`: the address book (`mconn::pex::AddrBook`) under an
//! arbitrary script of operations with a tiny configuration, so that every
//! bucket, subnet and ban-list limit is reached.
//!
//! Input: `[sizes][spread][limits][times] op…` (see [`setup`] and
//! [`Harness::op`]). Addresses are drawn from a small pool of IDs and from
//! every IP class the book distinguishes (public, private, loopback,
//! link-local, invalid, IPv4-mapped, 6to4, Teredo, NAT64, RFC 6145,
//! OnionCat, Hurricane Electric, ULA, ORCHID, documentation…).
//!
//! Checks, after every operation ([`check_book`] plus per-call rules):
//!
//! * structure: live entries = new + old counts ≤ capacity; the ban list
//!   within `max_banned`; every live entry in 1 (old) or 1..=max (new)
//!   distinct buckets of its kind, each of which lists it once; bucket
//!   sizes within bounds; no ID both live and banned; per-subnet counts
//!   within `max_per_subnet`; every live entry valid, and routable while
//!   the book was always strict; no live entry is one of our addresses or
//!   a private ID;
//! * `add_address`: a refusal is one the state justifies (invalid, banned,
//!   private ID or source, ours, not routable in strict mode, already old,
//!   in the most buckets, subnet full) and leaves the book unchanged; an
//!   address with no such reason is added; success creates the entry (or
//!   adds exactly one bucket to a known new one);
//! * `mark_good` makes a live entry old (attempts reset, times set),
//!   `mark_attempt` counts, `mark_bad` bans (or reports why not),
//!   `reinstate_expired_bans` leaves exactly the unexpired bans,
//!   `prune_stale` leaves no bad entry, `remove` removes;
//! * selections have the documented size, distinct live addresses;
//!   `pick_address` returns a live address of the side the bias forces;
//! * `restore(snapshot)` and the `addrbook.json` text round trip give the
//!   same book (while no ban has expired unreinstated).

mod json;

use std::collections::BTreeSet;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::time::Duration;

use mconn::identity::{NetAddr, NodeId};
use mconn::pex::{
    AddError, AddrBook, BookConfig, BucketKind, KnownAddr, UnixTime, MAX_BUCKETS_PER_ADDR,
};

use super::mconn_ops::trace;
use super::{Input, Rng};

pub use json::addrbook_json;

/// IDs `0..IDS` (with a fixed tail, so they are valid node IDs).
const IDS: u8 = 48;
const MAX_OPS: usize = 4096;
/// 2025-06-01T00:00:00Z.
pub(super) const START: u64 = 1_748_736_000;
/// The last time `addrbook.json` can hold (9999-12-31T23:59:59.999999Z).
const MAX_JSON_MICROS: u64 = 253_402_300_799_999_999;

pub(super) fn node(n: u8) -> NodeId {
    let mut id = [0x5a; 20];
    id[0] = n % IDS;
    NodeId(id)
}

/// An IP of class `class` (22 classes) varied by `x`.
pub(super) fn ip(class: u8, x: u8) -> IpAddr {
    let v6 = |segs: [u16; 8]| IpAddr::V6(Ipv6Addr::from(segs));
    let x16 = u16::from(x);
    let v4 = match class % 22 {
        0 => Ipv4Addr::new(31, x % 4, x / 4 % 2, x),
        1 => Ipv4Addr::new(45, x, 1, 1),
        2 => Ipv4Addr::new(10, 0, 0, x),
        3 => Ipv4Addr::new(192, 168, x, 1),
        4 => Ipv4Addr::new(172, 16, 0, x),
        5 => Ipv4Addr::new(169, 254, x, 1),
        6 => Ipv4Addr::new(127, 0, 0, x),
        7 => Ipv4Addr::new(0, 0, 0, x % 3),
        8 => Ipv4Addr::new(255, 255, 255, 254 | x & 1),
        9 => return IpAddr::V6(Ipv4Addr::new(31, x % 4, 0, 1).to_ipv6_mapped()),
        10 => return v6([0x2a00, 0x1450, (x16 % 8), 0, 0, 0, 0, 1]),
        11 => return v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, x16]),
        12 => return v6([0x2001, 0x470, x16 << 8, 0, 0, 0, 0, 1]),
        13 => return v6([0x2002, 0x1f00 | (x16 % 4), 1, 0, 0, 0, 0, 1]),
        14 => return v6([0x2001, 0, x16 % 4, 0, 0, 0, 0xe0ff, 0xfffe]),
        15 => return v6([0x64, 0xff9b, 0, 0, 0, 0, 0x1f00 | (x16 % 4), 1]),
        16 => return v6([0, 0, 0, 0, 0xffff, 0, 0x1f00 | (x16 % 4), 1]),
        17 => return v6([0xfd87, 0xd87e, 0xeb43, x16, 0, 0, 0, 1]),
        18 => return v6([0xfc00, 0, 0, 0, 0, 0, 0, x16]),
        19 => return v6([0xfe80, 0, 0, 0, 0, 0, 0, x16]),
        20 => return v6([0, 0, 0, 0, 0, 0, 0, x16 % 2]),
        _ => return v6([0x2001, 0x10 | (x16 % 16), 0, 0, 0, 0, 0, 1]),
    };
    IpAddr::V4(v4)
}

/// `[id][class][x]`: an address from the pool.
fn addr(input: &mut Input<'_>) -> NetAddr {
    let (n, class, x) = (input.u8(), input.u8(), input.u8());
    NetAddr::new(node(n), ip(class, x), 26656 + u16::from(n >> 6))
}

/// The configuration, from `[sizes][spread][limits][times]`: a handful of
/// buckets of a few entries (zeros included, which the book sanitizes).
pub(super) fn setup(input: &mut Input<'_>) -> BookConfig {
    let (sizes, spread, limits, times) = (input.u8(), input.u8(), input.u8(), input.u8());
    let small = |b: u8| usize::from(b & 3);
    let mut cfg = BookConfig {
        new_bucket_count: u16::from(sizes & 3),
        new_bucket_size: small(sizes >> 2),
        old_bucket_count: u16::from(sizes >> 4 & 3),
        old_bucket_size: small(sizes >> 6),
        new_buckets_per_group: u16::from(spread & 3),
        old_buckets_per_group: u16::from(spread >> 2 & 3),
        max_new_buckets_per_addr: usize::from(spread >> 4),
        max_per_subnet: match limits & 7 {
            7 => usize::MAX,
            n => usize::from(n),
        },
        max_banned: small(limits >> 3),
        strict: limits & 0x20 != 0,
        max_private_ids: 2,
        max_our_addrs: 2,
        need_address_threshold: small(limits >> 6) * 4,
        selection_percent: [23, 50, 0, 100][small(times)],
        min_selection: small(times >> 2) * 2,
        max_selection: 1 + small(times >> 4) * 3,
        ..BookConfig::default()
    };
    if times & 0x40 != 0 {
        cfg.recent_attempt = Duration::from_secs(60);
        cfg.missing_after = Duration::from_secs(3600);
        cfg.min_bad_age = Duration::from_secs(1800);
        cfg.max_retries = 2;
        cfg.max_failures = 3;
    }
    cfg
}

/// Every structural invariant visible through the public API.
pub(super) fn check_book(b: &AddrBook) {
    let cfg = *b.config();
    assert!(cfg.max_new_buckets_per_addr <= MAX_BUCKETS_PER_ADDR);
    let snap = b.snapshot();
    assert_eq!(snap.len(), b.size() + b.banned_count(), "snapshot length");
    let (live, banned) = snap.split_at(b.size());
    assert!(b.size() <= cfg.capacity(), "over capacity");
    assert!(
        b.banned_count() <= cfg.max_banned,
        "ban list over its bound"
    );
    assert_eq!(b.is_empty(), b.size() == 0);
    assert_eq!(b.need_more_addrs(), b.size() < cfg.need_address_threshold);
    let new = live.iter().filter(|e| e.kind == BucketKind::New).count();
    assert_eq!((new, b.size() - new), (b.new_count(), b.old_count()));
    let mut refs = [0usize; 2];
    let mut ids = BTreeSet::new();
    for e in live {
        let id = e.addr.id;
        assert!(ids.insert(id), "{id} listed twice");
        assert!(b.has(&id) && !b.is_banned(&id), "{id} live and banned");
        assert_eq!(b.get(&id), Some(e));
        assert!(e.addr.is_valid(), "invalid live address {}", e.addr);
        let max = match e.kind {
            BucketKind::New => cfg.max_new_buckets_per_addr,
            BucketKind::Old => 1,
        };
        assert!(!e.buckets.is_empty(), "{id} in no bucket");
        assert!(
            e.buckets.len() <= max,
            "{id} in {} buckets",
            e.buckets.len()
        );
        let distinct: BTreeSet<u16> = e.buckets.iter().copied().collect();
        assert_eq!(distinct.len(), e.buckets.len(), "{id} lists a bucket twice");
        for bucket in &e.buckets {
            assert!(
                b.bucket(e.kind, *bucket).contains(&id),
                "{id} not in its bucket"
            );
        }
        refs[usize::from(e.kind == BucketKind::Old)] += e.buckets.len();
    }
    for e in banned {
        assert!(b.is_banned(&e.addr.id) && !b.has(&e.addr.id));
        assert!(ids.insert(e.addr.id), "{} listed twice", e.addr.id);
    }
    let mut in_buckets = [0usize; 2];
    for (k, kind, count, size) in [
        (
            0,
            BucketKind::New,
            cfg.new_bucket_count,
            cfg.new_bucket_size,
        ),
        (
            1,
            BucketKind::Old,
            cfg.old_bucket_count,
            cfg.old_bucket_size,
        ),
    ] {
        for i in 0..count {
            let bucket = b.bucket(kind, i);
            assert!(bucket.len() <= size, "{kind:?} bucket {i} over its size");
            let distinct: BTreeSet<&NodeId> = bucket.iter().collect();
            assert_eq!(
                distinct.len(),
                bucket.len(),
                "{kind:?} bucket {i} repeats an ID"
            );
            for id in bucket {
                assert!(b.get(id).is_some_and(|e| e.kind == kind && b.has(id)));
            }
            in_buckets[k] += bucket.len();
        }
        assert!(b.bucket(kind, count).is_empty(), "bucket past the end");
    }
    assert_eq!(refs, in_buckets, "bucket lists and entries disagree");
    let mut per_subnet = std::collections::BTreeMap::new();
    for e in live.iter().filter(|e| e.addr.is_routable()) {
        *per_subnet.entry(e.addr.subnet()).or_insert(0usize) += 1;
    }
    assert!(
        per_subnet.values().all(|&n| n <= cfg.max_per_subnet),
        "subnet cap"
    );
}

struct Harness {
    book: AddrBook,
    rng: Rng,
    cfg: BookConfig,
    now: UnixTime,
    ours: Vec<NetAddr>,
    private: BTreeSet<NodeId>,
    /// The book was strict since it was created.
    always_strict: bool,
}

impl Harness {
    fn op(&mut self, input: &mut Input<'_>) {
        let code = input.u8() % 17;
        if trace() {
            eprintln!("{:?} op {code} {:?}", self.now, input);
        }
        match code {
            0..=2 => {
                let (a, src) = (addr(input), addr(input));
                self.add(a, src);
            }
            3 => self.mark_good(node(input.u8())),
            4 => self.mark_attempt(node(input.u8())),
            5 => {
                let (id, d) = (node(input.u8()), input.u8());
                let ban = match d {
                    255 => Duration::MAX,
                    _ => Duration::from_secs(u64::from(d) * 60),
                };
                self.mark_bad(id, ban);
            }
            6 => self.reinstate(),
            7 => {
                let id = node(input.u8());
                let was = self.book.has(&id);
                assert_eq!(self.book.remove(&id), was);
                assert!(!self.book.has(&id));
            }
            8 => self.prune(),
            9 => {
                let step = input.u8();
                let d = Duration::from_secs(u64::from(step & 0x7f) * 60 * 7);
                self.now = match step & 0x80 {
                    0 => self.now.saturating_add(d),
                    // The wall clock may step back.
                    _ => self.now.saturating_sub(d / 7),
                };
            }
            10 => self.selections(input.u8()),
            11 => self.pick(input.u8()),
            12 => {
                let a = addr(input);
                self.add_our_address(a);
            }
            13 => {
                let id = node(input.u8());
                self.add_private_id(id);
            }
            14 => {
                let strict = input.u8() & 1 != 0;
                self.book.set_strict(strict);
                self.cfg.strict = strict;
                self.always_strict &= strict;
            }
            15 => self.round_trip(),
            _ => {
                let id = node(input.u8());
                assert_eq!(
                    self.book.is_bad(&id, self.now),
                    self.book
                        .get(&id)
                        .is_some_and(|e| self.book.has(&id) && e.is_bad(self.now, &self.cfg))
                );
            }
        }
        self.check();
    }

    fn is_ours(&self, a: &NetAddr) -> bool {
        self.ours
            .iter()
            .any(|o| o.id == a.id || o.socket_addr() == a.socket_addr())
    }

    fn add(&mut self, a: NetAddr, src: NetAddr) {
        let b = &self.book;
        let known = b.has(&a.id).then(|| b.get(&a.id)).flatten().cloned();
        let mut reasons = Vec::new();
        if !a.is_valid() {
            reasons.push(AddError::Invalid);
        }
        if b.is_banned(&a.id) {
            reasons.push(AddError::Banned);
        }
        if self.private.contains(&a.id) {
            reasons.push(AddError::PrivateId);
        }
        if self.private.contains(&src.id) {
            reasons.push(AddError::PrivateSource);
        }
        if self.is_ours(&a) {
            reasons.push(AddError::Ours);
        }
        if self.cfg.strict && !a.is_routable() {
            reasons.push(AddError::NonRoutable);
        }
        match &known {
            Some(e) if e.kind == BucketKind::Old => reasons.push(AddError::AlreadyOld),
            Some(e) if e.buckets.len() >= b.config().max_new_buckets_per_addr => {
                reasons.push(AddError::MaxBuckets)
            }
            Some(_) => {}
            None => {
                let subnet = a.subnet();
                let same = b
                    .snapshot()
                    .iter()
                    .filter(|e| b.has(&e.addr.id) && e.addr.is_routable())
                    .filter(|e| e.addr.subnet() == subnet)
                    .count();
                if a.is_routable() && same >= b.config().max_per_subnet {
                    reasons.push(AddError::SubnetFull);
                }
            }
        }
        let before = self.book.snapshot();
        let result = self.book.add_address(self.now, a, src, &mut self.rng);
        match result {
            Err(e) => {
                assert!(
                    reasons.contains(&e),
                    "refused {a} with {e:?}; model: {reasons:?}"
                );
                assert_eq!(
                    self.book.snapshot(),
                    before,
                    "a refused add changed the book"
                );
            }
            Ok(added) => {
                assert!(reasons.is_empty(), "added {a} despite {reasons:?}");
                let e = self.book.get(&a.id).expect("added entry");
                assert!(self.book.has(&a.id) && e.kind == BucketKind::New);
                match known {
                    None => {
                        assert!(added, "a new entry must be added");
                        let mut fresh = KnownAddr::new(a, src, self.now);
                        fresh.buckets = e.buckets.clone();
                        assert_eq!(*e, fresh, "the new entry");
                        assert_eq!(e.buckets.len(), 1);
                        assert!(self.book.size() <= before.len() + 1);
                    }
                    Some(k) => {
                        let more = usize::from(added);
                        assert_eq!(e.buckets.len(), k.buckets.len() + more, "buckets of {a}");
                        assert_eq!(e.addr, k.addr, "a known ID keeps its first address");
                        if !added {
                            assert_eq!(self.book.snapshot(), before, "Ok(false) changed the book");
                        }
                    }
                }
            }
        }
    }

    fn mark_good(&mut self, id: NodeId) {
        let live = self.book.has(&id);
        let size = self.book.size();
        let before = self.book.snapshot();
        self.book.mark_good(self.now, &id);
        if !live {
            return assert_eq!(self.book.snapshot(), before, "mark_good of an unknown ID");
        }
        let e = self.book.get(&id).expect("still known");
        assert!(self.book.has(&id), "{id} lost by mark_good");
        assert_eq!(e.kind, BucketKind::Old);
        assert_eq!(
            (e.attempts, e.last_attempt, e.last_success),
            (0, self.now, self.now)
        );
        // Demoting the oldest of a full old bucket may evict one new entry.
        assert!(self.book.size() + 1 >= size && self.book.size() <= size);
    }

    fn mark_attempt(&mut self, id: NodeId) {
        let before = self.book.get(&id).filter(|_| self.book.has(&id)).cloned();
        self.book.mark_attempt(self.now, &id);
        if let Some(mut e) = before {
            e.attempts = e.attempts.saturating_add(1);
            e.last_attempt = self.now;
            assert_eq!(self.book.get(&id), Some(&e));
        }
    }

    fn mark_bad(&mut self, id: NodeId, ban: Duration) {
        let known = self.book.get(&id).cloned();
        let full = self.book.banned_count() >= self.book.config().max_banned;
        let banned = self.book.mark_bad(self.now, &id, ban);
        assert!(!self.book.has(&id), "{id} live after mark_bad");
        let until = self.now.saturating_add(ban);
        match known {
            None => assert!(!banned && !self.book.is_banned(&id), "unknown {id} banned"),
            Some(k) if banned => {
                assert!(self.book.is_banned(&id));
                let e = self.book.get(&id).expect("banned entry");
                assert_eq!(e.last_ban, k.last_ban.max(until), "ban time of {id}");
            }
            Some(_) => assert!(full && !self.book.is_banned(&id), "{id} not banned"),
        }
    }

    fn reinstate(&mut self) {
        let now = self.now;
        let snap = self.book.snapshot();
        let still: BTreeSet<NodeId> = snap
            .iter()
            .filter(|e| self.book.is_banned(&e.addr.id) && e.is_banned_at(now))
            .map(|e| e.addr.id)
            .collect();
        let expired = snap
            .iter()
            .filter(|e| self.book.is_banned(&e.addr.id) && !e.is_banned_at(now))
            .count();
        let n = self.book.reinstate_expired_bans(now);
        assert!(n <= expired);
        let after: BTreeSet<NodeId> = self
            .book
            .snapshot()
            .iter()
            .filter(|e| self.book.is_banned(&e.addr.id))
            .map(|e| e.addr.id)
            .collect();
        assert_eq!(after, still, "bans left after reinstating");
    }

    fn prune(&mut self) {
        let size = self.book.size();
        let n = self.book.prune_stale(self.now);
        assert_eq!(self.book.size() + n, size);
        for e in self.book.snapshot() {
            assert!(
                !self.book.is_bad(&e.addr.id, self.now),
                "{} bad after pruning",
                e.addr
            );
        }
    }

    fn selections(&mut self, bias: u8) {
        let b = &self.book;
        let (size, cfg) = (b.size(), b.config());
        let want = size
            .min(cfg.min_selection)
            .max(size * cfg.selection_percent / 100)
            .min(cfg.max_selection)
            .min(size);
        assert_eq!(b.selection_size(), want, "selection size");
        let plain = b.selection(&mut self.rng);
        let biased = b.selection_with_bias(bias, &mut self.rng);
        for (what, sel) in [("selection", &plain), ("biased selection", &biased)] {
            assert_eq!(sel.len(), want, "{what} length");
            let ids: BTreeSet<NodeId> = sel.iter().map(|a| a.id).collect();
            assert_eq!(ids.len(), sel.len(), "{what} repeats an address");
            for a in sel.iter() {
                let e = b.get(&a.id).filter(|_| b.has(&a.id));
                assert_eq!(e.map(|e| e.addr), Some(*a), "{what}: {a} not live");
            }
        }
        let n = want;
        let want_new = ((usize::from(bias.min(100)) * n + 50) / 100).max(n - n.min(b.old_count()));
        let new = biased
            .iter()
            .filter(|a| b.get(&a.id).is_some_and(|e| e.kind == BucketKind::New))
            .count();
        assert!(
            new >= want_new.min(b.new_count()),
            "biased selection has {new} new"
        );
    }

    fn pick(&mut self, bias: u8) {
        let b = &self.book;
        let picked = b.pick_address(bias, &mut self.rng);
        let kind = picked.map(|a| {
            let e = b
                .get(&a.id)
                .filter(|_| b.has(&a.id))
                .expect("picked a live entry");
            assert_eq!(e.addr, a);
            e.kind
        });
        let (n_new, n_old) = (b.new_count(), b.old_count());
        if b.is_empty() {
            assert_eq!(picked, None);
        } else if bias >= 100 {
            assert_eq!(kind, (n_new > 0).then_some(BucketKind::New), "bias 100");
        } else if bias == 0 {
            let side = if n_old > 0 {
                BucketKind::Old
            } else {
                BucketKind::New
            };
            assert_eq!(kind, Some(side), "bias 0");
        } else if n_new > 0 && n_old > 0 {
            assert!(
                picked.is_some(),
                "nothing picked from a book with both kinds"
            );
        }
    }

    fn add_our_address(&mut self, a: NetAddr) {
        let known = self.ours.contains(&a);
        let result = self.book.add_our_address(a);
        if known || self.ours.len() < 2 {
            assert_eq!(result, Ok(()));
            if !known {
                self.ours.push(a);
            }
        } else {
            assert!(result.is_err(), "more of our addresses than max_our_addrs");
        }
        assert!(self.book.is_our_address(&a) == self.is_ours(&a));
    }

    fn add_private_id(&mut self, id: NodeId) {
        let result = self.book.add_private_ids([id]);
        if self.private.contains(&id) || self.private.len() < 2 {
            assert_eq!(result, Ok(()));
            self.private.insert(id);
            assert!(self.book.get(&id).is_none(), "private {id} still known");
        } else {
            assert!(result.is_err(), "more private IDs than max_private_ids");
        }
    }

    /// `restore` of the snapshot, and the JSON text, give the same book.
    fn round_trip(&mut self) {
        let snap = self.book.snapshot();
        let cfg = *self.book.config();
        let (restored, report) = AddrBook::restore(cfg, self.book.key(), snap.clone(), self.now);
        check_book(&restored);
        assert!(!report.truncated);
        // Restoring decides by the clock who is banned: an expired ban not
        // reinstated yet comes back live, and after the clock stepped back
        // a live entry's old ban can be in the future again.
        let moved =
            (snap.iter()).any(|e| self.book.is_banned(&e.addr.id) != e.is_banned_at(self.now));
        if moved {
            return;
        }
        assert_eq!(restored.snapshot(), snap, "restore(snapshot)");
        assert_eq!((report.dropped, report.rehashed), (0, 0));
        let in_range = snap.iter().all(|e| {
            [e.last_attempt, e.last_success, e.last_ban]
                .iter()
                .all(|t| t.as_micros() <= MAX_JSON_MICROS)
        });
        if in_range {
            let text = self.book.to_json();
            let (loaded, _) = AddrBook::from_json(&text, cfg, self.now).expect("our own JSON");
            assert_eq!(loaded.snapshot(), snap, "addrbook.json round trip");
            assert_eq!(loaded.key(), self.book.key());
        }
    }

    fn check(&self) {
        check_book(&self.book);
        for e in self.book.snapshot() {
            if !self.book.has(&e.addr.id) {
                continue;
            }
            assert!(
                !self.private.contains(&e.addr.id),
                "private {} in the book",
                e.addr
            );
            assert!(
                !self.is_ours(&e.addr),
                "our own address {} in the book",
                e.addr
            );
            if self.always_strict {
                assert!(e.addr.is_routable(), "strict book holds {}", e.addr);
            }
        }
    }
}

/// See the module docs.
pub fn addrbook(data: &[u8]) {
    let mut input = Input::new(data);
    let cfg = setup(&mut input);
    let mut rng = Rng::new(u64::from(input.u8()));
    let book = AddrBook::new(cfg, &mut rng);
    assert_eq!(*book.config(), cfg.sanitized());
    let mut h = Harness {
        cfg: *book.config(),
        book,
        rng,
        now: UnixTime::from_secs(START),
        ours: Vec::new(),
        private: BTreeSet::new(),
        always_strict: cfg.strict,
    };
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        h.op(&mut input);
    }
}
