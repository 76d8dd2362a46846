//! The admission loop: every `admit_interval_ms`, for every known event (`SMEMBERS
//! events`), if the event is `open`: shuffle the pre-queue once (at `opens_at`), then run
//! `admit.lua` (see `queue/admit.lua` for the token bucket).
//!
//! Every replica runs this loop. That is safe: the allowance comes from time elapsed on
//! the Redis clock, kept in Redis, so N replicas admit exactly what one would. Configs are
//! read through the catalog cache (≤ 500 ms old), so a `PATCH` of the rate or a pause
//! applies everywhere within a second.

use crate::error::ApiError;
use crate::queue::AdmitParams;
use crate::redis_store::Throttled;
use crate::state::AppState;
use futures::StreamExt;
use protocol::event::PublicState;
use protocol::ids::EventId;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Events handled concurrently within one tick.
const CONCURRENCY: usize = 8;

/// Observed outflow per event (admissions over the last 60 s), as last seen by this
/// replica's admission loop; used for ETAs.
#[derive(Debug, Clone, Default)]
pub struct Outflow(Arc<Mutex<HashMap<EventId, u64>>>);

impl Outflow {
    /// Admissions per minute observed for `event`, if the loop has seen it.
    pub fn per_minute(&self, event: &EventId) -> Option<f64> {
        self.0
            .lock()
            .expect("outflow poisoned")
            .get(event)
            .map(|n| *n as f64)
    }

    fn record(&self, event: EventId, last_minute: u64) {
        self.0
            .lock()
            .expect("outflow poisoned")
            .insert(event, last_minute);
    }
}

/// Runs the admission loop until `shutdown`.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let mut interval =
        tokio::time::interval(Duration::from_millis(state.settings.admit_interval_ms));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut shuffled = HashSet::new();
    let mut warnings = Throttled::default();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        if let Err(e) = tick(&state, &mut shuffled).await {
            warnings.warn(&format!("admission step failed: {e}"));
        }
    }
}

/// One pass over every known event.
///
/// # Errors
/// The first failure (the others are the same outage, typically).
pub async fn tick(state: &AppState, shuffled: &mut HashSet<EventId>) -> Result<(), ApiError> {
    let key = state.keys.events();
    let members: Vec<String> = state
        .redis
        .call(|mut c| async move { redis::cmd("SMEMBERS").arg(key).query_async(&mut c).await })
        .await?;
    let events: Vec<EventId> = members.iter().filter_map(|m| m.parse().ok()).collect();
    let done: Vec<(EventId, Result<bool, ApiError>)> = futures::stream::iter(events)
        .map(|event| {
            let already = shuffled.contains(&event);
            async move { (event, step(state, &event, already).await) }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut first_error = None;
    for (event, result) in done {
        match result {
            Ok(true) => {
                shuffled.insert(event);
            }
            Ok(false) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Admission for one event; `Ok(true)` once its pre-queue is known to be shuffled.
#[tracing::instrument(skip_all, fields(event_id = %event))]
async fn step(state: &AppState, event: &EventId, shuffled: bool) -> Result<bool, ApiError> {
    let Some(snapshot) = state.catalog.cached(event).await? else {
        return Ok(shuffled);
    };
    if snapshot.state(chrono::Utc::now()) != PublicState::Open {
        return Ok(shuffled);
    }
    let config = &snapshot.config;
    let mut shuffled = shuffled;
    if !shuffled && config.spec.prequeue_opens_at.is_some() {
        let seed = config
            .shuffle_seed
            .as_deref()
            .and_then(|s| hex::decode(s).ok())
            .unwrap_or_else(|| {
                tracing::warn!("event has a pre-queue but no shuffle seed; using an empty seed");
                Vec::new()
            });
        if let Some(moved) = state.queue.shuffle(event, &seed).await? {
            tracing::info!(moved, "pre-queue shuffled into the queue");
        }
        shuffled = true;
    }
    let admission = &config.spec.admission;
    let result = state
        .queue
        .admit(
            event,
            AdmitParams {
                rate_per_minute: admission.rate_per_minute,
                max_active: admission.max_active,
                pass_ttl_seconds: admission.pass_ttl_seconds,
                abandon_after_seconds: state.settings.abandon_after_seconds,
                now_ms: None,
            },
        )
        .await?;
    state.outflow.record(*event, result.observed_last_minute);
    state.metrics.admitted.inc_by(result.admitted.len() as u64);
    state.metrics.abandoned.inc_by(result.abandoned);
    if !result.admitted.is_empty() {
        tracing::debug!(
            admitted = result.admitted.len(),
            waiting = result.waiting,
            "admitted"
        );
    }
    Ok(shuffled || config.spec.prequeue_opens_at.is_none())
}
