//! The sans-IO NodeInfo exchange (spec §3.2); see [`NodeInfoExchange`].

use super::validate::check_peer;
use super::NodeInfoError;
use crate::wire::node_info::{NodeInfo, MAX_NODE_INFO_SIZE};
use crate::wire::{varint, DecodeError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recv {
    /// Reading the length prefix; `buf[..len]` so far.
    Prefix { buf: [u8; varint::MAX_LEN], len: u8 },
    /// Reading a body of `len` bytes; `got` stored so far.
    Body { len: usize, got: usize },
    /// The peer's body is `storage[..len]` and decodes.
    Done { len: usize },
    /// The peer sent something unacceptable; the connection is dead.
    Failed(NodeInfoError),
}

/// Where a [`NodeInfoExchange`] stores the peer's NodeInfo body: any
/// byte slice (`[u8; N]`, `&mut [u8]`, `Vec<u8>`, … through `AsRef` and
/// `AsMut`), or storage that takes memory only once the peer's length
/// prefix announced how much is needed.
pub trait PeerInfoStorage {
    /// The longest body it can ever hold.
    fn capacity(&self) -> usize;
    /// The first `len` bytes (`len <= capacity()`), writable, making room
    /// for them if needed; `None` if that is not possible.
    fn reserve(&mut self, len: usize) -> Option<&mut [u8]>;
    /// The bytes held: the body is at the start.
    fn stored(&self) -> &[u8];
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> PeerInfoStorage for T {
    fn capacity(&self) -> usize {
        self.as_ref().len()
    }
    fn reserve(&mut self, len: usize) -> Option<&mut [u8]> {
        self.as_mut().get_mut(..len)
    }
    fn stored(&self) -> &[u8] {
        self.as_ref()
    }
}

/// One side of the NodeInfo exchange (spec §3.2) over the plaintext byte
/// stream of an established SecretConnection: sends our encoded NodeInfo
/// `L`, receives the peer's into storage `S`.
///
/// Symmetric: each side emits `uvarint(len) || NodeInfo` right away and
/// reads the peer's concurrently; nobody waits for the other to speak.
/// Bytes after the peer's message belong to the MConnection and are never
/// consumed. The 3 s deadline Go applies to this step is the session's job.
///
/// Storage: the caller provides the receive buffer `S` (`[u8; N]`,
/// `&mut [u8]`, `Vec<u8>`, …, or any [`PeerInfoStorage`]). The peer's body
/// is accepted up to `min(storage capacity, MAX_NODE_INFO_SIZE)` bytes; use
/// [`MAX_NODE_INFO_SIZE`] bytes to accept everything Go accepts. A smaller
/// buffer saves memory (stock NodeInfos are 150–300 bytes) at the price of
/// rejecting unusually large but valid NodeInfos as
/// [`NodeInfoError::TooLarge`]. The length prefix is checked before any of
/// the body is buffered, so memory never depends on what the peer claims.
///
/// ```
/// use mconn::handshake::NodeInfoExchange;
/// use mconn::wire::node_info::{NodeInfo, ProtocolVersion, MAX_NODE_INFO_SIZE};
/// let info = |id, moniker| NodeInfo {
///     protocol_version: ProtocolVersion::new(8, 11, 0),
///     default_node_id: id,
///     listen_addr: "127.0.0.1:26656",
///     network: "test-chain",
///     channels: &[0x20, 0x00],
///     moniker,
///     ..NodeInfo::default()
/// };
/// let (a_id, b_id) = ([0x11; 20], [0x22; 20]);
/// let (a_hex, b_hex) = ("1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222");
/// let (mut a_body, mut b_body) = ([0u8; 256], [0u8; 256]);
/// let n = info(a_hex, "a").encode(&mut a_body).unwrap();
/// let mut a = NodeInfoExchange::new(&a_body[..n], [0u8; MAX_NODE_INFO_SIZE]).unwrap();
/// let n = info(b_hex, "b").encode(&mut b_body).unwrap();
/// let mut b = NodeInfoExchange::new(&b_body[..n], [0u8; MAX_NODE_INFO_SIZE]).unwrap();
///
/// // Drive both ends through a tiny buffer, as a transport would.
/// let mut wire = [0u8; 16];
/// while !(a.is_done() && b.is_done()) {
///     let n = a.poll_transmit(&mut wire);
///     assert_eq!(b.handle_input(&wire[..n]), Ok(n));
///     let n = b.poll_transmit(&mut wire);
///     assert_eq!(a.handle_input(&wire[..n]), Ok(n));
/// }
/// assert_eq!(a.finish(&b_id, Some(&b_id)).unwrap().moniker, "b");
/// assert_eq!(b.finish(&a_id, None).unwrap().moniker, "a");
/// ```
#[derive(Clone, Debug)]
pub struct NodeInfoExchange<L, S> {
    local: L,
    prefix: [u8; varint::MAX_LEN],
    prefix_len: usize,
    sent: usize,
    storage: S,
    limit: usize,
    recv: Recv,
}

impl<L: AsRef<[u8]>, S: PeerInfoStorage> NodeInfoExchange<L, S> {
    /// Starts the exchange with our NodeInfo body `local` (the output of
    /// [`NodeInfo::encode`], no length prefix) and the receive buffer.
    ///
    /// Errors (caller misuse): `local` above [`MAX_NODE_INFO_SIZE`]
    /// ([`NodeInfoError::TooLarge`]) or not decodable (`Malformed`).
    pub fn new(local: L, storage: S) -> Result<Self, NodeInfoError> {
        let body = local.as_ref();
        if body.len() > MAX_NODE_INFO_SIZE {
            return Err(NodeInfoError::TooLarge);
        }
        NodeInfo::decode(body)?;
        let mut prefix = [0u8; varint::MAX_LEN];
        let prefix_len = varint::encode(body.len() as u64, &mut prefix).unwrap_or(0);
        let limit = storage.capacity().min(MAX_NODE_INFO_SIZE);
        Ok(NodeInfoExchange {
            local,
            prefix,
            prefix_len,
            sent: 0,
            storage,
            limit,
            recv: Recv::Prefix {
                buf: [0; varint::MAX_LEN],
                len: 0,
            },
        })
    }

    fn total_tx(&self) -> usize {
        self.prefix_len + self.local.as_ref().len()
    }

    /// Copies the next bytes of our delimited NodeInfo into `out`; returns
    /// how many. Works with any `out` size; 0 once everything was given out.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> usize {
        let mut written = 0;
        let prefix = self.prefix.get(..self.prefix_len).unwrap_or(&[]);
        for (start, data) in [(0, prefix), (self.prefix_len, self.local.as_ref())] {
            let from = self.sent.saturating_sub(start);
            let src = data.get(from..).unwrap_or(&[]);
            let dst = out.get_mut(written..).unwrap_or(&mut []);
            let n = src.len().min(dst.len());
            dst[..n].copy_from_slice(&src[..n]);
            written += n;
            self.sent += n;
        }
        written
    }

    /// Bytes of our NodeInfo not yet given out by [`poll_transmit`](Self::poll_transmit).
    pub fn pending_transmit(&self) -> usize {
        self.total_tx().saturating_sub(self.sent)
    }

    /// Whether all of our NodeInfo was given out.
    pub fn is_sent(&self) -> bool {
        self.pending_transmit() == 0
    }

    /// Feeds bytes received from the peer; returns how many belong to its
    /// NodeInfo. Bytes after the message are left for the MConnection (and
    /// nothing is consumed once the message is complete).
    ///
    /// Errors are final: every later call returns the same error.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<usize, NodeInfoError> {
        match self.receive(input) {
            Ok(n) => Ok(n),
            Err(e) => {
                self.recv = Recv::Failed(e);
                Err(e)
            }
        }
    }

    fn receive(&mut self, input: &[u8]) -> Result<usize, NodeInfoError> {
        let mut used = 0;
        loop {
            match &mut self.recv {
                Recv::Prefix { buf, len } => {
                    let Some(&byte) = input.get(used) else {
                        return Ok(used);
                    };
                    let slot = buf
                        .get_mut(usize::from(*len))
                        .ok_or(NodeInfoError::Malformed(DecodeError::VarintOverflow))?;
                    *slot = byte;
                    *len += 1;
                    used += 1;
                    let Some((claimed, _)) =
                        varint::decode(buf.get(..usize::from(*len)).unwrap_or(&[]))?
                    else {
                        continue;
                    };
                    if claimed > self.limit as u64
                        || self.storage.reserve(claimed as usize).is_none()
                    {
                        return Err(NodeInfoError::TooLarge);
                    }
                    self.recv = Recv::Body {
                        len: claimed as usize,
                        got: 0,
                    };
                }
                Recv::Body { len, got } => {
                    if *got == *len {
                        let len = *len;
                        let body = self.storage.stored().get(..len).unwrap_or(&[]);
                        NodeInfo::decode(body)?;
                        self.recv = Recv::Done { len };
                        continue;
                    }
                    let rest = input.get(used..).unwrap_or(&[]);
                    if rest.is_empty() {
                        return Ok(used);
                    }
                    let n = rest.len().min(*len - *got);
                    let dst = self
                        .storage
                        .reserve(*len)
                        .and_then(|body| body.get_mut(*got..*got + n))
                        .ok_or(NodeInfoError::TooLarge)?;
                    dst.copy_from_slice(&rest[..n]);
                    *got += n;
                    used += n;
                }
                Recv::Done { .. } => return Ok(used),
                Recv::Failed(e) => return Err(*e),
            }
        }
    }

    /// Whether the peer's NodeInfo arrived completely (and decodes).
    pub fn is_received(&self) -> bool {
        matches!(self.recv, Recv::Done { .. })
    }

    /// Whether both directions are complete: the session may move on.
    pub fn is_done(&self) -> bool {
        self.is_sent() && self.is_received()
    }

    /// The peer's raw NodeInfo body, once received. Copy it into a
    /// [`StoredNodeInfo`](crate::wire::node_info::StoredNodeInfo) to keep it
    /// compactly after the exchange.
    pub fn peer_bytes(&self) -> Option<&[u8]> {
        match self.recv {
            Recv::Done { len } => self.storage.stored().get(..len),
            _ => None,
        }
    }

    /// The peer's NodeInfo, not yet checked, once received.
    pub fn peer_info(&self) -> Option<NodeInfo<'_>> {
        NodeInfo::decode(self.peer_bytes()?).ok()
    }

    /// Our NodeInfo (decoded from the bytes given to [`new`](Self::new)).
    pub fn local_info(&self) -> NodeInfo<'_> {
        // Checked in `new`.
        NodeInfo::decode(self.local.as_ref()).unwrap_or_default()
    }

    /// Applies [`check_peer`] to the received NodeInfo and returns it.
    ///
    /// `authenticated_remote_id` is the ID of the SecretConnection's remote
    /// key; `dialed_id` the ID we dialed (`None` for inbound connections).
    /// Before the peer's message is complete this returns
    /// `Malformed(DecodeError::Truncated)`; after a receive error, that error.
    pub fn finish(
        &self,
        authenticated_remote_id: &[u8; 20],
        dialed_id: Option<&[u8; 20]>,
    ) -> Result<NodeInfo<'_>, NodeInfoError> {
        if let Recv::Failed(e) = self.recv {
            return Err(e);
        }
        let remote = self
            .peer_info()
            .ok_or(NodeInfoError::Malformed(DecodeError::Truncated))?;
        check_peer(
            &remote,
            &self.local_info(),
            authenticated_remote_id,
            dialed_id,
        )?;
        Ok(remote)
    }

    /// Gives back our NodeInfo and the receive buffer (the peer's body is
    /// at its start, see [`peer_bytes`](Self::peer_bytes)).
    pub fn into_parts(self) -> (L, S) {
        (self.local, self.storage)
    }
}

#[cfg(feature = "alloc")]
impl NodeInfoExchange<alloc::vec::Vec<u8>, alloc::vec::Vec<u8>> {
    /// Encodes `local` and allocates a full-size receive buffer.
    pub fn from_info(local: &NodeInfo<'_>) -> Result<Self, NodeInfoError> {
        let mut body = alloc::vec![0u8; local.encoded_len()];
        local
            .encode(&mut body)
            .map_err(|_| NodeInfoError::TooLarge)?;
        Self::new(body, alloc::vec![0u8; MAX_NODE_INFO_SIZE])
    }
}
