//! Test support for mconn: a deterministic two-peer simulator ([`sim`]).
//!
//! The test binaries under `tests/` use it; benches and other test crates
//! may too.

pub mod sim;
