//! MConnection against a scripted peer at the byte level: bad input ends in
//! typed close reasons, sends report Full/Writable, close flushes, and the
//! channel packetizer follows the 1034-byte rule.

use mconn::conn::{
    ChannelConfig, CloseReason, Config, Error, Event, GrowBuf, Keepalive, MConnection,
};
use mconn::wire::packet::{Codec, Packet};
use mconn::wire::DecodeError;
use mconn::Instant;

const T0: Instant = Instant::ZERO;

fn channels() -> Vec<ChannelConfig> {
    vec![
        ChannelConfig::new(0x20, 5)
            .send_queue(2)
            .recv_message_capacity(4096),
        ChannelConfig::new(0x30, 1)
            .send_queue(1)
            .recv_message_capacity(100),
    ]
}

fn open(config: Config) -> MConnection<GrowBuf> {
    MConnection::with_alloc(&config, &channels(), T0).unwrap()
}

fn wire(codec: Codec, packets: &[Packet<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in packets {
        let mut buf = vec![0u8; codec.encoded_len(p)];
        codec.encode(p, &mut buf).unwrap();
        out.extend_from_slice(&buf);
    }
    out
}

fn drain(c: &mut MConnection<GrowBuf>, now: Instant) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 700]; // smaller than one full packet: exercises staging
    for _ in 0..100_000 {
        let n = c.poll_transmit(now, &mut buf);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
    panic!("poll_transmit never ran dry");
}

fn packets(codec: Codec, mut bytes: &[u8]) -> Vec<Packet<'_>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (p, n) = codec.decode(bytes, 1024).unwrap().expect("whole packets");
        out.push(p);
        bytes = &bytes[n..];
    }
    out
}

fn events(c: &mut MConnection<GrowBuf>) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn closed_by(codec_config: Config, input: &[u8]) -> CloseReason {
    let mut c = open(codec_config);
    // Feed byte by byte: the reason must not depend on fragmentation.
    for i in 0..input.len() {
        match c.handle_input(T0, &input[i..i + 1]) {
            Ok(1) => {}
            Ok(n) => panic!("consumed {n} of 1"),
            Err(Error::Closed) => break,
            Err(e) => panic!("{e}"),
        }
        if c.is_closed() {
            break;
        }
    }
    assert!(c.is_closed(), "input did not close the connection");
    match events(&mut c).as_slice() {
        [Event::Closed(reason)] => *reason,
        other => panic!("events {other:?}"),
    }
}

#[test]
fn bad_input_closes_with_typed_reasons() {
    let pb = Config::cometbft();
    let msg = |channel, data: &'static [u8]| Packet::Msg {
        channel,
        eof: true,
        data,
    };
    assert_eq!(
        closed_by(pb, &wire(Codec::Protobuf, &[msg(0x99, b"x")])),
        CloseReason::UnknownChannel(0x99)
    );
    assert_eq!(
        closed_by(pb, &wire(Codec::Protobuf, &[msg(0x30, &[0; 101])])),
        CloseReason::MessageTooLarge(0x30)
    );
    // Too large across packets of one message.
    let part = Packet::Msg {
        channel: 0x30,
        eof: false,
        data: &[0; 60],
    };
    assert_eq!(
        closed_by(pb, &wire(Codec::Protobuf, &[part, part])),
        CloseReason::MessageTooLarge(0x30)
    );
    assert_eq!(closed_by(pb, &[0x8b, 0x08]), CloseReason::PacketTooLarge);
    assert_eq!(closed_by(pb, &[0xff; 10]), CloseReason::VarintOverflow);
    assert_eq!(closed_by(pb, &[0x00]), CloseReason::UnknownPacketType);
    assert_eq!(
        closed_by(pb, &[0x02, 0x0b, 0x00]),
        CloseReason::MalformedPacket(DecodeError::InvalidField)
    );
    assert_eq!(
        closed_by(pb, &[0x05, 0x1a, 0x03, 0x08, 0x80, 0x02]),
        CloseReason::ChannelOutOfRange
    );

    let gw = Config::seed();
    assert_eq!(closed_by(gw, &[0x07]), CloseReason::UnknownPacketType);
    assert_eq!(
        closed_by(gw, &wire(Codec::GoWire, &[msg(0x99, b"x")])),
        CloseReason::UnknownChannel(0x99)
    );
    assert_eq!(
        closed_by(gw, &[0x03, 0x20, 0x01, 0x02, 0x04, 0x01]),
        CloseReason::PacketTooLarge
    );
    assert_eq!(
        closed_by(gw, &[0x03, 0x20, 0x05, 0x00]),
        CloseReason::MalformedPacket(DecodeError::Invalid)
    );
}

#[test]
fn fragmented_input_reassembles_per_channel() {
    let codec = Codec::Protobuf;
    let bytes = wire(
        codec,
        &[
            Packet::Msg {
                channel: 0x20,
                eof: false,
                data: b"hel",
            },
            Packet::Msg {
                channel: 0x30,
                eof: true,
                data: b"other",
            },
            Packet::Ping,
            Packet::Msg {
                channel: 0x20,
                eof: true,
                data: b"lo",
            },
            Packet::Msg {
                channel: 0x30,
                eof: true,
                data: b"",
            },
        ],
    );
    for chunk in [1, 2, 3, 7, bytes.len()] {
        let mut c = open(Config::cometbft());
        let mut got = Vec::new();
        for piece in bytes.chunks(chunk) {
            assert_eq!(c.handle_input(T0, piece), Ok(piece.len()));
            while let Some((ch, m)) = c.poll_message() {
                got.push((ch, m.to_vec()));
            }
        }
        got.sort_by_key(|(ch, _)| *ch); // order is per channel
        assert_eq!(
            got,
            vec![
                (0x20, b"hello".to_vec()),
                (0x30, b"other".to_vec()),
                (0x30, vec![])
            ]
        );
        assert_eq!(packets(codec, &drain(&mut c, T0)), vec![Packet::Pong]);
        assert_eq!(c.stats().pings_received, 1);
    }
}

#[test]
fn try_send_reports_full_then_writable() {
    let mut c = open(Config::cometbft());
    assert_eq!(c.try_send(0x99, b"x"), Err(Error::UnknownChannel));
    assert_eq!(c.try_send(0x30, b"a"), Ok(()));
    assert_eq!(c.try_send(0x30, b"b"), Err(Error::Full));
    assert!(!c.can_send(0x30, 1));
    let too_big = vec![
        0u8;
        ChannelConfig::new(0x30, 1)
            .recv_message_capacity(100)
            .send_buffer_bytes()
    ];
    assert_eq!(c.try_send(0x30, &too_big), Err(Error::TooLarge));
    assert!(events(&mut c).is_empty());
    let out = drain(&mut c, T0);
    assert_eq!(
        packets(Codec::Protobuf, &out),
        vec![Packet::Msg {
            channel: 0x30,
            eof: true,
            data: b"a"
        }]
    );
    assert_eq!(events(&mut c), vec![Event::Writable(0x30)]);
    assert_eq!(c.try_send(0x30, b"b"), Ok(()));
    let s = c.channel_stats(0x30).unwrap();
    assert_eq!((s.messages_sent, s.bytes_sent, s.send_queue_len), (1, 1, 1));
}

#[test]
fn message_in_flight_frees_its_queue_slot() {
    // Go semantics: the slot frees when a message starts sending.
    let mut c = open(Config::cometbft());
    let big = vec![1u8; 3000];
    c.try_send(0x30, &big).unwrap();
    let mut buf = [0u8; 1100];
    let n = c.poll_transmit(T0, &mut buf);
    assert!(n > 1000);
    assert_eq!(c.try_send(0x30, b"next"), Ok(()));
    let rest = drain(&mut c, T0);
    let mut all = buf[..n].to_vec();
    all.extend_from_slice(&rest);
    let ps = packets(Codec::Protobuf, &all);
    assert_eq!(ps.len(), 4);
    assert_eq!(
        ps[3],
        Packet::Msg {
            channel: 0x30,
            eof: true,
            data: b"next"
        }
    );
}

#[test]
fn large_messages_split_into_full_packets() {
    let chans = [
        ChannelConfig::new(0x01, 1).recv_message_capacity(5000),
        ChannelConfig::new(0x80, 1).recv_message_capacity(5000),
    ];
    let mut c = MConnection::with_alloc(&Config::cometbft(), &chans, T0).unwrap();
    let msg: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    c.try_send(0x01, &msg).unwrap();
    let out = drain(&mut c, T0);
    let sizes: Vec<_> = packets(Codec::Protobuf, &out)
        .iter()
        .map(|p| match p {
            Packet::Msg { data, eof, .. } => (data.len(), *eof),
            _ => panic!(),
        })
        .collect();
    assert_eq!(sizes, vec![(1024, false), (1024, false), (952, true)]);
    c.try_send(0x80, &msg).unwrap();
    let out = drain(&mut c, T0);
    let sizes: Vec<_> = packets(Codec::Protobuf, &out)
        .iter()
        .map(|p| match p {
            Packet::Msg { data, .. } => data.len(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(sizes, vec![1023, 1023, 954]);
}

#[test]
fn close_sends_everything_queued_first() {
    let mut c = open(Config::cometbft());
    c.try_send(0x20, &[5u8; 2500]).unwrap();
    c.try_send(0x20, b"last").unwrap();
    c.close();
    assert_eq!(c.try_send(0x20, b"late"), Err(Error::Closed));
    assert!(!c.is_closed());
    let out = drain(&mut c, T0);
    assert_eq!(packets(Codec::Protobuf, &out).len(), 4);
    assert!(c.is_closed());
    assert_eq!(events(&mut c), vec![Event::Closed(CloseReason::Closed)]);
    assert_eq!(c.handle_input(T0, &[0x02, 0x0a, 0x00]), Err(Error::Closed));
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn abort_drops_queued_data() {
    let mut c = open(Config::cometbft());
    c.try_send(0x20, b"never").unwrap();
    c.abort();
    assert!(drain(&mut c, T0).is_empty());
    assert_eq!(events(&mut c), vec![Event::Closed(CloseReason::Aborted)]);
}

#[test]
fn received_messages_survive_a_peer_error() {
    let mut c = open(Config::cometbft());
    let mut input = wire(
        Codec::Protobuf,
        &[Packet::Msg {
            channel: 0x20,
            eof: true,
            data: b"kept",
        }],
    );
    input.push(0x00);
    c.handle_input(T0, &input).unwrap();
    assert!(c.is_closed());
    assert_eq!(c.poll_message(), Some((0x20, &b"kept"[..])));
    assert_eq!(
        events(&mut c),
        vec![Event::Closed(CloseReason::UnknownPacketType)]
    );
}

#[test]
fn full_receive_budget_applies_back_pressure() {
    let chans = [ChannelConfig::new(0x20, 1)
        .recv_message_capacity(100)
        .recv_buffer(120)];
    let mut c = MConnection::with_alloc(&Config::cometbft(), &chans, T0).unwrap();
    let m = |d: &'static [u8]| Packet::Msg {
        channel: 0x20,
        eof: true,
        data: d,
    };
    let input = wire(Codec::Protobuf, &[m(&[1; 90]), m(&[2; 20]), m(&[3; 50])]);
    let used = c.handle_input(T0, &input).unwrap();
    assert!(used < input.len());
    assert!(c.is_input_stalled());
    assert_eq!(c.peek_message(0x20).unwrap().map(|m| m.len()), Some(90));
    assert_eq!(c.pop_message(0x20), Ok(true));
    let used2 = c.handle_input(T0, &input[used..]).unwrap();
    assert_eq!(used + used2, input.len());
    let mut got = Vec::new();
    while let Some((_, msg)) = c.poll_message() {
        got.push(msg[0]);
    }
    assert_eq!(got, vec![2, 3]);
}

#[test]
fn stalled_staged_packet_resumes_on_empty_input() {
    let chans = [ChannelConfig::new(0x20, 1)
        .recv_message_capacity(100)
        .recv_buffer(110)];
    let mut c = MConnection::with_alloc(&Config::cometbft(), &chans, T0).unwrap();
    let m = |d: &'static [u8]| Packet::Msg {
        channel: 0x20,
        eof: true,
        data: d,
    };
    let input = wire(Codec::Protobuf, &[m(&[1; 90]), m(&[2; 50])]);
    for b in input.chunks(1) {
        // The second packet is staged byte by byte, then stalls inside.
        assert_eq!(c.handle_input(T0, b), Ok(1));
    }
    assert!(c.is_input_stalled());
    assert_eq!(c.pop_message(0x20), Ok(true));
    assert_eq!(c.handle_input(T0, &[]), Ok(0));
    assert_eq!(c.poll_message().map(|(_, m)| m.len()), Some(50));
}

#[test]
fn config_errors_are_typed() {
    use mconn::conn::ConfigError;
    let c = Config::cometbft();
    let dup = [ChannelConfig::new(1, 1), ChannelConfig::new(1, 2)];
    assert_eq!(
        MConnection::with_alloc(&c, &dup, T0).err(),
        Some(ConfigError::DuplicateChannel(1))
    );
    assert_eq!(
        MConnection::with_alloc(&c, &[ChannelConfig::new(2, 0)], T0).err(),
        Some(ConfigError::ZeroPriority(2))
    );
    assert_eq!(
        MConnection::with_alloc(&c, &[], T0).err(),
        Some(ConfigError::NoChannels)
    );
    let mut bad = c;
    bad.keepalive = Keepalive::CometBft {
        ping_interval: core::time::Duration::from_secs(1),
        pong_timeout: core::time::Duration::from_secs(2),
    };
    assert_eq!(
        MConnection::with_alloc(&bad, &channels(), T0).err(),
        Some(ConfigError::Keepalive)
    );
    let mut storage = [0u8; 100];
    assert_eq!(
        MConnection::in_arena(&c, &channels(), T0, &mut storage).err(),
        Some(ConfigError::StorageTooSmall)
    );
    let tiny = [ChannelConfig::new(3, 1)
        .recv_message_capacity(100)
        .recv_buffer(50)];
    assert_eq!(
        MConnection::with_alloc(&c, &tiny, T0).err(),
        Some(ConfigError::BufferTooSmall(3))
    );
}
