//! Seed mode, and the bounds on what the machine keeps.

use super::ensure::ensure_cfg;
use super::*;

// ---- seed mode -------------------------------------------------------------

fn seed_cfg() -> PexConfig {
    PexConfig {
        seed_mode: true,
        ..PexConfig::default()
    }
}

#[test]
fn seed_answers_inbound_once_then_disconnects() {
    let mut m = machine(seed_cfg());
    fill_book(&mut m, (10..110).map(addr));
    m.peer_added(at(0), inbound(1));
    let got = m.receive(at(0), &id(1), &request_msg());
    let actions = drain(&mut m);
    assert_eq!(actions.len(), 2, "{actions:?}");
    let PexAction::Send { to, msg } = &actions[0] else {
        panic!("{actions:?}")
    };
    assert_eq!(*to, id(1));
    let n = decoded_addrs(msg).len();
    assert_eq!(got, Received::Answered { addrs: n });
    assert_eq!(n, m.book().selection_size());
    assert_eq!(actions[1], PexAction::DisconnectAfterSend { id: id(1) });
    // Asking again before it is gone: ignored, never punished.
    for t in 0..3 {
        assert_eq!(m.receive(at(t), &id(1), &request_msg()), Received::Ignored);
    }
    assert!(drain(&mut m).is_empty());
}

#[test]
fn seed_crawls_asks_and_hangs_up() {
    let mut m = machine(seed_cfg());
    fill_book(&mut m, (10..20).map(addr));
    let view = View::new(10);
    m.handle_timeout(at(0), &view);
    let crawled = dials(&drain(&mut m));
    assert_eq!(crawled.len(), 10, "{crawled:?}");
    // One is reached: asked at once (seeds always ask), hung up on once it answered.
    let first = crawled[0];
    m.dialed(at(1), &first);
    let i = (10..20).find(|i| id(*i) == first.id).unwrap();
    m.peer_added(at(1), outbound(i));
    assert!(is_request(&sends_to(&drain(&mut m), first.id)[0]));
    m.receive(at(2), &first.id, &addrs_msg(&[addr(50)]));
    assert_eq!(
        drain(&mut m),
        vec![PexAction::DisconnectAfterSend { id: first.id }]
    );
    assert!(m.book().has(&id(50)));
    // The rest could not be dialled; within 2 min they are not crawled again.
    for a in &crawled[1..] {
        m.dial_refused(at(1), a, Refusal::TooManyOutbound);
    }
    m.handle_timeout(at(30), &view);
    let again = dials(&drain(&mut m));
    assert!(again.iter().all(|a| a.id == id(50)), "{again:?}");
    m.handle_timeout(at(150), &view);
    let later = dials(&drain(&mut m));
    assert!(later.len() >= 9, "{later:?}");
    assert!(m.num_crawl_records() <= 11);
    // Records older than 24 h are forgotten (here nothing is crawled again:
    // the book is emptied).
    for a in &later {
        m.dial_refused(at(150), a, Refusal::TooManyOutbound);
        m.book_mut().remove(&a.id);
    }
    m.book_mut().remove(&id(50));
    m.handle_timeout(at(150 + 24 * 3600), &view);
    assert!(m.num_crawl_records() > 0);
    m.handle_timeout(at(150 + 24 * 3600 + 31), &view);
    assert_eq!(m.num_crawl_records(), 0);
}

#[test]
fn a_seed_crawls_a_peer_that_was_connected_at_its_last_round() {
    let mut m = machine(seed_cfg());
    fill_book(&mut m, (10..13).map(addr));
    let mut view = View::new(10);
    view.busy.insert(id(10)); // it dialled the seed just now
    m.handle_timeout(at(0), &view);
    let first = dials(&drain(&mut m));
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(first.iter().all(|a| a.id != id(10)));
    // Gone again at the next round: crawled then, not 2 min later.
    view.busy.clear();
    m.handle_timeout(at(30), &view);
    let again = dials(&drain(&mut m));
    assert_eq!(again.iter().map(|a| a.id).collect::<Vec<_>>(), vec![id(10)]);
}

#[test]
fn seed_lets_go_of_old_non_persistent_peers() {
    let mut m = machine(seed_cfg());
    let mut view = View::new(10);
    view.busy.extend([id(1), id(2), id(3)]);
    m.handle_timeout(at(0), &view);
    m.peer_added(at(0), inbound(1));
    m.peer_added(
        at(0),
        PexPeer {
            persistent: true,
            ..inbound(2)
        },
    );
    m.peer_added(at(3600), inbound(3));
    drain(&mut m);
    let wait = 28 * 3600;
    m.handle_timeout(at(wait + 10), &view);
    assert_eq!(
        no_saves(drain(&mut m)),
        vec![PexAction::DisconnectAfterSend { id: id(1) }]
    );
    m.handle_timeout(at(wait + 3600 + 10), &view);
    assert_eq!(
        no_saves(drain(&mut m)),
        vec![PexAction::DisconnectAfterSend { id: id(3) }]
    );
    m.handle_timeout(at(wait + 7200), &view);
    assert!(
        no_saves(drain(&mut m)).is_empty(),
        "persistent peers stay; no one twice"
    );
}

#[test]
fn seed_with_seeds_dials_them_first() {
    let mut m = machine(PexConfig {
        seeds: vec![addr(1)],
        ..seed_cfg()
    });
    fill_book(&mut m, (10..20).map(addr));
    m.handle_timeout(at(0), &View::new(10));
    assert_eq!(dials(&drain(&mut m)), vec![addr(1)]);
}

// ---- bounds ----------------------------------------------------------------

#[test]
fn per_peer_state_and_histories_are_bounded() {
    let mut m = machine(PexConfig {
        max_peers: 8,
        max_dial_records: 16,
        ..PexConfig::default()
    });
    for i in 0..20 {
        m.peer_added(at(0), inbound(i));
    }
    assert_eq!(m.num_peers(), 8);
    for i in 0..8 {
        m.peer_removed(at(1), &id(i), mconn::switch::DisconnectReason::Eof);
    }
    assert_eq!(m.num_peers(), 0);
    for i in 0..100 {
        m.dial_failed(at(u64::from(i)), &addr(1000 + i));
    }
    assert_eq!(m.num_dial_records(), 16);
    // The most recent ones are kept.
    assert_eq!(m.dial_attempts(&addr(1099)), 1);
    assert_eq!(m.dial_attempts(&addr(1000)), 0);
}

#[test]
fn lost_dial_reports_expire() {
    let mut m = machine(ensure_cfg());
    fill_book(&mut m, (10..15).map(addr));
    let mut view = View::new(10);
    m.handle_timeout(at(0), &view);
    let asked = dials(&drain(&mut m)).len();
    assert!(asked > 0);
    assert_eq!(m.num_pending_dials(), asked);
    view.out = 10; // nothing new is dialled from here on
    m.handle_timeout(at(60), &view);
    assert_eq!(m.num_pending_dials(), asked);
    m.handle_timeout(at(121), &view);
    assert_eq!(m.num_pending_dials(), 0);
}
