//! The admission token bucket of `admit.lua`, in Rust: the reference model the
//! script is checked against (`tests/admission/scripts.rs`) and whose exactness is tested
//! here, with tokio's paused clock for the loop timing (`admission/admitter/tests.rs`).
//!
//! Refill `rate_per_minute / 60000` tokens per ms, empty at the first call; a call admits
//! `min(floor(tokens), waiting, room)` and spends that many (`room`: passes `max_active`
//! still allows, 0 while no seat is available). It is the generic cell rate algorithm
//! with a burst tolerance of [`CATCH_UP_MS`] (5 s), under two rules:
//!
//! - **Credit is owed for elapsed time, not for calls**, so a loop that runs late (a
//!   saturated box, a slow Redis, a replica restarting) admits what it owes at its next
//!   step, up to 5 seconds' worth ([`capacity`]): exact as long as some replica calls at
//!   least every 5 s. `anteroom_admission_clipped_total` counts what a longer stall
//!   loses.
//! - **Credit is kept only while every whole token could be used.** A step that admits
//!   fewer than its whole tokens, because the queue ran dry or room ran out (`max_active`
//!   reached, no seat available), keeps only the fraction of a token. So an empty queue
//!   or a full house stockpiles nothing, and the next fans go in at the rate, not in a
//!   burst. A pause, a close or a sell-out empties the bucket ([`TokenBucket::rest`]; the
//!   admission loop calls it once when it stops admitting an event), so admission resumes
//!   from empty.
//!
//! The extra token in the capacity is what makes the bucket exact: after a call at most
//! a fraction of a token is left, so the refill between calls less than the catch-up
//! window apart never hits the cap and no fraction is ever lost.
//!
//! Hence, from an empty bucket, the admissions over `T` ms are at most
//! `rate * T / 60000` and, when the queue never runs dry and room never binds, exactly
//! `floor(rate * T / 60000)`, whatever the number of callers and however they interleave.

/// Credit units per token: credit is kept in 1/60000 of a token, so that a refill of
/// `elapsed_ms * rate_per_minute` units is exact integer arithmetic (no drift, and the
/// same results in Lua, whose numbers are doubles: exact below 2^53).
pub const UNIT: i64 = 60_000;

/// The catch-up window, ms: the longest lateness of the admission loop whose admissions
/// are still made up in full.
pub const CATCH_UP_MS: i64 = 5_000;

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

/// Bucket capacity for `rate_per_minute`, in credit units: [`CATCH_UP_MS`] worth plus
/// one token.
pub fn capacity(rate_per_minute: u32) -> i64 {
    i64::from(rate_per_minute) * CATCH_UP_MS + UNIT
}

impl TokenBucket {
    /// One admission step at `now_ms`: refills, then takes up to `min(waiting, room)`
    /// whole tokens (`waiting`: the fans in the queue; `room`: passes that may still be
    /// issued). Returns how many were taken. A clock going back refills nothing; a step
    /// that takes fewer than its whole tokens keeps only the fraction of a token.
    pub fn take(&mut self, now_ms: i64, rate_per_minute: u32, waiting: u64, room: u64) -> u64 {
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
        let tokens = u64::try_from(self.credit / UNIT).unwrap_or(0);
        let n = tokens.min(waiting).min(room);
        self.credit -= i64::try_from(n).unwrap_or(0) * UNIT;
        if n < tokens {
            // The queue ran dry or room ran out: no stockpiling (see the module doc).
            self.credit %= UNIT;
        }
        n
    }

    /// Empties the bucket: admission stopped on purpose (paused, closed, sold out) and
    /// restarts from empty, with no burst for the time it was stopped.
    pub fn rest(&mut self) {
        *self = Self::default();
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

    /// No room limit.
    const ANY: u64 = u64::MAX;

    #[test]
    fn starts_empty_and_refills_at_the_rate() {
        // (now ms, fans waiting, admitted, why), at 600/min: a token per 100 ms.
        let steps = [
            (1_000, 100, 0, "empty at the first call"),
            (1_500, 100, 5, "refill"),
            (1_500, 100, 0, "same instant, nothing more"),
            (1_000, 100, 0, "clock going back"),
            (4_500, 100, 30, "a late step makes up for it"),
            (61_500, 100, 51, "capped at 5 s + 1 token"),
            (61_700, 100, 2, "refill"),
            (61_900, 1, 1, "the queue emptied: the rest is dropped"),
            (62_000, 100, 1, "only the refill since"),
            // An empty queue for a second: only the fraction of a token carries over.
            (62_050, 0, 0, "empty queue"),
            (63_000, 0, 0, "empty queue"),
            (63_100, 100, 1, "not 11"),
        ];
        let mut b = TokenBucket::default();
        for (now, waiting, admitted, why) in steps {
            assert_eq!(b.take(now, 600, waiting, ANY), admitted, "{why} at {now}");
        }
    }

    #[test]
    fn a_full_house_stockpiles_nothing() {
        let mut b = TokenBucket::default();
        b.take(0, 600, 1_000, ANY);
        // max_active binds for 4 s: 2 passes of room at each step, a second apart.
        for s in 1..=4 {
            assert_eq!(b.take(s * 1_000, 600, 1_000, 2), 2);
            assert!(b.credit < UNIT, "only a fraction kept");
        }
        // Room again: the refill since the last step, not the 32 tokens unused.
        assert_eq!(b.take(5_000, 600, 1_000, ANY), 10);
        // No seat available (room 0) is the same.
        assert_eq!(b.take(6_000, 600, 1_000, 0), 0);
        assert_eq!(b.take(6_500, 600, 1_000, ANY), 5);
    }

    #[test]
    fn rest_restarts_from_empty() {
        let mut b = TokenBucket::default();
        b.take(0, 600, 1_000, ANY);
        b.take(3_000, 600, 1_000, 1);
        b.rest();
        assert_eq!(b, TokenBucket::default());
        assert_eq!(
            b.take(60_000, 600, 1_000, ANY),
            0,
            "no credit for the pause"
        );
        assert_eq!(b.take(60_100, 600, 1_000, ANY), 1);
    }

    #[test]
    fn slow_rates_keep_their_fractions() {
        // 30 and 60 per minute, called every 100 ms (10 replicas' worth of jitter would
        // not change it): exactly the rate over 2 minutes.
        for rate in [30u32, 60, 90] {
            let mut b = TokenBucket::default();
            b.take(0, rate, ANY, ANY);
            let admitted: u64 = (1..=1200).map(|i| b.take(i * 100, rate, ANY, ANY)).sum();
            assert_eq!(admitted, u64::from(rate) * 2, "rate {rate}");
        }
    }

    /// From an empty bucket, one step after each gap (ms) with its (waiting, room):
    /// every step's admissions, and the time elapsed since the first call, ms.
    fn drive(rate: u32, steps: impl IntoIterator<Item = (i64, u64, u64)>) -> (Vec<u64>, i64) {
        let mut b = TokenBucket::default();
        let start = 1_000_000i64;
        b.take(start, rate, ANY, ANY);
        let mut now = start;
        let taken = steps
            .into_iter()
            .map(|(gap, waiting, room)| {
                now += gap;
                b.take(now, rate, waiting, room)
            })
            .collect();
        (taken, now - start)
    }

    proptest! {
        /// Calls at any times less than the catch-up window apart (any number of
        /// callers, late ones included), from an empty bucket with unlimited demand:
        /// exactly floor(rate * T / 60000).
        #[test]
        fn admissions_follow_elapsed_time_not_calls(
            rate in 1u32..100_000,
            gaps in proptest::collection::vec(
                prop_oneof![4 => 0i64..1_000, 1 => 1_000i64..CATCH_UP_MS],
                1..400,
            ),
        ) {
            let (taken, elapsed) = drive(rate, gaps.into_iter().map(|g| (g, ANY, ANY)));
            // Exact: floor(rate * T / 60000) whole tokens.
            let admitted: u64 = taken.iter().sum();
            prop_assert_eq!(admitted as i64, elapsed * i64::from(rate) / UNIT);
        }

        /// Whatever the demand, the room and the gaps (up to a minute), the admissions
        /// from an empty bucket never exceed floor(rate * T / 60000), and no step admits
        /// more than the catch-up window's worth plus one.
        #[test]
        fn admissions_never_exceed_the_rate(
            rate in 1u32..100_000,
            steps in proptest::collection::vec(
                (0i64..60_000, 0u64..10_000, prop_oneof![0u64..10_000, Just(ANY)]),
                1..200,
            ),
        ) {
            let (taken, elapsed) = drive(rate, steps.iter().copied());
            for (n, (_, waiting, room)) in taken.iter().zip(&steps) {
                prop_assert!(n <= waiting && n <= room);
                prop_assert!(*n as i64 <= capacity(rate) / UNIT);
            }
            let admitted: u64 = taken.iter().sum();
            prop_assert!(admitted as i64 <= elapsed * i64::from(rate) / UNIT);
        }
    }
}
