//! Logging: `tracing` to stderr, level from `RUST_LOG` (default `info`).
//! Records of the `log` crate (the mconn adapters) are forwarded too.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `defaults` are the filter directives
/// used when `RUST_LOG` is unset or invalid (e.g. `"info"`). Colours only
/// on a terminal and without `NO_COLOR`. Calling it twice is harmless (the
/// first one stays).
pub fn init_logging(defaults: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(defaults));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .try_init();
}
