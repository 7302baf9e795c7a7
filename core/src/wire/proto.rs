//! A minimal protobuf reader and writer over byte slices, enough for the
//! handful of CometBFT messages (no allocation, no code generation).
//!
//! The writer follows gogoproto's proto3 emission rules (see the spec §0):
//! fields in ascending order, zero scalars omitted — callers decide which
//! fields to skip; the reader accepts any order and skips unknown fields.
//!
//! ```
//! use mconn::wire::proto::{Field, Reader, Writer};
//! let mut buf = [0u8; 16];
//! let mut w = Writer::new(&mut buf);
//! w.varint_field(1, 7).unwrap();
//! w.bytes_field(3, b"hi").unwrap();
//! let n = w.len();
//! let mut r = Reader::new(&buf[..n]);
//! assert_eq!(r.next_field().unwrap(), Some((1, Field::Varint(7))));
//! assert_eq!(r.next_field().unwrap(), Some((3, Field::Bytes(b"hi"))));
//! assert_eq!(r.next_field().unwrap(), None);
//! ```

use super::{varint, DecodeError, EncodeError};

/// One decoded field value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: bytes, strings and embedded messages.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

/// Iterates over the fields of one message body.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over a complete message body.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        match varint::decode(rest)? {
            Some((v, n)) => {
                self.pos += n;
                Ok(v)
            }
            None => Err(DecodeError::Truncated),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    /// The next `(field number, value)`, or `None` at the end of the body.
    /// Groups (wire types 3/4) and field number 0 are errors, as in gogoproto.
    pub fn next_field(&mut self) -> Result<Option<(u32, Field<'a>)>, DecodeError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 || number > u64::from(u32::MAX >> 3) {
            return Err(DecodeError::InvalidField);
        }
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Field::Fixed64(u64::from_le_bytes(a))
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| DecodeError::Truncated)?;
                Field::Bytes(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                Field::Fixed32(u32::from_le_bytes(a))
            }
            _ => return Err(DecodeError::InvalidField),
        };
        Ok(Some((number as u32, field)))
    }
}

impl<'a> Field<'a> {
    /// The value of a varint field, or `WrongWireType`.
    pub fn as_varint(self) -> Result<u64, DecodeError> {
        match self {
            Field::Varint(v) => Ok(v),
            _ => Err(DecodeError::WrongWireType),
        }
    }

    /// The value of a length-delimited field, or `WrongWireType`.
    pub fn as_bytes(self) -> Result<&'a [u8], DecodeError> {
        match self {
            Field::Bytes(b) => Ok(b),
            _ => Err(DecodeError::WrongWireType),
        }
    }

    /// A length-delimited field as UTF-8 text (proto3 `string`).
    pub fn as_str(self) -> Result<&'a str, DecodeError> {
        core::str::from_utf8(self.as_bytes()?).map_err(|_| DecodeError::InvalidUtf8)
    }
}

/// Writes protobuf fields into a caller-provided buffer.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

/// Encoded size of a field key.
pub const fn key_len(field: u32) -> usize {
    varint::encoded_len((field as u64) << 3)
}

/// Encoded size of a length-delimited field carrying `len` bytes.
pub const fn bytes_field_len(field: u32, len: usize) -> usize {
    key_len(field) + varint::encoded_len(len as u64) + len
}

/// Encoded size of a varint field.
pub const fn varint_field_len(field: u32, value: u64) -> usize {
    key_len(field) + varint::encoded_len(value)
}

impl<'a> Writer<'a> {
    /// A writer that starts at the beginning of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.pos
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// Appends a raw varint.
    pub fn varint(&mut self, value: u64) -> Result<(), EncodeError> {
        let rest = self
            .buf
            .get_mut(self.pos..)
            .ok_or(EncodeError::BufferTooSmall)?;
        self.pos += varint::encode(value, rest).ok_or(EncodeError::BufferTooSmall)?;
        Ok(())
    }

    /// Appends raw bytes.
    pub fn raw(&mut self, data: &[u8]) -> Result<(), EncodeError> {
        let end = self.pos + data.len();
        let dst = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(EncodeError::BufferTooSmall)?;
        dst.copy_from_slice(data);
        self.pos = end;
        Ok(())
    }

    fn key(&mut self, field: u32, wire_type: u8) -> Result<(), EncodeError> {
        self.varint((u64::from(field) << 3) | u64::from(wire_type))
    }

    /// A varint field (always written, even when zero).
    pub fn varint_field(&mut self, field: u32, value: u64) -> Result<(), EncodeError> {
        self.key(field, 0)?;
        self.varint(value)
    }

    /// A length-delimited field (always written, even when empty).
    pub fn bytes_field(&mut self, field: u32, data: &[u8]) -> Result<(), EncodeError> {
        self.key(field, 2)?;
        self.varint(data.len() as u64)?;
        self.raw(data)
    }

    /// The key and length of an embedded message whose body (`len` bytes)
    /// the caller writes next.
    pub fn message_header(&mut self, field: u32, len: usize) -> Result<(), EncodeError> {
        self.key(field, 2)?;
        self.varint(len as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_unknown_wire_types() {
        // field 9 fixed64, field 10 fixed32, then field 1 varint.
        let body = [0x49, 1, 2, 3, 4, 5, 6, 7, 8, 0x55, 1, 2, 3, 4, 0x08, 0x05];
        let mut r = Reader::new(&body);
        assert!(matches!(r.next_field(), Ok(Some((9, Field::Fixed64(_))))));
        assert!(matches!(r.next_field(), Ok(Some((10, Field::Fixed32(_))))));
        assert_eq!(r.next_field(), Ok(Some((1, Field::Varint(5)))));
        assert_eq!(r.next_field(), Ok(None));
    }

    #[test]
    fn rejects_groups_field_zero_and_truncation() {
        assert_eq!(
            Reader::new(&[0x0b]).next_field(),
            Err(DecodeError::InvalidField)
        );
        assert_eq!(
            Reader::new(&[0x00, 0x00]).next_field(),
            Err(DecodeError::InvalidField)
        );
        assert_eq!(
            Reader::new(&[0x0a, 0x05, 1]).next_field(),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Reader::new(&[0x08]).next_field(),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Reader::new(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
                .next_field(),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn writer_reports_short_buffers() {
        let mut buf = [0u8; 3];
        let mut w = Writer::new(&mut buf);
        assert_eq!(w.bytes_field(1, b"abc"), Err(EncodeError::BufferTooSmall));
    }

    #[test]
    fn size_helpers_agree_with_writer() {
        let mut buf = [0u8; 2000];
        let mut w = Writer::new(&mut buf);
        w.bytes_field(3, &[0u8; 1024]).unwrap();
        assert_eq!(w.len(), bytes_field_len(3, 1024));
        let mut w = Writer::new(&mut buf);
        w.varint_field(1, 200).unwrap();
        assert_eq!(w.len(), varint_field_len(1, 200));
    }
}
