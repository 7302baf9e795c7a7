use crate::wire::{auth::AuthSigError, DecodeError};
use core::fmt;

/// Why a SecretConnection failed, or why a call was refused.
///
/// Every variant except [`NotEstablished`](Self::NotEstablished),
/// [`BufferTooSmall`](Self::BufferTooSmall) and
/// [`PayloadTooLarge`](Self::PayloadTooLarge) is fatal: the machine stays
/// failed and the connection must be closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SecretError {
    /// The peer's ephemeral-key message is malformed (strict decoding:
    /// exactly `22 0a 20 <32 bytes>`), or it echoed our own key.
    EphemeralKeyInvalid(DecodeError),
    /// The peer's ephemeral key is a low-order point (all-zero DH output).
    LowOrderPoint,
    /// The peer's `AuthSigMessage` is malformed.
    AuthSigInvalid(DecodeError),
    /// The peer's node key is not Ed25519 (secp256k1, BLS12-381, …).
    UnsupportedKeyType,
    /// The peer's signature over the handshake challenge does not verify.
    BadSignature,
    /// A received frame failed authentication (tampered, replayed,
    /// reordered or truncated stream).
    FrameAuthFailed,
    /// A received frame announced more than 1024 payload bytes.
    FrameLengthInvalid,
    /// The 64-bit frame counter of one direction is used up.
    NonceExhausted,
    /// Misuse: data calls before the handshake completed.
    NotEstablished,
    /// Misuse: an output buffer is shorter than a sealed frame (1044 bytes).
    BufferTooSmall,
    /// Misuse: a frame fill callback reported more than 1024 bytes.
    PayloadTooLarge,
}

impl SecretError {
    /// Whether the connection is unusable after this error (everything but
    /// caller misuse).
    pub fn is_fatal(self) -> bool {
        !matches!(
            self,
            SecretError::NotEstablished
                | SecretError::BufferTooSmall
                | SecretError::PayloadTooLarge
        )
    }
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::EphemeralKeyInvalid(e) => write!(f, "invalid ephemeral key message: {e}"),
            SecretError::LowOrderPoint => f.write_str("peer ephemeral key is a low-order point"),
            SecretError::AuthSigInvalid(e) => write!(f, "invalid auth signature message: {e}"),
            SecretError::UnsupportedKeyType => f.write_str("peer node key is not Ed25519"),
            SecretError::BadSignature => f.write_str("peer auth signature does not verify"),
            SecretError::FrameAuthFailed => f.write_str("failed to decrypt SecretConnection frame"),
            SecretError::FrameLengthInvalid => f.write_str("frame length above 1024"),
            SecretError::NonceExhausted => f.write_str("frame counter exhausted"),
            SecretError::NotEstablished => f.write_str("SecretConnection not established"),
            SecretError::BufferTooSmall => f.write_str("buffer shorter than a sealed frame"),
            SecretError::PayloadTooLarge => f.write_str("frame payload above 1024 bytes"),
        }
    }
}

impl core::error::Error for SecretError {}

impl From<AuthSigError> for SecretError {
    fn from(e: AuthSigError) -> Self {
        match e {
            AuthSigError::Malformed(d) => SecretError::AuthSigInvalid(d),
            AuthSigError::UnsupportedKeyType => SecretError::UnsupportedKeyType,
            AuthSigError::MissingKey | AuthSigError::KeyLength | AuthSigError::SignatureLength => {
                SecretError::AuthSigInvalid(DecodeError::Invalid)
            }
        }
    }
}
