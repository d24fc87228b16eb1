//! One CGI request: the child process and its three sockets, driven by
//! the worker's event loop through the plugin API's [`Stream`].
//!
//! Descriptors: 1 the child's stdin (we write the request body), 2 its
//! stdout (the response), 3 its stderr (lines to the error log). All are
//! pipes created close-on-exec (our ends non-blocking); the child gets its
//! ends as 0, 1 and 2 only. Without a request body its stdin is /dev/null.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use fws_api::gateway::{
    BodyFraming, Conditions, Feed, HeaderParser, Offload, OffloadError, Piece, ZeroCopy,
};
use fws_api::http::error::HttpError;
use fws_api::http::response::Head;
use fws_api::plugin::{Io, Produced, Stream};

use crate::Shared;

/// Longest stderr line logged (longer ones are cut).
const STDERR_LINE: usize = 1024;

/// Kills the process group a child leads (it was spawned with
/// `process_group(0)`, so its group id is its pid).
pub(crate) fn kill_group(child: &Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// How the child ended, once its output did.
enum Exit {
    Clean,
    Crashed,
    /// No status yet: wait for the pidfd.
    Wait,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading the CGI response head.
    Head,
    /// Streaming the body with the chosen framing.
    Body,
    /// NPH: the script's bytes go to the client as they are.
    Raw,
    /// X-ZeroCopy: buffering the body to compute a Content-Length.
    ZcBuffer,
    /// X-ZeroCopy: streaming chunked, spans replaced as they complete.
    ZcStream,
    /// Sending what is queued, then done.
    Drain,
    Done,
}

/// Queued output.
enum Out {
    Bytes(Vec<u8>, usize),
    File(File, u64),
}

pub(crate) struct CgiStream {
    shared: Arc<Shared>,
    cmd: Option<Command>,
    label: String,
    root: PathBuf,
    cond: Conditions,
    keep_alive: bool,
    nph: bool,
    /// Whether the request has a body (otherwise stdin is /dev/null).
    has_body: bool,
    child: Option<Child>,
    stdin: Option<File>,
    stdout: Option<File>,
    stderr: Option<File>,
    /// Watches for the child's exit after its output ended (sub 1).
    pidfd: Option<OwnedFd>,
    err_line: Vec<u8>,
    parser: HeaderParser,
    phase: Phase,
    /// Body bytes read together with the head.
    carry: Vec<u8>,
    carry_pos: usize,
    framing: BodyFraming,
    /// For `Length`: bytes still to send.
    remaining: u64,
    zc: Option<ZeroCopy>,
    zc_buf: Vec<u8>,
    queue: VecDeque<Out>,
    started: Instant,
    /// Last time the child took input or gave output.
    last_in: Instant,
    last_out: Instant,
    /// The last `produce` found nothing from the child.
    waiting_out: bool,
    /// The last `body` could not write everything to the child.
    waiting_in: bool,
    /// The response ended as it should (the child may still run a little).
    finished: bool,
    status: u16,
    bytes: u64,
}

impl CgiStream {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        shared: Arc<Shared>,
        cmd: Command,
        label: String,
        root: PathBuf,
        cond: Conditions,
        keep_alive: bool,
        nph: bool,
        has_body: bool,
    ) -> CgiStream {
        let now = Instant::now();
        CgiStream {
            shared,
            cmd: Some(cmd),
            label,
            root,
            cond,
            keep_alive,
            nph,
            has_body,
            child: None,
            stdin: None,
            stdout: None,
            stderr: None,
            pidfd: None,
            err_line: Vec::new(),
            parser: HeaderParser::new(),
            phase: if nph { Phase::Raw } else { Phase::Head },
            carry: Vec::new(),
            carry_pos: 0,
            framing: BodyFraming::None,
            remaining: 0,
            zc: None,
            zc_buf: Vec::new(),
            queue: VecDeque::new(),
            started: now,
            last_in: now,
            last_out: now,
            waiting_out: false,
            waiting_in: false,
            finished: false,
            status: 0,
            bytes: 0,
        }
    }

    /// Reads from the child's stdout (carried bytes first).
    fn read_out(&mut self, buf: &mut [u8]) -> Result<Option<usize>, ()> {
        if self.carry_pos < self.carry.len() {
            let n = (self.carry.len() - self.carry_pos).min(buf.len());
            buf[..n].copy_from_slice(&self.carry[self.carry_pos..self.carry_pos + n]);
            self.carry_pos += n;
            if self.carry_pos == self.carry.len() {
                self.carry = Vec::new();
                self.carry_pos = 0;
            }
            return Ok(Some(n));
        }
        let Some(r) = self.stdout.as_mut() else {
            return Ok(Some(0));
        };
        loop {
            match r.read(buf) {
                Ok(n) => {
                    self.last_out = Instant::now();
                    return Ok(Some(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
    }

    /// The child closed its stdout: did it exit cleanly? A process closes
    /// its descriptors a moment before its exit status exists, so when
    /// there is none yet the stream waits for the exit on a pidfd (in the
    /// place of stdin, which is of no more use) — a crash must not pass
    /// for a complete response. Without pidfds (Linux < 5.3) the end of
    /// the output counts as a clean end, as in lighttpd.
    fn exit_status(&mut self, io: &mut Io<'_>) -> Exit {
        let Some(child) = self.child.as_mut() else {
            return Exit::Clean;
        };
        match child.try_wait() {
            Ok(Some(st)) if st.signal().is_some() => return Exit::Crashed,
            Ok(Some(_)) | Err(_) => return Exit::Clean,
            Ok(None) => {}
        }
        if self.pidfd.is_some() {
            self.waiting_out = true;
            return Exit::Wait;
        }
        let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) else {
            return Exit::Clean;
        };
        let Ok(fd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) else {
            return Exit::Clean;
        };
        if let Some(w) = self.stdin.take() {
            io.deregister(w.as_fd());
        }
        if io.register(fd.as_fd(), 1, true, false).is_err() {
            return Exit::Clean;
        }
        self.pidfd = Some(fd);
        // Bounded by the idle timeout like any other wait on the script.
        self.waiting_out = true;
        Exit::Wait
    }

    fn bad_gateway(&self, why: &dyn std::fmt::Display) -> Produced {
        log::error!("cgi {}: {why}", self.label);
        Produced::Fail(HttpError::BadGateway)
    }

    /// Drains the child's stderr into the error log, line by line.
    fn drain_stderr(&mut self, io: &mut Io<'_>) {
        let Some(e) = self.stderr.as_mut() else {
            return;
        };
        let mut buf = [0u8; 1024];
        loop {
            match e.read(&mut buf) {
                Ok(0) => {
                    if !self.err_line.is_empty() {
                        log::warn!(
                            "cgi {}: {}",
                            self.label,
                            String::from_utf8_lossy(&self.err_line)
                        );
                        self.err_line.clear();
                    }
                    if let Some(e) = self.stderr.take() {
                        io.deregister(e.as_fd());
                    }
                    return;
                }
                Ok(n) => {
                    for &b in &buf[..n] {
                        if b == b'\n' {
                            log::warn!(
                                "cgi {}: {}",
                                self.label,
                                String::from_utf8_lossy(&self.err_line)
                            );
                            self.err_line.clear();
                        } else if self.err_line.len() < STDERR_LINE {
                            self.err_line.push(b);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// The head is complete: decide what the response is.
    fn on_head(&mut self, io: &mut Io<'_>, out: &mut [u8]) -> Produced {
        let Some(p) = self.parser.parsed() else {
            return self.bad_gateway(&"no response head");
        };
        let minor = self.cond.minor;
        let head_only = self.cond.head_only;
        let ok_status = p.status.is_none_or(|s| s.0 == 200);
        // X-Accel-Redirect names a URI: its file in the docroot, which
        // must lie under offload_dirs like any X-Sendfile path.
        let accel = match (p.sendfile, p.accel_redirect) {
            (None, Some(uri)) => Some(self.docroot_path(uri)),
            _ => None,
        };
        // X-Sendfile: the static path serves the file, the body is dropped.
        if let (Some(path), true) = (p.sendfile.map(<[u8]>::to_vec).or(accel), ok_status) {
            let path = &path[..];
            let mut headers = Vec::new();
            for (n, v) in p.passed() {
                headers.extend_from_slice(n);
                headers.extend_from_slice(b": ");
                headers.extend_from_slice(v);
                headers.extend_from_slice(b"\r\n");
            }
            let content_type = p.content_type.map(Box::from);
            let name = PathBuf::from(std::ffi::OsStr::from_bytes(path));
            return match self.shared.conf.offload.open(path) {
                Ok((file, _)) => {
                    self.close_stdout(io);
                    self.phase = Phase::Done;
                    self.finished = true;
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
                    log::error!("cgi {}: offload of {}: {e}", self.label, name.display());
                    Produced::Fail(match e {
                        OffloadError::Missing => HttpError::NotFound,
                        _ => HttpError::Forbidden,
                    })
                }
            };
        }
        // A local Location: serve that file from the docroot (an internal
        // redirect); what is not a plain file there goes to the client as
        // a 302.
        if let Some(loc) = p.internal_redirect().map(<[u8]>::to_vec) {
            if let Some(file) = self.local_file(&loc) {
                self.close_stdout(io);
                self.phase = Phase::Done;
                self.finished = true;
                let name = PathBuf::from(std::ffi::OsStr::from_bytes(&loc));
                return Produced::Offload(Box::new(Offload {
                    file: OwnedFd::from(file),
                    name,
                    content_type: None,
                    headers: Vec::new(),
                    cond: self.cond.clone(),
                    keep_alive: self.keep_alive,
                }));
            }
            let mut h = Head::new(out);
            let framing = if head_only {
                BodyFraming::None
            } else {
                BodyFraming::Length(0)
            };
            p.write_head_status(&mut h, 302, io.date, self.keep_alive, minor, framing);
            self.status = 302;
            self.phase = Phase::Done;
            self.finished = true;
            return match h.finish() {
                Some(n) => Produced::Bytes(n),
                None => self.bad_gateway(&"response head too large"),
            };
        }
        self.status = p.code();
        if let Some(zc) = p.zerocopy {
            if self.shared.conf.offload.is_empty() {
                return self.bad_gateway(&"X-ZeroCopy without offload_dirs configured");
            }
            match ZeroCopy::new(zc, None) {
                Ok(z) => self.zc = Some(z),
                Err(e) => return self.bad_gateway(&format_args!("X-ZeroCopy: {e}")),
            }
            self.phase = Phase::ZcBuffer;
            // The head is written when the body is known (or too big).
            return self.produce_zc_buffer(io, out);
        }
        // HEAD gets the head GET would get (its Content-Length included).
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
        self.phase = match framing {
            _ if head_only => {
                self.finished = true;
                Phase::Done
            }
            BodyFraming::None | BodyFraming::Length(0) => {
                self.finished = true;
                Phase::Done
            }
            _ => Phase::Body,
        };
        Produced::Bytes(n)
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

    /// A regular file inside the docroot for a local Location.
    fn local_file(&self, loc: &[u8]) -> Option<File> {
        let path = &loc[..loc.iter().position(|&b| b == b'?').unwrap_or(loc.len())];
        let mut norm = vec![0u8; path.len() + 1];
        let n = fws_api::http::path::normalize(path, &mut norm).ok()?;
        let rel = &norm[..n.len];
        if rel.is_empty() || rel.split(|&b| b == b'/').any(|s| s.starts_with(b".")) {
            return None;
        }
        let full = self.root.join(std::ffi::OsStr::from_bytes(rel));
        let real = std::fs::canonicalize(&full).ok()?;
        if !real.starts_with(&self.root) {
            return None;
        }
        // An executable there may be a script: let the client ask for it.
        let md = std::fs::metadata(&real).ok()?;
        use std::os::unix::fs::PermissionsExt;
        if !md.is_file() || md.permissions().mode() & 0o111 != 0 {
            return None;
        }
        File::open(&real).ok()
    }

    fn close_stdout(&mut self, io: &mut Io<'_>) {
        if let Some(r) = self.stdout.take() {
            io.deregister(r.as_fd());
        }
    }

    fn produce_head(&mut self, io: &mut Io<'_>, out: &mut [u8]) -> Produced {
        loop {
            let n = match self.read_out(out) {
                Err(()) => return self.bad_gateway(&"reading the script's output failed"),
                Ok(None) => {
                    self.waiting_out = true;
                    return Produced::Pending;
                }
                Ok(Some(0)) => {
                    let why = self
                        .parser
                        .finish()
                        .err()
                        .map_or("no output".to_string(), |e| e.to_string());
                    let how = match self.child.as_mut().map(|c| c.try_wait()) {
                        Some(Ok(Some(st))) => format!(" ({st})"),
                        _ => String::new(),
                    };
                    return self.bad_gateway(&format_args!("{why}{how}"));
                }
                Ok(Some(n)) => n,
            };
            match self.parser.feed(&out[..n]) {
                Err(e) => return self.bad_gateway(&format_args!("bad response head: {e}")),
                Ok(Feed::More) => continue,
                Ok(Feed::Done(at)) => {
                    self.carry = out[at..n].to_vec();
                    self.carry_pos = 0;
                    return self.on_head(io, out);
                }
            }
        }
    }

    fn produce_body(&mut self, io: &mut Io<'_>, out: &mut [u8]) -> Produced {
        match self.framing {
            BodyFraming::Chunked => {
                // Room for "xxxx\r\n" before and "\r\n" after the data.
                let room = out.len().saturating_sub(8).min(0xffff);
                match self.read_out(&mut out[6..6 + room]) {
                    Err(()) => self.bad_gateway(&"reading the script's output failed"),
                    Ok(None) => {
                        self.waiting_out = true;
                        Produced::Pending
                    }
                    Ok(Some(0)) => {
                        match self.exit_status(io) {
                            Exit::Wait => return Produced::Pending,
                            Exit::Crashed => {
                                return self.bad_gateway(&"the script crashed mid-response")
                            }
                            Exit::Clean => {}
                        }
                        out[..5].copy_from_slice(b"0\r\n\r\n");
                        self.phase = Phase::Done;
                        self.finished = true;
                        Produced::Bytes(5)
                    }
                    Ok(Some(n)) => {
                        const HEX: &[u8; 16] = b"0123456789abcdef";
                        for (i, shift) in [12, 8, 4, 0].iter().enumerate() {
                            out[i] = HEX[(n >> shift) & 15];
                        }
                        out[4..6].copy_from_slice(b"\r\n");
                        out[6 + n..8 + n].copy_from_slice(b"\r\n");
                        self.bytes += n as u64;
                        Produced::Bytes(8 + n)
                    }
                }
            }
            BodyFraming::Length(_) => {
                let room = (out.len() as u64).min(self.remaining) as usize;
                match self.read_out(&mut out[..room]) {
                    Err(()) => self.bad_gateway(&"reading the script's output failed"),
                    Ok(None) => {
                        self.waiting_out = true;
                        Produced::Pending
                    }
                    Ok(Some(0)) => self.bad_gateway(&format_args!(
                        "output ended {} bytes short of its Content-Length",
                        self.remaining
                    )),
                    Ok(Some(n)) => {
                        self.remaining -= n as u64;
                        self.bytes += n as u64;
                        if self.remaining == 0 {
                            self.phase = Phase::Done;
                            self.finished = true;
                        }
                        Produced::Bytes(n)
                    }
                }
            }
            BodyFraming::Close => match self.read_out(out) {
                Err(()) => self.bad_gateway(&"reading the script's output failed"),
                Ok(None) => {
                    self.waiting_out = true;
                    Produced::Pending
                }
                Ok(Some(0)) => {
                    match self.exit_status(io) {
                        Exit::Wait => return Produced::Pending,
                        Exit::Crashed => {
                            return self.bad_gateway(&"the script crashed mid-response")
                        }
                        Exit::Clean => {}
                    }
                    self.phase = Phase::Done;
                    self.finished = true;
                    Produced::Done
                }
                Ok(Some(n)) => {
                    self.bytes += n as u64;
                    Produced::Bytes(n)
                }
            },
            BodyFraming::None => {
                self.phase = Phase::Done;
                self.finished = true;
                Produced::Done
            }
        }
    }

    fn produce_raw(&mut self, io: &mut Io<'_>, out: &mut [u8]) -> Produced {
        self.keep_alive = false;
        match self.read_out(out) {
            Err(()) => self.bad_gateway(&"reading the script's output failed"),
            Ok(None) => {
                self.waiting_out = true;
                Produced::Pending
            }
            Ok(Some(0)) if self.bytes == 0 => self.bad_gateway(&"an NPH script printed nothing"),
            Ok(Some(0)) => {
                match self.exit_status(io) {
                    Exit::Wait => return Produced::Pending,
                    Exit::Crashed => return self.bad_gateway(&"the NPH script crashed"),
                    Exit::Clean => {}
                }
                self.phase = Phase::Done;
                self.finished = true;
                Produced::Done
            }
            Ok(Some(n)) => {
                if self.bytes == 0 {
                    self.status = parse_nph_status(&out[..n]);
                }
                self.bytes += n as u64;
                Produced::Bytes(n)
            }
        }
    }

    /// Opens a span's file and queues it (framed for chunked when `chunked`).
    fn queue_piece(&mut self, piece: Piece, chunked: bool) -> Result<u64, String> {
        match piece {
            Piece::Literal(b) if b.is_empty() => Ok(0),
            Piece::Literal(b) => {
                let len = b.len() as u64;
                if chunked {
                    let mut v = format!("{:x}\r\n", b.len()).into_bytes();
                    v.extend_from_slice(&b);
                    v.extend_from_slice(b"\r\n");
                    self.queue.push_back(Out::Bytes(v, 0));
                } else {
                    self.queue.push_back(Out::Bytes(b, 0));
                }
                Ok(len)
            }
            Piece::File(path) => {
                let (f, len) = self
                    .shared
                    .conf
                    .offload
                    .open(path.as_os_str().as_bytes())
                    .map_err(|e| format!("X-ZeroCopy span {}: {e}", path.display()))?;
                if len == 0 {
                    return Ok(0);
                }
                if chunked {
                    self.queue
                        .push_back(Out::Bytes(format!("{len:x}\r\n").into_bytes(), 0));
                    self.queue.push_back(Out::File(f, len));
                    self.queue.push_back(Out::Bytes(b"\r\n".to_vec(), 0));
                } else {
                    self.queue.push_back(Out::File(f, len));
                }
                Ok(len)
            }
        }
    }

    fn feed_zc(&mut self, data: &[u8], chunked: bool) -> Result<u64, String> {
        let Some(mut z) = self.zc.take() else {
            return Err("no X-ZeroCopy state".into());
        };
        let mut pieces = Vec::new();
        z.feed(data, &mut |p| pieces.push(p));
        self.zc = Some(z);
        let mut total = 0;
        for p in pieces {
            total += self.queue_piece(p, chunked)?;
        }
        Ok(total)
    }

    fn zc_head(&mut self, io: &mut Io<'_>, out: &mut [u8], framing: BodyFraming) -> Option<usize> {
        let p = self.parser.parsed()?;
        let mut h = Head::new(out);
        p.write_head(&mut h, io.date, self.keep_alive, self.cond.minor, framing);
        h.finish()
    }

    fn produce_zc_buffer(&mut self, io: &mut Io<'_>, out: &mut [u8]) -> Produced {
        loop {
            let mut tmp = [0u8; 4096];
            match self.read_out(&mut tmp) {
                Err(()) => return self.bad_gateway(&"reading the script's output failed"),
                Ok(None) => {
                    self.waiting_out = true;
                    return Produced::Pending;
                }
                Ok(Some(0)) => {
                    match self.exit_status(io) {
                        Exit::Wait => return Produced::Pending,
                        Exit::Crashed => return self.bad_gateway(&"the script crashed"),
                        Exit::Clean => {}
                    }
                    // The whole body is here: check every span, then send
                    // with a Content-Length.
                    let body = std::mem::take(&mut self.zc_buf);
                    let header = self
                        .parser
                        .parsed()
                        .and_then(|p| p.zerocopy.map(<[u8]>::to_vec))
                        .unwrap_or_default();
                    match ZeroCopy::new(&header, Some(body.len() as u64)) {
                        Ok(z) => self.zc = Some(z),
                        Err(e) => return self.bad_gateway(&format_args!("X-ZeroCopy: {e}")),
                    }
                    let total = match self.feed_zc(&body, false) {
                        Ok(t) => t,
                        Err(m) => return self.bad_gateway(&m),
                    };
                    if let Some(Err(e)) = self.zc.as_ref().map(ZeroCopy::finish) {
                        return self.bad_gateway(&format_args!("X-ZeroCopy: {e}"));
                    }
                    let framing = if self.cond.head_only {
                        self.queue.clear();
                        BodyFraming::None
                    } else {
                        BodyFraming::Length(total)
                    };
                    self.bytes = total;
                    let Some(n) = self.zc_head(io, out, framing) else {
                        return self.bad_gateway(&"response head too large");
                    };
                    self.phase = Phase::Drain;
                    return Produced::Bytes(n);
                }
                Ok(Some(n)) => {
                    self.zc_buf.extend_from_slice(&tmp[..n]);
                    if self.zc_buf.len() > self.shared.conf.zerocopy_buffer {
                        if self.cond.minor == 0 {
                            return self.bad_gateway(
                                &"X-ZeroCopy body larger than zerocopy_buffer for an HTTP/1.0 client",
                            );
                        }
                        // Too big to buffer: chunked, spans checked as they
                        // complete (a bad one ends the connection without
                        // the last chunk, so the client sees it incomplete).
                        let body = std::mem::take(&mut self.zc_buf);
                        if let Err(m) = self.feed_zc(&body, true) {
                            return self.bad_gateway(&m);
                        }
                        let Some(n) = self.zc_head(io, out, BodyFraming::Chunked) else {
                            return self.bad_gateway(&"response head too large");
                        };
                        if self.cond.head_only {
                            self.queue.clear();
                            self.phase = Phase::Done;
                            self.finished = true;
                        } else {
                            self.phase = Phase::ZcStream;
                        }
                        return Produced::Bytes(n);
                    }
                }
            }
        }
    }

    /// Sends the next queued piece; `None` when the queue is empty.
    fn send_queued(&mut self, out: &mut [u8]) -> Option<Produced> {
        match self.queue.pop_front()? {
            Out::Bytes(b, pos) => {
                let n = (b.len() - pos).min(out.len());
                out[..n].copy_from_slice(&b[pos..pos + n]);
                if pos + n < b.len() {
                    self.queue.push_front(Out::Bytes(b, pos + n));
                }
                Some(Produced::Bytes(n))
            }
            Out::File(f, len) => Some(Produced::File {
                fd: OwnedFd::from(f),
                start: 0,
                end: len,
            }),
        }
    }

    fn produce_zc_stream(&mut self, io: &mut Io<'_>, out: &mut [u8]) -> Produced {
        loop {
            if let Some(p) = self.send_queued(out) {
                return p;
            }
            let mut tmp = [0u8; 4096];
            match self.read_out(&mut tmp) {
                Err(()) => return self.bad_gateway(&"reading the script's output failed"),
                Ok(None) => {
                    self.waiting_out = true;
                    return Produced::Pending;
                }
                Ok(Some(0)) => {
                    match self.exit_status(io) {
                        Exit::Wait => return Produced::Pending,
                        Exit::Crashed => {
                            return self.bad_gateway(&"the script crashed mid-response")
                        }
                        Exit::Clean => {}
                    }
                    if let Some(Err(e)) = self.zc.as_ref().map(ZeroCopy::finish) {
                        return self.bad_gateway(&format_args!("X-ZeroCopy: {e}"));
                    }
                    self.queue.push_back(Out::Bytes(b"0\r\n\r\n".to_vec(), 0));
                    self.phase = Phase::Drain;
                }
                Ok(Some(n)) => match self.feed_zc(&tmp[..n], true) {
                    Ok(t) => self.bytes += t,
                    Err(m) => return self.bad_gateway(&m),
                },
            }
        }
    }
}

/// The status code of an NPH response's first line (0 if unreadable).
fn parse_nph_status(b: &[u8]) -> u16 {
    let code = b.get(9..12).unwrap_or(b"000");
    if b.starts_with(b"HTTP/1.") && code.iter().all(u8::is_ascii_digit) {
        code.iter().fold(0u16, |a, &d| a * 10 + (d - b'0') as u16)
    } else {
        0
    }
}

impl Stream for CgiStream {
    fn start(&mut self, io: &mut Io<'_>) -> io::Result<()> {
        let Some(mut cmd) = self.cmd.take() else {
            return Err(io::Error::other("started twice"));
        };
        // Pipes, close-on-exec; our ends non-blocking (each end is its own
        // open file, so the child's ends stay blocking).
        let pipe = || -> io::Result<(File, File)> {
            let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
            Ok((File::from(r), File::from(w)))
        };
        let stdin = if self.has_body {
            let (theirs, ours) = pipe()?;
            rustix::io::ioctl_fionbio(&ours, true)?;
            cmd.stdin(Stdio::from(theirs));
            Some(ours)
        } else {
            // No body: the script reads end-of-file at once.
            cmd.stdin(Stdio::from(self.shared.devnull.try_clone()?));
            None
        };
        let (ours_out, theirs_out) = pipe()?;
        let (ours_err, theirs_err) = pipe()?;
        rustix::io::ioctl_fionbio(&ours_out, true)?;
        rustix::io::ioctl_fionbio(&ours_err, true)?;
        cmd.stdout(Stdio::from(theirs_out))
            .stderr(Stdio::from(theirs_err));
        let t0 = Instant::now();
        let child = cmd.spawn().map_err(|e| {
            log::error!("cgi {}: cannot start: {e}", self.label);
            e
        })?;
        // The time the worker spent starting the process (posix_spawn
        // returns once the child has exec'd).
        log::debug!("cgi {}: spawned in {:?}", self.label, t0.elapsed());
        drop(cmd); // closes our copies of the child's ends
        self.shared.live.fetch_add(1, Ordering::AcqRel);
        self.child = Some(child);
        self.started = io.now;
        self.last_in = io.now;
        self.last_out = io.now;
        if let Some(ours_in) = stdin {
            io.register(ours_in.as_fd(), 1, false, true)?;
            self.stdin = Some(ours_in);
        }
        io.register(ours_out.as_fd(), 2, true, false)?;
        io.register(ours_err.as_fd(), 3, true, false)?;
        self.stdout = Some(ours_out);
        self.stderr = Some(ours_err);
        Ok(())
    }

    fn wants_body(&self) -> bool {
        true
    }

    fn body(&mut self, io: &mut Io<'_>, data: &[u8], last: bool) -> io::Result<usize> {
        let Some(w) = self.stdin.as_mut() else {
            return Ok(data.len());
        };
        let mut taken = 0;
        while taken < data.len() {
            match w.write(&data[taken..]) {
                Ok(n) => taken += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // The script does not read its input (it exited or
                    // closed stdin): the rest is discarded.
                    if let Some(w) = self.stdin.take() {
                        io.deregister(w.as_fd());
                    }
                    self.waiting_in = false;
                    return Err(e);
                }
            }
        }
        if taken > 0 {
            self.last_in = io.now;
        }
        self.waiting_in = taken < data.len();
        if last {
            if let Some(w) = self.stdin.take() {
                io.deregister(w.as_fd());
            }
        }
        Ok(taken)
    }

    fn produce(&mut self, io: &mut Io<'_>, out: &mut [u8]) -> Produced {
        self.waiting_out = false;
        // Fill the buffer as far as the output at hand goes (head, body,
        // last chunk), so a small response leaves in one send.
        let mut n = 0;
        loop {
            let rest = &mut out[n..];
            let p = match self.phase {
                Phase::Head => self.produce_head(io, rest),
                Phase::Body => self.produce_body(io, rest),
                Phase::Raw => self.produce_raw(io, rest),
                Phase::ZcBuffer => self.produce_zc_buffer(io, rest),
                Phase::ZcStream => self.produce_zc_stream(io, rest),
                Phase::Drain => match self.send_queued(rest) {
                    Some(p) => p,
                    None => {
                        self.phase = Phase::Done;
                        self.finished = true;
                        Produced::Done
                    }
                },
                Phase::Done => Produced::Done,
            };
            match p {
                Produced::Bytes(k)
                    if k > 0
                        && matches!(self.phase, Phase::Body | Phase::Raw | Phase::Done)
                        && out.len() - (n + k) >= 256 =>
                {
                    n += k;
                }
                Produced::Bytes(k) => return Produced::Bytes(n + k),
                Produced::Pending | Produced::Done if n > 0 => return Produced::Bytes(n),
                Produced::Fail(e) => {
                    if self.status == 0 || n > 0 {
                        self.status = e.status().code();
                    }
                    return Produced::Fail(e);
                }
                other => return other,
            }
        }
    }

    fn ready(&mut self, io: &mut Io<'_>, sub: u8, _readable: bool, _writable: bool) {
        if sub == 3 {
            self.drain_stderr(io);
        }
    }

    fn deadline(&self) -> Option<Instant> {
        if self.finished || self.child.is_none() {
            return None;
        }
        let conf = &self.shared.conf;
        let mut d: Option<Instant> = None;
        let mut min = |t: Instant| d = Some(d.map_or(t, |x| x.min(t)));
        if self.phase == Phase::Head || (self.nph && self.bytes == 0) {
            min(self.started.max(self.last_in) + conf.first_byte_timeout);
        } else if self.waiting_out {
            min(self.last_out + conf.idle_timeout);
        }
        if self.waiting_in {
            min(self.last_in + conf.idle_timeout);
        }
        d
    }

    fn timeout(&mut self, _io: &mut Io<'_>) -> HttpError {
        log::error!(
            "cgi {}: no {} from the script in time: killing its process group",
            self.label,
            if self.phase == Phase::Head {
                "response"
            } else {
                "progress"
            }
        );
        if let Some(c) = &self.child {
            kill_group(c);
        }
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
        if self.stderr.is_some() {
            self.drain_stderr(io);
        }
        for s in [self.stdin.take(), self.stdout.take(), self.stderr.take()]
            .into_iter()
            .flatten()
        {
            io.deregister(s.as_fd());
        }
        if let Some(p) = self.pidfd.take() {
            io.deregister(p.as_fd());
        }
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            self.shared.live.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        if self.finished {
            // The response is complete; the script may still be exiting.
            // Give it the idle timeout, then kill what is left.
            self.shared
                .adopt(child, io.now + self.shared.conf.idle_timeout, false);
        } else {
            // Client gone, timeout, or a failure: the whole group goes.
            kill_group(&child);
            match child.try_wait() {
                Ok(Some(_)) => {
                    self.shared.live.fetch_sub(1, Ordering::AcqRel);
                }
                _ => self.shared.adopt(child, io.now, true),
            }
        }
        self.shared.reap(io.now);
    }
}
