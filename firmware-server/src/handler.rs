//! The static-file content handler: docroots and virtual hosts, path
//! resolution that cannot leave the docroot, index files, redirects,
//! precompressed variants, conditional requests and ranges.
//!
//! Contract: [`serve`] never panics and never allocates. It writes the whole
//! response head (and, for errors and redirects, the small body) through the
//! caller's [`Reply`] and returns the file to send, if any, or the directory
//! it found without an index file (for the plugins' directory handlers).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use fws_api::plugin::Reply;

use crate::config::Config;
use crate::http::error::HttpError;
use crate::http::request::{host_without_port, list, trim, Method, Request};
use crate::http::response::{Head, Status};
use crate::http::{date, mime, path, range};
use crate::sys::{self, FileInfo, FileKind};

/// Room for a normalised path plus an index name or `.gz` and the NUL.
pub const PATH_SCRATCH: usize = 4096 + 300;
const LINK_SCRATCH: usize = 4096 + 300;

/// One docroot: an open directory and its canonical path.
pub struct Root {
    dir: OwnedFd,
    canon: Box<[u8]>,
}

impl Root {
    pub fn open(path: &Path) -> io::Result<Root> {
        let canon = std::fs::canonicalize(path)?;
        if !canon.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        let mut bytes = canon.as_os_str().as_encoded_bytes().to_vec();
        bytes.push(0);
        let dir = sys::open_dir(&bytes)?;
        bytes.pop();
        Ok(Root {
            dir,
            canon: bytes.into_boxed_slice(),
        })
    }
}

/// (extension, Content-Type) pairs from the `[mime]` section.
type MimeTable = Vec<(Box<[u8]>, Box<[u8]>)>;

/// Everything the handler needs from the configuration, shared by workers.
pub struct Site {
    roots: Vec<Root>,
    /// (lower-case host name, index into `roots`)
    names: Vec<(Box<[u8]>, usize)>,
    index: Vec<Box<[u8]>>,
    mime_extra: MimeTable,
    follow_symlinks: bool,
    gzip_static: bool,
    hide_dotfiles: bool,
}

impl Site {
    /// Opens every docroot; an error names the directory.
    pub fn new(cfg: &Config) -> Result<Site, String> {
        let open = |p: &Path| Root::open(p).map_err(|e| format!("docroot {}: {e}", p.display()));
        let mut roots = vec![open(&cfg.root)?];
        let mut names = Vec::new();
        for vh in &cfg.vhosts {
            roots.push(open(&vh.root)?);
            for n in &vh.names {
                names.push((
                    n.to_ascii_lowercase().into_bytes().into_boxed_slice(),
                    roots.len() - 1,
                ));
            }
        }
        if !cfg.follow_symlinks {
            // The symlink check reads /proc/self/fd; refuse to start without it.
            let mut tmp = [0u8; LINK_SCRATCH];
            sys::fd_path(roots[0].dir.as_fd(), &mut tmp)
                .map_err(|e| format!("follow_symlinks = false needs /proc mounted: {e}"))?;
        }
        Ok(Site {
            roots,
            names,
            index: cfg.index.iter().map(|s| s.as_bytes().into()).collect(),
            mime_extra: cfg
                .mime
                .iter()
                .map(|(e, t)| (e.as_bytes().into(), t.as_bytes().into()))
                .collect(),
            follow_symlinks: cfg.follow_symlinks,
            gzip_static: cfg.gzip_static,
            hide_dotfiles: cfg.hide_dotfiles,
        })
    }

    /// The virtual host for a Host value: 0 is the default, i + 1 the
    /// `[[vhost]]` number i.
    pub fn route(&self, host: Option<&[u8]>) -> usize {
        if let Some(h) = host {
            let h = host_without_port(h);
            let h = h.strip_suffix(b".").unwrap_or(h);
            for (name, idx) in &self.names {
                if name.eq_ignore_ascii_case(h) {
                    return *idx;
                }
            }
        }
        0
    }

    /// Docroot paths, default first (what plugins are told at init).
    pub fn root_paths(&self) -> Vec<std::path::PathBuf> {
        self.roots
            .iter()
            .map(|r| {
                std::path::PathBuf::from(
                    <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&r.canon),
                )
            })
            .collect()
    }

    fn content_type(&self, name: &[u8]) -> &[u8] {
        if let Some(ext) = mime::extension(name) {
            for (e, t) in &self.mime_extra {
                if e.eq_ignore_ascii_case(ext) {
                    return t;
                }
            }
            if let Some(t) = mime::lookup(ext) {
                return t.as_bytes();
            }
        }
        b"application/octet-stream"
    }
}

/// Per-worker scratch space, allocated once.
pub struct Scratch {
    /// The normalised request path (what plugins see).
    pub norm: Box<[u8; PATH_SCRATCH]>,
    path: Box<[u8; PATH_SCRATCH]>,
    link: Box<[u8; LINK_SCRATCH]>,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            norm: Box::new([0; PATH_SCRATCH]),
            path: Box::new([0; PATH_SCRATCH]),
            link: Box::new([0; LINK_SCRATCH]),
        }
    }
}

/// Decodes and normalises the request path into `norm`. Dot files are
/// refused here (404) when configured.
pub fn normalize(
    site: &Site,
    req: &Request<'_>,
    norm: &mut [u8; PATH_SCRATCH],
) -> Result<path::Normalized, HttpError> {
    if req.path == b"*" {
        return Err(HttpError::MethodNotAllowed);
    }
    let n = path::normalize(req.path, &mut norm[..PATH_SCRATCH - 300]).map_err(|e| match e {
        path::PathError::TooLong => HttpError::UriTooLong,
        _ => HttpError::BadRequest,
    })?;
    if n.hidden && site.hide_dotfiles {
        return Err(HttpError::NotFound);
    }
    Ok(n)
}

/// A file range to `sendfile` after the head.
pub struct FileBody {
    pub fd: OwnedFd,
    pub start: u64,
    pub end: u64,
}

/// What the static handler did.
pub enum Served {
    /// The reply is written; send this file range after it, if any.
    Reply(Option<FileBody>),
    /// A directory without an index file: the plugins may list it.
    Directory(OwnedFd),
}

/// Serves a GET or HEAD (or refuses another method) from virtual host
/// `vhost`'s docroot; `scratch.norm` holds the path `norm` describes.
pub fn serve(
    site: &Site,
    scratch: &mut Scratch,
    req: &Request<'_>,
    vhost: usize,
    norm: path::Normalized,
    reply: &mut Reply<'_>,
) -> Served {
    match serve_inner(site, scratch, req, vhost, norm, reply) {
        Ok(s) => s,
        Err(e) => {
            reply.error(e);
            Served::Reply(None)
        }
    }
}

fn serve_inner(
    site: &Site,
    scratch: &mut Scratch,
    req: &Request<'_>,
    vhost: usize,
    norm: path::Normalized,
    reply: &mut Reply<'_>,
) -> Result<Served, HttpError> {
    if !matches!(req.method, Method::Get | Method::Head) {
        return Err(HttpError::MethodNotAllowed);
    }
    let root = site.roots.get(vhost).unwrap_or(&site.roots[0]);
    let norm_len = norm.len;
    let trailing_slash = norm.trailing_slash || norm_len == 0;
    scratch.path[..norm_len].copy_from_slice(&scratch.norm[..norm_len]);
    let mut rel_len = norm_len;
    let (fd, info) = open_checked(site, root, scratch, rel_len, b"")?;
    let (fd, info) = match info.kind {
        FileKind::Regular => {
            if trailing_slash && norm_len > 0 {
                // "/file.html/" names no directory.
                return Err(HttpError::NotFound);
            }
            (fd, info)
        }
        FileKind::Directory => {
            if !trailing_slash {
                redirect_slash(req, reply);
                return Ok(Served::Reply(None));
            }
            let mut found = None;
            for name in &site.index {
                let sep: &[u8] = if rel_len > 0 { b"/" } else { b"" };
                let n = rel_len + sep.len() + name.len();
                if n >= PATH_SCRATCH - 8 {
                    continue;
                }
                scratch.path[rel_len..rel_len + sep.len()].copy_from_slice(sep);
                scratch.path[rel_len + sep.len()..n].copy_from_slice(name);
                match open_checked(site, root, scratch, n, b"") {
                    Ok((fd, info)) if info.kind == FileKind::Regular => {
                        found = Some((fd, info, n));
                        break;
                    }
                    Ok(_) | Err(HttpError::NotFound) => {}
                    Err(e) => return Err(e),
                }
            }
            match found {
                Some((index_fd, info, n)) => {
                    rel_len = n;
                    (index_fd, info)
                }
                None => return Ok(Served::Directory(fd)),
            }
        }
        FileKind::Other => return Err(HttpError::Forbidden),
    };

    // A precompressed sibling, when the client takes gzip.
    let mut gzip = false;
    let (fd, info) = if site.gzip_static && accepts_gzip(req.accept_encoding) {
        match open_checked(site, root, scratch, rel_len, b".gz") {
            Ok((gz, gzinfo)) if gzinfo.kind == FileKind::Regular => {
                gzip = true;
                (gz, gzinfo)
            }
            _ => (fd, info),
        }
    } else {
        (fd, info)
    };
    let ctype = site.content_type(&scratch.path[..rel_len]);
    file_reply(req, reply, fd, info, ctype, gzip).map(Served::Reply)
}

/// Opens `scratch.path[..len]` + `suffix` below `root`, refusing files
/// reached through symlinks that leave the root.
fn open_checked(
    site: &Site,
    root: &Root,
    scratch: &mut Scratch,
    len: usize,
    suffix: &[u8],
) -> Result<(OwnedFd, FileInfo), HttpError> {
    let p = &mut scratch.path[..];
    let rel: &[u8] = if len == 0 && suffix.is_empty() {
        p[0] = b'.';
        p[1] = 0;
        &p[..2]
    } else {
        let end = len + suffix.len();
        if end + 1 > p.len() {
            return Err(HttpError::UriTooLong);
        }
        p[len..end].copy_from_slice(suffix);
        p[end] = 0;
        &p[..end + 1]
    };
    let map = |e: io::Error| match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => HttpError::NotFound,
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::ELOOP) | Some(libc::ENXIO) => {
            HttpError::Forbidden
        }
        Some(libc::ENAMETOOLONG) => HttpError::UriTooLong,
        _ => HttpError::Internal,
    };
    if site.follow_symlinks {
        let fd = sys::open_at(root.dir.as_fd(), rel).map_err(map)?;
        let info = sys::fstat(fd.as_fd()).map_err(|_| HttpError::Internal)?;
        return Ok((fd, info));
    }
    // The kernel refuses escapes in the same call where it can (one
    // syscall); otherwise, or when the path leaves the root on its way
    // (an absolute symlink may lead back inside), check where the open
    // descriptor really points.
    let fd = match sys::open_beneath(root.dir.as_fd(), rel) {
        Ok(Some(fd)) => fd,
        Ok(None) => checked_by_path(root, rel, &mut scratch.link[..]).map_err(map)??,
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            checked_by_path(root, rel, &mut scratch.link[..]).map_err(map)??
        }
        Err(e) => return Err(map(e)),
    };
    let info = sys::fstat(fd.as_fd()).map_err(|_| HttpError::Internal)?;
    Ok((fd, info))
}

/// Opens `rel` below `root` and accepts it only if the descriptor's real
/// path (from /proc/self/fd) is inside the root.
fn checked_by_path(
    root: &Root,
    rel: &[u8],
    link: &mut [u8],
) -> io::Result<Result<OwnedFd, HttpError>> {
    let fd = sys::open_at(root.dir.as_fd(), rel)?;
    let Ok(n) = sys::fd_path(fd.as_fd(), link) else {
        return Ok(Err(HttpError::Forbidden));
    };
    let real = &link[..n];
    let canon = &root.canon[..];
    let inside = real == canon
        || (real.len() > canon.len()
            && real.starts_with(canon)
            && (canon == b"/" || real[canon.len()] == b'/'));
    Ok(if inside {
        Ok(fd)
    } else {
        Err(HttpError::Forbidden)
    })
}

/// 301 to the same path with a trailing slash, query kept.
fn redirect_slash(req: &Request<'_>, reply: &mut Reply<'_>) {
    // One leading slash only: "//host/dir" must not become a
    // protocol-relative Location that sends the client to another host.
    let path = &req.path[req
        .path
        .iter()
        .position(|&b| b != b'/')
        .unwrap_or(req.path.len())..];
    let h = reply.start(Status::MovedPermanently);
    h.put(b"Location: /").put(path).put(b"/");
    if let Some(q) = req.query {
        h.put(b"?").put(q);
    }
    h.put(b"\r\n");
    reply.finish_empty();
}

/// Writes `"<ino>-<size>-<mtime>"` (hex) into `buf`.
fn etag(info: &FileInfo, buf: &mut [u8; 56]) -> usize {
    let mut h = Head::new(buf);
    h.put(b"\"")
        .hex(info.ino)
        .put(b"-")
        .hex(info.size)
        .put(b"-")
        .hex(info.mtime as u64)
        .put(b"\"");
    h.len()
}

fn file_reply(
    req: &Request<'_>,
    reply: &mut Reply<'_>,
    fd: OwnedFd,
    info: FileInfo,
    ctype: &[u8],
    gzip: bool,
) -> Result<Option<FileBody>, HttpError> {
    let mut tag_buf = [0u8; 56];
    let tag_len = etag(&info, &mut tag_buf);
    let tag = &tag_buf[..tag_len];
    let mtime = info.mtime.max(0) as u64;
    let mut lm = [0u8; 29];
    date::format_http_date(mtime, &mut lm);

    // RFC 9110 §13.2.2: evaluation order of the preconditions.
    if let Some(v) = req.if_match {
        if !etag_list_matches(v, tag, false) {
            return Err(HttpError::PreconditionFailed);
        }
    } else if let Some(v) = req.if_unmodified_since {
        if let Some(t) = date::parse_http_date(v) {
            if mtime > t {
                return Err(HttpError::PreconditionFailed);
            }
        }
    }
    let not_modified = match (req.if_none_match, req.if_modified_since) {
        (Some(v), _) => etag_list_matches(v, tag, true),
        (None, Some(v)) => date::parse_http_date(v).is_some_and(|t| mtime <= t),
        (None, None) => false,
    };
    if not_modified {
        let h = reply.start(Status::NotModified);
        h.header(b"ETag", tag).header(b"Last-Modified", &lm);
        if gzip {
            h.header(b"Vary", b"Accept-Encoding");
        }
        reply.finish_empty();
        return Ok(None);
    }

    let size = info.size;
    let (mut start, mut end, mut status) = (0u64, size, Status::Ok);
    if let (Some(r), Method::Get) = (req.range, req.method) {
        if if_range_allows(req.if_range, tag, mtime) {
            let mut ranges = [(0u64, 0u64); range::MAX_RANGES];
            match range::parse_range(r, size, &mut ranges) {
                range::RangeOutcome::Ignore => {}
                range::RangeOutcome::Unsatisfiable => {
                    let h = reply.start(Status::RangeNotSatisfiable);
                    h.put(b"Content-Range: bytes */").num(size).put(b"\r\n");
                    reply.finish_empty();
                    return Ok(None);
                }
                range::RangeOutcome::Ranges(n) => {
                    let one = if n == 1 {
                        Some(ranges[0])
                    } else {
                        range::coalesce(&ranges[..n.min(range::MAX_RANGES)])
                    };
                    if let Some((a, b)) = one {
                        start = a;
                        end = b + 1;
                        status = Status::PartialContent;
                    }
                }
            }
        }
    }

    let h = reply.start(status);
    h.header(b"Content-Type", ctype)
        .header_num(b"Content-Length", end - start)
        .header(b"Last-Modified", &lm)
        .header(b"ETag", tag)
        .header(b"Accept-Ranges", b"bytes");
    if gzip {
        h.header(b"Content-Encoding", b"gzip")
            .header(b"Vary", b"Accept-Encoding");
    }
    if status == Status::PartialContent {
        h.put(b"Content-Range: bytes ")
            .num(start)
            .put(b"-")
            .num(end - 1)
            .put(b"/")
            .num(size)
            .put(b"\r\n");
    }
    h.end();
    reply.set_body_len(end - start);
    Ok((req.method == Method::Get && end > start).then_some(FileBody { fd, start, end }))
}

/// If-Range (RFC 9110 §13.1.5): a strong ETag match or an exact date match.
fn if_range_allows(v: Option<&[u8]>, tag: &[u8], mtime: u64) -> bool {
    match v {
        None => true,
        Some(v) if v.starts_with(b"\"") => v == tag,
        Some(v) if v.starts_with(b"W/") => false,
        Some(v) => date::parse_http_date(v) == Some(mtime),
    }
}

/// Whether an If-Match / If-None-Match list matches `tag`; `weak` selects
/// the weak comparison (If-None-Match), otherwise strong.
fn etag_list_matches(v: &[u8], tag: &[u8], weak: bool) -> bool {
    let v = trim(v);
    if v == b"*" {
        return true;
    }
    let mut rest = v;
    loop {
        rest = trim_commas(rest);
        if rest.is_empty() {
            return false;
        }
        let is_weak = rest.starts_with(b"W/");
        if is_weak {
            rest = &rest[2..];
        }
        if rest.first() != Some(&b'"') {
            return false;
        }
        let close = match rest[1..].iter().position(|&b| b == b'"') {
            Some(i) => i + 2,
            None => return false,
        };
        let candidate = &rest[..close];
        if candidate == tag && (weak || !is_weak) {
            return true;
        }
        rest = &rest[close..];
    }
}

fn trim_commas(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b','))
        .unwrap_or(v.len());
    &v[start..]
}

/// Accept-Encoding names gzip (or `*`) with a non-zero q-value.
fn accepts_gzip(v: Option<&[u8]>) -> bool {
    let Some(v) = v else { return false };
    let mut star = false;
    for item in list(v) {
        let mut parts = item.split(|&b| b == b';');
        let coding = trim(parts.next().unwrap_or(b""));
        let mut q_zero = false;
        for p in parts {
            let p = trim(p);
            if p.len() >= 2 && p[..2].eq_ignore_ascii_case(b"q=") {
                let q = &p[2..];
                q_zero = !q.is_empty() && q.iter().all(|&b| b == b'0' || b == b'.');
            }
        }
        if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip") {
            return !q_zero;
        }
        if coding == b"*" {
            star = !q_zero;
        }
    }
    star
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_lists() {
        let tag = b"\"1-2-3\"";
        assert!(etag_list_matches(b"\"1-2-3\"", tag, false));
        assert!(etag_list_matches(b"*", tag, false));
        assert!(etag_list_matches(b"\"x\", W/\"1-2-3\"", tag, true));
        assert!(!etag_list_matches(b"W/\"1-2-3\"", tag, false));
        assert!(!etag_list_matches(b"\"x\"", tag, true));
        assert!(!etag_list_matches(b"\"1-2-3", tag, true));
        assert!(etag_list_matches(b" , \"a,b\" ,\"1-2-3\"", tag, true));
    }

    #[test]
    fn gzip_acceptance() {
        assert!(accepts_gzip(Some(b"gzip, deflate, br")));
        assert!(accepts_gzip(Some(b"deflate;q=0.5, GZIP;q=0.1")));
        assert!(!accepts_gzip(Some(b"gzip;q=0")));
        assert!(!accepts_gzip(Some(b"gzip;q=0.000, *")));
        assert!(accepts_gzip(Some(b"*")));
        assert!(!accepts_gzip(Some(b"identity")));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn if_range() {
        assert!(if_range_allows(None, b"\"a\"", 5));
        assert!(if_range_allows(Some(b"\"a\""), b"\"a\"", 5));
        assert!(!if_range_allows(Some(b"\"b\""), b"\"a\"", 5));
        assert!(!if_range_allows(Some(b"W/\"a\""), b"\"a\"", 5));
        assert!(if_range_allows(
            Some(b"Thu, 01 Jan 1970 00:00:05 GMT"),
            b"\"a\"",
            5
        ));
        assert!(!if_range_allows(
            Some(b"Thu, 01 Jan 1970 00:00:06 GMT"),
            b"\"a\"",
            5
        ));
    }
}
