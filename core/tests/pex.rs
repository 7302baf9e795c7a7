//! PEX codecs: property round trips and arbitrary input.

use mconn::wire::pex::{self, NetAddress, PexMessage};
use proptest::prelude::*;

proptest! {
    #[test]
    fn addrs_round_trip(raw in proptest::collection::vec((any::<String>(), "[0-9a-f:.]{0,40}", any::<u32>()), 0..30)) {
        let addrs: Vec<NetAddress<'_>> = raw
            .iter()
            .map(|(id, ip, port)| NetAddress { id, ip, port: *port })
            .collect();
        let mut buf = vec![0u8; pex::addrs_encoded_len(&addrs)];
        prop_assert_eq!(pex::encode_addrs(&addrs, &mut buf), Ok(buf.len()));
        let Ok(PexMessage::Addrs(got)) = PexMessage::decode(&buf) else {
            return Err(TestCaseError::fail("not addrs"));
        };
        prop_assert_eq!(got.len(), addrs.len());
        prop_assert!(got.iter().eq(addrs.iter().copied()));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(PexMessage::Addrs(addrs)) = PexMessage::decode(&data) {
            let all: Vec<_> = addrs.iter().collect();
            prop_assert_eq!(all.len(), addrs.len());
            let mut buf = vec![0u8; pex::addrs_encoded_len(&all)];
            pex::encode_addrs(&all, &mut buf).unwrap();
            let Ok(PexMessage::Addrs(again)) = PexMessage::decode(&buf) else {
                return Err(TestCaseError::fail("re-encoding did not decode"));
            };
            prop_assert!(again.iter().eq(all.iter().copied()));
        }
    }
}
