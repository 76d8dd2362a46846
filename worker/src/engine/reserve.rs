//! Fan commands: hold seats, confirm a hold into an order, release a hold.
//!
//! The business rules are those of docs/RESERVATIONS.md: rejections are API
//! errors (`Outcome::Rejected`) and change nothing; successes emit one effect each.

use super::apply::new_uuid;
use super::best::best_available;
use super::effect::Effect;
use super::event::{EventState, HoldRecord, OrderRecord, SeatStatus};
use chrono::{DateTime, Duration, Utc};
use protocol::command::{Confirmer, SeatSelection};
use protocol::event::{AdminState, CheckoutMode};
use protocol::ids::{HoldId, OrderId, TicketId};
use protocol::reply::{ErrorCode, ErrorDetail, HoldState, Outcome};
use rand::RngCore;
use serde_json::json;

fn rejected(code: ErrorCode, message: String, details: Option<serde_json::Value>) -> Outcome {
    Outcome::Rejected(ErrorDetail {
        code,
        message,
        details,
    })
}

/// Picks the seats a selection asks for, or the rejection.
fn pick(ev: &EventState, selection: &SeatSelection, max: u32) -> Result<Vec<usize>, Outcome> {
    let invalid = |m: String, d| Err(rejected(ErrorCode::InvalidField, m, d));
    match selection {
        SeatSelection::Seats { seats } => {
            if seats.is_empty() {
                return invalid("seats: must list at least one seat".into(), None);
            }
            if seats.len() > max as usize {
                return invalid(format!("seats: at most {max} seats per hold"), None);
            }
            let mut picked = Vec::with_capacity(seats.len());
            let mut unknown = Vec::new();
            for s in seats {
                match ev.layout.locate(s) {
                    Some(i) => picked.push(i),
                    None => unknown.push(s.as_str()),
                }
            }
            if !unknown.is_empty() {
                let d = Some(json!({ "unknown": unknown }));
                return invalid(format!("seats: no such seat: {}", unknown.join(", ")), d);
            }
            let mut dups: Vec<&str> = Vec::new();
            for (n, i) in picked.iter().enumerate() {
                if picked[..n].contains(i) && !dups.contains(&seats[n].as_str()) {
                    dups.push(&seats[n]);
                }
            }
            if !dups.is_empty() {
                let d = Some(json!({ "duplicates": dups }));
                return invalid(format!("seats: listed twice: {}", dups.join(", ")), d);
            }
            Ok(picked)
        }
        SeatSelection::Best { section, quantity } => {
            if *quantity == 0 || *quantity > max {
                return invalid(format!("quantity: must be between 1 and {max}"), None);
            }
            let Some(sec) = ev.layout.section(section) else {
                let d = Some(json!({ "unknown": [section] }));
                return invalid(format!("section: no such section: {section}"), d);
            };
            best_available(sec, &ev.seats, &ev.row_available, *quantity).ok_or_else(|| {
                rejected(
                    ErrorCode::SeatsUnavailable,
                    format!("not enough seats available in section {section}"),
                    Some(json!({ "section": section, "quantity": quantity })),
                )
            })
        }
    }
}

/// Holds seats for `ticket` until `now + hold_ttl_seconds`, noting the fan's
/// `user_ref` (from a signed join) on the hold.
pub(crate) fn hold<R: RngCore + ?Sized>(
    ev: &mut EventState,
    ticket: TicketId,
    selection: &SeatSelection,
    user_ref: Option<&str>,
    now: DateTime<Utc>,
    rng: &mut R,
    out: &mut Vec<Effect>,
) -> Outcome {
    if AdminState::is_closed(ev.config.admin_state) {
        return Outcome::rejected(ErrorCode::QueueClosed, "the event is closed");
    }
    let t = ev.tickets.get(&ticket).copied().unwrap_or_default();
    if t.has_order {
        return Outcome::rejected(
            ErrorCode::Forbidden,
            "this pass was already used for an order",
        );
    }
    let max = ev.config.spec.max_seats_per_hold;
    let picked = match pick(ev, selection, max) {
        Ok(p) => p,
        Err(rejection) => return rejection,
    };
    if t.held_seats as usize + picked.len() > max as usize {
        return rejected(
            ErrorCode::InvalidField,
            format!("a pass may hold at most {max} seats at a time"),
            Some(json!({ "held": t.held_seats, "max": max })),
        );
    }
    let unavailable: Vec<String> = picked
        .iter()
        .filter(|&&i| ev.seats[i] != SeatStatus::Available)
        .map(|&i| ev.layout.seat_id(i))
        .collect();
    if !unavailable.is_empty() {
        return rejected(
            ErrorCode::SeatsUnavailable,
            format!("seats not available: {}", unavailable.join(", ")),
            Some(json!({ "unavailable": unavailable })),
        );
    }
    let id = HoldId(new_uuid(now, rng));
    let expires_at = now + Duration::seconds(i64::from(ev.config.spec.hold_ttl_seconds));
    let mut total_cents = 0i64;
    for &i in &picked {
        ev.set_seat(i, SeatStatus::Held);
        total_cents = total_cents.saturating_add(ev.layout.price(i));
    }
    let rec = HoldRecord {
        ticket_id: ticket,
        state: HoldState::Held,
        expires_at,
        total_cents,
        seats: picked.iter().map(|&i| i as u32).collect(),
        user_ref: user_ref.map(str::to_owned),
    };
    let view = ev.hold_view(id, &rec);
    ev.holds.insert(id, rec);
    ev.deadlines.insert((expires_at, id));
    ev.counts.holds_active += 1;
    ev.tickets.entry(ticket).or_default().held_seats += picked.len() as u32;
    out.push(Effect::HoldCreated(view.clone()));
    Outcome::HoldCreated(view.hold)
}

/// Message of the `403` for a fan's confirm in an event with origin checkout.
pub(crate) const ORIGIN_CHECKOUT: &str =
    "this event's holds are confirmed by the venue's server after payment, not by the fan";

/// The two instants a confirm or release is decided with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At {
    /// When the gateway accepted the command (at most `now`): decides whether it came
    /// before the hold's deadline.
    pub(crate) accepted: DateTime<Utc>,
    /// When the worker decides it: stamps the new order.
    pub(crate) now: DateTime<Utc>,
}

/// Looks up a hold of `ticket`: unknown and other tickets' holds are both `404`.
fn own_hold(ev: &EventState, ticket: TicketId, id: HoldId) -> Result<&HoldRecord, Outcome> {
    match ev.holds.get(&id) {
        Some(h) if h.ticket_id == ticket => Ok(h),
        _ => Err(Outcome::rejected(ErrorCode::NotFound, "no such hold")),
    }
}

/// Rejection for a hold that is not `held`, or a command accepted at or after its
/// deadline.
fn not_active(state: HoldState) -> Outcome {
    match state {
        HoldState::Expired | HoldState::Held => {
            Outcome::rejected(ErrorCode::HoldExpired, "the hold has expired")
        }
        HoldState::Confirmed => {
            Outcome::rejected(ErrorCode::HoldNotActive, "the hold is already confirmed")
        }
        HoldState::Released => Outcome::rejected(ErrorCode::HoldNotActive, "the hold was released"),
    }
}

/// Adds to a `410 hold_expired` the two instants it was decided by, as
/// `details: {"accepted_at", "expires_at"}` (RFC 3339, UTC): when the gateway accepted
/// the confirm, and the hold's deadline. A fan (or their support) can see which came
/// first; an `accepted_at` before `expires_at` means the hold had already expired
/// because the command reached the queue too late (docs/RESERVATIONS.md).
fn with_times(outcome: Outcome, accepted: DateTime<Utc>, expires_at: DateTime<Utc>) -> Outcome {
    match outcome {
        Outcome::Rejected(mut e) if e.code == ErrorCode::HoldExpired => {
            let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            e.details = Some(serde_json::json!({
                "accepted_at": stamp(accepted),
                "expires_at": stamp(expires_at),
            }));
            Outcome::Rejected(e)
        }
        other => other,
    }
}

/// Confirms hold `id` of `ticket` into an order (seats sold, pass used up) if the
/// command was accepted before the hold's deadline and the hold is still held.
///
/// In an event whose checkout is `origin`, a fan's confirm is `403 forbidden` whatever
/// the hold: only the venue's server, which saw the payment, may confirm (the gateway
/// refuses it too, but the worker trusts no gateway).
#[allow(clippy::too_many_arguments)]
pub(crate) fn confirm<R: RngCore + ?Sized>(
    ev: &mut EventState,
    ticket: TicketId,
    id: HoldId,
    payment_ref: &str,
    by: Confirmer,
    at: At,
    rng: &mut R,
    out: &mut Vec<Effect>,
) -> Outcome {
    if by == Confirmer::Fan && ev.config.spec.checkout.mode == CheckoutMode::Origin {
        return Outcome::rejected(ErrorCode::Forbidden, ORIGIN_CHECKOUT);
    }
    let h = match own_hold(ev, ticket, id) {
        Ok(h) => h,
        Err(rejection) => return rejection,
    };
    // Too late is answered without ending the hold: a confirm accepted in time may
    // still be behind this one in the queue (the watermark expires the hold).
    if h.state != HoldState::Held || at.accepted >= h.expires_at {
        return with_times(not_active(h.state), at.accepted, h.expires_at);
    }
    let now = at.now;
    let mut view = ev.hold_view(id, h);
    view.hold.state = HoldState::Confirmed;
    let seats = std::mem::take(&mut ev.holds.get_mut(&id).expect("looked up above").seats);
    let rec = ev.holds.get_mut(&id).expect("looked up above");
    rec.state = HoldState::Confirmed;
    rec.user_ref = None; // in the effect's view; a finished hold keeps only what it must
    for &i in seats.iter() {
        ev.set_seat(i as usize, SeatStatus::Sold);
    }
    ev.deadlines.remove(&(view.hold.expires_at, id));
    ev.counts.holds_active -= 1;
    ev.counts.orders += 1;
    let t = ev.tickets.entry(ticket).or_default();
    t.held_seats = t.held_seats.saturating_sub(seats.len() as u32);
    t.has_order = true;
    let order_id = OrderId(new_uuid(now, rng));
    let record = OrderRecord {
        hold_id: id,
        ticket_id: ticket,
        seats,
        total_cents: view.hold.total_cents,
        confirmed_at: now,
        cancelled_at: None,
    };
    let order = ev.order_view(order_id, &record);
    ev.orders.insert(order_id, record);
    out.push(Effect::OrderConfirmed {
        hold: view,
        order: order.clone(),
        payment_ref: payment_ref.to_owned(),
    });
    Outcome::OrderConfirmed(order)
}

/// Releases hold `id` of `ticket` early (accepted before its deadline): its seats are
/// available again.
pub(crate) fn release(
    ev: &mut EventState,
    ticket: TicketId,
    id: HoldId,
    at: At,
    out: &mut Vec<Effect>,
) -> Outcome {
    let h = match own_hold(ev, ticket, id) {
        Ok(h) => h,
        Err(rejection) => return rejection,
    };
    if h.state != HoldState::Held || at.accepted >= h.expires_at {
        let state = h.state;
        return Outcome::rejected(
            ErrorCode::HoldNotActive,
            match state {
                HoldState::Held | HoldState::Expired => "the hold has expired",
                HoldState::Confirmed => "the hold is already confirmed",
                HoldState::Released => "the hold was already released",
            },
        );
    }
    match ev.end_hold(id, HoldState::Released, out) {
        Some(view) => Outcome::HoldReleased(view.hold),
        None => Outcome::rejected(ErrorCode::HoldNotActive, "the hold is not active"),
    }
}
