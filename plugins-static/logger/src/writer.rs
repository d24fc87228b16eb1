//! The shared state and the writer thread: it drains the per-worker access
//! queues and the error queue into the targets (file, syslog, stderr, the
//! RAM ring), reopens files on request, and reports drops.
//!
//! Only this thread touches the targets (besides `open` at init and the
//! `ring` command reading the ring), so workers never wait on a disk or a
//! socket.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use fws_api::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::{Config, Target};
use crate::format::{self, Out, MAX_LINE};
use crate::queue::Queue;
use crate::ring::Ring;

/// Error-queue records start with a syslog severity byte, then the line,
/// whose first `ISO_PREFIX` bytes are the timestamp and a space.
pub const ISO_PREFIX: usize = 21;
/// Severity of access lines (informational).
const ACCESS_SEVERITY: u8 = 6;
/// How often a drop warning may be repeated.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// How long to wait before trying a missing syslog socket again.
const SYSLOG_RETRY: Duration = Duration::from_secs(1);

pub fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Counters, all monotonic.
#[derive(Default)]
pub struct Counters {
    pub access_written: AtomicU64,
    pub error_written: AtomicU64,
    pub dropped_disk_full: AtomicU64,
    pub dropped_write_error: AtomicU64,
    pub dropped_syslog: AtomicU64,
}

/// Everything the workers, the error logger, the commands and the writer
/// share.
pub struct Shared {
    pub cfg: Config,
    /// One per worker (none when the access log is off).
    pub queues: Box<[Queue]>,
    /// The error log's queue, when the error log is this plugin's.
    pub errq: Option<Queue>,
    pub ring: Option<Mutex<Ring>>,
    pub counters: Counters,
    pub writer: OnceLock<Thread>,
    pub running: AtomicBool,
    pub reopen_req: AtomicU64,
    pub reopen_done: AtomicU64,
    pub reopen_result: Mutex<Result<String, String>>,
    /// Flush requests (at exit) and the last one the writer completed.
    pub flush_req: AtomicU64,
    pub flush_done: AtomicU64,
    /// The open targets until the writer thread takes them.
    pub sinks: Mutex<Option<Sinks>>,
    /// Warnings found at init, logged once the loggers run.
    pub warnings: Mutex<Vec<String>>,
}

impl Shared {
    pub fn wake(&self) {
        if let Some(t) = self.writer.get() {
            t.unpark();
        }
    }

    /// (queue full, lock busy) summed over the queues.
    pub fn queue_drops(&self) -> (u64, u64) {
        self.queues
            .iter()
            .chain(self.errq.iter())
            .map(Queue::dropped)
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    pub fn dropped_total(&self) -> u64 {
        let (f, b) = self.queue_drops();
        let c = &self.counters;
        f + b
            + c.dropped_disk_full.load(Ordering::Relaxed)
            + c.dropped_write_error.load(Ordering::Relaxed)
            + c.dropped_syslog.load(Ordering::Relaxed)
    }
}

/// An open target.
pub enum Sink {
    Off,
    Stderr,
    File {
        path: PathBuf,
        file: File,
    },
    Syslog {
        facility: u8,
        path: PathBuf,
        sock: Option<UnixDatagram>,
        retry_at: Option<Instant>,
    },
    Ring,
}

pub struct Sinks {
    pub access: Sink,
    pub error: Sink,
}

/// Opens (creating with mode 0600) a log file for appending. Returns the
/// file and a warning when others can read it.
pub fn open_file(path: &Path) -> io::Result<(File, Option<String>)> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    let mode = file.metadata()?.mode();
    let warn = (mode & 0o004 != 0).then(|| {
        format!(
            "log file {} is readable by everyone (mode {:o}); chmod o-r it",
            path.display(),
            mode & 0o7777
        )
    });
    Ok((file, warn))
}

fn connect_syslog(path: &Path) -> Option<UnixDatagram> {
    let s = UnixDatagram::unbound().ok()?;
    s.connect(path).ok()?;
    s.set_nonblocking(true).ok()?;
    Some(s)
}

impl Sink {
    /// Opens a target. File errors are returned; a missing syslog socket
    /// is tolerated (retried when lines come).
    pub fn open(t: &Target) -> io::Result<(Sink, Option<String>)> {
        Ok(match t {
            Target::Off => (Sink::Off, None),
            Target::Stderr => (Sink::Stderr, None),
            Target::Ring => (Sink::Ring, None),
            Target::File(p) => {
                let (file, w) = open_file(p)?;
                (
                    Sink::File {
                        path: p.clone(),
                        file,
                    },
                    w,
                )
            }
            Target::Syslog { facility, path } => (
                Sink::Syslog {
                    facility: *facility,
                    path: path.clone(),
                    sock: connect_syslog(path),
                    retry_at: None,
                },
                None,
            ),
        })
    }

    /// Reopens a file (a new handle replaces the old one only when the
    /// open worked) or reconnects a syslog socket. Returns whether it was
    /// a file, and what went wrong.
    fn reopen(&mut self) -> (bool, Result<Option<String>, String>) {
        match self {
            Sink::File { path, file } => match open_file(path) {
                Ok((f, w)) => {
                    *file = f;
                    (true, Ok(w))
                }
                Err(e) => (true, Err(format!("cannot reopen {}: {e}", path.display()))),
            },
            Sink::Syslog {
                path,
                sock,
                retry_at,
                ..
            } => {
                *sock = connect_syslog(path);
                *retry_at = None;
                (false, Ok(None))
            }
            _ => (false, Ok(None)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Access,
    Error,
}

/// Buffers the writer owns, allocated once.
pub struct Scratch {
    /// Receives a queue's bytes by swap.
    pub spare: Vec<u8>,
    /// Error records without their severity bytes.
    pub plain: Vec<u8>,
    /// One syslog datagram.
    pub dgram: Box<[u8; MAX_LINE + 64]>,
}

impl Scratch {
    pub fn new(cap: usize) -> Self {
        Scratch {
            spare: Vec::with_capacity(cap),
            plain: Vec::with_capacity(cap),
            dgram: Box::new([0; MAX_LINE + 64]),
        }
    }
}

fn is_disk_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

fn lines_in(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

/// Writes `data` (whole lines); returns the lines written and counts the
/// lines lost to an error.
fn write_lines(w: &mut dyn Write, data: &[u8], c: &Counters) -> u64 {
    let mut off = 0;
    while off < data.len() {
        match w.write(&data[off..]) {
            Ok(0) => {
                c.dropped_write_error
                    .fetch_add(lines_in(&data[off..]), Ordering::Relaxed);
                return lines_in(&data[..off]);
            }
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // A partly written line counts as lost.
                let lost = lines_in(&data[off..]);
                if is_disk_full(&e) {
                    c.dropped_disk_full.fetch_add(lost, Ordering::Relaxed);
                } else {
                    c.dropped_write_error.fetch_add(lost, Ordering::Relaxed);
                }
                return lines_in(&data[..off]);
            }
        }
    }
    lines_in(data)
}

/// Splits a batch into records: for the error kind each record is
/// `(severity, line)`, for access `(6, line)`; lines keep their newline.
fn records(batch: &[u8], kind: Kind) -> impl Iterator<Item = (u8, &[u8])> {
    batch
        .split_inclusive(|&c| c == b'\n')
        .filter_map(move |r| match kind {
            Kind::Access => Some((ACCESS_SEVERITY, r)),
            Kind::Error => r.split_first().map(|(s, l)| (*s, l)),
        })
}

/// Delivers one batch to a sink; returns the lines delivered.
pub fn deliver(
    sink: &mut Sink,
    kind: Kind,
    batch: &[u8],
    sh: &Shared,
    scratch_plain: &mut Vec<u8>,
    dgram: &mut [u8],
    pid: u32,
) -> u64 {
    if batch.is_empty() {
        return 0;
    }
    let c = &sh.counters;
    // Files, stderr and the ring take the lines without severity bytes.
    let plain: &[u8] = match (kind, &*sink) {
        (Kind::Error, Sink::File { .. } | Sink::Stderr | Sink::Ring) => {
            scratch_plain.clear();
            for (_, l) in records(batch, kind) {
                if scratch_plain.len() + l.len() <= scratch_plain.capacity() {
                    scratch_plain.extend_from_slice(l);
                }
            }
            scratch_plain
        }
        _ => batch,
    };
    match sink {
        Sink::Off => 0,
        Sink::File { file, .. } => write_lines(file, plain, c),
        Sink::Stderr => write_lines(&mut io::stderr().lock(), plain, c),
        Sink::Ring => {
            let Some(ring) = &sh.ring else { return 0 };
            let mut r = relock(ring);
            let mut n = 0;
            for l in plain.split_inclusive(|&c| c == b'\n') {
                r.push(l);
                n += 1;
            }
            n
        }
        Sink::Syslog {
            facility,
            path,
            sock,
            retry_at,
        } => {
            let secs = now_secs();
            let mut n = 0;
            for (sev, line) in records(batch, kind) {
                let line = line.strip_suffix(b"\n").unwrap_or(line);
                // The syslog header has its own timestamp.
                let line = match kind {
                    Kind::Error => line.get(ISO_PREFIX..).unwrap_or(line),
                    Kind::Access => line,
                };
                let mut o = Out::new(dgram);
                format::syslog_header(&mut o, *facility, sev, secs, pid);
                o.put(line);
                let len = o.len();
                let msg = &dgram[..len];
                if sock.is_none() && retry_at.is_none_or(|t| Instant::now() >= t) {
                    *sock = connect_syslog(path);
                    if sock.is_none() {
                        *retry_at = Some(Instant::now() + SYSLOG_RETRY);
                    }
                }
                let sent = match sock.as_ref().map(|s| s.send(msg)) {
                    Some(Ok(_)) => true,
                    Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => false,
                    Some(Err(_)) => {
                        // The daemon restarted: reconnect once.
                        *sock = connect_syslog(path);
                        matches!(sock.as_ref().map(|s| s.send(msg)), Some(Ok(_)))
                    }
                    None => false,
                };
                if sent {
                    n += 1;
                } else {
                    c.dropped_syslog.fetch_add(1, Ordering::Relaxed);
                }
            }
            n
        }
    }
}

/// The writer thread's state.
pub struct Writer {
    pub sh: Arc<Shared>,
    pub sinks: Sinks,
    pub scratch: Scratch,
    pub pid: u32,
    reopen_seen: u64,
    reported: u64,
    last_warn: Option<Instant>,
}

impl Writer {
    pub fn new(sh: Arc<Shared>, sinks: Sinks) -> Self {
        let cap = sh
            .queues
            .iter()
            .chain(sh.errq.iter())
            .map(Queue::capacity)
            .max()
            .unwrap_or(0);
        Writer {
            sh,
            sinks,
            scratch: Scratch::new(cap),
            pid: std::process::id(),
            reopen_seen: 0,
            reported: 0,
            last_warn: None,
        }
    }

    /// Drains every queue once; returns whether anything was written.
    pub fn drain(&mut self) -> bool {
        let sh = self.sh.clone();
        let mut any = false;
        for q in sh.queues.iter() {
            self.scratch.spare.clear();
            q.take(&mut self.scratch.spare);
            if !self.scratch.spare.is_empty() {
                any = true;
                let n = deliver(
                    &mut self.sinks.access,
                    Kind::Access,
                    &self.scratch.spare,
                    &sh,
                    &mut self.scratch.plain,
                    &mut self.scratch.dgram[..],
                    self.pid,
                );
                sh.counters.access_written.fetch_add(n, Ordering::Relaxed);
            }
        }
        if let Some(q) = &sh.errq {
            self.scratch.spare.clear();
            q.take(&mut self.scratch.spare);
            if !self.scratch.spare.is_empty() {
                any = true;
                let n = deliver(
                    &mut self.sinks.error,
                    Kind::Error,
                    &self.scratch.spare,
                    &sh,
                    &mut self.scratch.plain,
                    &mut self.scratch.dgram[..],
                    self.pid,
                );
                sh.counters.error_written.fetch_add(n, Ordering::Relaxed);
            }
        }
        self.scratch.spare.clear();
        any
    }

    /// Handles a pending reopen request.
    pub fn maybe_reopen(&mut self) {
        let want = self.sh.reopen_req.load(Ordering::Acquire);
        if want == self.reopen_seen {
            return;
        }
        self.reopen_seen = want;
        let mut files = 0;
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        for s in [&mut self.sinks.access, &mut self.sinks.error] {
            let (is_file, r) = s.reopen();
            files += usize::from(is_file);
            match r {
                Ok(Some(w)) => warnings.push(w),
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        for w in warnings {
            log::warn!(target: "logger", "{w}");
        }
        let result = if errors.is_empty() {
            Ok(format!("reopened {files}\n"))
        } else {
            for e in &errors {
                log::error!(target: "logger", "{e}");
            }
            Err(errors.join("; "))
        };
        *relock(&self.sh.reopen_result) = result;
        self.sh.reopen_done.store(want, Ordering::Release);
    }

    /// Warns (at most every ten seconds) when lines were dropped.
    pub fn maybe_warn(&mut self) {
        let total = self.sh.dropped_total();
        if total <= self.reported || self.last_warn.is_some_and(|t| t.elapsed() < WARN_EVERY) {
            return;
        }
        let (full, busy) = self.sh.queue_drops();
        let c = &self.sh.counters;
        log::warn!(
            target: "logger",
            "{} log lines dropped so far (queue full {full}, busy {busy}, disk full {}, write error {}, syslog {})",
            total,
            c.dropped_disk_full.load(Ordering::Relaxed),
            c.dropped_write_error.load(Ordering::Relaxed),
            c.dropped_syslog.load(Ordering::Relaxed),
        );
        self.reported = total;
        self.last_warn = Some(Instant::now());
    }

    /// The thread's loop; never returns.
    pub fn run(mut self) {
        loop {
            let flush = self.sh.flush_req.load(Ordering::Acquire);
            self.maybe_reopen();
            let wrote = self.drain();
            self.maybe_warn();
            self.sh.flush_done.store(flush, Ordering::Release);
            if !wrote {
                std::thread::park_timeout(Duration::from_secs(1));
            }
        }
    }
}
