//! Rebuilding a book from saved entries ([`AddrBook::restore`]), safely:
//! a saved list is trusted for placement but never for bounds.

use super::book::BOOK_KEY_LEN;
use super::{AddrBook, BookConfig, BucketKind, BucketList, KnownAddr, UnixTime};

/// What [`AddrBook::restore`] did with the saved entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RestoreReport {
    /// Entries restored into the buckets.
    pub restored: usize,
    /// Entries restored onto the ban list (ban time after `now`).
    pub banned: usize,
    /// Restored entries whose saved buckets were unusable (out of range,
    /// full, missing or too many) and that were placed by hash instead.
    pub rehashed: usize,
    /// Entries dropped: invalid address, duplicate ID, subnet or bucket
    /// full, ban list full.
    pub dropped: usize,
    /// The list held more entries than the book can; the rest were ignored.
    pub truncated: bool,
}

impl AddrBook {
    /// A book with `key` holding `entries` (as saved by [`snapshot`](Self::snapshot)
    /// or read from `addrbook.json`), restored into their saved buckets
    /// like Go's loader does — but bounded: bucket indices out of range,
    /// duplicates, full buckets and more buckets than allowed are repaired
    /// by rehashing or dropping, and at most
    /// [`capacity`](BookConfig::capacity) + `max_banned` entries are read.
    /// Entries whose ban time is after `now` go on the ban list; expired
    /// bans come back as ordinary entries.
    pub fn restore(
        cfg: BookConfig,
        key: [u8; BOOK_KEY_LEN],
        entries: impl IntoIterator<Item = KnownAddr>,
        now: UnixTime,
    ) -> (AddrBook, RestoreReport) {
        let mut book = AddrBook::with_key(cfg, key);
        let mut report = RestoreReport::default();
        let limit = book.cfg.capacity().saturating_add(book.cfg.max_banned);
        for (read, e) in entries.into_iter().enumerate() {
            if read >= limit {
                report.truncated = true;
                break;
            }
            if !e.addr.is_valid() || book.get(&e.addr.id).is_some() {
                report.dropped += 1;
                continue;
            }
            if e.is_banned_at(now) {
                let e = book.with_usable_buckets(e, false).0;
                if book.insert_banned(e) {
                    report.banned += 1;
                } else {
                    report.dropped += 1;
                }
                continue;
            }
            if book.subnet_full(e.addr.ip) {
                report.dropped += 1;
                continue;
            }
            let (e, rehashed) = book.with_usable_buckets(e, true);
            if book.restore_live(e) {
                report.restored += 1;
                report.rehashed += usize::from(rehashed);
            } else {
                report.dropped += 1;
            }
        }
        (book, report)
    }

    /// `e` with its bucket list cut to indices in range, without duplicates,
    /// at most the allowed number for its kind and (if `need_room`) only
    /// buckets with room; if none is left, the hashed bucket. Returns
    /// whether the hashed bucket was used.
    fn with_usable_buckets(&self, mut e: KnownAddr, need_room: bool) -> (KnownAddr, bool) {
        let (count, size, max) = match e.kind {
            BucketKind::New => (
                self.cfg.new_bucket_count,
                self.cfg.new_bucket_size,
                self.cfg.max_new_buckets_per_addr,
            ),
            BucketKind::Old => (self.cfg.old_bucket_count, self.cfg.old_bucket_size, 1),
        };
        let mut usable = BucketList::new();
        for &b in &e.buckets {
            let has_room = !need_room || self.bucket(e.kind, b).len() < size;
            if b < count && has_room && !usable.contains(&b) && usable.len() < max {
                let _ = usable.push(b);
            }
        }
        let rehashed = usable.is_empty();
        if rehashed {
            let b = match e.kind {
                BucketKind::New => self.new_bucket_for(&e.addr, &e.src),
                BucketKind::Old => self.old_bucket_for(&e.addr),
            };
            let _ = usable.push(b);
        }
        e.buckets = usable;
        (e, rehashed)
    }

    /// Inserts a live entry into its (checked) buckets without evicting
    /// anyone; `false` (and nothing changed) if none has room.
    fn restore_live(&mut self, e: KnownAddr) -> bool {
        let (id, kind, buckets) = (e.addr.id, e.kind, e.buckets.clone());
        let size = match kind {
            BucketKind::New => self.cfg.new_bucket_size,
            BucketKind::Old => self.cfg.old_bucket_size,
        };
        self.insert_entry(e);
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.kind = kind;
        }
        let mut placed = false;
        for b in buckets {
            if self.bucket(kind, b).len() < size {
                placed |= self.attach(id, b);
            }
        }
        if !placed {
            self.remove(&id);
        }
        placed
    }
}
