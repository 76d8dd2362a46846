//! Queue counters for `GET /v1/admin/events/{id}/stats`.

use super::Queue;
use crate::adapters::redis_store::StoreError;
use protocol::ids::EventId;
use std::collections::HashMap;

/// Queue counters of one event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueStats {
    /// Waiting, including the pre-queue.
    pub waiting: u64,
    /// Admitted since the start.
    pub admitted_total: u64,
    /// Passes neither expired nor used up.
    pub active: u64,
    /// Waiting tickets skipped for not polling.
    pub abandoned_total: u64,
    /// New tickets since the start.
    pub joins_total: u64,
    /// Admissions over the last 60 s.
    pub observed_per_minute: f64,
    /// When these counters were read, on the Redis clock (Unix ms).
    pub read_at_ms: i64,
}

impl Queue {
    /// Reads `event`'s counters at `now_ms` (Unix ms) in one transaction (`MULTI`/`EXEC`),
    /// with the Redis clock (`TIME`) at that moment: a reader that computes an outflow
    /// from two readings divides by the time between the reads, not between two replies
    /// that may each have waited seconds on a saturated box.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable.
    pub async fn stats(&self, event: &EventId, now_ms: i64) -> Result<QueueStats, StoreError> {
        let k = self.keys(event);
        type Raw = (
            u64,
            u64,
            (Option<u64>, Option<u64>),
            Option<u64>,
            u64,
            HashMap<i64, u64>,
            (i64, i64),
        );
        let (waiting, prequeue, (admitted, abandoned), joins, active, per_sec, (secs, micros)): Raw =
            self.redis
            .call(|mut c| async move {
                redis::pipe()
                    .atomic()
                    .zcard(k.waiting())
                    .zcard(k.prequeue())
                    .hget(k.stats(), &["admitted_total", "abandoned_total"])
                    .get(k.seq())
                    .cmd("ZCOUNT")
                    .arg(k.active())
                    .arg(format!("({now_ms}"))
                    .arg("+inf")
                    .hgetall(k.per_second())
                    .cmd("TIME")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let now_s = now_ms.div_euclid(1000);
        let observed: u64 = per_sec
            .iter()
            .filter(|(s, _)| **s > now_s - 60 && **s <= now_s)
            .map(|(_, n)| n)
            .sum();
        Ok(QueueStats {
            waiting: waiting + prequeue,
            admitted_total: admitted.unwrap_or(0),
            active,
            abandoned_total: abandoned.unwrap_or(0),
            joins_total: joins.unwrap_or(0),
            observed_per_minute: observed as f64,
            read_at_ms: secs * 1000 + micros / 1000,
        })
    }
}
