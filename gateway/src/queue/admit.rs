//! Admission (`admit.lua`) and the pre-queue lottery (`shuffle.lua`).
//!
//! Lottery order (recomputable by anyone once the seed is revealed at `opens_at`): sort
//! the pre-queue's tickets by SHA-256(seed ‖ ticket UUID bytes), ascending, where `seed`
//! is the 32 raw bytes of the event's `shuffle_seed` (whose SHA-256 is the published
//! `shuffle_commitment`).

use super::Queue;
use crate::error::ApiError;
use protocol::ids::{EventId, TicketId};
use sha2::{Digest, Sha256};

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
    /// Tokens left in the bucket.
    pub tokens: f64,
    /// The clock used, Unix ms.
    pub now_ms: i64,
}

/// The pre-queue's tickets in lottery order for `seed` (32 bytes).
pub fn lottery_order(seed: &[u8], tickets: &[TicketId]) -> Vec<TicketId> {
    let mut keyed: Vec<([u8; 32], TicketId)> = tickets
        .iter()
        .map(|t| {
            let mut h = Sha256::new();
            h.update(seed);
            h.update(t.0.as_bytes());
            (h.finalize().into(), *t)
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, t)| t).collect()
}

impl Queue {
    /// One admission step for `event` (see `admit.lua`).
    ///
    /// # Errors
    /// `503` if Redis is unavailable; `500` on a malformed answer.
    pub async fn admit(&self, event: &EventId, p: AdmitParams) -> Result<AdmitResult, ApiError> {
        let k = self.keys(event);
        let keys = [
            k.waiting(),
            k.active(),
            k.bucket(),
            k.stats(),
            k.per_second(),
        ];
        let args = [
            p.rate_per_minute.to_string(),
            p.max_active.to_string(),
            (u64::from(p.pass_ttl_seconds) * 1000).to_string(),
            (p.abandon_after_seconds * 1000).to_string(),
            k.ticket_prefix(),
            p.now_ms.map(|n| n.to_string()).unwrap_or_default(),
            MAX_SCAN.to_string(),
            self.ticket_ttl_seconds.to_string(),
        ];
        let raw: Vec<redis::Value> = self.redis.script(&self.scripts.admit, &keys, &args).await?;
        parse_admit(&raw)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("malformed admit.lua answer")))
    }

    /// Moves the pre-queue into the waiting set in lottery order; `None` if it had already
    /// been done (by any replica), else the number of tickets moved.
    ///
    /// # Errors
    /// `503` if Redis is unavailable.
    #[tracing::instrument(skip_all, fields(event_id = %event))]
    pub async fn shuffle(&self, event: &EventId, seed: &[u8]) -> Result<Option<u64>, ApiError> {
        let k = self.keys(event);
        let members: Vec<String> = self
            .redis
            .call(|mut c| {
                let key = k.prequeue();
                async move {
                    redis::cmd("ZRANGE")
                        .arg(key)
                        .arg(0)
                        .arg(-1)
                        .query_async(&mut c)
                        .await
                }
            })
            .await?;
        let tickets: Vec<TicketId> = members.iter().filter_map(|m| m.parse().ok()).collect();
        let mut args = vec![k.ticket_prefix(), (self.ticket_ttl_seconds * 7).to_string()];
        args.extend(
            lottery_order(seed, &tickets)
                .iter()
                .map(ToString::to_string),
        );
        let keys = [k.waiting(), k.prequeue(), k.shuffled()];
        let moved: i64 = self
            .redis
            .script(&self.scripts.shuffle, &keys, &args)
            .await?;
        Ok(u64::try_from(moved).ok())
    }
}

fn parse_admit(raw: &[redis::Value]) -> Option<AdmitResult> {
    use redis::FromRedisValue;
    let int = |i: usize| raw.get(i).and_then(|v| i64::from_redis_value(v).ok());
    let uint = |i: usize| int(i).and_then(|n| u64::try_from(n).ok());
    let tokens: String = String::from_redis_value(raw.get(5)?).ok()?;
    let admitted = raw
        .get(7..)?
        .iter()
        .map(|v| String::from_redis_value(v).ok()?.parse().ok())
        .collect::<Option<Vec<TicketId>>>()?;
    Some(AdmitResult {
        admitted,
        abandoned: uint(1)?,
        observed_last_minute: uint(2)?,
        waiting: uint(3)?,
        active: uint(4)?,
        tokens: tokens.parse().ok()?,
        now_ms: int(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lottery_is_a_deterministic_permutation() {
        let tickets: Vec<TicketId> = (0..50).map(|_| TicketId::new()).collect();
        let a = lottery_order(&[1; 32], &tickets);
        assert_eq!(a, lottery_order(&[1; 32], &tickets));
        let mut reversed = tickets.clone();
        reversed.reverse();
        assert_eq!(
            a,
            lottery_order(&[1; 32], &reversed),
            "input order is irrelevant"
        );
        let mut sorted_a = a.clone();
        sorted_a.sort();
        let mut sorted_t = tickets.clone();
        sorted_t.sort();
        assert_eq!(sorted_a, sorted_t);
        assert_ne!(a, lottery_order(&[2; 32], &tickets), "the seed decides");
        assert_ne!(a, tickets, "not arrival order (50! to 1)");
    }
}
