//! CometBFT's `DefaultNodeInfo` (spec §3.1) as a borrowed view, with a
//! byte-exact gogoproto encoder and a zero-copy decoder.
//!
//! Encoding follows gogoproto's proto3 rules: ascending field numbers, zero
//! scalars and empty strings omitted, the non-nullable `protocol_version`
//! (field 1) and `other` (field 8) always emitted, even when empty (`42 00`).
//! Decoding accepts any field order, skips unknown fields, keeps the last
//! value of a repeated scalar and merges repeated embedded messages (protobuf
//! semantics), and rejects wrong wire types and non-UTF-8 strings (gogoproto
//! does not check UTF-8, but every Go node sends ASCII here, and `Validate`
//! rejects non-ASCII version, moniker and RPC address anyway).
//!
//! Validation and the compatibility rules live in [`crate::handshake`].
//!
//! ```
//! use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
//! let info = NodeInfo {
//!     protocol_version: ProtocolVersion::new(8, 11, 0),
//!     network: "test-chain",
//!     moniker: "node-a",
//!     channels: &[0x40, 0x20],
//!     ..NodeInfo::default()
//! };
//! let mut buf = [0u8; 64];
//! let n = info.encode(&mut buf).unwrap();
//! assert_eq!(n, info.encoded_len());
//! assert_eq!(&buf[..6], &[0x0a, 0x04, 0x08, 0x08, 0x10, 0x0b]);
//! assert_eq!(NodeInfo::decode(&buf[..n]), Ok(info));
//! ```

use super::proto::{self, Field, Reader, Writer};
use super::{varint, DecodeError, EncodeError};

/// Largest NodeInfo body a peer may send (`maxNodeInfoSize`), not counting
/// the varint length prefix.
pub const MAX_NODE_INFO_SIZE: usize = 10240;

/// Largest delimited NodeInfo on the wire: prefix plus [`MAX_NODE_INFO_SIZE`].
pub const MAX_DELIMITED_NODE_INFO_SIZE: usize =
    varint::encoded_len(MAX_NODE_INFO_SIZE as u64) + MAX_NODE_INFO_SIZE;

// DefaultNodeInfo field numbers.
const F_PROTOCOL_VERSION: u32 = 1;
const F_NODE_ID: u32 = 2;
const F_LISTEN_ADDR: u32 = 3;
const F_NETWORK: u32 = 4;
const F_VERSION: u32 = 5;
const F_CHANNELS: u32 = 6;
const F_MONIKER: u32 = 7;
const F_OTHER: u32 = 8;
// ProtocolVersion field numbers.
const F_P2P: u32 = 1;
const F_BLOCK: u32 = 2;
const F_APP: u32 = 3;
// DefaultNodeInfoOther field numbers.
const F_TX_INDEX: u32 = 1;
const F_RPC_ADDRESS: u32 = 2;

/// `ProtocolVersion { p2p, block, app }`.
///
/// Stock values: `p2p` 8 (v0.34…v0.40) or 9 (v1.x), `block` 11.
/// Only `block` takes part in the compatibility check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ProtocolVersion {
    /// P2P protocol version.
    pub p2p: u64,
    /// Block (consensus) protocol version; must match the peer's.
    pub block: u64,
    /// Application version.
    pub app: u64,
}

impl ProtocolVersion {
    /// A protocol version from its three parts.
    pub const fn new(p2p: u64, block: u64, app: u64) -> Self {
        ProtocolVersion { p2p, block, app }
    }

    /// Encoded body length (without key and length prefix).
    pub const fn encoded_len(&self) -> usize {
        opt_varint_len(F_P2P, self.p2p)
            + opt_varint_len(F_BLOCK, self.block)
            + opt_varint_len(F_APP, self.app)
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.message_header(F_PROTOCOL_VERSION, self.encoded_len())?;
        opt_varint(w, F_P2P, self.p2p)?;
        opt_varint(w, F_BLOCK, self.block)?;
        opt_varint(w, F_APP, self.app)
    }

    /// Merges an encoded `ProtocolVersion` body into `self`.
    fn merge(&mut self, body: &[u8]) -> Result<(), DecodeError> {
        let mut r = Reader::new(body);
        while let Some((number, field)) = r.next_field()? {
            match number {
                F_P2P => self.p2p = field.as_varint()?,
                F_BLOCK => self.block = field.as_varint()?,
                F_APP => self.app = field.as_varint()?,
                _ => {}
            }
        }
        Ok(())
    }
}

/// A `DefaultNodeInfo`, borrowing its strings from a buffer.
///
/// `tx_index` and `rpc_address` are the two fields of the embedded
/// `DefaultNodeInfoOther` (field 8), flattened here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NodeInfo<'a> {
    /// Protocol versions (field 1).
    pub protocol_version: ProtocolVersion,
    /// Node ID: 40 lowercase hex characters (field 2).
    pub default_node_id: &'a str,
    /// Address the node listens on, e.g. `tcp://0.0.0.0:26656` (field 3).
    pub listen_addr: &'a str,
    /// Chain ID (field 4).
    pub network: &'a str,
    /// Software version, e.g. `0.38.25` (field 5).
    pub version: &'a str,
    /// One byte per channel id (field 6).
    pub channels: &'a [u8],
    /// Human-readable node name (field 7).
    pub moniker: &'a str,
    /// `other.tx_index`: `""`, `"on"` or `"off"`.
    pub tx_index: &'a str,
    /// `other.rpc_address`: the RPC listen address.
    pub rpc_address: &'a str,
}

/// Size of a string/bytes field that is omitted when empty.
const fn opt_bytes_len(field: u32, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        proto::bytes_field_len(field, len)
    }
}

/// Size of a varint field that is omitted when zero.
const fn opt_varint_len(field: u32, value: u64) -> usize {
    if value == 0 {
        0
    } else {
        proto::varint_field_len(field, value)
    }
}

fn opt_bytes(w: &mut Writer<'_>, field: u32, data: &[u8]) -> Result<(), EncodeError> {
    if data.is_empty() {
        Ok(())
    } else {
        w.bytes_field(field, data)
    }
}

fn opt_varint(w: &mut Writer<'_>, field: u32, value: u64) -> Result<(), EncodeError> {
    if value == 0 {
        Ok(())
    } else {
        w.varint_field(field, value)
    }
}

impl<'a> NodeInfo<'a> {
    fn other_len(&self) -> usize {
        opt_bytes_len(F_TX_INDEX, self.tx_index.len())
            + opt_bytes_len(F_RPC_ADDRESS, self.rpc_address.len())
    }

    /// Length of the protobuf body produced by [`encode`](Self::encode).
    pub fn encoded_len(&self) -> usize {
        proto::bytes_field_len(F_PROTOCOL_VERSION, self.protocol_version.encoded_len())
            + opt_bytes_len(F_NODE_ID, self.default_node_id.len())
            + opt_bytes_len(F_LISTEN_ADDR, self.listen_addr.len())
            + opt_bytes_len(F_NETWORK, self.network.len())
            + opt_bytes_len(F_VERSION, self.version.len())
            + opt_bytes_len(F_CHANNELS, self.channels.len())
            + opt_bytes_len(F_MONIKER, self.moniker.len())
            + proto::bytes_field_len(F_OTHER, self.other_len())
    }

    /// Length of the delimited form: `uvarint(len) || body`.
    pub fn delimited_len(&self) -> usize {
        let body = self.encoded_len();
        varint::encoded_len(body as u64) + body
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        self.protocol_version.write(w)?;
        opt_bytes(w, F_NODE_ID, self.default_node_id.as_bytes())?;
        opt_bytes(w, F_LISTEN_ADDR, self.listen_addr.as_bytes())?;
        opt_bytes(w, F_NETWORK, self.network.as_bytes())?;
        opt_bytes(w, F_VERSION, self.version.as_bytes())?;
        opt_bytes(w, F_CHANNELS, self.channels)?;
        opt_bytes(w, F_MONIKER, self.moniker.as_bytes())?;
        w.message_header(F_OTHER, self.other_len())?;
        opt_bytes(w, F_TX_INDEX, self.tx_index.as_bytes())?;
        opt_bytes(w, F_RPC_ADDRESS, self.rpc_address.as_bytes())
    }

    /// Writes the protobuf body at the start of `out`; returns its length.
    ///
    /// The size limit is not checked here: a body above
    /// [`MAX_NODE_INFO_SIZE`] encodes, but peers will reject it.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(out);
        self.write(&mut w)?;
        Ok(w.len())
    }

    /// Writes `uvarint(len) || body` (what goes on the wire); returns its length.
    pub fn encode_delimited(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(out);
        w.varint(self.encoded_len() as u64)?;
        self.write(&mut w)?;
        Ok(w.len())
    }

    /// Decodes a protobuf body (no length prefix), borrowing from it.
    ///
    /// No size limit is applied here; [`decode_delimited`](Self::decode_delimited)
    /// and the handshake apply [`MAX_NODE_INFO_SIZE`].
    pub fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut info = NodeInfo::default();
        let mut r = Reader::new(body);
        while let Some((number, field)) = r.next_field()? {
            match number {
                F_PROTOCOL_VERSION => info.protocol_version.merge(field.as_bytes()?)?,
                F_NODE_ID => info.default_node_id = field.as_str()?,
                F_LISTEN_ADDR => info.listen_addr = field.as_str()?,
                F_NETWORK => info.network = field.as_str()?,
                F_VERSION => info.version = field.as_str()?,
                F_CHANNELS => info.channels = field.as_bytes()?,
                F_MONIKER => info.moniker = field.as_str()?,
                F_OTHER => info.merge_other(field)?,
                _ => {}
            }
        }
        Ok(info)
    }

    fn merge_other(&mut self, field: Field<'a>) -> Result<(), DecodeError> {
        let mut r = Reader::new(field.as_bytes()?);
        while let Some((number, field)) = r.next_field()? {
            match number {
                F_TX_INDEX => self.tx_index = field.as_str()?,
                F_RPC_ADDRESS => self.rpc_address = field.as_str()?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Decodes a delimited NodeInfo at the start of `input`.
    ///
    /// `Ok(None)`: more bytes are needed. On success returns the info and the
    /// bytes used; anything after them is left alone. A prefix above
    /// [`MAX_NODE_INFO_SIZE`] is [`DecodeError::TooLarge`] as soon as the
    /// prefix is complete.
    ///
    /// ```
    /// use mconn::wire::node_info::NodeInfo;
    /// use mconn::wire::DecodeError;
    /// assert_eq!(NodeInfo::decode_delimited(&[0x81, 0x50]), Err(DecodeError::TooLarge));
    /// assert_eq!(NodeInfo::decode_delimited(&[0x04, 0x0a, 0x00]), Ok(None));
    /// let (info, used) = NodeInfo::decode_delimited(&[0x04, 0x0a, 0x00, 0x42, 0x00, 0xff]).unwrap().unwrap();
    /// assert_eq!((info, used), (NodeInfo::default(), 5));
    /// ```
    pub fn decode_delimited(input: &'a [u8]) -> Result<Option<(Self, usize)>, DecodeError> {
        let Some((len, prefix)) = varint::decode(input)? else {
            return Ok(None);
        };
        if len > MAX_NODE_INFO_SIZE as u64 {
            return Err(DecodeError::TooLarge);
        }
        let end = prefix + len as usize;
        let Some(body) = input.get(prefix..end) else {
            return Ok(None);
        };
        Ok(Some((Self::decode(body)?, end)))
    }
}

/// An encoded NodeInfo body known to decode, stored in any byte container
/// (`[u8; N]`, `heapless::Vec`, `Vec<u8>`, `Box<[u8]>`, …).
///
/// This is the compact way to keep a peer's NodeInfo after the handshake:
/// the raw bytes (typically 150–300) instead of a receive buffer.
///
/// ```
/// use mconn::wire::node_info::StoredNodeInfo;
/// let stored = StoredNodeInfo::new([0x0a, 0x02, 0x10, 0x0b, 0x42, 0x00]).unwrap();
/// assert_eq!(stored.info().protocol_version.block, 11);
/// assert!(StoredNodeInfo::new([0x0a, 0x05]).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StoredNodeInfo<B> {
    bytes: B,
}

impl<B: AsRef<[u8]>> StoredNodeInfo<B> {
    /// Wraps an encoded body after checking that it decodes.
    pub fn new(bytes: B) -> Result<Self, DecodeError> {
        NodeInfo::decode(bytes.as_ref())?;
        Ok(StoredNodeInfo { bytes })
    }

    /// The decoded view.
    pub fn info(&self) -> NodeInfo<'_> {
        // Checked in `new`, and the bytes cannot change since.
        NodeInfo::decode(self.bytes.as_ref()).unwrap_or_default()
    }

    /// The encoded body.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    /// The container back.
    pub fn into_inner(self) -> B {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_info_emits_non_nullable_fields() {
        let mut buf = [0u8; 8];
        let n = NodeInfo::default().encode(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[0x0a, 0x00, 0x42, 0x00]);
        assert_eq!(NodeInfo::decode(&[]), Ok(NodeInfo::default()));
    }

    #[test]
    fn last_scalar_wins_and_messages_merge() {
        // version "a", then version "b"; protocol_version {p2p 8} then {block 11}.
        let body = [
            0x2a, 1, b'a', 0x2a, 1, b'b', 0x0a, 2, 0x08, 8, 0x0a, 2, 0x10, 11,
        ];
        let info = NodeInfo::decode(&body).unwrap();
        assert_eq!(info.version, "b");
        assert_eq!(info.protocol_version, ProtocolVersion::new(8, 11, 0));
    }

    #[test]
    fn wrong_wire_type_and_bad_utf8_are_errors() {
        assert_eq!(
            NodeInfo::decode(&[0x38, 0x01]),
            Err(DecodeError::WrongWireType)
        );
        assert_eq!(
            NodeInfo::decode(&[0x0a, 0x02, 0x0a, 0x00]),
            Err(DecodeError::WrongWireType)
        );
        assert_eq!(
            NodeInfo::decode(&[0x3a, 0x01, 0xff]),
            Err(DecodeError::InvalidUtf8)
        );
        assert_eq!(
            NodeInfo::decode(&[0x42, 0x02, 0x0a, 0x05]),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn short_buffers_are_refused() {
        let info = NodeInfo {
            moniker: "m",
            ..NodeInfo::default()
        };
        for len in 0..info.delimited_len() {
            let mut buf = [0u8; 16];
            assert_eq!(
                info.encode_delimited(&mut buf[..len]),
                Err(EncodeError::BufferTooSmall)
            );
        }
    }

    #[test]
    fn delimited_limits() {
        // Exactly the limit is fine (truncated body -> needs more bytes).
        assert_eq!(NodeInfo::decode_delimited(&[0x80, 0x50]), Ok(None));
        assert_eq!(
            NodeInfo::decode_delimited(&[0x81, 0x50]),
            Err(DecodeError::TooLarge)
        );
        assert_eq!(
            NodeInfo::decode_delimited(&[0xff; 10]),
            Err(DecodeError::VarintOverflow)
        );
        assert_eq!(MAX_DELIMITED_NODE_INFO_SIZE, 10242);
    }
}
