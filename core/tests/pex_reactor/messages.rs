//! Requests, responses, the request rate and inbound peers' addresses.

use super::*;

// ---- requests and responses ----------------------------------------------

#[test]
fn unsolicited_addrs_disconnect_and_ban() {
    let mut m = machine(PexConfig::default());
    // An inbound peer: its listen address goes to the book, so it can be banned.
    m.peer_added(at(0), inbound(1));
    assert!(
        drain(&mut m).is_empty(),
        "inbound peers are not asked at once"
    );
    assert!(m.book().has(&id(1)));
    let got = m.receive(at(1), &id(1), &addrs_msg(&[addr(2)]));
    expect_ban(&mut m, id(1), got, Misbehaviour::UnsolicitedAddrs);
    assert!(m.book().is_banned(&id(1)));
    assert!(
        !m.book().has(&id(2)),
        "nothing from an unsolicited list is kept"
    );
    // It is on its way out: whatever else it sends is ignored.
    assert_eq!(m.receive(at(1), &id(1), &request_msg()), Received::Ignored);
    assert!(drain(&mut m).is_empty());
}

#[test]
fn peers_that_leave_for_misbehaviour_are_banned_for_an_hour() {
    use mconn::conn::CloseReason as Conn;
    use mconn::session::CloseReason;
    use mconn::switch::DisconnectReason;
    let session = |r: Conn| DisconnectReason::Session(CloseReason::Conn(r));
    let mut m = machine(PexConfig::default());
    for i in 1..=6 {
        m.peer_added(at(0), inbound(i));
    }
    // Not the peer's fault (a bad network, a close, our own stop): kept.
    m.peer_removed(at(1), &id(1), session(Conn::PongTimeout));
    m.peer_removed(at(1), &id(2), DisconnectReason::Eof);
    m.peer_removed(at(1), &id(3), DisconnectReason::Requested);
    for i in 1..=3 {
        assert!(m.book().has(&id(i)) && !m.book().is_banned(&id(i)));
    }
    // A protocol violation or another reactor's report: banned for 1 h.
    m.peer_removed(at(1), &id(4), session(Conn::PingFlood));
    m.peer_removed(
        at(1),
        &id(5),
        DisconnectReason::Misbehaved(Misbehaviour::Other("bad vote")),
    );
    for i in [4, 5] {
        assert!(m.book().is_banned(&id(i)) && !m.book().has(&id(i)));
        let banned = m.book().get(&id(i)).unwrap();
        assert!(banned.is_banned_at(m.wall_time(at(3599))));
        assert!(!banned.is_banned_at(m.wall_time(at(3602))));
    }
    // A longer PEX ban is not shortened by the later, shorter one.
    let got = m.receive(at(1), &id(6), &addrs_msg(&[addr(9)]));
    expect_ban(&mut m, id(6), got, Misbehaviour::UnsolicitedAddrs);
    m.peer_removed(at(2), &id(6), session(Conn::UnknownChannel(7)));
    let banned = m.book().get(&id(6)).unwrap();
    assert!(banned.is_banned_at(m.wall_time(at(20 * 3600))));
    assert!(drain(&mut m).is_empty());
}

#[test]
fn a_second_list_for_one_request_is_unsolicited() {
    let mut m = machine(PexConfig::default());
    let p = asked_peer(&mut m, 1);
    assert_eq!(
        m.receive(at(1), &p, &addrs_msg(&[addr(2)])),
        Received::Addrs {
            added: 1,
            ignored: 0
        }
    );
    assert!(!m.is_request_outstanding(&p));
    let got = m.receive(at(2), &p, &addrs_msg(&[addr(3)]));
    expect_ban(&mut m, p, got, Misbehaviour::UnsolicitedAddrs);
}

#[test]
fn unknown_peer_and_garbage() {
    let mut m = machine(PexConfig::default());
    assert_eq!(m.receive(at(0), &id(5), &request_msg()), Received::Ignored);
    m.peer_added(at(0), inbound(5));
    let got = m.receive(at(0), &id(5), &[0xff, 0x01, 0x02]);
    expect_ban(&mut m, id(5), got, Misbehaviour::BadMessage { channel: 0 });
}

#[test]
fn requests_are_answered_with_a_selection() {
    let mut m = machine(PexConfig::default());
    fill_book(&mut m, (10..50).map(addr));
    m.peer_added(at(0), inbound(1));
    let got = m.receive(at(0), &id(1), &request_msg());
    let actions = drain(&mut m);
    let sent = sends_to(&actions, id(1));
    assert_eq!(sent.len(), 1);
    let answer = decoded_addrs(&sent[0]);
    // 41 entries (40 + the peer itself): max(min(32, 41), 41·23/100) = 32.
    assert_eq!(got, Received::Answered { addrs: 32 });
    assert_eq!(answer.len(), 32);
    let distinct: BTreeSet<_> = answer.iter().map(|a| a.id).collect();
    assert_eq!(distinct.len(), 32);
    assert!(answer.iter().all(|a| m.book().has(&a.id)));
}

#[test]
fn request_rate_two_free_then_too_soon_is_banned() {
    // CometBFT's exact rule: burst 2, then 10 s apart.
    let cfg = PexConfig {
        request_burst: 2,
        ..PexConfig::default()
    };
    let mut m = machine(cfg.clone());
    m.peer_added(at(0), inbound(1));
    for t in [0, 0, 10, 20, 31] {
        assert!(
            matches!(
                m.receive(at(t), &id(1), &request_msg()),
                Received::Answered { .. }
            ),
            "t={t}"
        );
    }
    let mut m = machine(cfg);
    m.peer_added(at(0), inbound(1));
    for _ in 0..2 {
        assert!(matches!(
            m.receive(at(0), &id(1), &request_msg()),
            Received::Answered { .. }
        ));
    }
    drain(&mut m);
    let got = m.receive(at_ms(9_999), &id(1), &request_msg());
    expect_ban(&mut m, id(1), got, Misbehaviour::PexRequestTooSoon);
    assert!(m.book().is_banned(&id(1)));
}

#[test]
fn request_rate_default_burst_of_three() {
    let mut m = machine(PexConfig::default());
    m.peer_added(at(0), inbound(1));
    for _ in 0..3 {
        assert!(matches!(
            m.receive(at(5), &id(1), &request_msg()),
            Received::Answered { .. }
        ));
    }
    drain(&mut m);
    let got = m.receive(at(6), &id(1), &request_msg());
    expect_ban(&mut m, id(1), got, Misbehaviour::PexRequestTooSoon);
}

/// CometBFT's own rule, for comparison: two free, then ≥ 10 s after the
/// previous accepted request.
struct GoRule {
    seen: u32,
    last_ms: u64,
}

impl GoRule {
    fn accept(&mut self, t_ms: u64) -> bool {
        self.seen += 1;
        if self.seen <= 2 {
            self.last_ms = t_ms;
            return true;
        }
        if t_ms - self.last_ms < 10_000 {
            return false;
        }
        self.last_ms = t_ms;
        true
    }
}

/// A Go peer asks when it adds us, then on its `ensurePeers` ticks (first
/// after `U[0, 30 s)`, then every 30 s); each request reaches our reactor
/// after a network + inbox delay of up to 25 s, in order. Ours never
/// punishes it; CometBFT's exact rule would in some runs.
#[test]
fn tolerant_floor_never_punishes_a_jittery_go_peer() {
    use rand_core::RngCore;
    let mut rng = Rng(77);
    let mut go_would_punish = 0;
    for run in 0..300u32 {
        let mut m = machine_seeded(PexConfig::default(), u64::from(run));
        m.peer_added(at(0), inbound(1));
        let mut go = GoRule {
            seen: 0,
            last_ms: 0,
        };
        let mut go_punished = false;
        let first_tick = rng.next_u64() % 30_000;
        let sends = std::iter::once(0).chain((0..120).map(|k| first_tick + k * 30_000));
        let mut delivered = 0u64;
        for sent in sends {
            delivered = delivered.max(sent + rng.next_u64() % 25_000);
            let got = m.receive(at_ms(delivered), &id(1), &request_msg());
            assert!(
                matches!(got, Received::Answered { .. }),
                "run {run}: punished at {delivered} ms"
            );
            go_punished |= !go.accept(delivered);
        }
        go_would_punish += u32::from(go_punished);
    }
    assert!(
        go_would_punish > 0,
        "the scenario never strains CometBFT's rule"
    );
    eprintln!("CometBFT's exact rule would punish {go_would_punish} of 300 honest peers");

    // Peers over the sustained rate are caught: every 5 s within a few
    // requests, every 9 s once the 20 s of slack are used up.
    for (every, within) in [(5, 6), (9, 22)] {
        let mut m = machine(PexConfig::default());
        m.peer_added(at(0), inbound(2));
        let caught = (0..40u64).position(|k| {
            matches!(
                m.receive(at(every * k), &id(2), &request_msg()),
                Received::Rejected(_)
            )
        });
        let k = caught.expect("a peer over the rate is never caught");
        assert!(k <= within, "every {every} s: caught only at request {k}");
    }
}

#[test]
fn limiter_accepts_everything_cometbft_accepts() {
    // Random sequences that pass Go's rule (two free, then ≥ 10 s apart)
    // pass ours too (burst 2 and 3).
    use rand_core::RngCore;
    let mut rng = Rng(5);
    for _ in 0..500 {
        let mut go = RequestLimiter::new(Duration::from_secs(10), 2);
        let mut ours = RequestLimiter::new(Duration::from_secs(10), 3);
        let mut t = rng.next_u64() % 1_000_000;
        let mut gaps = vec![rng.next_u64() % 10_000_000];
        gaps.extend((0..30).map(|_| 10_000_000 + rng.next_u64() % 30_000_000));
        assert!(go.accept(Instant::from_micros(t)) && ours.accept(Instant::from_micros(t)));
        for g in gaps {
            t += g;
            assert!(go.accept(Instant::from_micros(t)));
            assert!(ours.accept(Instant::from_micros(t)));
        }
    }
}

#[test]
fn response_limits_and_parse_errors() {
    // 251 addresses: over maxGetSelection.
    let mut m = machine(PexConfig::default());
    let p = asked_peer(&mut m, 1);
    let many: Vec<NetAddr> = (100..351).map(addr).collect();
    let got = m.receive(at(1), &p, &addrs_msg(&many));
    expect_ban(&mut m, p, got, Misbehaviour::BadAddrs);
    assert_eq!(m.book().size(), 0);

    // 250 is fine.
    let mut m = machine(PexConfig::default());
    let p = asked_peer(&mut m, 1);
    let got = m.receive(at(1), &p, &addrs_msg(&many[..250]));
    assert!(
        matches!(got, Received::Addrs { added, .. } if added > 200),
        "{got:?}"
    );

    let good_id = id(7).to_string();
    let g = good_id.as_str();
    let bad_lists: [&[(&str, &str, u32)]; 4] = [
        &[(g, "1.2.3", 26656)],
        &[(g, "", 26656)],
        &[(g, "1.2.3.4", 70_000)],
        &[(g, "1.2.3.4", 26656), (g, "[::1]", 1)],
    ];
    for list in bad_lists {
        let mut m = machine(PexConfig::default());
        let p = asked_peer(&mut m, 1);
        let w: Vec<NetAddress<'_>> = list
            .iter()
            .map(|(id, ip, port)| NetAddress {
                id,
                ip,
                port: *port,
            })
            .collect();
        let got = m.receive(at(1), &p, &raw_msg(&w));
        expect_ban(&mut m, p, got, Misbehaviour::BadAddrs);
        assert_eq!(m.book().size(), 0, "{list:?}: nothing kept from a bad list");
    }

    // A bad ID, an unspecified IP and an unroutable one cost only themselves.
    let mut m = machine(PexConfig::default());
    let p = asked_peer(&mut m, 1);
    let ok = addr(3);
    let (mut ib, mut pb) = ([0u8; 40], [0u8; 46]);
    let list = [
        NetAddress {
            id: "not-an-id",
            ip: "1.2.3.4",
            port: 1,
        },
        NetAddress {
            id: g,
            ip: "0.0.0.0",
            port: 1,
        },
        NetAddress {
            id: g,
            ip: "192.168.1.1",
            port: 1,
        },
        ok.to_wire(&mut ib, &mut pb),
    ];
    let got = m.receive(at(1), &p, &raw_msg(&list));
    assert_eq!(
        got,
        Received::Addrs {
            added: 1,
            ignored: 3
        }
    );
    assert!(
        drain(&mut m).is_empty(),
        "no disconnect for single bad addresses"
    );
    assert!(m.book().has(&ok.id));
    assert_eq!(
        m.book().get(&ok.id).unwrap().src,
        addr(1),
        "the sender is the source"
    );
}

#[test]
fn one_outstanding_request_per_peer() {
    let mut m = machine(PexConfig {
        ensure_peers_period: Duration::from_secs(1),
        ..PexConfig::default()
    });
    let p = asked_peer(&mut m, 1);
    let mut view = View::new(10);
    view.out = 10; // full: ensure_peers stops before asking anyone
    m.handle_timeout(at(0), &view);
    assert!(sends_to(&drain(&mut m), p).is_empty());
    view.out = 1;
    view.busy.insert(p);
    for t in 1..5 {
        m.handle_timeout(at(t), &view);
        assert!(
            sends_to(&drain(&mut m), p).is_empty(),
            "asked again at {t} s"
        );
    }
    m.receive(at(5), &p, &addrs_msg(&[addr(2)]));
    m.handle_timeout(at(6), &view);
    let sent = sends_to(&drain(&mut m), p);
    assert!(
        sent.len() == 1 && is_request(&sent[0]),
        "asked again once answered"
    );
}

#[test]
fn outbound_peers_are_asked_only_when_the_book_needs_addresses() {
    let book_cfg = BookConfig {
        need_address_threshold: 5,
        ..BookConfig::default()
    };
    let book = AddrBook::new(book_cfg, &mut Rng(1));
    let mut m = PexMachine::new(book, PexConfig::default(), Rng(3), Instant::ZERO, WALL);
    fill_book(&mut m, (10..15).map(addr));
    m.peer_added(at(0), outbound(1));
    assert!(drain(&mut m).is_empty());
    assert!(!m.is_request_outstanding(&id(1)));
}

// ---- inbound peers' addresses ----------------------------------------------

#[test]
fn unroutable_listen_address_is_replaced_by_the_observed_ip() {
    let mut m = machine(PexConfig::default());
    let observed: IpAddr = "5.6.7.8".parse().unwrap();
    for (i, listen) in [(1, "0.0.0.0"), (2, "192.168.1.5"), (3, "127.0.0.1")] {
        let listen = NetAddr::new(id(i), listen.parse().unwrap(), 26000 + i as u16);
        m.peer_added(
            at(0),
            PexPeer {
                id: id(i),
                outbound: false,
                listen_addr: Some(listen),
                remote_ip: IpAddr::V4(Ipv4Addr::new(5, 6, 7, i as u8)),
                persistent: false,
            },
        );
        let got = m.book().get(&id(i)).expect("added").addr;
        assert_eq!(
            got,
            NetAddr::new(
                id(i),
                IpAddr::V4(Ipv4Addr::new(5, 6, 7, i as u8)),
                26000 + i as u16
            )
        );
    }
    // A routable listen address is kept as reported.
    let reported = addr(4);
    m.peer_added(
        at(0),
        PexPeer {
            id: reported.id,
            outbound: false,
            listen_addr: Some(reported),
            remote_ip: observed,
            persistent: false,
        },
    );
    assert_eq!(m.book().get(&reported.id).unwrap().addr, reported);
    // Its source is itself.
    assert_eq!(m.book().get(&reported.id).unwrap().src, reported);
}
