//! The PEX reactor (std): CometBFT's peer exchange on channel `0x00`, for
//! any [`Runtime`].
//!
//! The rules — when to ask and answer, what to dial, whom to ban — are the
//! core's sans-IO [`PexMachine`]; [`PexReactor`] only carries its actions
//! out through the [`Switch`]: messages are sent on the peer, dials run on
//! their own tasks (so the reactor never waits for a handshake) and report
//! back to the machine, misbehaving peers are reported to the switch (the
//! machine has already banned them in the book), and the address book is
//! saved every `save_period`, whenever the machine asks, and on stop.
//!
//! ```no_run
//! # async fn demo<RT: mconn_driver::switch::Runtime>(node: mconn_driver::NodeConfig, seed: mconn::identity::NetAddr) -> Result<(), Box<dyn std::error::Error>> {
//! use mconn::pex::{BookConfig, PexConfig};
//! use mconn::switch::SwitchConfig;
//! use mconn_driver::pex::PexReactor;
//! use mconn_driver::switch::Switch;
//!
//! let config = PexConfig { seeds: vec![seed], ..PexConfig::default() };
//! let (pex, _how) = PexReactor::<RT>::open("config/addrbook.json", BookConfig::default(), config)?;
//! let book = pex.handle(); // read the book from anywhere
//! let switch = Switch::<RT>::builder(node.clone(), SwitchConfig::new(node.key.node_id()))
//!     .reactor(pex)?
//!     .listen("0.0.0.0:26656".parse()?)
//!     .start()
//!     .await?;
//! // ... later
//! println!("{} addresses known", book.book_size());
//! switch.stop().await; // saves the book
//! # Ok(()) }
//! ```

use core::marker::PhantomData;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;
use std::vec::Vec;

use mconn::identity::{NetAddr, NodeId};
use mconn::pex::{
    AddrBook, BookConfig, BookFile, BookFileError, KnownAddr, LoadOutcome, PexAction, PexConfig,
    PexMachine, PexPeer, Received, UnixTime, PEX_CHANNEL, PEX_MAX_MSG_SIZE, PEX_PRIORITY,
    PEX_SEND_QUEUE,
};
use mconn::switch::{ChannelDescriptor, DisconnectReason};
use mconn::Instant;

use crate::switch::{DialError, Reactor, Rng, Runtime, Switch, SwitchPeer};

/// What the reactor, its dial tasks and its [`PexHandle`]s share.
struct Shared {
    machine: Mutex<PexMachine<Rng>>,
    path: Mutex<Option<PathBuf>>,
    /// The runtime's clock (`Runtime::now`).
    now: fn() -> Instant,
    last_save_error: Mutex<Option<BookFileError>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn machine(&self) -> MutexGuard<'_, PexMachine<Rng>> {
        lock(&self.machine)
    }

    /// Runs `f` on the machine and returns the actions it queued.
    fn act(&self, f: impl FnOnce(&mut PexMachine<Rng>)) -> Vec<PexAction> {
        let mut m = self.machine();
        f(&mut m);
        core::iter::from_fn(|| m.poll_action()).collect()
    }

    /// Saves a copy of the book (taken under the lock, written outside it).
    /// `Ok(false)`: there is no file to save to.
    fn save(&self) -> Result<bool, BookFileError> {
        let Some(path) = lock(&self.path).clone() else {
            return Ok(false);
        };
        let book = self.machine().book().clone();
        let result = book.save(&path);
        if let Err(e) = &result {
            warn!("mconn pex: cannot save the address book: {}", e);
        }
        *lock(&self.last_save_error) = result.as_ref().err().cloned();
        result.map(|()| true)
    }
}

/// A handle on a [`PexReactor`]'s address book, usable from any task or
/// thread (for example a crawler's report or a test). Cheap to clone.
#[derive(Clone)]
pub struct PexHandle {
    shared: Arc<Shared>,
}

impl core::fmt::Debug for PexHandle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PexHandle")
            .field("path", &self.path())
            .finish()
    }
}

impl PexHandle {
    /// Every entry of the book, live ones first, then banned ones.
    pub fn book_snapshot(&self) -> Vec<KnownAddr> {
        self.shared.machine().book().snapshot()
    }

    /// Live entries in the book.
    pub fn book_size(&self) -> usize {
        self.shared.machine().book().size()
    }

    /// Runs `f` on the book (keep it short: the reactor waits meanwhile).
    pub fn with_book<T>(&self, f: impl FnOnce(&AddrBook) -> T) -> T {
        f(self.shared.machine().book())
    }

    /// Marks `id` good (CometBFT's consensus does this for useful peers):
    /// its entry moves to an old bucket.
    pub fn mark_good(&self, id: &NodeId) {
        let mut m = self.shared.machine();
        let wall = m.wall_time((self.shared.now)());
        m.book_mut().mark_good(wall, id);
    }

    /// Saves the book now. `Ok(false)` if the reactor has no file.
    pub fn save(&self) -> Result<bool, BookFileError> {
        self.shared.save()
    }

    /// The book's file, if it has one.
    pub fn path(&self) -> Option<PathBuf> {
        lock(&self.shared.path).clone()
    }

    /// Why the last save failed, if it did.
    pub fn last_save_error(&self) -> Option<BookFileError> {
        lock(&self.shared.last_save_error).clone()
    }

    /// Peers the rules currently track.
    pub fn num_peers(&self) -> usize {
        self.shared.machine().num_peers()
    }
}

/// The book a [`PexReactor`] starts from: an [`AddrBook`] kept in memory,
/// or a [`BookFile`] (from [`AddrBook::open`]) that the reactor saves back
/// to its file.
#[derive(Clone, Debug)]
pub struct PexBook {
    book: AddrBook,
    path: Option<PathBuf>,
}

impl From<AddrBook> for PexBook {
    fn from(book: AddrBook) -> Self {
        PexBook { book, path: None }
    }
}

impl From<BookFile> for PexBook {
    fn from(file: BookFile) -> Self {
        PexBook {
            book: file.book,
            path: Some(file.path),
        }
    }
}

/// CometBFT's PEX reactor on a [`Switch`]: channel `0x00` (priority 1,
/// send queue 10, messages up to 64 000 bytes) and the rules of
/// [`PexMachine`]. See the [module docs](self).
pub struct PexReactor<RT: Runtime> {
    shared: Arc<Shared>,
    switch: Option<Switch<RT>>,
    /// The peers as this reactor has seen them (in the order of its
    /// inbox): an answer goes to the connection the request came on, never
    /// to a newer connection of the same node that did not ask.
    peers: BTreeMap<NodeId, SwitchPeer<RT>>,
    _runtime: PhantomData<fn() -> RT>,
}

impl<RT: Runtime> core::fmt::Debug for PexReactor<RT> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PexReactor")
            .field("path", &self.handle().path())
            .finish()
    }
}

impl<RT: Runtime> PexReactor<RT> {
    /// A reactor over `book`: an [`AddrBook`], kept in memory only (see
    /// [`save_to`](Self::save_to)), or a [`BookFile`] from
    /// [`AddrBook::open`], saved back to its file. Randomness comes from
    /// [`Runtime::rng`].
    ///
    /// The seed documents' `book := p2p.NewAddrBook(addrBookFilePath);
    /// pexReactor := p2p.NewPEXReactor(book); switch :=
    /// NewSwitch([]Reactor{pexReactor, myReactor, ...})`, in Rust:
    ///
    /// ```no_run
    /// # async fn demo<RT: mconn_driver::switch::Runtime, M: mconn_driver::switch::Reactor<RT>>(node: mconn_driver::NodeConfig, my_reactor: M) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::SystemTime;
    /// use mconn::pex::{AddrBook, BookConfig, PexConfig, UnixTime};
    /// use mconn::switch::SwitchConfig;
    /// use mconn_driver::pex::PexReactor;
    /// use mconn_driver::switch::Switch;
    ///
    /// let now = UnixTime::from_system_time(SystemTime::now());
    /// let book = AddrBook::open("config/addrbook.json", BookConfig::default(), now, &mut rand_core::OsRng)?;
    /// let pex = PexReactor::new(book, PexConfig::default());
    /// let switch = Switch::<RT>::builder(node.clone(), SwitchConfig::new(node.key.node_id()))
    ///     .reactor(pex)?
    ///     .reactor(my_reactor)?
    ///     .listen("0.0.0.0:26656".parse()?)
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn new(book: impl Into<PexBook>, config: PexConfig) -> Self {
        let PexBook { book, path } = book.into();
        Self::build(book, config, path)
    }

    /// The same reactor, saving its book to `path` (every `save_period`,
    /// on request and on stop).
    pub fn save_to(self, path: impl Into<PathBuf>) -> Self {
        *lock(&self.shared.path) = Some(path.into());
        self
    }

    /// Opens the book at `path` (creating an empty one if there is no file,
    /// moving a corrupt one aside; the [`LoadOutcome`] says which) and
    /// builds a reactor that saves to it.
    pub fn open(
        path: impl Into<PathBuf>,
        book_config: BookConfig,
        config: PexConfig,
    ) -> Result<(Self, LoadOutcome), BookFileError> {
        let wall = UnixTime::from_system_time(SystemTime::now());
        let file = AddrBook::open(path, book_config, wall, &mut RT::rng())?;
        let outcome = file.outcome.clone();
        Ok((Self::new(file, config), outcome))
    }

    fn build(book: AddrBook, config: PexConfig, path: Option<PathBuf>) -> Self {
        let wall = UnixTime::from_system_time(SystemTime::now());
        let machine = PexMachine::new(book, config, RT::rng(), RT::now(), wall);
        PexReactor {
            shared: Arc::new(Shared {
                machine: Mutex::new(machine),
                path: Mutex::new(path),
                now: RT::now,
                last_save_error: Mutex::new(None),
            }),
            switch: None,
            peers: BTreeMap::new(),
            _runtime: PhantomData,
        }
    }

    /// A handle on the book for use outside the reactor's task.
    pub fn handle(&self) -> PexHandle {
        PexHandle {
            shared: self.shared.clone(),
        }
    }

    /// Carries out actions on the reactor's task (sends wait for queue room
    /// up to the send timeout).
    async fn carry_out(&self, actions: Vec<PexAction>) {
        let Some(switch) = &self.switch else {
            return;
        };
        for action in actions {
            let own = |id: &NodeId| self.peers.get(id).cloned();
            if let Some((peer, msg)) = dispatch(&self.shared, switch, action, own) {
                if let Err(e) = peer.send(PEX_CHANNEL, &msg).await {
                    debug!("mconn pex: cannot send to {}: {}", peer.id(), e);
                }
            }
        }
    }
}

/// Carries out one action at once; a send is returned for the caller to
/// perform (awaiting on the reactor's task, `try_send` elsewhere).
fn dispatch<RT: Runtime>(
    shared: &Arc<Shared>,
    switch: &Switch<RT>,
    action: PexAction,
    peer_of: impl Fn(&NodeId) -> Option<SwitchPeer<RT>>,
) -> Option<(SwitchPeer<RT>, Vec<u8>)> {
    match action {
        PexAction::Send { to, msg } => match peer_of(&to) {
            Some(peer) => return Some((peer, msg)),
            None => debug!("mconn pex: {} left before we could send", to),
        },
        PexAction::Dial(addr) => spawn_dial(shared.clone(), switch.clone(), addr),
        PexAction::Disconnect { id, why, ban } => {
            debug!("mconn pex: disconnecting {}: {} (ban {:?})", id, why, ban);
            switch.stop_peer_for_error(id, why);
        }
        PexAction::DisconnectAfterSend { id } => {
            switch.stop_peer_gracefully(id);
        }
        PexAction::SaveBook => {
            let _ = shared.save();
        }
    }
    None
}

/// Dials `addr` on its own task and reports the outcome to the machine.
fn spawn_dial<RT: Runtime>(shared: Arc<Shared>, switch: Switch<RT>, addr: NetAddr) {
    RT::spawn(async move {
        let result = switch.dial(addr).await;
        let dialed = result.as_ref().ok().cloned();
        let actions = shared.act(|m| {
            let now = RT::now();
            match result {
                Ok(_) => m.dialed(now, &addr),
                Err(DialError::Refused(why)) => m.dial_refused(now, &addr, why),
                Err(e) => {
                    debug!("mconn pex: dial {} failed: {}", addr, e);
                    m.dial_failed(now, &addr);
                }
            }
        });
        // Sends go to the connection this dial made.
        let peer_of = |id: &NodeId| dialed.clone().filter(|p| p.id() == *id);
        for action in actions {
            if let Some((peer, msg)) = dispatch(&shared, &switch, action, peer_of) {
                let _ = peer.try_send(PEX_CHANNEL, &msg);
            }
        }
    });
}

impl<RT: Runtime> Reactor<RT> for PexReactor<RT> {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        std::vec![ChannelDescriptor::new(PEX_CHANNEL, PEX_PRIORITY)
            .send_queue(PEX_SEND_QUEUE)
            .recv_message_capacity(PEX_MAX_MSG_SIZE)]
    }

    async fn start(&mut self, switch: &Switch<RT>) {
        self.switch = Some(switch.clone());
        let private = switch.with_policy(|p| p.config().private_ids.clone());
        let ours = switch.net_addr();
        let mut m = self.shared.machine();
        let book = m.book_mut();
        if let Some(ours) = ours {
            let _ = book.add_our_address(ours);
            book.remove(&ours.id);
        }
        if book.add_private_ids(private).is_err() {
            warn!("mconn pex: too many private peer IDs for the address book");
        }
        if !m.can_bootstrap() {
            warn!("mconn pex: the address book is empty and there are no seeds");
        }
    }

    async fn add_peer(&mut self, peer: &SwitchPeer<RT>) {
        self.peers.insert(peer.id(), peer.clone());
        let info = PexPeer::from(peer.entry());
        let actions = self.shared.act(|m| m.peer_added(RT::now(), info));
        self.carry_out(actions).await;
    }

    async fn remove_peer(&mut self, peer: &SwitchPeer<RT>, reason: DisconnectReason) {
        if self.peers.get(&peer.id()).map(|p| p.entry().conn) == Some(peer.entry().conn) {
            self.peers.remove(&peer.id());
        }
        let actions = self
            .shared
            .act(|m| m.peer_removed(RT::now(), &peer.id(), reason));
        self.carry_out(actions).await;
    }

    async fn receive(&mut self, _channel: u8, peer: &SwitchPeer<RT>, msg: Vec<u8>) {
        let id = peer.id();
        let mut outcome = Received::Ignored;
        let actions = self
            .shared
            .act(|m| outcome = m.receive(RT::now(), &id, &msg));
        if let Received::Rejected(why) = outcome {
            debug!("mconn pex: {} broke the rules: {}", id, why);
        }
        self.carry_out(actions).await;
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.shared.machine().poll_timeout()
    }

    async fn on_timeout(&mut self, now: Instant) {
        let Some(switch) = &self.switch else {
            return;
        };
        let actions = self
            .shared
            .act(|m| switch.with_policy(|policy| m.handle_timeout(now, policy)));
        self.carry_out(actions).await;
    }

    async fn stop(&mut self) {
        let _ = self.shared.save();
    }
}
