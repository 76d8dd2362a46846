//! Throttle of failed admin authentication per client address.
//!
//! Only failures are counted: `burst` wrong admin keys from one address at once, then
//! one more every `60 / per_minute` s (GCRA, as governor computes it). While an address
//! is over its allowance **every** admin request from it is refused with `429
//! rate_limited`, the right key included, before the key is compared: otherwise a
//! throttled guesser would still learn from a `200` that a guess was right, and the
//! throttle would bound nothing. That is why this is not a governor limiter: governor
//! can only check by taking a cell, and an admin who types the right key must not use
//! up the allowance. The state is one instant per address (its theoretical arrival
//! time); [`FailureThrottle::retain_recent`] drops the addresses whose allowance is full
//! again, so memory holds only addresses that failed within the last `burst` periods.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed attempts per client address (see the module doc); `None` inside = off.
pub struct FailureThrottle {
    inner: Option<Inner>,
}

struct Inner {
    /// Time one failure takes to be forgiven: `60 s / per_minute`.
    interval: Duration,
    /// How far ahead of now an address's arrival time may run and still fail once more:
    /// `(burst - 1) × interval`.
    tolerance: Duration,
    tat: Mutex<HashMap<IpAddr, Instant>>,
}

impl FailureThrottle {
    /// `per_minute` failures forgiven per minute, `burst` at once; `per_minute == 0`
    /// turns the throttle off.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let inner = (per_minute > 0).then(|| {
            let interval = Duration::from_secs(60) / per_minute;
            Inner {
                interval,
                tolerance: interval * burst.max(1).saturating_sub(1),
                tat: Mutex::default(),
            }
        });
        Self { inner }
    }

    /// The wait before `ip` may try again at `now`, or `None` if it may try now.
    pub fn blocked(&self, ip: &IpAddr, now: Instant) -> Option<Duration> {
        let inner = self.inner.as_ref()?;
        let map = inner.tat.lock().expect("failure throttle poisoned");
        let ahead = map.get(ip)?.saturating_duration_since(now);
        (ahead > inner.tolerance).then(|| ahead - inner.tolerance)
    }

    /// Counts one failed attempt of `ip` at `now`.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        let Some(inner) = &self.inner else { return };
        let mut map = inner.tat.lock().expect("failure throttle poisoned");
        let tat = map.entry(ip).or_insert(now);
        *tat = (*tat).max(now) + inner.interval;
    }

    /// Forgets every address whose allowance is full again.
    pub fn retain_recent(&self) {
        if let Some(inner) = &self.inner {
            let now = Instant::now();
            let mut map = inner.tat.lock().expect("failure throttle poisoned");
            map.retain(|_, tat| *tat > now);
            map.shrink_to_fit();
        }
    }

    /// Addresses currently tracked.
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| {
            i.tat.lock().expect("failure throttle poisoned").len()
        })
    }

    /// Whether no address is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 2));

    #[test]
    fn burst_failures_then_one_per_interval_per_address() {
        // 6 per minute = one forgiven every 10 s; 3 at once.
        let t = FailureThrottle::new(6, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(t.blocked(&A, t0), None);
            t.record_failure(A, t0);
        }
        assert_eq!(t.blocked(&A, t0), Some(Duration::from_secs(10)));
        assert_eq!(t.blocked(&B, t0), None, "another address is not throttled");
        let later = t0 + Duration::from_secs(4);
        assert_eq!(t.blocked(&A, later), Some(Duration::from_secs(6)));
        let free = t0 + Duration::from_secs(10);
        assert_eq!(t.blocked(&A, free), None);
        t.record_failure(A, free);
        assert_eq!(t.blocked(&A, free), Some(Duration::from_secs(10)));
        // Asking does not count: an address that keeps asking while blocked is let in
        // as soon as its wait is over.
        for s in 11..20 {
            assert!(t.blocked(&A, t0 + Duration::from_secs(s)).is_some());
        }
        assert_eq!(t.blocked(&A, t0 + Duration::from_secs(20)), None);
    }

    #[test]
    fn off_and_housekeeping() {
        let off = FailureThrottle::new(0, 3);
        off.record_failure(A, Instant::now());
        assert_eq!(off.blocked(&A, Instant::now()), None);
        assert!(off.is_empty());
        let t = FailureThrottle::new(60_000, 1);
        t.record_failure(A, Instant::now());
        assert_eq!(t.len(), 1);
        std::thread::sleep(Duration::from_millis(5));
        t.retain_recent();
        assert!(t.is_empty(), "a forgiven address is dropped");
    }
}
