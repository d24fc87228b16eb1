//! The process context: listening sockets, worker threads, and the
//! scheduler's rule ([`choose`]: each new connection goes to the
//! least-loaded worker; the workers accept and apply it, see
//! `worker.rs`). It also owns signals (SIGTERM/SIGINT: graceful stop,
//! SIGHUP: reload) and the control plane.
//!
//! Contract: start-up errors are returned as one-line messages; after
//! start-up nothing here allocates per connection.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fws_api::plugin::{ConnSummary, Control, Stats, WorkerStats};
use polling::{Events, Poller};

use crate::config::Config;
use crate::handler::Site;
use crate::plugins::Registry;
use crate::sys::{self, ListenOptions};
use crate::worker::{Limits, ListenerInfo, Shared, Worker, BUSY, RESPONSE_AREA};

const SIGNAL_KEY: usize = usize::MAX - 1;

/// A started server: listeners bound, workers running.
pub struct Server {
    listeners: Arc<[ListenerInfo]>,
    workers: Arc<[Arc<Shared>]>,
    registry: Arc<Registry>,
    config_text: String,
    started: Instant,
    threads: Vec<JoinHandle<()>>,
    poller: Arc<Poller>,
    stop: Arc<AtomicBool>,
    shutdown_grace: Duration,
}

/// The scheduler's rule: the worker with the fewest live connections that
/// has a free slot (`me`, the worker that accepted, on a tie), or `None`
/// when every slot is taken. Under `reclaim_slots` a full server still
/// hands the connection to the least-loaded worker, which reclaims the
/// slot of its longest-idle connection or refuses it itself; handoffs in
/// flight are bounded to a quarter more than the slots.
pub(crate) fn choose(workers: &[Arc<Shared>], me: usize, reclaim: bool) -> Option<usize> {
    let pick = |limit: &dyn Fn(&Shared) -> usize| {
        let mut best: Option<(usize, usize)> = None;
        for (i, w) in workers.iter().enumerate() {
            let live = w.live.load(Ordering::Acquire);
            let better = match best {
                None => true,
                Some((b, l)) => live < l || (live == l && i == me && b != me),
            };
            if live < limit(w) && better {
                best = Some((i, live));
            }
        }
        best.map(|(i, _)| i)
    };
    pick(&|w| w.capacity).or_else(|| {
        if reclaim {
            pick(&|w| w.capacity + w.capacity / 4 + 1)
        } else {
            None
        }
    })
}

/// Stops a running server from another thread (tests, the control plane).
#[derive(Clone)]
pub struct StopHandle {
    poller: Arc<Poller>,
    requested: Arc<AtomicBool>,
}

impl StopHandle {
    pub fn stop(&self) {
        self.requested.store(true, Ordering::Release);
        let _ = self.poller.notify();
    }
}

/// Called at the start of every server thread (worker or scheduler). Tests
/// use it to mark threads whose allocations they count.
pub type ThreadHook = fn();

impl Server {
    /// The number of worker threads a configuration asks for.
    pub fn worker_count(cfg: &Config) -> usize {
        let n = if cfg.workers == 0 {
            sys::cpu_count()
        } else {
            cfg.workers
        }
        .max(1);
        n.min(cfg.max_connections.max(1))
    }

    /// Binds the listeners (the engine's, then the plugins'), opens the
    /// docroots and starts the workers. `registry` holds the initialised
    /// plugins ([`Registry::init`]).
    pub fn start(
        cfg: &Config,
        registry: Arc<Registry>,
        hook: Option<ThreadHook>,
    ) -> Result<Server, String> {
        let site = Arc::new(Site::new(cfg)?);
        let opts = ListenOptions {
            backlog: cfg.backlog,
            nodelay: cfg.tcp_nodelay,
            fastopen: cfg.tcp_fastopen,
            defer_accept: cfg.defer_accept,
        };
        let mut infos = Vec::new();
        let owned = registry.listeners();
        let all = cfg
            .listen
            .iter()
            .map(|a| (*a, None))
            .chain(owned.iter().map(|(a, o)| (*a, Some(*o))));
        for (addr, owner) in all {
            let fd = sys::listen_tcp(&addr, opts)
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            let real = sys::local_addr(fd.as_fd()).unwrap_or(addr);
            infos.push(ListenerInfo {
                fd,
                addr: real,
                owner,
            });
        }
        let infos: Arc<[ListenerInfo]> = infos.into();
        // The ports are bound: give up root before any worker starts.
        switch_user(cfg)?;
        let nworkers = Self::worker_count(cfg);
        // max_connections is a total: split it exactly across the workers.
        let slots = |i: usize| {
            cfg.max_connections / nworkers + usize::from(i < cfg.max_connections % nworkers)
        };
        let limits = Limits {
            request_buffer: cfg.buffer_size,
            buffers: cfg.buffers_per_worker.min(slots(0)).max(1),
            header_timeout: cfg.header_timeout,
            keepalive_timeout: cfg.keepalive_timeout,
            send_timeout: cfg.send_timeout,
            shutdown_grace: cfg.shutdown_grace,
            max_keepalive_requests: cfg.max_keepalive_requests,
            max_body_size: cfg.max_body_size,
            file_cache: cfg.file_cache,
            file_cache_ttl: cfg.file_cache_ttl,
            reclaim: cfg.reclaim_slots,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let poller = Arc::new(Poller::new().map_err(|e| format!("poller: {e}"))?);
        let mut workers = Vec::new();
        for i in 0..nworkers {
            workers.push(Arc::new(
                Shared::new(slots(i).max(1)).map_err(|e| format!("poller: {e}"))?,
            ));
        }
        let workers: Arc<[Arc<Shared>]> = workers.into();
        let mut threads = Vec::new();
        for i in 0..nworkers {
            let (site, registry, infos, stop, all) = (
                site.clone(),
                registry.clone(),
                infos.clone(),
                stop.clone(),
                workers.clone(),
            );
            let t = std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || {
                    if let Some(h) = hook {
                        h();
                    }
                    // Plugin worker states are created on the worker's own thread.
                    Worker::new(i, all, site, registry, infos, stop, limits).run()
                })
                .map_err(|e| format!("cannot start worker thread: {e}"))?;
            threads.push(t);
        }
        log::info!(
            "{} worker(s), {} connection slots in all, up to {} buffers of {} bytes per worker",
            nworkers,
            cfg.max_connections,
            limits.buffers,
            limits.request_buffer + RESPONSE_AREA
        );
        let mut config_text = cfg.to_config_text();
        config_text.push_str(&registry.config_text());
        Ok(Server {
            listeners: infos,
            workers,
            registry,
            config_text,
            started: Instant::now(),
            threads,
            poller,
            stop,
            shutdown_grace: cfg.shutdown_grace,
        })
    }

    /// The bound addresses (with the real port when 0 was asked for).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|l| l.addr).collect()
    }

    pub fn stop_handle(&self, requested: Arc<AtomicBool>) -> StopHandle {
        StopHandle {
            poller: self.poller.clone(),
            requested,
        }
    }

    /// Runs the process context on this thread until a stop is requested
    /// (by `stop_requested`, SIGTERM or SIGINT when `signals` is given),
    /// then stops gracefully: listeners stop taking connections, in-flight
    /// responses get the shutdown grace period, workers are joined.
    pub fn run(
        mut self,
        signals: Option<OwnedFd>,
        stop_requested: Arc<AtomicBool>,
    ) -> io::Result<()> {
        if let Some(s) = &signals {
            sys::poll_add_level_read(&self.poller, s.as_fd(), SIGNAL_KEY)?;
        }
        self.registry.start(Arc::new(ControlPlane {
            workers: self.workers.clone(),
            registry: self.registry.clone(),
            config_text: self.config_text.clone(),
            started: self.started,
        }));
        let mut events = Events::with_capacity(
            std::num::NonZeroUsize::new(8).unwrap_or(std::num::NonZeroUsize::MIN),
        );
        'outer: loop {
            events.clear();
            if let Err(e) = self.poller.wait(&mut events, None) {
                log::error!("poll: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
            if stop_requested.load(Ordering::Acquire) {
                break;
            }
            for ev in events.iter() {
                if ev.key != SIGNAL_KEY {
                    continue;
                }
                let Some(s) = &signals else { continue };
                let mut sigs = [0u8; 16];
                let n = sys::read_signals(s.as_fd(), &mut sigs);
                for &sig in &sigs[..n] {
                    match sig as i32 {
                        libc::SIGTERM | libc::SIGINT => {
                            log::info!("signal {sig}: stopping");
                            break 'outer;
                        }
                        _ => {
                            log::info!("SIGHUP: reloading");
                            self.registry.reload();
                        }
                    }
                }
            }
        }
        if let Some(s) = &signals {
            sys::poll_delete(&self.poller, s.as_fd());
        }
        self.shutdown();
        self.registry.stop();
        Ok(())
    }

    fn shutdown(&mut self) {
        // New connections are refused from now on; the workers take the
        // listeners out of their pollers when they see the stop.
        for l in self.listeners.iter() {
            sys::stop_listening(l.fd.as_fd());
        }
        self.stop.store(true, Ordering::Release);
        for w in self.workers.iter() {
            w.wake.wake();
        }
        let deadline = Instant::now() + self.shutdown_grace + Duration::from_secs(1);
        for t in self.threads.drain(..) {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// What the process-context plugins (the control socket) see of the server.
struct ControlPlane {
    workers: Arc<[Arc<Shared>]>,
    registry: Arc<Registry>,
    config_text: String,
    started: Instant,
}

impl Control for ControlPlane {
    fn stats(&self) -> Stats {
        Stats {
            version: crate::VERSION.to_string(),
            uptime_secs: self.started.elapsed().as_secs(),
            refused: self
                .workers
                .iter()
                .map(|w| w.refused.load(Ordering::Relaxed))
                .sum(),
            workers: self
                .workers
                .iter()
                .map(|w| WorkerStats {
                    live: w.live.load(Ordering::Relaxed) as u64,
                    capacity: w.capacity as u64,
                    requests: w.requests.load(Ordering::Relaxed),
                    bytes: w.bytes.load(Ordering::Relaxed),
                    errors: w.errors.load(Ordering::Relaxed),
                })
                .collect(),
        }
    }

    fn config_text(&self) -> String {
        self.config_text.clone()
    }

    fn plugin_command(&self, plugin: &str, args: &[&str]) -> Option<Result<String, String>> {
        self.registry.command(plugin, args)
    }

    fn features(&self) -> Vec<&'static str> {
        crate::plugins::names()
    }

    fn connections(&self) -> Vec<ConnSummary> {
        let before: Vec<u64> = self
            .workers
            .iter()
            .map(|w| w.snapshot_gen.load(Ordering::Acquire))
            .collect();
        for w in self.workers.iter() {
            w.snapshot_wanted.store(true, Ordering::Release);
            w.wake.wake();
        }
        let deadline = Instant::now() + Duration::from_millis(500);
        let mut out = Vec::new();
        for (w, gen) in self.workers.iter().zip(before) {
            while w.snapshot_gen.load(Ordering::Acquire) == gen && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            match w.snapshot.lock() {
                Ok(s) => out.extend(s.iter().cloned()),
                Err(p) => out.extend(p.into_inner().iter().cloned()),
            }
        }
        out
    }

    fn reload(&self) {
        self.registry.reload();
    }
}

/// Answers 503 on a connection no worker can take, then closes it.
pub(crate) fn refuse_busy(fd: &OwnedFd) {
    let mut sink = [0u8; 1024];
    // Read what already arrived so the close does not turn into a reset
    // that would destroy the answer before the client reads it.
    while let Ok(n) = sys::read(fd.as_fd(), &mut sink) {
        if n < sink.len() {
            break;
        }
    }
    let _ = sys::send(fd.as_fd(), BUSY, false);
    sys::shutdown_write(fd.as_fd());
}

/// Switches to `[server] user`/`group` once the listeners are bound
/// (supplementary groups cleared), or refuses to run: when the switch is
/// asked for and fails, when `require_drop` is set and the server would stay
/// root, and when the new user cannot read a document root.
fn switch_user(cfg: &Config) -> Result<(), String> {
    let root = sys::euid() == 0;
    if cfg.user.is_empty() {
        if cfg.require_drop && root {
            return Err("require_drop is set and the server runs as root: set [server] user = \"NAME\" (the user to switch to after binding the ports)".into());
        }
        return Ok(());
    }
    let numeric = |s: &str| {
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    let user = sys::lookup_user(&cfg.user)
        .map_err(|e| format!("cannot look up user {:?}: {e}", cfg.user))?;
    let (uid, primary) = match (user, numeric(&cfg.user)) {
        (Some(id), _) => (id.uid, Some(id.gid)),
        (None, Some(uid)) => (uid, None),
        (None, None) => return Err(format!("user {:?} does not exist", cfg.user)),
    };
    let gid = if cfg.group.is_empty() {
        primary.ok_or_else(|| {
            format!(
                "user {} has no entry in the user database: set [server] group as well",
                cfg.user
            )
        })?
    } else {
        match sys::lookup_group(&cfg.group)
            .map_err(|e| format!("cannot look up group {:?}: {e}", cfg.group))?
        {
            Some(g) => g,
            None => numeric(&cfg.group)
                .ok_or_else(|| format!("group {:?} does not exist", cfg.group))?,
        }
    };
    if uid == 0 && cfg.require_drop {
        return Err(format!(
            "require_drop is set and user {:?} is root",
            cfg.user
        ));
    }
    if !root {
        if sys::euid() == uid {
            log::info!("already running as user {} (uid {uid})", cfg.user);
            return Ok(());
        }
        return Err(format!(
            "cannot switch to user {} (uid {uid}): the server was not started as root",
            cfg.user
        ));
    }
    sys::drop_privileges(sys::Identity { uid, gid }).map_err(|e| {
        format!(
            "cannot switch to user {} (uid {uid}, gid {gid}): {e}",
            cfg.user
        )
    })?;
    for dir in std::iter::once(&cfg.root).chain(cfg.vhosts.iter().map(|v| &v.root)) {
        std::fs::read_dir(dir).map_err(|e| {
            format!(
                "user {} cannot read the document root {}: {e}",
                cfg.user,
                dir.display()
            )
        })?;
    }
    log::info!(
        "switched to user {} (uid {uid}, gid {gid}), supplementary groups cleared",
        cfg.user
    );
    Ok(())
}
