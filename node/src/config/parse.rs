//! Reading `config.toml`: walk the parsed document (with spans, for line
//! numbers), take the keys we use, ignore the rest.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::{
    is_printable_text, parse_duration, parse_list, Config, ConfigError, ListenAddress, MconnConfig,
    P2pConfig, Problem,
};

type Value<'i> = Spanned<DeValue<'i>>;

/// Keys of our `[mconn]` section, for the unknown-key message.
const MCONN_KEYS: &str = "network";

pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    let doc = DeTable::parse(text).map_err(|e| ConfigError {
        line: e.span().map(|s| line_of(text, s.start)),
        key: String::new(),
        problem: Problem::Syntax(e.message().lines().next().unwrap_or("").trim().to_string()),
    })?;
    let d = Doc { text };
    let mut config = Config::default();
    for (key, value) in doc.get_ref() {
        match key.get_ref().to_ascii_lowercase().as_str() {
            "moniker" => config.moniker = d.text("moniker", value)?,
            "node_key_file" => config.node_key_file = d.path("node_key_file", value)?,
            "genesis_file" => config.genesis_file = d.path("genesis_file", value)?,
            "p2p" => p2p(&d, value, &mut config.p2p)?,
            "mconn" => mconn(&d, value, &mut config.mconn)?,
            // Everything else belongs to other parts of CometBFT.
            _ => {}
        }
    }
    Ok(config)
}

fn p2p(d: &Doc<'_>, section: &Value<'_>, p: &mut P2pConfig) -> Result<(), ConfigError> {
    for (key, v) in d.table("p2p", section)? {
        let name = key.get_ref().to_ascii_lowercase();
        let k = format!("p2p.{name}");
        let k = k.as_str();
        match name.as_str() {
            "laddr" => p.laddr = d.address(k, v)?,
            "external_address" => {
                p.external_address = match d.string(k, v)?.trim() {
                    "" => None,
                    _ => Some(d.address(k, v)?),
                }
            }
            "seeds" => p.seeds = d.list(k, v)?,
            "persistent_peers" => p.persistent_peers = d.list(k, v)?,
            "unconditional_peer_ids" => p.unconditional_peer_ids = d.list(k, v)?,
            "private_peer_ids" => p.private_peer_ids = d.list(k, v)?,
            "max_num_inbound_peers" => p.max_num_inbound_peers = d.count(k, v)?,
            "max_num_outbound_peers" => p.max_num_outbound_peers = d.count(k, v)?,
            "pex" => p.pex = d.boolean(k, v)?,
            "seed_mode" => p.seed_mode = d.boolean(k, v)?,
            "addr_book_file" => p.addr_book_file = d.path(k, v)?,
            "addr_book_strict" => p.addr_book_strict = d.boolean(k, v)?,
            "allow_duplicate_ip" => p.allow_duplicate_ip = d.boolean(k, v)?,
            "handshake_timeout" => p.handshake_timeout = d.duration(k, v)?,
            "dial_timeout" => p.dial_timeout = d.duration(k, v)?,
            "send_rate" => p.send_rate = d.integer(k, v, 0, i64::MAX as u64)?,
            "recv_rate" => p.recv_rate = d.integer(k, v, 0, i64::MAX as u64)?,
            "persistent_peers_max_dial_period" => {
                p.persistent_peers_max_dial_period = d.duration(k, v)?
            }
            "flush_throttle_timeout" => p.flush_throttle_timeout = d.duration(k, v)?,
            "max_packet_msg_payload_size" => {
                let limit = mconn::conn::MAX_PAYLOAD_LIMIT as u64;
                p.max_packet_msg_payload_size = d.integer(k, v, 1, limit)? as usize
            }
            // CometBFT test knobs, libp2p settings of newer versions, …
            _ => {}
        }
    }
    Ok(())
}

fn mconn(d: &Doc<'_>, section: &Value<'_>, m: &mut MconnConfig) -> Result<(), ConfigError> {
    for (key, v) in d.table("mconn", section)? {
        let name = key.get_ref().to_ascii_lowercase();
        let k = format!("mconn.{name}");
        match name.as_str() {
            "network" => m.network = Some(d.text(&k, v)?),
            _ => return Err(d.error(&k, key.span(), Problem::UnknownKey(MCONN_KEYS))),
        }
    }
    Ok(())
}

/// 1-based line number of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn kind(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// The document text, for line numbers, and the typed value readers.
struct Doc<'t> {
    text: &'t str,
}

impl Doc<'_> {
    fn error(&self, key: &str, span: std::ops::Range<usize>, problem: Problem) -> ConfigError {
        ConfigError {
            line: Some(line_of(self.text, span.start)),
            key: key.to_string(),
            problem,
        }
    }

    fn fail<T>(&self, key: &str, v: &Value<'_>, problem: Problem) -> Result<T, ConfigError> {
        Err(self.error(key, v.span(), problem))
    }

    fn wrong_type<T>(
        &self,
        key: &str,
        v: &Value<'_>,
        expected: &'static str,
    ) -> Result<T, ConfigError> {
        let found = kind(v.get_ref());
        self.fail(key, v, Problem::Type { expected, found })
    }

    fn table<'a, 'i>(&self, key: &str, v: &'a Value<'i>) -> Result<&'a DeTable<'i>, ConfigError> {
        match v.get_ref() {
            DeValue::Table(t) => Ok(t),
            _ => self.wrong_type(key, v, "a table"),
        }
    }

    /// A string; numbers and booleans are taken as their text (viper's weak typing).
    fn string(&self, key: &str, v: &Value<'_>) -> Result<String, ConfigError> {
        match v.get_ref() {
            DeValue::String(s) => Ok(s.to_string()),
            DeValue::Integer(i) => Ok(i.to_string()),
            DeValue::Float(x) => Ok(x.to_string()),
            DeValue::Boolean(b) => Ok(b.to_string()),
            _ => self.wrong_type(key, v, "a string"),
        }
    }

    /// Text peers accept in a NodeInfo: printable ASCII, not blank.
    fn text(&self, key: &str, v: &Value<'_>) -> Result<String, ConfigError> {
        let s = self.string(key, v)?;
        if is_printable_text(&s) {
            Ok(s)
        } else {
            self.fail(key, v, Problem::Text(s))
        }
    }

    fn path(&self, key: &str, v: &Value<'_>) -> Result<PathBuf, ConfigError> {
        match self.string(key, v)? {
            s if s.is_empty() => self.fail(key, v, Problem::Empty),
            s => Ok(PathBuf::from(s)),
        }
    }

    /// An integer in `min..=max`; a decimal string is accepted too.
    fn integer(&self, key: &str, v: &Value<'_>, min: u64, max: u64) -> Result<u64, ConfigError> {
        let (digits, radix) = match v.get_ref() {
            DeValue::Integer(i) => (i.as_str().to_string(), i.radix()),
            DeValue::String(s) => (s.trim().to_string(), 10),
            _ => return self.wrong_type(key, v, "an integer"),
        };
        let Ok(n) = i128::from_str_radix(&digits, radix) else {
            return self.wrong_type(key, v, "an integer");
        };
        match u64::try_from(n) {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => {
                let value = n.to_string();
                self.fail(key, v, Problem::Range { value, min, max })
            }
        }
    }

    fn count(&self, key: &str, v: &Value<'_>) -> Result<u32, ConfigError> {
        Ok(self.integer(key, v, 0, u64::from(u32::MAX))? as u32)
    }

    /// A boolean; Go's `strconv.ParseBool` strings and integers are accepted too.
    fn boolean(&self, key: &str, v: &Value<'_>) -> Result<bool, ConfigError> {
        match v.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            DeValue::Integer(i) => Ok(!i.as_str().trim_start_matches(['-', '+', '0']).is_empty()),
            DeValue::String(s) => match s.as_ref() {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
                "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
                _ => self.wrong_type(key, v, "a boolean"),
            },
            _ => self.wrong_type(key, v, "a boolean"),
        }
    }

    /// A Go duration string; an integer is nanoseconds (as viper reads it).
    fn duration(&self, key: &str, v: &Value<'_>) -> Result<Duration, ConfigError> {
        match v.get_ref() {
            DeValue::String(s) => parse_duration(s.trim()).or_else(|e| self.fail(key, v, e.into())),
            DeValue::Integer(_) => self
                .integer(key, v, 0, i64::MAX as u64)
                .map(Duration::from_nanos),
            _ => self.wrong_type(key, v, "a duration string"),
        }
    }

    fn address(&self, key: &str, v: &Value<'_>) -> Result<ListenAddress, ConfigError> {
        let s = self.string(key, v)?;
        ListenAddress::from_str(s.trim()).or_else(|error| {
            let value = s.clone();
            self.fail(key, v, Problem::Address { value, error })
        })
    }

    /// A comma-separated list (empty string: none).
    fn list<T>(&self, key: &str, v: &Value<'_>) -> Result<Vec<T>, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let s = self.string(key, v)?;
        parse_list(&s).or_else(|e| self.fail(key, v, e.into()))
    }
}
