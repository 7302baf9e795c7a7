//! Test-only crate: end-to-end tests for mconn, and the fuzz entry points
//! ([`fuzz`]) that both `cargo fuzz` and the ordinary test suite call.

pub mod fuzz;
