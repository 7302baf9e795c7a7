//! Writing a fresh `config.toml` (for `init`): the keys we read, laid out
//! and commented like CometBFT's, so the file also works for CometBFT.

use std::fmt::Write as _;
use std::path::Path;

use super::{join_list, Config, GoDuration};

/// A TOML basic string (quoted and escaped).
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn quote_path(p: &Path) -> String {
    quote(&p.to_string_lossy())
}

pub(super) fn render(c: &Config) -> String {
    let p = &c.p2p;
    let mut out = String::with_capacity(4096);
    let external = p
        .external_address
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let network = c.mconn.network.as_deref().map(quote);
    // Writing into a String cannot fail.
    let _ = write!(
        out,
        r#"# This is a TOML config file, read by mconn and compatible with CometBFT's.
# For more information, see https://github.com/toml-lang/toml

# NOTE: Any path below can be absolute (e.g. "/var/mconn/data") or
# relative to the home directory (e.g. "data"). The home directory is
# "$HOME/.mconn" by default, but could be changed via the $MCONN_HOME env
# variable or the --home flag.
#
# Sections and keys of CometBFT's config.toml that mconn does not use
# ([rpc], [mempool], [consensus], ...) may be added; mconn ignores them.

#######################################################################
###                   Main Base Config Options                      ###
#######################################################################

# A custom human readable name for this node
moniker = {moniker}

# Path to the JSON file containing the initial validator set and other meta data
# (mconn reads only its chain_id, the network name)
genesis_file = {genesis}

# Path to the JSON file containing the private key to use for node authentication in the p2p protocol
node_key_file = {node_key}

#######################################################
###           P2P Configuration Options             ###
#######################################################
[p2p]

# Address to listen for incoming connections
laddr = {laddr}

# Address to advertise to peers for them to dial. If empty, will use the same
# port as the laddr, and will introspect on the listener to figure out the
# address. IP and port are required. Example: 159.89.10.97:26656
external_address = {external}

# Comma separated list of seed nodes to connect to
seeds = {seeds}

# Comma separated list of nodes to keep persistent connections to
persistent_peers = {persistent}

# Path to address book
addr_book_file = {book}

# Set true for strict address routability rules
# Set false for private or local networks
addr_book_strict = {strict}

# Maximum number of inbound peers
max_num_inbound_peers = {inbound}

# Maximum number of outbound peers to connect to, excluding persistent peers
max_num_outbound_peers = {outbound}

# List of node IDs, to which a connection will be (re)established ignoring any existing limits
unconditional_peer_ids = {unconditional}

# Maximum pause when redialing a persistent peer (if zero, exponential backoff is used)
persistent_peers_max_dial_period = "{max_dial}"

# Time to wait before flushing messages out on the connection
# (accepted for compatibility; mconn flushes as soon as nothing more is queued)
flush_throttle_timeout = "{flush}"

# Maximum size of a message packet payload, in bytes
max_packet_msg_payload_size = {payload}

# Rate at which packets can be sent, in bytes/second (0: unlimited)
send_rate = {send_rate}

# Rate at which packets can be received, in bytes/second (0: unlimited)
recv_rate = {recv_rate}

# Set true to enable the peer-exchange reactor
pex = {pex}

# Seed mode, in which node constantly crawls the network and looks for
# peers. If another node asks it for addresses, it responds and disconnects.
#
# Does not work if the peer-exchange reactor is disabled.
seed_mode = {seed_mode}

# Comma separated list of peer IDs to keep private (will not be gossiped to other peers)
private_peer_ids = {private}

# Toggle to disable guard against peers connecting from the same ip.
allow_duplicate_ip = {dup_ip}

# Peer connection configuration.
handshake_timeout = "{handshake}"
dial_timeout = "{dial}"

#######################################################
###          mconn-only Options                     ###
#######################################################
[mconn]

# The network (chain ID) this node belongs to; peers on another network are
# refused. Without it, the chain_id of genesis_file is used.
{network_line}
"#,
        moniker = quote(&c.moniker),
        genesis = quote_path(&c.genesis_file),
        node_key = quote_path(&c.node_key_file),
        laddr = quote(&p.laddr.to_string()),
        external = quote(&external),
        seeds = quote(&join_list(&p.seeds)),
        persistent = quote(&join_list(&p.persistent_peers)),
        book = quote_path(&p.addr_book_file),
        strict = p.addr_book_strict,
        inbound = p.max_num_inbound_peers,
        outbound = p.max_num_outbound_peers,
        unconditional = quote(&join_list(&p.unconditional_peer_ids)),
        max_dial = GoDuration(p.persistent_peers_max_dial_period),
        flush = GoDuration(p.flush_throttle_timeout),
        payload = p.max_packet_msg_payload_size,
        send_rate = p.send_rate,
        recv_rate = p.recv_rate,
        pex = p.pex,
        seed_mode = p.seed_mode,
        private = quote(&join_list(&p.private_peer_ids)),
        dup_ip = p.allow_duplicate_ip,
        handshake = GoDuration(p.handshake_timeout),
        dial = GoDuration(p.dial_timeout),
        network_line = match network {
            Some(n) => format!("network = {n}"),
            None => "# network = \"my-chain\"".to_string(),
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{Config, ListenAddress, PeerAddress};

    #[test]
    fn renders_cometbft_defaults_and_reads_them_back() {
        let config = Config {
            moniker: "node0".into(),
            ..Config::default()
        };
        let text = config.to_toml();
        for line in [
            "moniker = \"node0\"",
            "node_key_file = \"config/node_key.json\"",
            "laddr = \"tcp://0.0.0.0:26656\"",
            "external_address = \"\"",
            "seeds = \"\"",
            "addr_book_file = \"config/addrbook.json\"",
            "addr_book_strict = true",
            "max_num_inbound_peers = 40",
            "max_num_outbound_peers = 10",
            "persistent_peers_max_dial_period = \"0s\"",
            "flush_throttle_timeout = \"100ms\"",
            "max_packet_msg_payload_size = 1024",
            "send_rate = 5120000",
            "recv_rate = 5120000",
            "pex = true",
            "seed_mode = false",
            "allow_duplicate_ip = false",
            "handshake_timeout = \"20s\"",
            "dial_timeout = \"3s\"",
            "# network = \"my-chain\"",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert_eq!(Config::from_toml(&text).unwrap(), config);
    }

    #[test]
    fn every_value_round_trips() {
        let id = "56475aa75463474c0285df5dbf2bcab73da65135";
        let mut config = Config {
            moniker: "say \"hi\" \\ there".into(),
            ..Config::default()
        };
        config.mconn.network = Some("chain-7".into());
        let p = &mut config.p2p;
        p.laddr = "tcp://[::1]:36656".parse::<ListenAddress>().unwrap();
        p.external_address = Some("tcp://203.0.113.5:26656".parse().unwrap());
        p.seeds = vec![format!("{id}@seed.example.com:26656")
            .parse::<PeerAddress>()
            .unwrap()];
        p.persistent_peers = vec![
            format!("{id}@10.0.0.1:1").parse().unwrap(),
            format!("{id}@[::1]:2").parse().unwrap(),
        ];
        p.unconditional_peer_ids = vec![id.parse().unwrap()];
        p.private_peer_ids = vec![id.parse().unwrap(), id.parse().unwrap()];
        p.max_num_inbound_peers = 7;
        p.max_num_outbound_peers = 0;
        p.pex = false;
        p.seed_mode = true;
        p.addr_book_file = "/var/lib/mconn/book.json".into();
        p.addr_book_strict = false;
        p.allow_duplicate_ip = true;
        p.handshake_timeout = Duration::from_millis(1500);
        p.dial_timeout = Duration::from_secs(90);
        p.send_rate = 0;
        p.recv_rate = 1;
        p.persistent_peers_max_dial_period = Duration::from_secs(3600);
        p.flush_throttle_timeout = Duration::from_millis(10);
        p.max_packet_msg_payload_size = 4096;
        assert_eq!(Config::from_toml(&config.to_toml()).unwrap(), config);
    }
}
