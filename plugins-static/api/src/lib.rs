//! What the firmware-server engine and its compile-time plugins share.
//!
//! - [`http`]: the sans-I/O HTTP/1.1 codec (request heads and framing,
//!   chunked bodies, dates, ranges, paths, MIME types, response heads).
//!   Every function is total and allocation-free.
//! - [`doc`]: the config-file document (a hand-editable TOML subset) with
//!   line numbers, so each plugin reads its own section and reports
//!   `FILE:LINE` errors.
//! - [`plugin`]: the hook points of a compile-time plugin.
//! - [`gateway`]: what CGI and FastCGI share — the response-head parser,
//!   the meta-variables, and the X-Sendfile / X-ZeroCopy offload checks.
//!
//! The dependency graph is a tree: the engine and every plugin depend on
//! this crate; nothing here depends on them.
#![forbid(unsafe_code)]

pub mod atomic;
pub mod doc;
pub mod gateway;
pub mod http;
pub mod plugin;
