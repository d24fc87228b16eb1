//! The dirlisting plugin: an HTML (or JSON) listing of a directory that has
//! no index file, where a rule enables it.
//!
//! # Configuration
//!
//! Every `[[dirlisting]]` section is one rule (a single `[dirlisting]` table
//! works as one rule too):
//!
//! ```toml
//! [[dirlisting]]
//! prefix = "/pub/"      # directories at or below this path ("/" = everywhere; default "/")
//! vhost = "files.lan"   # only on this [[vhost]] (any of its names); default: every host
//! enabled = true        # false turns listings off below the prefix (exceptions)
//! max_entries = 1000    # entries read at most, 1..=100000 (default 1000)
//! ```
//!
//! For a directory the most specific rule decides: the longest prefix wins,
//! and for equal prefixes a rule naming the virtual host wins over one that
//! does not. Two rules with the same prefix and host are an error. Without
//! a deciding rule, or when it says `enabled = false`, the engine answers
//! 403 as usual. `prefix` is a plain decoded path (no `%` escapes),
//! component-wise: `/pub/` covers `/pub/` and `/pub/x/`, not `/public/`.
//! `--check-config` prints every rule with all its keys, most specific
//! first (the order lookups use).
//!
//! # Behaviour
//!
//! - Only GET and HEAD reach a directory (the engine answers other methods
//!   and redirects `/dir` to `/dir/` itself). HEAD gets the same head
//!   (with the body's `Content-Length`) and no body.
//! - `Accept` asking for `application/json` (with a higher quality than
//!   `text/html`) gets JSON:
//!   `{"path": "/pub/", "truncated": false, "entries": [{"name": "a",
//!   "type": "dir"|"file"|"other", "size": N, "mtime": UNIX_SECS}, ...]}`.
//!   `size` is the byte size of files and 0 for everything else. Everyone
//!   else gets HTML: inline CSS only (no JavaScript, and a
//!   `Content-Security-Policy` forbidding any), a heading with the path, a
//!   parent link except at the root, a table of name, size and time (UTC),
//!   and a footer line with the counts. Both carry `Vary: Accept` and
//!   `Cache-Control: no-cache`.
//! - Directories first, then by name (ASCII case-insensitive, ties by the
//!   raw bytes). Names starting with `.` are never listed.
//! - Names are HTML-escaped; links are relative and percent-encoded. Names
//!   that are not valid UTF-8 are shown with U+FFFD for the bad bytes in
//!   HTML and JSON (lossy; the engine refuses such paths with 400 anyway).
//! - The directory is read through the descriptor the engine resolved
//!   inside the docroot, never by the request path again; symlinks are
//!   followed only to targets inside the docroot (see [`scan`]).
//! - Memory is bounded: at most `max_entries` entries are read (then the
//!   listing says it is truncated, in HTML and JSON), and the body is
//!   produced through a [`Stream`] one row at a time; its `Content-Length`
//!   is computed by rendering once without keeping the bytes.
//! - When no rule is configured the hooks return at once without
//!   allocating.
#![forbid(unsafe_code)]

pub mod config;
pub mod render;
pub mod scan;

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use fws_api::http::error::HttpError;
use fws_api::http::response::Status;
use fws_api::plugin::{Content, Env, Exchange, Io, Plugin, Produced, Reply, Section, Stream};

use config::Rules;
use render::{Format, Page};
use scan::Entry;

pub struct DirListing {
    rules: Rules,
    /// Canonical docroot of each virtual host (`None` if it cannot be
    /// resolved: symlinks are then never followed).
    roots: Vec<Option<PathBuf>>,
}

impl Plugin for DirListing {
    const NAME: &'static str = "dirlisting";
    type Worker = ();

    fn init(sections: &[Section<'_>], env: &Env) -> Result<Self, Vec<String>> {
        let rules = config::parse(sections, &env.vhost_names)?;
        let roots = if rules.is_empty() {
            Vec::new()
        } else {
            env.roots
                .iter()
                .map(|r| std::fs::canonicalize(r).ok())
                .collect()
        };
        Ok(DirListing { rules, roots })
    }

    fn config_text(&self) -> String {
        config::text(&self.rules)
    }

    fn worker(&self, _id: usize) -> Self::Worker {}

    fn directory(
        &self,
        _w: &mut (),
        x: &mut Exchange<'_, '_>,
        dir: OwnedFd,
        reply: &mut Reply<'_>,
    ) -> Content {
        if self.rules.is_empty() {
            return Content::Decline;
        }
        let Some(path) = x.path else {
            return Content::Decline;
        };
        let rule = match self.rules.find(x.vhost, path) {
            Some(r) if r.enabled => r,
            _ => return Content::Decline,
        };
        let root = self.roots.get(x.vhost).and_then(Option::as_deref);
        let found = match scan::scan(&dir, root, rule.max_entries) {
            Ok(s) => s,
            Err(e) => {
                log::warn!(
                    "dirlisting: cannot read /{}: {e}",
                    String::from_utf8_lossy(path)
                );
                reply.error(HttpError::Forbidden);
                return Content::Respond;
            }
        };
        drop(dir);
        let accept = x
            .req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("accept"))
            .map(|h| h.value);
        let format = if render::wants_json(accept) {
            Format::Json
        } else {
            Format::Html
        };
        let mut shown = Vec::with_capacity(path.len() + 2);
        shown.push(b'/');
        if !path.is_empty() {
            shown.extend_from_slice(path);
            shown.push(b'/');
        }
        Content::Stream(Box::new(Listing::new(
            shown,
            found.entries,
            found.truncated,
            rule.max_entries,
            format,
            reply,
            x.req.minor,
        )))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Head,
    Body,
    Done,
}

/// The response: the head, then the body piece by piece.
struct Listing {
    path: Vec<u8>,
    entries: Vec<Entry>,
    truncated: bool,
    max_entries: usize,
    format: Format,
    keep_alive: bool,
    minor: u8,
    head_only: bool,
    body_len: u64,
    phase: Phase,
    /// Next piece to render.
    next: usize,
    /// The rendered piece being sent, and how much of it went out.
    pend: Vec<u8>,
    sent: usize,
}

impl Listing {
    fn new(
        path: Vec<u8>,
        entries: Vec<Entry>,
        truncated: bool,
        max_entries: usize,
        format: Format,
        reply: &Reply<'_>,
        minor: u8,
    ) -> Listing {
        let mut l = Listing {
            path,
            entries,
            truncated,
            max_entries,
            format,
            keep_alive: reply.keep_alive(),
            minor,
            head_only: reply.head_only(),
            body_len: 0,
            phase: Phase::Head,
            next: 0,
            pend: Vec::new(),
            sent: 0,
        };
        let mut scratch = std::mem::take(&mut l.pend);
        l.body_len = l.page().body_len(format, &mut scratch);
        scratch.clear();
        l.pend = scratch;
        l
    }

    fn page(&self) -> Page<'_> {
        Page {
            path: &self.path,
            entries: &self.entries,
            truncated: self.truncated,
            max_entries: self.max_entries,
        }
    }

    fn head(&self, io: &Io<'_>, out: &mut [u8]) -> Option<usize> {
        let date = *io.date;
        let mut r = Reply::new(out, &date, self.keep_alive, self.minor, self.head_only);
        let h = r.start(Status::Ok);
        h.header(b"Content-Type", self.format.content_type())
            .header_num(b"Content-Length", self.body_len)
            .header(b"Cache-Control", b"no-cache")
            .header(b"Vary", b"Accept")
            .header(b"X-Content-Type-Options", b"nosniff");
        if self.format == Format::Html {
            h.header(
                b"Content-Security-Policy",
                b"default-src 'none'; style-src 'unsafe-inline'",
            );
        }
        h.end();
        r.done().map(|d| d.0)
    }

    /// Copies as much of the rest of the body as fits into `out`.
    fn fill(&mut self, out: &mut [u8]) -> usize {
        let mut n = 0;
        while n < out.len() {
            if self.sent < self.pend.len() {
                let k = (self.pend.len() - self.sent).min(out.len() - n);
                out[n..n + k].copy_from_slice(&self.pend[self.sent..self.sent + k]);
                self.sent += k;
                n += k;
            } else if self.next < self.page().pieces() {
                let mut buf = std::mem::take(&mut self.pend);
                buf.clear();
                self.page().piece(self.format, self.next, &mut buf);
                self.pend = buf;
                self.sent = 0;
                self.next += 1;
            } else {
                break;
            }
        }
        n
    }
}

impl Stream for Listing {
    fn produce(&mut self, io: &mut Io<'_>, out: &mut [u8]) -> Produced {
        match self.phase {
            Phase::Head => match self.head(io, out) {
                Some(n) => {
                    self.phase = if self.head_only {
                        Phase::Done
                    } else {
                        Phase::Body
                    };
                    Produced::Bytes(n)
                }
                None => Produced::Fail(HttpError::Internal),
            },
            Phase::Body => match self.fill(out) {
                0 => {
                    self.phase = Phase::Done;
                    Produced::Done
                }
                n => Produced::Bytes(n),
            },
            Phase::Done => Produced::Done,
        }
    }

    fn log_status(&self) -> u16 {
        200
    }

    fn log_bytes(&self) -> u64 {
        if self.head_only {
            0
        } else {
            self.body_len
        }
    }

    fn abort(&mut self, _io: &mut Io<'_>) {
        // Nothing registered; free the memory early.
        self.entries = Vec::new();
        self.pend = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scan::Kind;

    struct NoReg;
    impl fws_api::plugin::Registrar for NoReg {
        fn add(
            &self,
            _fd: std::os::fd::BorrowedFd<'_>,
            _key: usize,
            _r: bool,
            _w: bool,
        ) -> std::io::Result<()> {
            Ok(())
        }
        fn delete(&self, _fd: std::os::fd::BorrowedFd<'_>) {}
    }

    fn run(l: &mut Listing, chunk: usize) -> Vec<u8> {
        let date = *b"Mon, 23 Nov 2026 19:27:13 GMT";
        let reg = NoReg;
        let mut io = Io::new(&reg, 0, std::time::Instant::now(), &date);
        let mut all = Vec::new();
        let mut buf = vec![0u8; chunk.max(600)];
        let mut first = true;
        loop {
            let len = if first { buf.len() } else { chunk };
            match l.produce(&mut io, &mut buf[..len]) {
                Produced::Bytes(n) => {
                    assert!(n > 0 && n <= len);
                    all.extend_from_slice(&buf[..n]);
                }
                Produced::Done => break,
                _ => panic!("unexpected"),
            }
            first = false;
        }
        all
    }

    fn listing(n: usize, head_only: bool, keep_alive: bool, minor: u8) -> Listing {
        let entries = (0..n)
            .map(|i| Entry {
                name: format!("file-{i:05}-with-a-longish-name.bin")
                    .into_bytes()
                    .into(),
                kind: if i % 7 == 0 { Kind::Dir } else { Kind::File },
                size: i as u64 * 1000,
                mtime: 1_700_000_000,
            })
            .collect();
        let date = *b"Mon, 23 Nov 2026 19:27:13 GMT";
        let mut buf = [0u8; 64];
        let reply = Reply::new(&mut buf, &date, keep_alive, minor, head_only);
        Listing::new(
            b"/pub/".to_vec(),
            entries,
            false,
            1000,
            Format::Html,
            &reply,
            minor,
        )
    }

    #[test]
    fn stream_matches_content_length() {
        for &chunk in &[1usize, 7, 100, 2048, 65536] {
            for &n in &[0usize, 1, 50, 1000] {
                let mut l = listing(n, false, true, 1);
                let bytes = run(&mut l, chunk);
                let text = String::from_utf8(bytes).unwrap();
                let (head, body) = text.split_once("\r\n\r\n").unwrap();
                assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
                assert!(
                    head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())),
                    "{head}"
                );
                assert!(head.contains("\r\nContent-Type: text/html; charset=utf-8\r\n"));
                assert!(head.contains("\r\nCache-Control: no-cache\r\n"));
                assert!(head.contains("\r\nVary: Accept\r\n"));
                assert!(!head.contains("Connection"));
                assert_eq!(l.log_bytes(), body.len() as u64);
                assert_eq!(body.matches("<tr><td").count(), n);
            }
        }
    }

    #[test]
    fn head_only_and_connection_headers() {
        let mut l = listing(20, true, true, 1);
        let text = String::from_utf8(run(&mut l, 4096)).unwrap();
        assert!(text.ends_with("\r\n\r\n"));
        assert!(text.contains("Content-Length: "));
        assert_eq!(l.log_bytes(), 0);
        let mut l = listing(0, true, false, 1);
        let text = String::from_utf8(run(&mut l, 4096)).unwrap();
        assert!(text.contains("\r\nConnection: close\r\n"));
        let mut l = listing(0, true, true, 0);
        let text = String::from_utf8(run(&mut l, 4096)).unwrap();
        assert!(text.contains("\r\nConnection: keep-alive\r\n"));
    }

    #[test]
    fn head_too_big_fails_cleanly() {
        let mut l = listing(1, false, true, 1);
        let date = *b"Mon, 23 Nov 2026 19:27:13 GMT";
        let reg = NoReg;
        let mut io = Io::new(&reg, 0, std::time::Instant::now(), &date);
        let mut tiny = [0u8; 32];
        assert!(matches!(
            l.produce(&mut io, &mut tiny),
            Produced::Fail(HttpError::Internal)
        ));
    }

    #[test]
    fn unconfigured_plugin_has_no_rules() {
        let env = Env {
            roots: vec![PathBuf::from("/")],
            vhost_names: vec![],
            workers: 1,
        };
        let p = DirListing::init(&[], &env).ok().unwrap();
        assert!(p.rules.is_empty());
        assert!(p.roots.is_empty());
        assert_eq!(p.config_text(), "");
    }
}
