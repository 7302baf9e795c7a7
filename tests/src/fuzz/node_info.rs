//! Target `node_info`: a peer's NodeInfo message, decoded, validated and
//! received through [`NodeInfoExchange`] in random-sized reads.
//!
//! Input: `[mode][split seed] bytes…`. The bytes are tried as a NodeInfo
//! body, as a delimited NodeInfo, as a listen address, and as what a peer
//! sends during the exchange. Checks: decoded infos re-encode to bytes that
//! decode to the same info; validation accepts only what its rules allow;
//! the exchange agrees with [`NodeInfo::decode_delimited`] under its
//! storage limit, consumes exactly the message and never more, and
//! [`NodeInfoExchange::finish`] agrees with [`check_peer`].

use mconn::handshake::{
    check_compatible, check_peer, parse_listen_addr, validate, NodeInfoError, NodeInfoExchange,
    MAX_NUM_CHANNELS,
};
use mconn::wire::node_info::{NodeInfo, ProtocolVersion, StoredNodeInfo, MAX_NODE_INFO_SIZE};
use mconn::wire::{varint, DecodeError};

use super::{chunks, Input, Rng};

const LOCAL_ID: &str = "56475aa75463474c0285df5dbf2bcab73da65135";
const LOCAL_RAW: [u8; 20] = [
    0x56, 0x47, 0x5a, 0xa7, 0x54, 0x63, 0x47, 0x4c, 0x02, 0x85, 0xdf, 0x5d, 0xbf, 0x2b, 0xca, 0xb7,
    0x3d, 0xa6, 0x51, 0x35,
];
const STORAGE: [usize; 4] = [MAX_NODE_INFO_SIZE, 300, 64, 0];
const MAX_CHUNKS: [usize; 4] = [1, 3, 100, usize::MAX];

fn local_info() -> NodeInfo<'static> {
    NodeInfo {
        protocol_version: ProtocolVersion::new(8, 11, 0),
        default_node_id: LOCAL_ID,
        listen_addr: "tcp://0.0.0.0:26656",
        network: "test-chain",
        version: "0.38.0",
        channels: &[0x40, 0x20, 0x00],
        moniker: "local",
        tx_index: "on",
        rpc_address: "tcp://127.0.0.1:26657",
    }
}

fn is_printable(s: &str) -> bool {
    s.bytes().all(|c| (32..=126).contains(&c)) && s.bytes().any(|c| c != b' ')
}

fn hex_id(id: &str) -> Option<[u8; 20]> {
    if id.len() != 40 || !id.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 20];
    for (o, pair) in out.iter_mut().zip(id.as_bytes().chunks_exact(2)) {
        let s = core::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// Checks everything that can be said about one decoded NodeInfo.
fn check_info(info: &NodeInfo<'_>, mode: u8) {
    // Re-encoding is canonical and decodes to the same info.
    let len = info.encoded_len();
    let mut buf = vec![0u8; len];
    assert_eq!(info.encode(&mut buf), Ok(len));
    assert_eq!(NodeInfo::decode(&buf), Ok(*info), "round trip");
    let mut delimited = vec![0u8; info.delimited_len()];
    assert_eq!(info.encode_delimited(&mut delimited), Ok(delimited.len()));
    let decoded = NodeInfo::decode_delimited(&delimited);
    if len <= MAX_NODE_INFO_SIZE {
        assert_eq!(decoded, Ok(Some((*info, delimited.len()))));
    } else {
        assert_eq!(decoded, Err(DecodeError::TooLarge));
    }

    let valid = validate(info);
    if valid.is_ok() {
        assert!(info.default_node_id.len() == 40);
        assert!(parse_listen_addr(info.listen_addr).is_ok());
        assert!(info.channels.len() <= MAX_NUM_CHANNELS);
        assert!(is_printable(info.moniker));
        assert!(matches!(info.tx_index, "" | "on" | "off"));
        assert!(info.version.is_empty() || is_printable(info.version));
        assert!(info.rpc_address.is_empty() || is_printable(info.rpc_address));
    }
    let local = local_info();
    let compatible = check_compatible(&local, info);
    // Authenticate either the ID the info claims (to get past that check) or
    // some other ID.
    let auth = match hex_id(info.default_node_id) {
        Some(id) if mode & 0x10 == 0 => id,
        _ => [mode; 20],
    };
    let dialed = (mode & 0x20 != 0).then_some(&auth);
    match check_peer(info, &local, &auth, dialed) {
        Ok(()) => {
            assert_eq!(valid, Ok(()));
            assert_eq!(compatible, Ok(()));
            assert_eq!(hex_id(info.default_node_id), Some(auth));
            assert_ne!(auth, LOCAL_RAW);
        }
        Err(e) => {
            if valid.is_err() {
                assert_eq!(Err(e), valid, "validation comes first");
            }
        }
    }
}

/// What the exchange must do with `peer` bytes under `limit`.
fn expect_exchange(peer: &[u8], limit: usize) -> Result<Option<usize>, NodeInfoError> {
    let (len, prefix) = match varint::decode(peer) {
        Err(e) => return Err(e.into()),
        Ok(None) => return Ok(None),
        Ok(Some(found)) => found,
    };
    if len > limit as u64 {
        return Err(NodeInfoError::TooLarge);
    }
    let end = prefix + len as usize;
    let Some(body) = peer.get(prefix..end) else {
        return Ok(None);
    };
    NodeInfo::decode(body)?;
    Ok(Some(end))
}

fn exchange(peer: &[u8], mode: u8, seed: u8) {
    let local = local_info();
    let mut body = vec![0u8; local.encoded_len()];
    let n = local.encode(&mut body).expect("sized");
    let storage = vec![0u8; STORAGE[usize::from(mode) & 3]];
    let limit = storage.len().min(MAX_NODE_INFO_SIZE);
    let mut ex = NodeInfoExchange::new(&body[..n], storage).expect("valid local info");
    let mut rng = Rng::new(u64::from(seed));
    let max_chunk = MAX_CHUNKS[usize::from(mode >> 2) & 3];

    // Our side: the delimited local info, whatever the buffer sizes.
    let mut sent = Vec::new();
    for _ in 0..10_000 {
        let mut out = vec![0u8; rng.range(0, 40)];
        let k = ex.poll_transmit(&mut out);
        sent.extend_from_slice(&out[..k]);
        if ex.is_sent() {
            break;
        }
    }
    assert!(ex.is_sent());
    assert_eq!(ex.poll_transmit(&mut [0u8; 8]), 0);
    let mut want = vec![0u8; local.delimited_len()];
    local.encode_delimited(&mut want).expect("sized");
    assert_eq!(sent, want);

    // Their side.
    let expected = expect_exchange(peer, limit);
    let mut used = 0;
    let mut result = Ok(());
    for chunk in chunks(peer, max_chunk, &mut rng) {
        match ex.handle_input(chunk) {
            Ok(n) => {
                assert!(n <= chunk.len());
                used += n;
                if n < chunk.len() {
                    assert!(ex.is_received(), "input left over before the end");
                }
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    match expected {
        Err(e) => {
            assert_eq!(result, Err(e), "exchange error");
            assert_eq!(ex.handle_input(b"x"), Err(e), "errors are final");
            assert_eq!(ex.finish(&[1; 20], None).err(), Some(e));
        }
        Ok(None) => {
            assert_eq!(result, Ok(()));
            assert_eq!(used, peer.len());
            assert!(!ex.is_received() && !ex.is_done());
            assert_eq!(ex.peer_bytes(), None);
        }
        Ok(Some(end)) => {
            assert_eq!(result, Ok(()));
            assert_eq!(used, end, "consumed exactly the message");
            assert!(ex.is_done());
            assert_eq!(ex.handle_input(b"tail"), Ok(0));
            let prefix = end - ex.peer_bytes().map_or(0, <[u8]>::len);
            assert_eq!(ex.peer_bytes(), Some(&peer[prefix..end]));
            let info = ex.peer_info().expect("decodes");
            let auth = hex_id(info.default_node_id).unwrap_or([2; 20]);
            let direct = check_peer(&info, &local, &auth, None);
            assert_eq!(ex.finish(&auth, None).map(|_| ()), direct);
        }
    }
}

/// See the module docs.
pub fn node_info(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.u8();
    let seed = input.u8();
    let bytes = input.rest();

    let body = NodeInfo::decode(bytes);
    let stored = StoredNodeInfo::new(bytes);
    assert_eq!(
        stored.as_ref().map(StoredNodeInfo::info).map_err(|e| *e),
        body,
        "stored info"
    );
    if let Ok(info) = body {
        check_info(&info, mode);
    }
    if let Ok(Some((info, used))) = NodeInfo::decode_delimited(bytes) {
        assert!(used <= bytes.len());
        check_info(&info, mode);
    }
    if let Ok(text) = core::str::from_utf8(bytes) {
        if parse_listen_addr(text).is_ok() {
            // Go parses `id@addr` after stripping `proto://`: no `@` there.
            let hostport = match text.split_once("://") {
                Some((_, rest)) => rest.split("://").next().unwrap_or(rest),
                None => text,
            };
            assert!(!hostport.contains('@'), "{text:?}");
        }
    }
    exchange(bytes, mode, seed);
}
