//! Leaving a queue (`leave.lua`): the place (or the pass) is given up, and a live pass is
//! revoked (the revoked set, read by [`Queue::pass_revoked`]).

use super::Queue;
use crate::adapters::redis_store::StoreError;
use protocol::ids::{EventId, TicketId};

impl Queue {
    /// Removes `ticket` from `event`'s queue, pre-queue and active passes, and revokes its
    /// pass if it holds a live one; `true` if the ticket existed. Idempotent.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable.
    #[tracing::instrument(level = "debug", skip_all, fields(event_id = %event, ticket_id = %ticket))]
    pub async fn leave(&self, event: &EventId, ticket: &TicketId) -> Result<bool, StoreError> {
        let k = self.keys(event);
        let keys = [
            k.ticket(ticket),
            k.waiting(),
            k.prequeue(),
            k.active(),
            k.shuffled(),
            k.revoked(),
        ];
        let existed: u8 = self
            .redis
            .script(&self.scripts.leave, &keys, &[ticket.to_string()])
            .await?;
        Ok(existed == 1)
    }

    /// Whether the pass of `ticket` for `event` was given up (its fan left the queue
    /// while admitted). One Redis call (`ZSCORE`); an entry whose pass has expired may
    /// still answer `true`, which changes nothing (the pass itself has expired).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable.
    pub async fn pass_revoked(
        &self,
        event: &EventId,
        ticket: &TicketId,
    ) -> Result<bool, StoreError> {
        let key = self.keys(event).revoked();
        let member = ticket.to_string();
        let score: Option<f64> = self
            .redis
            .call(|mut c| async move {
                redis::cmd("ZSCORE")
                    .arg(&key)
                    .arg(&member)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(score.is_some())
    }

    /// The tickets whose pass for `event` is revoked and not yet expired (the revoked
    /// set's members scored after now): one `ZRANGEBYSCORE`. Members that are not
    /// ticket ids are skipped.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable.
    pub async fn revoked_passes(&self, event: &EventId) -> Result<Vec<TicketId>, StoreError> {
        let key = self.keys(event).revoked();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let members: Vec<String> = self
            .redis
            .call(|mut c| async move {
                redis::cmd("ZRANGEBYSCORE")
                    .arg(&key)
                    .arg(now_ms)
                    .arg("+inf")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(members.iter().filter_map(|m| m.parse().ok()).collect())
    }
}
