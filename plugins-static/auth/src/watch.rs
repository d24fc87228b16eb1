//! The htpasswd files, shared by the workers, and their reloading.
//!
//! Each file's current [`Table`] sits behind a mutex with a generation
//! counter beside it. A worker compares the counter (one atomic load) on
//! each authenticated request and takes the mutex only when it changed, to
//! clone the new `Arc` — no lock on the request path in the steady state,
//! and no disk access on a worker ever.
//!
//! One watcher thread (started from the process context) stats every file
//! once a second — device, inode, size, mtime and ctime with nanoseconds —
//! and re-reads a file that changed; SIGHUP (the `reload` hook) makes it
//! re-read at once. A file is read only when two stats around the read
//! agree (a file being written is retried a second later). A file that
//! fails to parse, or cannot be read, leaves the previous table in force and
//! is logged (`FILE:LINE: why`) once per change.

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;

use fws_api::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::htpasswd::{self, Table, MAX_FILE};

/// What identifies a version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// Why a load did not produce a table.
#[derive(Debug)]
pub enum LoadError {
    /// Cannot stat, open or read it.
    Io(String),
    /// It changed while being read: try again later.
    Changing,
    /// `FILE:LINE: message` lines.
    Parse(Vec<String>),
}

pub struct Loaded {
    pub table: Table,
    pub warnings: Vec<String>,
    pub stamp: Stamp,
}

/// Reads and parses one htpasswd file.
pub fn load(path: &str) -> Result<Loaded, LoadError> {
    let io = |e: std::io::Error| LoadError::Io(format!("{path}: {e}"));
    let before = fs::metadata(path).map_err(io)?;
    if !before.is_file() {
        return Err(LoadError::Io(format!("{path}: not a regular file")));
    }
    let mut text = Vec::new();
    fs::File::open(path)
        .map_err(io)?
        .take(MAX_FILE as u64 + 1)
        .read_to_end(&mut text)
        .map_err(io)?;
    let after = fs::metadata(path).map_err(io)?;
    let stamp = Stamp::of(&after);
    if Stamp::of(&before) != stamp || text.len() as u64 != after.size() && text.len() <= MAX_FILE {
        return Err(LoadError::Changing);
    }
    let parsed = htpasswd::parse(path, &text);
    match parsed.table {
        Ok(table) => Ok(Loaded {
            table,
            warnings: parsed.warnings,
            stamp,
        }),
        Err(errs) => Err(LoadError::Parse(errs)),
    }
}

/// One htpasswd file as the workers see it.
pub struct File {
    pub path: String,
    pub generation: AtomicU64,
    table: Mutex<Arc<Table>>,
}

impl File {
    pub fn new(path: String, table: Table) -> File {
        File {
            path,
            generation: AtomicU64::new(0),
            table: Mutex::new(Arc::new(table)),
        }
    }

    pub fn current(&self) -> Arc<Table> {
        lock(&self.table).clone()
    }

    fn publish(&self, table: Table) {
        *lock(&self.table) = Arc::new(table);
        self.generation.fetch_add(1, Ordering::Release);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the watcher remembers about a file.
#[derive(Clone, Copy, Default)]
struct Seen {
    stamp: Option<Stamp>,
    /// The last stat failed (logged once).
    missing: bool,
}

/// The files and the watcher's memory of them.
pub struct Watch {
    pub files: Vec<File>,
    seen: Mutex<Vec<Seen>>,
    /// A re-read was asked for (SIGHUP); the watcher waits on `bell`.
    asked: Mutex<bool>,
    bell: Condvar,
    running: AtomicBool,
}

impl Watch {
    /// `files` with the stamps they were loaded with.
    pub fn new(files: Vec<(File, Stamp)>) -> Watch {
        let seen = files
            .iter()
            .map(|(_, s)| Seen {
                stamp: Some(*s),
                missing: false,
            })
            .collect();
        Watch {
            files: files.into_iter().map(|(f, _)| f).collect(),
            seen: Mutex::new(seen),
            asked: Mutex::new(false),
            bell: Condvar::new(),
            running: AtomicBool::new(false),
        }
    }

    /// Checks every file once; `force` re-reads even unchanged files.
    pub fn check(&self, force: bool) {
        let mut seen = lock(&self.seen);
        for (f, s) in self.files.iter().zip(seen.iter_mut()) {
            let stamp = match fs::metadata(&f.path) {
                Ok(m) => Stamp::of(&m),
                Err(e) => {
                    if !s.missing {
                        log::warn!("auth: {}: {e}; keeping the users loaded before", f.path);
                        s.missing = true;
                    }
                    continue;
                }
            };
            s.missing = false;
            if !force && s.stamp == Some(stamp) {
                continue;
            }
            match load(&f.path) {
                Ok(l) => {
                    for w in &l.warnings {
                        log::warn!("{w}");
                    }
                    log::info!("auth: loaded {} ({} users)", f.path, l.table.len());
                    f.publish(l.table);
                    s.stamp = Some(l.stamp);
                }
                Err(LoadError::Changing) => {}
                Err(LoadError::Io(e)) => {
                    log::warn!("auth: {e}; keeping the users loaded before");
                    s.stamp = Some(stamp);
                }
                Err(LoadError::Parse(errs)) => {
                    for e in &errs {
                        log::error!("{e}");
                    }
                    log::error!(
                        "auth: {} has errors; keeping the users loaded before",
                        f.path
                    );
                    s.stamp = Some(stamp);
                }
            }
        }
    }

    /// Starts the watcher thread (once).
    pub fn start(self: &Arc<Self>) {
        if self.files.is_empty() || self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("auth-watch".into())
            .stack_size(128 * 1024)
            .spawn(move || loop {
                let force = {
                    let asked = lock(&me.asked);
                    let (mut asked, _) = me
                        .bell
                        .wait_timeout_while(asked, Duration::from_secs(1), |a| !*a)
                        .unwrap_or_else(|e| e.into_inner());
                    std::mem::take(&mut *asked)
                };
                me.check(force);
            });
        if let Err(e) = spawned {
            self.running.store(false, Ordering::Release);
            log::error!("auth: cannot start the htpasswd watcher: {e}");
        }
    }

    /// Re-reads every file now: wakes the watcher, or (without one) reads
    /// them on the calling thread.
    pub fn reload(&self) {
        if self.running.load(Ordering::Acquire) {
            *lock(&self.asked) = true;
            self.bell.notify_one();
        } else {
            self.check(true);
        }
    }
}
