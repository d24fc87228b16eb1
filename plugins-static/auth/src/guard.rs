//! What keeps slow password hashes from stalling a worker: all per worker,
//! bounded, allocated once when the worker starts, driven by the caller's
//! clock (so the tests control time).
//!
//! - [`Cache`]: recently verified credentials, as 128-bit keyed-hash tags
//!   (never the password) with an expiry; a 4-way set-associative table.
//! - [`Throttle`]: failed logins per client address (IPv4 /32, IPv6 /64);
//!   after `limit` failures within `window` the address is refused without
//!   hashing until the window ends.
//! - [`Budget`]: a token bucket of hashing *time*: each second a worker may
//!   spend at most `per_second` verifying passwords; beyond it, 503.

use std::net::IpAddr;
use std::time::{Duration, Instant};

/// One cached verification.
#[derive(Clone, Copy)]
struct Slot {
    tag: [u8; 16],
    expires: Option<Instant>,
}

/// Recently verified credentials.
pub struct Cache {
    slots: Vec<Slot>,
    ttl: Duration,
}

const WAYS: usize = 4;

impl Cache {
    /// A cache of about `entries` tags (rounded up to a multiple of 4),
    /// each valid for `ttl`. `entries == 0` or a zero `ttl` disables it.
    pub fn new(entries: usize, ttl: Duration) -> Cache {
        let n = if ttl.is_zero() {
            0
        } else {
            entries.div_ceil(WAYS) * WAYS
        };
        Cache {
            slots: vec![
                Slot {
                    tag: [0; 16],
                    expires: None
                };
                n
            ],
            ttl,
        }
    }

    fn set(&mut self, tag: &[u8; 16]) -> &mut [Slot] {
        let sets = self.slots.len() / WAYS;
        if sets == 0 {
            return &mut [];
        }
        let i = u32::from_le_bytes([tag[0], tag[1], tag[2], tag[3]]) as usize % sets;
        self.slots
            .get_mut(i * WAYS..(i + 1) * WAYS)
            .unwrap_or(&mut [])
    }

    /// Whether `tag` was verified and has not expired.
    pub fn hit(&mut self, tag: &[u8; 16], now: Instant) -> bool {
        self.set(tag)
            .iter()
            .any(|s| s.expires.is_some_and(|e| now < e) && crate::hash::ct_eq(&s.tag, tag))
    }

    /// Records a successful verification (replacing an expired or the
    /// oldest entry of its set).
    pub fn insert(&mut self, tag: &[u8; 16], now: Instant) {
        let expires = now + self.ttl;
        let set = self.set(tag);
        let victim = set
            .iter_mut()
            .min_by_key(|s| s.expires.filter(|&e| e > now));
        if let Some(v) = victim {
            *v = Slot {
                tag: *tag,
                expires: Some(expires),
            };
        }
    }
}

/// Failed logins of one client address.
#[derive(Clone, Copy)]
struct Strikes {
    key: [u8; 16],
    count: u32,
    since: Option<Instant>,
}

/// Per-address failure throttling.
pub struct Throttle {
    slots: Vec<Strikes>,
    limit: u32,
    window: Duration,
}

/// The key of a client address: IPv4 (also IPv4-mapped) as /32, IPv6 as /64.
pub fn addr_key(ip: IpAddr) -> [u8; 16] {
    let ip = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => {
            let mut k = v6.octets();
            k[8..].fill(0);
            k
        }
    }
}

impl Throttle {
    /// `limit == 0` disables throttling.
    pub fn new(entries: usize, limit: u32, window: Duration) -> Throttle {
        let n = if limit == 0 { 0 } else { entries };
        Throttle {
            slots: vec![
                Strikes {
                    key: [0; 16],
                    count: 0,
                    since: None
                };
                n
            ],
            limit,
            window,
        }
    }

    fn live(&self, s: &Strikes, now: Instant) -> bool {
        s.since
            .is_some_and(|t| now.saturating_duration_since(t) < self.window)
    }

    /// If `key` is locked out: the seconds until it may try again.
    pub fn locked(&self, key: &[u8; 16], now: Instant) -> Option<u64> {
        let s = self
            .slots
            .iter()
            .find(|s| s.key == *key && self.live(s, now))?;
        if s.count < self.limit {
            return None;
        }
        let since = s.since?;
        let left = self
            .window
            .saturating_sub(now.saturating_duration_since(since));
        Some(left.as_secs().max(1))
    }

    /// Counts a failure; returns true when this one locks the address.
    pub fn fail(&mut self, key: &[u8; 16], now: Instant) -> bool {
        if self.slots.is_empty() {
            return false;
        }
        let window = self.window;
        let live = |s: &Strikes| {
            s.since
                .is_some_and(|t| now.saturating_duration_since(t) < window)
        };
        let idx = match self.slots.iter().position(|s| s.key == *key && live(s)) {
            Some(i) => i,
            None => {
                // A free or expired slot, else the one whose window started first.
                let i = self
                    .slots
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| if live(s) { s.since } else { None })
                    .map_or(0, |(i, _)| i);
                if let Some(s) = self.slots.get_mut(i) {
                    *s = Strikes {
                        key: *key,
                        count: 0,
                        since: Some(now),
                    };
                }
                i
            }
        };
        match self.slots.get_mut(idx) {
            Some(s) => {
                s.count = s.count.saturating_add(1);
                s.count == self.limit
            }
            None => false,
        }
    }

    /// A successful login clears the address's failures.
    pub fn clear(&mut self, key: &[u8; 16]) {
        for s in self.slots.iter_mut().filter(|s| s.key == *key) {
            s.since = None;
            s.count = 0;
        }
    }
}

/// A token bucket of verification time.
pub struct Budget {
    per_second: Duration,
    /// Nanoseconds available; negative after an expensive verification.
    tokens: i128,
    last: Option<Instant>,
}

impl Budget {
    pub fn new(per_second: Duration) -> Budget {
        Budget {
            per_second,
            tokens: per_second.as_nanos() as i128,
            last: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let dt = now.saturating_duration_since(last).as_nanos();
            let add = dt.saturating_mul(self.per_second.as_nanos()) / 1_000_000_000;
            let cap = self.per_second.as_nanos() as i128;
            self.tokens = (self.tokens + add.min(cap as u128 * 2) as i128).min(cap);
        }
        self.last = Some(now);
    }

    /// Whether a verification may start now.
    pub fn allow(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens > 0
    }

    /// Charges the time a verification took.
    pub fn charge(&mut self, spent: Duration) {
        self.tokens -= spent.as_nanos().min(u64::MAX as u128) as i128;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_hits_expire_and_stay_bounded() {
        let t0 = Instant::now();
        let mut c = Cache::new(8, Duration::from_secs(300));
        let tag = |i: u8| [i; 16];
        assert!(!c.hit(&tag(1), t0));
        c.insert(&tag(1), t0);
        assert!(c.hit(&tag(1), t0 + Duration::from_secs(299)));
        assert!(!c.hit(&tag(1), t0 + Duration::from_secs(300)));
        assert!(!c.hit(&tag(2), t0));
        // Many inserts never grow it; recent ones are found.
        for i in 0..200u8 {
            c.insert(&tag(i), t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(c.slots.len(), 8);
        assert!(c.hit(&tag(199), t0 + Duration::from_secs(1)));
        // Disabled caches never hit.
        let mut off = Cache::new(0, Duration::from_secs(300));
        off.insert(&tag(1), t0);
        assert!(!off.hit(&tag(1), t0));
        let mut off = Cache::new(64, Duration::ZERO);
        off.insert(&tag(1), t0);
        assert!(!off.hit(&tag(1), t0));
    }

    #[test]
    fn throttle_locks_after_limit_and_unlocks_after_window() {
        let t0 = Instant::now();
        let w = Duration::from_secs(60);
        let mut t = Throttle::new(4, 3, w);
        let a = addr_key("192.0.2.1".parse().unwrap());
        let b = addr_key("192.0.2.2".parse().unwrap());
        assert_eq!(t.locked(&a, t0), None);
        assert!(!t.fail(&a, t0));
        assert!(!t.fail(&a, t0));
        assert_eq!(t.locked(&a, t0), None);
        assert!(t.fail(&a, t0 + Duration::from_secs(10)));
        assert_eq!(t.locked(&a, t0 + Duration::from_secs(10)), Some(50));
        assert_eq!(t.locked(&b, t0), None, "other addresses are not affected");
        assert_eq!(t.locked(&a, t0 + w), None, "the window ends");
        // Success clears.
        t.fail(&b, t0);
        t.fail(&b, t0);
        t.clear(&b);
        t.fail(&b, t0);
        assert_eq!(t.locked(&b, t0), None);
        // A full table evicts the oldest window, never grows.
        for i in 0..50u8 {
            let k = addr_key(IpAddr::from([10, 0, 0, i]));
            t.fail(&k, t0 + Duration::from_secs(i as u64));
        }
        assert_eq!(t.slots.len(), 4);
        // Disabled.
        let mut off = Throttle::new(4, 0, w);
        for _ in 0..10 {
            off.fail(&a, t0);
        }
        assert_eq!(off.locked(&a, t0), None);
    }

    #[test]
    fn addr_keys() {
        let k = |s: &str| addr_key(s.parse().unwrap());
        assert_eq!(k("192.0.2.1"), k("::ffff:192.0.2.1"));
        assert_ne!(k("192.0.2.1"), k("192.0.2.2"));
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:2:ffff::9"), "same /64");
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
    }

    #[test]
    fn budget_limits_time_per_second() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut b = Budget::new(ms(100));
        assert!(b.allow(t0));
        b.charge(ms(60));
        assert!(b.allow(t0));
        b.charge(ms(60));
        assert!(!b.allow(t0), "spent 120 of 100 ms");
        assert!(!b.allow(t0 + ms(100)), "10 ms back, still -10");
        assert!(b.allow(t0 + ms(300)));
        // Idle time does not bank more than one second's worth.
        assert!(b.allow(t0 + Duration::from_secs(3600)));
        b.charge(ms(100));
        assert!(!b.allow(t0 + Duration::from_secs(3600)));
    }
}
