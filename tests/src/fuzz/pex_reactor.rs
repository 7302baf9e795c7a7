//! Target `pex_reactor`: the sans-IO PEX rules (`mconn::pex::PexMachine`)
//! fed arbitrary peers, messages, dial outcomes and clock jumps.
//!
//! Input: `[mode][periods][limits][caps]` + the book's 4 configuration
//! bytes (as in `addrbook`) + `[rng] op…` (see [`setup`] and
//! [`Harness::op`]). The harness is the switch and the runtime: it adds and
//! removes peers (inbound, outbound, persistent, with all kinds of listen
//! addresses), delivers requests, address lists (valid, oversized, with bad
//! IPs, ports or IDs) and arbitrary bytes, reports every dial the machine
//! asks for (dialled, failed, refused for any reason, or never), carries
//! out disconnects when the script says, and fires the timer when due.
//!
//! Checks, after every call:
//!
//! * what `receive` returns is right for the message and the peer's state:
//!   ignored for unknown or leaving peers; undecodable → `BadMessage`;
//!   addresses we did not ask for → `UnsolicitedAddrs`; too many or a bad
//!   IP or port → `BadAddrs`, else every address counted as added or
//!   ignored; a request is answered while the peer has made fewer than
//!   `request_burst` requests, or when it waited `request_interval` since
//!   the last one (CometBFT's rule), and is refused only after `burst`;
//!   a seed answers an inbound peer once and hangs up;
//! * every action is well-formed and has a cause: a send goes to a
//!   tracked peer and decodes (a request only if none is outstanding, an
//!   address list only in answer to a request, with live book addresses
//!   within the selection bound); a dial is a seed or a live book address
//!   that is neither connected, dialled nor awaited, and one timer call
//!   dials at most the outbound room; a disconnect follows a rejection
//!   with the configured ban (the peer is then out of the book); a
//!   graceful disconnect happens only in seed mode; a save only on a timer;
//! * bounded state: tracked peers (= the model's, at most `max_peers`),
//!   dial and crawl records, pending dials; the book keeps every invariant
//!   of `addrbook` ([`check_book`](super::addrbook::check_book));
//! * outstanding requests are the model's; after the timer ran, the next
//!   deadline is in the future (a deadline drawn at `now` itself moves on
//!   at the next call).

use std::collections::{BTreeMap, BTreeSet};

use core::net::{IpAddr, Ipv4Addr};
use core::time::Duration;

use mconn::identity::{NetAddr, NodeId};
use mconn::pex::{
    AddrBook, PexAction, PexConfig, PexMachine, PexPeer, PexView, Received, UnixTime, PEX_CHANNEL,
    PEX_MAX_MSG_SIZE,
};
use mconn::switch::{DisconnectReason, Misbehaviour, Refusal};
use mconn::wire::pex::{self as wire, NetAddress, PexMessage};
use mconn::Instant;

use super::addrbook::{self, check_book};
use super::mconn_ops::trace;
use super::seeds::Seed;
use super::{Input, Rng};

const MAX_OPS: usize = 4096;
/// The first seed's ID number (seeds are `SEED..SEED + 3`).
const SEED: u8 = 44;

/// The switch as the harness runs it, and as PEX sees it.
#[derive(Default)]
struct Switch {
    max_out: usize,
    connected: BTreeMap<NodeId, PexPeer>,
    /// Dials the machine asked for and the harness has not reported.
    dialing: BTreeMap<NodeId, NetAddr>,
    persistent: BTreeSet<NodeId>,
}

impl PexView for Switch {
    fn max_outbound(&self) -> usize {
        self.max_out
    }
    fn num_outbound(&self) -> usize {
        self.connected.values().filter(|p| p.outbound).count()
    }
    fn num_dialing(&self) -> usize {
        self.dialing.len()
    }
    fn is_dialing_or_connected(&self, id: &NodeId) -> bool {
        self.connected.contains_key(id) || self.dialing.contains_key(id)
    }
    fn is_persistent(&self, id: &NodeId) -> bool {
        self.persistent.contains(id)
    }
}

/// What the machine should know about one tracked peer.
#[derive(Clone, Debug, Default)]
struct Tracked {
    requested: bool,
    leaving: bool,
    /// Requests it made that were answered, and the last one's time.
    answered: u32,
    last_answered: Option<Instant>,
}

/// Which call produced the actions being checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    Added(NodeId),
    Request(NodeId),
    Addrs(NodeId),
    Other(NodeId),
    /// A dial outcome (the next seed may be dialled).
    Outcome,
    Timer,
    Quiet,
}

/// The configuration, from `[mode][periods][limits][caps]`.
fn setup(input: &mut Input<'_>) -> (PexConfig, usize) {
    let (mode, periods, limits, caps) = (input.u8(), input.u8(), input.u8(), input.u8());
    let pick = |b: u8, choices: [Duration; 4]| choices[usize::from(b & 3)];
    let secs = Duration::from_secs;
    let period = pick(
        periods,
        [secs(1), secs(5), secs(30), Duration::from_millis(1)],
    );
    let seeds = (0..mode >> 1 & 3)
        .map(|i| {
            let ip = IpAddr::V4(Ipv4Addr::new(77, i, 0, 1));
            NetAddr::new(addrbook::node(SEED + i), ip, 26656)
        })
        .collect();
    let cfg = PexConfig {
        seed_mode: mode & 1 != 0,
        seeds,
        ensure_peers_period: period,
        crawl_period: period,
        request_interval: pick(periods >> 2, [secs(0), secs(1), secs(10), secs(10)]),
        request_burst: u32::from(periods >> 4 & 3),
        save_period: pick(periods >> 6, [secs(1), secs(120), secs(7), secs(0)]),
        max_dial_attempts: u32::from(limits & 3),
        max_addrs_per_msg: [3, 250][usize::from(limits >> 2 & 1)],
        ban_duration: pick(limits >> 3, [secs(0), secs(60), secs(3600), secs(86_400)]),
        min_time_between_crawls: [secs(0), secs(120)][usize::from(limits >> 5 & 1)],
        seed_disconnect_wait: [secs(10), secs(28 * 3600)][usize::from(limits >> 6 & 1)],
        dial_report_timeout: [secs(5), secs(120)][usize::from(limits >> 7)],
        max_dial_records: 1 + usize::from(caps & 3),
        max_crawl_records: 1 + usize::from(caps >> 2 & 3),
        max_peers: [1, 2, 4, 1024][usize::from(caps >> 4 & 3)],
        max_pending_dials: [1, 2, 4, 256][usize::from(caps >> 6)],
        dial_record_ttl: secs(3600),
        crawl_record_ttl: secs(600),
        ..PexConfig::default()
    };
    (cfg, usize::from(mode >> 4) % 5)
}

/// `[id][class][x][kind]`: one address of a PEX message, possibly bad.
fn wire_entry(input: &mut Input<'_>) -> (NetAddr, u8) {
    let (n, class, x, kind) = (input.u8(), input.u8(), input.u8(), input.u8());
    let a = NetAddr::new(addrbook::node(n), addrbook::ip(class, x), 26656);
    (a, kind % 8)
}

/// A `PexAddrs` message; kinds 5, 6, 7 spoil an IP, a port, an ID.
fn addrs_message(entries: &[(NetAddr, u8)]) -> Vec<u8> {
    let mut bufs = vec![([0u8; 40], [0u8; 46]); entries.len()];
    let list: Vec<NetAddress<'_>> = entries
        .iter()
        .zip(bufs.iter_mut())
        .map(|((a, kind), (id, ip))| {
            let mut w = a.to_wire(id, ip);
            match kind {
                5 => w.ip = "1.2.3",
                6 => w.port = 70_000,
                7 => w.id = "not-a-node-id",
                _ => {}
            }
            w
        })
        .collect();
    let mut out = vec![0u8; wire::addrs_encoded_len(&list)];
    let n = wire::encode_addrs(&list, &mut out).unwrap_or(0);
    out.truncate(n);
    out
}

/// Why the switch removed a peer: every kind of reason, with and without
/// the peer's fault.
fn removal_reason(b: u8) -> DisconnectReason {
    use mconn::conn::CloseReason as Conn;
    use mconn::session::CloseReason as Session;
    match b % 8 {
        0 => DisconnectReason::Eof,
        1 => DisconnectReason::SocketError,
        2 => DisconnectReason::Requested,
        3 => DisconnectReason::Session(Session::Conn(Conn::PongTimeout)),
        4 => DisconnectReason::Session(Session::Conn(Conn::PingFlood)),
        5 => DisconnectReason::Session(Session::Conn(Conn::UnknownChannel(b))),
        6 => DisconnectReason::Misbehaved(Misbehaviour::Other("fuzz")),
        _ => DisconnectReason::Refused(Refusal::DuplicateId),
    }
}

fn request_message() -> Vec<u8> {
    let mut buf = [0u8; wire::REQUEST_LEN];
    let n = wire::encode_request(&mut buf).unwrap_or(0);
    buf[..n].to_vec()
}

struct Harness {
    m: PexMachine<Rng>,
    cfg: PexConfig,
    sw: Switch,
    tracked: BTreeMap<NodeId, Tracked>,
    now: Instant,
    origin: Instant,
    wall: UnixTime,
    /// The live book addresses when the timer last ran.
    live: BTreeSet<NetAddr>,
}

impl Harness {
    fn op(&mut self, input: &mut Input<'_>) {
        let code = input.u8() % 12;
        if trace() {
            let pending = self.m.num_pending_dials();
            eprintln!("{:?} op {code} (pending {pending}) {:?}", self.now, input);
        }
        match code {
            0 => {
                let (n, flags, class, x) = (input.u8(), input.u8(), input.u8(), input.u8());
                self.add_peer(addrbook::node(n), flags, class, x);
            }
            1 => {
                let (pick, why) = (input.u8(), input.u8());
                if let Some(id) = self.pick_peer(pick) {
                    self.remove_peer_for(id, removal_reason(why));
                }
            }
            2 => {
                if let Some(id) = self.pick_peer(input.u8()) {
                    self.receive(id, &request_message());
                }
            }
            3 => {
                let pick = input.u8();
                let n = usize::from(input.u8() % 8);
                let entries: Vec<(NetAddr, u8)> = (0..n).map(|_| wire_entry(input)).collect();
                if let Some(id) = self.pick_peer(pick) {
                    self.receive(id, &addrs_message(&entries));
                }
            }
            4 => {
                let pick = input.u8();
                let len = usize::from(input.u8());
                let msg = input.bytes(len).to_vec();
                if let Some(id) = self.pick_peer(pick) {
                    self.receive(id, &msg);
                }
            }
            5 => self.dial_outcome(input.u8(), input.u8()),
            6 => {
                let step = input.u8();
                self.now += match step {
                    0..=127 => Duration::from_millis(u64::from(step) * 50),
                    _ => Duration::from_secs(u64::from(step - 127) * 30),
                };
            }
            7 => self.timer(true),
            8 => {
                let leaving: Vec<NodeId> = (self.tracked.iter())
                    .filter(|(_, t)| t.leaving)
                    .map(|(id, _)| *id)
                    .collect();
                for id in leaving {
                    self.remove_peer(id);
                }
            }
            9 => {
                let id = addrbook::node(input.u8());
                let wall = self.m.wall_time(self.now);
                self.m.book_mut().mark_good(wall, &id);
                self.expect_quiet();
            }
            10 => {
                self.sw.persistent.insert(addrbook::node(input.u8()));
            }
            _ => self.sw.max_out = usize::from(input.u8() % 5),
        }
        self.timer(false);
        self.check();
    }

    fn pick_peer(&self, pick: u8) -> Option<NodeId> {
        let ids: Vec<NodeId> = self.sw.connected.keys().copied().collect();
        ids.get(usize::from(pick) % ids.len().max(1)).copied()
    }

    /// The switch adds a peer (never one it already has).
    fn add_peer(&mut self, id: NodeId, flags: u8, class: u8, x: u8) {
        if self.sw.connected.contains_key(&id) {
            return;
        }
        let listen_addr = match flags >> 2 & 3 {
            0 => None,
            1 => Some(NetAddr::new(id, addrbook::ip(class, x), 26656)),
            2 => Some(NetAddr::new(id, IpAddr::V4(Ipv4Addr::UNSPECIFIED), 26656)),
            // Another ID's address (a peer may claim anything).
            _ => Some(NetAddr::new(addrbook::node(x), addrbook::ip(class, x), 1)),
        };
        self.add(PexPeer {
            id,
            outbound: flags & 1 != 0,
            listen_addr,
            remote_ip: addrbook::ip(flags >> 4, class),
            persistent: flags & 2 != 0,
        });
    }

    fn add(&mut self, peer: PexPeer) {
        self.sw.connected.insert(peer.id, peer);
        self.m.peer_added(self.now, peer);
        if self.tracked.len() < self.cfg.max_peers {
            self.tracked.insert(peer.id, Tracked::default());
        }
        self.expect(Cause::Added(peer.id));
    }

    fn remove_peer(&mut self, id: NodeId) {
        self.remove_peer_for(id, DisconnectReason::Eof);
    }

    /// The switch removes `id` for `why`: a misbehaving peer known to the
    /// book ends up banned at least until `misbehaviour_ban` from now;
    /// any other reason leaves the book as it was.
    fn remove_peer_for(&mut self, id: NodeId, why: DisconnectReason) {
        self.sw.connected.remove(&id);
        self.tracked.remove(&id);
        let wall = self.m.wall_time(self.now);
        let known = self.m.book().get(&id).is_some();
        let size = self.m.book().size();
        self.m.peer_removed(self.now, &id, why);
        self.expect_quiet();
        let after = self.m.book().get(&id);
        if why.is_misbehaviour() && known {
            // Banned, or forgotten when the ban list had no room for it.
            let until = wall.saturating_add(self.cfg.misbehaviour_ban);
            let almost = until.saturating_sub(Duration::from_secs(1));
            assert!(!self.m.book().has(&id), "{id} left for {why} but is live");
            assert!(
                after.is_none_or(|e| e.is_banned_at(almost)),
                "{id} left for {why} but its ban is short"
            );
        } else if !why.is_misbehaviour() {
            assert_eq!(
                self.m.book().size(),
                size,
                "{id} left for {why}: book changed"
            );
        }
    }

    /// Delivers `msg` from `from` and checks the verdict.
    fn receive(&mut self, from: NodeId, msg: &[u8]) {
        let state = self.tracked.get(&from).cloned();
        let received = self.m.receive(self.now, &from, msg);
        let Some(state) = state.filter(|t| !t.leaving) else {
            assert_eq!(
                received,
                Received::Ignored,
                "from an unknown or leaving peer"
            );
            return self.expect_quiet();
        };
        let bad_message = Misbehaviour::BadMessage {
            channel: PEX_CHANNEL,
        };
        let cause = match PexMessage::decode(msg) {
            Err(_) => {
                assert_eq!(received, Received::Rejected(bad_message));
                Cause::Other(from)
            }
            Ok(PexMessage::Request) => {
                self.check_request(from, &state, received);
                Cause::Request(from)
            }
            Ok(PexMessage::Addrs(list)) => {
                let bad = list.len() > self.cfg.max_addrs_per_msg
                    || list
                        .iter()
                        .any(|a| a.ip.parse::<IpAddr>().is_err() || a.port > 65_535);
                let expected = match (state.requested, bad) {
                    (false, _) => Some(Misbehaviour::UnsolicitedAddrs),
                    (true, true) => Some(Misbehaviour::BadAddrs),
                    (true, false) => None,
                };
                match (expected, received) {
                    (Some(why), r) => assert_eq!(r, Received::Rejected(why)),
                    (None, Received::Addrs { added, ignored }) => {
                        assert_eq!(added + ignored, list.len(), "every address counted");
                        if let Some(t) = self.tracked.get_mut(&from) {
                            t.requested = false;
                        }
                    }
                    (None, r) => panic!("solicited valid addresses: {r:?}"),
                }
                Cause::Addrs(from)
            }
        };
        self.expect(cause);
    }

    fn check_request(&mut self, from: NodeId, state: &Tracked, received: Received) {
        let outbound = self.sw.connected.get(&from).is_some_and(|p| p.outbound);
        if self.cfg.seed_mode && !outbound {
            assert!(
                matches!(received, Received::Answered { .. }),
                "a seed answers: {received:?}"
            );
            return;
        }
        let burst = self.cfg.request_burst.max(1);
        let waited = state
            .last_answered
            .is_some_and(|t| self.now.saturating_duration_since(t) >= self.cfg.request_interval);
        match received {
            Received::Answered { .. } => {
                if let Some(t) = self.tracked.get_mut(&from) {
                    t.answered += 1;
                    t.last_answered = Some(self.now);
                }
            }
            Received::Rejected(Misbehaviour::PexRequestTooSoon) => {
                assert!(
                    state.answered >= burst,
                    "refused after {} requests",
                    state.answered
                );
                assert!(!waited, "refused a request that waited the interval");
            }
            r => panic!("a request got {r:?}"),
        }
    }

    /// Reports the outcome of one dial the machine asked for.
    fn dial_outcome(&mut self, pick: u8, how: u8) {
        let dials: Vec<NetAddr> = self.sw.dialing.values().copied().collect();
        let Some(&addr) = dials.get(usize::from(pick) % dials.len().max(1)) else {
            return;
        };
        self.sw.dialing.remove(&addr.id);
        match how % 4 {
            0 => {
                // Connected: the switch adds the peer, then the dial returns.
                if !self.sw.connected.contains_key(&addr.id) {
                    let peer = PexPeer {
                        id: addr.id,
                        outbound: true,
                        listen_addr: Some(addr),
                        remote_ip: addr.ip,
                        persistent: self.sw.persistent.contains(&addr.id),
                    };
                    self.add(peer);
                }
                self.m.dialed(self.now, &addr);
            }
            1 => self.m.dial_failed(self.now, &addr),
            2 => {
                let why = Refusal::ALL[usize::from(how >> 2) % Refusal::COUNT];
                self.m.dial_refused(self.now, &addr, why);
                if why == Refusal::SelfConnection {
                    assert!(!self.m.book().has(&addr.id), "our own address kept");
                }
            }
            // The report is lost (the machine forgets the dial after a while).
            _ => return,
        }
        self.expect(Cause::Outcome);
    }

    /// Fires the timer when it is due (or always, if `spurious`).
    fn timer(&mut self, spurious: bool) {
        let due = self.m.poll_timeout().is_some_and(|t| t <= self.now);
        if !spurious && !due {
            return;
        }
        for round in 0..2 {
            let book = self.m.book();
            self.live = (book.snapshot().into_iter())
                .filter(|e| book.has(&e.addr.id))
                .map(|e| e.addr)
                .collect();
            self.m.handle_timeout(self.now, &self.sw);
            self.expect(Cause::Timer);
            let next = self.m.poll_timeout().expect("PEX always has a deadline");
            assert!(
                next >= self.now,
                "deadline {next:?} in the past at {:?}",
                self.now
            );
            if next > self.now {
                return;
            }
            assert_eq!(round, 0, "the timer does not move on from {:?}", self.now);
        }
    }

    fn expect_quiet(&mut self) {
        self.expect(Cause::Quiet);
    }

    /// Drains the actions of one call and checks each against its cause.
    fn expect(&mut self, cause: Cause) {
        let room = self
            .sw
            .max_out
            .saturating_sub(self.sw.num_outbound() + self.sw.num_dialing());
        let (mut book_dials, mut saves) = (0, 0);
        for _ in 0..100_000 {
            let Some(action) = self.m.poll_action() else {
                break;
            };
            if trace() {
                eprintln!("  {cause:?} -> {action:?}");
            }
            assert_ne!(cause, Cause::Quiet, "unexpected {action:?}");
            match action {
                PexAction::Send { to, msg } => self.check_send(cause, to, &msg),
                PexAction::Dial(addr) => {
                    let seed = self.cfg.seeds.contains(&addr);
                    if !seed {
                        book_dials += 1;
                        assert_eq!(cause, Cause::Timer, "dialled {addr} on {cause:?}");
                        assert!(self.live.contains(&addr), "dialled {addr}, not in the book");
                        let busy = self.sw.is_dialing_or_connected(&addr.id);
                        assert!(!busy, "dialled {addr}, already dialling or connected");
                    }
                    self.sw.dialing.insert(addr.id, addr);
                }
                PexAction::Disconnect { id, why, ban } => {
                    let from = matches!(cause, Cause::Request(f) | Cause::Addrs(f) | Cause::Other(f) if f == id);
                    assert!(from, "disconnect of {id} ({why}) on {cause:?}");
                    assert_eq!(ban, Some(self.cfg.ban_duration));
                    assert!(!self.m.book().has(&id), "rejected {id} still in the book");
                    self.leaving(id);
                }
                PexAction::DisconnectAfterSend { id } => {
                    assert!(self.cfg.seed_mode, "graceful disconnect outside seed mode");
                    assert!(self.sw.connected.contains_key(&id));
                    self.leaving(id);
                }
                PexAction::SaveBook => {
                    assert_eq!(cause, Cause::Timer, "save outside the timer");
                    saves += 1;
                }
            }
        }
        assert_eq!(self.m.poll_action(), None, "actions never drain");
        assert!(saves <= 1, "{saves} saves in one call");
        if cause == Cause::Timer && !self.cfg.seed_mode {
            // `ensure_peers` dials at most the outbound room.
            assert!(
                book_dials <= room,
                "{book_dials} dials for {room} free slots"
            );
        }
    }

    fn leaving(&mut self, id: NodeId) {
        if let Some(t) = self.tracked.get_mut(&id) {
            t.leaving = true;
        }
    }

    fn check_send(&mut self, cause: Cause, to: NodeId, msg: &[u8]) {
        assert!(
            msg.len() <= PEX_MAX_MSG_SIZE,
            "{} byte PEX message",
            msg.len()
        );
        let state = self
            .tracked
            .get_mut(&to)
            .expect("sends go to tracked peers");
        assert!(self.sw.connected.contains_key(&to));
        match PexMessage::decode(msg) {
            Ok(PexMessage::Request) => {
                assert!(!state.requested, "second request to {to} outstanding");
                assert!(!state.leaving, "request to leaving {to}");
                let on_add = cause == Cause::Added(to);
                assert!(
                    on_add || cause == Cause::Timer,
                    "request to {to} on {cause:?}"
                );
                state.requested = true;
            }
            Ok(PexMessage::Addrs(list)) => {
                assert_eq!(cause, Cause::Request(to), "addresses sent on {cause:?}");
                let book = self.m.book();
                assert!(list.len() <= book.config().max_selection);
                for a in list.iter() {
                    let a = NetAddr::from_wire(&a).expect("we send valid addresses");
                    let e = book.get(&a.id).filter(|_| book.has(&a.id));
                    assert_eq!(e.map(|e| e.addr), Some(a), "sent {a}, not a live entry");
                }
            }
            Err(e) => panic!("we sent an undecodable PEX message: {e:?}"),
        }
    }

    fn check(&self) {
        let m = &self.m;
        let c = &self.cfg;
        assert_eq!(m.num_peers(), self.tracked.len(), "tracked peers");
        assert!(m.num_peers() <= c.max_peers);
        assert!(m.num_dial_records() <= c.max_dial_records);
        assert!(m.num_crawl_records() <= c.max_crawl_records);
        assert!(m.num_pending_dials() <= c.max_pending_dials);
        for (id, t) in &self.tracked {
            assert_eq!(m.is_request_outstanding(id), t.requested, "request to {id}");
        }
        let since = self.now.saturating_duration_since(self.origin);
        assert_eq!(m.wall_time(self.now), self.wall.saturating_add(since));
        check_book(m.book());
    }
}

/// See the module docs.
pub fn pex_reactor(data: &[u8]) {
    let mut input = Input::new(data);
    let (cfg, max_out) = setup(&mut input);
    let book_cfg = addrbook::setup(&mut input);
    let mut rng = Rng::new(u64::from(input.u8()));
    let book = AddrBook::new(book_cfg, &mut rng);
    let (origin, wall) = (
        Instant::from_millis(5),
        UnixTime::from_secs(addrbook::START),
    );
    let m = PexMachine::new(book, cfg.clone(), rng, origin, wall);
    let mut h = Harness {
        cfg: m.config().clone(),
        m,
        sw: Switch {
            max_out,
            ..Switch::default()
        },
        tracked: BTreeMap::new(),
        now: origin,
        origin,
        wall,
        live: BTreeSet::new(),
    };
    assert_eq!(
        h.m.poll_timeout(),
        Some(origin),
        "the first round is due at once"
    );
    h.timer(false);
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        h.op(&mut input);
    }
}

/// Seeds: conversations of a node and of a seed with a few peers.
pub(super) fn seeds(out: &mut Vec<Seed>) {
    const ADD: u8 = 0;
    const REQUEST: u8 = 2;
    const ADDRS: u8 = 3;
    const RAW: u8 = 4;
    const OUTCOME: u8 = 5;
    const ADVANCE: u8 = 6;
    const TIMER: u8 = 7;
    const DISCONNECT: u8 = 8;
    const PERSISTENT: u8 = 10;
    // The book: 3×3 new, 2×2 old buckets, not strict, asks below 4 entries.
    let book = [175u8, 58, 0x53, 0x15, 9];
    for (name, head) in [
        ("node", [0x32u8, 0x15, 0x86, 0xff]),
        ("node-one-seed", [0x22, 0x29, 0x4d, 0x5a]),
        ("seed-mode", [0x21, 0x05, 0x24, 0xff]),
    ] {
        let mut d = head.to_vec();
        d.extend_from_slice(&book);
        d.extend_from_slice(&[PERSISTENT, 3]);
        for n in 0..4u8 {
            // Peers 0 and 2 outbound; listen addresses of every kind.
            d.extend_from_slice(&[ADD, n, (1 - n % 2) | n << 2, 0, 10 + n]);
        }
        for pick in [0u8, 2] {
            d.extend_from_slice(&[ADDRS, pick, 4]);
            for i in 0..4u8 {
                d.extend_from_slice(&[10 + pick * 4 + i, i % 2, 30 + i + pick, 0]);
            }
        }
        d.extend_from_slice(&[REQUEST, 1, REQUEST, 1, REQUEST, 1, REQUEST, 1]);
        d.extend_from_slice(&[ADVANCE, 200, TIMER, OUTCOME, 0, 0, OUTCOME, 0, 1]);
        d.extend_from_slice(&[OUTCOME, 0, 2 | 4 << 2, ADVANCE, 160, TIMER]);
        // Unsolicited, then bad addresses after a request.
        d.extend_from_slice(&[ADDRS, 3, 1, 9, 0, 9, 0]);
        d.extend_from_slice(&[ADVANCE, 250, TIMER, ADDRS, 0, 3]);
        d.extend_from_slice(&[9, 0, 9, 5, 10, 1, 10, 6, 11, 0, 11, 7]);
        d.extend_from_slice(&[RAW, 2, 3, 0x0a, 0x01, 0xff, DISCONNECT]);
        d.extend_from_slice(&[
            ADVANCE, 255, TIMER, OUTCOME, 1, 2, ADVANCE, 140, OUTCOME, 0, 0,
        ]);
        out.push(("pex_reactor", format!("seed-{name}"), d));
    }
}
