//! Why a `config.toml` was refused: the line, the key and the problem.

use std::fmt;

use super::{DurationError, ListEntryError, ListenAddressError};

/// A `config.toml` error, one line: `line 12: p2p.seeds: entry "x": …`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line of the offending value, when known.
    pub line: Option<usize>,
    /// The full key (`p2p.dial_timeout`); empty for TOML syntax errors.
    pub key: String,
    /// What is wrong with it.
    pub problem: Problem,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        write!(f, "{}", self.problem)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.problem)
    }
}

/// What is wrong with a value (or the file).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The file is not valid TOML.
    #[error("invalid TOML: {0}")]
    Syntax(String),
    /// A value of the wrong kind.
    #[error("expected {expected}, found {found}")]
    Type {
        /// What the key takes.
        expected: &'static str,
        /// What the file has.
        found: &'static str,
    },
    /// A bad Go duration string.
    #[error(transparent)]
    Duration(#[from] DurationError),
    /// A number outside what the key allows.
    #[error("{value} is out of range ({min}..={max})")]
    Range {
        /// The number as written.
        value: String,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// A bad `tcp://host:port`.
    #[error("{value:?}: {error}")]
    Address {
        /// The value as written.
        value: String,
        /// Why it is refused.
        error: ListenAddressError,
    },
    /// A bad entry in a comma-separated list.
    #[error(transparent)]
    List(#[from] ListEntryError),
    /// An empty string where a value is required.
    #[error("must not be empty")]
    Empty,
    /// Text peers would refuse (NodeInfo fields must be printable ASCII).
    #[error("{0:?} must be printable ASCII and not blank")]
    Text(String),
    /// A key of our own `[mconn]` section we do not know (a typo?).
    #[error("unknown key (known: {0})")]
    UnknownKey(&'static str),
}
