//! One TLS connection as a sans-I/O [`Transport`].
//!
//! The ClientHello is read by a rustls `Acceptor` first, so the server name
//! can choose the virtual host's configuration (certificate and client
//! certificate policy); then a `ServerConnection` takes over. `read`
//! returns `WouldBlock` only when rustls holds no plaintext and the socket
//! is drained, so the engine never waits on buffered bytes.

use std::io::{self, ErrorKind};
use std::sync::Arc;

use fws_api::plugin::{ClientVerify, Peer, Transport, Wire};
use rustls::server::{AcceptedAlert, Acceptor};
use rustls::ServerConnection;

use crate::{Shared, BUFFER_LIMIT};

enum State {
    Hello(Box<Acceptor>),
    Conn(Box<ServerConnection>),
    /// A fatal alert is being sent; then the connection ends.
    Alert(Box<AcceptedAlert>),
    Dead,
}

pub struct TlsConn {
    state: State,
    shared: Arc<Shared>,
    vhost: usize,
    subject: Option<Box<str>>,
    verify: ClientVerify,
    identified: bool,
}

fn broken(msg: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, msg)
}

impl TlsConn {
    pub(crate) fn new(shared: Arc<Shared>) -> TlsConn {
        TlsConn {
            state: State::Hello(Box::default()),
            shared,
            vhost: 0,
            subject: None,
            verify: ClientVerify::None,
            identified: false,
        }
    }

    /// Sends what rustls has queued; `Ok(true)` when nothing is left.
    fn push(&mut self, wire: &mut dyn Wire) -> io::Result<bool> {
        match &mut self.state {
            State::Conn(c) => {
                while c.wants_write() {
                    match c.write_tls(wire) {
                        Ok(0) => return Err(ErrorKind::WriteZero.into()),
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(true)
            }
            State::Alert(a) => loop {
                match a.write(wire) {
                    Ok(0) => {
                        self.state = State::Dead;
                        return Ok(true);
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                    Err(e) => {
                        self.state = State::Dead;
                        return Err(e);
                    }
                }
            },
            _ => Ok(true),
        }
    }

    fn identify(&mut self) {
        let State::Conn(c) = &self.state else { return };
        if self.identified || c.is_handshaking() {
            return;
        }
        self.identified = true;
        if let Some(cert) = c.peer_certificates().and_then(|l| l.first()) {
            // rustls verified it against the CA bundle, or the handshake
            // would have failed.
            self.verify = ClientVerify::Success;
            self.subject = crate::dn::subject(cert).map(String::into_boxed_str);
        }
    }

    /// A fatal error: queue the alert rustls prepared (best effort) and
    /// report the connection broken.
    fn fail(&mut self, wire: &mut dyn Wire, err: rustls::Error) -> io::Error {
        log::debug!("tls: handshake or record error: {err}");
        let _ = self.push(wire);
        self.state = State::Dead;
        broken(format!("tls: {err}"))
    }
}

impl Transport for TlsConn {
    fn read(&mut self, wire: &mut dyn Wire, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match &mut self.state {
                State::Dead => return Err(ErrorKind::ConnectionAborted.into()),
                State::Alert(_) => {
                    let _ = self.push(wire);
                    self.state = State::Dead;
                    return Err(ErrorKind::ConnectionAborted.into());
                }
                State::Hello(acc) => {
                    match acc.read_tls(wire) {
                        Ok(0) => return Ok(0),
                        Ok(_) => {}
                        Err(e) => return Err(e),
                    }
                    match acc.accept() {
                        Ok(None) => continue,
                        Ok(Some(accepted)) => {
                            let (cfg, vhost) = self
                                .shared
                                .current()
                                .pick(accepted.client_hello().server_name());
                            self.vhost = vhost;
                            match accepted.into_connection(cfg) {
                                Ok(mut c) => {
                                    c.set_buffer_limit(Some(BUFFER_LIMIT));
                                    self.state = State::Conn(Box::new(c));
                                    let _ = self.push(wire);
                                }
                                Err((e, alert)) => {
                                    self.state = State::Alert(Box::new(alert));
                                    let _ = self.push(wire);
                                    self.state = State::Dead;
                                    return Err(broken(format!("tls: {e}")));
                                }
                            }
                        }
                        Err((e, alert)) => {
                            log::debug!("tls: bad ClientHello: {e}");
                            self.state = State::Alert(Box::new(alert));
                            let _ = self.push(wire);
                            self.state = State::Dead;
                            return Err(broken(format!("tls: {e}")));
                        }
                    }
                }
                State::Conn(c) => {
                    match io::Read::read(&mut c.reader(), buf) {
                        Ok(0) if !buf.is_empty() => return Ok(0), // close_notify
                        Ok(n) => return Ok(n),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                    match c.read_tls(wire) {
                        Ok(0) => return Ok(0),
                        Ok(_) => {}
                        Err(e) => return Err(e),
                    }
                    if let Err(e) = c.process_new_packets() {
                        return Err(self.fail(wire, e));
                    }
                    self.identify();
                    // Handshake answers (and TLS 1.3 tickets) go out now;
                    // what does not fit waits for the engine's flush.
                    self.push(wire)?;
                }
            }
        }
    }

    fn write(&mut self, wire: &mut dyn Wire, buf: &[u8]) -> io::Result<usize> {
        let State::Conn(c) = &mut self.state else {
            return Err(ErrorKind::NotConnected.into());
        };
        if c.is_handshaking() {
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = io::Write::write(&mut c.writer(), buf)?;
        let drained = self.push(wire)?;
        if n > 0 {
            return Ok(n);
        }
        if drained {
            if let State::Conn(c) = &mut self.state {
                let n = io::Write::write(&mut c.writer(), buf)?;
                self.push(wire)?;
                if n > 0 {
                    return Ok(n);
                }
            }
        }
        Err(ErrorKind::WouldBlock.into())
    }

    fn flush(&mut self, wire: &mut dyn Wire) -> io::Result<bool> {
        self.push(wire)
    }

    fn close(&mut self, _wire: &mut dyn Wire) {
        if let State::Conn(c) = &mut self.state {
            c.send_close_notify();
        }
    }

    fn peer(&self) -> Peer<'_> {
        let State::Conn(c) = &self.state else {
            return Peer::default();
        };
        Peer {
            server_name: c.server_name(),
            subject: self.subject.as_deref(),
            verify: self.verify,
        }
    }

    fn response_headers(&self) -> &'static [u8] {
        self.shared.hsts(self.vhost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::io::{Read, Write};

    /// An in-memory socket: reads from `input`, writes to `output`,
    /// `WouldBlock` when empty (what a fuzz target feeds).
    #[derive(Default)]
    struct Mem {
        input: VecDeque<u8>,
        output: Vec<u8>,
    }

    impl Read for Mem {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.input.is_empty() {
                return Err(ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.input.len());
            for b in buf.iter_mut().take(n) {
                *b = self.input.pop_front().unwrap_or(0);
            }
            Ok(n)
        }
    }

    impl Write for Mem {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn server() -> (TlsConn, rustls::pki_types::CertificateDer<'static>) {
        let ck = rcgen::generate_simple_self_signed(vec!["dev.lan".to_string()]).unwrap();
        let t = crate::transport_from_pem(
            ck.cert.pem().as_bytes(),
            ck.signing_key.serialize_pem().as_bytes(),
        )
        .unwrap();
        (t, ck.cert.der().clone())
    }

    #[test]
    fn a_real_client_gets_plaintext_through_the_transport() {
        let (mut t, der) = server();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut client =
            rustls::ClientConnection::new(Arc::new(cfg), "dev.lan".try_into().unwrap()).unwrap();
        client
            .writer()
            .write_all(b"GET / HTTP/1.1\r\n\r\n")
            .unwrap();
        let mut wire = Mem::default();
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        for _ in 0..20 {
            let mut out = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut out).unwrap();
            }
            wire.input.extend(out);
            loop {
                match t.read(&mut wire, &mut buf) {
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
            let back = std::mem::take(&mut wire.output);
            if !back.is_empty() {
                client.read_tls(&mut &back[..]).unwrap();
                client.process_new_packets().unwrap();
            }
            if !got.is_empty() {
                break;
            }
        }
        assert_eq!(got, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(t.peer().server_name, Some("dev.lan"));
        // And back: the response reaches the client in plaintext.
        assert_eq!(t.write(&mut wire, b"HTTP/1.1 200 OK\r\n\r\n").unwrap(), 19);
        assert!(t.flush(&mut wire).unwrap());
        client.read_tls(&mut &wire.output[..]).unwrap();
        client.process_new_packets().unwrap();
        let mut resp = [0u8; 19];
        client.reader().read_exact(&mut resp).unwrap();
        assert_eq!(&resp, b"HTTP/1.1 200 OK\r\n\r\n");
    }

    #[test]
    fn arbitrary_bytes_end_in_an_error_never_a_panic() {
        for seed in 0u32..200 {
            let (mut t, _) = server();
            let mut wire = Mem::default();
            let mut x = seed.wrapping_mul(2_654_435_761).max(1);
            let mut bytes: Vec<u8> = (0..600)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            if seed % 2 == 0 {
                // A plausible record header first, so parsing goes deeper.
                bytes[..3].copy_from_slice(&[0x16, 0x03, 0x01]);
            }
            wire.input.extend(bytes);
            let mut buf = [0u8; 256];
            for _ in 0..4 {
                match t.read(&mut wire, &mut buf) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => break,
                }
            }
        }
    }
}
