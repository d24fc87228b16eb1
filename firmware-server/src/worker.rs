//! The worker context: one thread, one poller, a fixed slab of connection
//! slots and a fixed pool of request buffers, all allocated at start-up.
//!
//! Each connection is a small state machine ([`State`]) driven by
//! edge-triggered readiness. A connection holds a pool buffer only while it
//! has bytes in flight (a request head being read, a body being drained, a
//! response head being written); an idle keep-alive connection holds none.
//! When the pool is empty, a connection with bytes to read waits in a FIFO
//! for the next free buffer.
//!
//! Contract: nothing here allocates after [`Worker::new`]; nothing panics on
//! input from the network.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use polling::{Event, Events, Poller};

use crate::handler::{self, FileBody, Scratch, Site};
use crate::http::chunked::ChunkedDecoder;
use crate::http::date;
use crate::http::error::HttpError;
use crate::http::request::{self, Framing, MAX_HEADERS};
use crate::sys;

/// Bytes reserved in every pool buffer for the response head and small
/// generated bodies (error pages, redirects).
pub const RESPONSE_AREA: usize = 2048;
const NO_BUF: u32 = u32::MAX;
/// How long and how much a closing connection may still send us before we
/// close (so the peer reads our last response instead of a reset).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_MAX_BYTES: u32 = 64 * 1024;
const SENDFILE_CHUNK: u64 = 0x7fff_f000;

/// The part of a worker the scheduler sees.
pub struct Shared {
    pub poller: Poller,
    pub queue: Mutex<VecDeque<(OwnedFd, SocketAddr)>>,
    /// Connections handed to this worker and not yet closed.
    pub live: AtomicUsize,
    pub capacity: usize,
    pub requests: AtomicU64,
}

impl Shared {
    pub fn new(capacity: usize) -> io::Result<Shared> {
        Ok(Shared {
            poller: Poller::new()?,
            queue: Mutex::new(VecDeque::with_capacity(capacity)),
            live: AtomicUsize::new(0),
            capacity,
            requests: AtomicU64::new(0),
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
}

/// A fixed pool of request buffers in one allocation. The allocation is
/// zeroed lazily by the OS, so untouched buffers cost no resident memory.
struct Pool {
    mem: Box<[u8]>,
    stride: usize,
    req: usize,
    free: Vec<u32>,
}

impl Pool {
    fn new(count: usize, req: usize) -> Pool {
        let stride = req + RESPONSE_AREA;
        Pool {
            mem: vec![0u8; stride * count].into_boxed_slice(),
            stride,
            req,
            free: (0..count as u32).rev().collect(),
        }
    }

    /// The request area and the response area of buffer `id`.
    fn split(&mut self, id: u32) -> (&mut [u8], &mut [u8]) {
        let start = id as usize * self.stride;
        let (req, resp) = self.mem[start..start + self.stride].split_at_mut(self.req);
        (req, resp)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Keep-alive (or new) connection with no bytes in flight; holds no buffer.
    Idle,
    /// Reading a request head.
    Head,
    /// Reading (and discarding) a request body before answering.
    Body,
    /// Writing the response head, then the file body.
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

struct Conn {
    fd: OwnedFd,
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
    keep_alive: bool,
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

pub struct Worker {
    shared: Arc<Shared>,
    site: Arc<Site>,
    stop: Arc<AtomicBool>,
    limits: Limits,
    conns: Vec<Option<Conn>>,
    free: Vec<u32>,
    pool: Pool,
    waiters: VecDeque<u32>,
    scratch: Scratch,
    now: Instant,
    date_secs: u64,
    date: [u8; 29],
}

impl Worker {
    pub fn new(
        shared: Arc<Shared>,
        site: Arc<Site>,
        stop: Arc<AtomicBool>,
        limits: Limits,
    ) -> Worker {
        let cap = shared.capacity;
        let mut conns = Vec::with_capacity(cap);
        conns.resize_with(cap, || None);
        let mut w = Worker {
            pool: Pool::new(limits.buffers, limits.request_buffer),
            shared,
            site,
            stop,
            limits,
            conns,
            free: (0..cap as u32).rev().collect(),
            waiters: VecDeque::with_capacity(cap),
            scratch: Scratch::default(),
            now: Instant::now(),
            date_secs: 0,
            date: [0; 29],
        };
        w.tick();
        w
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
        let mut events = Events::with_capacity(
            std::num::NonZeroUsize::new(256).unwrap_or(std::num::NonZeroUsize::MIN),
        );
        let interval = self.sweep_interval();
        let mut next_sweep = self.now + interval;
        let mut grace_end: Option<Instant> = None;
        loop {
            events.clear();
            let timeout = next_sweep.saturating_duration_since(Instant::now());
            if let Err(e) = self.shared.poller.wait(&mut events, Some(timeout)) {
                log::error!("poll: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
            self.tick();
            for ev in events.iter() {
                self.on_event(ev);
            }
            self.take_handoffs();
            self.serve_waiters();
            if self.now >= next_sweep {
                self.sweep();
                next_sweep = self.now + interval;
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

    fn on_event(&mut self, ev: Event) {
        let idx = ev.key;
        let Some(Some(c)) = self.conns.get_mut(idx) else {
            return;
        };
        c.readable |= ev.readable;
        c.writable |= ev.writable;
        self.drive(idx);
    }

    /// Installs connections the scheduler queued for this worker.
    fn take_handoffs(&mut self) {
        loop {
            let next = match self.shared.queue.lock() {
                Ok(mut q) => q.pop_front(),
                Err(poisoned) => poisoned.into_inner().pop_front(),
            };
            let Some((fd, _peer)) = next else { return };
            let Some(idx) = self.free.pop() else {
                // Cannot happen while the scheduler honours `capacity`.
                self.shared.live.fetch_sub(1, Ordering::AcqRel);
                continue;
            };
            if let Err(e) = sys::poll_add_edge(&self.shared.poller, fd.as_fd(), idx as usize) {
                log::warn!("poller add: {e}");
                self.free.push(idx);
                self.shared.live.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
            self.conns[idx as usize] = Some(Conn {
                fd,
                state: State::Idle,
                buf: NO_BUF,
                pos: 0,
                filled: 0,
                unparsed: false,
                out_pos: 0,
                out_len: 0,
                file: None,
                body: BodyLeft::None,
                keep_alive: true,
                requests: 0,
                readable: true,
                writable: true,
                waiting: false,
                deadline: self.now + self.limits.header_timeout,
                lingered: 0,
            });
            self.drive(idx as usize);
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
            if c.deadline > self.now {
                continue;
            }
            if c.state == State::Head && c.buf != NO_BUF {
                // A slow or stalled request head: answer 408, then close.
                let (_, resp) = self.pool.split(c.buf);
                let reply =
                    handler::error_reply(resp, HttpError::Timeout, &self.date, false, 1, false);
                start_reply(
                    c,
                    reply.len,
                    None,
                    false,
                    self.now + self.limits.send_timeout,
                );
                c.body = BodyLeft::None;
                self.drive(idx);
            } else {
                self.close(idx);
            }
        }
    }

    /// On shutdown: close idle connections, let the others finish without
    /// keep-alive.
    fn wind_down(&mut self) {
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
        let Some(c) = self.conns.get_mut(idx).and_then(Option::take) else {
            return;
        };
        sys::poll_delete(&self.shared.poller, c.fd.as_fd());
        if c.buf != NO_BUF {
            self.pool.free.push(c.buf);
        }
        drop(c);
        self.free.push(idx as u32);
        self.shared.live.fetch_sub(1, Ordering::AcqRel);
    }

    /// Runs connection `idx` until it has to wait for readiness or closes.
    fn drive(&mut self, idx: usize) {
        loop {
            let step = match self
                .conns
                .get(idx)
                .and_then(Option::as_ref)
                .map(|c| c.state)
            {
                None => return,
                Some(State::Idle) | Some(State::Head) => self.read_head(idx),
                Some(State::Body) => self.read_body(idx),
                Some(State::Write) => self.write(idx),
                Some(State::Linger) => self.linger(idx),
            };
            match step {
                Step::Continue => {}
                Step::Wait => return,
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
            site,
            scratch,
            limits,
            shared,
            stop,
            now,
            date,
            ..
        } = self;
        let Some(c) = conns[idx].as_mut() else {
            return Step::Close;
        };
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
            let space = req_area.len() - c.filled;
            match sys::read(c.fd.as_fd(), &mut req_area[c.filled..]) {
                Ok(0) => return Step::Close,
                Ok(n) => {
                    c.filled += n;
                    c.unparsed = true;
                    if n < space {
                        // A short read drained the socket; the next bytes
                        // bring a new edge.
                        c.readable = false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Step::Close,
            }
        }
        if !c.unparsed {
            if c.filled >= req_area.len() {
                // Full and already parsed as incomplete: cannot happen, as
                // that case fails below; never spin on it.
                let err = request::incomplete_error(&req_area[..c.filled]);
                fail(c, resp, err, date, *now + limits.send_timeout);
            }
            return Step::Continue;
        }
        c.unparsed = false;
        if c.state == State::Idle {
            c.state = State::Head;
            c.deadline = *now + limits.header_timeout;
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let parsed = request::parse(&req_area[..c.filled], &mut headers);
        let mut req = match parsed {
            Ok(Some(r)) => r,
            Ok(None) if c.filled < req_area.len() => return Step::Wait,
            Ok(None) => {
                let err = request::incomplete_error(&req_area[..c.filled]);
                fail(c, resp, err, date, *now + limits.send_timeout);
                return Step::Continue;
            }
            Err(err) => {
                fail(c, resp, err, date, *now + limits.send_timeout);
                return Step::Continue;
            }
        };
        c.requests = c.requests.saturating_add(1);
        shared.requests.fetch_add(1, Ordering::Relaxed);
        let max_req = limits.max_keepalive_requests;
        req.keep_alive &= !stop.load(Ordering::Relaxed) && (max_req == 0 || c.requests < max_req);
        let body = match req.framing {
            Framing::None | Framing::Length(0) => BodyLeft::None,
            Framing::Length(n) if n > limits.max_body_size => {
                fail(
                    c,
                    resp,
                    HttpError::PayloadTooLarge,
                    date,
                    *now + limits.send_timeout,
                );
                return Step::Continue;
            }
            Framing::Length(n) => BodyLeft::Length(n),
            Framing::Chunked => BodyLeft::Chunked(ChunkedDecoder::new(), 0),
        };
        let has_body = !matches!(body, BodyLeft::None);
        if has_body && req.expect_continue {
            // The static handler does not want the body: answer at once
            // and close rather than read a body the client may not send.
            req.keep_alive = false;
        }
        let reply = handler::serve(site, scratch, &req, resp, date);
        c.pos = req.head_len;
        c.body = if has_body && !req.expect_continue {
            body
        } else {
            BodyLeft::None
        };
        start_reply(
            c,
            reply.len,
            reply.file,
            reply.keep_alive,
            *now + limits.send_timeout,
        );
        if !matches!(c.body, BodyLeft::None) {
            c.state = State::Body;
            c.deadline = *now + limits.header_timeout;
        }
        Step::Continue
    }

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
            if c.pos < c.filled {
                let avail = &req_area[c.pos..c.filled];
                let done = match &mut c.body {
                    BodyLeft::None => true,
                    BodyLeft::Length(rem) => {
                        let k = (*rem).min(avail.len() as u64);
                        c.pos += k as usize;
                        *rem -= k;
                        *rem == 0
                    }
                    BodyLeft::Chunked(dec, total) => match dec.decode(avail) {
                        Ok(step) => {
                            c.pos += step.consumed;
                            *total += step.data.len() as u64;
                            if *total > limits.max_body_size {
                                fail(
                                    c,
                                    resp,
                                    HttpError::PayloadTooLarge,
                                    date,
                                    *now + limits.send_timeout,
                                );
                                return Step::Continue;
                            }
                            step.done
                        }
                        Err(_) => {
                            fail(
                                c,
                                resp,
                                HttpError::BadRequest,
                                date,
                                *now + limits.send_timeout,
                            );
                            return Step::Continue;
                        }
                    },
                };
                if done {
                    c.body = BodyLeft::None;
                    c.state = State::Write;
                    c.deadline = *now + limits.send_timeout;
                    return Step::Continue;
                }
                continue;
            }
            c.pos = 0;
            c.filled = 0;
            if !c.readable {
                return Step::Wait;
            }
            match sys::read(c.fd.as_fd(), req_area) {
                Ok(0) => return Step::Close,
                Ok(n) => {
                    c.filled = n;
                    c.deadline = *now + limits.header_timeout;
                    if n < req_area.len() {
                        c.readable = false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Step::Close,
            }
        }
    }

    fn write(&mut self, idx: usize) -> Step {
        let Worker {
            conns,
            pool,
            limits,
            now,
            ..
        } = self;
        let Some(c) = conns[idx].as_mut() else {
            return Step::Close;
        };
        loop {
            if c.out_pos < c.out_len {
                if !c.writable {
                    return Step::Wait;
                }
                let (_, resp) = pool.split(c.buf);
                let more = c.file.is_some();
                match sys::send(c.fd.as_fd(), &resp[c.out_pos..c.out_len], more) {
                    Ok(n) => {
                        c.out_pos += n;
                        c.deadline = *now + limits.send_timeout;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        c.writable = false;
                        return Step::Wait;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Step::Close,
                }
                continue;
            }
            if let Some(f) = &mut c.file {
                // The head is out: a connection with nothing pipelined
                // does not need its buffer while the file streams.
                if c.buf != NO_BUF && c.pos >= c.filled {
                    Self::release(pool, c);
                    c.out_pos = 0;
                    c.out_len = 0;
                    continue;
                }
                if !c.writable {
                    return Step::Wait;
                }
                let count = (f.end - f.start).min(SENDFILE_CHUNK) as usize;
                match sys::sendfile(c.fd.as_fd(), f.fd.as_fd(), &mut f.start, count) {
                    // The file shrank under us: the promised length cannot
                    // be kept, so the connection must end.
                    Ok(0) => return Step::Close,
                    Ok(_) => {
                        c.deadline = *now + limits.send_timeout;
                        if f.start >= f.end {
                            c.file = None;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        c.writable = false;
                        return Step::Wait;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Step::Close,
                }
                continue;
            }
            // The response is complete.
            if !c.keep_alive {
                sys::shutdown_write(c.fd.as_fd());
                Self::release(pool, c);
                c.state = State::Linger;
                c.deadline = *now + LINGER;
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
                c.deadline = *now + limits.header_timeout;
            } else {
                Self::release(pool, c);
                c.state = State::Idle;
                c.deadline = *now + limits.keepalive_timeout;
            }
            c.out_pos = 0;
            c.out_len = 0;
            return Step::Continue;
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
            match sys::read(c.fd.as_fd(), &mut sink) {
                Ok(0) => return Step::Close,
                Ok(n) => {
                    c.lingered = c.lingered.saturating_add(n as u32);
                    if c.lingered > LINGER_MAX_BYTES {
                        return Step::Close;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Step::Close,
            }
        }
    }
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
    let reply = handler::error_reply(resp, err, date, false, 1, false);
    c.body = BodyLeft::None;
    start_reply(c, reply.len, None, false, deadline);
}
