//! Test support for mconn: a deterministic two-peer simulator ([`sim`]),
//! a deterministic simulated runtime for N-node switch networks
//! ([`netsim`]), the fuzz entry points ([`fuzz`]) that both `cargo fuzz` and the
//! ordinary test suite call, a hostile peer over loopback TCP ([`hostile`]),
//! and the builder of the Go interop harness ([`go_harness`]).
//!
//! The test binaries under `tests/` use them; benches and other test crates
//! may too.

pub mod fuzz;
pub mod go_harness;
pub mod hostile;
pub mod netsim;
pub mod sim;
