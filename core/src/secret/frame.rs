//! Sealed frames (spec §2.6): `u32_le(len) || data || zero padding` to 1028
//! bytes, ChaCha20-Poly1305 under `00000000 || u64_le(counter)`, 1044 bytes
//! on the wire. One counter per direction, from 0.
//!
//! ```
//! use mconn::secret::{FrameOpener, FrameSealer, RustCryptoChaCha, SEALED_FRAME_LEN};
//! let mut tx = FrameSealer::<RustCryptoChaCha>::new(&[3; 32]);
//! let mut rx = FrameOpener::<RustCryptoChaCha>::new(&[3; 32]);
//! let mut frame = [0u8; SEALED_FRAME_LEN];
//! let n = tx.seal(&mut frame, |buf| { buf[..2].copy_from_slice(b"hi"); 2 }).unwrap();
//! assert_eq!(n, SEALED_FRAME_LEN);
//! let len = rx.open(&mut frame).unwrap();
//! assert_eq!(&frame[4..4 + len], b"hi");
//! ```

use super::aead::{AeadBackend, AeadKind, KEY_LEN, NONCE_LEN, TAG_LEN};
use super::SecretError;

/// Largest payload of one frame.
pub const DATA_MAX_SIZE: usize = 1024;
/// Size of the little-endian length prefix.
pub const LEN_PREFIX_SIZE: usize = 4;
/// Plaintext frame: prefix + payload + padding.
pub const FRAME_PLAINTEXT_LEN: usize = LEN_PREFIX_SIZE + DATA_MAX_SIZE;
/// A sealed frame on the wire.
pub const SEALED_FRAME_LEN: usize = FRAME_PLAINTEXT_LEN + TAG_LEN;

/// The nonce for frame number `counter`: `00000000 || u64_le(counter)`.
pub fn nonce(counter: u64) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    n
}

/// Seals the frames of the sending direction.
///
/// Counters `0..=u64::MAX - 1` are usable; asking for one more is
/// [`SecretError::NonceExhausted`] (Go panics at the same point).
pub struct FrameSealer<A> {
    aead: A,
    counter: u64,
}

impl<A: AeadBackend> FrameSealer<A> {
    /// A sealer for `key`, counter 0.
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        Self::at_counter(key, 0)
    }

    /// A sealer for `key` with the AEAD implementation `kind` (see
    /// [`AeadBackend::with_kind`]), counter 0.
    pub fn with_kind(kind: AeadKind, key: &[u8; KEY_LEN]) -> Self {
        FrameSealer {
            aead: A::with_kind(kind, key),
            counter: 0,
        }
    }

    /// Test hook: a sealer that starts at `counter`.
    pub(crate) fn at_counter(key: &[u8; KEY_LEN], counter: u64) -> Self {
        FrameSealer {
            aead: A::new(key),
            counter,
        }
    }

    /// Test hook: jump to `counter`.
    #[cfg(test)]
    pub(crate) fn set_counter(&mut self, counter: u64) {
        self.counter = counter;
    }

    /// Test hook: the cipher.
    #[cfg(test)]
    pub(crate) fn cipher(&self) -> &A {
        &self.aead
    }

    /// Frames sealed so far (the next nonce counter).
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Lets `fill` write up to 1024 payload bytes straight into the frame
    /// (`out[4..1028]`), then pads, prefixes and seals it in place.
    ///
    /// `out` must hold at least 1044 bytes; exactly 1044 are written.
    /// Returns 1044, or 0 (no frame, no nonce used) if `fill` wrote nothing.
    pub fn seal(
        &mut self,
        out: &mut [u8],
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, SecretError> {
        let frame = out
            .get_mut(..SEALED_FRAME_LEN)
            .ok_or(SecretError::BufferTooSmall)?;
        if self.counter == u64::MAX {
            return Err(SecretError::NonceExhausted);
        }
        let (plain, tag_out) = frame.split_at_mut(FRAME_PLAINTEXT_LEN);
        let (prefix, data) = plain.split_at_mut(LEN_PREFIX_SIZE);
        let n = fill(data);
        if n == 0 {
            return Ok(0);
        }
        let pad = data.get_mut(n..).ok_or(SecretError::PayloadTooLarge)?;
        pad.fill(0);
        // n <= 1024, so it fits in u32.
        prefix.copy_from_slice(&(n as u32).to_le_bytes());
        let tag = self
            .aead
            .seal_in_place(&nonce(self.counter), plain)
            .map_err(|_| SecretError::FrameAuthFailed)?;
        tag_out.copy_from_slice(&tag);
        self.counter += 1;
        Ok(SEALED_FRAME_LEN)
    }
}

/// Opens the frames of the receiving direction.
pub struct FrameOpener<A> {
    aead: A,
    counter: u64,
}

impl<A: AeadBackend> FrameOpener<A> {
    /// An opener for `key`, counter 0.
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        Self::at_counter(key, 0)
    }

    /// An opener for `key` with the AEAD implementation `kind` (see
    /// [`AeadBackend::with_kind`]), counter 0.
    pub fn with_kind(kind: AeadKind, key: &[u8; KEY_LEN]) -> Self {
        FrameOpener {
            aead: A::with_kind(kind, key),
            counter: 0,
        }
    }

    /// Test hook: an opener that starts at `counter`.
    pub(crate) fn at_counter(key: &[u8; KEY_LEN], counter: u64) -> Self {
        FrameOpener {
            aead: A::new(key),
            counter,
        }
    }

    /// Test hook: jump to `counter`.
    #[cfg(test)]
    pub(crate) fn set_counter(&mut self, counter: u64) {
        self.counter = counter;
    }

    /// Test hook: the cipher.
    #[cfg(test)]
    pub(crate) fn cipher(&self) -> &A {
        &self.aead
    }

    /// Frames opened so far (the next nonce counter).
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Opens the 1044-byte frame at the start of `frame` in place and
    /// returns the payload length; the payload is `frame[4..4 + len]`.
    /// Padding is ignored. Every error is fatal for the connection.
    pub fn open(&mut self, frame: &mut [u8]) -> Result<usize, SecretError> {
        let frame = frame
            .get_mut(..SEALED_FRAME_LEN)
            .ok_or(SecretError::BufferTooSmall)?;
        if self.counter == u64::MAX {
            return Err(SecretError::NonceExhausted);
        }
        let (plain, tag) = frame.split_at_mut(FRAME_PLAINTEXT_LEN);
        let mut tag_arr = [0u8; TAG_LEN];
        tag_arr.copy_from_slice(tag);
        self.aead
            .open_in_place(&nonce(self.counter), plain, &tag_arr)
            .map_err(|_| SecretError::FrameAuthFailed)?;
        self.counter += 1;
        let mut len = [0u8; LEN_PREFIX_SIZE];
        len.copy_from_slice(&plain[..LEN_PREFIX_SIZE]);
        let len = u32::from_le_bytes(len);
        if len > DATA_MAX_SIZE as u32 {
            return Err(SecretError::FrameLengthInvalid);
        }
        Ok(len as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::RustCryptoChaCha;

    type Sealer = FrameSealer<RustCryptoChaCha>;
    type Opener = FrameOpener<RustCryptoChaCha>;

    fn seal_bytes(tx: &mut Sealer, data: &[u8]) -> [u8; SEALED_FRAME_LEN] {
        let mut f = [0xeeu8; SEALED_FRAME_LEN];
        let n = tx
            .seal(&mut f, |buf| {
                buf[..data.len()].copy_from_slice(data);
                data.len()
            })
            .unwrap();
        assert_eq!(n, SEALED_FRAME_LEN);
        f
    }

    #[test]
    fn round_trip_pads_with_zeros() {
        let mut tx = Sealer::new(&[1; 32]);
        let mut rx = Opener::new(&[1; 32]);
        for len in [1usize, 100, 1024] {
            let data = [0x42u8; 1024];
            let mut f = seal_bytes(&mut tx, &data[..len]);
            assert_eq!(rx.open(&mut f), Ok(len));
            assert_eq!(&f[4..4 + len], &data[..len]);
            assert!(f[4 + len..FRAME_PLAINTEXT_LEN].iter().all(|&b| b == 0));
        }
        assert_eq!((tx.counter(), rx.counter()), (3, 3));
    }

    #[test]
    fn empty_fill_seals_nothing() {
        let mut tx = Sealer::new(&[1; 32]);
        let mut f = [0u8; SEALED_FRAME_LEN];
        assert_eq!(tx.seal(&mut f, |_| 0), Ok(0));
        assert_eq!(tx.counter(), 0);
    }

    #[test]
    fn misuse_is_refused() {
        let mut tx = Sealer::new(&[1; 32]);
        let mut small = [0u8; SEALED_FRAME_LEN - 1];
        assert_eq!(tx.seal(&mut small, |_| 1), Err(SecretError::BufferTooSmall));
        let mut f = [0u8; SEALED_FRAME_LEN];
        assert_eq!(tx.seal(&mut f, |_| 1025), Err(SecretError::PayloadTooLarge));
        assert_eq!(tx.counter(), 0);
        let mut rx = Opener::new(&[1; 32]);
        assert_eq!(rx.open(&mut small), Err(SecretError::BufferTooSmall));
    }

    #[test]
    fn tampered_frame_fails() {
        let mut tx = Sealer::new(&[1; 32]);
        for pos in [0, 3, 500, 1027, 1028, 1043] {
            let mut f = seal_bytes(&mut tx, b"x");
            f[pos] ^= 0x80;
            // A fresh opener at the sealer's previous counter.
            let mut rx = Opener::at_counter(&[1; 32], tx.counter() - 1);
            assert_eq!(rx.open(&mut f), Err(SecretError::FrameAuthFailed), "{pos}");
        }
    }

    #[test]
    fn replayed_and_reordered_frames_fail() {
        let mut tx = Sealer::new(&[1; 32]);
        let f0 = seal_bytes(&mut tx, b"zero");
        let f1 = seal_bytes(&mut tx, b"one");
        // Reordered: frame 1 first.
        let mut rx = Opener::new(&[1; 32]);
        assert_eq!(rx.open(&mut f1.clone()), Err(SecretError::FrameAuthFailed));
        // Replayed: frame 0 twice.
        let mut rx = Opener::new(&[1; 32]);
        assert_eq!(rx.open(&mut f0.clone()), Ok(4));
        assert_eq!(rx.open(&mut f0.clone()), Err(SecretError::FrameAuthFailed));
        // Wrong key.
        let mut rx = Opener::new(&[2; 32]);
        assert_eq!(rx.open(&mut f0.clone()), Err(SecretError::FrameAuthFailed));
    }

    #[test]
    fn length_above_1024_fails() {
        // Seal a plaintext with a bogus length prefix directly.
        let aead = RustCryptoChaCha::new(&[1; 32]);
        let mut f = [0u8; SEALED_FRAME_LEN];
        f[..4].copy_from_slice(&1025u32.to_le_bytes());
        let tag = aead
            .seal_in_place(&nonce(0), &mut f[..FRAME_PLAINTEXT_LEN])
            .unwrap();
        f[FRAME_PLAINTEXT_LEN..].copy_from_slice(&tag);
        let mut rx = Opener::new(&[1; 32]);
        assert_eq!(
            rx.open(&mut f.clone()),
            Err(SecretError::FrameLengthInvalid)
        );
        // u32::MAX as well.
        let mut f = [0u8; SEALED_FRAME_LEN];
        f[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let tag = aead
            .seal_in_place(&nonce(0), &mut f[..FRAME_PLAINTEXT_LEN])
            .unwrap();
        f[FRAME_PLAINTEXT_LEN..].copy_from_slice(&tag);
        let mut rx = Opener::new(&[1; 32]);
        assert_eq!(rx.open(&mut f), Err(SecretError::FrameLengthInvalid));
    }

    #[test]
    fn nonce_exhaustion() {
        let mut tx = Sealer::at_counter(&[1; 32], u64::MAX - 1);
        let mut rx = Opener::at_counter(&[1; 32], u64::MAX - 1);
        let mut f = seal_bytes(&mut tx, b"last");
        assert_eq!(tx.counter(), u64::MAX);
        assert_eq!(rx.open(&mut f), Ok(4));
        let mut g = [0u8; SEALED_FRAME_LEN];
        assert_eq!(tx.seal(&mut g, |_| 1), Err(SecretError::NonceExhausted));
        assert_eq!(rx.open(&mut g), Err(SecretError::NonceExhausted));
    }

    #[test]
    fn nonce_layout() {
        assert_eq!(nonce(0), [0; 12]);
        assert_eq!(nonce(1), [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            nonce(u64::MAX - 1),
            [0, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
    }
}
