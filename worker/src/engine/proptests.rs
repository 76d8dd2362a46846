//! Property tests: random sequences of hold / best-available / confirm / release /
//! order cancel / watermark / replay / clock advance over a small event, confirms accepted now or a
//! while ago. After every step:
//!
//! - the effects, applied to a model of the database (claims keyed by seat, as the
//!   `seat_claims` primary key), never claim a seat twice and match the engine's seats;
//! - sold + held + available = total, and the counts match the seat vector;
//! - every held seat belongs to exactly one active hold;
//! - no hold expires before the watermark reaches its deadline, and none outlives the
//!   watermark; no confirm accepted at or after the deadline makes an order;
//! - a replayed request gets an identical outcome and changes nothing;
//! - a confirm accepted at or past its hold's deadline is refused with `hold_expired`;
//! - a cancel frees exactly the seats its order sold, once.
//!
//! At the end the event is rebuilt from the model (as on shard takeover) and must equal
//! the live state.

use super::tests::{hold_cmd, spec, t0};
use super::*;
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use protocol::command::{Command, Envelope, Idempotency, SeatSelection};
use protocol::ids::{EventId, HoldId, OrderId, RequestId, TicketId};
use protocol::reply::{ErrorCode, HoldState, Outcome};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone)]
enum Op {
    Hold {
        ticket: usize,
        seats: Vec<usize>,
        key: Option<(u8, u8)>,
    },
    Best {
        ticket: usize,
        section_b: bool,
        quantity: u32,
    },
    Confirm {
        ticket: usize,
        own: bool,
        hold: usize,
        key: Option<u8>,
        /// Accepted this long before now (a backlog).
        ago_secs: i64,
    },
    Release {
        ticket: usize,
        own: bool,
        hold: usize,
    },
    /// The venue cancels an order (of the named ticket, or of its buyer).
    Cancel {
        ticket: usize,
        own: bool,
        order: usize,
    },
    /// The watermark moves to this long before now.
    Watermark {
        lag_secs: i64,
    },
    Advance {
        secs: i64,
    },
    Replay {
        index: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, prop::collection::vec(0..14usize, 0..5), prop::option::of((0..3u8, 0..2u8)))
            .prop_map(|(ticket, seats, key)| Op::Hold { ticket, seats, key }),
        2 => (0..4usize, any::<bool>(), 0..5u32)
            .prop_map(|(ticket, section_b, quantity)| Op::Best { ticket, section_b, quantity }),
        3 => (0..4usize, prop::bool::weighted(0.9), any::<usize>(), prop::option::of(0..2u8), prop_oneof![Just(0i64), 0..90i64])
            .prop_map(|(ticket, own, hold, key, ago_secs)| Op::Confirm { ticket, own, hold, key, ago_secs }),
        2 => (0..4usize, prop::bool::weighted(0.9), any::<usize>())
            .prop_map(|(ticket, own, hold)| Op::Release { ticket, own, hold }),
        2 => (0..4usize, prop::bool::weighted(0.9), any::<usize>())
            .prop_map(|(ticket, own, order)| Op::Cancel { ticket, own, order }),
        1 => (0..5i64).prop_map(|lag_secs| Op::Watermark { lag_secs }),
        2 => (0..40i64).prop_map(|secs| Op::Advance { secs }),
        1 => any::<usize>().prop_map(|index| Op::Replay { index }),
    ]
}

/// The database as the effects describe it.
#[derive(Default)]
struct Model {
    /// The engine's watermark after the step.
    watermark: Option<DateTime<Utc>>,
    /// Accepted time of the step's command.
    accepted: Option<DateTime<Utc>>,
    claims: HashMap<String, (HoldId, SeatStatus)>,
    order_seats: HashSet<String>,
    holds: HashMap<HoldId, RestoredHold>,
    orders: HashMap<OrderId, RestoredOrder>,
    keys: Vec<RestoredKey>,
}

impl Model {
    fn apply(&mut self, effects: &[Effect]) -> Result<(), TestCaseError> {
        for e in effects {
            match e {
                Effect::HoldCreated(v) => {
                    for s in &v.hold.seats {
                        let prev = self.claims.insert(s.clone(), (v.hold.id, SeatStatus::Held));
                        prop_assert!(prev.is_none(), "seat {} claimed twice", s);
                    }
                    self.holds.insert(
                        v.hold.id,
                        RestoredHold {
                            id: v.hold.id,
                            ticket_id: v.ticket_id,
                            state: HoldState::Held,
                            expires_at: v.hold.expires_at,
                            total_cents: v.hold.total_cents,
                            seats: v.hold.seats.clone(),
                            user_ref: None,
                        },
                    );
                }
                Effect::OrderConfirmed { hold, order, .. } => {
                    let accepted = self.accepted.expect("a confirm was sent");
                    prop_assert!(
                        accepted < hold.hold.expires_at,
                        "confirmed though accepted after the deadline"
                    );
                    for s in &order.seats {
                        let claim = self.claims.get_mut(s);
                        prop_assert_eq!(
                            claim.as_deref().copied(),
                            Some((hold.hold.id, SeatStatus::Held))
                        );
                        if let Some(c) = claim {
                            c.1 = SeatStatus::Sold;
                        }
                        prop_assert!(self.order_seats.insert(s.clone()), "seat {} sold twice", s);
                    }
                    self.holds.get_mut(&hold.hold.id).unwrap().state = HoldState::Confirmed;
                    self.orders.insert(
                        order.id,
                        RestoredOrder {
                            id: order.id,
                            hold_id: order.hold_id,
                            ticket_id: hold.ticket_id,
                            seats: order.seats.clone(),
                            total_cents: order.total_cents,
                            confirmed_at: order.confirmed_at,
                            cancelled_at: None,
                        },
                    );
                }
                Effect::OrderCancelled {
                    order, ticket_id, ..
                } => {
                    let row = self.orders.get_mut(&order.id);
                    prop_assert!(row.is_some(), "cancel of an order never confirmed");
                    let row = row.unwrap();
                    prop_assert!(row.cancelled_at.is_none(), "order cancelled twice");
                    prop_assert_eq!(row.ticket_id, *ticket_id);
                    row.cancelled_at = order.cancelled_at;
                    for s in &order.seats {
                        prop_assert_eq!(
                            self.claims.remove(s),
                            Some((order.hold_id, SeatStatus::Sold))
                        );
                        prop_assert!(self.order_seats.remove(s), "seat {} was not sold", s);
                    }
                }
                Effect::HoldEnded(v) => {
                    if v.hold.state == HoldState::Expired {
                        let reached = self.watermark.is_some_and(|w| v.hold.expires_at <= w);
                        prop_assert!(reached, "expired before the watermark reached its deadline");
                    }
                    for s in &v.hold.seats {
                        prop_assert_eq!(self.claims.remove(s), Some((v.hold.id, SeatStatus::Held)));
                    }
                    self.holds.get_mut(&v.hold.id).unwrap().state = v.hold.state;
                }
                Effect::Result(r) => {
                    if let (Some(k), Some(t)) = (&r.idempotency, r.ticket_id) {
                        self.keys.push(RestoredKey {
                            ticket_id: t,
                            key: k.key.to_string(),
                            fingerprint: k.fingerprint.to_string(),
                            outcome: r.outcome.clone(),
                        });
                    }
                }
                Effect::EventCreated(_) | Effect::EventUpdated(_) => {}
            }
        }
        Ok(())
    }
}

fn check(ev: &EventState, model: &Model) -> Result<(), TestCaseError> {
    let c = ev.counts();
    prop_assert_eq!(c.available + c.held + c.sold, ev.seats.len() as u64);
    let count = |s| ev.seats.iter().filter(|x| **x == s).count() as u64;
    prop_assert_eq!(
        (c.available, c.held, c.sold),
        (
            count(SeatStatus::Available),
            count(SeatStatus::Held),
            count(SeatStatus::Sold)
        )
    );
    let mut in_holds = HashSet::new();
    for rec in ev.holds.values().filter(|h| h.state == HoldState::Held) {
        if let Some(w) = model.watermark {
            prop_assert!(rec.expires_at > w, "hold outlived the watermark");
        }
        for &i in rec.seats.iter() {
            prop_assert!(in_holds.insert(i as usize), "seat in two active holds");
            prop_assert_eq!(ev.seats[i as usize], SeatStatus::Held);
        }
    }
    prop_assert_eq!(in_holds.len() as u64, c.held);
    for (i, st) in ev.seats.iter().enumerate() {
        let want = model
            .claims
            .get(&ev.layout.seat_id(i))
            .map_or(SeatStatus::Available, |c| c.1);
        prop_assert_eq!(*st, want);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]
    #[test]
    fn engine_invariants(ops in prop::collection::vec(op(), 1..80), seed in any::<u64>()) {
        let event = EventId::new();
        let tickets: Vec<TicketId> = (0..4).map(|_| TicketId::new()).collect();
        let seat_ids: Vec<String> = spec(false).seating.seats().map(|(s, _)| s.to_string()).collect();
        let mut engine = Engine::new(3);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut now = t0();
        let mut model = Model::default();
        let mut sent: Vec<(Envelope, Outcome)> = Vec::new();
        let mut holds: Vec<(HoldId, TicketId)> = Vec::new();
        let mut orders: Vec<(OrderId, TicketId)> = Vec::new();
        let mut out = Vec::new();
        let env = |command, sent_at| Envelope { request_id: RequestId::new(), event_id: event, sent_at, command };
        let create = env(Command::CreateEvent { spec: spec(false) }, now);
        let created = engine.apply(&create, now, &mut rng, &mut out);
        prop_assert!(matches!(created, Outcome::EventCreated(_)));
        for op in ops {
            out.clear();
            let mut expect_expired = false;
            let mut sent_at = now;
            let envelope = match op {
                Op::Hold { ticket, seats, key } => {
                    let ids: Vec<&str> = seats.iter().map(|&i| seat_ids[i].as_str()).collect();
                    let key = key.map(|(k, f)| (format!("k{k}"), format!("f{f}")));
                    Some(env(hold_cmd(tickets[ticket], &ids, key.as_ref().map(|(k, f)| (k.as_str(), f.as_str()))), now))
                }
                Op::Best { ticket, section_b, quantity } => Some(env(Command::Hold {
                    ticket_id: tickets[ticket],
                    selection: SeatSelection::Best { section: if section_b { "B" } else { "A" }.parse().unwrap(), quantity },
                    idempotency: None,
                 user_ref: None }, now)),
                Op::Confirm { ticket, own, hold, key, ago_secs } => {
                    sent_at = now - Duration::seconds(ago_secs);
                    let (hold_id, owner) = holds.get(hold % holds.len().max(1)).copied().unwrap_or((HoldId::new(), tickets[0]));
                    let ticket_id = if own { owner } else { tickets[ticket] };
                    let rec = engine.event(&event).and_then(|e| e.holds.get(&hold_id));
                    expect_expired = key.is_none() && rec.is_some_and(|r| {
                        r.ticket_id == ticket_id && (r.state == HoldState::Expired || (r.state == HoldState::Held && sent_at >= r.expires_at))
                    });
                    Some(env(Command::Confirm {
                        ticket_id, hold_id, payment_ref: "p".parse().unwrap(),
                        idempotency: key.map(|k| Idempotency { key: format!("c{k}").parse().unwrap(), fingerprint: "f".parse().unwrap() }),
                     by: Default::default() }, sent_at))
                }
                Op::Release { ticket, own, hold } => {
                    let (hold_id, owner) = holds.get(hold % holds.len().max(1)).copied().unwrap_or((HoldId::new(), tickets[0]));
                    Some(env(Command::Release { ticket_id: if own { owner } else { tickets[ticket] }, hold_id }, now))
                }
                Op::Cancel { ticket, own, order } => {
                    let (order_id, owner) = orders.get(order % orders.len().max(1)).copied().unwrap_or((OrderId::new(), tickets[0]));
                    Some(env(Command::CancelOrder {
                        ticket_id: if own { owner } else { tickets[ticket] },
                        order_id, reason: None, idempotency: None,
                    }, now))
                }
                Op::Watermark { lag_secs } => { engine.advance_watermark(now - Duration::seconds(lag_secs), &mut out); None }
                Op::Advance { secs } => { now += Duration::seconds(secs); None }
                Op::Replay { index } => {
                    if let Some((e, first)) = sent.get(index % sent.len().max(1)).cloned() {
                        let again = engine.apply(&e, now, &mut rng, &mut out);
                        prop_assert_eq!(&again, &first, "replay changed the outcome");
                        prop_assert!(!out.iter().any(|e| matches!(e, Effect::Result(_))), "replay stored a result");
                    }
                    None
                }
            };
            if let Some(e) = envelope {
                let outcome = engine.apply(&e, now, &mut rng, &mut out);
                if expect_expired {
                    prop_assert!(matches!(&outcome, Outcome::Rejected(d) if d.code == ErrorCode::HoldExpired), "{:?}", outcome);
                }
                if let Outcome::HoldCreated(h) = &outcome {
                    if !holds.iter().any(|(id, _)| *id == h.id) {
                        holds.push((h.id, e.command.ticket_id().unwrap()));
                    }
                }
                if let Outcome::OrderConfirmed(o) = &outcome {
                    if !orders.iter().any(|(id, _)| *id == o.id) {
                        orders.push((o.id, e.command.ticket_id().unwrap()));
                    }
                }
                sent.push((e, outcome));
            }
            model.watermark = engine.watermark();
            model.accepted = Some(sent_at);
            model.apply(&out)?;
            check(engine.event(&event).unwrap(), &model)?;
        }
        // Rebuild from the model, as a new owner would from PostgreSQL.
        let live = engine.event(&event).unwrap();
        let restored = EventState::restore(Restore {
            config: live.config().clone(),
            claims: model.claims.iter().map(|(s, (_, st))| (s.clone(), *st)).collect(),
            holds: model.holds.values().cloned().collect(),
            orders: model.orders.values().cloned().collect(),
            keys: model.keys.clone(),
        }).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&restored.seats, &live.seats);
        prop_assert_eq!(restored.counts(), live.counts());
        let used = |m: &HashMap<TicketId, _>| -> HashMap<TicketId, _> {
            m.iter().filter(|(_, t)| **t != Default::default()).map(|(k, v)| (*k, *v)).collect()
        };
        prop_assert_eq!(used(&restored.tickets), used(&live.tickets));
        prop_assert_eq!(&restored.deadlines, &live.deadlines);
        prop_assert_eq!(&restored.keyed, &live.keyed);
        prop_assert_eq!(&restored.orders, &live.orders);
    }
}
