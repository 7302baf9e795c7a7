//! # mconn-node — the `mconn` node
//!
//! The library behind the `mconn` binary: a CometBFT-compatible home
//! directory ([`Home`]: `config.toml`, `node_key.json`, `genesis.json`,
//! `addrbook.json`), the parsed [`Config`], the node's one-line
//! [`Error`]s, logging setup, and the commands: `init`, `show-node-id`,
//! [`probe`], [`start`] (the node: switch, PEX, optional [`rpc`]),
//! [`crawl`] and [`testnet`] (a whole network in one process).
//!
//! ```
//! use mconn_node::{Home, home::InitOptions};
//! let dir = tempfile::tempdir().unwrap();
//! let home = Home::new(dir.path());
//! let options = InitOptions { network: Some("test-chain".into()), ..InitOptions::default() };
//! let created = home.init(&options).unwrap();
//! let config = home.load_config().unwrap();
//! assert_eq!(home.load_node_key(&config).unwrap().node_id(), created.node_id);
//! assert_eq!(home.network(&config).unwrap(), "test-chain");
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod book;
pub mod config;
pub mod crawl;
pub mod error;
pub mod fs;
pub mod home;
pub mod logging;
pub mod probe;
pub mod rpc;
pub mod signal;
pub mod stack;
pub mod start;
pub mod testnet;

pub use config::Config;
pub use error::Error;
pub use home::Home;
