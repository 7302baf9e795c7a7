//! Target `addrbook_json`: arbitrary text as `addrbook.json`
//! ([`AddrBook::from_json`]), read with CometBFT's default sizes and with
//! a tiny book.
//!
//! Input: the file's bytes (not UTF-8: nothing to do; `AddrBook::load`
//! refuses such files before parsing). Checks, for each configuration:
//!
//! * no panic; an error is one of the documented kinds and prints;
//! * a book that loads has every structural invariant of
//!   [`check_book`](super::check_book) (so a hostile file can never
//!   oversize it), the key of the file, and as many live entries as the
//!   report says were restored;
//! * saving it (`to_json`) and loading the text again gives the same book,
//!   and saving that gives the same text.

use core::time::Duration;

use mconn::pex::{AddrBook, BookConfig, BookFileErrorKind, UnixTime};

use super::{check_book, START};

/// The configurations a file is read with: CometBFT's, and one small
/// enough that bucket, subnet, ban-list and capacity limits all bite.
fn configs() -> [BookConfig; 2] {
    let tiny = BookConfig {
        new_bucket_count: 3,
        new_bucket_size: 2,
        old_bucket_count: 2,
        old_bucket_size: 2,
        new_buckets_per_group: 2,
        old_buckets_per_group: 2,
        max_new_buckets_per_addr: 2,
        max_per_subnet: 2,
        max_banned: 2,
        strict: false,
        ..BookConfig::default()
    };
    [BookConfig::default(), tiny]
}

/// Reads `text` with `cfg` at `now`; on success checks the book and its
/// save/load round trip.
fn load(text: &str, cfg: BookConfig, now: UnixTime) {
    let (book, report) = match AddrBook::from_json(text, cfg, now) {
        Ok(loaded) => loaded,
        Err(e) => {
            let printed = e.to_string();
            assert!(
                !printed.is_empty() && !printed.contains('\n'),
                "{printed:?}"
            );
            if let BookFileErrorKind::Json { line, .. } | BookFileErrorKind::Truncated { line } = e
            {
                assert!(line >= 1 && line <= text.lines().count() + 1, "line {line}");
            }
            return;
        }
    };
    check_book(&book);
    assert_eq!(book.size(), report.restored, "restored count");
    assert!(book.banned_count() <= report.banned, "banned count");
    assert!(report.rehashed <= report.restored);
    for e in book.snapshot() {
        // Only bans still running at `now` are kept as bans.
        assert_eq!(
            book.is_banned(&e.addr.id),
            e.is_banned_at(now),
            "{}",
            e.addr
        );
    }

    let saved = book.to_json();
    let (again, report) = AddrBook::from_json(&saved, cfg, now).expect("our own file loads");
    assert_eq!(again.key(), book.key(), "key round trip");
    assert_eq!(again.snapshot(), book.snapshot(), "save/load round trip");
    assert_eq!((report.dropped, report.rehashed), (0, 0), "{report:?}");
    assert!(!report.truncated);
    assert_eq!(
        again.to_json(),
        saved,
        "saving a loaded book changes its text"
    );
}

/// See the module docs.
pub fn addrbook_json(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let now = UnixTime::from_secs(START);
    let [default, tiny] = configs();
    load(text, default, now);
    load(
        text,
        tiny,
        now.saturating_add(Duration::from_secs(86_400 * 400)),
    );
}
