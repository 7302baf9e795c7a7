//! Channel priorities over long simulated runs: saturated channels share
//! the link in proportion to their priorities, a low-priority channel is
//! never starved, equal priorities split evenly and ties go to the channel
//! listed first.

use std::time::Duration;

use mconn::conn::{ChannelConfig, Config, GrowBuf, MConnection};
use mconn::Instant;
use mconn_tests::sim::{LinkConfig, Side, Sim, SimConfig, TapKind, TapPacket};

const MSG: usize = 8 * 1024;

fn sim(config: &Config, channels: &[ChannelConfig], record: bool) -> Sim<GrowBuf> {
    let conn = || MConnection::with_alloc(config, channels, Instant::ZERO).unwrap();
    let link = LinkConfig {
        latency: Duration::from_millis(20),
        bandwidth: Some(1_000_000),
        max_chunk: 1500,
        max_write: 16 * 1024,
        window: 64 * 1024,
    };
    let cfg = SimConfig {
        seed: 42,
        record,
        ..SimConfig::default()
    }
    .link(link);
    let mut sim = Sim::new(cfg, conn(), conn());
    sim.tap(Side::A, config.codec, config.max_packet_payload);
    sim
}

/// Keeps every channel's outbox (and so its send queue) full for `run`,
/// then lets everything drain. Returns A's message packets on the wire.
fn saturate(sim: &mut Sim<GrowBuf>, ids: &[u8], run: Duration) -> Vec<TapPacket> {
    let end = sim.now() + run;
    let mut seq = 0u32;
    // Bounded: one iteration per 10 ms of simulated time.
    for _ in 0..=run.as_millis() / 10 {
        if sim.now() >= end {
            break;
        }
        for &id in ids {
            while sim.peer(Side::A).chan(id).outbox.len() < 4 {
                seq += 1;
                let mut msg = vec![id; MSG];
                msg[..4].copy_from_slice(&seq.to_le_bytes());
                sim.send(Side::A, id, msg);
            }
        }
        sim.run_for(Duration::from_millis(10)).unwrap();
    }
    assert!(sim.now() >= end);
    // Everything accepted arrives, in order (digests of the sequences).
    sim.run_until_delivered().unwrap();
    for &id in ids {
        let (tx, rx) = (sim.peer(Side::A).chan(id), sim.peer(Side::B).chan(id));
        assert_eq!(tx.accepted_count, rx.received_count);
        assert_eq!(tx.accepted_digest, rx.received_digest);
        assert!(tx.full_count > 0, "channel {id:#04x} was never saturated");
    }
    assert!(sim.peer(Side::A).closed.is_none() && sim.peer(Side::B).closed.is_none());
    sim.peer(Side::A)
        .tapped()
        .iter()
        .filter(|p| matches!(p.kind, TapKind::Msg { .. }) && p.at < end)
        .copied()
        .collect()
}

fn channel_of(p: &TapPacket) -> u8 {
    match p.kind {
        TapKind::Msg { channel, .. } => channel,
        _ => unreachable!(),
    }
}

/// Wire bytes per channel among `packets`.
fn bytes(packets: &[TapPacket], id: u8) -> u64 {
    packets
        .iter()
        .filter(|p| channel_of(p) == id)
        .map(|p| p.wire as u64)
        .sum()
}

#[test]
fn saturated_priorities_1_and_10_split_1_to_10_without_starvation() {
    for config in [Config::cometbft(), Config::seed()] {
        let channels = [
            ChannelConfig::new(0x01, 1)
                .send_queue(2)
                .recv_message_capacity(MSG),
            ChannelConfig::new(0x02, 10)
                .send_queue(2)
                .recv_message_capacity(MSG),
        ];
        let mut sim = sim(&config, &channels, false);
        // 12 s at 1 MB/s: about 11 000 packets and six decay periods.
        let packets = saturate(&mut sim, &[0x01, 0x02], Duration::from_secs(12));
        assert!(packets.len() > 10_000, "{} packets", packets.len());

        // Skip the first second (start-up), then compare the split.
        let steady: Vec<_> = packets
            .iter()
            .filter(|p| p.at >= Instant::from_millis(1000))
            .copied()
            .collect();
        let (low, high) = (bytes(&steady, 0x01), bytes(&steady, 0x02));
        let ratio = low as f64 / high as f64;
        assert!(
            (0.09..=0.11).contains(&ratio),
            "{:?}: low {low} high {high} ratio {ratio}",
            config.codec
        );

        // Never starved: every 200 consecutive packets carry some of the
        // low-priority channel, and so does every 250 ms of simulated time.
        for (k, w) in packets.windows(200).enumerate() {
            assert!(
                w.iter().any(|p| channel_of(p) == 0x01),
                "{:?}: no low-priority packet in packets {k}..{}",
                config.codec,
                k + 200
            );
        }
        let low_times: Vec<u64> = packets
            .iter()
            .filter(|p| channel_of(p) == 0x01)
            .map(|p| p.at.as_micros())
            .collect();
        for gap in low_times.windows(2) {
            assert!(
                gap[1] - gap[0] <= 250_000,
                "{:?}: gap {gap:?}",
                config.codec
            );
        }
        assert!(low_times[0] <= 250_000);
    }
}

#[test]
fn equal_priorities_split_evenly() {
    let channels = [
        ChannelConfig::new(0x10, 5)
            .send_queue(2)
            .recv_message_capacity(MSG),
        ChannelConfig::new(0x11, 5)
            .send_queue(2)
            .recv_message_capacity(MSG),
    ];
    let mut sim = sim(&Config::cometbft(), &channels, false);
    let packets = saturate(&mut sim, &[0x10, 0x11], Duration::from_secs(6));
    let (a, b) = (bytes(&packets, 0x10), bytes(&packets, 0x11));
    let ratio = a as f64 / b as f64;
    assert!((0.95..=1.05).contains(&ratio), "{a} vs {b}");
    // Both always busy with equal packet sizes: they alternate.
    for w in packets.windows(3) {
        assert!(
            channel_of(&w[0]) != channel_of(&w[1]) || channel_of(&w[1]) != channel_of(&w[2]),
            "three packets in a row from one channel"
        );
    }
}

#[test]
fn ties_go_to_the_channel_listed_first() {
    // Listed first but with the higher id: order of the list decides.
    let channels = [
        ChannelConfig::new(0x30, 3).recv_message_capacity(MSG),
        ChannelConfig::new(0x20, 3).recv_message_capacity(MSG),
    ];
    for config in [Config::cometbft(), Config::seed()] {
        let mut sim = sim(&config, &channels, true);
        // Both queued before A transmits anything; 4 full packets each.
        sim.send(Side::A, 0x20, vec![2; 4 * 1024]);
        sim.send(Side::A, 0x30, vec![3; 4 * 1024]);
        sim.run_until_delivered().unwrap();
        let order: Vec<u8> = sim
            .peer(Side::A)
            .tapped()
            .iter()
            .filter(|p| matches!(p.kind, TapKind::Msg { .. }))
            .map(channel_of)
            .collect();
        // Equal counters: the first listed wins, then the other (lower
        // counter), then a tie again, and so on.
        assert_eq!(
            order,
            [0x30, 0x20, 0x30, 0x20, 0x30, 0x20, 0x30, 0x20],
            "{:?}",
            config.codec
        );
        assert_eq!(sim.peer(Side::B).chan(0x30).received, vec![vec![3; 4096]]);
        assert_eq!(sim.peer(Side::B).chan(0x20).received, vec![vec![2; 4096]]);
    }
}
