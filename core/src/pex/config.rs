//! [`BookConfig`]: the address book's sizes and thresholds.

use core::time::Duration;

/// The most new buckets one address can ever be configured to occupy (the
/// size of [`BucketList`](super::BucketList)).
pub const MAX_BUCKETS_PER_ADDR: usize = 8;

/// Sizes and thresholds of an [`AddrBook`](super::AddrBook).
///
/// [`Default`] gives CometBFT's values (spec §7.1) plus our hygiene limits.
/// Every collection in the book is bounded by these numbers: at most
/// `new_bucket_count × new_bucket_size + old_bucket_count × old_bucket_size`
/// live entries (20 480 by default) and `max_banned` banned ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BookConfig {
    /// Buckets for addresses we have heard of but not used (256).
    pub new_bucket_count: u16,
    /// Entries per new bucket (64). Unlike Go, which checks `len > 64`
    /// before inserting and so lets a bucket reach 65, this is exact.
    pub new_bucket_size: usize,
    /// Buckets for addresses we have had a good connection to (64).
    pub old_bucket_count: u16,
    /// Entries per old bucket (64, exact).
    pub old_bucket_size: usize,
    /// New buckets the addresses from one source group spread over (32).
    pub new_buckets_per_group: u16,
    /// Old buckets the addresses of one group spread over (4).
    pub old_buckets_per_group: u16,
    /// New buckets one address may occupy (4; at most
    /// [`MAX_BUCKETS_PER_ADDR`]).
    pub max_new_buckets_per_addr: usize,
    /// Below this many entries the book asks for more (1000).
    pub need_address_threshold: usize,
    /// CometBFT's `addr_book_strict`: refuse non-routable addresses and
    /// group local/non-routable ones together (true).
    pub strict: bool,
    /// Ours: at most this many entries per IPv4 /24 or IPv6 /48 (16), so
    /// one operator's subnet cannot fill the book. Only routable addresses
    /// count; local and private ones (accepted by non-strict books, e.g. a
    /// local testnet on 127.0.0.1) are exempt. `usize::MAX` turns it off.
    pub max_per_subnet: usize,
    /// Ours: at most this many banned entries are remembered (4096); when
    /// full, the ban that expires first is forgotten. Go's list is unbounded.
    pub max_banned: usize,
    /// Bound on [`AddrBook::add_private_ids`](super::AddrBook::add_private_ids) (1024).
    pub max_private_ids: usize,
    /// Bound on [`AddrBook::add_our_address`](super::AddrBook::add_our_address) (16).
    pub max_our_addrs: usize,
    /// `getSelectionPercent`: a selection is this percentage of the book (23).
    pub selection_percent: usize,
    /// `minGetSelection` (32).
    pub min_selection: usize,
    /// `maxGetSelection` (250; what fits one 64 000-byte `PexAddrs`).
    pub max_selection: usize,
    /// A new entry not attempted for this long is bad (`numMissingDays`, 7 days).
    pub missing_after: Duration,
    /// A never-successful new entry with this many attempts is bad (`numRetries`, 3).
    pub max_retries: u32,
    /// A new entry with this many attempts and no success within
    /// `min_bad_age` is bad (`maxFailures`, 10).
    pub max_failures: u32,
    /// See `max_failures` (`minBadDays`, 7 days).
    pub min_bad_age: Duration,
    /// An entry attempted within this span is never bad (1 minute).
    pub recent_attempt: Duration,
}

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

impl Default for BookConfig {
    fn default() -> Self {
        BookConfig {
            new_bucket_count: 256,
            new_bucket_size: 64,
            old_bucket_count: 64,
            old_bucket_size: 64,
            new_buckets_per_group: 32,
            old_buckets_per_group: 4,
            max_new_buckets_per_addr: 4,
            need_address_threshold: 1000,
            strict: true,
            max_per_subnet: 16,
            max_banned: 4096,
            max_private_ids: 1024,
            max_our_addrs: 16,
            selection_percent: 23,
            min_selection: 32,
            max_selection: 250,
            missing_after: DAY.saturating_mul(7),
            max_retries: 3,
            max_failures: 10,
            min_bad_age: DAY.saturating_mul(7),
            recent_attempt: Duration::from_secs(60),
        }
    }
}

impl BookConfig {
    /// The same configuration with every count that is used as a divisor or
    /// an index bound at least 1 and `max_new_buckets_per_addr` within
    /// `1..=MAX_BUCKETS_PER_ADDR`, so no configuration can make the book
    /// panic.
    pub fn sanitized(mut self) -> Self {
        self.new_bucket_count = self.new_bucket_count.max(1);
        self.old_bucket_count = self.old_bucket_count.max(1);
        self.new_bucket_size = self.new_bucket_size.max(1);
        self.old_bucket_size = self.old_bucket_size.max(1);
        self.new_buckets_per_group = self.new_buckets_per_group.max(1);
        self.old_buckets_per_group = self.old_buckets_per_group.max(1);
        self.max_new_buckets_per_addr =
            self.max_new_buckets_per_addr.clamp(1, MAX_BUCKETS_PER_ADDR);
        self
    }

    /// The most live (non-banned) entries the book can hold.
    pub fn capacity(&self) -> usize {
        usize::from(self.new_bucket_count)
            .saturating_mul(self.new_bucket_size)
            .saturating_add(usize::from(self.old_bucket_count).saturating_mul(self.old_bucket_size))
    }
}
