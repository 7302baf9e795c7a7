//! The home directory, laid out as CometBFT's:
//!
//! ```text
//! <home>/config/config.toml     settings (see crate::config)
//! <home>/config/node_key.json   the node's identity (node_key_file)
//! <home>/config/genesis.json    optional; its chain_id is the network
//! <home>/config/addrbook.json   the address book (addr_book_file)
//! <home>/data/
//! ```

use std::io;
use std::path::{Path, PathBuf};

use mconn::identity::{NodeId, NodeKey, NodeKeyFileError};
use rand_core::RngCore as _;

use crate::config::{is_printable_text, Config};
use crate::error::Error;
use crate::fs::{create_atomic, create_private_dir};

/// The environment variable naming the home directory.
pub const HOME_ENV: &str = "MCONN_HOME";
/// The home directory under `$HOME` when none is given.
pub const DEFAULT_HOME_DIR: &str = ".mconn";

/// A node's home directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

/// What `init` may set in a new `config.toml`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InitOptions {
    /// The moniker (default: the host name).
    pub moniker: Option<String>,
    /// The network (default: a genesis file's chain ID if there is one,
    /// else a new `test-chain-XXXXXX`, as CometBFT's `init`).
    pub network: Option<String>,
}

/// What `init` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitOutcome {
    /// The node's ID (new or existing key).
    pub node_id: NodeId,
    /// A new `config.toml` was written (else the existing one was kept).
    pub config_created: bool,
    /// A new `node_key.json` was written (else the existing one was kept).
    pub key_created: bool,
    /// The effective configuration.
    pub config: Config,
}

impl Home {
    /// The home at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Home { root: root.into() }
    }

    /// `~/.mconn` (the caller handles `--home` and `$MCONN_HOME`).
    pub fn default_root() -> Result<PathBuf, Error> {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(DEFAULT_HOME_DIR))
            .ok_or(Error::NoHome)
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<home>/config`.
    pub fn config_dir(&self) -> PathBuf {
        self.root.join("config")
    }

    /// `<home>/data`.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// `<home>/config/config.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.config_dir().join("config.toml")
    }

    /// A path from the config: absolute as is, relative under the home.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.root.join(path)
    }

    /// The node key file `config` names.
    pub fn node_key_file(&self, config: &Config) -> PathBuf {
        self.resolve(&config.node_key_file)
    }

    /// The genesis file `config` names.
    pub fn genesis_file(&self, config: &Config) -> PathBuf {
        self.resolve(&config.genesis_file)
    }

    /// The address book file `config` names (written by the address book).
    pub fn addr_book_file(&self, config: &Config) -> PathBuf {
        self.resolve(&config.p2p.addr_book_file)
    }

    /// Reads and parses `config.toml`.
    pub fn load_config(&self) -> Result<Config, Error> {
        let path = self.config_file();
        let text = self.read_created_by_init(&path)?;
        Config::from_toml(&text).map_err(|source| Error::Config {
            path,
            source: Box::new(source),
            home: self.root.clone(),
        })
    }

    /// Reads the node key `config` names.
    pub fn load_node_key(&self, config: &Config) -> Result<NodeKey, Error> {
        let path = self.node_key_file(config);
        NodeKey::load(&path).map_err(|error| match error {
            NodeKeyFileError::Io(kind) => Error::Read {
                init_home: (kind == io::ErrorKind::NotFound).then(|| self.root.clone()),
                path,
                kind,
            },
            error => Error::NodeKey {
                path,
                error,
                home: self.root.clone(),
            },
        })
    }

    /// The network (chain ID): `[mconn] network`, else the genesis file's
    /// `chain_id`. Both present and different is an error, as is neither.
    pub fn network(&self, config: &Config) -> Result<String, Error> {
        let genesis_file = self.genesis_file(config);
        match (&config.mconn.network, read_chain_id(&genesis_file)?) {
            (Some(ours), Some(chain)) if *ours != chain => Err(Error::NetworkConflict {
                config_file: self.config_file(),
                config: ours.clone(),
                genesis_file,
                genesis: chain,
            }),
            (Some(ours), _) => Ok(ours.clone()),
            (None, Some(chain)) => Ok(chain),
            (None, None) => Err(Error::NoNetwork {
                config_file: self.config_file(),
                genesis_file,
            }),
        }
    }

    /// Creates the home: directories, `config.toml`, `node_key.json`.
    /// Existing files are kept (and must parse), as CometBFT's `init` does.
    pub fn init(&self, options: &InitOptions) -> Result<InitOutcome, Error> {
        for (flag, value) in [
            ("--moniker", &options.moniker),
            ("--network", &options.network),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !is_printable_text(v)) {
                return Err(Error::Argument {
                    flag,
                    value: v.to_string(),
                    reason: "must be printable ASCII and not blank".into(),
                });
            }
        }
        for dir in [self.config_dir(), self.data_dir()] {
            create_private_dir(&dir).map_err(|e| Error::write(&dir, &e))?;
        }
        let (config, config_created) = self.init_config(options)?;
        let key_file = self.node_key_file(&config);
        if let Some(dir) = key_file.parent() {
            create_private_dir(dir).map_err(|e| Error::write(dir, &e))?;
        }
        let new_key = NodeKey::generate(&mut rand_core::OsRng);
        let key_created = create_atomic(&key_file, |tmp| {
            new_key.save(tmp).map_err(|e| match e {
                NodeKeyFileError::Io(kind) => io::Error::from(kind),
                other => io::Error::other(other.to_string()),
            })
        })
        .map_err(|e| Error::write(&key_file, &e))?;
        let key = if key_created {
            tracing::info!(path = %key_file.display(), "Generated node key");
            new_key
        } else {
            let key = self.load_node_key(&config)?;
            tracing::info!(path = %key_file.display(), "Found node key");
            key
        };
        Ok(InitOutcome {
            node_id: key.node_id(),
            config_created,
            key_created,
            config,
        })
    }

    fn init_config(&self, options: &InitOptions) -> Result<(Config, bool), Error> {
        let path = self.config_file();
        if !path.exists() {
            let mut config = Config::default();
            if let Some(m) = &options.moniker {
                config.moniker = m.clone();
            }
            let has_genesis = self.genesis_file(&config).exists();
            config.mconn.network = match &options.network {
                Some(n) => Some(n.clone()),
                None if has_genesis => None,
                None => Some(random_chain_id()),
            };
            let text = config.to_toml();
            let created = create_atomic(&path, |tmp| std::fs::write(tmp, &text))
                .map_err(|e| Error::write(&path, &e))?;
            if created {
                tracing::info!(path = %path.display(), "Generated config");
                return Ok((config, true));
            }
        }
        let config = self.load_config()?;
        tracing::info!(path = %path.display(), "Found config");
        let mut ignored = Vec::new();
        if options
            .moniker
            .as_ref()
            .is_some_and(|m| *m != config.moniker)
        {
            ignored.push("--moniker");
        }
        if options.network.is_some() && options.network != config.mconn.network {
            ignored.push("--network");
        }
        if !ignored.is_empty() {
            tracing::warn!(
                path = %path.display(),
                "config exists and is kept: {} not applied (edit the file instead)",
                ignored.join(", ")
            );
        }
        Ok((config, false))
    }

    /// Reads a file that `init` creates: a missing one suggests `init`.
    fn read_created_by_init(&self, path: &Path) -> Result<String, Error> {
        std::fs::read_to_string(path).map_err(|e| Error::Read {
            path: path.to_path_buf(),
            kind: e.kind(),
            init_home: (e.kind() == io::ErrorKind::NotFound).then(|| self.root.clone()),
        })
    }
}

/// The `chain_id` of a genesis file; `None` if there is no such file.
/// Only that field is kept (genesis files can be large).
pub fn read_chain_id(path: &Path) -> Result<Option<String>, Error> {
    #[derive(serde::Deserialize)]
    struct Genesis {
        chain_id: String,
    }
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::read(path, &e)),
    };
    let invalid = |reason: String| Error::Genesis {
        path: path.to_path_buf(),
        reason,
    };
    let genesis: Genesis =
        serde_json::from_reader(io::BufReader::new(file)).map_err(|e| invalid(e.to_string()))?;
    if !is_printable_text(&genesis.chain_id) {
        return Err(invalid(format!(
            "chain_id {:?} must be printable ASCII and not blank",
            genesis.chain_id
        )));
    }
    Ok(Some(genesis.chain_id))
}

/// `test-chain-` and six random letters and digits, like CometBFT's `init`.
fn random_chain_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = [0u8; 6];
    rand_core::OsRng.fill_bytes(&mut bytes);
    let suffix: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    format!("test-chain-{suffix}")
}
