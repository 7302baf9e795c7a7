//! # mconn — the Tendermint/CometBFT p2p stack as sans-IO state machines
//!
//! This crate is the protocol core: pure state machines that take received
//! bytes, timer ticks and application requests, and give back bytes to send,
//! events and the next deadline. It never touches a socket, a clock or an OS
//! random source, so the same code runs on a server (see the `mconn-tokio`
//! and `mconn-smol` adapters), on a microcontroller, in a deterministic
//! simulator and under a fuzzer.
//!
//! Citations such as "spec §2.6" in these docs and comments refer to the
//! sections of the protocol specification kept in the repository at
//! `docs/cometbft-p2p.md`.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `std` | yes | `std` conveniences; implies `alloc` |
//! | `ring` | no | `secret::RingChaCha`, the `ring` AEAD backend, and makes it the default [`secret::AeadKind`]; implies `std` |
//! | `alloc` | via `std` | growable channel buffers ([`conn::GrowBuf`]); the switch policy ([`switch`]) |
//! | `log` | no | log through the `log` crate |
//! | `defmt` | no | log through `defmt`; `defmt::Format` on public types |
//!
//! Without `alloc`, everything runs on caller-provided storage.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[macro_use]
mod fmt;

pub mod conn;
pub mod handshake;
pub mod identity;
#[cfg(feature = "alloc")]
pub mod pex;
pub mod secret;
pub mod session;
#[cfg(feature = "alloc")]
pub mod switch;
pub mod time;
pub mod wire;

pub use time::Instant;
