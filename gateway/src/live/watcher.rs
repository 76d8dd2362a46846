//! The watcher: one background loop per replica that keeps [`super::Live`] and the
//! catalog fresh, so status polls and streams need no Redis call of their own.
//!
//! Every [`REFRESH`] (250 ms), for every *watched* event (fans ask about it or wait in
//! it, `live/interest.rs`) and every event the change feed announced since the last tick
//! (`live/feed.rs`): one `view.lua` call (config, availability version, head line,
//! counts); the availability document only when its version changed (then diffed for
//! the seats streams); the lottery record once, after the shuffle. Every other event
//! costs nothing. When the feed owes a full re-read (it (re)subscribed, or Redis lost its
//! data), that tick reads every event (`SMEMBERS events`) instead. Every [`FLUSH`] (1 s):
//! the fans seen since the last flush, one `seen.lua` call per event (per 2 000 fans);
//! those no longer waiting are settled.
//!
//! Each view is compared with the last one: a queue whose arrival counter or admitted
//! count went back lost its keys with Redis's data (counters never go back otherwise),
//! and is written back from this replica's memory before the view is used
//! (`Queue::restore_event`, see `queue/restore.rs`).
//!
//! Redis load per replica: 4 calls per watched event per second, 1 per changed event,
//! plus 1 per event with pollers per second, whatever the number of fans and of idle
//! events.

use crate::adapters::redis_store::{parse_json, StoreError, Throttled};
use crate::live::Replica;
use crate::queue::ShuffleMarker;
use futures::StreamExt;
use protocol::availability::Availability;
use protocol::event::EventConfig;
use protocol::ids::EventId;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Period of the view refresh.
pub const REFRESH: Duration = Duration::from_millis(250);
/// Period of the seen flush.
pub const FLUSH: Duration = Duration::from_secs(1);
/// Events refreshed concurrently.
const CONCURRENCY: usize = 8;

/// Runs until `shutdown`, then flushes the seen marks one last time.
pub async fn run(replica: Replica, shutdown: CancellationToken) {
    let mut refresh = tokio::time::interval(REFRESH);
    refresh.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut flush = tokio::time::interval(FLUSH);
    flush.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut warnings = Throttled::default();
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                if let Err(e) = flush_seen(&replica).await {
                    tracing::warn!(error = %e, "last seen-flush failed");
                }
                return;
            }
            _ = refresh.tick() => {
                if let Err(e) = refresh_tick(&replica).await {
                    warnings.warn(&format!("queue view refresh failed: {e}"));
                }
            }
            _ = flush.tick() => {
                if let Err(e) = flush_seen(&replica).await {
                    warnings.warn(&format!("seen flush failed: {e}"));
                }
                ticks += 1;
                if ticks.is_multiple_of(600) {
                    replica.live.prune();
                }
            }
        }
    }
}

/// One tick: announces the events fans started asking about, then re-reads every event
/// if the change feed owes it, else the watched and the changed events.
///
/// # Errors
/// The first failure.
pub async fn refresh_tick(replica: &Replica) -> Result<(), StoreError> {
    let outbox = replica.interest.take_outbox();
    if let Err(e) = super::feed::announce(replica, &outbox).await {
        tracing::debug!(error = %e, "could not announce activity");
    }
    if let Some(resync) = replica.feed.take_resync() {
        // Events announced meanwhile are read by this pass.
        drop(replica.feed.take_dirty());
        match refresh_all(replica).await {
            Ok(()) if replica.feed.is_current(&resync) => replica.catalog.follow(resync.from),
            Ok(()) => {}
            Err(e) => {
                replica.feed.retry(resync);
                return Err(e);
            }
        }
        return Ok(());
    }
    let mut events = replica.feed.take_dirty();
    events.extend(replica.interest.watched());
    refresh_events(replica, events.into_iter().collect()).await
}

/// Refreshes every known event.
///
/// # Errors
/// The first failure.
pub async fn refresh_all(replica: &Replica) -> Result<(), StoreError> {
    let key = replica.keys.events();
    let members: Vec<String> = replica
        .redis
        .call(|mut c| async move { redis::cmd("SMEMBERS").arg(key).query_async(&mut c).await })
        .await?;
    let events: Vec<EventId> = members.iter().filter_map(|m| m.parse().ok()).collect();
    refresh_events(replica, events).await
}

/// Refreshes `events`, then watches those whose queue serves fans.
///
/// # Errors
/// The first failure.
async fn refresh_events(replica: &Replica, events: Vec<EventId>) -> Result<(), StoreError> {
    let results: Vec<Result<(), StoreError>> = futures::stream::iter(events)
        .map(|event| async move {
            refresh_event(replica, &event).await?;
            let state = replica
                .catalog
                .last_known(&event)
                .map(|s| s.state(chrono::Utc::now()));
            let view = replica.live.event(&event).last_view();
            let busy =
                matches!((state, view), (Some(s), Some(v)) if super::interest::has_fans(s, &v));
            if busy {
                replica.interest.keep(&event);
            }
            Ok(())
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Refreshes one event: catalog, queue view, signal, seat feed, lottery.
///
/// # Errors
/// [`StoreError::Unavailable`] if Redis is unavailable; [`StoreError::Internal`] if a
/// document does not parse.
#[tracing::instrument(skip_all, fields(event_id = %event))]
pub async fn refresh_event(replica: &Replica, event: &EventId) -> Result<(), StoreError> {
    let mut read = replica.queue.view(event).await?;
    if read.config_json.is_some() && restore_if_lost(replica, event, &read.view).await? {
        read = replica.queue.view(event).await?;
    }
    replica.queue.floors().raise(event, read.view.joins_total);
    let Some(json) = read.config_json else {
        replica.catalog.forget(event);
        return Ok(());
    };
    let config: EventConfig = parse_json(&replica.keys.config(event), &json)?;
    if super::interest::may_need_watching(&config) {
        replica.interest.unignore(event);
    } else if replica.interest.ignore(event) {
        crate::admission::admitter::forget_metrics(&replica.metrics, event);
    }
    let known = replica
        .catalog
        .last_known(event)
        .and_then(|s| s.availability.clone());
    let availability = match (read.availability_version, known) {
        (None, _) => None,
        (Some(Some(v)), Some(k)) if k.version == v => Some(k),
        _ => {
            let key = replica.keys.availability(event);
            let fetched: Option<Availability> = replica.redis.get_json(&key).await?;
            fetched.map(Arc::new)
        }
    };
    let live = replica.live.event(event);
    if let Some(a) = &availability {
        if live.seats.version() != Some(a.version) {
            live.seats.publish(&config.spec.seating, a.clone());
        }
    }
    let version = config.version;
    let snapshot = replica.catalog.store(config, availability);
    replica.live.set_signal(
        event,
        super::hub::Signal {
            state: Some(snapshot.state(chrono::Utc::now())),
            config_version: version,
        },
    );
    let done = read.view.marker == ShuffleMarker::Done;
    replica.live.publish_view(event, read.view);
    if done && replica.live.lottery(event).is_none() {
        if let Some(lottery) = replica.queue.lottery(event).await? {
            replica.live.set_lottery(event, lottery);
        }
    }
    Ok(())
}

/// Writes back `event`'s queue from the last view this replica published if `now` shows
/// it went back (Redis lost its data); returns whether anything was written.
///
/// # Errors
/// [`StoreError::Unavailable`] if Redis is unavailable.
async fn restore_if_lost(
    replica: &Replica,
    event: &EventId,
    now: &crate::queue::QueueView,
) -> Result<bool, StoreError> {
    let Some(before) = replica.live.event(event).last_view() else {
        return Ok(false);
    };
    if now.joins_total >= before.joins_total && now.admitted_total >= before.admitted_total {
        return Ok(false);
    }
    // Whoever writes the queue back, this replica's view no longer says who is in it.
    replica.live.distrust(
        event,
        Duration::from_millis(crate::queue::restore::RESTORE_GRACE_MS),
    );
    let lottery = replica.live.lottery(event);
    let memory = crate::queue::Remembered {
        joins_total: before.joins_total,
        head_line: before.head_line,
        admitted_total: before.admitted_total,
        abandoned_total: before.abandoned_total,
        first_admit_ms: before.first_admit_ms,
        lottery_total: before.lottery_total,
        active: before.active,
        active_until_ms: before.active_until_ms,
        lottery: lottery.as_deref(),
    };
    let raised = replica.queue.restore_event(event, &memory).await?;
    if raised {
        replica.metrics.redis_data_loss.inc();
        tracing::warn!(
            event_id = %event,
            joins_total = before.joins_total,
            admitted_total = before.admitted_total,
            "the queue's keys went back in Redis (data lost): wrote back what this replica remembers"
        );
    }
    Ok(raised)
}

/// Flushes the buffered seen marks: one `seen.lua` call per event (per 2 000 fans);
/// tickets that no longer wait are settled (answered from Redis from now on).
///
/// # Errors
/// The first failure (the marks of that event are lost: at most one second of them,
/// far less than `abandon_after_seconds`).
pub async fn flush_seen(replica: &Replica) -> Result<(), StoreError> {
    let mut first_error = None;
    for (event, tickets) in replica.live.take_seen() {
        let tickets: Vec<_> = tickets.into_iter().collect();
        match replica.queue.mark_seen(&event, &tickets, None).await {
            Ok(settled) => {
                for s in settled {
                    replica.live.settle(s.ticket);
                }
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}
