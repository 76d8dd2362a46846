//! Model-based property test: random sequences of holds (listed seats,
//! best-available), confirms (by the fan or the venue's server, in an event with fan or
//! origin checkout), order cancels, releases, watermark advances, replays, idempotency keys
//! and clock advances, applied both to the engine and to the reference model
//! (`model.rs`). Confirms and releases carry random accepted times: now, seconds or
//! minutes ago (a backlog), ahead of the worker's clock (clamped to now), or exactly at
//! their hold's deadline or one microsecond before it. After every step:
//!
//! - the engine's outcome is the one the model predicts (status, code, seats, deadline,
//!   price; a replay or a reused key gets exactly the first outcome);
//! - every seat has the same status in both, so a seat is never in two active holds,
//!   and released and expired seats are available again;
//! - every hold has the same state in both (a confirm accepted one microsecond before
//!   the deadline succeeds however late it is decided, one accepted at it is
//!   `410 hold_expired`; a hold expires once the watermark reaches its deadline, never
//!   because the clock moved).

use super::model::{Expect, Model, Seat};
use super::tests::spec;
use super::*;
use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use protocol::command::{Command, Confirmer, Envelope, Idempotency, SeatSelection};
use protocol::ids::{EventId, HoldId, OrderId, RequestId, TicketId};
use protocol::reply::{HoldState, Outcome};
use rand::rngs::StdRng;
use rand::SeedableRng;

#[derive(Debug, Clone)]
enum Op {
    Hold {
        ticket: usize,
        seats: Vec<usize>,
        key: Option<(u8, u8)>,
    },
    Best {
        ticket: usize,
        section: usize,
        quantity: u32,
        key: Option<(u8, u8)>,
    },
    Confirm {
        ticket: usize,
        own: bool,
        hold: usize,
        key: Option<(u8, u8)>,
        stamp: Stamp,
        /// Sent by the venue's server rather than the fan.
        by_origin: bool,
    },
    /// The venue cancels an order (of the named ticket, or of its buyer).
    Cancel {
        ticket: usize,
        own: bool,
        order: usize,
        key: Option<(u8, u8)>,
    },
    Release {
        ticket: usize,
        own: bool,
        hold: usize,
        stamp: Stamp,
    },
    Advance {
        ms: i64,
    },
    /// Jump to a hold's deadline, or to one microsecond before it.
    ToDeadline {
        hold: usize,
        before: bool,
    },
    /// The watermark moves to `lag_ms` before now.
    Watermark {
        lag_ms: i64,
    },
    Replay {
        index: usize,
    },
}

/// When the gateway accepted a confirm or release, relative to the worker's clock or to
/// the deadline of the hold it names.
#[derive(Debug, Clone)]
enum Stamp {
    Now,
    Ago { ms: i64 },
    Ahead { ms: i64 },
    AtDeadline { before: bool },
}

fn stamp() -> impl Strategy<Value = Stamp> {
    prop_oneof![
        4 => Just(Stamp::Now),
        3 => (0..120_000i64).prop_map(|ms| Stamp::Ago { ms }),
        1 => (1..5_000i64).prop_map(|ms| Stamp::Ahead { ms }),
        3 => any::<bool>().prop_map(|before| Stamp::AtDeadline { before }),
    ]
}

const TICKETS: usize = 4;
const SECTIONS: [&str; 3] = ["A", "B", "Z"];

fn op() -> impl Strategy<Value = Op> {
    let key = || prop::option::weighted(0.3, (0..3u8, 0..2u8));
    prop_oneof![
        5 => (0..TICKETS, prop::collection::vec(0..15usize, 0..6), key())
            .prop_map(|(ticket, seats, key)| Op::Hold { ticket, seats, key }),
        3 => (0..TICKETS, 0..3usize, 0..6u32, key())
            .prop_map(|(ticket, section, quantity, key)| Op::Best { ticket, section, quantity, key }),
        4 => (0..TICKETS, prop::bool::weighted(0.9), any::<usize>(), key(), stamp(), any::<bool>())
            .prop_map(|(ticket, own, hold, key, stamp, by_origin)| Op::Confirm { ticket, own, hold, key, stamp, by_origin }),
        2 => (0..TICKETS, prop::bool::weighted(0.9), any::<usize>(), key())
            .prop_map(|(ticket, own, order, key)| Op::Cancel { ticket, own, order, key }),
        2 => (0..TICKETS, prop::bool::weighted(0.9), any::<usize>(), stamp())
            .prop_map(|(ticket, own, hold, stamp)| Op::Release { ticket, own, hold, stamp }),
        2 => (0..30_000i64).prop_map(|ms| Op::Advance { ms }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(hold, before)| Op::ToDeadline { hold, before }),
        2 => prop_oneof![Just(0i64), 0..60_000i64].prop_map(|lag_ms| Op::Watermark { lag_ms }),
        2 => any::<usize>().prop_map(|index| Op::Replay { index }),
    ]
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 11, 0, 0).unwrap()
}

/// Checks the engine's `outcome` against the model's expectation.
fn check(
    expected: &Expect,
    outcome: &Outcome,
    model: &Model,
    now: DateTime<Utc>,
    accepted: DateTime<Utc>,
) -> Result<(), TestCaseError> {
    match (expected, outcome) {
        (Expect::Exactly(first), o) => prop_assert_eq!(o, first, "a replay must be identical"),
        (
            Expect::Hold {
                seats,
                expires_at,
                total_cents,
            },
            Outcome::HoldCreated(h),
        ) => {
            prop_assert_eq!(&h.seats, seats);
            prop_assert_eq!(h.expires_at, *expires_at);
            prop_assert_eq!(h.total_cents, *total_cents);
            prop_assert_eq!(h.state, HoldState::Held);
            prop_assert!(model.hold_of(h.id).is_none(), "hold id reused");
        }
        (Expect::Order { hold }, Outcome::OrderConfirmed(o)) => {
            let h = model.hold_of(*hold).expect("the model knows the hold");
            prop_assert_eq!(o.hold_id, *hold);
            prop_assert_eq!(&o.seats, &h.seats);
            prop_assert_eq!(o.total_cents, h.total_cents);
            prop_assert_eq!(o.confirmed_at, now);
            prop_assert!(
                accepted.min(now) < h.expires_at,
                "confirmed though accepted at or after the deadline"
            );
        }
        (Expect::Cancelled { order }, Outcome::OrderCancelled(o)) => {
            let m = model.order_of(*order).expect("the model knows the order");
            let h = model.hold_of(m.hold).expect("and its hold");
            prop_assert_eq!(o.id, *order);
            prop_assert_eq!(o.hold_id, m.hold);
            prop_assert_eq!(&o.seats, &h.seats);
            // The first cancel stamps it; a later one repeats that answer.
            prop_assert_eq!(o.cancelled_at, Some(m.cancelled_at.unwrap_or(now)));
        }
        (Expect::Released { hold }, Outcome::HoldReleased(h)) => {
            prop_assert_eq!(h.id, *hold);
            prop_assert_eq!(h.state, HoldState::Released);
            prop_assert_eq!(&h.seats, &model.hold_of(*hold).unwrap().seats);
        }
        (Expect::Refused { code, unavailable }, Outcome::Rejected(e)) => {
            prop_assert_eq!(e.code, *code, "{}", e.message);
            if let Some(seats) = unavailable {
                let listed = e.details.as_ref().map(|d| d["unavailable"].clone());
                prop_assert_eq!(listed, Some(serde_json::json!(seats)));
            }
        }
        (expected, got) => prop_assert!(false, "expected {:?}, engine said {:?}", expected, got),
    }
    Ok(())
}

/// Seat statuses and hold states agree between engine and model.
fn same_state(engine: &Engine, event: &EventId, model: &Model) -> Result<(), TestCaseError> {
    let ev = engine.event(event).expect("the event");
    for (id, seat) in &model.seats {
        let want = match seat {
            Seat::Free => SeatStatus::Available,
            Seat::Held => SeatStatus::Held,
            Seat::Sold => SeatStatus::Sold,
        };
        prop_assert_eq!(ev.seat_status(id), Some(want), "seat {}", id);
    }
    for h in &model.holds {
        let state = ev.holds.get(&h.id).map(|r| r.state);
        prop_assert_eq!(state, Some(h.state), "hold {}", h.id);
    }
    let c = ev.counts();
    let held = model
        .holds
        .iter()
        .filter(|h| h.state == HoldState::Held)
        .count();
    prop_assert_eq!(c.holds_active, held as u64);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn the_engine_behaves_like_the_reference_model(
        ops in prop::collection::vec(op(), 1..120),
        seed in any::<u64>(),
        origin_checkout in prop::bool::weighted(0.25),
    ) {
        let mut spec = spec(false);
        if origin_checkout {
            spec.checkout = serde_json::from_value(serde_json::json!(
                {"mode": "origin", "url": "https://shop.example.com/pay"})).unwrap();
        }
        let event = EventId::new();
        let tickets: Vec<TicketId> = (0..TICKETS).map(|_| TicketId::new()).collect();
        let mut seat_ids: Vec<String> = spec.seating.seats().map(|(s, _)| s.to_string()).collect();
        seat_ids.push("A-9-9".into()); // unknown seat
        let mut engine = Engine::new(1);
        let mut model = Model::new(&spec);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut now = t0();
        let mut out = Vec::new();
        let env = |command, sent_at| Envelope { request_id: RequestId::new(), event_id: event, sent_at, command };
        let create = env(Command::CreateEvent { spec: spec.clone() }, now);
        prop_assert!(matches!(engine.apply(&create, now, &mut rng, &mut out), Outcome::EventCreated(_)));
        let mut sent: Vec<Envelope> = Vec::new();
        let idem = |key: Option<(u8, u8)>| key.map(|(k, f)| Idempotency { key: format!("k{k}").parse().unwrap(), fingerprint: format!("f{f}").parse().unwrap() });
        for op in ops {
            let pick_hold = |i: usize, model: &Model| model.holds.get(i % model.holds.len().max(1)).map(|h| (h.id, h.ticket, h.expires_at));
            let accepted_at = |stamp: &Stamp, deadline: Option<DateTime<Utc>>| match (stamp, deadline) {
                (Stamp::Ago { ms }, _) => now - Duration::milliseconds(*ms),
                (Stamp::Ahead { ms }, _) => now + Duration::milliseconds(*ms),
                (Stamp::AtDeadline { before }, Some(at)) => at - Duration::microseconds(i64::from(*before)),
                (Stamp::Now | Stamp::AtDeadline { .. }, _) => now,
            };
            let mut sent_at = now;
            let command = match op {
                Op::Hold { ticket, seats, key } => Some(Command::Hold {
                    ticket_id: tickets[ticket],
                    selection: SeatSelection::Seats { seats: seats.iter().map(|&i| seat_ids[i].parse().unwrap()).collect() },
                    idempotency: idem(key),
                 user_ref: None }),
                Op::Best { ticket, section, quantity, key } => Some(Command::Hold {
                    ticket_id: tickets[ticket],
                    selection: SeatSelection::Best { section: SECTIONS[section].parse().unwrap(), quantity },
                    idempotency: idem(key),
                 user_ref: None }),
                Op::Confirm { ticket, own, hold, key, stamp, by_origin } => {
                    let picked = pick_hold(hold, &model);
                    sent_at = accepted_at(&stamp, picked.map(|p| p.2));
                    let (hold_id, owner, _) = picked.unwrap_or((HoldId::new(), tickets[0], now));
                    Some(Command::Confirm {
                        ticket_id: if own { owner } else { tickets[ticket] },
                        hold_id,
                        payment_ref: "p".parse().unwrap(),
                        idempotency: idem(key),
                     by: if by_origin { Confirmer::Origin } else { Confirmer::Fan } })
                }
                Op::Release { ticket, own, hold, stamp } => {
                    let picked = pick_hold(hold, &model);
                    sent_at = accepted_at(&stamp, picked.map(|p| p.2));
                    let (hold_id, owner, _) = picked.unwrap_or((HoldId::new(), tickets[0], now));
                    Some(Command::Release { ticket_id: if own { owner } else { tickets[ticket] }, hold_id })
                }
                Op::Cancel { ticket, own, order, key } => {
                    let picked = model.orders.get(order % model.orders.len().max(1)).map(|o| (o.id, o.ticket));
                    let (order_id, owner) = picked.unwrap_or((OrderId::new(), tickets[0]));
                    Some(Command::CancelOrder {
                        ticket_id: if own { owner } else { tickets[ticket] },
                        order_id,
                        reason: Some("refund".parse().unwrap()),
                        idempotency: idem(key),
                    })
                }
                Op::Advance { ms } => { now += Duration::milliseconds(ms); None }
                Op::ToDeadline { hold, before } => {
                    if let Some(h) = model.holds.get(hold % model.holds.len().max(1)) {
                        let at = h.expires_at - Duration::microseconds(i64::from(before));
                        now = now.max(at);
                    }
                    None
                }
                Op::Watermark { lag_ms } => {
                    let to = now - Duration::milliseconds(lag_ms);
                    out.clear();
                    engine.advance_watermark(to, &mut out);
                    model.advance_watermark(to);
                    for e in &out {
                        match e {
                            Effect::HoldEnded(v) => prop_assert!(v.hold.expires_at <= to, "expired before the watermark reached it"),
                            other => prop_assert!(false, "a watermark only expires holds: {:?}", other),
                        }
                    }
                    None
                }
                Op::Replay { index } => {
                    if let Some(first) = sent.get(index % sent.len().max(1)).cloned() {
                        let expected = model.expect(&first, now);
                        prop_assert!(matches!(expected, Expect::Exactly(_)));
                        out.clear();
                        let again = engine.apply(&first, now, &mut rng, &mut out);
                        check(&expected, &again, &model, now, first.sent_at)?;
                        prop_assert!(!out.iter().any(|e| matches!(e, Effect::Result(_))), "a replay stored a result");
                    }
                    None
                }
            };
            if let Some(command) = command {
                let e = env(command, sent_at);
                let expected = model.expect(&e, now);
                out.clear();
                let outcome = engine.apply(&e, now, &mut rng, &mut out);
                check(&expected, &outcome, &model, now, sent_at)?;
                prop_assert!(
                    !out.iter().any(|e| matches!(e, Effect::HoldEnded(v) if v.hold.state == HoldState::Expired)),
                    "a command expired a hold"
                );
                model.adopt(&e, &expected, &outcome);
                sent.push(e);
            }
            same_state(&engine, &event, &model)?;
        }
    }
}
