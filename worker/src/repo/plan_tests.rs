//! Netting of effects into a write plan.

use super::*;
use crate::engine::{CommandResult, Effect};
use protocol::ids::{EventId, HoldId, OrderId, RequestId, TicketId};
use protocol::reply::{Hold, Order, Outcome, StoredHold};

fn view(event: EventId, id: HoldId, seats: &[&str], state: HoldState) -> StoredHold {
    StoredHold {
        ticket_id: TicketId::new(),
        hold: Hold {
            id,
            event_id: event,
            seats: seats.iter().map(|s| s.to_string()).collect(),
            state,
            expires_at: Utc::now(),
            total_cents: 100,
        },
        user_ref: None,
    }
}

fn order(v: &StoredHold) -> Order {
    Order {
        id: OrderId::new(),
        hold_id: v.hold.id,
        event_id: v.hold.event_id,
        seats: v.hold.seats.clone(),
        total_cents: v.hold.total_cents,
        confirmed_at: Utc::now(),
        cancelled_at: None,
    }
}

#[test]
fn a_seat_released_and_held_again_in_one_batch_is_claimed_once() {
    let e = EventId::new();
    let (h1, h2) = (HoldId::new(), HoldId::new());
    let effects = vec![
        Effect::HoldCreated(view(e, h1, &["A-1-1"], HoldState::Held)),
        Effect::HoldEnded(view(e, h1, &["A-1-1"], HoldState::Released)),
        Effect::HoldCreated(view(e, h2, &["A-1-1", "A-1-2"], HoldState::Held)),
    ];
    let p = WritePlan::new(&effects, Utc::now());
    assert_eq!(p.new_holds.views.len(), 2);
    assert_eq!(
        p.new_holds.states,
        vec![HoldState::Released, HoldState::Held]
    );
    assert_eq!(p.claims_new.seat_ids, vec!["A-1-1", "A-1-2"]);
    assert_eq!(p.claims_new.hold_ids, vec![h2.0, h2.0]);
    assert!(p.claims_freed.is_empty() && p.hold_updates.is_empty());
}

#[test]
fn pre_existing_holds_are_updated_and_their_claims_freed_or_sold() {
    let e = EventId::new();
    let (old1, old2) = (HoldId::new(), HoldId::new());
    let confirmed = view(e, old2, &["A-2-1"], HoldState::Confirmed);
    let effects = vec![
        Effect::HoldEnded(view(e, old1, &["A-1-1"], HoldState::Expired)),
        Effect::OrderConfirmed {
            order: order(&confirmed),
            hold: confirmed,
            payment_ref: "p".into(),
        },
    ];
    let p = WritePlan::new(&effects, Utc::now());
    assert_eq!(
        p.hold_updates,
        vec![(old1.0, "expired"), (old2.0, "confirmed")]
    );
    assert_eq!(p.claims_freed.seat_ids, vec!["A-1-1"]);
    assert_eq!(p.claims_sold.seat_ids, vec!["A-2-1"]);
    assert!(p.claims_new.is_empty());
    assert_eq!(p.orders.len(), 1);
}

#[test]
fn a_hold_created_and_confirmed_in_one_batch_inserts_sold_claims() {
    let e = EventId::new();
    let h = HoldId::new();
    let confirmed = view(e, h, &["B-1-1"], HoldState::Confirmed);
    let effects = vec![
        Effect::HoldCreated(view(e, h, &["B-1-1"], HoldState::Held)),
        Effect::OrderConfirmed {
            order: order(&confirmed),
            hold: confirmed,
            payment_ref: "p".into(),
        },
        Effect::Result(Box::new(CommandResult::new(
            RequestId::new(),
            e,
            None,
            "confirm",
            None,
            Outcome::rejected(protocol::reply::ErrorCode::NotFound, "x"),
        ))),
    ];
    let p = WritePlan::new(&effects, Utc::now());
    assert_eq!(p.new_holds.states, vec![HoldState::Confirmed]);
    assert_eq!(p.claims_new.states, vec!["sold"]);
    assert!(p.hold_updates.is_empty() && p.claims_sold.is_empty());
    assert_eq!(p.results.len(), 1);
    assert!(!p.is_empty());
    assert!(WritePlan::new(&[], Utc::now()).is_empty());
}

fn cancelled(o: &Order) -> Order {
    Order {
        cancelled_at: Some(Utc::now()),
        ..o.clone()
    }
}

#[test]
fn a_cancelled_orders_seats_are_freed_before_they_are_held_again_in_the_batch() {
    let e = EventId::new();
    let (sold, next) = (HoldId::new(), HoldId::new());
    let old = view(e, sold, &["A-1-1", "A-1-2"], HoldState::Confirmed);
    let o = cancelled(&order(&old));
    let effects = vec![
        Effect::OrderCancelled {
            order: o.clone(),
            ticket_id: old.ticket_id,
            reason: Some("refund".into()),
        },
        Effect::HoldCreated(view(e, next, &["A-1-2"], HoldState::Held)),
    ];
    let p = WritePlan::new(&effects, Utc::now());
    assert_eq!(p.cancels.len(), 1);
    assert_eq!(p.cancels[0].order.id, o.id);
    assert_eq!(p.cancels[0].reason, Some("refund"));
    // Deleted (first statement of the holds) before the new claim is inserted.
    assert_eq!(p.claims_freed.seat_ids, vec!["A-1-1", "A-1-2"]);
    assert_eq!(p.claims_freed.hold_ids, vec![sold.0, sold.0]);
    assert_eq!(p.claims_new.seat_ids, vec!["A-1-2"]);
    assert!(p.orders.is_empty() && p.hold_updates.is_empty());
}

#[test]
fn an_order_confirmed_and_cancelled_in_one_batch_is_inserted_cancelled_without_claims() {
    let e = EventId::new();
    let (new, old) = (HoldId::new(), HoldId::new());
    let fresh = view(e, new, &["A-1-1"], HoldState::Confirmed);
    let existing = view(e, old, &["A-2-1"], HoldState::Confirmed);
    let (o1, o2) = (order(&fresh), order(&existing));
    let effects = vec![
        Effect::HoldCreated(view(e, new, &["A-1-1"], HoldState::Held)),
        Effect::OrderConfirmed {
            hold: fresh.clone(),
            order: o1.clone(),
            payment_ref: "p".into(),
        },
        Effect::OrderConfirmed {
            hold: existing.clone(),
            order: o2.clone(),
            payment_ref: "p".into(),
        },
        Effect::OrderCancelled {
            order: cancelled(&o1),
            ticket_id: fresh.ticket_id,
            reason: None,
        },
        Effect::OrderCancelled {
            order: cancelled(&o2),
            ticket_id: existing.ticket_id,
            reason: None,
        },
    ];
    let p = WritePlan::new(&effects, Utc::now());
    assert!(p.cancels.is_empty(), "both orders are new rows");
    assert!(p.orders.iter().all(|o| o.cancelled.is_some()));
    assert_eq!(p.new_holds.states, vec![HoldState::Confirmed]);
    assert!(
        p.claims_new.is_empty(),
        "a cancelled new order claims nothing"
    );
    // The pre-existing hold's claim is deleted before the `sold` update runs.
    assert_eq!(p.claims_freed.seat_ids, vec!["A-2-1"]);
    assert_eq!(p.claims_sold.seat_ids, vec!["A-2-1"]);
}
