//! Back-pressure: a receiver whose application does not take channel-A
//! messages stops reading once A's receive budget is full (`handle_input`
//! consumes less), memory stays within the configured budgets, nothing is
//! dropped, our own keepalive does not kill the connection while we stall,
//! and once the application drains, everything arrives in order.

use std::time::Duration;

use mconn::conn::{ChannelConfig, Config, FixedBuf, MConnection};
use mconn::Instant;
use mconn_tests::sim::{Drain, LinkConfig, Rng, Side, Sim, SimConfig};

const STALLED: u8 = 0x20;
const OTHER: u8 = 0x21;
const SIZE: usize = 4000;
const RECV_BUDGET: usize = 16 * 1024;
const HEADER: usize = 4;

fn channels() -> [ChannelConfig; 2] {
    [
        ChannelConfig::new(STALLED, 5)
            .send_queue(2)
            .recv_message_capacity(SIZE)
            .recv_buffer(RECV_BUDGET),
        ChannelConfig::new(OTHER, 5)
            .send_queue(2)
            .recv_message_capacity(SIZE)
            .recv_buffer(RECV_BUDGET),
    ]
}

fn run(config: Config, link: LinkConfig, seed: u64) {
    let channels = channels();
    let size = Config::arena_size(&channels);
    let (mut mem_a, mut mem_b) = (vec![0u8; size], vec![0u8; size]);
    let a = MConnection::in_arena(&config, &channels, Instant::ZERO, &mut mem_a).unwrap();
    let b = MConnection::in_arena(&config, &channels, Instant::ZERO, &mut mem_b).unwrap();
    let sim_cfg = SimConfig {
        seed,
        max_bytes: 64 << 20,
        ..SimConfig::default()
    }
    .link(link);
    let mut sim: Sim<FixedBuf<'_>> = Sim::new(sim_cfg, a, b);
    sim.peer_mut(Side::B).set_drain(STALLED, Drain::Never);

    let mut rng = Rng::new(seed);
    let stalled: Vec<Vec<u8>> = (0..100).map(|_| rng.bytes(SIZE)).collect();
    let other: Vec<Vec<u8>> = (0..20).map(|i| rng.bytes(i * 100)).collect();
    // Traffic on the other channel first, so some of it gets through before
    // the stall; the rest waits behind the stalled channel's packets.
    for m in &other[..10] {
        sim.send(Side::A, OTHER, m.clone());
    }
    for m in &stalled {
        sim.send(Side::A, STALLED, m.clone());
    }
    for m in &other[10..] {
        sim.send(Side::A, OTHER, m.clone());
    }
    // Traffic the other way is not held up by B's stall.
    for m in &other {
        sim.send(Side::B, OTHER, m.clone());
    }

    // Five minutes stalled: five ping rounds, each pong timeout (45 s) expires.
    sim.run_for(Duration::from_secs(300)).unwrap();
    {
        let (pa, pb) = (sim.peer(Side::A), sim.peer(Side::B));
        assert_eq!(pa.closed, None, "{:?}: sender closed", config.codec);
        assert_eq!(
            pb.closed, None,
            "{:?}: stalled receiver closed",
            config.codec
        );
        assert!(pb.conn.is_input_stalled());
        assert!(pb.short_reads > 0, "handle_input never consumed less");

        // B holds exactly what its budget allows of the stalled channel.
        let held = pb.conn.channel_stats(STALLED).unwrap().recv_queue_len;
        assert_eq!(held, RECV_BUDGET / (SIZE + HEADER));
        assert_eq!(pb.chan(STALLED).received_count, 0);
        // The network holds at most its window; the sender at most its queue.
        assert!(pb.max_unread <= link.window);
        let sa = pa.conn.channel_stats(STALLED).unwrap();
        assert!(sa.send_queue_len <= 2);
        assert!(pa.chan(STALLED).outbox.len() > 50, "sender kept accepting");
        assert!(pa.chan(STALLED).blocked);

        // The other direction is unaffected.
        assert_eq!(pa.chan(OTHER).received, other);
        // The first messages on the other channel got through before the stall.
        assert!(pb.chan(OTHER).received_count >= 1);
        assert_eq!(
            pb.chan(OTHER).received[..],
            other[..pb.chan(OTHER).received.len()]
        );

        // B's own ping went unanswered (the pong sits behind unread data),
        // yet B did not time out: its pong timeout is suspended while it
        // stalls, and it keeps one ping in flight at a time (more would pile
        // up unread at A and look like a ping flood). A wrote nothing into
        // the full window, so it started no pong timer of its own.
        let sb = pb.conn.stats();
        assert_eq!(sb.pings_sent, 1, "{sb:?}");
        assert_eq!(sb.pongs_received, 0, "{sb:?}");
    }

    // The application catches up: everything arrives, in order, once.
    sim.peer_mut(Side::B).set_drain(STALLED, Drain::All);
    sim.run_until_delivered().unwrap();
    let (pa, pb) = (sim.peer(Side::A), sim.peer(Side::B));
    assert_eq!(pb.chan(STALLED).received, stalled);
    assert_eq!(pb.chan(OTHER).received, other);
    assert_eq!(pa.chan(OTHER).received, other);
    assert!(!pb.conn.is_input_stalled());

    // Keepalive resumes normally afterwards.
    let before = sim.peer(Side::B).conn.stats().pongs_received;
    sim.run_for(Duration::from_secs(130)).unwrap();
    assert!(sim.peer(Side::B).conn.stats().pongs_received > before);
    assert_eq!(sim.peer(Side::A).closed, None);
    assert_eq!(sim.peer(Side::B).closed, None);
}

#[test]
fn stalled_channel_stops_at_the_budget_and_recovers_cometbft() {
    run(Config::cometbft(), LinkConfig::default(), 1);
}

#[test]
fn stalled_channel_stops_at_the_budget_and_recovers_fragmented() {
    let link = LinkConfig {
        latency: Duration::from_millis(40),
        bandwidth: Some(200_000),
        max_chunk: 7,
        max_write: 3000,
        window: 8 * 1024,
    };
    run(Config::cometbft(), link, 2);
}

#[test]
fn stalled_channel_stops_at_the_budget_and_recovers_seed_keepalive() {
    // Seed keepalive: a ping after 40 s of silence, and any sign of life
    // within 45 s; the stalled side must not time out either.
    run(Config::seed(), LinkConfig::default().fragment(100), 3);
}

/// A slow consumer (one message per 100 ms) of one channel: the sender
/// keeps going at the consumer's pace, nothing is dropped, nobody closes.
#[test]
fn slow_consumer_paces_the_sender() {
    let channels = channels();
    let conn = || MConnection::with_alloc(&Config::cometbft(), &channels, Instant::ZERO).unwrap();
    let link = LinkConfig::default().fragment(500).bandwidth(1_000_000);
    let mut sim = Sim::new(SimConfig::default().link(link), conn(), conn());
    sim.peer_mut(Side::B)
        .set_drain(STALLED, Drain::Every(Duration::from_millis(100)));
    let mut rng = Rng::new(5);
    let msgs: Vec<Vec<u8>> = (0..300).map(|_| rng.bytes(SIZE)).collect();
    for m in &msgs {
        sim.send(Side::A, STALLED, m.clone());
    }
    sim.run_until_delivered().unwrap();
    assert_eq!(sim.peer(Side::B).chan(STALLED).received, msgs);
    // 300 messages at one per 100 ms: about 30 s, far more than the wire needs.
    assert!(sim.now() >= Instant::from_millis(29_000));
    assert!(sim.peer(Side::B).short_reads > 0);
    assert!(sim.peer(Side::B).max_unread <= link.window);
    assert_eq!(sim.peer(Side::A).closed, None);
    assert_eq!(sim.peer(Side::B).closed, None);
}
