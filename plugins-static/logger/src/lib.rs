//! The logger plugin: an access log in Common or Combined Log Format and an
//! error log (the engine's diagnostics), to a file, syslog, stderr or a RAM
//! ring that the control socket reads.
//!
//! # Configuration
//!
//! ```toml
//! [logger]
//! access = "file:/var/log/fws/access.log"  # target of the access log (default "off")
//! format = "combined"                      # or "common"
//! error = "ring"                           # target of the error log (default "stderr")
//! error_level = "info"                     # off|error|warn|info|debug|trace (default "info")
//! ring_size = "64K"                        # bytes of the RAM ring, 1K..4M (default 64K)
//! queue_size = "16K"                       # bytes of each worker's queue, 4K..16M (default 16K)
//! ```
//!
//! Targets (for `access` and `error`):
//! - `"off"`: nothing is logged.
//! - `"stderr"`: standard error. For `error` this leaves the engine's own
//!   logger (env_logger, `--log-level`, `RUST_LOG`) in place: the default.
//! - `"file:/ABSOLUTE/PATH"` (or just `"/ABSOLUTE/PATH"`): appended to;
//!   created with mode 0600 (a file others can read gets a warning); opened
//!   at start (an error there is a config error), reopened on SIGHUP and on
//!   the `reopen` command (logrotate: rename, then `kill -HUP`).
//! - `"syslog"`, `"syslog:FACILITY"`, `"syslog:/SOCKET"`,
//!   `"syslog:FACILITY:/SOCKET"`: RFC 3164 datagrams
//!   `<PRI>Mmm dd hh:mm:ss firmware-server[PID]: LINE` (UTC timestamp, no
//!   HOSTNAME, as the C library sends them) to a Unix datagram socket,
//!   `/dev/log` by default; facility `daemon` by default (`kern`, `user`,
//!   `mail`, `daemon`, `auth`, `syslog`, `lpr`, `news`, `uucp`, `cron`,
//!   `authpriv`, `ftp`, `local0`..`local7`). Access lines have severity
//!   info; error lines their level's (error 3, warn 4, info 6, debug and
//!   trace 7). A missing socket is tolerated: lines are dropped (and
//!   counted) and the socket is tried again about once a second.
//! - `"ring"`: the RAM ring (one ring of `ring_size` bytes, shared by the
//!   access and the error log; the newest lines win). Meant for boards on
//!   flash storage. Read with the `ring` command.
//!
//! With `error` set to anything but `"stderr"`, `init` installs this
//! plugin's `log::Log` (the engine's env_logger then stays out); its level
//! is `error_level` (the engine's `--log-level`/`log_level` do not reach it).
//!
//! # Lines
//!
//! Access (combined): `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`, e.g.
//! `192.0.2.7 - alice [10/Oct/2000:13:55:36 +0000] "GET /a.html HTTP/1.1" 200 2326 "http://x/" "curl/8.5"`.
//! Times are UTC. `%u` is the user an auth plugin set, or `-`; `%b` is `-`
//! for no body; a request that never parsed logs `"-"` as its request line.
//! In request fields every byte outside printable ASCII, `"` and `\` is
//! written `\xHH`, so a client can neither start a new line nor close a
//! field; fields are cut to a fixed budget (a line is at most 4096 bytes).
//! No header but Referer and User-Agent is ever logged (no Authorization),
//! and the userinfo of an absolute-form target (`http://user:pw@host/`) is
//! left out. Error lines: `2000-10-10T13:55:36Z WARN target: message`
//! (control characters escaped).
//!
//! # Never blocking a worker
//!
//! `logged` formats the line into the worker's scratch buffer (the CLF date
//! is formatted once a second) and appends it to the worker's queue: a
//! preallocated `Vec<u8>` of `queue_size` bytes behind a mutex taken with
//! `try_lock` (a few spins, then the line is dropped and counted). The
//! writer thread (started in `start`) takes a whole queue by swapping it
//! with an empty spare, so it holds the lock for a pointer swap; it writes
//! outside the lock. A full queue, a busy lock, a full disk (ENOSPC, EDQUOT),
//! another write error or an unreachable syslog drop lines and count them;
//! the writer warns about drops at most every ten seconds. Nothing is
//! allocated per request. When the plugin has no `[logger]` section, its
//! hooks return at once.
//!
//! Memory: workers × (queue_size + 4 KiB) + 2 × queue_size for the writer
//! (+ queue_size for the error queue) + ring_size when a target is the ring.
//!
//! Why this queue: a lock-free SPSC byte ring needs `unsafe` (or a store per
//! byte through atomics); a `VecDeque` behind `try_lock` makes the writer
//! hold the lock while it copies out. Swapping preallocated vectors keeps
//! the writer's critical section to a pointer swap and the producer's to a
//! memcpy. Measured on the 2-core build machine under a load average of 8
//! (`cargo test -p fws-logger --release -- --ignored --nocapture bench`):
//! formatting a combined line ≈ 0.8 µs, format + push ≈ 1 µs; two threads
//! pushing 10^6 lines each as fast as they can against the writer: 0 lines
//! dropped for a busy lock (the writer cannot keep up with 700 000 lines/s
//! into the ring, so the full queues drop, as designed). The test
//! `tests/no_alloc.rs` proves `logged` allocates nothing.
//!
//! Each worker's lines stay in order; lines of different workers may be
//! interleaved out of order by up to one drain of the writer (as with
//! nginx's per-worker writes). goaccess does not mind.
//!
//! At exit (the engine drops its registry after `run`), `Drop` gives the
//! writer up to a second to write what is still queued.
//!
//! # Commands
//!
//! Run through `Control::plugin_command("logger", args)` in the process
//! context (the ctl plugin's `status`, `log [--follow]` and `reopen-logs`
//! use them). Replies are plain text; every line ends with `\n`.
//! - `reopen`: reopens the log files (and reconnects syslog); waits up to
//!   two seconds for the writer. Reply `reopened N` (N = files reopened), or
//!   an error `cannot reopen PATH: REASON` (the old file stays in use).
//! - `ring [SEQ]` (SEQ defaults to 0): first line `seq N`, N the sequence
//!   number of the newest line ever stored in the ring (0 = none), then
//!   every line still in the ring whose sequence number is greater than SEQ,
//!   oldest first. Poll with the N you got (`ctl log --follow`). When N <
//!   SEQ, the server restarted: ask again with 0. Lines that were evicted
//!   before they were read are simply absent. An error when no target is
//!   the ring.
//! - `stats`: one `KEY VALUE` line each, in this order: `written_access`,
//!   `written_error`, `dropped` (the sum of the following), `dropped_queue_full`,
//!   `dropped_busy`, `dropped_disk_full`, `dropped_write_error`,
//!   `dropped_syslog`, `ring_lines` (lines held in the ring now).
//!
//! An unknown command gets `None`; bad arguments an error with the usage.
#![forbid(unsafe_code)]

pub mod config;
pub mod format;
pub mod queue;
pub mod ring;
pub mod writer;

use std::sync::atomic::{AtomicBool, Ordering};

use fws_api::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use fws_api::plugin::{Control, Env, LogRecord, Plugin, Section};

use config::{Config, Target};
use format::{DateCache, MAX_LINE};
use queue::{Push, Queue};
use ring::Ring;
use writer::{relock, Counters, Shared, Sink, Sinks, Writer};

pub struct Logger {
    shared: Option<Arc<Shared>>,
}

/// One worker's logging state (`None` when the access log is off).
pub struct WorkerLog {
    shared: Arc<Shared>,
    queue: usize,
    date: DateCache,
    scratch: Box<[u8; MAX_LINE]>,
}

/// The error log (`log::Log`) writing through the error queue.
struct ErrorLog {
    shared: Arc<Shared>,
    level: log::LevelFilter,
}

fn severity(l: log::Level) -> u8 {
    match l {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    }
}

impl log::Log for ErrorLog {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let Some(q) = &self.shared.errq else { return };
        let mut buf = [0u8; 1024];
        buf[0] = severity(r.level());
        let n = format::error_line(
            &mut buf[1..],
            writer::now_secs(),
            r.level(),
            r.target(),
            r.args(),
        );
        if n == 0 {
            return;
        }
        if let Push::Stored { first: true } = q.push(&buf[..1 + n]) {
            self.shared.wake();
        }
    }

    fn flush(&self) {}
}

impl Logger {
    /// Builds the plugin from its configuration and opens the targets,
    /// without installing the error logger (see [`Plugin::init`]).
    pub fn build(cfg: Config, file: &str, workers: usize) -> Result<Logger, Vec<String>> {
        let mut errs = Vec::new();
        let mut warnings = Vec::new();
        let mut open = |t: &Target, line: u32| match writer::Sink::open(t) {
            Ok((s, w)) => {
                warnings.extend(w);
                Some(s)
            }
            Err(e) => {
                errs.push(format!(
                    "{file}:{line}: cannot open log file {}: {e}",
                    t.text().trim_start_matches("file:")
                ));
                None
            }
        };
        let access = open(&cfg.access, cfg.access_line);
        let error = match cfg.error {
            // The engine's logger: nothing of ours.
            Target::Stderr => Some(Sink::Off),
            ref t => open(t, cfg.error_line),
        };
        let (Some(access), Some(error)) = (access, error) else {
            return Err(errs);
        };
        let queues: Box<[Queue]> = if cfg.access == Target::Off {
            Box::new([])
        } else {
            (0..workers.max(1))
                .map(|_| Queue::new(cfg.queue_size))
                .collect()
        };
        let errq = match cfg.error {
            Target::Stderr | Target::Off => None,
            _ => Some(Queue::new(cfg.queue_size)),
        };
        let ring = cfg
            .uses_ring()
            .then(|| Mutex::new(Ring::new(cfg.ring_size)));
        Ok(Logger {
            shared: Some(Arc::new(Shared {
                cfg,
                queues,
                errq,
                ring,
                counters: Counters::default(),
                writer: OnceLock::new(),
                running: AtomicBool::new(false),
                reopen_req: AtomicU64::new(0),
                reopen_done: AtomicU64::new(0),
                reopen_result: Mutex::new(Ok(String::new())),
                flush_req: AtomicU64::new(0),
                flush_done: AtomicU64::new(0),
                sinks: Mutex::new(Some(Sinks { access, error })),
                warnings: Mutex::new(warnings),
            })),
        })
    }

    /// Installs the error log as the process's `log` logger (when `error`
    /// is not `stderr`). Returns false if another logger was there first.
    fn install_error_log(&self) -> bool {
        let Some(sh) = &self.shared else { return true };
        let level = match sh.cfg.error {
            Target::Stderr => return true,
            Target::Off => log::LevelFilter::Off,
            _ => sh.cfg.error_level,
        };
        let logger: &'static ErrorLog = Box::leak(Box::new(ErrorLog {
            shared: sh.clone(),
            level,
        }));
        let ok = log::set_logger(logger).is_ok();
        if ok {
            log::set_max_level(level);
        }
        ok
    }

    /// Starts the writer thread (once).
    fn spawn_writer(&self) {
        let Some(sh) = &self.shared else { return };
        if sh.running.swap(true, Ordering::AcqRel) {
            return;
        }
        if sh.queues.is_empty() && sh.errq.is_none() {
            // Both logs off (or the error log left to the engine).
            for w in relock(&sh.warnings).drain(..) {
                log::warn!(target: "logger", "{w}");
            }
            return;
        }
        for w in relock(&sh.warnings).drain(..) {
            log::warn!(target: "logger", "{w}");
        }
        let Some(sinks) = relock(&sh.sinks).take() else {
            return;
        };
        let w = Writer::new(sh.clone(), sinks);
        match std::thread::Builder::new()
            .name("fws-logger".into())
            .spawn(move || w.run())
        {
            Ok(h) => {
                let _ = sh.writer.set(h.thread().clone());
                // Lines queued before the thread existed.
                sh.wake();
            }
            Err(e) => {
                log::error!(target: "logger", "cannot start the log writer thread: {e}");
                sh.running.store(false, Ordering::Release);
            }
        }
    }

    fn request_reopen(&self) -> u64 {
        let Some(sh) = &self.shared else { return 0 };
        let n = sh.reopen_req.fetch_add(1, Ordering::AcqRel) + 1;
        sh.wake();
        n
    }

    fn cmd_reopen(&self) -> Result<String, String> {
        let Some(sh) = &self.shared else {
            return Err("the logger is not configured ([logger] section)".into());
        };
        if sh.writer.get().is_none() {
            return Err("the log writer is not running".into());
        }
        let want = self.request_reopen();
        let deadline = Instant::now() + Duration::from_secs(2);
        while sh.reopen_done.load(Ordering::Acquire) < want {
            if Instant::now() >= deadline {
                return Err("the log writer did not answer within 2 s".into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        relock(&sh.reopen_result).clone()
    }

    fn cmd_ring(&self, args: &[&str]) -> Result<String, String> {
        const USAGE: &str =
            "usage: ring [SEQ] (SEQ: a sequence number from a previous reply, 0 for everything)";
        let after = match args {
            [] => 0,
            [s] => s.parse::<u64>().map_err(|_| USAGE.to_string())?,
            _ => return Err(USAGE.into()),
        };
        let ring = self.shared.as_ref().and_then(|s| s.ring.as_ref()).ok_or(
            "no log target is the ring (set access = \"ring\" or error = \"ring\" in [logger])",
        )?;
        Ok(relock(ring).reply(after))
    }

    fn cmd_stats(&self) -> String {
        let (c, (full, busy), ring) = match &self.shared {
            Some(sh) => (
                &sh.counters,
                sh.queue_drops(),
                sh.ring.as_ref().map_or(0, |r| relock(r).len()),
            ),
            None => {
                return "written_access 0\nwritten_error 0\ndropped 0\ndropped_queue_full 0\n\
                        dropped_busy 0\ndropped_disk_full 0\ndropped_write_error 0\n\
                        dropped_syslog 0\nring_lines 0\n"
                    .into()
            }
        };
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let disk = l(&c.dropped_disk_full);
        let werr = l(&c.dropped_write_error);
        let sys = l(&c.dropped_syslog);
        format!(
            "written_access {}\nwritten_error {}\ndropped {}\ndropped_queue_full {full}\n\
             dropped_busy {busy}\ndropped_disk_full {disk}\ndropped_write_error {werr}\n\
             dropped_syslog {sys}\nring_lines {ring}\n",
            l(&c.access_written),
            l(&c.error_written),
            full + busy + disk + werr + sys,
        )
    }
}

/// At exit (the engine drops its registry when `run` returns), the writer
/// gets up to a second to write what the queues still hold.
impl Drop for Logger {
    fn drop(&mut self) {
        self.flush_all();
    }
}

impl Logger {
    /// Gives the writer up to a second to write what the queues hold.
    fn flush_all(&self) {
        let Some(sh) = &self.shared else { return };
        if sh.writer.get().is_none() {
            return;
        }
        // Requested after the last line was queued: the writer's next full
        // pass (which starts after this request) drains it.
        let want = sh.flush_req.fetch_add(1, Ordering::AcqRel) + 1;
        sh.wake();
        let deadline = Instant::now() + Duration::from_secs(1);
        while sh.flush_done.load(Ordering::Acquire) < want && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Plugin for Logger {
    const NAME: &'static str = "logger";
    type Worker = Option<WorkerLog>;

    fn init(sections: &[Section<'_>], env: &Env) -> Result<Self, Vec<String>> {
        let Some(cfg) = config::parse(sections)? else {
            return Ok(Logger { shared: None });
        };
        let file = sections.first().map_or("", |s| s.file);
        let logger = Logger::build(cfg, file, env.workers)?;
        if !logger.install_error_log() {
            if let Some(sh) = &logger.shared {
                relock(&sh.warnings).push(
                    "another logger was installed first; the error log stays on stderr".into(),
                );
            }
        }
        Ok(logger)
    }

    fn config_text(&self) -> String {
        self.shared
            .as_ref()
            .map_or_else(String::new, |s| s.cfg.text())
    }

    fn worker(&self, id: usize) -> Self::Worker {
        let sh = self.shared.as_ref()?;
        if sh.queues.is_empty() {
            return None;
        }
        Some(WorkerLog {
            shared: sh.clone(),
            queue: id % sh.queues.len(),
            date: DateCache::default(),
            scratch: Box::new([0; MAX_LINE]),
        })
    }

    fn start(&self, _ctl: Arc<dyn Control>) {
        self.spawn_writer();
    }

    fn wants_log(&self) -> bool {
        self.shared.as_ref().is_some_and(|s| !s.queues.is_empty())
    }

    fn logged(&self, w: &mut Self::Worker, rec: &LogRecord<'_>) {
        let Some(w) = w else { return };
        let fmt = w.shared.cfg.format;
        let date = *w.date.get(rec.time);
        let n = format::access_line(&mut w.scratch[..], fmt, rec, &date);
        let Some(q) = w.shared.queues.get(w.queue) else {
            return;
        };
        if let Push::Stored { first: true } = q.push(&w.scratch[..n]) {
            w.shared.wake();
        }
    }

    /// The server stopped (the control plane may keep this plugin alive
    /// past the end of `run`, so Drop alone is not enough).
    fn stop(&self) {
        self.flush_all();
    }

    fn reload(&self) {
        self.request_reopen();
    }

    fn command(&self, args: &[&str]) -> Option<Result<String, String>> {
        match args.split_first() {
            Some((&"reopen", [])) => Some(self.cmd_reopen()),
            Some((&"reopen", _)) => Some(Err("usage: reopen".into())),
            Some((&"ring", rest)) => Some(self.cmd_ring(rest)),
            Some((&"stats", [])) => Some(Ok(self.cmd_stats())),
            Some((&"stats", _)) => Some(Err("usage: stats".into())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
