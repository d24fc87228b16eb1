//! The plugin interface.
//!
//! A plugin is a type implementing [`Plugin`]; the engine holds every plugin
//! enabled at compile time (Cargo features) in a static registry and calls
//! its hooks in a fixed order. Every hook has a no-op default, so a plugin
//! implements only the phases it takes part in, and an absent plugin costs
//! nothing: the registry is generated per build, there is no dynamic list.
//!
//! ## Hook points
//! - **Context**: [`Plugin::init`] once in the process context with the
//!   plugin's own config sections; [`Plugin::worker`] once per worker thread
//!   for its per-worker state (no locks on the request path);
//!   [`Plugin::start`] once in the process context after the workers run
//!   (control sockets, log writers: the slow, rare work).
//! - **Stages**, in order: [`Plugin::accept`] (connection accepted: address
//!   rules close it before any byte is parsed), [`Plugin::request`] (head
//!   parsed, before the handler: auth, URI rules), [`Plugin::content`] (the
//!   content handler: the first plugin that does not decline serves the
//!   request; otherwise the static handler does), [`Plugin::directory`] (a
//!   directory without an index file), [`Plugin::logged`] (after the
//!   response), [`Plugin::closed`] (connection closed), [`Plugin::tick`]
//!   (about once a second per worker).
//! - **Events**: a content handler may return a [`Stream`], which registers
//!   its own descriptors (CGI pipes, FastCGI sockets) in the worker's poller
//!   through [`Io`]; readiness on them comes back as [`Stream::ready`]. The
//!   stream consumes the request body with backpressure ([`Stream::body`])
//!   and produces the response with backpressure ([`Stream::produce`] is
//!   called only when the client can take more).
//! - **Transport**: [`Plugin::transport`] can wrap connections on the
//!   plugin's own listeners ([`Plugin::listeners`]) in a [`Transport`] (TLS):
//!   the engine then reads and writes through it, and sends files by
//!   reading them into its buffer when the transport cannot `sendfile`.
//!
//! Hooks run on the worker thread: they must never block (no blocking
//! network or disk waits; spawn work elsewhere and register descriptors),
//! and should not allocate on paths that serve every request.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Instant;

use crate::doc::Table;
use crate::http::error::HttpError;
use crate::http::request::Request;
use crate::http::response::{Head, Status};

/// Facts about one connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// Index of the listener it came in on (engine listeners first, then the
    /// plugins' own in registry order).
    pub listener: usize,
    /// Whether a transport (TLS) wraps it.
    pub secure: bool,
    pub worker: usize,
}

/// One config section of a plugin, with the file it came from (for
/// `FILE:LINE` errors).
#[derive(Debug, Clone, Copy)]
pub struct Section<'a> {
    pub file: &'a str,
    pub table: &'a Table,
}

/// What the engine tells a plugin at init.
#[derive(Debug, Clone)]
pub struct Env {
    /// Docroot of the default virtual host, then of each `[[vhost]]`.
    pub roots: Vec<std::path::PathBuf>,
    /// Names of each `[[vhost]]` (index i here is root i + 1).
    pub vhost_names: Vec<Vec<String>>,
    pub workers: usize,
}

/// The result of a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on to the next plugin / stage.
    Continue,
    /// The plugin wrote a complete response with [`Reply`]; send it.
    Respond,
    /// Close the connection now, without a response.
    Close,
}

/// What a content handler does with a request.
pub enum Content {
    /// Not mine: the next plugin, then the static handler.
    Decline,
    /// A complete small response was written with [`Reply`].
    Respond,
    /// The response is produced over time by a stream.
    Stream(Box<dyn Stream>),
}

/// A request as the stages see it.
pub struct Exchange<'r, 'a> {
    pub req: &'r Request<'a>,
    pub conn: &'r ConnInfo,
    /// 0 for the default virtual host, i + 1 for `[[vhost]]` i.
    pub vhost: usize,
    /// The decoded, normalised path relative to the docroot (no leading
    /// slash, "" for the root); `None` when the target does not decode
    /// (the engine answers 400 itself unless a plugin responds first).
    pub path: Option<&'r [u8]>,
    /// Set by an authentication plugin; read by later stages (logger, CGI).
    pub user: &'r mut User,
    pub date: &'r [u8; 29],
    /// What the connection's transport (TLS) knows about the client.
    pub peer: Peer<'r>,
}

/// What a secure transport established about the client, for later stages
/// (auth, CGI's `SSL_CLIENT_*`). Plain connections have the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Peer<'a> {
    /// The server name the client asked for (SNI).
    pub server_name: Option<&'a str>,
    /// The client certificate's subject (RFC 4514 form), when one was given.
    pub subject: Option<&'a str>,
    pub verify: ClientVerify,
}

/// The outcome of client-certificate verification (`SSL_CLIENT_VERIFY`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientVerify {
    /// No certificate was asked for or given.
    #[default]
    None,
    /// A certificate was given and verified against the configured CAs.
    Success,
    /// A certificate was given but did not verify (optional mode only).
    Failed,
}

impl ClientVerify {
    /// The CGI value: `NONE`, `SUCCESS` or `FAILED`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientVerify::None => "NONE",
            ClientVerify::Success => "SUCCESS",
            ClientVerify::Failed => "FAILED",
        }
    }
}

/// The authenticated user name of a request (bounded, no allocation).
#[derive(Debug, Clone, Copy)]
pub struct User {
    len: u8,
    buf: [u8; 63],
}

impl Default for User {
    fn default() -> Self {
        User {
            len: 0,
            buf: [0; 63],
        }
    }
}

impl User {
    /// Records `name` (truncated to 63 bytes).
    pub fn set(&mut self, name: &[u8]) {
        let n = name.len().min(self.buf.len());
        self.buf[..n].copy_from_slice(&name[..n]);
        self.len = n as u8;
    }
    pub fn clear(&mut self) {
        self.len = 0;
    }
    pub fn get(&self) -> Option<&[u8]> {
        (self.len > 0).then(|| &self.buf[..self.len as usize])
    }
}

/// Writes a complete response into the connection's response buffer. The
/// engine's common headers (Date, Server, Connection) are added by
/// [`Reply::start`]; `Content-Length` by the `finish` methods.
pub struct Reply<'b> {
    head: Head<'b>,
    date: &'b [u8; 29],
    keep_alive: bool,
    minor: u8,
    head_only: bool,
    status: Option<Status>,
    closes: bool,
    body_len: u64,
    extra: &'static [u8],
}

impl<'b> Reply<'b> {
    pub fn new(
        buf: &'b mut [u8],
        date: &'b [u8; 29],
        keep_alive: bool,
        minor: u8,
        head_only: bool,
    ) -> Self {
        Reply {
            head: Head::new(buf),
            date,
            keep_alive,
            minor,
            head_only,
            status: None,
            closes: false,
            body_len: 0,
            extra: b"",
        }
    }

    /// Header lines (each ending in CRLF) [`Reply::start`] adds after the
    /// common ones (the transport's `Strict-Transport-Security`).
    pub fn set_extra(&mut self, lines: &'static [u8]) {
        self.extra = lines;
    }

    /// Makes the response close the connection (say so before `start`).
    pub fn close_after(&mut self) -> &mut Self {
        self.closes = true;
        self.keep_alive = false;
        self
    }

    /// Writes the status line and the common headers; add more headers on
    /// the returned writer, then call a `finish` method.
    pub fn start(&mut self, status: Status) -> &mut Head<'b> {
        self.status = Some(status);
        let h = &mut self.head;
        h.status(status)
            .header(b"Date", self.date)
            .header(b"Server", b"firmware-server")
            .put(self.extra);
        if !self.keep_alive {
            h.header(b"Connection", b"close");
        } else if self.minor == 0 {
            h.header(b"Connection", b"keep-alive");
        }
        h
    }

    /// Ends the head with `Content-Type` and `Content-Length` and appends the
    /// body (left out for HEAD).
    pub fn finish_body(&mut self, content_type: &[u8], body: &[u8]) {
        self.body_len = body.len() as u64;
        self.head
            .header(b"Content-Type", content_type)
            .header_num(b"Content-Length", body.len() as u64)
            .end();
        if !self.head_only {
            self.head.put(body);
        }
    }

    /// Ends a head whose response has no body (`Content-Length: 0` unless
    /// the status never has one).
    pub fn finish_empty(&mut self) {
        if !self.status.is_some_and(Status::bodiless) {
            self.head.header_num(b"Content-Length", 0);
        }
        self.head.end();
    }

    /// A standard error page for `err`.
    pub fn error(&mut self, err: HttpError) {
        if err.closes() {
            self.close_after();
        }
        let status = err.status();
        self.start(status);
        if err == HttpError::MethodNotAllowed {
            self.head.header(b"Allow", b"GET, HEAD");
        }
        const PRE: &[u8] = b"<!DOCTYPE html>\n<title>";
        const MID: &[u8] = b"</title>\n<h1>";
        const POST: &[u8] = b"</h1>\n<hr>firmware-server\n";
        let len = PRE.len() + MID.len() + POST.len() + 2 * status.text().len();
        self.body_len = len as u64;
        self.head
            .header(b"Content-Type", b"text/html; charset=utf-8")
            .header_num(b"Content-Length", len as u64)
            .end();
        if !self.head_only {
            self.head
                .put(PRE)
                .put(status.text())
                .put(MID)
                .put(status.text())
                .put(POST);
        }
    }

    /// Bytes written, whether the connection stays open, and the status;
    /// `None` if nothing was started or it did not fit.
    pub fn done(&self) -> Option<(usize, bool, Status)> {
        let status = self.status?;
        self.head
            .finish()
            .map(|n| (n, self.keep_alive && !self.closes, status))
    }

    pub fn keep_alive(&self) -> bool {
        self.keep_alive && !self.closes
    }

    /// The room left after what was written (for a body read straight into
    /// the buffer); then [`Reply::commit_body`].
    pub fn body_space(&mut self) -> &mut [u8] {
        self.head.spare()
    }

    /// Counts `n` bytes written into [`Reply::body_space`] as body.
    pub fn commit_body(&mut self, n: usize) {
        self.head.advance(n);
    }

    /// Starts over (nothing written).
    pub fn reset(&mut self) {
        self.head.clear();
        self.status = None;
        self.body_len = 0;
    }

    /// Records the length of a body that follows the head separately (a
    /// file), for the access log.
    pub fn set_body_len(&mut self, n: u64) {
        self.body_len = n;
    }

    /// The body length the response announces (for the access log).
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    pub fn status(&self) -> Option<Status> {
        self.status
    }

    /// Whether the request is HEAD (no body is sent).
    pub fn head_only(&self) -> bool {
        self.head_only
    }

    /// The Date header value of this response.
    pub fn date(&self) -> &[u8; 29] {
        self.date
    }
}

/// One access-log record, passed to [`Plugin::logged`].
#[derive(Debug, Clone, Copy)]
pub struct LogRecord<'a> {
    pub conn: &'a ConnInfo,
    /// The request line as received (may be empty for a request that never
    /// parsed, e.g. a 400 for garbage or a 408).
    pub method: &'a [u8],
    pub target: &'a [u8],
    pub minor: u8,
    pub status: u16,
    /// Body bytes the response carries (committed when the head was sent).
    pub bytes: u64,
    pub host: &'a [u8],
    pub referer: &'a [u8],
    pub user_agent: &'a [u8],
    pub user: Option<&'a [u8]>,
    /// Seconds since the Unix epoch when the request head was complete.
    pub time: u64,
}

/// Registers a stream's descriptors in the worker's poller. Keys are the
/// engine's business: a stream names its descriptors by a small `sub`
/// number (1 to [`MAX_SUB`]).
pub trait Registrar {
    fn add(&self, fd: BorrowedFd<'_>, key: usize, read: bool, write: bool) -> io::Result<()>;
    fn delete(&self, fd: BorrowedFd<'_>);
}

/// Descriptors a stream may register, numbered 1..=MAX_SUB.
pub const MAX_SUB: u8 = 3;

/// What a stream gets to talk to the worker.
pub struct Io<'a> {
    registrar: &'a dyn Registrar,
    key_base: usize,
    pub now: Instant,
    pub date: &'a [u8; 29],
}

impl<'a> Io<'a> {
    pub fn new(
        registrar: &'a dyn Registrar,
        key_base: usize,
        now: Instant,
        date: &'a [u8; 29],
    ) -> Self {
        Io {
            registrar,
            key_base,
            now,
            date,
        }
    }

    /// Registers `fd` (edge-triggered) for this stream as descriptor `sub`.
    /// The stream must [`Io::deregister`] it before closing it.
    pub fn register(&self, fd: BorrowedFd<'_>, sub: u8, read: bool, write: bool) -> io::Result<()> {
        if sub == 0 || sub > MAX_SUB {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        self.registrar
            .add(fd, self.key_base + sub as usize, read, write)
    }

    pub fn deregister(&self, fd: BorrowedFd<'_>) {
        self.registrar.delete(fd);
    }
}

/// What [`Stream::produce`] did.
pub enum Produced {
    /// `n` bytes for the client are in the buffer (head first, then body,
    /// framed by the stream: it chooses Content-Length or chunked).
    Bytes(usize),
    /// Nothing yet; the stream will have more after a [`Stream::ready`].
    Pending,
    /// The response is complete.
    Done,
    /// Send `start..end` of this file next, then call `produce` again. The
    /// stream frames it (it counted the bytes in its Content-Length or wrote
    /// the chunk header before): X-ZeroCopy parts.
    File { fd: OwnedFd, start: u64, end: u64 },
    /// Serve this file as the static handler serves one — the whole
    /// response, head included: sendfile, Content-Length, ETag and
    /// Last-Modified, Range and conditional requests (X-Sendfile). Nothing
    /// may have been produced before; `produce` is called again after it
    /// is sent (answer `Done`).
    Offload(Box<crate::gateway::Offload>),
    /// Failed. Before any byte was produced the engine answers with this
    /// error's page; afterwards it closes the connection.
    Fail(HttpError),
}

/// A response produced over time, driven by the worker's event loop.
pub trait Stream: Send {
    /// Called once, before anything else: spawn, connect, register.
    fn start(&mut self, _io: &mut Io<'_>) -> io::Result<()> {
        Ok(())
    }

    /// Whether this stream takes the request body (CGI, FastCGI). If not,
    /// the engine reads and discards it.
    fn wants_body(&self) -> bool {
        false
    }

    /// Offers request-body bytes; returns how many were taken. Taking fewer
    /// (0 included) is backpressure: the engine offers the rest again after
    /// the stream's next [`Stream::ready`]. `last` marks the final bytes.
    fn body(&mut self, _io: &mut Io<'_>, data: &[u8], _last: bool) -> io::Result<usize> {
        Ok(data.len())
    }

    /// Fills `out` with the next bytes for the client. Called only when the
    /// client connection can take more.
    fn produce(&mut self, io: &mut Io<'_>, out: &mut [u8]) -> Produced;

    /// Readiness on descriptor `sub`.
    fn ready(&mut self, _io: &mut Io<'_>, _sub: u8, _readable: bool, _writable: bool) {}

    /// When the stream gives up waiting (first byte, inactivity); the engine
    /// calls [`Stream::timeout`] after it.
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// The deadline passed. Return the error to answer with (if nothing was
    /// sent yet); the engine then calls [`Stream::abort`].
    fn timeout(&mut self, _io: &mut Io<'_>) -> HttpError {
        HttpError::GatewayTimeout
    }

    /// Status and body bytes of the response, for the access log.
    fn log_status(&self) -> u16 {
        200
    }
    fn log_bytes(&self) -> u64 {
        0
    }

    /// The exchange ends early (client gone, timeout, shutdown): release
    /// everything — deregister and close descriptors, kill and reap
    /// children. Also called after `Done` so a stream has one place to clean up.
    fn abort(&mut self, _io: &mut Io<'_>) {}
}

/// The client socket as a transport sees it: non-blocking reads and writes
/// (`WouldBlock` when it has nothing / is full). Implemented by the engine.
pub trait Wire: io::Read + io::Write {}

impl<T: io::Read + io::Write> Wire for T {}

/// Reads and writes a connection's bytes (TLS). Called only on the worker
/// thread; must never block.
pub trait Transport: Send {
    /// Reads plaintext into `buf`. `WouldBlock` when the socket has nothing
    /// (or only part of a record); `Ok(0)` at the end of the stream.
    fn read(&mut self, wire: &mut dyn Wire, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes plaintext; returns how much was taken (it may be buffered as
    /// ciphertext until [`Transport::flush`]).
    fn write(&mut self, wire: &mut dyn Wire, buf: &[u8]) -> io::Result<usize>;
    /// Writes buffered output; `Ok(true)` once nothing is pending.
    fn flush(&mut self, wire: &mut dyn Wire) -> io::Result<bool>;
    /// Begins an orderly close (TLS close_notify); the engine flushes after.
    fn close(&mut self, _wire: &mut dyn Wire) {}
    /// Whether file bodies may bypass the transport with `sendfile`.
    fn can_sendfile(&self) -> bool {
        false
    }
    /// What the transport knows about the client (SNI, client certificate).
    fn peer(&self) -> Peer<'_> {
        Peer::default()
    }
    /// Header lines (each ending in CRLF) added to every response the
    /// engine writes on this connection (`Strict-Transport-Security`).
    fn response_headers(&self) -> &'static [u8] {
        b""
    }
}

/// A compile-time plugin. See the module documentation for the phases.
pub trait Plugin: Sized + Send + Sync + 'static {
    /// The plugin's name and its config section (`[NAME]` or `[[NAME]]`).
    const NAME: &'static str;
    /// Per-worker state.
    type Worker: Send + 'static;

    /// Process init with this plugin's sections (possibly none). Errors are
    /// `FILE:LINE: message` lines.
    fn init(sections: &[Section<'_>], env: &Env) -> Result<Self, Vec<String>>;

    /// The effective configuration, in config-file syntax (for
    /// `--check-config` and `ctl config`); empty when there is nothing to say.
    fn config_text(&self) -> String {
        String::new()
    }

    /// Listeners this plugin owns (TLS); the engine binds them.
    fn listeners(&self) -> Vec<SocketAddr> {
        Vec::new()
    }

    /// Per-worker state, created on the worker's own thread.
    fn worker(&self, id: usize) -> Self::Worker;

    /// Process context, once, after the workers are running.
    fn start(&self, _ctl: std::sync::Arc<dyn Control>) {}

    fn accept(&self, _w: &mut Self::Worker, _conn: &ConnInfo) -> Verdict {
        Verdict::Continue
    }

    /// Wraps a connection that came in on one of this plugin's listeners.
    fn transport(&self, _w: &mut Self::Worker, _conn: &ConnInfo) -> Option<Box<dyn Transport>> {
        None
    }

    fn request(
        &self,
        _w: &mut Self::Worker,
        _x: &mut Exchange<'_, '_>,
        _reply: &mut Reply<'_>,
    ) -> Verdict {
        Verdict::Continue
    }

    fn content(
        &self,
        _w: &mut Self::Worker,
        _x: &mut Exchange<'_, '_>,
        _reply: &mut Reply<'_>,
    ) -> Content {
        Content::Decline
    }

    /// A directory without an index file (`dir` is open on it). Declining
    /// leaves the engine's 403.
    fn directory(
        &self,
        _w: &mut Self::Worker,
        _x: &mut Exchange<'_, '_>,
        _dir: OwnedFd,
        _reply: &mut Reply<'_>,
    ) -> Content {
        Content::Decline
    }

    fn logged(&self, _w: &mut Self::Worker, _rec: &LogRecord<'_>) {}

    /// Whether [`Plugin::logged`] wants records at all (a logger that is
    /// configured). When no plugin does, the engine does not build them.
    fn wants_log(&self) -> bool {
        false
    }

    fn closed(&self, _w: &mut Self::Worker, _conn: &ConnInfo) {}

    /// About once a second on each worker.
    fn tick(&self, _w: &mut Self::Worker, _now: Instant) {}

    /// SIGHUP, in the process context: reopen log files, re-read files the
    /// plugin caches. Must return quickly.
    fn reload(&self) {}

    /// The server is stopping (process context, after the workers ended):
    /// remove sockets, flush logs.
    fn stop(&self) {}

    /// A control command addressed to this plugin (`ctl NAME ARGS`), run in
    /// the process context. `None`: not understood.
    fn command(&self, _args: &[&str]) -> Option<Result<String, String>> {
        None
    }
}

/// What the process context offers plugins that run there (the control
/// socket): live statistics and actions on the server.
pub trait Control: Send + Sync {
    fn stats(&self) -> Stats;
    /// The effective configuration in config-file syntax.
    fn config_text(&self) -> String;
    /// Runs a command addressed to a plugin by name.
    fn plugin_command(&self, plugin: &str, args: &[&str]) -> Option<Result<String, String>>;
    /// Names of the plugins compiled in.
    fn features(&self) -> Vec<&'static str>;
    /// The open connections, gathered from the workers (waits up to about
    /// half a second for them to answer).
    fn connections(&self) -> Vec<ConnSummary>;
    /// What SIGHUP does (reopen logs, reload plugin files).
    fn reload(&self);
}

/// One open connection, for `ctl connections`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnSummary {
    pub worker: usize,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// idle, head, body, write, linger
    pub state: &'static str,
    pub requests: u32,
    pub secure: bool,
}

/// A snapshot of the server's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub version: String,
    pub uptime_secs: u64,
    /// Connections answered 503 because every slot was taken.
    pub refused: u64,
    pub workers: Vec<WorkerStats>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    pub live: u64,
    pub capacity: u64,
    pub requests: u64,
    pub bytes: u64,
    /// Responses with a 4xx or 5xx status.
    pub errors: u64,
}
