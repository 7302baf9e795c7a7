//! The AEAD behind SecretConnection frames: ChaCha20-Poly1305 (RFC 8439),
//! 32-byte key, 12-byte nonce, empty associated data, 16-byte tag.
//!
//! Two implementations ship: [`RustCryptoChaCha`] (pure Rust, `no_std`) and
//! `RingChaCha` (feature `ring`, ring's assembly implementation, several
//! times faster). [`Aead`] holds either, picked at run time by an
//! [`AeadKind`] (for a session: [`SessionConfig::aead`]); its default is
//! ring when the `ring` feature is on, RustCrypto otherwise. Any other type
//! implementing [`AeadBackend`] can be plugged in through the type
//! parameter of [`SecretConnection`](super::SecretConnection) and
//! [`Session`](crate::session::Session).
//!
//! [`SessionConfig::aead`]: crate::session::SessionConfig::aead
//!
//! ```
//! use mconn::secret::{Aead, AeadBackend, AeadKind};
//! let aead = Aead::with_kind(AeadKind::RustCrypto, &[1; 32]);
//! assert_eq!(aead.kind(), AeadKind::RustCrypto);
//! let mut buf = *b"hello";
//! let tag = aead.seal_in_place(&[0; 12], &mut buf).unwrap();
//! // Every kind is RFC 8439, byte for byte: any of them opens it.
//! for &kind in AeadKind::AVAILABLE {
//!     let mut copy = buf;
//!     Aead::with_kind(kind, &[1; 32]).open_in_place(&[0; 12], &mut copy, &tag).unwrap();
//!     assert_eq!(&copy, b"hello");
//! }
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

    /// A cipher for `key`, of the implementation `kind` names when the
    /// backend offers a run-time choice (as [`Aead`] does). A backend that
    /// is one fixed implementation ignores `kind`: the default is
    /// [`new`](Self::new).
    fn with_kind(kind: AeadKind, key: &[u8; KEY_LEN]) -> Self {
        let _ = kind;
        Self::new(key)
    }

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

/// A built-in AEAD implementation, chosen at run time (see [`Aead`]).
///
/// Which variants exist depends on the crate features, so matches need a
/// wildcard arm; [`AVAILABLE`](Self::AVAILABLE) lists the compiled-in ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AeadKind {
    /// [`RustCryptoChaCha`]: pure Rust, `no_std`.
    RustCrypto,
    /// [`RingChaCha`]: ring's assembly implementation (feature `ring`).
    #[cfg(feature = "ring")]
    Ring,
}

impl AeadKind {
    /// Every kind compiled into this build, the default first.
    pub const AVAILABLE: &'static [AeadKind] = &[
        #[cfg(feature = "ring")]
        AeadKind::Ring,
        AeadKind::RustCrypto,
    ];

    /// The fastest kind compiled in: `Ring` with the `ring` feature, else
    /// [`RustCrypto`](Self::RustCrypto). Also the [`Default`].
    pub const DEFAULT: AeadKind = AeadKind::AVAILABLE[0];

    /// A short lowercase name: `rustcrypto` or `ring`.
    pub const fn name(self) -> &'static str {
        match self {
            AeadKind::RustCrypto => "rustcrypto",
            #[cfg(feature = "ring")]
            AeadKind::Ring => "ring",
        }
    }
}

impl Default for AeadKind {
    /// [`AeadKind::DEFAULT`].
    fn default() -> Self {
        AeadKind::DEFAULT
    }
}

impl fmt::Display for AeadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One of the built-in backends, chosen at run time by an [`AeadKind`]
/// through [`AeadBackend::with_kind`] ([`AeadBackend::new`] takes the
/// default kind). The default backend of [`SecretConnection`](super::SecretConnection)
/// and [`Session`](crate::session::Session).
#[non_exhaustive]
// ring's key schedule (~0.5 KiB) is kept inline: two per connection, next
// to 2 KiB of frame buffers; a box would allocate, and cost a pointer
// chase per frame.
#[allow(clippy::large_enum_variant)]
pub enum Aead {
    /// RustCrypto's implementation.
    RustCrypto(RustCryptoChaCha),
    /// ring's implementation (feature `ring`).
    #[cfg(feature = "ring")]
    Ring(RingChaCha),
}

impl Aead {
    /// Which implementation this is.
    pub fn kind(&self) -> AeadKind {
        match self {
            Aead::RustCrypto(_) => AeadKind::RustCrypto,
            #[cfg(feature = "ring")]
            Aead::Ring(_) => AeadKind::Ring,
        }
    }
}

impl fmt::Debug for Aead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aead({})", self.kind())
    }
}

impl AeadBackend for Aead {
    fn new(key: &[u8; KEY_LEN]) -> Self {
        Self::with_kind(AeadKind::default(), key)
    }

    fn with_kind(kind: AeadKind, key: &[u8; KEY_LEN]) -> Self {
        match kind {
            AeadKind::RustCrypto => Aead::RustCrypto(RustCryptoChaCha::new(key)),
            #[cfg(feature = "ring")]
            AeadKind::Ring => Aead::Ring(RingChaCha::new(key)),
        }
    }

    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], AeadError> {
        match self {
            Aead::RustCrypto(a) => a.seal_in_place(nonce, buf),
            #[cfg(feature = "ring")]
            Aead::Ring(a) => a.seal_in_place(nonce, buf),
        }
    }

    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AeadError> {
        match self {
            Aead::RustCrypto(a) => a.open_in_place(nonce, buf, tag),
            #[cfg(feature = "ring")]
            Aead::Ring(a) => a.open_in_place(nonce, buf, tag),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default is the fastest kind compiled in; `new` uses it; every
    /// available kind builds the implementation it names.
    #[test]
    fn kinds_and_default() {
        #[cfg(feature = "ring")]
        assert_eq!(AeadKind::default(), AeadKind::Ring);
        #[cfg(not(feature = "ring"))]
        assert_eq!(AeadKind::default(), AeadKind::RustCrypto);
        assert_eq!(Aead::new(&[1; 32]).kind(), AeadKind::default());
        assert!(AeadKind::AVAILABLE.contains(&AeadKind::RustCrypto));
        for &kind in AeadKind::AVAILABLE {
            assert_eq!(Aead::with_kind(kind, &[1; 32]).kind(), kind);
        }
        // A fixed backend ignores the kind and still works.
        let fixed = RustCryptoChaCha::with_kind(AeadKind::default(), &[1; 32]);
        let mut buf = [7u8; 40];
        let tag = fixed.seal_in_place(&[0; 12], &mut buf).unwrap();
        let chosen = Aead::with_kind(AeadKind::RustCrypto, &[1; 32]);
        chosen.open_in_place(&[0; 12], &mut buf, &tag).unwrap();
        assert_eq!(buf, [7; 40]);
    }

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
