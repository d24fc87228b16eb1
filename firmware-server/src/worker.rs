//! The worker context: one thread, one poller, a fixed slab of connection
//! slots and a fixed pool of request buffers, all allocated at start-up.
//!
//! Each connection is a small state machine ([`State`]) driven by
//! edge-triggered readiness. A connection holds a pool buffer only while it
//! has bytes in flight (a request head being read, a body being read, a
//! response head or a stream's output being written); an idle keep-alive
//! connection holds none. When the pool is empty, a connection with bytes to
//! read waits in a FIFO for the next free buffer.
//!
//! Poller keys: `slot << 2 | sub`, where sub 0 is the client socket and
//! 1..=3 are descriptors a plugin's [`Stream`] registered; [`KEY_WAKE`] is
//! the worker's waker and the keys just below it are the listeners.
//!
//! The scheduler: every worker polls every listener (`EPOLLEXCLUSIVE`, so
//! a new connection wakes one waiting worker) and accepts; each accepted
//! connection goes to the worker with the fewest live connections, ties
//! to the one that accepted it. A connection that stays is served at once,
//! on the accepting thread; one that moves is queued to its worker, which
//! is woken. A client socket joins its worker's poller only when it first
//! has to wait (a request answered from the first read never does).
//!
//! Contract: on the static-file path nothing here allocates after
//! [`Worker::new`] (plugins' streams may); nothing panics on input from the
//! network.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use fws_api::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fws_api::plugin::{
    ConnInfo, ConnSummary, Content, Exchange, Io, LogRecord, Produced, Registrar, Reply, Stream,
    Transport, User, Verdict,
};
use polling::Poller;

use crate::handler::{self, FileBody, Scratch, Served, Site};
use crate::http::chunked::ChunkedDecoder;
use crate::http::date;
use crate::http::error::HttpError;
use crate::http::request::{self, Framing, Method, Request, MAX_HEADERS};
use crate::plugins::{Registry, Workers};
use crate::sys;

/// Bytes reserved in every pool buffer for the response head, small
/// generated bodies (error pages, redirects) and streamed output.
pub const RESPONSE_AREA: usize = 2048;
const NO_BUF: u32 = u32::MAX;
/// How long and how much a closing connection may still send us before we
/// close (so the peer reads our last response instead of a reset).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_MAX_BYTES: u32 = 64 * 1024;
const SENDFILE_CHUNK: u64 = 0x7fff_f000;
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
/// The answer when there is no capacity (no slot, or no buffer in time); it
/// needs no buffer of its own.
pub const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nServer: firmware-server\r\nRetry-After: 1\r\n\
Content-Type: text/plain\r\nContent-Length: 20\r\nConnection: close\r\n\r\nserver at capacity.\n";

/// The poller key of a worker's waker.
const KEY_WAKE: usize = usize::MAX - 1;
/// Listener `i` is polled under `KEY_LISTENER - i`.
const KEY_LISTENER: usize = usize::MAX - 2;
/// Most connections accepted from one listener per readiness report (the
/// listener is level-triggered: the rest are reported again).
const ACCEPT_BATCH: usize = 64;
/// How long accepting stops after running out of descriptors or memory.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// A connection on its way from the scheduler to a worker.
pub struct Handoff {
    pub fd: OwnedFd,
    pub peer: SocketAddr,
    pub listener: u16,
}

/// A listening socket as the workers know it.
#[derive(Debug)]
pub struct ListenerInfo {
    pub fd: OwnedFd,
    pub addr: SocketAddr,
    /// The plugin (registry position) that owns it: its connections get
    /// that plugin's transport.
    pub owner: Option<usize>,
}

/// The part of a worker the scheduler and the control plane see.
pub struct Shared {
    pub poller: Poller,
    /// Wakes the worker (handoffs, stop, snapshot requests).
    pub wake: sys::Waker,
    pub queue: Mutex<VecDeque<Handoff>>,
    /// Connections handed to this worker and not yet closed.
    pub live: AtomicUsize,
    pub capacity: usize,
    pub requests: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
    /// Connections this worker accepted and refused (every slot taken).
    pub refused: AtomicU64,
    /// The control plane asks for a connection list; the worker answers in
    /// `snapshot` and bumps `snapshot_gen`.
    pub snapshot_wanted: AtomicBool,
    pub snapshot: Mutex<Vec<ConnSummary>>,
    pub snapshot_gen: AtomicU64,
}

impl Shared {
    pub fn new(capacity: usize) -> io::Result<Shared> {
        let poller = Poller::new()?;
        let wake = sys::Waker::new()?;
        wake.register(&poller, KEY_WAKE)?;
        Ok(Shared {
            poller,
            wake,
            queue: Mutex::new(VecDeque::with_capacity(capacity)),
            live: AtomicUsize::new(0),
            capacity,
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            snapshot_wanted: AtomicBool::new(false),
            snapshot: Mutex::new(Vec::new()),
            snapshot_gen: AtomicU64::new(0),
        })
    }
}

/// Per-worker limits, in the units the loop uses.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub request_buffer: usize,
    pub buffers: usize,
    pub header_timeout: Duration,
    pub keepalive_timeout: Duration,
    pub send_timeout: Duration,
    pub shutdown_grace: Duration,
    pub max_keepalive_requests: u32,
    pub max_body_size: u64,
    pub file_cache: usize,
    pub file_cache_ttl: Duration,
    /// Reclaim the slot or request buffer of the longest-idle connection
    /// when none is free (`[server] reclaim_slots`).
    pub reclaim: bool,
}

/// A fixed pool of request buffers in one anonymous mapping, zeroed lazily
/// by the kernel, so untouched buffers cost no resident memory.
struct Pool {
    mem: sys::Region,
    stride: usize,
    req: usize,
    free: Vec<u32>,
}

impl Pool {
    fn new(count: usize, req: usize) -> Pool {
        let stride = req + RESPONSE_AREA;
        Pool {
            mem: sys::Region::new(stride * count).unwrap_or_else(|e| {
                log::error!("cannot map the buffer pool ({} bytes): {e}", stride * count);
                std::process::exit(1)
            }),
            stride,
            req,
            free: (0..count as u32).rev().collect(),
        }
    }

    /// The request area and the response area of buffer `id`.
    fn split(&mut self, id: u32) -> (&mut [u8], &mut [u8]) {
        let start = id as usize * self.stride;
        let (req, resp) =
            self.mem.as_mut_slice()[start..start + self.stride].split_at_mut(self.req);
        (req, resp)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Keep-alive (or new) connection with no bytes in flight; holds no buffer.
    Idle,
    /// Reading a request head.
    Head,
    /// Reading the request body (to a stream, or discarded) before or while
    /// answering.
    Body,
    /// Writing the response.
    Write,
    /// Response done, write side shut: draining until the peer closes.
    Linger,
}

#[derive(Debug, Clone, Copy)]
enum BodyLeft {
    None,
    Length(u64),
    Chunked(ChunkedDecoder, u64),
}

/// What a stream's access-log line needs, kept from the request head
/// (streams only: static responses are logged when their head is written).
struct StreamLog {
    method: Vec<u8>,
    target: Vec<u8>,
    minor: u8,
    host: Vec<u8>,
    referer: Vec<u8>,
    user_agent: Vec<u8>,
    user: Option<Vec<u8>>,
    time: u64,
    /// Status and body length of a file the engine served for the stream
    /// (X-Sendfile): they override what the stream reports.
    served: Option<(u16, u64)>,
}

struct Conn {
    fd: OwnedFd,
    peer: SocketAddr,
    listener: u16,
    state: State,
    buf: u32,
    /// Start of unprocessed bytes in the request area.
    pos: usize,
    /// End of received bytes in the request area.
    filled: usize,
    /// New bytes (or pipelined leftovers) not yet given to the parser.
    unparsed: bool,
    out_pos: usize,
    out_len: usize,
    file: Option<FileBody>,
    body: BodyLeft,
    /// Body bytes decoded but not yet taken by the stream (request area).
    pending: (usize, usize),
    /// The body's end was decoded; the stream still gets its `last` call.
    body_eof: bool,
    stream: Option<Box<dyn Stream>>,
    stream_done: bool,
    /// Whether any response byte was produced (errors after that close).
    produced: bool,
    stream_log: Option<Box<StreamLog>>,
    transport: Option<Box<dyn Transport>>,
    keep_alive: bool,
    /// The client said it sends nothing after this request (`Connection:
    /// close`, or HTTP/1.0 without keep-alive).
    client_done: bool,
    /// The socket is in the poller (added the first time it had to wait).
    registered: bool,
    requests: u32,
    readable: bool,
    writable: bool,
    waiting: bool,
    deadline: Instant,
    lingered: u32,
}

enum Step {
    Continue,
    Wait,
    Close,
}

/// Registers plugin descriptors in this worker's poller.
struct PollReg<'a>(&'a Poller);

impl Registrar for PollReg<'_> {
    fn add(&self, fd: BorrowedFd<'_>, key: usize, read: bool, write: bool) -> io::Result<()> {
        sys::poll_add_edge_interest(self.0, fd, key, read, write)
    }
    fn delete(&self, fd: BorrowedFd<'_>) {
        sys::poll_delete(self.0, fd);
    }
}

/// The worker's fields a request's stages need (everything but the
/// connection slots and the buffer pool, which the request borrows).
struct Ctx<'w> {
    id: usize,
    shared: &'w Shared,
    site: &'w Site,
    registry: &'w Registry,
    plugins: &'w mut Workers,
    listeners: &'w [ListenerInfo],
    stop: &'w AtomicBool,
    limits: Limits,
    scratch: &'w mut Scratch,
    user: &'w mut User,
    now: Instant,
    date: &'w [u8; 29],
    date_secs: u64,
}

fn conn_info(listeners: &[ListenerInfo], worker: usize, c: &Conn) -> ConnInfo {
    let l = listeners.get(c.listener as usize);
    ConnInfo {
        peer: c.peer,
        local: l.map_or(c.peer, |l| l.addr),
        listener: c.listener as usize,
        secure: c.transport.is_some(),
        worker,
    }
}

pub struct Worker {
    id: usize,
    shared: Arc<Shared>,
    /// Every worker's shared part (this one's at `id`), for the scheduler.
    all: Arc<[Arc<Shared>]>,
    site: Arc<Site>,
    registry: Arc<Registry>,
    plugins: Workers,
    listeners: Arc<[ListenerInfo]>,
    stop: Arc<AtomicBool>,
    limits: Limits,
    conns: Vec<Option<Conn>>,
    free: Vec<u32>,
    pool: Pool,
    waiters: VecDeque<u32>,
    scratch: Scratch,
    user: User,
    now: Instant,
    date_secs: u64,
    date: [u8; 29],
    /// The listeners are in this worker's poller.
    listening: bool,
    /// Accepting stopped (out of descriptors) until then.
    accept_paused: Option<Instant>,
    accept_warned: Option<Instant>,
}

impl Worker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: usize,
        all: Arc<[Arc<Shared>]>,
        site: Arc<Site>,
        registry: Arc<Registry>,
        listeners: Arc<[ListenerInfo]>,
        stop: Arc<AtomicBool>,
        limits: Limits,
    ) -> Worker {
        let shared = all[id].clone();
        let cap = shared.capacity;
        let plugins = registry.workers(id);
        let mut w = Worker {
            id,
            pool: Pool::new(limits.buffers, limits.request_buffer),
            shared,
            all,
            site,
            registry,
            plugins,
            listeners,
            stop,
            limits,
            // Reserved now, touched as slots are first used: memory that
            // only a full server needs is not resident in an idle one.
            conns: Vec::with_capacity(cap),
            free: Vec::with_capacity(cap),
            waiters: VecDeque::with_capacity(cap),
            scratch: Scratch::new(limits.file_cache, limits.file_cache_ttl),
            user: User::default(),
            now: Instant::now(),
            date_secs: 0,
            date: [0; 29],
            listening: false,
            accept_paused: None,
            accept_warned: None,
        };
        w.tick();
        w
    }

    /// A free connection slot: a released one, else a new one while
    /// fewer than the capacity were ever used.
    fn free_slot(&mut self) -> Option<u32> {
        if let Some(i) = self.free.pop() {
            return Some(i);
        }
        if self.conns.len() < self.shared.capacity {
            self.conns.push(None);
            return Some((self.conns.len() - 1) as u32);
        }
        None
    }

    fn tick(&mut self) {
        self.now = Instant::now();
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if secs != self.date_secs {
            self.date_secs = secs;
            date::format_http_date(secs, &mut self.date);
        }
    }

    /// How often deadlines are checked: a quarter of the shortest timeout,
    /// between 10 ms and 1 s.
    fn sweep_interval(&self) -> Duration {
        let l = &self.limits;
        let shortest = l
            .header_timeout
            .min(l.keepalive_timeout)
            .min(l.send_timeout);
        (shortest / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }

    /// The worker loop; returns when the server stops.
    pub fn run(mut self) {
        let mut ready = sys::ReadyList::with_capacity(256);
        let interval = self.sweep_interval();
        let mut next_sweep = self.now + interval;
        let mut next_tick = self.now + Duration::from_secs(1);
        let mut grace_end: Option<Instant> = None;
        self.listen();
        loop {
            let wake_at = self.accept_paused.map_or(next_sweep, |t| t.min(next_sweep));
            let timeout = wake_at.saturating_duration_since(Instant::now());
            if let Err(e) = sys::poll_wait(&self.shared.poller, &mut ready, timeout) {
                log::error!("poll: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
            self.tick();
            let mut woken = false;
            for i in 0..ready.len() {
                let Some(ev) = ready.get(i) else { break };
                if ev.key == KEY_WAKE {
                    woken = true;
                } else if let Some(l) = self.listener_of(ev.key) {
                    self.accept_from(l);
                } else {
                    self.on_event(ev);
                }
            }
            if woken {
                // Taken before the queue is looked at: a handoff queued
                // after this wakes the worker again.
                self.shared.wake.take();
            }
            self.take_handoffs();
            if self.accept_paused.is_some_and(|t| self.now >= t) {
                self.accept_paused = None;
                self.listen();
            }
            self.serve_waiters();
            if self.shared.snapshot_wanted.swap(false, Ordering::AcqRel) {
                self.publish_snapshot();
            }
            if self.now >= next_sweep {
                self.sweep();
                next_sweep = self.now + interval;
                if self.now >= next_tick {
                    self.registry.tick(&mut self.plugins, self.now);
                    next_tick = self.now + Duration::from_secs(1);
                }
            }
            if self.stop.load(Ordering::Acquire) {
                let end = *grace_end.get_or_insert_with(|| self.now + self.limits.shutdown_grace);
                self.wind_down();
                if self.shared.live.load(Ordering::Acquire) == 0 || self.now >= end {
                    self.close_all();
                    return;
                }
                next_sweep = next_sweep.min(end);
            }
        }
    }

    /// Answers the control plane's request for the connection list (the
    /// control path may allocate; the request path never waits on it).
    fn publish_snapshot(&mut self) {
        let list: Vec<ConnSummary> = self
            .conns
            .iter()
            .flatten()
            .map(|c| {
                let info = conn_info(&self.listeners, self.id, c);
                ConnSummary {
                    worker: self.id,
                    peer: info.peer,
                    local: info.local,
                    state: match c.state {
                        State::Idle => "idle",
                        State::Head => "head",
                        State::Body => "body",
                        State::Write => "write",
                        State::Linger => "linger",
                    },
                    requests: c.requests,
                    secure: info.secure,
                }
            })
            .collect();
        match self.shared.snapshot.lock() {
            Ok(mut s) => *s = list,
            Err(p) => *p.into_inner() = list,
        }
        self.shared.snapshot_gen.fetch_add(1, Ordering::AcqRel);
    }

    fn listener_of(&self, key: usize) -> Option<usize> {
        let i = KEY_LISTENER.checked_sub(key)?;
        (i < self.listeners.len()).then_some(i)
    }

    /// Puts the listeners in this worker's poller.
    fn listen(&mut self) {
        if self.listening || self.stop.load(Ordering::Acquire) {
            return;
        }
        for (i, l) in self.listeners.iter().enumerate() {
            if let Err(e) =
                sys::poll_add_listener(&self.shared.poller, l.fd.as_fd(), KEY_LISTENER - i)
            {
                log::error!("poller add for {}: {e}", l.addr);
            }
        }
        self.listening = true;
    }

    /// Takes the listeners out of this worker's poller.
    fn unlisten(&mut self) {
        if !self.listening {
            return;
        }
        for l in self.listeners.iter() {
            sys::poll_delete(&self.shared.poller, l.fd.as_fd());
        }
        self.listening = false;
    }

    /// Accepts what listener `li` has queued (up to a batch) and hands each
    /// connection to the least-loaded worker. Errors that mean "no
    /// resources" pause accepting instead of spinning on the listener.
    fn accept_from(&mut self, li: usize) {
        if self.stop.load(Ordering::Acquire) {
            self.unlisten();
            return;
        }
        let listeners = self.listeners.clone();
        let Some(l) = listeners.get(li) else { return };
        for _ in 0..ACCEPT_BATCH {
            match sys::accept(l.fd.as_fd()) {
                Ok((fd, peer)) => self.dispatch(Handoff {
                    fd,
                    peer,
                    listener: li as u16,
                }),
                Err(e) => match e.raw_os_error() {
                    Some(libc::EAGAIN) => return,
                    Some(libc::EINTR)
                    | Some(libc::ECONNABORTED)
                    | Some(libc::EPROTO)
                    | Some(libc::EPERM) => {}
                    _ => {
                        if self.stop.load(Ordering::Acquire) {
                            self.unlisten();
                            return;
                        }
                        if self
                            .accept_warned
                            .is_none_or(|t| self.now.duration_since(t) > Duration::from_secs(10))
                        {
                            log::warn!("accept on {}: {e}; pausing accepts", l.addr);
                            self.accept_warned = Some(self.now);
                        }
                        self.unlisten();
                        self.accept_paused = Some(self.now + ACCEPT_PAUSE);
                        return;
                    }
                },
            }
        }
    }

    /// Hands a new connection to the worker with the fewest live
    /// connections (this one on a tie), or answers 503 when every slot is
    /// taken.
    fn dispatch(&mut self, h: Handoff) {
        let Some(i) = crate::server::choose(&self.all, self.id, self.limits.reclaim) else {
            self.shared.refused.fetch_add(1, Ordering::Relaxed);
            crate::server::refuse_busy(&h.fd);
            return;
        };
        let w = &self.all[i];
        w.live.fetch_add(1, Ordering::AcqRel);
        if i == self.id {
            self.install(h);
            return;
        }
        match w.queue.lock() {
            Ok(mut q) => q.push_back(h),
            Err(poisoned) => poisoned.into_inner().push_back(h),
        }
        w.wake.wake();
    }

    fn on_event(&mut self, ev: sys::Ready) {
        let idx = ev.key >> 2;
        let sub = (ev.key & 3) as u8;
        let Some(Some(c)) = self.conns.get_mut(idx) else {
            return;
        };
        if sub == 0 {
            c.readable |= ev.readable;
            c.writable |= ev.writable;
            // A stream waits on its backend while the client has nothing
            // more to send: a readable client there may have gone away
            // (as nginx does, peek for the end of the stream). Then the
            // stream is aborted at once (its CGI process group killed)
            // rather than when the backend answers or times out.
            if ev.readable
                && c.state == State::Write
                && c.transport.is_none()
                && c.stream.is_some()
                && !c.stream_done
                && sys::peer_closed(c.fd.as_fd())
            {
                self.close(idx);
                return;
            }
        } else if let Some(s) = c.stream.as_mut() {
            let reg = PollReg(&self.shared.poller);
            let mut io = Io::new(&reg, idx << 2, self.now, &self.date);
            s.ready(&mut io, sub, ev.readable, ev.writable);
        }
        self.drive(idx);
    }

    /// Installs connections the scheduler queued for this worker.
    fn take_handoffs(&mut self) {
        loop {
            let next = match self.shared.queue.lock() {
                Ok(mut q) => q.pop_front(),
                Err(poisoned) => poisoned.into_inner().pop_front(),
            };
            let Some(h) = next else { return };
            self.install(h);
        }
    }

    /// Takes a connection handed to this worker (its `live` count already
    /// includes it) and serves what it has sent.
    fn install(&mut self, h: Handoff) {
        {
            let Some(idx) = self.free_slot().or_else(|| self.reclaim_slot()) else {
                // Every slot is busy with a request in progress (the
                // scheduler only hands over more with `reclaim_slots`).
                crate::server::refuse_busy(&h.fd);
                self.shared.live.fetch_sub(1, Ordering::AcqRel);
                return;
            };
            let mut c = Conn {
                fd: h.fd,
                peer: h.peer,
                listener: h.listener,
                state: State::Idle,
                buf: NO_BUF,
                pos: 0,
                filled: 0,
                unparsed: false,
                out_pos: 0,
                out_len: 0,
                file: None,
                body: BodyLeft::None,
                pending: (0, 0),
                body_eof: false,
                stream: None,
                stream_done: false,
                produced: false,
                stream_log: None,
                transport: None,
                keep_alive: true,
                client_done: false,
                registered: false,
                requests: 0,
                readable: true,
                writable: true,
                waiting: false,
                deadline: self.now + self.limits.header_timeout,
                lingered: 0,
            };
            let info = conn_info(&self.listeners, self.id, &c);
            let refused = match self.registry.accept(&mut self.plugins, &info) {
                Verdict::Continue => false,
                Verdict::Respond | Verdict::Close => true,
            };
            if !refused {
                if let Some(owner) = self
                    .listeners
                    .get(h.listener as usize)
                    .and_then(|l| l.owner)
                {
                    c.transport = self.registry.transport(&mut self.plugins, owner, &info);
                }
            }
            let owned_but_unwrapped = c.transport.is_none()
                && self
                    .listeners
                    .get(h.listener as usize)
                    .is_some_and(|l| l.owner.is_some());
            if refused || owned_but_unwrapped {
                drop(c);
                self.free.push(idx);
                self.shared.live.fetch_sub(1, Ordering::AcqRel);
                return;
            }
            self.conns[idx as usize] = Some(c);
            self.drive(idx as usize);
        }
    }

    /// Frees the slot of the connection that has waited longest without a
    /// request in progress: lingering after its response first, then idle
    /// (keep-alive, or new without a byte), then one still sending its
    /// head (slowloris), then a response its client has not read from for
    /// a second (slow read). Connections reading a body, streaming, or
    /// writing to a client that reads are never chosen. Returns the freed
    /// slot, `None` if there is none.
    fn reclaim_slot(&mut self) -> Option<u32> {
        let stalled = self.stalled_before();
        let rank = |c: &Conn| match c.state {
            State::Linger => Some(0u8),
            // A new connection waiting for a request buffer has sent its
            // request: it ranks with the heads in progress, by age.
            State::Idle if !c.waiting => Some(1),
            State::Idle | State::Head => Some(2),
            State::Write if c.deadline <= stalled => Some(3),
            State::Body | State::Write => None,
        };
        let victim = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let c = c.as_ref()?;
                if c.stream.is_some() {
                    return None;
                }
                Some((rank(c)?, c.deadline, i))
            })
            .min()?;
        log::debug!(
            "all slots busy: closing connection {} to reclaim its slot",
            victim.2
        );
        self.close(victim.2);
        self.free.pop()
    }

    /// A response whose send deadline is at or before this has had no
    /// write progress for a second: its client is a slow reader.
    fn stalled_before(&self) -> Instant {
        (self.now + self.limits.send_timeout)
            .checked_sub(Duration::from_secs(1))
            .unwrap_or(self.now)
    }

    /// Closes the connection (other than `for_idx`) that has held a request
    /// buffer longest while still sending its head, else the one whose
    /// client stalled longest in reading its response; its buffer returns
    /// to the pool. False if there is none.
    fn reclaim_buffer(&mut self, for_idx: usize) -> bool {
        let stalled = self.stalled_before();
        let victim = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let c = c.as_ref()?;
                if i == for_idx || c.buf == NO_BUF || c.stream.is_some() {
                    return None;
                }
                // Slow heads first, then stalled readers that keep their
                // buffer for pipelined requests (slow read with -k).
                let rank = match c.state {
                    State::Head => 0u8,
                    State::Write if c.deadline <= stalled => 1,
                    _ => return None,
                };
                Some((rank, c.deadline, i))
            })
            .min();
        match victim {
            Some((_, _, i)) => {
                log::debug!("out of request buffers: closing slow connection {i} for its buffer");
                self.close(i);
                true
            }
            None => false,
        }
    }

    /// Gives freed buffers to connections waiting for one, in arrival order.
    fn serve_waiters(&mut self) {
        while !self.pool.free.is_empty() {
            let Some(idx) = self.waiters.pop_front() else {
                return;
            };
            if let Some(Some(c)) = self.conns.get_mut(idx as usize) {
                if c.waiting {
                    c.waiting = false;
                    self.drive(idx as usize);
                }
            }
        }
    }

    fn sweep(&mut self) {
        for idx in 0..self.conns.len() {
            let Some(c) = &mut self.conns[idx] else {
                continue;
            };
            if let Some(s) = c.stream.as_mut() {
                if !c.stream_done && s.deadline().is_some_and(|d| d <= self.now) {
                    let reg = PollReg(&self.shared.poller);
                    let mut io = Io::new(&reg, idx << 2, self.now, &self.date);
                    let err = s.timeout(&mut io);
                    s.abort(&mut io);
                    c.stream_done = true;
                    if c.produced || c.buf == NO_BUF {
                        self.close(idx);
                    } else {
                        let (_, resp) = self.pool.split(c.buf);
                        fail(
                            c,
                            resp,
                            err,
                            &self.date,
                            self.now + self.limits.send_timeout,
                        );
                        self.drive(idx);
                    }
                    continue;
                }
            }
            if c.deadline > self.now {
                continue;
            }
            let nothing_to_send = c.out_pos >= c.out_len && c.file.is_none();
            let stream_holds_body = c.state == State::Body && c.pending.0 < c.pending.1;
            let waiting_on_stream = c.stream.is_some()
                && !c.stream_done
                && ((c.state == State::Write && nothing_to_send) || stream_holds_body);
            if waiting_on_stream {
                // Nothing for the client yet: the stream's own deadline
                // (first byte, inactivity) decides, not the send deadline.
                continue;
            }
            if c.waiting {
                // Its request waited for a buffer until its deadline (slow
                // clients hold them all): answer 503 without one.
                c.waiting = false;
                let _ = conn_write(c, BUSY, false);
                if let Some(t) = c.transport.as_mut() {
                    let _ = t.flush(&mut Sock(c.fd.as_fd()));
                }
                sys::shutdown_write(c.fd.as_fd());
                c.keep_alive = false;
                c.state = State::Linger;
                c.deadline = self.now + LINGER;
                continue;
            }
            if c.state == State::Head && c.buf != NO_BUF {
                // A slow or stalled request head: answer 408, then close.
                let (_, resp) = self.pool.split(c.buf);
                fail(
                    c,
                    resp,
                    HttpError::Timeout,
                    &self.date,
                    self.now + self.limits.send_timeout,
                );
                let info = conn_info(&self.listeners, self.id, c);
                log_unparsed(
                    &self.registry,
                    &mut self.plugins,
                    &info,
                    HttpError::Timeout,
                    self.date_secs,
                );
                self.drive(idx);
            } else {
                self.close(idx);
            }
        }
    }

    /// On shutdown: close idle connections, let the others finish without
    /// keep-alive.
    fn wind_down(&mut self) {
        self.unlisten();
        for idx in 0..self.conns.len() {
            let Some(c) = &mut self.conns[idx] else {
                continue;
            };
            c.keep_alive = false;
            if c.state == State::Idle {
                self.close(idx);
            }
        }
    }

    fn close_all(&mut self) {
        for idx in 0..self.conns.len() {
            if self.conns[idx].is_some() {
                self.close(idx);
            }
        }
    }

    fn close(&mut self, idx: usize) {
        let Some(mut c) = self.conns.get_mut(idx).and_then(Option::take) else {
            return;
        };
        if let Some(mut s) = c.stream.take() {
            let reg = PollReg(&self.shared.poller);
            let mut io = Io::new(&reg, idx << 2, self.now, &self.date);
            s.abort(&mut io);
        }
        if c.registered {
            sys::poll_delete(&self.shared.poller, c.fd.as_fd());
        }
        if c.buf != NO_BUF {
            self.pool.free.push(c.buf);
        }
        let info = conn_info(&self.listeners, self.id, &c);
        self.registry.closed(&mut self.plugins, &info);
        drop(c);
        self.free.push(idx as u32);
        self.shared.live.fetch_sub(1, Ordering::AcqRel);
    }

    /// Runs connection `idx` until it has to wait for readiness or closes.
    fn drive(&mut self, idx: usize) {
        loop {
            let (state, streaming) = match self.conns.get(idx).and_then(Option::as_ref) {
                None => return,
                Some(c) => (c.state, c.stream.is_some()),
            };
            let step = match state {
                State::Idle | State::Head => self.read_head(idx),
                State::Body | State::Write if streaming => self.pump_stream(idx),
                State::Body => self.read_body(idx),
                State::Write => self.write(idx),
                State::Linger => self.linger(idx),
            };
            match step {
                Step::Continue => {}
                Step::Wait => {
                    // Out of request buffers: under `reclaim_slots` take the
                    // one held longest by a connection still sending its head
                    // (slowloris) rather than queue behind it.
                    let waiting = self
                        .conns
                        .get(idx)
                        .and_then(Option::as_ref)
                        .is_some_and(|c| c.waiting);
                    if waiting && self.limits.reclaim && self.reclaim_buffer(idx) {
                        if let Some(Some(c)) = self.conns.get_mut(idx) {
                            c.waiting = false;
                        }
                        continue;
                    }
                    // First wait: the socket joins the poller now (an
                    // edge-triggered add reports readiness that is already
                    // there, so nothing is missed).
                    let Some(Some(c)) = self.conns.get_mut(idx) else {
                        return;
                    };
                    if !c.registered {
                        match sys::poll_add_edge(&self.shared.poller, c.fd.as_fd(), idx << 2) {
                            Ok(()) => c.registered = true,
                            Err(e) => {
                                log::warn!("poller add: {e}");
                                self.close(idx);
                            }
                        }
                    }
                    return;
                }
                Step::Close => {
                    self.close(idx);
                    return;
                }
            }
        }
    }

    /// Takes a pool buffer for `c`, or queues it for the next free one.
    fn acquire(pool: &mut Pool, waiters: &mut VecDeque<u32>, c: &mut Conn, idx: usize) -> bool {
        if c.buf != NO_BUF {
            return true;
        }
        match pool.free.pop() {
            Some(b) => {
                c.buf = b;
                c.pos = 0;
                c.filled = 0;
                true
            }
            None => {
                if !c.waiting && waiters.len() < waiters.capacity() {
                    c.waiting = true;
                    waiters.push_back(idx as u32);
                }
                false
            }
        }
    }

    fn release(pool: &mut Pool, c: &mut Conn) {
        if c.buf != NO_BUF {
            pool.free.push(c.buf);
            c.buf = NO_BUF;
            c.pos = 0;
            c.filled = 0;
        }
    }

    fn read_head(&mut self, idx: usize) -> Step {
        let Worker {
            conns,
            pool,
            waiters,
            id,
            shared,
            site,
            registry,
            plugins,
            listeners,
            stop,
            limits,
            scratch,
            user,
            now,
            date,
            date_secs,
            ..
        } = self;
        let Some(c) = conns[idx].as_mut() else {
            return Step::Close;
        };
        if c.writable {
            // A transport's own output (a TLS handshake answer that did not
            // fit the socket) goes out as soon as there is room.
            if let Some(t) = c.transport.as_mut() {
                match t.flush(&mut Sock(c.fd.as_fd())) {
                    Ok(true) => {}
                    Ok(false) => c.writable = false,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.writable = false,
                    Err(_) => return Step::Close,
                }
            }
        }
        if !c.readable && !c.unparsed {
            if c.filled == 0 {
                Self::release(pool, c);
                c.state = State::Idle;
            }
            return Step::Wait;
        }
        if !Self::acquire(pool, waiters, c, idx) {
            return Step::Wait;
        }
        let (req_area, resp) = pool.split(c.buf);
        while c.readable && c.filled < req_area.len() {
            let from = c.filled;
            match read_some(c, &mut req_area[from..]) {
                Err(()) => return Step::Close,
                Ok(Some(n)) => {
                    c.filled += n;
                    c.unparsed = true;
                }
                Ok(None) => {}
            }
        }
        let (now, limits) = (*now, *limits);
        if !c.unparsed {
            if c.filled >= req_area.len() {
                // Full and already parsed as incomplete: cannot happen, as
                // that case fails below; never spin on it.
                let err = request::incomplete_error(&req_area[..c.filled]);
                fail(c, resp, err, date, now + limits.send_timeout);
            }
            return Step::Continue;
        }
        c.unparsed = false;
        if c.state == State::Idle {
            c.state = State::Head;
            c.deadline = now + limits.header_timeout;
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let req = match request::parse(&req_area[..c.filled], &mut headers) {
            Ok(Some(r)) => r,
            Ok(None) if c.filled < req_area.len() => return Step::Wait,
            Ok(None) => {
                let err = request::incomplete_error(&req_area[..c.filled]);
                fail(c, resp, err, date, now + limits.send_timeout);
                log_unparsed(
                    registry,
                    plugins,
                    &conn_info(listeners, *id, c),
                    err,
                    *date_secs,
                );
                shared.errors.fetch_add(1, Ordering::Relaxed);
                return Step::Continue;
            }
            Err(err) => {
                fail(c, resp, err, date, now + limits.send_timeout);
                log_unparsed(
                    registry,
                    plugins,
                    &conn_info(listeners, *id, c),
                    err,
                    *date_secs,
                );
                shared.errors.fetch_add(1, Ordering::Relaxed);
                return Step::Continue;
            }
        };
        shared.requests.fetch_add(1, Ordering::Relaxed);
        let mut cx = Ctx {
            id: *id,
            shared,
            site,
            registry,
            plugins,
            listeners,
            stop,
            limits,
            scratch,
            user,
            now,
            date,
            date_secs: *date_secs,
        };
        let rest = req_area.get(req.head_len..c.filled).unwrap_or(&[]);
        respond(&mut cx, c, idx, req, rest, resp)
    }

    /// Reads and discards a request body nobody wants, then writes the
    /// prepared response.
    fn read_body(&mut self, idx: usize) -> Step {
        let Worker {
            conns,
            pool,
            limits,
            now,
            date,
            ..
        } = self;
        let Some(c) = conns[idx].as_mut() else {
            return Step::Close;
        };
        let (req_area, resp) = pool.split(c.buf);
        loop {
            match next_body(c, req_area, limits.max_body_size) {
                Err(e) => {
                    fail(c, resp, e, date, *now + limits.send_timeout);
                    return Step::Continue;
                }
                Ok(BodyPiece::Data(..)) => {
                    c.pending = (0, 0);
                    continue;
                }
                Ok(BodyPiece::End) => {
                    c.body = BodyLeft::None;
                    c.state = State::Write;
                    c.deadline = *now + limits.send_timeout;
                    return Step::Continue;
                }
                Ok(BodyPiece::NeedMore) => {}
            }
            if !c.readable {
                return Step::Wait;
            }
            if refill_body(c, req_area, *now + limits.header_timeout).is_err() {
                return Step::Close;
            }
        }
    }

    /// Writes the prepared response: head from the response area, then the
    /// file by `sendfile` (or through the transport).
    fn write(&mut self, idx: usize) -> Step {
        let Worker {
            conns,
            pool,
            limits,
            now,
            shared,
            ..
        } = self;
        let Some(c) = conns[idx].as_mut() else {
            return Step::Close;
        };
        match send_pending(c, pool, limits, *now, shared) {
            Ok(true) => complete(c, pool, limits, *now),
            Ok(false) => Step::Wait,
            Err(()) => Step::Close,
        }
    }

    /// Drives a stream: request body in (with backpressure), response out
    /// (with backpressure), both at once.
    fn pump_stream(&mut self, idx: usize) -> Step {
        let Worker {
            conns,
            pool,
            limits,
            now,
            date,
            shared,
            registry,
            plugins,
            listeners,
            id,
            site,
            scratch,
            ..
        } = self;
        let Some(c) = conns[idx].as_mut() else {
            return Step::Close;
        };
        let reg = PollReg(&shared.poller);
        let mut io = Io::new(&reg, idx << 2, *now, date);
        loop {
            let mut progress = false;
            // The request body, to the stream or discarded.
            if c.state == State::Body {
                let (req_area, _) = pool.split(c.buf);
                let Some(s) = c.stream.as_mut() else {
                    return Step::Close;
                };
                let take = s.wants_body() && !c.stream_done;
                if c.pending.0 < c.pending.1 {
                    let data = &req_area[c.pending.0..c.pending.1];
                    let n = if take {
                        match s.body(&mut io, data, false) {
                            Ok(n) => n.min(data.len()),
                            Err(_) => data.len(),
                        }
                    } else {
                        data.len()
                    };
                    c.pending.0 += n;
                    progress |= n > 0;
                } else if c.body_eof {
                    if take {
                        let _ = s.body(&mut io, &[], true);
                    }
                    c.body_eof = false;
                    c.body = BodyLeft::None;
                    c.state = State::Write;
                    progress = true;
                } else {
                    match next_body(c, req_area, limits.max_body_size) {
                        Err(e) => {
                            if let Some(mut s) = c.stream.take() {
                                s.abort(&mut io);
                            }
                            c.stream_log = None;
                            if c.produced {
                                return Step::Close;
                            }
                            let (_, resp) = pool.split(c.buf);
                            fail(c, resp, e, date, *now + limits.send_timeout);
                            return Step::Continue;
                        }
                        Ok(BodyPiece::Data(a, b)) => {
                            c.pending = (a, b);
                            progress = true;
                        }
                        Ok(BodyPiece::End) => {
                            c.body_eof = true;
                            progress = true;
                        }
                        Ok(BodyPiece::NeedMore) => {
                            if c.readable {
                                match refill_body(c, req_area, *now + limits.header_timeout) {
                                    Err(()) => return Step::Close,
                                    // Bytes, or an interrupted read to retry.
                                    Ok(got) => progress |= got || c.readable,
                                }
                            }
                        }
                    }
                }
            }
            // The response, from the stream.
            match send_pending(c, pool, limits, *now, shared) {
                Err(()) => return Step::Close,
                Ok(false) => {}
                Ok(true) if !c.stream_done && c.writable => {
                    let (_, resp) = pool.split(c.buf);
                    let Some(s) = c.stream.as_mut() else {
                        return Step::Close;
                    };
                    match s.produce(&mut io, resp) {
                        Produced::Bytes(n) => {
                            c.out_pos = 0;
                            c.out_len = n.min(resp.len());
                            c.produced |= n > 0;
                            progress = true;
                        }
                        Produced::Pending => {}
                        Produced::Done => {
                            c.stream_done = true;
                            progress = true;
                        }
                        Produced::File { fd, start, end } => {
                            c.file = Some(FileBody {
                                fd: handler::BodyFd::Owned(fd),
                                start,
                                end,
                            });
                            progress = true;
                        }
                        Produced::Offload(o) => {
                            // The static path answers for the stream: the
                            // whole response, head included.
                            let keep = c.keep_alive && o.keep_alive;
                            let (minor, head_only) = (o.cond.minor, o.cond.head_only);
                            let mut r = Reply::new(resp, date, keep, minor, head_only);
                            let file = if c.produced {
                                None
                            } else {
                                handler::serve_offload(site, scratch, *o, &mut r, *now)
                            };
                            match r.done() {
                                Some((n, ka, status)) if !c.produced => {
                                    let bytes = if head_only { 0 } else { r.body_len() };
                                    if let Some(l) = c.stream_log.as_mut() {
                                        l.served = Some((status.code(), bytes));
                                    }
                                    c.out_pos = 0;
                                    c.out_len = n;
                                    c.file = file;
                                    c.keep_alive = ka;
                                    c.produced = true;
                                }
                                // A stream that already sent bytes cannot
                                // hand over the response: end it.
                                _ => {
                                    s.abort(&mut io);
                                    c.stream_done = true;
                                    return Step::Close;
                                }
                            }
                            progress = true;
                        }
                        Produced::Fail(e) => {
                            s.abort(&mut io);
                            c.stream_done = true;
                            if c.produced {
                                return Step::Close;
                            }
                            let mut r = Reply::new(resp, date, false, 1, false);
                            r.error(e);
                            c.out_pos = 0;
                            c.out_len = r.done().map_or(0, |d| d.0);
                            c.keep_alive = false;
                            c.produced = true;
                            progress = true;
                        }
                    }
                }
                Ok(true) if c.stream_done && c.state == State::Write => {
                    // Finished: clean up, log, then keep-alive or close.
                    if let Some(mut s) = c.stream.take() {
                        s.abort(&mut io);
                        if let Some(l) = c.stream_log.take() {
                            let info = conn_info(listeners, *id, c);
                            log_stream(registry, plugins, &info, s.as_ref(), &l);
                        }
                    }
                    return complete(c, pool, limits, *now);
                }
                Ok(true) => {}
            }
            if !progress {
                return Step::Wait;
            }
        }
    }

    fn linger(&mut self, idx: usize) -> Step {
        let Some(c) = self.conns[idx].as_mut() else {
            return Step::Close;
        };
        let mut sink = [0u8; 512];
        loop {
            if !c.readable {
                return Step::Wait;
            }
            match read_some(c, &mut sink) {
                Err(()) => return Step::Close,
                Ok(Some(n)) => {
                    c.lingered = c.lingered.saturating_add(n as u32);
                    if c.lingered > LINGER_MAX_BYTES {
                        return Step::Close;
                    }
                }
                Ok(None) => {}
            }
        }
    }
}

/// One read from the client into `buf`: `Ok(Some(n))` bytes arrived,
/// `Ok(None)` nothing now (`c.readable` is cleared once the socket is
/// drained; an interrupted read leaves it set), `Err(())` end of stream or
/// a broken connection.
fn read_some(c: &mut Conn, buf: &mut [u8]) -> Result<Option<usize>, ()> {
    match conn_read(c, buf) {
        Ok(0) => Err(()),
        Ok(n) => {
            if n < buf.len() && c.transport.is_none() {
                // A short read drained the socket; the next bytes bring a
                // new edge.
                c.readable = false;
            }
            Ok(Some(n))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            c.readable = false;
            Ok(None)
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
        Err(_) => Err(()),
    }
}

/// Reads the next request-body bytes into the emptied request area and
/// moves the read deadline; `Ok(true)` when bytes arrived.
fn refill_body(c: &mut Conn, area: &mut [u8], deadline: Instant) -> Result<bool, ()> {
    let Some(n) = read_some(c, area)? else {
        return Ok(false);
    };
    c.pos = 0;
    c.filled = n;
    c.deadline = deadline;
    Ok(true)
}

fn header<'a>(req: &Request<'a>, name: &str) -> &'a [u8] {
    req.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map_or(&b""[..], |h| h.value)
}

/// Logs a request that never parsed (400, 408, 414, 431): no request
/// line, the status the client got.
fn log_unparsed(
    registry: &Registry,
    plugins: &mut Workers,
    info: &ConnInfo,
    err: HttpError,
    time: u64,
) {
    if !registry.wants_log() {
        return;
    }
    let rec = LogRecord {
        conn: info,
        method: b"",
        target: b"",
        minor: 1,
        status: err.status().code(),
        bytes: 0,
        host: b"",
        referer: b"",
        user_agent: b"",
        user: None,
        time,
    };
    registry.logged(plugins, &rec);
}

fn log_stream(
    registry: &Registry,
    plugins: &mut Workers,
    info: &ConnInfo,
    s: &dyn Stream,
    l: &StreamLog,
) {
    let rec = LogRecord {
        conn: info,
        method: &l.method,
        target: &l.target,
        minor: l.minor,
        status: l.served.map_or(s.log_status(), |v| v.0),
        bytes: l.served.map_or(s.log_bytes(), |v| v.1),
        host: &l.host,
        referer: &l.referer,
        user_agent: &l.user_agent,
        user: l.user.as_deref(),
        time: l.time,
    };
    registry.logged(plugins, &rec);
}

/// What the next body bytes in the buffer are.
enum BodyPiece {
    /// Payload at `area[a..b]`.
    Data(usize, usize),
    /// The body is complete.
    End,
    /// Nothing decodable is buffered: read more.
    NeedMore,
}

/// Runs the stages for a parsed request and sets the connection up to
/// answer it.
/// `rest`: the bytes received after the head (the start of the body or
/// of pipelined requests).
fn respond(
    cx: &mut Ctx<'_>,
    c: &mut Conn,
    idx: usize,
    mut req: Request<'_>,
    rest: &[u8],
    resp: &mut [u8],
) -> Step {
    let now = cx.now;
    let limits = cx.limits;
    c.requests = c.requests.saturating_add(1);
    c.client_done = !req.keep_alive;
    let max_req = limits.max_keepalive_requests;
    req.keep_alive &= !cx.stop.load(Ordering::Relaxed) && (max_req == 0 || c.requests < max_req);
    let body = match req.framing {
        Framing::None | Framing::Length(0) => BodyLeft::None,
        Framing::Length(n) if n > limits.max_body_size => {
            fail(
                c,
                resp,
                HttpError::PayloadTooLarge,
                cx.date,
                now + limits.send_timeout,
            );
            return Step::Continue;
        }
        Framing::Length(n) => BodyLeft::Length(n),
        Framing::Chunked => BodyLeft::Chunked(ChunkedDecoder::new(), 0),
    };
    let has_body = !matches!(body, BodyLeft::None);
    c.pos = req.head_len;
    c.body = body;
    c.pending = (0, 0);
    c.body_eof = false;

    let info = conn_info(cx.listeners, cx.id, c);
    let vhost = cx.site.route(req.host);
    let norm = handler::normalize(cx.site, &req, &mut cx.scratch.norm);
    cx.user.clear();
    let head_only = req.method == Method::Head;
    let mut reply = Reply::new(resp, cx.date, req.keep_alive, req.minor, head_only);
    if let Some(t) = c.transport.as_deref() {
        reply.set_extra(t.response_headers());
    }
    let mut file = None;
    let mut stream: Option<Box<dyn Stream>> = None;
    {
        let peer = c.transport.as_deref().map(|t| t.peer()).unwrap_or_default();
        let path = norm.as_ref().ok().map(|n| &cx.scratch.norm[..n.len]);
        // A copy of the path for the exchange: the static handler needs
        // the scratch space mutably afterwards.
        let mut x = Exchange {
            req: &req,
            conn: &info,
            vhost,
            path,
            user: cx.user,
            date: cx.date,
            peer,
        };
        let mut done = match cx.registry.request(cx.plugins, &mut x, &mut reply) {
            Verdict::Continue => false,
            Verdict::Respond => true,
            Verdict::Close => return Step::Close,
        };
        if !done {
            match cx.registry.content(cx.plugins, &mut x, &mut reply) {
                Content::Decline => {}
                Content::Respond => done = true,
                Content::Stream(s) => {
                    stream = Some(s);
                    done = true;
                }
            }
        }
        if !done {
            match norm {
                Err(e) => reply.error(e),
                Ok(n) => match handler::serve(cx.site, cx.scratch, &req, vhost, n, &mut reply, now)
                {
                    Served::Reply(f) => file = f,
                    Served::Directory(dir) => {
                        let path = Some(&cx.scratch.norm[..n.len]);
                        let mut x = Exchange {
                            req: &req,
                            conn: &info,
                            vhost,
                            path,
                            user: cx.user,
                            date: cx.date,
                            peer,
                        };
                        match cx.registry.directory(cx.plugins, &mut x, dir, &mut reply) {
                            Content::Decline => reply.error(HttpError::Forbidden),
                            Content::Respond => {}
                            Content::Stream(s) => stream = Some(s),
                        }
                    }
                },
            }
        }
    }

    if let Some(mut s) = stream {
        // A stream answers over time; it keeps the buffer (its output
        // goes through the response area) until it is done.
        let reg = PollReg(&cx.shared.poller);
        let mut io = Io::new(&reg, idx << 2, now, cx.date);
        if let Err(e) = s.start(&mut io) {
            log::warn!("stream start: {e}");
            s.abort(&mut io);
            let mut reply = Reply::new(resp, cx.date, false, req.minor, head_only);
            reply.error(HttpError::Internal);
            let len = reply.done().map_or(0, |d| d.0);
            c.body = BodyLeft::None;
            start_reply(c, len, None, false, now + limits.send_timeout);
            return Step::Continue;
        }
        c.stream_log = Some(Box::new(StreamLog {
            method: req.method.as_str().as_bytes().to_vec(),
            target: req.target.to_vec(),
            minor: req.minor,
            host: header(&req, "host").to_vec(),
            referer: header(&req, "referer").to_vec(),
            user_agent: header(&req, "user-agent").to_vec(),
            user: cx.user.get().map(<[u8]>::to_vec),
            time: cx.date_secs,
            served: None,
        }));
        let wants = s.wants_body();
        c.stream = Some(s);
        c.stream_done = false;
        c.produced = false;
        c.keep_alive = req.keep_alive;
        c.out_pos = 0;
        c.out_len = 0;
        c.file = None;
        if has_body && wants && req.expect_continue {
            resp[..CONTINUE.len()].copy_from_slice(CONTINUE);
            c.out_len = CONTINUE.len();
        } else if has_body && req.expect_continue {
            // The stream does not want the body the client is waiting
            // to send: do not read it, close after the answer.
            c.body = BodyLeft::None;
            c.keep_alive = false;
        }
        c.state = if matches!(c.body, BodyLeft::None) {
            State::Write
        } else {
            State::Body
        };
        c.deadline = now + limits.header_timeout;
        return Step::Continue;
    }

    let body_bytes = if head_only { 0 } else { reply.body_len() };
    let (len, keep_alive, status) = match reply.done() {
        Some(d) => d,
        None => {
            let mut r = Reply::new(resp, cx.date, false, req.minor, head_only);
            r.error(HttpError::Internal);
            match r.done() {
                Some(d) => d,
                None => return Step::Close,
            }
        }
    };
    if cx.registry.wants_log() {
        // Only when a logger is configured: the header look-ups cost.
        let rec = LogRecord {
            conn: &info,
            method: req.method.as_str().as_bytes(),
            target: req.target,
            minor: req.minor,
            status: status.code(),
            bytes: body_bytes,
            host: header(&req, "host"),
            referer: header(&req, "referer"),
            user_agent: header(&req, "user-agent"),
            user: cx.user.get(),
            time: cx.date_secs,
        };
        cx.registry.logged(cx.plugins, &rec);
    }
    if status.code() >= 400 {
        cx.shared.errors.fetch_add(1, Ordering::Relaxed);
    }
    let mut keep_alive = keep_alive;
    if has_body && req.expect_continue {
        // Nobody wants the body: answer at once and close rather than
        // read a body the client may not send.
        keep_alive = false;
        c.body = BodyLeft::None;
    }
    let arrived = match c.body {
        BodyLeft::None => true,
        BodyLeft::Length(n) => n <= rest.len() as u64,
        // A framing error or an oversized body in what arrived is still
        // reported (400/413) by reading it as usual.
        BodyLeft::Chunked(d, _) => {
            let (mut d, mut at, mut payload) = (d, 0usize, 0u64);
            loop {
                match d.decode(rest.get(at..).unwrap_or(&[])) {
                    Err(_) => break true,
                    Ok(s) if s.done => break true,
                    Ok(s) if s.consumed == 0 => break false,
                    Ok(s) => {
                        at += s.consumed;
                        payload += s.data.len() as u64;
                        if payload > limits.max_body_size {
                            break true;
                        }
                    }
                }
            }
        }
    };
    if !arrived {
        // Nobody wants this body either, and it has not all arrived:
        // answer now and close (lingering briefly) instead of holding a
        // slot and a buffer for a client that may send it a byte at a
        // time (R-U-Dead-Yet). A body already in the buffer is skipped
        // and the connection kept.
        keep_alive = false;
        c.body = BodyLeft::None;
    }
    start_reply(c, len, file, keep_alive, now + limits.send_timeout);
    if !matches!(c.body, BodyLeft::None) {
        c.state = State::Body;
        c.deadline = now + limits.header_timeout;
    }
    Step::Continue
}

/// Decodes the next piece of the request body from the buffered bytes.
fn next_body(c: &mut Conn, area: &[u8], max: u64) -> Result<BodyPiece, HttpError> {
    loop {
        match &mut c.body {
            BodyLeft::None => return Ok(BodyPiece::End),
            BodyLeft::Length(0) => return Ok(BodyPiece::End),
            BodyLeft::Length(rem) => {
                if c.pos >= c.filled {
                    return Ok(BodyPiece::NeedMore);
                }
                let k = (*rem).min((c.filled - c.pos) as u64) as usize;
                let a = c.pos;
                c.pos += k;
                *rem -= k as u64;
                return Ok(BodyPiece::Data(a, a + k));
            }
            BodyLeft::Chunked(dec, total) => {
                if dec.is_done() {
                    return Ok(BodyPiece::End);
                }
                if c.pos >= c.filled {
                    return Ok(BodyPiece::NeedMore);
                }
                let step = dec
                    .decode(&area[c.pos..c.filled])
                    .map_err(|_| HttpError::BadRequest)?;
                let base = c.pos;
                c.pos += step.consumed;
                *total += step.data.len() as u64;
                if *total > max {
                    return Err(HttpError::PayloadTooLarge);
                }
                if !step.data.is_empty() {
                    return Ok(BodyPiece::Data(
                        base + step.data.start,
                        base + step.data.end,
                    ));
                }
                if step.done {
                    return Ok(BodyPiece::End);
                }
                if step.consumed == 0 {
                    return Ok(BodyPiece::NeedMore);
                }
            }
        }
    }
}

/// The client socket, as a transport reads and writes it.
struct Sock<'a>(BorrowedFd<'a>);

impl io::Read for Sock<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        sys::read(self.0, buf)
    }
}

impl io::Write for Sock<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        sys::send(self.0, buf, false)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn conn_read(c: &mut Conn, buf: &mut [u8]) -> io::Result<usize> {
    match c.transport.as_mut() {
        Some(t) => t.read(&mut Sock(c.fd.as_fd()), buf),
        None => sys::read(c.fd.as_fd(), buf),
    }
}

fn conn_write(c: &mut Conn, buf: &[u8], more: bool) -> io::Result<usize> {
    match c.transport.as_mut() {
        Some(t) => t.write(&mut Sock(c.fd.as_fd()), buf),
        None => sys::send(c.fd.as_fd(), buf, more),
    }
}

/// Sends what is pending (response-area bytes, then a file range, then the
/// transport's buffered output). `Ok(true)`: all sent; `Ok(false)`: the
/// socket is full; `Err`: the connection is broken.
fn send_pending(
    c: &mut Conn,
    pool: &mut Pool,
    limits: &Limits,
    now: Instant,
    shared: &Shared,
) -> Result<bool, ()> {
    loop {
        if c.out_pos < c.out_len {
            if !c.writable {
                return Ok(false);
            }
            let (_, resp) = pool.split(c.buf);
            let more = c.file.is_some();
            match conn_write(c, &resp[c.out_pos..c.out_len], more) {
                Ok(n) => {
                    shared.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    c.out_pos += n;
                    c.deadline = now + limits.send_timeout;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    c.writable = false;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
            continue;
        }
        let sendfile_ok = c.transport.as_ref().is_none_or(|t| t.can_sendfile());
        if c.file.is_some() {
            // The head is out: a connection with nothing pipelined does
            // not need its buffer while the file streams by sendfile.
            if sendfile_ok
                && c.stream.is_none()
                && c.buf != NO_BUF
                && c.pos >= c.filled
                && c.state != State::Body
            {
                Worker::release(pool, c);
                c.out_pos = 0;
                c.out_len = 0;
            }
            if !c.writable {
                return Ok(false);
            }
            let Some(f) = c.file.as_mut() else { continue };
            if !sendfile_ok {
                // Through the transport: read a piece into the response area.
                let (_, resp) = pool.split(c.buf);
                let want = ((f.end - f.start) as usize).min(resp.len());
                let Some(ffd) = f.fd.get() else {
                    return Err(());
                };
                match sys::pread(ffd, &mut resp[..want], f.start) {
                    Ok(0) => return Err(()),
                    Ok(n) => {
                        f.start += n as u64;
                        if f.start >= f.end {
                            c.file = None;
                        }
                        c.out_pos = 0;
                        c.out_len = n;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Err(()),
                }
                continue;
            }
            let count = (f.end - f.start).min(SENDFILE_CHUNK) as usize;
            let Some(ffd) = f.fd.get() else {
                return Err(());
            };
            match sys::sendfile(c.fd.as_fd(), ffd, &mut f.start, count) {
                // The file shrank under us: the promised length cannot be
                // kept, so the connection must end.
                Ok(0) => return Err(()),
                Ok(n) => {
                    shared.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    c.deadline = now + limits.send_timeout;
                    if f.start >= f.end {
                        c.file = None;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    c.writable = false;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
            continue;
        }
        if let Some(t) = c.transport.as_mut() {
            match t.flush(&mut Sock(c.fd.as_fd())) {
                Ok(true) => {}
                Ok(false) => {
                    c.writable = false;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    c.writable = false;
                    return Ok(false);
                }
                Err(_) => return Err(()),
            }
        }
        return Ok(true);
    }
}

/// The response is fully sent: keep the connection for the next request
/// (pipelined bytes first) or close it.
fn complete(c: &mut Conn, pool: &mut Pool, limits: &Limits, now: Instant) -> Step {
    c.out_pos = 0;
    c.out_len = 0;
    if !c.keep_alive {
        if c.client_done
            && c.transport.is_none()
            && !c.readable
            && c.pos >= c.filled
            && matches!(c.body, BodyLeft::None)
        {
            // The client said this was its last request, all it sent has
            // been read and the socket was drained: nothing can be in
            // flight that a close would answer with a reset, so close at
            // once (the FIN follows the response) rather than linger.
            return Step::Close;
        }
        if let Some(t) = c.transport.as_mut() {
            t.close(&mut Sock(c.fd.as_fd()));
            let _ = t.flush(&mut Sock(c.fd.as_fd()));
        }
        sys::shutdown_write(c.fd.as_fd());
        Worker::release(pool, c);
        c.state = State::Linger;
        c.deadline = now + LINGER;
        return Step::Continue;
    }
    if c.buf != NO_BUF && c.pos < c.filled {
        // Pipelined bytes: move them to the front and parse next.
        let (req_area, _) = pool.split(c.buf);
        req_area.copy_within(c.pos..c.filled, 0);
        c.filled -= c.pos;
        c.pos = 0;
        c.unparsed = true;
        c.state = State::Head;
        c.deadline = now + limits.header_timeout;
    } else {
        Worker::release(pool, c);
        c.state = State::Idle;
        c.deadline = now + limits.keepalive_timeout;
    }
    Step::Continue
}

/// Switches `c` to writing a response of `len` bytes from the response area.
fn start_reply(
    c: &mut Conn,
    len: usize,
    file: Option<FileBody>,
    keep_alive: bool,
    deadline: Instant,
) {
    c.out_pos = 0;
    c.out_len = len;
    c.file = file;
    c.keep_alive = keep_alive;
    c.state = State::Write;
    c.deadline = deadline;
    if len == 0 {
        // The head did not fit (cannot happen with the fixed response
        // area): end the connection rather than send nothing.
        c.keep_alive = false;
    }
}

/// Replaces whatever was prepared with an error response and no body to read.
fn fail(c: &mut Conn, resp: &mut [u8], err: HttpError, date: &[u8; 29], deadline: Instant) {
    let mut reply = Reply::new(resp, date, false, 1, false);
    reply.error(err);
    let len = reply.done().map_or(0, |d| d.0);
    c.body = BodyLeft::None;
    c.pending = (0, 0);
    c.body_eof = false;
    start_reply(c, len, None, false, deadline);
}
