//! Replies: the worker's answer to each command, and the public views and error body of
//! docs/API.md that both the gateway and the worker render.
//!
//! A reply is published to the command's `reply_to` with the same `correlation_id`, and
//! also stored in Redis as a [`StoredResult`] for `GET /v1/requests/{id}`. Because the
//! mapping [`Outcome::http_status`] / [`Outcome::http_body`] lives here, the live answer
//! and the stored one are the same bytes.

use crate::event::EventConfig;
use crate::ids::{EventId, HoldId, OrderId, RequestId, TicketId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::{to_raw_value, RawValue};
use utoipa::ToSchema;

/// Error codes of docs/API.md, each with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: body is not JSON.
    InvalidJson,
    /// 422: a field is missing, malformed or out of range.
    InvalidField,
    /// 401: missing, forged, expired or wrong-kind credential.
    Unauthorized,
    /// 403: authenticated but not allowed.
    Forbidden,
    /// 404: unknown event, hold or request.
    NotFound,
    /// 413: body over 64 KiB.
    PayloadTooLarge,
    /// 409: the queue is closed.
    QueueClosed,
    /// 409: no seats left.
    SoldOut,
    /// 409: some asked-for seats are taken; `details.unavailable` lists them.
    SeatsUnavailable,
    /// 422: same `Idempotency-Key` with a different body.
    IdempotencyKeyReused,
    /// 410: the hold expired before confirm.
    HoldExpired,
    /// 409: the hold was released or already confirmed.
    HoldNotActive,
    /// 409: a checkout hand-off asked for in an event whose checkout mode is `fan`.
    CheckoutNotOrigin,
    /// 429: too many requests; see `Retry-After`.
    RateLimited,
    /// 503: a dependency is unavailable; see `Retry-After`.
    Unavailable,
    /// 500: a bug; the message says nothing internal.
    Internal,
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidJson => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::QueueClosed
            | ErrorCode::SoldOut
            | ErrorCode::SeatsUnavailable
            | ErrorCode::HoldNotActive
            | ErrorCode::CheckoutNotOrigin => 409,
            ErrorCode::HoldExpired => 410,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::InvalidField | ErrorCode::IdempotencyKeyReused => 422,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }
}

/// The inner object of the error body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
    /// Optional structured details, e.g. `{"unavailable": ["A-1-1"]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// The error body of docs/API.md: `{"error": {"code", "message", "details"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// State of a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    /// Seats reserved until `expires_at`.
    Held,
    /// Bought (an order exists).
    Confirmed,
    /// Given up by the fan.
    Released,
    /// Not confirmed in time.
    Expired,
}

/// A hold (docs/API.md, Hold).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Hold {
    /// Hold id.
    pub id: HoldId,
    /// Event id.
    pub event_id: EventId,
    /// Held seat ids, in the order asked for (or chosen, for best-available).
    pub seats: Vec<String>,
    /// Current state.
    pub state: HoldState,
    /// When an unconfirmed hold expires.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    /// Sum of seat prices, in cents.
    pub total_cents: i64,
}

/// A confirmed order (docs/API.md, Order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Order {
    /// Order id.
    pub id: OrderId,
    /// The confirmed hold.
    pub hold_id: HoldId,
    /// Event id.
    pub event_id: EventId,
    /// Seat ids bought.
    pub seats: Vec<String>,
    /// Amount, in cents.
    pub total_cents: i64,
    /// When the order was committed.
    #[schema(value_type = String, format = DateTime)]
    pub confirmed_at: DateTime<Utc>,
    /// When the venue cancelled it (its seats went back on sale then); absent while
    /// the order stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// What a command led to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Outcome {
    /// `201`: the event exists now.
    EventCreated(Box<EventConfig>),
    /// `200`: the change is persisted and pushed to Redis.
    EventUpdated(Box<EventConfig>),
    /// `201`: seats held.
    HoldCreated(Hold),
    /// `200`: the hold is released.
    HoldReleased(Hold),
    /// `200`: the hold became an order.
    OrderConfirmed(Order),
    /// `200`: the order is cancelled (`cancelled_at` set), its seats on sale again.
    OrderCancelled(Order),
    /// A refusal with its API error.
    Rejected(ErrorDetail),
}

impl Outcome {
    /// A rejection with `code` and `message`.
    pub fn rejected(code: ErrorCode, message: impl Into<String>) -> Self {
        Outcome::Rejected(ErrorDetail {
            code,
            message: message.into(),
            details: None,
        })
    }

    /// HTTP status the gateway answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Outcome::EventCreated(_) | Outcome::HoldCreated(_) => 201,
            Outcome::EventUpdated(_)
            | Outcome::HoldReleased(_)
            | Outcome::OrderConfirmed(_)
            | Outcome::OrderCancelled(_) => 200,
            Outcome::Rejected(e) => e.code.status(),
        }
    }

    /// Label for metrics: `created`, `ok` or the error code.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::EventCreated(_) | Outcome::HoldCreated(_) => "created",
            Outcome::EventUpdated(_)
            | Outcome::HoldReleased(_)
            | Outcome::OrderConfirmed(_)
            | Outcome::OrderCancelled(_) => "ok",
            Outcome::Rejected(e) => match e.code {
                ErrorCode::SeatsUnavailable => "seats_unavailable",
                ErrorCode::InvalidField => "invalid_field",
                ErrorCode::NotFound => "not_found",
                ErrorCode::HoldExpired => "hold_expired",
                ErrorCode::HoldNotActive => "hold_not_active",
                ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
                ErrorCode::Forbidden => "forbidden",
                ErrorCode::SoldOut => "sold_out",
                ErrorCode::QueueClosed => "queue_closed",
                _ => "other",
            },
        }
    }

    /// The JSON body of docs/API.md for fan-facing outcomes (Hold, Order, error body).
    /// Event outcomes render the stored [`EventConfig`]; the gateway renders its own
    /// admin view for live answers.
    pub fn http_body(&self) -> serde_json::Value {
        let v = match self {
            Outcome::EventCreated(c) | Outcome::EventUpdated(c) => serde_json::to_value(c),
            Outcome::HoldCreated(h) | Outcome::HoldReleased(h) => serde_json::to_value(h),
            Outcome::OrderConfirmed(o) | Outcome::OrderCancelled(o) => serde_json::to_value(o),
            Outcome::Rejected(e) => serde_json::to_value(ErrorBody { error: e.clone() }),
        };
        v.unwrap_or(serde_json::Value::Null)
    }

    /// [`Outcome::http_body`] serialised straight to JSON text, for a writer that stores
    /// the same body in several places (serialise once, copy the text).
    pub fn http_body_json(&self) -> JsonBody {
        /// [`ErrorBody`] by reference: the same document without cloning the detail.
        #[derive(Serialize)]
        struct ErrorBodyRef<'a> {
            error: &'a ErrorDetail,
        }
        let raw = match self {
            Outcome::EventCreated(c) | Outcome::EventUpdated(c) => to_raw_value(c),
            Outcome::HoldCreated(h) | Outcome::HoldReleased(h) => to_raw_value(h),
            Outcome::OrderConfirmed(o) | Outcome::OrderCancelled(o) => to_raw_value(o),
            Outcome::Rejected(e) => to_raw_value(&ErrorBodyRef { error: e }),
        };
        // Serialising these plain structs cannot fail; `null` is what `http_body` gives.
        JsonBody(
            raw.unwrap_or_else(|_| RawValue::from_string("null".into()).expect("null is JSON")),
        )
    }
}

/// A JSON document already serialised (`serde_json`'s `RawValue`): written into other
/// documents as is, compared by its text.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct JsonBody(Box<RawValue>);

impl JsonBody {
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for JsonBody {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

/// A [`StoredResult`] whose body is already JSON text: serialises to the same document.
#[derive(Debug, Serialize)]
pub struct StoredResultRef<'a> {
    /// Request id.
    pub request_id: RequestId,
    /// Event id.
    pub event_id: EventId,
    /// The ticket that made the request.
    pub ticket_id: Option<TicketId>,
    /// HTTP status the request got.
    pub status: u16,
    /// Response body the request got.
    pub body: &'a JsonBody,
}

/// A hold as stored in Redis (`RedisKeys::hold`) for `GET /v1/holds/{id}`: the public
/// view plus its owner, so only the pass holder who made it can read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredHold {
    /// The ticket that holds it.
    pub ticket_id: TicketId,
    /// The public view.
    pub hold: Hold,
    /// The fan's user reference from a signed join (the pass names it), for the
    /// venue's server (`GET /v1/origin/holds/{id}`); never shown to fans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_ref: Option<String>,
}

/// The worker's reply message (AMQP body on the reply queue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The command's request id (also the AMQP `correlation_id`).
    pub request_id: RequestId,
    /// What happened.
    pub outcome: Outcome,
}

/// A request's result as stored in Redis (`RedisKeys::request`) and PostgreSQL, served by
/// `GET /v1/requests/{id}` as `{"state": "done", "status", "body"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResult {
    /// Request id.
    pub request_id: RequestId,
    /// Event id.
    pub event_id: EventId,
    /// The ticket that made the request (only it may read the result).
    pub ticket_id: Option<TicketId>,
    /// HTTP status the request got.
    pub status: u16,
    /// Response body the request got.
    pub body: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_serialised_once_is_the_body_document() {
        let outcomes = [
            Outcome::rejected(ErrorCode::SeatsUnavailable, "taken"),
            Outcome::HoldCreated(Hold {
                id: HoldId::new(),
                event_id: EventId::new(),
                seats: vec!["A-1-1".into(), "A-1-2".into()],
                state: HoldState::Held,
                expires_at: Utc::now(),
                total_cents: 3000,
            }),
        ];
        for o in outcomes {
            let text = o.http_body_json();
            let parsed: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
            assert_eq!(parsed, o.http_body());
        }
    }

    #[test]
    fn statuses_follow_api_md() {
        assert_eq!(ErrorCode::SeatsUnavailable.status(), 409);
        assert_eq!(ErrorCode::HoldExpired.status(), 410);
        assert_eq!(ErrorCode::IdempotencyKeyReused.status(), 422);
        assert_eq!(ErrorCode::Unavailable.status(), 503);
    }

    #[test]
    fn rejection_renders_the_error_body() {
        let o = Outcome::Rejected(ErrorDetail {
            code: ErrorCode::SeatsUnavailable,
            message: "taken".into(),
            details: Some(serde_json::json!({"unavailable": ["A-1-1"]})),
        });
        assert_eq!(o.http_status(), 409);
        assert_eq!(
            o.http_body(),
            serde_json::json!({"error": {"code": "seats_unavailable", "message": "taken",
                "details": {"unavailable": ["A-1-1"]}}})
        );
    }

    #[test]
    fn reply_round_trips() {
        let r = Reply {
            request_id: RequestId::new(),
            outcome: Outcome::rejected(ErrorCode::HoldExpired, "expired"),
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Reply>(&s).unwrap(), r);
    }
}
