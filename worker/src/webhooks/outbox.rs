//! The outbox: the messages of a batch's decisions, written by the group commit in its
//! own transaction (so a message exists exactly when its decision committed), with one
//! delivery row per message and matching endpoint.
//!
//! Per event, `webhook_sequences` keeps the last sequence number, the seats sold (to
//! announce the sale of the last seat without counting claims in every batch) and the
//! admin state (to announce changes of it). The shard is the single writer of its
//! events, so these rows need no lock beyond the transaction's fencing check. The first
//! batch of an event that predates the table counts its seats and sold claims once.
//!
//! Four statements per batch that has messages: read the events' state and the live
//! endpoints that may want them, upsert the sequences, insert the messages some endpoint
//! matches with their deliveries (one statement, a CTE; skipped when none does). A
//! message already stored for the same decision and type is skipped
//! (`UNIQUE (type, subject)`).

use super::payload::{
    admin_state_str, Message, EVENT_SOLD_OUT, EVENT_STATE_CHANGED, ORDER_CANCELLED, ORDER_CONFIRMED,
};
use crate::engine::Effect;
use chrono::{DateTime, Utc};
use protocol::ids::EventId;
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// What the outbox tracks of one event across batches.
#[derive(Debug, Clone)]
struct Lane {
    currency: String,
    last_seq: i64,
    seats_total: i64,
    seats_sold: i64,
    admin_state: String,
}

/// A live endpoint that may receive messages of the batch's events: the event it is
/// limited to (`None`: every event) and the types it asked for (`None`: every type).
type Audience = (Option<Uuid>, Option<Vec<String>>);

/// The messages of one batch, numbered per event as they are built from the effects
/// (in decision order) on top of what the outbox knew of each event before the batch.
///
/// Every message takes its sequence number, but only those that some live endpoint
/// matches are kept as rows: a message nobody receives would never be sent (an endpoint
/// created later gets no older messages) and would only be pruned again, and for a
/// venue without endpoints it would be an outbox row per hold in every group commit.
#[derive(Debug, Default)]
pub struct Batch {
    lanes: HashMap<Uuid, Lane>,
    audience: Vec<Audience>,
    rows: Vec<(Message, i64)>,
}

impl Batch {
    fn lane(&mut self, event_id: EventId) -> Option<&mut Lane> {
        self.lanes.get_mut(&event_id.0)
    }

    /// Numbers the next message of type `kind` on `event`, and builds and keeps it (with
    /// the event's currency) only if some endpoint wants it: a hold's message costs
    /// nothing in a group commit when no endpoint listens.
    fn push(&mut self, event: EventId, kind: &str, build: impl FnOnce(&str) -> Option<Message>) {
        let Some(lane) = self.lanes.get_mut(&event.0) else {
            return;
        };
        lane.last_seq += 1;
        let seq = lane.last_seq;
        if wanted(&self.audience, event, kind) {
            if let Some(message) = build(&lane.currency) {
                self.rows.push((message, seq));
            }
        }
    }

    /// Adds the messages of one effect, in decision order.
    pub fn add(&mut self, effect: &Effect) {
        match effect {
            Effect::HoldCreated(view) | Effect::HoldEnded(view) => {
                if let Some(kind) = Message::hold_kind(view.hold.state) {
                    self.push(view.hold.event_id, kind, |currency| {
                        Message::hold(view, currency)
                    });
                }
            }
            Effect::OrderConfirmed {
                hold,
                order,
                payment_ref,
            } => {
                self.push(order.event_id, ORDER_CONFIRMED, |currency| {
                    Some(Message::order_confirmed(
                        order,
                        hold.ticket_id,
                        payment_ref,
                        currency,
                    ))
                });
                let seats = i64::try_from(order.seats.len()).unwrap_or(i64::MAX);
                let Some(lane) = self.lane(order.event_id) else {
                    return;
                };
                let before = lane.seats_sold;
                lane.seats_sold += seats;
                let total = lane.seats_total;
                if before < total && lane.seats_sold >= total {
                    self.push(order.event_id, EVENT_SOLD_OUT, |_| {
                        Some(Message::sold_out(order, total))
                    });
                }
            }
            Effect::EventUpdated(config) => {
                let state = admin_state_str(config.admin_state);
                let Some(lane) = self.lane(config.id) else {
                    return;
                };
                if lane.admin_state != state {
                    let previous = std::mem::replace(&mut lane.admin_state, state.to_owned());
                    self.push(config.id, EVENT_STATE_CHANGED, |_| {
                        Some(Message::state_changed(
                            config.id,
                            &previous,
                            state,
                            config.version,
                        ))
                    });
                }
            }
            Effect::OrderCancelled {
                order, ticket_id, ..
            } => {
                let at = order.cancelled_at.unwrap_or(order.confirmed_at);
                self.order_cancelled(order, *ticket_id, at);
            }
            Effect::EventCreated(_) | Effect::Result(_) => {}
        }
    }

    /// `order.cancelled` for `order` (of `ticket_id`) cancelled at `at`; its seats count
    /// as unsold again, so selling the last one again announces `event.sold_out` again.
    pub fn order_cancelled(
        &mut self,
        order: &protocol::reply::Order,
        ticket_id: protocol::ids::TicketId,
        at: DateTime<Utc>,
    ) {
        self.push(order.event_id, ORDER_CANCELLED, |currency| {
            Some(Message::order_cancelled(order, ticket_id, at, currency))
        });
        if let Some(lane) = self.lane(order.event_id) {
            let seats = i64::try_from(order.seats.len()).unwrap_or(i64::MAX);
            lane.seats_sold = (lane.seats_sold - seats).max(0);
        }
    }
}

/// An event's row as read before the batch: id, currency, admin state in `events`,
/// then the sequence, seats total and sold, and the admin state the outbox last saw.
type LaneRow = (Uuid, Option<String>, String, i64, i64, i64, Option<String>);

/// Whether some endpoint of `audience` matches a message of type `kind` on `event` (the
/// rule the deliveries' insert joins on).
fn wanted(audience: &[Audience], event: EventId, kind: &str) -> bool {
    audience.iter().any(|(limited_to, types)| {
        limited_to.is_none_or(|e| e == event.0)
            && types.as_ref().is_none_or(|t| t.iter().any(|k| k == kind))
    })
}

/// Whether an effect can give a message (so a batch without any reads nothing).
fn announces(effect: &Effect) -> bool {
    !matches!(effect, Effect::EventCreated(_) | Effect::Result(_))
}

/// Writes the messages of `effects` (decided at `now`, in decision order) for `shard`
/// inside the batch's transaction `tx`. Call it after the batch's new events are
/// inserted and before the changed ones are updated (it reads their admin state as it
/// was before the batch).
///
/// # Errors
/// Any PostgreSQL error: the caller's transaction fails with it, so neither the
/// decisions nor their messages are stored.
pub(crate) async fn write(
    tx: &mut PgConnection,
    shard: u16,
    effects: &[Effect],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut events: Vec<Uuid> = effects
        .iter()
        .filter(|e| announces(e))
        .map(|e| e.event_id().0)
        .collect();
    if events.is_empty() {
        return Ok(());
    }
    events.sort_unstable();
    events.dedup();
    let mut batch = Batch::default();
    let lanes: Vec<LaneRow> = sqlx::query_as(
        "SELECT e.id, e.spec->>'currency', e.admin_state,
                    COALESCE(s.last_seq, 0),
                    COALESCE(s.seats_total, (SELECT count(*) FROM seats t WHERE t.event_id = e.id)),
                    COALESCE(s.seats_sold, (SELECT count(*) FROM seat_claims c
                                            WHERE c.event_id = e.id AND c.state = 'sold')),
                    s.admin_state
             FROM events e LEFT JOIN webhook_sequences s ON s.event_id = e.id
             WHERE e.id = ANY($1)",
    )
    .bind(&events)
    .fetch_all(&mut *tx)
    .await?;
    batch.audience = sqlx::query_as(
        "SELECT event_id, types FROM webhook_endpoints
         WHERE deleted_at IS NULL AND (event_id IS NULL OR event_id = ANY($1))",
    )
    .bind(&events)
    .fetch_all(&mut *tx)
    .await?;
    for (id, currency, state, last_seq, seats_total, seats_sold, known_state) in lanes {
        let lane = Lane {
            currency: currency.unwrap_or_else(|| "USD".into()),
            last_seq,
            seats_total,
            seats_sold,
            admin_state: known_state.unwrap_or(state),
        };
        batch.lanes.insert(id, lane);
    }
    for e in effects {
        batch.add(e);
    }
    store(tx, shard, &batch, now).await
}

/// Upserts the sequences, then inserts the messages and their deliveries.
async fn store(
    tx: &mut PgConnection,
    shard: u16,
    batch: &Batch,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut ids = Vec::with_capacity(batch.lanes.len());
    let (mut seqs, mut totals, mut sold, mut states) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, lane) in &batch.lanes {
        ids.push(*id);
        seqs.push(lane.last_seq);
        totals.push(lane.seats_total);
        sold.push(lane.seats_sold);
        states.push(lane.admin_state.as_str());
    }
    sqlx::query(
        "INSERT INTO webhook_sequences (event_id, last_seq, seats_total, seats_sold, admin_state)
         SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[])
         ON CONFLICT (event_id) DO UPDATE
         SET last_seq = EXCLUDED.last_seq, seats_sold = EXCLUDED.seats_sold,
             admin_state = EXCLUDED.admin_state",
    )
    .bind(&ids)
    .bind(&seqs)
    .bind(&totals)
    .bind(&sold)
    .bind(&states)
    .execute(&mut *tx)
    .await?;
    if batch.rows.is_empty() {
        return Ok(());
    }
    let rows = &batch.rows;
    sqlx::query(
        "WITH stored AS (
             INSERT INTO webhook_outbox (id, event_id, shard, seq, type, subject, body, created_at)
             SELECT id, event_id, $1, seq, type, subject, body, $8
             FROM UNNEST($2::uuid[], $3::uuid[], $4::bigint[], $5::text[], $6::text[],
                         $7::text[]) AS m(id, event_id, seq, type, subject, body)
             ON CONFLICT DO NOTHING
             RETURNING id, event_id, seq, type
         )
         INSERT INTO webhook_deliveries (id, endpoint_id, message_id, event_id, shard, seq,
                                         state, next_attempt_at, created_at, updated_at)
         SELECT gen_random_uuid(), w.id, m.id, m.event_id, $1, m.seq, 'pending', $8, $8, $8
         FROM stored m JOIN webhook_endpoints w
           ON w.deleted_at IS NULL
          AND (w.event_id IS NULL OR w.event_id = m.event_id)
          AND (w.types IS NULL OR m.type = ANY(w.types))",
    )
    .bind(i32::from(shard))
    .bind(rows.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(m, _)| m.event_id.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, seq)| *seq).collect::<Vec<_>>())
    .bind(rows.iter().map(|(m, _)| m.kind).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|(m, _)| m.subject.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|(m, seq)| m.body(*seq, now))
            .collect::<Vec<_>>(),
    )
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
