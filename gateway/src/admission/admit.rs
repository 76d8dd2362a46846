//! One admission step in Redis (`admit.lua`): the token bucket, run by every replica's
//! admission loop ([`super::admitter`]) on the queue of each open event.

use crate::adapters::redis_store::StoreError;
use crate::queue::Queue;
use protocol::ids::{EventId, TicketId};
use std::sync::LazyLock;

/// `admit.lua`, loaded once per process.
static ADMIT: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("admit.lua")));

/// Inputs of one admission step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmitParams {
    /// Outflow rate, per minute.
    pub rate_per_minute: u32,
    /// Cap on live passes.
    pub max_active: u32,
    /// Pass lifetime, seconds.
    pub pass_ttl_seconds: u32,
    /// Skip waiting tickets that have not polled for this long, seconds.
    pub abandon_after_seconds: u64,
    /// Clock override in Unix ms (tests); `None` = the Redis clock.
    pub now_ms: Option<i64>,
}

/// Most waiting tickets one call examines (bounds the script's run time).
const MAX_SCAN: u32 = 1000;

/// What one admission step did.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmitResult {
    /// Tickets admitted now.
    pub admitted: Vec<TicketId>,
    /// Waiting tickets dropped as abandoned now.
    pub abandoned: u64,
    /// Admissions over the last 60 s (the observed outflow per minute).
    pub observed_last_minute: u64,
    /// Still waiting (not counting the pre-queue).
    pub waiting: u64,
    /// Live passes.
    pub active: u64,
    /// Credit left in the bucket, in 1/60000 of a token (`admission::bucket::UNIT`).
    pub credit: i64,
    /// The clock used, Unix ms.
    pub now_ms: i64,
    /// Line of the furthest ticket passed so far (admitted or abandoned).
    pub head_line: u64,
    /// Credit the bucket's cap dropped in this step, in 1/60000 of a token: refill that
    /// admission could not use (see `admit.lua`).
    pub clipped: i64,
}

impl Queue {
    /// One admission step for `event` (see `admit.lua`).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable; [`StoreError::Internal`] on a
    /// malformed answer.
    pub async fn admit(&self, event: &EventId, p: AdmitParams) -> Result<AdmitResult, StoreError> {
        let k = self.keys(event);
        let keys = [
            k.waiting(),
            k.active(),
            k.bucket(),
            k.stats(),
            k.per_second(),
            self.event_keys().availability(event),
            k.restoring(),
        ];
        let args = [
            p.rate_per_minute.to_string(),
            p.max_active.to_string(),
            (u64::from(p.pass_ttl_seconds) * 1000).to_string(),
            (p.abandon_after_seconds * 1000).to_string(),
            k.ticket_prefix(),
            p.now_ms.map(|n| n.to_string()).unwrap_or_default(),
            MAX_SCAN.to_string(),
            self.ticket_ttl_seconds().to_string(),
            super::bucket::CATCH_UP_MS.to_string(),
        ];
        let raw: Vec<redis::Value> = self.redis().script(&ADMIT, &keys, &args).await?;
        parse_admit(&raw)
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("malformed admit.lua answer")))
    }

    /// Empties `event`'s admission bucket (`admission::bucket::TokenBucket::rest`): the
    /// admission loop stopped admitting it on purpose (paused, closed, sold out), so the
    /// next step starts from empty instead of owing the stopped time. One `DEL`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable.
    pub async fn rest(&self, event: &EventId) -> Result<(), StoreError> {
        let key = self.keys(event).bucket();
        self.redis()
            .call(|mut c| async move { redis::cmd("DEL").arg(key).query_async::<()>(&mut c).await })
            .await
    }
}

fn parse_admit(raw: &[redis::Value]) -> Option<AdmitResult> {
    use redis::FromRedisValue;
    let int = |i: usize| raw.get(i).and_then(|v| i64::from_redis_value(v).ok());
    let uint = |i: usize| int(i).and_then(|n| u64::try_from(n).ok());
    let credit: String = String::from_redis_value(raw.get(5)?).ok()?;
    let clipped: String = String::from_redis_value(raw.get(8)?).ok()?;
    let admitted = raw
        .get(9..)?
        .iter()
        .map(|v| String::from_redis_value(v).ok()?.parse().ok())
        .collect::<Option<Vec<TicketId>>>()?;
    Some(AdmitResult {
        admitted,
        abandoned: uint(1)?,
        observed_last_minute: uint(2)?,
        waiting: uint(3)?,
        active: uint(4)?,
        credit: credit.parse().ok()?,
        now_ms: int(6)?,
        head_line: uint(7)?,
        clipped: clipped.parse().ok()?,
    })
}
