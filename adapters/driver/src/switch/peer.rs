//! [`SwitchPeer`]: an added peer as reactors and the application see it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::vec::Vec;

use mconn::conn::{ChannelStats, ConnStats};
use mconn::identity::{NetAddr, NodeId};
use mconn::switch::PeerEntry;
use mconn::wire::node_info::StoredNodeInfo;

use super::{OnRuntime, Runtime};
use crate::{Disconnect, Error, Peer};

/// A peer the switch added: its connection and what the switch knows about
/// it. Cheap to clone; every call is on the value itself.
pub struct SwitchPeer<RT: Runtime> {
    inner: Arc<PeerInner<RT>>,
}

struct PeerInner<RT: Runtime> {
    conn: Peer<OnRuntime<RT>>,
    entry: PeerEntry,
    /// Channel ids the peer's NodeInfo lists (bit per id).
    channels: [u64; 4],
}

impl<RT: Runtime> Clone for SwitchPeer<RT> {
    fn clone(&self) -> Self {
        SwitchPeer {
            inner: self.inner.clone(),
        }
    }
}

impl<RT: Runtime> core::fmt::Debug for SwitchPeer<RT> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SwitchPeer")
            .field("id", &self.inner.entry.id)
            .field("direction", &self.inner.entry.direction)
            .field("remote", &self.inner.entry.remote)
            .finish()
    }
}

impl<RT: Runtime> SwitchPeer<RT> {
    pub(crate) fn new(conn: Peer<OnRuntime<RT>>, entry: PeerEntry) -> Self {
        let mut channels = [0u64; 4];
        conn.with_remote_node_info(|info| {
            for &ch in info.channels {
                channels[usize::from(ch / 64)] |= 1 << (ch % 64);
            }
        });
        SwitchPeer {
            inner: Arc::new(PeerInner {
                conn,
                entry,
                channels,
            }),
        }
    }

    /// The peer's authenticated node ID.
    pub fn id(&self) -> NodeId {
        self.inner.entry.id
    }

    /// Whether we dialed this peer.
    pub fn is_outbound(&self) -> bool {
        self.inner.entry.is_outbound()
    }

    /// Whether this is a persistent peer (redialled when it drops).
    pub fn is_persistent(&self) -> bool {
        self.inner.entry.persistent
    }

    /// The remote socket address of the TCP connection.
    pub fn remote_addr(&self) -> SocketAddr {
        self.inner.entry.remote
    }

    /// The address we dialed (outbound peers).
    pub fn dialed_addr(&self) -> Option<NetAddr> {
        self.inner.entry.dialed
    }

    /// The address the peer says it listens on, if it is an IP address.
    pub fn listen_addr(&self) -> Option<NetAddr> {
        self.inner.entry.listen_addr
    }

    /// Everything the switch's policy keeps about this peer (as of when it
    /// was added).
    pub fn entry(&self) -> &PeerEntry {
        &self.inner.entry
    }

    /// Whether the peer's NodeInfo lists `channel` (sends on other channels
    /// are refused with `PeerLacksChannel`).
    pub fn has_channel(&self, channel: u8) -> bool {
        self.inner.channels[usize::from(channel / 64)] & (1 << (channel % 64)) != 0
    }

    /// Queues `msg` on `channel`, waiting for queue room up to the send
    /// timeout (CometBFT's `Peer.Send`).
    pub async fn send(&self, channel: u8, msg: &[u8]) -> Result<(), Error> {
        self.inner.conn.send(channel, msg).await
    }

    /// Queues `msg` on `channel` if there is room now (`Peer.TrySend`).
    pub fn try_send(&self, channel: u8, msg: &[u8]) -> Result<(), Error> {
        self.inner.conn.try_send(channel, msg)
    }

    /// An owned copy of the peer's NodeInfo.
    pub fn node_info(&self) -> Option<StoredNodeInfo<Vec<u8>>> {
        self.inner.conn.remote_node_info()
    }

    /// Connection-wide counters.
    pub fn stats(&self) -> ConnStats {
        self.inner.conn.stats()
    }

    /// Counters of one channel.
    pub fn channel_stats(&self, channel: u8) -> Option<ChannelStats> {
        self.inner.conn.channel_stats(channel)
    }

    /// Why the connection ended, once it did.
    pub fn disconnect_reason(&self) -> Option<Disconnect> {
        self.inner.conn.disconnect_reason()
    }

    /// Waits until the connection is over; why.
    pub async fn finished(&self) -> Disconnect {
        self.inner.conn.finished().await
    }

    /// The underlying connection handle.
    pub fn connection(&self) -> &Peer<OnRuntime<RT>> {
        &self.inner.conn
    }
}
