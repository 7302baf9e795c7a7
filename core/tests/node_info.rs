//! NodeInfo: the spec §3 vector, round trips, and the exchange machine fed
//! in every way a transport might.

use mconn::handshake::{NodeInfoError, NodeInfoExchange};
use mconn::wire::node_info::{
    NodeInfo, ProtocolVersion, StoredNodeInfo, MAX_DELIMITED_NODE_INFO_SIZE, MAX_NODE_INFO_SIZE,
};
use mconn::wire::{DecodeError, EncodeError};
use proptest::prelude::*;

const VECTOR_HEX: &str =
    "8b010a040808100b1228353634373561613735343633343734633032383564663564626632626361623733646136\
353133351a137463703a2f2f302e302e302e303a3236363536220a746573742d636861696e2a07302e33382e32\
35320a402021222330386061003a066e6f64652d61421b0a026f6e12157463703a2f2f3132372e302e302e313a\
3236363537";

const A_ID: &str = "56475aa75463474c0285df5dbf2bcab73da65135";
const B_ID: &str = "24f6ed6acbfe1009c030d7ca567c33ca48309114";
const ALL_CHANNELS: &[u8] = &[0x40, 0x20, 0x21, 0x22, 0x23, 0x30, 0x38, 0x60, 0x61, 0x00];

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn raw_id(s: &str) -> [u8; 20] {
    unhex(s).try_into().unwrap()
}

fn node_a() -> NodeInfo<'static> {
    NodeInfo {
        protocol_version: ProtocolVersion::new(8, 11, 0),
        default_node_id: A_ID,
        listen_addr: "tcp://0.0.0.0:26656",
        network: "test-chain",
        version: "0.38.25",
        channels: ALL_CHANNELS,
        moniker: "node-a",
        tx_index: "on",
        rpc_address: "tcp://127.0.0.1:26657",
    }
}

fn node_b() -> NodeInfo<'static> {
    NodeInfo {
        protocol_version: ProtocolVersion::new(9, 11, 1),
        default_node_id: B_ID,
        version: "1.0.1",
        moniker: "node-b",
        ..node_a()
    }
}

fn body(info: &NodeInfo<'_>) -> Vec<u8> {
    let mut out = vec![0u8; info.encoded_len()];
    assert_eq!(info.encode(&mut out), Ok(out.len()));
    out
}

fn delimited(info: &NodeInfo<'_>) -> Vec<u8> {
    let mut out = vec![0u8; info.delimited_len()];
    assert_eq!(info.encode_delimited(&mut out), Ok(out.len()));
    out
}

fn exchange(info: &NodeInfo<'_>) -> NodeInfoExchange<Vec<u8>, Vec<u8>> {
    NodeInfoExchange::new(body(info), vec![0u8; MAX_NODE_INFO_SIZE]).unwrap()
}

#[test]
fn spec_vector_encodes_byte_for_byte() {
    let want = unhex(VECTOR_HEX);
    assert_eq!(want.len(), 141);
    let a = node_a();
    assert_eq!(a.delimited_len(), 141);
    assert_eq!(delimited(&a), want);
    assert_eq!(body(&a), want[2..]);
    assert_eq!(NodeInfo::decode(&want[2..]), Ok(a));
    assert_eq!(NodeInfo::decode_delimited(&want), Ok(Some((a, 141))));
    // Too-small output buffers fail cleanly.
    let mut short = [0u8; 140];
    assert_eq!(
        a.encode_delimited(&mut short),
        Err(EncodeError::BufferTooSmall)
    );
}

#[test]
fn unknown_fields_and_any_order_are_accepted() {
    let a = node_a();
    // Unknown varint (9), bytes (15), fixed64 (20), fixed32 (21), and an
    // unknown field inside protocol_version and other.
    let mut msg = vec![0x48, 0x05, 0x7a, 0x02, b'h', b'i'];
    msg.extend_from_slice(&[0xa1, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0xad, 0x01, 1, 2, 3, 4]);
    // Fields in reverse order.
    msg.extend_from_slice(&[0x42, 0x1f, 0x0a, 0x02, b'o', b'n', 0x12, 0x15]);
    msg.extend_from_slice(b"tcp://127.0.0.1:26657");
    msg.extend_from_slice(&[0x18, 0x01, 0x22, 0x00]); // unknown inside other
    msg.extend_from_slice(&[0x3a, 0x06]);
    msg.extend_from_slice(b"node-a");
    msg.extend_from_slice(&[0x32, ALL_CHANNELS.len() as u8]);
    msg.extend_from_slice(ALL_CHANNELS);
    msg.extend_from_slice(&[0x2a, 0x07]);
    msg.extend_from_slice(b"0.38.25");
    msg.extend_from_slice(&[0x22, 0x0a]);
    msg.extend_from_slice(b"test-chain");
    msg.extend_from_slice(&[0x1a, 0x13]);
    msg.extend_from_slice(b"tcp://0.0.0.0:26656");
    msg.extend_from_slice(&[0x12, 0x28]);
    msg.extend_from_slice(A_ID.as_bytes());
    msg.extend_from_slice(&[0x0a, 0x06, 0x10, 0x0b, 0x20, 0x01, 0x08, 0x08]);
    assert_eq!(NodeInfo::decode(&msg), Ok(a));
}

#[test]
fn exchange_one_byte_at_a_time() {
    let (a, b) = (node_a(), node_b());
    let mut ex_a = exchange(&a);
    let mut ex_b = exchange(&b);
    let mut byte = [0u8; 1];
    let mut wire_a = Vec::new();
    let mut steps = 0;
    while !(ex_a.is_done() && ex_b.is_done()) {
        steps += 1;
        assert!(steps < 1000);
        if ex_a.poll_transmit(&mut byte) == 1 {
            wire_a.push(byte[0]);
            assert_eq!(ex_b.handle_input(&byte), Ok(1));
        }
        if ex_b.poll_transmit(&mut byte) == 1 {
            assert_eq!(ex_a.handle_input(&byte), Ok(1));
        }
    }
    assert_eq!(wire_a, unhex(VECTOR_HEX));
    assert_eq!(ex_a.poll_transmit(&mut byte), 0);
    assert_eq!(ex_a.handle_input(&[0x02, 0x0a, 0x00]), Ok(0));
    assert_eq!(ex_a.peer_info(), Some(b));
    assert_eq!(ex_b.peer_info(), Some(a));
    assert_eq!(ex_a.finish(&raw_id(B_ID), Some(&raw_id(B_ID))), Ok(b));
    assert_eq!(ex_b.finish(&raw_id(A_ID), None), Ok(a));
}

#[test]
fn exchange_one_chunk_leaves_mconnection_bytes() {
    let (a, b) = (node_a(), node_b());
    let mut ex_a = exchange(&a);
    let mut input = delimited(&b);
    let msg_len = input.len();
    input.extend_from_slice(&[0x02, 0x0a, 0x00, 0x02, 0x12, 0x00]); // ping, pong
    assert_eq!(ex_a.handle_input(&input), Ok(msg_len));
    assert!(ex_a.is_received());
    assert!(!ex_a.is_done()); // ours not sent yet
    assert_eq!(ex_a.handle_input(&input[msg_len..]), Ok(0));
    let mut out = [0u8; 4096];
    let n = ex_a.poll_transmit(&mut out);
    assert_eq!(&out[..n], &unhex(VECTOR_HEX)[..]);
    assert!(ex_a.is_done());
    assert_eq!(ex_a.finish(&raw_id(B_ID), None), Ok(b));

    // Keep the peer's info compactly, then reuse the buffers.
    let stored = StoredNodeInfo::new(ex_a.peer_bytes().unwrap().to_vec()).unwrap();
    assert_eq!(stored.info(), b);
    let (local, storage) = ex_a.into_parts();
    assert_eq!(local, body(&a));
    assert_eq!(storage.len(), MAX_NODE_INFO_SIZE);
}

#[test]
fn finish_reports_rejections() {
    let a = node_a();
    let cases: [(NodeInfo<'_>, NodeInfoError); 4] = [
        (
            NodeInfo {
                moniker: "",
                ..node_b()
            },
            NodeInfoError::InvalidMoniker,
        ),
        (
            NodeInfo {
                network: "other",
                ..node_b()
            },
            NodeInfoError::NetworkMismatch,
        ),
        (
            NodeInfo {
                protocol_version: ProtocolVersion::new(8, 12, 0),
                ..node_b()
            },
            NodeInfoError::BlockVersionMismatch,
        ),
        (
            NodeInfo {
                channels: &[0x01],
                ..node_b()
            },
            NodeInfoError::NoCommonChannel,
        ),
    ];
    for (remote, want) in cases {
        let mut ex = exchange(&a);
        let input = delimited(&remote);
        assert_eq!(ex.handle_input(&input), Ok(input.len()));
        assert_eq!(ex.finish(&raw_id(B_ID), None), Err(want));
    }
    // Wrong authenticated key, wrong dialed key, ourselves.
    let mut ex = exchange(&a);
    ex.handle_input(&delimited(&node_b())).unwrap();
    assert_eq!(
        ex.finish(&raw_id(A_ID), None),
        Err(NodeInfoError::IdMismatch)
    );
    assert_eq!(
        ex.finish(&raw_id(B_ID), Some(&[7; 20])),
        Err(NodeInfoError::DialedIdMismatch)
    );
    let mut ex = exchange(&a);
    ex.handle_input(&delimited(&a)).unwrap();
    assert_eq!(
        ex.finish(&raw_id(A_ID), None),
        Err(NodeInfoError::SelfConnection)
    );
    // Not complete yet.
    let ex = exchange(&a);
    assert_eq!(
        ex.finish(&raw_id(B_ID), None),
        Err(NodeInfoError::Malformed(DecodeError::Truncated))
    );
    assert_eq!(ex.peer_info(), None);
}

#[test]
fn oversize_prefix_is_rejected_before_the_body() {
    let a = node_a();
    let mut ex = exchange(&a);
    // 10241 = 0x81 0x50: rejected on the prefix alone.
    assert_eq!(ex.handle_input(&[0x81]), Ok(1));
    assert_eq!(ex.handle_input(&[0x50]), Err(NodeInfoError::TooLarge));
    assert_eq!(ex.handle_input(&[0x0a]), Err(NodeInfoError::TooLarge));
    assert_eq!(ex.finish(&raw_id(B_ID), None), Err(NodeInfoError::TooLarge));
    // Exactly 10240 is accepted and buffered.
    let mut ex = exchange(&a);
    assert_eq!(ex.handle_input(&[0x80, 0x50]), Ok(2));
    let mut pad = vec![0x48, 0x01]; // unknown field 9, repeated
    pad.resize(MAX_NODE_INFO_SIZE, 0);
    for pair in pad.chunks_exact_mut(2) {
        pair.copy_from_slice(&[0x48, 0x01]);
    }
    assert_eq!(ex.handle_input(&pad), Ok(MAX_NODE_INFO_SIZE));
    assert_eq!(ex.peer_info(), Some(NodeInfo::default()));
    assert_eq!(MAX_DELIMITED_NODE_INFO_SIZE, MAX_NODE_INFO_SIZE + 2);
    // A huge prefix, a u64::MAX prefix, an overflowing prefix.
    let mut ex = exchange(&a);
    assert_eq!(
        ex.handle_input(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
        Err(NodeInfoError::TooLarge)
    );
    let mut ex = exchange(&a);
    assert_eq!(
        ex.handle_input(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        Err(NodeInfoError::TooLarge)
    );
    let mut ex = exchange(&a);
    assert_eq!(
        ex.handle_input(&[0xff; 11]),
        Err(NodeInfoError::Malformed(DecodeError::VarintOverflow))
    );
}

#[test]
fn small_storage_lowers_the_limit() {
    let a = node_a();
    let mut ex = NodeInfoExchange::new(body(&a), [0u8; 200]).unwrap();
    let ok = delimited(&node_b());
    assert!(ok.len() < 200);
    assert_eq!(ex.handle_input(&ok), Ok(ok.len()));
    let mut ex = NodeInfoExchange::new(body(&a), [0u8; 200]).unwrap();
    assert_eq!(ex.handle_input(&[0xc9, 0x01]), Err(NodeInfoError::TooLarge));
    // Borrowed storage works too.
    let mut buf = [0u8; 300];
    let local = body(&a);
    let mut ex = NodeInfoExchange::new(&local[..], &mut buf[..]).unwrap();
    assert_eq!(ex.handle_input(&ok), Ok(ok.len()));
}

#[test]
fn malformed_bodies_are_rejected() {
    let a = node_a();
    for (input, want) in [
        (&[0x02, 0x38, 0x01][..], DecodeError::WrongWireType),
        (&[0x03, 0x3a, 0x01, 0xff][..], DecodeError::InvalidUtf8),
        (&[0x02, 0x3a, 0x05][..], DecodeError::Truncated),
        (&[0x01, 0x0b][..], DecodeError::InvalidField),
    ] {
        let mut ex = exchange(&a);
        assert_eq!(
            ex.handle_input(input),
            Err(NodeInfoError::Malformed(want)),
            "{input:02x?}"
        );
        assert_eq!(ex.handle_input(&[]), Err(NodeInfoError::Malformed(want)));
    }
    // Zero-length body: decodes to the default, which fails validation.
    let mut ex = exchange(&a);
    assert_eq!(ex.handle_input(&[0x00, 0xaa]), Ok(1));
    assert_eq!(
        ex.finish(&raw_id(B_ID), None),
        Err(NodeInfoError::InvalidNodeId)
    );
}

#[test]
fn local_info_is_checked_at_construction() {
    assert_eq!(
        NodeInfoExchange::new(vec![0u8; MAX_NODE_INFO_SIZE + 1], vec![0u8; 16]).err(),
        Some(NodeInfoError::TooLarge)
    );
    assert_eq!(
        NodeInfoExchange::new(vec![0x3a, 0x01, 0xff], vec![0u8; 16]).err(),
        Some(NodeInfoError::Malformed(DecodeError::InvalidUtf8))
    );
    let ex = exchange(&node_a());
    assert_eq!(ex.local_info(), node_a());
    assert_eq!(ex.pending_transmit(), 141);
    #[cfg(feature = "alloc")]
    {
        let ex = NodeInfoExchange::from_info(&node_a()).unwrap();
        assert_eq!(ex.local_info(), node_a());
        assert_eq!(ex.pending_transmit(), 141);
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[ -~]{0,50}",
        any::<String>().prop_map(|s| s.chars().take(40).collect()),
    ]
}

prop_compose! {
    fn owned_info()(
        versions in any::<(u64, u64, u64)>(),
        strings in proptest::collection::vec(text(), 8),
        channels in proptest::collection::vec(any::<u8>(), 0..20),
    ) -> (ProtocolVersion, Vec<String>, Vec<u8>) {
        (ProtocolVersion::new(versions.0, versions.1, versions.2), strings, channels)
    }
}

fn view<'a>(v: &'a (ProtocolVersion, Vec<String>, Vec<u8>)) -> NodeInfo<'a> {
    let s = &v.1;
    NodeInfo {
        protocol_version: v.0,
        default_node_id: &s[0],
        listen_addr: &s[1],
        network: &s[2],
        version: &s[3],
        channels: &v.2,
        moniker: &s[4],
        tx_index: &s[5],
        rpc_address: &s[6],
    }
}

proptest! {
    #[test]
    fn round_trip(v in owned_info()) {
        let info = view(&v);
        let enc = body(&info);
        prop_assert_eq!(NodeInfo::decode(&enc), Ok(info));
        let del = delimited(&info);
        prop_assert_eq!(NodeInfo::decode_delimited(&del), Ok(Some((info, del.len()))));
        // Through the exchange, in random chunk sizes, with trailing bytes.
        let mut ex = exchange(&node_a());
        let mut input = del.clone();
        input.extend_from_slice(&[0x02, 0x0a, 0x00]);
        let mut pos = 0;
        let mut chunk = 1 + (v.2.len() % 7);
        while !ex.is_received() {
            let end = (pos + chunk).min(input.len());
            pos += ex.handle_input(&input[pos..end]).unwrap();
            chunk = chunk * 3 % 11 + 1;
        }
        prop_assert_eq!(pos, del.len());
        prop_assert_eq!(ex.peer_info(), Some(info));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(info) = NodeInfo::decode(&data) {
            // Whatever decodes re-encodes to something that decodes the same.
            let again = body(&info);
            prop_assert_eq!(NodeInfo::decode(&again), Ok(info));
            let _ = mconn::handshake::check_peer(&info, &node_a(), &raw_id(B_ID), None);
        }
        let _ = NodeInfo::decode_delimited(&data);
        let mut ex = exchange(&node_a());
        for chunk in data.chunks(3) {
            if ex.handle_input(chunk).is_err() {
                break;
            }
        }
        let _ = ex.finish(&raw_id(B_ID), None);
    }

    #[test]
    fn transmit_with_any_buffer_size(size in 1usize..200) {
        let mut ex = exchange(&node_a());
        let mut out = vec![0u8; size];
        let mut wire = Vec::new();
        loop {
            let n = ex.poll_transmit(&mut out);
            if n == 0 { break; }
            wire.extend_from_slice(&out[..n]);
        }
        prop_assert_eq!(wire, unhex(VECTOR_HEX));
        prop_assert!(ex.is_sent());
    }
}
