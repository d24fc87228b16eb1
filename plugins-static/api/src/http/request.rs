//! The request head: `httparse` parses it in place, then this module checks
//! what `httparse` leaves to us — message framing (Content-Length versus
//! Transfer-Encoding, duplicates), `Host`, `Connection`, `Expect`, the
//! request-target form — and picks out the headers the engine uses.
//!
//! Contract: [`parse`] never panics and never allocates; every field of
//! [`Request`] borrows the caller's buffer. Framing is decided here and
//! nowhere else.

use super::error::HttpError;

/// Most header fields a request may carry; more is 431.
pub const MAX_HEADERS: usize = 64;

/// Request methods the engine knows. Any other token is 501.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Trace,
    Connect,
    Patch,
}

impl Method {
    fn from_bytes(m: &[u8]) -> Option<Method> {
        Some(match m {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"CONNECT" => Method::Connect,
            b"PATCH" => Method::Patch,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Connect => "CONNECT",
            Method::Patch => "PATCH",
        }
    }
}

/// How the request body is delimited (RFC 9112 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// A parsed request head; every slice borrows the read buffer.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: Method,
    /// HTTP/1.x minor version (0 or 1).
    pub minor: u8,
    /// The raw request-target.
    pub target: &'a [u8],
    /// The path of the target, still percent-encoded, starting with `/`
    /// (`*` for the asterisk form).
    pub path: &'a [u8],
    pub query: Option<&'a [u8]>,
    /// The authority: from an absolute-form target, else the Host header.
    pub host: Option<&'a [u8]>,
    pub framing: Framing,
    pub keep_alive: bool,
    pub expect_continue: bool,
    pub if_none_match: Option<&'a [u8]>,
    pub if_modified_since: Option<&'a [u8]>,
    pub if_match: Option<&'a [u8]>,
    pub if_unmodified_since: Option<&'a [u8]>,
    pub range: Option<&'a [u8]>,
    pub if_range: Option<&'a [u8]>,
    pub accept_encoding: Option<&'a [u8]>,
    /// All header fields, for handlers that need more (auth, CGI).
    pub headers: &'a [httparse::Header<'a>],
    /// Length of the head in bytes; the body (if any) starts here.
    pub head_len: usize,
}

/// Parses a request head from `buf`. `Ok(None)` means more bytes are needed.
/// When `buf` is full and still incomplete the caller maps that to 414/431
/// with [`incomplete_error`].
pub fn parse<'a>(
    buf: &'a [u8],
    headers: &'a mut [httparse::Header<'a>; MAX_HEADERS],
) -> Result<Option<Request<'a>>, HttpError> {
    let mut req = httparse::Request::new(headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadTooLarge),
        Err(httparse::Error::Version) => return Err(version_error(buf)),
        Err(_) => return Err(HttpError::BadRequest),
    };
    let method_raw = req.method.unwrap_or("").as_bytes();
    let target = req.path.unwrap_or("").as_bytes();
    let minor = req.version.unwrap_or(1);
    let headers: &'a [httparse::Header<'a>] = req.headers;
    let method = Method::from_bytes(method_raw).ok_or(HttpError::NotImplemented)?;

    let mut r = Request {
        method,
        minor,
        target,
        path: b"",
        query: None,
        host: None,
        framing: Framing::None,
        keep_alive: minor >= 1,
        expect_continue: false,
        if_none_match: None,
        if_modified_since: None,
        if_match: None,
        if_unmodified_since: None,
        range: None,
        if_range: None,
        accept_encoding: None,
        headers,
        head_len,
    };

    let mut host_header: Option<&'a [u8]> = None;
    let mut host_count = 0u32;
    let mut content_length: Option<u64> = None;
    let mut chunked = TeState::Absent;
    for h in headers {
        let name = h.name.as_bytes();
        let value = trim(h.value);
        if name.eq_ignore_ascii_case(b"host") {
            host_count += 1;
            host_header = Some(value);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_content_length(value)?;
            match content_length {
                Some(prev) if prev != n => return Err(HttpError::BadRequest),
                _ => content_length = Some(n),
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = chunked.add(value)?;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in list(value) {
                if token.eq_ignore_ascii_case(b"close") {
                    r.keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && minor == 0 {
                    r.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            if minor >= 1 {
                if value.eq_ignore_ascii_case(b"100-continue") {
                    r.expect_continue = true;
                } else {
                    return Err(HttpError::ExpectationFailed);
                }
            }
        } else if name.eq_ignore_ascii_case(b"if-none-match") {
            r.if_none_match = Some(value);
        } else if name.eq_ignore_ascii_case(b"if-modified-since") {
            r.if_modified_since = Some(value);
        } else if name.eq_ignore_ascii_case(b"if-match") {
            r.if_match = Some(value);
        } else if name.eq_ignore_ascii_case(b"if-unmodified-since") {
            r.if_unmodified_since = Some(value);
        } else if name.eq_ignore_ascii_case(b"range") {
            r.range = Some(value);
        } else if name.eq_ignore_ascii_case(b"if-range") {
            r.if_range = Some(value);
        } else if name.eq_ignore_ascii_case(b"accept-encoding") {
            r.accept_encoding = Some(value);
        }
    }
    // A "Connection: close" anywhere wins over keep-alive.
    if headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("connection")
            && list(trim(h.value)).any(|t| t.eq_ignore_ascii_case(b"close"))
    }) {
        r.keep_alive = false;
    }

    // Framing (RFC 9112 §6.1, §6.3): TE and CL together is a smuggling
    // attempt; TE in HTTP/1.0 cannot be trusted.
    r.framing = match (chunked, content_length) {
        (TeState::Absent, None) => Framing::None,
        (TeState::Absent, Some(n)) => Framing::Length(n),
        (TeState::Chunked, None) if minor >= 1 => Framing::Chunked,
        _ => return Err(HttpError::BadRequest),
    };

    if host_count > 1 {
        return Err(HttpError::BadRequest);
    }
    if let Some(h) = host_header {
        if !valid_authority(h) {
            return Err(HttpError::BadRequest);
        }
    }

    // The request-target (RFC 9112 §3.2).
    if target.first() == Some(&b'/') {
        let (path, query) = split_query(target);
        r.path = path;
        r.query = query;
        r.host = host_header;
    } else if target == b"*" {
        if method != Method::Options {
            return Err(HttpError::BadRequest);
        }
        r.path = b"*";
        r.host = host_header;
    } else if let Some(rest) = strip_scheme(target) {
        let end = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
        let authority = &rest[..end];
        if authority.is_empty() || !valid_authority(authority) {
            return Err(HttpError::BadRequest);
        }
        let after = &rest[end..];
        if after.first() == Some(&b'/') {
            let (path, query) = split_query(after);
            r.path = path;
            r.query = query;
        } else {
            r.path = b"/";
            r.query = after.strip_prefix(b"?");
        }
        r.host = Some(authority);
    } else {
        return Err(HttpError::BadRequest);
    }
    if r.target.contains(&b'#') {
        return Err(HttpError::BadRequest);
    }
    if minor >= 1 && host_count == 0 {
        return Err(HttpError::BadRequest);
    }
    Ok(Some(r))
}

/// Which error a full buffer without a complete head is: 414 when the
/// request line itself did not fit, 431 otherwise.
pub fn incomplete_error(buf: &[u8]) -> HttpError {
    if buf.contains(&b'\n') {
        HttpError::HeadTooLarge
    } else {
        HttpError::UriTooLong
    }
}

/// `httparse` reports any version other than HTTP/1.0 and 1.1 as an error;
/// a well-formed `HTTP/x.y` is 505, anything else 400.
fn version_error(buf: &[u8]) -> HttpError {
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let line = buf[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&buf[..line_end]);
    // Exactly `method SP target SP version`; anything else is malformed.
    if line.iter().filter(|&&b| b == b' ').count() != 2 {
        return HttpError::BadRequest;
    }
    let version = match line.iter().rposition(|&b| b == b' ') {
        Some(i) => &line[i + 1..],
        None => return HttpError::BadRequest,
    };
    match version {
        [b'H', b'T', b'T', b'P', b'/', a, b'.', b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            HttpError::VersionNotSupported
        }
        [b'H', b'T', b'T', b'P', b'/', a] if a.is_ascii_digit() => HttpError::VersionNotSupported,
        _ => HttpError::BadRequest,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TeState {
    Absent,
    Chunked,
}

impl TeState {
    /// Adds one Transfer-Encoding field value. Only `chunked`, once, is
    /// supported: another coding is 501, `chunked` repeated or not last 400.
    fn add(self, value: &[u8]) -> Result<TeState, HttpError> {
        let mut state = self;
        let mut any = false;
        for token in list(value) {
            any = true;
            if !token.eq_ignore_ascii_case(b"chunked") {
                return Err(HttpError::NotImplemented);
            }
            if state == TeState::Chunked {
                return Err(HttpError::BadRequest);
            }
            state = TeState::Chunked;
        }
        if !any {
            return Err(HttpError::BadRequest);
        }
        Ok(state)
    }
}

/// Content-Length is 1*DIGIT; a list of identical values is accepted
/// (RFC 9110 §8.6), anything else is 400.
fn parse_content_length(value: &[u8]) -> Result<u64, HttpError> {
    let mut result: Option<u64> = None;
    for item in value.split(|&b| b == b',') {
        let item = trim(item);
        if item.is_empty() || item.len() > 19 || !item.iter().all(u8::is_ascii_digit) {
            return Err(HttpError::BadRequest);
        }
        let n = item
            .iter()
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
        match result {
            Some(prev) if prev != n => return Err(HttpError::BadRequest),
            _ => result = Some(n),
        }
    }
    result.ok_or(HttpError::BadRequest)
}

fn strip_scheme(target: &[u8]) -> Option<&[u8]> {
    for scheme in [&b"http://"[..], &b"https://"[..]] {
        if target.len() >= scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return Some(&target[scheme.len()..]);
        }
    }
    None
}

fn split_query(target: &[u8]) -> (&[u8], Option<&[u8]>) {
    match target.iter().position(|&b| b == b'?') {
        Some(i) => (&target[..i], Some(&target[i + 1..])),
        None => (target, None),
    }
}

/// Host / authority syntax (RFC 3986 reg-name, IP literal, port); no userinfo.
fn valid_authority(h: &[u8]) -> bool {
    h.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b':'
                    | b'['
                    | b']'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            )
    })
}

/// Trims optional whitespace (SP / HTAB) from both ends.
pub fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &v[start..end]
}

/// The non-empty elements of a comma-separated list, trimmed.
pub fn list(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim).filter(|t| !t.is_empty())
}

/// Strips the port from a Host value (`name:80`, `[::1]:80`).
pub fn host_without_port(h: &[u8]) -> &[u8] {
    if h.first() == Some(&b'[') {
        return match h.iter().position(|&b| b == b']') {
            Some(i) => &h[..=i],
            None => h,
        };
    }
    match h.iter().rposition(|&b| b == b':') {
        Some(i) => &h[..i],
        None => h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Summary = (Method, Vec<u8>, Option<Vec<u8>>, Framing, bool);

    fn run(raw: &[u8]) -> Result<Option<Summary>, HttpError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        parse(raw, &mut headers).map(|o| {
            o.map(|r| {
                (
                    r.method,
                    r.path.to_vec(),
                    r.host.map(|h| h.to_vec()),
                    r.framing,
                    r.keep_alive,
                )
            })
        })
    }

    #[test]
    fn table() {
        use HttpError::*;
        let cases: &[(&[u8], Result<(), HttpError>)] = &[
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Ok(())),
            (b"GET / HTTP/1.0\r\n\r\n", Ok(())),
            (b"GET / HTTP/1.1\r\n\r\n", Err(BadRequest)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Err(BadRequest)),
            (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", Err(VersionNotSupported)),
            (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", Err(VersionNotSupported)),
            (b"GET / HTTX/1.1\r\nHost: a\r\n\r\n", Err(BadRequest)),
            (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", Err(BadRequest)),
            (b"GET /a b HTTP/2.0\r\nHost: a\r\n\r\n", Err(BadRequest)),
            (b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n", Err(NotImplemented)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", Err(BadRequest)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", Err(BadRequest)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n", Ok(())),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\n", Ok(())),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +2\r\n\r\n", Err(BadRequest)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", Err(BadRequest)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", Err(NotImplemented)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", Err(BadRequest)),
            (b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Err(BadRequest)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\n\r\n", Err(ExpectationFailed)),
            (b"GET / HTTP/1.1\r\nHost: a\r\n x: y\r\n\r\n", Err(BadRequest)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", Err(BadRequest)),
            (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", Err(BadRequest)),
            (b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", Err(BadRequest)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", Err(BadRequest)),
            (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Err(BadRequest)),
            (b"GET foo HTTP/1.1\r\nHost: a\r\n\r\n", Err(BadRequest)),
            (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", Err(BadRequest)),
            (b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", Ok(())),
            (b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", Err(BadRequest)),
            (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", Err(BadRequest)),
        ];
        for (raw, want) in cases {
            let got = run(raw).map(|_| ());
            assert_eq!(&got, want, "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn absolute_form_and_keep_alive() {
        let (m, path, host, framing, ka) =
            run(b"GET http://Example.COM:8080/x/y?q=1 HTTP/1.1\r\nHost: other\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(m, Method::Get);
        assert_eq!(path, b"/x/y");
        assert_eq!(host.unwrap(), b"Example.COM:8080");
        assert_eq!(framing, Framing::None);
        assert!(ka);
        let (_, path, _, _, _) = run(b"GET http://h?x HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(path, b"/");
        let (_, _, _, _, ka) = run(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(ka);
        let (_, _, _, _, ka) =
            run(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n")
                .unwrap()
                .unwrap();
        assert!(!ka);
        let (_, _, _, f, _) =
            run(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(f, Framing::Chunked);
    }

    #[test]
    fn partial_and_incomplete() {
        assert!(run(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap().is_none());
        assert_eq!(incomplete_error(b"GET /aaaaaaaa"), HttpError::UriTooLong);
        assert_eq!(
            incomplete_error(b"GET / HTTP/1.1\r\nX: aaaa"),
            HttpError::HeadTooLarge
        );
        let mut many = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for _ in 0..MAX_HEADERS {
            many.extend_from_slice(b"X: y\r\n");
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(run(&many).map(|_| ()), Err(HttpError::HeadTooLarge));
    }

    #[test]
    fn host_port() {
        assert_eq!(host_without_port(b"a.b:80"), b"a.b");
        assert_eq!(host_without_port(b"[::1]:80"), b"[::1]");
        assert_eq!(host_without_port(b"a"), b"a");
    }
}
