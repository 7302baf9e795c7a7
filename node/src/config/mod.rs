//! `config.toml`, CometBFT-compatible.
//!
//! An existing CometBFT `config.toml` is read as is: every section and key
//! this node does not use (`[rpc]`, `[mempool]`, `[consensus]`, `proxy_app`,
//! …) is accepted and ignored. What is used: top-level `moniker`,
//! `node_key_file`, `genesis_file`; the `[p2p]` keys of [`P2pConfig`]; and
//! our own optional `[mconn]` section ([`MconnConfig`]). As in CometBFT
//! (viper), key names are case-insensitive and scalar values are weakly
//! typed (`max_num_inbound_peers = "40"` is 40). Durations are Go strings
//! (`"3s"`); address lists are comma-separated.
//!
//! ```
//! use mconn_node::config::Config;
//! let config = Config::from_toml(r#"
//!     proxy_app = "tcp://127.0.0.1:26658"
//!     moniker = "node0"
//!     [rpc]
//!     laddr = "tcp://127.0.0.1:26657"
//!     [p2p]
//!     laddr = "tcp://0.0.0.0:26656"
//!     seeds = ""
//!     handshake_timeout = "20s"
//! "#).unwrap();
//! assert_eq!(config.moniker, "node0");
//! assert_eq!(config.p2p.laddr.port, 26656);
//! assert!(config.p2p.seeds.is_empty());
//! // What `init` writes parses back to the same values.
//! assert_eq!(Config::from_toml(&config.to_toml()).unwrap(), config);
//! ```

mod addr;
mod duration;
mod error;
mod overrides;
mod parse;
mod render;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use mconn::identity::NodeId;

pub use addr::{
    join_list, parse_list, ListEntryError, ListenAddress, ListenAddressError, PeerAddress,
};
pub use duration::{parse_duration, DurationError, GoDuration};
pub use error::{ConfigError, Problem};
pub use overrides::Overrides;

/// Where CometBFT keeps the node key, relative to the home directory.
pub const DEFAULT_NODE_KEY_FILE: &str = "config/node_key.json";
/// Where CometBFT keeps the genesis file, relative to the home directory.
pub const DEFAULT_GENESIS_FILE: &str = "config/genesis.json";
/// Where CometBFT keeps the address book, relative to the home directory.
pub const DEFAULT_ADDR_BOOK_FILE: &str = "config/addrbook.json";
/// The moniker used when the host name is unknown or unusable.
pub const FALLBACK_MONIKER: &str = "anonymous";

/// The parsed `config.toml`: the settings this node uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Human-readable node name announced in NodeInfo (printable ASCII).
    pub moniker: String,
    /// `node_key.json` path; relative paths are under the home directory.
    pub node_key_file: PathBuf,
    /// `genesis.json` path (its `chain_id` is the network, if present).
    pub genesis_file: PathBuf,
    /// The `[p2p]` section.
    pub p2p: P2pConfig,
    /// Our own `[mconn]` section.
    pub mconn: MconnConfig,
}

impl Default for Config {
    /// CometBFT's defaults; the moniker is the host name, as in CometBFT.
    fn default() -> Self {
        Config {
            moniker: default_moniker(),
            node_key_file: PathBuf::from(DEFAULT_NODE_KEY_FILE),
            genesis_file: PathBuf::from(DEFAULT_GENESIS_FILE),
            p2p: P2pConfig::default(),
            mconn: MconnConfig::default(),
        }
    }
}

impl Config {
    /// Parses the text of a `config.toml` (see the [module docs](self)).
    /// Errors carry the line and the key.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        parse::parse(text)
    }

    /// A complete `config.toml` for these settings, with CometBFT-like
    /// comments; [`from_toml`](Self::from_toml) reads it back unchanged.
    pub fn to_toml(&self) -> String {
        render::render(self)
    }
}

/// The `[p2p]` section, with CometBFT's key names and defaults (spec §5.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct P2pConfig {
    /// `laddr`: where to listen for peers.
    pub laddr: ListenAddress,
    /// `external_address`: the address to advertise (`None`: derive from `laddr`).
    pub external_address: Option<ListenAddress>,
    /// `seeds`: nodes to ask for addresses.
    pub seeds: Vec<PeerAddress>,
    /// `persistent_peers`: nodes to stay connected to.
    pub persistent_peers: Vec<PeerAddress>,
    /// `unconditional_peer_ids`: peers exempt from the peer limits.
    pub unconditional_peer_ids: Vec<NodeId>,
    /// `private_peer_ids`: peers never gossiped to others.
    pub private_peer_ids: Vec<NodeId>,
    /// `max_num_inbound_peers` (40).
    pub max_num_inbound_peers: u32,
    /// `max_num_outbound_peers` (10).
    pub max_num_outbound_peers: u32,
    /// `pex`: run the peer-exchange reactor (true).
    pub pex: bool,
    /// `seed_mode`: crawl and hand out addresses (false).
    pub seed_mode: bool,
    /// `addr_book_file`; relative paths are under the home directory.
    pub addr_book_file: PathBuf,
    /// `addr_book_strict`: only routable addresses in the book (true).
    pub addr_book_strict: bool,
    /// `allow_duplicate_ip`: several peers from one IP (false).
    pub allow_duplicate_ip: bool,
    /// `handshake_timeout` (20 s).
    pub handshake_timeout: Duration,
    /// `dial_timeout` (3 s).
    pub dial_timeout: Duration,
    /// `send_rate` in bytes per second (5120000); 0 means unlimited.
    pub send_rate: u64,
    /// `recv_rate` in bytes per second (5120000); 0 means unlimited.
    pub recv_rate: u64,
    /// `persistent_peers_max_dial_period`: cap on redial backoff (0 = none).
    pub persistent_peers_max_dial_period: Duration,
    /// `flush_throttle_timeout` (100 ms): accepted, unused (we flush at once).
    pub flush_throttle_timeout: Duration,
    /// `max_packet_msg_payload_size` (1024); peers must agree.
    pub max_packet_msg_payload_size: usize,
}

impl Default for P2pConfig {
    fn default() -> Self {
        P2pConfig {
            laddr: ListenAddress {
                host: "0.0.0.0".into(),
                port: 26656,
            },
            external_address: None,
            seeds: Vec::new(),
            persistent_peers: Vec::new(),
            unconditional_peer_ids: Vec::new(),
            private_peer_ids: Vec::new(),
            max_num_inbound_peers: 40,
            max_num_outbound_peers: 10,
            pex: true,
            seed_mode: false,
            addr_book_file: PathBuf::from(DEFAULT_ADDR_BOOK_FILE),
            addr_book_strict: true,
            allow_duplicate_ip: false,
            handshake_timeout: Duration::from_secs(20),
            dial_timeout: Duration::from_secs(3),
            send_rate: 5_120_000,
            recv_rate: 5_120_000,
            persistent_peers_max_dial_period: Duration::ZERO,
            flush_throttle_timeout: Duration::from_millis(100),
            max_packet_msg_payload_size: 1024,
        }
    }
}

/// Our own `[mconn]` section (CometBFT ignores it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MconnConfig {
    /// `network`: the chain ID, for homes without a `genesis.json`.
    pub network: Option<String>,
}

/// Whether `s` is usable as a moniker or network name: printable ASCII,
/// not all spaces (the rule peers apply to NodeInfo text).
pub fn is_printable_text(s: &str) -> bool {
    s.bytes().all(|c| (32..=126).contains(&c)) && s.bytes().any(|c| c != b' ')
}

/// The host name, as CometBFT's default moniker; [`FALLBACK_MONIKER`]
/// when it cannot be read or is not printable ASCII.
pub fn default_moniker() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if is_printable_text(&name) {
        name
    } else {
        FALLBACK_MONIKER.to_string()
    }
}
