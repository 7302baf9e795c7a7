//! Machine-level tests: the spec §2.10 vector byte for byte, fragmentation,
//! back-pressure, and one test per bad input.

extern crate std;

use super::frame::nonce;
use super::*;
use crate::identity::{NodeKey, PublicKey};
use crate::wire::auth::{encode_ephemeral, AuthSig};
use crate::wire::DecodeError;
use sha2::{Digest, Sha256};
use std::vec::Vec;

fn unhex(s: &str) -> Vec<u8> {
    let s: std::string::String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn arr<const N: usize>(s: &str) -> [u8; N] {
    unhex(s).try_into().unwrap()
}

const A_SEED: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const B_SEED: &str = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";
const A_EPH: &str = "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f";
const B_EPH: &str = "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f";
const A_SEND: &str = "6cff58bb556b966d3b1db5c0a9d25bc218f378cf62d3d525c9ba6233219a59db";
const A_RECV: &str = "887508ea9fbce9fa93dd913baee63cf2b38fd7ad6204f53d6a26bfc7e143f0f5";
const CHALLENGE: &str = "0732d2855fdc3a171dc4b42a2aa24d9539e6cb0d1c16d2cd5670d631df7d2cfe";

fn key_a() -> NodeKey {
    NodeKey::from_seed(arr(A_SEED))
}
fn key_b() -> NodeKey {
    NodeKey::from_seed(arr(B_SEED))
}
fn machine_a() -> SecretConnection {
    SecretConnection::new(&key_a(), arr(A_EPH))
}
fn machine_b() -> SecretConnection {
    SecretConnection::new(&key_b(), arr(B_EPH))
}

fn drain(c: &mut SecretConnection) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 300];
    loop {
        let n = c.poll_transmit(&mut buf);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Spec §2.10, byte for byte, with every AEAD implementation.
#[test]
fn spec_vector_end_to_end() {
    for &kind in AeadKind::AVAILABLE {
        spec_vector_with(kind);
    }
}

fn spec_vector_with(kind: AeadKind) {
    let mut a = SecretConnection::with_kind(&key_a(), arr(A_EPH), kind);
    let mut b = SecretConnection::with_kind(&key_b(), arr(B_EPH), kind);
    assert_eq!(a.aead_kind(), kind);
    let a_eph = drain(&mut a);
    assert_eq!(
        a_eph,
        unhex("220a2079a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51a")
    );
    let b_eph = drain(&mut b);
    assert_eq!(
        &b_eph[3..],
        &unhex("675dd574ed7789310b3d2e7681f3790b466c773b1521fecf36577958371ea52f")[..]
    );
    // Nothing more before the peer's key arrives.
    assert!(drain(&mut a).is_empty());

    assert_eq!(a.handle_input(&b_eph), Ok(35));
    let frame0 = drain(&mut a);
    assert_eq!(frame0.len(), 1044);
    assert_eq!(
        frame0[..32],
        unhex("5f238f4bb37efaef5fa8d9b2ae380a22e4ec244b7cafc86d416c865ed38578b5")[..]
    );
    assert_eq!(
        frame0[1028..],
        unhex("7c299b124004e5ac2eebf539bbc2a094")[..]
    );
    assert_eq!(
        Sha256::digest(&frame0)[..],
        unhex("90611f539b2a799096f1f061acffc3cc47813bda5cf69123dbfae3508c16313f")[..]
    );
    // The AuthSig plaintext inside frame #0.
    let mut opened = frame0.clone();
    let len = FrameOpener::<RustCryptoChaCha>::new(&arr(A_SEND))
        .open(&mut opened)
        .unwrap();
    assert_eq!(&opened[..4], &[0x67, 0, 0, 0]);
    assert_eq!(
        opened[4..4 + len],
        unhex(
            "660a220a2003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8
             124091a42a4ac4aa649372f0b68e9c214f3fde8d10e7ede80c92c655a5043f164fa33d6a9e92
             ed22fa47427b15b87a54508bf8636f0f71140e751a54990f0f5a9a03"
        )[..]
    );
    assert!(opened[4 + len..1028].iter().all(|&x| x == 0));

    // B's side, then both are established.
    assert_eq!(b.handle_input(&a_eph), Ok(35));
    let b_frame0 = drain(&mut b);
    let mut opened = b_frame0.clone();
    let len = FrameOpener::<RustCryptoChaCha>::new(&arr(A_RECV))
        .open(&mut opened)
        .unwrap();
    assert_eq!(
        opened[4 + 37 + 2..4 + len],
        unhex(
            "c49abc9f24f4b1b58db0c58a76e15c6a73923abc97b764f9b99903858ea7d88d
             2b2ac5afdff2ca7e7302f46daa29e4bf5759e87206ca5954f61a4722e0e27000"
        )[..]
    );
    assert!(!a.is_established());
    assert_eq!(b.handle_input(&frame0), Ok(1044));
    assert_eq!(a.handle_input(&b_frame0), Ok(1044));
    assert!(a.is_established() && b.is_established());
    assert_eq!(a.cipher_kinds(), Some((kind, kind)));
    assert_eq!(a.remote_id(), Some(key_b().node_id()));
    assert_eq!(b.remote_public_key(), Some(key_a().public_key()));
    assert_eq!(
        std::format!("{}", b.remote_id().unwrap()),
        "56475aa75463474c0285df5dbf2bcab73da65135"
    );

    // Frame #1: a ping.
    let mut frame1 = [0u8; 1044];
    assert_eq!(
        a.seal_frame(&mut frame1, |buf| {
            buf[..3].copy_from_slice(&[0x02, 0x0a, 0x00]);
            3
        }),
        Ok(1044)
    );
    assert_eq!(
        frame1[..32],
        unhex("f83fc9c76dc6188362de3c286561d581119bbdba78a460d05282cc15fe1a5791")[..]
    );
    assert_eq!(
        frame1[1028..],
        unhex("a024e75b02d2f0585b0c2395a84eb338")[..]
    );
    assert_eq!(
        Sha256::digest(frame1)[..],
        unhex("bbb2f2227c312258b742e6caac6995fca8247933003b88181a141ca689f2bdeb")[..]
    );
    assert_eq!(b.handle_input(&frame1), Ok(1044));
    assert_eq!(b.plaintext(), &[0x02, 0x0a, 0x00]);
}

/// One direction of an in-memory link: bytes in flight, delivered in
/// fragments of at most `frag` bytes; the receiver reads plaintext in
/// chunks of at most `read` bytes.
struct Link {
    wire: Vec<u8>,
    got: Vec<u8>,
}

impl Link {
    fn new() -> Self {
        Link {
            wire: Vec::new(),
            got: Vec::new(),
        }
    }

    fn deliver(&mut self, to: &mut SecretConnection, frag: usize, read: usize) -> bool {
        let n = frag.min(self.wire.len());
        let used = to.handle_input(&self.wire[..n]).unwrap();
        assert!(used <= n);
        self.wire.drain(..used);
        let p = to.plaintext();
        let r = read.min(p.len());
        self.got.extend_from_slice(&p[..r]);
        to.consume_plaintext(r);
        used > 0 || r > 0
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn run_pair(frag: usize, read: usize) {
    let mut a = SecretConnection::new(&key_a(), [1; 32]);
    let mut b = SecretConnection::new(&key_b(), [2; 32]);
    let (mut ab, mut ba) = (Link::new(), Link::new());
    let msg_a = pattern(5000, 1);
    let msg_b = pattern(2049, 7);
    let (mut sent_a, mut sent_b) = (0, 0);
    let mut buf = [0u8; 3 * 1044];
    for _ in 0..200_000 {
        let mut progress = false;
        for (c, link) in [(&mut a, &mut ab), (&mut b, &mut ba)] {
            let lim = frag.min(buf.len());
            let n = c.poll_transmit(&mut buf[..lim]);
            link.wire.extend_from_slice(&buf[..n]);
            progress |= n > 0;
        }
        if a.is_established() && sent_a < msg_a.len() {
            let (used, n) = a.seal(&msg_a[sent_a..], &mut buf).unwrap();
            sent_a += used;
            ab.wire.extend_from_slice(&buf[..n]);
            progress = true;
        }
        if b.is_established() && sent_b < msg_b.len() {
            let (used, n) = b.seal(&msg_b[sent_b..], &mut buf).unwrap();
            sent_b += used;
            ba.wire.extend_from_slice(&buf[..n]);
            progress = true;
        }
        progress |= ab.deliver(&mut b, frag, read);
        progress |= ba.deliver(&mut a, frag, read);
        if !progress {
            break;
        }
    }
    assert!(a.is_established() && b.is_established());
    assert_eq!(ab.got, msg_a, "frag {frag} read {read}");
    assert_eq!(ba.got, msg_b, "frag {frag} read {read}");
    assert_eq!(a.remote_id(), Some(key_b().node_id()));
    assert_eq!(b.remote_id(), Some(key_a().node_id()));
}

#[test]
fn any_fragmentation_both_ways() {
    for frag in [1, 7, 35, 36, 1043, 1044, 1045, usize::MAX] {
        for read in [1, 100, usize::MAX] {
            run_pair(frag, read);
        }
    }
}

#[test]
fn back_pressure_until_plaintext_consumed() {
    let (mut a, mut b) = established();
    let mut out = [0u8; 3 * 1044];
    let (used, n) = a.seal(&pattern(2100, 3), &mut out).unwrap();
    assert_eq!((used, n), (2100, 3 * 1044));
    // Only the first frame is taken while its plaintext is pending.
    assert_eq!(b.handle_input(&out[..n]), Ok(1044));
    assert_eq!(b.handle_input(&out[1044..n]), Ok(0));
    assert_eq!(b.plaintext().len(), 1024);
    b.consume_plaintext(1000);
    assert_eq!(b.handle_input(&out[1044..n]), Ok(0));
    b.consume_plaintext(usize::MAX);
    assert!(b.plaintext().is_empty());
    assert_eq!(b.handle_input(&out[1044..n]), Ok(1044));
    assert_eq!(b.plaintext(), &pattern(2100, 3)[1024..2048]);
}

#[test]
fn misuse_before_establishment() {
    let mut a = machine_a();
    let mut out = [0u8; 1044];
    assert_eq!(
        a.seal_frame(&mut out, |_| 1),
        Err(SecretError::NotEstablished)
    );
    assert_eq!(a.seal(b"x", &mut out), Err(SecretError::NotEstablished));
    assert!(a.plaintext().is_empty());
    a.consume_plaintext(10); // harmless
    assert_eq!(a.error(), None);
    let (mut a, _b) = established();
    assert_eq!(
        a.seal(b"x", &mut out[..100]),
        Err(SecretError::BufferTooSmall)
    );
    assert_eq!(
        a.seal_frame(&mut out, |_| 2000),
        Err(SecretError::PayloadTooLarge)
    );
    assert_eq!(a.error(), None, "misuse is not fatal");
    assert_eq!(a.seal_frame(&mut out, |_| 0), Ok(0));
}

/// Both §2.10 machines, established; all handshake bytes exchanged.
fn established() -> (SecretConnection, SecretConnection) {
    let mut a = machine_a();
    let mut b = machine_b();
    let ea = drain(&mut a);
    let eb = drain(&mut b);
    a.handle_input(&eb).unwrap();
    b.handle_input(&ea).unwrap();
    let fa = drain(&mut a);
    let fb = drain(&mut b);
    assert_eq!(b.handle_input(&fa), Ok(1044));
    assert_eq!(a.handle_input(&fb), Ok(1044));
    assert!(a.is_established() && b.is_established());
    (a, b)
}

/// B with A's ephemeral key already delivered; returns (B, A's sealer).
/// The test then plays A by hand.
fn b_facing_scripted_a() -> (SecretConnection, FrameSealer<RustCryptoChaCha>) {
    let mut b = machine_b();
    let _ = drain(&mut b);
    let a_eph = encode_ephemeral(
        &x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(arr::<32>(A_EPH)))
            .to_bytes(),
    );
    assert_eq!(b.handle_input(&a_eph), Ok(35));
    (b, FrameSealer::new(&arr(A_SEND)))
}

fn sealed(sealer: &mut FrameSealer<RustCryptoChaCha>, data: &[u8]) -> [u8; 1044] {
    let mut f = [0u8; 1044];
    assert_eq!(
        sealer.seal(&mut f, |buf| {
            buf[..data.len()].copy_from_slice(data);
            data.len()
        }),
        Ok(1044)
    );
    f
}

fn a_auth_sig() -> [u8; 103] {
    let msg = AuthSig {
        pub_key: key_a().public_key().0,
        sig: key_a().sign(&arr::<32>(CHALLENGE)),
    };
    let mut out = [0u8; 103];
    msg.encode_delimited(&mut out).unwrap();
    out
}

#[test]
fn auth_sig_with_trailing_plaintext_and_split_across_frames() {
    // AuthSig + "hello" in one frame: "hello" stays for the next layer.
    let (mut b, mut a) = b_facing_scripted_a();
    let mut data = a_auth_sig().to_vec();
    data.extend_from_slice(b"hello");
    assert_eq!(b.handle_input(&sealed(&mut a, &data)), Ok(1044));
    assert_eq!(b.remote_id(), Some(key_a().node_id()));
    assert_eq!(b.plaintext(), b"hello");

    // AuthSig split over three frames (1 byte, 60 bytes, rest + "xyz").
    let (mut b, mut a) = b_facing_scripted_a();
    let sig = a_auth_sig();
    let mut wire = Vec::new();
    wire.extend_from_slice(&sealed(&mut a, &sig[..1]));
    wire.extend_from_slice(&sealed(&mut a, &sig[1..61]));
    let mut last = sig[61..].to_vec();
    last.extend_from_slice(b"xyz");
    wire.extend_from_slice(&sealed(&mut a, &last));
    assert_eq!(b.handle_input(&wire), Ok(3 * 1044));
    assert_eq!(b.remote_id(), Some(key_a().node_id()));
    assert_eq!(b.plaintext(), b"xyz");
    // Not established until B's own AuthSig frame is handed out.
    assert!(!b.is_established());
    assert_eq!(drain(&mut b).len(), 1044);
    assert!(b.is_established());
}

// ---- one test per bad input; each ends in its typed error ----

fn feed_eph(msg: &[u8]) -> Result<usize, SecretError> {
    let mut b = machine_b();
    let _ = drain(&mut b);
    b.handle_input(msg)
}

#[test]
fn truncated_ephemeral_message_stalls() {
    let mut b = machine_b();
    let _ = drain(&mut b);
    let msg = encode_ephemeral(&[9; 32]);
    assert_eq!(b.handle_input(&msg[..20]), Ok(20));
    // Stalled: no error, nothing to send, not established (the host's
    // handshake timeout ends this).
    assert_eq!(b.handle_input(&[]), Ok(0));
    assert!(drain(&mut b).is_empty());
    assert!(!b.is_established() && b.error().is_none());
    // The rest completes it.
    assert_eq!(b.handle_input(&msg[20..]), Ok(15));
    assert_eq!(drain(&mut b).len(), 1044);
}

#[test]
fn oversize_ephemeral_message() {
    let mut msg = encode_ephemeral(&[9; 32]);
    msg[0] = 35;
    assert_eq!(
        feed_eph(&msg),
        Err(SecretError::EphemeralKeyInvalid(DecodeError::TooLarge))
    );
    // A 1 MiB length prefix.
    assert_eq!(
        feed_eph(&[0x80, 0x80, 0x40, 0x0a]),
        Err(SecretError::EphemeralKeyInvalid(DecodeError::TooLarge))
    );
    // Shorter value inside a shorter message.
    let mut short = [0u8; 34];
    short[..3].copy_from_slice(&[33, 0x0a, 31]);
    assert_eq!(
        feed_eph(&short),
        Err(SecretError::EphemeralKeyInvalid(DecodeError::Invalid))
    );
    // Errors are sticky.
    let mut b = machine_b();
    assert!(b.handle_input(&msg).is_err());
    assert_eq!(
        b.handle_input(&encode_ephemeral(&[9; 32])),
        Err(SecretError::EphemeralKeyInvalid(DecodeError::TooLarge))
    );
    assert_eq!(b.poll_transmit(&mut [0u8; 64]), 0);
}

#[test]
fn reflected_ephemeral_key() {
    let mut b = machine_b();
    let own = drain(&mut b);
    assert_eq!(
        b.handle_input(&own),
        Err(SecretError::EphemeralKeyInvalid(DecodeError::Invalid))
    );
}

#[test]
fn low_order_points() {
    for p in handshake::LOW_ORDER_POINTS {
        assert_eq!(
            feed_eph(&encode_ephemeral(&p)),
            Err(SecretError::LowOrderPoint)
        );
        let mut high = p;
        high[31] |= 0x80;
        assert_eq!(
            feed_eph(&encode_ephemeral(&high)),
            Err(SecretError::LowOrderPoint)
        );
    }
}

#[test]
fn tampered_frame() {
    // Tampered AuthSig frame.
    let (mut b, mut a) = b_facing_scripted_a();
    let mut f = sealed(&mut a, &a_auth_sig());
    f[10] ^= 1;
    assert_eq!(b.handle_input(&f), Err(SecretError::FrameAuthFailed));
    // Tampered data frame (tag byte).
    let (mut a, mut b) = established();
    let mut out = [0u8; 1044];
    a.seal(b"data", &mut out).unwrap();
    out[1043] ^= 1;
    assert_eq!(b.handle_input(&out), Err(SecretError::FrameAuthFailed));
    assert!(b.plaintext().is_empty());
    assert!(!b.is_established());
}

#[test]
fn replayed_frame() {
    let (mut a, mut b) = established();
    let mut out = [0u8; 1044];
    a.seal(b"once", &mut out).unwrap();
    assert_eq!(b.handle_input(&out), Ok(1044));
    b.consume_plaintext(4);
    assert_eq!(b.handle_input(&out), Err(SecretError::FrameAuthFailed));
}

#[test]
fn reordered_frames() {
    let (mut a, mut b) = established();
    let mut one = [0u8; 1044];
    let mut two = [0u8; 1044];
    a.seal(b"one", &mut one).unwrap();
    a.seal(b"two", &mut two).unwrap();
    assert_eq!(b.handle_input(&two), Err(SecretError::FrameAuthFailed));
}

#[test]
fn frame_length_above_1024() {
    let (mut a_conn, mut b) = established();
    let _ = &mut a_conn;
    // Frame #1 from A with a length field of 1025, sealed with A's send key.
    let aead = RustCryptoChaCha::new(&arr(A_SEND));
    let mut f = [0u8; 1044];
    f[..4].copy_from_slice(&1025u32.to_le_bytes());
    let tag = aead.seal_in_place(&nonce(1), &mut f[..1028]).unwrap();
    f[1028..].copy_from_slice(&tag);
    assert_eq!(b.handle_input(&f), Err(SecretError::FrameLengthInvalid));
}

#[test]
fn wrong_signature() {
    // Signature over the wrong message.
    let (mut b, mut a) = b_facing_scripted_a();
    let mut sig = a_auth_sig();
    sig[39..].copy_from_slice(&key_a().sign(b"something else"));
    assert_eq!(
        b.handle_input(&sealed(&mut a, &sig)),
        Err(SecretError::BadSignature)
    );
    // Valid signature, but claiming someone else's key.
    let (mut b, mut a) = b_facing_scripted_a();
    let mut sig = a_auth_sig();
    sig[5..37].copy_from_slice(&NodeKey::from_seed([5; 32]).public_key().0);
    assert_eq!(
        b.handle_input(&sealed(&mut a, &sig)),
        Err(SecretError::BadSignature)
    );
    // A key that is not a curve point.
    let (mut b, mut a) = b_facing_scripted_a();
    let mut sig = a_auth_sig();
    sig[5..37].copy_from_slice(&[0xff; 32]);
    assert_eq!(
        b.handle_input(&sealed(&mut a, &sig)),
        Err(SecretError::BadSignature)
    );
    assert!(!PublicKey([0xff; 32]).verify(b"", &[0; 64]));
}

#[test]
fn non_ed25519_key() {
    // secp256k1: PublicKey field 2 with 33 bytes.
    let (mut b, mut a) = b_facing_scripted_a();
    let mut msg = Vec::new();
    msg.extend_from_slice(&[0x67, 0x0a, 0x23, 0x12, 0x21]);
    msg.extend_from_slice(&[2; 33]);
    msg.extend_from_slice(&[0x12, 0x40]);
    msg.extend_from_slice(&[0; 64]);
    assert_eq!(
        b.handle_input(&sealed(&mut a, &msg)),
        Err(SecretError::UnsupportedKeyType)
    );
}

#[test]
fn malformed_and_oversize_auth_sig() {
    let (mut b, mut a) = b_facing_scripted_a();
    assert_eq!(
        b.handle_input(&sealed(&mut a, &[0x80, 0x20])),
        Err(SecretError::AuthSigInvalid(DecodeError::TooLarge))
    );
    let (mut b, mut a) = b_facing_scripted_a();
    assert_eq!(
        b.handle_input(&sealed(&mut a, &[0x02, 0x0b, 0x00])),
        Err(SecretError::AuthSigInvalid(DecodeError::InvalidField))
    );
    let (mut b, mut a) = b_facing_scripted_a();
    assert_eq!(
        b.handle_input(&sealed(&mut a, &[0x00])),
        Err(SecretError::AuthSigInvalid(DecodeError::Invalid))
    );
}

#[test]
fn nonce_exhaustion() {
    let (mut a, mut b) = established();
    a.set_counters(u64::MAX - 1, 0);
    b.set_counters(0, u64::MAX - 1);
    let mut out = [0u8; 1044];
    assert_eq!(a.seal(b"last", &mut out), Ok((4, 1044)));
    assert_eq!(b.handle_input(&out), Ok(1044));
    assert_eq!(b.plaintext(), b"last");
    b.consume_plaintext(4);
    assert_eq!(a.seal(b"more", &mut out), Err(SecretError::NonceExhausted));
    assert_eq!(a.error(), Some(SecretError::NonceExhausted));
    assert_eq!(b.handle_input(&out), Err(SecretError::NonceExhausted));
}

#[cfg(feature = "ring")]
#[test]
fn ring_backend_interoperates() {
    let ka = key_a();
    let kb = key_b();
    let mut a = SecretConnection::<RingChaCha>::with_backend(&ka, arr(A_EPH));
    let mut b = SecretConnection::with_kind(&kb, arr(B_EPH), AeadKind::RustCrypto);
    let mut buf = [0u8; 4096];
    let n = a.poll_transmit(&mut buf);
    b.handle_input(&buf[..n]).unwrap();
    let n = b.poll_transmit(&mut buf);
    a.handle_input(&buf[..n]).unwrap();
    let n = a.poll_transmit(&mut buf);
    // Same bytes as the RustCrypto machine (spec §2.10 frame #0).
    assert_eq!(
        Sha256::digest(&buf[..n])[..],
        unhex("90611f539b2a799096f1f061acffc3cc47813bda5cf69123dbfae3508c16313f")[..]
    );
    b.handle_input(&buf[..n]).unwrap();
    let n = b.poll_transmit(&mut buf);
    a.handle_input(&buf[..n]).unwrap();
    assert!(a.is_established() && b.is_established());
    assert_eq!(a.remote_id(), Some(kb.node_id()));
    let (_, n) = a.seal(&[7; 3000], &mut buf).unwrap();
    assert_eq!(b.handle_input(&buf[..n]), Ok(1044));
    assert_eq!(b.plaintext(), &[7; 1024][..]);
}

#[test]
fn eph_and_auth_sig_in_one_read() {
    let mut a = machine_a();
    let mut b = machine_b();
    let b_eph = drain(&mut b);
    a.handle_input(&b_eph).unwrap();
    // A's whole handshake output (eph msg + frame #0) plus a data frame's
    // first bytes arrive in one read at B.
    let mut wire = drain(&mut a);
    assert_eq!(wire.len(), 35 + 1044);
    wire.extend_from_slice(&[1, 2, 3]);
    assert_eq!(b.handle_input(&wire), Ok(35 + 1044 + 3));
    assert_eq!(b.remote_id(), Some(key_a().node_id()));
    assert_eq!(drain(&mut b).len(), 1044);
    assert!(b.is_established());
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Arbitrary bytes from the peer, at any point, in any fragments:
        /// a result or a typed error, never a panic.
        #[test]
        fn garbage_never_panics(
            prefix in 0usize..3,
            data in proptest::collection::vec(any::<u8>(), 0..3000),
            cuts in proptest::collection::vec(1usize..1200, 1..8),
        ) {
            // 0: garbage instead of the eph msg; 1: after a valid eph msg;
            // 2: after a valid eph msg and AuthSig (established stream).
            let mut wire = Vec::new();
            let mut b = if prefix == 2 {
                let (mut b, mut a) = b_facing_scripted_a();
                let _ = drain(&mut b);
                wire.extend_from_slice(&sealed(&mut a, &a_auth_sig()));
                b
            } else {
                let mut b = machine_b();
                let _ = drain(&mut b);
                if prefix == 1 {
                    wire.extend_from_slice(&encode_ephemeral(&[9; 32]));
                }
                b
            };
            wire.extend_from_slice(&data);
            let mut off = 0;
            for cut in cuts.iter().cycle().take(64) {
                let end = (off + cut).min(wire.len());
                match b.handle_input(&wire[off..end]) {
                    Ok(n) => off += n,
                    Err(e) => {
                        prop_assert!(e.is_fatal());
                        prop_assert_eq!(b.handle_input(&[]), Err(e));
                        break;
                    }
                }
                let n = b.plaintext().len();
                b.consume_plaintext(n);
                if off >= wire.len() {
                    break;
                }
            }
        }
    }
}
