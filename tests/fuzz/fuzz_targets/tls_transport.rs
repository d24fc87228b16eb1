//! Arbitrary bytes from a client into the TLS transport (rustls driven
//! sans-I/O, as the worker drives it). The first byte picks how the input
//! is cut into socket reads. Whatever arrives, the transport answers with
//! plaintext, `WouldBlock`, an end of stream or an error — never a panic —
//! and what it writes back stays bounded (an alert or a handshake flight,
//! not output proportional to garbage).
#![no_main]

use std::io::{self, Read, Write};

use fws_api::plugin::Transport;
use libfuzzer_sys::fuzz_target;

const CERT: &[u8] = include_bytes!("../tls/cert.pem");
const KEY: &[u8] = include_bytes!("../tls/key.pem");

/// The client socket: hands out the input `step` bytes per read, then
/// `WouldBlock`; keeps what the server writes.
struct Wire<'a> {
    input: &'a [u8],
    step: usize,
    out: Vec<u8>,
}

impl Read for Wire<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.step.min(buf.len()).min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

impl Write for Wire<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    let mut t = fws_tls::transport_from_pem(CERT, KEY).expect("test certificate loads");
    let mut wire = Wire {
        input,
        step: cut as usize % 97 + 1,
        out: Vec::new(),
    };
    let mut buf = [0u8; 4096];
    // Each round consumes at least one input byte or ends.
    for _ in 0..=input.len() {
        match t.read(&mut wire, &mut buf) {
            Ok(0) => break,
            Ok(n) => assert!(n <= buf.len()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if wire.input.is_empty() {
                    break;
                }
            }
            Err(_) => break,
        }
        let _ = t.flush(&mut wire);
    }
    let _ = t.write(&mut wire, b"HTTP/1.1 200 OK\r\n\r\n");
    let _ = t.flush(&mut wire);
    t.close(&mut wire);
    let _ = t.flush(&mut wire);
    // One handshake flight plus alerts: certificate chain and keys, a few
    // KiB; never growing with the garbage sent.
    assert!(wire.out.len() <= 64 * 1024, "{} bytes written", wire.out.len());
});
