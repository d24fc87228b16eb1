//! A bounded, preallocated byte queue between a producer that must never
//! wait (a worker, any thread logging a diagnostic) and the writer thread.
//!
//! The queue is a `Vec<u8>` allocated once with its full capacity behind a
//! mutex. A producer appends a whole line with `try_lock` (spinning a few
//! times when the writer holds the lock); the writer takes everything by
//! swapping the vector with an empty spare of the same capacity, so it holds
//! the lock for a pointer swap only, and writes the taken bytes out without
//! the lock. Nothing grows: a line that does not fit is dropped and counted.
//!
//! Measured (see the crate docs): a push costs about as much as the memcpy
//! of the line; under a writer draining continuously no line was dropped
//! for contention in 10^6 pushes.

use std::sync::atomic::Ordering;

use fws_api::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard, TryLockError};

/// How often a producer retries a lock the writer holds before dropping:
/// spins first, then a few `sched_yield`s (the writer may have been
/// preempted while holding the lock for its swap).
const SPINS: u32 = 100;
const YIELDS: u32 = 4;

/// What [`Queue::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Stored; `first` when the queue was empty before (wake the writer).
    Stored { first: bool },
    /// Dropped: the queue is full.
    Full,
    /// Dropped: the lock stayed busy.
    Busy,
}

pub struct Queue {
    buf: Mutex<Vec<u8>>,
    cap: usize,
    pub dropped_full: AtomicU64,
    pub dropped_busy: AtomicU64,
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Queue {
    pub fn new(cap: usize) -> Self {
        Queue {
            buf: Mutex::new(Vec::with_capacity(cap)),
            cap,
            dropped_full: AtomicU64::new(0),
            dropped_busy: AtomicU64::new(0),
        }
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Appends `line` whole, or drops it (and counts the drop). Never
    /// allocates, never waits for more than a few hundred spins.
    pub fn push(&self, line: &[u8]) -> Push {
        let mut spins = 0;
        let mut g = loop {
            match self.buf.try_lock() {
                Ok(g) => break g,
                Err(TryLockError::Poisoned(p)) => break p.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    spins += 1;
                    if spins >= SPINS + YIELDS {
                        self.dropped_busy.fetch_add(1, Ordering::Relaxed);
                        return Push::Busy;
                    }
                    if spins >= SPINS {
                        std::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                }
            }
        };
        // The vector's capacity is at least `cap`: this never reallocates.
        if g.len().saturating_add(line.len()) > self.cap {
            drop(g);
            self.dropped_full.fetch_add(1, Ordering::Relaxed);
            return Push::Full;
        }
        let first = g.is_empty();
        g.extend_from_slice(line);
        Push::Stored { first }
    }

    /// Swaps the queued bytes into `spare` (which must be empty, with a
    /// capacity of at least [`Queue::capacity`]). Writer side.
    pub fn take(&self, spare: &mut Vec<u8>) {
        debug_assert!(spare.is_empty() && spare.capacity() >= self.cap);
        let mut g = relock(&self.buf);
        std::mem::swap(&mut *g, spare);
    }

    pub fn dropped(&self) -> (u64, u64) {
        (
            self.dropped_full.load(Ordering::Relaxed),
            self.dropped_busy.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn bounded_and_counts_drops() {
        let q = Queue::new(10);
        assert_eq!(q.push(b"abcd\n"), Push::Stored { first: true });
        assert_eq!(q.push(b"efgh\n"), Push::Stored { first: false });
        assert_eq!(q.push(b"x\n"), Push::Full);
        assert_eq!(q.push(&[0u8; 11]), Push::Full);
        assert_eq!(q.dropped(), (2, 0));
        let mut spare = Vec::with_capacity(10);
        q.take(&mut spare);
        assert_eq!(spare, b"abcd\nefgh\n");
        assert_eq!(q.push(b"x\n"), Push::Stored { first: true });
        // The swapped-in vector kept its capacity.
        spare.clear();
        q.take(&mut spare);
        assert_eq!(spare, b"x\n");
        assert!(spare.capacity() >= 10);
    }

    #[test]
    fn busy_lock_drops_instead_of_waiting() {
        let q = Queue::new(100);
        let g = q.buf.lock().unwrap();
        assert_eq!(q.push(b"a\n"), Push::Busy);
        drop(g);
        assert_eq!(q.dropped(), (0, 1));
    }

    /// One producer, one draining writer: every byte arrives, in order,
    /// whole lines only.
    #[test]
    fn concurrent_producer_and_writer() {
        let q = Arc::new(Queue::new(4096));
        let q2 = q.clone();
        let n = 20_000u32;
        let prod = std::thread::spawn(move || {
            let mut stored = 0u32;
            for i in 0..n {
                let line = format!("line {i}\n");
                if let Push::Stored { .. } = q2.push(line.as_bytes()) {
                    stored += 1;
                }
            }
            stored
        });
        let mut got = Vec::new();
        let mut spare = Vec::with_capacity(4096);
        loop {
            q.take(&mut spare);
            got.extend_from_slice(&spare);
            spare.clear();
            if prod.is_finished() {
                q.take(&mut spare);
                got.extend_from_slice(&spare);
                break;
            }
            std::thread::yield_now();
        }
        let stored = prod.join().unwrap();
        let text = String::from_utf8(got).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len() as u32, stored);
        let (full, busy) = q.dropped();
        assert_eq!(u64::from(stored) + full + busy, u64::from(n));
        let mut last = -1i64;
        for l in lines {
            let k: i64 = l.strip_prefix("line ").unwrap().parse().unwrap();
            assert!(k > last);
            last = k;
        }
    }
}
