//! `mconn`: the node's command line. Exit status 0 on success, 1 on any
//! error, printed as one `error: …` line on stderr.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr as _;
use std::time::Duration;

use clap::Parser as _;
use mconn_node::config::{is_printable_text, PeerAddress};
use mconn_node::home::InitOptions;
use mconn_node::logging::init_logging;
use mconn_node::probe::{probe, ProbeOptions};
use mconn_node::{Error, Home};

use cli::{Cli, Command};

/// Log filter when `RUST_LOG` is unset.
const DEFAULT_LOG: &str = "info";
/// For `probe`: the connection layer's own warnings about the peer (e.g. a
/// different network) are what the probe reports anyway.
const PROBE_LOG: &str = "info,mconn=error,mconn_driver=error,mconn_tokio=error";

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors.
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(match cli.command {
        Command::Probe { .. } => PROBE_LOG,
        _ => DEFAULT_LOG,
    });
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    let explicit_home = cli.home.filter(|h| !h.as_os_str().is_empty());
    match cli.command {
        Command::Init { moniker, network } => {
            let home = home_or_default(explicit_home)?;
            let outcome = home.init(&InitOptions { moniker, network })?;
            let network = match home.network(&outcome.config) {
                Ok(n) => n,
                Err(e) => e.to_string(),
            };
            tracing::info!(
                home = %home.root().display(),
                node_id = %outcome.node_id,
                network = %network,
                "Initialized"
            );
            Ok(())
        }
        Command::ShowNodeId => {
            let home = home_or_default(explicit_home)?;
            let config = home.load_config()?;
            println!("{}", home.load_node_key(&config)?.node_id());
            Ok(())
        }
        Command::Probe {
            peer,
            network,
            json,
            timeout,
        } => run_probe(explicit_home, &peer, network, json, timeout),
    }
}

fn home_or_default(explicit: Option<PathBuf>) -> Result<Home, Error> {
    Ok(Home::new(match explicit {
        Some(p) => p,
        None => Home::default_root()?,
    }))
}

/// Our network for a probe: `--network`, else the home's. An explicit
/// home must be readable; the default one is used only if it exists.
fn probe_network(
    explicit_home: Option<PathBuf>,
    flag: Option<String>,
) -> Result<Option<String>, Error> {
    if let Some(n) = flag {
        if !is_printable_text(&n) {
            return Err(Error::Argument {
                flag: "--network",
                value: n,
                reason: "must be printable ASCII and not blank".into(),
            });
        }
        return Ok(Some(n));
    }
    let home = match explicit_home {
        Some(p) => Home::new(p),
        None => match Home::default_root() {
            Ok(root) if Home::new(&root).config_file().exists() => Home::new(root),
            _ => return Ok(None),
        },
    };
    let config = home.load_config()?;
    match home.network(&config) {
        Ok(n) => Ok(Some(n)),
        Err(Error::NoNetwork { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn run_probe(
    explicit_home: Option<PathBuf>,
    peer: &str,
    network: Option<String>,
    json: bool,
    timeout: Duration,
) -> Result<(), Error> {
    let addr = PeerAddress::from_str(peer).map_err(|error| Error::PeerAddress {
        input: peer.to_string(),
        error,
    })?;
    let options = ProbeOptions {
        network: probe_network(explicit_home, network)?,
        timeout,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Probe {
            peer: addr.to_string(),
            reason: mconn_node::probe::ProbeFailure::Handshake(format!("runtime: {e}")),
        })?;
    let report = runtime
        .block_on(probe(&addr, &options))
        .map_err(|reason| Error::Probe {
            peer: addr.to_string(),
            reason,
        })?;
    if json {
        println!("{:#}", report.to_json());
    } else {
        print!("{report}");
    }
    Ok(())
}
