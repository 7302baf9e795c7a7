//! Peer exchange: the address book (CometBFT's bucket algorithm, spec §7,
//! with our hygiene on top), sans-IO.
//!
//! [`AddrBook`] keeps every address we have heard of in "new" buckets and
//! every address that has worked in "old" buckets, hashed by network group
//! ([`AddrGroup`]) so that no single network or gossiping peer can fill it.
//! It reads no clock and no random source: wall-clock time comes in as
//! [`UnixTime`] and randomness from the caller's [`rand_core::RngCore`].
//! On top of CometBFT's rules it caps entries per IPv4 /24 or IPv6 /48
//! ([`BookConfig::max_per_subnet`]), bounds and persists the ban list, can
//! prune stale entries, and gives a [`snapshot`](AddrBook::snapshot) of
//! everything it knows. With `std`, `addrbook.json` is read and written in
//! CometBFT's exact format with atomic writes (`file` module: `AddrBook::load`,
//! `AddrBook::save`, `AddrBook::load_or_new`).
//!
//! ```
//! use core::time::Duration;
//! use mconn::identity::NetAddr;
//! use mconn::pex::{AddrBook, BookConfig, BucketKind, UnixTime};
//! # struct Rng(u64);
//! # impl rand_core::RngCore for Rng {
//! #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
//! #     fn next_u64(&mut self) -> u64 { self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); self.0 >> 11 }
//! #     fn fill_bytes(&mut self, d: &mut [u8]) { for b in d { *b = self.next_u64() as u8 } }
//! #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> { self.fill_bytes(d); Ok(()) }
//! # }
//! let mut rng = Rng(7); // any RngCore, e.g. rand_core::OsRng in a node
//! let mut book = AddrBook::new(BookConfig::default(), &mut rng);
//! let now = UnixTime::from_secs(1_700_000_000);
//!
//! // A peer at 5.6.7.8 tells us about 1.2.3.4.
//! let src: NetAddr = "24f6ed6acbfe1009c030d7ca567c33ca48309114@5.6.7.8:26656".parse().unwrap();
//! let addr: NetAddr = "56475aa75463474c0285df5dbf2bcab73da65135@1.2.3.4:26656".parse().unwrap();
//! assert_eq!(book.add_address(now, addr, src, &mut rng), Ok(true));
//! assert!(book.need_more_addrs());
//!
//! // We dialled it and it turned out useful: it moves to an old bucket.
//! book.mark_attempt(now, &addr.id);
//! book.mark_good(now, &addr.id);
//! assert_eq!(book.get(&addr.id).unwrap().kind, BucketKind::Old);
//!
//! // What we would answer a PexRequest with.
//! assert_eq!(book.selection(&mut rng), vec![addr]);
//!
//! // Misbehaviour: banned for a day, out of every bucket.
//! assert!(book.mark_bad(now, &addr.id, Duration::from_secs(24 * 3600)));
//! assert!(book.is_banned(&addr.id) && book.is_empty());
//! ```

mod addr_class;
mod book;
mod config;
mod error;
#[cfg(feature = "std")]
mod file;
mod known;
mod random;
mod reactor;
mod restore;
#[cfg(feature = "std")]
mod rfc3339;
mod select;

pub use addr_class::{is_local_ip, is_routable_ip, is_valid_ip, AddrGroup, Subnet};
pub use book::{AddrBook, BOOK_KEY_LEN};
pub use config::{BookConfig, MAX_BUCKETS_PER_ADDR};
pub use error::{AddError, CapacityError};
#[cfg(feature = "std")]
pub use file::{BookFile, BookFileError, BookFileErrorKind, EntryField, LoadOutcome};
pub use known::{BucketKind, BucketList, KnownAddr, UnixTime};
pub use reactor::{
    PexAction, PexConfig, PexMachine, PexPeer, PexView, Received, RequestLimiter, PEX_CHANNEL,
    PEX_MAX_MSG_SIZE, PEX_PRIORITY, PEX_SEND_QUEUE,
};
pub use restore::RestoreReport;
