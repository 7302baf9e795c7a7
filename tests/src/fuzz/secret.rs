//! Targets `secret_handshake`, `secret_frames` and `auth_sig`: the
//! SecretConnection against a peer that sends arbitrary bytes, an arbitrary
//! ephemeral key, validly sealed frames with arbitrary plaintext (our side's
//! keys are deterministic, so the harness can seal as the peer), and, after
//! a real handshake, arbitrary ciphertext or arbitrary sealed plaintext that
//! reaches an MConnection behind the encryption.

use std::sync::OnceLock;

use mconn::identity::{NodeId, NodeKey, PeerAddr, PublicKey};
use mconn::secret::frame::nonce;
use mconn::secret::handshake::{challenge, derive_keys, diffie_hellman, sort_ephemeral};
use mconn::secret::{
    AeadBackend, FrameOpener, RustCryptoChaCha, SecretConnection, SecretError, DATA_MAX_SIZE,
    FRAME_PLAINTEXT_LEN, LEN_PREFIX_SIZE, SEALED_FRAME_LEN,
};
use mconn::wire::auth::{self, AuthSig, AUTH_SIG_MSG_LEN, EPH_MSG_LEN};

use super::packet_stream::StreamCheck;
use super::{chunks, Input, Rng};

const LOCAL_EPHEMERAL: [u8; 32] = [11; 32];
const PEER_EPHEMERAL: [u8; 32] = [22; 32];
const MAX_CHUNKS: [usize; 4] = [1, 37, 1044, usize::MAX];

/// The deterministic handshake between our side (A) and the peer (B).
pub(crate) struct Transcript {
    pub local: NodeKey,
    pub peer: NodeKey,
    /// B's ephemeral-key message.
    pub peer_eph_msg: [u8; EPH_MSG_LEN],
    /// Key of the B→A direction (what B seals with).
    pub peer_send: [u8; 32],
    /// Key of the A→B direction (what B opens with).
    pub peer_recv: [u8; 32],
    /// The challenge both sides sign.
    pub challenge: [u8; 32],
    /// B's delimited AuthSig (the plaintext of its frame 0).
    pub peer_auth: [u8; AUTH_SIG_MSG_LEN],
}

pub(crate) fn transcript() -> &'static Transcript {
    static T: OnceLock<Transcript> = OnceLock::new();
    T.get_or_init(|| {
        let local = NodeKey::from_seed([1; 32]);
        let peer = NodeKey::from_seed([2; 32]);
        let a_eph = SecretConnection::new(&local, LOCAL_EPHEMERAL).local_ephemeral_key();
        let b_secret = x25519_dalek::StaticSecret::from(PEER_EPHEMERAL);
        let b_eph = x25519_dalek::PublicKey::from(&b_secret).to_bytes();
        let shared = diffie_hellman(&b_secret, &a_eph).expect("honest keys");
        let (lo, hi, b_is_least) = sort_ephemeral(&b_eph, &a_eph);
        let challenge = challenge(&lo, &hi, shared.as_bytes());
        let keys = derive_keys(shared.as_bytes(), b_is_least);
        let mut peer_auth = [0u8; AUTH_SIG_MSG_LEN];
        AuthSig {
            pub_key: peer.public_key().0,
            sig: peer.sign(&challenge),
        }
        .encode_delimited(&mut peer_auth)
        .expect("sized");
        Transcript {
            peer_eph_msg: auth::encode_ephemeral(&b_eph),
            peer_send: keys.send,
            peer_recv: keys.recv,
            challenge,
            peer_auth,
            local,
            peer,
        }
    })
}

/// Seals frames as B, including frames no honest sender would make.
struct PeerSealer {
    aead: RustCryptoChaCha,
    counter: u64,
}

impl PeerSealer {
    fn new() -> Self {
        PeerSealer {
            aead: RustCryptoChaCha::new(&transcript().peer_send),
            counter: 0,
        }
    }

    /// A frame whose length field says `len` and whose payload area starts
    /// with `data` (zero padded).
    fn frame(&mut self, len: u32, data: &[u8]) -> Vec<u8> {
        let mut frame = vec![0u8; SEALED_FRAME_LEN];
        let (plain, tag) = frame.split_at_mut(FRAME_PLAINTEXT_LEN);
        plain[..LEN_PREFIX_SIZE].copy_from_slice(&len.to_le_bytes());
        let n = data.len().min(DATA_MAX_SIZE);
        plain[LEN_PREFIX_SIZE..LEN_PREFIX_SIZE + n].copy_from_slice(&data[..n]);
        let t = self
            .aead
            .seal_in_place(&nonce(self.counter), plain)
            .expect("seal");
        tag.copy_from_slice(&t);
        self.counter += 1;
        frame
    }
}

/// What the peer's frames should do to our side.
#[derive(Debug, Default)]
struct Frames {
    wire: Vec<u8>,
    /// Plaintext of every frame before the first bad one, in order.
    plain: Vec<u8>,
    /// The error the first bad frame must cause, once delivered whole
    /// (`None` with `unknown`: misaligned garbage, any outcome).
    error: Option<SecretError>,
    /// Garbage bytes broke the framing: from there on anything goes.
    unknown: bool,
}

impl Frames {
    fn push_ok(&mut self, frame: Vec<u8>, payload: &[u8]) {
        if self.error.is_none() && !self.unknown {
            self.plain.extend_from_slice(payload);
        }
        self.wire.extend_from_slice(&frame);
    }

    fn push_bad(&mut self, bytes: &[u8], error: Option<SecretError>) {
        if self.error.is_none() && !self.unknown {
            match error {
                Some(e) => self.error = Some(e),
                None => self.unknown = true,
            }
        }
        self.wire.extend_from_slice(bytes);
    }

    /// Frames from a script: per frame a kind byte, then its arguments.
    fn script(&mut self, sealer: &mut PeerSealer, input: &mut Input<'_>, first: &[u8]) {
        if !first.is_empty() {
            let frame = sealer.frame(first.len() as u32, first);
            self.push_ok(frame, first);
        }
        for _ in 0..256 {
            if input.is_empty() {
                break;
            }
            match input.u8() & 7 {
                // A valid frame of 0..=1024 payload bytes.
                0..=3 => {
                    let len = usize::from(input.u16()) % (DATA_MAX_SIZE + 1);
                    let mut data = input.bytes(len).to_vec();
                    data.resize(len, 0);
                    let frame = sealer.frame(len as u32, &data);
                    self.push_ok(frame, &data);
                }
                // Any length field, sealed validly.
                4 => {
                    let len = u32::from_le_bytes([input.u8(), input.u8(), input.u8(), input.u8()]);
                    let data = input.bytes(64).to_vec();
                    let frame = sealer.frame(len, &data);
                    if len as usize > DATA_MAX_SIZE {
                        self.push_bad(&frame, Some(SecretError::FrameLengthInvalid));
                    } else {
                        let mut payload = data;
                        payload.resize(len as usize, 0);
                        self.push_ok(frame, &payload);
                    }
                }
                // A skipped counter (a dropped frame).
                5 => {
                    sealer.counter += 1;
                    let frame = sealer.frame(1, b"x");
                    self.push_bad(&frame, Some(SecretError::FrameAuthFailed));
                }
                // A flipped bit in a valid frame.
                6 => {
                    let at = usize::from(input.u16()) % SEALED_FRAME_LEN;
                    let mut frame = sealer.frame(3, b"abc");
                    frame[at] ^= 1 << (input.u8() & 7);
                    self.push_bad(&frame, Some(SecretError::FrameAuthFailed));
                }
                // Raw bytes.
                _ => {
                    let len = usize::from(input.u16()) % (SEALED_FRAME_LEN + 1);
                    let bytes = input.bytes(len).to_vec();
                    if !bytes.is_empty() {
                        self.push_bad(&bytes, None);
                    }
                }
            }
        }
    }
}

/// Our side, with what it delivered.
struct Local {
    conn: SecretConnection,
    plain: Vec<u8>,
    sent: Vec<u8>,
    error: Option<SecretError>,
    consumed: usize,
}

impl Local {
    fn new() -> Self {
        Local {
            conn: SecretConnection::new(&transcript().local, LOCAL_EPHEMERAL),
            plain: Vec::new(),
            sent: Vec::new(),
            error: None,
            consumed: 0,
        }
    }

    fn transmit(&mut self, size: usize) {
        let mut out = vec![0u8; size];
        let n = self.conn.poll_transmit(&mut out);
        assert!(n <= size);
        if self.error.is_some() {
            assert_eq!(n, 0, "failed connection transmits");
        }
        self.sent.extend_from_slice(&out[..n]);
    }

    /// Feeds one read, taking plaintext as it appears (into `sink`, if any).
    fn feed(&mut self, chunk: &[u8], mut sink: Option<&mut StreamCheck>) {
        let mut off = 0;
        for _ in 0..chunk.len() + 2 {
            if let Some(e) = self.error {
                assert_eq!(self.conn.handle_input(&chunk[off..]), Err(e));
                return;
            }
            match self.conn.handle_input(&chunk[off..]) {
                Ok(n) => {
                    assert!(n <= chunk.len() - off, "consumed more than offered");
                    off += n;
                    self.consumed += n;
                }
                Err(e) => {
                    assert!(e.is_fatal(), "non-fatal error from input: {e:?}");
                    assert_eq!(self.conn.error(), Some(e));
                    assert!(self.conn.plaintext().is_empty());
                    self.error = Some(e);
                    return;
                }
            }
            let plain = self.conn.plaintext();
            if !plain.is_empty() {
                assert!(self.conn.remote_id().is_some(), "plaintext before auth");
                self.plain.extend_from_slice(plain);
                if let Some(check) = sink.as_deref_mut() {
                    check.feed(plain);
                }
                let len = plain.len();
                self.conn.consume_plaintext(len);
                continue;
            }
            if off == chunk.len() {
                return;
            }
        }
        panic!("no progress feeding the SecretConnection");
    }

    /// The peer's key is ours to know only if it really signed.
    fn check_identity(&self) {
        let t = transcript();
        if let Some(key) = self.conn.remote_public_key() {
            assert_eq!(key, t.peer.public_key(), "authenticated a forged key");
            assert_eq!(self.conn.remote_id(), Some(key.node_id()));
        } else {
            assert!(!self.conn.is_established());
            assert!(self.plain.is_empty());
        }
    }

    /// What we sent must be a correct handshake: our ephemeral key, then an
    /// AuthSig sealed under the A→B key that verifies over the challenge.
    fn check_sent(&self, honest_peer: bool) {
        let t = transcript();
        let eph = auth::encode_ephemeral(&self.conn.local_ephemeral_key());
        let n = self.sent.len().min(EPH_MSG_LEN);
        assert_eq!(self.sent[..n], eph[..n], "ephemeral message");
        if self.sent.len() < EPH_MSG_LEN + SEALED_FRAME_LEN || !honest_peer {
            return;
        }
        assert_eq!(self.sent.len(), EPH_MSG_LEN + SEALED_FRAME_LEN);
        let mut frame = self.sent[EPH_MSG_LEN..].to_vec();
        let mut opener = FrameOpener::<RustCryptoChaCha>::new(&t.peer_recv);
        let len = opener.open(&mut frame).expect("our auth frame opens");
        assert_eq!(len, AUTH_SIG_MSG_LEN);
        let sig =
            AuthSig::decode(&frame[LEN_PREFIX_SIZE + 1..LEN_PREFIX_SIZE + len]).expect("ours");
        assert_eq!(sig.pub_key, t.local.public_key().0);
        assert!(PublicKey(sig.pub_key).verify(&t.challenge, &sig.sig));
    }
}

/// Checks what our side delivered against what the peer's frames say.
fn check_delivery(local: &Local, frames: &Frames, skip: usize) {
    let expected = frames.plain.get(skip..).unwrap_or(&[]);
    if frames.unknown {
        // Everything before the garbage still arrived in order.
        let n = local.plain.len().min(expected.len());
        assert_eq!(local.plain[..n], expected[..n]);
        return;
    }
    assert_eq!(local.plain, expected, "plaintext delivered");
    match frames.error {
        Some(e) if local.consumed == frames.wire.len() => {
            assert_eq!(local.error, Some(e), "error of the bad frame")
        }
        Some(_) => {}
        None => assert_eq!(local.error, None),
    }
}

/// See the module docs.
pub fn secret_handshake(data: &[u8]) {
    let t = transcript();
    let mut input = Input::new(data);
    let mode = input.u8();
    let seed = input.u8();
    let mut rng = Rng::new(u64::from(seed));
    let max_chunk = MAX_CHUNKS[usize::from(mode >> 2) & 3];
    let mut frames = Frames::default();
    let mut sealer = PeerSealer::new();
    let mut peer = Vec::new();
    match mode & 3 {
        0 => peer.extend_from_slice(input.rest()),
        1 => {
            let mut key = [0u8; 32];
            key.copy_from_slice(&{
                let mut k = input.bytes(32).to_vec();
                k.resize(32, 0);
                k
            });
            peer.extend_from_slice(&auth::encode_ephemeral(&key));
            peer.extend_from_slice(input.rest());
        }
        2 => {
            peer.extend_from_slice(&t.peer_eph_msg);
            frames.script(&mut sealer, &mut input, &[]);
        }
        _ => {
            peer.extend_from_slice(&t.peer_eph_msg);
            let extra = usize::from(input.u8());
            let mut first = t.peer_auth.to_vec();
            first.extend_from_slice(input.bytes(extra.min(DATA_MAX_SIZE - AUTH_SIG_MSG_LEN)));
            frames.script(&mut sealer, &mut input, &first);
        }
    }
    let handshake_len = peer.len();
    peer.extend_from_slice(&frames.wire);

    let mut local = Local::new();
    local.transmit(rng.range(0, 40));
    for chunk in chunks(&peer, max_chunk, &mut rng) {
        local.feed(chunk, None);
        local.transmit(rng.range(0, 1100));
        local.check_identity();
    }
    local.transmit(4096);
    local.check_sent(peer.starts_with(&t.peer_eph_msg));
    local.check_identity();
    assert_eq!(local.error, local.conn.error());
    match mode & 3 {
        0 | 1 => {
            // Only the real peer's own bytes can authenticate (as the peer).
            if let Some(e) = local.error {
                assert!(
                    matches!(
                        e,
                        SecretError::EphemeralKeyInvalid(_)
                            | SecretError::LowOrderPoint
                            | SecretError::FrameAuthFailed
                    ),
                    "{e:?}"
                );
            }
        }
        2 => {}
        _ => {
            // The real AuthSig came first: we are established unless a frame
            // before the end of the AuthSig was bad.
            if local.consumed >= handshake_len + SEALED_FRAME_LEN {
                assert!(local.conn.remote_public_key().is_some());
            }
            if local.conn.remote_public_key().is_some() {
                check_delivery(&local, &frames, AUTH_SIG_MSG_LEN);
            }
        }
    }
    if local.conn.is_established() {
        let mut out = vec![0u8; SEALED_FRAME_LEN];
        assert_eq!(
            local.conn.seal(b"pong", &mut out),
            Ok((4, SEALED_FRAME_LEN))
        );
        let mut opener = FrameOpener::<RustCryptoChaCha>::new(&t.peer_recv);
        let mut auth_frame = local.sent[EPH_MSG_LEN..].to_vec();
        opener.open(&mut auth_frame).expect("auth frame");
        assert_eq!(opener.open(&mut out), Ok(4));
        assert_eq!(&out[LEN_PREFIX_SIZE..LEN_PREFIX_SIZE + 4], b"pong");
    }
}

/// See the module docs.
pub fn secret_frames(data: &[u8]) {
    let t = transcript();
    let mut input = Input::new(data);
    let cfg = input.u8();
    let mode = input.u8();
    let seed = input.u8();
    let mut rng = Rng::new(u64::from(seed));
    let max_chunk = MAX_CHUNKS[usize::from(mode >> 2) & 3];

    // A real handshake first.
    let mut local = Local::new();
    let mut sealer = PeerSealer::new();
    let mut handshake = t.peer_eph_msg.to_vec();
    handshake.extend_from_slice(&sealer.frame(AUTH_SIG_MSG_LEN as u32, &t.peer_auth));
    local.transmit(4096);
    local.feed(&handshake, None);
    local.transmit(4096);
    assert!(local.conn.is_established(), "{:?}", local.conn.error());
    let consumed = local.consumed;

    let mut check = StreamCheck::new(cfg);
    let mut frames = Frames::default();
    if mode & 1 == 0 {
        frames.script(&mut sealer, &mut input, &[]);
    } else {
        let raw = input.rest();
        frames.wire.extend_from_slice(raw);
        if raw.len() >= SEALED_FRAME_LEN {
            frames.error = Some(SecretError::FrameAuthFailed);
        }
    }
    for chunk in chunks(&frames.wire, max_chunk, &mut rng) {
        local.feed(chunk, Some(&mut check));
    }
    local.consumed -= consumed;
    local.check_identity();
    check_delivery(&local, &frames, 0);
    // The MConnection behind the encryption saw exactly the plaintext.
    check.finish(&local.plain);
}

/// See the module docs.
pub fn auth_sig(data: &[u8]) {
    if let Ok(sig) = AuthSig::decode(data) {
        let mut buf = [0u8; AUTH_SIG_MSG_LEN];
        assert_eq!(sig.encode_delimited(&mut buf), Ok(AUTH_SIG_MSG_LEN));
        assert_eq!(AuthSig::decode(&buf[1..]), Ok(sig), "round trip");
        // A random key and signature do not verify over a fixed challenge.
        let _ = PublicKey(sig.pub_key).verify(&[0; 32], &sig.sig);
    }
    match auth::decode_ephemeral(data) {
        Ok((key, used)) => {
            assert_eq!(used, EPH_MSG_LEN);
            assert_eq!(auth::encode_ephemeral(&key)[..], data[..EPH_MSG_LEN]);
        }
        Err(e) => {
            assert!(data.len() < EPH_MSG_LEN || data[..3] != [0x22, 0x0a, 0x20]);
            // With the whole message present, "feed more bytes" would hang
            // the handshake.
            if data.len() >= EPH_MSG_LEN {
                assert_ne!(e, mconn::wire::DecodeError::Truncated);
            }
        }
    }
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(id) = text.parse::<NodeId>() {
            assert_eq!(id.to_string(), text.to_ascii_lowercase());
        }
        if let Ok(addr) = PeerAddr::parse(text) {
            let (id, _) = text.split_once('@').expect("parsed an id@");
            let id = id.strip_prefix("tcp://").unwrap_or(id);
            assert_eq!(id.parse::<NodeId>(), Ok(addr.id));
            assert!(!addr.host.is_empty());
        }
    }
}
