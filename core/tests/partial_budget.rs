//! The per-connection bounds on partial (started, not finished) messages:
//! the byte budget beyond the largest one and the no-progress timeout, on
//! simulated time, against crafted packets and against a real sender.

use core::time::Duration;

use mconn::conn::{
    ChannelConfig, CloseReason, Config, ConfigError, Event, GrowBuf, Keepalive, MConnection,
    COMETBFT_CHANNELS, DEFAULT_PARTIAL_BUDGET, DEFAULT_PARTIAL_TIMEOUT,
};
use mconn::wire::packet::{Codec, Packet};
use mconn::Instant;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

fn secs(s: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(s)
}

fn quiet() -> Config {
    let mut c = Config::cometbft();
    c.keepalive = Keepalive::Off;
    c
}

fn open(config: &Config, channels: &[ChannelConfig]) -> MConnection<GrowBuf> {
    MConnection::with_alloc(config, channels, Instant::ZERO).expect("valid config")
}

/// Feeds one msg packet; returns the bytes consumed.
fn feed(c: &mut MConnection<GrowBuf>, now: Instant, channel: u8, eof: bool, data: &[u8]) -> usize {
    let mut wire = vec![0u8; data.len() + 16];
    let packet = Packet::Msg { channel, eof, data };
    let n = Codec::Protobuf.encode(&packet, &mut wire).expect("sized");
    c.handle_input(now, &wire[..n]).expect("open")
}

fn closed(c: &mut MConnection<GrowBuf>) -> Option<CloseReason> {
    std::iter::from_fn(|| c.poll_event()).find_map(|e| match e {
        Event::Closed(r) => Some(r),
        Event::Writable(_) => None,
    })
}

#[test]
fn defaults_are_documented_values() {
    let c = Config::cometbft();
    assert_eq!(c.partial_budget, DEFAULT_PARTIAL_BUDGET);
    assert_eq!(DEFAULT_PARTIAL_BUDGET, 4 * MIB);
    assert_eq!(c.partial_timeout, Some(DEFAULT_PARTIAL_TIMEOUT));
    assert_eq!(DEFAULT_PARTIAL_TIMEOUT, Duration::from_secs(60));
    assert_eq!(Config::seed().partial_budget, DEFAULT_PARTIAL_BUDGET);
}

#[test]
fn config_refuses_a_budget_below_one_packet_per_other_channel_or_a_zero_timeout() {
    let channels: Vec<_> = (0..4).map(|i| ChannelConfig::new(i, 1)).collect();
    let mut config = Config::cometbft();
    config.partial_budget = 3 * 1024 - 1;
    let err = MConnection::with_alloc(&config, &channels, Instant::ZERO).unwrap_err();
    assert_eq!(err, ConfigError::PartialLimits);
    config.partial_budget = 3 * 1024;
    assert!(MConnection::with_alloc(&config, &channels, Instant::ZERO).is_ok());
    // One channel: nothing to share, any budget works.
    config.partial_budget = 0;
    assert!(MConnection::with_alloc(&config, &channels[..1], Instant::ZERO).is_ok());
    config.partial_budget = DEFAULT_PARTIAL_BUDGET;
    config.partial_timeout = Some(Duration::ZERO);
    let err = MConnection::with_alloc(&config, &channels, Instant::ZERO).unwrap_err();
    assert_eq!(err, ConfigError::PartialLimits);
    config.partial_timeout = None;
    assert!(MConnection::with_alloc(&config, &channels, Instant::ZERO).is_ok());
}

/// The issue: half-finished messages on every CometBFT channel. Round robin,
/// one full packet per channel per turn, no message ever finished: the
/// connection closes with `PartialBudget` at exactly the packet that puts
/// more than the budget outside the largest partial message.
#[test]
fn half_finished_messages_on_every_cometbft_channel_are_cut_at_the_budget() {
    let config = Config::cometbft();
    let mut c = open(&config, &COMETBFT_CHANNELS);
    let chunk = [0x5au8; 1024];
    let mut held = [0usize; COMETBFT_CHANNELS.len()];
    let mut cut = None;
    'feed: for round in 0..100_000 {
        for (i, ch) in COMETBFT_CHANNELS.iter().enumerate() {
            // Stay below each channel's own capacity: only the budget may cut.
            if held[i] + chunk.len() >= ch.recv_message_capacity {
                continue;
            }
            held[i] += chunk.len();
            let outside = held.iter().sum::<usize>() - held.iter().max().unwrap();
            feed(&mut c, Instant::ZERO, ch.id, false, &chunk);
            if c.is_closed() {
                cut = Some((round, outside));
                break 'feed;
            }
            assert!(
                outside <= config.partial_budget,
                "over budget and still open"
            );
            assert_eq!(c.partial_bytes(), held.iter().sum::<usize>());
        }
    }
    let (_, outside) = cut.expect("the budget cut the peer");
    assert!(outside > config.partial_budget);
    assert_eq!(closed(&mut c), Some(CloseReason::PartialBudget));
    assert!(CloseReason::PartialBudget.is_peer_fault());
    // What it held when cut: a little over 4 MiB, not the channels' 127 MB.
    let total: usize = held.iter().sum::<usize>() - chunk.len();
    assert!(
        total <= config.partial_budget + held.iter().max().unwrap(),
        "{total}"
    );
    let capacities: usize = COMETBFT_CHANNELS
        .iter()
        .map(|c| c.recv_message_capacity)
        .sum();
    assert!(capacities > 120 * MIB, "{capacities}");
}

/// The control for the test above: with the budget off, the same peer holds
/// every channel's partial message (the memory the budget protects).
#[test]
fn without_a_budget_partial_messages_pile_up_on_every_channel() {
    let channels: Vec<_> = (0..10u8)
        .map(|i| ChannelConfig::new(0x20 + i, 1).recv_message_capacity(MIB))
        .collect();
    let mut config = quiet();
    config.partial_budget = usize::MAX;
    let mut c = open(&config, &channels);
    let chunk = [1u8; 1024];
    for _ in 0..(MIB / 1024 - 1) {
        for ch in &channels {
            feed(&mut c, Instant::ZERO, ch.id, false, &chunk);
        }
    }
    assert!(!c.is_closed());
    assert_eq!(c.partial_bytes(), 10 * (MIB - 1024));
    // The same traffic with a 1 MiB budget is cut early.
    config.partial_budget = MIB;
    let mut c = open(&config, &channels);
    let mut fed = 0usize;
    for _ in 0..(MIB / 1024 - 1) {
        for ch in &channels {
            if c.is_closed() {
                break;
            }
            feed(&mut c, Instant::ZERO, ch.id, false, &chunk);
            fed += chunk.len();
        }
    }
    assert_eq!(closed(&mut c), Some(CloseReason::PartialBudget));
    // Round robin over ten channels: cut once 9/10 of the total exceeds 1 MiB.
    assert!(fed < MIB * 10 / 9 + 10 * 1024, "fed {fed}");
}

/// One message may always use its channel's whole capacity: the budget
/// counts only what lies outside the largest partial message.
#[test]
fn one_large_message_passes_a_small_budget_while_other_channels_interleave() {
    let channels = [
        ChannelConfig::new(0x40, 1).recv_message_capacity(8 * MIB),
        ChannelConfig::new(0x20, 10).recv_message_capacity(64 * KIB),
    ];
    let mut config = quiet();
    config.partial_budget = 64 * KIB;
    let mut a = open(&config, &channels);
    let mut b = open(&config, &channels);
    let big: Vec<u8> = (0..8 * MIB).map(|i| (i % 251) as u8).collect();
    a.try_send(0x40, &big).unwrap();
    let small = vec![7u8; 20 * KIB];
    let mut wire = vec![0u8; 64 * KIB];
    let (mut got_big, mut got_small, mut sent_small) = (false, 0, 0);
    for _ in 0..100_000 {
        if sent_small < 200 && a.try_send(0x20, &small).is_ok() {
            sent_small += 1;
        }
        let n = a.poll_transmit(Instant::ZERO, &mut wire);
        assert_eq!(b.handle_input(Instant::ZERO, &wire[..n]), Ok(n));
        assert!(b.partial_bytes() <= 8 * MIB + 64 * KIB);
        while let Some((ch, msg)) = b.poll_message() {
            if ch == 0x40 {
                assert_eq!(msg, &big[..]);
                got_big = true;
            } else {
                assert_eq!(msg, &small[..]);
                got_small += 1;
            }
        }
        if n == 0 && got_big && got_small == sent_small && sent_small == 200 {
            break;
        }
    }
    assert_eq!(b.poll_event(), None, "receiver closed");
    assert!(got_big && got_small == 200);
}

#[test]
fn a_partial_message_without_progress_closes_after_the_timeout() {
    let channels = [
        ChannelConfig::new(0x20, 1).recv_message_capacity(64 * KIB),
        ChannelConfig::new(0x30, 1).recv_message_capacity(64 * KIB),
    ];
    let mut c = open(&quiet(), &channels);
    assert_eq!(c.poll_timeout(), None, "nothing partial, no keepalive");
    feed(&mut c, secs(0), 0x20, false, b"half");
    assert_eq!(c.poll_timeout(), Some(secs(60)));
    // Progress on the message restarts its clock.
    feed(&mut c, secs(30), 0x20, false, b"more");
    assert_eq!(c.poll_timeout(), Some(secs(90)));
    // An empty packet is no progress; another channel's traffic neither.
    feed(&mut c, secs(50), 0x20, false, b"");
    feed(&mut c, secs(55), 0x30, true, b"whole");
    assert_eq!(c.poll_timeout(), Some(secs(90)));
    c.handle_timeout(secs(89));
    assert!(!c.is_closed());
    c.handle_timeout(secs(90));
    assert_eq!(closed(&mut c), Some(CloseReason::PartialStale(0x20)));
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn a_finished_message_clears_its_deadline_and_none_disables_the_bound() {
    let channels = [ChannelConfig::new(0x20, 1).recv_message_capacity(64 * KIB)];
    let mut c = open(&quiet(), &channels);
    feed(&mut c, secs(0), 0x20, false, b"part");
    feed(&mut c, secs(10), 0x20, true, b"end");
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.poll_message(), Some((0x20, &b"partend"[..])));

    let mut config = quiet();
    config.partial_timeout = None;
    let mut c = open(&config, &channels);
    feed(&mut c, secs(0), 0x20, false, b"part");
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(secs(100_000));
    assert!(!c.is_closed());
}

/// While we do not read (our application has not taken its messages), the
/// peer cannot continue its partial message: its clock does not run out,
/// and it gets its full time again once we read.
#[test]
fn the_clock_waits_while_our_own_input_is_stalled() {
    let channels = [
        ChannelConfig::new(0x20, 1)
            .recv_message_capacity(1000)
            .recv_buffer(1004),
        ChannelConfig::new(0x30, 1).recv_message_capacity(64 * KIB),
    ];
    let mut c = open(&quiet(), &channels);
    feed(&mut c, secs(0), 0x30, false, b"partial");
    assert!(feed(&mut c, secs(1), 0x20, true, &[1; 1000]) > 1000);
    // The next message on 0x20 does not fit until the first is taken.
    assert_eq!(feed(&mut c, secs(2), 0x20, true, b"next"), 0);
    assert!(c.is_input_stalled());
    c.handle_timeout(secs(60));
    assert!(!c.is_closed(), "stalled by us: not the peer's fault");
    assert_eq!(c.poll_timeout(), Some(secs(120)));
    // The application takes its message at 100 s; reading resumes.
    assert_eq!(c.pop_message(0x20), Ok(true));
    assert!(feed(&mut c, secs(100), 0x20, true, b"next") > 0);
    assert!(!c.is_input_stalled());
    assert_eq!(c.poll_timeout(), Some(secs(160)));
    c.handle_timeout(secs(160));
    assert_eq!(closed(&mut c), Some(CloseReason::PartialStale(0x30)));
}

/// A real sender over a slow link (2 packets per second) with a large
/// message on a low-priority channel and a busy high-priority channel: the
/// scheduler keeps every partial message moving, so the default timeout
/// never fires and the budget never cuts, over more than twenty minutes of
/// simulated time.
#[test]
fn an_honest_sender_on_a_slow_link_never_trips_the_bounds() {
    let channels = [
        ChannelConfig::new(0x40, 1).recv_message_capacity(MIB),
        ChannelConfig::new(0x20, 10)
            .send_queue(4)
            .recv_message_capacity(8 * KIB),
        ChannelConfig::new(0x30, 3).recv_message_capacity(4 * KIB),
    ];
    let mut config = Config::cometbft();
    config.keepalive = Keepalive::Off;
    // The other channels' messages in flight at once: 5000 + 2500 bytes.
    config.partial_budget = 8 * KIB;
    let mut a = open(&config, &channels);
    let mut b = open(&config, &channels);
    let big = vec![9u8; 300 * KIB];
    a.try_send(0x40, &big).unwrap();
    let mut now = Instant::ZERO;
    let mut packet = [0u8; 1034];
    let mut received_big = false;
    let (mut last_seen, mut last_at, mut longest_gap) = (0u64, now, Duration::ZERO);
    for step in 0..100_000u32 {
        // Keep the other channels busy the whole time.
        let _ = a.try_send(0x20, &[step as u8; 5000]);
        let _ = a.try_send(0x30, &[3u8; 2500]);
        // About one packet at a time, half a second apart.
        let n = a.poll_transmit(now, &mut packet);
        assert_eq!(b.handle_input(now, &packet[..n]), Ok(n));
        let seen = b.channel_stats(0x40).unwrap().bytes_received;
        if seen != last_seen {
            longest_gap = longest_gap.max(now.saturating_duration_since(last_at));
            (last_seen, last_at) = (seen, now);
        }
        while let Some((ch, msg)) = b.poll_message() {
            if ch == 0x40 {
                assert_eq!(msg.len(), big.len());
                received_big = true;
            }
        }
        now += Duration::from_millis(500);
        if let Some(t) = b.poll_timeout() {
            if t <= now {
                b.handle_timeout(now);
            }
        }
        assert_eq!(b.poll_event(), None, "closed at step {step}");
        if received_big {
            break;
        }
    }
    assert!(received_big);
    assert!(now > secs(1200), "the transfer took {now:?}");
    assert!(longest_gap < DEFAULT_PARTIAL_TIMEOUT / 4, "{longest_gap:?}");
}
