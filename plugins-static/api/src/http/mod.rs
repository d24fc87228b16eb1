//! The sans-I/O HTTP/1.1 codec: bytes in, bytes out, no sockets.
//! Every function here is total (no panic on any input) and allocation-free.

pub mod chunked;
pub mod date;
pub mod error;
pub mod mime;
pub mod path;
pub mod range;
pub mod request;
pub mod response;
