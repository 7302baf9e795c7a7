//! Ed25519 signature verification under ZIP-215 rules, as CometBFT verifies
//! (Go `curve25519-voi` with `VerifyOptionsZIP_215`):
//!
//! * `A` and `R` may be non-canonical encodings (they are decoded as given);
//! * `s` must be canonical (`s < ℓ`);
//! * the cofactored equation `[8]([s]B − [k]A − R) = 0` must hold, with
//!   `k = SHA-512(R ‖ A ‖ M) mod ℓ` over the bytes as received.
//!
//! Written on `curve25519-dalek` because `ed25519-consensus` (the usual
//! crate for this) requires `alloc`; the tests cross-check every case
//! against `ed25519-consensus`.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use sha2::{Digest, Sha512};

/// Whether `sig` is a valid ZIP-215 signature by `public_key` over `msg`.
pub(super) fn verify(public_key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    let mut r_bytes = [0u8; 32];
    let mut s_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&sig[..32]);
    s_bytes.copy_from_slice(&sig[32..]);
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
        return false;
    };
    let (Some(a), Some(r)) = (
        CompressedEdwardsY(*public_key).decompress(),
        CompressedEdwardsY(r_bytes).decompress(),
    ) else {
        return false;
    };
    let mut hash = [0u8; 64];
    hash.copy_from_slice(
        &Sha512::new()
            .chain_update(r_bytes)
            .chain_update(public_key)
            .chain_update(msg)
            .finalize(),
    );
    let k = Scalar::from_bytes_mod_order_wide(&hash);
    let check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-a, &s) - r;
    check.mul_by_cofactor().is_identity()
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    fn consensus(pk: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
        match ed25519_consensus::VerificationKey::try_from(*pk) {
            Ok(vk) => vk
                .verify(&ed25519_consensus::Signature::from(*sig), msg)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// Encodings of the eight small-order points, plus the non-canonical
    /// encodings of those whose y fits twice below 2^255 (as in ZIP-215's
    /// own test set), with both sign bits.
    fn small_order_encodings() -> Vec<[u8; 32]> {
        let mut out = Vec::new();
        let base: Vec<EdwardsPoint> = {
            // The 8-torsion subgroup: multiples of one point of order 8.
            let p8 = CompressedEdwardsY([
                0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef,
                0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88,
                0x6d, 0x53, 0xfc, 0x05,
            ])
            .decompress()
            .unwrap();
            (0..8u64).map(|i| p8 * Scalar::from(i)).collect()
        };
        for p in base {
            let enc = p.compress().to_bytes();
            for sign in [0u8, 0x80] {
                let mut e = enc;
                e[31] = (e[31] & 0x7f) | sign;
                out.push(e);
                // y + p, if it still fits in 255 bits.
                let mut y = e;
                y[31] &= 0x7f;
                let mut carry = 0u16;
                let p_bytes = {
                    let mut b = [0xffu8; 32];
                    b[0] = 0xed;
                    b[31] = 0x7f;
                    b
                };
                let mut sum = [0u8; 32];
                for i in 0..32 {
                    let v = u16::from(y[i]) + u16::from(p_bytes[i]) + carry;
                    sum[i] = v as u8;
                    carry = v >> 8;
                }
                if carry == 0 && sum[31] & 0x80 == 0 {
                    sum[31] |= sign;
                    out.push(sum);
                }
            }
        }
        out
    }

    #[test]
    fn agrees_with_ed25519_consensus_on_small_order_edge_cases() {
        let encs = small_order_encodings();
        assert!(encs.len() >= 16);
        let mut accepted = 0;
        for a in &encs {
            for r in &encs {
                let mut sig = [0u8; 64];
                sig[..32].copy_from_slice(r);
                for msg in [&b"Zcash"[..], b""] {
                    let ours = verify(a, msg, &sig);
                    assert_eq!(ours, consensus(a, msg, &sig), "A={a:02x?} R={r:02x?}");
                    accepted += usize::from(ours);
                }
            }
        }
        // ZIP-215 accepts these (s = 0, everything small order).
        assert!(accepted > encs.len());
    }

    #[test]
    fn agrees_on_real_signatures_and_tampering() {
        for seed in 0u8..32 {
            let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
            let pk = key.verifying_key().to_bytes();
            let msg = [seed.wrapping_mul(7); 32];
            let sig = ed25519_dalek::Signer::sign(&key, &msg).to_bytes();
            assert!(verify(&pk, &msg, &sig));
            assert!(consensus(&pk, &msg, &sig));
            for i in [0usize, 17, 31, 32, 40, 63] {
                for bit in [0x01u8, 0x80] {
                    let mut bad = sig;
                    bad[i] ^= bit;
                    assert_eq!(
                        verify(&pk, &msg, &bad),
                        consensus(&pk, &msg, &bad),
                        "sig byte {i} bit {bit}"
                    );
                }
                let mut bad_pk = pk;
                bad_pk[i % 32] ^= 0x01;
                assert_eq!(verify(&bad_pk, &msg, &sig), consensus(&bad_pk, &msg, &sig));
            }
            // Non-canonical s (s + ℓ) is rejected by both.
            let mut s_plus_l = sig;
            let l: [u8; 32] = [
                0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
                0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
            ];
            let mut carry = 0u16;
            for i in 0..32 {
                let v = u16::from(sig[32 + i]) + u16::from(l[i]) + carry;
                s_plus_l[32 + i] = v as u8;
                carry = v >> 8;
            }
            assert!(!verify(&pk, &msg, &s_plus_l));
            assert_eq!(
                verify(&pk, &msg, &s_plus_l),
                consensus(&pk, &msg, &s_plus_l)
            );
        }
    }
}
