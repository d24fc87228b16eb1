//! FastCGI for firmware-server.
#![forbid(unsafe_code)]

pub mod codec;
