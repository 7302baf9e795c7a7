//! Node identity: the Ed25519 node key, the node ID derived from it, and
//! `id@host:port` peer addresses.
//!
//! ```
//! use mconn::identity::{NodeKey, NodeId};
//! let key = NodeKey::from_seed([0u8; 32]);
//! let id: NodeId = key.node_id();
//! let text = id.to_string(); // 40 lowercase hex characters
//! assert_eq!(text.parse::<NodeId>(), Ok(id));
//! ```

mod addr;
#[cfg(feature = "std")]
mod json;
mod net_addr;
mod zip215;

pub use addr::{PeerAddr, PeerAddrError};
#[cfg(feature = "std")]
pub use json::NodeKeyFileError;
pub use net_addr::{NetAddr, NetAddrError};

use core::{fmt, str::FromStr};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Length of a node ID in bytes (40 hex characters).
pub const NODE_ID_LEN: usize = 20;

/// A node's long-term Ed25519 key (CometBFT `node_key.json`).
///
/// The secret is wiped when the key is dropped. `Debug` never prints it.
#[derive(Clone)]
pub struct NodeKey {
    signing: ed25519_dalek::SigningKey,
}

impl NodeKey {
    /// The key for a 32-byte RFC 8032 seed (the first half of Go's 64-byte
    /// private key).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        NodeKey {
            signing: ed25519_dalek::SigningKey::from_bytes(&seed),
        }
    }

    /// A fresh key from the caller's random source.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let key = Self::from_seed(seed);
        seed.zeroize();
        key
    }

    /// The 32-byte seed. Handle with care: this is the secret.
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// `hex(sha256(pubkey)[..20])`, the ID other nodes know us by.
    pub fn node_id(&self) -> NodeId {
        self.public_key().node_id()
    }

    /// Pure Ed25519 (RFC 8032) signature over `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        use ed25519_dalek::Signer;
        self.signing.sign(msg).to_bytes()
    }
}

impl Drop for NodeKey {
    fn drop(&mut self) {
        // ed25519-dalek's SigningKey zeroizes its secret on drop ("zeroize" feature).
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKey")
            .field("id", &self.node_id())
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key as it appears on the wire (32 raw bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PublicKey(pub [u8; PUBLIC_KEY_LEN]);

impl PublicKey {
    /// The node ID of this key.
    pub fn node_id(&self) -> NodeId {
        let digest = Sha256::digest(self.0);
        let mut id = [0u8; NODE_ID_LEN];
        id.copy_from_slice(&digest[..NODE_ID_LEN]);
        NodeId(id)
    }

    /// ZIP-215 verification (what CometBFT uses) of `sig` over `msg`.
    /// Keys that are not valid curve points fail like a bad signature.
    pub fn verify(&self, msg: &[u8], sig: &[u8; SIGNATURE_LEN]) -> bool {
        zip215::verify(&self.0, msg, sig)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublicKey(")?;
        write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

/// A node ID: the first 20 bytes of SHA-256 of the Ed25519 public key.
///
/// Prints as 40 lowercase hex characters; parsing also accepts upper case
/// (as Go's `validateID` does).
///
/// ```
/// use mconn::identity::{NodeId, NodeIdError};
/// let id: NodeId = "56475aa75463474c0285df5dbf2bcab73da65135".parse().unwrap();
/// assert_eq!(id.to_string(), "56475aa75463474c0285df5dbf2bcab73da65135");
/// assert_eq!("abc".parse::<NodeId>(), Err(NodeIdError::Length));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NodeId(pub [u8; NODE_ID_LEN]);

/// Why a string is not a node ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NodeIdError {
    /// Not exactly 40 characters.
    Length,
    /// A character that is not a hex digit.
    InvalidHex,
}

impl fmt::Display for NodeIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeIdError::Length => "node ID must be 40 hex characters",
            NodeIdError::InvalidHex => "node ID is not hex",
        })
    }
}

impl core::error::Error for NodeIdError {}

impl FromStr for NodeId {
    type Err = NodeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut id = [0u8; NODE_ID_LEN];
        decode_hex(s.as_bytes(), &mut id).map_err(|e| match e {
            HexError::Length => NodeIdError::Length,
            HexError::Digit => NodeIdError::InvalidHex,
        })?;
        Ok(NodeId(id))
    }
}

impl NodeId {
    /// The 40 lowercase hex characters, written into `out` (no allocation).
    ///
    /// ```
    /// use mconn::identity::NodeId;
    /// let mut buf = [0u8; 40];
    /// assert_eq!(NodeId([0xab; 20]).write_hex(&mut buf), "ab".repeat(20));
    /// ```
    pub fn write_hex<'b>(&self, out: &'b mut [u8; 40]) -> &'b str {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (i, byte) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(byte >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(byte & 0xf)];
        }
        core::str::from_utf8(out).unwrap_or_default()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NodeId(")?;
        write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        let pair = [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]];
        // Both bytes are ASCII hex digits.
        f.write_str(core::str::from_utf8(&pair).map_err(|_| fmt::Error)?)?;
    }
    Ok(())
}

enum HexError {
    Length,
    Digit,
}

/// Decodes exactly `out.len()` bytes of hex (either case).
fn decode_hex(hex: &[u8], out: &mut [u8]) -> Result<(), HexError> {
    if hex.len() != out.len() * 2 {
        return Err(HexError::Length);
    }
    fn nibble(c: u8) -> Result<u8, HexError> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(HexError::Digit),
        }
    }
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    fn unhex<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        assert!(decode_hex(s.as_bytes(), &mut out).is_ok());
        out
    }

    /// Spec §2.10: seeds, public keys and node IDs of A and B.
    #[test]
    fn node_id_vectors() {
        let cases = [
            (
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8",
                "56475aa75463474c0285df5dbf2bcab73da65135",
            ),
            (
                "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
                "29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7",
                "24f6ed6acbfe1009c030d7ca567c33ca48309114",
            ),
        ];
        for (seed, pubkey, id) in cases {
            let key = NodeKey::from_seed(unhex(seed));
            assert_eq!(key.public_key(), PublicKey(unhex(pubkey)));
            assert_eq!(key.node_id().to_string(), id);
            assert_eq!(id.parse::<NodeId>(), Ok(key.node_id()));
            assert_eq!(
                id.to_uppercase().parse::<NodeId>(),
                Ok(key.node_id()),
                "upper case is accepted"
            );
        }
    }

    #[test]
    fn node_id_parse_errors() {
        assert_eq!("".parse::<NodeId>(), Err(NodeIdError::Length));
        assert_eq!(
            "56475aa75463474c0285df5dbf2bcab73da6513".parse::<NodeId>(),
            Err(NodeIdError::Length)
        );
        assert_eq!(
            "56475aa75463474c0285df5dbf2bcab73da651355".parse::<NodeId>(),
            Err(NodeIdError::Length)
        );
        assert_eq!(
            "56475aa75463474c0285df5dbf2bcab73da6513g".parse::<NodeId>(),
            Err(NodeIdError::InvalidHex)
        );
        // Multi-byte UTF-8 of the right byte length.
        assert_eq!(
            "56475aa75463474c0285df5dbf2bcab73da651é".parse::<NodeId>(),
            Err(NodeIdError::InvalidHex)
        );
    }

    #[test]
    fn sign_and_verify() {
        let key = NodeKey::from_seed([7; 32]);
        let sig = key.sign(b"challenge");
        assert!(key.public_key().verify(b"challenge", &sig));
        assert!(!key.public_key().verify(b"challengf", &sig));
        let mut bad = sig;
        bad[0] ^= 1;
        assert!(!key.public_key().verify(b"challenge", &bad));
        // Not a curve point: fails, does not panic.
        assert!(!PublicKey([0xff; 32]).verify(b"challenge", &sig));
        assert!(!std::format!("{key:?}").contains(&std::format!("{:?}", [7u8; 32])));
    }
}
