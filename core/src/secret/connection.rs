//! The SecretConnection state machine (spec §2.11).

use super::aead::{Aead, AeadBackend, AeadKind};
use super::frame::{FrameOpener, FrameSealer, DATA_MAX_SIZE, LEN_PREFIX_SIZE, SEALED_FRAME_LEN};
use super::handshake::{challenge, derive_keys, diffie_hellman, sort_ephemeral};
use super::SecretError;
use crate::identity::{NodeId, NodeKey, PublicKey};
use crate::wire::auth::{self, AuthSig, AUTH_SIG_MAX_BODY, EPH_MSG_LEN};
use crate::wire::{varint, DecodeError};
use rand_core::CryptoRngCore;
use zeroize::Zeroize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tx {
    /// Sending the ephemeral-key message.
    Eph,
    /// Waiting for the peer's ephemeral key to seal our AuthSig.
    AwaitKeys,
    /// Sending the sealed AuthSig frame.
    Auth,
    /// Handshake output complete.
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rx {
    /// Receiving the peer's ephemeral-key message (staged in `rx_buf`).
    Eph,
    /// Receiving frames that carry the peer's AuthSig.
    Auth,
    /// The peer is authenticated; frames carry application bytes.
    Established,
}

/// Room for a delimited AuthSig: its varint length plus the body.
const AUTH_BUF_LEN: usize = varint::MAX_LEN + AUTH_SIG_MAX_BODY;

/// A sans-IO SecretConnection: the STS handshake and the sealed frame
/// stream of one TCP connection. See the [module docs](super) for the
/// driving loop.
///
/// Memory: two 1044-byte frame buffers plus a few hundred bytes; no
/// allocation. The output buffer carries the handshake, then a frame
/// sealed for a caller whose buffer had less room than a frame (see
/// [`stage_frame`](Self::stage_frame)). Secrets (ephemeral key, node key copy, session keys) are
/// wiped when no longer needed or on drop.
pub struct SecretConnection<A: AeadBackend = Aead> {
    error: Option<SecretError>,
    /// The AEAD implementation the session keys get, once derived.
    aead: AeadKind,
    /// Node key copy, only until the challenge is signed.
    local_key: Option<NodeKey>,
    eph_secret: Option<x25519_dalek::StaticSecret>,
    local_eph: [u8; 32],
    local_pub: PublicKey,
    challenge: [u8; 32],
    local_sig: Option<[u8; 64]>,
    sealer: Option<FrameSealer<A>>,
    opener: Option<FrameOpener<A>>,
    remote_key: Option<PublicKey>,

    tx: Tx,
    tx_buf: [u8; SEALED_FRAME_LEN],
    tx_len: usize,
    tx_pos: usize,

    rx: Rx,
    /// Ciphertext being staged, or (when `rx_open`) an opened frame.
    rx_buf: [u8; SEALED_FRAME_LEN],
    rx_len: usize,
    rx_open: bool,
    rx_start: usize,
    rx_end: usize,
    auth_buf: [u8; AUTH_BUF_LEN],
    auth_len: usize,
}

impl SecretConnection<Aead> {
    /// A connection for `local` with the default AEAD ([`AeadKind::default`]:
    /// ring when compiled in, else RustCrypto; [`with_kind`](Self::with_kind)
    /// picks another). `ephemeral_secret` must be 32 fresh random bytes: the
    /// caller owns randomness.
    pub fn new(local: &NodeKey, ephemeral_secret: [u8; 32]) -> Self {
        Self::with_backend(local, ephemeral_secret)
    }

    /// Like [`new`](Self::new), drawing the ephemeral secret from `rng`.
    pub fn with_rng(local: &NodeKey, rng: &mut impl CryptoRngCore) -> Self {
        Self::with_backend_rng(local, rng)
    }

    /// Like [`new`](Self::new), with the AEAD implementation `kind`.
    ///
    /// ```
    /// use mconn::identity::NodeKey;
    /// use mconn::secret::{AeadKind, SecretConnection};
    /// let key = NodeKey::from_seed([1; 32]);
    /// let conn = SecretConnection::with_kind(&key, [7; 32], AeadKind::RustCrypto);
    /// assert_eq!(conn.aead_kind(), AeadKind::RustCrypto);
    /// ```
    pub fn with_kind(local: &NodeKey, ephemeral_secret: [u8; 32], kind: AeadKind) -> Self {
        Self::with_backend_kind(local, ephemeral_secret, kind)
    }
}

impl<A: AeadBackend> SecretConnection<A> {
    /// [`new`](SecretConnection::new) for any AEAD backend, e.g.
    /// `SecretConnection::<RingChaCha>::with_backend(..)`.
    pub fn with_backend(local: &NodeKey, ephemeral_secret: [u8; 32]) -> Self {
        Self::with_backend_kind(local, ephemeral_secret, AeadKind::DEFAULT)
    }

    /// [`with_kind`](SecretConnection::with_kind) for any AEAD backend: the
    /// backend gets `kind` through [`AeadBackend::with_kind`] (a fixed
    /// backend ignores it).
    pub fn with_backend_kind(
        local: &NodeKey,
        mut ephemeral_secret: [u8; 32],
        kind: AeadKind,
    ) -> Self {
        let secret = x25519_dalek::StaticSecret::from(ephemeral_secret);
        ephemeral_secret.zeroize();
        let local_eph = x25519_dalek::PublicKey::from(&secret).to_bytes();
        let mut tx_buf = [0u8; SEALED_FRAME_LEN];
        tx_buf[..EPH_MSG_LEN].copy_from_slice(&auth::encode_ephemeral(&local_eph));
        SecretConnection {
            error: None,
            aead: kind,
            local_key: Some(local.clone()),
            eph_secret: Some(secret),
            local_eph,
            local_pub: local.public_key(),
            challenge: [0; 32],
            local_sig: None,
            sealer: None,
            opener: None,
            remote_key: None,
            tx: Tx::Eph,
            tx_buf,
            tx_len: EPH_MSG_LEN,
            tx_pos: 0,
            rx: Rx::Eph,
            rx_buf: [0; SEALED_FRAME_LEN],
            rx_len: 0,
            rx_open: false,
            rx_start: 0,
            rx_end: 0,
            auth_buf: [0; AUTH_BUF_LEN],
            auth_len: 0,
        }
    }

    /// [`with_rng`](SecretConnection::with_rng) for any AEAD backend.
    pub fn with_backend_rng(local: &NodeKey, rng: &mut impl CryptoRngCore) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        Self::with_backend(local, secret)
    }

    /// The AEAD implementation asked for at construction: what the
    /// default backend [`Aead`] uses for the session keys (a fixed backend
    /// ignores it).
    pub fn aead_kind(&self) -> AeadKind {
        self.aead
    }

    /// Our node's public key (sent in our AuthSig).
    pub fn local_public_key(&self) -> PublicKey {
        self.local_pub
    }

    /// Our ephemeral X25519 public key.
    pub fn local_ephemeral_key(&self) -> [u8; 32] {
        self.local_eph
    }

    /// Both directions are done: the peer is authenticated and our own
    /// handshake bytes were all handed out by [`poll_transmit`](Self::poll_transmit).
    /// From here on, use [`seal_frame`](Self::seal_frame) and
    /// [`plaintext`](Self::plaintext).
    pub fn is_established(&self) -> bool {
        self.error.is_none() && self.rx == Rx::Established && self.tx == Tx::Done
    }

    /// The fatal error this connection failed with, if any.
    pub fn error(&self) -> Option<SecretError> {
        self.error
    }

    /// The peer's verified Ed25519 key, once its AuthSig checked out.
    pub fn remote_public_key(&self) -> Option<PublicKey> {
        self.remote_key
    }

    /// The peer's verified node ID. A dialer must compare it with the ID it
    /// dialed (spec §1 step 4).
    pub fn remote_id(&self) -> Option<NodeId> {
        self.remote_key.map(|k| k.node_id())
    }

    /// Handshake bytes to write: the 35-byte ephemeral-key message at once
    /// (never waiting for the peer), then the sealed AuthSig frame as soon
    /// as the keys are known; after the handshake, the rest of a frame from
    /// [`stage_frame`](Self::stage_frame). Copies as much as fits into `out`
    /// and returns the count; 0 when there is nothing (more) to send right now.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> usize {
        if self.error.is_some() {
            return 0;
        }
        let mut written = 0;
        loop {
            let pending = self.tx_buf.get(self.tx_pos..self.tx_len).unwrap_or(&[]);
            let room = out.get_mut(written..).unwrap_or(&mut []);
            let n = pending.len().min(room.len());
            room[..n].copy_from_slice(&pending[..n]);
            written += n;
            self.tx_pos += n;
            if self.tx_pos < self.tx_len {
                break;
            }
            match self.tx {
                Tx::Eph => {
                    self.tx = Tx::AwaitKeys;
                    self.tx_len = 0;
                    self.tx_pos = 0;
                }
                Tx::AwaitKeys => match (self.local_sig.take(), self.sealer.as_mut()) {
                    (Some(sig), Some(sealer)) => {
                        let msg = AuthSig {
                            pub_key: self.local_pub.0,
                            sig,
                        };
                        match sealer.seal(&mut self.tx_buf, |buf| {
                            msg.encode_delimited(buf).unwrap_or(0)
                        }) {
                            Ok(n) if n == SEALED_FRAME_LEN => {
                                self.tx = Tx::Auth;
                                self.tx_len = n;
                                self.tx_pos = 0;
                            }
                            Ok(_) => return self.fail_tx(SecretError::BufferTooSmall, written),
                            Err(e) => return self.fail_tx(e, written),
                        }
                    }
                    (sig, _) => {
                        self.local_sig = sig;
                        break;
                    }
                },
                Tx::Auth => {
                    self.tx = Tx::Done;
                    self.tx_len = 0;
                    self.tx_pos = 0;
                }
                Tx::Done => break,
            }
        }
        written
    }

    fn fail_tx(&mut self, e: SecretError, written: usize) -> usize {
        self.fail(e);
        written
    }

    /// Feeds received bytes; returns how many were consumed.
    ///
    /// Handshake bytes are staged internally, then 1044-byte frames: a
    /// partial frame is kept, a complete one is opened in place. While
    /// opened plaintext has not been consumed (see
    /// [`consume_plaintext`](Self::consume_plaintext)), no further bytes are
    /// taken (back-pressure): offer the rest again later. Any error is
    /// fatal and sticky.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<usize, SecretError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let result = self.input(input);
        if let Err(e) = result {
            self.fail(e);
        }
        result
    }

    fn input(&mut self, input: &[u8]) -> Result<usize, SecretError> {
        let mut consumed = 0;
        loop {
            let rest = input.get(consumed..).unwrap_or(&[]);
            if self.rx == Rx::Eph {
                if rest.is_empty() {
                    break;
                }
                // One byte first, so a bad length prefix fails at once.
                let want = if self.rx_len == 0 {
                    1
                } else {
                    EPH_MSG_LEN - self.rx_len
                };
                let n = want.min(rest.len());
                self.rx_buf[self.rx_len..self.rx_len + n].copy_from_slice(&rest[..n]);
                self.rx_len += n;
                consumed += n;
                match auth::decode_ephemeral(&self.rx_buf[..self.rx_len]) {
                    Ok((remote, _)) => {
                        self.rx_len = 0;
                        self.on_remote_ephemeral(&remote)?;
                        self.rx = Rx::Auth;
                    }
                    Err(DecodeError::Truncated) => {}
                    Err(e) => return Err(SecretError::EphemeralKeyInvalid(e)),
                }
            } else if self.rx_open {
                if self.rx == Rx::Auth {
                    self.feed_auth()?;
                }
                if self.rx_start < self.rx_end {
                    break; // plaintext pending: back-pressure
                }
                self.rx_open = false;
            } else {
                if rest.is_empty() {
                    break;
                }
                let n = (SEALED_FRAME_LEN - self.rx_len).min(rest.len());
                self.rx_buf[self.rx_len..self.rx_len + n].copy_from_slice(&rest[..n]);
                self.rx_len += n;
                consumed += n;
                if self.rx_len == SEALED_FRAME_LEN {
                    let opener = self.opener.as_mut().ok_or(SecretError::NotEstablished)?;
                    let len = opener.open(&mut self.rx_buf)?;
                    self.rx_len = 0;
                    self.rx_open = true;
                    self.rx_start = LEN_PREFIX_SIZE;
                    self.rx_end = LEN_PREFIX_SIZE + len;
                }
            }
        }
        Ok(consumed)
    }

    /// DH, transcript, keys, and our signature, once the peer's ephemeral
    /// key is known.
    fn on_remote_ephemeral(&mut self, remote: &[u8; 32]) -> Result<(), SecretError> {
        if *remote == self.local_eph {
            // Reflected key: would fail at the first frame anyway.
            return Err(SecretError::EphemeralKeyInvalid(DecodeError::Invalid));
        }
        let secret = self
            .eph_secret
            .take()
            .ok_or(SecretError::EphemeralKeyInvalid(DecodeError::Invalid))?;
        let shared = diffie_hellman(&secret, remote)?;
        drop(secret);
        let (lo, hi, loc_is_least) = sort_ephemeral(&self.local_eph, remote);
        self.challenge = challenge(&lo, &hi, shared.as_bytes());
        let keys = derive_keys(shared.as_bytes(), loc_is_least);
        drop(shared);
        self.sealer = Some(FrameSealer::with_kind(self.aead, &keys.send));
        self.opener = Some(FrameOpener::with_kind(self.aead, &keys.recv));
        drop(keys);
        let key = self
            .local_key
            .take()
            .ok_or(SecretError::EphemeralKeyInvalid(DecodeError::Invalid))?;
        self.local_sig = Some(key.sign(&self.challenge));
        Ok(())
    }

    /// Moves plaintext from the opened frame into the AuthSig reassembly
    /// buffer; verifies once complete. Leaves surplus plaintext in place.
    fn feed_auth(&mut self) -> Result<(), SecretError> {
        while self.rx_start < self.rx_end {
            let window = &self.rx_buf[self.rx_start..self.rx_end];
            let have = &self.auth_buf[..self.auth_len];
            // The length (checked below, after each copy) is read one byte
            // at a time; then the rest of the body in one go. The message is
            // never complete here, so this is at least 1.
            let take = match varint::decode(have) {
                Ok(Some((len, vlen))) => (vlen + len as usize).saturating_sub(self.auth_len),
                _ => 1,
            }
            .max(1);
            let n = take.min(window.len());
            self.auth_buf[self.auth_len..self.auth_len + n].copy_from_slice(&window[..n]);
            self.auth_len += n;
            self.rx_start += n;
            if let Some((len, vlen)) = varint::decode(&self.auth_buf[..self.auth_len])
                .map_err(SecretError::AuthSigInvalid)?
            {
                if len > AUTH_SIG_MAX_BODY as u64 {
                    return Err(SecretError::AuthSigInvalid(DecodeError::TooLarge));
                }
                if self.auth_len == vlen + len as usize {
                    return self.verify_auth(vlen);
                }
            }
        }
        Ok(())
    }

    fn verify_auth(&mut self, body_start: usize) -> Result<(), SecretError> {
        let body = &self.auth_buf[body_start..self.auth_len];
        let msg = AuthSig::decode(body)?;
        let key = PublicKey(msg.pub_key);
        if !key.verify(&self.challenge, &msg.sig) {
            return Err(SecretError::BadSignature);
        }
        self.remote_key = Some(key);
        self.rx = Rx::Established;
        debug!("secret connection: peer authenticated as {}", key.node_id());
        Ok(())
    }

    fn fail(&mut self, e: SecretError) {
        if !e.is_fatal() {
            return;
        }
        warn!("secret connection failed: {}", e);
        self.error = Some(e);
        self.local_key = None;
        self.eph_secret = None;
        self.sealer = None;
        self.opener = None;
        self.local_sig = None;
        self.rx_buf.zeroize();
        self.rx_open = false;
        self.rx_start = 0;
        self.rx_end = 0;
    }

    /// Received plaintext not yet consumed: the rest of the current frame.
    /// Empty before the peer is authenticated. Bytes that followed the
    /// peer's AuthSig in its first frame show up here.
    pub fn plaintext(&self) -> &[u8] {
        if self.rx != Rx::Established || !self.rx_open || self.error.is_some() {
            return &[];
        }
        self.rx_buf.get(self.rx_start..self.rx_end).unwrap_or(&[])
    }

    /// Marks `n` bytes of [`plaintext`](Self::plaintext) as consumed
    /// (clamped to what is there). Once a frame is fully consumed,
    /// [`handle_input`](Self::handle_input) takes ciphertext again.
    pub fn consume_plaintext(&mut self, n: usize) {
        if self.rx == Rx::Established && self.rx_open {
            self.rx_start = self.rx_start.saturating_add(n).min(self.rx_end);
        }
    }

    /// The sticky error, else `NotEstablished` before the handshake is done.
    fn check_established(&self) -> Result<(), SecretError> {
        match self.error {
            Some(e) => Err(e),
            None if !self.is_established() => Err(SecretError::NotEstablished),
            None => Ok(()),
        }
    }

    /// Seals one frame after establishment: `fill` writes up to 1024
    /// plaintext bytes directly into the frame (zero copy) and returns how
    /// many; the frame is sealed in place into `out` (at least 1044 bytes).
    /// Returns 1044, or 0 if `fill` wrote nothing.
    pub fn seal_frame(
        &mut self,
        out: &mut [u8],
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, SecretError> {
        self.check_established()?;
        let sealer = self.sealer.as_mut().ok_or(SecretError::NotEstablished)?;
        let result = sealer.seal(out, fill);
        if let Err(e) = result {
            self.fail(e);
        }
        result
    }

    /// Bytes [`poll_transmit`](Self::poll_transmit) has yet to hand out:
    /// handshake output, or the rest of a staged frame.
    pub fn pending_transmit(&self) -> usize {
        if self.error.is_some() {
            return 0;
        }
        self.tx_len.saturating_sub(self.tx_pos)
    }

    /// [`seal_frame`](Self::seal_frame) into the connection's own output
    /// buffer (free once the handshake is out), for a caller whose buffer
    /// has less room than a whole frame: hand the frame out with
    /// [`poll_transmit`](Self::poll_transmit), in as many pieces as needed.
    /// Returns 1044, or 0 if `fill` wrote nothing or the previous staged
    /// frame is still pending ([`pending_transmit`](Self::pending_transmit)).
    ///
    /// ```
    /// # use mconn::identity::NodeKey;
    /// # use mconn::secret::SecretConnection;
    /// # let mut a = SecretConnection::new(&NodeKey::from_seed([1; 32]), [11; 32]);
    /// # let mut b = SecretConnection::new(&NodeKey::from_seed([2; 32]), [22; 32]);
    /// # let mut buf = [0u8; 2048];
    /// # while !(a.is_established() && b.is_established()) {
    /// #     let n = a.poll_transmit(&mut buf);
    /// #     b.handle_input(&buf[..n]).unwrap();
    /// #     let n = b.poll_transmit(&mut buf);
    /// #     a.handle_input(&buf[..n]).unwrap();
    /// # }
    /// // Established: a frame goes out through a 100-byte buffer.
    /// assert_eq!(a.stage_frame(|pt| { pt[..2].copy_from_slice(b"hi"); 2 }), Ok(1044));
    /// let mut small = [0u8; 100];
    /// while a.pending_transmit() > 0 {
    ///     let n = a.poll_transmit(&mut small);
    ///     assert_eq!(b.handle_input(&small[..n]), Ok(n));
    /// }
    /// assert_eq!(b.plaintext(), b"hi");
    /// ```
    pub fn stage_frame(
        &mut self,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, SecretError> {
        self.check_established()?;
        if self.pending_transmit() > 0 {
            return Ok(0);
        }
        let sealer = self.sealer.as_mut().ok_or(SecretError::NotEstablished)?;
        match sealer.seal(&mut self.tx_buf, fill) {
            Ok(n) => {
                self.tx_len = n;
                self.tx_pos = 0;
                Ok(n)
            }
            Err(e) => {
                self.fail(e);
                Err(e)
            }
        }
    }

    /// Convenience over [`seal_frame`](Self::seal_frame): seals as much of
    /// `data` as fits into `out` in whole frames. Returns `(data bytes
    /// consumed, bytes written)`; `written` is a multiple of 1044.
    pub fn seal(&mut self, data: &[u8], out: &mut [u8]) -> Result<(usize, usize), SecretError> {
        let mut consumed = 0;
        let mut written = 0;
        while consumed < data.len() {
            let Some(frame) = out.get_mut(written..written + SEALED_FRAME_LEN) else {
                if written == 0 {
                    return Err(SecretError::BufferTooSmall);
                }
                break;
            };
            let chunk = &data[consumed..data.len().min(consumed + DATA_MAX_SIZE)];
            written += self.seal_frame(frame, |buf| {
                buf[..chunk.len()].copy_from_slice(chunk);
                chunk.len()
            })?;
            consumed += chunk.len();
        }
        Ok((consumed, written))
    }
}

#[cfg(test)]
impl SecretConnection<Aead> {
    /// Test hook: the implementations the session keys actually went to
    /// (sealer, opener), once derived.
    pub(crate) fn cipher_kinds(&self) -> Option<(AeadKind, AeadKind)> {
        Some((
            self.sealer.as_ref()?.cipher().kind(),
            self.opener.as_ref()?.cipher().kind(),
        ))
    }
}

#[cfg(test)]
impl<A: AeadBackend> SecretConnection<A> {
    /// Test hook: jump both frame counters.
    pub(crate) fn set_counters(&mut self, send: u64, recv: u64) {
        if let Some(s) = self.sealer.as_mut() {
            s.set_counter(send);
        }
        if let Some(o) = self.opener.as_mut() {
            o.set_counter(recv);
        }
    }
}

impl<A: AeadBackend> core::fmt::Debug for SecretConnection<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecretConnection")
            .field("tx", &self.tx)
            .field("rx", &self.rx)
            .field("aead", &self.aead)
            .field("remote_id", &self.remote_id())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}
