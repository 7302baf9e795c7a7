//! CometBFT's `node_key.json` (std only).

use super::NodeKey;
use base64::{engine::general_purpose::STANDARD, Engine as _};
use core::fmt;
use std::{io, path::Path, string::String};
use zeroize::Zeroize;

const KEY_TYPE: &str = "tendermint/PrivKeyEd25519";

#[derive(serde::Serialize, serde::Deserialize)]
struct File {
    priv_key: TypedKey,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TypedKey {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

/// Why a `node_key.json` could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKeyFileError {
    /// Reading or writing the file failed.
    Io(io::ErrorKind),
    /// Not JSON of the expected shape.
    Json,
    /// `priv_key.type` is not `tendermint/PrivKeyEd25519`.
    UnsupportedKeyType,
    /// `priv_key.value` is not base64.
    Base64,
    /// The key is not 64 bytes (seed || public key).
    KeyLength,
    /// The public half does not belong to the seed.
    PublicKeyMismatch,
}

impl fmt::Display for NodeKeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeKeyFileError::Io(kind) => write!(f, "node key file I/O error: {kind}"),
            NodeKeyFileError::Json => f.write_str("node key file is not valid JSON"),
            NodeKeyFileError::UnsupportedKeyType => f.write_str("node key is not Ed25519"),
            NodeKeyFileError::Base64 => f.write_str("node key value is not base64"),
            NodeKeyFileError::KeyLength => f.write_str("node key must be 64 bytes"),
            NodeKeyFileError::PublicKeyMismatch => {
                f.write_str("node key public half does not match its seed")
            }
        }
    }
}

impl core::error::Error for NodeKeyFileError {}

impl NodeKey {
    /// Parses the JSON text of a `node_key.json`:
    /// `{"priv_key":{"type":"tendermint/PrivKeyEd25519","value":"<base64(seed||pubkey)>"}}`.
    ///
    /// ```
    /// use mconn::identity::NodeKey;
    /// let key = NodeKey::from_seed([1; 32]);
    /// assert_eq!(NodeKey::from_json(&key.to_json()).unwrap().node_id(), key.node_id());
    /// ```
    pub fn from_json(text: &str) -> Result<Self, NodeKeyFileError> {
        let mut file: File = serde_json::from_str(text).map_err(|_| NodeKeyFileError::Json)?;
        if file.priv_key.kind != KEY_TYPE {
            return Err(NodeKeyFileError::UnsupportedKeyType);
        }
        let mut raw = [0u8; 64];
        let decoded = STANDARD.decode_slice(file.priv_key.value.as_bytes(), &mut raw);
        file.priv_key.value.zeroize();
        match decoded {
            Ok(64) => {}
            Ok(_) | Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
                raw.zeroize();
                return Err(NodeKeyFileError::KeyLength);
            }
            Err(base64::DecodeSliceError::DecodeError(_)) => {
                raw.zeroize();
                return Err(NodeKeyFileError::Base64);
            }
        }
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&raw[..32]);
        let key = NodeKey::from_seed(seed);
        seed.zeroize();
        let matches = key.public_key().0[..] == raw[32..];
        raw.zeroize();
        if !matches {
            return Err(NodeKeyFileError::PublicKeyMismatch);
        }
        Ok(key)
    }

    /// The `node_key.json` text, compact as Go writes it.
    pub fn to_json(&self) -> String {
        let mut raw = [0u8; 64];
        raw[..32].copy_from_slice(&self.seed());
        raw[32..].copy_from_slice(&self.public_key().0);
        let file = File {
            priv_key: TypedKey {
                kind: KEY_TYPE.into(),
                value: STANDARD.encode(raw),
            },
        };
        raw.zeroize();
        // Serializing two strings into a String cannot fail.
        let text = serde_json::to_string(&file).unwrap_or_default();
        let mut file = file;
        file.priv_key.value.zeroize();
        text
    }

    /// Reads a `node_key.json` file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, NodeKeyFileError> {
        let mut text = std::fs::read_to_string(path).map_err(|e| NodeKeyFileError::Io(e.kind()))?;
        let key = Self::from_json(&text);
        text.zeroize();
        key
    }

    /// Writes a `node_key.json` file (mode 0600 on Unix).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), NodeKeyFileError> {
        use std::io::Write as _;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut text = self.to_json();
        let result = opts
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        text.zeroize();
        result.map_err(|e| NodeKeyFileError::Io(e.kind()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn json_round_trip_and_go_format() {
        let key = NodeKey::from_seed([0x11; 32]);
        let text = key.to_json();
        assert!(text.starts_with(r#"{"priv_key":{"type":"tendermint/PrivKeyEd25519","value":""#));
        let back = NodeKey::from_json(&text).unwrap();
        assert_eq!(back.seed(), key.seed());

        // A file written by Go (pretty-printed, seed 00..1f = spec §2.10 key A).
        let go = r#"{
  "priv_key": {
    "type": "tendermint/PrivKeyEd25519",
    "value": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8DoQe/884Qvh1w3RjnS8CZZ+TWMJulDV8d3IZkElUxuA=="
  }
}"#;
        let a = NodeKey::from_json(go).unwrap();
        assert_eq!(
            format!("{}", a.node_id()),
            "56475aa75463474c0285df5dbf2bcab73da65135"
        );
    }

    #[test]
    fn json_errors() {
        let good = NodeKey::from_seed([0x11; 32]).to_json();
        assert_eq!(NodeKey::from_json("{").err(), Some(NodeKeyFileError::Json));
        assert_eq!(
            NodeKey::from_json(&good.replace("PrivKeyEd25519", "PrivKeySecp256k1")).err(),
            Some(NodeKeyFileError::UnsupportedKeyType)
        );
        let short = format!(
            r#"{{"priv_key":{{"type":"{KEY_TYPE}","value":"{}"}}}}"#,
            STANDARD.encode([0u8; 32])
        );
        assert_eq!(
            NodeKey::from_json(&short).err(),
            Some(NodeKeyFileError::KeyLength)
        );
        let long = format!(
            r#"{{"priv_key":{{"type":"{KEY_TYPE}","value":"{}"}}}}"#,
            STANDARD.encode([0u8; 65])
        );
        assert_eq!(
            NodeKey::from_json(&long).err(),
            Some(NodeKeyFileError::KeyLength)
        );
        let bad = format!(r#"{{"priv_key":{{"type":"{KEY_TYPE}","value":"!!"}}}}"#);
        assert_eq!(
            NodeKey::from_json(&bad).err(),
            Some(NodeKeyFileError::Base64)
        );
        let mut raw = [0u8; 64];
        raw[..32].copy_from_slice(&[0x11; 32]);
        raw[32..].copy_from_slice(&NodeKey::from_seed([0x12; 32]).public_key().0);
        let mismatch = format!(
            r#"{{"priv_key":{{"type":"{KEY_TYPE}","value":"{}"}}}}"#,
            STANDARD.encode(raw)
        );
        assert_eq!(
            NodeKey::from_json(&mismatch).err(),
            Some(NodeKeyFileError::PublicKeyMismatch)
        );
    }

    #[test]
    fn file_round_trip() {
        let dir = std::env::temp_dir().join(format!("mconn-nodekey-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node_key.json");
        let key = NodeKey::from_seed([0x22; 32]);
        key.save(&path).unwrap();
        assert_eq!(NodeKey::load(&path).unwrap().node_id(), key.node_id());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            NodeKey::load(&path),
            Err(NodeKeyFileError::Io(std::io::ErrorKind::NotFound))
        ));
    }
}
