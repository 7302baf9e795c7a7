//! The PEX reactor's rules (spec §6) as a sans-IO machine: [`PexMachine`].

mod config;
mod dial;
mod ensure;
mod rate;
mod types;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use rand_core::RngCore;

use super::{AddrBook, UnixTime};
use crate::identity::{NetAddr, NodeId};
use crate::switch::{DisconnectReason, Misbehaviour, Refusal};
use crate::time::Instant;
use crate::wire::pex::{self as wire, NetAddress, PexAddrs, PexMessage};

pub use config::{PexConfig, PEX_CHANNEL, PEX_MAX_MSG_SIZE, PEX_PRIORITY, PEX_SEND_QUEUE};
pub use rate::RequestLimiter;
pub use types::{PexAction, PexPeer, PexView, Received};

use dial::{DialHistory, DialKind, PendingDials};

/// What the machine keeps about one connected peer.
#[derive(Clone, Debug)]
struct PeerState {
    peer: PexPeer,
    /// Its address for the book (and as the source of what it tells us).
    addr: Option<NetAddr>,
    since: Instant,
    /// We sent a request it has not answered (`requestsSent`).
    requested: bool,
    limiter: RequestLimiter,
    /// Seed mode: its one request was answered.
    answered: bool,
    /// A disconnect was asked for: ignore what else it sends.
    leaving: bool,
}

/// CometBFT's PEX reactor rules (spec §6) over an [`AddrBook`], sans-IO.
///
/// The machine owns the [`AddrBook`] and turns peer events, PEX messages,
/// dial outcomes and timer ticks into [`PexAction`]s: messages to send,
/// addresses to dial, peers to disconnect (and ban), the book to save. It
/// reads no clock (time comes in as [`Instant`]; the book's wall-clock
/// [`UnixTime`] is derived from a pair given at construction) and draws
/// randomness from its own caller-supplied RNG.
///
/// Driving it: after each call, drain [`poll_action`](PexMachine::poll_action)
/// and carry the actions out; call [`handle_timeout`](PexMachine::handle_timeout)
/// at [`poll_timeout`](PexMachine::poll_timeout) with a [`PexView`] of the
/// switch; report every [`PexAction::Dial`] back with
/// [`dialed`](PexMachine::dialed), [`dial_failed`](PexMachine::dial_failed)
/// or [`dial_refused`](PexMachine::dial_refused).
///
/// The rules, with CometBFT's names:
/// - **Requests** (`RequestAddrs`): at most one outstanding per peer; sent
///   to an outbound peer when it is added and the book needs addresses (a
///   seed always asks), and by `ensure_peers` to one random peer.
/// - **Responses** (`ReceiveAddrs`): unsolicited → disconnect + ban
///   ([`Misbehaviour::UnsolicitedAddrs`]); more than `max_addrs_per_msg`
///   addresses, an IP that does not parse or a port above 65535 →
///   [`Misbehaviour::BadAddrs`] + ban; otherwise every address goes to the
///   book with the sender as source (addresses the book refuses, such as a
///   bad ID, are skipped). A response from a configured seed runs
///   `ensure_peers` at once.
/// - **Inbound requests**: rate-limited per peer by a [`RequestLimiter`]
///   (too soon → [`Misbehaviour::PexRequestTooSoon`] + ban), answered with
///   [`AddrBook::selection`]. A seed answers an inbound peer once with
///   [`AddrBook::selection_with_bias`] and hangs up.
/// - **Inbound peers'** listen addresses go to the book with themselves as
///   source ([`PexPeer::advertised_addr`]).
/// - **`ensure_peers`** every `ensure_peers_period` (at once at start when
///   we have no peers, else after `U[0, period)`): dial up to
///   `target − (outbound + dialing)` picks with bias
///   `min(outbound, 8)·10 + 10`, each subject to the per-address backoff
///   `2^failures s + U[0, 1 s)`; more than `max_dial_attempts` failures →
///   banned. When the book needs addresses: reinstate expired bans, ask one
///   random peer, and dial the seeds (random order, next one on failure)
///   if nothing was dialled.
/// - **Seed mode**: every `crawl_period` let go of non-persistent peers
///   older than `seed_disconnect_wait`, then crawl a selection of the book
///   (skipping addresses crawled within `min_time_between_crawls`), asking
///   each crawled peer for addresses and hanging up once it answered.
///
/// Bounded: per-peer state lives only while the peer does (at most
/// `max_peers`), dial histories, pending dials and crawl records have
/// configured caps and are pruned by age.
///
/// ```
/// use mconn::identity::{NetAddr, NodeId};
/// use mconn::pex::{AddrBook, BookConfig, PexAction, PexConfig, PexMachine, PexPeer, PexView, UnixTime};
/// use mconn::wire::pex::{self, PexMessage};
/// use mconn::Instant;
/// # struct Rng(u64);
/// # impl rand_core::RngCore for Rng {
/// #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
/// #     fn next_u64(&mut self) -> u64 { self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); self.0 >> 11 }
/// #     fn fill_bytes(&mut self, d: &mut [u8]) { for b in d { *b = self.next_u64() as u8 } }
/// #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> { self.fill_bytes(d); Ok(()) }
/// # }
/// struct View; // the switch as PEX sees it: here, nobody connected
/// impl PexView for View {
///     fn max_outbound(&self) -> usize { 10 }
///     fn num_outbound(&self) -> usize { 0 }
///     fn num_dialing(&self) -> usize { 0 }
///     fn is_dialing_or_connected(&self, _: &NodeId) -> bool { false }
///     fn is_persistent(&self, _: &NodeId) -> bool { false }
/// }
///
/// let book = AddrBook::new(BookConfig::default(), &mut Rng(1));
/// let t0 = Instant::ZERO;
/// let mut pex = PexMachine::new(book, PexConfig::default(), Rng(2), t0, UnixTime::from_secs(1_700_000_000));
///
/// // We dialled a peer: the book is empty, so we ask it for addresses.
/// let peer: NetAddr = "24f6ed6acbfe1009c030d7ca567c33ca48309114@5.6.7.8:26656".parse().unwrap();
/// pex.peer_added(t0, PexPeer { id: peer.id, outbound: true, listen_addr: Some(peer), remote_ip: peer.ip, persistent: false });
/// let Some(PexAction::Send { to, msg }) = pex.poll_action() else { panic!() };
/// assert_eq!((to, PexMessage::decode(&msg)), (peer.id, Ok(PexMessage::Request)));
///
/// // It answers with one address; the book takes it.
/// let other: NetAddr = "56475aa75463474c0285df5dbf2bcab73da65135@1.2.3.4:26656".parse().unwrap();
/// let (mut id, mut ip) = ([0; 40], [0; 46]);
/// let mut buf = [0u8; 128];
/// let n = pex::encode_addrs(&[other.to_wire(&mut id, &mut ip)], &mut buf).unwrap();
/// pex.receive(t0, &peer.id, &buf[..n]);
/// assert!(pex.book().has(&other.id));
///
/// // The first round is due at once; since we have a peer it only picks a
/// // random delay, then ensure_peers dials the new address.
/// assert_eq!(pex.poll_timeout(), Some(t0));
/// pex.handle_timeout(t0, &View);
/// let t1 = pex.poll_timeout().unwrap();
/// pex.handle_timeout(t1, &View);
/// assert_eq!(pex.poll_action(), Some(PexAction::Dial(other)));
/// ```
#[derive(Debug)]
pub struct PexMachine<R: RngCore> {
    cfg: PexConfig,
    book: AddrBook,
    rng: R,
    /// `now` ↔ wall clock: `wall = wall_origin + (now − origin)`.
    origin: Instant,
    wall_origin: UnixTime,
    peers: BTreeMap<NodeId, PeerState>,
    history: DialHistory,
    pending: PendingDials,
    /// Seeds still to try, in random order, after the current one fails.
    seed_queue: Vec<NetAddr>,
    /// Seed mode: when each ID was last crawled.
    crawled: BTreeMap<NodeId, Instant>,
    actions: VecDeque<PexAction>,
    started: bool,
    /// The next `ensure_peers` round (or crawl, in seed mode).
    next_round: Instant,
    /// An extra `ensure_peers` (without asking a peer) is due at once.
    ensure_soon: Option<Instant>,
    next_save: Instant,
}

impl<R: RngCore> PexMachine<R> {
    /// A machine over `book`, started at `now`, when the wall clock reads
    /// `wall` (the book's timestamps are `wall + (later now − now)`).
    /// Its first round is due at `now`.
    pub fn new(book: AddrBook, config: PexConfig, rng: R, now: Instant, wall: UnixTime) -> Self {
        let min = Duration::from_millis(1);
        let mut cfg = config;
        cfg.ensure_peers_period = cfg.ensure_peers_period.max(min);
        cfg.crawl_period = cfg.crawl_period.max(min);
        cfg.save_period = cfg.save_period.max(min);
        let next_save = now + cfg.save_period;
        PexMachine {
            cfg,
            book,
            rng,
            origin: now,
            wall_origin: wall,
            peers: BTreeMap::new(),
            history: DialHistory::default(),
            pending: PendingDials::default(),
            seed_queue: Vec::new(),
            crawled: BTreeMap::new(),
            actions: VecDeque::new(),
            started: false,
            next_round: now,
            ensure_soon: None,
            next_save,
        }
    }

    /// The settings (periods at least 1 ms).
    pub fn config(&self) -> &PexConfig {
        &self.cfg
    }

    /// The address book.
    pub fn book(&self) -> &AddrBook {
        &self.book
    }

    /// The address book, to add addresses, mark peers good, and so on.
    pub fn book_mut(&mut self) -> &mut AddrBook {
        &mut self.book
    }

    /// The RNG, for book calls that need one ([`AddrBook::add_address`]).
    pub fn book_and_rng(&mut self) -> (&mut AddrBook, &mut R) {
        (&mut self.book, &mut self.rng)
    }

    /// The wall-clock time at `now`, as the book's timestamps use it.
    pub fn wall_time(&self, now: Instant) -> UnixTime {
        self.wall_origin
            .saturating_add(now.saturating_duration_since(self.origin))
    }

    /// Peers the machine tracks.
    pub fn num_peers(&self) -> usize {
        self.peers.len()
    }

    /// Whether we asked `id` for addresses and it has not answered.
    pub fn is_request_outstanding(&self, id: &NodeId) -> bool {
        self.peers.get(id).is_some_and(|p| p.requested)
    }

    /// Failed dials to `addr` since its last success (Go's `AttemptsToDial`).
    pub fn dial_attempts(&self, addr: &NetAddr) -> u32 {
        self.history.get(addr).map_or(0, |r| r.attempts)
    }

    /// Addresses with a dial history (bounded by `max_dial_records`).
    pub fn num_dial_records(&self) -> usize {
        self.history.len()
    }

    /// Seed mode crawl records (bounded by `max_crawl_records`).
    pub fn num_crawl_records(&self) -> usize {
        self.crawled.len()
    }

    /// Dials asked for whose outcome is not reported yet.
    pub fn num_pending_dials(&self) -> usize {
        self.pending.len()
    }

    /// Whether the book can ever lead us to peers: it has addresses or
    /// there are seeds (CometBFT refuses to start otherwise).
    pub fn can_bootstrap(&self) -> bool {
        !self.book.is_empty() || !self.cfg.seeds.is_empty()
    }

    /// The book, giving up the machine.
    pub fn into_book(self) -> AddrBook {
        self.book
    }

    /// The next action to carry out.
    pub fn poll_action(&mut self) -> Option<PexAction> {
        self.actions.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let next = self.next_round.min(self.next_save);
        Some(self.ensure_soon.map_or(next, |soon| soon.min(next)))
    }

    // ---- peers ------------------------------------------------------------

    /// A peer was added (`AddPeer`). An outbound one is asked for addresses
    /// if the book needs them (always in seed mode); an inbound one's
    /// listen address goes to the book with itself as source. Beyond
    /// `max_peers` tracked peers, the peer is ignored.
    pub fn peer_added(&mut self, now: Instant, peer: PexPeer) {
        if !self.peers.contains_key(&peer.id) && self.peers.len() >= self.cfg.max_peers {
            warn!(
                "pex: tracking {} peers already; ignoring {}",
                self.peers.len(),
                peer.id
            );
            return;
        }
        let addr = peer.advertised_addr();
        self.peers.insert(
            peer.id,
            PeerState {
                peer,
                addr,
                since: now,
                requested: false,
                limiter: RequestLimiter::new(self.cfg.request_interval, self.cfg.request_burst),
                answered: false,
                leaving: false,
            },
        );
        if peer.outbound {
            if self.cfg.seed_mode || self.book.need_more_addrs() {
                self.request(&peer.id);
            }
        } else if let Some(addr) = addr {
            let wall = self.wall_time(now);
            let added = self.book.add_address(wall, addr, addr, &mut self.rng);
            trace!("pex: inbound {} listens at {}: {:?}", peer.id, addr, added);
        }
    }

    /// A peer left (`RemovePeer`): its state is dropped. If it left through
    /// its own fault ([`DisconnectReason::is_misbehaviour`]) its address is
    /// banned in the book for `misbehaviour_ban` (a longer ban the PEX rules
    /// already gave it stays), so it is not redialled from the book at once.
    pub fn peer_removed(&mut self, now: Instant, id: &NodeId, reason: DisconnectReason) {
        self.peers.remove(id);
        if reason.is_misbehaviour() {
            let wall = self.wall_time(now);
            if self.book.mark_bad(wall, id, self.cfg.misbehaviour_ban) {
                debug!(
                    "pex: {} banned for {}: {}",
                    id,
                    self.cfg.misbehaviour_ban.as_secs(),
                    reason
                );
            }
        }
    }

    /// Asks `id` for addresses unless a request is outstanding.
    fn request(&mut self, id: &NodeId) {
        let Some(p) = self.peers.get_mut(id) else {
            return;
        };
        if p.requested || p.leaving {
            return;
        }
        p.requested = true;
        let mut buf = [0u8; wire::REQUEST_LEN];
        let n = wire::encode_request(&mut buf).unwrap_or(0);
        self.actions.push_back(PexAction::Send {
            to: *id,
            msg: buf[..n].to_vec(),
        });
    }

    // ---- messages ---------------------------------------------------------

    /// A message from `from` on the PEX channel. Never panics, whatever the
    /// bytes; what it did is returned and any reply or disconnect queued.
    pub fn receive(&mut self, now: Instant, from: &NodeId, msg: &[u8]) -> Received {
        match self.peers.get(from) {
            None => return Received::Ignored,
            Some(p) if p.leaving => return Received::Ignored,
            Some(_) => {}
        }
        match PexMessage::decode(msg) {
            Err(_) => self.reject(
                now,
                from,
                Misbehaviour::BadMessage {
                    channel: PEX_CHANNEL,
                },
            ),
            Ok(PexMessage::Request) => self.on_request(now, from),
            Ok(PexMessage::Addrs(addrs)) => self.on_addrs(now, from, addrs),
        }
    }

    fn on_request(&mut self, now: Instant, from: &NodeId) -> Received {
        let Some(p) = self.peers.get_mut(from) else {
            return Received::Ignored;
        };
        if self.cfg.seed_mode && !p.peer.outbound {
            if p.answered {
                return Received::Ignored;
            }
            p.answered = true;
            p.leaving = true;
            let selection = self
                .book
                .selection_with_bias(self.cfg.seed_selection_bias, &mut self.rng);
            self.send_addrs(from, &selection);
            self.actions
                .push_back(PexAction::DisconnectAfterSend { id: *from });
            return Received::Answered {
                addrs: selection.len(),
            };
        }
        if !p.limiter.accept(now) {
            return self.reject(now, from, Misbehaviour::PexRequestTooSoon);
        }
        let selection = self.book.selection(&mut self.rng);
        self.send_addrs(from, &selection);
        Received::Answered {
            addrs: selection.len(),
        }
    }

    fn on_addrs(&mut self, now: Instant, from: &NodeId, addrs: PexAddrs<'_>) -> Received {
        if !self.peers.get(from).is_some_and(|p| p.requested) {
            return self.reject(now, from, Misbehaviour::UnsolicitedAddrs);
        }
        if addrs.len() > self.cfg.max_addrs_per_msg {
            return self.reject(now, from, Misbehaviour::BadAddrs);
        }
        // Go refuses the whole list if any IP or port does not parse; a bad
        // ID only costs that one address (the book would refuse it).
        let mut parsed = Vec::with_capacity(addrs.len());
        for a in addrs.iter() {
            if a.ip.parse::<core::net::IpAddr>().is_err() || a.port > u32::from(u16::MAX) {
                return self.reject(now, from, Misbehaviour::BadAddrs);
            }
            parsed.push(NetAddr::from_wire(&a).ok());
        }
        let Some(p) = self.peers.get_mut(from) else {
            return Received::Ignored;
        };
        p.requested = false;
        let src = p
            .addr
            .unwrap_or_else(|| NetAddr::new(*from, p.peer.remote_ip, 0));
        let hang_up = self.cfg.seed_mode && p.peer.outbound && !p.peer.persistent;
        if hang_up {
            p.leaving = true;
        }
        let wall = self.wall_time(now);
        let (mut added, mut ignored) = (0, 0);
        for addr in parsed {
            let ok = addr.is_some_and(|addr| {
                self.book
                    .add_address(wall, addr, src, &mut self.rng)
                    .is_ok()
            });
            if ok {
                added += 1;
            } else {
                ignored += 1;
            }
        }
        if self.cfg.seeds.iter().any(|s| s.id == *from) {
            self.ensure_soon = Some(now);
        }
        if hang_up {
            self.actions
                .push_back(PexAction::DisconnectAfterSend { id: *from });
        }
        Received::Addrs { added, ignored }
    }

    /// Disconnects and bans `id` for `why`.
    fn reject(&mut self, now: Instant, id: &NodeId, why: Misbehaviour) -> Received {
        if let Some(p) = self.peers.get_mut(id) {
            p.leaving = true;
        }
        let ban = self.cfg.ban_duration;
        let wall = self.wall_time(now);
        self.book.mark_bad(wall, id, ban);
        debug!("pex: disconnecting {}: {}", id, why);
        self.actions.push_back(PexAction::Disconnect {
            id: *id,
            why,
            ban: Some(ban),
        });
        Received::Rejected(why)
    }

    /// Queues a `PexAddrs` with `addrs` for `to`.
    fn send_addrs(&mut self, to: &NodeId, addrs: &[NetAddr]) {
        let mut bufs = vec![([0u8; 40], [0u8; 46]); addrs.len()];
        let wire_addrs: Vec<NetAddress<'_>> = addrs
            .iter()
            .zip(bufs.iter_mut())
            .map(|(a, (id, ip))| a.to_wire(id, ip))
            .collect();
        let mut msg = vec![0u8; wire::addrs_encoded_len(&wire_addrs)];
        let n = wire::encode_addrs(&wire_addrs, &mut msg).unwrap_or(0);
        msg.truncate(n);
        self.actions.push_back(PexAction::Send { to: *to, msg });
    }

    // ---- dial outcomes ----------------------------------------------------

    /// A dial the machine asked for added the peer: its failure history is
    /// cleared (and no further seed is tried).
    pub fn dialed(&mut self, _now: Instant, addr: &NetAddr) {
        if let Some(p) = self.pending.take(addr) {
            if p.kind == DialKind::Seed {
                self.seed_queue.clear();
            }
        }
        self.history.forget(addr);
    }

    /// A dial failed (TCP connect or handshake): the book counts an attempt
    /// and the backoff grows; a failed seed makes way for the next one.
    pub fn dial_failed(&mut self, now: Instant, addr: &NetAddr) {
        if let Some(p) = self.pending.take(addr) {
            if p.kind == DialKind::Seed {
                self.dial_next_seed(now);
                return;
            }
        }
        let wall = self.wall_time(now);
        self.book.mark_attempt(wall, &addr.id);
        self.history.failed(now, addr, self.cfg.max_dial_records);
    }

    /// Our switch refused a dial (already dialling or connected, limits,
    /// cooldown, …): no penalty for the address. Dialling ourselves removes
    /// the address from the book and records it as ours. A refused seed
    /// makes way for the next one unless we are already connected to it.
    pub fn dial_refused(&mut self, now: Instant, addr: &NetAddr, why: Refusal) {
        let pending = self.pending.take(addr);
        if why == Refusal::SelfConnection {
            self.book.remove(&addr.id);
            let _ = self.book.add_our_address(*addr);
        }
        let busy = matches!(why, Refusal::AlreadyConnected | Refusal::AlreadyDialing);
        match pending {
            Some(p) if p.kind == DialKind::Seed && !busy => self.dial_next_seed(now),
            Some(p) if p.kind == DialKind::Seed => self.seed_queue.clear(),
            _ => {}
        }
    }

    // ---- timer ------------------------------------------------------------

    /// Runs whatever is due at `now`: the first round, `ensure_peers` (or
    /// crawling, in seed mode), the save tick, and pruning.
    pub fn handle_timeout(&mut self, now: Instant, view: &impl PexView) {
        self.pending.expire(now, self.cfg.dial_report_timeout);
        let ran = if !self.started {
            self.started = true;
            self.first_round(now, view)
        } else if now >= self.next_round {
            self.next_round = now + self.round_period();
            self.round(now, view, true);
            true
        } else {
            false
        };
        if self.ensure_soon.is_some_and(|t| t <= now) {
            self.ensure_soon = None;
            if !ran && !self.cfg.seed_mode {
                self.ensure_peers(now, view, false);
            }
        }
        if now >= self.next_save {
            self.next_save = now + self.cfg.save_period;
            self.actions.push_back(PexAction::SaveBook);
        }
    }

    fn round_period(&self) -> Duration {
        if self.cfg.seed_mode {
            self.cfg.crawl_period
        } else {
            self.cfg.ensure_peers_period
        }
    }
}
