//! A test-only plugin that proves the plugin API's shapes the later plugins
//! need, so the API is not redesigned when they come:
//!
//! - **A stream fed by descriptors it registered** (the shape of CGI): a
//!   POST to the `echo` prefix spawns `cat` with its stdin and stdout on
//!   socket pairs, registers both ends in the worker's poller, feeds the
//!   request body to stdin with backpressure and streams stdout back to the
//!   client (chunked) with backpressure — both directions at once, so a body
//!   larger than every buffer on the way passes without deadlock.
//! - **A transport that transforms bytes** (the shape of TLS): connections
//!   on the `xor_listen` listeners have every byte XOR-ed with 0x5A in both
//!   directions; the transport cannot `sendfile`, so the engine reads file
//!   bodies into its buffer and writes them through the transport.
//!
//! Compiled only with the `testkit` feature, never in a release.
//!
//! ```toml
//! [testkit]
//! echo = "/_echo"                  # path prefix of the echo handler
//! xor_listen = ["127.0.0.1:0"]     # listeners wrapped in the XOR transport
//! ```
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};

use fws_api::doc::Value;
use fws_api::http::error::HttpError;
use fws_api::http::request::Method;
use fws_api::http::response::Status;
use fws_api::plugin::{
    ConnInfo, Content, Env, Exchange, Io, Plugin, Produced, Reply, Section, Stream, Transport, Wire,
};

pub struct TestKit {
    echo: Option<String>,
    xor_listen: Vec<SocketAddr>,
}

impl Plugin for TestKit {
    const NAME: &'static str = "testkit";
    type Worker = ();

    fn init(sections: &[Section<'_>], _env: &Env) -> Result<Self, Vec<String>> {
        let mut kit = TestKit {
            echo: None,
            xor_listen: Vec::new(),
        };
        let mut errs = Vec::new();
        for s in sections {
            for e in &s.table.entries {
                match (e.key.as_str(), &e.value) {
                    ("echo", Value::Str(p)) if p.starts_with('/') => {
                        kit.echo = Some(p.trim_start_matches('/').to_string())
                    }
                    ("xor_listen", Value::List(items)) => {
                        for it in items {
                            match it {
                                Value::Str(a) => match a.parse() {
                                    Ok(addr) => kit.xor_listen.push(addr),
                                    Err(_) => errs.push(format!(
                                        "{}:{}: xor_listen: expected ADDR:PORT, got {a:?}",
                                        s.file, e.line
                                    )),
                                },
                                _ => errs.push(format!(
                                    "{}:{}: xor_listen: expected strings",
                                    s.file, e.line
                                )),
                            }
                        }
                    }
                    (k, _) => errs.push(format!(
                        "{}:{}: testkit: unknown key or bad value for {k}",
                        s.file, e.line
                    )),
                }
            }
        }
        if errs.is_empty() {
            Ok(kit)
        } else {
            Err(errs)
        }
    }

    fn config_text(&self) -> String {
        let mut out = String::from("\n[testkit]\n");
        if let Some(e) = &self.echo {
            out.push_str(&format!("echo = \"/{e}\"\n"));
        }
        let l: Vec<String> = self.xor_listen.iter().map(|a| format!("\"{a}\"")).collect();
        out.push_str(&format!("xor_listen = [{}]\n", l.join(", ")));
        out
    }

    fn listeners(&self) -> Vec<SocketAddr> {
        self.xor_listen.clone()
    }

    fn worker(&self, _id: usize) -> Self::Worker {}

    fn transport(&self, _w: &mut (), _conn: &ConnInfo) -> Option<Box<dyn Transport>> {
        Some(Box::new(Xor { scratch: [0; 4096] }))
    }

    fn content(&self, _w: &mut (), x: &mut Exchange<'_, '_>, reply: &mut Reply<'_>) -> Content {
        let (Some(prefix), Some(path)) = (&self.echo, x.path) else {
            return Content::Decline;
        };
        if !path.starts_with(prefix.as_bytes()) {
            return Content::Decline;
        }
        if x.req.method != Method::Post {
            reply.error(HttpError::MethodNotAllowed);
            return Content::Respond;
        }
        Content::Stream(Box::new(Echo::new(reply.keep_alive(), x.req.minor)))
    }
}

/// XOR-0x5A transport.
struct Xor {
    scratch: [u8; 4096],
}

const KEY: u8 = 0x5a;

impl Transport for Xor {
    fn read(&mut self, wire: &mut dyn Wire, buf: &mut [u8]) -> io::Result<usize> {
        let n = wire.read(buf)?;
        buf[..n].iter_mut().for_each(|b| *b ^= KEY);
        Ok(n)
    }

    fn write(&mut self, wire: &mut dyn Wire, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.scratch.len());
        for (d, s) in self.scratch[..n].iter_mut().zip(buf) {
            *d = s ^ KEY;
        }
        wire.write(&self.scratch[..n])
    }

    fn flush(&mut self, _wire: &mut dyn Wire) -> io::Result<bool> {
        Ok(true)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Head,
    Body,
    Trailer,
    Done,
}

/// POST body → `cat` → chunked response.
struct Echo {
    child: Option<Child>,
    to_child: Option<UnixStream>,
    from_child: Option<UnixStream>,
    keep_alive: bool,
    minor: u8,
    phase: Phase,
    bytes: u64,
}

impl Echo {
    fn new(keep_alive: bool, minor: u8) -> Echo {
        Echo {
            child: None,
            to_child: None,
            from_child: None,
            keep_alive,
            minor,
            phase: Phase::Head,
            bytes: 0,
        }
    }
}

impl Stream for Echo {
    fn start(&mut self, io: &mut Io<'_>) -> io::Result<()> {
        let (ours_in, theirs_in) = UnixStream::pair()?;
        let (ours_out, theirs_out) = UnixStream::pair()?;
        let child = Command::new("cat")
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs_in)))
            .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs_out)))
            .stderr(Stdio::null())
            .env_clear()
            .spawn()?;
        self.child = Some(child);
        ours_in.set_nonblocking(true)?;
        ours_out.set_nonblocking(true)?;
        io.register(ours_in.as_fd(), 1, false, true)?;
        io.register(ours_out.as_fd(), 2, true, false)?;
        self.to_child = Some(ours_in);
        self.from_child = Some(ours_out);
        Ok(())
    }

    fn wants_body(&self) -> bool {
        true
    }

    fn body(&mut self, io: &mut Io<'_>, data: &[u8], last: bool) -> io::Result<usize> {
        let Some(w) = self.to_child.as_mut() else {
            return Ok(data.len());
        };
        let mut taken = 0;
        while taken < data.len() {
            match w.write(&data[taken..]) {
                Ok(n) => taken += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        if last {
            // End of the body: the child sees EOF on its stdin.
            if let Some(w) = self.to_child.take() {
                io.deregister(w.as_fd());
            }
        }
        Ok(taken)
    }

    fn produce(&mut self, _io: &mut Io<'_>, out: &mut [u8]) -> Produced {
        match self.phase {
            Phase::Head => {
                let date = *_io.date;
                let mut r = Reply::new(out, &date, self.keep_alive, self.minor, false);
                r.start(Status::Ok)
                    .header(b"Content-Type", b"application/octet-stream")
                    .header(b"Transfer-Encoding", b"chunked")
                    .end();
                self.phase = Phase::Body;
                match r.done() {
                    Some((n, _, _)) => Produced::Bytes(n),
                    None => Produced::Fail(HttpError::Internal),
                }
            }
            Phase::Body => {
                let Some(r) = self.from_child.as_mut() else {
                    return Produced::Fail(HttpError::Internal);
                };
                // Room for "xxxx\r\n" before and "\r\n" after the data.
                let room = out.len().saturating_sub(8).min(0xffff);
                match r.read(&mut out[6..6 + room]) {
                    Ok(0) => {
                        self.phase = Phase::Trailer;
                        out[..5].copy_from_slice(b"0\r\n\r\n");
                        Produced::Bytes(5)
                    }
                    Ok(n) => {
                        let hex = format!("{n:04x}\r\n");
                        out[..6].copy_from_slice(hex.as_bytes());
                        out[6 + n..8 + n].copy_from_slice(b"\r\n");
                        self.bytes += n as u64;
                        Produced::Bytes(8 + n)
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Produced::Pending,
                    Err(_) => Produced::Fail(HttpError::BadGateway),
                }
            }
            Phase::Trailer => {
                self.phase = Phase::Done;
                Produced::Done
            }
            Phase::Done => Produced::Done,
        }
    }

    fn log_status(&self) -> u16 {
        200
    }

    fn log_bytes(&self) -> u64 {
        self.bytes
    }

    fn abort(&mut self, io: &mut Io<'_>) {
        if let Some(w) = self.to_child.take() {
            io.deregister(w.as_fd());
        }
        if let Some(r) = self.from_child.take() {
            io.deregister(r.as_fd());
        }
        if let Some(mut c) = self.child.take() {
            if !matches!(c.try_wait(), Ok(Some(_))) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
