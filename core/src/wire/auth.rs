//! The two SecretConnection handshake messages (spec §2.2, §2.5).
//!
//! * the ephemeral key: `delimited(BytesValue{value: eph_pub})`, always the
//!   35 bytes `22 0a 20 <32>`, sent in plaintext;
//! * the authentication: `delimited(AuthSigMessage{pub_key, sig})`, 103 bytes
//!   for Ed25519 (`66 0a 22 0a 20 <32> 12 40 <64>`), sent inside sealed frame #0.
//!
//! ```
//! use mconn::wire::auth::{self, AuthSig};
//! let msg = auth::encode_ephemeral(&[7; 32]);
//! assert_eq!(&msg[..3], &[0x22, 0x0a, 0x20]);
//! assert_eq!(auth::decode_ephemeral(&msg), Ok(([7; 32], 35)));
//!
//! let sig = AuthSig { pub_key: [1; 32], sig: [2; 64] };
//! let mut buf = [0u8; auth::AUTH_SIG_MSG_LEN];
//! assert_eq!(sig.encode_delimited(&mut buf), Ok(103));
//! assert_eq!(AuthSig::decode(&buf[1..]), Ok(sig));
//! ```

use super::proto::{Reader, Writer};
use super::{varint, DecodeError, EncodeError};
use core::fmt;

/// Length of the delimited ephemeral-key message on the wire.
pub const EPH_MSG_LEN: usize = 35;
/// Body length of the ephemeral-key message (its length prefix).
pub const EPH_BODY_LEN: usize = 34;
/// Length of the delimited Ed25519 `AuthSigMessage`.
pub const AUTH_SIG_MSG_LEN: usize = 103;
/// Largest `AuthSigMessage` body we accept (the canonical one is 102 bytes;
/// the slack allows unknown fields a future peer might add).
pub const AUTH_SIG_MAX_BODY: usize = 256;

/// Encodes `delimited(BytesValue{value: eph_pub})`.
pub fn encode_ephemeral(eph_pub: &[u8; 32]) -> [u8; EPH_MSG_LEN] {
    let mut out = [0u8; EPH_MSG_LEN];
    out[0] = EPH_BODY_LEN as u8;
    out[1] = 0x0a;
    out[2] = 32;
    out[3..].copy_from_slice(eph_pub);
    out
}

/// Decodes a delimited ephemeral-key message from the start of `input`;
/// returns the key and the bytes consumed (always 35).
///
/// Strict, like tendermint-rs: the length prefix must be the one-byte 34,
/// and the body exactly a `BytesValue` whose value has 32 bytes.
/// [`DecodeError::Truncated`] means "feed more bytes";
/// [`DecodeError::TooLarge`] is a length prefix above 34.
pub fn decode_ephemeral(input: &[u8]) -> Result<([u8; 32], usize), DecodeError> {
    let (len, prefix) = varint::decode(input)?.ok_or(DecodeError::Truncated)?;
    if len > EPH_BODY_LEN as u64 {
        return Err(DecodeError::TooLarge);
    }
    if len < EPH_BODY_LEN as u64 || prefix != 1 {
        return Err(DecodeError::Invalid);
    }
    let body = input.get(1..EPH_MSG_LEN).ok_or(DecodeError::Truncated)?;
    // The whole message is here: a field running past its end is invalid,
    // not "feed more bytes" (the caller would wait forever).
    let complete = |e| match e {
        DecodeError::Truncated => DecodeError::Invalid,
        e => e,
    };
    let mut reader = Reader::new(body);
    let mut key = None;
    while let Some((number, field)) = reader.next_field().map_err(complete)? {
        match number {
            1 => key = Some(field.as_bytes()?),
            _ => return Err(DecodeError::Invalid),
        }
    }
    let key: [u8; 32] = key
        .and_then(|k| k.try_into().ok())
        .ok_or(DecodeError::Invalid)?;
    Ok((key, EPH_MSG_LEN))
}

/// An Ed25519 `AuthSigMessage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AuthSig {
    /// The sender's Ed25519 node public key.
    pub pub_key: [u8; 32],
    /// Its signature over the 32-byte transcript challenge.
    pub sig: [u8; 64],
}

/// Why an `AuthSigMessage` was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AuthSigError {
    /// Not a well-formed message.
    Malformed(DecodeError),
    /// A secp256k1 (field 2), BLS12-381 (field 3) or unknown key type:
    /// CometBFT requires Ed25519 node keys.
    UnsupportedKeyType,
    /// No public key at all.
    MissingKey,
    /// An Ed25519 key that is not 32 bytes.
    KeyLength,
    /// A signature that is not 64 bytes.
    SignatureLength,
}

impl fmt::Display for AuthSigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthSigError::Malformed(e) => write!(f, "malformed auth message: {e}"),
            AuthSigError::UnsupportedKeyType => f.write_str("peer key is not Ed25519"),
            AuthSigError::MissingKey => f.write_str("auth message has no public key"),
            AuthSigError::KeyLength => f.write_str("Ed25519 key is not 32 bytes"),
            AuthSigError::SignatureLength => f.write_str("signature is not 64 bytes"),
        }
    }
}

impl core::error::Error for AuthSigError {}

impl From<DecodeError> for AuthSigError {
    fn from(e: DecodeError) -> Self {
        AuthSigError::Malformed(e)
    }
}

/// Which `PublicKey.sum` variant a message carried.
enum Key<'a> {
    Ed25519(&'a [u8]),
    Other,
}

impl AuthSig {
    /// Writes `delimited(AuthSigMessage)` (103 bytes) into `out`.
    pub fn encode_delimited(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(out);
        w.varint((AUTH_SIG_MSG_LEN - 1) as u64)?;
        w.message_header(1, 34)?;
        w.bytes_field(1, &self.pub_key)?;
        w.bytes_field(2, &self.sig)?;
        Ok(w.len())
    }

    /// Decodes an (undelimited) `AuthSigMessage` body. Fields may come in
    /// any order; unknown fields are skipped; the last occurrence wins.
    pub fn decode(body: &[u8]) -> Result<Self, AuthSigError> {
        let mut reader = Reader::new(body);
        let mut key = None;
        let mut sig: &[u8] = &[];
        while let Some((number, field)) = reader.next_field()? {
            match number {
                1 => key = Some(decode_public_key(field.as_bytes()?)?),
                2 => sig = field.as_bytes()?,
                _ => {}
            }
        }
        let pub_key = match key.ok_or(AuthSigError::MissingKey)? {
            Some(Key::Ed25519(k)) => k.try_into().map_err(|_| AuthSigError::KeyLength)?,
            Some(Key::Other) => return Err(AuthSigError::UnsupportedKeyType),
            None => return Err(AuthSigError::MissingKey),
        };
        let sig = sig.try_into().map_err(|_| AuthSigError::SignatureLength)?;
        Ok(AuthSig { pub_key, sig })
    }
}

/// `tendermint.crypto.PublicKey`: a oneof of ed25519 (1), secp256k1 (2),
/// bls12381 (3). `None` when no known variant is set; unknown fields are skipped.
fn decode_public_key(body: &[u8]) -> Result<Option<Key<'_>>, AuthSigError> {
    let mut reader = Reader::new(body);
    let mut key = None;
    while let Some((number, field)) = reader.next_field()? {
        match number {
            1 => key = Some(Key::Ed25519(field.as_bytes()?)),
            2 | 3 => {
                field.as_bytes()?;
                key = Some(Key::Other);
            }
            _ => {}
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical() -> [u8; AUTH_SIG_MSG_LEN] {
        let mut buf = [0u8; AUTH_SIG_MSG_LEN];
        let msg = AuthSig {
            pub_key: [0xaa; 32],
            sig: [0xbb; 64],
        };
        assert_eq!(msg.encode_delimited(&mut buf), Ok(AUTH_SIG_MSG_LEN));
        buf
    }

    #[test]
    fn auth_sig_layout() {
        let buf = canonical();
        assert_eq!(&buf[..5], &[0x66, 0x0a, 0x22, 0x0a, 0x20]);
        assert_eq!(&buf[37..39], &[0x12, 0x40]);
        assert!(buf[5..37].iter().all(|&b| b == 0xaa));
        assert!(buf[39..].iter().all(|&b| b == 0xbb));
        assert_eq!(
            AuthSig {
                pub_key: [0; 32],
                sig: [0; 64]
            }
            .encode_delimited(&mut [0u8; 102]),
            Err(EncodeError::BufferTooSmall)
        );
    }

    #[test]
    fn auth_sig_any_field_order_and_unknown_fields() {
        let buf = canonical();
        // sig first, then an unknown varint field 9, then pub_key.
        let mut body = [0u8; 104];
        body[..66].copy_from_slice(&buf[37..]);
        body[66..68].copy_from_slice(&[0x48, 0x01]);
        body[68..].copy_from_slice(&buf[1..37]);
        let msg = AuthSig::decode(&body).unwrap();
        assert_eq!(msg.pub_key, [0xaa; 32]);
        assert_eq!(msg.sig, [0xbb; 64]);
    }

    #[test]
    fn auth_sig_errors() {
        let buf = canonical();
        let body = &buf[1..];
        // secp256k1 key (33 bytes in field 2) and bls12381 (field 3).
        let mut secp = [0u8; 103];
        secp[..4].copy_from_slice(&[0x0a, 0x23, 0x12, 0x21]);
        secp[37..].copy_from_slice(&buf[37..]);
        assert_eq!(
            AuthSig::decode(&secp),
            Err(AuthSigError::UnsupportedKeyType)
        );
        let mut bls = [0u8; 102];
        bls.copy_from_slice(body);
        bls[2] = 0x1a;
        assert_eq!(AuthSig::decode(&bls), Err(AuthSigError::UnsupportedKeyType));
        // Truncated anywhere.
        for cut in 0..body.len() {
            let r = AuthSig::decode(&body[..cut]);
            assert!(r.is_err(), "cut {cut}");
        }
        assert_eq!(
            AuthSig::decode(&body[..36]),
            Err(AuthSigError::SignatureLength)
        );
        assert_eq!(AuthSig::decode(&body[36..]), Err(AuthSigError::MissingKey));
        assert_eq!(
            AuthSig::decode(&[0x0a, 0x00]),
            Err(AuthSigError::MissingKey)
        );
        assert_eq!(
            AuthSig::decode(&[0x0a, 0x03, 0x0a, 0x01, 0x00]),
            Err(AuthSigError::KeyLength)
        );
        assert_eq!(
            AuthSig::decode(&[0x18, 0x01]),
            Err(AuthSigError::MissingKey)
        );
        assert_eq!(
            AuthSig::decode(&[0x08, 0x01]),
            Err(AuthSigError::Malformed(DecodeError::WrongWireType))
        );
        assert_eq!(
            AuthSig::decode(&[0x0b]),
            Err(AuthSigError::Malformed(DecodeError::InvalidField))
        );
        assert_eq!(
            AuthSig::decode(&[0x0a, 0x02, 0x08, 0x01]),
            Err(AuthSigError::Malformed(DecodeError::WrongWireType))
        );
    }

    #[test]
    fn ephemeral_strict() {
        let good = encode_ephemeral(&[5; 32]);
        assert_eq!(decode_ephemeral(&good), Ok(([5; 32], 35)));
        let mut longer = [0u8; 40];
        longer[..35].copy_from_slice(&good);
        assert_eq!(decode_ephemeral(&longer), Ok(([5; 32], 35)));
        for cut in 0..35 {
            assert_eq!(
                decode_ephemeral(&good[..cut]),
                Err(DecodeError::Truncated),
                "{cut}"
            );
        }
        let mut big = good;
        big[0] = 35;
        assert_eq!(decode_ephemeral(&big), Err(DecodeError::TooLarge));
        // 1 MiB prefix, and a non-minimal 34.
        assert_eq!(
            decode_ephemeral(&[0x80, 0x80, 0x40]),
            Err(DecodeError::TooLarge)
        );
        assert_eq!(decode_ephemeral(&[0xa2, 0x00]), Err(DecodeError::Invalid));
        assert_eq!(
            decode_ephemeral(&[0xff; 11]),
            Err(DecodeError::VarintOverflow)
        );
        let mut small = good;
        small[0] = 33;
        assert_eq!(decode_ephemeral(&small), Err(DecodeError::Invalid));
        // Right length, wrong field.
        let mut other = good;
        other[1] = 0x12;
        assert_eq!(decode_ephemeral(&other), Err(DecodeError::Invalid));
        // Right length, field 1 with 31 bytes then a 1-byte varint field.
        let mut short = good;
        short[2] = 31;
        short[34] = 0x00;
        assert!(decode_ephemeral(&short).is_err());
    }
}
