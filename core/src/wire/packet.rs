//! MConnection packet framing, in two codecs chosen at construction:
//!
//! * [`Codec::Protobuf`] — what CometBFT v0.34…v1.x speaks: `uvarint(len) || Packet`
//!   where `Packet` is the protobuf oneof `{ping = 1, pong = 2, msg = 3}` (spec §4.1).
//! * [`Codec::GoWire`] — the seed documents' framing: `01` ping, `02` pong,
//!   `03 <channel> <eof> <go-wire varint len> <data>` (spec §8.2).
//!
//! ```
//! use mconn::wire::packet::{Codec, Packet};
//! let mut buf = [0u8; 32];
//! let msg = Packet::Msg { channel: 0x20, eof: true, data: b"hello" };
//! let n = Codec::Protobuf.encode(&msg, &mut buf).unwrap();
//! assert_eq!(&buf[..n], &[0x0d, 0x1a, 0x0b, 0x08, 0x20, 0x10, 0x01, 0x1a, 0x05, b'h', b'e', b'l', b'l', b'o']);
//! let n = Codec::GoWire.encode(&msg, &mut buf).unwrap();
//! assert_eq!(&buf[..n], &[0x03, 0x20, 0x01, 0x01, 0x05, b'h', b'e', b'l', b'l', b'o']);
//! let (decoded, used) = Codec::GoWire.decode(&buf[..n], 1024).unwrap().unwrap();
//! assert_eq!((decoded, used), (msg, n));
//! ```

use core::fmt;

use super::proto::{self, Reader, Writer};
use super::{varint, DecodeError, EncodeError};

/// The default (and CometBFT's) largest payload per packet.
pub const DEFAULT_MAX_PAYLOAD: usize = 1024;

/// One MConnection packet, borrowing its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Keepalive request.
    Ping,
    /// Keepalive answer.
    Pong,
    /// A chunk of a channel message; `eof` marks the last chunk.
    Msg {
        /// Channel byte id.
        channel: u8,
        /// Last chunk of the message.
        eof: bool,
        /// Chunk bytes.
        data: &'a [u8],
    },
}

/// Why a packet could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PacketError {
    /// The announced packet size is above the receive limit.
    TooLarge,
    /// The length prefix is not a valid varint.
    VarintOverflow,
    /// Not a ping, pong or msg (unknown type byte, or an empty protobuf oneof).
    UnknownType,
    /// A msg packet whose channel id is outside 0..=255.
    ChannelOutOfRange,
    /// A protobuf packet that sets more than one member of the
    /// `ping | pong | msg` oneof. Protobuf would keep the last one; no
    /// CometBFT encoder ever writes two, so only a hostile or broken peer
    /// sends this, and we refuse it rather than guess.
    SeveralTypes,
    /// The body is not a well-formed packet.
    Malformed(DecodeError),
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketError::TooLarge => f.write_str("packet exceeds max size"),
            PacketError::VarintOverflow => f.write_str("packet length varint overflow"),
            PacketError::UnknownType => f.write_str("unknown packet type"),
            PacketError::ChannelOutOfRange => f.write_str("channel id out of range"),
            PacketError::SeveralTypes => f.write_str("packet sets several oneof members"),
            PacketError::Malformed(e) => write!(f, "malformed packet: {e}"),
        }
    }
}

impl core::error::Error for PacketError {}

impl From<DecodeError> for PacketError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::VarintOverflow => PacketError::VarintOverflow,
            other => PacketError::Malformed(other),
        }
    }
}

/// The packet framing spoken on a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Codec {
    /// CometBFT's delimited protobuf `Packet` (default).
    #[default]
    Protobuf,
    /// The seed documents' go-wire framing.
    GoWire,
}

/// Protobuf field numbers.
const PB_PING: u32 = 1;
const PB_PONG: u32 = 2;
const PB_MSG: u32 = 3;
const PB_CHANNEL: u32 = 1;
const PB_EOF: u32 = 2;
const PB_DATA: u32 = 3;

/// go-wire type bytes.
const GW_PING: u8 = 0x01;
const GW_PONG: u8 = 0x02;
const GW_MSG: u8 = 0x03;

fn pb_msg_body_len(channel: u8, eof: bool, data_len: usize) -> usize {
    let ch = if channel == 0 {
        0
    } else {
        proto::varint_field_len(PB_CHANNEL, u64::from(channel))
    };
    let eof = if eof {
        proto::varint_field_len(PB_EOF, 1)
    } else {
        0
    };
    let data = if data_len == 0 {
        0
    } else {
        proto::bytes_field_len(PB_DATA, data_len)
    };
    ch + eof + data
}

fn pb_msg_packet_body_len(channel: u8, eof: bool, data_len: usize) -> usize {
    proto::bytes_field_len(PB_MSG, pb_msg_body_len(channel, eof, data_len))
}

fn pb_body_len(packet: &Packet<'_>) -> usize {
    match *packet {
        Packet::Ping | Packet::Pong => proto::bytes_field_len(PB_PING, 0),
        Packet::Msg { channel, eof, data } => pb_msg_packet_body_len(channel, eof, data.len()),
    }
}

/// go-wire's varint: a size byte, then that many big-endian magnitude bytes.
fn gw_varint_len(value: usize) -> usize {
    let bytes = (usize::BITS - value.leading_zeros()).div_ceil(8) as usize;
    1 + bytes
}

fn gw_put_varint(value: usize, w: &mut Writer<'_>) -> Result<(), EncodeError> {
    let size = gw_varint_len(value) - 1;
    w.raw(&[size as u8])?;
    let be = (value as u64).to_be_bytes();
    w.raw(&be[8 - size..])
}

/// Reads a non-negative go-wire varint: `Ok(None)` if more bytes are needed.
fn gw_read_len(input: &[u8]) -> Result<Option<(u64, usize)>, PacketError> {
    let Some(&size) = input.first() else {
        return Ok(None);
    };
    if size & 0xf0 != 0 || size > 8 {
        // Negative lengths and sizes above 8 bytes are errors in go-wire.
        return Err(PacketError::Malformed(DecodeError::Invalid));
    }
    let size = usize::from(size);
    let Some(bytes) = input.get(1..1 + size) else {
        return Ok(None);
    };
    let value = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    Ok(Some((value, 1 + size)))
}

impl Codec {
    /// Largest packet a receiver with payload limit `max_payload` accepts,
    /// counted as the body after the length prefix (protobuf; 1034 for 1024,
    /// computed like Go: the size of a full msg packet on channel 1) or the
    /// whole msg packet (go-wire: payload + 10, `maxMsgPacketTotalSize`).
    pub fn max_body(self, max_payload: usize) -> usize {
        match self {
            Codec::Protobuf => pb_msg_packet_body_len(1, true, max_payload),
            Codec::GoWire => max_payload + 10,
        }
    }

    /// The most bytes one packet can take on the wire, prefix included.
    pub fn max_wire_len(self, max_payload: usize) -> usize {
        match self {
            Codec::Protobuf => {
                let body = self.max_body(max_payload);
                varint::encoded_len(body as u64) + body
            }
            Codec::GoWire => 3 + gw_varint_len(max_payload) + max_payload,
        }
    }

    /// The largest payload a packet on `channel` may carry so that a peer
    /// with the same `max_payload` accepts it. For protobuf, channel ids
    /// `>= 0x80` take a second varint byte, so their payload shrinks by one
    /// (a Go node would reject 1035 bytes).
    pub fn payload_for_channel(self, channel: u8, max_payload: usize) -> usize {
        match self {
            Codec::Protobuf => {
                let limit = self.max_body(max_payload);
                let mut n = max_payload;
                while n > 0 && pb_msg_packet_body_len(channel, true, n) > limit {
                    n -= 1;
                }
                n
            }
            Codec::GoWire => max_payload,
        }
    }

    /// Bytes `packet` takes on the wire, prefix included.
    pub fn encoded_len(self, packet: &Packet<'_>) -> usize {
        match self {
            Codec::Protobuf => {
                let body = pb_body_len(packet);
                varint::encoded_len(body as u64) + body
            }
            Codec::GoWire => match packet {
                Packet::Ping | Packet::Pong => 1,
                Packet::Msg { data, .. } => 3 + gw_varint_len(data.len()) + data.len(),
            },
        }
    }

    /// Writes `packet` at the start of `out`; returns the bytes written.
    pub fn encode(self, packet: &Packet<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(out);
        match self {
            Codec::Protobuf => {
                // The oneof member and its body length, computed once.
                let (member, body) = match *packet {
                    Packet::Ping => (PB_PING, 0),
                    Packet::Pong => (PB_PONG, 0),
                    Packet::Msg { channel, eof, data } => {
                        (PB_MSG, pb_msg_body_len(channel, eof, data.len()))
                    }
                };
                w.varint(proto::bytes_field_len(member, body) as u64)?;
                w.message_header(member, body)?;
                if let Packet::Msg { channel, eof, data } = *packet {
                    if channel != 0 {
                        w.varint_field(PB_CHANNEL, u64::from(channel))?;
                    }
                    if eof {
                        w.varint_field(PB_EOF, 1)?;
                    }
                    if !data.is_empty() {
                        w.bytes_field(PB_DATA, data)?;
                    }
                }
            }
            Codec::GoWire => match *packet {
                Packet::Ping => w.raw(&[GW_PING])?,
                Packet::Pong => w.raw(&[GW_PONG])?,
                Packet::Msg { channel, eof, data } => {
                    w.raw(&[GW_MSG, channel, u8::from(eof)])?;
                    gw_put_varint(data.len(), &mut w)?;
                    w.raw(data)?;
                }
            },
        }
        Ok(w.len())
    }

    /// Total wire length of the packet that starts `input`, once enough of its
    /// header is present (`Ok(None)` until then). Checks the size limit, so a
    /// caller can stage exactly this many bytes without trusting the peer.
    pub fn frame_len(self, input: &[u8], max_payload: usize) -> Result<Option<usize>, PacketError> {
        match self {
            Codec::Protobuf => {
                let Some((len, prefix)) = varint::decode(input)? else {
                    return Ok(None);
                };
                // (`max_body` is above `max_payload`: computed only when needed.)
                if len > max_payload as u64 && len > self.max_body(max_payload) as u64 {
                    return Err(PacketError::TooLarge);
                }
                Ok(Some(prefix + len as usize))
            }
            Codec::GoWire => match input.first() {
                None => Ok(None),
                Some(&GW_PING) | Some(&GW_PONG) => Ok(Some(1)),
                Some(&GW_MSG) => {
                    let Some(rest) = input.get(3..) else {
                        return Ok(None);
                    };
                    let Some((len, used)) = gw_read_len(rest)? else {
                        return Ok(None);
                    };
                    if len > max_payload as u64 {
                        return Err(PacketError::TooLarge);
                    }
                    Ok(Some(3 + used + len as usize))
                }
                Some(_) => Err(PacketError::UnknownType),
            },
        }
    }

    /// Decodes the packet at the start of `input`. `Ok(None)`: more bytes
    /// are needed. On success returns the packet and the bytes it used.
    pub fn decode<'a>(
        self,
        input: &'a [u8],
        max_payload: usize,
    ) -> Result<Option<(Packet<'a>, usize)>, PacketError> {
        let Some(total) = self.frame_len(input, max_payload)? else {
            return Ok(None);
        };
        let Some(frame) = input.get(..total) else {
            return Ok(None);
        };
        let packet = match self {
            Codec::Protobuf => {
                let (_, prefix) =
                    varint::decode(frame)?.ok_or(PacketError::Malformed(DecodeError::Truncated))?;
                let body = &frame[prefix..];
                match decode_pb_msg_canonical(body) {
                    Some(packet) => packet,
                    None => decode_pb_body(body)?,
                }
            }
            Codec::GoWire => match frame[0] {
                GW_PING => Packet::Ping,
                GW_PONG => Packet::Pong,
                _ => {
                    let eof = match frame[2] {
                        0 => false,
                        1 => true,
                        _ => return Err(PacketError::Malformed(DecodeError::Invalid)),
                    };
                    let (_, used) = gw_read_len(&frame[3..])?
                        .ok_or(PacketError::Malformed(DecodeError::Truncated))?;
                    Packet::Msg {
                        channel: frame[1],
                        eof,
                        data: &frame[3 + used..],
                    }
                }
            },
        };
        Ok(Some((packet, total)))
    }
}

/// Checks that an embedded message body is well formed (unknown fields are fine).
fn skip_message(body: &[u8]) -> Result<(), DecodeError> {
    let mut r = Reader::new(body);
    while r.next_field()?.is_some() {}
    Ok(())
}

fn decode_pb_body(body: &[u8]) -> Result<Packet<'_>, PacketError> {
    let mut r = Reader::new(body);
    let mut packet = None;
    while let Some((number, field)) = r.next_field()? {
        let member = match number {
            PB_PING | PB_PONG => {
                skip_message(field.as_bytes()?)?;
                if number == PB_PING {
                    Packet::Ping
                } else {
                    Packet::Pong
                }
            }
            PB_MSG => decode_pb_msg(field.as_bytes()?)?,
            _ => continue,
        };
        // A second oneof member (even a repeat of the first) is refused:
        // Go's encoder never writes one (see `PacketError::SeveralTypes`).
        if packet.replace(member).is_some() {
            return Err(PacketError::SeveralTypes);
        }
    }
    packet.ok_or(PacketError::UnknownType)
}

/// A msg packet body exactly as CometBFT's encoder writes it — one `msg`
/// member holding, in order and each at most once, a one-byte channel id
/// (1..=127), `eof = 1`, and the data — decoded without the general parser
/// (the receive path's hot spot: about a million packets a second per
/// GB/s). `None` for anything else, which [`decode_pb_body`] then decides;
/// where this returns a packet, that returns the same one (tested).
fn decode_pb_msg_canonical(body: &[u8]) -> Option<Packet<'_>> {
    // A length of at most two varint bytes (16 KiB), fully present.
    fn sized(input: &[u8]) -> Option<&[u8]> {
        let (len, used) = match *input {
            [b0, ..] if b0 < 0x80 => (usize::from(b0), 1),
            [b0, b1, ..] if b1 < 0x80 => (usize::from(b0 & 0x7f) | usize::from(b1) << 7, 2),
            _ => return None,
        };
        input.get(used..).filter(|rest| rest.len() == len)
    }
    let [0x1a, msg @ ..] = body else {
        return None;
    };
    let mut msg = sized(msg)?;
    let mut channel = 0;
    if let [0x08, c @ 0x01..=0x7f, rest @ ..] = msg {
        (channel, msg) = (*c, rest);
    }
    let mut eof = false;
    if let [0x10, 0x01, rest @ ..] = msg {
        (eof, msg) = (true, rest);
    }
    let data = match msg {
        [] => &[][..],
        [0x1a, rest @ ..] => sized(rest)?,
        _ => return None,
    };
    Some(Packet::Msg { channel, eof, data })
}

fn decode_pb_msg(body: &[u8]) -> Result<Packet<'_>, PacketError> {
    let mut r = Reader::new(body);
    let (mut channel, mut eof, mut data): (i32, bool, &[u8]) = (0, false, &[]);
    while let Some((number, field)) = r.next_field()? {
        match number {
            // int32 field: Go keeps the low 32 bits.
            PB_CHANNEL => channel = field.as_varint()? as u32 as i32,
            PB_EOF => eof = field.as_varint()? != 0,
            PB_DATA => data = field.as_bytes()?,
            _ => {}
        }
    }
    let channel = u8::try_from(channel).map_err(|_| PacketError::ChannelOutOfRange)?;
    Ok(Packet::Msg { channel, eof, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Where the canonical fast path decodes a body, the general parser
    /// decodes the same packet.
    fn agrees(body: &[u8]) -> Result<(), TestCaseError> {
        if let Some(fast) = decode_pb_msg_canonical(body) {
            prop_assert_eq!(decode_pb_body(body), Ok(fast));
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn canonical_msg_packets_take_the_fast_path(
            channel: u8, eof: bool, data in proptest::collection::vec(any::<u8>(), 0..3000)
        ) {
            let packet = Packet::Msg { channel, eof, data: &data };
            let mut buf = [0u8; 3100];
            let n = Codec::Protobuf.encode(&packet, &mut buf).unwrap();
            let (_, prefix) = varint::decode(&buf[..n]).unwrap().unwrap();
            let body = &buf[prefix..n];
            agrees(body)?;
            // Every packet CometBFT sends on its channels (ids below 0x80,
            // payloads up to 1024 bytes) is canonical.
            if channel < 0x80 && data.len() <= 1024 {
                prop_assert_eq!(decode_pb_msg_canonical(body), Some(packet));
            }
        }

        #[test]
        fn the_fast_path_never_disagrees_with_the_parser(
            channel: u8, eof: bool, data in proptest::collection::vec(any::<u8>(), 0..300),
            // Mostly in the header, mostly small values (tags, lengths, flags).
            edits in proptest::collection::vec((0usize..10, prop_oneof![0u8..4, 0x7eu8..0x82, any::<u8>()]), 0..4),
            cut in any::<usize>(),
        ) {
            // Canonical packets with a few bytes changed and the end cut:
            // near misses of the fast path's layout.
            let packet = Packet::Msg { channel, eof, data: &data };
            let mut buf = [0u8; 400];
            let n = Codec::Protobuf.encode(&packet, &mut buf).unwrap();
            let mut body: Vec<u8> = buf[1..n].to_vec(); // prefix is one or two bytes
            if n > 129 { body.remove(0); }
            for (at, byte) in edits {
                if !body.is_empty() {
                    let i = at % body.len();
                    body[i] = byte;
                }
            }
            body.truncate(body.len() - cut % (body.len() + 1) / 2);
            agrees(&body)?;
        }

        #[test]
        fn arbitrary_bodies_agree(body in proptest::collection::vec(any::<u8>(), 0..40)) {
            agrees(&body)?;
        }
    }

    #[test]
    fn non_canonical_layouts_go_to_the_parser() {
        // Fields out of order, a zero channel written out, a two-byte
        // channel, eof = 2, an unknown field: all still decode, slowly.
        for body in [
            &[0x1a, 0x06, 0x10, 0x01, 0x08, 0x20, 0x1a, 0x00][..],
            &[0x1a, 0x02, 0x08, 0x00],
            &[0x1a, 0x03, 0x08, 0x80, 0x01],
            &[0x1a, 0x02, 0x10, 0x02],
            &[0x1a, 0x04, 0x08, 0x20, 0x28, 0x05],
        ] {
            assert_eq!(decode_pb_msg_canonical(body), None);
            assert!(
                matches!(decode_pb_body(body), Ok(Packet::Msg { .. })),
                "{body:x?}"
            );
        }
    }
}
