//! The command line (clap).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use mconn_node::config::{parse_duration, Overrides};

/// A CometBFT-compatible p2p node.
#[derive(Debug, Parser)]
#[command(name = "mconn", version, propagate_version = true)]
pub struct Cli {
    /// Home directory [default: ~/.mconn]
    #[arg(long, global = true, env = "MCONN_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the home directory: config/config.toml and config/node_key.json
    /// (existing files are kept)
    Init {
        /// Node name announced to peers [default: the host name]
        #[arg(long)]
        moniker: Option<String>,
        /// Network (chain ID) to join [default: the chain_id of
        /// config/genesis.json if present, else a new test-chain-XXXXXX]
        #[arg(long, value_name = "CHAIN")]
        network: Option<String>,
    },
    /// Print this node's ID (from its node_key.json)
    ShowNodeId,
    /// Connect to a peer and show its NodeInfo, round-trip times and whether
    /// it is compatible with our network
    Probe {
        /// The peer: ID@HOST:PORT (HOST may be a name; tcp:// is optional)
        #[arg(value_name = "ID@HOST:PORT")]
        peer: String,
        /// Our network (chain ID) [default: the home's, if it exists]
        #[arg(long, value_name = "CHAIN")]
        network: Option<String>,
        /// Print JSON: CometBFT's node_info shape plus the measurements
        #[arg(long)]
        json: bool,
        /// Give up after this long (Go duration: 500ms, 5s, 1m)
        #[arg(long, default_value = "5s", value_parser = parse_timeout)]
        timeout: Duration,
    },
    /// Run the node: the switch with the PEX reactor (or a seed, with
    /// --p2p.seed_mode) until Ctrl-C or SIGTERM; then the address book is
    /// saved
    Start(StartArgs),
    /// Crawl a network from its seeds (a seed-mode PEX crawler with a fresh
    /// identity), then write a map of every address found and print a
    /// summary
    Crawl {
        /// Where to start: one or more ID@HOST:PORT
        #[arg(value_name = "SEED", required = true)]
        seeds: Vec<String>,
        /// Write the network map (JSON) here
        #[arg(long, value_name = "FILE", default_value = "map.json")]
        out: PathBuf,
        /// How long to crawl (Go duration)
        #[arg(long, default_value = "60s", value_parser = parse_timeout)]
        duration: Duration,
        /// The network (chain ID) [default: the home's, if it exists, else
        /// the first reachable seed's]
        #[arg(long, value_name = "CHAIN")]
        network: Option<String>,
    },
    /// Run a local testnet in this process: N nodes on 127.0.0.1, one of
    /// them a seed, the others discovering each other through PEX; then a
    /// summary (exit 1 if discovery does not complete in time)
    Testnet {
        /// How many nodes, the seed included
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(2..=64))]
        nodes: u16,
        /// Serve /status and /net_info of node i at PORT+i (port 0: any free ports)
        #[arg(long, value_name = "HOST:PORT", value_parser = parse_rpc)]
        rpc: Option<SocketAddr>,
        /// Give up if discovery takes longer than this (Go duration)
        #[arg(long, default_value = "60s", value_parser = parse_timeout)]
        timeout: Duration,
        /// Print the summary as JSON
        #[arg(long)]
        json: bool,
        /// After the summary, keep the testnet running until Ctrl-C
        #[arg(long)]
        stay: bool,
    },
}

/// `start`'s flags: CometBFT's names; each overrides config.toml.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Node name announced to peers
    #[arg(long)]
    pub moniker: Option<String>,
    /// Where to listen for peers (port 0: any free port)
    #[arg(long = "p2p.laddr", value_name = "tcp://HOST:PORT")]
    pub laddr: Option<String>,
    /// The address to advertise to peers (empty: the bound address)
    #[arg(
        long = "p2p.external-address",
        alias = "p2p.external_address",
        value_name = "tcp://HOST:PORT"
    )]
    pub external_address: Option<String>,
    /// Seed nodes to ask for addresses (comma-separated)
    #[arg(long = "p2p.seeds", value_name = "ID@HOST:PORT,...")]
    pub seeds: Option<String>,
    /// Peers to stay connected to (comma-separated)
    #[arg(long = "p2p.persistent_peers", value_name = "ID@HOST:PORT,...")]
    pub persistent_peers: Option<String>,
    /// Peers exempt from the peer limits (comma-separated IDs)
    #[arg(long = "p2p.unconditional_peer_ids", value_name = "ID,...")]
    pub unconditional_peer_ids: Option<String>,
    /// Peers whose addresses are never gossiped (comma-separated IDs)
    #[arg(long = "p2p.private_peer_ids", value_name = "ID,...")]
    pub private_peer_ids: Option<String>,
    /// Run the peer-exchange reactor (--p2p.pex=false: only persistent peers)
    #[arg(long = "p2p.pex", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub pex: Option<bool>,
    /// Seed mode: crawl the network and hand out addresses
    #[arg(long = "p2p.seed_mode", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub seed_mode: Option<bool>,
    /// Serve /status and /net_info over HTTP here (e.g. 127.0.0.1:26657)
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_rpc)]
    pub rpc: Option<SocketAddr>,
}

impl StartArgs {
    /// The config overrides these flags make.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            moniker: self.moniker.clone(),
            laddr: self.laddr.clone(),
            external_address: self.external_address.clone(),
            seeds: self.seeds.clone(),
            persistent_peers: self.persistent_peers.clone(),
            unconditional_peer_ids: self.unconditional_peer_ids.clone(),
            private_peer_ids: self.private_peer_ids.clone(),
            pex: self.pex,
            seed_mode: self.seed_mode,
        }
    }
}

/// An RPC address: `HOST:PORT` with an IP or `localhost`; `tcp://` optional.
fn parse_rpc(s: &str) -> Result<SocketAddr, String> {
    let rest = s.strip_prefix("tcp://").unwrap_or(s);
    let rest = match rest.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => rest.to_string(),
    };
    rest.parse()
        .map_err(|_| "expected HOST:PORT with an IP address, e.g. 127.0.0.1:26657".to_string())
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    match parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be above 0".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_addresses() {
        let want: SocketAddr = "127.0.0.1:26657".parse().unwrap();
        for ok in [
            "127.0.0.1:26657",
            "tcp://127.0.0.1:26657",
            "localhost:26657",
        ] {
            assert_eq!(parse_rpc(ok), Ok(want), "{ok}");
        }
        assert!(parse_rpc("[::1]:1").is_ok());
        for bad in ["", "26657", "example.com:1", "127.0.0.1"] {
            assert!(parse_rpc(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn start_flags_use_cometbft_names() {
        let cli = Cli::try_parse_from([
            "mconn",
            "start",
            "--p2p.seed_mode",
            "--p2p.pex=false",
            "--p2p.external_address",
            "tcp://1.2.3.4:5",
            "--p2p.seeds",
            "a,b",
        ])
        .unwrap();
        let Command::Start(args) = cli.command else {
            panic!("not start");
        };
        let o = args.overrides();
        assert_eq!((o.seed_mode, o.pex), (Some(true), Some(false)));
        assert_eq!(o.external_address.as_deref(), Some("tcp://1.2.3.4:5"));
        assert_eq!(o.seeds.as_deref(), Some("a,b"));
        assert_eq!(o.laddr, None);
    }
}
