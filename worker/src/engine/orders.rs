//! Venue commands on orders: cancel an order (a refund, a chargeback).
//!
//! A cancel is decided in delivery order like every other command of the event: the
//! order's seats are available again from this decision on, so a hold decided after it
//! may take them, and the group commit that persists it deletes the seats' claims and
//! sold rows in the same transaction. The hold stays `confirmed` (it was paid for) and
//! the ticket's pass stays used up: a refund does not give the fan a second purchase.

use super::effect::Effect;
use super::event::{EventState, SeatStatus};
use chrono::{DateTime, Utc};
use protocol::ids::{OrderId, TicketId};
use protocol::reply::{ErrorCode, Outcome};

/// Cancels order `id` of `ticket` at `now`, noting `reason`: its seats go back on
/// sale and the effect `OrderCancelled` is emitted. An order already cancelled is
/// answered with the same order (`cancelled_at` of the first cancel) and changes
/// nothing, so a retried cancel without an idempotency key is harmless.
///
/// `404 not_found` for an unknown order or one of another ticket.
pub(crate) fn cancel(
    ev: &mut EventState,
    ticket: TicketId,
    id: OrderId,
    reason: Option<&str>,
    now: DateTime<Utc>,
    out: &mut Vec<Effect>,
) -> Outcome {
    let Some(rec) = ev.orders.get(&id).filter(|o| o.ticket_id == ticket) else {
        return Outcome::rejected(ErrorCode::NotFound, "no such order");
    };
    if rec.cancelled_at.is_some() {
        return Outcome::OrderCancelled(ev.order_view(id, rec));
    }
    let seats = rec.seats.clone();
    for &i in seats.iter() {
        ev.set_seat(i as usize, SeatStatus::Available);
    }
    ev.counts.orders = ev.counts.orders.saturating_sub(1);
    let rec = ev.orders.get_mut(&id).expect("looked up above");
    rec.cancelled_at = Some(now);
    let rec = rec.clone();
    let order = ev.order_view(id, &rec);
    out.push(Effect::OrderCancelled {
        order: order.clone(),
        ticket_id: ticket,
        reason: reason.map(str::to_owned),
    });
    Outcome::OrderCancelled(order)
}
