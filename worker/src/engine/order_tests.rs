//! Unit tests of the venue's order commands and of origin checkout: who may confirm,
//! and what a cancel puts back on sale.

use super::tests::{hold_cmd, Harness};
use super::*;
use protocol::command::{Command, Confirmer};
use protocol::event::EventPatch;
use protocol::ids::{HoldId, OrderId, TicketId};
use protocol::reply::{ErrorCode, Order, Outcome};

fn confirm(ticket: TicketId, hold_id: HoldId, by: Confirmer) -> Command {
    Command::Confirm {
        ticket_id: ticket,
        hold_id,
        payment_ref: "psp-1".parse().unwrap(),
        idempotency: None,
        by,
    }
}

fn cancel(ticket: TicketId, order_id: OrderId) -> Command {
    Command::CancelOrder {
        ticket_id: ticket,
        order_id,
        reason: Some("refund".parse().unwrap()),
        idempotency: None,
    }
}

fn code(o: &Outcome) -> Option<ErrorCode> {
    match o {
        Outcome::Rejected(e) => Some(e.code),
        _ => None,
    }
}

fn order_of(o: Outcome) -> Order {
    match o {
        Outcome::OrderConfirmed(o) | Outcome::OrderCancelled(o) => o,
        other => panic!("expected an order, got {other:?}"),
    }
}

fn held(h: &mut Harness, ticket: TicketId, seats: &[&str]) -> HoldId {
    match h.run(hold_cmd(ticket, seats, None)) {
        Outcome::HoldCreated(hold) => hold.id,
        other => panic!("expected a hold, got {other:?}"),
    }
}

fn origin_checkout(h: &mut Harness) {
    let patch: EventPatch = serde_json::from_value(serde_json::json!(
        {"checkout": {"mode": "origin", "url": "https://shop.example.com/pay"}}))
    .unwrap();
    let out = h.run(Command::UpdateEvent { patch });
    assert!(matches!(out, Outcome::EventUpdated(_)), "{out:?}");
}

#[test]
fn in_origin_checkout_only_the_venue_confirms() {
    let mut h = Harness::new();
    origin_checkout(&mut h);
    let t = TicketId::new();
    let hold = held(&mut h, t, &["A-1-1"]);
    h.effects.clear();
    let refused = h.run(confirm(t, hold, Confirmer::Fan));
    assert_eq!(code(&refused), Some(ErrorCode::Forbidden));
    assert!(
        !h.effects
            .iter()
            .any(|e| matches!(e, Effect::OrderConfirmed { .. })),
        "a refused confirm sold nothing"
    );
    assert_eq!(h.state().seat_status("A-1-1"), Some(SeatStatus::Held));
    let order = order_of(h.run(confirm(t, hold, Confirmer::Origin)));
    assert_eq!(order.hold_id, hold);
    assert_eq!(h.state().seat_status("A-1-1"), Some(SeatStatus::Sold));
}

#[test]
fn in_fan_checkout_the_venue_may_confirm_too() {
    let mut h = Harness::new();
    let t = TicketId::new();
    let hold = held(&mut h, t, &["A-1-1"]);
    order_of(h.run(confirm(t, hold, Confirmer::Origin)));
    let other = held(&mut h, TicketId::new(), &["A-1-2"]);
    assert_eq!(
        code(&h.run(confirm(t, other, Confirmer::Origin))),
        Some(ErrorCode::NotFound),
        "the worker checks the hold's ticket whoever confirms"
    );
}

#[test]
fn a_cancelled_orders_seats_can_be_held_again_and_a_second_cancel_repeats_the_answer() {
    let mut h = Harness::new();
    let buyer = TicketId::new();
    let hold = held(&mut h, buyer, &["A-1-1", "A-1-2"]);
    let order = order_of(h.run(confirm(buyer, hold, Confirmer::Fan)));
    let c = h.state().counts();
    assert_eq!((c.sold, c.orders), (2, 1));

    h.effects.clear();
    let cancelled = order_of(h.run(cancel(buyer, order.id)));
    assert_eq!(cancelled.id, order.id);
    assert_eq!(cancelled.seats, order.seats);
    assert_eq!(cancelled.cancelled_at, Some(h.now));
    let announced: Vec<_> = h
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::OrderCancelled { order, reason, .. } => Some((order.id, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(announced, vec![(order.id, Some("refund".to_owned()))]);
    let c = h.state().counts();
    assert_eq!((c.available, c.sold, c.orders), (14, 0, 0));

    // The buyer's pass stays used up; another fan may take the seats.
    assert_eq!(
        code(&h.run(hold_cmd(buyer, &["A-1-1"], None))),
        Some(ErrorCode::Forbidden)
    );
    held(&mut h, TicketId::new(), &["A-1-1", "A-1-2"]);

    h.now += chrono::Duration::seconds(5);
    h.effects.clear();
    let again = order_of(h.run(cancel(buyer, order.id)));
    assert_eq!(
        again, cancelled,
        "the same order, cancelled at the first cancel"
    );
    assert!(
        !h.effects
            .iter()
            .any(|e| matches!(e, Effect::OrderCancelled { .. })),
        "a second cancel changes nothing"
    );
    assert_eq!(h.state().seat_status("A-1-1"), Some(SeatStatus::Held));
}

#[test]
fn unknown_orders_and_other_tickets_orders_are_not_found() {
    let mut h = Harness::new();
    let buyer = TicketId::new();
    let hold = held(&mut h, buyer, &["B-1-1"]);
    let order = order_of(h.run(confirm(buyer, hold, Confirmer::Fan)));
    assert_eq!(
        code(&h.run(cancel(buyer, OrderId::new()))),
        Some(ErrorCode::NotFound)
    );
    assert_eq!(
        code(&h.run(cancel(TicketId::new(), order.id))),
        Some(ErrorCode::NotFound)
    );
    assert_eq!(h.state().seat_status("B-1-1"), Some(SeatStatus::Sold));
}
