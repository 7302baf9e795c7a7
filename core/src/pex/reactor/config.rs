//! [`PexConfig`]: the PEX reactor's periods, limits and seed settings.

use alloc::vec::Vec;
use core::time::Duration;

use crate::identity::NetAddr;

/// PEX's channel (spec §6.1).
pub const PEX_CHANNEL: u8 = 0x00;

/// PEX's channel priority (CometBFT: 1).
pub const PEX_PRIORITY: u32 = 1;

/// PEX's send queue in messages (CometBFT: 10).
pub const PEX_SEND_QUEUE: usize = 10;

/// The largest PEX message accepted (`maxAddressSize 256 × maxGetSelection 250`).
pub const PEX_MAX_MSG_SIZE: usize = 64_000;

const HOUR: Duration = Duration::from_secs(60 * 60);

/// Settings of a [`PexMachine`](super::PexMachine). [`Default`] gives
/// CometBFT's constants (spec §6.5) and our bounds.
///
/// ```
/// use core::time::Duration;
/// use mconn::pex::PexConfig;
/// let c = PexConfig::default();
/// assert_eq!(c.ensure_peers_period, Duration::from_secs(30));
/// assert_eq!((c.request_interval, c.request_burst), (Duration::from_secs(10), 3));
/// assert!(!c.seed_mode && c.seeds.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PexConfig {
    /// Seed/crawler mode (`seed_mode`, spec §6.4): crawl the book, answer
    /// inbound peers once and hang up; no `ensure_peers`.
    pub seed_mode: bool,
    /// Seed nodes (`seeds`, resolved): dialled in random order when the
    /// book needs addresses and nothing else was dialled.
    pub seeds: Vec<NetAddr>,
    /// How often `ensure_peers` runs (`defaultEnsurePeersPeriod`, 30 s).
    pub ensure_peers_period: Duration,
    /// Inbound request rate: one request per this interval on average
    /// (`ensurePeersPeriod / 3`, 10 s). See [`RequestLimiter`](super::RequestLimiter).
    pub request_interval: Duration,
    /// Inbound requests accepted back to back before the interval applies
    /// (3; CometBFT lets the first two through, see `RequestLimiter`).
    pub request_burst: u32,
    /// More failed dials than this to one address (not persistent) ban it
    /// (`maxAttemptsToDial`, 16).
    pub max_dial_attempts: u32,
    /// Caps the dial backoff of persistent peers when non-zero
    /// (`persistent_peers_max_dial_period`, 0 = no cap).
    pub persistent_max_dial_period: Duration,
    /// How long misbehaving or undialable addresses are banned
    /// (`defaultBanTime`, 24 h).
    pub ban_duration: Duration,
    /// How long the book bans a peer that left for any other misbehaviour
    /// (a protocol violation its connection caught, or another reactor's
    /// bad report; see [`DisconnectReason::is_misbehaviour`](crate::switch::DisconnectReason::is_misbehaviour)):
    /// 1 h. Shorter than `ban_duration`: such a peer may be an honest node
    /// with another configuration (a smaller channel capacity, say), and
    /// CometBFT's book does not ban it at all.
    pub misbehaviour_ban: Duration,
    /// Percent preference for new addresses in a seed's answers
    /// (`biasToSelectNewPeers`, 30).
    pub seed_selection_bias: u8,
    /// A response with more addresses than this is a bad message
    /// (`maxGetSelection`, 250).
    pub max_addrs_per_msg: usize,
    /// Seed mode: how often to crawl (`crawlPeerPeriod`, 30 s).
    pub crawl_period: Duration,
    /// Seed mode: an address crawled this recently is skipped
    /// (`minTimeBetweenCrawls`, 2 min).
    pub min_time_between_crawls: Duration,
    /// Seed mode: crawl records older than this are forgotten (24 h).
    pub crawl_record_ttl: Duration,
    /// Seed mode: non-persistent peers connected this long are let go
    /// (`SeedDisconnectWaitPeriod`, 28 h).
    pub seed_disconnect_wait: Duration,
    /// How often the book should be saved ([`PexAction::SaveBook`](super::PexAction::SaveBook), 2 min).
    pub save_period: Duration,
    /// Ours: a dial whose outcome was never reported is forgotten after
    /// this long (2 min), so lost reports cannot block dialling.
    pub dial_report_timeout: Duration,
    /// Ours: dial histories (attempts and last dial per address) kept at
    /// most (4096; the least recently dialled is forgotten first). Go's map
    /// is unbounded.
    pub max_dial_records: usize,
    /// Ours: a dial history unused for this long is forgotten (48 h, longer
    /// than the 2¹⁶ s backoff before the last allowed attempt).
    pub dial_record_ttl: Duration,
    /// Ours: seed mode crawl records kept at most (4096; only the last
    /// `min_time_between_crawls` matter, the oldest go first).
    pub max_crawl_records: usize,
    /// Ours: peers tracked at most (1024); the switch's limits keep the
    /// real number far below.
    pub max_peers: usize,
    /// Ours: dials whose outcome is awaited at most (256); more are not
    /// started until some report back.
    pub max_pending_dials: usize,
}

impl Default for PexConfig {
    fn default() -> Self {
        PexConfig {
            seed_mode: false,
            seeds: Vec::new(),
            ensure_peers_period: Duration::from_secs(30),
            request_interval: Duration::from_secs(10),
            request_burst: 3,
            max_dial_attempts: 16,
            persistent_max_dial_period: Duration::ZERO,
            ban_duration: HOUR.saturating_mul(24),
            misbehaviour_ban: HOUR,
            seed_selection_bias: 30,
            max_addrs_per_msg: 250,
            crawl_period: Duration::from_secs(30),
            min_time_between_crawls: Duration::from_secs(120),
            crawl_record_ttl: HOUR.saturating_mul(24),
            seed_disconnect_wait: HOUR.saturating_mul(28),
            save_period: Duration::from_secs(120),
            dial_report_timeout: Duration::from_secs(120),
            max_dial_records: 4096,
            dial_record_ttl: HOUR.saturating_mul(48),
            max_crawl_records: 4096,
            max_peers: 1024,
            max_pending_dials: 256,
        }
    }
}
