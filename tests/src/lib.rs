//! Test support for mconn: a deterministic two-peer simulator ([`sim`]),
//! a deterministic simulated runtime for N-node switch networks
//! ([`netsim`]), and the fuzz entry points ([`fuzz`]) that both `cargo fuzz` and the
//! ordinary test suite call.
//!
//! The test binaries under `tests/` use them; benches and other test crates
//! may too.

pub mod fuzz;
pub mod netsim;
pub mod sim;
