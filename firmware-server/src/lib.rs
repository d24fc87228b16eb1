//! firmware-server: a small, event-driven HTTP/1.1 server for router and
//! IoT firmware.
//!
//! Layers, bottom up:
//! - [`sys`]: Linux specifics (sockets, `sendfile`, signals); the only
//!   module with `unsafe`.
//! - [`http`]: the sans-I/O codec: request heads, framing, chunked bodies,
//!   dates, ranges, paths, MIME types, response heads. No sockets.
//! - [`handler`]: the static-file content handler.
//! - `worker`: one thread, one poller, fixed connection slots and buffers.
//! - [`server`]: the process context: listeners, scheduler, signals.
//! - [`config`]: defaults, board settings, the config file, the command line.
#![deny(unsafe_code)]

pub mod config;
pub use fws_api::http;
pub mod handler;
pub mod plugins;
pub mod server;
pub mod sys;
mod worker;

/// The version printed by `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The board configuration baked in at build time (empty for a plain build).
pub const BOARD_CONFIG: &str = include_str!(concat!(env!("OUT_DIR"), "/board.toml"));
