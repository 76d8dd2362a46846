//! A batch's effects as column arrays, ready for bulk `UNNEST` statements.
//!
//! A cancelled order's claims join the freed ones, and its rows are updated before
//! anything is inserted, so its seats can be held again in the same batch.
//!
//! Effects are netted per hold first: a hold created and ended (or confirmed) within the
//! same batch is inserted once with its final state, and only holds that end up `held`
//! or `confirmed` insert claims. So the statements can run in a fixed order (delete ended
//! claims, sell confirmed claims, insert new holds and claims, orders, results) and a
//! seat released and re-held in one batch never trips the claim key.

use crate::engine::{CommandResult, Effect};
use chrono::{DateTime, Utc};
use protocol::event::EventConfig;
use protocol::reply::{HoldState, Order, StoredHold};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Text of a hold state in the `holds.state` column.
pub(crate) fn hold_state_str(s: HoldState) -> &'static str {
    match s {
        HoldState::Held => "held",
        HoldState::Confirmed => "confirmed",
        HoldState::Released => "released",
        HoldState::Expired => "expired",
    }
}

/// New holds (and their claims) of the batch, with their final state.
#[derive(Debug, Default)]
pub(crate) struct NewHolds<'a> {
    pub(crate) views: Vec<&'a StoredHold>,
    pub(crate) states: Vec<HoldState>,
}

/// Claim rows: `(event, seat)` pairs, with the hold and claim state for inserts.
#[derive(Debug, Default)]
pub(crate) struct Claims<'a> {
    pub(crate) event_ids: Vec<Uuid>,
    pub(crate) seat_ids: Vec<&'a str>,
    pub(crate) hold_ids: Vec<Uuid>,
    pub(crate) states: Vec<&'static str>,
}

impl<'a> Claims<'a> {
    fn push(&mut self, view: &'a StoredHold, state: &'static str) {
        for s in &view.hold.seats {
            self.event_ids.push(view.hold.event_id.0);
            self.seat_ids.push(s);
            self.hold_ids.push(view.hold.id.0);
            self.states.push(state);
        }
    }

    /// The claims of a cancelled order's seats (held by its hold's id).
    fn push_order(&mut self, order: &'a Order) {
        for s in &order.seats {
            self.event_ids.push(order.event_id.0);
            self.seat_ids.push(s);
            self.hold_ids.push(order.hold_id.0);
            self.states.push("");
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.seat_ids.is_empty()
    }
}

/// One order row with its payment reference.
#[derive(Debug)]
pub(crate) struct NewOrder<'a> {
    pub(crate) hold: &'a StoredHold,
    pub(crate) order: &'a Order,
    pub(crate) payment_ref: &'a str,
    /// Set when the same batch also cancelled it: inserted cancelled, without
    /// `order_seats` rows.
    pub(crate) cancelled: Option<Cancel<'a>>,
}

/// A cancel of an order: its `cancelled_at` (in `order`) and reason.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cancel<'a> {
    pub(crate) order: &'a Order,
    pub(crate) reason: Option<&'a str>,
}

/// Everything one batch transaction writes.
#[derive(Debug, Default)]
pub(crate) struct WritePlan<'a> {
    /// When the batch was decided (`created_at`, `updated_at`, `claimed_at`).
    pub(crate) now: DateTime<Utc>,
    pub(crate) new_events: Vec<&'a EventConfig>,
    pub(crate) updated_events: Vec<&'a EventConfig>,
    pub(crate) new_holds: NewHolds<'a>,
    /// Holds that existed before the batch, with their new state.
    pub(crate) hold_updates: Vec<(Uuid, &'static str)>,
    /// Claims of pre-existing holds that ended: delete.
    pub(crate) claims_freed: Claims<'a>,
    /// Claims of pre-existing holds that were confirmed: `state = 'sold'`.
    pub(crate) claims_sold: Claims<'a>,
    /// Claims of new holds still `held` or already `confirmed`: insert.
    pub(crate) claims_new: Claims<'a>,
    pub(crate) orders: Vec<NewOrder<'a>>,
    /// Cancels of orders committed before the batch: `orders` updated, their
    /// `order_seats` deleted (their claims are in `claims_freed`). Written before the
    /// holds and orders, so a seat cancelled and sold again in one batch is free first.
    pub(crate) cancels: Vec<Cancel<'a>>,
    pub(crate) results: Vec<&'a CommandResult>,
    /// The effects themselves, in decision order (the webhook outbox announces each).
    pub(crate) effects: &'a [Effect],
}

impl<'a> WritePlan<'a> {
    /// Nets `effects` (in decision order) into a plan.
    pub(crate) fn new(effects: &'a [Effect], now: DateTime<Utc>) -> Self {
        let mut p = WritePlan {
            now,
            effects,
            ..Default::default()
        };
        let mut new_index: HashMap<Uuid, usize> = HashMap::new();
        let mut updated: HashMap<Uuid, usize> = HashMap::new();
        let mut existing: HashMap<Uuid, usize> = HashMap::new();
        let mut new_orders: HashMap<Uuid, usize> = HashMap::new();
        let mut cancelled_holds: HashSet<Uuid> = HashSet::new();
        for e in effects {
            match e {
                Effect::EventCreated(c) => p.new_events.push(c),
                Effect::EventUpdated(c) => match updated.get(&c.id.0) {
                    Some(&i) => p.updated_events[i] = c,
                    None => {
                        updated.insert(c.id.0, p.updated_events.len());
                        p.updated_events.push(c);
                    }
                },
                Effect::HoldCreated(v) => {
                    new_index.insert(v.hold.id.0, p.new_holds.views.len());
                    p.new_holds.views.push(v);
                    p.new_holds.states.push(HoldState::Held);
                }
                Effect::OrderConfirmed {
                    hold,
                    order,
                    payment_ref,
                } => {
                    match new_index.get(&hold.hold.id.0) {
                        Some(&i) => p.new_holds.states[i] = HoldState::Confirmed,
                        None => {
                            p.update_existing(&mut existing, hold, HoldState::Confirmed);
                            p.claims_sold.push(hold, "sold");
                        }
                    }
                    new_orders.insert(order.id.0, p.orders.len());
                    p.orders.push(NewOrder {
                        hold,
                        order,
                        payment_ref,
                        cancelled: None,
                    });
                }
                Effect::OrderCancelled { order, reason, .. } => {
                    let cancel = Cancel {
                        order,
                        reason: reason.as_deref(),
                    };
                    match new_orders.get(&order.id.0) {
                        Some(&i) => {
                            p.orders[i].cancelled = Some(cancel);
                            if new_index.contains_key(&order.hold_id.0) {
                                cancelled_holds.insert(order.hold_id.0);
                            } else {
                                // Deleted before the batch's `sold` update, which then
                                // finds nothing to sell.
                                p.claims_freed.push_order(order);
                            }
                        }
                        None => {
                            p.claims_freed.push_order(order);
                            p.cancels.push(cancel);
                        }
                    }
                }
                Effect::HoldEnded(v) => match new_index.get(&v.hold.id.0) {
                    Some(&i) => p.new_holds.states[i] = v.hold.state,
                    None => {
                        p.update_existing(&mut existing, v, v.hold.state);
                        p.claims_freed.push(v, "");
                    }
                },
                Effect::Result(r) => p.results.push(r),
            }
        }
        for (view, state) in p.new_holds.views.iter().zip(&p.new_holds.states) {
            match state {
                HoldState::Held => p.claims_new.push(view, "held"),
                HoldState::Confirmed if cancelled_holds.contains(&view.hold.id.0) => {}
                HoldState::Confirmed => p.claims_new.push(view, "sold"),
                HoldState::Released | HoldState::Expired => {}
            }
        }
        p
    }

    fn update_existing(
        &mut self,
        index: &mut HashMap<Uuid, usize>,
        view: &StoredHold,
        state: HoldState,
    ) {
        let s = hold_state_str(state);
        match index.get(&view.hold.id.0) {
            Some(&i) => self.hold_updates[i].1 = s,
            None => {
                index.insert(view.hold.id.0, self.hold_updates.len());
                self.hold_updates.push((view.hold.id.0, s));
            }
        }
    }

    /// Whether the plan writes nothing (an empty expiry tick).
    pub(crate) fn is_empty(&self) -> bool {
        self.new_events.is_empty()
            && self.updated_events.is_empty()
            && self.new_holds.views.is_empty()
            && self.hold_updates.is_empty()
            && self.orders.is_empty()
            && self.cancels.is_empty()
            && self.results.is_empty()
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
