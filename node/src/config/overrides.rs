//! Command-line overrides of `config.toml` (`mconn start --p2p.seeds …`),
//! with CometBFT's flag names.

use std::str::FromStr;

use super::{is_printable_text, parse_list, Config, ListenAddress};
use crate::error::Error;

/// The values of `start`'s config flags, as typed; `None` keeps the file's
/// value. [`apply`](Self::apply) parses and applies them.
///
/// ```
/// use mconn_node::config::{Config, Overrides};
/// let mut config = Config::default();
/// let flags = Overrides {
///     laddr: Some("tcp://127.0.0.1:0".into()),
///     seed_mode: Some(true),
///     ..Overrides::default()
/// };
/// flags.apply(&mut config).unwrap();
/// assert_eq!((config.p2p.laddr.host.as_str(), config.p2p.laddr.port), ("127.0.0.1", 0));
/// assert!(config.p2p.seed_mode);
/// let bad = Overrides { seeds: Some("nope".into()), ..Overrides::default() };
/// assert!(bad.apply(&mut config).unwrap_err().to_string().contains("--p2p.seeds"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--moniker`.
    pub moniker: Option<String>,
    /// `--p2p.laddr` (`tcp://host:port`).
    pub laddr: Option<String>,
    /// `--p2p.external-address` (`tcp://host:port`; empty: derive from the
    /// bound address).
    pub external_address: Option<String>,
    /// `--p2p.seeds` (comma-separated `id@host:port`).
    pub seeds: Option<String>,
    /// `--p2p.persistent_peers` (comma-separated `id@host:port`).
    pub persistent_peers: Option<String>,
    /// `--p2p.unconditional_peer_ids` (comma-separated IDs).
    pub unconditional_peer_ids: Option<String>,
    /// `--p2p.private_peer_ids` (comma-separated IDs).
    pub private_peer_ids: Option<String>,
    /// `--p2p.pex`.
    pub pex: Option<bool>,
    /// `--p2p.seed_mode`.
    pub seed_mode: Option<bool>,
}

impl Overrides {
    /// Parses every given flag and writes it into `config`; the first bad
    /// value is an [`Error::Argument`] naming the flag.
    pub fn apply(&self, config: &mut Config) -> Result<(), Error> {
        let p = &mut config.p2p;
        if let Some(m) = &self.moniker {
            if !is_printable_text(m) {
                return Err(argument(
                    "--moniker",
                    m,
                    "must be printable ASCII and not blank",
                ));
            }
            config.moniker = m.clone();
        }
        if let Some(a) = &self.laddr {
            p.laddr = address("--p2p.laddr", a)?;
        }
        if let Some(a) = &self.external_address {
            p.external_address = match a.trim() {
                "" => None,
                _ => Some(address("--p2p.external-address", a)?),
            };
        }
        if let Some(s) = &self.seeds {
            p.seeds = list("--p2p.seeds", s)?;
        }
        if let Some(s) = &self.persistent_peers {
            p.persistent_peers = list("--p2p.persistent_peers", s)?;
        }
        if let Some(s) = &self.unconditional_peer_ids {
            p.unconditional_peer_ids = list("--p2p.unconditional_peer_ids", s)?;
        }
        if let Some(s) = &self.private_peer_ids {
            p.private_peer_ids = list("--p2p.private_peer_ids", s)?;
        }
        if let Some(b) = self.pex {
            p.pex = b;
        }
        if let Some(b) = self.seed_mode {
            p.seed_mode = b;
        }
        Ok(())
    }
}

fn argument(flag: &'static str, value: &str, reason: impl ToString) -> Error {
    Error::Argument {
        flag,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn address(flag: &'static str, value: &str) -> Result<ListenAddress, Error> {
    ListenAddress::from_str(value.trim()).map_err(|e| argument(flag, value, e))
}

fn list<T>(flag: &'static str, value: &str) -> Result<Vec<T>, Error>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    parse_list(value).map_err(|e| argument(flag, value, e))
}
