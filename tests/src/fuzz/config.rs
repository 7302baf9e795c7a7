//! Target `config_toml`: arbitrary text as the node's `config.toml`
//! ([`mconn_node::config::Config::from_toml`]).
//!
//! Input: the file's bytes (not UTF-8: nothing to do; the node reads the
//! file as a string first). Checks:
//!
//! * no panic; an error prints on one line and names a line of the text;
//! * a config that parses has a printable moniker (and network) and a
//!   payload size within the connection's limits;
//! * what `to_toml` writes for it parses back to the same config, and
//!   writing that again gives the same text.

use mconn_node::config::{is_printable_text, Config};

/// See the module docs.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let config = match Config::from_toml(text) {
        Ok(config) => config,
        Err(e) => {
            let printed = e.to_string();
            assert!(
                !printed.contains('\n'),
                "error on several lines: {printed:?}"
            );
            if let Some(line) = e.line {
                let lines = text.split('\n').count();
                assert!((1..=lines).contains(&line), "line {line} of {lines}");
            }
            return;
        }
    };
    assert!(is_printable_text(&config.moniker), "{:?}", config.moniker);
    if let Some(network) = &config.mconn.network {
        assert!(is_printable_text(network), "{network:?}");
    }
    let payload = config.p2p.max_packet_msg_payload_size;
    assert!((1..=mconn::conn::MAX_PAYLOAD_LIMIT).contains(&payload));

    let written = config.to_toml();
    let again = match Config::from_toml(&written) {
        Ok(again) => again,
        Err(e) => panic!("our own config.toml does not parse: {e}\n{written}"),
    };
    assert_eq!(
        again, config,
        "to_toml → from_toml changed the config:\n{written}"
    );
    assert_eq!(
        again.to_toml(),
        written,
        "writing a re-read config changes it"
    );
}
