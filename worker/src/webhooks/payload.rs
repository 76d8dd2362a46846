//! The messages the outbox stores: one per decision and type, with the body the
//! Standard Webhooks specification recommends, `{"type", "timestamp", "data"}`.
//!
//! `data` always carries `event_id` and `sequence` (the message's place among the
//! event's messages, from 1, so a receiver can order them and see gaps), plus what the
//! type is about. Amounts count the event currency's minor unit (`total_cents`, with
//! `currency`); times are RFC 3339 in UTC. docs/WEBHOOKS.md lists every field.

use chrono::{DateTime, SecondsFormat, Utc};
use protocol::event::AdminState;
use protocol::ids::{EventId, TicketId};
use protocol::reply::{HoldState, Order, StoredHold};
use serde_json::{json, Value};

/// `hold.created`: a fan holds seats.
pub const HOLD_CREATED: &str = "hold.created";
/// `hold.expired`: a hold ran out unconfirmed; its seats are on sale again.
pub const HOLD_EXPIRED: &str = "hold.expired";
/// `hold.released`: the fan gave a hold up; its seats are on sale again.
pub const HOLD_RELEASED: &str = "hold.released";
/// `order.confirmed`: a hold became an order.
pub const ORDER_CONFIRMED: &str = "order.confirmed";
/// `order.cancelled`: an order was cancelled; its seats are on sale again.
pub const ORDER_CANCELLED: &str = "order.cancelled";
/// `event.sold_out`: the event's last seat was sold.
pub const EVENT_SOLD_OUT: &str = "event.sold_out";
/// `event.state_changed`: the venue opened, paused, closed or archived the event.
pub const EVENT_STATE_CHANGED: &str = "event.state_changed";

/// Every type, in the order docs/WEBHOOKS.md lists them (what an endpoint may filter on).
pub const TYPES: [&str; 7] = [
    HOLD_CREATED,
    HOLD_EXPIRED,
    HOLD_RELEASED,
    ORDER_CONFIRMED,
    ORDER_CANCELLED,
    EVENT_SOLD_OUT,
    EVENT_STATE_CHANGED,
];

/// One message before it gets its sequence number: its type, what it is about (unique
/// per type: a hold id, an order id, an event version) and its `data` without
/// `event_id` and `sequence`.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The event it belongs to.
    pub event_id: EventId,
    /// One of [`TYPES`].
    pub kind: &'static str,
    /// Unique per type: a second message for the same decision is not stored.
    pub subject: String,
    /// The type's fields (a JSON object).
    pub data: Value,
}

/// Text of an admin state as the API writes it.
pub fn admin_state_str(s: AdminState) -> &'static str {
    match s {
        AdminState::Open => "open",
        AdminState::Paused => "paused",
        AdminState::Closed => "closed",
        AdminState::Archived => "archived",
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Message {
    /// The type of the message a hold in `state` gives: `None` for a confirmed hold
    /// (its order announces it).
    pub fn hold_kind(state: HoldState) -> Option<&'static str> {
        match state {
            HoldState::Held => Some(HOLD_CREATED),
            HoldState::Expired => Some(HOLD_EXPIRED),
            HoldState::Released => Some(HOLD_RELEASED),
            HoldState::Confirmed => None,
        }
    }

    /// `hold.created`, `hold.expired` or `hold.released` for `view` (by its state:
    /// `held` is a creation; a confirmed hold is announced as `order.confirmed`, so it
    /// gives `None`).
    pub fn hold(view: &StoredHold, currency: &str) -> Option<Message> {
        let kind = Self::hold_kind(view.hold.state)?;
        let h = &view.hold;
        Some(Message {
            event_id: h.event_id,
            kind,
            subject: h.id.to_string(),
            data: json!({
                "hold_id": h.id,
                "ticket_id": view.ticket_id,
                "seats": h.seats,
                "total_cents": h.total_cents,
                "currency": currency,
                "expires_at": time(h.expires_at),
            }),
        })
    }

    /// `order.confirmed` for `order`, bought by `ticket_id` with `payment_ref`.
    pub fn order_confirmed(
        order: &Order,
        ticket_id: TicketId,
        payment_ref: &str,
        currency: &str,
    ) -> Message {
        Message {
            event_id: order.event_id,
            kind: ORDER_CONFIRMED,
            subject: order.id.to_string(),
            data: json!({
                "order_id": order.id,
                "hold_id": order.hold_id,
                "ticket_id": ticket_id,
                "seats": order.seats,
                "total_cents": order.total_cents,
                "currency": currency,
                "payment_ref": payment_ref,
                "confirmed_at": time(order.confirmed_at),
            }),
        }
    }

    /// `order.cancelled` for `order` (of `ticket_id`), cancelled at `at`: its seats are
    /// on sale again.
    pub fn order_cancelled(
        order: &Order,
        ticket_id: TicketId,
        at: DateTime<Utc>,
        currency: &str,
    ) -> Message {
        Message {
            event_id: order.event_id,
            kind: ORDER_CANCELLED,
            subject: order.id.to_string(),
            data: json!({
                "order_id": order.id,
                "hold_id": order.hold_id,
                "ticket_id": ticket_id,
                "seats": order.seats,
                "total_cents": order.total_cents,
                "currency": currency,
                "cancelled_at": time(at),
            }),
        }
    }

    /// `event.sold_out`: `order` sold the last of the event's `seats_total` seats.
    pub fn sold_out(order: &Order, seats_total: i64) -> Message {
        Message {
            event_id: order.event_id,
            kind: EVENT_SOLD_OUT,
            subject: format!("{}:{}", order.event_id, order.id),
            data: json!({
                "seats_total": seats_total,
                "last_order_id": order.id,
                "sold_out_at": time(order.confirmed_at),
            }),
        }
    }

    /// `event.state_changed`: the admin state went from `previous` to `state` with the
    /// event's configuration `version`.
    pub fn state_changed(event_id: EventId, previous: &str, state: &str, version: u64) -> Message {
        Message {
            event_id,
            kind: EVENT_STATE_CHANGED,
            subject: format!("{event_id}:{version}"),
            data: json!({
                "state": state,
                "previous_state": previous,
                "version": version,
            }),
        }
    }

    /// The body to sign and send: `{"type", "timestamp", "data"}` with `event_id` and
    /// `sequence` first in `data`.
    pub fn body(&self, sequence: i64, at: DateTime<Utc>) -> String {
        let mut data = serde_json::Map::new();
        data.insert("event_id".into(), json!(self.event_id));
        data.insert("sequence".into(), json!(sequence));
        if let Value::Object(fields) = &self.data {
            data.extend(fields.clone());
        }
        json!({
            "type": self.kind,
            "timestamp": time(at),
            "data": data,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ids::{HoldId, OrderId};
    use protocol::reply::Hold;

    fn held() -> StoredHold {
        StoredHold {
            ticket_id: TicketId::new(),
            hold: Hold {
                id: HoldId::new(),
                event_id: EventId::new(),
                seats: vec!["A-1-1".into(), "A-1-2".into()],
                state: HoldState::Held,
                expires_at: Utc::now(),
                total_cents: 150_000,
            },
            user_ref: None,
        }
    }

    #[test]
    fn hold_messages_follow_the_hold_state() {
        let mut view = held();
        assert_eq!(Message::hold(&view, "KRW").unwrap().kind, HOLD_CREATED);
        view.hold.state = HoldState::Expired;
        assert_eq!(Message::hold(&view, "KRW").unwrap().kind, HOLD_EXPIRED);
        view.hold.state = HoldState::Released;
        assert_eq!(Message::hold(&view, "KRW").unwrap().kind, HOLD_RELEASED);
        view.hold.state = HoldState::Confirmed;
        assert_eq!(Message::hold(&view, "KRW"), None);
    }

    #[test]
    fn body_has_type_timestamp_and_data_with_event_and_sequence() {
        let view = held();
        let at = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
        let body = Message::hold(&view, "KRW").unwrap().body(7, at);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["type"], "hold.created");
        let parsed = DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap()).unwrap();
        assert_eq!(parsed, at);
        assert_eq!(v["data"]["event_id"], view.hold.event_id.to_string());
        assert_eq!(v["data"]["sequence"], 7);
        assert_eq!(v["data"]["currency"], "KRW");
        assert_eq!(v["data"]["seats"], json!(["A-1-1", "A-1-2"]));
    }

    #[test]
    fn order_subjects_are_the_order_id() {
        let order = Order {
            id: OrderId::new(),
            hold_id: HoldId::new(),
            event_id: EventId::new(),
            seats: vec!["A-1-1".into()],
            total_cents: 1500,
            confirmed_at: Utc::now(),
            cancelled_at: None,
        };
        let t = TicketId::new();
        let confirmed = Message::order_confirmed(&order, t, "pay-1", "USD");
        let cancelled = Message::order_cancelled(&order, t, Utc::now(), "USD");
        assert_eq!(confirmed.subject, order.id.to_string());
        assert_eq!(cancelled.subject, order.id.to_string());
        assert_ne!(confirmed.kind, cancelled.kind);
        assert_eq!(confirmed.data["payment_ref"], "pay-1");
    }
}
