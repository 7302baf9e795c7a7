#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mconn_tests::fuzz::addrbook_json(data));
