//! Response heads written into a fixed buffer without the formatting
//! machinery. Contract: never panics, never allocates; a head that does not
//! fit sets the overflow flag and [`Head::finish`] returns `None`.

/// The status codes the engine sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Continue,
    Ok,
    NoContent,
    PartialContent,
    MovedPermanently,
    Found,
    NotModified,
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    PreconditionFailed,
    PayloadTooLarge,
    UriTooLong,
    RangeNotSatisfiable,
    ExpectationFailed,
    HeadersTooLarge,
    InternalServerError,
    NotImplemented,
    BadGateway,
    ServiceUnavailable,
    GatewayTimeout,
    VersionNotSupported,
}

impl Status {
    pub fn code(self) -> u16 {
        self.line_parts().0
    }

    /// The status line after `HTTP/1.1 `, and the code.
    fn line_parts(self) -> (u16, &'static [u8]) {
        match self {
            Status::Continue => (100, b"100 Continue"),
            Status::Ok => (200, b"200 OK"),
            Status::NoContent => (204, b"204 No Content"),
            Status::PartialContent => (206, b"206 Partial Content"),
            Status::MovedPermanently => (301, b"301 Moved Permanently"),
            Status::Found => (302, b"302 Found"),
            Status::NotModified => (304, b"304 Not Modified"),
            Status::BadRequest => (400, b"400 Bad Request"),
            Status::Unauthorized => (401, b"401 Unauthorized"),
            Status::Forbidden => (403, b"403 Forbidden"),
            Status::NotFound => (404, b"404 Not Found"),
            Status::MethodNotAllowed => (405, b"405 Method Not Allowed"),
            Status::RequestTimeout => (408, b"408 Request Timeout"),
            Status::PreconditionFailed => (412, b"412 Precondition Failed"),
            Status::PayloadTooLarge => (413, b"413 Content Too Large"),
            Status::UriTooLong => (414, b"414 URI Too Long"),
            Status::RangeNotSatisfiable => (416, b"416 Range Not Satisfiable"),
            Status::ExpectationFailed => (417, b"417 Expectation Failed"),
            Status::HeadersTooLarge => (431, b"431 Request Header Fields Too Large"),
            Status::InternalServerError => (500, b"500 Internal Server Error"),
            Status::NotImplemented => (501, b"501 Not Implemented"),
            Status::BadGateway => (502, b"502 Bad Gateway"),
            Status::ServiceUnavailable => (503, b"503 Service Unavailable"),
            Status::GatewayTimeout => (504, b"504 Gateway Timeout"),
            Status::VersionNotSupported => (505, b"505 HTTP Version Not Supported"),
        }
    }

    /// `"404 Not Found"`.
    pub fn text(self) -> &'static [u8] {
        self.line_parts().1
    }

    /// Whether a response with this status never has a body.
    pub fn bodiless(self) -> bool {
        matches!(
            self,
            Status::Continue | Status::NoContent | Status::NotModified
        )
    }
}

/// A cursor writing a response head into a fixed buffer.
pub struct Head<'b> {
    buf: &'b mut [u8],
    len: usize,
    overflow: bool,
}

impl<'b> Head<'b> {
    pub fn new(buf: &'b mut [u8]) -> Self {
        Head {
            buf,
            len: 0,
            overflow: false,
        }
    }

    pub fn put(&mut self, bytes: &[u8]) -> &mut Self {
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(dst) if !self.overflow => {
                dst.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            _ => self.overflow = true,
        }
        self
    }

    pub fn num(&mut self, mut v: u64) -> &mut Self {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&tmp[i..])
    }

    pub fn hex(&mut self, mut v: u64) -> &mut Self {
        let mut tmp = [0u8; 16];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b"0123456789abcdef"[(v & 15) as usize];
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        self.put(&tmp[i..])
    }

    /// `HTTP/1.1 <status>\r\n`.
    pub fn status(&mut self, s: Status) -> &mut Self {
        self.put(b"HTTP/1.1 ").put(s.text()).put(b"\r\n")
    }

    pub fn header(&mut self, name: &[u8], value: &[u8]) -> &mut Self {
        self.put(name).put(b": ").put(value).put(b"\r\n")
    }

    pub fn header_num(&mut self, name: &[u8], value: u64) -> &mut Self {
        self.put(name).put(b": ").num(value).put(b"\r\n")
    }

    pub fn end(&mut self) -> &mut Self {
        self.put(b"\r\n")
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The unused rest of the buffer (empty after an overflow), to fill
    /// directly and then [`Head::advance`] over.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.overflow {
            return &mut [];
        }
        &mut self.buf[self.len..]
    }

    /// Counts `n` bytes written into [`Head::spare`] as written.
    pub fn advance(&mut self, n: usize) {
        if self.len + n <= self.buf.len() {
            self.len += n;
        } else {
            self.overflow = true;
        }
    }

    /// Forgets everything written.
    pub fn clear(&mut self) {
        self.len = 0;
        self.overflow = false;
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of bytes written, or `None` if anything did not fit.
    pub fn finish(&self) -> Option<usize> {
        (!self.overflow).then_some(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_overflows() {
        let mut buf = [0u8; 64];
        let mut h = Head::new(&mut buf);
        h.status(Status::NotFound)
            .header_num(b"Content-Length", 1234)
            .end();
        let n = h.finish().unwrap();
        assert_eq!(
            &buf[..n],
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 1234\r\n\r\n"
        );
        let mut small = [0u8; 8];
        let mut h = Head::new(&mut small);
        h.status(Status::Ok);
        assert_eq!(h.finish(), None);
        let mut buf = [0u8; 32];
        let mut h = Head::new(&mut buf);
        h.hex(0).put(b"-").hex(0xdead_beef).num(0).num(u64::MAX);
        let n = h.finish().unwrap();
        assert_eq!(&buf[..n], b"0-deadbeef018446744073709551615");
    }
}
