//! The node's address book and PEX reactor ([`mconn_driver::pex`]):
//! opening `addrbook.json` with a log line that says what happened
//! (created, loaded, or corrupt and kept aside), and reading the book from
//! outside the reactor.

use std::collections::BTreeSet;
use std::path::Path;

use mconn::identity::NodeId;
use mconn::pex::{AddrBook, BookConfig, LoadOutcome, PexConfig, UnixTime};
use mconn_tokio::Tokio;

pub use mconn_driver::pex::PexHandle;

use crate::error::Error;

/// The PEX reactor of a node on tokio.
pub type NodePex = mconn_driver::pex::PexReactor<Tokio>;

/// The wall clock as the book counts it.
pub fn wall_now() -> UnixTime {
    UnixTime::from_system_time(std::time::SystemTime::now())
}

/// Opens `path` (its directory is created if needed; a missing file is a
/// new book; a corrupt one is moved aside to `<path>.corrupt-<n>`, with a
/// warning, and a new book started) and builds the PEX reactor over it,
/// which saves it there every 2 minutes and on stop.
pub fn open_pex(
    path: &Path,
    book_config: BookConfig,
    config: PexConfig,
) -> Result<(NodePex, PexHandle), Error> {
    if let Some(dir) = path.parent() {
        crate::fs::create_private_dir(dir).map_err(|e| Error::write(dir, &e))?;
    }
    let (reactor, outcome) = NodePex::open(path, book_config, config).map_err(Error::AddrBook)?;
    match outcome {
        LoadOutcome::Created => tracing::info!(path = %path.display(), "New address book"),
        LoadOutcome::Loaded(report) => tracing::info!(
            path = %path.display(),
            addresses = report.restored,
            banned = report.banned,
            dropped = report.dropped,
            "Address book loaded"
        ),
        LoadOutcome::Recovered { error, moved_to } => tracing::warn!(
            "{error}: kept aside as {} and started with an empty book",
            moved_to.display()
        ),
    }
    let handle = reactor.handle();
    Ok((reactor, handle))
}

/// A PEX reactor over `book`, kept in memory only.
pub fn pex_from_book(book: AddrBook, config: PexConfig) -> (NodePex, PexHandle) {
    let reactor = NodePex::new(book, config);
    let handle = reactor.handle();
    (reactor, handle)
}

/// The IDs of the book's live (not banned) entries.
pub fn known_ids(pex: &PexHandle) -> BTreeSet<NodeId> {
    let now = wall_now();
    pex.book_snapshot()
        .into_iter()
        .filter(|k| !k.is_banned_at(now))
        .map(|k| k.addr.id)
        .collect()
}
