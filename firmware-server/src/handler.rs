//! The static-file content handler: docroots and virtual hosts, path
//! resolution that cannot leave the docroot, index files, redirects,
//! precompressed variants, conditional requests and ranges.
//!
//! Contract: [`serve`] never panics and never allocates. It writes the whole
//! response head (and, for errors and redirects, the small body) through the
//! caller's [`Reply`] and returns the file to send, if any, or the directory
//! it found without an index file (for the plugins' directory handlers).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fws_api::gateway::Offload;
use fws_api::plugin::Reply;

use crate::config::Config;
use crate::http::error::HttpError;
use crate::http::request::{host_without_port, list, trim, Framing, Method, Request};
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

/// Per-worker scratch space and the open-file cache, allocated once.
pub struct Scratch {
    /// The normalised request path (what plugins see).
    pub norm: Box<[u8; PATH_SCRATCH]>,
    path: Box<[u8; PATH_SCRATCH]>,
    link: Box<[u8; LINK_SCRATCH]>,
    cache: FileCache,
    /// The last Last-Modified value formatted, by mtime.
    lm: (i64, [u8; 29]),
    now: Instant,
}

impl Scratch {
    pub fn new(cache_entries: usize, cache_ttl: Duration) -> Self {
        Scratch {
            norm: Box::new([0; PATH_SCRATCH]),
            path: Box::new([0; PATH_SCRATCH]),
            link: Box::new([0; LINK_SCRATCH]),
            cache: FileCache::new(cache_entries, cache_ttl),
            lm: (i64::MIN, [0; 29]),
            now: Instant::now(),
        }
    }
}

/// Longest relative path the file cache keeps (longer ones are opened
/// every time).
const CACHE_KEY_MAX: usize = 120;
/// Most cache slots one request can hold on to (file, index, variant).
const MAX_PINS: usize = 4;
/// Files up to this size are also kept in memory by their cache slot, so
/// a hit answers without reading the file (they go out with the head in
/// one send anyway; larger ones go by sendfile).
const BODY_CACHE_MAX: usize = 2048;

/// What one cache slot knows.
enum Cached {
    Empty,
    /// The open failed with this error (404, 403): misses are cached too.
    Miss(HttpError),
    /// Open: the descriptor is in the slot's `fd`.
    Open(FileInfo),
}

struct CacheSlot {
    hash: u64,
    vhost: u16,
    key_len: u8,
    key: [u8; CACHE_KEY_MAX],
    expires: Instant,
    entry: Cached,
    /// The open descriptor, shared without a `dup` with the bodies being
    /// sent from it (allocated at start-up; only replaced while no body
    /// holds it).
    fd: Rc<Option<OwnedFd>>,
    /// Bytes of the file held in the slot's body area (valid while the
    /// entry is; `None`: not read yet).
    body: Option<u16>,
}

/// A per-worker, direct-mapped cache of open files (and failed opens),
/// trusted for `ttl`, like lighttpd's stat cache: a hit costs no syscall,
/// a file changed on disk is seen within `ttl`. Slots a request is using
/// are pinned until its next request, so a later lookup of the same
/// request (index file, gzip variant) never closes a descriptor in use.
pub struct FileCache {
    slots: Box<[CacheSlot]>,
    /// `BODY_CACHE_MAX` bytes per slot, touched only as small files are
    /// cached.
    bodies: sys::Region,
    ttl: Duration,
    pins: [usize; MAX_PINS],
    npins: usize,
}

/// An open file: owned (not cached) or a pinned cache slot.
pub enum Opened {
    Owned(OwnedFd, FileInfo),
    Cached(usize),
}

impl FileCache {
    fn new(entries: usize, ttl: Duration) -> FileCache {
        let entries = if ttl.is_zero() { 0 } else { entries };
        let now = Instant::now();
        let slots = (0..entries)
            .map(|_| CacheSlot {
                hash: 0,
                vhost: 0,
                key_len: 0,
                key: [0; CACHE_KEY_MAX],
                expires: now,
                entry: Cached::Empty,
                fd: Rc::new(None),
                body: None,
            })
            .collect();
        // Without the body area small files are read each time: no error.
        let bodies =
            sys::Region::new(entries * BODY_CACHE_MAX).unwrap_or_else(|_| sys::Region::empty());
        FileCache {
            slots,
            bodies,
            ttl,
            pins: [0; MAX_PINS],
            npins: 0,
        }
    }

    /// A new request: nothing is pinned.
    fn unpin_all(&mut self) {
        self.npins = 0;
    }

    fn hash(vhost: usize, key: &[u8]) -> u64 {
        // FNV-1a.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ vhost as u64;
        for &b in key {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    }

    fn slot_of(&self, hash: u64) -> Option<usize> {
        (!self.slots.is_empty()).then(|| (hash % self.slots.len() as u64) as usize)
    }

    /// A live entry for `key`, pinned.
    fn get(&mut self, vhost: usize, key: &[u8], now: Instant) -> Option<Result<usize, HttpError>> {
        if key.len() > CACHE_KEY_MAX {
            return None;
        }
        let hash = Self::hash(vhost, key);
        let i = self.slot_of(hash)?;
        let s = &self.slots[i];
        if s.hash != hash
            || s.vhost as usize != vhost
            || &s.key[..s.key_len as usize] != key
            || s.expires <= now
        {
            return None;
        }
        match &s.entry {
            Cached::Empty => None,
            Cached::Miss(e) => Some(Err(*e)),
            Cached::Open(..) => {
                if self.npins >= MAX_PINS {
                    return None;
                }
                self.pins[self.npins] = i;
                self.npins += 1;
                Some(Ok(i))
            }
        }
    }

    /// Stores the result of an open (when it can) and hands it back.
    fn put(
        &mut self,
        vhost: usize,
        key: &[u8],
        now: Instant,
        r: Result<(OwnedFd, FileInfo), HttpError>,
    ) -> Result<Opened, HttpError> {
        let cacheable = key.len() <= CACHE_KEY_MAX
            && vhost <= u16::MAX as usize
            && !matches!(
                r,
                Err(HttpError::Internal)
                    | Err(HttpError::UriTooLong)
                    | Err(HttpError::ServiceUnavailable)
            );
        let hash = Self::hash(vhost, key);
        let slot = self
            .slot_of(hash)
            .filter(|i| cacheable && !self.pins[..self.npins].contains(i));
        let (Some(i), true) = (slot, self.npins < MAX_PINS || r.is_err()) else {
            return r.map(|(fd, info)| Opened::Owned(fd, info));
        };
        let s = &mut self.slots[i];
        let same_key =
            s.hash == hash && s.vhost as usize == vhost && &s.key[..s.key_len as usize] == key;
        if let (true, Cached::Open(old), Ok((_, new))) = (same_key, &s.entry, &r) {
            if old.ino == new.ino && old.size == new.size && old.mtime == new.mtime {
                // Expired but unchanged: trust the cached descriptor for
                // another period (the new one is closed); a kept body is
                // read again, since mtime has one-second resolution.
                s.expires = now + self.ttl;
                s.body = None;
                self.pins[self.npins] = i;
                self.npins += 1;
                return Ok(Opened::Cached(i));
            }
        }
        // A body still being sent holds the slot's descriptor: leave the
        // slot alone.
        let Some(cell) = Rc::get_mut(&mut s.fd) else {
            return r.map(|(fd, info)| Opened::Owned(fd, info));
        };
        s.hash = hash;
        s.vhost = vhost as u16;
        s.key_len = key.len() as u8;
        s.key[..key.len()].copy_from_slice(key);
        s.expires = now + self.ttl;
        s.body = None;
        match r {
            Err(e) => {
                *cell = None;
                s.entry = Cached::Miss(e);
                Err(e)
            }
            Ok((fd, info)) => {
                *cell = Some(fd);
                s.entry = Cached::Open(info);
                self.pins[self.npins] = i;
                self.npins += 1;
                Ok(Opened::Cached(i))
            }
        }
    }

    fn fd(&self, i: usize) -> Option<BorrowedFd<'_>> {
        let s = self.slots.get(i)?;
        match &s.entry {
            Cached::Open(_) => s.fd.as_ref().as_ref().map(|f| f.as_fd()),
            _ => None,
        }
    }

    fn info(&self, i: usize) -> Option<FileInfo> {
        match &self.slots.get(i)?.entry {
            Cached::Open(info) => Some(*info),
            _ => None,
        }
    }

    /// The whole content of the small regular file in slot `i`, read into
    /// the slot's body area on first use; `None` when the file is too big,
    /// there is no body area, or the read came up short.
    fn body(&mut self, i: usize) -> Option<&[u8]> {
        let s = self.slots.get(i)?;
        let (Cached::Open(info), Some(fd)) = (&s.entry, s.fd.as_ref()) else {
            return None;
        };
        let size = info.size as usize;
        if info.kind != sys::FileKind::Regular
            || info.size > BODY_CACHE_MAX as u64
            || self.bodies.len() < (i + 1) * BODY_CACHE_MAX
        {
            return None;
        }
        let area = &mut self.bodies.as_mut_slice()[i * BODY_CACHE_MAX..][..size];
        if self.slots[i].body.is_none() {
            match sys::pread(fd.as_fd(), area, 0) {
                Ok(n) if n == size => self.slots[i].body = Some(size as u16),
                _ => return None,
            }
        }
        (self.slots[i].body == Some(size as u16)).then_some(&*area)
    }
}

impl Opened {
    fn info(&self, cache: &FileCache) -> Result<FileInfo, HttpError> {
        match self {
            Opened::Owned(_, info) => Ok(*info),
            Opened::Cached(i) => cache.info(*i).ok_or(HttpError::Internal),
        }
    }

    fn fd<'a>(&'a self, cache: &'a FileCache) -> Result<BorrowedFd<'a>, HttpError> {
        match self {
            Opened::Owned(fd, _) => Ok(fd.as_fd()),
            Opened::Cached(i) => cache.fd(*i).ok_or(HttpError::Internal),
        }
    }

    /// The descriptor for a body that outlives the request's pins: a
    /// cached one is shared with its slot (no `dup`).
    fn into_body_fd(self, cache: &FileCache) -> Result<BodyFd, HttpError> {
        match self {
            Opened::Owned(fd, _) => Ok(BodyFd::Owned(fd)),
            Opened::Cached(i) => {
                let s = cache.slots.get(i).ok_or(HttpError::Internal)?;
                match (&s.entry, s.fd.is_some()) {
                    (Cached::Open(_), true) => Ok(BodyFd::Shared(s.fd.clone())),
                    _ => Err(HttpError::Internal),
                }
            }
        }
    }

    /// An owned descriptor (a `dup` of a cached one) for a body that
    /// outlives the request's pins.
    fn into_owned(self, cache: &FileCache) -> Result<OwnedFd, HttpError> {
        match self {
            Opened::Owned(fd, _) => Ok(fd),
            Opened::Cached(i) => cache
                .fd(i)
                .ok_or(HttpError::Internal)?
                .try_clone_to_owned()
                .map_err(|_| HttpError::Internal),
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
    pub fd: BodyFd,
    pub start: u64,
    pub end: u64,
}

/// A body's descriptor: its own, or the open-file cache's (shared).
pub enum BodyFd {
    Owned(OwnedFd),
    Shared(Rc<Option<OwnedFd>>),
}

impl BodyFd {
    pub fn get(&self) -> Option<BorrowedFd<'_>> {
        match self {
            BodyFd::Owned(fd) => Some(fd.as_fd()),
            BodyFd::Shared(rc) => rc.as_ref().as_ref().map(|f| f.as_fd()),
        }
    }
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
    now: Instant,
) -> Served {
    scratch.now = now;
    scratch.cache.unpin_all();
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
    let opened = open_checked(site, root, vhost, scratch, rel_len, b"")?;
    let info = opened.info(&scratch.cache)?;
    let (opened, info) = match info.kind {
        FileKind::Regular => {
            if trailing_slash && norm_len > 0 {
                // "/file.html/" names no directory.
                return Err(HttpError::NotFound);
            }
            (opened, info)
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
                match open_checked(site, root, vhost, scratch, n, b"") {
                    Ok(index) => {
                        let info = index.info(&scratch.cache)?;
                        if info.kind == FileKind::Regular {
                            found = Some((index, info, n));
                            break;
                        }
                    }
                    Err(HttpError::NotFound) => {}
                    Err(e) => return Err(e),
                }
            }
            match found {
                Some((index, info, n)) => {
                    rel_len = n;
                    (index, info)
                }
                None => return Ok(Served::Directory(opened.into_owned(&scratch.cache)?)),
            }
        }
        FileKind::Other => return Err(HttpError::Forbidden),
    };

    // A precompressed sibling, when the client takes gzip.
    let mut gzip = false;
    let (opened, info) = if site.gzip_static && accepts_gzip(req.accept_encoding) {
        match open_checked(site, root, vhost, scratch, rel_len, b".gz") {
            Ok(gz) => match gz.info(&scratch.cache) {
                Ok(gzinfo) if gzinfo.kind == FileKind::Regular => {
                    gzip = true;
                    (gz, gzinfo)
                }
                _ => (opened, info),
            },
            Err(_) => (opened, info),
        }
    } else {
        (opened, info)
    };
    let ctype = site.content_type(&scratch.path[..rel_len]);
    file_reply(req, reply, opened, info, ctype, gzip, b"", scratch).map(Served::Reply)
}

/// Opens `scratch.path[..len]` + `suffix` below `root` (through the file
/// cache), refusing files reached through symlinks that leave the root.
fn open_checked(
    site: &Site,
    root: &Root,
    vhost: usize,
    scratch: &mut Scratch,
    len: usize,
    suffix: &[u8],
) -> Result<Opened, HttpError> {
    let Scratch {
        path,
        link,
        cache,
        now,
        ..
    } = scratch;
    let p = &mut path[..];
    let end = if len == 0 && suffix.is_empty() {
        p[0] = b'.';
        1
    } else {
        let end = len + suffix.len();
        if end + 1 > p.len() {
            return Err(HttpError::UriTooLong);
        }
        p[len..end].copy_from_slice(suffix);
        end
    };
    p[end] = 0;
    if let Some(hit) = cache.get(vhost, &p[..end], *now) {
        return hit.map(Opened::Cached);
    }
    let r = open_uncached(site, root, &p[..end + 1], &mut link[..]);
    cache.put(vhost, &p[..end], *now, r)
}

fn open_uncached(
    site: &Site,
    root: &Root,
    rel: &[u8],
    link: &mut [u8],
) -> Result<(OwnedFd, FileInfo), HttpError> {
    let map = |e: io::Error| match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => HttpError::NotFound,
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::ELOOP) | Some(libc::ENXIO) => {
            HttpError::Forbidden
        }
        Some(libc::ENAMETOOLONG) => HttpError::UriTooLong,
        // Out of descriptors or memory: a passing shortage, not a fault of
        // the file (503; never cached).
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOMEM) => {
            HttpError::ServiceUnavailable
        }
        _ => HttpError::Internal,
    };
    let fd = if site.follow_symlinks {
        sys::open_at(root.dir.as_fd(), rel).map_err(map)?
    } else {
        // The kernel refuses escapes in the same call where it can (one
        // syscall); otherwise, or when the path leaves the root on its way
        // (an absolute symlink may lead back inside), check where the open
        // descriptor really points.
        match sys::open_beneath(root.dir.as_fd(), rel) {
            Ok(Some(fd)) => fd,
            Ok(None) => checked_by_path(root, rel, link).map_err(map)??,
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                checked_by_path(root, rel, link).map_err(map)??
            }
            Err(e) => return Err(map(e)),
        }
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

/// Serves a file a gateway named (X-Sendfile) exactly as a static file:
/// the same head, validators, preconditions and ranges, with the gateway's
/// passed-on headers added. The caller checked where the file lies.
pub fn serve_offload(
    site: &Site,
    scratch: &mut Scratch,
    o: Offload,
    reply: &mut Reply<'_>,
    now: Instant,
) -> Option<FileBody> {
    scratch.now = now;
    let c = &o.cond;
    let req = Request {
        method: if c.head_only {
            Method::Head
        } else {
            Method::Get
        },
        minor: c.minor,
        target: b"",
        path: b"",
        query: None,
        host: None,
        framing: Framing::None,
        keep_alive: o.keep_alive,
        expect_continue: false,
        if_none_match: c.if_none_match.as_deref(),
        if_modified_since: c.if_modified_since.as_deref(),
        if_match: c.if_match.as_deref(),
        if_unmodified_since: c.if_unmodified_since.as_deref(),
        range: c.range.as_deref(),
        if_range: c.if_range.as_deref(),
        accept_encoding: None,
        headers: &[],
        head_len: 0,
    };
    let result = match sys::fstat(o.file.as_fd()) {
        Err(_) => Err(HttpError::Internal),
        Ok(info) if info.kind != FileKind::Regular => Err(HttpError::Forbidden),
        Ok(info) => {
            let name = o.name.as_os_str().as_encoded_bytes();
            let ctype = match &o.content_type {
                Some(t) => &t[..],
                None => site.content_type(name),
            };
            file_reply(
                &req,
                reply,
                Opened::Owned(o.file, info),
                info,
                ctype,
                false,
                &o.headers,
                scratch,
            )
        }
    };
    result.unwrap_or_else(|e| {
        reply.reset();
        reply.error(e);
        None
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

#[allow(clippy::too_many_arguments)]
fn file_reply(
    req: &Request<'_>,
    reply: &mut Reply<'_>,
    opened: Opened,
    info: FileInfo,
    ctype: &[u8],
    gzip: bool,
    extra: &[u8],
    scratch: &mut Scratch,
) -> Result<Option<FileBody>, HttpError> {
    let mut tag_buf = [0u8; 56];
    let tag_len = etag(&info, &mut tag_buf);
    let tag = &tag_buf[..tag_len];
    let mtime = info.mtime.max(0) as u64;
    if scratch.lm.0 != info.mtime {
        scratch.lm.0 = info.mtime;
        date::format_http_date(mtime, &mut scratch.lm.1);
    }
    let lm = scratch.lm.1;

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
        h.put(extra);
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
    h.put(extra).end();
    reply.set_body_len(end - start);
    if req.method != Method::Get || end == start {
        return Ok(None);
    }
    let len = (end - start) as usize;
    let space = reply.body_space();
    if (end - start) <= space.len() as u64 {
        // A small body goes out with the head in one send, from the cache
        // when the file is small enough to be kept there.
        if let Opened::Cached(i) = opened {
            if let Some(b) = scratch.cache.body(i) {
                if let Some(part) = b.get(start as usize..end as usize) {
                    space[..len].copy_from_slice(part);
                    reply.commit_body(len);
                    return Ok(None);
                }
            }
        }
        let cache = &scratch.cache;
        let fd = opened.fd(cache)?;
        match sys::pread(fd, &mut space[..len], start) {
            Ok(n) if n == len => {
                reply.commit_body(n);
                return Ok(None);
            }
            // The file shrank under us: the length promised cannot be kept.
            _ => {
                reply.reset();
                return Err(HttpError::Internal);
            }
        }
    }
    Ok(Some(FileBody {
        fd: opened.into_body_fd(&scratch.cache)?,
        start,
        end,
    }))
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
/// the weak comparison (If-None-Match), otherwise strong. Public for the
/// fuzz target `conditional`.
pub fn etag_list_matches(v: &[u8], tag: &[u8], weak: bool) -> bool {
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

    fn open_file(path: &Path) -> (OwnedFd, FileInfo) {
        let fd = OwnedFd::from(std::fs::File::open(path).unwrap());
        let info = sys::fstat(fd.as_fd()).unwrap();
        (fd, info)
    }

    #[test]
    fn cache_shares_descriptors_with_bodies_and_revalidates() {
        let dir = std::env::temp_dir().join(format!("fws-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::write(&a, b"first").unwrap();
        std::fs::write(&b, b"other").unwrap();
        let ttl = Duration::from_secs(1);
        let mut cache = FileCache::new(1, ttl);
        let t0 = Instant::now();

        // A miss is stored; its body is kept; a body shares the descriptor.
        let Ok(Opened::Cached(i)) = cache.put(0, b"a", t0, Ok(open_file(&a))) else {
            panic!("not cached")
        };
        assert_eq!(cache.body(i), Some(&b"first"[..]));
        let body = Opened::Cached(i).into_body_fd(&cache).unwrap();
        assert!(matches!(body, BodyFd::Shared(_)));
        cache.unpin_all();

        // While that body is in flight the slot is not replaced: another
        // file mapping to it is served from its own descriptor.
        let r = cache.put(0, b"b", t0, Ok(open_file(&b)));
        assert!(matches!(r, Ok(Opened::Owned(..))));
        cache.unpin_all();

        // Expired and unchanged: the same slot is trusted again, with the
        // body in flight still holding it; the kept body is read again.
        let t1 = t0 + ttl * 2;
        assert!(cache.get(0, b"a", t1).is_none());
        let Ok(Opened::Cached(j)) = cache.put(0, b"a", t1, Ok(open_file(&a))) else {
            panic!("not revalidated")
        };
        assert_eq!(i, j);
        assert_eq!(cache.body(j), Some(&b"first"[..]));
        cache.unpin_all();

        // Once the body is done the slot can take another file.
        drop(body);
        let r = cache.put(0, b"b", t1, Ok(open_file(&b)));
        assert!(matches!(r, Ok(Opened::Cached(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
