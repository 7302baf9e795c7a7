//! Pure encoders and decoders on byte slices. Nothing here keeps state
//! between calls or allocates.
//!
//! * [`varint`] and [`proto`]: the protobuf primitives every CometBFT message uses.
//! * [`packet`]: MConnection packet framing, protobuf (CometBFT) and go-wire (legacy).
//! * [`node_info`]: the NodeInfo handshake message.
//! * [`pex`]: PEX request / address-list messages.
//! * [`auth`]: the SecretConnection handshake messages (ephemeral key, AuthSig).

pub mod auth;
pub mod node_info;
pub mod packet;
pub mod pex;
pub mod proto;
pub mod varint;

use core::fmt;

/// Why bytes could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DecodeError {
    /// The input ended inside a value whose length it announced.
    Truncated,
    /// A varint longer than ten bytes or larger than 64 bits.
    VarintOverflow,
    /// A protobuf key with field number 0, or a group / unknown wire type.
    InvalidField,
    /// A known field carried the wrong wire type.
    WrongWireType,
    /// A string field was not UTF-8.
    InvalidUtf8,
    /// A length prefix above the limit for this message.
    TooLarge,
    /// Well-formed framing, but the content is not a valid message of this kind.
    Invalid,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::Truncated => "input truncated",
            DecodeError::VarintOverflow => "varint overflow",
            DecodeError::InvalidField => "invalid protobuf field key",
            DecodeError::WrongWireType => "field has the wrong wire type",
            DecodeError::InvalidUtf8 => "string is not UTF-8",
            DecodeError::TooLarge => "length above limit",
            DecodeError::Invalid => "invalid message",
        })
    }
}

impl core::error::Error for DecodeError {}

/// Why a value could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EncodeError {
    /// The output buffer is too short.
    BufferTooSmall,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("output buffer too small")
    }
}

impl core::error::Error for EncodeError {}
