//! The admission token bucket of `queue/admit.lua`, in Rust: the reference model the
//! script is checked against (`tests/queue_scripts.rs`) and whose exactness is tested
//! here, with tokio's paused clock for the loop timing (`admitter/tests.rs`).
//!
//! Refill `rate_per_minute / 60000` tokens per ms, empty at the first call; a call admits
//! `min(floor(tokens), want)` and spends that many. Capacity: one second's worth plus one
//! token, `rate / 60 + 1`. The extra token is what makes the bucket exact: after a call
//! at most a fraction of a token is left, so as long as some replica calls at least once
//! a second the refill never hits the cap and no fraction is ever lost (a cap of exactly
//! `rate / 60` would clip it at every admission at low rates: 60/min admitted every 100 ms
//! would lose up to a tenth of a token each time). It is the generic cell rate algorithm
//! with a burst tolerance of one second.
//!
//! Hence, from an empty bucket, the admissions over `T` ms are at most
//! `rate * T / 60000` and, when the queue never runs dry and `max_active` never binds,
//! at least that minus one, whatever the number of callers and however they interleave.
//! A step that empties the queue keeps only the fraction of a token: an empty queue
//! stockpiles nothing, and the next arrivals go in at the rate. After a spell where fans
//! waited but could not go in (`max_active` reached, a pause) at most `rate / 60 + 1` go
//! in at once.

/// Credit units per token: credit is kept in 1/60000 of a token, so that a refill of
/// `elapsed_ms * rate_per_minute` units is exact integer arithmetic (no drift, and the
/// same results in Lua, whose numbers are doubles: exact below 2^53).
pub const UNIT: i64 = 60_000;

/// Longest refill counted at once, ms (the cap is reached long before; it keeps the
/// product below 2^53 whatever the idle time).
const MAX_REFILL_MS: i64 = 60_000;

/// Bucket state, as stored in Redis (`credit`, `last_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenBucket {
    /// Credit left, in [`UNIT`]s per token.
    pub credit: i64,
    /// Time of the last refill, Unix ms; `None` before the first call.
    pub last_ms: Option<i64>,
}

/// Bucket capacity for `rate_per_minute`, in credit units: one second's worth plus one
/// token.
pub fn capacity(rate_per_minute: u32) -> i64 {
    i64::from(rate_per_minute) * 1000 + UNIT
}

impl TokenBucket {
    /// One admission step at `now_ms`: refills, then takes up to `want` whole tokens
    /// (`want`: the fans waiting). Returns how many were taken. A clock going back
    /// refills nothing; a step that empties the queue keeps only the fraction of a token.
    pub fn take(&mut self, now_ms: i64, rate_per_minute: u32, want: u64) -> u64 {
        let cap = capacity(rate_per_minute);
        match self.last_ms {
            None => {
                self.credit = 0;
                self.last_ms = Some(now_ms);
            }
            Some(last) if now_ms > last => {
                let refill = (now_ms - last).min(MAX_REFILL_MS) * i64::from(rate_per_minute);
                self.credit = (self.credit + refill).min(cap);
                self.last_ms = Some(now_ms);
            }
            Some(_) => {}
        }
        self.credit = self.credit.min(cap);
        let n = u64::try_from(self.credit / UNIT).unwrap_or(0).min(want);
        self.credit -= i64::try_from(n).unwrap_or(0) * UNIT;
        if n == want {
            // The queue is empty now: no stockpiling (see the module doc).
            self.credit %= UNIT;
        }
        n
    }

    /// Tokens left (fractional), for display.
    pub fn tokens(&self) -> f64 {
        self.credit as f64 / UNIT as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn starts_empty_and_refills_at_the_rate() {
        let mut b = TokenBucket::default();
        assert_eq!(b.take(1_000, 600, 100), 0, "empty at the first call");
        assert_eq!(b.take(1_500, 600, 100), 5);
        assert_eq!(b.take(1_500, 600, 100), 0, "same instant, nothing more");
        assert_eq!(b.take(1_000, 600, 100), 0, "clock going back");
        assert_eq!(b.take(61_500, 600, 100), 11, "capped at 1 s + 1 token");
        assert_eq!(b.take(61_700, 600, 100), 2);
        assert_eq!(
            b.take(61_900, 600, 1),
            1,
            "the queue emptied: the rest is dropped"
        );
        assert_eq!(b.take(62_000, 600, 100), 1, "only the refill since");
        // An empty queue for a second: only the fraction of a token carries over.
        assert_eq!(b.take(62_050, 600, 0), 0);
        assert_eq!(b.take(63_000, 600, 0), 0);
        assert_eq!(b.take(63_100, 600, 100), 1, "not 11");
    }

    #[test]
    fn slow_rates_keep_their_fractions() {
        // 30 and 60 per minute, called every 100 ms (10 replicas' worth of jitter would
        // not change it): exactly the rate over 2 minutes.
        for rate in [30u32, 60, 90] {
            let mut b = TokenBucket::default();
            b.take(0, rate, u64::MAX);
            let admitted: u64 = (1..=1200).map(|i| b.take(i * 100, rate, u64::MAX)).sum();
            assert_eq!(admitted, u64::from(rate) * 2, "rate {rate}");
        }
    }

    proptest! {
        /// Calls at any times less than a second apart (any number of callers), from
        /// an empty bucket with unlimited demand: exactly floor(rate * T / 60000).
        #[test]
        fn admissions_follow_elapsed_time_not_calls(
            rate in 1u32..100_000,
            gaps in proptest::collection::vec(0i64..1000, 1..400),
        ) {
            let mut b = TokenBucket::default();
            let start = 1_000_000i64;
            b.take(start, rate, u64::MAX);
            let mut now = start;
            let mut admitted = 0u64;
            for gap in gaps {
                now += gap;
                admitted += b.take(now, rate, u64::MAX);
            }
            // Exact: floor(rate * T / 60000) whole tokens.
            let ideal = (now - start) * i64::from(rate) / UNIT;
            prop_assert_eq!(admitted as i64, ideal);
        }
    }
}
