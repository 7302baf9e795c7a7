//! The Switch: a node's set of peers, routing each channel's traffic to the
//! reactor that owns it (std).
//!
//! Policy — limits, admission, duplicates, persistent peers and their
//! backoff, channel ownership and inbox overflow — is the core's sans-IO
//! [`mconn::switch`]; this module only carries it out, once for every
//! runtime ([`Runtime`]: `mconn-tokio`, `mconn-smol`):
//!
//! * an accept loop that asks the policy before any crypto work and runs
//!   every admitted handshake on its own task (bounded in number, each
//!   with the session's deadlines), so no peer can make another wait;
//! * a dialer (`dial`, `dial_peers`, the policy's scheduled redials);
//! * per peer, one task driving the connection and routing its messages
//!   (owned, copied out of the core) into the reactors' inboxes;
//! * per reactor, one task taking deliveries from its bounded inbox;
//! * a timer task for the policy's deadlines.
//!
//! ```no_run
//! # async fn demo<RT: mconn_driver::switch::Runtime>(node: mconn_driver::NodeConfig) -> Result<(), Box<dyn std::error::Error>> {
//! use mconn::switch::{ChannelDescriptor, SwitchConfig};
//! use mconn_driver::switch::{Reactor, Switch, SwitchPeer};
//!
//! struct Chat;
//! impl<RT: mconn_driver::switch::Runtime> Reactor<RT> for Chat {
//!     fn channels(&self) -> Vec<ChannelDescriptor> {
//!         vec![ChannelDescriptor::new(0x60, 1)]
//!     }
//!     async fn receive(&mut self, _ch: u8, peer: &SwitchPeer<RT>, msg: Vec<u8>) {
//!         println!("{}: {}", peer.id(), String::from_utf8_lossy(&msg));
//!     }
//! }
//!
//! let config = SwitchConfig::new(node.key.node_id());
//! let switch = Switch::<RT>::builder(node, config)
//!     .reactor(Chat)?
//!     .listen("127.0.0.1:26656".parse()?)
//!     .start()
//!     .await?;
//! for peer in switch.peers().list() {
//!     if peer.is_outbound() {
//!         peer.send(0x60, b"Here's a random message").await?;
//!     }
//! }
//! switch.broadcast(0x60, b"to everyone").await;
//! switch.stop().await;
//! # Ok(()) }
//! ```

mod error;
mod inbox;
mod peer;
mod reactor;
mod runtime;
mod tasks;

use core::future::{poll_fn, Future};
use core::task::{Poll, Waker};
use std::boxed::Box;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use embassy_futures::select::{select, Either};
use mconn::identity::{NetAddr, NodeId};
use mconn::switch::{
    ConnId, DisconnectReason, InboxStats, Misbehaviour, PeerManager, ReactorId, Report,
    SwitchConfig, SwitchStats,
};

pub use error::{DialError, SwitchError};
pub use peer::SwitchPeer;
pub use reactor::Reactor;
pub use runtime::{OnRuntime, Runtime};

use crate::{NodeConfig, Peer};
use inbox::{Delivery, Inboxes};

/// A node's switch. Cheap to clone (a shared handle); see the
/// [module docs](self).
pub struct Switch<RT: Runtime> {
    inner: Arc<Inner<RT>>,
}

impl<RT: Runtime> Clone for Switch<RT> {
    fn clone(&self) -> Self {
        Switch {
            inner: self.inner.clone(),
        }
    }
}

impl<RT: Runtime> core::fmt::Debug for Switch<RT> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Switch")
            .field("id", &self.inner.node.key.node_id())
            .field("listen", &self.inner.local_addr)
            .finish()
    }
}

/// The random source the policy uses (from [`Runtime::rng`]).
pub type Rng = Box<dyn rand_core::RngCore + Send>;

type Starter<RT> = Box<dyn FnOnce(Switch<RT>, ReactorId) + Send>;

/// Collects the reactors and settings of a [`Switch`], then starts it.
pub struct SwitchBuilder<RT: Runtime> {
    node: NodeConfig,
    config: SwitchConfig,
    inboxes: Inboxes<RT>,
    starters: Vec<Starter<RT>>,
    listen: Option<SocketAddr>,
    external: Option<String>,
    addr_filter: Option<mconn::switch::AddrFilter>,
    peer_filter: Option<mconn::switch::PeerFilter>,
}

impl<RT: Runtime> SwitchBuilder<RT> {
    /// Adds a reactor; refused if it claims a channel another reactor owns.
    pub fn reactor<R: Reactor<RT>>(mut self, reactor: R) -> Result<Self, SwitchError> {
        let id = self
            .inboxes
            .add_reactor(&reactor.channels(), reactor.inbox_budget())
            .map_err(SwitchError::Route)?;
        debug_assert_eq!(id.0, self.starters.len());
        self.starters.push(Box::new(move |switch, id| {
            RT::spawn(tasks::reactor_task(switch, id, reactor));
        }));
        Ok(self)
    }

    /// Accepts inbound peers on `addr` (port 0 picks a free one).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// The address announced to peers (`tcp://host:port`); default: the
    /// bound listen address, else [`NodeConfig::listen_addr`].
    pub fn external_address(mut self, addr: impl Into<String>) -> Self {
        self.external = Some(addr.into());
        self
    }

    /// An application hook run on every accepted connection before any
    /// crypto work: `false` refuses it.
    pub fn addr_filter(mut self, f: impl FnMut(SocketAddr) -> bool + Send + 'static) -> Self {
        self.addr_filter = Some(Box::new(f));
        self
    }

    /// An application hook run on every authenticated peer: `false` refuses it.
    pub fn peer_filter(
        mut self,
        f: impl FnMut(&mconn::switch::PeerInfo) -> bool + Send + 'static,
    ) -> Self {
        self.peer_filter = Some(Box::new(f));
        self
    }

    /// Binds the listener (if any), starts the reactors, the accept loop
    /// and the timer, and schedules the persistent peers' dials.
    pub async fn start(self) -> Result<Switch<RT>, SwitchError> {
        let SwitchBuilder {
            mut node,
            mut config,
            inboxes,
            starters,
            listen,
            external,
            addr_filter,
            peer_filter,
        } = self;
        if starters.is_empty() {
            return Err(SwitchError::NoReactors);
        }
        config.our_id = node.key.node_id();
        node.channels = inboxes.routes.channels().collect();
        if node.partial_pool.is_none() && config.node_partial_budget != usize::MAX {
            let pool = crate::PartialPool::new(config.node_partial_budget);
            node.partial_pool = Some(Arc::new(pool));
        }
        let listener = match listen {
            Some(addr) => Some(
                RT::bind(addr)
                    .await
                    .map_err(|e| SwitchError::Bind(e.kind()))?,
            ),
            None => None,
        };
        let local_addr = match &listener {
            Some(l) => Some(RT::local_addr(l).map_err(|e| SwitchError::Bind(e.kind()))?),
            None => None,
        };
        match (external, local_addr) {
            (Some(ext), _) => node.listen_addr = ext,
            (None, Some(bound)) => node.listen_addr = std::format!("tcp://{bound}"),
            (None, None) => {}
        }
        let mut manager = PeerManager::new(config, RT::rng(), RT::now());
        if let Some(f) = addr_filter {
            manager.set_addr_filter(f);
        }
        if let Some(f) = peer_filter {
            manager.set_peer_filter(f);
        }
        let reactors = starters.len();
        let inner = Arc::new(Inner {
            node,
            local_addr,
            control: Mutex::new(Control {
                manager,
                peers: BTreeMap::new(),
                pending: BTreeMap::new(),
                reasons: BTreeMap::new(),
                dial_waiters: BTreeMap::new(),
                timer: None,
                timer_due: false,
                stopping: false,
                stop_waiters: Vec::new(),
                accept_waker: None,
                tasks: 0,
                reactors_running: reactors,
            }),
            inboxes: Mutex::new(inboxes),
        });
        let switch = Switch { inner };
        for (i, start) in starters.into_iter().enumerate() {
            start(switch.clone(), ReactorId(i));
        }
        RT::spawn(tasks::timer_task(switch.inner.clone()));
        if let Some(l) = listener {
            RT::spawn(tasks::accept_task(switch.inner.clone(), l));
        }
        switch.inner.run_actions();
        Ok(switch)
    }
}

/// What the switch shares between its tasks.
pub(crate) struct Inner<RT: Runtime> {
    pub(crate) node: NodeConfig,
    pub(crate) local_addr: Option<SocketAddr>,
    pub(crate) control: Mutex<Control<RT>>,
    pub(crate) inboxes: Mutex<Inboxes<RT>>,
}

/// The control plane, behind one lock (taken before the inbox lock, never
/// after it).
pub(crate) struct Control<RT: Runtime> {
    pub(crate) manager: PeerManager<Rng>,
    /// Added peers.
    pub(crate) peers: BTreeMap<ConnId, SwitchPeer<RT>>,
    /// Connections still in their handshake.
    pub(crate) pending: BTreeMap<ConnId, Peer<OnRuntime<RT>>>,
    /// Why we asked a connection to end (the policy's reason beats the
    /// connection's own, which would just say "aborted").
    pub(crate) reasons: BTreeMap<ConnId, DisconnectReason>,
    /// `dial().await` callers waiting for their attempt.
    pub(crate) dial_waiters: BTreeMap<ConnId, tasks::DialSlot<RT>>,
    pub(crate) timer: Option<Waker>,
    pub(crate) timer_due: bool,
    pub(crate) stopping: bool,
    pub(crate) stop_waiters: Vec<Waker>,
    /// The accept loop waits for the switch to stop.
    pub(crate) accept_waker: Option<Waker>,
    /// Live connection tasks (handshakes and peers).
    pub(crate) tasks: usize,
    pub(crate) reactors_running: usize,
}

impl<RT: Runtime> Control<RT> {
    pub(crate) fn wake_stop_waiters(&mut self) {
        for w in self.stop_waiters.drain(..) {
            w.wake();
        }
        if self.stopping {
            if let Some(w) = self.accept_waker.take() {
                w.wake();
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<RT: Runtime> Inner<RT> {
    pub(crate) fn control(&self) -> MutexGuard<'_, Control<RT>> {
        lock(&self.control)
    }

    pub(crate) fn inboxes(&self) -> MutexGuard<'_, Inboxes<RT>> {
        lock(&self.inboxes)
    }

    /// Carries out everything the policy decided, in order, under the
    /// control lock (so a peer's `Added` delivery is queued before anyone
    /// can route its messages).
    pub(crate) fn run_actions(self: &Arc<Self>) {
        use mconn::switch::Action;
        let mut c = self.control();
        while let Some(action) = c.manager.poll_action() {
            match action {
                Action::Dial { conn, addr } => {
                    c.tasks += 1;
                    RT::spawn(tasks::dial_task(self.clone(), conn, addr));
                }
                Action::Disconnect { conn, id, reason } => {
                    debug!("mconn switch: disconnecting {}: {}", id, reason);
                    c.reasons.insert(conn, reason);
                    if let Some(p) = c.peers.get(&conn) {
                        let p = p.connection().clone();
                        if matches!(
                            reason,
                            DisconnectReason::Requested | DisconnectReason::Stopping
                        ) {
                            RT::spawn(async move {
                                let _ = p.close().await;
                            });
                        } else {
                            p.abort();
                        }
                    } else if let Some(p) = c.pending.get(&conn) {
                        p.abort();
                    }
                }
                Action::PeerAdded { conn, id } => {
                    debug!("mconn switch: peer added: {}", id);
                    if let Some(p) = c.peers.get(&conn) {
                        let mut inboxes = self.inboxes();
                        for r in inboxes.reactors().collect::<Vec<_>>() {
                            inboxes.push_control(r, Delivery::Added(p.clone()));
                        }
                    }
                }
                Action::PeerRemoved { conn, id, reason } => {
                    debug!("mconn switch: peer removed: {}: {}", id, reason);
                    if let Some(p) = c.peers.remove(&conn) {
                        let mut inboxes = self.inboxes();
                        for r in inboxes.reactors().collect::<Vec<_>>() {
                            inboxes.push_control(r, Delivery::Removed(p.clone(), reason));
                        }
                    }
                }
            }
        }
        c.timer_due = true;
        if let Some(w) = c.timer.take() {
            w.wake();
        }
    }
}

/// A snapshot of the switch's peers (`Switch.Peers()`).
#[derive(Debug)]
pub struct PeerSet<RT: Runtime> {
    peers: Vec<SwitchPeer<RT>>,
}

impl<RT: Runtime> PeerSet<RT> {
    /// Every peer.
    pub fn list(&self) -> &[SwitchPeer<RT>] {
        &self.peers
    }

    /// The peer with this ID.
    pub fn get(&self, id: &NodeId) -> Option<&SwitchPeer<RT>> {
        self.peers.iter().find(|p| p.id() == *id)
    }

    /// Whether a peer with this ID is in the set.
    pub fn has(&self, id: &NodeId) -> bool {
        self.get(id).is_some()
    }

    /// How many peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Peers we dialed.
    pub fn num_outbound(&self) -> usize {
        self.peers.iter().filter(|p| p.is_outbound()).count()
    }

    /// Peers that dialed us.
    pub fn num_inbound(&self) -> usize {
        self.peers.len() - self.num_outbound()
    }
}

/// The outcome of a [`Switch::broadcast`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Broadcast {
    /// Peers the message was queued for.
    pub queued: usize,
    /// Peers whose queue stayed full for the send timeout, or that closed.
    pub failed: usize,
    /// Peers that do not have the channel.
    pub skipped: usize,
}

impl<RT: Runtime> Switch<RT> {
    /// A builder around our node settings and the policy's settings
    /// (`config.our_id` is taken from `node.key`).
    pub fn builder(node: NodeConfig, config: SwitchConfig) -> SwitchBuilder<RT> {
        SwitchBuilder {
            node,
            config,
            inboxes: Inboxes::new(),
            starters: Vec::new(),
            listen: None,
            external: None,
            addr_filter: None,
            peer_filter: None,
        }
    }

    /// Our node ID.
    pub fn node_id(&self) -> NodeId {
        self.inner.node.key.node_id()
    }

    /// The bound listen address, if listening.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr
    }

    /// Our settings (channels are the reactors', the listen address the
    /// announced one).
    pub fn node_config(&self) -> &NodeConfig {
        &self.inner.node
    }

    /// Our address as peers should dial it, if we listen on an IP address.
    pub fn net_addr(&self) -> Option<NetAddr> {
        let addr = self.inner.node.listen_addr.to_string();
        let l = mconn::handshake::parse_listen_addr(&addr).ok()?;
        match l.host {
            mconn::handshake::Host::Ip(ip) => Some(NetAddr::new(self.node_id(), ip, l.port)),
            mconn::handshake::Host::Dns(_) => None,
        }
    }

    /// A snapshot of the peer set.
    pub fn peers(&self) -> PeerSet<RT> {
        PeerSet {
            peers: self.inner.control().peers.values().cloned().collect(),
        }
    }

    /// Runs `f` on the policy (limits, counts, who is persistent or private).
    pub fn with_policy<R>(&self, f: impl FnOnce(&PeerManager<Rng>) -> R) -> R {
        f(&self.inner.control().manager)
    }

    /// Counters of the policy (admissions, refusals by reason, reports).
    pub fn stats(&self) -> SwitchStats {
        self.inner.control().manager.stats()
    }

    /// Counters of one reactor's inbox (in order of `reactor` calls).
    pub fn inbox_stats(&self, reactor: usize) -> InboxStats {
        self.inner.inboxes().routes.stats(ReactorId(reactor))
    }

    /// Dials `addr` and waits until the peer is added (or why not).
    pub async fn dial(&self, addr: NetAddr) -> Result<SwitchPeer<RT>, DialError> {
        let rx = {
            let mut c = self.inner.control();
            let conn = c
                .manager
                .dial(RT::now(), addr)
                .map_err(DialError::Refused)?;
            let (slot, rx) = tasks::dial_slot();
            c.dial_waiters.insert(conn, slot);
            c.tasks += 1;
            RT::spawn(tasks::dial_task(self.inner.clone(), conn, addr));
            rx
        };
        rx.await
    }

    /// Dials every address without waiting (`DialPeersAsync`); with
    /// `persistent`, they become persistent peers (redialled forever).
    /// Returns the refusals of the ones not dialled.
    pub fn dial_peers(
        &self,
        addrs: impl IntoIterator<Item = NetAddr>,
        persistent: bool,
    ) -> Vec<(NetAddr, mconn::switch::Refusal)> {
        let mut refused = Vec::new();
        {
            let mut c = self.inner.control();
            let now = RT::now();
            for addr in addrs {
                if persistent {
                    c.manager.add_persistent(now, addr);
                    continue;
                }
                match c.manager.dial(now, addr) {
                    Ok(conn) => {
                        c.tasks += 1;
                        RT::spawn(tasks::dial_task(self.inner.clone(), conn, addr));
                    }
                    Err(r) => refused.push((addr, r)),
                }
            }
        }
        self.inner.run_actions();
        refused
    }

    /// Queues `msg` on `channel` for every peer that has the channel,
    /// concurrently, each waiting for queue room up to the send timeout
    /// (`Switch.Broadcast`).
    pub async fn broadcast(&self, channel: u8, msg: &[u8]) -> Broadcast {
        let peers = self.peers();
        let mut out = Broadcast::default();
        let sends: Vec<_> = peers
            .list()
            .iter()
            .filter(|p| {
                let has = p.has_channel(channel);
                out.skipped += usize::from(!has);
                has
            })
            .map(|p| p.send(channel, msg))
            .collect();
        for r in futures_util::future::join_all(sends).await {
            match r {
                Ok(()) => out.queued += 1,
                Err(_) => out.failed += 1,
            }
        }
        out
    }

    /// A reactor's (or the application's) report on a peer: good ones are
    /// counted; a bad one disconnects the peer and keeps it from coming
    /// straight back.
    pub fn report(&self, id: NodeId, report: Report) {
        self.inner.control().manager.report(RT::now(), id, report);
        self.inner.run_actions();
    }

    /// Disconnects a peer for misbehaving (`StopPeerForError`).
    pub fn stop_peer_for_error(&self, id: NodeId, why: Misbehaviour) {
        self.report(id, Report::Bad(why));
    }

    /// Disconnects a peer after sending what is queued for it
    /// (`StopPeerGracefully`). `false` if it is not a peer.
    pub fn stop_peer_gracefully(&self, id: NodeId) -> bool {
        let known = self
            .inner
            .control()
            .manager
            .stop_peer(id, DisconnectReason::Requested);
        self.inner.run_actions();
        known
    }

    /// Stops the switch: no more accepts or dials, every peer closed
    /// gracefully (bounded by the linger time), every reactor's `stop`
    /// called; returns when all of that is done.
    pub async fn stop(&self) {
        {
            let mut c = self.inner.control();
            if !c.stopping {
                c.stopping = true;
                c.manager.stop();
                for p in c.pending.values() {
                    p.abort();
                }
                c.wake_stop_waiters();
            }
        }
        self.inner.run_actions();
        // Peers close gracefully within their linger time; then they are cut.
        let drained = || self.none_left(|c| c.tasks);
        let deadline = RT::now() + self.inner.node.linger + core::time::Duration::from_secs(1);
        if let Either::Second(()) = select(drained(), RT::sleep_until(deadline)).await {
            {
                let c = self.inner.control();
                for p in c.peers.values() {
                    p.connection().abort();
                }
            }
            // Cut peers end at once; their removals reach the reactors'
            // inboxes from their own tasks, which must come before `Stop`
            // (or a reactor would never hear `remove_peer` for them).
            let deadline = RT::now() + core::time::Duration::from_secs(1);
            let _ = select(drained(), RT::sleep_until(deadline)).await;
        }
        {
            let mut inboxes = self.inner.inboxes();
            for r in inboxes.reactors().collect::<Vec<_>>() {
                inboxes.push_control(r, Delivery::Stop);
            }
        }
        let deadline = RT::now() + core::time::Duration::from_secs(5);
        let reactors_done = self.none_left(|c| c.reactors_running);
        let _ = select(reactors_done, RT::sleep_until(deadline)).await;
    }

    /// Resolves once `count` of the switch's state is zero (re-checked
    /// whenever stop waiters are woken: a task or reactor ended).
    fn none_left(&self, count: fn(&Control<RT>) -> usize) -> impl Future<Output = ()> + '_ {
        poll_fn(move |cx| {
            let mut c = self.inner.control();
            if count(&c) == 0 {
                Poll::Ready(())
            } else {
                c.stop_waiters.push(cx.waker().clone());
                Poll::Pending
            }
        })
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopping(&self) -> bool {
        self.inner.control().stopping
    }
}
