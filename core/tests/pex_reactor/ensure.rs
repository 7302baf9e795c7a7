//! `ensure_peers`: dialling towards the target, bias, backoff, seeds.

use super::*;

// ---- ensure_peers ----------------------------------------------------------

pub(crate) fn ensure_cfg() -> PexConfig {
    PexConfig {
        ensure_peers_period: Duration::from_millis(100),
        ..PexConfig::default()
    }
}

#[test]
fn ensure_peers_dials_towards_the_target() {
    let mut m = machine(ensure_cfg());
    fill_book(&mut m, (10..60).map(addr));
    let mut view = View::new(10);
    view.out = 3;
    view.dialing = 2;
    view.busy.insert(id(10)); // already connected: never dialled
                              // First round: we have some peers, so it is delayed by U[0, period).
    m.handle_timeout(at(0), &view);
    assert!(drain(&mut m).is_empty());
    m.handle_timeout(at(1), &view);
    let first = dials(&drain(&mut m));
    assert!(!first.is_empty() && first.len() <= 5, "{first:?}");
    // Dials just asked for count as in flight even before the switch
    // counts them: 10 − (3 + 2) = 5 in all.
    m.handle_timeout(at(2), &view);
    let second = dials(&drain(&mut m));
    let all: Vec<NetAddr> = first.iter().chain(&second).copied().collect();
    assert_eq!(all.len(), 5, "{all:?}");
    assert!(all.iter().all(|a| a.id != id(10)));
    let distinct: BTreeSet<_> = all.iter().map(|a| a.id).collect();
    assert_eq!(distinct.len(), 5);
    // Once the switch counts them too, nothing more until they report.
    view.dialing = 2 + 5;
    m.handle_timeout(at(3), &view);
    assert!(dials(&drain(&mut m)).is_empty());
    let first = all;
    // They are done (no longer dialing), new round fills up again.
    for a in &first {
        m.dialed(at(2), a);
    }
    view.dialing = 0;
    view.out = 10;
    m.handle_timeout(at(4), &view);
    assert!(drain(&mut m).is_empty(), "at the target nothing happens");
}

#[test]
fn ensure_peers_bias_follows_the_outbound_count() {
    // 30 old and 30 new entries; bias = min(out, 8)·10 + 10.
    let new_fraction = |out: usize| {
        let mut m = machine(ensure_cfg());
        fill_book(&mut m, (10..70).map(addr));
        for i in 10..40 {
            m.book_mut().mark_good(WALL, &id(i));
        }
        assert_eq!((m.book().old_count(), m.book().new_count()), (30, 30));
        let mut view = View::new(out + 1);
        view.out = out;
        let (mut new, mut total) = (0, 0);
        for round in 0..600u64 {
            m.handle_timeout(at(round), &view);
            for a in dials(&drain(&mut m)) {
                total += 1;
                if m.book().get(&a.id).unwrap().kind == BucketKind::New {
                    new += 1;
                }
                m.dialed(at(round), &a);
            }
        }
        assert!(total >= 500, "{total}");
        new as f64 / total as f64
    };
    let low = new_fraction(0); // bias 10
    let mid = new_fraction(4); // bias 50
    let high = new_fraction(9); // bias 90
    assert!(low < 0.2, "{low}");
    assert!((0.4..0.6).contains(&mid), "{mid}");
    assert!(high > 0.8, "{high}");
}

#[test]
fn dial_backoff_and_give_up() {
    let mut m = machine(ensure_cfg());
    let target = addr(10);
    fill_book(&mut m, [target]);
    let view = View::new(10);
    m.handle_timeout(at(0), &view); // idle: the first round runs at once
    assert_eq!(dials(&drain(&mut m)), vec![target]);
    let mut last_fail = at(0);
    m.dial_failed(last_fail, &target);
    for failures in 1..=16u32 {
        assert_eq!(m.dial_attempts(&target), failures);
        assert_eq!(m.book().get(&target.id).unwrap().attempts, failures);
        // Never before 2^failures s; always by 2^failures + 1 s.
        let early = last_fail + (Duration::from_secs(1 << failures) - Duration::from_millis(1));
        m.handle_timeout(early, &view);
        assert!(
            dials(&drain(&mut m)).is_empty(),
            "dialled early after {failures} failures"
        );
        let due = last_fail + Duration::from_secs((1 << failures) + 1);
        m.handle_timeout(due, &view);
        assert_eq!(
            dials(&drain(&mut m)),
            vec![target],
            "not dialled after {failures} failures"
        );
        last_fail = due;
        m.dial_failed(last_fail, &target);
    }
    // 17 failures (> maxAttemptsToDial): the next pick bans it for 24 h.
    assert_eq!(m.dial_attempts(&target), 17);
    m.handle_timeout(last_fail + Duration::from_secs(1 << 18), &view);
    assert!(dials(&drain(&mut m)).is_empty());
    assert!(m.book().is_banned(&target.id));
    assert_eq!(
        m.dial_attempts(&target),
        0,
        "its history is dropped with the ban"
    );
}

#[test]
fn persistent_peers_are_never_given_up_and_their_backoff_is_capped() {
    let cfg = PexConfig {
        persistent_max_dial_period: Duration::from_secs(10),
        ..ensure_cfg()
    };
    let mut m = machine(cfg);
    let target = addr(10);
    fill_book(&mut m, [target]);
    let mut view = View::new(10);
    view.persistent.insert(target.id);
    m.handle_timeout(at(0), &view);
    assert_eq!(dials(&drain(&mut m)).len(), 1);
    for _ in 0..20 {
        m.dial_failed(at(0), &target);
    }
    m.handle_timeout(at(9), &view);
    assert!(dials(&drain(&mut m)).is_empty());
    m.handle_timeout(at(10), &view);
    assert_eq!(dials(&drain(&mut m)), vec![target]);
    assert!(!m.book().is_banned(&target.id));
}

#[test]
fn success_clears_the_dial_history() {
    let mut m = machine(ensure_cfg());
    let target = addr(10);
    fill_book(&mut m, [target]);
    let view = View::new(10);
    m.handle_timeout(at(0), &view);
    drain(&mut m);
    m.dial_failed(at(0), &target);
    m.dial_failed(at(0), &target);
    assert_eq!(m.dial_attempts(&target), 2);
    m.dialed(at(1), &target);
    assert_eq!(m.dial_attempts(&target), 0);
    // Refusals by our own switch cost nothing.
    m.dial_refused(at(1), &target, Refusal::TooManyOutbound);
    assert_eq!(m.dial_attempts(&target), 0);
}

#[test]
fn dialling_ourselves_forgets_the_address() {
    let mut m = machine(ensure_cfg());
    let me = addr(10);
    fill_book(&mut m, [me]);
    m.dial_refused(at(0), &me, Refusal::SelfConnection);
    assert!(!m.book().has(&me.id));
    assert!(m.book().is_our_address(&me));
}

#[test]
fn seeds_are_dialled_when_the_book_is_empty_one_at_a_time() {
    let seeds = vec![addr(1), addr(2), addr(3)];
    let mut m = machine(PexConfig {
        seeds: seeds.clone(),
        ..ensure_cfg()
    });
    let view = View::new(10);
    assert!(m.can_bootstrap());
    m.handle_timeout(at(0), &view);
    let mut tried = Vec::new();
    let first = dials(&drain(&mut m));
    assert_eq!(first.len(), 1);
    tried.extend(first);
    // A failed seed makes way for the next; each once.
    for _ in 0..2 {
        m.dial_failed(at(0), tried.last().unwrap());
        let next = dials(&drain(&mut m));
        assert_eq!(next.len(), 1);
        tried.extend(next);
    }
    m.dial_failed(at(0), tried.last().unwrap());
    assert!(drain(&mut m).is_empty());
    let set: BTreeSet<_> = tried.iter().copied().collect();
    assert_eq!(set, seeds.iter().copied().collect());
    // Seed failures do not feed the dial history.
    assert!(seeds.iter().all(|s| m.dial_attempts(s) == 0));
    // The next round tries them again, in a (possibly) new order.
    m.handle_timeout(at(1), &view);
    assert_eq!(dials(&drain(&mut m)).len(), 1);
}

#[test]
fn seed_order_is_random() {
    let seeds: Vec<NetAddr> = (1..=4).map(addr).collect();
    let firsts: BTreeSet<NetAddr> = (0..40u64)
        .map(|s| {
            let mut m = machine_seeded(
                PexConfig {
                    seeds: seeds.clone(),
                    ..ensure_cfg()
                },
                s,
            );
            m.handle_timeout(at(0), &View::new(10));
            dials(&drain(&mut m))[0]
        })
        .collect();
    assert!(firsts.len() >= 3, "{firsts:?}");
}

#[test]
fn a_seeds_answer_triggers_ensure_peers_at_once() {
    let seed = addr(1);
    let mut m = machine(PexConfig {
        seeds: vec![seed],
        ..PexConfig::default()
    });
    let mut view = View::new(10);
    m.handle_timeout(at(0), &view);
    assert_eq!(dials(&drain(&mut m)), vec![seed]);
    m.dialed(at(1), &seed);
    m.peer_added(at(1), outbound(1));
    view.out = 1;
    view.busy.insert(seed.id);
    assert!(is_request(&sends_to(&drain(&mut m), seed.id)[0]));
    let news: Vec<NetAddr> = (10..15).map(addr).collect();
    m.receive(at(2), &seed.id, &addrs_msg(&news));
    // Not waiting the 30 s period.
    assert_eq!(m.poll_timeout(), Some(at(2)));
    m.handle_timeout(at(2), &view);
    let dialled: BTreeSet<_> = dials(&drain(&mut m)).into_iter().collect();
    assert_eq!(dialled, news.into_iter().collect());
    assert!(m.poll_timeout().unwrap() > at(2));
}

#[test]
fn expired_bans_are_reinstated_when_the_book_needs_addresses() {
    let mut m = machine(ensure_cfg());
    fill_book(&mut m, [addr(10)]);
    m.book_mut().mark_bad(WALL, &id(10), DAY);
    let mut view = View::new(10);
    view.out = 1;
    m.handle_timeout(at(0), &view);
    m.handle_timeout(at(3600), &view);
    drain(&mut m);
    assert!(m.book().is_banned(&id(10)));
    m.handle_timeout(at(24 * 3600 + 1), &view);
    assert!(!m.book().is_banned(&id(10)) && m.book().has(&id(10)));
}

#[test]
fn random_peer_is_asked_each_round() {
    let mut m = machine(ensure_cfg());
    let mut view = View::new(10);
    for i in 1..=5 {
        m.peer_added(at(0), inbound(i));
        view.busy.insert(id(i));
    }
    // Inbound peers are in the book, but connected: nothing to dial.
    m.handle_timeout(at(0), &view);
    let mut asked = BTreeSet::new();
    for t in 1..40 {
        m.handle_timeout(at(t), &view);
        for a in drain(&mut m) {
            if let PexAction::Send { to, msg } = a {
                assert!(is_request(&msg));
                asked.insert(to);
                m.receive(at(t), &to, &addrs_msg(&[]));
            }
        }
    }
    assert_eq!(asked.len(), 5, "{asked:?}");
}

#[test]
fn save_book_is_asked_for_periodically() {
    let mut m = machine(PexConfig::default());
    let view = View::new(0);
    m.handle_timeout(at(0), &view);
    assert!(!drain(&mut m).contains(&PexAction::SaveBook));
    assert!(m.poll_timeout().unwrap() <= at(120));
    let mut saves = 0;
    let mut now = at(0);
    for _ in 0..100 {
        now = m.poll_timeout().unwrap().max(now);
        if now > at(600) {
            break;
        }
        m.handle_timeout(now, &view);
        saves += drain(&mut m)
            .iter()
            .filter(|a| **a == PexAction::SaveBook)
            .count();
    }
    assert_eq!(saves, 5, "every 2 min over 10 min");
}
