//! The address book (`mconn::pex`): CometBFT's bucket rules, our hygiene
//! limits, and invariants under random operations.

mod common;
use common::Rng;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::time::Duration;
use std::collections::BTreeSet;

use mconn::identity::{NetAddr, NodeId};
use mconn::pex::{AddError, AddrBook, BookConfig, BucketKind, KnownAddr, UnixTime};
use proptest::prelude::*;

const DAY: Duration = Duration::from_secs(86_400);

fn now() -> UnixTime {
    UnixTime::from_secs(1_748_736_000) // 2025-06-01T00:00:00Z
}

fn node(n: u32) -> NodeId {
    let mut id = [0x5a; 20];
    id[..4].copy_from_slice(&n.to_be_bytes());
    NodeId(id)
}

/// A public IPv4 address whose /24 (and, for i < 80, /16) differs per `i`.
fn public_ip(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        20 + (i % 80) as u8,
        (i / 80 % 256) as u8,
        (i / 20_480) as u8,
        1,
    ))
}

fn at(n: u32, ip: IpAddr) -> NetAddr {
    NetAddr::new(node(n), ip, 26656)
}

fn book() -> (AddrBook, Rng) {
    let mut rng = Rng(1);
    (AddrBook::new(BookConfig::default(), &mut rng), rng)
}

/// A book of `n` addresses, each its own source, in distinct /24s.
fn filled(n: u32, rng: &mut Rng) -> AddrBook {
    let mut b = AddrBook::new(BookConfig::default(), rng);
    for i in 0..n {
        let a = at(i, public_ip(i));
        b.add_address(now(), a, a, rng).unwrap();
    }
    b
}

#[test]
fn rejections_are_typed() {
    let (mut b, mut rng) = book();
    let src = at(1000, public_ip(1000));
    let t = now();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(
        b.add_address(t, at(1, ip("0.0.0.0")), src, &mut rng),
        Err(AddError::Invalid)
    );
    assert_eq!(
        b.add_address(t, at(1, ip("2001:db8::1")), src, &mut rng),
        Err(AddError::Invalid)
    );
    assert_eq!(
        b.add_address(t, at(1, ip("255.255.255.255")), src, &mut rng),
        Err(AddError::Invalid)
    );
    assert_eq!(
        b.add_address(t, at(1, ip("10.0.0.1")), src, &mut rng),
        Err(AddError::NonRoutable)
    );
    assert_eq!(
        b.add_address(t, at(1, ip("127.0.0.1")), src, &mut rng),
        Err(AddError::NonRoutable)
    );

    b.add_private_ids([node(2), node(3)]).unwrap();
    assert_eq!(
        b.add_address(t, at(2, public_ip(2)), src, &mut rng),
        Err(AddError::PrivateId)
    );
    assert_eq!(
        b.add_address(t, at(4, public_ip(4)), at(3, public_ip(3)), &mut rng),
        Err(AddError::PrivateSource)
    );

    let ours = at(5, public_ip(5));
    b.add_address(t, ours, src, &mut rng).unwrap();
    b.add_our_address(ours).unwrap();
    assert!(!b.has(&ours.id), "a known entry that is ours is dropped");
    assert_eq!(b.add_address(t, ours, src, &mut rng), Err(AddError::Ours));
    assert_eq!(
        b.add_address(t, at(5, public_ip(6)), src, &mut rng),
        Err(AddError::Ours),
        "our ID elsewhere"
    );
    assert_eq!(
        b.add_address(t, at(6, public_ip(5)), src, &mut rng),
        Err(AddError::Ours),
        "our IP and port"
    );

    let good = at(7, public_ip(7));
    assert_eq!(b.add_address(t, good, src, &mut rng), Ok(true));
    b.mark_good(t, &good.id);
    assert_eq!(
        b.add_address(t, good, src, &mut rng),
        Err(AddError::AlreadyOld)
    );
    assert!(b.mark_bad(t, &good.id, DAY));
    assert_eq!(b.add_address(t, good, src, &mut rng), Err(AddError::Banned));
    assert_eq!(b.size(), 0);

    // Non-strict books take private and local addresses.
    b.set_strict(false);
    assert_eq!(
        b.add_address(t, at(8, ip("10.0.0.1")), src, &mut rng),
        Ok(true)
    );
    assert_eq!(
        b.add_address(t, at(9, ip("127.0.0.1")), src, &mut rng),
        Ok(true)
    );
    assert_eq!(
        b.add_address(t, at(9, ip("0.0.0.0")), src, &mut rng),
        Err(AddError::Invalid)
    );
}

#[test]
fn one_source_group_reaches_at_most_32_new_buckets() {
    let (mut b, mut rng) = book();
    // Sources all in 5.6.0.0/16, addresses in many groups.
    for i in 0..3000u32 {
        let src = at(
            100_000 + i,
            IpAddr::V4(Ipv4Addr::new(5, 6, (i % 256) as u8, (i / 256) as u8 + 1)),
        );
        let _ = b.add_address(now(), at(i, public_ip(i)), src, &mut rng);
    }
    let used: BTreeSet<u16> = b
        .snapshot()
        .iter()
        .flat_map(|e| e.buckets.to_vec())
        .collect();
    assert!(used.len() <= 32, "{} buckets", used.len());
    assert!(
        used.len() >= 25,
        "the 32 slots should nearly all be hit: {}",
        used.len()
    );

    // Many source groups spread far wider (the bound above is not vacuous).
    let (mut wide, mut rng) = book();
    for i in 0..3000u32 {
        let a = at(i, public_ip(i));
        let _ = wide.add_address(now(), a, a, &mut rng);
    }
    let used: BTreeSet<u16> = wide
        .snapshot()
        .iter()
        .flat_map(|e| e.buckets.to_vec())
        .collect();
    assert!(used.len() > 200, "{}", used.len());
}

#[test]
fn one_address_reaches_at_most_4_new_buckets() {
    let (mut b, mut rng) = book();
    let a = at(1, public_ip(1));
    let mut results = Vec::new();
    for i in 0..2000u32 {
        results.push(b.add_address(now(), a, at(10_000 + i, public_ip(100 + i)), &mut rng));
    }
    let e = b.get(&a.id).unwrap();
    assert_eq!(e.buckets.len(), 4);
    assert_eq!(
        e.src,
        at(10_000, public_ip(100)),
        "the first source is kept"
    );
    assert_eq!(results.iter().filter(|r| **r == Ok(true)).count(), 4);
    assert_eq!(results.last(), Some(&Err(AddError::MaxBuckets)));
    for bucket in &e.buckets {
        assert!(b.bucket(BucketKind::New, *bucket).contains(&a.id));
    }
    assert_eq!(b.size(), 1, "counted once however many buckets");
}

#[test]
fn a_known_id_keeps_its_first_address() {
    let (mut b, mut rng) = book();
    let first = at(1, public_ip(1));
    b.add_address(now(), first, first, &mut rng).unwrap();
    for i in 0..50 {
        let _ = b.add_address(
            now(),
            at(1, public_ip(2 + i)),
            at(99, public_ip(90)),
            &mut rng,
        );
    }
    assert_eq!(b.get(&first.id).unwrap().addr, first);
}

fn expected_selection(size: usize) -> usize {
    size.min(32).max(size * 23 / 100).min(250)
}

#[test]
fn selection_sizes_follow_cometbft() {
    let mut rng = Rng(9);
    let b = filled(1200, &mut rng);
    let size = b.size();
    assert!(size > 1100, "few evictions expected: {size}");
    let sel = b.selection(&mut rng);
    assert_eq!(sel.len(), expected_selection(size));
    assert_eq!(
        sel.iter().collect::<BTreeSet<_>>().len(),
        sel.len(),
        "distinct"
    );
    assert!(sel.iter().all(|a| b.has(&a.id)));

    for n in [0u32, 1, 10, 32, 33, 100, 139, 140, 200] {
        let b = filled(n, &mut rng);
        assert_eq!(b.size(), n as usize);
        assert_eq!(
            b.selection_size(),
            expected_selection(n as usize),
            "size {n}"
        );
        assert_eq!(
            b.selection(&mut rng).len(),
            expected_selection(n as usize),
            "size {n}"
        );
    }
    assert_eq!(expected_selection(140), 32);
    assert_eq!(expected_selection(200), 46);
    assert_eq!(expected_selection(1200), 250);
}

#[test]
fn selection_is_uniform() {
    let mut rng = Rng(3);
    let b = filled(100, &mut rng);
    let mut hits = std::collections::BTreeMap::<NodeId, u32>::new();
    let rounds = 2000;
    for _ in 0..rounds {
        for a in b.selection(&mut rng) {
            *hits.entry(a.id).or_default() += 1;
        }
    }
    // Each of 100 entries is in a 32-selection with p = 0.32: mean 640.
    assert_eq!(hits.len(), 100);
    assert!(hits.values().all(|&h| (500..780).contains(&h)), "{hits:?}");
}

#[test]
fn selection_with_bias_prefers_new_entries() {
    let mut rng = Rng(4);
    let mut b = filled(200, &mut rng);
    let ids: Vec<NodeId> = b.snapshot().iter().map(|e| e.addr.id).collect();
    for id in &ids[..100] {
        b.mark_good(now(), id);
    }
    let (n_old, n_new) = (b.old_count(), b.new_count());
    assert!(n_old > 90 && n_new == 200 - n_old, "{n_old} {n_new}");
    let n = b.selection_size();
    for bias in [0u8, 30, 50, 100, 200] {
        let sel = b.selection_with_bias(bias, &mut rng);
        assert_eq!(sel.len(), n, "bias {bias}");
        let new = sel
            .iter()
            .filter(|a| b.get(&a.id).unwrap().kind == BucketKind::New)
            .count();
        let b100 = usize::from(bias.min(100));
        assert_eq!(
            new,
            ((b100 * n + 50) / 100).max(n.saturating_sub(n_old)),
            "bias {bias}"
        );
        assert_eq!(sel.iter().collect::<BTreeSet<_>>().len(), n);
    }
}

#[test]
fn pick_address_follows_the_bias() {
    let mut rng = Rng(5);
    let mut b = filled(50, &mut rng);
    assert_eq!(
        AddrBook::new(BookConfig::default(), &mut rng).pick_address(50, &mut rng),
        None
    );
    let ids: Vec<NodeId> = b.snapshot().iter().map(|e| e.addr.id).collect();
    for id in &ids[..25] {
        b.mark_good(now(), id);
    }
    let kind_of = |b: &AddrBook, a: NetAddr| b.get(&a.id).unwrap().kind;
    let mut counts = [0u32; 2];
    for _ in 0..400 {
        assert_eq!(
            kind_of(&b, b.pick_address(100, &mut rng).unwrap()),
            BucketKind::New
        );
        assert_eq!(
            kind_of(&b, b.pick_address(0, &mut rng).unwrap()),
            BucketKind::Old
        );
        let k = kind_of(&b, b.pick_address(50, &mut rng).unwrap());
        counts[usize::from(k == BucketKind::New)] += 1;
    }
    // Equal sides, bias 50: about half each.
    assert!(counts[0] > 140 && counts[1] > 140, "{counts:?}");
    // Both weights zero (bias 0, no old entries): the new side, as in Go.
    let only_new = filled(5, &mut rng);
    assert!(only_new.pick_address(0, &mut rng).is_some());
    // Bias 100 but only old entries: Go gives up (the new side is empty).
    let mut only_old = filled(5, &mut rng);
    for i in 0..5 {
        only_old.mark_good(now(), &node(i));
    }
    assert_eq!(only_old.pick_address(100, &mut rng), None);
    assert!(only_old.pick_address(99, &mut rng).is_some());
}

#[test]
fn bans_last_until_they_expire() {
    let (mut b, mut rng) = book();
    let a = at(1, public_ip(1));
    let t = now();
    assert!(!b.mark_bad(t, &a.id, DAY), "unknown IDs are not banned");
    b.add_address(t, a, a, &mut rng).unwrap();
    b.mark_attempt(t, &a.id);
    assert!(b.mark_bad(t, &a.id, DAY * 2));
    assert!(b.is_banned(&a.id) && !b.has(&a.id) && b.size() == 0);
    assert_eq!(
        b.bucket(BucketKind::New, b.get(&a.id).unwrap().buckets[0]),
        &[] as &[NodeId]
    );
    // A shorter ban never moves the ban time earlier; a longer one extends it.
    assert!(b.mark_bad(t, &a.id, DAY));
    assert_eq!(b.get(&a.id).unwrap().last_ban, t.saturating_add(DAY * 2));
    assert!(b.mark_bad(t, &a.id, DAY * 3));
    assert_eq!(b.get(&a.id).unwrap().last_ban, t.saturating_add(DAY * 3));

    assert_eq!(b.reinstate_expired_bans(t.saturating_add(DAY * 2)), 0);
    assert!(
        b.is_banned(&a.id),
        "still banned after the time until reinstated"
    );
    assert_eq!(b.reinstate_expired_bans(t.saturating_add(DAY * 3)), 1);
    assert!(!b.is_banned(&a.id) && b.has(&a.id));
    let e = b.get(&a.id).unwrap();
    assert_eq!(
        (e.kind, e.buckets.len(), e.attempts),
        (BucketKind::New, 1, 1)
    );
    assert!(b.bucket(BucketKind::New, e.buckets[0]).contains(&a.id));

    // An old entry comes back new (its earlier, later ban time still holds).
    b.mark_good(t, &a.id);
    assert!(b.mark_bad(t, &a.id, DAY));
    assert_eq!(b.reinstate_expired_bans(t.saturating_add(DAY)), 0);
    assert_eq!(b.reinstate_expired_bans(t.saturating_add(DAY * 3)), 1);
    assert_eq!(b.get(&a.id).unwrap().kind, BucketKind::New);
    assert_eq!((b.new_count(), b.old_count()), (1, 0));
}

#[test]
fn the_ban_list_is_bounded() {
    let mut rng = Rng(6);
    let cfg = BookConfig {
        max_banned: 3,
        ..BookConfig::default()
    };
    let mut b = AddrBook::new(cfg, &mut rng);
    for i in 0..5u32 {
        let a = at(i, public_ip(i));
        b.add_address(now(), a, a, &mut rng).unwrap();
    }
    for i in 0..3u32 {
        assert!(b.mark_bad(now(), &node(i), DAY * (i + 2)));
    }
    // Expires before all three: not remembered (but out of the buckets).
    assert!(!b.mark_bad(now(), &node(3), DAY));
    assert!(!b.has(&node(3)) && !b.is_banned(&node(3)));
    // Expires after the earliest: replaces it.
    assert!(b.mark_bad(now(), &node(4), DAY * 10));
    assert_eq!(b.banned_count(), 3);
    assert!(!b.is_banned(&node(0)) && b.is_banned(&node(4)));
}

fn entry(
    kind: BucketKind,
    attempts: u32,
    last_attempt: UnixTime,
    last_success: UnixTime,
) -> KnownAddr {
    let a = at(1, public_ip(1));
    KnownAddr {
        attempts,
        last_attempt,
        last_success,
        kind,
        ..KnownAddr::new(a, a, last_attempt)
    }
}

#[test]
fn is_bad_rules() {
    let cfg = BookConfig::default();
    let t = now();
    let ago = |d: Duration| t.saturating_sub(d);
    let never = UnixTime::NEVER;
    let min = Duration::from_secs(60);
    // (kind, attempts, last attempt, last success, bad)
    let table = [
        (BucketKind::Old, 100, ago(DAY * 30), never, false),
        (
            BucketKind::New,
            100,
            ago(Duration::from_secs(30)),
            never,
            false,
        ),
        (BucketKind::New, 0, ago(DAY * 8), never, true),
        (BucketKind::New, 0, ago(DAY * 6), never, false),
        (BucketKind::New, 3, ago(min * 2), never, true),
        (BucketKind::New, 2, ago(min * 2), never, false),
        (BucketKind::New, 3, ago(min * 2), ago(DAY), false),
        (BucketKind::New, 10, ago(min * 2), ago(DAY * 8), true),
        (BucketKind::New, 9, ago(min * 2), ago(DAY * 8), false),
        (BucketKind::New, 10, ago(min * 2), ago(DAY * 6), false),
    ];
    for (i, (kind, attempts, last_attempt, last_success, bad)) in table.into_iter().enumerate() {
        assert_eq!(
            entry(kind, attempts, last_attempt, last_success).is_bad(t, &cfg),
            bad,
            "row {i}"
        );
    }
}

#[test]
fn prune_stale_removes_bad_entries_only() {
    let mut rng = Rng(8);
    let mut b = filled(10, &mut rng);
    let later = now().saturating_add(Duration::from_secs(3600));
    for _ in 0..3 {
        b.mark_attempt(now(), &node(1));
    }
    b.mark_good(now(), &node(2));
    for _ in 0..3 {
        b.mark_attempt(now(), &node(2));
    }
    assert!(b.is_bad(&node(1), later) && !b.is_bad(&node(2), later));
    assert_eq!(b.prune_stale(later), 1);
    assert!(!b.has(&node(1)) && b.size() == 9);
    // A week without attempts makes every new entry bad.
    assert_eq!(b.prune_stale(now().saturating_add(DAY * 8)), 8);
    assert_eq!((b.size(), b.old_count()), (1, 1));
}

#[test]
fn subnet_cap_limits_one_operator() {
    let (mut b, mut rng) = book();
    let src = at(9999, public_ip(9999));
    let v4 = |i: u32, c: u8| at(i, IpAddr::V4(Ipv4Addr::new(51, 15, c, i as u8)));
    for i in 0..16 {
        assert_eq!(b.add_address(now(), v4(i, 3), src, &mut rng), Ok(true));
    }
    assert_eq!(
        b.add_address(now(), v4(16, 3), src, &mut rng),
        Err(AddError::SubnetFull)
    );
    assert_eq!(
        b.add_address(now(), v4(17, 4), src, &mut rng),
        Ok(true),
        "next /24 is free"
    );
    assert!(b.remove(&node(0)));
    assert_eq!(b.add_address(now(), v4(16, 3), src, &mut rng), Ok(true));
    // A banned entry leaves room; it is forgotten if the room is gone when
    // its ban expires.
    assert!(b.mark_bad(now(), &node(1), DAY));
    assert_eq!(b.add_address(now(), v4(18, 3), src, &mut rng), Ok(true));
    assert_eq!(b.reinstate_expired_bans(now().saturating_add(DAY)), 0);
    assert!(!b.is_banned(&node(1)) && !b.has(&node(1)));

    let v6 = |i: u32, site: u16| {
        at(
            100 + i,
            IpAddr::V6(Ipv6Addr::new(0x2a01, 0x4f8, site, i as u16, 0, 0, 0, 1)),
        )
    };
    for i in 0..16 {
        assert_eq!(b.add_address(now(), v6(i, 7), src, &mut rng), Ok(true));
    }
    assert_eq!(
        b.add_address(now(), v6(16, 7), src, &mut rng),
        Err(AddError::SubnetFull)
    );
    assert_eq!(b.add_address(now(), v6(17, 8), src, &mut rng), Ok(true));

    // Loopback (a local testnet, non-strict) is exempt.
    b.set_strict(false);
    for i in 0..40 {
        let a = NetAddr::new(
            node(1000 + i),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            26656 + i as u16,
        );
        assert_eq!(b.add_address(now(), a, a, &mut rng), Ok(true));
    }
}

#[test]
fn mark_good_moves_to_old_and_demotes_when_full() {
    let mut rng = Rng(10);
    // One old bucket of two: the third promotion demotes the oldest.
    let cfg = BookConfig {
        old_bucket_count: 1,
        old_bucket_size: 2,
        ..BookConfig::default()
    };
    let mut b = AddrBook::new(cfg, &mut rng);
    for i in 0..3u32 {
        let a = at(i, public_ip(i));
        b.add_address(now(), a, a, &mut rng).unwrap();
    }
    for i in 0..3u32 {
        b.mark_good(
            now().saturating_add(Duration::from_secs(u64::from(i))),
            &node(i),
        );
    }
    assert_eq!((b.old_count(), b.new_count()), (2, 1));
    let e0 = b.get(&node(0)).unwrap();
    assert_eq!((e0.kind, e0.attempts), (BucketKind::New, 0));
    assert!(b.bucket(BucketKind::New, e0.buckets[0]).contains(&node(0)));
    assert_eq!(b.bucket(BucketKind::Old, 0), &[node(1), node(2)]);
    assert_eq!(
        b.get(&node(2)).unwrap().last_success,
        now().saturating_add(Duration::from_secs(2))
    );
}

#[test]
fn full_new_bucket_evicts_bad_then_oldest() {
    let mut rng = Rng(11);
    let cfg = BookConfig {
        new_bucket_count: 1,
        new_bucket_size: 3,
        max_per_subnet: usize::MAX,
        ..BookConfig::default()
    };
    let mut b = AddrBook::new(cfg, &mut rng);
    let add = |b: &mut AddrBook, rng: &mut Rng, i: u32, t: UnixTime| {
        let a = at(i, public_ip(i));
        b.add_address(t, a, a, rng).unwrap();
    };
    let t = |s: u64| now().saturating_add(Duration::from_secs(s));
    add(&mut b, &mut rng, 0, t(0));
    add(&mut b, &mut rng, 1, t(10));
    add(&mut b, &mut rng, 2, t(20));
    add(&mut b, &mut rng, 3, t(30));
    assert!(!b.has(&node(0)), "oldest last attempt evicted");
    for _ in 0..3 {
        b.mark_attempt(t(40), &node(3));
    }
    add(&mut b, &mut rng, 4, t(200));
    assert!(
        !b.has(&node(3)) && b.has(&node(1)),
        "a bad entry goes before the oldest"
    );
    assert_eq!(b.size(), 3);
}

#[derive(Clone, Debug)]
enum Op {
    Add(u8, u8, u8),
    Good(u8),
    Attempt(u8),
    Bad(u8, u8),
    Reinstate,
    Remove(u8),
    Prune,
    Tick(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(a, ip, s)| Op::Add(a, ip, s)),
        2 => any::<u8>().prop_map(Op::Good),
        2 => any::<u8>().prop_map(Op::Attempt),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, d)| Op::Bad(a, d)),
        1 => Just(Op::Reinstate),
        1 => any::<u8>().prop_map(Op::Remove),
        1 => Just(Op::Prune),
        1 => any::<u16>().prop_map(Op::Tick),
    ]
}

/// Every structural invariant visible through the public API.
fn check(b: &AddrBook) -> Result<(), TestCaseError> {
    let cfg = *b.config();
    let snap = b.snapshot();
    let live: Vec<&KnownAddr> = snap.iter().filter(|e| !b.is_banned(&e.addr.id)).collect();
    prop_assert_eq!(live.len(), b.size());
    prop_assert!(b.size() <= cfg.capacity());
    prop_assert!(b.banned_count() <= cfg.max_banned);
    prop_assert_eq!(snap.len(), b.size() + b.banned_count());
    let new = live.iter().filter(|e| e.kind == BucketKind::New).count();
    prop_assert_eq!(new, b.new_count());
    let mut refs = [0usize; 2];
    for e in &live {
        prop_assert!(!e.buckets.is_empty());
        let max = if e.kind == BucketKind::New {
            cfg.max_new_buckets_per_addr
        } else {
            1
        };
        prop_assert!(e.buckets.len() <= max);
        for bkt in &e.buckets {
            prop_assert!(b.bucket(e.kind, *bkt).contains(&e.addr.id));
        }
        refs[usize::from(e.kind == BucketKind::Old)] += e.buckets.len();
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
            prop_assert!(bucket.len() <= size);
            in_buckets[k] += bucket.len();
        }
    }
    prop_assert_eq!(refs, in_buckets);
    let mut per_subnet = std::collections::BTreeMap::new();
    for e in &live {
        if e.addr.is_routable() {
            *per_subnet.entry(e.addr.subnet()).or_insert(0usize) += 1;
        }
    }
    prop_assert!(per_subnet.values().all(|&n| n <= cfg.max_per_subnet));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn bounds_hold_under_random_operations(ops in proptest::collection::vec(op(), 1..300), seed: u64) {
        let cfg = BookConfig {
            new_bucket_count: 4,
            new_bucket_size: 3,
            old_bucket_count: 2,
            old_bucket_size: 2,
            new_buckets_per_group: 3,
            old_buckets_per_group: 2,
            max_per_subnet: 3,
            max_banned: 4,
            ..BookConfig::default()
        };
        let mut rng = Rng(seed);
        let mut b = AddrBook::new(cfg, &mut rng);
        let mut t = now();
        // Addresses from 64 IDs over 8 /24s in 4 /16s, so every limit is hit.
        let addr = |a: u8, ip: u8| {
            at(u32::from(a % 64), IpAddr::V4(Ipv4Addr::new(31, ip % 4, ip / 4 % 2, a)))
        };
        for op in ops {
            match op {
                Op::Add(a, ip, s) => {
                    let _ = b.add_address(t, addr(a, ip), addr(s, s), &mut rng);
                }
                Op::Good(a) => b.mark_good(t, &node(u32::from(a % 64))),
                Op::Attempt(a) => b.mark_attempt(t, &node(u32::from(a % 64))),
                Op::Bad(a, d) => {
                    b.mark_bad(t, &node(u32::from(a % 64)), Duration::from_secs(u64::from(d) * 60));
                }
                Op::Reinstate => {
                    b.reinstate_expired_bans(t);
                }
                Op::Remove(a) => {
                    b.remove(&node(u32::from(a % 64)));
                }
                Op::Prune => {
                    b.prune_stale(t);
                }
                Op::Tick(s) => t = t.saturating_add(Duration::from_secs(u64::from(s) * 60)),
            }
            check(&b)?;
            let sel = b.selection(&mut rng);
            prop_assert_eq!(sel.len(), b.selection_size());
            prop_assert_eq!(b.selection_with_bias(30, &mut rng).len(), b.selection_size());
            if let Some(p) = b.pick_address(50, &mut rng) {
                prop_assert!(b.has(&p.id));
            }
            // Saving and restoring keeps everything (while no ban has
            // expired unreinstated: restoring such an entry makes it live).
            let snap = b.snapshot();
            if snap.iter().all(|e| !b.is_banned(&e.addr.id) || e.is_banned_at(t)) {
                let (reloaded, report) = AddrBook::restore(cfg, b.key(), snap.clone(), t);
                prop_assert_eq!(reloaded.snapshot(), snap);
                prop_assert_eq!((report.dropped, report.rehashed), (0, 0));
            }
        }
    }
}
