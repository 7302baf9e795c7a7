//! Byte-exact packet vectors: upstream `TestConnVectors`, the spec §4.1 table,
//! and the seed documents' go-wire examples (spec §8.2).

use mconn::wire::packet::{Codec, Packet, PacketError};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn encode(codec: Codec, p: &Packet<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    let n = codec.encode(p, &mut buf).unwrap();
    assert_eq!(n, codec.encoded_len(p));
    buf.truncate(n);
    buf
}

fn roundtrip(codec: Codec, p: Packet<'_>, wire: &[u8]) {
    assert_eq!(encode(codec, &p), wire, "{p:?}");
    assert_eq!(codec.decode(wire, 1024), Ok(Some((p, wire.len()))));
    for cut in 0..wire.len() {
        assert_eq!(
            codec.decode(&wire[..cut], 1024),
            Ok(None),
            "prefix {cut} of {p:?}"
        );
    }
}

#[test]
fn upstream_conn_vectors() {
    // TestConnVectors encodes the Packet without the length prefix.
    let cases: [(Packet<'_>, &str); 3] = [
        (Packet::Ping, "0a00"),
        (Packet::Pong, "1200"),
        (
            Packet::Msg {
                channel: 1,
                eof: false,
                data: b"data transmitted over the wire",
            },
            "1a2208011a1e64617461207472616e736d6974746564206f766572207468652077697265",
        ),
    ];
    for (p, body) in cases {
        let wire = encode(Codec::Protobuf, &p);
        assert_eq!(wire[0] as usize, wire.len() - 1);
        assert_eq!(&wire[1..], &hex(body)[..]);
    }
}

#[test]
fn spec_table_protobuf() {
    roundtrip(Codec::Protobuf, Packet::Ping, &hex("020a00"));
    roundtrip(Codec::Protobuf, Packet::Pong, &hex("021200"));
    roundtrip(
        Codec::Protobuf,
        Packet::Msg {
            channel: 0x20,
            eof: true,
            data: b"hello",
        },
        &hex("0d1a0b082010011a0568656c6c6f"),
    );
    roundtrip(
        Codec::Protobuf,
        Packet::Msg {
            channel: 0,
            eof: true,
            data: &[0x0a, 0x00],
        },
        &hex("081a0610011a020a00"),
    );
    roundtrip(
        Codec::Protobuf,
        Packet::Msg {
            channel: 0x30,
            eof: false,
            data: &[1, 2, 3],
        },
        &hex("091a0708301a03010203"),
    );
    roundtrip(
        Codec::Protobuf,
        Packet::Msg {
            channel: 0x40,
            eof: true,
            data: &[],
        },
        &hex("061a0408401001"),
    );
    let full = [0xabu8; 1024];
    let wire = encode(
        Codec::Protobuf,
        &Packet::Msg {
            channel: 1,
            eof: true,
            data: &full,
        },
    );
    assert_eq!(&wire[..12], &hex("8a081a870808011001 1a8008")[..]);
    assert_eq!(wire.len(), 12 + 1024);
    assert_eq!(
        Codec::Protobuf.decode(&wire, 1024).unwrap().unwrap().1,
        wire.len()
    );
}

#[test]
fn max_packet_size_rule() {
    assert_eq!(Codec::Protobuf.max_body(1024), 1034);
    assert_eq!(Codec::GoWire.max_body(1024), 1034);
    // Channel ids >= 0x80 take two varint bytes: the payload shrinks to 1023.
    assert_eq!(Codec::Protobuf.payload_for_channel(0x7f, 1024), 1024);
    assert_eq!(Codec::Protobuf.payload_for_channel(0x80, 1024), 1023);
    assert_eq!(Codec::Protobuf.payload_for_channel(0xff, 1024), 1023);
    assert_eq!(Codec::Protobuf.payload_for_channel(0x00, 1024), 1024);
    for ch in [0u8, 1, 0x7f, 0x80, 0xff] {
        let n = Codec::Protobuf.payload_for_channel(ch, 1024);
        let data = vec![0u8; n];
        let wire = encode(
            Codec::Protobuf,
            &Packet::Msg {
                channel: ch,
                eof: true,
                data: &data,
            },
        );
        let body = wire.len() - if wire.len() - 2 >= 128 { 2 } else { 1 };
        assert!(body <= 1034, "channel {ch:#x}: body {body}");
        assert!(Codec::Protobuf.decode(&wire, 1024).unwrap().is_some());
    }
    // A 1035-byte body is refused, as Go refuses it.
    let data = vec![0u8; 1024];
    let wire = encode(
        Codec::Protobuf,
        &Packet::Msg {
            channel: 0x80,
            eof: true,
            data: &data,
        },
    );
    assert_eq!(
        Codec::Protobuf.decode(&wire, 1024),
        Err(PacketError::TooLarge)
    );
}

#[test]
fn seed_go_wire_examples() {
    roundtrip(Codec::GoWire, Packet::Ping, &[0x01]);
    roundtrip(Codec::GoWire, Packet::Pong, &[0x02]);
    roundtrip(
        Codec::GoWire,
        Packet::Msg {
            channel: 0x20,
            eof: true,
            data: b"hello",
        },
        &hex("0320010105 68656c6c6f"),
    );
    roundtrip(
        Codec::GoWire,
        Packet::Msg {
            channel: 0x20,
            eof: false,
            data: &[],
        },
        &hex("03200000"),
    );
    let data = [7u8; 1024];
    let wire = encode(
        Codec::GoWire,
        &Packet::Msg {
            channel: 1,
            eof: true,
            data: &data,
        },
    );
    assert_eq!(&wire[..6], &hex("030101020400")[..]);
    assert_eq!(wire.len(), Codec::GoWire.max_wire_len(1024));
}

#[test]
fn bad_packets_have_typed_errors() {
    let pb = Codec::Protobuf;
    assert_eq!(pb.decode(&hex("8b08"), 1024), Err(PacketError::TooLarge)); // 1035
    assert_eq!(
        pb.decode(&[0xff; 11], 1024),
        Err(PacketError::VarintOverflow)
    );
    assert_eq!(pb.decode(&hex("00"), 1024), Err(PacketError::UnknownType)); // empty Packet
    assert_eq!(
        pb.decode(&hex("022005"), 1024),
        Err(PacketError::UnknownType)
    ); // only an unknown field
    assert!(matches!(
        pb.decode(&hex("020b00"), 1024),
        Err(PacketError::Malformed(_))
    )); // group wire type
    assert!(matches!(
        pb.decode(&hex("03 1a 05 08"), 1024),
        Err(PacketError::Malformed(_))
    )); // truncated body
    assert!(matches!(
        pb.decode(&hex("02 18 01"), 1024),
        Err(PacketError::Malformed(_))
    )); // msg as varint
        // channel_id -1 (int32 as ten-byte varint) is out of range.
    assert_eq!(
        pb.decode(&hex("0d 1a 0b 08 ffffffffffffffffff01"), 1024),
        Err(PacketError::ChannelOutOfRange)
    );
    assert_eq!(
        pb.decode(&hex("05 1a 03 08 80 02"), 1024),
        Err(PacketError::ChannelOutOfRange)
    );
    // Two oneof members (protobuf would keep the last): refused, also when
    // the same member repeats, and also after a msg.
    assert_eq!(
        pb.decode(&hex("04 0a00 1200"), 1024),
        Err(PacketError::SeveralTypes)
    );
    assert_eq!(
        pb.decode(&hex("04 0a00 0a00"), 1024),
        Err(PacketError::SeveralTypes)
    );
    assert_eq!(
        pb.decode(&hex("08 1a04 08011001 0a00"), 1024),
        Err(PacketError::SeveralTypes)
    );
    // Unknown fields beside one member are fine.
    assert_eq!(
        pb.decode(&hex("04 2000 0a00"), 1024),
        Ok(Some((Packet::Ping, 5)))
    );

    let gw = Codec::GoWire;
    assert_eq!(gw.decode(&[0x04], 1024), Err(PacketError::UnknownType));
    assert_eq!(
        gw.decode(&hex("03200102 0401"), 1024),
        Err(PacketError::TooLarge)
    ); // 1025 bytes
    assert!(matches!(
        gw.decode(&hex("032001 f1 01"), 1024),
        Err(PacketError::Malformed(_))
    )); // negative length
    assert!(matches!(
        gw.decode(&hex("032001 09"), 1024),
        Err(PacketError::Malformed(_))
    )); // 9-byte varint
    assert!(matches!(
        gw.decode(&hex("032002 00"), 1024),
        Err(PacketError::Malformed(_))
    )); // eof byte 2
}
