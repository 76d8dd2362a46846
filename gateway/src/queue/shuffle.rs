//! The pre-queue lottery in Redis, in two idempotent steps (`docs/LOTTERY.md`):
//! `freeze.lua` closes the pre-queue and returns its final list, the gateway computes the
//! order from the revealed seed ([`lottery_order`]), and `shuffle.lua` applies it once
//! and keeps it as the public record, read back by [`Queue::lottery`].

use super::{lottery_order, Lottery, Queue};
use crate::adapters::redis_store::StoreError;
use protocol::ids::{EventId, TicketId};

/// What a call to [`Queue::shuffle`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShuffleOutcome {
    /// This call applied the lottery: `queued` tickets of `total` (the others left).
    Applied {
        /// Tickets moved into the waiting set.
        queued: u64,
        /// Size of the frozen pre-queue.
        total: u64,
    },
    /// Another call (any replica) had already applied it.
    AlreadyDone,
}

/// How long the lottery record (marker, frozen pre-queue, order) is kept: 7 days.
const RECORD_TTL_SECONDS: u64 = 7 * 86_400;

impl Queue {
    /// Freezes `event`'s pre-queue and moves it into the waiting set in lottery order for
    /// `seed` (32 raw bytes). Safe to call from every replica, any number of times.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable; [`StoreError::Internal`] if the
    /// frozen list changed under us (a bug: nothing is written then, and the next call
    /// retries).
    #[tracing::instrument(skip_all, fields(event_id = %event))]
    pub async fn shuffle(
        &self,
        event: &EventId,
        seed: &[u8],
    ) -> Result<ShuffleOutcome, StoreError> {
        let k = self.keys(event);
        let frozen: Vec<String> = self
            .redis
            .script(
                &self.scripts.freeze,
                &[k.prequeue(), k.shuffled()],
                &[RECORD_TTL_SECONDS.to_string()],
            )
            .await?;
        if frozen.first().map(String::as_str) == Some("done") {
            return Ok(ShuffleOutcome::AlreadyDone);
        }
        let tickets = parse_ids(frozen.get(1..).unwrap_or_default())?;
        let order = lottery_order(seed, &tickets);
        let mut args = vec![k.ticket_prefix(), RECORD_TTL_SECONDS.to_string()];
        args.extend(order.iter().map(ToString::to_string));
        let keys = [
            k.waiting(),
            k.prequeue(),
            k.shuffled(),
            k.stats(),
            k.lottery(),
        ];
        let queued: i64 = self
            .redis
            .script(&self.scripts.shuffle, &keys, &args)
            .await?;
        match queued {
            -1 => Ok(ShuffleOutcome::AlreadyDone),
            n if n >= 0 => Ok(ShuffleOutcome::Applied {
                queued: n.unsigned_abs(),
                total: order.len() as u64,
            }),
            _ => Err(StoreError::Internal(anyhow::anyhow!(
                "shuffle.lua refused the frozen pre-queue of {event}"
            ))),
        }
    }

    /// The lottery record of `event`: `None` until the shuffle was applied.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable; [`StoreError::Internal`] on a
    /// malformed record.
    pub async fn lottery(&self, event: &EventId) -> Result<Option<Lottery>, StoreError> {
        let k = self.keys(event);
        let (marker, tickets, order): (Option<String>, Vec<String>, Vec<String>) = self
            .redis
            .call(|mut c| async move {
                redis::pipe()
                    .get(k.shuffled())
                    .zrange(k.prequeue(), 0, -1)
                    .lrange(k.lottery(), 0, -1)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        if marker.as_deref() != Some("done") {
            return Ok(None);
        }
        Ok(Some(Lottery::new(parse_ids(&tickets)?, parse_ids(&order)?)))
    }
}

fn parse_ids(raw: &[String]) -> Result<Vec<TicketId>, StoreError> {
    raw.iter()
        .map(|s| {
            s.parse()
                .map_err(|e| StoreError::Internal(anyhow::anyhow!("ticket id {s:?} in Redis: {e}")))
        })
        .collect()
}
