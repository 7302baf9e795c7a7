//! MConnection regressions found by the `mconn_ops` fuzz target (`fuzz/`).

use core::time::Duration;

use mconn::conn::{ChannelConfig, Config, Keepalive, MConnection};
use mconn::wire::packet::{Codec, Packet};
use mconn::Instant;

/// While our input is stalled (the application does not take messages),
/// the pong deadline keeps restarting; we must not keep pinging meanwhile,
/// or the pings pile up unread at the peer, which then sees a ping flood
/// and closes an honest connection.
#[test]
fn no_new_ping_while_one_is_unanswered() {
    let mut config = Config::cometbft();
    config.keepalive = Keepalive::CometBft {
        ping_interval: Duration::from_secs(2),
        pong_timeout: Duration::from_secs(1),
    };
    let channels = [ChannelConfig::new(0x20, 1)
        .recv_message_capacity(10)
        .recv_buffer(14)];
    let t0 = Instant::ZERO;
    let mut conn = MConnection::with_alloc(&config, &channels, t0).unwrap();

    // Two messages; the second does not fit until the first is taken.
    let mut input = [0u8; 64];
    let msg = Packet::Msg {
        channel: 0x20,
        eof: true,
        data: b"0123456789",
    };
    let n = Codec::Protobuf.encode(&msg, &mut input).unwrap();
    let m = Codec::Protobuf.encode(&msg, &mut input[n..]).unwrap();
    assert_eq!(conn.handle_input(t0, &input[..n + m]), Ok(n));
    assert!(conn.is_input_stalled());

    let mut pings = 0;
    let mut out = [0u8; 256];
    for k in 1..=40u64 {
        let now = t0 + Duration::from_millis(1500 * k);
        conn.handle_timeout(now);
        let w = conn.poll_transmit(now, &mut out);
        let mut off = 0;
        while let Ok(Some((packet, used))) = Codec::Protobuf.decode(&out[off..w], 1024) {
            assert_eq!(packet, Packet::Ping);
            pings += 1;
            off += used;
        }
        assert!(
            !conn.is_closed(),
            "stalled input must not time out the pong"
        );
    }
    assert_eq!(pings, 1, "one ping in flight at a time");

    // Taking the message lets the pong in; pinging resumes on schedule.
    let now = t0 + Duration::from_secs(61);
    assert!(conn.poll_message().is_some());
    let mut pong = [0u8; 8];
    let p = Codec::Protobuf.encode(&Packet::Pong, &mut pong).unwrap();
    let mut rest = input[n..n + m].to_vec();
    rest.extend_from_slice(&pong[..p]);
    assert_eq!(conn.handle_input(now, &rest), Ok(rest.len()));
    assert_eq!(conn.stats().pongs_received, 1);
    let later = now + Duration::from_secs(2);
    conn.handle_timeout(later);
    let w = conn.poll_transmit(later, &mut out);
    assert_eq!(
        Codec::Protobuf.decode(&out[..w], 1024),
        Ok(Some((Packet::Ping, w))),
        "next ping"
    );
}
