//! Keepalive on simulated time, CometBFT and seed modes.

use core::time::Duration;

use mconn::conn::{
    ChannelConfig, CloseReason, Config, Event, GrowBuf, Keepalive, MConnection, PingLimit,
};
use mconn::wire::packet::{Codec, Packet};
use mconn::Instant;

const PING: Duration = Duration::from_secs(60);
const PONG: Duration = Duration::from_secs(45);

fn at(secs: f64) -> Instant {
    Instant::from_micros((secs * 1e6) as u64)
}

fn open(config: Config) -> MConnection<GrowBuf> {
    let chans = [ChannelConfig::new(0x20, 1).recv_message_capacity(1000)];
    MConnection::with_alloc(&config, &chans, Instant::ZERO).unwrap()
}

fn sent(c: &mut MConnection<GrowBuf>, codec: Codec, now: Instant) -> Vec<String> {
    let mut buf = [0u8; 4096];
    let n = c.poll_transmit(now, &mut buf);
    let mut bytes = &buf[..n];
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (p, used) = codec.decode(bytes, 1024).unwrap().unwrap();
        out.push(match p {
            Packet::Ping => "ping".to_string(),
            Packet::Pong => "pong".to_string(),
            Packet::Msg { data, .. } => format!("msg:{}", String::from_utf8_lossy(data)),
        });
        bytes = &bytes[used..];
    }
    out
}

fn feed(c: &mut MConnection<GrowBuf>, codec: Codec, now: Instant, p: Packet<'_>) {
    let mut buf = [0u8; 64];
    let n = codec.encode(&p, &mut buf).unwrap();
    assert_eq!(c.handle_input(now, &buf[..n]), Ok(n));
}

/// Advances to each deadline up to `until`, like a driver would.
fn run_until(c: &mut MConnection<GrowBuf>, codec: Codec, until: Instant) -> Vec<(Instant, String)> {
    let mut log = Vec::new();
    for _ in 0..10_000 {
        let Some(t) = c.poll_timeout() else { break };
        if t > until {
            break;
        }
        c.handle_timeout(t);
        log.extend(sent(c, codec, t).into_iter().map(|s| (t, s)));
    }
    log
}

fn closed_reason(c: &mut MConnection<GrowBuf>) -> Option<CloseReason> {
    std::iter::from_fn(|| c.poll_event()).find_map(|e| match e {
        Event::Closed(r) => Some(r),
        _ => None,
    })
}

#[test]
fn cometbft_pings_on_schedule_and_survives_with_pongs() {
    let mut c = open(Config::cometbft());
    assert_eq!(c.poll_timeout(), Some(Instant::ZERO + PING));
    for k in 1..=5u64 {
        let t = Instant::ZERO + PING * k as u32;
        let log = run_until(&mut c, Codec::Protobuf, t);
        assert_eq!(log, vec![(t, "ping".to_string())], "ping {k}");
        // The pong comes 1 s later; the deadline must then be the next ping.
        let reply = t + Duration::from_secs(1);
        feed(&mut c, Codec::Protobuf, reply, Packet::Pong);
        assert_eq!(c.poll_timeout(), Some(t + PING));
        assert_eq!(c.stats().last_rtt_micros, Some(1_000_000));
    }
    assert!(!c.is_closed());
    assert_eq!(c.stats().pings_sent, 5);
}

#[test]
fn cometbft_pings_even_while_traffic_flows() {
    // Unlike seed mode, traffic does not postpone the ping.
    let mut c = open(Config::cometbft());
    for s in 1..60 {
        feed(
            &mut c,
            Codec::Protobuf,
            at(s as f64),
            Packet::Msg {
                channel: 0x20,
                eof: true,
                data: b"x",
            },
        );
        while c.poll_message().is_some() {}
    }
    assert_eq!(
        run_until(&mut c, Codec::Protobuf, at(60.0)),
        vec![(at(60.0), "ping".to_string())]
    );
}

#[test]
fn cometbft_silent_peer_times_out() {
    let mut c = open(Config::cometbft());
    run_until(&mut c, Codec::Protobuf, at(60.0));
    assert_eq!(c.poll_timeout(), Some(at(60.0) + PONG));
    c.handle_timeout(at(104.9));
    assert!(!c.is_closed());
    c.handle_timeout(at(105.0));
    assert!(c.is_closed());
    assert_eq!(closed_reason(&mut c), Some(CloseReason::PongTimeout));
}

#[test]
fn cometbft_answers_pings_and_coalesces() {
    let mut c = open(Config::cometbft());
    feed(&mut c, Codec::Protobuf, at(1.0), Packet::Ping);
    feed(&mut c, Codec::Protobuf, at(1.0), Packet::Ping);
    feed(&mut c, Codec::Protobuf, at(1.0), Packet::Ping);
    c.try_send(0x20, b"data").unwrap();
    // One pong, ahead of queued data.
    assert_eq!(
        sent(&mut c, Codec::Protobuf, at(1.0)),
        vec!["pong", "msg:data"]
    );
    assert_eq!(c.stats().pings_received, 3);
}

#[test]
fn cometbft_ping_flood_closes() {
    let mut config = Config::cometbft();
    config.ping_limit = PingLimit {
        burst: 3,
        refill: Duration::from_secs(1),
    };
    let mut c = open(config);
    // One ping per second forever is fine.
    for s in 0..20 {
        feed(&mut c, Codec::Protobuf, at(s as f64), Packet::Ping);
        sent(&mut c, Codec::Protobuf, at(s as f64));
    }
    assert!(!c.is_closed());
    // A burst above the limit is not.
    let mut buf = [0u8; 3];
    Codec::Protobuf.encode(&Packet::Ping, &mut buf).unwrap();
    for _ in 0..4 {
        let _ = c.handle_input(at(20.5), &buf);
    }
    assert_eq!(closed_reason(&mut c), Some(CloseReason::PingFlood));
}

#[test]
fn intervals_are_configurable() {
    let mut config = Config::cometbft();
    config.keepalive = Keepalive::CometBft {
        ping_interval: Duration::from_millis(200),
        pong_timeout: Duration::from_millis(100),
    };
    let mut c = open(config);
    let log = run_until(&mut c, Codec::Protobuf, at(0.2));
    assert_eq!(log, vec![(at(0.2), "ping".to_string())]);
    run_until(&mut c, Codec::Protobuf, at(0.3));
    assert_eq!(closed_reason(&mut c), Some(CloseReason::PongTimeout));
}

#[test]
fn our_own_stall_does_not_time_out_the_peer() {
    let chans = [ChannelConfig::new(0x20, 1)
        .recv_message_capacity(10)
        .recv_buffer(20)];
    let mut c = MConnection::with_alloc(&Config::cometbft(), &chans, Instant::ZERO).unwrap();
    run_until(&mut c, Codec::Protobuf, at(60.0));
    // The peer's data fills our budget; its pong waits behind the next message.
    let mut input = Vec::new();
    for p in [
        Packet::Msg {
            channel: 0x20,
            eof: true,
            data: b"0123456789",
        },
        Packet::Msg {
            channel: 0x20,
            eof: true,
            data: b"abcdefghij",
        },
        Packet::Pong,
    ] {
        let mut b = [0u8; 32];
        let n = Codec::Protobuf.encode(&p, &mut b).unwrap();
        input.extend_from_slice(&b[..n]);
    }
    let used = c.handle_input(at(61.0), &input).unwrap();
    assert!(c.is_input_stalled());
    // Long past the pong timeout, we still have not read the pong: not the peer's fault.
    c.handle_timeout(at(106.0));
    assert!(!c.is_closed());
    assert!(c.pop_message(0x20).unwrap());
    assert_eq!(
        c.handle_input(at(107.0), &input[used..]),
        Ok(input.len() - used)
    );
    assert_eq!(c.stats().pongs_received, 1);
    c.handle_timeout(at(119.0));
    assert!(!c.is_closed());
}

#[test]
fn seed_pings_after_silence_only() {
    let mut c = open(Config::seed());
    assert_eq!(c.poll_timeout(), Some(at(40.0)));
    // Traffic postpones the ping.
    feed(
        &mut c,
        Codec::GoWire,
        at(30.0),
        Packet::Msg {
            channel: 0x20,
            eof: true,
            data: b"hi",
        },
    );
    assert_eq!(c.poll_timeout(), Some(at(70.0)));
    let log = run_until(&mut c, Codec::GoWire, at(70.0));
    assert_eq!(log, vec![(at(70.0), "ping".to_string())]);
    // A message (not only a pong) proves the peer alive.
    feed(
        &mut c,
        Codec::GoWire,
        at(100.0),
        Packet::Msg {
            channel: 0x20,
            eof: true,
            data: b"alive",
        },
    );
    c.handle_timeout(at(116.0));
    assert!(!c.is_closed());
    assert_eq!(c.poll_timeout(), Some(at(140.0)));
}

#[test]
fn seed_silent_peer_times_out() {
    let mut c = open(Config::seed());
    run_until(&mut c, Codec::GoWire, at(40.0));
    assert_eq!(c.poll_timeout(), Some(at(85.0)));
    c.handle_timeout(at(85.0));
    assert_eq!(closed_reason(&mut c), Some(CloseReason::PongTimeout));
}

#[test]
fn seed_pong_only_when_nothing_queued() {
    let mut c = open(Config::seed());
    feed(&mut c, Codec::GoWire, at(1.0), Packet::Ping);
    assert_eq!(sent(&mut c, Codec::GoWire, at(1.0)), vec!["pong"]);
    feed(&mut c, Codec::GoWire, at(2.0), Packet::Ping);
    c.try_send(0x20, b"busy").unwrap();
    assert_eq!(sent(&mut c, Codec::GoWire, at(2.0)), vec!["msg:busy"]);
    assert_eq!(c.stats().pongs_sent, 1);
}

#[test]
fn seed_leaves_excess_pings_unanswered() {
    let mut config = Config::seed();
    config.ping_limit = PingLimit {
        burst: 2,
        refill: Duration::from_secs(10),
    };
    let mut c = open(config);
    let mut answered = 0;
    for _ in 0..5 {
        feed(&mut c, Codec::GoWire, at(1.0), Packet::Ping);
        answered += sent(&mut c, Codec::GoWire, at(1.0)).len();
    }
    assert_eq!(answered, 2);
    assert!(!c.is_closed());
    feed(&mut c, Codec::GoWire, at(11.0), Packet::Ping);
    assert_eq!(sent(&mut c, Codec::GoWire, at(11.0)), vec!["pong"]);
}
