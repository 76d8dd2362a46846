//! Reconnect and retry delays: exponential from a first delay, doubling up to a cap, for
//! as long as the caller keeps asking (a service reconnects until it is stopped), with
//! optional jitter. Built on `backon`'s `ExponentialBuilder`.

use backon::{BackoffBuilder, ExponentialBuilder};
use std::time::Duration;

/// A schedule of delays: `first`, `2 × first`, `4 × first`, … capped at `max`, without
/// end. With jitter, each delay `d` becomes a random value in `[d, 2d)`, so replicas
/// that lost a dependency together do not come back in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub first: Duration,
    /// The longest delay before jitter.
    pub max: Duration,
    /// Whether to add jitter.
    pub jitter: bool,
}

impl Backoff {
    /// `first` doubling up to `max`, without jitter.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            jitter: false,
        }
    }

    /// The same schedule with jitter (each delay `d` drawn from `[d, 2d)`).
    pub const fn with_jitter(self) -> Self {
        Self {
            jitter: true,
            ..self
        }
    }

    /// The delays, in order; the iterator never ends. Start a new one after a success
    /// to begin again at `first`.
    pub fn delays(&self) -> impl Iterator<Item = Duration> + Send + 'static {
        let builder = ExponentialBuilder::default()
            .with_min_delay(self.first)
            .with_max_delay(self.max)
            .without_max_times();
        let builder = if self.jitter {
            builder.with_jitter()
        } else {
            builder
        };
        builder.build()
    }
}

/// Reconnect schedule of a connection that requests are refused without (the gateway's
/// Redis and AMQP connectors: their requests answer `503` meanwhile, so the cap is short):
/// 100 ms doubling to 2 s, no jitter.
pub const CONNECT: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// `d` in whole milliseconds (backon multiplies by an `f32` factor, so a doubled
    /// delay may be off by nanoseconds).
    fn whole_ms(d: Duration) -> u64 {
        (d.as_secs_f64() * 1000.0).round() as u64
    }

    #[test]
    fn doubles_from_the_first_delay_up_to_the_cap_and_never_ends() {
        let delays: Vec<_> = Backoff::new(ms(100), ms(2000))
            .delays()
            .take(8)
            .map(whole_ms)
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        assert_eq!(
            Backoff::new(ms(100), ms(2000)).delays().nth(10_000),
            Some(ms(2000))
        );
        assert_eq!(CONNECT, Backoff::new(ms(100), ms(2000)));
    }

    #[test]
    fn jitter_stays_between_the_delay_and_twice_the_delay() {
        let plain = [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000];
        for _ in 0..50 {
            let jittered = Backoff::new(ms(100), ms(5000)).with_jitter().delays();
            for (d, base) in jittered.zip(plain) {
                let d = whole_ms(d);
                assert!(d >= base && d <= base * 2, "{d} ms for {base} ms");
            }
        }
    }
}
