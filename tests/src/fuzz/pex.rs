//! Target `pex`: a PEX message (the bytes of a channel-0 message).
//!
//! Input: the message bytes. Checks: a decoded address list iterates to
//! exactly `len()` addresses (with an exact size hint), re-encodes to a
//! message that decodes to the same addresses, and agrees with a reference
//! walk of the protobuf fields; a request re-encodes to `0a 00`.

use mconn::wire::pex::{self, NetAddress, PexMessage, REQUEST_LEN};
use mconn::wire::proto::{Field, Reader};

/// The addresses of the last `pex_addrs` member, walking fields directly.
fn reference(data: &[u8]) -> Option<Vec<NetAddress<'_>>> {
    let mut r = Reader::new(data);
    let mut last = None;
    while let Ok(Some((number, field))) = r.next_field() {
        match (number, field) {
            (1, _) => last = Some(None),
            (2, Field::Bytes(body)) => {
                let mut addrs = Vec::new();
                let mut inner = Reader::new(body);
                while let Ok(Some((n, f))) = inner.next_field() {
                    if let (1, Field::Bytes(b)) = (n, f) {
                        addrs.push(NetAddress::decode(b).ok()?);
                    }
                }
                last = Some(Some(addrs));
            }
            _ => {}
        }
    }
    last?
}

/// See the module docs.
pub fn pex(data: &[u8]) {
    let _ = NetAddress::decode(data).map(|a| {
        let mut buf = vec![0u8; pex::addrs_encoded_len(&[a])];
        let n = pex::encode_addrs(&[a], &mut buf).expect("sized");
        assert_eq!(n, buf.len());
    });
    match PexMessage::decode(data) {
        Err(_) => {}
        Ok(PexMessage::Request) => {
            let mut buf = [0u8; REQUEST_LEN];
            assert_eq!(pex::encode_request(&mut buf), Ok(REQUEST_LEN));
            assert_eq!(PexMessage::decode(&buf), Ok(PexMessage::Request));
            assert_eq!(reference(data), None);
        }
        Ok(PexMessage::Addrs(list)) => {
            let mut it = list.iter();
            let mut addrs = Vec::new();
            for left in (0..=list.len()).rev() {
                assert_eq!(it.size_hint(), (left, Some(left)));
                match it.next() {
                    Some(a) => addrs.push(a),
                    None => assert_eq!(left, 0, "iterator ended early"),
                }
            }
            assert_eq!(it.next(), None, "iterator longer than len()");
            assert_eq!(addrs.len(), list.len());
            assert_eq!(list.is_empty(), addrs.is_empty());
            assert_eq!(Some(&addrs), reference(data).as_ref(), "reference walk");

            let len = pex::addrs_encoded_len(&addrs);
            let mut buf = vec![0u8; len];
            assert_eq!(pex::encode_addrs(&addrs, &mut buf), Ok(len));
            assert!(pex::encode_addrs(&addrs, &mut buf[..len - 1]).is_err());
            let Ok(PexMessage::Addrs(again)) = PexMessage::decode(&buf) else {
                panic!("re-encoded addresses do not decode");
            };
            assert!(again.iter().eq(addrs.iter().copied()), "round trip");
        }
    }
}
