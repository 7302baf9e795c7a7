//! PEX messages (spec §6.1), the `data` of packets on channel `0x00`:
//! `Message { oneof sum { PexRequest pex_request = 1; PexAddrs pex_addrs = 2; } }`
//! with `PexAddrs { repeated NetAddress addrs = 1; }` and
//! `NetAddress { string id = 1; string ip = 2; uint32 port = 3; }`.
//!
//! Zero-allocation both ways: encode from borrowed addresses, decode into a
//! view whose [`PexAddrs::iter`] yields borrowed [`NetAddress`]es. Address
//! contents (ID syntax, IP parsing, port range) are the caller's to check.
//!
//! ```
//! use mconn::wire::pex::{self, NetAddress, PexMessage};
//! let mut buf = [0u8; 64];
//! let n = pex::encode_request(&mut buf).unwrap();
//! assert_eq!(&buf[..n], &[0x0a, 0x00]);
//! assert_eq!(PexMessage::decode(&buf[..n]), Ok(PexMessage::Request));
//!
//! let addrs = [NetAddress { id: "1", ip: "127.0.0.1", port: 9090 }];
//! let n = pex::encode_addrs(&addrs, &mut buf).unwrap();
//! assert_eq!(n, pex::addrs_encoded_len(&addrs));
//! let PexMessage::Addrs(got) = PexMessage::decode(&buf[..n]).unwrap() else { panic!() };
//! assert!(got.iter().eq(addrs));
//! ```

use super::proto::{self, Field, Reader, Writer};
use super::{DecodeError, EncodeError};

const F_REQUEST: u32 = 1;
const F_ADDRS: u32 = 2;
const F_ADDRS_ADDR: u32 = 1;
const F_ID: u32 = 1;
const F_IP: u32 = 2;
const F_PORT: u32 = 3;

/// One known peer address, borrowing its strings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NetAddress<'a> {
    /// Node ID (40 lowercase hex characters when valid).
    pub id: &'a str,
    /// Go's textual IP (`net.IP.String()`: IPv6 compressed, no brackets).
    pub ip: &'a str,
    /// TCP port; Go rejects values above 65535 when it uses the address.
    pub port: u32,
}

impl<'a> NetAddress<'a> {
    /// Encoded body length.
    pub fn encoded_len(&self) -> usize {
        let s = |f, len| {
            if len == 0 {
                0
            } else {
                proto::bytes_field_len(f, len)
            }
        };
        let port = if self.port == 0 {
            0
        } else {
            proto::varint_field_len(F_PORT, u64::from(self.port))
        };
        s(F_ID, self.id.len()) + s(F_IP, self.ip.len()) + port
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.message_header(F_ADDRS_ADDR, self.encoded_len())?;
        if !self.id.is_empty() {
            w.bytes_field(F_ID, self.id.as_bytes())?;
        }
        if !self.ip.is_empty() {
            w.bytes_field(F_IP, self.ip.as_bytes())?;
        }
        if self.port != 0 {
            w.varint_field(F_PORT, u64::from(self.port))?;
        }
        Ok(())
    }

    /// Decodes a `NetAddress` body (any order, unknown fields skipped,
    /// last value wins; `port` keeps the low 32 bits like Go).
    pub fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut addr = NetAddress::default();
        let mut r = Reader::new(body);
        while let Some((number, field)) = r.next_field()? {
            match number {
                F_ID => addr.id = field.as_str()?,
                F_IP => addr.ip = field.as_str()?,
                F_PORT => addr.port = field.as_varint()? as u32,
                _ => {}
            }
        }
        Ok(addr)
    }
}

/// A decoded `PexAddrs`: a checked view over its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PexAddrs<'a> {
    body: &'a [u8],
    len: usize,
}

impl<'a> PexAddrs<'a> {
    fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let mut len = 0usize;
        while let Some((number, field)) = r.next_field()? {
            if number == F_ADDRS_ADDR {
                NetAddress::decode(field.as_bytes()?)?;
                len += 1;
            }
        }
        Ok(PexAddrs { body, len })
    }

    /// Number of addresses.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The addresses, in message order.
    pub fn iter(&self) -> AddrIter<'a> {
        AddrIter {
            reader: Reader::new(self.body),
            left: self.len,
        }
    }
}

impl<'a> IntoIterator for PexAddrs<'a> {
    type Item = NetAddress<'a>;
    type IntoIter = AddrIter<'a>;
    fn into_iter(self) -> AddrIter<'a> {
        self.iter()
    }
}

/// Iterator over the addresses of a [`PexAddrs`].
#[derive(Clone, Debug)]
pub struct AddrIter<'a> {
    reader: Reader<'a>,
    left: usize,
}

impl<'a> Iterator for AddrIter<'a> {
    type Item = NetAddress<'a>;

    fn next(&mut self) -> Option<NetAddress<'a>> {
        // The body was checked when decoded, so errors cannot occur here.
        loop {
            match self.reader.next_field().ok()?? {
                (F_ADDRS_ADDR, Field::Bytes(b)) => {
                    self.left = self.left.saturating_sub(1);
                    return NetAddress::decode(b).ok();
                }
                _ => continue,
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for AddrIter<'_> {}

/// A decoded PEX `Message`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PexMessage<'a> {
    /// `PexRequest`: please send addresses.
    Request,
    /// `PexAddrs`: addresses.
    Addrs(PexAddrs<'a>),
}

impl<'a> PexMessage<'a> {
    /// Decodes a PEX message (a channel-0 message's bytes). Several oneof
    /// members: the last wins. No member is [`DecodeError::Invalid`] (Go:
    /// "unknown message").
    pub fn decode(data: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data);
        let mut msg = None;
        while let Some((number, field)) = r.next_field()? {
            match number {
                F_REQUEST => {
                    let mut inner = Reader::new(field.as_bytes()?);
                    while inner.next_field()?.is_some() {}
                    msg = Some(PexMessage::Request);
                }
                F_ADDRS => msg = Some(PexMessage::Addrs(PexAddrs::decode(field.as_bytes()?)?)),
                _ => {}
            }
        }
        msg.ok_or(DecodeError::Invalid)
    }
}

/// Length of an encoded `PexRequest` message (`0a 00`).
pub const REQUEST_LEN: usize = 2;

/// Writes a `PexRequest` message; returns its length.
pub fn encode_request(out: &mut [u8]) -> Result<usize, EncodeError> {
    let mut w = Writer::new(out);
    w.message_header(F_REQUEST, 0)?;
    Ok(w.len())
}

fn addrs_body_len<'b, 'c: 'b>(addrs: impl IntoIterator<Item = &'b NetAddress<'c>>) -> usize {
    addrs
        .into_iter()
        .map(|a| proto::bytes_field_len(F_ADDRS_ADDR, a.encoded_len()))
        .sum()
}

/// Length of the `PexAddrs` message [`encode_addrs`] writes.
pub fn addrs_encoded_len<'b, 'c: 'b>(addrs: impl IntoIterator<Item = &'b NetAddress<'c>>) -> usize {
    proto::bytes_field_len(F_ADDRS, addrs_body_len(addrs))
}

/// Writes a `PexAddrs` message from borrowed addresses (a slice, or any
/// cloneable iterator); returns its length.
pub fn encode_addrs<'b, 'c: 'b, I>(addrs: I, out: &mut [u8]) -> Result<usize, EncodeError>
where
    I: IntoIterator<Item = &'b NetAddress<'c>>,
    I::IntoIter: Clone,
{
    let addrs = addrs.into_iter();
    let mut w = Writer::new(out);
    w.message_header(F_ADDRS, addrs_body_len(addrs.clone()))?;
    for a in addrs {
        a.write(&mut w)?;
    }
    Ok(w.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn upstream_vectors() {
        let mut buf = [0u8; 128];
        let n = encode_request(&mut buf).unwrap();
        assert_eq!(&buf[..n], &unhex::<2>("0a00"));
        let want: [u8; 21] = unhex("12130a110a013112093132372e302e302e31188247");
        let addr = NetAddress {
            id: "1",
            ip: "127.0.0.1",
            port: 9090,
        };
        let n = encode_addrs(&[addr], &mut buf).unwrap();
        assert_eq!(&buf[..n], &want);
        let PexMessage::Addrs(got) = PexMessage::decode(&want).unwrap() else {
            panic!("not addrs")
        };
        assert_eq!(got.len(), 1);
        assert_eq!(got.iter().next(), Some(addr));
    }

    #[test]
    fn spec_vector_node_b() {
        // `12390a370a28` + hex(ASCII id) + `1207312e322e332e3418a0d001`.
        let id = "24f6ed6acbfe1009c030d7ca567c33ca48309114";
        let mut want = [0u8; 59];
        want[..6].copy_from_slice(&unhex::<6>("12390a370a28"));
        want[6..46].copy_from_slice(id.as_bytes());
        want[46..].copy_from_slice(&unhex::<13>("1207312e322e332e3418a0d001"));
        let addr = NetAddress {
            id,
            ip: "1.2.3.4",
            port: 26656,
        };
        let mut buf = [0u8; 64];
        let n = encode_addrs(&[addr], &mut buf).unwrap();
        assert_eq!(&buf[..n], &want);
        assert_eq!(addrs_encoded_len(&[addr]), 59);
        let PexMessage::Addrs(got) = PexMessage::decode(&want).unwrap() else {
            panic!("not addrs")
        };
        assert!(got.iter().eq([addr]));
    }

    #[test]
    fn empty_and_odd_messages() {
        let mut buf = [0u8; 16];
        let n = encode_addrs(&[], &mut buf).unwrap();
        assert_eq!(&buf[..n], &[0x12, 0x00]);
        let empty = NetAddress::default();
        let n = encode_addrs(&[empty, empty], &mut buf).unwrap();
        assert_eq!(&buf[..n], &[0x12, 0x04, 0x0a, 0x00, 0x0a, 0x00]);
        let PexMessage::Addrs(got) = PexMessage::decode(&buf[..n]).unwrap() else {
            panic!("not addrs")
        };
        assert_eq!(got.iter().len(), 2);
        assert!(got.into_iter().all(|a| a == empty));
        // No member, unknown member only, last member wins.
        assert_eq!(PexMessage::decode(&[]), Err(DecodeError::Invalid));
        assert_eq!(PexMessage::decode(&[0x18, 0x01]), Err(DecodeError::Invalid));
        assert_eq!(
            PexMessage::decode(&[0x12, 0x00, 0x0a, 0x00]),
            Ok(PexMessage::Request)
        );
        // Bad nested content is caught at decode time.
        assert_eq!(
            PexMessage::decode(&[0x12, 0x03, 0x0a, 0x01, 0x18]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            PexMessage::decode(&[0x12, 0x04, 0x0a, 0x02, 0x12, 0x00, 0x08]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            PexMessage::decode(&[0x12, 0x04, 0x0a, 0x02, 0x0a, 0x00]).map(|_| ()),
            Ok(())
        );
        assert_eq!(
            PexMessage::decode(&[0x12, 0x05, 0x0a, 0x03, 0x0a, 0x01, 0xff]),
            Err(DecodeError::InvalidUtf8)
        );
        assert_eq!(
            PexMessage::decode(&[0x0a, 0x01, 0x08]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            PexMessage::decode(&[0x08, 0x00]),
            Err(DecodeError::WrongWireType)
        );
        // Port keeps the low 32 bits, like Go's uint32 decoding.
        let big = [0x18, 0x80, 0x80, 0x80, 0x80, 0x10];
        assert_eq!(NetAddress::decode(&big).unwrap().port, 0);
        // Short output buffer.
        assert_eq!(
            encode_addrs(&[empty], &mut buf[..3]),
            Err(EncodeError::BufferTooSmall)
        );
    }
}
