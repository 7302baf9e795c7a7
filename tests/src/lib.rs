//! Test-only crate: end-to-end and interop tests for mconn (see `tests/`),
//! and the fuzz entry points ([`fuzz`]) that both `cargo fuzz` and the
//! ordinary test suite call.

pub mod fuzz;
