//! The AEAD behind SecretConnection frames: ChaCha20-Poly1305 (RFC 8439),
//! 32-byte key, 12-byte nonce, empty associated data, 16-byte tag.
//!
//! [`RustCryptoChaCha`] (pure Rust, `no_std`) is the default;
//! [`RingChaCha`] (feature `ring`) uses ring's assembly implementation.
//!
//! ```
//! use mconn::secret::{AeadBackend, RustCryptoChaCha};
//! let aead = RustCryptoChaCha::new(&[1; 32]);
//! let mut buf = *b"hello";
//! let tag = aead.seal_in_place(&[0; 12], &mut buf).unwrap();
//! aead.open_in_place(&[0; 12], &mut buf, &tag).unwrap();
//! assert_eq!(&buf, b"hello");
//! ```

use core::fmt;

/// Length of the authentication tag.
pub const TAG_LEN: usize = 16;
/// Length of a nonce.
pub const NONCE_LEN: usize = 12;
/// Length of a key.
pub const KEY_LEN: usize = 32;

/// An AEAD operation failed: a bad tag on open, or an input the backend
/// refuses on seal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AeadError;

impl fmt::Display for AeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AEAD failure")
    }
}

impl core::error::Error for AeadError {}

/// ChaCha20-Poly1305 with empty associated data, in place, tag detached.
///
/// Implementations must be byte-identical (they are all RFC 8439).
pub trait AeadBackend: Sized {
    /// A cipher for one direction's key.
    fn new(key: &[u8; KEY_LEN]) -> Self;

    /// Encrypts `buf` in place and returns the tag.
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], AeadError>;

    /// Checks `tag` and decrypts `buf` in place. On failure the contents of
    /// `buf` are unspecified.
    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AeadError>;
}

/// RustCrypto's `chacha20poly1305` (pure Rust, `no_std`; the key is wiped
/// on drop).
#[derive(Clone)]
pub struct RustCryptoChaCha(chacha20poly1305::ChaCha20Poly1305);

impl fmt::Debug for RustCryptoChaCha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RustCryptoChaCha")
    }
}

impl AeadBackend for RustCryptoChaCha {
    fn new(key: &[u8; KEY_LEN]) -> Self {
        use chacha20poly1305::KeyInit;
        RustCryptoChaCha(chacha20poly1305::ChaCha20Poly1305::new(key.into()))
    }

    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], AeadError> {
        use chacha20poly1305::AeadInPlace;
        self.0
            .encrypt_in_place_detached(nonce.into(), &[], buf)
            .map(Into::into)
            .map_err(|_| AeadError)
    }

    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AeadError> {
        use chacha20poly1305::AeadInPlace;
        self.0
            .decrypt_in_place_detached(nonce.into(), &[], buf, tag.into())
            .map_err(|_| AeadError)
    }
}

/// `ring`'s ChaCha20-Poly1305 (feature `ring`).
#[cfg(feature = "ring")]
pub struct RingChaCha(ring::aead::LessSafeKey);

#[cfg(feature = "ring")]
impl fmt::Debug for RingChaCha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RingChaCha")
    }
}

#[cfg(feature = "ring")]
impl AeadBackend for RingChaCha {
    fn new(key: &[u8; KEY_LEN]) -> Self {
        use ring::aead::{LessSafeKey, UnboundKey, CHACHA20_POLY1305};
        // ring only refuses keys of the wrong length; ours is 32 bytes by type.
        #[allow(clippy::expect_used)]
        let key = UnboundKey::new(&CHACHA20_POLY1305, key).expect("32-byte ChaCha20 key");
        RingChaCha(LessSafeKey::new(key))
    }

    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], AeadError> {
        use ring::aead::{Aad, Nonce};
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*nonce), Aad::empty(), buf)
            .map_err(|_| AeadError)?;
        tag.as_ref().try_into().map_err(|_| AeadError)
    }

    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AeadError> {
        use ring::aead::{Aad, Nonce, Tag};
        let tag = Tag::try_from(&tag[..]).map_err(|_| AeadError)?;
        self.0
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(*nonce),
                Aad::empty(),
                tag,
                buf,
                0..,
            )
            .map(|_| ())
            .map_err(|_| AeadError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seal, open, and refuse tampered data or a wrong nonce.
    #[test]
    fn rustcrypto_round_trip_and_tamper() {
        let aead = RustCryptoChaCha::new(&[9; 32]);
        let mut buf = [0x5au8; 1028];
        let tag = aead.seal_in_place(&[1; 12], &mut buf).unwrap();
        let sealed = buf;
        aead.open_in_place(&[1; 12], &mut buf, &tag).unwrap();
        assert_eq!(buf, [0x5a; 1028]);
        let mut bad = sealed;
        bad[1027] ^= 1;
        assert_eq!(aead.open_in_place(&[1; 12], &mut bad, &tag), Err(AeadError));
        let mut wrong_nonce = sealed;
        assert_eq!(
            aead.open_in_place(&[2; 12], &mut wrong_nonce, &tag),
            Err(AeadError)
        );
    }

    #[cfg(feature = "ring")]
    #[test]
    fn backends_agree() {
        for (i, len) in [0usize, 1, 63, 64, 1028].into_iter().enumerate() {
            let key = [i as u8 + 3; 32];
            let nonce = [0, 0, 0, 0, i as u8, 0, 0, 0, 0, 0, 0, 0];
            let rc = RustCryptoChaCha::new(&key);
            let ring = RingChaCha::new(&key);
            let mut a = [0u8; 1028];
            for (j, b) in a.iter_mut().enumerate() {
                *b = j as u8;
            }
            let mut b = a;
            let plain = a;
            let tag_a = rc.seal_in_place(&nonce, &mut a[..len]).unwrap();
            let tag_b = ring.seal_in_place(&nonce, &mut b[..len]).unwrap();
            assert_eq!(a, b);
            assert_eq!(tag_a, tag_b);
            // Each opens the other's output.
            ring.open_in_place(&nonce, &mut a[..len], &tag_a).unwrap();
            rc.open_in_place(&nonce, &mut b[..len], &tag_b).unwrap();
            assert_eq!(a, plain);
            assert_eq!(b, plain);
            let mut bad = tag_a;
            bad[0] ^= 1;
            let mut c = plain;
            assert_eq!(
                ring.open_in_place(&nonce, &mut c[..len], &bad),
                Err(AeadError)
            );
        }
    }
}
