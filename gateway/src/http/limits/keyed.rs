//! A keyed rate limiter: governor's GCRA over a `DashMap`, or nothing (unlimited).
//!
//! GCRA ("generic cell rate algorithm", governor's algorithm) with `per_second` cells
//! replenished per second and a bucket of `burst` cells: a client may send `burst`
//! requests at once, then one every `1/per_second` s. The refusal carries the time until
//! the next request would conform, which becomes `Retry-After`.
//!
//! Memory: one small entry (an 8-byte theoretical arrival time) per key seen recently;
//! [`KeyedLimiter::retain_recent`] drops every key whose bucket has refilled, so a
//! periodic call (`limits::run_housekeeping`) bounds the map to the keys active within
//! one burst period.

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use std::hash::{BuildHasher, Hash, RandomState};
use std::num::NonZeroU32;
use std::time::Duration;

type Inner<K, C, S> =
    RateLimiter<K, DashMapStateStore<K, S>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// A rate limiter per key `K`; `None` inside means unlimited. `S` hashes the keys:
/// SipHash (`RandomState`) by default, for keys a client chooses (its address);
/// [`crate::FastHash`] for tickets, which the gateway issues.
pub struct KeyedLimiter<
    K: Hash + Eq + Clone,
    C: Clock = DefaultClock,
    S: BuildHasher + Clone = RandomState,
> {
    inner: Option<Inner<K, C, S>>,
}

impl<K: Hash + Eq + Clone, S: BuildHasher + Clone + Default> KeyedLimiter<K, DefaultClock, S> {
    /// `per_second` requests per second per key with bursts of `burst`, on the real
    /// clock; `per_second == 0` (or `enabled == false`) means unlimited.
    pub fn new(enabled: bool, per_second: u32, burst: u32) -> Self {
        Self::with_clock(enabled, per_second, burst, DefaultClock::default())
    }

    /// A limiter with governor's `quota` (`None` = unlimited), on the real clock.
    pub fn from_quota(quota: Option<Quota>) -> Self {
        Self {
            inner: quota.map(|q| {
                RateLimiter::new(q, DashMapStateStore::default(), DefaultClock::default())
            }),
        }
    }
}

impl<K: Hash + Eq + Clone, C: Clock, S: BuildHasher + Clone + Default> KeyedLimiter<K, C, S> {
    /// As [`KeyedLimiter::new`] with a given clock (tests use `FakeRelativeClock`).
    pub fn with_clock(enabled: bool, per_second: u32, burst: u32, clock: C) -> Self {
        let inner = NonZeroU32::new(per_second).filter(|_| enabled).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            let quota = Quota::per_second(rate).allow_burst(burst);
            RateLimiter::new(quota, DashMapStateStore::default(), clock)
        });
        Self { inner }
    }

    /// Whether this limiter limits anything.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Takes one cell for `key`.
    ///
    /// # Errors
    /// The wait until the next request of `key` would be allowed (never zero: a refusal
    /// always says to wait at least 1 ns; callers round up to whole seconds).
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.inner else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            not_until
                .wait_time_from(limiter.clock().now())
                .max(Duration::from_nanos(1))
        })
    }

    /// Forgets every key whose bucket is full again, and gives the memory back.
    pub fn retain_recent(&self) {
        if let Some(limiter) = &self.inner {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, RateLimiter::len)
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn limiter(
        per_second: u32,
        burst: u32,
    ) -> (KeyedLimiter<u32, FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (
            KeyedLimiter::with_clock(true, per_second, burst, clock.clone()),
            clock,
        )
    }

    #[test]
    fn burst_then_one_per_interval_with_the_exact_wait() {
        let (l, clock) = limiter(5, 10);
        for _ in 0..10 {
            assert!(l.check(&1).is_ok());
        }
        // The 11th within the same instant waits one replenish interval (1/5 s).
        assert_eq!(l.check(&1), Err(Duration::from_millis(200)));
        clock.advance(Duration::from_millis(100));
        assert_eq!(l.check(&1), Err(Duration::from_millis(100)));
        clock.advance(Duration::from_millis(100));
        assert!(l.check(&1).is_ok());
        // Other keys are independent.
        assert!(l.check(&2).is_ok());
    }

    #[test]
    fn a_fan_polling_once_a_second_is_never_refused() {
        // Status default: 5/s, burst 10. A fan told `poll_after_ms >= 1000` polls
        // once a second, sometimes twice in a row (a retry, a page reload).
        let (l, clock) = limiter(5, 10);
        for second in 0..3_600 {
            assert!(l.check(&7).is_ok(), "refused at {second} s");
            if second % 60 == 0 {
                assert!(l.check(&7).is_ok(), "double poll refused at {second} s");
            }
            clock.advance(Duration::from_secs(1));
        }
    }

    #[test]
    fn an_abusive_client_is_held_to_the_rate() {
        let (l, clock) = limiter(5, 10);
        let mut allowed = 0;
        // 100 requests per second for 10 s: 10 (burst) + 5/s × 10 s.
        for _ in 0..1_000 {
            if l.check(&3).is_ok() {
                allowed += 1;
            }
            clock.advance(Duration::from_millis(10));
        }
        assert!((59..=61).contains(&allowed), "allowed {allowed}");
    }

    #[test]
    fn zero_rate_or_disabled_means_unlimited() {
        let (l, _) = limiter(0, 10);
        assert!(!l.is_enabled());
        for _ in 0..10_000 {
            assert!(l.check(&1).is_ok());
        }
        let off = KeyedLimiter::<u32>::new(false, 1, 1);
        assert!(!off.is_enabled() && off.check(&1).is_ok() && off.check(&1).is_ok());
    }

    #[test]
    fn retain_recent_bounds_memory_to_recent_keys() {
        let (l, clock) = limiter(5, 10);
        for key in 0..10_000 {
            l.check(&key).unwrap();
        }
        assert_eq!(l.len(), 10_000);
        // One cell takes 200 ms to refill; governor forgets a key one interval after its
        // theoretical arrival time (200 ms here), i.e. 400 ms after a single request.
        clock.advance(Duration::from_millis(450));
        l.check(&42).unwrap();
        l.retain_recent();
        assert_eq!(l.len(), 1, "only the key used just now is kept");
    }
}
