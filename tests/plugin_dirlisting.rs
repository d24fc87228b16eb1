//! Black-box tests of the dirlisting plugin, through the real binary (built
//! with the `dirlisting` feature): which directories are listed, order,
//! escaping, hidden files, the JSON variant, truncation, HEAD, redirects,
//! virtual hosts, symlinks, config errors, and a headless Chromium render
//! (Debian package `chromium`; the test fails when it is missing).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use blackbox::*;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const ESCAPED: &str = "<b>&\"x'.txt";
const SPACED: &str = "a b#?%.txt";

/// Directories first, then names (ASCII case-insensitive) — what /pub/
/// must list, as (link, text).
const PUB_ORDER: &[&str] = &[
    "Alpha/",
    "beta/",
    "withindex/",
    "zeta/",
    ESCAPED,
    SPACED,
    "A.txt",
    "b.txt",
    "c.bin",
];

/// A docroot with `pub/` (listed) and `private/` (not).
fn listing_site() -> Site {
    let s = Site::new();
    s.mkdir("pub/zeta")
        .mkdir("pub/Alpha")
        .file("pub/beta/inner.txt", "inner")
        .file("pub/withindex/index.html", "INDEX-PAGE")
        .file("pub/b.txt", "bbb")
        .file("pub/A.txt", "a")
        .file("pub/c.bin", vec![7u8; 1500])
        .file(&format!("pub/{ESCAPED}"), "escaped-content")
        .file(&format!("pub/{SPACED}"), "spaced-content")
        .file("pub/.hidden", "hidden")
        .file("pub/.git/config", "[core]")
        .file("private/p.txt", "p");
    s
}

fn cfg_pub() -> &'static str {
    "[[dirlisting]]\nprefix = \"/pub/\"\n"
}

fn get_json(srv: &Server, path: &str) -> Response {
    srv.get_with(path, &[("Accept", "application/json")])
}

/// `href` values of the links inside the table body, in order.
fn body_links(html: &str) -> Vec<String> {
    let start = html.find("<tbody>").expect("no <tbody>");
    let end = html[start..].find("</tbody>").expect("no </tbody>") + start;
    let mut out = Vec::new();
    let mut rest = &html[start..end];
    while let Some(i) = rest.find("href=\"") {
        rest = &rest[i + 6..];
        let j = rest.find('"').expect("unterminated href");
        out.push(rest[..j].to_string());
        rest = &rest[j..];
    }
    out
}

/// Undoes the HTML escapes the listing uses.
fn unescape_html(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Text of the links inside the table body, in order (unescaped).
fn body_link_texts(html: &str) -> Vec<String> {
    let start = html.find("<tbody>").expect("no <tbody>");
    let end = html[start..].find("</tbody>").expect("no </tbody>") + start;
    let mut out = Vec::new();
    let mut rest = &html[start..end];
    while let Some(i) = rest.find("<a ") {
        rest = &rest[i..];
        let gt = rest.find('>').unwrap();
        let close = rest.find("</a>").unwrap();
        out.push(unescape_html(&rest[gt + 1..close]));
        rest = &rest[close..];
    }
    out
}

fn rows(html: &str) -> usize {
    html.matches("<tr><td class=\"n\">").count()
}

// A minimal, strict JSON parser (std only): enough to prove the listing is
// valid JSON and to read it back.

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(m) => m
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no key {key:?} in {self:?}")),
            _ => panic!("not an object: {self:?}"),
        }
    }
    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            _ => panic!("not a string: {self:?}"),
        }
    }
    fn num(&self) -> f64 {
        match self {
            Json::Num(n) => *n,
            _ => panic!("not a number: {self:?}"),
        }
    }
    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            _ => panic!("not an array: {self:?}"),
        }
    }
}

struct JsonParser<'a> {
    b: &'a [u8],
    i: usize,
}

fn parse_json(text: &[u8]) -> Result<Json, String> {
    let mut p = JsonParser { b: text, i: 0 };
    let v = p.value()?;
    p.ws();
    if p.i != p.b.len() {
        return Err(format!("trailing bytes at {}", p.i));
    }
    Ok(v)
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }
    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }
    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("expected {what} at byte {}", self.i))
    }
    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.b.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut m = Vec::new();
                self.ws();
                if self.eat(b"}") {
                    return Ok(Json::Obj(m));
                }
                loop {
                    self.ws();
                    let k = match self.value()? {
                        Json::Str(s) => s,
                        _ => return self.err("a string key"),
                    };
                    self.ws();
                    if !self.eat(b":") {
                        return self.err("':'");
                    }
                    let v = self.value()?;
                    m.push((k, v));
                    self.ws();
                    if self.eat(b",") {
                        continue;
                    }
                    if self.eat(b"}") {
                        return Ok(Json::Obj(m));
                    }
                    return self.err("',' or '}'");
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.eat(b"]") {
                    return Ok(Json::Arr(a));
                }
                loop {
                    a.push(self.value()?);
                    self.ws();
                    if self.eat(b",") {
                        continue;
                    }
                    if self.eat(b"]") {
                        return Ok(Json::Arr(a));
                    }
                    return self.err("',' or ']'");
                }
            }
            Some(b'"') => {
                self.i += 1;
                let mut s = Vec::new();
                loop {
                    match self.b.get(self.i) {
                        None => return self.err("closing quote"),
                        Some(b'"') => {
                            self.i += 1;
                            return String::from_utf8(s)
                                .map(Json::Str)
                                .map_err(|_| "invalid UTF-8 in string".to_string());
                        }
                        Some(b'\\') => {
                            let c = *self.b.get(self.i + 1).ok_or("bad escape")?;
                            self.i += 2;
                            match c {
                                b'"' => s.push(b'"'),
                                b'\\' => s.push(b'\\'),
                                b'/' => s.push(b'/'),
                                b'b' => s.push(8),
                                b'f' => s.push(12),
                                b'n' => s.push(b'\n'),
                                b'r' => s.push(b'\r'),
                                b't' => s.push(b'\t'),
                                b'u' => {
                                    let hex = self.b.get(self.i..self.i + 4).ok_or("short \\u")?;
                                    let n =
                                        u32::from_str_radix(std::str::from_utf8(hex).unwrap(), 16)
                                            .map_err(|_| "bad \\u")?;
                                    self.i += 4;
                                    let c = char::from_u32(n).ok_or("surrogate \\u")?;
                                    s.extend_from_slice(c.to_string().as_bytes());
                                }
                                _ => return self.err("a valid escape"),
                            }
                        }
                        Some(&c) if c < 0x20 => return self.err("no raw control character"),
                        Some(&c) => {
                            s.push(c);
                            self.i += 1;
                        }
                    }
                }
            }
            Some(b't') if self.eat(b"true") => Ok(Json::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Json::Bool(false)),
            Some(b'n') if self.eat(b"null") => Ok(Json::Null),
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let st = self.i;
                self.i += 1;
                while matches!(self.b.get(self.i), Some(c) if c.is_ascii_digit() || b".eE+-".contains(c))
                {
                    self.i += 1;
                }
                std::str::from_utf8(&self.b[st..self.i])
                    .unwrap()
                    .parse()
                    .map(Json::Num)
                    .map_err(|_| format!("bad number at {st}"))
            }
            _ => self.err("a value"),
        }
    }
}

/// (name, type, size, mtime) of each entry, plus path and truncated.
type Listing = (String, bool, Vec<(String, String, u64, i64)>);

fn read_listing(r: &Response) -> Listing {
    let v = parse_json(&r.body).unwrap_or_else(|e| panic!("invalid JSON ({e}):\n{}", r.body_str()));
    let truncated = match v.get("truncated") {
        Json::Bool(b) => *b,
        other => panic!("truncated is not a bool: {other:?}"),
    };
    let entries = v
        .get("entries")
        .arr()
        .iter()
        .map(|e| {
            (
                e.get("name").str().to_string(),
                e.get("type").str().to_string(),
                e.get("size").num() as u64,
                e.get("mtime").num() as i64,
            )
        })
        .collect();
    (v.get("path").str().to_string(), truncated, entries)
}

#[test]
fn json_parser_self_check() {
    assert!(parse_json(b"{\"a\": [1, -2.5e3, true, null, \"x\\u00e9\\n\"]}").is_ok());
    for bad in [
        &b"{"[..],
        b"[1,]",
        b"{\"a\" 1}",
        b"\"\x01\"",
        b"[1] x",
        b"{'a': 1}",
        b"\"\\x\"",
    ] {
        assert!(
            parse_json(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

// ---------------------------------------------------------------------------
// Which directories are listed
// ---------------------------------------------------------------------------

#[test]
fn listing_disabled_without_config() {
    let s = listing_site();
    let srv = s.start();
    srv.get("/pub/").assert_status(403);
    srv.get("/").assert_status(403);
    get_json(&srv, "/pub/").assert_status(403);
}

#[test]
fn listing_only_below_prefix() {
    let s = listing_site();
    s.mkdir("public");
    let srv = s.start_with_config(&format!(
        "{}[[dirlisting]]\nprefix = \"/pub/zeta\"\nenabled = false\n",
        cfg_pub()
    ));
    for (path, want) in [
        ("/pub/", 200),
        ("/pub/beta/", 200),
        ("/pub/Alpha/", 200),
        ("/pub/zeta/", 403), // the more specific rule turns it off
        ("/", 403),
        ("/private/", 403),
        ("/public/", 403), // "/pub/" is a path prefix, not a string prefix
        ("/pub/../private/", 403),
    ] {
        let r = srv.get(path);
        assert_eq!(r.status, want, "{path}: {r:?}");
    }
    // An index file still wins over a listing.
    srv.get("/pub/withindex/").assert_body(200, "INDEX-PAGE");
    // Files below the prefix are served as usual.
    srv.get("/pub/b.txt").assert_body(200, "bbb");
}

#[test]
fn listing_everywhere_with_root_prefix() {
    let s = listing_site();
    let srv = s.start_with_config("[[dirlisting]]\n");
    let r = srv.get("/");
    r.assert_status(200);
    let html = r.body_str();
    assert!(html.contains("<h1>Index of /</h1>"), "{html}");
    // No parent link at the root.
    assert!(!html.contains("href=\"../\""), "{html}");
    assert_eq!(body_links(&html), ["private/", "pub/"]);
    srv.get("/private/").assert_status(200);
}

// ---------------------------------------------------------------------------
// What a listing shows
// ---------------------------------------------------------------------------

#[test]
fn html_listing_order_and_shape() {
    let s = listing_site();
    let srv = s.start_with_config(cfg_pub());
    let r = srv.get("/pub/");
    r.assert_status(200);
    assert_eq!(r.media_type().as_deref(), Some("text/html"), "{r:?}");
    assert_eq!(r.header("Cache-Control"), Some("no-cache"));
    assert!(
        r.header("Vary").is_some_and(|v| v.contains("Accept")),
        "{r:?}"
    );
    assert_eq!(r.content_length(), Some(r.body.len() as u64));
    let html = r.body_str();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("<title>Index of /pub/</title>"));
    assert!(html.contains("<h1>Index of /pub/</h1>"));
    assert!(html.contains("<style>"), "inline CSS");
    assert!(html.contains("name=\"viewport\""), "responsive");
    assert!(
        !html.to_ascii_lowercase().contains("<script"),
        "no JavaScript"
    );
    assert!(html.contains("<footer>"), "footer");
    assert!(html.contains("4 directories, 5 files"), "{html}");
    let texts = body_link_texts(&html);
    assert_eq!(texts[0], "../", "parent link first: {texts:?}");
    assert_eq!(&texts[1..], PUB_ORDER, "{html}");
    assert_eq!(rows(&html), PUB_ORDER.len());
    // Sizes and times are shown.
    assert!(html.contains("title=\"1500 bytes\">1.5 KiB<"), "{html}");
    assert!(html.contains("title=\"3 bytes\">3 B<"), "{html}");
    assert!(html.contains("<time datetime=\""), "{html}");
    // A subdirectory has a parent link that works.
    let sub = srv.get("/pub/beta/");
    let sub_html = sub.body_str();
    assert_eq!(body_links(&sub_html), ["../", "inner.txt"]);
    assert!(sub_html.contains("<h1>Index of /pub/beta/</h1>"));
    srv.get("/pub/beta/../").assert_status(200);
    srv.get("/pub/beta/inner.txt").assert_body(200, "inner");
}

#[test]
fn mtime_and_sizes_in_json() {
    let s = listing_site();
    let t = utc(2021, 3, 4, 5, 6, 7);
    s.dir.set_mtime("www/pub/b.txt", t);
    let srv = s.start_with_config(cfg_pub());
    let r = get_json(&srv, "/pub/");
    let (_, _, entries) = read_listing(&r);
    let b = entries
        .iter()
        .find(|e| e.0 == "b.txt")
        .expect("b.txt listed");
    assert_eq!((b.1.as_str(), b.2, b.3), ("file", 3, 1_614_834_367));
    let c = entries.iter().find(|e| e.0 == "c.bin").unwrap();
    assert_eq!(c.2, 1500);
    let d = entries.iter().find(|e| e.0 == "beta").unwrap();
    assert_eq!((d.1.as_str(), d.2), ("dir", 0));
    // The HTML shows the same time (UTC).
    let html = srv.get("/pub/").body_str();
    assert!(
        html.contains("<time datetime=\"2021-03-04T05:06:07Z\">2021-03-04 05:06</time>"),
        "{html}"
    );
}

#[test]
fn escaped_names_and_working_links() {
    let s = listing_site();
    let srv = s.start_with_config(cfg_pub());
    let html = srv.get("/pub/").body_str();
    // The raw name never appears as markup.
    assert!(!html.contains("<b>&"), "unescaped name in {html}");
    assert!(html.contains("&lt;b&gt;&amp;&quot;x&#39;.txt"), "{html}");
    let links = body_links(&html);
    assert!(
        links.contains(&"%3Cb%3E%26%22x%27.txt".to_string()),
        "{links:?}"
    );
    assert!(
        links.contains(&"a%20b%23%3F%25.txt".to_string()),
        "{links:?}"
    );
    for (name, content) in [(ESCAPED, "escaped-content"), (SPACED, "spaced-content")] {
        let texts = body_link_texts(&html);
        let i = texts.iter().position(|t| t == name).expect("listed");
        let href = &links[i];
        assert!(
            href.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%/".contains(&b)),
            "link not percent-encoded: {href}"
        );
        // Relative to /pub/: the link must fetch the file.
        srv.get(&format!("/pub/{href}")).assert_body(200, content);
    }
}

#[test]
fn hidden_files_not_listed() {
    let s = listing_site();
    let srv = s.start_with_config(cfg_pub());
    let html = srv.get("/pub/").body_str();
    assert!(
        !html.contains(".hidden") && !html.contains(".git"),
        "{html}"
    );
    let r = get_json(&srv, "/pub/");
    let (_, _, entries) = read_listing(&r);
    assert!(entries.iter().all(|e| !e.0.starts_with('.')), "{entries:?}");
    assert_eq!(entries.len(), PUB_ORDER.len());
}

#[test]
fn json_variant() {
    let s = listing_site();
    let bad = s
        .root()
        .join("pub/beta")
        .join(OsStr::from_bytes(b"bad\xff\xfe.bin"));
    std::fs::write(&bad, "x").unwrap();
    let srv = s.start_with_config(cfg_pub());
    let r = get_json(&srv, "/pub/");
    r.assert_status(200);
    assert_eq!(r.media_type().as_deref(), Some("application/json"), "{r:?}");
    assert!(
        r.header("Vary").is_some_and(|v| v.contains("Accept")),
        "{r:?}"
    );
    assert_eq!(r.content_length(), Some(r.body.len() as u64));
    let (path, truncated, entries) = read_listing(&r);
    assert_eq!(path, "/pub/");
    assert!(!truncated);
    let names: Vec<String> = entries
        .iter()
        .map(|e| {
            if e.1 == "dir" {
                format!("{}/", e.0)
            } else {
                e.0.clone()
            }
        })
        .collect();
    assert_eq!(names, PUB_ORDER);
    let e = entries.iter().find(|e| e.0 == ESCAPED).unwrap();
    assert_eq!(
        (e.1.as_str(), e.2),
        ("file", "escaped-content".len() as u64)
    );
    // The raw body escapes the quote.
    assert!(
        r.body_str().contains(r#""<b>&\"x'.txt""#),
        "{}",
        r.body_str()
    );

    // Invalid UTF-8 is shown lossily (U+FFFD per bad sequence).
    let (path, _, entries) = read_listing(&get_json(&srv, "/pub/beta/"));
    assert_eq!(path, "/pub/beta/");
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, ["bad\u{FFFD}\u{FFFD}.bin", "inner.txt"]);
    let html = srv.get("/pub/beta/").body_str();
    assert!(
        html.contains("href=\"bad%FF%FE.bin\">bad\u{FFFD}\u{FFFD}.bin</a>"),
        "{html}"
    );

    // Content negotiation: browsers get HTML, JSON must be preferred.
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    for (accept, json) in [
        (browser, false),
        ("*/*", false),
        ("application/json;q=0", false),
        ("text/html, application/json;q=0.5", false),
        ("text/html;q=0.5, application/json", true),
        ("application/json, text/html", true),
    ] {
        let r = srv.get_with("/pub/", &[("Accept", accept)]);
        let want = if json {
            "application/json"
        } else {
            "text/html"
        };
        assert_eq!(r.media_type().as_deref(), Some(want), "Accept: {accept}");
    }
}

#[test]
fn empty_directory() {
    let s = listing_site();
    let srv = s.start_with_config(cfg_pub());
    let html = srv.get("/pub/zeta/").body_str();
    assert_eq!(body_links(&html), ["../"]);
    assert!(html.contains("This directory is empty."), "{html}");
    let r = get_json(&srv, "/pub/zeta/");
    assert_eq!(read_listing(&r), ("/pub/zeta/".to_string(), false, vec![]));
}

#[test]
fn truncated_at_max_entries() {
    let s = Site::new();
    s.mkdir("big");
    for i in 0..5000 {
        std::fs::write(s.root().join(format!("big/f{i:04}.dat")), b"").unwrap();
    }
    s.mkdir("small");
    for i in 0..5 {
        s.file(&format!("small/{i}.txt"), "x");
    }
    let srv = s.start_with_config(
        "[[dirlisting]]\nprefix = \"/big/\"\n\
         [[dirlisting]]\nprefix = \"/small/\"\nmax_entries = 3\n",
    );
    // Default limit: 1000.
    let r = get_json(&srv, "/big/");
    r.assert_status(200);
    let (_, truncated, entries) = read_listing(&r);
    assert!(truncated);
    assert_eq!(entries.len(), 1000);
    let mut sorted: Vec<&String> = entries.iter().map(|e| &e.0).collect();
    let before = sorted.clone();
    sorted.sort();
    assert_eq!(before, sorted, "a truncated listing is still sorted");
    let r = srv.get("/big/");
    let html = r.body_str();
    assert_eq!(rows(&html), 1000);
    assert!(html.contains("id=\"truncated\""), "truncation note");
    assert!(html.contains("first 1000 entries"));
    assert!(
        r.body.len() > 50_000,
        "a large body, streamed in many pieces"
    );
    // A configured limit; exactly at the limit is not truncated.
    let (_, truncated, entries) = read_listing(&get_json(&srv, "/small/"));
    assert!(truncated);
    assert_eq!(entries.len(), 3);
    std::fs::remove_file(s.root().join("small/0.txt")).unwrap();
    std::fs::remove_file(s.root().join("small/1.txt")).unwrap();
    let (_, truncated, entries) = read_listing(&get_json(&srv, "/small/"));
    assert!(!truncated);
    assert_eq!(entries.len(), 3);
    assert!(!srv.get("/small/").body_str().contains("id=\"truncated\""));
}

#[test]
fn head_gets_head_only() {
    let s = listing_site();
    let srv = s.start_with_config(cfg_pub());
    let get = srv.get("/pub/");
    let mut c = srv.connect();
    for accept in ["text/html", "application/json"] {
        let h = c.request(&req("HEAD", "/pub/", &[("Accept", accept)]));
        h.assert_status(200);
        assert!(h.body.is_empty());
        if accept == "text/html" {
            assert_eq!(h.content_length(), Some(get.body.len() as u64), "{h:?}");
            assert_eq!(h.header("Content-Type"), get.header("Content-Type"));
        } else {
            assert_eq!(h.media_type().as_deref(), Some("application/json"));
        }
    }
    // Nothing stray followed the heads: the connection still works.
    c.request(&req("GET", "/pub/b.txt", &[]))
        .assert_body(200, "bbb");
    assert_eq!(c.pending(), 0);
}

#[test]
fn keep_alive_pipelining_and_http10() {
    let s = listing_site();
    let srv = s.start_with_config(cfg_pub());
    let mut c = srv.connect();
    let two = format!(
        "{}{}",
        req("GET", "/pub/", &[]),
        req("GET", "/pub/beta/", &[("Accept", "application/json")])
    );
    c.send(two.as_bytes());
    let a = c.read_response();
    let b = c.read_response();
    assert_eq!(rows(&a.body_str()), PUB_ORDER.len());
    assert_eq!(read_listing(&b).0, "/pub/beta/");
    // HTTP/1.0 without keep-alive: answered, then closed.
    let mut c = srv.connect();
    c.send(b"GET /pub/ HTTP/1.0\r\n\r\n");
    let r = c.read_response();
    r.assert_status(200);
    assert!(r.connection_has("close"), "{r:?}");
    c.expect_closed();
    // HTTP/1.0 with keep-alive stays open.
    let mut c = srv.connect();
    c.send(b"GET /pub/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read_response();
    assert!(r.connection_has("keep-alive"), "{r:?}");
    c.request(&req("GET", "/pub/A.txt", &[]))
        .assert_body(200, "a");
    // Connection: close is honoured.
    let mut c = srv.connect();
    c.send(req("GET", "/pub/", &[("Connection", "close")]).as_bytes());
    assert!(c.read_response().connection_has("close"));
    c.expect_closed();
}

#[test]
fn directory_without_slash_still_redirects() {
    let s = listing_site();
    let srv = s.start_with_config(cfg_pub());
    let r = srv.get("/pub");
    r.assert_status(301);
    assert_eq!(r.header("Location"), Some("/pub/"));
    let r = srv.get("/pub/beta?x=1");
    r.assert_status(301);
    assert_eq!(r.header("Location"), Some("/pub/beta/?x=1"));
    // Other methods are still refused by the engine.
    let r = srv.request(&req("POST", "/pub/", &[("Content-Length", "0")]));
    r.assert_status(405);
}

#[test]
fn per_vhost_rules() {
    let s = listing_site();
    let other = s.dir.mkdir("files");
    std::fs::create_dir_all(other.join("pub")).unwrap();
    std::fs::write(other.join("pub/vhost-file.txt"), "v").unwrap();
    let srv = s.start_with_config(&format!(
        "[[vhost]]\nnames = [\"files.lan\"]\nroot = \"{}\"\n\
         [[dirlisting]]\nvhost = \"files.lan\"\nprefix = \"/\"\n",
        path_str(&other)
    ));
    // The default host has no rule.
    srv.get("/pub/").assert_status(403);
    // Host matched case-insensitively, port ignored.
    let r = srv.request("GET /pub/ HTTP/1.1\r\nHost: FILES.lan:8080\r\n\r\n");
    r.assert_status(200);
    assert_eq!(body_links(&r.body_str()), ["../", "vhost-file.txt"]);
    let r = srv.request("GET / HTTP/1.1\r\nHost: files.lan\r\n\r\n");
    assert_eq!(body_links(&r.body_str()), ["pub/"]);
}

#[test]
fn symlinks_inside_followed_outside_not() {
    let s = listing_site();
    s.dir.symlink("b.txt", "www/pub/zz-in-link");
    s.dir.symlink("beta", "www/pub/zz-dir-link");
    s.dir.symlink("../../secret.txt", "www/pub/zz-out-link");
    s.dir.symlink("missing", "www/pub/zz-dangling");
    let srv = s.start_with_config(cfg_pub());
    let (_, _, entries) = read_listing(&get_json(&srv, "/pub/"));
    let find = |n: &str| {
        entries
            .iter()
            .find(|e| e.0 == n)
            .map(|e| (e.1.clone(), e.2))
            .unwrap_or_else(|| panic!("{n} not listed: {entries:?}"))
    };
    assert_eq!(find("zz-in-link"), ("file".into(), 3));
    assert_eq!(find("zz-dir-link"), ("dir".into(), 0));
    assert_eq!(find("zz-out-link"), ("other".into(), 0));
    assert_eq!(find("zz-dangling"), ("other".into(), 0));
    let html = srv.get("/pub/").body_str();
    assert!(html.contains("href=\"zz-in-link\""));
    assert!(html.contains("href=\"zz-dir-link/\""));
    assert!(
        !html.contains("href=\"zz-out-link\""),
        "no link out of the root"
    );
    assert!(
        html.contains("<span class=\"o\">zz-out-link</span>"),
        "{html}"
    );
    assert!(!html.contains(SECRET));
    srv.get("/pub/zz-dir-link/").assert_status(200);
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

#[test]
fn config_errors_are_reported_with_lines() {
    let s = Site::new();
    let cfg = s.config(
        "bad.toml",
        "[[dirlisting]]\n\
         prefix = \"pub\"\n\
         max_entries = 0\n\
         vhost = \"nope\"\n\
         [[dirlisting]]\n\
         enabled = 1\n\
         colour = \"red\"\n\
         prefix = \"/a/../b\"\n",
    );
    let cfg = path_str(&cfg);
    let r = run(&["--root", &s.root_str(), "--config", &cfg, "--check-config"]);
    assert_eq!(r.code(), Some(1), "{r:?}");
    let lines = r.stderr_lines();
    for (line, what) in [
        (2, "prefix"),
        (3, "max_entries"),
        (4, "vhost"),
        (6, "enabled"),
        (7, "colour"),
        (8, "prefix"),
    ] {
        let at = format!("{cfg}:{line}:");
        assert!(
            lines.iter().any(|l| l.starts_with(&at) && l.contains(what)),
            "no error {at} {what} in {lines:#?}"
        );
    }
    assert_eq!(lines.len(), 6, "{lines:#?}");
    // The server does not start with them either.
    let e = Server::try_start(&["--root", &s.root_str(), "--config", &cfg]);
    assert!(e.is_err());
}

#[test]
fn check_config_prints_effective_rules() {
    let s = Site::new();
    let cfg = path_str(&s.config(
        "ok.toml",
        "[[dirlisting]]\nprefix = \"/pub\"\nmax_entries = 50\n[[dirlisting]]\n",
    ));
    let r = run(&["--root", &s.root_str(), "--config", &cfg, "--check-config"]);
    assert_eq!(r.code(), Some(0), "{r:?}");
    assert!(
        r.stdout
            .contains("[[dirlisting]]\nprefix = \"/pub/\"\nenabled = true\nmax_entries = 50\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("[[dirlisting]]\nprefix = \"/\"\nenabled = true\nmax_entries = 1000\n"),
        "{}",
        r.stdout
    );
    // What it prints is accepted as a config again.
    let again = path_str(&s.config("again.toml", &r.stdout));
    let r2 = run(&[
        "--root",
        &s.root_str(),
        "--config",
        &again,
        "--check-config",
    ]);
    assert_eq!(r2.code(), Some(0), "{r2:?}");
}

// ---------------------------------------------------------------------------
// Headless Chromium
// ---------------------------------------------------------------------------

fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "headless Chromium is required by this test but was not found in PATH; \
         install the Debian package: apt-get install chromium"
    );
}

/// Runs headless Chromium with `extra` arguments on `url`; returns stdout.
fn run_chromium(url: &str, extra: &[&str]) -> Vec<u8> {
    let profile = TempDir::new();
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1024,768",
    ])
    .arg(format!("--user-data-dir={}", path_str(profile.path())))
    .args(extra)
    .arg(url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn chromium");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut v);
        v
    });
    let deadline = Instant::now() + scaled(60.0);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = t_out.join().unwrap();
    let stderr = t_err.join().unwrap();
    assert!(
        status.success(),
        "chromium failed ({status}):\n{}",
        String::from_utf8_lossy(&stderr)
    );
    stdout
}

fn screenshot(url: &str, png: &Path) -> Vec<u8> {
    let _ = std::fs::remove_file(png);
    run_chromium(url, &[&format!("--screenshot={}", path_str(png))]);
    std::fs::read(png).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", png.display()))
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 33, "PNG too short");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR", "no IHDR");
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    (w, h)
}

#[test]
fn chromium_renders_listing() {
    chromium();
    let s = listing_site();
    let srv = s.start_with_config(cfg_pub());
    let url = srv.url("/pub/");
    let tmp = TempDir::new();

    // The screenshot exists, has the window's size, and holds much more
    // than a blank page does.
    let shot = screenshot(&url, &tmp.join("listing.png"));
    assert_eq!(png_size(&shot), (1024, 768));
    let blank = screenshot("data:text/html,<title>x</title>", &tmp.join("blank.png"));
    assert_eq!(png_size(&blank), (1024, 768));
    assert!(
        shot.len() > 4 * blank.len() && shot.len() > 10_000,
        "screenshot looks empty: {} bytes (blank page: {} bytes)",
        shot.len(),
        blank.len()
    );
    if let Some(keep) = std::env::var_os("FWS_DIRLISTING_PNG") {
        std::fs::write(&keep, &shot).expect("write FWS_DIRLISTING_PNG");
    }

    // The DOM as Chromium built it: entries in order, names intact.
    let dom = String::from_utf8(run_chromium(&url, &["--dump-dom"])).expect("UTF-8 DOM");
    assert!(dom.contains("<h1>Index of /pub/</h1>"), "{dom}");
    let texts = body_link_texts(&dom);
    assert_eq!(texts[0], "../", "{texts:?}");
    assert_eq!(&texts[1..], PUB_ORDER, "{dom}");
    let links = body_links(&dom);
    assert!(
        links.contains(&"a%20b%23%3F%25.txt".to_string()),
        "{links:?}"
    );
    // The escaped name is text, not an element.
    assert!(!dom.contains("<b>&amp;"), "{dom}");
    assert!(!dom.to_ascii_lowercase().contains("<script"), "{dom}");
}
