//! Holds that changed lately, read back so a new owner of a shard can rewrite their
//! Redis documents: the previous owner may have died between a commit and its Redis
//! writes (or with writes queued while Redis was down), leaving `GET /v1/holds/{id}`
//! with a stale state and a used pass in `active(E)`.

use super::load::hold_state;
use super::Repository;
use chrono::{DateTime, Utc};
use protocol::ids::{EventId, HoldId, TicketId};
use protocol::reply::{Hold, StoredHold};
use tracing::instrument;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    event_id: Uuid,
    ticket_id: Uuid,
    seats: Vec<String>,
    state: String,
    expires_at: DateTime<Utc>,
    total_cents: i64,
    user_ref: Option<String>,
}

impl Repository {
    /// Every hold of `shard`'s events created or changed after `since`, as its Redis
    /// document.
    ///
    /// # Errors
    /// PostgreSQL unreachable.
    #[instrument(skip_all, fields(shard = shard))]
    pub async fn holds_changed_since(
        &self,
        shard: u16,
        since: DateTime<Utc>,
    ) -> Result<Vec<StoredHold>, sqlx::Error> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT h.id, h.event_id, h.ticket_id, h.seats, h.state, h.expires_at,
                    h.total_cents, h.user_ref
             FROM holds h JOIN events e ON e.id = h.event_id
             WHERE e.shard = $1 AND h.updated_at > $2",
        )
        .bind(i32::from(shard))
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| StoredHold {
                ticket_id: TicketId(r.ticket_id),
                hold: Hold {
                    id: HoldId(r.id),
                    event_id: EventId(r.event_id),
                    seats: r.seats,
                    state: hold_state(&r.state),
                    expires_at: r.expires_at,
                    total_cents: r.total_cents,
                },
                user_ref: r.user_ref,
            })
            .collect())
    }
}
