//! `mconn`: the node's command line. Exit status 0 on success, 1 on any
//! error, printed as one `error: …` line on stderr.

mod cli;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr as _;
use std::time::Duration;

use clap::Parser as _;
use mconn_node::config::{is_printable_text, PeerAddress};
use mconn_node::crawl::{crawl, CrawlOptions};
use mconn_node::home::InitOptions;
use mconn_node::logging::init_logging;
use mconn_node::probe::{probe, ProbeOptions};
use mconn_node::signal::shutdown_signal;
use mconn_node::start::{Node, StartOptions};
use mconn_node::testnet::demo::DEMO_PERIOD;
use mconn_node::testnet::{Testnet, TestnetOptions};
use mconn_node::{Error, Home};

use cli::{Cli, Command, StartArgs};

/// Log filter when `RUST_LOG` is unset.
const DEFAULT_LOG: &str = "info";
/// For `probe`: the connection layer's own warnings about the peer (e.g. a
/// different network) are what the probe reports anyway.
const PROBE_LOG: &str = "info,mconn=error,mconn_driver=error,mconn_tokio=error";
/// For `testnet` and `crawl`: progress bars and a summary; warnings only.
const QUIET_LOG: &str = "warn,mconn=error,mconn_driver=error,mconn_tokio=error";

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
        Command::Testnet { .. } | Command::Crawl { .. } => QUIET_LOG,
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
        Command::Start(args) => run_start(explicit_home, &args),
        Command::Crawl {
            seeds,
            out,
            duration,
            network,
        } => run_crawl(explicit_home, &seeds, &out, duration, network),
        Command::Testnet {
            nodes,
            rpc,
            timeout,
            json,
            stay,
        } => run_testnet(
            &TestnetOptions {
                nodes: usize::from(nodes),
                rpc,
                progress: !json && std::io::stderr().is_terminal(),
            },
            timeout,
            json,
            stay,
        ),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(e.to_string()))
}

/// After the first signal: a second one ends the process at once.
fn exit_on_second_signal() {
    tokio::spawn(async {
        let signal = shutdown_signal().await;
        eprintln!("error: {signal} again: exiting without a graceful stop");
        std::process::exit(130);
    });
}

fn run_start(explicit_home: Option<PathBuf>, args: &StartArgs) -> Result<(), Error> {
    let home = home_or_default(explicit_home)?;
    let mut config = home.load_config()?;
    args.overrides().apply(&mut config)?;
    let key = home.load_node_key(&config)?;
    let network = home.network(&config)?;
    let options = StartOptions { rpc: args.rpc };
    runtime()?.block_on(async {
        let node = Node::start(&home, &config, key, &network, &options).await?;
        let signal = shutdown_signal().await;
        tracing::info!("{signal} received: stopping (again to exit at once)");
        exit_on_second_signal();
        node.stop().await;
        tracing::info!("Stopped");
        Ok(())
    })
}

fn run_crawl(
    explicit_home: Option<PathBuf>,
    seeds: &[String],
    out: &Path,
    duration: Duration,
    network: Option<String>,
) -> Result<(), Error> {
    let seeds = seeds
        .iter()
        .map(|s| {
            PeerAddress::from_str(s).map_err(|error| Error::PeerAddress {
                input: s.clone(),
                error,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = CrawlOptions {
        seeds,
        network: probe_network(explicit_home, network)?,
        duration,
        progress: std::io::stderr().is_terminal(),
    };
    let map = runtime()?.block_on(async {
        tokio::select! {
            map = crawl(&options) => map,
            signal = shutdown_signal() => Err(Error::Interrupted(signal)),
        }
    })?;
    let text = format!("{:#}\n", map.to_json());
    mconn_node::fs::write_atomic(out, text.as_bytes()).map_err(|e| Error::write(out, &e))?;
    println!(
        "crawled {} for {:.0} s from {} seed(s); map written to {}\n",
        map.network,
        map.duration.as_secs_f64(),
        map.seeds.len(),
        out.display()
    );
    print!("{}", map.summary());
    Ok(())
}

fn run_testnet(
    options: &TestnetOptions,
    timeout: Duration,
    json: bool,
    stay: bool,
) -> Result<(), Error> {
    runtime()?.block_on(async {
        let testnet = Testnet::start(options).await?;
        for n in testnet.nodes.iter() {
            if let Some(rpc) = &n.rpc {
                eprintln!("{}: http://{}/net_info", n.moniker, rpc.local_addr());
            }
        }
        let outcome = tokio::select! {
            r = testnet.wait_for_discovery(timeout, options.progress) => r,
            signal = shutdown_signal() => Err(Error::Interrupted(signal)),
        };
        if outcome.is_ok() {
            // One more greeting round, so every new link has carried traffic.
            tokio::time::sleep(DEMO_PERIOD + Duration::from_millis(200)).await;
        }
        let report = testnet.report(outcome.as_ref().ok().copied());
        if json {
            println!("{:#}", report.to_json());
        } else {
            print!("{report}");
        }
        if outcome.is_ok() && stay {
            eprintln!("testnet running; Ctrl-C to stop");
            shutdown_signal().await;
            exit_on_second_signal();
        }
        testnet.stop().await;
        outcome.map(|_| ())
    })
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
