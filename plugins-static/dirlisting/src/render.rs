//! The listing as HTML or JSON, rendered piece by piece.
//!
//! A body is a sequence of pieces: piece 0 is the top (up to the first
//! row), pieces `1..=n` are the `n` entries, piece `n + 1` is the bottom.
//! Rendering is deterministic, so the length can be computed in one pass
//! and the bytes produced in a second one with only one piece in memory.
//!
//! Names: HTML text is escaped (`& < > " '`), link targets are
//! percent-encoded byte by byte (everything but `A-Z a-z 0-9 - . _ ~`, so a
//! name like `a:b` cannot become a URL scheme). Bytes that are not valid
//! UTF-8 and control characters are shown as U+FFFD in HTML text and JSON
//! strings (the link still carries the raw bytes percent-encoded).

use std::io::Write;

use crate::scan::{Entry, Kind};
use fws_api::http::request::trim;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
}

impl Format {
    pub fn content_type(self) -> &'static [u8] {
        match self {
            Format::Html => b"text/html; charset=utf-8",
            Format::Json => b"application/json",
        }
    }
}

/// What a listing shows.
pub struct Page<'a> {
    /// The directory's URL path, decoded, with leading and trailing `/`.
    pub path: &'a [u8],
    pub entries: &'a [Entry],
    pub truncated: bool,
    pub max_entries: usize,
}

impl Page<'_> {
    /// Number of pieces (top, entries, bottom).
    pub fn pieces(&self) -> usize {
        self.entries.len() + 2
    }

    /// Appends piece `i` to `out`.
    pub fn piece(&self, f: Format, i: usize, out: &mut Vec<u8>) {
        let n = self.entries.len();
        match (f, i) {
            (Format::Html, 0) => self.html_top(out),
            (Format::Json, 0) => self.json_top(out),
            (Format::Html, i) if i <= n => html_row(&self.entries[i - 1], out),
            (Format::Json, i) if i <= n => json_row(&self.entries[i - 1], i == 1, out),
            (Format::Html, _) => self.html_bottom(out),
            (Format::Json, _) => out.extend_from_slice(b"\n]}\n"),
        }
    }

    /// Total body length in bytes, using `scratch` for one piece at a time.
    pub fn body_len(&self, f: Format, scratch: &mut Vec<u8>) -> u64 {
        (0..self.pieces())
            .map(|i| {
                scratch.clear();
                self.piece(f, i, scratch);
                scratch.len() as u64
            })
            .sum()
    }

    fn html_top(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            b"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
              <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
              <meta name=\"color-scheme\" content=\"light dark\">\n<title>Index of ",
        );
        html_text(self.path, out);
        out.extend_from_slice(b"</title>\n<style>\n");
        out.extend_from_slice(CSS.as_bytes());
        out.extend_from_slice(b"</style>\n</head>\n<body>\n<main>\n<h1>Index of ");
        html_text(self.path, out);
        out.extend_from_slice(b"</h1>\n");
        if self.truncated {
            let _ = writeln!(
                out,
                "<p class=\"warn\" id=\"truncated\">This listing is truncated: \
                 only the first {} entries read are shown.</p>",
                self.max_entries
            );
        }
        out.extend_from_slice(
            b"<table>\n<thead><tr><th class=\"n\">Name</th><th class=\"s\">Size</th>\
              <th class=\"m\">Modified (UTC)</th></tr></thead>\n<tbody>\n",
        );
        if self.path != b"/" {
            out.extend_from_slice(
                b"<tr class=\"up\"><td class=\"n\"><a class=\"d\" href=\"../\" \
                  title=\"Parent directory\">../</a></td><td class=\"s\"></td>\
                  <td class=\"m\"></td></tr>\n",
            );
        }
    }

    fn html_bottom(&self, out: &mut Vec<u8>) {
        if self.entries.is_empty() {
            out.extend_from_slice(
                b"<tr class=\"empty\"><td colspan=\"3\">This directory is empty.</td></tr>\n",
            );
        }
        let count = |k: Kind| self.entries.iter().filter(|e| e.kind == k).count();
        let (dirs, files, others) = (count(Kind::Dir), count(Kind::File), count(Kind::Other));
        let _ = write!(
            out,
            "</tbody>\n</table>\n<footer>{dirs} director{}, {files} file{}",
            if dirs == 1 { "y" } else { "ies" },
            if files == 1 { "" } else { "s" },
        );
        if others > 0 {
            let _ = write!(out, ", {others} other");
        }
        let _ = write!(
            out,
            "{} &middot; firmware-server</footer>\n</main>\n</body>\n</html>\n",
            if self.truncated { " (truncated)" } else { "" },
        );
    }

    fn json_top(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"path\": ");
        json_str(self.path, out);
        let _ = write!(out, ", \"truncated\": {}, \"entries\": [", self.truncated);
    }
}

const CSS: &str = ":root{--fg:#1f2328;--mu:#656d76;--bg:#fff;--ln:#d8dee4;--hd:#f6f8fa;--a:#0969da;--hv:#f3f6fa;--wb:#fff8c5;--wl:#d4a72c}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--mu:#8d96a0;--bg:#0d1117;--ln:#30363d;--hd:#161b22;--a:#4493f8;--hv:#161b22;--wb:#3b2e00;--wl:#9e6a03}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif}
main{max-width:960px;margin:0 auto;padding:24px 16px}
h1{font-size:22px;font-weight:600;margin:0 0 16px;overflow-wrap:anywhere}
table{width:100%;border-collapse:separate;border-spacing:0;border:1px solid var(--ln);border-radius:6px;overflow:hidden}
th,td{padding:7px 12px;text-align:left;border-top:1px solid var(--ln)}
thead th{background:var(--hd);border-top:0;font-size:13px;font-weight:600;color:var(--mu)}
tbody tr:hover{background:var(--hv)}
td.n{overflow-wrap:anywhere}
.s{text-align:right;white-space:nowrap;width:7em}
.m{white-space:nowrap;width:11em;color:var(--mu);font-variant-numeric:tabular-nums}
a{color:var(--a);text-decoration:none}
a:hover{text-decoration:underline}
td.n a::before,td.n span::before{content:\"\";display:inline-block;width:13px;height:10px;margin-right:8px;border:1.5px solid currentColor;border-radius:2px;opacity:.6}
td.n a.d::before{background:currentColor;border-top-right-radius:5px}
.o{color:var(--mu)}
tr.up a::before{display:none}
tr.empty td{color:var(--mu);font-style:italic}
.warn{background:var(--wb);border:1px solid var(--wl);border-radius:6px;padding:8px 12px;margin:0 0 16px}
footer{margin-top:12px;font-size:13px;color:var(--mu)}
@media (max-width:600px){main{padding:16px 8px}.m{display:none}th,td{padding:7px 8px}}
";

fn html_row(e: &Entry, out: &mut Vec<u8>) {
    out.extend_from_slice(b"<tr><td class=\"n\">");
    match e.kind {
        Kind::Dir | Kind::File => {
            out.extend_from_slice(if e.kind == Kind::Dir {
                b"<a class=\"d\" href=\""
            } else {
                b"<a href=\""
            });
            percent_encode(&e.name, out);
            if e.kind == Kind::Dir {
                out.push(b'/');
            }
            out.extend_from_slice(b"\">");
            html_text(&e.name, out);
            if e.kind == Kind::Dir {
                out.push(b'/');
            }
            out.extend_from_slice(b"</a>");
        }
        Kind::Other => {
            out.extend_from_slice(b"<span class=\"o\">");
            html_text(&e.name, out);
            out.extend_from_slice(b"</span>");
        }
    }
    out.extend_from_slice(b"</td><td class=\"s\"");
    if e.kind == Kind::File {
        let _ = write!(out, " title=\"{} bytes\">", e.size);
        human_size(e.size, out);
    } else {
        out.extend_from_slice(">\u{2014}".as_bytes());
    }
    out.extend_from_slice(b"</td><td class=\"m\"><time datetime=\"");
    let (y, mo, d, h, mi, s) = civil(e.mtime);
    let _ = writeln!(
        out,
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z\">{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}</time></td></tr>"
    );
}

fn json_row(e: &Entry, first: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(if first {
        b"\n{\"name\": "
    } else {
        b",\n{\"name\": "
    });
    json_str(&e.name, out);
    let t = match e.kind {
        Kind::Dir => "dir",
        Kind::File => "file",
        Kind::Other => "other",
    };
    let _ = write!(
        out,
        ", \"type\": \"{t}\", \"size\": {}, \"mtime\": {}}}",
        e.size, e.mtime
    );
}

/// Valid UTF-8 pieces of `b`, with U+FFFD for each invalid sequence.
fn for_each_char(b: &[u8], mut f: impl FnMut(char)) {
    for chunk in b.utf8_chunks() {
        chunk.valid().chars().for_each(&mut f);
        if !chunk.invalid().is_empty() {
            f('\u{FFFD}');
        }
    }
}

/// HTML text and attribute values (double- or single-quoted) alike.
pub fn html_text(b: &[u8], out: &mut Vec<u8>) {
    for_each_char(b, |c| match c {
        '&' => out.extend_from_slice(b"&amp;"),
        '<' => out.extend_from_slice(b"&lt;"),
        '>' => out.extend_from_slice(b"&gt;"),
        '"' => out.extend_from_slice(b"&quot;"),
        '\'' => out.extend_from_slice(b"&#39;"),
        c if c.is_control() => out.extend_from_slice("\u{FFFD}".as_bytes()),
        c => {
            let mut tmp = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
        }
    });
}

/// A JSON string literal (RFC 8259), quotes included.
pub fn json_str(b: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for_each_char(b, |c| match c {
        '"' => out.extend_from_slice(b"\\\""),
        '\\' => out.extend_from_slice(b"\\\\"),
        '\n' => out.extend_from_slice(b"\\n"),
        '\r' => out.extend_from_slice(b"\\r"),
        '\t' => out.extend_from_slice(b"\\t"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let mut tmp = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
        }
    });
    out.push(b'"');
}

/// Percent-encodes every byte except RFC 3986 unreserved characters.
pub fn percent_encode(b: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in b {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            out.push(c);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]);
        }
    }
}

/// `512 B`, `1.5 KiB`, `12.0 MiB` ... (one decimal, rounded half up).
pub fn human_size(n: u64, out: &mut Vec<u8>) {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        let _ = write!(out, "{n} B");
        return;
    }
    // Tenths of a unit without overflow: whole units, then the remainder
    // (rem < unit <= 2^60, so rem * 10 fits in u64).
    let mut unit: u64 = 1024;
    for (i, name) in UNITS.iter().enumerate() {
        let tenths = n / unit * 10 + (n % unit * 10 + unit / 2) / unit;
        if tenths < 10240 || i == UNITS.len() - 1 {
            let _ = write!(out, "{}.{} {name}", tenths / 10, tenths % 10);
            return;
        }
        unit <<= 10;
    }
}

/// (year, month, day, hour, minute, second).
pub type Civil = (i64, u32, u32, u32, u32, u32);

/// UTC calendar time of a Unix timestamp.
pub fn civil(t: i64) -> Civil {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Days to civil date (proleptic Gregorian), after H. Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (secs / 3600) as u32,
        (secs % 3600 / 60) as u32,
        (secs % 60) as u32,
    )
}

/// Whether the `Accept` field values ask for JSON rather than HTML: the
/// quality of `application/json` must be positive and higher than that of
/// `text/html`; on a tie the type listed first wins. Wildcards count for
/// neither, so a browser (`text/html,...,*/*;q=0.8`) gets HTML.
pub fn wants_json<'a>(accept: impl Iterator<Item = &'a [u8]>) -> bool {
    // (quality in thousandths, position)
    let mut json: Option<(u16, usize)> = None;
    let mut html: Option<(u16, usize)> = None;
    let mut pos = 0usize;
    for value in accept {
        for range in value.split(|&b| b == b',') {
            pos += 1;
            let mut parts = range.split(|&b| b == b';');
            let ty = trim(parts.next().unwrap_or(&[]));
            let mut q = 1000u16;
            for p in parts {
                let p = trim(p);
                if let Some(v) = p.strip_prefix(b"q=").or_else(|| p.strip_prefix(b"Q=")) {
                    q = parse_q(v).unwrap_or(0);
                }
            }
            let slot = if ty.eq_ignore_ascii_case(b"application/json") {
                &mut json
            } else if ty.eq_ignore_ascii_case(b"text/html") {
                &mut html
            } else {
                continue;
            };
            // The first mention of a type counts.
            if slot.is_none() {
                *slot = Some((q, pos));
            }
        }
    }
    match (json, html) {
        (Some((0, _)), _) => false,
        (Some(_), None) => true,
        (Some((jq, jp)), Some((hq, hp))) => jq > hq || (jq == hq && jp < hp),
        (None, _) => false,
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in
/// thousandths.
fn parse_q(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut f = 0u16;
    for i in 0..3 {
        f = f * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match int {
        b"0" => Some(f),
        b"1" if f == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escaping() {
        let cases: &[(&[u8], &str, &str, &str)] = &[
            (b"plain.txt", "plain.txt", "plain.txt", "\"plain.txt\""),
            (
                b"<b>&\"x'.txt",
                "&lt;b&gt;&amp;&quot;x&#39;.txt",
                "%3Cb%3E%26%22x%27.txt",
                "\"<b>&\\\"x'.txt\"",
            ),
            (
                b"a b#?%.txt",
                "a b#?%.txt",
                "a%20b%23%3F%25.txt",
                "\"a b#?%.txt\"",
            ),
            (b"a:b", "a:b", "a%3Ab", "\"a:b\""),
            ("é€".as_bytes(), "é€", "%C3%A9%E2%82%AC", "\"é€\""),
            (
                b"bad\xff\xfe.txt",
                "bad\u{FFFD}\u{FFFD}.txt",
                "bad%FF%FE.txt",
                "\"bad\u{FFFD}\u{FFFD}.txt\"",
            ),
            (
                b"nl\n\t\x01\x7f\\",
                "nl\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\\",
                "nl%0A%09%01%7F%5C",
                "\"nl\\n\\t\\u0001\\u007f\\\\\"",
            ),
            (b"", "", "", "\"\""),
        ];
        for &(raw, html, pct, json) in cases {
            assert_eq!(s(|o| html_text(raw, o)), html, "{raw:?}");
            assert_eq!(s(|o| percent_encode(raw, o)), pct, "{raw:?}");
            assert_eq!(s(|o| json_str(raw, o)), json, "{raw:?}");
        }
    }

    #[test]
    fn sizes() {
        let cases: &[(u64, &str)] = &[
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (10 * 1024 - 1, "10.0 KiB"),
            (1024 * 1024 - 1, "1.0 MiB"),
            (5 * 1024 * 1024 + 300 * 1024, "5.3 MiB"),
            (1 << 40, "1.0 TiB"),
            (u64::MAX, "16.0 EiB"),
        ];
        for &(n, want) in cases {
            assert_eq!(s(|o| human_size(n, o)), want, "{n}");
        }
    }

    #[test]
    fn dates() {
        let cases: &[(i64, Civil)] = &[
            (0, (1970, 1, 1, 0, 0, 0)),
            (784_111_777, (1994, 11, 6, 8, 49, 37)),
            (951_782_400, (2000, 2, 29, 0, 0, 0)),
            (1_795_462_033, (2026, 11, 23, 19, 27, 13)),
            (-1, (1969, 12, 31, 23, 59, 59)),
            (253_402_300_799, (9999, 12, 31, 23, 59, 59)),
        ];
        for &(t, want) in cases {
            assert_eq!(civil(t), want, "{t}");
        }
        // Extremes do not panic.
        let _ = civil(i64::MIN);
        let _ = civil(i64::MAX);
    }

    #[test]
    fn accept() {
        let cases: &[(&[&str], bool)] = &[
            (&[], false),
            (&["application/json"], true),
            (&["Application/JSON"], true),
            (&["application/json;q=0"], false),
            (&["application/json, text/html"], true),
            (&["text/html, application/json"], false),
            (&["text/html;q=0.5, application/json"], true),
            (&["text/html, application/json;q=0.9"], false),
            (
                &["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
                false,
            ),
            (&["*/*"], false),
            (&["application/json, */*"], true),
            (&["text/plain", "application/json;q=0.5"], true),
            (&["application/json;q=1.5"], false),
            (&["application/json;q=abc"], false),
            (&["application/json ; charset=utf-8 ; q=0.001"], true),
            (&["text/html;q=0", "application/json;q=0.001"], true),
            (&[",,,;;;=q"], false),
        ];
        for &(vals, want) in cases {
            let it = vals.iter().map(|v| v.as_bytes());
            assert_eq!(wants_json(it), want, "{vals:?}");
        }
    }

    fn entry(name: &[u8], kind: Kind, size: u64) -> Entry {
        Entry {
            name: name.into(),
            kind,
            size,
            mtime: 1_795_462_033,
        }
    }

    fn full(p: &Page<'_>, f: Format) -> String {
        let mut v = Vec::new();
        for i in 0..p.pieces() {
            p.piece(f, i, &mut v);
        }
        let mut scratch = Vec::new();
        assert_eq!(p.body_len(f, &mut scratch), v.len() as u64);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn json_page() {
        let entries = [
            entry(b"d\"ir", Kind::Dir, 0),
            entry(b"f\xff", Kind::File, 42),
            entry(b"x", Kind::Other, 0),
        ];
        let p = Page {
            path: b"/pub/a\"b/",
            entries: &entries,
            truncated: true,
            max_entries: 3,
        };
        assert_eq!(
            full(&p, Format::Json),
            "{\"path\": \"/pub/a\\\"b/\", \"truncated\": true, \"entries\": [\n\
             {\"name\": \"d\\\"ir\", \"type\": \"dir\", \"size\": 0, \"mtime\": 1795462033},\n\
             {\"name\": \"f\u{FFFD}\", \"type\": \"file\", \"size\": 42, \"mtime\": 1795462033},\n\
             {\"name\": \"x\", \"type\": \"other\", \"size\": 0, \"mtime\": 1795462033}\n]}\n"
        );
        let empty = Page {
            path: b"/",
            entries: &[],
            truncated: false,
            max_entries: 3,
        };
        assert_eq!(
            full(&empty, Format::Json),
            "{\"path\": \"/\", \"truncated\": false, \"entries\": [\n]}\n"
        );
    }

    #[test]
    fn html_page() {
        let entries = [
            entry(b"sub", Kind::Dir, 0),
            entry(b"<b>&\"x'.txt", Kind::File, 2048),
            entry(b"out", Kind::Other, 0),
        ];
        let p = Page {
            path: b"/a/<i>/",
            entries: &entries,
            truncated: false,
            max_entries: 10,
        };
        let h = full(&p, Format::Html);
        assert!(h.starts_with("<!DOCTYPE html>\n"));
        assert!(h.contains("<title>Index of /a/&lt;i&gt;/</title>"));
        assert!(h.contains("<h1>Index of /a/&lt;i&gt;/</h1>"));
        assert!(h.contains("href=\"../\""));
        assert!(!h.contains("truncated"));
        assert!(!h.contains("<script"));
        assert!(h.contains(
            "<a class=\"d\" href=\"sub/\">sub/</a></td><td class=\"s\">\u{2014}</td>\
             <td class=\"m\"><time datetime=\"2026-11-23T19:27:13Z\">2026-11-23 19:27</time>"
        ));
        assert!(h.contains(
            "<a href=\"%3Cb%3E%26%22x%27.txt\">&lt;b&gt;&amp;&quot;x&#39;.txt</a></td>\
             <td class=\"s\" title=\"2048 bytes\">2.0 KiB</td>"
        ));
        assert!(h.contains("<span class=\"o\">out</span>"));
        assert!(
            h.contains("<footer>1 directory, 1 file, 1 other &middot; firmware-server</footer>")
        );
        assert!(h.ends_with("</html>\n"));
        // Row order follows the entries.
        let a = h.find("sub/").unwrap();
        let b = h.find("%3Cb").unwrap();
        assert!(a < b);

        let root = Page {
            path: b"/",
            entries: &[],
            truncated: true,
            max_entries: 1000,
        };
        let h = full(&root, Format::Html);
        assert!(!h.contains("href=\"../\""));
        assert!(h.contains("id=\"truncated\""));
        assert!(h.contains("first 1000 entries"));
        assert!(h.contains("This directory is empty."));
        assert!(h.contains("0 directories, 0 files (truncated)"));
    }
}
