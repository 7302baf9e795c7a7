//! The cryptographic steps of the handshake (spec §2.3–§2.4) as pure
//! functions: key ordering, X25519 with low-order rejection, the Merlin
//! challenge and the HKDF key split.
//!
//! ```
//! use mconn::secret::handshake::{derive_keys, sort_ephemeral};
//! let (lo, hi, loc_is_least) = sort_ephemeral(&[2; 32], &[1; 32]);
//! assert_eq!((lo, hi, loc_is_least), ([1; 32], [2; 32], false));
//! let keys = derive_keys(&[9; 32], loc_is_least);
//! assert_ne!(keys.send, keys.recv);
//! ```

use super::SecretError;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroize;

/// Merlin transcript label.
pub const TRANSCRIPT_LABEL: &[u8] = b"TENDERMINT_SECRET_CONNECTION_TRANSCRIPT_HASH";
/// HKDF `info`.
pub const HKDF_INFO: &[u8] = b"TENDERMINT_SECRET_CONNECTION_KEY_AND_CHALLENGE_GEN";

/// X25519 public keys of small order (and their non-canonical encodings
/// below 2^255), rejected before the DH as tendermint-rs does. The all-zero
/// DH check catches these too; this only fails earlier.
pub const LOW_ORDER_POINTS: [[u8; 32]; 7] = [
    // 0
    [0; 32],
    // 1
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    // order-8 point
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
    // order-8 point
    [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ],
    // p - 1
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // p
    [
        0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // p + 1
    [
        0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

/// The two directions' AEAD keys. Wiped on drop.
pub struct SessionKeys {
    /// Key for frames we receive.
    pub recv: [u8; 32],
    /// Key for frames we send.
    pub send: [u8; 32],
}

impl Drop for SessionKeys {
    fn drop(&mut self) {
        self.recv.zeroize();
        self.send.zeroize();
    }
}

/// Orders the ephemeral keys as byte strings: `(lo, hi, loc_is_least)`.
pub fn sort_ephemeral(local: &[u8; 32], remote: &[u8; 32]) -> ([u8; 32], [u8; 32], bool) {
    if local <= remote {
        (*local, *remote, true)
    } else {
        (*remote, *local, false)
    }
}

/// X25519 of our ephemeral secret and the peer's public key, rejecting
/// low-order peer keys (listed ones up front, then any all-zero result).
pub fn diffie_hellman(
    secret: &x25519_dalek::StaticSecret,
    remote: &[u8; 32],
) -> Result<x25519_dalek::SharedSecret, SecretError> {
    if LOW_ORDER_POINTS.contains(remote) {
        return Err(SecretError::LowOrderPoint);
    }
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(*remote));
    // Constant-time all-zero check.
    if !shared.was_contributory() {
        return Err(SecretError::LowOrderPoint);
    }
    Ok(shared)
}

/// The 32-byte challenge both sides sign: a Merlin transcript over the
/// sorted ephemeral keys and the DH secret.
pub fn challenge(lo: &[u8; 32], hi: &[u8; 32], dh: &[u8; 32]) -> [u8; 32] {
    let mut t = merlin::Transcript::new(TRANSCRIPT_LABEL);
    t.append_message(b"EPHEMERAL_LOWER_PUBLIC_KEY", lo);
    t.append_message(b"EPHEMERAL_UPPER_PUBLIC_KEY", hi);
    t.append_message(b"DH_SECRET", dh);
    let mut out = [0u8; 32];
    t.challenge_bytes(b"SECRET_CONNECTION_MAC", &mut out);
    out
}

/// HKDF-SHA256(ikm = dh, no salt, info = [`HKDF_INFO`]) split by
/// `loc_is_least`: the lower side receives with `okm[0..32]`.
pub fn derive_keys(dh: &[u8; 32], loc_is_least: bool) -> SessionKeys {
    let mut okm = [0u8; 64];
    // 64 bytes is far below HKDF-SHA256's 8160-byte limit: this cannot fail.
    let _ = Hkdf::<Sha256>::new(None, dh).expand(HKDF_INFO, &mut okm);
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    a.copy_from_slice(&okm[..32]);
    b.copy_from_slice(&okm[32..]);
    okm.zeroize();
    if loc_is_least {
        SessionKeys { recv: a, send: b }
    } else {
        SessionKeys { recv: b, send: a }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Merlin's own conformance vector (spec §2.8).
    #[test]
    fn merlin_conformance() {
        let mut t = merlin::Transcript::new(b"test protocol");
        t.append_message(b"some label", b"some data");
        let mut out = [0u8; 32];
        t.challenge_bytes(b"challenge", &mut out);
        assert_eq!(
            out,
            hex32("d5a21972d0d5fe320c0d263fac7fffb8145aa640af6e9bca177c03c7efcf0615")
        );
    }

    pub(crate) fn hex32(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (o, i) in out.iter_mut().zip((0..64).step_by(2)) {
            *o = u8::from_str_radix(&s[i..i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn low_order_points_rejected() {
        let secret = x25519_dalek::StaticSecret::from([0x40; 32]);
        for p in LOW_ORDER_POINTS {
            assert!(matches!(
                diffie_hellman(&secret, &p),
                Err(SecretError::LowOrderPoint)
            ));
            // With the high bit set (not in the list): caught by the zero check.
            let mut high = p;
            high[31] |= 0x80;
            assert!(matches!(
                diffie_hellman(&secret, &high),
                Err(SecretError::LowOrderPoint)
            ));
        }
        assert!(diffie_hellman(&secret, &[9; 32]).is_ok());
    }

    #[test]
    fn spec_vector_challenge_and_keys() {
        // Spec §2.10.
        let lo = hex32("675dd574ed7789310b3d2e7681f3790b466c773b1521fecf36577958371ea52f");
        let hi = hex32("79a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51a");
        let dh = hex32("d6fb939511b2381bc8599b4b8edc5968829450dfd7a87aebe78a703cd04cd54e");
        assert_eq!(
            challenge(&lo, &hi, &dh),
            hex32("0732d2855fdc3a171dc4b42a2aa24d9539e6cb0d1c16d2cd5670d631df7d2cfe")
        );
        let a = derive_keys(&dh, false);
        assert_eq!(
            a.send,
            hex32("6cff58bb556b966d3b1db5c0a9d25bc218f378cf62d3d525c9ba6233219a59db")
        );
        assert_eq!(
            a.recv,
            hex32("887508ea9fbce9fa93dd913baee63cf2b38fd7ad6204f53d6a26bfc7e143f0f5")
        );
        let b = derive_keys(&dh, true);
        assert_eq!((b.send, b.recv), (a.recv, a.send));
        let secret = x25519_dalek::StaticSecret::from(hex32(
            "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f",
        ));
        assert_eq!(diffie_hellman(&secret, &lo).unwrap().to_bytes(), dh);
    }
}
