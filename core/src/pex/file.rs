//! `addrbook.json` in CometBFT's exact format (spec §7.5), with atomic
//! writes and recovery from a corrupt file (std only).
//!
//! The text is what Go's `json.MarshalIndent(book, "", "\t")` writes: keys
//! `key` and `addrs`, each entry with `addr` and `src` (`{id, ip, port}`),
//! `buckets` (may be `null`), `attempts`, `bucket_type` (1 new, 2 old) and
//! the Go times `last_attempt`, `last_success`, `last_ban_time`. Unlike Go,
//! banned entries are saved too (with their last bucket, so Go reads them
//! as ordinary entries) and stay banned after loading while their
//! `last_ban_time` is in the future.

use core::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;

use serde::{Deserialize, Serialize};

use super::book::BOOK_KEY_LEN;
use super::{
    rfc3339, AddrBook, BookConfig, BucketKind, BucketList, KnownAddr, RestoreReport, UnixTime,
};
use crate::identity::NetAddr;

/// Files larger than this are refused: a full default book with a full ban
/// list is about 10 MB.
const MAX_FILE_LEN: u64 = 64 << 20;

#[derive(Serialize, Deserialize)]
struct BookJson {
    key: String,
    addrs: Option<Vec<EntryJson>>,
}

#[derive(Serialize, Deserialize)]
struct EntryJson {
    addr: AddrJson,
    src: AddrJson,
    #[serde(default)]
    buckets: Option<Vec<i64>>,
    #[serde(default)]
    attempts: i64,
    bucket_type: u8,
    #[serde(default = "zero_time")]
    last_attempt: String,
    #[serde(default = "zero_time")]
    last_success: String,
    #[serde(default = "zero_time")]
    last_ban_time: String,
}

#[derive(Serialize, Deserialize)]
struct AddrJson {
    id: String,
    ip: String,
    port: u64,
}

fn zero_time() -> String {
    rfc3339::GO_ZERO_TIME.into()
}

/// A field of one saved entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryField {
    /// `addr.id`, `addr.ip` or `addr.port`.
    Addr,
    /// `src.id`, `src.ip` or `src.port`.
    Src,
    /// `bucket_type` is neither 1 nor 2.
    BucketType,
    /// `last_attempt` is not a Go time.
    LastAttempt,
    /// `last_success` is not a Go time.
    LastSuccess,
    /// `last_ban_time` is not a Go time.
    LastBanTime,
}

impl fmt::Display for EntryField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EntryField::Addr => "addr is not a valid id/ip/port",
            EntryField::Src => "src is not a valid id/ip/port",
            EntryField::BucketType => "bucket_type is not 1 or 2",
            EntryField::LastAttempt => "last_attempt is not an RFC 3339 time",
            EntryField::LastSuccess => "last_success is not an RFC 3339 time",
            EntryField::LastBanTime => "last_ban_time is not an RFC 3339 time",
        })
    }
}

/// What is wrong with an address book file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BookFileErrorKind {
    /// Reading, writing or renaming failed.
    Io(io::ErrorKind),
    /// Larger than any book could be.
    TooLarge {
        /// The file's length in bytes.
        len: u64,
    },
    /// The text ends early (a truncated write).
    Truncated {
        /// 1-based line where the text ended.
        line: usize,
    },
    /// Not JSON of the expected shape.
    Json {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
    },
    /// `key` is not 24 hex characters.
    Key,
    /// One entry has a bad field.
    Entry {
        /// 0-based position in `addrs`.
        index: usize,
        /// The field.
        field: EntryField,
    },
}

impl fmt::Display for BookFileErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BookFileErrorKind::Io(kind) => write!(f, "I/O error: {kind}"),
            BookFileErrorKind::TooLarge { len } => {
                write!(f, "file is {len} bytes, more than {MAX_FILE_LEN}")
            }
            BookFileErrorKind::Truncated { line } => write!(f, "file ends early (line {line})"),
            BookFileErrorKind::Json { line, column } => {
                write!(f, "not an address book at line {line} column {column}")
            }
            BookFileErrorKind::Key => f.write_str("key is not 24 hex characters"),
            BookFileErrorKind::Entry { index, field } => write!(f, "entry {index}: {field}"),
        }
    }
}

/// An address book file could not be read or written: which file and what
/// is wrong (the path makes it `Clone` rather than `Copy`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookFileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub kind: BookFileErrorKind,
}

impl fmt::Display for BookFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "address book {}: {}", self.path.display(), self.kind)
    }
}

impl core::error::Error for BookFileError {}

impl BookFileError {
    fn new(path: &Path, kind: BookFileErrorKind) -> Self {
        BookFileError {
            path: path.to_path_buf(),
            kind,
        }
    }

    fn io(path: &Path, e: &io::Error) -> Self {
        Self::new(path, BookFileErrorKind::Io(e.kind()))
    }

    /// `true` if the file exists but its content is bad (as opposed to an
    /// I/O failure).
    pub fn is_corrupt(&self) -> bool {
        !matches!(self.kind, BookFileErrorKind::Io(_))
    }
}

/// How [`AddrBook::load_or_new`] got its book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadOutcome {
    /// There was no file: a new, empty book.
    Created,
    /// The file was read.
    Loaded(RestoreReport),
    /// The file was corrupt: it was moved aside to `moved_to` and the book
    /// starts empty.
    Recovered {
        /// What was wrong with it.
        error: BookFileError,
        /// Where the bad file now is (`<file>.corrupt-<n>`).
        moved_to: PathBuf,
    },
}

fn hex_key(key: &[u8; BOOK_KEY_LEN]) -> String {
    key.iter().map(|b| std::format!("{b:02x}")).collect()
}

fn parse_key(text: &str) -> Option<[u8; BOOK_KEY_LEN]> {
    let b = text.as_bytes();
    if b.len() != 2 * BOOK_KEY_LEN {
        return None;
    }
    let mut key = [0u8; BOOK_KEY_LEN];
    for (out, pair) in key.iter_mut().zip(b.chunks_exact(2)) {
        let pair = core::str::from_utf8(pair).ok()?;
        *out = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(key)
}

fn addr_json(a: &NetAddr) -> AddrJson {
    AddrJson {
        id: a.id.to_string(),
        ip: a.ip.to_string(),
        port: u64::from(a.port),
    }
}

fn parse_addr(a: &AddrJson) -> Option<NetAddr> {
    let id = a.id.parse().ok()?;
    let ip = a.ip.parse().ok()?;
    let port = u16::try_from(a.port).ok()?;
    Some(NetAddr::new(id, ip, port))
}

fn entry_json(e: &KnownAddr) -> EntryJson {
    EntryJson {
        addr: addr_json(&e.addr),
        src: addr_json(&e.src),
        buckets: Some(e.buckets.iter().map(|b| i64::from(*b)).collect()),
        attempts: i64::from(e.attempts),
        bucket_type: match e.kind {
            BucketKind::New => 1,
            BucketKind::Old => 2,
        },
        last_attempt: rfc3339::format(e.last_attempt),
        last_success: rfc3339::format(e.last_success),
        last_ban_time: rfc3339::format(e.last_ban),
    }
}

fn parse_entry(index: usize, j: &EntryJson) -> Result<KnownAddr, BookFileErrorKind> {
    let bad = |field| BookFileErrorKind::Entry { index, field };
    let time = |text: &str, field| rfc3339::parse(text).ok_or(bad(field));
    let mut buckets = BucketList::new();
    // Out-of-range indices are kept as u16::MAX so restore rehashes them.
    for b in j.buckets.iter().flatten() {
        if buckets.push(u16::try_from(*b).unwrap_or(u16::MAX)).is_err() {
            break;
        }
    }
    Ok(KnownAddr {
        addr: parse_addr(&j.addr).ok_or(bad(EntryField::Addr))?,
        src: parse_addr(&j.src).ok_or(bad(EntryField::Src))?,
        attempts: u32::try_from(j.attempts.max(0)).unwrap_or(u32::MAX),
        last_attempt: time(&j.last_attempt, EntryField::LastAttempt)?,
        last_success: time(&j.last_success, EntryField::LastSuccess)?,
        last_ban: time(&j.last_ban_time, EntryField::LastBanTime)?,
        kind: match j.bucket_type {
            1 => BucketKind::New,
            2 => BucketKind::Old,
            _ => return Err(bad(EntryField::BucketType)),
        },
        buckets,
    })
}

fn json_error(e: &serde_json::Error) -> BookFileErrorKind {
    if e.is_eof() {
        BookFileErrorKind::Truncated { line: e.line() }
    } else {
        BookFileErrorKind::Json {
            line: e.line(),
            column: e.column(),
        }
    }
}

impl AddrBook {
    /// The `addrbook.json` text: tab-indented like Go's, live entries then
    /// banned ones.
    pub fn to_json(&self) -> String {
        let file = BookJson {
            key: hex_key(&self.key()),
            addrs: Some(self.snapshot().iter().map(entry_json).collect()),
        };
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        // Strings and integers into a Vec: serializing cannot fail.
        let _ = file.serialize(&mut ser);
        String::from_utf8(out).unwrap_or_default()
    }

    /// A book from `addrbook.json` text, restored as [`AddrBook::restore`]
    /// describes (bans after `now` stay in force).
    pub fn from_json(
        text: &str,
        cfg: BookConfig,
        now: UnixTime,
    ) -> Result<(AddrBook, RestoreReport), BookFileErrorKind> {
        let file: BookJson = serde_json::from_str(text).map_err(|e| json_error(&e))?;
        let key = parse_key(&file.key).ok_or(BookFileErrorKind::Key)?;
        let addrs = file.addrs.unwrap_or_default();
        let entries = addrs
            .iter()
            .enumerate()
            .map(|(i, j)| parse_entry(i, j))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AddrBook::restore(cfg, key, entries, now))
    }

    /// Reads an `addrbook.json` file.
    pub fn load(
        path: impl AsRef<Path>,
        cfg: BookConfig,
        now: UnixTime,
    ) -> Result<(AddrBook, RestoreReport), BookFileError> {
        let path = path.as_ref();
        let len = fs::metadata(path)
            .map_err(|e| BookFileError::io(path, &e))?
            .len();
        if len > MAX_FILE_LEN {
            return Err(BookFileError::new(
                path,
                BookFileErrorKind::TooLarge { len },
            ));
        }
        let bytes = fs::read(path).map_err(|e| BookFileError::io(path, &e))?;
        let text = core::str::from_utf8(&bytes).map_err(|e| {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            BookFileError::new(path, BookFileErrorKind::Json { line, column: 0 })
        })?;
        Self::from_json(text, cfg, now).map_err(|kind| BookFileError::new(path, kind))
    }

    /// Writes the book to `path` atomically: a temporary file in the same
    /// directory is written, flushed to disk and renamed over `path`, so
    /// `path` always holds either the old or the new book.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), BookFileError> {
        let text = self.to_json();
        write_atomic(path.as_ref(), |f| f.write_all(text.as_bytes()))
    }

    /// Loads `path`; if there is no file, a new book; if the file is
    /// corrupt, moves it aside to `<path>.corrupt-<n>` (the first free
    /// `n`) and starts a new book, saying so in the [`LoadOutcome`]. I/O
    /// errors other than "not found" are returned.
    pub fn load_or_new(
        path: impl AsRef<Path>,
        cfg: BookConfig,
        now: UnixTime,
        rng: &mut impl rand_core::RngCore,
    ) -> Result<(AddrBook, LoadOutcome), BookFileError> {
        let path = path.as_ref();
        match Self::load(path, cfg, now) {
            Ok((book, report)) => Ok((book, LoadOutcome::Loaded(report))),
            Err(BookFileError {
                kind: BookFileErrorKind::Io(io::ErrorKind::NotFound),
                ..
            }) => Ok((AddrBook::new(cfg, rng), LoadOutcome::Created)),
            Err(error) if error.is_corrupt() => {
                let moved_to = move_aside(path)?;
                Ok((
                    AddrBook::new(cfg, rng),
                    LoadOutcome::Recovered { error, moved_to },
                ))
            }
            Err(error) => Err(error),
        }
    }
}

/// An address book together with its file: what [`AddrBook::open`] gives
/// (Go's `NewAddrBook(path)`). Hand it to the PEX reactor, which saves the
/// book back to `path`, or keep it and call [`save`](Self::save).
#[derive(Clone, Debug)]
pub struct BookFile {
    /// The book.
    pub book: AddrBook,
    /// The file it was read from (or will be created at) and is saved to.
    pub path: PathBuf,
    /// Whether the file was read, created or recovered from corruption.
    pub outcome: LoadOutcome,
}

impl BookFile {
    /// Writes the book to its file atomically ([`AddrBook::save`]).
    pub fn save(&self) -> Result<(), BookFileError> {
        self.book.save(&self.path)
    }
}

impl AddrBook {
    /// Opens the address book at `path`: [`load_or_new`](Self::load_or_new)
    /// (no file: a new book; a corrupt one is moved aside), keeping the
    /// path so the book can be saved back to it.
    ///
    /// The core reads no clock and no OS randomness: `now` decides which
    /// saved bans are still in force, and `rng` draws a new book's key. A
    /// node passes `UnixTime::from_system_time(SystemTime::now())` and an OS
    /// RNG such as `rand_core::OsRng`.
    ///
    /// ```
    /// use mconn::pex::{AddrBook, BookConfig, LoadOutcome, UnixTime};
    /// # struct Rng(u64);
    /// # impl rand_core::RngCore for Rng {
    /// #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
    /// #     fn next_u64(&mut self) -> u64 { self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); self.0 >> 11 }
    /// #     fn fill_bytes(&mut self, d: &mut [u8]) { for b in d { *b = self.next_u64() as u8 } }
    /// #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> { self.fill_bytes(d); Ok(()) }
    /// # }
    /// let dir = std::env::temp_dir().join(format!("mconn-open-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("addrbook.json");
    /// # let _ = std::fs::remove_file(&path);
    /// let now = UnixTime::from_system_time(std::time::SystemTime::now());
    ///
    /// let file = AddrBook::open(&path, BookConfig::default(), now, &mut Rng(1))?;
    /// assert_eq!(file.outcome, LoadOutcome::Created);
    /// file.save()?;
    /// let again = AddrBook::open(&path, BookConfig::default(), now, &mut Rng(2))?;
    /// assert_eq!(again.book.key(), file.book.key());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(
        path: impl Into<PathBuf>,
        cfg: BookConfig,
        now: UnixTime,
        rng: &mut impl rand_core::RngCore,
    ) -> Result<BookFile, BookFileError> {
        let path = path.into();
        let (book, outcome) = Self::load_or_new(&path, cfg, now, rng)?;
        Ok(BookFile {
            book,
            path,
            outcome,
        })
    }
}

/// Renames `path` to the first free `<path>.corrupt-<n>`.
fn move_aside(path: &Path) -> Result<PathBuf, BookFileError> {
    let mut name = path.as_os_str().to_os_string();
    name.push(".corrupt-");
    for n in 1..=1000u32 {
        let mut candidate = name.clone();
        candidate.push(n.to_string());
        let candidate = PathBuf::from(candidate);
        if candidate.symlink_metadata().is_err() {
            fs::rename(path, &candidate).map_err(|e| BookFileError::io(path, &e))?;
            return Ok(candidate);
        }
    }
    Err(BookFileError::new(
        path,
        BookFileErrorKind::Io(io::ErrorKind::AlreadyExists),
    ))
}

/// Writes `path` through a temporary file in its directory: `write` fills
/// the temporary file, which is then synced and renamed over `path`. On any
/// failure the temporary file is removed and `path` is untouched.
pub(crate) fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut fs::File) -> io::Result<()>,
) -> Result<(), BookFileError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut attempt = 0u32;
    let (tmp, mut file) = loop {
        let tmp = dir.join(std::format!(
            ".{file_name}.tmp-{}-{attempt}",
            std::process::id()
        ));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => return Err(BookFileError::io(path, &e)),
        }
    };
    let written = write(&mut file).and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(BookFileError::io(path, &e));
    }
    // Make the rename itself durable where directories can be synced.
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_failing_midway_keeps_the_old_file() {
        let dir =
            std::env::temp_dir().join(std::format!("mconn-book-midway-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("addrbook.json");
        fs::write(&path, b"old book").unwrap();
        let err = write_atomic(&path, |f| {
            f.write_all(b"{\"key\": \"half a bo")?;
            Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
        })
        .unwrap_err();
        assert_eq!(
            err,
            BookFileError::new(&path, BookFileErrorKind::Io(io::ErrorKind::StorageFull))
        );
        assert_eq!(fs::read(&path).unwrap(), b"old book");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "temporary file removed"
        );
        write_atomic(&path, |f| f.write_all(b"new book")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new book");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn open_keeps_the_path_and_recovers_a_corrupt_file() {
        let dir = std::env::temp_dir().join(std::format!("mconn-book-open-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("addrbook.json");
        let now = UnixTime::from_secs(1_700_000_000);
        let cfg = BookConfig::default();
        fs::write(&path, b"{\"key\": 7").unwrap();

        let file = AddrBook::open(&path, cfg, now, &mut rand_core::OsRng).unwrap();
        assert_eq!(file.path, path);
        let LoadOutcome::Recovered { error, moved_to } = &file.outcome else {
            panic!("{:?}", file.outcome);
        };
        assert!(error.is_corrupt());
        assert_eq!(fs::read(moved_to).unwrap(), b"{\"key\": 7");
        assert!(file.book.is_empty() && !path.exists());

        file.save().unwrap();
        let again = AddrBook::open(&path, cfg, now, &mut rand_core::OsRng).unwrap();
        assert!(matches!(again.outcome, LoadOutcome::Loaded(_)));
        assert_eq!(again.book.key(), file.book.key());
        fs::remove_dir_all(&dir).unwrap();
    }
}
