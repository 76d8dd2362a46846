//! The admission loop: every `admit_interval_ms`, for every event this replica watches
//! (fans wait in it, hold live passes, or ask about it: `live/interest.rs`; an idle or
//! archived event costs nothing), if the event is `open` and has seats on sale: apply the
//! pre-queue lottery once (at `opens_at`), then run `admit.lua` (see
//! `admission/admit.lua` for the token bucket, and [`bucket`] for the same algorithm in
//! Rust with its properties tested).
//!
//! Every replica runs this loop. That is safe and exact: the allowance comes from time
//! elapsed on the Redis clock, kept in Redis, so N replicas admit exactly what one would
//! (`rate * T / 60000` over T ms, less than one token of rounding), and a step that runs
//! late makes up what it owes, up to [`bucket::CATCH_UP_MS`]. Configs are read through
//! the catalog cache (kept current by the change feed, `live/feed.rs`), so a `PATCH` of
//! the rate or a pause applies on every replica within a second. Every replica watches an
//! event with waiting fans (its view shows them, and the replica that took the joins
//! announced it), so admission goes on when any one replica stops.
//!
//! Sold out (nothing available, nothing held) and "all held" both stop admission: a pass
//! would buy nothing. Held seats that come back (expiry, release) resume it. When a loop
//! stops admitting an event on purpose (not open, or no seat available), it empties the
//! event's bucket once ([`crate::queue::Queue::rest`]), so admission resumes from empty
//! rather than with the stopped time's credit.

use super::bucket;
use super::AdmitParams;
use crate::adapters::redis_store::StoreError;
use crate::adapters::redis_store::Throttled;
use crate::live::Replica;
use crate::queue::ShuffleOutcome;
use futures::StreamExt;
use protocol::event::PublicState;
use protocol::ids::EventId;
use std::collections::HashSet;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Events handled concurrently within one tick.
const CONCURRENCY: usize = 8;

/// What the loop needs besides the replica's handles.
#[derive(Debug, Clone, Copy)]
pub struct AdmitterConfig {
    /// Period of the loop (`admit_interval_ms`).
    pub period: Duration,
    /// A waiting ticket not seen for this long is passed over as abandoned, seconds
    /// (`abandon_after_seconds`).
    pub abandon_after_seconds: u64,
}

/// Runs the admission loop until `shutdown`.
pub async fn run(replica: Replica, config: AdmitterConfig, shutdown: CancellationToken) {
    let mut ticker = Ticker::new(config.period);
    let mut memory = Memory::default();
    let mut warnings = Throttled::default();
    while ticker.next(&shutdown).await {
        if let Err(e) = tick(&replica, config, &mut memory).await {
            warnings.warn(&format!("admission step failed: {e}"));
        }
    }
}

/// The loop's clock: the first tick at once, then every `period` of a
/// `tokio::time::interval`. A step that overruns skips the ticks it missed (no burst of
/// catch-up steps: the bucket in Redis accounts for the elapsed time anyway).
#[derive(Debug)]
pub struct Ticker(tokio::time::Interval);

impl Ticker {
    /// A ticker with period `period`.
    pub fn new(period: Duration) -> Self {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
        Self(interval)
    }

    /// Waits for the next tick; `false` once `shutdown` fires.
    pub async fn next(&mut self, shutdown: &CancellationToken) -> bool {
        tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = self.0.tick() => true,
        }
    }
}

/// What one replica's loop knows about each event between ticks.
#[derive(Debug, Default)]
pub struct Memory {
    /// Events whose pre-queue is known to be shuffled.
    shuffled: HashSet<EventId>,
    /// Events this loop stopped admitting on purpose and whose bucket it emptied since.
    rested: HashSet<EventId>,
}

/// Where one event stands after a step.
#[derive(Debug, Clone, Copy, Default)]
struct Standing {
    /// The pre-queue is known to be shuffled.
    shuffled: bool,
    /// Admission is stopped on purpose and the bucket was emptied.
    rested: bool,
}

/// One pass over every known event.
///
/// # Errors
/// The first failure (the others are the same outage, typically).
pub async fn tick(
    replica: &Replica,
    config: AdmitterConfig,
    memory: &mut Memory,
) -> Result<(), StoreError> {
    let events = replica.interest.watched();
    let done: Vec<(EventId, Result<Standing, StoreError>)> = futures::stream::iter(events)
        .map(|event| {
            let before = Standing {
                shuffled: memory.shuffled.contains(&event),
                rested: memory.rested.contains(&event),
            };
            async move { (event, step(replica, config, &event, before).await) }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut first_error = None;
    for (event, result) in done {
        match result {
            Ok(now) => {
                remember(&mut memory.shuffled, event, now.shuffled);
                remember(&mut memory.rested, event, now.rested);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Removes the per-event series of `event` from the queue gauges (an archived event:
/// nothing updates them any more).
pub fn forget_metrics(metrics: &crate::metrics::Metrics, event: &EventId) {
    let label = event.to_string();
    let q = &metrics.queue;
    for gauge in [
        &q.waiting,
        &q.active,
        &q.max_active,
        &q.configured_per_minute,
        &q.observed_per_minute,
    ] {
        // Absent series (never set on this replica) are not an error here.
        let _ = gauge.remove_label_values(&[&label]);
    }
}

fn remember(set: &mut HashSet<EventId>, event: EventId, member: bool) {
    if member {
        set.insert(event);
    } else {
        set.remove(&event);
    }
}

/// Admission stopped on purpose: empties the bucket once per stop.
async fn rest(
    replica: &Replica,
    event: &EventId,
    before: Standing,
) -> Result<Standing, StoreError> {
    if !before.rested {
        replica.queue.rest(event).await?;
    }
    Ok(Standing {
        rested: true,
        ..before
    })
}

/// Admission for one event.
#[tracing::instrument(skip_all, fields(event_id = %event))]
async fn step(
    replica: &Replica,
    admitter: AdmitterConfig,
    event: &EventId,
    before: Standing,
) -> Result<Standing, StoreError> {
    let Some(snapshot) = replica.catalog.cached(event).await? else {
        return Ok(before);
    };
    let label = event.to_string();
    let gauges = &replica.metrics.queue;
    let config = &snapshot.config;
    gauges
        .max_active
        .with_label_values(&[&label])
        .set(i64::from(config.spec.admission.max_active));
    if snapshot.state(chrono::Utc::now()) != PublicState::Open {
        gauges
            .configured_per_minute
            .with_label_values(&[&label])
            .set(0);
        return rest(replica, event, before).await;
    }
    gauges
        .configured_per_minute
        .with_label_values(&[&label])
        .set(i64::from(config.spec.admission.rate_per_minute));
    let mut shuffled = before.shuffled || config.spec.prequeue_opens_at.is_none();
    if !shuffled {
        let seed = config
            .shuffle_seed
            .as_deref()
            .and_then(|s| hex::decode(s).ok())
            .unwrap_or_else(|| {
                tracing::warn!("event has a pre-queue but no shuffle seed; using an empty seed");
                Vec::new()
            });
        if let ShuffleOutcome::Applied { queued, total } =
            replica.queue.shuffle(event, &seed).await?
        {
            tracing::info!(queued, total, "pre-queue shuffled into the queue");
        }
        shuffled = true;
    }
    if snapshot.available() == 0 {
        return rest(replica, event, Standing { shuffled, ..before }).await;
    }
    let admission = &config.spec.admission;
    let result = replica
        .queue
        .admit(
            event,
            AdmitParams {
                rate_per_minute: admission.rate_per_minute,
                max_active: admission.max_active,
                pass_ttl_seconds: admission.pass_ttl_seconds,
                // Seen marks may lag by one refresh window (`live/hub.rs`).
                abandon_after_seconds: admitter.abandon_after_seconds
                    + replica.live.seen_refresh().as_secs(),
                now_ms: None,
            },
        )
        .await?;
    replica.live.advance_head(event, result.head_line);
    replica
        .metrics
        .admitted
        .inc_by(result.admitted.len() as u64);
    replica.metrics.abandoned.inc_by(result.abandoned);
    if result.clipped > 0 {
        replica
            .metrics
            .admission_clipped
            .inc_by(result.clipped as f64 / bucket::UNIT as f64);
    }
    let gauge = |g: &prometheus::IntGaugeVec, v: u64| {
        g.with_label_values(&[&label])
            .set(i64::try_from(v).unwrap_or(i64::MAX));
    };
    gauge(&gauges.waiting, result.waiting);
    gauge(&gauges.active, result.active);
    gauge(&gauges.observed_per_minute, result.observed_last_minute);
    if !result.admitted.is_empty() {
        tracing::debug!(
            admitted = result.admitted.len(),
            waiting = result.waiting,
            "admitted"
        );
    }
    Ok(Standing {
        shuffled,
        rested: false,
    })
}

#[cfg(test)]
mod tests;
