//! One event's in-memory state, owned by the shard that is its single writer.
//!
//! - seat statuses: a `Vec` indexed like `Seating::locate`, with per-row free counts;
//! - holds: every hold of the session (finished ones keep only owner and state, for the
//!   404/409/410 distinctions), plus a min-ordered deadline index of the active ones;
//! - per ticket: seats in active holds and whether it has an order (pass used up);
//! - idempotency keys per ticket with their first outcome, and recent request outcomes.

use super::effect::Effect;
use super::layout::Layout;
use super::recent::Recent;
use chrono::{DateTime, Utc};
use protocol::availability::{status, Availability, SectionAvailability};
use protocol::event::EventConfig;
use protocol::ids::{HoldId, OrderId, TicketId};
use protocol::reply::{Hold, HoldState, Order, Outcome, StoredHold};
use std::collections::{BTreeSet, HashMap};

/// Status of one seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SeatStatus {
    /// Free to hold.
    Available,
    /// In an active hold.
    Held,
    /// In a confirmed order.
    Sold,
}

/// A hold as the engine keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HoldRecord {
    pub(crate) ticket_id: TicketId,
    pub(crate) state: HoldState,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) total_cents: i64,
    /// Seat indices in the order asked for; emptied once the hold is finished.
    pub(crate) seats: Box<[u32]>,
    /// The fan's user reference from a signed join, if any (shown to the venue only);
    /// dropped, like the seats, once the hold is finished.
    pub(crate) user_ref: Option<String>,
}

/// An order as the engine keeps it: enough to cancel it and to answer a second cancel
/// with the same order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrderRecord {
    pub(crate) hold_id: HoldId,
    pub(crate) ticket_id: TicketId,
    /// Seat indices bought, in the hold's order (kept after a cancel, for the view).
    pub(crate) seats: Box<[u32]>,
    pub(crate) total_cents: i64,
    pub(crate) confirmed_at: DateTime<Utc>,
    /// When the venue cancelled it; its seats are available again from then.
    pub(crate) cancelled_at: Option<DateTime<Utc>>,
}

/// Per-ticket counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TicketState {
    /// Seats in the ticket's active holds.
    pub(crate) held_seats: u32,
    /// The ticket has a confirmed order: its pass is used up.
    pub(crate) has_order: bool,
}

/// The first outcome of an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Keyed {
    pub(crate) fingerprint: String,
    pub(crate) outcome: Outcome,
}

/// Seat and hold counts of an event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Seats available.
    pub available: u64,
    /// Seats in active holds.
    pub held: u64,
    /// Seats sold.
    pub sold: u64,
    /// Active holds.
    pub holds_active: u64,
    /// Confirmed orders that stand (cancelled ones are not counted).
    pub orders: u64,
}

/// The state of one event.
#[derive(Debug, Clone)]
pub struct EventState {
    pub(crate) config: EventConfig,
    pub(crate) layout: Layout,
    pub(crate) seats: Vec<SeatStatus>,
    pub(crate) row_available: Vec<u32>,
    pub(crate) counts: Counts,
    pub(crate) holds: HashMap<HoldId, HoldRecord>,
    pub(crate) orders: HashMap<OrderId, OrderRecord>,
    pub(crate) deadlines: BTreeSet<(DateTime<Utc>, HoldId)>,
    pub(crate) tickets: HashMap<TicketId, TicketState>,
    pub(crate) keyed: HashMap<TicketId, HashMap<String, Keyed>>,
    pub(crate) recent: Recent,
}

impl EventState {
    /// A fresh event: every seat available.
    pub fn new(config: EventConfig) -> Self {
        let layout = Layout::new(&config.spec.seating);
        let row_available: Vec<u32> = layout
            .sections()
            .iter()
            .flat_map(|s| std::iter::repeat_n(s.seats_per_row, s.rows as usize))
            .collect();
        debug_assert_eq!(row_available.len(), layout.total_rows());
        let total = layout.total();
        Self {
            config,
            seats: vec![SeatStatus::Available; total],
            row_available,
            counts: Counts {
                available: total as u64,
                ..Counts::default()
            },
            layout,
            holds: HashMap::new(),
            orders: HashMap::new(),
            deadlines: BTreeSet::new(),
            tickets: HashMap::new(),
            keyed: HashMap::new(),
            recent: Recent::default(),
        }
    }

    /// The live configuration.
    pub fn config(&self) -> &EventConfig {
        &self.config
    }

    /// Seat and hold counts.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Status of the seat `seat_id`, or `None` if the event has no such seat.
    pub fn seat_status(&self, seat_id: &str) -> Option<SeatStatus> {
        self.layout.locate(seat_id).map(|i| self.seats[i])
    }

    /// The earliest deadline of an active hold.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Moves seat `idx` to `to`, keeping counts and row counts right.
    pub(crate) fn set_seat(&mut self, idx: usize, to: SeatStatus) {
        let from = std::mem::replace(&mut self.seats[idx], to);
        if from == to {
            return;
        }
        let row = self.layout.row_of(idx);
        match from {
            SeatStatus::Available => {
                self.counts.available -= 1;
                self.row_available[row] -= 1;
            }
            SeatStatus::Held => self.counts.held -= 1,
            SeatStatus::Sold => self.counts.sold -= 1,
        }
        match to {
            SeatStatus::Available => {
                self.counts.available += 1;
                self.row_available[row] += 1;
            }
            SeatStatus::Held => self.counts.held += 1,
            SeatStatus::Sold => self.counts.sold += 1,
        }
    }

    /// The public view of hold `id` (seat ids rendered from indices).
    pub(crate) fn hold_view(&self, id: HoldId, rec: &HoldRecord) -> StoredHold {
        StoredHold {
            ticket_id: rec.ticket_id,
            hold: Hold {
                id,
                event_id: self.config.id,
                seats: rec
                    .seats
                    .iter()
                    .map(|&i| self.layout.seat_id(i as usize))
                    .collect(),
                state: rec.state,
                expires_at: rec.expires_at,
                total_cents: rec.total_cents,
            },
            user_ref: rec.user_ref.clone(),
        }
    }

    /// The public view of order `id` (seat ids rendered from indices).
    pub(crate) fn order_view(&self, id: OrderId, rec: &OrderRecord) -> Order {
        Order {
            id,
            hold_id: rec.hold_id,
            event_id: self.config.id,
            seats: rec
                .seats
                .iter()
                .map(|&i| self.layout.seat_id(i as usize))
                .collect(),
            total_cents: rec.total_cents,
            confirmed_at: rec.confirmed_at,
            cancelled_at: rec.cancelled_at,
        }
    }

    /// Ends active hold `id` as `Released` or `Expired`: frees its seats and emits
    /// `HoldEnded`. Returns the view, or `None` if the hold is not active.
    pub(crate) fn end_hold(
        &mut self,
        id: HoldId,
        state: HoldState,
        out: &mut Vec<Effect>,
    ) -> Option<StoredHold> {
        let rec = self.holds.get(&id)?;
        if rec.state != HoldState::Held {
            return None;
        }
        let mut view = self.hold_view(id, rec);
        view.hold.state = state;
        let rec = self.holds.get_mut(&id)?;
        rec.state = state;
        rec.user_ref = None;
        let seats = std::mem::take(&mut rec.seats);
        let (ticket, expires_at) = (rec.ticket_id, rec.expires_at);
        for &i in seats.iter() {
            self.set_seat(i as usize, SeatStatus::Available);
        }
        self.deadlines.remove(&(expires_at, id));
        self.counts.holds_active -= 1;
        if let Some(t) = self.tickets.get_mut(&ticket) {
            t.held_seats = t.held_seats.saturating_sub(seats.len() as u32);
        }
        out.push(Effect::HoldEnded(view.clone()));
        Some(view)
    }

    /// Expires every active hold whose deadline is at or before `watermark` (see
    /// `Engine::advance_watermark`: a hold lives at least until `expires_at`, and
    /// longer while a command accepted in time may still be waiting).
    pub(crate) fn expire_through(&mut self, watermark: DateTime<Utc>, out: &mut Vec<Effect>) {
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > watermark {
                break;
            }
            self.deadlines.pop_first();
            self.end_hold(id, HoldState::Expired, out);
        }
    }

    /// The availability snapshot at `as_of`, numbered `version` (see
    /// `Engine::availability`).
    pub fn availability(&self, as_of: DateTime<Utc>, version: u64) -> Availability {
        let sections = self
            .layout
            .sections()
            .iter()
            .map(|s| {
                let len = s.rows as usize * s.seats_per_row as usize;
                let statuses = self.seats[s.base..s.base + len]
                    .iter()
                    .map(|st| match st {
                        SeatStatus::Available => status::AVAILABLE,
                        SeatStatus::Held => status::HELD,
                        SeatStatus::Sold => status::SOLD,
                    })
                    .collect();
                SectionAvailability {
                    name: s.name.clone(),
                    statuses,
                }
            })
            .collect();
        let c = self.counts;
        Availability {
            event_id: self.config.id,
            as_of,
            version,
            total: self.layout.total() as u64,
            available: c.available,
            held: c.held,
            sold: c.sold,
            holds_active: c.holds_active,
            orders: c.orders,
            sections,
        }
    }
}
