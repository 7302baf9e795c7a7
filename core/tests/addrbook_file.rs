//! `addrbook.json`: CometBFT's exact format, round trips, corrupt and
//! hostile files, atomic writes.

mod common;
use common::Rng;

use core::time::Duration;
use std::fs;
use std::path::PathBuf;

use mconn::identity::NetAddr;
use mconn::pex::{
    AddrBook, BookConfig, BookFileErrorKind, BucketKind, EntryField, LoadOutcome, RestoreReport,
    UnixTime,
};

const A: &str = "56475aa75463474c0285df5dbf2bcab73da65135";
const B: &str = "24f6ed6acbfe1009c030d7ca567c33ca48309114";
const C: &str = "0123456789abcdef0123456789abcdef01234567";
const DAY: Duration = Duration::from_secs(86_400);

fn now() -> UnixTime {
    UnixTime::from_secs(1_748_736_000) // 2025-06-01T00:00:00Z
}

fn addr(s: &str) -> NetAddr {
    s.parse().unwrap()
}

/// A fresh empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mconn-addrbook-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn fixture() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/addrbook_go.json");
    fs::read_to_string(path).unwrap()
}

#[test]
fn reads_a_file_in_gos_shape() {
    let (book, report) = AddrBook::from_json(&fixture(), BookConfig::default(), now()).unwrap();
    assert_eq!(
        report,
        RestoreReport {
            restored: 2,
            banned: 1,
            ..RestoreReport::default()
        }
    );
    assert_eq!(
        book.key(),
        [0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18, 0x29, 0x3a, 0x4b, 0x5c]
    );
    assert_eq!((book.size(), book.new_count(), book.old_count()), (2, 1, 1));

    let a = book.get(&A.parse().unwrap()).unwrap();
    assert_eq!(a.addr, addr(&format!("{A}@1.2.3.4:26656")));
    assert_eq!(a.src, addr(&format!("{B}@5.6.7.8:26656")));
    assert_eq!(
        (a.kind, a.attempts, &a.buckets[..]),
        (BucketKind::New, 2, &[17, 203][..])
    );
    // 12:00:00.123456789+02:00 on May 31 = 10:00:00.123456 UTC.
    assert_eq!(
        a.last_attempt,
        UnixTime::from_micros((1_748_736_000 - 14 * 3600) * 1_000_000 + 123_456)
    );
    assert!(a.last_success.is_never() && a.last_ban.is_never());
    assert!(book.bucket(BucketKind::New, 17).contains(&a.addr.id));
    assert!(book.bucket(BucketKind::New, 203).contains(&a.addr.id));

    let b = book.get(&B.parse().unwrap()).unwrap();
    assert_eq!(b.addr, addr(&format!("{B}@[2a01:4f8:1:2::3]:26656")));
    assert_eq!((b.kind, &b.buckets[..]), (BucketKind::Old, &[5][..]));
    assert_eq!(b.last_success, UnixTime::from_micros(1_748_592_930_500_000));
    assert!(!book.is_banned(&b.addr.id), "a ban that ended stays ended");

    let c_id = C.parse().unwrap();
    assert!(book.is_banned(&c_id) && !book.has(&c_id));
    let c = book.get(&c_id).unwrap();
    assert_eq!(c.last_ban, UnixTime::from_secs(1_893_456_000)); // 2030-01-01
    assert_eq!(c.last_attempt, UnixTime::from_secs(1_748_750_400)); // 23:00-05:00
    assert_eq!(c.buckets.len(), 1, "null buckets: placed by hash");

    // After the ban, C comes back.
    let (later, _) = AddrBook::from_json(
        &fixture(),
        BookConfig::default(),
        UnixTime::from_secs(1_893_456_000),
    )
    .unwrap();
    assert_eq!(later.size(), 3);
}

#[test]
fn writes_gos_exact_text() {
    let key = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    let empty = AddrBook::with_key(BookConfig::default(), key);
    assert_eq!(
        empty.to_json(),
        "{\n\t\"key\": \"000102030405060708090a0b\",\n\t\"addrs\": []\n}"
    );

    let mut book = AddrBook::with_key(BookConfig::default(), key);
    let a = addr(&format!("{A}@1.2.3.4:26656"));
    let src = addr(&format!("{B}@[2a01:4f8::1]:26656"));
    let t = UnixTime::from_micros(1_748_736_000_250_000);
    book.add_address(t, a, src, &mut Rng(1)).unwrap();
    let bucket = book.get(&a.id).unwrap().buckets[0];
    let expected = format!(
        "{{\n\t\"key\": \"000102030405060708090a0b\",\n\t\"addrs\": [\n\t\t{{\n\
         \t\t\t\"addr\": {{\n\t\t\t\t\"id\": \"{A}\",\n\t\t\t\t\"ip\": \"1.2.3.4\",\n\t\t\t\t\"port\": 26656\n\t\t\t}},\n\
         \t\t\t\"src\": {{\n\t\t\t\t\"id\": \"{B}\",\n\t\t\t\t\"ip\": \"2a01:4f8::1\",\n\t\t\t\t\"port\": 26656\n\t\t\t}},\n\
         \t\t\t\"buckets\": [\n\t\t\t\t{bucket}\n\t\t\t],\n\
         \t\t\t\"attempts\": 0,\n\
         \t\t\t\"bucket_type\": 1,\n\
         \t\t\t\"last_attempt\": \"2025-06-01T00:00:00.25Z\",\n\
         \t\t\t\"last_success\": \"0001-01-01T00:00:00Z\",\n\
         \t\t\t\"last_ban_time\": \"0001-01-01T00:00:00Z\"\n\
         \t\t}}\n\t]\n}}"
    );
    assert_eq!(book.to_json(), expected);
}

/// A book with new, old and banned entries, attempts and successes.
fn busy_book() -> AddrBook {
    let mut rng = Rng(42);
    let mut book = AddrBook::new(BookConfig::default(), &mut rng);
    for i in 0..60u32 {
        let id = format!("{i:08x}{}", &A[8..]);
        let ip = if i % 3 == 0 {
            format!("[2a01:4f8:{i:x}::1]")
        } else {
            format!("{}.{i}.1.1", 20 + i)
        };
        let a = addr(&format!("{id}@{ip}:{}", 26000 + i));
        let t = now().saturating_add(Duration::from_micros(u64::from(i) * 1_234_567));
        book.add_address(t, a, a, &mut rng).unwrap();
        if i % 4 == 0 {
            book.mark_attempt(t, &a.id);
        }
        if i % 5 == 0 {
            book.mark_good(t, &a.id);
        }
        if i % 7 == 0 {
            book.mark_bad(t, &a.id, DAY * (i + 1));
        }
    }
    book
}

#[test]
fn save_then_load_gives_the_same_book() {
    let dir = scratch("roundtrip");
    let path = dir.join("addrbook.json");
    let book = busy_book();
    assert!(book.banned_count() > 5 && book.old_count() > 5 && book.new_count() > 20);
    book.save(&path).unwrap();
    let (loaded, report) = AddrBook::load(&path, BookConfig::default(), now()).unwrap();
    assert_eq!(loaded.key(), book.key());
    assert_eq!(loaded.snapshot(), book.snapshot());
    assert_eq!(
        (report.dropped, report.rehashed, report.truncated),
        (0, 0, false)
    );
    assert_eq!(loaded.to_json(), book.to_json());
    // The temporary file is gone.
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_text_gives_typed_errors() {
    let cfg = BookConfig::default();
    let text = fixture();
    let err = |t: &str| AddrBook::from_json(t, cfg, now()).err();
    assert!(matches!(
        err(&text[..text.len() / 2]),
        Some(BookFileErrorKind::Truncated { .. })
    ));
    assert!(matches!(
        err(""),
        Some(BookFileErrorKind::Truncated { line: 1 })
    ));
    assert_eq!(
        err("{\"key\": 5}"),
        Some(BookFileErrorKind::Json { line: 1, column: 9 })
    );
    assert!(matches!(
        err("garbage"),
        Some(BookFileErrorKind::Json { line: 1, .. })
    ));
    assert_eq!(
        err(&text.replace("a1b2c3d4e5f60718293a4b5c", "xyz")),
        Some(BookFileErrorKind::Key)
    );
    let entry = |index, field| Some(BookFileErrorKind::Entry { index, field });
    assert_eq!(
        err(&text.replace("\"9.9.9.9\"", "\"9.9.9\"")),
        entry(2, EntryField::Addr)
    );
    assert_eq!(
        err(&text.replacen("\"5.6.7.8\"", "\"\"", 1)),
        entry(0, EntryField::Src)
    );
    assert_eq!(
        err(&text.replacen("\"bucket_type\": 2", "\"bucket_type\": 3", 1)),
        entry(1, EntryField::BucketType)
    );
    assert_eq!(
        err(&text.replacen("2025-05-31T12:00", "2025-05-31 12:00", 1)),
        entry(0, EntryField::LastAttempt)
    );
    assert_eq!(
        err(&text.replacen("26656", "65536", 1)),
        entry(0, EntryField::Addr)
    );
}

#[test]
fn load_or_new_moves_a_corrupt_file_aside() {
    let dir = scratch("recover");
    let path = dir.join("addrbook.json");
    let cfg = BookConfig::default();
    let mut rng = Rng(3);

    let (book, outcome) = AddrBook::load_or_new(&path, cfg, now(), &mut rng).unwrap();
    assert_eq!((outcome, book.size()), (LoadOutcome::Created, 0));

    let truncated = &fixture()[..300];
    fs::write(&path, truncated).unwrap();
    let err = AddrBook::load(&path, cfg, now()).unwrap_err();
    assert_eq!(err.path, path);
    assert!(
        err.is_corrupt() && err.to_string().contains("addrbook.json"),
        "{err}"
    );

    let (book, outcome) = AddrBook::load_or_new(&path, cfg, now(), &mut rng).unwrap();
    let LoadOutcome::Recovered { error, moved_to } = outcome else {
        panic!("expected recovery, got {outcome:?}");
    };
    assert!(matches!(error.kind, BookFileErrorKind::Truncated { .. }));
    assert_eq!(moved_to, dir.join("addrbook.json.corrupt-1"));
    assert_eq!(fs::read_to_string(&moved_to).unwrap(), truncated);
    assert!(!path.exists() && book.is_empty());

    // A second bad file goes to the next free name; a good one then loads.
    fs::write(&path, "not json").unwrap();
    let (_, outcome) = AddrBook::load_or_new(&path, cfg, now(), &mut rng).unwrap();
    assert!(
        matches!(outcome, LoadOutcome::Recovered { moved_to, .. } if moved_to == dir.join("addrbook.json.corrupt-2"))
    );
    fs::write(&path, fixture()).unwrap();
    let (book, outcome) = AddrBook::load_or_new(&path, cfg, now(), &mut rng).unwrap();
    assert!(matches!(outcome, LoadOutcome::Loaded(r) if r.restored == 2 && r.banned == 1));
    assert_eq!(book.size(), 2);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_write_leaves_the_old_file() {
    let dir = scratch("failwrite");
    let path = dir.join("addrbook.json");
    let book = busy_book();
    book.save(&path).unwrap();
    let before = fs::read(&path).unwrap();

    // The directory is missing: nothing is created.
    let missing = dir.join("no-such-dir").join("addrbook.json");
    let err = book.save(&missing).unwrap_err();
    assert_eq!(
        err.kind,
        BookFileErrorKind::Io(std::io::ErrorKind::NotFound)
    );
    assert_eq!(err.path, missing);

    // The rename cannot replace a non-empty directory: the write fails
    // after the temporary file was written; it is cleaned up.
    let blocked = dir.join("blocked");
    fs::create_dir(&blocked).unwrap();
    fs::write(blocked.join("keep"), b"x").unwrap();
    assert!(matches!(
        book.save(&blocked).unwrap_err().kind,
        BookFileErrorKind::Io(_)
    ));
    assert_eq!(fs::read(blocked.join("keep")).unwrap(), b"x");

    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["addrbook.json", "blocked"],
        "no temporary file left"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
    fs::remove_dir_all(&dir).unwrap();
}

/// One entry of Go's shape with the given buckets and bucket type.
fn entry_json(i: u32, buckets: &str, bucket_type: u8) -> String {
    format!(
        "{{\"addr\":{{\"id\":\"{i:08x}{rest}\",\"ip\":\"{a}.{b}.7.1\",\"port\":26656}},\
         \"src\":{{\"id\":\"{B}\",\"ip\":\"5.6.7.8\",\"port\":26656}},\
         \"buckets\":{buckets},\"attempts\":-4,\"bucket_type\":{bucket_type},\
         \"last_attempt\":\"2025-05-01T00:00:00Z\",\"last_success\":\"0001-01-01T00:00:00Z\",\
         \"last_ban_time\":\"0001-01-01T00:00:00Z\"}}",
        rest = &A[8..],
        a = 20 + i % 80,
        b = i / 80 % 256,
    )
}

#[test]
fn hostile_files_are_clamped_not_trusted() {
    let cfg = BookConfig::default();
    let mut entries = vec![
        entry_json(0, "[9999, -1, 70000]", 1),
        entry_json(1, "[1,2,3,4,5,6,7,8,9,10,11,12]", 1),
        entry_json(2, "[1,2,3]", 2),
        entry_json(3, "[3]", 1),
        entry_json(3, "[4]", 1), // duplicate ID
    ];
    // 100 entries claiming new bucket 7: 64 fit, the rest are rehashed.
    entries.extend((10..110).map(|i| entry_json(i, "[7]", 1)));
    let text = format!(
        "{{\"key\":\"{}\",\"addrs\":[{}]}}",
        "00".repeat(12),
        entries.join(",")
    );
    let (book, report) = AddrBook::from_json(&text, cfg, now()).unwrap();
    // Every entry is accounted for: the duplicate is dropped; of the 36
    // that did not fit bucket 7, each is rehashed or (if its hashed bucket
    // is bucket 7 too) dropped; entry 0 is rehashed.
    assert_eq!(report.restored + report.dropped, 105);
    assert_eq!(report.rehashed + (report.dropped - 1), 1 + 36);
    assert!(report.rehashed > 1);
    assert_eq!(book.bucket(BucketKind::New, 7).len(), 64);
    let id = |i: u32| format!("{i:08x}{}", &A[8..]).parse().unwrap();
    let e0 = book.get(&id(0)).unwrap();
    assert!(e0.buckets.len() == 1 && e0.buckets[0] < 256);
    assert_eq!(e0.attempts, 0, "negative attempts clamp to 0");
    assert_eq!(&book.get(&id(1)).unwrap().buckets[..], &[1, 2, 3, 4]);
    let e2 = book.get(&id(2)).unwrap();
    assert_eq!((e2.kind, &e2.buckets[..]), (BucketKind::Old, &[1][..]));
    assert_eq!(book.old_count(), 1);

    // More entries than the book could ever hold: reading stops.
    let small = BookConfig {
        new_bucket_count: 2,
        new_bucket_size: 2,
        old_bucket_count: 1,
        old_bucket_size: 1,
        max_banned: 1,
        ..cfg
    };
    let many: Vec<String> = (0..50).map(|i| entry_json(i, "[0]", 1)).collect();
    let text = format!(
        "{{\"key\":\"{}\",\"addrs\":[{}]}}",
        "00".repeat(12),
        many.join(",")
    );
    let (book, report) = AddrBook::from_json(&text, small, now()).unwrap();
    assert!(report.truncated);
    assert!(book.size() <= 5);
    assert_eq!(report.restored + report.dropped, 6);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Any damage to a valid file gives a book within bounds or a typed
    /// error, never a panic.
    #[test]
    fn damaged_files_never_panic(
        edits in proptest::collection::vec((0usize..4000, proptest::prelude::any::<u8>()), 1..8),
        cut in 0usize..4000,
    ) {
        let mut bytes = fixture().into_bytes();
        for (at, byte) in edits {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        bytes.truncate(cut.max(1));
        let text = String::from_utf8_lossy(&bytes);
        if let Ok((book, report)) = AddrBook::from_json(&text, BookConfig::default(), now()) {
            proptest::prop_assert!(book.size() + book.banned_count() <= 3);
            proptest::prop_assert_eq!(report.restored + report.banned, book.size() + book.banned_count());
        }
    }
}
