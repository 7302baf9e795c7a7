//! SecretConnection: CometBFT's authenticated encryption (spec §2), sans-IO.
//!
//! * [`SecretConnection`]: the whole machine for one TCP stream — the
//!   ephemeral X25519 exchange, the Merlin challenge, the Ed25519 AuthSig
//!   and then the stream of sealed 1044-byte frames.
//! * [`handshake`]: the pure cryptographic steps (also useful for vectors).
//! * [`FrameSealer`] / [`FrameOpener`]: one direction's frames.
//! * [`AeadBackend`]: the ChaCha20-Poly1305 provider. The default, [`Aead`],
//!   is chosen at run time by an [`AeadKind`]: `RingChaCha` (feature
//!   `ring`, the default when compiled in) or [`RustCryptoChaCha`].
//!
//! The protocol is symmetric: both sides send their ephemeral key at once,
//! so drain [`SecretConnection::poll_transmit`] right after construction.
//!
//! ## Driving loop
//!
//! Two machines wired back to back in memory (a real driver writes
//! `poll_transmit`/`seal` output to the socket and feeds what it reads to
//! `handle_input`, re-offering unconsumed bytes):
//!
//! ```
//! use mconn::identity::NodeKey;
//! use mconn::secret::SecretConnection;
//!
//! let mut a = SecretConnection::new(&NodeKey::from_seed([1; 32]), [11; 32]);
//! let mut b = SecretConnection::new(&NodeKey::from_seed([2; 32]), [22; 32]);
//! let mut buf = [0u8; 2048];
//! while !(a.is_established() && b.is_established()) {
//!     let n = a.poll_transmit(&mut buf);
//!     assert_eq!(b.handle_input(&buf[..n]).unwrap(), n);
//!     let n = b.poll_transmit(&mut buf);
//!     assert_eq!(a.handle_input(&buf[..n]).unwrap(), n);
//! }
//! assert_eq!(a.remote_id(), Some(NodeKey::from_seed([2; 32]).node_id()));
//!
//! // Application data: seal on one side, open on the other.
//! let (used, n) = a.seal(b"hello", &mut buf).unwrap();
//! assert_eq!((used, n), (5, 1044));
//! b.handle_input(&buf[..n]).unwrap();
//! assert_eq!(b.plaintext(), b"hello");
//! b.consume_plaintext(5);
//! ```

pub mod aead;
mod connection;
mod error;
pub mod frame;
pub mod handshake;

#[cfg(feature = "ring")]
pub use aead::RingChaCha;
pub use aead::{Aead, AeadBackend, AeadError, AeadKind, RustCryptoChaCha};
pub use connection::SecretConnection;
pub use error::SecretError;
pub use frame::{
    FrameOpener, FrameSealer, DATA_MAX_SIZE, FRAME_PLAINTEXT_LEN, LEN_PREFIX_SIZE, SEALED_FRAME_LEN,
};

#[cfg(all(test, feature = "alloc"))]
mod backend_tests;
#[cfg(test)]
mod tests;
