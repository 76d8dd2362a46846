//! Leaving a queue (`leave.lua`): the place (or the pass) is given up.

use super::Queue;
use crate::error::ApiError;
use protocol::ids::{EventId, TicketId};

impl Queue {
    /// Removes `ticket` from `event`'s queue, pre-queue and active passes; `true` if the
    /// ticket existed. Idempotent.
    ///
    /// # Errors
    /// `503` if Redis is unavailable.
    #[tracing::instrument(level = "debug", skip_all, fields(event_id = %event, ticket_id = %ticket))]
    pub async fn leave(&self, event: &EventId, ticket: &TicketId) -> Result<bool, ApiError> {
        let k = self.keys(event);
        let keys = [
            k.ticket(ticket),
            k.waiting(),
            k.prequeue(),
            k.active(),
            k.shuffled(),
        ];
        let existed: u8 = self
            .redis
            .script(&self.scripts.leave, &keys, &[ticket.to_string()])
            .await?;
        Ok(existed == 1)
    }
}
