//! One machine for a TCP byte stream: SecretConnection, then the NodeInfo
//! exchange, then the MConnection (spec §1). Bytes that arrive early in the
//! same read are handed to the next layer; each layer's back-pressure
//! reaches the socket.
//!
//! The driving contract is the MConnection's: after any call, drain
//! [`poll_transmit`](Session::poll_transmit), [`poll_message`](Session::poll_message)
//! and [`poll_event`](Session::poll_event), then wait for input or
//! [`poll_timeout`](Session::poll_timeout).
//!
//! ```
//! use mconn::conn::{ChannelConfig, Config};
//! use mconn::identity::NodeKey;
//! use mconn::session::{Event, Security, Session, SessionConfig};
//! use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
//! use mconn::Instant;
//!
//! let channels = [ChannelConfig::new(0x20, 1).recv_message_capacity(1 << 16)];
//! let (ka, kb) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
//! let (ida, idb) = (ka.node_id().to_string(), kb.node_id().to_string());
//! let info = |id| NodeInfo {
//!     protocol_version: ProtocolVersion::new(8, 11, 0),
//!     default_node_id: id,
//!     listen_addr: "tcp://127.0.0.1:26656",
//!     network: "test-chain",
//!     channels: &[0x20],
//!     moniker: "node",
//!     ..NodeInfo::default()
//! };
//! let config = SessionConfig::new(Config::cometbft());
//! let now = Instant::ZERO;
//! let mut a = Session::with_alloc(&config, &channels, &info(&ida),
//!     Security::Secret { key: &ka, ephemeral: [3; 32] }, Some(kb.node_id()), now).unwrap();
//! let mut b = Session::with_alloc(&config, &channels, &info(&idb),
//!     Security::Secret { key: &kb, ephemeral: [4; 32] }, None, now).unwrap();
//!
//! a.try_send(0x20, b"early").unwrap_err(); // not connected yet
//! let mut wire = vec![0u8; 8192];
//! for _ in 0..10 {
//!     let n = a.poll_transmit(now, &mut wire);
//!     assert_eq!(b.handle_input(now, &wire[..n]).unwrap(), n);
//!     let n = b.poll_transmit(now, &mut wire);
//!     assert_eq!(a.handle_input(now, &wire[..n]).unwrap(), n);
//! }
//! assert_eq!(a.poll_event(), Some(Event::Connected));
//! assert_eq!(b.remote_id(), Some(ka.node_id()));
//! a.try_send(0x20, b"hello").unwrap();
//! let n = a.poll_transmit(now, &mut wire);
//! b.handle_input(now, &wire[..n]).unwrap();
//! assert_eq!(b.poll_message(), Some((0x20, &b"hello"[..])));
//! ```

mod event;

pub use event::{CloseReason, Event};

use core::time::Duration;

use crate::conn::{
    self, ByteBuf, ChannelConfig, ChannelStats, Config, ConfigError, ConnStats, Error, MConnection,
};
use crate::handshake::{check_dialed_id, NodeInfoExchange, PeerInfoStorage};
use crate::identity::{NodeId, NodeKey};
use crate::secret::{Aead, AeadBackend, AeadKind, SecretConnection, SEALED_FRAME_LEN};
use crate::time::{earliest, Instant};
use crate::wire::node_info::{NodeInfo, MAX_NODE_INFO_SIZE};
use zeroize::Zeroize;

/// Session settings: the MConnection's, the handshake deadlines, and the
/// SecretConnection's AEAD implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// The MConnection settings.
    pub conn: Config,
    /// Deadline for the SecretConnection handshake (CometBFT: 3 s).
    pub handshake_timeout: Duration,
    /// Deadline for the NodeInfo exchange, from the end of the handshake (3 s).
    pub node_info_timeout: Duration,
    /// The AEAD implementation of an encrypted session with the default
    /// backend [`Aead`] (ignored by fixed backends, see
    /// [`AeadBackend::with_kind`]). Default: [`AeadKind::DEFAULT`] (ring
    /// with the `ring` feature, else RustCrypto). The peer cannot tell.
    pub aead: AeadKind,
}

impl SessionConfig {
    /// CometBFT's deadlines around `conn`, and the default AEAD.
    pub const fn new(conn: Config) -> Self {
        SessionConfig {
            conn,
            handshake_timeout: Duration::from_secs(3),
            node_info_timeout: Duration::from_secs(3),
            aead: AeadKind::DEFAULT,
        }
    }
}

/// Whether the byte stream is encrypted.
///
/// The ephemeral secret is wiped when this is dropped, `Debug` does not
/// print it, and (so that no copy escapes the wipe) this is neither `Copy`
/// nor `Clone`: build one per session.
///
/// ```
/// use mconn::identity::NodeKey;
/// use mconn::session::Security;
/// let key = NodeKey::from_seed([1; 32]);
/// let security = Security::Secret { key: &key, ephemeral: [0xab; 32] };
/// let shown = format!("{security:?}");
/// assert!(shown.contains("redacted") && !shown.contains("171"), "{shown}");
/// ```
pub enum Security<'k> {
    /// SecretConnection with our node key; `ephemeral` must be 32 fresh
    /// random bytes (the caller owns randomness).
    Secret {
        /// Our long-term node key.
        key: &'k NodeKey,
        /// Ephemeral X25519 secret for this connection.
        ephemeral: [u8; 32],
    },
    /// No encryption and no authentication (tests, benchmarks, the seed
    /// documents' setup): the peer's ID is whatever its NodeInfo claims.
    Plaintext,
}

impl Drop for Security<'_> {
    fn drop(&mut self) {
        if let Security::Secret { ephemeral, .. } = self {
            ephemeral.zeroize();
        }
    }
}

impl core::fmt::Debug for Security<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Security::Secret { key, .. } => f
                .debug_struct("Secret")
                .field("key", key)
                .field("ephemeral", &"<redacted>")
                .finish(),
            Security::Plaintext => f.write_str("Plaintext"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Handshake,
    NodeInfo,
    Running,
    Closed,
}

/// A buffer with a length: what [`NodeInfoExchange`] stores into.
#[derive(Debug)]
struct LenBuf<B> {
    buf: B,
    len: usize,
}

impl<B: ByteBuf> AsRef<[u8]> for LenBuf<B> {
    fn as_ref(&self) -> &[u8] {
        &self.buf.bytes()[..self.len]
    }
}

impl<B: ByteBuf> AsMut<[u8]> for LenBuf<B> {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.buf.bytes_mut()[..self.len]
    }
}

/// The peer's NodeInfo while it arrives: a growable buffer takes memory
/// for the announced length only, not for [`MAX_NODE_INFO_SIZE`].
#[derive(Debug)]
struct PeerBuf<B>(B);

impl<B: ByteBuf> PeerInfoStorage for PeerBuf<B> {
    fn capacity(&self) -> usize {
        self.0.limit()
    }
    fn reserve(&mut self, len: usize) -> Option<&mut [u8]> {
        if !self.0.grow_to(len) {
            return None;
        }
        self.0.bytes_mut().get_mut(..len)
    }
    fn stored(&self) -> &[u8] {
        self.0.bytes()
    }
}

/// The layers above the SecretConnection (kept apart so that plaintext
/// borrowed from the SecretConnection can be fed to them).
#[derive(Debug)]
struct Upper<B: ByteBuf> {
    phase: Phase,
    deadline: Option<Instant>,
    node_info_timeout: Duration,
    exchange: Option<NodeInfoExchange<LenBuf<B>, PeerBuf<B>>>,
    /// After the exchange: the peer's NodeInfo body (ours is dropped).
    peer_info: Option<LenBuf<B>>,
    dialed: Option<NodeId>,
    remote_id: Option<NodeId>,
    /// Channel ids the peer's NodeInfo lists (bit per id).
    peer_channels: [u64; 4],
    conn: MConnection<B>,
    events: heapless::Deque<Event, 4>,
    /// We refused the peer's NodeInfo: the rest of ours still goes out
    /// (Go always finishes writing its NodeInfo before it checks the
    /// peer's, so the peer learns our reason from our NodeInfo).
    linger: bool,
    /// When the session was made; then (`handshake_micros`) how long the
    /// SecretConnection handshake took, in µs (0: not yet, or plaintext).
    started: Instant,
    handshake_micros: u32,
}

/// A peer connection over one byte stream. See the [module docs](self).
///
/// `A` is the SecretConnection's AEAD backend: the default [`Aead`] takes
/// its implementation from [`SessionConfig::aead`]; any [`AeadBackend`]
/// type can be plugged in instead.
pub struct Session<B: ByteBuf, A: AeadBackend = Aead> {
    secret: Option<SecretConnection<A>>,
    up: Upper<B>,
}

impl<B: ByteBuf, A: AeadBackend> core::fmt::Debug for Session<B, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("phase", &self.up.phase)
            .field("remote_id", &self.up.remote_id)
            .finish()
    }
}

#[cfg(feature = "alloc")]
impl Session<conn::GrowBuf> {
    /// A session whose buffers grow on demand (see [`MConnection::with_alloc`]).
    pub fn with_alloc(
        config: &SessionConfig,
        channels: &[ChannelConfig],
        local_info: &NodeInfo<'_>,
        security: Security<'_>,
        dialed: Option<NodeId>,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        Session::new(config, channels, local_info, security, dialed, now, |len| {
            Some(conn::GrowBuf::new(len))
        })
    }
}

impl<B: ByteBuf, A: AeadBackend> Session<B, A> {
    /// A session that speaks first (the protocol is symmetric). `dialed` is
    /// the ID we dialed (outbound), checked against the authenticated key;
    /// `None` for inbound connections. `make_buf` provides the MConnection's
    /// buffers (as in [`MConnection::new`]) and two NodeInfo buffers: ours
    /// (its encoded length) and the peer's ([`MAX_NODE_INFO_SIZE`]; a
    /// growable one takes only what the peer's NodeInfo needs). Both are
    /// dropped or shrunk once the NodeInfos crossed.
    pub fn new(
        config: &SessionConfig,
        channels: &[ChannelConfig],
        local_info: &NodeInfo<'_>,
        security: Security<'_>,
        dialed: Option<NodeId>,
        now: Instant,
        mut make_buf: impl FnMut(usize) -> Option<B>,
    ) -> Result<Self, ConfigError> {
        let conn = MConnection::new(&config.conn, channels, now, &mut make_buf)?;
        let local_len = local_info.encoded_len();
        let mut local = LenBuf {
            buf: make_buf(local_len).ok_or(ConfigError::StorageTooSmall)?,
            len: local_len,
        };
        let peer = PeerBuf(make_buf(MAX_NODE_INFO_SIZE).ok_or(ConfigError::StorageTooSmall)?);
        if !local.buf.grow_to(local_len) || peer.capacity() < MAX_NODE_INFO_SIZE {
            return Err(ConfigError::StorageTooSmall);
        }
        local_info
            .encode(local.as_mut())
            .map_err(|_| ConfigError::NodeInfo)?;
        let exchange = NodeInfoExchange::new(local, peer).map_err(|_| ConfigError::NodeInfo)?;
        // Matched by reference: the ephemeral secret is copied only into
        // the SecretConnection (which wipes its copy), and `security`
        // wipes the original when it drops here.
        let (secret, phase, timeout) = match &security {
            Security::Secret { key, ephemeral } => (
                Some(SecretConnection::with_backend_kind(
                    key,
                    *ephemeral,
                    config.aead,
                )),
                Phase::Handshake,
                config.handshake_timeout,
            ),
            Security::Plaintext => (None, Phase::NodeInfo, config.node_info_timeout),
        };
        Ok(Session {
            secret,
            up: Upper {
                phase,
                deadline: Some(now + timeout),
                node_info_timeout: config.node_info_timeout,
                exchange: Some(exchange),
                peer_info: None,
                dialed,
                remote_id: None,
                peer_channels: [0; 4],
                conn,
                events: heapless::Deque::new(),
                linger: false,
                started: now,
                handshake_micros: 0,
            },
        })
    }

    /// Feeds bytes from the socket; returns how many were consumed (fewer
    /// means back-pressure: offer the rest again after draining messages).
    pub fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<usize, Error> {
        if self.up.phase == Phase::Closed {
            return Err(Error::Closed);
        }
        let Some(secret) = self.secret.as_mut() else {
            return Ok(self.up.feed(now, input));
        };
        let mut used = 0;
        for _ in 0..input.len() + 2 {
            let took = match secret.handle_input(&input[used..]) {
                Ok(n) => n,
                Err(e) => {
                    self.up.close(CloseReason::Secret(e));
                    return Ok(input.len());
                }
            };
            used += took;
            if self.up.phase == Phase::Handshake && secret.is_established() {
                self.up.on_authenticated(now, secret.remote_id());
            }
            let plaintext = secret.plaintext();
            let offered = plaintext.len();
            // An empty offer still reaches a stalled MConnection: a packet
            // staged inside it (split across frames) goes on once room appeared.
            let fed = if offered > 0 || self.up.conn.is_input_stalled() {
                self.up.feed(now, plaintext)
            } else {
                0
            };
            secret.consume_plaintext(fed);
            if self.up.phase == Phase::Closed || fed < offered || (took == 0 && fed == 0) {
                break;
            }
        }
        Ok(used)
    }

    /// A deadline passed (spurious calls are harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.up.phase {
            Phase::Handshake | Phase::NodeInfo if self.up.deadline.is_some_and(|d| now >= d) => {
                let reason = if self.up.phase == Phase::Handshake {
                    CloseReason::HandshakeTimeout
                } else {
                    CloseReason::NodeInfoTimeout
                };
                self.up.close(reason);
            }
            Phase::Running => self.up.conn.handle_timeout(now),
            _ => {}
        }
    }

    /// Bytes to write to the socket (ciphertext when encrypted). Frames are
    /// filled completely whenever that much is pending.
    ///
    /// After a [`CloseReason::NodeInfo`] refusal of the peer's NodeInfo this
    /// still returns the rest of our own NodeInfo (as CometBFT does, so the
    /// peer can log its own reason): drain it before closing the socket.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> usize {
        let staged = self
            .secret
            .as_ref()
            .is_some_and(|s| s.pending_transmit() > 0);
        if self.up.phase == Phase::Closed && !self.up.lingers() && !staged {
            return 0;
        }
        let Some(secret) = self.secret.as_mut() else {
            return self.up.fill(now, out);
        };
        // Handshake bytes, or the rest of a frame staged by an earlier call
        // (the caller's buffer was short).
        let mut n = secret.poll_transmit(out);
        if !secret.is_established() {
            return n;
        }
        for _ in 0..out.len() / SEALED_FRAME_LEN + 3 {
            let room = out.len() - n;
            if room == 0 || secret.pending_transmit() > 0 {
                break;
            }
            let up = &mut self.up;
            let sealed = if room >= SEALED_FRAME_LEN {
                secret.seal_frame(&mut out[n..n + SEALED_FRAME_LEN], |pt| up.fill(now, pt))
            } else {
                // Sealed into the SecretConnection's own buffer, handed
                // out as far as it fits; the rest goes first next time.
                match secret.stage_frame(|pt| up.fill(now, pt)) {
                    Ok(0) => Ok(0),
                    Ok(_) => Ok(secret.poll_transmit(&mut out[n..])),
                    Err(e) => Err(e),
                }
            };
            match sealed {
                Ok(0) => break, // nothing pending
                Ok(w) => n += w,
                Err(e) => {
                    self.up.close(CloseReason::Secret(e));
                    break;
                }
            }
        }
        n
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(e) = self.up.events.pop_front() {
            return Some(e);
        }
        match self.up.conn.poll_event()? {
            conn::Event::Writable(ch) => Some(Event::Writable(ch)),
            conn::Event::Closed(reason) => {
                self.up.phase = Phase::Closed;
                Some(Event::Closed(CloseReason::Conn(reason)))
            }
        }
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.up.phase {
            Phase::Handshake | Phase::NodeInfo => earliest(self.up.deadline, None),
            Phase::Running => self.up.conn.poll_timeout(),
            Phase::Closed => None,
        }
    }

    /// Queues `msg` on channel `ch` without waiting (see [`MConnection::try_send`]).
    /// Refused before [`Event::Connected`] and for channels the peer lacks.
    pub fn try_send(&mut self, ch: u8, msg: &[u8]) -> Result<(), Error> {
        match self.up.phase {
            Phase::Running => {}
            Phase::Closed => return Err(Error::Closed),
            _ => return Err(Error::NotConnected),
        }
        if self.up.peer_channels[usize::from(ch / 64)] & (1 << (ch % 64)) == 0 {
            return Err(Error::PeerLacksChannel);
        }
        self.up.conn.try_send(ch, msg)
    }

    /// The next received message (see [`MConnection::poll_message`]).
    pub fn poll_message(&mut self) -> Option<(u8, &[u8])> {
        self.up.conn.poll_message()
    }

    /// The MConnection, once running, for per-channel receiving and stats.
    pub fn conn(&mut self) -> &mut MConnection<B> {
        &mut self.up.conn
    }

    /// Graceful close: everything queued is sent first. Before the session
    /// is connected this aborts.
    pub fn close(&mut self) {
        match self.up.phase {
            Phase::Running => self.up.conn.close(),
            Phase::Closed => {}
            _ => self.abort(),
        }
    }

    /// Closes at once.
    pub fn abort(&mut self) {
        if self.up.phase != Phase::Closed {
            self.up.close(CloseReason::Conn(conn::CloseReason::Aborted));
        }
    }

    /// Whether the handshake finished and the session is not closed.
    pub fn is_connected(&self) -> bool {
        self.up.phase == Phase::Running
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        self.up.phase == Phase::Closed
    }

    /// The peer's ID: authenticated by the SecretConnection, or (plaintext)
    /// as claimed in its NodeInfo once connected.
    pub fn remote_id(&self) -> Option<NodeId> {
        self.up.remote_id
    }

    /// How long the SecretConnection handshake took, from the session's
    /// creation until the peer was authenticated; `None` before that and
    /// for a plaintext session. Each end's authentication message answers
    /// the other's ephemeral key, so this is the link's round-trip time
    /// plus both ends' key agreement and signing: an upper bound on the
    /// round trip that adapters use to size socket buffers.
    ///
    /// ```
    /// # use mconn::{conn::{ChannelConfig, Config}, identity::NodeKey, Instant};
    /// # use mconn::session::{Security, Session, SessionConfig};
    /// # use mconn::wire::node_info::NodeInfo;
    /// # use core::time::Duration;
    /// let (ka, kb) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
    /// let (ia, ib) = (ka.node_id().to_string(), kb.node_id().to_string());
    /// let info = |id| NodeInfo { default_node_id: id, network: "n", ..NodeInfo::default() };
    /// let cfg = SessionConfig::new(Config::cometbft());
    /// let chans = [ChannelConfig::new(0x20, 1)];
    /// let mut now = Instant::ZERO;
    /// let mut a = Session::with_alloc(&cfg, &chans, &info(&ia),
    ///     Security::Secret { key: &ka, ephemeral: [3; 32] }, None, now).unwrap();
    /// let mut b = Session::with_alloc(&cfg, &chans, &info(&ib),
    ///     Security::Secret { key: &kb, ephemeral: [4; 32] }, None, now).unwrap();
    /// // Both ends write at once; what they wrote arrives 100 µs later.
    /// let (mut to_b, mut to_a) = ([0u8; 2048], [0u8; 2048]);
    /// for _ in 0..2 {
    ///     let (nb, na) = (a.poll_transmit(now, &mut to_b), b.poll_transmit(now, &mut to_a));
    ///     now = now + Duration::from_micros(100);
    ///     b.handle_input(now, &to_b[..nb]).unwrap();
    ///     a.handle_input(now, &to_a[..na]).unwrap();
    /// }
    /// // Ephemeral keys one way, authentication the other: one round trip.
    /// assert_eq!(a.handshake_duration(), Some(Duration::from_micros(200)));
    /// assert_eq!(b.handshake_duration(), Some(Duration::from_micros(200)));
    /// ```
    pub fn handshake_duration(&self) -> Option<Duration> {
        let micros = self.up.handshake_micros;
        (micros > 0).then(|| Duration::from_micros(u64::from(micros)))
    }

    /// The AEAD implementation of an encrypted session (from
    /// [`SessionConfig::aead`]; see [`SecretConnection::aead_kind`]), `None`
    /// for a plaintext one.
    pub fn aead_kind(&self) -> Option<AeadKind> {
        self.secret.as_ref().map(SecretConnection::aead_kind)
    }

    /// Whether we dialed this peer.
    pub fn is_outbound(&self) -> bool {
        self.up.dialed.is_some()
    }

    /// The peer's NodeInfo, once received and accepted.
    pub fn remote_node_info(&self) -> Option<NodeInfo<'_>> {
        let bytes = match (&self.up.peer_info, &self.up.exchange) {
            (Some(peer), _) => peer.as_ref(),
            // Accepted (its deadline is gone) while our own NodeInfo is
            // still going out: the exchange holds the peer's body.
            (None, Some(exchange)) if self.up.deadline.is_none() => exchange.peer_bytes()?,
            _ => return None,
        };
        NodeInfo::decode(bytes).ok()
    }

    /// Connection-wide counters.
    pub fn stats(&self) -> ConnStats {
        self.up.conn.stats()
    }

    /// Counters of channel `ch`.
    pub fn channel_stats(&self, ch: u8) -> Option<ChannelStats> {
        self.up.conn.channel_stats(ch)
    }
}

impl<B: ByteBuf> Upper<B> {
    fn close(&mut self, reason: CloseReason) {
        if self.phase == Phase::Closed {
            return;
        }
        if reason.is_peer_fault() {
            warn!("mconn session: closing: {}", reason);
        }
        self.phase = Phase::Closed;
        self.conn.abort();
        while self.conn.poll_event().is_some() {}
        let _ = self.events.push_back(Event::Closed(reason));
    }

    /// The SecretConnection authenticated the peer: a dialer checks the ID
    /// right away (as Go does), then the NodeInfo exchange starts.
    fn on_authenticated(&mut self, now: Instant, remote: Option<NodeId>) {
        self.remote_id = remote;
        let took = now.saturating_duration_since(self.started).as_micros();
        self.handshake_micros = u32::try_from(took).unwrap_or(u32::MAX).max(1);
        if let (Some(dialed), Some(remote)) = (self.dialed, remote) {
            if let Err(e) = check_dialed_id(&remote.0, &dialed.0) {
                self.close(CloseReason::NodeInfo(e));
                return;
            }
        }
        self.phase = Phase::NodeInfo;
        self.deadline = Some(now + self.node_info_timeout);
    }

    /// Plaintext in: NodeInfo until accepted, then the MConnection.
    fn feed(&mut self, now: Instant, input: &[u8]) -> usize {
        let mut used = 0;
        if self.phase == Phase::NodeInfo {
            let Some(exchange) = self.exchange.as_mut() else {
                return 0;
            };
            match exchange.handle_input(input) {
                Ok(n) => used += n,
                Err(e) => {
                    self.close(CloseReason::NodeInfo(e));
                    return input.len();
                }
            }
            if exchange.is_received() {
                self.accept_peer(now);
            }
        }
        if self.phase == Phase::Running {
            if let Ok(n) = self.conn.handle_input(now, &input[used..]) {
                used += n;
            }
        }
        used
    }

    fn accept_peer(&mut self, now: Instant) {
        let Some(exchange) = self.exchange.as_ref() else {
            return;
        };
        let claimed = exchange
            .peer_info()
            .and_then(|i| i.default_node_id.parse::<NodeId>().ok());
        let remote = self.remote_id.or(claimed).unwrap_or(NodeId([0; 20]));
        match exchange.finish(&remote.0, self.dialed.as_ref().map(|d| &d.0)) {
            Ok(info) => {
                for &ch in info.channels {
                    self.peer_channels[usize::from(ch / 64)] |= 1 << (ch % 64);
                }
            }
            Err(e) => {
                self.linger = true;
                self.close(CloseReason::NodeInfo(e));
                return;
            }
        }
        self.remote_id = Some(remote);
        self.phase = Phase::Running;
        self.deadline = None;
        self.conn.restart_timers(now);
        let _ = self.events.push_back(Event::Connected);
        self.retire_exchange();
    }

    /// Once both NodeInfos crossed, keep only the peer's body (shrunk);
    /// ours is dropped.
    fn retire_exchange(&mut self) {
        if !self.exchange.as_ref().is_some_and(|x| x.is_done()) {
            return;
        }
        let Some(exchange) = self.exchange.take() else {
            return;
        };
        let len = exchange.peer_bytes().map_or(0, <[u8]>::len);
        let (_local, PeerBuf(mut buf)) = exchange.into_parts();
        buf.shrink_to(len);
        self.peer_info = Some(LenBuf { buf, len });
    }

    /// Whether our NodeInfo is still going out after we refused the peer.
    fn lingers(&self) -> bool {
        self.linger && self.exchange.as_ref().is_some_and(|x| !x.is_sent())
    }

    /// Plaintext out: the rest of our NodeInfo, then MConnection packets.
    fn fill(&mut self, now: Instant, out: &mut [u8]) -> usize {
        let mut n = 0;
        if let Some(exchange) = self.exchange.as_mut() {
            if matches!(self.phase, Phase::NodeInfo | Phase::Running) || self.linger {
                n += exchange.poll_transmit(out);
            }
            if self.phase == Phase::Running {
                self.retire_exchange();
            }
        }
        if self.phase == Phase::Running && self.exchange.is_none() {
            n += self.conn.poll_transmit(now, &mut out[n..]);
        }
        n
    }
}
