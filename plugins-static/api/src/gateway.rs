//! What the gateway plugins (CGI, FastCGI) share, sans I/O:
//!
//! - [`HeaderParser`]: the CGI-style response head (RFC 3875 §6) a script
//!   or FastCGI application prints, parsed incrementally over arbitrary
//!   splits, strictly and within fixed bounds, then written as an HTTP
//!   response head with [`Parsed::write_head`].
//! - [`meta_variables`]: the request meta-variables (RFC 3875 §4.1) from an
//!   allow-list, `HTTP_*` from the request headers (without `Proxy`:
//!   httpoxy), TLS facts and the authenticated user, emitted through a
//!   callback (CGI puts them in the environment, FastCGI in PARAMS).
//! - Offload: `X-Sendfile` / `X-Accel-Redirect` (the engine serves a file
//!   through its static path: [`Offload`]) and `X-ZeroCopy` spans
//!   ([`parse_spans`], [`ZeroCopy`]), with paths confined to configured
//!   directories ([`OffloadDirs`]).
//!
//! Contract: the parsers never panic and allocate only at construction
//! (the header parser's bounded buffer); everything is bounded.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::http::request::{Framing, Method, Request};
use crate::http::response::Head;
use crate::plugin::Exchange;

/// Most header lines a gateway response may have.
pub const MAX_HEADERS: usize = 64;
/// Longest header line (name, colon, value).
pub const MAX_LINE: usize = 4096;
/// Most bytes of a whole gateway response head.
pub const MAX_HEAD: usize = 16 * 1024;

/// Why a gateway response head was refused (the client gets a 502).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    TooManyHeaders,
    LineTooLong,
    HeadTooLarge,
    /// A name that is not a token, or a line without a colon.
    BadName,
    /// A value with CR, LF (outside the line end) or NUL.
    BadValue,
    /// A continuation line (obsolete folding).
    Folding,
    /// `Status` not `NNN reason` with NNN in 200..=599 (or 1xx).
    BadStatus,
    /// A `Content-Length` that is not a number, or two that differ.
    BadLength,
    /// `Location` neither an absolute path nor an absolute URI.
    BadLocation,
    /// No header at all, or neither Content-Type, Location nor Status.
    Empty,
    /// The head ended (EOF) before the blank line.
    Truncated,
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            HeadError::TooManyHeaders => "too many header lines",
            HeadError::LineTooLong => "header line too long",
            HeadError::HeadTooLarge => "response head too large",
            HeadError::BadName => "malformed header name",
            HeadError::BadValue => "control character in a header value",
            HeadError::Folding => "folded header line",
            HeadError::BadStatus => "malformed Status header",
            HeadError::BadLength => "malformed Content-Length",
            HeadError::BadLocation => "malformed Location",
            HeadError::Empty => "no Content-Type, Location or Status",
            HeadError::Truncated => "output ended inside the response head",
        };
        f.write_str(s)
    }
}

/// What [`HeaderParser::feed`] did with the bytes it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// All bytes were taken; the head is not complete yet.
    More,
    /// The head is complete; the body starts at this offset of the input.
    Done(usize),
}

#[derive(Debug, Clone, Copy, Default)]
struct Span {
    name: (u16, u16),
    value: (u16, u16),
}

/// The meaning of one header line, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Status,
    ContentType,
    ContentLength,
    Location,
    XSendfile,
    XAccelRedirect,
    XZeroCopy,
    /// Set by the server itself, or hop-by-hop: dropped.
    Dropped,
    /// Passed on to the client.
    Other,
}

fn kind(name: &[u8]) -> Kind {
    const DROPPED: &[&str] = &[
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
        "date",
        "server",
    ];
    let eq = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
    if eq("status") {
        Kind::Status
    } else if eq("content-type") {
        Kind::ContentType
    } else if eq("content-length") {
        Kind::ContentLength
    } else if eq("location") {
        Kind::Location
    } else if eq("x-sendfile") || eq("x-lighttpd-send-file") {
        Kind::XSendfile
    } else if eq("x-accel-redirect") {
        Kind::XAccelRedirect
    } else if eq("x-zerocopy") {
        Kind::XZeroCopy
    } else if DROPPED.iter().any(|d| eq(d)) {
        Kind::Dropped
    } else {
        Kind::Other
    }
}

/// Whether `b` may appear in an HTTP token (RFC 9110 §5.6.2).
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// An incremental, bounded parser for a CGI-style response head.
///
/// Feed it the script's output as it arrives; once it reports
/// [`Feed::Done`], [`HeaderParser::parsed`] gives the result. Lines may end
/// in LF or CRLF (scripts use both).
pub struct HeaderParser {
    buf: Vec<u8>,
    /// Start of the line being assembled in `buf`.
    line_start: usize,
    spans: [Span; MAX_HEADERS],
    count: usize,
    done: bool,
    failed: Option<HeadError>,
}

impl Default for HeaderParser {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderParser {
    /// Allocates the bounded head buffer once.
    pub fn new() -> Self {
        HeaderParser {
            buf: Vec::with_capacity(1024),
            line_start: 0,
            spans: [Span::default(); MAX_HEADERS],
            count: 0,
            done: false,
            failed: None,
        }
    }

    /// Takes the next output bytes. After `Ok(Feed::Done(n))`, `data[n..]`
    /// is body; after an error the parser stays failed.
    pub fn feed(&mut self, data: &[u8]) -> Result<Feed, HeadError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.done {
            return Ok(Feed::Done(0));
        }
        let r = self.feed_inner(data);
        if let Err(e) = r {
            self.failed = Some(e);
        }
        r
    }

    fn feed_inner(&mut self, data: &[u8]) -> Result<Feed, HeadError> {
        let mut i = 0;
        while i < data.len() {
            let rest = &data[i..];
            let (take, eol) = match rest.iter().position(|&b| b == b'\n') {
                Some(p) => (p + 1, true),
                None => (rest.len(), false),
            };
            let line_len = self.buf.len() - self.line_start + take;
            if line_len > MAX_LINE + 2 {
                return Err(HeadError::LineTooLong);
            }
            if self.buf.len() + take > MAX_HEAD {
                return Err(HeadError::HeadTooLarge);
            }
            self.buf.extend_from_slice(&rest[..take]);
            i += take;
            if eol && self.end_line()? {
                self.done = true;
                self.validate()?;
                return Ok(Feed::Done(i));
            }
        }
        Ok(Feed::More)
    }

    /// A complete line (with its LF) is at `buf[line_start..]`; `Ok(true)`
    /// for the blank line ending the head.
    fn end_line(&mut self) -> Result<bool, HeadError> {
        let start = self.line_start;
        let mut end = self.buf.len() - 1; // the LF
        if end > start && self.buf[end - 1] == b'\r' {
            end -= 1;
        }
        self.line_start = self.buf.len();
        if end == start {
            return Ok(true);
        }
        let line = &self.buf[start..end];
        if line[0] == b' ' || line[0] == b'\t' {
            return Err(HeadError::Folding);
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(HeadError::BadName)?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(HeadError::BadName);
        }
        let value = &line[colon + 1..];
        if value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(HeadError::BadValue);
        }
        let vs = value
            .iter()
            .position(|&b| b != b' ' && b != b'\t')
            .unwrap_or(value.len());
        let ve = value
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(vs, |p| p + 1);
        if self.count == MAX_HEADERS {
            return Err(HeadError::TooManyHeaders);
        }
        let base = start + colon + 1;
        self.spans[self.count] = Span {
            name: (start as u16, (start + colon) as u16),
            value: ((base + vs) as u16, (base + ve) as u16),
        };
        self.count += 1;
        Ok(false)
    }

    /// Whether the head is complete.
    pub fn is_done(&self) -> bool {
        self.done && self.failed.is_none()
    }

    /// The output ended: an error unless the head was complete.
    pub fn finish(&self) -> Result<(), HeadError> {
        match (self.failed, self.done) {
            (Some(e), _) => Err(e),
            (None, true) => Ok(()),
            (None, false) => Err(HeadError::Truncated),
        }
    }

    fn field(&self, i: usize) -> (&[u8], &[u8]) {
        let s = self.spans[i];
        (
            &self.buf[s.name.0 as usize..s.name.1 as usize],
            &self.buf[s.value.0 as usize..s.value.1 as usize],
        )
    }

    fn find(&self, k: Kind) -> Option<&[u8]> {
        (0..self.count)
            .map(|i| self.field(i))
            .find(|(n, _)| kind(n) == k)
            .map(|(_, v)| v)
    }

    fn validate(&self) -> Result<(), HeadError> {
        if self.count == 0 {
            return Err(HeadError::Empty);
        }
        let mut seen = [false; 7];
        let mut length: Option<u64> = None;
        for i in 0..self.count {
            let (n, v) = self.field(i);
            let k = kind(n);
            let slot = match k {
                Kind::Status => 0,
                Kind::ContentType => 1,
                Kind::Location => 2,
                Kind::XSendfile => 3,
                Kind::XAccelRedirect => 4,
                Kind::XZeroCopy => 5,
                Kind::ContentLength => {
                    let l = parse_u64(v).ok_or(HeadError::BadLength)?;
                    if length.is_some_and(|p| p != l) {
                        return Err(HeadError::BadLength);
                    }
                    length = Some(l);
                    continue;
                }
                Kind::Dropped | Kind::Other => continue,
            };
            if seen[slot] {
                // One of each: two Status or two Location lines are garbage.
                return Err(match k {
                    Kind::Status => HeadError::BadStatus,
                    Kind::Location => HeadError::BadLocation,
                    _ => HeadError::BadValue,
                });
            }
            seen[slot] = true;
        }
        if let Some(v) = self.find(Kind::Status) {
            parse_status(v).ok_or(HeadError::BadStatus)?;
        }
        if let Some(v) = self.find(Kind::Location) {
            if location_kind(v).is_none() {
                return Err(HeadError::BadLocation);
            }
        }
        if !seen[0] && !seen[1] && !seen[2] && !seen[3] && !seen[4] {
            return Err(HeadError::Empty);
        }
        Ok(())
    }

    /// The result; `None` until the head is complete and valid.
    pub fn parsed(&self) -> Option<Parsed<'_>> {
        if !self.is_done() {
            return None;
        }
        let status = self.find(Kind::Status).and_then(parse_status);
        let location = self.find(Kind::Location);
        let loc_kind = location.and_then(location_kind);
        Some(Parsed {
            p: self,
            status,
            content_type: self.find(Kind::ContentType),
            content_length: self.find(Kind::ContentLength).and_then(parse_u64),
            location: location.zip(loc_kind),
            sendfile: self.find(Kind::XSendfile),
            accel_redirect: self.find(Kind::XAccelRedirect),
            zerocopy: self.find(Kind::XZeroCopy),
        })
    }

    /// Forgets everything (for a keep-alive FastCGI connection's next
    /// response); keeps the buffer.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.line_start = 0;
        self.count = 0;
        self.done = false;
        self.failed = None;
    }
}

/// Whether a Location is a local path or an absolute URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationKind {
    /// `/path?query`: the server serves that path instead (internal
    /// redirect, RFC 3875 §6.2.2).
    Local,
    /// `scheme:...`: a redirect sent to the client (302 unless Status says
    /// otherwise).
    Absolute,
}

fn location_kind(v: &[u8]) -> Option<LocationKind> {
    if v.first() == Some(&b'/') {
        // "//host" would be a network-path reference, not a local path.
        if v.get(1) == Some(&b'/') {
            return None;
        }
        return Some(LocationKind::Local);
    }
    let colon = v.iter().position(|&b| b == b':')?;
    let scheme = &v[..colon];
    let ok = !scheme.is_empty()
        && scheme[0].is_ascii_alphabetic()
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.');
    (ok && colon + 1 < v.len()).then_some(LocationKind::Absolute)
}

/// `NNN reason`: the code and the reason phrase (possibly empty).
fn parse_status(v: &[u8]) -> Option<(u16, &[u8])> {
    if v.len() < 3 || !v[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    if v.len() > 3 && v[3] != b' ' && v[3] != b'\t' {
        return None;
    }
    let code = (v[0] - b'0') as u16 * 100 + (v[1] - b'0') as u16 * 10 + (v[2] - b'0') as u16;
    if !(200..=599).contains(&code) {
        return None;
    }
    let reason = crate::http::request::trim(v.get(3..).unwrap_or(b""));
    if reason.iter().any(|&b| b < 0x20 && b != b'\t' || b == 0x7f) {
        return None;
    }
    Some((code, reason))
}

fn parse_u64(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u64, |a, &b| a * 10 + (b - b'0') as u64))
}

/// A complete, valid gateway response head.
pub struct Parsed<'p> {
    p: &'p HeaderParser,
    /// From `Status`.
    pub status: Option<(u16, &'p [u8])>,
    pub content_type: Option<&'p [u8]>,
    pub content_length: Option<u64>,
    pub location: Option<(&'p [u8], LocationKind)>,
    pub sendfile: Option<&'p [u8]>,
    pub accel_redirect: Option<&'p [u8]>,
    pub zerocopy: Option<&'p [u8]>,
}

/// How the body of a gateway response is framed to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// `Content-Length: n` (the script said so, or the server computed it).
    Length(u64),
    /// `Transfer-Encoding: chunked` (HTTP/1.1, length unknown).
    Chunked,
    /// Delimited by closing the connection (HTTP/1.0, length unknown).
    Close,
    /// No body (HEAD, 204, 304).
    None,
}

/// The reason phrase for the codes the server sends itself.
fn reason_for(code: u16) -> &'static [u8] {
    match code {
        200 => b"OK",
        201 => b"Created",
        202 => b"Accepted",
        204 => b"No Content",
        206 => b"Partial Content",
        301 => b"Moved Permanently",
        302 => b"Found",
        303 => b"See Other",
        304 => b"Not Modified",
        307 => b"Temporary Redirect",
        308 => b"Permanent Redirect",
        400 => b"Bad Request",
        401 => b"Unauthorized",
        403 => b"Forbidden",
        404 => b"Not Found",
        405 => b"Method Not Allowed",
        409 => b"Conflict",
        410 => b"Gone",
        500 => b"Internal Server Error",
        502 => b"Bad Gateway",
        503 => b"Service Unavailable",
        _ => b"Unknown",
    }
}

impl Parsed<'_> {
    /// The status the client gets: `Status`, else 302 for an absolute
    /// Location, else 200.
    pub fn code(&self) -> u16 {
        match (self.status, self.location) {
            (Some((c, _)), _) => c,
            (None, Some((_, LocationKind::Absolute))) => 302,
            _ => 200,
        }
    }

    /// Whether the head asks for an internal redirect (a local Location
    /// without a Status: RFC 3875 §6.2.2).
    pub fn internal_redirect(&self) -> Option<&[u8]> {
        match (self.location, self.status) {
            (Some((l, LocationKind::Local)), None) => Some(l),
            _ => None,
        }
    }

    /// Whether a response with this status has no body at all.
    pub fn bodiless(&self) -> bool {
        matches!(self.code(), 204 | 304) || (100..200).contains(&self.code())
    }

    /// The header lines passed on to the client (everything but what the
    /// server sets itself, hop-by-hop fields and the offload requests).
    pub fn passed(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        (0..self.p.count)
            .map(|i| self.p.field(i))
            .filter(|(n, _)| matches!(kind(n), Kind::Other | Kind::Location))
    }

    /// Writes the HTTP response head: status line, Date, Server, the
    /// connection header, Content-Type, the passed-on headers and the
    /// framing header, then the blank line.
    pub fn write_head(
        &self,
        h: &mut Head<'_>,
        date: &[u8; 29],
        keep_alive: bool,
        minor: u8,
        framing: BodyFraming,
    ) {
        self.write_head_status(h, self.code(), date, keep_alive, minor, framing)
    }

    /// [`Parsed::write_head`] with another status code (a local redirect
    /// the server turns into a 302, for instance).
    pub fn write_head_status(
        &self,
        h: &mut Head<'_>,
        code: u16,
        date: &[u8; 29],
        keep_alive: bool,
        minor: u8,
        framing: BodyFraming,
    ) {
        let reason = match self.status {
            Some((c, r)) if c == code && !r.is_empty() => r,
            _ => reason_for(code),
        };
        h.put(b"HTTP/1.1 ")
            .num(code as u64)
            .put(b" ")
            .put(reason)
            .put(b"\r\n")
            .header(b"Date", date)
            .header(b"Server", b"firmware-server");
        if !keep_alive || framing == BodyFraming::Close {
            h.header(b"Connection", b"close");
        } else if minor == 0 {
            h.header(b"Connection", b"keep-alive");
        }
        if let Some(t) = self.content_type {
            h.header(b"Content-Type", t);
        }
        for (n, v) in self.passed() {
            h.header(n, v);
        }
        match framing {
            BodyFraming::Length(n) => {
                h.header_num(b"Content-Length", n);
            }
            BodyFraming::Chunked => {
                h.header(b"Transfer-Encoding", b"chunked");
            }
            BodyFraming::Close | BodyFraming::None => {}
        }
        h.end();
    }
}

/// Facts about the script (or application) a request goes to, for the
/// meta-variables.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScriptInfo<'a> {
    /// The URL path of the script (`/cgi-bin/env.sh`).
    pub script_name: &'a [u8],
    /// Its file (`/www/cgi-bin/env.sh`).
    pub script_filename: &'a [u8],
    /// What follows the script name in the path (decoded), possibly empty.
    pub path_info: &'a [u8],
    /// The docroot of the request's virtual host.
    pub document_root: &'a [u8],
    /// The authentication scheme when `Exchange.user` is set (`Basic`).
    pub auth_type: Option<&'a [u8]>,
}

/// Emits the request's meta-variables through `emit(name, value)`:
/// RFC 3875 variables from an allow-list, `HTTP_*` for request headers
/// (not `Proxy`, not names with characters other than letters, digits and
/// `-`, not `Content-Length`/`Content-Type` which have their own), TLS
/// facts on secure connections, and `REDIRECT_STATUS=200` for php-cgi.
pub fn meta_variables(
    x: &Exchange<'_, '_>,
    s: &ScriptInfo<'_>,
    emit: &mut dyn FnMut(&[u8], &[u8]),
) {
    let req = x.req;
    let mut num = [0u8; 24];
    let fmt_num = |v: u64, buf: &mut [u8; 24]| -> usize {
        let mut h = Head::new(buf);
        h.num(v);
        h.len()
    };
    emit(b"GATEWAY_INTERFACE", b"CGI/1.1");
    emit(b"SERVER_SOFTWARE", b"firmware-server");
    emit(
        b"SERVER_PROTOCOL",
        if req.minor == 0 {
            b"HTTP/1.0"
        } else {
            b"HTTP/1.1"
        },
    );
    let local = x.conn.local;
    let mut ip = [0u8; 64];
    let n = write_ip(local.ip(), &mut ip);
    let server_name = match req.host {
        Some(h) if !h.is_empty() => crate::http::request::host_without_port(h),
        _ => &ip[..n],
    };
    emit(b"SERVER_NAME", server_name);
    emit(b"SERVER_ADDR", &ip[..n]);
    let k = fmt_num(local.port() as u64, &mut num);
    emit(b"SERVER_PORT", &num[..k]);
    let peer = x.conn.peer;
    let n = write_ip(peer.ip(), &mut ip);
    emit(b"REMOTE_ADDR", &ip[..n]);
    let k = fmt_num(peer.port() as u64, &mut num);
    emit(b"REMOTE_PORT", &num[..k]);
    emit(b"REQUEST_METHOD", req.method.as_str().as_bytes());
    emit(b"REQUEST_URI", req.target);
    emit(b"QUERY_STRING", req.query.unwrap_or(b""));
    emit(b"SCRIPT_NAME", s.script_name);
    emit(b"SCRIPT_FILENAME", s.script_filename);
    emit(b"DOCUMENT_ROOT", s.document_root);
    if !s.path_info.is_empty() {
        emit(b"PATH_INFO", s.path_info);
        let mut t = Vec::with_capacity(s.document_root.len() + s.path_info.len());
        t.extend_from_slice(
            s.document_root
                .strip_suffix(b"/")
                .unwrap_or(s.document_root),
        );
        t.extend_from_slice(s.path_info);
        emit(b"PATH_TRANSLATED", &t);
    }
    match req.framing {
        Framing::Length(n) => {
            let k = fmt_num(n, &mut num);
            emit(b"CONTENT_LENGTH", &num[..k]);
        }
        Framing::None | Framing::Chunked => {
            if matches!(req.method, Method::Post | Method::Put | Method::Patch)
                && req.framing == Framing::None
            {
                emit(b"CONTENT_LENGTH", b"0");
            }
        }
    }
    if let Some(ct) = header(req, b"content-type") {
        emit(b"CONTENT_TYPE", ct);
    }
    if let Some(u) = x.user.get() {
        emit(b"REMOTE_USER", u);
        if let Some(t) = s.auth_type {
            emit(b"AUTH_TYPE", t);
        }
    }
    if x.conn.secure {
        emit(b"HTTPS", b"on");
        emit(b"REQUEST_SCHEME", b"https");
        if let Some(dn) = x.peer.subject {
            emit(b"SSL_CLIENT_S_DN", dn.as_bytes());
        }
        emit(b"SSL_CLIENT_VERIFY", x.peer.verify.as_str().as_bytes());
    } else {
        emit(b"REQUEST_SCHEME", b"http");
    }
    emit(b"REDIRECT_STATUS", b"200");
    http_variables(req, emit);
}

/// The request headers as `HTTP_*` variables; repeated fields are joined
/// with `", "` (RFC 3875 §4.1.18).
fn http_variables(req: &Request<'_>, emit: &mut dyn FnMut(&[u8], &[u8])) {
    let mut name = Vec::with_capacity(64);
    let mut value = Vec::new();
    let hs = req.headers;
    for (i, h) in hs.iter().enumerate() {
        let n = h.name.as_bytes();
        if !http_variable_allowed(n) {
            continue;
        }
        if hs[..i].iter().any(|p| p.name.eq_ignore_ascii_case(h.name)) {
            continue; // joined with its first occurrence
        }
        name.clear();
        name.extend_from_slice(b"HTTP_");
        name.extend(n.iter().map(|&b| {
            if b == b'-' {
                b'_'
            } else {
                b.to_ascii_uppercase()
            }
        }));
        let repeats = hs[i + 1..]
            .iter()
            .any(|p| p.name.eq_ignore_ascii_case(h.name));
        if !repeats {
            emit(&name, h.value);
            continue;
        }
        value.clear();
        for p in hs[i..]
            .iter()
            .filter(|p| p.name.eq_ignore_ascii_case(h.name))
        {
            if !value.is_empty() {
                value.extend_from_slice(b", ");
            }
            value.extend_from_slice(p.value);
        }
        emit(&name, &value);
    }
}

/// Whether a request header becomes an `HTTP_*` variable.
pub fn http_variable_allowed(name: &[u8]) -> bool {
    !name.is_empty()
        && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.eq_ignore_ascii_case(b"proxy")
        && !name.eq_ignore_ascii_case(b"content-length")
        && !name.eq_ignore_ascii_case(b"content-type")
}

fn header<'a>(req: &Request<'a>, name: &[u8]) -> Option<&'a [u8]> {
    req.headers
        .iter()
        .find(|h| h.name.as_bytes().eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

fn write_ip(ip: std::net::IpAddr, buf: &mut [u8; 64]) -> usize {
    use std::io::Write;
    let ip = match ip {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
        v4 => v4,
    };
    let mut c = io::Cursor::new(&mut buf[..]);
    let _ = write!(c, "{ip}");
    c.position() as usize
}

/// The request's conditional and range headers, kept for an offloaded file
/// (the request head is gone by the time the script answers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    pub head_only: bool,
    pub minor: u8,
    pub if_match: Option<Box<[u8]>>,
    pub if_none_match: Option<Box<[u8]>>,
    pub if_modified_since: Option<Box<[u8]>>,
    pub if_unmodified_since: Option<Box<[u8]>>,
    pub range: Option<Box<[u8]>>,
    pub if_range: Option<Box<[u8]>>,
}

impl Conditions {
    pub fn of(req: &Request<'_>) -> Conditions {
        let own = |v: Option<&[u8]>| v.map(Box::from);
        Conditions {
            head_only: req.method == Method::Head,
            minor: req.minor,
            if_match: own(req.if_match),
            if_none_match: own(req.if_none_match),
            if_modified_since: own(req.if_modified_since),
            if_unmodified_since: own(req.if_unmodified_since),
            range: own(req.range),
            if_range: own(req.if_range),
        }
    }
}

/// A file the engine serves through its static path on behalf of a
/// gateway (X-Sendfile): sendfile, Content-Length, ETag/Last-Modified,
/// Range and conditional requests, exactly as for a static file.
#[derive(Debug)]
pub struct Offload {
    /// The open, checked, regular file.
    pub file: OwnedFd,
    /// The file's name (its extension picks the Content-Type when the
    /// gateway gave none).
    pub name: PathBuf,
    pub content_type: Option<Box<[u8]>>,
    /// Extra header lines from the gateway, each `Name: value\r\n`
    /// (the passed-on ones: Cache-Control, Set-Cookie, ...).
    pub headers: Vec<u8>,
    pub cond: Conditions,
    pub keep_alive: bool,
}

/// Why an offload request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffloadError {
    /// Outside every allowed directory (or no directory allowed): 403.
    Forbidden,
    /// No such file: 404 for X-Sendfile, 502 for X-ZeroCopy.
    Missing,
    /// Not a regular file.
    NotRegular,
    /// A malformed X-ZeroCopy value or a span out of bounds, overlapping,
    /// or out of order: 502.
    BadSpan,
}

impl std::fmt::Display for OffloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OffloadError::Forbidden => "path outside the allowed offload directories",
            OffloadError::Missing => "no such file",
            OffloadError::NotRegular => "not a regular file",
            OffloadError::BadSpan => "malformed, out-of-bounds or overlapping span",
        })
    }
}

/// The directories offloaded files may come from (canonical paths).
#[derive(Debug, Clone, Default)]
pub struct OffloadDirs {
    dirs: Vec<PathBuf>,
}

impl OffloadDirs {
    /// Canonicalises each directory; an error names the one that failed.
    pub fn new<P: AsRef<Path>>(dirs: &[P]) -> Result<OffloadDirs, String> {
        let mut out = Vec::new();
        for d in dirs {
            let d = d.as_ref();
            let c = std::fs::canonicalize(d).map_err(|e| format!("{}: {e}", d.display()))?;
            if !c.is_dir() {
                return Err(format!("{}: not a directory", d.display()));
            }
            out.push(c);
        }
        Ok(OffloadDirs { dirs: out })
    }

    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Whether a canonical path lies inside an allowed directory.
    pub fn contains(&self, canon: &Path) -> bool {
        self.dirs.iter().any(|d| canon.starts_with(d) && canon != d)
    }

    /// Opens `path` (absolute) for an offload and checks where the open
    /// descriptor really is (through `/proc/self/fd`, so a symlink swapped
    /// in between cannot lead outside), and that it is a regular file.
    pub fn open(&self, path: &[u8]) -> Result<(File, u64), OffloadError> {
        use std::os::unix::ffi::OsStrExt;
        if self.dirs.is_empty() || path.first() != Some(&b'/') || path.contains(&0) {
            return Err(OffloadError::Forbidden);
        }
        let p = Path::new(std::ffi::OsStr::from_bytes(path));
        // Cheap refusal before touching the file system.
        let canon = match std::fs::canonicalize(p) {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(if self.dirs.iter().any(|d| p.starts_with(d)) {
                    OffloadError::Missing
                } else {
                    OffloadError::Forbidden
                })
            }
            Err(_) => return Err(OffloadError::Forbidden),
        };
        if !self.contains(&canon) {
            return Err(OffloadError::Forbidden);
        }
        let f = File::open(&canon).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => OffloadError::Missing,
            _ => OffloadError::Forbidden,
        })?;
        let real = std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd()))
            .map_err(|_| OffloadError::Forbidden)?;
        if !self.contains(&real) {
            return Err(OffloadError::Forbidden);
        }
        let md = f.metadata().map_err(|_| OffloadError::Forbidden)?;
        if !md.is_file() {
            return Err(OffloadError::NotRegular);
        }
        Ok((f, md.len()))
    }
}

/// Most spans one X-ZeroCopy header may name.
pub const MAX_SPANS: usize = 32;
/// Longest file path a span may hold.
pub const MAX_SPAN_LEN: u64 = 4096;

/// One `off/len` span of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByteSpan {
    pub off: u64,
    pub len: u64,
}

/// Parses `off/len[:off/len]...` into `out`; the spans must be non-empty,
/// sorted, non-overlapping and at most [`MAX_SPAN_LEN`] long. Returns how
/// many. `body_len`, when known, bounds them too.
pub fn parse_spans(
    v: &[u8],
    body_len: Option<u64>,
    out: &mut [ByteSpan; MAX_SPANS],
) -> Result<usize, OffloadError> {
    let v = crate::http::request::trim(v);
    if v.is_empty() {
        return Err(OffloadError::BadSpan);
    }
    let mut n = 0;
    let mut next_free = 0u64;
    for part in v.split(|&b| b == b':') {
        let part = crate::http::request::trim(part);
        let slash = part
            .iter()
            .position(|&b| b == b'/')
            .ok_or(OffloadError::BadSpan)?;
        let off = parse_u64(&part[..slash]).ok_or(OffloadError::BadSpan)?;
        let len = parse_u64(&part[slash + 1..]).ok_or(OffloadError::BadSpan)?;
        let end = off.checked_add(len).ok_or(OffloadError::BadSpan)?;
        if len == 0 || len > MAX_SPAN_LEN || off < next_free || n == MAX_SPANS {
            return Err(OffloadError::BadSpan);
        }
        if body_len.is_some_and(|b| end > b) {
            return Err(OffloadError::BadSpan);
        }
        out[n] = ByteSpan { off, len };
        n += 1;
        next_free = end;
    }
    Ok(n)
}

/// What the body of an X-ZeroCopy response is made of, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal body bytes.
    Literal(Vec<u8>),
    /// A file's contents, from the span's path.
    File(PathBuf),
}

/// Assembles an X-ZeroCopy body fed in pieces: literal bytes pass through
/// as they come, a span is collected whole (it is at most
/// [`MAX_SPAN_LEN`]) and then becomes a file to send.
#[derive(Debug)]
pub struct ZeroCopy {
    spans: [ByteSpan; MAX_SPANS],
    count: usize,
    next: usize,
    pos: u64,
    collected: Vec<u8>,
}

impl ZeroCopy {
    pub fn new(header: &[u8], body_len: Option<u64>) -> Result<ZeroCopy, OffloadError> {
        let mut spans = [ByteSpan::default(); MAX_SPANS];
        let count = parse_spans(header, body_len, &mut spans)?;
        Ok(ZeroCopy {
            spans,
            count,
            next: 0,
            pos: 0,
            collected: Vec::new(),
        })
    }

    /// Splits the next body bytes into pieces (`emit` gets each).
    pub fn feed(&mut self, mut data: &[u8], emit: &mut dyn FnMut(Piece)) {
        use std::os::unix::ffi::OsStrExt;
        while !data.is_empty() {
            let Some(s) = self.spans.get(self.next).filter(|_| self.next < self.count) else {
                self.pos += data.len() as u64;
                emit(Piece::Literal(data.to_vec()));
                return;
            };
            if self.pos < s.off {
                let k = ((s.off - self.pos) as usize).min(data.len());
                emit(Piece::Literal(data[..k].to_vec()));
                self.pos += k as u64;
                data = &data[k..];
                continue;
            }
            let want = (s.off + s.len - self.pos) as usize;
            let k = want.min(data.len());
            self.collected.extend_from_slice(&data[..k]);
            self.pos += k as u64;
            data = &data[k..];
            if k == want {
                let path = crate::http::request::trim(&self.collected);
                emit(Piece::File(PathBuf::from(std::ffi::OsStr::from_bytes(
                    path,
                ))));
                self.collected.clear();
                self.next += 1;
            }
        }
    }

    /// The body ended: an error if a span was not complete.
    pub fn finish(&self) -> Result<(), OffloadError> {
        if self.next < self.count {
            Err(OffloadError::BadSpan)
        } else {
            Ok(())
        }
    }
}

/// The fuzz entry point for the response-head parser (for `cargo fuzz` or
/// any byte-feeding harness): the first byte picks a split size, the rest
/// is script output. Panics if feeding it in pieces gives another outcome
/// than feeding it whole — and the parser itself must never panic.
pub fn fuzz_head(data: &[u8]) {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let split = split as usize % 64 + 1;
    let whole = {
        let mut p = HeaderParser::new();
        p.feed(data).map(|f| (f, p.parsed().map(|r| r.code())))
    };
    let mut p = HeaderParser::new();
    let mut off = 0;
    let mut got = Ok((Feed::More, None));
    for c in data.chunks(split) {
        got = p.feed(c).map(|f| match f {
            Feed::Done(n) => (Feed::Done(off + n), p.parsed().map(|r| r.code())),
            Feed::More => (Feed::More, None),
        });
        off += c.len();
        if !matches!(got, Ok((Feed::More, _))) {
            break;
        }
    }
    assert_eq!(got, whole, "split {split}");
    if let Ok((Feed::Done(_), _)) = got {
        let r = p.parsed().expect("parsed after Done");
        let mut buf = [0u8; 2 * MAX_HEAD];
        let mut h = Head::new(&mut buf);
        r.write_head(&mut h, &[b'x'; 29], true, 1, BodyFraming::Chunked);
        // Whatever passed the parser cannot split the head it is written into.
        if let Some(n) = h.finish() {
            let head = &buf[..n];
            let blank = head.windows(4).position(|w| w == b"\r\n\r\n");
            assert_eq!(blank, Some(n - 4), "a header line injected a blank line");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8], split: usize) -> Result<(HeaderParser, usize), HeadError> {
        let mut p = HeaderParser::new();
        let mut off = 0;
        for chunk in input.chunks(split.max(1)) {
            match p.feed(chunk)? {
                Feed::More => off += chunk.len(),
                Feed::Done(n) => return Ok((p, off + n)),
            }
        }
        p.finish()?;
        unreachable!()
    }

    #[test]
    fn header_table() {
        // (input, expected code or error, body offset)
        let cases: &[(&[u8], Result<u16, HeadError>)] = &[
            (b"Content-Type: text/plain\n\nhi", Ok(200)),
            (b"Content-Type: text/plain\r\n\r\nhi", Ok(200)),
            (
                b"Status: 404 Not Found\r\nContent-Type: text/html\r\n\r\n",
                Ok(404),
            ),
            (b"Status: 201\n\n", Ok(201)),
            (b"Location: http://example.com/x\n\n", Ok(302)),
            (b"Location: /local?q=1\n\n", Ok(200)),
            (b"Status: 301 Moved\nLocation: https://a/\n\n", Ok(301)),
            (b"X-Sendfile: /srv/f\n\n", Ok(200)),
            (b"\n\nbody", Err(HeadError::Empty)),
            (b"X-Other: 1\n\n", Err(HeadError::Empty)),
            (b"garbage line\n\n", Err(HeadError::BadName)),
            (b"Bad Name: v\n\n", Err(HeadError::BadName)),
            (b": v\n\n", Err(HeadError::BadName)),
            (b"Content-Type: a\n folded\n\n", Err(HeadError::Folding)),
            (b"Content-Type: a\0b\n\n", Err(HeadError::BadValue)),
            (b"Content-Type: a\rb\n\n", Err(HeadError::BadValue)),
            (b"Status: abc\n\n", Err(HeadError::BadStatus)),
            (b"Status: 099 x\n\n", Err(HeadError::BadStatus)),
            (b"Status: 600 x\n\n", Err(HeadError::BadStatus)),
            (b"Status: 2000\n\n", Err(HeadError::BadStatus)),
            (b"Status: 200\nStatus: 404\n\n", Err(HeadError::BadStatus)),
            (
                b"Location: //evil.example/\n\n",
                Err(HeadError::BadLocation),
            ),
            (b"Location: nonsense\n\n", Err(HeadError::BadLocation)),
            (
                b"Content-Type: a\nContent-Length: x\n\n",
                Err(HeadError::BadLength),
            ),
            (
                b"Content-Type: a\nContent-Length: 1\nContent-Length: 2\n\n",
                Err(HeadError::BadLength),
            ),
            (b"Content-Type: text/plain\n", Err(HeadError::Truncated)),
            (b"", Err(HeadError::Truncated)),
        ];
        for (input, want) in cases {
            for split in [1, 2, 3, 7, 1000] {
                let got = parse_all(input, split).map(|(p, _)| p.parsed().unwrap().code());
                assert_eq!(
                    &got,
                    want,
                    "{:?} split {split}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    #[test]
    fn body_offset_and_fields() {
        let input = b"Status: 404 Gone Away\r\nContent-Type: text/html\r\nX-A: 1\r\nConnection: close\r\nContent-Length: 4\r\nServer: evil\r\n\r\nbody";
        for split in [1, 5, 1000] {
            let (p, off) = parse_all(input, split).unwrap();
            assert_eq!(&input[off..], b"body");
            let r = p.parsed().unwrap();
            assert_eq!(r.status, Some((404, &b"Gone Away"[..])));
            assert_eq!(r.content_type, Some(&b"text/html"[..]));
            assert_eq!(r.content_length, Some(4));
            let passed: Vec<_> = r.passed().collect();
            assert_eq!(passed, vec![(&b"X-A"[..], &b"1"[..])]);
            let mut buf = [0u8; 512];
            let mut h = Head::new(&mut buf);
            r.write_head(
                &mut h,
                b"Mon, 23 Nov 2026 00:00:00 GMT",
                true,
                1,
                BodyFraming::Length(4),
            );
            let n = h.finish().unwrap();
            assert_eq!(
                &buf[..n],
                &b"HTTP/1.1 404 Gone Away\r\nDate: Mon, 23 Nov 2026 00:00:00 GMT\r\nServer: firmware-server\r\nContent-Type: text/html\r\nX-A: 1\r\nContent-Length: 4\r\n\r\n"[..]
            );
        }
    }

    #[test]
    fn bounds() {
        let mut long = b"X-Long: ".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_LINE));
        long.extend_from_slice(b"\n\n");
        assert_eq!(parse_all(&long, 100).err(), Some(HeadError::LineTooLong));
        let mut many = Vec::new();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-H{i}: v\n").as_bytes());
        }
        many.extend_from_slice(b"\n");
        assert_eq!(parse_all(&many, 64).err(), Some(HeadError::TooManyHeaders));
        let mut big = Vec::new();
        for i in 0..40 {
            big.extend_from_slice(format!("X-{i}: ").as_bytes());
            big.extend(std::iter::repeat_n(b'b', 1000));
            big.push(b'\n');
        }
        assert_eq!(parse_all(&big, 333).err(), Some(HeadError::HeadTooLarge));
        // A failed parser stays failed.
        let mut p = HeaderParser::new();
        assert!(p.feed(b"bad\n").is_err());
        assert!(p.feed(b"Content-Type: a\n\n").is_err());
    }

    #[test]
    fn internal_redirect() {
        let (p, _) = parse_all(b"Location: /next?x=1\n\n", 3).unwrap();
        assert_eq!(
            p.parsed().unwrap().internal_redirect(),
            Some(&b"/next?x=1"[..])
        );
        let (p, _) = parse_all(b"Status: 303\nLocation: /next\n\n", 3).unwrap();
        assert_eq!(p.parsed().unwrap().internal_redirect(), None);
    }

    #[test]
    fn spans_table() {
        type Case<'a> = (
            &'a [u8],
            Option<u64>,
            Result<&'a [(u64, u64)], OffloadError>,
        );
        let cases: &[Case] = &[
            (b"0/5", Some(10), Ok(&[(0, 5)])),
            (b"2/3:5/5", Some(10), Ok(&[(2, 3), (5, 5)])),
            (b" 2/3 : 7/1 ", None, Ok(&[(2, 3), (7, 1)])),
            (b"2/3:4/5", Some(10), Err(OffloadError::BadSpan)), // overlap
            (b"5/1:2/1", Some(10), Err(OffloadError::BadSpan)), // unsorted
            (b"8/5", Some(10), Err(OffloadError::BadSpan)),     // out of bounds
            (b"0/0", Some(10), Err(OffloadError::BadSpan)),     // empty
            (b"", None, Err(OffloadError::BadSpan)),
            (b"1-2", None, Err(OffloadError::BadSpan)),
            (b"x/1", None, Err(OffloadError::BadSpan)),
            (b"1/", None, Err(OffloadError::BadSpan)),
            (b"18446744073709551615/2", None, Err(OffloadError::BadSpan)),
            (b"0/5000", None, Err(OffloadError::BadSpan)),
        ];
        for (v, body, want) in cases {
            let mut out = [ByteSpan::default(); MAX_SPANS];
            let got = parse_spans(v, *body, &mut out)
                .map(|n| out[..n].iter().map(|s| (s.off, s.len)).collect::<Vec<_>>());
            assert_eq!(
                got,
                want.map(<[_]>::to_vec),
                "{:?}",
                String::from_utf8_lossy(v)
            );
        }
    }

    #[test]
    fn zerocopy_assembles_over_splits() {
        let body = b"<p>/srv/a.txt</p>/srv/b";
        for split in [1, 2, 5, 100] {
            let mut z = ZeroCopy::new(b"3/10:17/6", Some(body.len() as u64)).unwrap();
            let mut pieces: Vec<Piece> = Vec::new();
            for c in body.chunks(split) {
                z.feed(c, &mut |p| match (pieces.last_mut(), p) {
                    (Some(Piece::Literal(a)), Piece::Literal(b)) => a.extend(b),
                    (_, p) => pieces.push(p),
                });
            }
            z.finish().unwrap();
            assert_eq!(
                pieces,
                vec![
                    Piece::Literal(b"<p>".to_vec()),
                    Piece::File("/srv/a.txt".into()),
                    Piece::Literal(b"</p>".to_vec()),
                    Piece::File("/srv/b".into()),
                ]
            );
        }
        let mut z = ZeroCopy::new(b"3/10", None).unwrap();
        z.feed(b"abcdef", &mut |_| {});
        assert_eq!(z.finish(), Err(OffloadError::BadSpan));
    }

    #[test]
    fn offload_dirs_confine() {
        let base = std::env::temp_dir().join(format!("fws-gw-{}", std::process::id()));
        let allowed = base.join("allowed");
        let outside = base.join("outside");
        std::fs::create_dir_all(&allowed).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(allowed.join("f"), b"12345").unwrap();
        std::fs::write(outside.join("secret"), b"x").unwrap();
        let _ = std::os::unix::fs::symlink(outside.join("secret"), allowed.join("link"));
        let d = OffloadDirs::new(&[&allowed]).unwrap();
        let p = |s: &Path| s.as_os_str().as_encoded_bytes().to_vec();
        assert_eq!(d.open(&p(&allowed.join("f"))).map(|(_, n)| n), Ok(5));
        assert_eq!(
            d.open(&p(&allowed.join("link"))).err(),
            Some(OffloadError::Forbidden)
        );
        assert_eq!(
            d.open(&p(&outside.join("secret"))).err(),
            Some(OffloadError::Forbidden)
        );
        assert_eq!(
            d.open(&p(&allowed.join("../outside/secret"))).err(),
            Some(OffloadError::Forbidden)
        );
        assert_eq!(
            d.open(&p(&allowed.join("none"))).err(),
            Some(OffloadError::Missing)
        );
        assert_eq!(d.open(&p(&allowed)).err(), Some(OffloadError::Forbidden));
        assert_eq!(d.open(b"relative").err(), Some(OffloadError::Forbidden));
        assert_eq!(
            OffloadDirs::default().open(&p(&allowed.join("f"))).err(),
            Some(OffloadError::Forbidden)
        );
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn http_variable_names() {
        for (n, ok) in [
            ("User-Agent", true),
            ("X-1", true),
            ("Proxy", false),
            ("proxy", false),
            ("X_Under", false),
            ("Content-Length", false),
            ("X.Dot", false),
        ] {
            assert_eq!(http_variable_allowed(n.as_bytes()), ok, "{n}");
        }
    }

    #[test]
    fn meta_variables_allow_list() {
        use crate::plugin::{ClientVerify, ConnInfo, Peer, User};
        let raw = b"POST /cgi-bin/t.sh/extra?a=1 HTTP/1.1\r\nHost: box.lan:8080\r\nProxy: http://evil/\r\nX_Under: 1\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nAccept: a\r\nAccept: b\r\nUser-Agent: t\r\n\r\n";
        let mut hs = [httparse::EMPTY_HEADER; crate::http::request::MAX_HEADERS];
        let req = crate::http::request::parse(raw, &mut hs).unwrap().unwrap();
        let conn = ConnInfo {
            peer: "10.0.0.2:5555".parse().unwrap(),
            local: "10.0.0.1:8080".parse().unwrap(),
            listener: 0,
            secure: true,
            worker: 0,
        };
        let mut user = User::default();
        user.set(b"alice");
        let x = Exchange {
            req: &req,
            conn: &conn,
            vhost: 0,
            path: Some(b"cgi-bin/t.sh/extra"),
            user: &mut user,
            date: b"Mon, 23 Nov 2026 00:00:00 GMT",
            peer: Peer {
                server_name: None,
                subject: Some("CN=client"),
                verify: ClientVerify::Success,
            },
        };
        let s = ScriptInfo {
            script_name: b"/cgi-bin/t.sh",
            script_filename: b"/www/cgi-bin/t.sh",
            path_info: b"/extra",
            document_root: b"/www",
            auth_type: Some(b"Basic"),
        };
        let mut got = std::collections::BTreeMap::new();
        meta_variables(&x, &s, &mut |n, v| {
            assert!(got
                .insert(
                    String::from_utf8(n.to_vec()).unwrap(),
                    String::from_utf8(v.to_vec()).unwrap()
                )
                .is_none());
        });
        let want = [
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("SERVER_NAME", "box.lan"),
            ("SERVER_ADDR", "10.0.0.1"),
            ("SERVER_PORT", "8080"),
            ("REMOTE_ADDR", "10.0.0.2"),
            ("REMOTE_PORT", "5555"),
            ("REQUEST_METHOD", "POST"),
            ("REQUEST_URI", "/cgi-bin/t.sh/extra?a=1"),
            ("QUERY_STRING", "a=1"),
            ("SCRIPT_NAME", "/cgi-bin/t.sh"),
            ("SCRIPT_FILENAME", "/www/cgi-bin/t.sh"),
            ("PATH_INFO", "/extra"),
            ("PATH_TRANSLATED", "/www/extra"),
            ("DOCUMENT_ROOT", "/www"),
            ("CONTENT_LENGTH", "3"),
            ("CONTENT_TYPE", "text/plain"),
            ("REMOTE_USER", "alice"),
            ("AUTH_TYPE", "Basic"),
            ("HTTPS", "on"),
            ("SSL_CLIENT_S_DN", "CN=client"),
            ("SSL_CLIENT_VERIFY", "SUCCESS"),
            ("REDIRECT_STATUS", "200"),
            ("HTTP_HOST", "box.lan:8080"),
            ("HTTP_ACCEPT", "a, b"),
            ("HTTP_USER_AGENT", "t"),
        ];
        for (n, v) in want {
            assert_eq!(got.get(n).map(String::as_str), Some(v), "{n}");
        }
        for n in [
            "HTTP_PROXY",
            "HTTP_X_UNDER",
            "HTTP_CONTENT_TYPE",
            "HTTP_CONTENT_LENGTH",
            "PATH",
            "LD_PRELOAD",
        ] {
            assert!(!got.contains_key(n), "{n}");
        }
    }

    #[test]
    fn fuzz_header_parser() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b"Status: 200 OK\r\nContent-Type: text/plain\nLocation: /x:\0 \t";
        for _ in 0..3000 {
            let len = (next() % 200) as usize;
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 4 == 0 {
                        r as u8
                    } else {
                        alphabet[(r >> 8) as usize % alphabet.len()]
                    }
                })
                .collect();
            let mut input = vec![(next() % 17) as u8];
            input.extend_from_slice(&data);
            fuzz_head(&input);
        }
    }
}
