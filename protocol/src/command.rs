//! Commands: what the gateway asks a worker shard to do.
//!
//! Published to exchange `{ns}.commands` with routing key `shard.{shard_of(event_id)}`,
//! `correlation_id` = request id, `reply_to` = the gateway's reply queue, JSON body of a
//! [`CommandMessage`]. Messages are versioned (`"version": "1"`), so a worker can refuse
//! or translate a version it does not know instead of misreading it.

use crate::event::{EventPatch, EventSpec};
use crate::ids::{EventId, HoldId, OrderId, RequestId, TicketId};
use crate::text::{
    CancelReason, Fingerprint, IdempotencyKey, PaymentRef, SeatId, SectionName, UserRef,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A versioned command message (the AMQP body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub enum CommandMessage {
    /// Version 1.
    #[serde(rename = "1")]
    V1(Envelope),
}

impl CommandMessage {
    /// The envelope, whatever the version.
    pub fn envelope(&self) -> &Envelope {
        match self {
            CommandMessage::V1(e) => e,
        }
    }

    /// Consumes the message into its envelope.
    pub fn into_envelope(self) -> Envelope {
        match self {
            CommandMessage::V1(e) => e,
        }
    }
}

/// Fields common to every command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique per HTTP request; replays of the same delivery carry the same id.
    pub request_id: RequestId,
    /// The event the command is for (decides the shard).
    pub event_id: EventId,
    /// The instant the gateway accepted the command (gateway clock; the name is kept from
    /// the first wire version, whose gateways stamped the same instant). The worker
    /// judges a confirm or release by it: accepted before the hold's `expires_at`, it
    /// succeeds while the hold is held, however late the worker reads it. The gateway
    /// hands the command to the broker within a bound of this stamp, and the worker
    /// expires a hold only once no command accepted before its deadline can still be
    /// queued (worker setting `accept_skew_ms`, docs/RESERVATIONS.md). A stamp later
    /// than the worker's clock counts as the worker's now.
    pub sent_at: DateTime<Utc>,
    /// What to do.
    pub command: Command,
}

/// An `Idempotency-Key` with the fingerprint of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Idempotency {
    /// The client's key, 1–255 characters.
    pub key: IdempotencyKey,
    /// Hex SHA-256 of the request's method, path (route and target id) and body: the
    /// same key on another request is refused with `422 idempotency_key_reused`.
    pub fingerprint: Fingerprint,
}

/// Which seats a hold asks for (docs/API.md `POST .../holds` body).
///
/// Decoded through [`SelectionFields`] rather than as an untagged enum, so a refused
/// seat id or section is reported with its JSON path (`seats[1]`) and its own message
/// instead of "data did not match any variant".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged, try_from = "SelectionFields")]
pub enum SeatSelection {
    /// Exactly these seats: `{"seats": ["A-1-1", "A-1-2"]}`.
    Seats {
        /// Seat ids `{section}-{row}-{number}`.
        seats: Vec<SeatId>,
    },
    /// Best available `quantity` seats in `section` (adjacent when possible, front rows
    /// first): `{"section": "A", "quantity": 2}`.
    Best {
        /// Section name.
        section: SectionName,
        /// Number of seats.
        quantity: u32,
    },
}

/// The fields of either [`SeatSelection`] form, as decoded before the form is chosen.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectionFields {
    #[serde(default)]
    seats: Option<Vec<SeatId>>,
    #[serde(default)]
    section: Option<SectionName>,
    #[serde(default)]
    quantity: Option<u32>,
}

impl TryFrom<SelectionFields> for SeatSelection {
    type Error = &'static str;

    fn try_from(f: SelectionFields) -> Result<Self, Self::Error> {
        match f {
            SelectionFields {
                seats: Some(seats),
                section: None,
                quantity: None,
            } => Ok(SeatSelection::Seats { seats }),
            SelectionFields {
                seats: None,
                section: Some(section),
                quantity: Some(quantity),
            } => Ok(SeatSelection::Best { section, quantity }),
            _ => Err("give either {\"seats\": [...]} or {\"section\", \"quantity\"}"),
        }
    }
}

/// A command for the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Create the event with this id (admin). Replies `EventCreated`.
    CreateEvent {
        /// Validated spec.
        spec: EventSpec,
    },
    /// Change admission, state or hold TTL (admin). Replies `EventUpdated`.
    UpdateEvent {
        /// Validated patch.
        patch: EventPatch,
    },
    /// Hold seats for a ticket holding a valid pass. Replies `HoldCreated` or a rejection.
    Hold {
        /// The pass holder.
        ticket_id: TicketId,
        /// Seats asked for.
        selection: SeatSelection,
        /// Optional idempotency key.
        idempotency: Option<Idempotency>,
        /// The fan's user reference, when the join carried a signed one (the pass
        /// names it): stored on the hold for the venue's server to read. Absent in
        /// messages of gateways that do not carry it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_ref: Option<UserRef>,
    },
    /// Confirm (buy) a hold. Replies `OrderConfirmed` or a rejection.
    Confirm {
        /// The pass holder; must own the hold.
        ticket_id: TicketId,
        /// The hold to confirm.
        hold_id: HoldId,
        /// Payment reference from the payment step.
        payment_ref: PaymentRef,
        /// Optional idempotency key.
        idempotency: Option<Idempotency>,
        /// Who confirms: the fan (with the pass) or the venue's server (with an API
        /// key). In an event with `checkout.mode = origin` only the venue's server
        /// may confirm. `fan` when absent, so messages without it keep their meaning.
        #[serde(default)]
        by: Confirmer,
    },
    /// Release a hold early. Replies `HoldReleased` or a rejection.
    Release {
        /// The pass holder; must own the hold.
        ticket_id: TicketId,
        /// The hold to release.
        hold_id: HoldId,
    },
    /// Cancel a confirmed order (the venue refunded it): its seats go back on sale.
    /// Only the venue's server sends it. Replies `OrderCancelled` (the same order
    /// again for an order already cancelled) or a rejection.
    CancelOrder {
        /// The ticket that bought the order (the gateway reads it from the order
        /// row); must match, so a forged pairing is `404`.
        ticket_id: TicketId,
        /// The order to cancel.
        order_id: OrderId,
        /// Why, in the venue's words (kept with the order).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<CancelReason>,
        /// Optional idempotency key.
        idempotency: Option<Idempotency>,
    },
}

/// Who confirms a hold (`Command::Confirm::by`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confirmer {
    /// The fan, with the pass (`POST /v1/holds/{id}/confirm`); refused `403` in an
    /// event whose checkout is `origin`.
    #[default]
    Fan,
    /// The venue's server, with an API key (`POST /v1/origin/holds/{id}/confirm`).
    Origin,
}

impl Command {
    /// Short kind label for logs and metrics: `create_event`, `hold`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            Command::CreateEvent { .. } => "create_event",
            Command::UpdateEvent { .. } => "update_event",
            Command::Hold { .. } => "hold",
            Command::Confirm { .. } => "confirm",
            Command::Release { .. } => "release",
            Command::CancelOrder { .. } => "cancel_order",
        }
    }

    /// The ticket the command acts for, if any.
    pub fn ticket_id(&self) -> Option<TicketId> {
        match self {
            Command::Hold { ticket_id, .. }
            | Command::Confirm { ticket_id, .. }
            | Command::Release { ticket_id, .. }
            | Command::CancelOrder { ticket_id, .. } => Some(*ticket_id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_versioned_and_tagged() {
        let m = CommandMessage::V1(Envelope {
            request_id: RequestId::new(),
            event_id: EventId::new(),
            sent_at: Utc::now(),
            command: Command::Hold {
                ticket_id: TicketId::new(),
                selection: SeatSelection::Seats {
                    seats: vec!["A-1-1".parse().unwrap()],
                },
                idempotency: None,
                user_ref: None,
            },
        });
        let v: serde_json::Value = serde_json::to_value(&m).unwrap();
        assert_eq!(v["version"], "1");
        assert_eq!(v["command"]["type"], "hold");
        assert_eq!(v["command"]["selection"]["seats"][0], "A-1-1");
        let back: CommandMessage = serde_json::from_value(v).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn a_confirm_without_by_is_the_fans() {
        let v = serde_json::json!({"type": "confirm", "ticket_id": TicketId::new(),
            "hold_id": HoldId::new(), "payment_ref": "p", "idempotency": null});
        let c: Command = serde_json::from_value(v).unwrap();
        assert!(matches!(
            c,
            Command::Confirm {
                by: Confirmer::Fan,
                ..
            }
        ));
        let v = serde_json::json!({"type": "cancel_order", "ticket_id": TicketId::new(),
            "order_id": OrderId::new(), "idempotency": null});
        let c: Command = serde_json::from_value(v).unwrap();
        assert_eq!(c.kind(), "cancel_order");
    }

    #[test]
    fn unknown_version_is_an_error() {
        let v = serde_json::json!({"version": "9", "request_id": RequestId::new()});
        assert!(serde_json::from_value::<CommandMessage>(v).is_err());
    }

    #[test]
    fn seat_selection_forms() {
        let a: SeatSelection = serde_json::from_str(r#"{"seats":["A-1-1"]}"#).unwrap();
        assert!(matches!(a, SeatSelection::Seats { .. }));
        let b: SeatSelection = serde_json::from_str(r#"{"section":"A","quantity":2}"#).unwrap();
        assert!(matches!(b, SeatSelection::Best { quantity: 2, .. }));
        assert!(serde_json::from_str::<SeatSelection>(r#"{"foo":1}"#).is_err());
        assert!(serde_json::from_str::<SeatSelection>(r#"{"seats":"A-1-1"}"#).is_err());
        assert!(serde_json::from_str::<SeatSelection>(r#"{"section":"A"}"#).is_err());
        assert!(serde_json::from_str::<SeatSelection>(
            r#"{"seats":["A-1-1"],"section":"A","quantity":1}"#
        )
        .is_err());
        let nul = serde_json::from_str::<SeatSelection>(r#"{"seats":["A-1-1","A\u0000"]}"#);
        assert!(nul
            .unwrap_err()
            .to_string()
            .contains("must not contain control characters"));
    }
}
