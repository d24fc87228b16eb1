//! Line formatting: Common/Combined Log Format access lines, error-log
//! lines and RFC 3164 syslog headers, written into caller-provided fixed
//! buffers.
//!
//! Contract: nothing here allocates or panics, whatever the input; every
//! line fits in [`MAX_LINE`] bytes (fields are cut to a fixed budget, an
//! escape is never split). Request fields are escaped: bytes outside
//! printable ASCII (0x20..=0x7e), `"` and `\` become `\xHH`, so a client can
//! neither end a line nor end a quoted field early.

use std::fmt;
use std::net::IpAddr;

use fws_api::http::date::format_http_date;
use fws_api::plugin::LogRecord;

/// Longest line, newline included.
pub const MAX_LINE: usize = 4096;

// Output budgets per field (escaped bytes). Their sum plus the fixed parts
// stays below MAX_LINE.
const METHOD_MAX: usize = 64;
const TARGET_MAX: usize = 1600;
const REFERER_MAX: usize = 1000;
const AGENT_MAX: usize = 1000;
const USER_MAX: usize = 260;

/// Access-log flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `%h %l %u %t "%r" %>s %b`
    Common,
    /// Common plus `"%{Referer}i" "%{User-Agent}i"`.
    Combined,
}

/// A cursor over a fixed output buffer. Writes that do not fit are cut.
pub struct Out<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Out<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        Out { buf, len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn room(&self) -> usize {
        self.buf.len().saturating_sub(self.len)
    }

    /// Appends as much of `b` as fits.
    pub fn put(&mut self, b: &[u8]) -> &mut Self {
        let n = b.len().min(self.room());
        if let (Some(dst), Some(src)) = (self.buf.get_mut(self.len..self.len + n), b.get(..n)) {
            dst.copy_from_slice(src);
            self.len += n;
        }
        self
    }

    pub fn byte(&mut self, b: u8) -> &mut Self {
        self.put(&[b])
    }

    /// Appends `n` in decimal.
    pub fn num(&mut self, mut n: u64) -> &mut Self {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            if let Some(d) = tmp.get_mut(i) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        self.put(tmp.get(i..).unwrap_or(&[]))
    }

    /// Appends `src` escaped, using at most `max` output bytes (an escape
    /// sequence is never cut).
    pub fn escaped(&mut self, src: &[u8], max: usize) -> &mut Self {
        let limit = self.len.saturating_add(max.min(self.room()));
        let mut rest = src;
        while let Some(&c) = rest.first() {
            // Copy a run of plain bytes at once.
            let run = rest
                .iter()
                .position(|&c| !is_plain(c))
                .unwrap_or(rest.len());
            if run > 0 {
                let take = run.min(limit.saturating_sub(self.len));
                self.put(rest.get(..take).unwrap_or(&[]));
                if take < run {
                    break;
                }
                rest = rest.get(run..).unwrap_or(&[]);
                continue;
            }
            if self.len + 4 > limit {
                break;
            }
            self.put(&[b'\\', b'x', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
            rest = rest.get(1..).unwrap_or(&[]);
        }
        self
    }

    /// Escaped `src`, or `-` when it is empty.
    fn field(&mut self, src: &[u8], max: usize) -> &mut Self {
        if src.is_empty() {
            self.byte(b'-')
        } else {
            self.escaped(src, max)
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Bytes written as they are; everything else is `\xHH`.
fn is_plain(c: u8) -> bool {
    (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\'
}

/// `fmt::Write` into an [`Out`], escaping control characters (for
/// diagnostics: `"` and `\` stay readable there, a newline does not pass).
pub struct EscWriter<'o, 'a>(pub &'o mut Out<'a>);

impl fmt::Write for EscWriter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &c in s.as_bytes() {
            if c < 0x20 || c == 0x7f {
                self.0
                    .put(&[b'\\', b'x', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
            } else {
                self.0.byte(c);
            }
        }
        if self.0.room() == 0 {
            // Stop formatting what cannot be stored anyway.
            return Err(fmt::Error);
        }
        Ok(())
    }
}

/// Plain `fmt::Write` into an [`Out`] (for addresses).
struct PlainWriter<'o, 'a>(&'o mut Out<'a>);

impl fmt::Write for PlainWriter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.put(s.as_bytes());
        Ok(())
    }
}

/// The parts of a date, from the engine's HTTP-date formatter
/// (`Sun, 06 Nov 1994 08:49:37 GMT`).
struct Parts([u8; 29]);

impl Parts {
    fn new(secs: u64) -> Self {
        let mut d = [0u8; 29];
        format_http_date(secs, &mut d);
        Parts(d)
    }
    fn day(&self) -> [u8; 2] {
        [self.0[5], self.0[6]]
    }
    fn mon(&self) -> [u8; 3] {
        [self.0[8], self.0[9], self.0[10]]
    }
    fn year(&self) -> [u8; 4] {
        [self.0[12], self.0[13], self.0[14], self.0[15]]
    }
    fn time(&self) -> [u8; 8] {
        let mut t = [0u8; 8];
        t.copy_from_slice(&self.0[17..25]);
        t
    }
    fn mon_num(&self) -> [u8; 2] {
        const M: [&[u8; 3]; 12] = [
            b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
            b"Dec",
        ];
        let i = M.iter().position(|m| **m == self.mon()).unwrap_or(0) + 1;
        [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8]
    }
}

/// CLF time without brackets: `10/Oct/2000:13:55:36 +0000` (UTC).
pub fn clf_date(secs: u64) -> [u8; 26] {
    let p = Parts::new(secs);
    let mut o = [0u8; 26];
    let mut w = Out::new(&mut o);
    w.put(&p.day())
        .byte(b'/')
        .put(&p.mon())
        .byte(b'/')
        .put(&p.year())
        .byte(b':')
        .put(&p.time())
        .put(b" +0000");
    o
}

/// ISO 8601 UTC: `2000-10-10T13:55:36Z`.
pub fn iso_date(secs: u64) -> [u8; 20] {
    let p = Parts::new(secs);
    let mut o = [0u8; 20];
    let mut w = Out::new(&mut o);
    w.put(&p.year())
        .byte(b'-')
        .put(&p.mon_num())
        .byte(b'-')
        .put(&p.day())
        .byte(b'T')
        .put(&p.time())
        .byte(b'Z');
    o
}

/// RFC 3164 TIMESTAMP: `Oct 10 13:55:36`, day padded with a space.
pub fn syslog_date(secs: u64) -> [u8; 15] {
    let p = Parts::new(secs);
    let mut day = p.day();
    if day[0] == b'0' {
        day[0] = b' ';
    }
    let mut o = [0u8; 15];
    let mut w = Out::new(&mut o);
    w.put(&p.mon())
        .byte(b' ')
        .put(&day)
        .byte(b' ')
        .put(&p.time());
    o
}

/// A per-worker cache of the formatted CLF date (one format per second).
#[derive(Debug, Clone, Copy)]
pub struct DateCache {
    secs: u64,
    text: [u8; 26],
}

impl Default for DateCache {
    fn default() -> Self {
        DateCache {
            secs: 0,
            text: clf_date(0),
        }
    }
}

impl DateCache {
    pub fn get(&mut self, secs: u64) -> &[u8; 26] {
        if secs != self.secs {
            self.secs = secs;
            self.text = clf_date(secs);
        }
        &self.text
    }
}

/// The request target as logged: the userinfo of an absolute-form target
/// (`http://user:pass@host/`) is left out, so credentials never reach a log.
fn target_parts(t: &[u8]) -> (&[u8], &[u8]) {
    let scheme_end = if t.len() >= 7 && t[..7].eq_ignore_ascii_case(b"http://") {
        7
    } else if t.len() >= 8 && t[..8].eq_ignore_ascii_case(b"https://") {
        8
    } else {
        return (t, &[]);
    };
    let rest = &t[scheme_end..];
    let auth_end = rest
        .iter()
        .position(|&c| c == b'/' || c == b'?' || c == b'#')
        .unwrap_or(rest.len());
    match rest[..auth_end].iter().rposition(|&c| c == b'@') {
        Some(at) => (&t[..scheme_end], &rest[at + 1..]),
        None => (t, &[]),
    }
}

/// Writes one access-log line (newline included) into `buf`; returns its
/// length.
pub fn access_line(buf: &mut [u8], fmt: Format, rec: &LogRecord<'_>, date: &[u8; 26]) -> usize {
    let mut o = Out::new(buf);
    let ip = match rec.conn.peer.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            o.num(a.into())
                .byte(b'.')
                .num(b.into())
                .byte(b'.')
                .num(c.into())
                .byte(b'.')
                .num(d.into());
        }
        IpAddr::V6(_) => {
            let _ = fmt::write(&mut PlainWriter(&mut o), format_args!("{ip}"));
        }
    }
    o.put(b" - ");
    o.field(rec.user.unwrap_or(&[]), USER_MAX);
    o.put(b" [").put(date).put(b"] \"");
    if rec.method.is_empty() {
        o.byte(b'-');
    } else {
        let (a, b) = target_parts(rec.target);
        o.escaped(rec.method, METHOD_MAX).byte(b' ');
        let start = o.len();
        o.escaped(a, TARGET_MAX);
        let used = o.len() - start;
        o.escaped(b, TARGET_MAX.saturating_sub(used));
        o.put(b" HTTP/1.").num(u64::from(rec.minor.min(9)));
    }
    o.put(b"\" ").num(u64::from(rec.status)).byte(b' ');
    if rec.bytes == 0 {
        o.byte(b'-');
    } else {
        o.num(rec.bytes);
    }
    if fmt == Format::Combined {
        o.put(b" \"");
        o.field(rec.referer, REFERER_MAX);
        o.put(b"\" \"");
        o.field(rec.user_agent, AGENT_MAX);
        o.byte(b'"');
    }
    o.byte(b'\n');
    o.len()
}

/// Writes an error-log line: `2000-10-10T13:55:36Z WARN target: message\n`
/// (control characters in the message escaped, cut to fit `buf`).
pub fn error_line(
    buf: &mut [u8],
    secs: u64,
    level: log::Level,
    target: &str,
    args: &fmt::Arguments<'_>,
) -> usize {
    let n = buf.len();
    if n < 2 {
        return 0;
    }
    // Keep the last byte for the newline.
    let mut o = Out::new(&mut buf[..n - 1]);
    o.put(&iso_date(secs))
        .byte(b' ')
        .put(level.as_str().as_bytes())
        .byte(b' ');
    {
        let mut w = EscWriter(&mut o);
        let _ = fmt::Write::write_str(&mut w, target);
    }
    o.put(b": ");
    {
        let mut w = EscWriter(&mut o);
        let _ = fmt::write(&mut w, *args);
    }
    let len = o.len();
    buf[len] = b'\n';
    len + 1
}

/// Writes an RFC 3164 header for a message sent to the local syslog
/// daemon: `<PRI>Mmm dd hh:mm:ss TAG[PID]: ` (no HOSTNAME, as the C
/// library's `syslog()` sends to `/dev/log`).
pub fn syslog_header(o: &mut Out<'_>, facility: u8, severity: u8, secs: u64, pid: u32) {
    let pri = u64::from(facility) * 8 + u64::from(severity & 7);
    o.byte(b'<')
        .num(pri)
        .byte(b'>')
        .put(&syslog_date(secs))
        .put(b" firmware-server[")
        .num(u64::from(pid))
        .put(b"]: ");
}

#[cfg(test)]
mod tests {
    use super::*;
    use fws_api::plugin::ConnInfo;
    use std::net::SocketAddr;

    fn conn(peer: &str) -> ConnInfo {
        ConnInfo {
            peer: peer.parse().unwrap(),
            local: "127.0.0.1:80".parse::<SocketAddr>().unwrap(),
            listener: 0,
            secure: false,
            worker: 0,
        }
    }

    fn rec<'a>(c: &'a ConnInfo) -> LogRecord<'a> {
        LogRecord {
            conn: c,
            method: b"GET",
            target: b"/index.html?a=1",
            minor: 1,
            status: 200,
            bytes: 1234,
            host: b"example",
            referer: b"http://ref.example/",
            user_agent: b"curl/8.0",
            user: None,
            time: 971_186_136,
        }
    }

    fn line(fmt: Format, r: &LogRecord<'_>) -> String {
        let mut buf = [0u8; MAX_LINE];
        let n = access_line(&mut buf, fmt, r, &clf_date(r.time));
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn dates() {
        // The CLF example of the Apache documentation.
        assert_eq!(&clf_date(971_186_136), b"10/Oct/2000:13:55:36 +0000");
        assert_eq!(&clf_date(0), b"01/Jan/1970:00:00:00 +0000");
        assert_eq!(&iso_date(971_186_136), b"2000-10-10T13:55:36Z");
        assert_eq!(&iso_date(951_782_400), b"2000-02-29T00:00:00Z");
        assert_eq!(&syslog_date(971_186_136), b"Oct 10 13:55:36");
        assert_eq!(&syslog_date(784_111_777), b"Nov  6 08:49:37");
        let mut c = DateCache::default();
        assert_eq!(c.get(971_186_136), b"10/Oct/2000:13:55:36 +0000");
        assert_eq!(c.get(971_186_137), b"10/Oct/2000:13:55:37 +0000");
        // Far future: clamped by the engine's formatter, never a panic.
        assert_eq!(&clf_date(u64::MAX), b"31/Dec/9999:23:59:59 +0000");
    }

    #[test]
    fn combined_and_common() {
        let c = conn("192.0.2.7:5555");
        let r = rec(&c);
        assert_eq!(
            line(Format::Combined, &r),
            "192.0.2.7 - - [10/Oct/2000:13:55:36 +0000] \"GET /index.html?a=1 HTTP/1.1\" 200 1234 \
             \"http://ref.example/\" \"curl/8.0\"\n"
        );
        assert_eq!(
            line(Format::Common, &r),
            "192.0.2.7 - - [10/Oct/2000:13:55:36 +0000] \"GET /index.html?a=1 HTTP/1.1\" 200 1234\n"
        );
    }

    #[test]
    fn table() {
        let v4 = conn("10.0.0.1:1");
        let v6 = conn("[2001:db8::1]:1");
        let mapped = conn("[::ffff:10.1.2.3]:1");
        type Edit = fn(&mut LogRecord<'_>);
        let cases: &[(&ConnInfo, Edit, &str)] = &[
            (&v6, |_| {}, "2001:db8::1 - - "),
            (&mapped, |_| {}, "10.1.2.3 - - "),
            (&v4, |r| r.user = Some(b"alice"), "10.0.0.1 - alice ["),
            (&v4, |r| r.user = Some(b""), "10.0.0.1 - - ["),
            (&v4, |r| r.user = Some(b"a b\"c"), "10.0.0.1 - a b\\x22c ["),
            (&v4, |r| r.bytes = 0, "\" 200 - \""),
            (&v4, |r| r.minor = 0, " HTTP/1.0\" "),
            (&v4, |r| { r.method = b""; r.target = b""; r.status = 400 }, " \"-\" 400 1234 "),
            (&v4, |r| { r.referer = b""; r.user_agent = b"" }, " 1234 \"-\" \"-\"\n"),
            (&v4, |r| r.status = 404, "\" 404 1234"),
            // Escaping: quotes, backslashes, controls, DEL, high bytes.
            (&v4, |r| r.user_agent = b"a\"b\\c\x1b[31m\x7f\xc3\xa9\t", "\"a\\x22b\\x5Cc\\x1B[31m\\x7F\\xC3\\xA9\\x09\"\n"),
            (&v4, |r| r.target = b"/x\"y\\z", "\"GET /x\\x22y\\x5Cz HTTP/1.1\""),
            // A forged line stays inside its field.
            (
                &v4,
                |r| r.user_agent = b"x\"\n127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \"GET /fake HTTP/1.1\" 200 1",
                "\"x\\x22\\x0A127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \\x22GET /fake HTTP/1.1\\x22 200 1\"\n",
            ),
            // Credentials in an absolute-form target are left out.
            (&v4, |r| r.target = b"http://user:secret@host.example/p?q", "\"GET http://host.example/p?q HTTP/1.1\""),
            (&v4, |r| r.target = b"HTTPS://u@h/a@b", "\"GET HTTPS://h/a@b HTTP/1.1\""),
            (&v4, |r| r.target = b"/a@b", "\"GET /a@b HTTP/1.1\""),
            (&v4, |r| r.bytes = u64::MAX, " 18446744073709551615 "),
        ];
        for (i, (c, edit, want)) in cases.iter().enumerate() {
            let mut r = rec(c);
            edit(&mut r);
            let got = line(Format::Combined, &r);
            assert!(got.contains(want), "case {i}: {got:?} lacks {want:?}");
            assert_eq!(got.matches('\n').count(), 1, "case {i}: {got:?}");
            assert!(got.ends_with('\n'));
            // Exactly the quotes of the format are left unescaped.
            assert_eq!(got.matches('"').count(), 6, "case {i}: {got:?}");
        }
    }

    #[test]
    fn huge_fields_fit_and_escapes_are_not_cut() {
        let c = conn("10.0.0.1:1");
        let big = vec![0x01u8; 100_000];
        let mut r = rec(&c);
        r.target = &big;
        r.referer = &big;
        r.user_agent = &big;
        r.user = Some(&big);
        r.method = &big;
        let got = line(Format::Combined, &r);
        assert!(got.len() < MAX_LINE);
        assert!(got.ends_with("\"\n"));
        assert_eq!(got.matches('"').count(), 6);
        // Every escape is complete.
        for part in got.split("\\x").skip(1) {
            assert!(
                part.len() >= 2 && part.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit),
                "{part:?}"
            );
        }
        // A buffer that is too small cuts, never panics.
        let mut tiny = [0u8; 10];
        let n = access_line(&mut tiny, Format::Combined, &r, &clf_date(0));
        assert_eq!(n, 10);
    }

    #[test]
    fn error_lines() {
        let mut buf = [0u8; 200];
        let n = error_line(
            &mut buf,
            971_186_136,
            log::Level::Warn,
            "firmware_server::worker",
            &format_args!("bad {}\nline\x1b \"q\"", 42),
        );
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            "2000-10-10T13:55:36Z WARN firmware_server::worker: bad 42\\x0Aline\\x1B \"q\"\n"
        );
        let mut small = [0u8; 30];
        let n = error_line(
            &mut small,
            0,
            log::Level::Error,
            "t",
            &format_args!("{}", "x".repeat(100)),
        );
        assert_eq!(n, 30);
        assert_eq!(small[29], b'\n');
        assert_eq!(
            error_line(&mut [0u8; 1], 0, log::Level::Error, "t", &format_args!("x")),
            0
        );
    }

    #[test]
    fn syslog_headers() {
        let mut buf = [0u8; 100];
        let mut o = Out::new(&mut buf);
        syslog_header(&mut o, 16, 6, 784_111_777, 42);
        assert_eq!(o.as_bytes(), b"<134>Nov  6 08:49:37 firmware-server[42]: ");
        let mut o = Out::new(&mut buf);
        syslog_header(&mut o, 3, 3, 971_186_136, 1);
        assert_eq!(o.as_bytes(), b"<27>Oct 10 13:55:36 firmware-server[1]: ");
    }

    #[test]
    fn numbers() {
        let mut buf = [0u8; 40];
        let mut o = Out::new(&mut buf);
        o.num(0).byte(b' ').num(7).byte(b' ').num(1_000_000);
        assert_eq!(o.as_bytes(), b"0 7 1000000");
    }
}
