//! Bodies of the webhook endpoints (`POST /v1/admin/webhooks` and the routes under it).

use crate::adapters::webhook_store::{DeliveryRow, EndpointRow};
use chrono::{DateTime, SecondsFormat, Utc};
use protocol::ids::EventId;
use protocol::text::WebhookUrl;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A message type an endpoint may subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum WebhookType {
    /// A fan holds seats.
    #[serde(rename = "hold.created")]
    HoldCreated,
    /// A hold ran out unconfirmed.
    #[serde(rename = "hold.expired")]
    HoldExpired,
    /// A fan gave a hold up.
    #[serde(rename = "hold.released")]
    HoldReleased,
    /// A hold became an order.
    #[serde(rename = "order.confirmed")]
    OrderConfirmed,
    /// An order was cancelled.
    #[serde(rename = "order.cancelled")]
    OrderCancelled,
    /// The event's last seat was sold.
    #[serde(rename = "event.sold_out")]
    EventSoldOut,
    /// The venue opened, paused or closed the event.
    #[serde(rename = "event.state_changed")]
    EventStateChanged,
}

impl WebhookType {
    /// The type's name, e.g. `order.confirmed`.
    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// `POST /v1/admin/webhooks` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where messages are POSTed: `https://`, or `http://` on a loopback host.
    #[schema(value_type = String)]
    pub url: WebhookUrl,
    /// Only this event's messages; absent: every event.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub event_id: Option<EventId>,
    /// Only these types (at least one); absent: every type.
    #[serde(default)]
    pub types: Option<Vec<WebhookType>>,
}

/// An endpoint as listed (never with its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookEndpoint {
    /// Endpoint id.
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    /// Where messages are POSTed.
    pub url: String,
    /// The one event it receives messages of; `null`: every event.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub event_id: Option<Uuid>,
    /// The types it receives; `null`: every type.
    pub types: Option<Vec<String>>,
    /// Until when the secret replaced by the last rotation still signs (RFC 3339).
    pub previous_secret_valid_until: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// An endpoint with its signing secret (answer of a create or a rotation).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// `whsec_` + base64 of the key: verify signatures with it. Shown only here.
    pub secret: String,
}

/// `GET /v1/admin/webhooks` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookList {
    /// Endpoints not deleted, oldest first.
    pub webhooks: Vec<WebhookEndpoint>,
}

/// One delivery of a message to an endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookDelivery {
    /// Delivery id.
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    /// The message's `webhook-id` header.
    pub webhook_id: String,
    /// Message type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Event.
    #[schema(value_type = String, format = Uuid)]
    pub event_id: Uuid,
    /// The message's sequence number within the event.
    pub sequence: i64,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts made.
    pub attempts: i32,
    /// HTTP status of the last answered attempt.
    pub last_status: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the next attempt is due (`pending` only).
    pub next_attempt_at: Option<String>,
    /// When the message was committed.
    pub created_at: String,
    /// Last change of the delivery.
    pub updated_at: String,
}

/// `GET …/deliveries` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryPage {
    /// Newest first.
    pub deliveries: Vec<WebhookDelivery>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// RFC 3339 in UTC with microseconds.
fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The listed form of an endpoint row.
pub fn endpoint_view(r: &EndpointRow) -> WebhookEndpoint {
    WebhookEndpoint {
        id: r.id,
        url: r.url.clone(),
        event_id: r.event_id,
        types: r.types.clone(),
        previous_secret_valid_until: r.previous_until.map(time),
        created_at: time(r.created_at),
    }
}

/// An endpoint row with its secret.
pub fn with_secret(r: &EndpointRow) -> WebhookWithSecret {
    WebhookWithSecret {
        endpoint: endpoint_view(r),
        secret: r.secret.clone(),
    }
}

/// The listed form of a delivery row.
pub fn delivery_view(d: DeliveryRow) -> WebhookDelivery {
    WebhookDelivery {
        id: d.id,
        webhook_id: format!("msg_{}", d.message_id.simple()),
        kind: d.kind,
        event_id: d.event_id,
        sequence: d.seq,
        next_attempt_at: (d.state == "pending").then(|| time(d.next_attempt_at)),
        state: d.state,
        attempts: d.attempts,
        last_status: d.last_status,
        last_error: d.last_error,
        created_at: time(d.created_at),
        updated_at: time(d.updated_at),
    }
}
