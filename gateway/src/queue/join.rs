//! Joining a queue: a new ticket at the back (`join_group.lua`, in a group commit:
//! `group_commit.rs`), or the same ticket and place on a rejoin with a valid queue token
//! (`join.lua`).

use super::{Queue, TicketState};
use crate::adapters::redis_store::StoreError;
use protocol::ids::{EventId, TicketId};

/// Result of a join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinOutcome {
    /// The ticket (new, or the rejoining one).
    pub ticket: TicketId,
    /// Its arrival number.
    pub seq: u64,
    /// `true` for a new ticket (`201`), `false` for a rejoin (`200`).
    pub created: bool,
    /// The ticket's state: `Prequeue` or `Waiting` for a new ticket; a rejoin may also
    /// find it `Admitted`.
    pub state: TicketState,
}

impl Queue {
    /// Joins `event`'s queue; `prequeue` puts the ticket in the pre-queue (before
    /// `opens_at`), unless the shuffle already ran. `rejoin` is the ticket of a valid
    /// queue token: kept if it still waits or holds a live pass. A join without one is
    /// committed with the other joins in flight ([`group_commit`](super::group_commit)).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable.
    pub async fn join(
        &self,
        event: &EventId,
        prequeue: bool,
        rejoin: Option<TicketId>,
    ) -> Result<JoinOutcome, StoreError> {
        if rejoin.is_some() {
            return self
                .join_with(event, prequeue, rejoin, TicketId::new())
                .await;
        }
        let ticket = TicketId::new();
        let committed = self.commits.join(event, prequeue, ticket).await?;
        Ok(JoinOutcome {
            ticket,
            seq: committed.seq,
            created: true,
            state: committed.state,
        })
    }

    /// As [`Queue::join`], with the id a new ticket gets. Identity joins pass
    /// `rejoin = Some(t)` and `new_ticket = t` (see `identity.rs`): `t` is kept if live,
    /// else created, exactly once even under concurrent calls (the script is atomic).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable.
    #[tracing::instrument(level = "debug", skip_all, fields(event_id = %event))]
    pub async fn join_with(
        &self,
        event: &EventId,
        prequeue: bool,
        rejoin: Option<TicketId>,
        new_ticket: TicketId,
    ) -> Result<JoinOutcome, StoreError> {
        let k = self.keys(event);
        let existing = rejoin.unwrap_or(new_ticket);
        let keys = [
            k.seq(),
            k.waiting(),
            k.prequeue(),
            k.shuffled(),
            k.ticket(&new_ticket),
            k.ticket(&existing),
            k.epoch(),
            k.restoring(),
        ];
        let args = [
            if prequeue { "prequeue" } else { "open" }.to_string(),
            new_ticket.to_string(),
            rejoin.map(|t| t.to_string()).unwrap_or_default(),
            self.ticket_ttl_seconds.to_string(),
            self.floors.get(event).to_string(),
            super::restore::RESTORE_GRACE_MS.to_string(),
        ];
        let (created, ticket, seq, state): (u8, String, u64, String) =
            self.redis.script(&self.scripts.join, &keys, &args).await?;
        let ticket = ticket
            .parse()
            .map_err(|e| StoreError::Internal(anyhow::anyhow!("join.lua ticket id: {e}")))?;
        self.floors.raise(event, seq);
        Ok(JoinOutcome {
            ticket,
            seq,
            created: created == 1,
            state: TicketState::parse(&state)?,
        })
    }
}
