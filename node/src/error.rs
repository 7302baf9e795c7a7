//! The node's errors: each prints as one line that names the file or peer
//! and, where there is one, the fix.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mconn::identity::{NodeKeyFileError, PeerAddrError};
use mconn::pex::BookFileError;

use crate::config::{ConfigError, GoDuration};
use crate::probe::ProbeFailure;

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {}: {}{}", path.display(), IoText(*kind), InitHint(init_home.as_deref()))]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        kind: io::ErrorKind,
        /// The home to suggest `mconn init` for, when `init` creates this file.
        init_home: Option<PathBuf>,
    },
    /// A file or directory could not be written.
    #[error("cannot write {}: {}", path.display(), IoText(*kind))]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        kind: io::ErrorKind,
    },
    /// `config.toml` does not parse.
    #[error("invalid {}: {source} (fix the file, or move it away and run `mconn init --home {}`)", path.display(), home.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// Line, key and problem.
        source: Box<ConfigError>,
        /// Its home directory.
        home: PathBuf,
    },
    /// `node_key.json` does not parse.
    #[error("invalid node key {}: {error} (restore it from a backup, or move it away and run `mconn init --home {}` for a new identity)", path.display(), home.display())]
    NodeKey {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        error: NodeKeyFileError,
        /// Its home directory.
        home: PathBuf,
    },
    /// `genesis.json` is present but unusable.
    #[error("invalid genesis file {}: {reason}", path.display())]
    Genesis {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `[mconn] network` and the genesis `chain_id` disagree.
    #[error("{} sets [mconn] network = {config:?} but {} has chain_id {genesis:?} (remove one or make them equal)", config_file.display(), genesis_file.display())]
    NetworkConflict {
        /// `config.toml`.
        config_file: PathBuf,
        /// Its network.
        config: String,
        /// `genesis.json`.
        genesis_file: PathBuf,
        /// Its chain ID.
        genesis: String,
    },
    /// Neither `[mconn] network` nor a genesis file.
    #[error("no network configured: set `network` in the [mconn] section of {} or provide {}", config_file.display(), genesis_file.display())]
    NoNetwork {
        /// `config.toml`.
        config_file: PathBuf,
        /// Where a genesis file would be.
        genesis_file: PathBuf,
    },
    /// No `--home`, `$MCONN_HOME` or `$HOME`.
    #[error("cannot find a home directory: HOME is not set (pass --home or set MCONN_HOME)")]
    NoHome,
    /// A command-line value was refused.
    #[error("invalid {flag} {value:?}: {reason}")]
    Argument {
        /// The flag or argument name.
        flag: &'static str,
        /// The value given.
        value: String,
        /// Why.
        reason: String,
    },
    /// A `ID@HOST:PORT` argument did not parse.
    #[error("invalid peer address {input:?}: {error} (expected ID@HOST:PORT)")]
    PeerAddress {
        /// The argument.
        input: String,
        /// Why.
        error: PeerAddrError,
    },
    /// A probe did not get the peer's NodeInfo.
    #[error("probe {peer}: {reason}")]
    Probe {
        /// The peer as given (`id@host:port`).
        peer: String,
        /// What failed.
        reason: ProbeFailure,
    },
    /// The p2p listen address could not be resolved or bound.
    #[error("cannot listen on {addr}: {reason} (is another node running there? change p2p.laddr or pass --p2p.laddr)")]
    Listen {
        /// The address (`tcp://host:port`).
        addr: String,
        /// Why.
        reason: String,
    },
    /// The RPC address could not be bound.
    #[error("cannot serve RPC on {addr}: {} (pick another --rpc address)", IoText(*kind))]
    Rpc {
        /// The address.
        addr: SocketAddr,
        /// Why.
        kind: io::ErrorKind,
    },
    /// The address book file could not be read (other than being corrupt,
    /// which is recovered from) or written.
    #[error("{0} (check the file and its directory's permissions, or p2p.addr_book_file)")]
    AddrBook(BookFileError),
    /// The switch could not be started.
    #[error("cannot start the switch: {0}")]
    Switch(String),
    /// The async runtime could not be created.
    #[error("cannot start the async runtime: {0}")]
    Runtime(String),
    /// `testnet`: discovery did not complete in time.
    #[error("discovery did not complete within {}: {detail} (raise --timeout, or see the log with RUST_LOG=debug)", GoDuration(*after))]
    Discovery {
        /// The bound.
        after: Duration,
        /// Which nodes were still missing what.
        detail: String,
    },
    /// `crawl` could not run.
    #[error("crawl: {0}")]
    Crawl(String),
    /// A signal stopped a command before it finished.
    #[error("interrupted by {0}")]
    Interrupted(&'static str),
}

impl Error {
    /// A read failure of `path`.
    pub fn read(path: &Path, e: &io::Error) -> Self {
        Error::Read {
            path: path.to_path_buf(),
            kind: e.kind(),
            init_home: None,
        }
    }

    /// A write failure of `path`.
    pub fn write(path: &Path, e: &io::Error) -> Self {
        Error::Write {
            path: path.to_path_buf(),
            kind: e.kind(),
        }
    }
}

/// An I/O error kind in words (`no such file`, `permission denied`, …).
#[derive(Clone, Copy, Debug)]
pub struct IoText(pub io::ErrorKind);

impl fmt::Display for IoText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            io::ErrorKind::NotFound => f.write_str("no such file"),
            io::ErrorKind::PermissionDenied => f.write_str("permission denied"),
            io::ErrorKind::AlreadyExists => f.write_str("already exists"),
            io::ErrorKind::IsADirectory => f.write_str("is a directory"),
            io::ErrorKind::NotADirectory => f.write_str("a parent is not a directory"),
            io::ErrorKind::InvalidData => f.write_str("not UTF-8 text"),
            kind => write!(f, "{kind}"),
        }
    }
}

struct InitHint<'a>(Option<&'a Path>);

impl fmt::Display for InitHint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(home) => write!(f, " (run `mconn init --home {}`)", home.display()),
            None => Ok(()),
        }
    }
}
