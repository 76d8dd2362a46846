//! A reference model of one event's reservation rules, for the model-based property
//! test (`model_tests.rs`): a separate implementation written for obviousness, not
//! speed. Seats are looked up by id in a map, holds live in a plain list, best-available
//! tries every run of every row; no counters, indices or deadline sets to keep in sync.
//!
//! The model says what the engine must answer ([`Expect`]) without inventing ids: the
//! ids of new holds and orders are random in the engine, so the model adopts them from
//! the engine's outcome once the rest of the outcome matched ([`Model::adopt`]).

use chrono::{DateTime, Duration, Utc};
use protocol::command::{Command, Confirmer, Envelope, SeatSelection};
use protocol::event::{CheckoutMode, EventSpec};
use protocol::ids::{HoldId, OrderId, RequestId, TicketId};
use protocol::reply::{ErrorCode, HoldState, Outcome};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What the engine must answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expect {
    /// Exactly this outcome (a replay, or an idempotency key used before).
    Exactly(Outcome),
    /// A new hold of these seats (in this order), until `expires_at`, for `total_cents`.
    Hold {
        seats: Vec<String>,
        expires_at: DateTime<Utc>,
        total_cents: i64,
    },
    /// Hold `hold` confirmed into an order of its seats.
    Order { hold: HoldId },
    /// Hold `hold` released.
    Released { hold: HoldId },
    /// Order `order` cancelled (now, or by an earlier cancel whose answer is repeated).
    Cancelled { order: OrderId },
    /// Refused with this code (`unavailable`: the seats listed in `details.unavailable`).
    Refused {
        code: ErrorCode,
        unavailable: Option<Vec<String>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seat {
    Free,
    Held,
    Sold,
}

#[derive(Debug, Clone)]
pub(crate) struct ModelHold {
    pub(crate) id: HoldId,
    pub(crate) ticket: TicketId,
    pub(crate) seats: Vec<String>,
    pub(crate) state: HoldState,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) total_cents: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct ModelOrder {
    pub(crate) id: OrderId,
    pub(crate) hold: HoldId,
    pub(crate) ticket: TicketId,
    pub(crate) cancelled_at: Option<DateTime<Utc>>,
}

/// The reference model of one open event.
pub(crate) struct Model {
    /// Every seat: id → (section, row, number, price).
    layout: BTreeMap<String, (String, u32, u32, i64)>,
    /// Section → (rows, seats per row).
    sections: HashMap<String, (u32, u32)>,
    pub(crate) seats: HashMap<String, Seat>,
    pub(crate) holds: Vec<ModelHold>,
    pub(crate) orders: Vec<ModelOrder>,
    ordered: HashSet<TicketId>,
    /// Checkout `origin`: only the venue's server confirms.
    origin_checkout: bool,
    keys: HashMap<(TicketId, String), (String, Outcome)>,
    answered: HashMap<RequestId, Outcome>,
    ttl: Duration,
    max: u32,
    watermark: Option<DateTime<Utc>>,
}

fn refused(code: ErrorCode) -> Expect {
    Expect::Refused {
        code,
        unavailable: None,
    }
}

impl Model {
    pub(crate) fn new(spec: &EventSpec) -> Self {
        let mut layout = BTreeMap::new();
        for (seat, price) in spec.seating.seats() {
            layout.insert(
                seat.to_string(),
                (seat.section.to_owned(), seat.row, seat.number, price),
            );
        }
        Self {
            seats: layout.keys().map(|s| (s.clone(), Seat::Free)).collect(),
            layout,
            sections: spec
                .seating
                .sections
                .iter()
                .map(|s| (s.name.to_string(), (s.rows, s.seats_per_row)))
                .collect(),
            holds: Vec::new(),
            orders: Vec::new(),
            ordered: HashSet::new(),
            origin_checkout: spec.checkout.mode == CheckoutMode::Origin,
            keys: HashMap::new(),
            answered: HashMap::new(),
            ttl: Duration::seconds(i64::from(spec.hold_ttl_seconds)),
            max: spec.max_seats_per_hold,
            watermark: None,
        }
    }

    /// The watermark moves to `to` (if later): every hold whose deadline is at or
    /// before the watermark expires, never earlier, and never because time passed.
    pub(crate) fn advance_watermark(&mut self, to: DateTime<Utc>) {
        let watermark = self.watermark.map_or(to, |w| w.max(to));
        self.watermark = Some(watermark);
        for h in &mut self.holds {
            if h.state == HoldState::Held && h.expires_at <= watermark {
                h.state = HoldState::Expired;
                for s in &h.seats {
                    self.seats.insert(s.clone(), Seat::Free);
                }
            }
        }
    }

    /// What the engine must answer to `env` at `now`. Confirms and releases go by the
    /// accepted time (`sent_at`, but never later than `now`) against the deadline.
    pub(crate) fn expect(&mut self, env: &Envelope, now: DateTime<Utc>) -> Expect {
        let accepted = env.sent_at.min(now);
        if let Some(first) = self.answered.get(&env.request_id) {
            return Expect::Exactly(first.clone());
        }
        let (ticket, key) = match &env.command {
            Command::Hold {
                ticket_id,
                idempotency,
                ..
            }
            | Command::Confirm {
                ticket_id,
                idempotency,
                ..
            }
            | Command::CancelOrder {
                ticket_id,
                idempotency,
                ..
            } => (*ticket_id, idempotency.as_ref()),
            _ => (TicketId::new(), None),
        };
        if let Some(k) = key {
            if let Some((fingerprint, first)) = self.keys.get(&(ticket, k.key.to_string())) {
                return if *fingerprint == k.fingerprint.as_str() {
                    Expect::Exactly(first.clone())
                } else {
                    refused(ErrorCode::IdempotencyKeyReused)
                };
            }
            let held = self.keys.keys().filter(|(t, _)| *t == ticket).count();
            if held >= super::apply::KEYS_PER_TICKET {
                return refused(ErrorCode::InvalidField);
            }
        }
        match &env.command {
            Command::Hold {
                ticket_id,
                selection,
                ..
            } => self.hold(*ticket_id, selection, now),
            Command::Confirm {
                by: Confirmer::Fan, ..
            } if self.origin_checkout => refused(ErrorCode::Forbidden),
            Command::Confirm {
                ticket_id, hold_id, ..
            } => match self.own(*ticket_id, *hold_id) {
                None => refused(ErrorCode::NotFound),
                Some(h) => match h.state {
                    HoldState::Held if accepted < h.expires_at => Expect::Order { hold: *hold_id },
                    HoldState::Held | HoldState::Expired => refused(ErrorCode::HoldExpired),
                    HoldState::Confirmed | HoldState::Released => refused(ErrorCode::HoldNotActive),
                },
            },
            Command::Release { ticket_id, hold_id } => match self.own(*ticket_id, *hold_id) {
                None => refused(ErrorCode::NotFound),
                Some(h) if h.state == HoldState::Held && accepted < h.expires_at => {
                    Expect::Released { hold: *hold_id }
                }
                Some(_) => refused(ErrorCode::HoldNotActive),
            },
            Command::CancelOrder {
                ticket_id,
                order_id,
                ..
            } => match self.orders.iter().find(|o| o.id == *order_id) {
                Some(o) if o.ticket == *ticket_id => Expect::Cancelled { order: o.id },
                _ => refused(ErrorCode::NotFound),
            },
            _ => refused(ErrorCode::InvalidField),
        }
    }

    fn own(&self, ticket: TicketId, hold: HoldId) -> Option<&ModelHold> {
        self.holds
            .iter()
            .find(|h| h.id == hold && h.ticket == ticket)
    }

    fn hold(&self, ticket: TicketId, selection: &SeatSelection, now: DateTime<Utc>) -> Expect {
        if self.ordered.contains(&ticket) {
            return refused(ErrorCode::Forbidden);
        }
        let seats = match selection {
            SeatSelection::Seats { seats } => {
                let unique: HashSet<&str> = seats.iter().map(|s| s.as_str()).collect();
                if seats.is_empty()
                    || seats.len() > self.max as usize
                    || seats.iter().any(|s| !self.layout.contains_key(s.as_str()))
                    || unique.len() != seats.len()
                {
                    return refused(ErrorCode::InvalidField);
                }
                seats.iter().map(ToString::to_string).collect()
            }
            SeatSelection::Best { section, quantity } => {
                if *quantity == 0
                    || *quantity > self.max
                    || !self.sections.contains_key(section.as_str())
                {
                    return refused(ErrorCode::InvalidField);
                }
                match self.best(section, *quantity) {
                    Some(seats) => seats,
                    None => return refused(ErrorCode::SeatsUnavailable),
                }
            }
        };
        let holding: usize = self
            .holds
            .iter()
            .filter(|h| h.ticket == ticket && h.state == HoldState::Held)
            .map(|h| h.seats.len())
            .sum();
        if holding + seats.len() > self.max as usize {
            return refused(ErrorCode::InvalidField);
        }
        let taken: Vec<String> = seats
            .iter()
            .filter(|s| self.seats[*s] != Seat::Free)
            .cloned()
            .collect();
        if !taken.is_empty() {
            return Expect::Refused {
                code: ErrorCode::SeatsUnavailable,
                unavailable: Some(taken),
            };
        }
        Expect::Hold {
            total_cents: seats.iter().map(|s| self.layout[s].3).sum(),
            seats,
            expires_at: now + self.ttl,
        }
    }

    /// Best available (docs/RESERVATIONS.md): `quantity` adjacent free seats in the front-most row
    /// that has them, the run closest to the row's centre (ties: lower numbers); else
    /// the front-most free seats in row order.
    fn best(&self, section: &str, quantity: u32) -> Option<Vec<String>> {
        let (rows, per_row) = self.sections[section];
        let id = |row: u32, n: u32| format!("{section}-{row}-{n}");
        let free = |row: u32, n: u32| self.seats[&id(row, n)] == Seat::Free;
        let ideal = (per_row.saturating_sub(quantity) / 2) + 1;
        for row in (1..=rows).filter(|_| quantity <= per_row) {
            let runs = (1..=per_row - quantity + 1)
                .filter(|&start| (start..start + quantity).all(|n| free(row, n)));
            if let Some(start) = runs.min_by_key(|&start| (start.abs_diff(ideal), start)) {
                return Some((start..start + quantity).map(|n| id(row, n)).collect());
            }
        }
        let scattered: Vec<String> = (1..=rows)
            .flat_map(|row| (1..=per_row).map(move |n| (row, n)))
            .filter(|&(row, n)| free(row, n))
            .take(quantity as usize)
            .map(|(row, n)| id(row, n))
            .collect();
        (scattered.len() == quantity as usize).then_some(scattered)
    }

    /// Records the engine's `outcome` to `env` (already checked against the model's
    /// expectation), adopting the ids it chose.
    pub(crate) fn adopt(&mut self, env: &Envelope, expected: &Expect, outcome: &Outcome) {
        match (expected, outcome) {
            (Expect::Hold { .. }, Outcome::HoldCreated(h)) => {
                for s in &h.seats {
                    self.seats.insert(s.clone(), Seat::Held);
                }
                self.holds.push(ModelHold {
                    id: h.id,
                    ticket: env.command.ticket_id().expect("a fan command"),
                    seats: h.seats.clone(),
                    state: HoldState::Held,
                    expires_at: h.expires_at,
                    total_cents: h.total_cents,
                });
            }
            (Expect::Order { hold }, Outcome::OrderConfirmed(o)) => {
                let h = self.holds.iter_mut().find(|h| h.id == *hold).expect("held");
                self.orders.push(ModelOrder {
                    id: o.id,
                    hold: *hold,
                    ticket: h.ticket,
                    cancelled_at: None,
                });
                h.state = HoldState::Confirmed;
                self.ordered.insert(h.ticket);
                for s in &h.seats {
                    self.seats.insert(s.clone(), Seat::Sold);
                }
            }
            (Expect::Cancelled { order }, Outcome::OrderCancelled(o)) => {
                let m = self
                    .orders
                    .iter_mut()
                    .find(|m| m.id == *order)
                    .expect("known");
                if m.cancelled_at.is_none() {
                    m.cancelled_at = o.cancelled_at;
                    let h = self
                        .holds
                        .iter()
                        .find(|h| h.id == m.hold)
                        .expect("its hold");
                    for s in &h.seats {
                        self.seats.insert(s.clone(), Seat::Free);
                    }
                }
            }
            (Expect::Released { hold }, Outcome::HoldReleased(_)) => {
                let h = self.holds.iter_mut().find(|h| h.id == *hold).expect("held");
                h.state = HoldState::Released;
                for s in &h.seats {
                    self.seats.insert(s.clone(), Seat::Free);
                }
            }
            _ => {}
        }
        let (ticket, key) = match &env.command {
            Command::Hold {
                ticket_id,
                idempotency,
                ..
            }
            | Command::Confirm {
                ticket_id,
                idempotency,
                ..
            }
            | Command::CancelOrder {
                ticket_id,
                idempotency,
                ..
            } => (Some(*ticket_id), idempotency.as_ref()),
            _ => (None, None),
        };
        if let (Some(t), Some(k)) = (ticket, key) {
            // A key beyond the ticket's cap was refused, not remembered.
            let held = self.keys.keys().filter(|(x, _)| *x == t).count();
            let key = k.key.to_string();
            if held < super::apply::KEYS_PER_TICKET || self.keys.contains_key(&(t, key.clone())) {
                self.keys
                    .entry((t, key))
                    .or_insert_with(|| (k.fingerprint.to_string(), outcome.clone()));
            }
        }
        self.answered.insert(env.request_id, outcome.clone());
    }

    /// The order `id` as the model knows it.
    pub(crate) fn order_of(&self, id: OrderId) -> Option<&ModelOrder> {
        self.orders.iter().find(|o| o.id == id)
    }

    /// The hold `id` as the model knows it.
    pub(crate) fn hold_of(&self, id: HoldId) -> Option<&ModelHold> {
        self.holds.iter().find(|h| h.id == id)
    }
}
