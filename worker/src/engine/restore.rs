//! Rebuilding an event's state from what PostgreSQL holds (shard takeover, and after a
//! failed group commit). The repository reads rows; this module turns them into an
//! [`EventState`] and checks that claims and holds agree.

use super::event::{EventState, HoldRecord, Keyed, OrderRecord, SeatStatus};
use chrono::{DateTime, Utc};
use protocol::event::EventConfig;
use protocol::ids::{HoldId, OrderId, TicketId};
use protocol::reply::{HoldState, Outcome};

/// A hold row.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredHold {
    /// Hold id.
    pub id: HoldId,
    /// Owner.
    pub ticket_id: TicketId,
    /// State.
    pub state: HoldState,
    /// Deadline.
    pub expires_at: DateTime<Utc>,
    /// Sum of seat prices, in cents.
    pub total_cents: i64,
    /// Seat ids (needed for active holds only; may be empty for finished ones).
    pub seats: Vec<String>,
    /// The fan's user reference from a signed join, if any.
    pub user_ref: Option<String>,
}

/// An order row.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredOrder {
    /// Order id.
    pub id: OrderId,
    /// The confirmed hold.
    pub hold_id: HoldId,
    /// The ticket that bought it.
    pub ticket_id: TicketId,
    /// Seat ids bought.
    pub seats: Vec<String>,
    /// Amount, in the currency's minor unit.
    pub total_cents: i64,
    /// When it was confirmed.
    pub confirmed_at: DateTime<Utc>,
    /// When the venue cancelled it, if it did.
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// An idempotency key with the first outcome it got.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredKey {
    /// The ticket that used it.
    pub ticket_id: TicketId,
    /// The client's key.
    pub key: String,
    /// Hex SHA-256 of the first request's body.
    pub fingerprint: String,
    /// The first outcome.
    pub outcome: Outcome,
}

/// Everything persisted about one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Restore {
    /// The configuration row.
    pub config: EventConfig,
    /// Seat claims: seat id and `Held` or `Sold`.
    pub claims: Vec<(String, SeatStatus)>,
    /// Holds (all active ones, and recently finished ones).
    pub holds: Vec<RestoredHold>,
    /// Every order of the event, cancelled ones included.
    pub orders: Vec<RestoredOrder>,
    /// Idempotency keys in use.
    pub keys: Vec<RestoredKey>,
}

/// Persisted rows that contradict each other (a bug or manual edits); the event is not
/// loaded rather than served wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("inconsistent state of event {event}: {problem}")]
pub struct RestoreError {
    /// The event.
    pub event: String,
    /// What does not add up.
    pub problem: String,
}

impl EventState {
    /// Rebuilds the state of `r.config.id` from its rows.
    ///
    /// # Errors
    /// [`RestoreError`] if a claim or hold names an unknown seat, or the seats claimed
    /// `held` are not exactly the seats of the active holds.
    pub fn restore(r: Restore) -> Result<Self, RestoreError> {
        let event = r.config.id.to_string();
        let fail = |problem: String| RestoreError {
            event: event.clone(),
            problem,
        };
        let mut ev = EventState::new(r.config);
        let mut claimed_held = Vec::new();
        for (seat_id, status) in &r.claims {
            let idx = ev
                .layout
                .locate(seat_id)
                .ok_or_else(|| fail(format!("claim of unknown seat {seat_id}")))?;
            match status {
                SeatStatus::Sold => ev.set_seat(idx, SeatStatus::Sold),
                SeatStatus::Held => claimed_held.push(idx),
                SeatStatus::Available => {}
            }
        }
        for h in r.holds {
            let mut seats = Vec::new();
            if h.state == HoldState::Held {
                for seat_id in &h.seats {
                    let idx = ev
                        .layout
                        .locate(seat_id)
                        .ok_or_else(|| fail(format!("hold {} of unknown seat {seat_id}", h.id)))?;
                    if ev.seats[idx] != SeatStatus::Available {
                        return Err(fail(format!("seat {seat_id} claimed twice")));
                    }
                    ev.set_seat(idx, SeatStatus::Held);
                    seats.push(idx as u32);
                }
                ev.deadlines.insert((h.expires_at, h.id));
                ev.counts.holds_active += 1;
                ev.tickets.entry(h.ticket_id).or_default().held_seats += seats.len() as u32;
            }
            ev.holds.insert(
                h.id,
                HoldRecord {
                    ticket_id: h.ticket_id,
                    state: h.state,
                    expires_at: h.expires_at,
                    total_cents: h.total_cents,
                    seats: seats.into_boxed_slice(),
                    user_ref: h.user_ref.filter(|_| h.state == HoldState::Held),
                },
            );
        }
        claimed_held.sort_unstable();
        let mut held: Vec<usize> = (0..ev.seats.len())
            .filter(|&i| ev.seats[i] == SeatStatus::Held)
            .collect();
        held.sort_unstable();
        if claimed_held != held {
            return Err(fail(format!(
                "{} seats claimed as held but {} seats in active holds",
                claimed_held.len(),
                held.len()
            )));
        }
        for o in r.orders {
            let mut seats = Vec::with_capacity(o.seats.len());
            for seat_id in &o.seats {
                let idx = ev
                    .layout
                    .locate(seat_id)
                    .ok_or_else(|| fail(format!("order {} of unknown seat {seat_id}", o.id)))?;
                seats.push(idx as u32);
            }
            ev.tickets.entry(o.ticket_id).or_default().has_order = true;
            if o.cancelled_at.is_none() {
                ev.counts.orders += 1;
            }
            ev.orders.insert(
                o.id,
                OrderRecord {
                    hold_id: o.hold_id,
                    ticket_id: o.ticket_id,
                    seats: seats.into_boxed_slice(),
                    total_cents: o.total_cents,
                    confirmed_at: o.confirmed_at,
                    cancelled_at: o.cancelled_at,
                },
            );
        }
        for k in r.keys {
            ev.keyed.entry(k.ticket_id).or_default().insert(
                k.key,
                Keyed {
                    fingerprint: k.fingerprint,
                    outcome: k.outcome,
                },
            );
        }
        Ok(ev)
    }
}
