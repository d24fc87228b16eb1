//! One FastCGI request on one backend connection, driven by the worker's
//! event loop through the plugin API's [`Stream`]. Descriptor 1 is the
//! backend socket (non-blocking, registered for reads and writes).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fws_api::gateway::{
    BodyFraming, Conditions, Feed, HeaderParser, Offload, OffloadError, Piece, ZeroCopy,
};
use fws_api::http::error::HttpError;
use fws_api::http::response::Head;
use fws_api::plugin::{Io, Produced, Stream};

use crate::codec::{self, CodecError, Decoder, Event, Params};
use crate::config::Addr;
use crate::Shared;

/// The request id used on every connection (one request at a time).
const ID: u16 = 1;
/// Longest stderr line logged (longer ones are cut).
const STDERR_LINE: usize = 1024;
/// Socket read buffer.
const RBUF: usize = 16 * 1024;
/// Most encoded STDIN bytes queued before the body is refused (backpressure).
const WBUF_MAX: usize = 64 * 1024;

/// A backend connection.
pub(crate) enum Sock {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Sock {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Sock::Unix(s) => s.as_fd(),
            Sock::Tcp(s) => s.as_fd(),
        }
    }

    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Unix(s) => s.read(b),
            Sock::Tcp(s) => s.read(b),
        }
    }

    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Sock::Unix(s) => s.write(b),
            Sock::Tcp(s) => s.write(b),
        }
    }

    /// A kept connection is still usable: open, nothing unread.
    fn idle_ok(&self) -> bool {
        use rustix::net::{recv, RecvFlags};
        let mut b = [0u8; 1];
        matches!(
            recv(self.fd(), &mut b, RecvFlags::PEEK | RecvFlags::DONTWAIT),
            Err(rustix::io::Errno::AGAIN)
        )
    }
}

/// Starts a non-blocking connect: the socket and whether it is still in
/// progress.
fn connect(addr: &Addr) -> io::Result<(Sock, bool)> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let pending = |r: rustix::io::Result<()>| match r {
        Ok(()) => Ok(false),
        Err(rustix::io::Errno::INPROGRESS) => Ok(true),
        Err(e) => Err(io::Error::from(e)),
    };
    match addr {
        Addr::Unix(p) => {
            let fd: OwnedFd =
                rustix::net::socket_with(AddressFamily::UNIX, SocketType::STREAM, flags, None)?;
            let sa = rustix::net::SocketAddrUnix::new(p.as_os_str().as_bytes())?;
            let busy = pending(rustix::net::connect(&fd, &sa))?;
            Ok((Sock::Unix(UnixStream::from(fd)), busy))
        }
        Addr::Tcp(a) => {
            let fam = if a.is_ipv4() {
                AddressFamily::INET
            } else {
                AddressFamily::INET6
            };
            let fd: OwnedFd = rustix::net::socket_with(fam, SocketType::STREAM, flags, None)?;
            let busy = pending(rustix::net::connect(&fd, a))?;
            let s = TcpStream::from(fd);
            let _ = s.set_nodelay(true);
            Ok((Sock::Tcp(s), busy))
        }
    }
}

/// Per worker: kept-alive connections and the count of open ones, per
/// backend.
pub(crate) struct Pool {
    idle: Vec<Vec<Sock>>,
    open: Vec<usize>,
}

impl Pool {
    pub(crate) fn new(backends: usize) -> Pool {
        Pool {
            idle: (0..backends).map(|_| Vec::new()).collect(),
            open: vec![0; backends],
        }
    }
}

fn lock(p: &Mutex<Pool>) -> std::sync::MutexGuard<'_, Pool> {
    match p.lock() {
        Ok(g) => g,
        Err(e) => e.into_inner(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Head,
    Body,
    /// X-ZeroCopy: gathering the whole body (bounded by `zerocopy_buffer`).
    ZcBuffer,
    /// Sending the queued literal parts and files.
    Drain,
    Done,
}

/// Queued output (X-ZeroCopy).
enum Out {
    Bytes(Vec<u8>, usize),
    File(std::fs::File, u64),
}

/// What reading the backend gave.
enum Got {
    Data(usize),
    Pending,
    End,
}

/// What follows an authorizer's 200.
pub(crate) enum Next {
    /// A FastCGI responder, with the request's PARAMS (the authorizer's
    /// `Variable-*` headers are added).
    Responder {
        backend: usize,
        params: Params,
        label: String,
    },
    /// The static file at this docroot path.
    Static { path: Vec<u8>, root: PathBuf },
}

/// Most `Variable-*` headers taken from an authorizer.
const MAX_VARIABLES: usize = 32;

pub(crate) struct FcgiStream {
    /// Set while the authorizer runs: what comes after its 200.
    next: Option<Next>,
    shared: Arc<Shared>,
    pool: Arc<Mutex<Pool>>,
    backend: usize,
    label: String,
    root: PathBuf,
    cond: Conditions,
    keep_alive: bool,
    has_body: bool,
    sock: Option<Sock>,
    connecting: bool,
    wbuf: Vec<u8>,
    wpos: usize,
    /// The empty STDIN record is queued (the request is fully sent).
    stdin_done: bool,
    rbuf: Vec<u8>,
    rpos: usize,
    rlen: usize,
    dec: Decoder,
    parser: HeaderParser,
    phase: Phase,
    carry: Vec<u8>,
    carry_pos: usize,
    framing: BodyFraming,
    remaining: u64,
    err_line: Vec<u8>,
    /// A failure found outside `produce` (connect), reported by it.
    fail: Option<HttpError>,
    last: Instant,
    /// The backend sent END_REQUEST.
    ended: bool,
    /// The connection may go back to the pool.
    reusable: bool,
    status: u16,
    bytes: u64,
    zc_buf: Vec<u8>,
    queue: VecDeque<Out>,
}

impl FcgiStream {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        shared: Arc<Shared>,
        pool: Arc<Mutex<Pool>>,
        backend: usize,
        label: String,
        root: PathBuf,
        cond: Conditions,
        keep_alive: bool,
        has_body: bool,
        params: Params,
        next: Option<Next>,
    ) -> FcgiStream {
        let mut wbuf = Vec::with_capacity(params.len() + 64);
        let role = if next.is_some() {
            codec::AUTHORIZER
        } else {
            codec::RESPONDER
        };
        codec::encode_begin(&mut wbuf, ID, role, shared.conf.keep_conn);
        params.finish(&mut wbuf, ID);
        // An authorizer gets no body.
        if !has_body || next.is_some() {
            codec::encode_stdin(&mut wbuf, ID, b"");
        }
        FcgiStream {
            stdin_done: !has_body || next.is_some(),
            next,
            shared,
            pool,
            backend,
            label,
            root,
            cond,
            keep_alive,
            has_body,
            sock: None,
            connecting: false,
            wbuf,
            wpos: 0,
            rbuf: vec![0; RBUF],
            rpos: 0,
            rlen: 0,
            dec: Decoder::new(ID),
            parser: HeaderParser::new(),
            phase: Phase::Head,
            carry: Vec::new(),
            carry_pos: 0,
            framing: BodyFraming::None,
            remaining: 0,
            err_line: Vec::new(),
            fail: None,
            last: Instant::now(),
            ended: false,
            reusable: false,
            status: 0,
            bytes: 0,
            zc_buf: Vec::new(),
            queue: VecDeque::new(),
        }
    }

    fn bad_gateway(&mut self, why: &dyn std::fmt::Display) -> Produced {
        log::error!("fastcgi {}: {why}", self.label);
        self.reusable = false;
        self.status = 502;
        Produced::Fail(HttpError::BadGateway)
    }

    /// Writes what is queued; `Err` when the backend is gone.
    fn flush(&mut self) -> io::Result<()> {
        let Some(s) = self.sock.as_mut() else {
            return Ok(());
        };
        while self.wpos < self.wbuf.len() {
            match s.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.wpos += n;
                    self.last = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        Ok(())
    }

    /// Next STDOUT bytes into `dst` (STDERR logged on the way).
    fn next_stdout(&mut self, dst: &mut [u8]) -> Result<Got, String> {
        loop {
            if self.ended {
                return Ok(Got::End);
            }
            if self.rpos == self.rlen {
                let Some(s) = self.sock.as_mut() else {
                    return Err("no backend connection".into());
                };
                match s.read(&mut self.rbuf) {
                    Ok(0) => {
                        return Err(if self.phase == Phase::Head {
                            "the backend closed the connection without a response".into()
                        } else {
                            "the backend closed the connection mid-response".into()
                        })
                    }
                    Ok(n) => {
                        self.rpos = 0;
                        self.rlen = n;
                        self.last = Instant::now();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Got::Pending),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(format!("reading from the backend: {e}")),
                }
            }
            let take = (self.rlen - self.rpos).min(dst.len().max(8));
            let input = &self.rbuf[self.rpos..self.rpos + take];
            let (used, ev) = self
                .dec
                .decode(input)
                .map_err(|e: CodecError| format!("bad record from the backend: {e}"))?;
            self.rpos += used;
            match ev {
                None => {}
                Some(Event::Stdout(b)) => {
                    // `take` may pass `dst` by a header's worth; content
                    // pieces never exceed the input given.
                    let n = b.len().min(dst.len());
                    dst[..n].copy_from_slice(&b[..n]);
                    if n < b.len() {
                        // Give back what did not fit (content bytes only).
                        self.rpos -= b.len() - n;
                        self.dec.unread(b.len() - n);
                    }
                    if n > 0 {
                        return Ok(Got::Data(n));
                    }
                }
                Some(Event::Stderr(b)) => {
                    stderr_lines(&mut self.err_line, &self.label, b);
                }
                Some(Event::End {
                    app_status,
                    protocol_status,
                }) => {
                    self.ended = true;
                    if !self.err_line.is_empty() {
                        stderr_lines(&mut self.err_line, &self.label, b"\n");
                    }
                    if protocol_status != codec::REQUEST_COMPLETE {
                        return Err(format!(
                            "the backend refused the request (protocol status {protocol_status})"
                        ));
                    }
                    if app_status != 0 {
                        log::debug!("fastcgi {}: application status {app_status}", self.label);
                    }
                    self.reusable = self.rpos == self.rlen
                        && self.stdin_done
                        && self.wbuf.is_empty()
                        && self.shared.conf.keep_conn;
                    return Ok(Got::End);
                }
                Some(Event::Values(_)) => {}
                Some(Event::UnknownType(t)) => {
                    log::warn!(
                        "fastcgi {}: backend does not know record type {t}",
                        self.label
                    );
                }
            }
        }
    }

    fn produce_head(&mut self, io: &mut Io<'_>, out: &mut [u8]) -> Produced {
        let mut tmp = [0u8; 4096];
        loop {
            let n = match self.next_stdout(&mut tmp) {
                Err(m) => return self.bad_gateway(&m),
                Ok(Got::Pending) => return Produced::Pending,
                Ok(Got::End) => {
                    let why = self
                        .parser
                        .finish()
                        .err()
                        .map_or("no response".to_string(), |e| e.to_string());
                    return self.bad_gateway(&format_args!("no response head: {why}"));
                }
                Ok(Got::Data(n)) => n,
            };
            match self.parser.feed(&tmp[..n]) {
                Err(e) => return self.bad_gateway(&format_args!("bad response head: {e}")),
                Ok(Feed::More) => {}
                Ok(Feed::Done(at)) => {
                    self.carry = tmp[at..n].to_vec();
                    self.carry_pos = 0;
                    return self.on_head(io, out);
                }
            }
        }
    }

    /// The file path of a URI in the docroot (empty when the URI does not
    /// normalise: the offload check then refuses it).
    fn docroot_path(&self, uri: &[u8]) -> Vec<u8> {
        let path = &uri[..uri.iter().position(|&b| b == b'?').unwrap_or(uri.len())];
        let mut norm = vec![0u8; path.len() + 1];
        match fws_api::http::path::normalize(path, &mut norm) {
            Ok(n) if path.first() == Some(&b'/') => {
                let mut full = self.root.as_os_str().as_bytes().to_vec();
                full.push(b'/');
                full.extend_from_slice(&norm[..n.len]);
                full
            }
            _ => Vec::new(),
        }
    }

    fn on_head(&mut self, io: &mut Io<'_>, out: &mut [u8]) -> Produced {
        let Some(p) = self.parser.parsed() else {
            return self.bad_gateway(&"no response head");
        };
        let minor = self.cond.minor;
        let head_only = self.cond.head_only;
        let ok_status = p.status.is_none_or(|s| s.0 == 200);
        if self.next.is_some() {
            if ok_status {
                let mut vars = Vec::new();
                for (n, v) in p.passed() {
                    if n.len() > 9 && n[..9].eq_ignore_ascii_case(b"variable-") {
                        if vars.len() == MAX_VARIABLES {
                            log::warn!(
                                "fastcgi {}: more than {MAX_VARIABLES} Variable- headers: the rest ignored",
                                self.label
                            );
                            break;
                        }
                        vars.push((n[9..].to_vec(), v.to_vec()));
                    }
                }
                return self.authorized(io, vars);
            }
            // Denied: the authorizer's response goes to the client; the
            // request body, never read, ends the connection.
            self.next = None;
            if self.has_body {
                self.keep_alive = false;
            }
        }
        let Some(p) = self.parser.parsed() else {
            return self.bad_gateway(&"no response head");
        };
        let accel = match (p.sendfile, p.accel_redirect) {
            (None, Some(uri)) => Some(self.docroot_path(uri)),
            _ => None,
        };
        if let (Some(path), true) = (p.sendfile.map(<[u8]>::to_vec).or(accel), ok_status) {
            let mut headers = Vec::new();
            for (n, v) in p.passed() {
                headers.extend_from_slice(n);
                headers.extend_from_slice(b": ");
                headers.extend_from_slice(v);
                headers.extend_from_slice(b"\r\n");
            }
            let content_type = p.content_type.map(Box::from);
            let name = PathBuf::from(std::ffi::OsStr::from_bytes(&path));
            // The backend's body is not wanted: this connection is not
            // reused (its remaining records are not awaited).
            self.reusable = false;
            return match self.shared.conf.offload.open(&path) {
                Ok((file, _)) => {
                    self.phase = Phase::Done;
                    self.status = 200;
                    Produced::Offload(Box::new(Offload {
                        file: OwnedFd::from(file),
                        name,
                        content_type,
                        headers,
                        cond: self.cond.clone(),
                        keep_alive: self.keep_alive,
                    }))
                }
                Err(e) => {
                    log::error!("fastcgi {}: offload of {}: {e}", self.label, name.display());
                    let err = match e {
                        OffloadError::Missing => HttpError::NotFound,
                        _ => HttpError::Forbidden,
                    };
                    self.status = err.status().code();
                    Produced::Fail(err)
                }
            };
        }
        if let Some(zc) = p.zerocopy {
            if self.shared.conf.offload.is_empty() {
                return self.bad_gateway(&"X-ZeroCopy without offload_dirs configured");
            }
            // The spans are checked for syntax now, against the body later.
            if let Err(e) = ZeroCopy::new(zc, None) {
                return self.bad_gateway(&format_args!("X-ZeroCopy: {e}"));
            }
            self.status = p.code();
            self.phase = Phase::ZcBuffer;
            return self.produce_zc(io, out);
        }
        if p.internal_redirect().is_some() {
            let mut h = Head::new(out);
            let framing = if head_only {
                BodyFraming::None
            } else {
                BodyFraming::Length(0)
            };
            p.write_head_status(&mut h, 302, io.date, self.keep_alive, minor, framing);
            self.status = 302;
            self.phase = Phase::Done;
            self.reusable = false;
            return match h.finish() {
                Some(n) => Produced::Bytes(n),
                None => self.bad_gateway(&"response head too large"),
            };
        }
        self.status = p.code();
        let framing = if p.bodiless() {
            BodyFraming::None
        } else if let Some(n) = p.content_length {
            BodyFraming::Length(n)
        } else if minor >= 1 {
            BodyFraming::Chunked
        } else {
            BodyFraming::Close
        };
        if framing == BodyFraming::Close {
            self.keep_alive = false;
        }
        let mut h = Head::new(out);
        p.write_head(&mut h, io.date, self.keep_alive, minor, framing);
        let Some(n) = h.finish() else {
            return self.bad_gateway(&"response head too large");
        };
        self.framing = framing;
        self.remaining = match framing {
            BodyFraming::Length(n) => n,
            _ => 0,
        };
        if head_only || framing == BodyFraming::None {
            // The body is not sent; nor is it awaited.
            self.reusable = false;
            self.phase = Phase::Done;
        } else {
            self.phase = Phase::Body;
        }
        Produced::Bytes(n)
    }

    fn produce_body(&mut self, out: &mut [u8]) -> Produced {
        let chunked = self.framing == BodyFraming::Chunked;
        let (pre, post) = if chunked { (6, 2 + 5) } else { (0, 0) };
        let cap = out.len().saturating_sub(pre + post).min(0xffff);
        if cap == 0 {
            return Produced::Bytes(0);
        }
        let mut got = 0;
        let mut end = false;
        while got < cap {
            if self.carry_pos < self.carry.len() {
                let n = (self.carry.len() - self.carry_pos).min(cap - got);
                out[pre + got..pre + got + n]
                    .copy_from_slice(&self.carry[self.carry_pos..self.carry_pos + n]);
                self.carry_pos += n;
                got += n;
                continue;
            }
            match self.next_stdout(&mut out[pre + got..pre + cap]) {
                Err(m) => return self.bad_gateway(&m),
                Ok(Got::Data(n)) => got += n,
                Ok(Got::Pending) => break,
                Ok(Got::End) => {
                    end = true;
                    break;
                }
            }
        }
        if let BodyFraming::Length(_) = self.framing {
            if got as u64 > self.remaining {
                return self.bad_gateway(&"more body than its Content-Length");
            }
            self.remaining -= got as u64;
            if end && self.remaining > 0 {
                return self.bad_gateway(&"body shorter than its Content-Length");
            }
        }
        self.bytes += got as u64;
        let mut n = got;
        if chunked && got > 0 {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for (i, shift) in [12, 8, 4, 0].iter().enumerate() {
                out[i] = HEX[(got >> shift) & 15];
            }
            out[4..6].copy_from_slice(b"\r\n");
            out[6 + got..8 + got].copy_from_slice(b"\r\n");
            n = got + 8;
        } else if chunked {
            n = 0;
        }
        if end {
            if chunked {
                out[n..n + 5].copy_from_slice(b"0\r\n\r\n");
                n += 5;
            }
            self.phase = Phase::Done;
            if n == 0 {
                return Produced::Done;
            }
        } else if got == 0 {
            return Produced::Pending;
        }
        Produced::Bytes(n)
    }

    /// The authorizer said 200: on to the responder (with the exported
    /// variables) or the static file.
    fn authorized(&mut self, io: &mut Io<'_>, vars: Vec<(Vec<u8>, Vec<u8>)>) -> Produced {
        self.reusable = false;
        self.close_sock(io);
        match self.next.take() {
            None => self.bad_gateway(&"no handler after the authorizer"),
            Some(Next::Static { path, root }) => {
                let mut file = root.clone();
                if !path.is_empty() {
                    file.push(std::ffi::OsStr::from_bytes(&path));
                }
                if std::fs::metadata(&file).is_ok_and(|m| m.is_dir()) {
                    file.push("index.html");
                }
                let hidden = path.split(|&b| b == b'/').any(|s| s.starts_with(b"."));
                let opened = std::fs::canonicalize(&file)
                    .ok()
                    .filter(|real| real.starts_with(&root) && !hidden)
                    .and_then(|real| {
                        let f = std::fs::File::open(&real).ok()?;
                        f.metadata().ok()?.is_file().then_some((f, real))
                    });
                match opened {
                    Some((f, real)) => {
                        self.phase = Phase::Done;
                        self.status = 200;
                        Produced::Offload(Box::new(Offload {
                            file: OwnedFd::from(f),
                            name: real,
                            content_type: None,
                            headers: Vec::new(),
                            cond: self.cond.clone(),
                            keep_alive: self.keep_alive,
                        }))
                    }
                    None => {
                        self.status = 404;
                        Produced::Fail(HttpError::NotFound)
                    }
                }
            }
            Some(Next::Responder {
                backend,
                mut params,
                label,
            }) => {
                for (n, v) in &vars {
                    let bad = n.is_empty()
                        || !n
                            .iter()
                            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-');
                    if bad || params.add(n, v).is_err() {
                        log::warn!(
                            "fastcgi {}: authorizer variable {} not passed on",
                            self.label,
                            String::from_utf8_lossy(n)
                        );
                    }
                }
                self.backend = backend;
                self.label = label;
                self.dec = Decoder::new(ID);
                self.parser = HeaderParser::new();
                self.carry.clear();
                self.carry_pos = 0;
                self.rpos = 0;
                self.rlen = 0;
                self.ended = false;
                self.phase = Phase::Head;
                self.wbuf.clear();
                self.wpos = 0;
                codec::encode_begin(
                    &mut self.wbuf,
                    ID,
                    codec::RESPONDER,
                    self.shared.conf.keep_conn,
                );
                params.finish(&mut self.wbuf, ID);
                if !self.has_body {
                    codec::encode_stdin(&mut self.wbuf, ID, b"");
                }
                self.stdin_done = !self.has_body;
                if let Err(e) = self.start(io) {
                    log::error!("fastcgi {}: {e}", self.label);
                    return Produced::Fail(HttpError::Internal);
                }
                if let Some(e) = self.fail.take() {
                    self.status = e.status().code();
                    return Produced::Fail(e);
                }
                Produced::Pending
            }
        }
    }

    /// X-ZeroCopy: gathers the body, then replaces each span by its file
    /// and sends the whole with a Content-Length. Any bad span or file is
    /// a 502 before a byte is sent.
    fn produce_zc(&mut self, io: &mut Io<'_>, out: &mut [u8]) -> Produced {
        let limit = self.shared.conf.zerocopy_buffer;
        // Body bytes read together with the head.
        if self.carry_pos < self.carry.len() {
            self.zc_buf.extend_from_slice(&self.carry[self.carry_pos..]);
            self.carry.clear();
            self.carry_pos = 0;
        }
        let mut tmp = [0u8; 4096];
        loop {
            if self.zc_buf.len() > limit {
                return self.bad_gateway(&format_args!(
                    "X-ZeroCopy body larger than zerocopy_buffer ({limit} bytes)"
                ));
            }
            match self.next_stdout(&mut tmp) {
                Err(m) => return self.bad_gateway(&m),
                Ok(Got::Pending) => return Produced::Pending,
                Ok(Got::Data(n)) => self.zc_buf.extend_from_slice(&tmp[..n]),
                Ok(Got::End) => break,
            }
        }
        let body = std::mem::take(&mut self.zc_buf);
        let Some(header) = self
            .parser
            .parsed()
            .and_then(|p| p.zerocopy.map(<[u8]>::to_vec))
        else {
            return self.bad_gateway(&"no X-ZeroCopy header");
        };
        let mut z = match ZeroCopy::new(&header, Some(body.len() as u64)) {
            Ok(z) => z,
            Err(e) => return self.bad_gateway(&format_args!("X-ZeroCopy: {e}")),
        };
        let mut pieces = Vec::new();
        z.feed(&body, &mut |p| pieces.push(p));
        if let Err(e) = z.finish() {
            return self.bad_gateway(&format_args!("X-ZeroCopy: {e}"));
        }
        let mut total = 0u64;
        for p in pieces {
            match p {
                Piece::Literal(b) => {
                    total += b.len() as u64;
                    self.queue.push_back(Out::Bytes(b, 0));
                }
                Piece::File(path) => {
                    match self.shared.conf.offload.open(path.as_os_str().as_bytes()) {
                        Ok((f, len)) => {
                            total += len;
                            if len > 0 {
                                self.queue.push_back(Out::File(f, len));
                            }
                        }
                        Err(e) => {
                            return self.bad_gateway(&format_args!(
                                "X-ZeroCopy file {}: {e}",
                                path.display()
                            ))
                        }
                    }
                }
            }
        }
        let framing = if self.cond.head_only {
            self.queue.clear();
            BodyFraming::None
        } else {
            BodyFraming::Length(total)
        };
        let Some(p) = self.parser.parsed() else {
            return self.bad_gateway(&"no response head");
        };
        let mut h = Head::new(out);
        p.write_head(&mut h, io.date, self.keep_alive, self.cond.minor, framing);
        let Some(n) = h.finish() else {
            return self.bad_gateway(&"response head too large");
        };
        self.bytes = total;
        self.phase = Phase::Drain;
        // The literal parts that fit go with the head in one send (a small
        // write of its own before the file would meet delayed ACKs).
        let mut n = n;
        while let Some(Out::Bytes(b, pos)) = self.queue.front() {
            let k = b.len() - pos;
            if n + k > out.len() {
                break;
            }
            out[n..n + k].copy_from_slice(&b[*pos..]);
            n += k;
            self.queue.pop_front();
        }
        Produced::Bytes(n)
    }

    /// Sends the next queued piece; `Done` when the queue is empty.
    fn produce_drain(&mut self, out: &mut [u8]) -> Produced {
        match self.queue.pop_front() {
            None => {
                self.phase = Phase::Done;
                Produced::Done
            }
            Some(Out::Bytes(b, pos)) => {
                let n = (b.len() - pos).min(out.len());
                out[..n].copy_from_slice(&b[pos..pos + n]);
                if pos + n < b.len() {
                    self.queue.push_front(Out::Bytes(b, pos + n));
                }
                Produced::Bytes(n)
            }
            Some(Out::File(f, len)) => Produced::File {
                fd: OwnedFd::from(f),
                start: 0,
                end: len,
            },
        }
    }

    /// Drops the connection (not pooled).
    fn close_sock(&mut self, io: &mut Io<'_>) {
        if let Some(s) = self.sock.take() {
            io.deregister(s.fd());
            drop(s);
            let mut p = lock(&self.pool);
            p.open[self.backend] = p.open[self.backend].saturating_sub(1);
        }
    }

    fn connected_check(&mut self) {
        if !self.connecting {
            return;
        }
        let Some(s) = self.sock.as_ref() else {
            return;
        };
        match rustix::net::sockopt::socket_error(s.fd()) {
            Ok(Ok(())) => {
                // Writable with no error: connected (or still going: the
                // write below then meets WouldBlock/ENOTCONN).
                self.connecting = false;
            }
            Ok(Err(e)) => {
                log::error!("fastcgi {}: connect: {}", self.label, io::Error::from(e));
                self.fail = Some(HttpError::ServiceUnavailable);
            }
            Err(e) => {
                log::error!("fastcgi {}: connect: {}", self.label, io::Error::from(e));
                self.fail = Some(HttpError::ServiceUnavailable);
            }
        }
    }
}

/// Appends STDERR bytes to the current line, logging complete lines.
fn stderr_lines(line: &mut Vec<u8>, label: &str, b: &[u8]) {
    for &c in b {
        if c == b'\n' {
            log::warn!("fastcgi {label}: {}", String::from_utf8_lossy(line));
            line.clear();
        } else if line.len() < STDERR_LINE {
            line.push(c);
        }
    }
}

impl Stream for FcgiStream {
    fn start(&mut self, io: &mut Io<'_>) -> io::Result<()> {
        let conf = &self.shared.conf;
        let b = self.backend;
        let reused = {
            let mut p = lock(&self.pool);
            let mut found = None;
            while let Some(s) = p.idle[b].pop() {
                if s.idle_ok() {
                    found = Some(s);
                    break;
                }
                p.open[b] = p.open[b].saturating_sub(1);
            }
            if found.is_none() && p.open[b] >= conf.max_conns {
                log::warn!(
                    "fastcgi {}: {} connections open to the backend (max_conns): 503",
                    self.label,
                    p.open[b]
                );
                self.fail = Some(HttpError::ServiceUnavailable);
                return Ok(());
            }
            if found.is_none() {
                p.open[b] += 1;
            }
            found
        };
        self.last = io.now;
        let sock = match reused {
            Some(s) => s,
            None => match connect(&conf.backends[b]) {
                Ok((s, busy)) => {
                    self.connecting = busy;
                    s
                }
                Err(e) => {
                    log::error!("fastcgi {}: connect: {e}", self.label);
                    let mut p = lock(&self.pool);
                    p.open[b] = p.open[b].saturating_sub(1);
                    self.fail = Some(HttpError::ServiceUnavailable);
                    return Ok(());
                }
            },
        };
        io.register(sock.fd(), 1, true, true)?;
        self.sock = Some(sock);
        if !self.connecting {
            if let Err(e) = self.flush() {
                log::error!("fastcgi {}: sending the request: {e}", self.label);
                self.fail = Some(HttpError::BadGateway);
            }
        }
        Ok(())
    }

    fn wants_body(&self) -> bool {
        self.has_body
    }

    fn body(&mut self, _io: &mut Io<'_>, data: &[u8], last: bool) -> io::Result<usize> {
        if self.next.is_some() {
            // The authorizer decides first; the body waits (backpressure).
            return Ok(0);
        }
        if self.stdin_done || self.fail.is_some() || self.ended || self.phase == Phase::Done {
            // Nobody reads it any more: discard.
            return Ok(data.len());
        }
        if self.wbuf.len() - self.wpos >= WBUF_MAX {
            if !self.connecting {
                let _ = self.flush();
            }
            if self.wbuf.len() - self.wpos >= WBUF_MAX {
                return Ok(0);
            }
        }
        let room = WBUF_MAX - (self.wbuf.len() - self.wpos);
        let take = data.len().min(room);
        if take > 0 {
            codec::encode_stdin(&mut self.wbuf, ID, &data[..take]);
        }
        if last && take == data.len() {
            codec::encode_stdin(&mut self.wbuf, ID, b"");
            self.stdin_done = true;
        }
        if !self.connecting {
            if let Err(e) = self.flush() {
                log::warn!("fastcgi {}: sending the body: {e}", self.label);
                // The backend stopped reading; its answer may still come.
                self.stdin_done = true;
                self.wbuf.clear();
                self.wpos = 0;
                return Ok(data.len());
            }
        }
        Ok(take)
    }

    fn produce(&mut self, io: &mut Io<'_>, out: &mut [u8]) -> Produced {
        if let Some(e) = self.fail.take() {
            self.status = e.status().code();
            return Produced::Fail(e);
        }
        if self.connecting {
            self.connected_check();
            if let Some(e) = self.fail.take() {
                self.status = e.status().code();
                return Produced::Fail(e);
            }
            if self.connecting {
                return Produced::Pending;
            }
        }
        if let Err(e) = self.flush() {
            if self.phase == Phase::Head && self.rpos == self.rlen {
                return self.bad_gateway(&format_args!("sending the request: {e}"));
            }
        }
        if self.phase == Phase::Body {
            // The client took what was sent: time waiting on a slow client
            // is not the backend's.
            self.last = io.now;
        }
        let mut n = 0;
        loop {
            let p = match self.phase {
                Phase::Head => self.produce_head(io, &mut out[n..]),
                Phase::Body => self.produce_body(&mut out[n..]),
                Phase::ZcBuffer => self.produce_zc(io, &mut out[n..]),
                Phase::Drain => self.produce_drain(&mut out[n..]),
                Phase::Done => Produced::Done,
            };
            match p {
                Produced::Bytes(k)
                    if k > 0
                        && matches!(self.phase, Phase::Body | Phase::Done)
                        && out.len() - (n + k) >= 512 =>
                {
                    n += k;
                }
                Produced::Bytes(k) => return Produced::Bytes(n + k),
                Produced::Pending | Produced::Done if n > 0 => return Produced::Bytes(n),
                other => return other,
            }
        }
    }

    fn ready(&mut self, _io: &mut Io<'_>, _sub: u8, _readable: bool, writable: bool) {
        if self.connecting && writable {
            self.connected_check();
        }
        if !self.connecting && self.fail.is_none() && writable {
            let _ = self.flush();
        }
    }

    fn deadline(&self) -> Option<Instant> {
        if matches!(self.phase, Phase::Done | Phase::Drain) || self.sock.is_none() {
            return None;
        }
        let c = &self.shared.conf;
        Some(if self.connecting {
            self.last + c.connect_timeout
        } else {
            self.last + c.timeout
        })
    }

    fn timeout(&mut self, io: &mut Io<'_>) -> HttpError {
        log::error!(
            "fastcgi {}: no {} from the backend in time",
            self.label,
            if self.connecting {
                "connection"
            } else if self.phase == Phase::Head {
                "response"
            } else {
                "progress"
            }
        );
        self.reusable = false;
        self.close_sock(io);
        self.status = 504;
        HttpError::GatewayTimeout
    }

    fn log_status(&self) -> u16 {
        if self.status == 0 {
            200
        } else {
            self.status
        }
    }

    fn log_bytes(&self) -> u64 {
        self.bytes
    }

    fn abort(&mut self, io: &mut Io<'_>) {
        if self.reusable && self.ended && self.phase == Phase::Done {
            if let Some(s) = self.sock.take() {
                io.deregister(s.fd());
                let mut p = lock(&self.pool);
                if p.idle[self.backend].len() < self.shared.conf.max_idle {
                    p.idle[self.backend].push(s);
                } else {
                    p.open[self.backend] = p.open[self.backend].saturating_sub(1);
                }
            }
            return;
        }
        self.close_sock(io);
    }
}
