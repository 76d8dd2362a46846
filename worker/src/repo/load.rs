//! Rebuilding a shard's engine from PostgreSQL (takeover, and after a failed commit).
//!
//! Five bulk reads for all of the shard's events: events, claims, holds (active ones,
//! and finished ones recent enough that a pass could still ask about them), orders
//! (with their seats, so a cancel can put them back on sale), and idempotency keys
//! still in their retention window.

use super::results::outcome_from_stored;
use super::Repository;
use crate::engine::{
    Engine, EventState, Restore, RestoredHold, RestoredKey, RestoredOrder, SeatStatus,
};
use chrono::{DateTime, Duration, Utc};
use protocol::event::{AdminState, EventConfig, EventSpec};
use protocol::ids::{EventId, HoldId, OrderId, TicketId};
use protocol::reply::HoldState;
use std::collections::HashMap;
use tracing::instrument;
use uuid::Uuid;

/// Finished holds younger than this are loaded (a pass lives at most a day, a hold an
/// hour: older holds cannot be asked about by a valid pass).
const FINISHED_HOLD_WINDOW_HOURS: i64 = 25;

#[derive(sqlx::FromRow)]
struct EventRow {
    id: Uuid,
    spec: sqlx::types::Json<EventSpec>,
    admin_state: String,
    shuffle_seed: Option<String>,
    shuffle_commitment: Option<String>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct HoldRow {
    id: Uuid,
    event_id: Uuid,
    ticket_id: Uuid,
    state: String,
    seats: Vec<String>,
    total_cents: i64,
    expires_at: DateTime<Utc>,
    user_ref: Option<String>,
}

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: Uuid,
    event_id: Uuid,
    hold_id: Uuid,
    ticket_id: Uuid,
    seats: Vec<String>,
    total_cents: i64,
    confirmed_at: DateTime<Utc>,
    cancelled_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    event_id: Uuid,
    ticket_id: Uuid,
    idempotency_key: String,
    fingerprint: String,
    kind: String,
    status: i32,
    body: serde_json::Value,
}

fn admin_state(s: &str) -> AdminState {
    match s {
        "paused" => AdminState::Paused,
        "closed" => AdminState::Closed,
        "archived" => AdminState::Archived,
        _ => AdminState::Open,
    }
}

pub(super) fn hold_state(s: &str) -> HoldState {
    match s {
        "held" => HoldState::Held,
        "confirmed" => HoldState::Confirmed,
        "released" => HoldState::Released,
        _ => HoldState::Expired,
    }
}

impl Repository {
    /// Rebuilds the engine of `shard` for the session holding `epoch`. An event whose
    /// rows contradict each other is logged and left out (its commands get `404`)
    /// rather than served wrong.
    ///
    /// # Errors
    /// PostgreSQL unreachable.
    #[instrument(skip_all, fields(shard = shard, epoch = epoch))]
    pub async fn load_shard(&self, shard: u16, epoch: i64) -> Result<Engine, sqlx::Error> {
        let mut engine = Engine::new(u64::try_from(epoch).unwrap_or(0));
        let events: Vec<EventRow> = sqlx::query_as(
            "SELECT id, spec, admin_state, shuffle_seed, shuffle_commitment, version,
                    created_at, updated_at
             FROM events WHERE shard = $1",
        )
        .bind(i32::from(shard))
        .fetch_all(self.pool())
        .await?;
        if events.is_empty() {
            return Ok(engine);
        }
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let mut restores: HashMap<Uuid, Restore> = events
            .into_iter()
            .map(|e| {
                let config = EventConfig {
                    id: EventId(e.id),
                    spec: e.spec.0,
                    admin_state: admin_state(&e.admin_state),
                    shuffle_commitment: e.shuffle_commitment,
                    shuffle_seed: e.shuffle_seed,
                    version: u64::try_from(e.version).unwrap_or(1),
                    created_at: e.created_at,
                    updated_at: e.updated_at,
                };
                let r = Restore {
                    config,
                    claims: Vec::new(),
                    holds: Vec::new(),
                    orders: Vec::new(),
                    keys: Vec::new(),
                };
                (e.id, r)
            })
            .collect();

        let claims: Vec<(Uuid, String, String)> = sqlx::query_as(
            "SELECT event_id, seat_id, state FROM seat_claims WHERE event_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(self.pool())
        .await?;
        for (event, seat, state) in claims {
            let status = if state == "sold" {
                SeatStatus::Sold
            } else {
                SeatStatus::Held
            };
            if let Some(r) = restores.get_mut(&event) {
                r.claims.push((seat, status));
            }
        }

        let finished_since = Utc::now() - Duration::hours(FINISHED_HOLD_WINDOW_HOURS);
        let holds: Vec<HoldRow> = sqlx::query_as(
            "SELECT id, event_id, ticket_id, state,
                    CASE WHEN state = 'held' THEN seats ELSE '{}'::text[] END AS seats,
                    total_cents, expires_at, user_ref
             FROM holds
             WHERE event_id = ANY($1) AND (state = 'held' OR updated_at > $2)",
        )
        .bind(&ids)
        .bind(finished_since)
        .fetch_all(self.pool())
        .await?;
        for h in holds {
            if let Some(r) = restores.get_mut(&h.event_id) {
                r.holds.push(RestoredHold {
                    id: HoldId(h.id),
                    ticket_id: TicketId(h.ticket_id),
                    state: hold_state(&h.state),
                    expires_at: h.expires_at,
                    total_cents: h.total_cents,
                    seats: h.seats,
                    user_ref: h.user_ref,
                });
            }
        }

        let orders: Vec<OrderRow> = sqlx::query_as(
            "SELECT id, event_id, hold_id, ticket_id, seats, total_cents, confirmed_at,
                    cancelled_at
             FROM orders WHERE event_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(self.pool())
        .await?;
        for o in orders {
            if let Some(r) = restores.get_mut(&o.event_id) {
                r.orders.push(RestoredOrder {
                    id: OrderId(o.id),
                    hold_id: HoldId(o.hold_id),
                    ticket_id: TicketId(o.ticket_id),
                    seats: o.seats,
                    total_cents: o.total_cents,
                    confirmed_at: o.confirmed_at,
                    cancelled_at: o.cancelled_at,
                });
            }
        }

        let keys_since = Utc::now()
            - Duration::seconds(i64::try_from(protocol::names::RESULT_TTL_SECONDS).unwrap_or(0));
        let keys: Vec<KeyRow> = sqlx::query_as(
            "SELECT event_id, ticket_id, idempotency_key, fingerprint, kind, status, body
             FROM request_results
             WHERE event_id = ANY($1) AND idempotency_key IS NOT NULL
               AND ticket_id IS NOT NULL AND created_at > $2",
        )
        .bind(&ids)
        .bind(keys_since)
        .fetch_all(self.pool())
        .await?;
        for k in keys {
            let Some(r) = restores.get_mut(&k.event_id) else {
                continue;
            };
            match outcome_from_stored(&k.kind, k.status, k.body) {
                Ok(outcome) => r.keys.push(RestoredKey {
                    ticket_id: TicketId(k.ticket_id),
                    key: k.idempotency_key,
                    fingerprint: k.fingerprint,
                    outcome,
                }),
                Err(e) => {
                    tracing::error!(event_id = %k.event_id, error = %e, "undecodable idempotency result")
                }
            }
        }

        for (_, r) in restores {
            match EventState::restore(r) {
                Ok(ev) => engine.insert(ev),
                Err(e) => tracing::error!(error = %e, "event not loaded"),
            }
        }
        Ok(engine)
    }
}
