//! Effects: what a decision changed, as plain data.
//!
//! The engine decides; the repository persists effects in one transaction per batch
//! (group commit) and the cache writer mirrors them to Redis after the commit. Effects
//! carry the public views (`StoredHold`, `Order`, `EventConfig`) so neither consumer
//! needs to look anything up.

use protocol::command::{Envelope, Idempotency};
use protocol::event::EventConfig;
use protocol::ids::{EventId, RequestId, TicketId};
use protocol::reply::{JsonBody, Order, Outcome, StoredHold, StoredResultRef};

/// One change to persist.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A new event: insert its `events` row and all its `seats`.
    EventCreated(Box<EventConfig>),
    /// The event's configuration changed (admission, state, hold TTL); `version` is new.
    EventUpdated(Box<EventConfig>),
    /// A hold was created (state `held`): insert the hold and one claim per seat.
    HoldCreated(StoredHold),
    /// A hold became an order: insert order and order seats, claims become `sold`, the
    /// hold becomes `confirmed`; the ticket's pass is used up.
    OrderConfirmed {
        /// The hold, now in state `confirmed`.
        hold: StoredHold,
        /// The new order.
        order: Order,
        /// Payment reference given with the confirm.
        payment_ref: String,
    },
    /// The venue cancelled an order: its claims and sold seats are deleted (the seats
    /// are available again), the order row gets `cancelled_at` and the reason; the
    /// hold stays `confirmed` and the ticket's pass stays used up. Announced to the
    /// venue as `order.cancelled`.
    OrderCancelled {
        /// The order, with `cancelled_at` set.
        order: Order,
        /// The ticket that bought it.
        ticket_id: TicketId,
        /// The venue's reason, if it gave one.
        reason: Option<String>,
    },
    /// A hold ended without an order (state `released` or `expired`): its claims are
    /// deleted, its seats are available again.
    HoldEnded(StoredHold),
    /// A command's result, stored for replays, `GET /v1/requests/{id}` and idempotency.
    Result(Box<CommandResult>),
}

impl Effect {
    /// The event the effect belongs to.
    pub fn event_id(&self) -> EventId {
        match self {
            Effect::EventCreated(c) | Effect::EventUpdated(c) => c.id,
            Effect::HoldCreated(h) | Effect::HoldEnded(h) => h.hold.event_id,
            Effect::OrderConfirmed { order, .. } | Effect::OrderCancelled { order, .. } => {
                order.event_id
            }
            Effect::Result(r) => r.event_id,
        }
    }

    /// Whether the effect changes seat statuses or counts (the availability snapshot).
    pub fn changes_availability(&self) -> bool {
        !matches!(self, Effect::Result(_) | Effect::EventUpdated(_))
    }
}

/// The decided result of one command.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandResult {
    /// The command's request id.
    pub request_id: RequestId,
    /// Its event.
    pub event_id: EventId,
    /// The ticket it acted for (fan commands).
    pub ticket_id: Option<TicketId>,
    /// `Command::kind()`: `create_event`, `hold`, ...
    pub kind: &'static str,
    /// The idempotency key this request established, if any. `None` for requests that
    /// reused an existing key (they are answered from it and do not own it).
    pub idempotency: Option<Idempotency>,
    /// What happened.
    pub outcome: Outcome,
    /// The outcome's HTTP body as JSON text, serialised once for both of its copies:
    /// `request_results.body` in PostgreSQL and the result document in Redis.
    pub body: JsonBody,
}

impl CommandResult {
    /// The result of request `request_id` for `event_id`, made by `ticket_id`, a command
    /// of `kind` (`Command::kind()`) that established `idempotency`, with `outcome`.
    pub fn new(
        request_id: RequestId,
        event_id: EventId,
        ticket_id: Option<TicketId>,
        kind: &'static str,
        idempotency: Option<Idempotency>,
        outcome: Outcome,
    ) -> Self {
        let body = outcome.http_body_json();
        Self {
            request_id,
            event_id,
            ticket_id,
            kind,
            idempotency,
            outcome,
            body,
        }
    }

    /// The result of the command in `env` that established `idempotency`, with `outcome`.
    pub fn of(env: &Envelope, idempotency: Option<Idempotency>, outcome: Outcome) -> Self {
        let (ticket, kind) = (env.command.ticket_id(), env.command.kind());
        Self::new(
            env.request_id,
            env.event_id,
            ticket,
            kind,
            idempotency,
            outcome,
        )
    }

    /// The stored form for Redis (`RedisKeys::request`) and `GET /v1/requests/{id}`.
    pub fn stored(&self) -> StoredResultRef<'_> {
        StoredResultRef {
            request_id: self.request_id,
            event_id: self.event_id,
            ticket_id: self.ticket_id,
            status: self.outcome.http_status(),
            body: &self.body,
        }
    }
}
