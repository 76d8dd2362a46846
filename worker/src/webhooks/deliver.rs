//! The delivery runner: sends the pending deliveries of the shards this worker owns.
//!
//! - **Order**: per endpoint and event (a lane), only the pending delivery with the
//!   lowest sequence number is sent; the next waits until it is delivered or given up,
//!   and is then sent by the same task at once (a backlog drains at the endpoint's
//!   pace, not one message per scan).
//! - **At least once**: a delivery is `delivered` only after a `2xx` answer; the state
//!   lives in PostgreSQL, so after a crash or a takeover the next owner sends what was
//!   not acknowledged (a delivery whose answer was lost is sent again: receivers
//!   deduplicate by `webhook-id`).
//! - **Retries**: after a failed attempt the next one waits the next delay of
//!   `webhook_retry_delays_secs`, with jitter; after the last one the delivery is
//!   `failed` and its lane moves on.
//! - **Isolation**: every attempt is its own task with a timeout, at most
//!   `webhook_concurrency` at once; the runner never touches the shard's batch loop, so
//!   a slow or dead endpoint delays only its own lanes.
//! - **Leases**: an attempt holds its row for the timeout plus a margin, so two workers
//!   that both believe they own a shard (a takeover in progress) do not send the same
//!   delivery at once.

use super::attempt::{next_delay, send, Attempt, Job};
use crate::shard::ShardContext;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Runs until `shutdown`; attempts in flight then finish or are abandoned (their leases
/// run out and the next owner sends them again).
pub(crate) async fn run(ctx: Arc<ShardContext>, shutdown: CancellationToken) {
    let s = &ctx.settings;
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_millis(s.webhook_timeout_ms))
        .connect_timeout(Duration::from_millis(s.webhook_timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("anteroom-webhooks")
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook HTTP client could not be built; no deliveries");
            return;
        }
    };
    let permits = Arc::new(Semaphore::new(s.webhook_concurrency));
    let lanes: Arc<Mutex<HashSet<(Uuid, Uuid)>>> = Arc::default();
    let mut tick = tokio::time::interval(Duration::from_millis(s.webhook_poll_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let prune_every = Duration::from_secs(s.prune_interval_secs);
    // Validated to at most 10 years, far inside chrono's range.
    let retention = chrono::Duration::seconds(i64::try_from(s.retention_secs).unwrap_or(0));
    let mut pruned_at = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let shards: Vec<i32> = ctx.owned_shards().into_iter().map(i32::from).collect();
        if shards.is_empty() {
            continue;
        }
        if let Err(e) = scan(&ctx, &client, &permits, &lanes, &shards).await {
            tracing::warn!(error = %e, "webhook delivery scan failed; retrying at the next tick");
        }
        if pruned_at.elapsed() >= prune_every {
            pruned_at = tokio::time::Instant::now();
            let cutoff = Utc::now() - retention;
            if let Err(e) = super::prune::prune(ctx.repo.pool(), &shards, cutoff).await {
                tracing::warn!(error = %e, "webhook retention failed; retrying later");
            }
        }
    }
}

/// One scan: applies redelivery requests, then starts an attempt for each lane whose
/// head is due, while permits last.
async fn scan(
    ctx: &Arc<ShardContext>,
    client: &reqwest::Client,
    permits: &Arc<Semaphore>,
    lanes: &Arc<Mutex<HashSet<(Uuid, Uuid)>>>,
    shards: &[i32],
) -> Result<(), sqlx::Error> {
    let pool = ctx.repo.pool();
    let now = Utc::now();
    redeliveries(pool, shards, now).await?;
    let free = permits.available_permits();
    if free == 0 {
        return Ok(());
    }
    let heads: Vec<(Uuid, Uuid, Uuid)> = sqlx::query_as(
        "SELECT id, endpoint_id, event_id FROM (
             SELECT DISTINCT ON (endpoint_id, event_id)
                    id, endpoint_id, event_id, next_attempt_at, leased_until
             FROM webhook_deliveries
             WHERE state = 'pending' AND shard = ANY($1)
             ORDER BY endpoint_id, event_id, seq
         ) h
         WHERE next_attempt_at <= $2 AND (leased_until IS NULL OR leased_until < $2)
         ORDER BY next_attempt_at
         LIMIT $3",
    )
    .bind(shards)
    .bind(now)
    .bind(i64::try_from(free).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    let lease = chrono::Duration::milliseconds(
        i64::try_from(ctx.settings.webhook_timeout_ms).unwrap_or(i64::MAX / 2) + 5_000,
    );
    for (id, endpoint_id, event_id) in heads {
        let lane = (endpoint_id, event_id);
        if lanes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&lane)
        {
            continue;
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            break;
        };
        let Some(job) = claim(pool, id, now, now + lease).await? else {
            continue;
        };
        lanes.lock().unwrap_or_else(|p| p.into_inner()).insert(lane);
        let (ctx, client, lanes) = (ctx.clone(), client.clone(), lanes.clone());
        tokio::spawn(async move {
            drain_lane(&ctx, &client, job, lease).await;
            lanes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&lane);
            drop(permit);
        });
    }
    Ok(())
}

/// Sends `job`, then the next pending deliveries of its lane (same endpoint and event)
/// one after the other, as long as each ends (delivered or given up), the next is due
/// and this worker still owns the shard: a lane's backlog goes out at the endpoint's
/// pace, not one message per scan.
async fn drain_lane(
    ctx: &ShardContext,
    client: &reqwest::Client,
    mut job: Job,
    lease: chrono::Duration,
) {
    loop {
        let attempt = send(ctx, client, &job).await;
        let state = match record(ctx, &job, &attempt).await {
            Ok(state) => state,
            Err(e) => {
                // The lease runs out and the delivery is sent again: at least once.
                tracing::warn!(error = %e, delivery = %job.id, "webhook result not stored");
                return;
            }
        };
        let owned = u16::try_from(job.shard)
            .map(|s| ctx.owned_shards().contains(&s))
            .unwrap_or(false);
        if state == "pending" || !owned {
            return;
        }
        let now = Utc::now();
        match claim_next(ctx.repo.pool(), &job, now, now + lease).await {
            Ok(Some(next)) => job = next,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "webhook lane scan failed; the next scan resumes it");
                return;
            }
        }
    }
}

/// Leases the lane's next pending delivery after `job` if it is due and free.
async fn claim_next(
    pool: &PgPool,
    job: &Job,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<Job>, sqlx::Error> {
    sqlx::query_as(
        "WITH head AS (
             SELECT id FROM webhook_deliveries
             WHERE state = 'pending' AND shard = $1 AND endpoint_id = $2 AND event_id = $3
             ORDER BY seq LIMIT 1
         )
         UPDATE webhook_deliveries d SET leased_until = $5
         FROM head, webhook_outbox m, webhook_endpoints w
         WHERE d.id = head.id AND d.next_attempt_at <= $4
           AND (d.leased_until IS NULL OR d.leased_until < $4)
           AND m.id = d.message_id AND w.id = d.endpoint_id
         RETURNING d.id, d.endpoint_id, d.event_id, d.shard, d.attempts, m.id AS message_id,
                   m.body, w.url, w.secret, w.previous_secret, w.previous_until,
                   w.deleted_at IS NOT NULL AS deleted",
    )
    .bind(job.shard)
    .bind(job.endpoint_id)
    .bind(job.event_id)
    .bind(now)
    .bind(until)
    .fetch_optional(pool)
    .await
}

/// Puts the deliveries of pending redelivery requests (on `shards`) back to `pending`
/// with a fresh retry schedule, and gives up the pending deliveries of deleted
/// endpoints.
async fn redeliveries(
    pool: &PgPool,
    shards: &[i32],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_deliveries d
         SET state = 'failed', last_error = 'endpoint deleted', leased_until = NULL,
             updated_at = $2
         FROM webhook_endpoints w
         WHERE d.state = 'pending' AND d.shard = ANY($1) AND w.id = d.endpoint_id
           AND w.deleted_at IS NOT NULL",
    )
    .bind(shards)
    .bind(now)
    .execute(pool)
    .await?;
    sqlx::query(
        "WITH asked AS (
             DELETE FROM webhook_redeliveries r USING webhook_deliveries d
             WHERE r.delivery_id = d.id AND d.shard = ANY($1)
             RETURNING d.id
         )
         UPDATE webhook_deliveries d
         SET state = 'pending', attempts = 0, next_attempt_at = $2, leased_until = NULL,
             updated_at = $2
         FROM asked WHERE d.id = asked.id AND d.state <> 'pending'",
    )
    .bind(shards)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Leases delivery `id` until `until` if it is still pending and free.
async fn claim(
    pool: &PgPool,
    id: Uuid,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<Job>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE webhook_deliveries d SET leased_until = $3
         FROM webhook_outbox m, webhook_endpoints w
         WHERE d.id = $1 AND d.state = 'pending'
           AND (d.leased_until IS NULL OR d.leased_until < $2)
           AND m.id = d.message_id AND w.id = d.endpoint_id
         RETURNING d.id, d.endpoint_id, d.event_id, d.shard, d.attempts, m.id AS message_id,
                   m.body, w.url, w.secret, w.previous_secret, w.previous_until,
                   w.deleted_at IS NOT NULL AS deleted",
    )
    .bind(id)
    .bind(now)
    .bind(until)
    .fetch_optional(pool)
    .await
}

/// Stores the attempt's outcome and frees the lease; returns the delivery's new state.
async fn record(
    ctx: &ShardContext,
    job: &Job,
    attempt: &Attempt,
) -> Result<&'static str, sqlx::Error> {
    let now = Utc::now();
    let attempts = usize::try_from(job.attempts).unwrap_or(0) + 1;
    let (state, next) = if attempt.delivered {
        ("delivered", now)
    } else if attempt.final_failure {
        ("failed", now)
    } else {
        match next_delay(&ctx.settings.webhook_retry_delays_secs, attempts) {
            Some(d) => (
                "pending",
                now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero()),
            ),
            None => ("failed", now),
        }
    };
    if state == "failed" {
        tracing::warn!(
            delivery = %job.id,
            endpoint = %job.endpoint_id,
            event = %job.event_id,
            error = attempt.error.as_deref().unwrap_or(""),
            "webhook delivery given up"
        );
    }
    sqlx::query(
        "UPDATE webhook_deliveries
         SET state = $2, attempts = attempts + 1, next_attempt_at = $3, leased_until = NULL,
             last_status = $4, last_error = $5, updated_at = $6
         WHERE id = $1",
    )
    .bind(job.id)
    .bind(state)
    .bind(next)
    .bind(attempt.status)
    .bind(attempt.error.as_deref())
    .bind(now)
    .execute(ctx.repo.pool())
    .await?;
    Ok(state)
}
