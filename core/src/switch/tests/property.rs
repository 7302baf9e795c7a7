//! Property test: the limits hold under any sequence of calls.

use super::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Accept { ip: u8, mapped: bool },
    Dial { node: u8, ip: u8 },
    Done { pick: usize, node: u8, listen: bool },
    Fail { pick: usize },
    Close { pick: usize },
    Report { node: u8, bad: bool },
    StopPeer { node: u8 },
    Advance { secs: u16 },
    Stop,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u8..6, any::<bool>()).prop_map(|(ip, mapped)| Op::Accept { ip, mapped }),
        4 => (0u8..9, 1u8..6).prop_map(|(node, ip)| Op::Dial { node, ip }),
        6 => (any::<usize>(), 0u8..9, any::<bool>())
            .prop_map(|(pick, node, listen)| Op::Done { pick, node, listen }),
        2 => any::<usize>().prop_map(|pick| Op::Fail { pick }),
        2 => any::<usize>().prop_map(|pick| Op::Close { pick }),
        2 => (0u8..9, any::<bool>()).prop_map(|(node, bad)| Op::Report { node, bad }),
        1 => (0u8..9).prop_map(|node| Op::StopPeer { node }),
        3 => (0u16..200).prop_map(|secs| Op::Advance { secs }),
        1 => Just(Op::Stop),
    ]
}

fn small_config() -> impl Strategy<Value = SwitchConfig> {
    (
        any::<bool>(),
        (0usize..4, 0usize..3, 1usize..5),
        (1usize..3, 1usize..4, 1usize..10, 0usize..2),
    )
        .prop_map(
            |(dup, (inbound, outbound, handshakes), (hs_ip, conn_ip, total, allowance))| {
                let mut c = SwitchConfig::new(id(OUR));
                c.allow_duplicate_ip = dup;
                c.max_inbound = inbound;
                c.max_outbound = outbound;
                c.max_handshakes = handshakes;
                c.max_handshakes_per_ip = hs_ip;
                c.max_connections_per_ip = conn_ip;
                c.max_connections = total;
                c.inbound_handshake_allowance = allowance;
                c.unconditional_ids = std::vec![id(1)];
                c.persistent_peers = std::vec![addr(2), NetAddr::new(id(3), ip(2), PORT)];
                c.misbehaviour_cooldown = Duration::from_secs(30);
                c
            },
        )
}

fn check(m: &PeerManager<XorShift>, c: &SwitchConfig, now: Instant) {
    let peers: Vec<PeerEntry> = m.peers().copied().collect();
    let attempts: Vec<Attempt> = m.attempts().copied().collect();
    assert!(m.num_inbound() <= c.max_inbound);
    let limited = |id: &NodeId| !m.is_persistent(id) && !m.is_unconditional(id);
    let limited_out = peers
        .iter()
        .filter(|p| p.is_outbound() && limited(&p.id))
        .count()
        + attempts
            .iter()
            .filter_map(|a| a.dialed_id())
            .filter(limited)
            .count();
    assert!(
        limited_out <= c.max_outbound,
        "{limited_out} limited outbound"
    );
    assert!(m.num_outbound() <= c.max_outbound + c.persistent_peers.len());
    assert!(m.num_handshakes() <= c.max_handshakes);
    assert!(peers.len() + attempts.len() <= c.max_connections);
    let inbound_sockets = peers.iter().filter(|p| !p.is_outbound()).count()
        + attempts
            .iter()
            .filter(|a| a.direction == Direction::Inbound)
            .count();
    let socket_cap = c.max_inbound + c.unconditional_ids.len() + c.inbound_handshake_allowance;
    assert!(inbound_sockets <= socket_cap);
    for n in 0..8u8 {
        let at_ip = peers.iter().filter(|p| p.ip() == ip(n)).count()
            + attempts.iter().filter(|a| a.ip() == ip(n)).count();
        assert!(at_ip <= c.max_connections_per_ip);
        assert!(
            c.allow_duplicate_ip || at_ip <= 1,
            "{at_ip} sockets at one IP"
        );
        let handshakes = attempts
            .iter()
            .filter(|a| a.direction == Direction::Inbound && a.ip() == ip(n))
            .count();
        assert!(handshakes <= c.max_handshakes_per_ip);
        let with_id = peers.iter().filter(|p| p.id == id(n)).count();
        assert!(with_id <= 1, "duplicate ID");
        let dialing = attempts
            .iter()
            .filter(|a| a.dialed_id() == Some(id(n)))
            .count();
        assert!(dialing <= 1, "dialled twice at once");
    }
    assert!(m.peer(&id(OUR)).is_none());
    match m.is_stopped() {
        true => assert_eq!(m.poll_timeout(), None),
        false => {
            for p in m.persistent_peers() {
                let pending = m.is_dialing_or_connected(&p.id) || m.next_dial(&p.id).is_some();
                assert!(pending, "persistent {} forgotten", p.id);
            }
            if let Some(t) = m.poll_timeout() {
                assert!(t > now, "timer not moved forward");
            }
        }
    }
}

fn run(c: SwitchConfig, seed: u64, ops: Vec<Op>) {
    let mut now = at(0);
    let mut m = PeerManager::new(c.clone(), XorShift::new(seed), now);
    m.handle_timeout(now);
    let mut port = 1_000u16;
    for op in ops {
        match op {
            Op::Accept { ip: n, mapped } => {
                port = port.wrapping_add(1);
                let ip = match (mapped, ip(n)) {
                    (true, IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
                    (_, other) => other,
                };
                let _ = m.accept(now, SocketAddr::new(ip, port));
            }
            Op::Dial { node, ip: n } => {
                let _ = m.dial(now, NetAddr::new(id(node), ip(n), PORT));
            }
            Op::Done { pick, node, listen } => {
                let attempts: Vec<Attempt> = m.attempts().copied().collect();
                if let Some(a) = attempts.get(pick % attempts.len().max(1)) {
                    // An outbound peer is who we dialled (the session checks).
                    let who = a.dialed_id().unwrap_or(id(node));
                    let listen_addr = listen.then(|| NetAddr::new(who, ip(who.0[0]), PORT));
                    let peer = PeerInfo {
                        id: who,
                        remote: a.remote,
                        listen_addr,
                    };
                    let _ = m.handshake_done(now, a.conn, peer);
                }
            }
            Op::Fail { pick } => {
                let conns: Vec<ConnId> = m.attempts().map(|a| a.conn).collect();
                if let Some(conn) = conns.get(pick % conns.len().max(1)) {
                    m.connect_failed(now, *conn, ConnectFailure::Dial);
                }
            }
            Op::Close { pick } => {
                let conns: Vec<ConnId> = m.peers().map(|p| p.conn).collect();
                if let Some(conn) = conns.get(pick % conns.len().max(1)) {
                    m.peer_closed(now, *conn, DisconnectReason::Eof);
                }
            }
            Op::Report { node, bad } => {
                let r = if bad {
                    Report::Bad(Misbehaviour::BadAddrs)
                } else {
                    Report::Good
                };
                m.report(now, id(node), r);
            }
            Op::StopPeer { node } => {
                m.stop_peer(id(node), DisconnectReason::Requested);
            }
            Op::Advance { secs } => {
                now += Duration::from_secs(u64::from(secs));
                m.handle_timeout(now);
            }
            Op::Stop => m.stop(),
        }
        // The runtime: carry out disconnects at once; dials are attempts already.
        for _ in 0..1_000 {
            match m.poll_action() {
                Some(Action::Disconnect { conn, reason, .. }) => m.peer_closed(now, conn, reason),
                Some(_) => {}
                None => break,
            }
        }
        check(&m, &c, now);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn limits_hold_under_any_sequence(
        c in small_config(),
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(), 0..150),
    ) {
        run(c, seed, ops);
    }
}
