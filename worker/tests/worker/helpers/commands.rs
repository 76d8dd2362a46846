//! The commands the tests send most: a hold of one seat and its confirmation, as the
//! gateway would build them.

use super::{TestEnv, SHARDS};
use protocol::command::{Command, Idempotency, SeatSelection};
use protocol::ids::{EventId, HoldId, TicketId};

/// A hold of `seat` (`A-1-1`) for `ticket`, without an idempotency key.
pub(crate) fn hold_for(ticket: TicketId, seat: &str) -> Command {
    keyed_hold(ticket, seat, None)
}

/// A hold of `seat` for a fresh ticket.
pub(crate) fn hold(seat: &str) -> Command {
    hold_for(TicketId::new(), seat)
}

/// A hold of `seat` for `ticket` with an optional `(idempotency key, fingerprint)`.
pub(crate) fn keyed_hold(ticket: TicketId, seat: &str, key: Option<(&str, &str)>) -> Command {
    Command::Hold {
        ticket_id: ticket,
        selection: SeatSelection::Seats {
            seats: vec![seat.parse().unwrap()],
        },
        idempotency: key.map(|(k, f)| Idempotency {
            key: k.parse().unwrap(),
            fingerprint: f.parse().unwrap(),
        }),
        user_ref: None,
    }
}

/// The confirmation of `hold` by `ticket`, paid with `payment_ref`, without an
/// idempotency key.
pub(crate) fn confirm(ticket: TicketId, hold: HoldId, payment_ref: &str) -> Command {
    Command::Confirm {
        ticket_id: ticket,
        hold_id: hold,
        payment_ref: payment_ref.parse().unwrap(),
        idempotency: None,
        by: Default::default(),
    }
}

impl TestEnv {
    /// The fencing epoch stored for the shard of `event`.
    pub(crate) async fn shard_epoch(&self, event: EventId) -> i64 {
        sqlx::query_scalar("SELECT epoch FROM shard_epochs WHERE shard = $1")
            .bind(i32::from(protocol::shard_of(&event, SHARDS)))
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}
