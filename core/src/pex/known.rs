//! What the book knows about one address: [`KnownAddr`], its [`BucketKind`],
//! and the wall-clock [`UnixTime`] its timestamps are kept in.

use core::time::Duration;

use super::config::MAX_BUCKETS_PER_ADDR;
use super::BookConfig;
use crate::identity::NetAddr;

/// Wall-clock time as microseconds since the Unix epoch, passed in by the
/// caller like every other time in the core.
///
/// The book uses wall-clock time rather than [`crate::Instant`] (whose
/// origin is arbitrary) because its timestamps are saved to
/// `addrbook.json` and must mean the same after a restart. `0` doubles as
/// "never" (Go's zero `time.Time`); times before 1970 read from a file
/// become `0`.
///
/// ```
/// use core::time::Duration;
/// use mconn::pex::UnixTime;
/// let t = UnixTime::from_secs(1_700_000_000);
/// assert_eq!(t.saturating_add(Duration::from_secs(1)).as_micros(), 1_700_000_001_000_000);
/// assert!(UnixTime::NEVER.is_never());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UnixTime(u64);

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl UnixTime {
    /// "Never" (and the epoch).
    pub const NEVER: UnixTime = UnixTime(0);

    /// `micros` microseconds after the epoch.
    pub const fn from_micros(micros: u64) -> Self {
        UnixTime(micros)
    }

    /// `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        UnixTime(secs.saturating_mul(1_000_000))
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// `true` for [`UnixTime::NEVER`].
    pub const fn is_never(self) -> bool {
        self.0 == 0
    }

    /// `self + d`, saturating.
    pub fn saturating_add(self, d: Duration) -> Self {
        UnixTime(self.0.saturating_add(micros(d)))
    }

    /// `self - d`, saturating at the epoch.
    pub fn saturating_sub(self, d: Duration) -> Self {
        UnixTime(self.0.saturating_sub(micros(d)))
    }

    /// The time a `SystemTime` (for example `SystemTime::now()`) stands for;
    /// before the epoch → [`UnixTime::NEVER`].
    #[cfg(feature = "std")]
    pub fn from_system_time(t: std::time::SystemTime) -> Self {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| UnixTime(micros(d)))
            .unwrap_or(UnixTime::NEVER)
    }
}

/// Which kind of bucket an entry lives in (`bucket_type` in the file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BucketKind {
    /// Heard of, never marked good (`1`).
    New,
    /// Marked good at least once (`2`).
    Old,
}

/// The bucket indices an entry occupies (one for old entries, up to
/// [`BookConfig::max_new_buckets_per_addr`] for new ones).
pub type BucketList = heapless::Vec<u16, MAX_BUCKETS_PER_ADDR>;

/// Everything the book knows about one address (Go's `knownAddress`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownAddr {
    /// The address.
    pub addr: NetAddr,
    /// Who told us about it (the first source).
    pub src: NetAddr,
    /// Dial attempts since the last success.
    pub attempts: u32,
    /// The last dial attempt (or when the entry was created).
    pub last_attempt: UnixTime,
    /// The last time it was marked good, or never.
    pub last_success: UnixTime,
    /// Until when it is (or was) banned, or never.
    pub last_ban: UnixTime,
    /// New or old.
    pub kind: BucketKind,
    /// The buckets of `kind` it occupies. For a banned entry: where it was.
    pub buckets: BucketList,
}

impl KnownAddr {
    /// A fresh new-bucket entry, as created by `add_address` at `now`.
    pub fn new(addr: NetAddr, src: NetAddr, now: UnixTime) -> Self {
        KnownAddr {
            addr,
            src,
            attempts: 0,
            last_attempt: now,
            last_success: UnixTime::NEVER,
            last_ban: UnixTime::NEVER,
            kind: BucketKind::New,
            buckets: BucketList::new(),
        }
    }

    /// CometBFT's `isBad` (spec §7.3): only new entries can be bad, and
    /// never if attempted within `recent_attempt`; otherwise bad if not
    /// attempted for `missing_after`, or never successful after
    /// `max_retries` attempts, or not successful within `min_bad_age` after
    /// `max_failures` attempts.
    pub fn is_bad(&self, now: UnixTime, cfg: &BookConfig) -> bool {
        if self.kind == BucketKind::Old {
            return false;
        }
        if self.last_attempt > now.saturating_sub(cfg.recent_attempt) {
            return false;
        }
        if self.last_attempt < now.saturating_sub(cfg.missing_after) {
            return true;
        }
        if self.last_success.is_never() && self.attempts >= cfg.max_retries {
            return true;
        }
        self.last_success < now.saturating_sub(cfg.min_bad_age) && self.attempts >= cfg.max_failures
    }

    /// Banned at `now` (the ban time is still ahead).
    pub fn is_banned_at(&self, now: UnixTime) -> bool {
        self.last_ban > now
    }
}
