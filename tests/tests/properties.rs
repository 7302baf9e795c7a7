//! Property tests over the simulator: whatever the message sizes, the
//! fragmentation, the link, the channel mix, the codec and the receiving
//! application's pace, every message `try_send` accepted arrives exactly
//! once, in order per channel, in both directions at once; nothing is lost,
//! nothing extra appears, and the connection stays up.

use std::time::Duration;

use mconn::conn::{ChannelConfig, CloseReason, Config, GrowBuf, MConnection};
use mconn::Instant;
use mconn_tests::sim::{Drain, LinkConfig, Rng, Side, Sim, SimConfig};
use proptest::prelude::*;

/// Channel ids to pick from: channel 0 (its id is omitted on the protobuf
/// wire) and ids >= 0x80 (two-byte varint, smaller payload) included.
const IDS: [u8; 8] = [0x00, 0x20, 0x21, 0x22, 0x30, 0x7f, 0x80, 0xff];

#[derive(Clone, Debug)]
struct Chan {
    id: u8,
    priority: u32,
    queue: usize,
    capacity: usize,
    /// Receive budget beyond one full message.
    recv_extra: usize,
    /// Send budget beyond one full message.
    send_extra: usize,
    /// Sizes A sends, sizes B sends.
    sizes: [Vec<usize>; 2],
    /// Drain interval at A, at B (None = eager).
    drain: [Option<u64>; 2],
}

#[derive(Clone, Debug)]
struct Case {
    seed: u64,
    gowire: bool,
    payload: usize,
    rate: Option<u32>,
    chans: Vec<Chan>,
    links: [LinkConfig; 2],
}

fn chunk_max() -> impl Strategy<Value = usize> {
    prop_oneof![1..=3usize, 1..=100usize, 1..=5000usize, Just(64 * 1024)]
}

/// Links slow enough to delay a pong past the 45 s timeout (a window of a
/// few bytes over 50 ms latency moves some bytes per second) would make the
/// peers close, correctly; windows start at 64 bytes to stay clear of that.
fn link() -> impl Strategy<Value = LinkConfig> {
    (
        chunk_max(),
        chunk_max(),
        0..=50u64,
        prop::option::of(20_000..=5_000_000u64),
        prop_oneof![64..=512usize, 1000..=256 * 1024usize],
    )
        .prop_map(
            |(max_chunk, max_write, latency_ms, bandwidth, window)| LinkConfig {
                latency: Duration::from_millis(latency_ms),
                bandwidth,
                max_chunk,
                max_write,
                window,
            },
        )
}

fn chan(id: u8, max_capacity: usize, max_msgs: usize) -> impl Strategy<Value = Chan> {
    (
        1..=10u32,
        1..=4usize,
        1..=max_capacity,
        0..=4096usize,
        0..=8192usize,
    )
        .prop_flat_map(move |(priority, queue, capacity, recv_extra, send_extra)| {
            let sizes = prop::collection::vec(0..=capacity, 0..=max_msgs);
            let drain = prop::option::weighted(0.25, 1..=50u64);
            ([sizes.clone(), sizes], [drain.clone(), drain]).prop_map(move |(sizes, drain)| Chan {
                id,
                priority,
                queue,
                capacity,
                recv_extra,
                send_extra,
                sizes,
                drain,
            })
        })
}

fn case(max_capacity: usize, max_msgs: usize) -> impl Strategy<Value = Case> {
    let ids = prop::sample::subsequence(IDS.to_vec(), 3..=5).prop_shuffle();
    (
        any::<u64>(),
        any::<bool>(),
        // Payload 1 leaves ids >= 0x80 no data room on protobuf: the config
        // refuses it (tests/regressions.rs), so draw from 2.
        prop_oneof![3 => Just(1024usize), 1 => 2..=64usize, 1 => 1000..=4096usize],
        prop::option::weighted(0.2, 20_000..=2_000_000u32),
        ids,
        [link(), link()],
    )
        .prop_flat_map(move |(seed, gowire, payload, rate, ids, links)| {
            let chans: Vec<_> = ids
                .into_iter()
                .map(|id| chan(id, max_capacity, max_msgs))
                .collect();
            chans.prop_map(move |chans| Case {
                seed,
                gowire,
                payload,
                rate,
                chans: chans.clone(),
                links,
            })
        })
}

fn config(case: &Case) -> Config {
    let mut c = if case.gowire {
        Config::seed()
    } else {
        Config::cometbft()
    };
    c.max_packet_payload = case.payload;
    c.send_rate = case.rate;
    c.recv_rate = case.rate;
    c
}

fn channel_configs(case: &Case) -> Vec<ChannelConfig> {
    case.chans
        .iter()
        .map(|c| {
            ChannelConfig::new(c.id, c.priority)
                .send_queue(c.queue)
                .recv_message_capacity(c.capacity)
                .recv_buffer(c.capacity + 4 + c.recv_extra)
                .send_buffer(c.capacity + 4 + c.send_extra)
        })
        .collect()
}

/// Runs `case` and checks exact delivery both ways.
fn check(case: &Case) -> Result<(), TestCaseError> {
    let config = config(case);
    let channels = channel_configs(case);
    let conn = || MConnection::with_alloc(&config, &channels, Instant::ZERO).unwrap();
    let sim_cfg = SimConfig {
        seed: case.seed,
        links: case.links,
        max_time: Duration::from_secs(3600),
        max_bytes: 256 << 20,
        ..SimConfig::default()
    };
    let mut sim: Sim<GrowBuf> = Sim::new(sim_cfg, conn(), conn());
    let mut rng = Rng::new(case.seed ^ 0x5eed);
    let mut sent = vec![[Vec::new(), Vec::new()]; case.chans.len()];
    for (k, c) in case.chans.iter().enumerate() {
        for (i, side) in [Side::A, Side::B].into_iter().enumerate() {
            if let Some(ms) = c.drain[i] {
                sim.peer_mut(side)
                    .set_drain(c.id, Drain::Every(Duration::from_millis(ms)));
            }
            for &size in &c.sizes[i] {
                let msg = rng.bytes(size);
                sent[k][i].push(msg.clone());
                sim.send(side, c.id, msg);
            }
        }
    }
    if let Err(e) = sim.run_until_delivered() {
        return Err(TestCaseError::fail(format!("{e}")));
    }
    // Then idle past two keepalive rounds: deadlines keep moving, pings are
    // answered, nothing extra arrives, nobody closes.
    if let Err(e) = sim.run_for(Duration::from_secs(130)) {
        return Err(TestCaseError::fail(format!("after delivery: {e}")));
    }
    for side in [Side::A, Side::B] {
        let stats = sim.peer(side).conn.stats();
        prop_assert!(
            stats.pings_sent >= 2 && stats.pongs_received >= 1,
            "{:?}",
            stats
        );
    }
    for side in [Side::A, Side::B] {
        let p = sim.peer(side);
        prop_assert_eq!(p.closed, None, "peer {:?} closed", side);
        prop_assert!(!p.conn.is_closed());
    }
    for (k, c) in case.chans.iter().enumerate() {
        for (i, side) in [Side::A, Side::B].into_iter().enumerate() {
            let tx = sim.peer(side).chan(c.id);
            let rx = sim.peer(side.other()).chan(c.id);
            prop_assert!(tx.outbox.is_empty());
            prop_assert!(
                tx.accepted == sent[k][i],
                "accepted differs on {:#04x}",
                c.id
            );
            prop_assert!(
                rx.received == sent[k][i],
                "{:?} -> {:?} on {:#04x}: sent {} messages, received {}",
                side,
                side.other(),
                c.id,
                sent[k][i].len(),
                rx.received.len()
            );
            let stats = sim.peer(side).conn.channel_stats(c.id).unwrap();
            prop_assert_eq!(stats.messages_sent, sent[k][i].len() as u64);
            prop_assert_eq!(stats.send_queue_len, 0);
        }
    }
    Ok(())
}

/// `default`, or `PROPTEST_CASES` from the environment (for soak runs).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(64),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    /// Any sizes up to the channel capacity, any fragmentation, 3–5
    /// channels, both codecs, both directions at once.
    #[test]
    fn every_accepted_message_arrives_once_in_order(case in case(4000, 6)) {
        check(&case)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 4,
        max_shrink_iters: 50,
        ..ProptestConfig::default()
    })]

    /// A few 1 MiB messages both ways, over coarser fragmentation.
    #[test]
    fn one_mebibyte_messages(seed in any::<u64>(), gowire in any::<bool>(), chunk in 1000..=70_000usize) {
        let sizes = vec![1 << 20, 1 << 20, (1 << 20) - 1, 0];
        let mk = |id, priority| Chan {
            id,
            priority,
            queue: 2,
            capacity: 1 << 20,
            recv_extra: 0,
            send_extra: 1 << 20,
            sizes: [sizes.clone(), sizes.clone()],
            drain: [None, None],
        };
        let link = LinkConfig::default().fragment(chunk).bandwidth(50_000_000);
        let case = Case {
            seed,
            gowire,
            payload: 1024,
            rate: None,
            chans: vec![mk(0x40, 5), mk(0x21, 10), mk(0x00, 1)],
            links: [link, link],
        };
        check(&case)?;
    }
}

/// `close` sends everything already queued, then reports `Closed`.
#[test]
fn close_flushes_what_was_queued() {
    let channels = [
        ChannelConfig::new(0x20, 1)
            .send_queue(8)
            .recv_message_capacity(5000),
        ChannelConfig::new(0x30, 3)
            .send_queue(8)
            .recv_message_capacity(5000),
    ];
    let conn = || MConnection::with_alloc(&Config::cometbft(), &channels, Instant::ZERO).unwrap();
    let link = LinkConfig::default().fragment(10).bandwidth(100_000);
    let mut sim = Sim::new(SimConfig::default().link(link), conn(), conn());
    let mut rng = Rng::new(11);
    let mut queued = Vec::new();
    for i in 0..8 {
        let msg = rng.bytes(i * 600);
        sim.peer_mut(Side::A).conn.try_send(0x20, &msg).unwrap();
        queued.push(msg);
    }
    sim.peer_mut(Side::A).conn.close();
    assert_eq!(
        sim.peer_mut(Side::A).conn.try_send(0x30, b"late"),
        Err(mconn::conn::Error::Closed)
    );
    sim.run_until(|s| s.peer(Side::B).chan(0x20).received.len() == queued.len())
        .unwrap();
    sim.run_until(|s| s.peer(Side::A).closed.is_some()).unwrap();
    assert_eq!(sim.peer(Side::B).chan(0x20).received, queued);
    assert_eq!(
        sim.peer(Side::A).closed.map(|c| c.1),
        Some(CloseReason::Closed)
    );
    assert_eq!(sim.peer(Side::B).closed, None);
}
