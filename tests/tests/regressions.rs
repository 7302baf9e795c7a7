//! Regression tests for core bugs the simulator found.

use std::time::Duration;

use mconn::conn::{ChannelConfig, Config, ConfigError, MConnection};
use mconn::Instant;
use mconn_tests::sim::{Drain, LinkConfig, Side, Sim, SimConfig};

/// With a receive rate cap, the last packet leaves the bucket in debt and
/// `poll_timeout` reports when it recovers. Nothing refilled the bucket at
/// that deadline unless more input came, so `poll_timeout` stayed in the
/// past after `handle_timeout` (a driver would spin). The simulator fails
/// such a run with `TimerStuck`.
#[test]
fn recv_rate_deadline_moves_forward_when_input_stops() {
    let channels = [ChannelConfig::new(0x20, 1).recv_message_capacity(5000)];
    let mut cfg = Config::cometbft();
    cfg.recv_rate = Some(10_000);
    let conn = || MConnection::with_alloc(&cfg, &channels, Instant::ZERO).unwrap();
    let mut sim = Sim::new(SimConfig::default(), conn(), conn());
    for _ in 0..10 {
        sim.send(Side::A, 0x20, vec![1; 4000]);
    }
    sim.run_until_delivered().unwrap();
    // 40 kB at 10 kB/s (after a 20 kB burst): about 2 s.
    assert!(sim.now() >= Instant::from_millis(1500));
    sim.run_for(Duration::from_secs(200)).unwrap();
    assert_eq!(sim.peer(Side::B).chan(0x20).received_count, 10);
    assert!(sim.peer(Side::B).closed.is_none());
}

/// The same for a send rate cap while the link is full (the driver does not
/// call `poll_transmit`, so only `handle_timeout` can refill the bucket).
#[test]
fn send_rate_deadline_moves_forward_while_the_link_is_full() {
    let channels = [ChannelConfig::new(0x20, 1)
        .send_queue(50)
        .recv_message_capacity(5000)];
    let mut cfg = Config::cometbft();
    cfg.send_rate = Some(20_000);
    let conn = || MConnection::with_alloc(&cfg, &channels, Instant::ZERO).unwrap();
    let link = LinkConfig {
        window: 3000,
        ..LinkConfig::default()
    };
    let mut sim = Sim::new(SimConfig::default().link(link), conn(), conn());
    sim.peer_mut(Side::B).set_drain(0x20, Drain::Never);
    for _ in 0..40 {
        sim.send(Side::A, 0x20, vec![2; 4000]);
    }
    sim.run_for(Duration::from_secs(20)).unwrap();
    sim.peer_mut(Side::B).set_drain(0x20, Drain::All);
    sim.run_until_delivered().unwrap();
    assert!(sim.peer(Side::A).closed.is_none() && sim.peer(Side::B).closed.is_none());
}

/// Protobuf with `max_packet_payload = 1` leaves no room for data on a
/// channel id >= 0x80 (its id takes two varint bytes): the channel's
/// payload was 0 and the sender emitted empty non-eof packets forever.
/// Such a configuration is now refused.
#[test]
fn payload_too_small_for_a_channel_is_refused() {
    let channels = [ChannelConfig::new(0x80, 1).recv_message_capacity(5000)];
    let mut cfg = Config::cometbft();
    cfg.max_packet_payload = 1;
    assert_eq!(
        MConnection::with_alloc(&cfg, &channels, Instant::ZERO).unwrap_err(),
        ConfigError::PayloadSize
    );
    // GoWire has no such limit; protobuf with a payload of 2 works.
    for (codec_cfg, payload) in [(Config::seed(), 1), (Config::cometbft(), 2)] {
        let mut cfg = codec_cfg;
        cfg.max_packet_payload = payload;
        let conn = || MConnection::with_alloc(&cfg, &channels, Instant::ZERO).unwrap();
        let sim_cfg = SimConfig {
            max_bytes: 10_000_000,
            ..SimConfig::default()
        };
        let mut sim = Sim::new(sim_cfg, conn(), conn());
        sim.send(Side::A, 0x80, vec![7; 100]);
        sim.send(Side::A, 0x80, Vec::new());
        sim.run_until_delivered().unwrap();
        assert_eq!(
            sim.peer(Side::B).chan(0x80).received,
            vec![vec![7; 100], Vec::new()]
        );
    }
}
