//! A hostile peer over real loopback TCP (tokio), for admission and
//! robustness tests of a listening node.
//!
//! Every connection is opened from a chosen source address in 127.0.0.0/8
//! ([`connect_from`] binds before it connects), so per-IP rules can be
//! exercised while a well-behaved peer uses another address. The modes:
//!
//! * [`silent`]: connections that never send a byte;
//! * [`slowloris`]: connections that send a valid handshake (our real
//!   ephemeral-key message) one byte at a time;
//!
//! (both open their connections as fast as the target takes them off its
//! accept queue, see `open_gated`);
//! * [`flood`]: connection attempts as fast as possible, each closed at once;
//! * [`HostilePeer`]: a peer that completes a real SecretConnection and
//!   NodeInfo exchange with the core's own machines, then sends crafted
//!   sealed frames ([`Attack`]).
//!
//! Every loop is bounded in count and in time; whatever the target does, each
//! call returns by its `limit`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mconn::handshake::{NodeInfoError, NodeInfoExchange};
use mconn::identity::{NodeId, NodeKey};
use mconn::secret::{SecretConnection, SecretError, DATA_MAX_SIZE, SEALED_FRAME_LEN};
use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
use mconn::wire::packet::{Codec, Packet, DEFAULT_MAX_PAYLOAD};
use mconn::wire::varint;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Opens a TCP connection to `target` from `source` (any port).
pub async fn connect_from(source: IpAddr, target: SocketAddr) -> io::Result<TcpStream> {
    let socket = match source {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(target).await
}

/// How one hostile connection ended, seen from the attacker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The target closed it (end of stream or reset) this long after connecting.
    ClosedByTarget(Duration),
    /// Still open when the attacker stopped waiting.
    StillOpen,
    /// The TCP connect failed.
    ConnectFailed(io::ErrorKind),
}

impl End {
    /// Whether the target closed the connection.
    pub fn closed_by_target(self) -> bool {
        matches!(self, End::ClosedByTarget(_))
    }
}

/// Reads and discards until the target closes `read` or `limit` passes.
pub async fn wait_closed(
    read: &mut (impl AsyncRead + Unpin),
    since: Instant,
    limit: Duration,
) -> End {
    let mut buf = vec![0u8; 16 * 1024];
    let deadline = since + limit;
    // Each read takes at least one byte or ends the loop; bounded by time.
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, read.read(&mut buf)).await {
            Err(_) => return End::StillOpen,
            Ok(Ok(0)) | Ok(Err(_)) => return End::ClosedByTarget(since.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// How the target first reacted to a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reaction {
    /// It sent bytes: it admitted the connection and started its handshake.
    Admitted,
    /// It closed the connection: refused.
    Closed,
    /// Nothing within the limit.
    Nothing,
}

/// Waits (≤ `limit`) for the target's first reaction, discarding the bytes.
async fn first_reaction(read: &mut (impl AsyncRead + Unpin), limit: Duration) -> Reaction {
    let mut buf = [0u8; 64];
    match timeout(limit, read.read(&mut buf)).await {
        Err(_) => Reaction::Nothing,
        Ok(Ok(0)) | Ok(Err(_)) => Reaction::Closed,
        Ok(Ok(_)) => Reaction::Admitted,
    }
}

/// Opens a connection once `gate` has room and holds the room until the
/// target reacted (admitted or refused it). So at most `lanes` connections
/// wait in the target's accept queue at once: a burst beyond the kernel's
/// listen backlog would test the kernel's SYN handling (a connection
/// completed by a SYN cookie while the queue is full never reaches the
/// target, and a silent client would never learn), not the target.
async fn open_gated(
    gate: &Semaphore,
    source: IpAddr,
    target: SocketAddr,
    limit: Duration,
) -> Result<(TcpStream, Reaction), End> {
    let _room = gate.acquire().await.map_err(|_| End::StillOpen)?;
    let mut stream = match timeout(limit, connect_from(source, target)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(End::ConnectFailed(e.kind())),
        Err(_) => return Err(End::ConnectFailed(io::ErrorKind::TimedOut)),
    };
    let reaction = first_reaction(&mut stream, limit).await;
    Ok((stream, reaction))
}

/// Opens `count` connections from `source` (at most `lanes` not yet
/// admitted or refused at once, see [`open_gated`]), none of which ever
/// sends a byte; each waits up to `limit` for the target to close it.
pub async fn silent(
    source: IpAddr,
    target: SocketAddr,
    count: usize,
    lanes: usize,
    limit: Duration,
) -> Vec<End> {
    let gate = Arc::new(Semaphore::new(lanes.max(1)));
    let tasks: Vec<JoinHandle<End>> = (0..count)
        .map(|_| {
            let gate = gate.clone();
            tokio::spawn(async move {
                let since = Instant::now();
                match open_gated(&gate, source, target, limit).await {
                    Err(end) => end,
                    Ok((_, Reaction::Closed)) => End::ClosedByTarget(since.elapsed()),
                    Ok((_, Reaction::Nothing)) => End::StillOpen,
                    Ok((mut stream, Reaction::Admitted)) => {
                        wait_closed(&mut stream, since, limit).await
                    }
                }
            })
        })
        .collect();
    join_all(tasks).await
}

/// One slowloris connection: how it ended and how many bytes it sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slow {
    /// How it ended.
    pub end: End,
    /// Handshake bytes sent before the end.
    pub bytes_sent: usize,
}

/// Opens `count` connections from `source` (gated like [`silent`]'s), each
/// sending the first bytes a real SecretConnection sends (its
/// ephemeral-key message, made by the core's machine) one byte per
/// `interval`; each stops when the target closes it, or `limit` after it
/// connected.
pub async fn slowloris(
    source: IpAddr,
    target: SocketAddr,
    count: usize,
    lanes: usize,
    interval: Duration,
    limit: Duration,
) -> Vec<Slow> {
    let gate = Arc::new(Semaphore::new(lanes.max(1)));
    let tasks: Vec<JoinHandle<Slow>> = (0..count)
        .map(|i| {
            let gate = gate.clone();
            tokio::spawn(async move {
                let key = NodeKey::from_seed([i as u8 ^ 0x5a; 32]);
                let mut secret = SecretConnection::new(&key, mconn_driver::ephemeral_key());
                let mut hello = [0u8; 64];
                let n = secret.poll_transmit(&mut hello);
                let since = Instant::now();
                let stream = match open_gated(&gate, source, target, limit).await {
                    Err(end) => return Slow { end, bytes_sent: 0 },
                    Ok((_, Reaction::Closed)) => {
                        let end = End::ClosedByTarget(since.elapsed());
                        return Slow { end, bytes_sent: 0 };
                    }
                    Ok((_, Reaction::Nothing)) => {
                        return Slow {
                            end: End::StillOpen,
                            bytes_sent: 0,
                        };
                    }
                    Ok((stream, Reaction::Admitted)) => stream,
                };
                let (mut read, mut write) = stream.into_split();
                let mut bytes_sent = 0;
                for &byte in &hello[..n] {
                    if write.write_all(&[byte]).await.is_err() {
                        break;
                    }
                    bytes_sent += 1;
                    let pause = interval.min(limit.saturating_sub(since.elapsed()));
                    let end = match wait_closed(&mut read, Instant::now(), pause).await {
                        End::StillOpen if since.elapsed() < limit => continue,
                        End::StillOpen => End::StillOpen,
                        _ => End::ClosedByTarget(since.elapsed()),
                    };
                    return Slow { end, bytes_sent };
                }
                let end = wait_closed(&mut read, since, limit).await;
                Slow { end, bytes_sent }
            })
        })
        .collect();
    join_all(tasks).await
}

/// What a [`flood`] achieved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flood {
    /// TCP connections established (and closed by us at once).
    pub connected: usize,
    /// Attempts whose connect failed.
    pub failed: usize,
    /// Established connections the target then closed too (it accepted
    /// them and let go, or refused them).
    pub closed_by_target: usize,
}

/// Makes `attempts` TCP connections from `source` as fast as `lanes`
/// concurrent loops can: each is closed (FIN) as soon as it is
/// established, and a lane moves on once the target has closed its side,
/// so at most `lanes` attempts wait in the target's accept queue (a flood
/// beyond that tests the kernel's queue, not the target). Each attempt
/// waits at most `per_attempt`; everything stops at `limit`.
pub async fn flood(
    source: IpAddr,
    target: SocketAddr,
    attempts: usize,
    lanes: usize,
    per_attempt: Duration,
    limit: Duration,
) -> Flood {
    let lanes = lanes.clamp(1, attempts.max(1));
    let deadline = Instant::now() + limit;
    let tasks: Vec<JoinHandle<Flood>> = (0..lanes)
        .map(|lane| {
            let share = attempts / lanes + usize::from(lane < attempts % lanes);
            tokio::spawn(async move {
                let mut out = Flood::default();
                for _ in 0..share {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    let since = Instant::now();
                    let Ok(Ok(mut stream)) = timeout(left, connect_from(source, target)).await
                    else {
                        out.failed += 1;
                        continue;
                    };
                    out.connected += 1;
                    let _ = stream.shutdown().await;
                    let wait = per_attempt.min(deadline.saturating_duration_since(since));
                    if wait_closed(&mut stream, since, wait)
                        .await
                        .closed_by_target()
                    {
                        out.closed_by_target += 1;
                    }
                }
                out
            })
        })
        .collect();
    join_all(tasks)
        .await
        .into_iter()
        .fold(Flood::default(), |a, b| Flood {
            connected: a.connected + b.connected,
            failed: a.failed + b.failed,
            closed_by_target: a.closed_by_target + b.closed_by_target,
        })
}

async fn join_all<T>(tasks: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("hostile task panicked"));
    }
    out
}

/// Who a [`HostilePeer`] says it is.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The key it authenticates with (encrypted sessions).
    pub key: NodeKey,
    /// The ID its NodeInfo claims; `None`: the key's own.
    pub claimed_id: Option<NodeId>,
    /// Chain ID (must match the target's to be accepted).
    pub network: String,
    /// The channels its NodeInfo lists.
    pub channels: Vec<u8>,
    /// SecretConnection (`true`) or plaintext.
    pub encrypted: bool,
}

impl Identity {
    /// An honest-looking identity from `seed` on `network` with `channels`.
    pub fn new(seed: u8, network: &str, channels: &[u8]) -> Self {
        Identity {
            key: NodeKey::from_seed([seed; 32]),
            claimed_id: None,
            network: network.to_string(),
            channels: channels.to_vec(),
            encrypted: true,
        }
    }

    /// The ID the key authenticates as.
    pub fn node_id(&self) -> NodeId {
        self.key.node_id()
    }
}

/// Why a [`HostilePeer`] handshake did not finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// Connecting, reading or writing failed.
    Io(io::ErrorKind),
    /// The target closed the connection.
    Closed,
    /// The SecretConnection failed.
    Secret(SecretError),
    /// The target's NodeInfo did not arrive whole.
    NodeInfo(NodeInfoError),
    /// `limit` passed.
    Timeout,
}

impl From<io::Error> for HandshakeError {
    fn from(e: io::Error) -> Self {
        HandshakeError::Io(e.kind())
    }
}

/// A crafted input for an authenticated connection (see [`HostilePeer::attack`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attack {
    /// A packet length prefix of ten `0xff` bytes.
    VarintOverflow,
    /// A length prefix announcing one byte more than the packet limit.
    OversizedPacket,
    /// One packet with two oneof members: a ping, then a msg of `data` on
    /// `channel` (protobuf would keep the last member; we refuse the packet).
    TwoOneofFields {
        /// The msg's channel.
        channel: u8,
        /// The msg's bytes (one packet).
        data: Vec<u8>,
    },
    /// A complete message on a channel (e.g. one no reactor owns).
    Message {
        /// The channel.
        channel: u8,
        /// The message (≤ one packet's payload).
        data: Vec<u8>,
    },
    /// One message on `channel` of `capacity + 1` bytes, in full packets.
    OverCapacity {
        /// The channel.
        channel: u8,
        /// The channel's receive capacity.
        capacity: usize,
    },
    /// Half-finished messages on every channel: full non-eof packets round
    /// robin, each channel staying below its capacity, until `max_bytes`.
    HalfFinished {
        /// `(channel, capacity)` pairs.
        channels: Vec<(u8, usize)>,
        /// Most message bytes to send in total.
        max_bytes: usize,
    },
    /// `per_second` pings for at most `duration`, in 1 ms batches.
    PingFlood {
        /// Pings per second.
        per_second: u32,
        /// How long at most.
        duration: Duration,
    },
}

/// What an attack sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Plaintext bytes written (before sealing).
    pub bytes: usize,
    /// The target closed the connection before the attack was over.
    pub cut: bool,
}

/// A peer that completed a real handshake and now sends what it likes.
pub struct HostilePeer {
    write: OwnedWriteHalf,
    secret: Option<SecretConnection>,
    remote_id: Option<NodeId>,
    /// Drains the target's bytes; finishes when the target closes.
    reader: JoinHandle<Instant>,
    since: Instant,
}

impl core::fmt::Debug for HostilePeer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HostilePeer")
            .field("remote_id", &self.remote_id)
            .finish()
    }
}

impl Drop for HostilePeer {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Reads from `stream` into `buf` within `deadline`.
async fn read_some(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<usize, HandshakeError> {
    let left = deadline.saturating_duration_since(Instant::now());
    match timeout(left, stream.read(buf)).await {
        Err(_) => Err(HandshakeError::Timeout),
        Ok(Ok(0)) => Err(HandshakeError::Closed),
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) => Err(e.into()),
    }
}

impl HostilePeer {
    /// Connects from `source` to `target` and runs the handshake as `me`.
    pub async fn connect(
        source: IpAddr,
        target: SocketAddr,
        me: &Identity,
        limit: Duration,
    ) -> Result<Self, HandshakeError> {
        let stream = timeout(limit, connect_from(source, target))
            .await
            .map_err(|_| HandshakeError::Timeout)??;
        Self::handshake(stream, me, limit).await
    }

    /// Runs the SecretConnection handshake (unless plaintext) and the
    /// NodeInfo exchange over `stream` with the core's own machines, on
    /// either side of the connection (the protocol is symmetric). Returns
    /// once the target's NodeInfo has arrived and ours is sent; whether the
    /// target accepts ours shows in whether it keeps the connection.
    pub async fn handshake(
        mut stream: TcpStream,
        me: &Identity,
        limit: Duration,
    ) -> Result<Self, HandshakeError> {
        let since = Instant::now();
        let deadline = since + limit;
        let mut secret = me
            .encrypted
            .then(|| SecretConnection::new(&me.key, mconn_driver::ephemeral_key()));
        let mut buf = vec![0u8; 64 * 1024];
        let mut out = vec![0u8; 4 * SEALED_FRAME_LEN];
        // Bytes read past the SecretConnection handshake (plaintext mode: all).
        let mut pending: Vec<u8> = Vec::new();
        if let Some(sc) = secret.as_mut() {
            // Each round reads at least one byte or fails; bounded by time.
            while !sc.is_established() {
                let n = sc.poll_transmit(&mut out);
                stream.write_all(&out[..n]).await?;
                let n = read_some(&mut stream, &mut buf, deadline).await?;
                let used = sc.handle_input(&buf[..n]).map_err(HandshakeError::Secret)?;
                pending.extend_from_slice(&buf[used..n]);
            }
            let n = sc.poll_transmit(&mut out);
            stream.write_all(&out[..n]).await?;
        }
        let claimed = me.claimed_id.unwrap_or(me.key.node_id()).to_string();
        let info = NodeInfo {
            protocol_version: ProtocolVersion::new(8, 11, 0),
            default_node_id: &claimed,
            listen_addr: "tcp://127.0.0.1:1",
            network: &me.network,
            version: "0.38.0",
            channels: &me.channels,
            moniker: "hostile",
            ..NodeInfo::default()
        };
        let mut exchange = NodeInfoExchange::from_info(&info).map_err(HandshakeError::NodeInfo)?;
        let mut ours = vec![0u8; exchange.pending_transmit()];
        let n = exchange.poll_transmit(&mut ours);
        stream
            .write_all(&seal(secret.as_mut(), &ours[..n])?)
            .await?;
        // Each round reads at least one byte or fails; bounded by time.
        loop {
            if let Some(sc) = secret.as_mut() {
                feed_node_info(sc, &mut exchange)?;
            }
            if exchange.is_received() {
                break;
            }
            let input = if pending.is_empty() {
                let n = read_some(&mut stream, &mut buf, deadline).await?;
                buf[..n].to_vec()
            } else {
                std::mem::take(&mut pending)
            };
            let Some(sc) = secret.as_mut() else {
                exchange
                    .handle_input(&input)
                    .map_err(HandshakeError::NodeInfo)?;
                continue;
            };
            let mut offset = 0;
            // Each round takes ciphertext, or plaintext moves on, or it ends.
            for _ in 0..=input.len() {
                feed_node_info(sc, &mut exchange)?;
                if offset == input.len() || exchange.is_received() {
                    break;
                }
                offset += sc
                    .handle_input(&input[offset..])
                    .map_err(HandshakeError::Secret)?;
            }
        }
        let remote_id = match secret.as_ref() {
            Some(sc) => sc.remote_id(),
            None => exchange
                .peer_info()
                .and_then(|i| i.default_node_id.parse().ok()),
        };
        let mut peer = HostilePeer::split(stream, secret, since);
        peer.remote_id = remote_id;
        Ok(peer)
    }

    fn split(stream: TcpStream, secret: Option<SecretConnection>, since: Instant) -> Self {
        let (mut read, write) = stream.into_split();
        let reader = tokio::spawn(async move {
            // Ends when the target closes; aborted when the peer is dropped.
            let _ = wait_closed(&mut read, Instant::now(), Duration::from_secs(3600)).await;
            Instant::now()
        });
        HostilePeer {
            write,
            secret,
            remote_id: None,
            reader,
            since,
        }
    }

    /// The target's ID: authenticated, or (plaintext) as its NodeInfo claims.
    pub fn remote_id(&self) -> Option<NodeId> {
        self.remote_id
    }

    /// Whether the target has closed the connection.
    pub fn is_closed(&self) -> bool {
        self.reader.is_finished()
    }

    /// Waits up to `limit` for the target to close the connection; returns
    /// how long after the handshake started it did.
    pub async fn wait_closed(&mut self, limit: Duration) -> Option<Duration> {
        let at = timeout(limit, &mut self.reader).await.ok()?.ok()?;
        Some(at.saturating_duration_since(self.since))
    }

    /// Seals `bytes` (in frames of up to 1024 bytes; as they are when
    /// plaintext) and writes them.
    pub async fn send_plaintext(&mut self, bytes: &[u8]) -> io::Result<()> {
        let wire = seal(self.secret.as_mut(), bytes)?;
        self.write.write_all(&wire).await
    }

    /// Encodes `packets` with the CometBFT codec and sends them.
    pub async fn send_packets(&mut self, packets: &[Packet<'_>]) -> io::Result<()> {
        let plain = encode(packets);
        self.send_plaintext(&plain).await
    }

    /// Sends `attack`, stopping early if the target closes the connection.
    pub async fn attack(&mut self, attack: &Attack) -> Sent {
        let mut sent = Sent {
            bytes: 0,
            cut: false,
        };
        for batch in batches(attack) {
            let due = batch.due;
            if let Some(due) = due {
                tokio::time::sleep_until(due.into()).await;
            }
            if self.is_closed() || self.send_plaintext(&batch.bytes).await.is_err() {
                sent.cut = true;
                return sent;
            }
            sent.bytes += batch.bytes.len();
        }
        sent.cut = self.is_closed();
        sent
    }
}

/// Moves the opened plaintext into the NodeInfo exchange; once the NodeInfo
/// is in, the rest (the target's first packets) is dropped.
fn feed_node_info<L: AsRef<[u8]>, S: AsRef<[u8]> + AsMut<[u8]>>(
    sc: &mut SecretConnection,
    exchange: &mut NodeInfoExchange<L, S>,
) -> Result<(), HandshakeError> {
    let plain = sc.plaintext();
    let used = exchange
        .handle_input(plain)
        .map_err(HandshakeError::NodeInfo)?;
    let all = plain.len();
    sc.consume_plaintext(if exchange.is_received() { all } else { used });
    Ok(())
}

/// `bytes` sealed into frames of up to 1024 bytes, or as they are (plaintext).
fn seal(secret: Option<&mut SecretConnection>, bytes: &[u8]) -> io::Result<Vec<u8>> {
    let Some(sc) = secret else {
        return Ok(bytes.to_vec());
    };
    let frames = bytes.len().div_ceil(DATA_MAX_SIZE).max(1);
    let mut sealed = vec![0u8; frames * SEALED_FRAME_LEN];
    let (_, written) = sc
        .seal(bytes, &mut sealed)
        .map_err(|e| io::Error::other(e.to_string()))?;
    sealed.truncate(written);
    Ok(sealed)
}

fn encode(packets: &[Packet<'_>]) -> Vec<u8> {
    let len: usize = packets.iter().map(|p| Codec::Protobuf.encoded_len(p)).sum();
    let mut out = vec![0u8; len];
    let mut at = 0;
    for p in packets {
        at += Codec::Protobuf.encode(p, &mut out[at..]).expect("sized");
    }
    out
}

/// One write of an attack, optionally not before `due`.
struct Batch {
    bytes: Vec<u8>,
    due: Option<Instant>,
}

/// Bytes per write when an attack streams a lot.
const BATCH: usize = 64 * 1024;

/// The writes an attack consists of (a bounded iterator).
fn batches(attack: &Attack) -> Box<dyn Iterator<Item = Batch> + Send> {
    let once = |bytes: Vec<u8>| Box::new(std::iter::once(Batch { bytes, due: None }));
    match attack {
        Attack::VarintOverflow => once(vec![0xff; 10]),
        Attack::OversizedPacket => {
            let mut prefix = [0u8; varint::MAX_LEN];
            let too_big = Codec::Protobuf.max_body(DEFAULT_MAX_PAYLOAD) as u64 + 1;
            let n = varint::encode(too_big, &mut prefix).expect("fits");
            let mut bytes = prefix[..n].to_vec();
            bytes.resize(n + 64, 0);
            once(bytes)
        }
        Attack::TwoOneofFields { channel, data } => {
            let msg = encode(&[Packet::Msg {
                channel: *channel,
                eof: true,
                data,
            }]);
            let Ok(Some((_, prefix))) = varint::decode(&msg) else {
                unreachable!("our own encoding");
            };
            // A ping member (field 1, empty), then the msg's members.
            let mut body = vec![0x0a, 0x00];
            body.extend_from_slice(&msg[prefix..]);
            let mut bytes = vec![0u8; varint::MAX_LEN];
            let n = varint::encode(body.len() as u64, &mut bytes).expect("fits");
            bytes.truncate(n);
            bytes.extend_from_slice(&body);
            once(bytes)
        }
        Attack::Message { channel, data } => once(encode(&[Packet::Msg {
            channel: *channel,
            eof: true,
            data,
        }])),
        Attack::OverCapacity { channel, capacity } => {
            let chunk = vec![0xc4u8; DEFAULT_MAX_PAYLOAD];
            let channel = *channel;
            let total = capacity + 1;
            let per_batch = BATCH / DEFAULT_MAX_PAYLOAD;
            let packets = total.div_ceil(DEFAULT_MAX_PAYLOAD);
            Box::new((0..packets.div_ceil(per_batch)).map(move |b| {
                let list: Vec<Packet<'_>> = (b * per_batch..((b + 1) * per_batch).min(packets))
                    .map(|i| {
                        let len = (total - i * DEFAULT_MAX_PAYLOAD).min(DEFAULT_MAX_PAYLOAD);
                        Packet::Msg {
                            channel,
                            eof: i + 1 == packets,
                            data: &chunk[..len],
                        }
                    })
                    .collect();
                Batch {
                    bytes: encode(&list),
                    due: None,
                }
            }))
        }
        Attack::HalfFinished {
            channels,
            max_bytes,
        } => {
            let chunk = vec![0x4bu8; DEFAULT_MAX_PAYLOAD];
            let mut held: Vec<(u8, usize, usize)> =
                channels.iter().map(|&(id, cap)| (id, cap, 0)).collect();
            let mut total = 0usize;
            let max = *max_bytes;
            Box::new(std::iter::from_fn(move || {
                let mut list = Vec::new();
                while list.len() < BATCH / DEFAULT_MAX_PAYLOAD && total < max {
                    let before = list.len();
                    for (id, cap, have) in held.iter_mut() {
                        // Never finish a message, never exceed a capacity.
                        if *have + chunk.len() < *cap && total < max {
                            *have += chunk.len();
                            total += chunk.len();
                            list.push(Packet::Msg {
                                channel: *id,
                                eof: false,
                                data: &chunk[..],
                            });
                        }
                    }
                    if list.len() == before {
                        break; // every channel is as full as it may get
                    }
                }
                (!list.is_empty()).then(|| Batch {
                    bytes: encode(&list),
                    due: None,
                })
            }))
        }
        Attack::PingFlood {
            per_second,
            duration,
        } => {
            let per_ms = (*per_second as usize).div_ceil(1000).max(1);
            let pings = encode(&vec![Packet::Ping; per_ms]);
            let start = Instant::now();
            let ticks = duration.as_millis().min(60_000) as u32;
            Box::new((0..ticks).map(move |t| Batch {
                bytes: pings.clone(),
                due: Some(start + Duration::from_millis(u64::from(t))),
            }))
        }
    }
}
