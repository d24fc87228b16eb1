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
