//! The command line (clap).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use mconn_node::config::parse_duration;

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
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    match parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be above 0".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}
