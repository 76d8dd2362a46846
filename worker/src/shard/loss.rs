//! Noticing that Redis lost what this worker mirrors there (a restart without
//! persistence, a failover to an empty or lagging replica) and rewriting it at once,
//! rather than at the next periodic refresh or takeover.
//!
//! Each owned shard keeps a marker key, `{ns}:mirror:shard:{k}`, written when the
//! session starts and checked every [`CHECK_EVERY`] with one `SET … NX`: if the marker
//! was gone, Redis lost the data it was written with, so the session rewrites every
//! event's config and availability, the documents of recent holds (and takes used passes
//! out of `active(E)`, and lists them in `{ns}:{E}:used_passes` so that gateways do
//! not count them again), and the stored results of recent requests, which fans answered
//! `202` may still be polling for. Counted in `anteroom_redis_data_loss_total{shard}`.
//! A check that fails (Redis down) is skipped: a Redis that comes back empty is caught
//! by the next one.

use super::repair::REPAIR_WINDOW;
use super::session::Active;
use chrono::Utc;
use protocol::ids::{EventId, RequestId, TicketId};
use protocol::names::{RedisKeys, RESULT_TTL_SECONDS};
use protocol::reply::{HoldState, StoredResult};
use std::time::Duration;
use uuid::Uuid;

/// How often the marker is checked.
pub(super) const CHECK_EVERY: Duration = Duration::from_secs(1);

/// A stored result as read back: request, event, ticket, HTTP status and body.
type ResultRow = (Uuid, Uuid, Uuid, i32, serde_json::Value);

/// Request documents per Redis pipeline.
const CHUNK: usize = 1_000;

/// The marker of one shard session.
pub(super) struct LossWatch {
    key: String,
    value: String,
    armed: bool,
}

/// The set of tickets whose pass an order used up, written after a loss (the gateway's
/// `QueueKeys::used_passes`).
pub(crate) fn used_passes_key(keys: &RedisKeys, event: &EventId) -> String {
    format!("{}:used_passes", keys.event_base(event))
}

/// The marker key of `shard`.
pub(crate) fn marker_key(keys: &RedisKeys, shard: u16) -> String {
    format!("{}:mirror:shard:{shard}", keys.prefix())
}

impl LossWatch {
    /// The watch of `shard` for the session of `owner` at fencing `epoch`.
    pub(super) fn new(keys: &RedisKeys, shard: u16, owner: &str, epoch: i64) -> Self {
        Self {
            key: marker_key(keys, shard),
            value: format!("{owner}@{epoch}"),
            armed: false,
        }
    }
}

impl Active {
    /// One check of `watch`: `true` if Redis lost the shard's mirror since the last one.
    /// The first successful call writes the marker.
    pub(super) async fn redis_lost(&self, watch: &mut LossWatch) -> bool {
        let timeout = Duration::from_millis(self.ctx.settings.redis_timeout_ms);
        let set = async {
            let mut conn = self.ctx.redis.get().await?;
            let mut cmd = redis::cmd("SET");
            cmd.arg(&watch.key).arg(&watch.value);
            if watch.armed {
                cmd.arg("NX");
            }
            cmd.query_async::<Option<String>>(&mut conn).await
        };
        match tokio::time::timeout(timeout, set).await {
            Ok(Ok(written)) => {
                let lost = watch.armed && written.is_some();
                watch.armed = true;
                lost
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "Redis loss check failed");
                false
            }
            Err(_) => false,
        }
    }

    /// Rewrites everything this shard mirrors in Redis: configs and availability, recent
    /// hold documents, recent request results.
    pub(super) async fn rewrite_lost_mirror(&mut self) {
        self.ctx
            .metrics
            .redis_data_loss
            .with_label_values(&[&self.shard.to_string()])
            .inc();
        tracing::warn!("Redis lost this shard's mirror; rewriting it");
        // Before the configs: gateways answer fans again once a config is back, and a
        // fan presenting a pass used up by an order must find it marked used by then.
        self.mark_used_passes().await;
        self.refresh().await;
        self.repair_redis().await;
        self.rewrite_results().await;
    }

    /// Writes `{ns}:{E}:used_passes`: the tickets whose pass an order used up in the
    /// last [`REPAIR_WINDOW`] (best effort), so that a gateway putting admitted fans
    /// back after the loss (`restore.lua`) does not count those passes as live again.
    async fn mark_used_passes(&mut self) {
        let since = Utc::now() - REPAIR_WINDOW;
        let holds = match self.ctx.repo.holds_changed_since(self.shard, since).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "could not read recent orders to mark used passes");
                return;
            }
        };
        let mut pipe = redis::pipe();
        for h in holds
            .iter()
            .filter(|h| h.hold.state == HoldState::Confirmed)
        {
            let key = used_passes_key(&self.ctx.keys, &h.hold.event_id);
            pipe.sadd(&key, h.ticket_id.to_string()).ignore();
            pipe.expire(&key, REPAIR_WINDOW.as_secs() as i64 * 2)
                .ignore();
        }
        self.finisher.write(pipe).await;
    }

    /// Rewrites the stored results of the shard's requests decided in the last
    /// [`REPAIR_WINDOW`] (best effort: a PostgreSQL error is logged).
    async fn rewrite_results(&mut self) {
        let events: Vec<Uuid> = self.engine.events().map(|e| e.config().id.0).collect();
        if events.is_empty() {
            return;
        }
        let since = Utc::now() - REPAIR_WINDOW;
        let rows: Result<Vec<ResultRow>, _> = sqlx::query_as(
            "SELECT request_id, event_id, ticket_id, status, body FROM request_results
             WHERE event_id = ANY($1) AND ticket_id IS NOT NULL AND created_at >= $2",
        )
        .bind(&events)
        .bind(since)
        .fetch_all(self.ctx.repo.pool())
        .await;
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "could not read recent results to rewrite Redis");
                return;
            }
        };
        for part in rows.chunks(CHUNK) {
            let mut pipe = redis::pipe();
            for (request, event, ticket, status, body) in part {
                let stored = StoredResult {
                    request_id: RequestId(*request),
                    event_id: EventId(*event),
                    ticket_id: Some(TicketId(*ticket)),
                    status: u16::try_from(*status).unwrap_or(500),
                    body: body.clone(),
                };
                if let Ok(doc) = serde_json::to_string(&stored) {
                    let key = self.ctx.keys.request(&stored.event_id, &stored.request_id);
                    pipe.set_ex(key, doc, RESULT_TTL_SECONDS).ignore();
                }
            }
            self.finisher.write(pipe).await;
        }
    }
}
