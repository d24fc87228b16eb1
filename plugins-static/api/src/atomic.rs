//! A 64-bit atomic counter on every target.
//!
//! 32-bit MIPS has no 64-bit atomic instructions, so `std` has no
//! `AtomicU64` there. Where the target has them this is `std`'s type;
//! elsewhere a small mutex-guarded `u64` with the same methods (counters are
//! updated by one worker each, so the lock is uncontended). Use it instead
//! of `std::sync::atomic::AtomicU64` in code that must build for MIPS.

#[cfg(target_has_atomic = "64")]
pub use std::sync::atomic::AtomicU64;

#[cfg(not(target_has_atomic = "64"))]
pub use fallback::AtomicU64;

#[cfg(not(target_has_atomic = "64"))]
mod fallback {
    use std::sync::atomic::Ordering;
    use std::sync::Mutex;

    /// `u64` behind a mutex, with the `AtomicU64` methods this project uses.
    #[derive(Debug, Default)]
    pub struct AtomicU64(Mutex<u64>);

    impl AtomicU64 {
        pub const fn new(v: u64) -> Self {
            AtomicU64(Mutex::new(v))
        }

        fn with<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
            match self.0.lock() {
                Ok(mut g) => f(&mut g),
                Err(p) => f(&mut p.into_inner()),
            }
        }

        pub fn load(&self, _: Ordering) -> u64 {
            self.with(|v| *v)
        }

        pub fn store(&self, n: u64, _: Ordering) {
            self.with(|v| *v = n)
        }

        pub fn swap(&self, n: u64, _: Ordering) -> u64 {
            self.with(|v| std::mem::replace(v, n))
        }

        pub fn fetch_add(&self, n: u64, _: Ordering) -> u64 {
            self.with(|v| {
                let old = *v;
                *v = old.wrapping_add(n);
                old
            })
        }

        pub fn fetch_sub(&self, n: u64, _: Ordering) -> u64 {
            self.with(|v| {
                let old = *v;
                *v = old.wrapping_sub(n);
                old
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AtomicU64;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn behaves_like_an_atomic() {
        let a = AtomicU64::new(u64::MAX - 1);
        assert_eq!(a.fetch_add(3, Relaxed), u64::MAX - 1);
        assert_eq!(a.load(Relaxed), 1);
        assert_eq!(a.swap(7, Relaxed), 1);
        assert_eq!(a.fetch_sub(2, Relaxed), 7);
        a.store(u64::MAX, Relaxed);
        assert_eq!(a.load(Relaxed), u64::MAX);
    }
}
