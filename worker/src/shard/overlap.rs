//! When a batch's transaction may start while the one before it still commits.
//!
//! Under PostgreSQL's read committed, a statement sees only rows committed before it
//! began: a transaction that updated or deleted a row its predecessor inserted would
//! find nothing and silently change nothing. Rows the predecessor updated or deleted
//! are safe (the statement waits for the predecessor's row lock and applies on top of
//! its outcome), and so are inserts that collide with its deletes (the unique check
//! waits for it too). So a batch may overlap its predecessor when it ends, confirms or
//! cancels nothing the predecessor created, and neither creates or changes an event
//! (the outbox compares admin states with the stored ones).

use crate::engine::Effect;
use protocol::ids::{HoldId, OrderId};
use std::collections::HashSet;

/// What a batch inserts that a concurrent transaction cannot see before it commits.
#[derive(Debug, Default)]
pub(super) struct Inserts {
    holds: HashSet<HoldId>,
    orders: HashSet<OrderId>,
    events: bool,
}

impl Inserts {
    /// The inserts of `effects`.
    pub(super) fn of(effects: &[Effect]) -> Self {
        let mut i = Inserts::default();
        for e in effects {
            match e {
                Effect::HoldCreated(v) => {
                    i.holds.insert(v.hold.id);
                }
                Effect::OrderConfirmed { order, .. } => {
                    i.orders.insert(order.id);
                }
                Effect::EventCreated(_) | Effect::EventUpdated(_) => i.events = true,
                Effect::HoldEnded(_) | Effect::OrderCancelled { .. } | Effect::Result(_) => {}
            }
        }
        i
    }

    /// Whether a batch with `effects` may be written while the batch of these inserts
    /// still commits (see the module's documentation).
    pub(super) fn allow_overlap(&self, effects: &[Effect]) -> bool {
        !self.events
            && effects.iter().all(|e| match e {
                Effect::EventCreated(_) | Effect::EventUpdated(_) => false,
                Effect::HoldCreated(_) | Effect::Result(_) => true,
                Effect::HoldEnded(v) => !self.holds.contains(&v.hold.id),
                Effect::OrderConfirmed { hold, .. } => !self.holds.contains(&hold.hold.id),
                Effect::OrderCancelled { order, .. } => {
                    !self.orders.contains(&order.id) && !self.holds.contains(&order.hold_id)
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use protocol::ids::{EventId, TicketId};
    use protocol::reply::{Hold, HoldState, Order, StoredHold};

    fn view(event: EventId, state: HoldState) -> StoredHold {
        StoredHold {
            ticket_id: TicketId::new(),
            hold: Hold {
                id: HoldId::new(),
                event_id: event,
                seats: vec!["A-1-1".into()],
                state,
                expires_at: Utc::now(),
                total_cents: 100,
            },
            user_ref: None,
        }
    }

    fn order_of(h: &StoredHold) -> Order {
        Order {
            id: OrderId::new(),
            hold_id: h.hold.id,
            event_id: h.hold.event_id,
            seats: h.hold.seats.clone(),
            total_cents: h.hold.total_cents,
            confirmed_at: Utc::now(),
            cancelled_at: None,
        }
    }

    #[test]
    fn new_holds_overlap_but_not_what_touches_the_predecessors_inserts() {
        let e = EventId::new();
        let earlier = view(e, HoldState::Held);
        let created = view(e, HoldState::Held);
        let confirmed = view(e, HoldState::Confirmed);
        let order = order_of(&confirmed);
        let before = Inserts::of(&[
            Effect::HoldCreated(created.clone()),
            Effect::OrderConfirmed {
                hold: confirmed.clone(),
                order: order.clone(),
                payment_ref: "p".into(),
            },
        ]);
        // New holds, and the end of a hold that predates both batches: rows it can see.
        assert!(before.allow_overlap(&[Effect::HoldCreated(view(e, HoldState::Held))]));
        let mut ended = earlier.clone();
        ended.hold.state = HoldState::Expired;
        assert!(before.allow_overlap(&[Effect::HoldEnded(ended)]));
        // Ending, confirming or cancelling what the predecessor inserted: it must wait.
        let mut released = created.clone();
        released.hold.state = HoldState::Released;
        assert!(!before.allow_overlap(&[Effect::HoldEnded(released)]));
        let mut sold = created.clone();
        sold.hold.state = HoldState::Confirmed;
        let bought = Effect::OrderConfirmed {
            order: order_of(&sold),
            hold: sold,
            payment_ref: "p".into(),
        };
        assert!(!before.allow_overlap(&[bought]));
        let cancel = Effect::OrderCancelled {
            order,
            ticket_id: confirmed.ticket_id,
            reason: None,
        };
        assert!(!before.allow_overlap(&[cancel]));
    }
}
