//! Linux specifics: sockets, `sendfile`, file opening relative to a docroot,
//! signals through a self-pipe, and registration with the poller.
//!
//! This is the only module that contains `unsafe`. Every `unsafe` block calls
//! one libc function with arguments that are valid for the duration of the
//! call, and carries a `// SAFETY:` comment saying why. Nothing here
//! allocates on the request path: paths are passed as caller-owned,
//! NUL-terminated byte slices and addresses are decoded from stack buffers.
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::time::Duration;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

fn set_int_opt(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` lives across the call and its size is passed exactly.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Options for a listening socket.
#[derive(Debug, Clone, Copy)]
pub struct ListenOptions {
    pub backlog: u32,
    pub nodelay: bool,
    pub fastopen: u32,
    pub defer_accept: bool,
}

/// Creates a non-blocking, close-on-exec listening TCP socket.
/// IPv6 sockets are `IPV6_V6ONLY`, so `[::]:80` and `0.0.0.0:80` can both be bound.
pub fn listen_tcp(addr: &SocketAddr, opts: ListenOptions) -> io::Result<OwnedFd> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: plain syscall with constant arguments.
    let raw = cvt(unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: `raw` is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    set_int_opt(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if family == libc::AF_INET6 {
        set_int_opt(raw, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    let (storage, len) = sockaddr_from(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes.
    cvt(unsafe { libc::bind(raw, (&storage as *const libc::sockaddr_storage).cast(), len) })?;
    let backlog = opts.backlog.min(i32::MAX as u32) as libc::c_int;
    // SAFETY: plain syscall on our descriptor.
    cvt(unsafe { libc::listen(raw, backlog) })?;
    if opts.nodelay {
        // Accepted sockets inherit TCP_NODELAY from the listener on Linux.
        set_int_opt(raw, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    }
    if opts.fastopen > 0 {
        let q = opts.fastopen.min(i32::MAX as u32) as libc::c_int;
        if let Err(e) = set_int_opt(raw, libc::IPPROTO_TCP, libc::TCP_FASTOPEN, q) {
            log::warn!("{addr}: TCP_FASTOPEN not available: {e}");
        }
    }
    if opts.defer_accept {
        if let Err(e) = set_int_opt(raw, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, 1) {
            log::warn!("{addr}: TCP_DEFER_ACCEPT not available: {e}");
        }
    }
    Ok(fd)
}

fn sockaddr_from(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large enough and suitably aligned for sockaddr_in.
            let sin = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(a.ip().octets()),
            };
            (storage, size_of::<libc::sockaddr_in>() as libc::socklen_t)
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is large enough and suitably aligned for sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            (storage, size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}

fn sockaddr_to(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in (ss_family says so).
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6 (ss_family says so).
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// The local address a socket is bound to (to print the real port of `:0`).
pub fn local_addr(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
    // SAFETY: all-zero sockaddr_storage is valid; len is its exact size.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: storage and len are valid for writes for the duration of the call.
    cvt(unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    })?;
    sockaddr_to(&storage).ok_or_else(|| io::Error::other("unknown address family"))
}

/// Accepts one connection as a non-blocking, close-on-exec socket.
pub fn accept(listener: BorrowedFd<'_>) -> io::Result<(OwnedFd, SocketAddr)> {
    // SAFETY: all-zero sockaddr_storage is valid; len is its exact size.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: storage and len are valid for writes; the listener is a live descriptor.
    let raw = cvt(unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })?;
    // SAFETY: accept4 returned a fresh descriptor that we now own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let peer = sockaddr_to(&storage)
        .unwrap_or(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)));
    Ok((fd, peer))
}

/// `read(2)` into `buf`.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for writes of buf.len() bytes.
    cvt_size(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// `send(2)` with `MSG_NOSIGNAL`, and `MSG_MORE` when more data follows at once
/// (the head before a `sendfile` body: both leave in one segment).
pub fn send(fd: BorrowedFd<'_>, buf: &[u8], more: bool) -> io::Result<usize> {
    let flags = libc::MSG_NOSIGNAL | if more { libc::MSG_MORE } else { 0 };
    // SAFETY: buf is valid for reads of buf.len() bytes.
    cvt_size(unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags) })
}

/// `sendfile(2)` from `file` at `*offset`, advancing it.
pub fn sendfile(
    sock: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    let mut off: libc::off_t = (*offset).min(i64::MAX as u64) as libc::off_t;
    // SAFETY: both descriptors are live; `off` is valid for reads and writes.
    let n =
        cvt_size(unsafe { libc::sendfile(sock.as_raw_fd(), file.as_raw_fd(), &mut off, count) })?;
    *offset = off as u64;
    Ok(n)
}

/// Whether the peer has closed its side: a one-byte `recv` with
/// `MSG_PEEK` that returns end-of-stream. Never consumes data (pipelined
/// bytes stay queued); `false` when data is waiting or nothing is known.
pub fn peer_closed(fd: BorrowedFd<'_>) -> bool {
    let mut b = [0u8; 1];
    // SAFETY: `b` is valid for writes of one byte; the descriptor is live.
    let n = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            b.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n == 0
}

/// `shutdown(fd, SHUT_WR)`: sends FIN after queued data.
pub fn shutdown_write(fd: BorrowedFd<'_>) {
    // SAFETY: plain syscall; failure (already closed by peer) is harmless.
    unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_WR) };
}

/// Opens a directory (the docroot) for use with [`open_at`].
pub fn open_dir(path_nul: &[u8]) -> io::Result<OwnedFd> {
    let path = cstr(path_nul)?;
    // SAFETY: path is NUL-terminated and outlives the call.
    let raw =
        cvt(unsafe { libc::open(path, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) })?;
    // SAFETY: fresh descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn cstr(path_nul: &[u8]) -> io::Result<*const libc::c_char> {
    match path_nul.iter().position(|&b| b == 0) {
        Some(i) if i + 1 == path_nul.len() => Ok(path_nul.as_ptr().cast()),
        _ => Err(io::Error::from(io::ErrorKind::InvalidInput)),
    }
}

/// Opens `rel_nul` (relative, NUL-terminated) below the directory `dir`,
/// read-only, non-blocking (FIFOs never block the worker), close-on-exec.
pub fn open_at(dir: BorrowedFd<'_>, rel_nul: &[u8]) -> io::Result<OwnedFd> {
    let path = cstr(rel_nul)?;
    // SAFETY: path is NUL-terminated and outlives the call; dir is live.
    let raw = cvt(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            path,
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY,
        )
    })?;
    // SAFETY: fresh descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Whether the kernel has `openat2` (0 unknown, 1 yes, 2 no).
static OPENAT2: AtomicU8 = AtomicU8::new(0);

/// Opens `rel_nul` below `dir` like [`open_at`], but lets the kernel refuse
/// any resolution that leaves `dir` (`openat2` with `RESOLVE_BENEATH`: no
/// `..` above it, no absolute or escaping symlink, no magic links).
/// `Ok(None)`: this kernel has no `openat2` (before Linux 5.6), use
/// [`open_at`] and check the result with [`fd_path`]. `EXDEV`: the path
/// leaves `dir` somewhere (it may still come back inside through an
/// absolute symlink; the caller decides with [`fd_path`]).
pub fn open_beneath(dir: BorrowedFd<'_>, rel_nul: &[u8]) -> io::Result<Option<OwnedFd>> {
    if OPENAT2.load(Ordering::Relaxed) == 2 {
        return Ok(None);
    }
    let path = cstr(rel_nul)?;
    // SAFETY: open_how is plain old data; all-zero is valid.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: path is NUL-terminated and `how` is a valid open_how of the
    // size passed; both outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path,
            &how as *const libc::open_how,
            size_of::<libc::open_how>(),
        )
    };
    if ret < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOSYS) {
            OPENAT2.store(2, Ordering::Relaxed);
            return Ok(None);
        }
        return Err(e);
    }
    OPENAT2.store(1, Ordering::Relaxed);
    // SAFETY: openat2 returned a fresh descriptor that we now own.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as RawFd) }))
}

/// A zero-filled anonymous mapping (the worker's buffer pool). Its pages
/// cost no resident memory until first touched, whatever the C library's
/// `calloc` does (musl's writes the zeroes, making the whole pool resident
/// at start).
pub struct Region {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the region is plain memory owned by one Region; access goes
// through &self / &mut self like a Box<[u8]>.
unsafe impl Send for Region {}
// SAFETY: as above; shared references only read.
unsafe impl Sync for Region {}

impl Region {
    /// A region of no bytes (no mapping).
    pub fn empty() -> Region {
        Region {
            ptr: std::ptr::NonNull::dangling().as_ptr(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn new(len: usize) -> io::Result<Region> {
        if len == 0 {
            return Ok(Region::empty());
        }
        // SAFETY: an anonymous private mapping with no address hint.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Region { ptr: p.cast(), len })
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: ptr is valid for len bytes (zero-filled by the kernel) for
        // the life of self, and &mut self gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: ptr/len are exactly the mapping made in `new`.
            unsafe { libc::munmap(self.ptr.cast(), self.len) };
        }
    }
}

/// What the engine needs of `fstat`.
#[derive(Debug, Clone, Copy)]
pub struct FileInfo {
    pub kind: FileKind,
    pub size: u64,
    pub mtime: i64,
    pub ino: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    Other,
}

pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<FileInfo> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: st is valid for writes of a struct stat.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so it initialised st.
    let st = unsafe { st.assume_init() };
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => FileKind::Regular,
        libc::S_IFDIR => FileKind::Directory,
        _ => FileKind::Other,
    };
    // The field types differ between targets (32-bit time_t and ino_t).
    #[allow(clippy::unnecessary_cast)]
    Ok(FileInfo {
        kind,
        size: st.st_size.max(0) as u64,
        mtime: st.st_mtime as i64,
        ino: st.st_ino as u64,
    })
}

/// Resolves the path an open descriptor really names (via `/proc/self/fd`)
/// into `out`, returning its length. Used to refuse files reached through
/// symlinks that leave the docroot.
pub fn fd_path(fd: BorrowedFd<'_>, out: &mut [u8]) -> io::Result<usize> {
    let mut link = [0u8; 32];
    let prefix = b"/proc/self/fd/";
    link[..prefix.len()].copy_from_slice(prefix);
    let mut n = prefix.len();
    let mut digits = [0u8; 12];
    let mut v = fd.as_raw_fd().max(0) as u32;
    let mut d = 0;
    loop {
        digits[d] = b'0' + (v % 10) as u8;
        d += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    while d > 0 {
        d -= 1;
        link[n] = digits[d];
        n += 1;
    }
    link[n] = 0;
    // SAFETY: link is NUL-terminated; out is valid for writes of out.len() bytes.
    let len = cvt_size(unsafe {
        libc::readlink(link.as_ptr().cast(), out.as_mut_ptr().cast(), out.len())
    })?;
    if len >= out.len() {
        return Err(io::Error::from(io::ErrorKind::InvalidData));
    }
    Ok(len)
}

/// Registers `fd` edge-triggered for reads and writes under `key`.
pub fn poll_add_edge(poller: &polling::Poller, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
    poll_add_edge_interest(poller, fd, key, true, true)
}

/// Registers `fd` edge-triggered with the given interest under `key`.
pub fn poll_add_edge_interest(
    poller: &polling::Poller,
    fd: BorrowedFd<'_>,
    key: usize,
    read: bool,
    write: bool,
) -> io::Result<()> {
    // SAFETY: the caller deletes the registration before the descriptor is
    // closed (connections: `Worker::close`; plugin descriptors: the stream's
    // `abort`, through `Io::deregister`).
    unsafe {
        poller.add_with_mode(
            fd.as_raw_fd(),
            polling::Event::new(key, read, write),
            polling::PollMode::Edge,
        )
    }
}

/// `pread(2)`: reads file bytes at `offset` (file bodies through a
/// transport that cannot `sendfile`).
pub fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let off = offset.min(i64::MAX as u64) as libc::off_t;
    // SAFETY: buf is valid for writes of buf.len() bytes.
    cvt_size(unsafe { libc::pread(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), off) })
}

/// Registers `fd` level-triggered for reads under `key`.
pub fn poll_add_level_read(
    poller: &polling::Poller,
    fd: BorrowedFd<'_>,
    key: usize,
) -> io::Result<()> {
    // SAFETY: as for `poll_add_edge`: deleted before the descriptor is closed.
    unsafe {
        poller.add_with_mode(
            fd.as_raw_fd(),
            polling::Event::readable(key),
            polling::PollMode::Level,
        )
    }
}

pub fn poll_delete(poller: &polling::Poller, fd: BorrowedFd<'_>) {
    let _ = poller.delete(fd);
}

/// Registers a listening socket in a worker's poller, level-triggered for
/// reads with `EPOLLEXCLUSIVE`: a new connection wakes one waiting worker,
/// not all of them (no thundering herd).
pub fn poll_add_listener(
    poller: &polling::Poller,
    fd: BorrowedFd<'_>,
    key: usize,
) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLEXCLUSIVE) as u32,
        u64: key as u64,
    };
    // SAFETY: both descriptors are live; `ev` is valid for reads. The
    // listener outlives the registration (workers delete it when they stop,
    // and the listeners are closed only after the workers are joined).
    cvt(unsafe {
        libc::epoll_ctl(
            poller.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd.as_raw_fd(),
            &mut ev,
        )
    })
    .map(drop)
}

/// One readiness report from [`poll_wait`].
#[derive(Clone, Copy)]
pub struct Ready {
    pub key: usize,
    pub readable: bool,
    pub writable: bool,
}

/// Reports of a [`poll_wait`], kept across waits (allocated once).
pub struct ReadyList {
    raw: Vec<libc::epoll_event>,
    len: usize,
}

impl ReadyList {
    pub fn with_capacity(n: usize) -> ReadyList {
        ReadyList {
            raw: vec![libc::epoll_event { events: 0, u64: 0 }; n.max(1)],
            len: 0,
        }
    }

    pub fn get(&self, i: usize) -> Option<Ready> {
        let e = self.raw[..self.len].get(i)?;
        let bits = e.events as libc::c_int;
        Some(Ready {
            key: e.u64 as usize,
            readable: bits & (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI)
                != 0,
            writable: bits & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) != 0,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Waits on a worker's poller with `epoll_wait` directly. `Poller::wait`
/// re-arms a timerfd and its notifier with three extra system calls per
/// wait; workers have their own [`Waker`] and a millisecond timeout is
/// plenty for deadlines checked a few times a second.
pub fn poll_wait(
    poller: &polling::Poller,
    list: &mut ReadyList,
    timeout: Duration,
) -> io::Result<()> {
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
    list.len = 0;
    // SAFETY: `raw` is valid for writes of its full length; the kernel
    // writes at most that many entries and returns their count.
    let n = unsafe {
        libc::epoll_wait(
            poller.as_raw_fd(),
            list.raw.as_mut_ptr(),
            list.raw.len().min(i32::MAX as usize) as libc::c_int,
            ms,
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(())
        } else {
            Err(e)
        };
    }
    list.len = n as usize;
    Ok(())
}

/// Wakes a worker from another thread: an eventfd registered edge-triggered
/// in the worker's poller. Wakes are coalesced until the worker takes them.
pub struct Waker {
    fd: OwnedFd,
    pending: std::sync::atomic::AtomicBool,
}

impl Waker {
    pub fn new() -> io::Result<Waker> {
        // SAFETY: plain syscall; the result is checked.
        let raw = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        Ok(Waker {
            // SAFETY: eventfd returned a fresh descriptor that we now own.
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
            pending: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Registers the waker in `poller` under `key`.
    pub fn register(&self, poller: &polling::Poller, key: usize) -> io::Result<()> {
        poll_add_edge_interest(poller, self.fd.as_fd(), key, true, false)
    }

    /// Wakes the worker (one write until it takes the wake).
    pub fn wake(&self) {
        if !self.pending.swap(true, Ordering::SeqCst) {
            let one = 1u64.to_ne_bytes();
            // SAFETY: `one` is valid for reads of 8 bytes. A full counter
            // (EAGAIN) still leaves the descriptor readable: nothing lost.
            unsafe { libc::write(self.fd.as_raw_fd(), one.as_ptr().cast(), 8) };
        }
    }

    /// The worker takes the wake: call before looking at what it was woken for.
    pub fn take(&self) {
        let mut b = [0u8; 8];
        // SAFETY: `b` is valid for writes of 8 bytes.
        unsafe { libc::read(self.fd.as_raw_fd(), b.as_mut_ptr().cast(), 8) };
        self.pending.store(false, Ordering::SeqCst);
    }
}

/// Stops a listening socket from taking connections (new ones are refused)
/// while the descriptor stays valid for the workers that still hold it.
pub fn stop_listening(fd: BorrowedFd<'_>) {
    // SAFETY: plain syscall on a live descriptor; on a listening TCP socket
    // SHUT_RD leaves the LISTEN state.
    unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_RD) };
}

// ---- signals -------------------------------------------------------------

static SIGNAL_PIPE_WR: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIGNAL_PIPE_WR.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; b lives across the call.
        unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
    }
}

/// Installs handlers for SIGTERM, SIGINT and SIGHUP that write the signal
/// number to a non-blocking pipe, and ignores SIGPIPE. Returns the read end.
pub fn signal_pipe() -> io::Result<OwnedFd> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is valid for writes of two ints.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two fresh descriptors; we own the read end, the
    // write end is kept for the life of the process by the signal handler.
    let rd = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    let old = SIGNAL_PIPE_WR.swap(fds[1], Ordering::SeqCst);
    if old >= 0 {
        // SAFETY: the previous write end is no longer referenced.
        unsafe { libc::close(old) };
    }
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: sigaction with a zeroed struct and a valid handler.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            cvt(libc::sigaction(sig, &sa, std::ptr::null_mut()))?;
        }
    }
    ignore_sigpipe();
    Ok(rd)
}

pub fn ignore_sigpipe() {
    // SAFETY: setting a signal to SIG_IGN is always valid.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Reads pending signal numbers from the pipe into `out`.
pub fn read_signals(fd: BorrowedFd<'_>, out: &mut [u8]) -> usize {
    read(fd, out).unwrap_or(0)
}

/// Number of CPUs available to this process.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// A user and group to run as after the listeners are bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
}

/// The effective user id of the process.
pub fn euid() -> u32 {
    // SAFETY: geteuid takes no arguments and cannot fail.
    unsafe { libc::geteuid() }
}

/// Looks a user up by name (or a decimal uid) in the system's user
/// database; returns its uid and primary gid, `Ok(None)` when unknown.
pub fn lookup_user(name: &str) -> io::Result<Option<Identity>> {
    let cname = std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a user name"))?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut pw = MaybeUninit::<libc::passwd>::uninit();
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call: `cname` is NUL-terminated,
    // `pw` and `result` are writable, `buf` is writable for `buf.len()`
    // bytes. getpwnam_r writes the strings it returns into `buf`, which we
    // do not read (only the integer fields).
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            pw.as_mut_ptr(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    if result.is_null() {
        return Ok(None);
    }
    // SAFETY: a non-null `result` means getpwnam_r filled in `pw`.
    let pw = unsafe { pw.assume_init() };
    Ok(Some(Identity {
        uid: pw.pw_uid,
        gid: pw.pw_gid,
    }))
}

/// Looks a group up by name in the system's group database.
pub fn lookup_group(name: &str) -> io::Result<Option<u32>> {
    let cname = std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a group name"))?;
    // Groups with many members need a large buffer; grow on ERANGE up to
    // 1 MiB (start-up only).
    let mut size = 16 * 1024;
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        let mut gr = MaybeUninit::<libc::group>::uninit();
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: as in `lookup_user`: NUL-terminated name, writable
        // `gr`, `result` and `buf` (for `buf.len()` bytes).
        let rc = unsafe {
            libc::getgrnam_r(
                cname.as_ptr(),
                gr.as_mut_ptr(),
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && size < (1 << 20) {
            size *= 4;
            continue;
        }
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        if result.is_null() {
            return Ok(None);
        }
        // SAFETY: a non-null `result` means getgrnam_r filled in `gr`.
        let gr = unsafe { gr.assume_init() };
        return Ok(Some(gr.gr_gid));
    }
}

/// Switches the whole process to `id` for good: supplementary groups
/// cleared, then the group, then the user (in that order: after setuid the
/// others are no longer permitted). Then checks that the switch took and
/// that root cannot be regained. Call before any thread is started, so that
/// every thread runs with the new identity.
pub fn drop_privileges(id: Identity) -> io::Result<()> {
    // SAFETY: a zero-length list with a null pointer is the documented way
    // to clear the supplementary groups.
    cvt(unsafe { libc::setgroups(0, std::ptr::null()) })?;
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::setgid(id.gid) })?;
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::setuid(id.uid) })?;
    // SAFETY: these take no arguments and cannot fail.
    let (uid, euid, gid, egid) = unsafe {
        (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
        )
    };
    if (uid, euid, gid, egid) != (id.uid, id.uid, id.gid, id.gid) {
        return Err(io::Error::other(format!(
            "still uid {uid}/{euid}, gid {gid}/{egid} after the switch"
        )));
    }
    // SAFETY: passing a null list with size 0 only asks for the count.
    let ngroups = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    if ngroups > 1
        || ngroups == 1 && {
            let mut g: libc::gid_t = 0;
            // SAFETY: `g` is writable room for exactly one group id.
            unsafe { libc::getgroups(1, &mut g) };
            g != id.gid
        }
    {
        return Err(io::Error::other("supplementary groups were not cleared"));
    }
    // SAFETY: plain integer argument; this must fail for a non-root target.
    if id.uid != 0 && unsafe { libc::setuid(0) } == 0 {
        return Err(io::Error::other("root could be regained after the switch"));
    }
    Ok(())
}
