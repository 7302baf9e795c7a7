//! Protobuf base-128 varints (`uvarint`), as Go's `encoding/binary` writes them.
//!
//! ```
//! use mconn::wire::varint;
//! let mut buf = [0u8; 10];
//! let n = varint::encode(300, &mut buf).unwrap();
//! assert_eq!(&buf[..n], &[0xac, 0x02]);
//! assert_eq!(varint::decode(&buf[..n]), Ok(Some((300, 2))));
//! assert_eq!(varint::decode(&[0xac]), Ok(None)); // needs more bytes
//! ```

use super::DecodeError;

/// Longest varint Go accepts (a u64 needs at most ten 7-bit groups).
pub const MAX_LEN: usize = 10;

/// Encoded length of `value` in bytes (1..=10).
pub const fn encoded_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Writes `value` at the start of `out`; returns the number of bytes written,
/// or `None` if `out` is too short.
pub fn encode(mut value: u64, out: &mut [u8]) -> Option<usize> {
    let len = encoded_len(value);
    let out = out.get_mut(..len)?;
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = (value as u8 & 0x7f) | if i + 1 < len { 0x80 } else { 0 };
        value >>= 7;
    }
    Some(len)
}

/// Reads a varint from the start of `input`.
///
/// `Ok(None)` means the input ends inside the varint (feed more bytes);
/// `Ok(Some((value, consumed)))` on success. Like Go's `binary.Uvarint`,
/// non-minimal encodings are accepted; more than ten bytes or a value that
/// overflows 64 bits is [`DecodeError::VarintOverflow`].
pub fn decode(input: &[u8]) -> Result<Option<(u64, usize)>, DecodeError> {
    let mut value: u64 = 0;
    for (i, &byte) in input.iter().enumerate() {
        if i == MAX_LEN - 1 && byte > 1 {
            return Err(DecodeError::VarintOverflow);
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
        if i + 1 == MAX_LEN {
            return Err(DecodeError::VarintOverflow);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_encoding() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut buf = [0u8; MAX_LEN];
            let n = encode(v, &mut buf).unwrap();
            assert_eq!(n, encoded_len(v), "{v}");
            assert_eq!(decode(&buf[..n]), Ok(Some((v, n))));
            for cut in 0..n {
                assert_eq!(decode(&buf[..cut]), Ok(None));
            }
        }
    }

    #[test]
    fn overflow_is_an_error() {
        assert_eq!(decode(&[0xff; 10]), Err(DecodeError::VarintOverflow));
        assert_eq!(decode(&[0xff; 11]), Err(DecodeError::VarintOverflow));
        let mut max = [0xffu8; 10];
        max[9] = 0x01;
        assert_eq!(decode(&max), Ok(Some((u64::MAX, 10))));
        max[9] = 0x02;
        assert_eq!(decode(&max), Err(DecodeError::VarintOverflow));
    }

    #[test]
    fn non_minimal_is_accepted() {
        assert_eq!(decode(&[0x80, 0x00]), Ok(Some((0, 2))));
    }

    #[test]
    fn short_output_is_refused() {
        assert_eq!(encode(300, &mut [0u8; 1]), None);
    }
}
