//! Webhook endpoints of the venue (admin key): create, list, delete, rotate the secret,
//! list deliveries, ask for a redelivery (docs/WEBHOOKS.md, docs/API.md).
//!
//! These read and write PostgreSQL through the back office: endpoints and redelivery
//! requests are rows no shard owns; the deliveries themselves are written by the worker
//! that owns the event's shard, which also carries out the redelivery requests.

use crate::adapters::webhook_store::{new_secret, DeliveryRow, EndpointRow, MAX_ENDPOINTS};
use crate::http::auth::AdminAuth;
use crate::http::error::{json_body, json_response, ApiError};
use crate::http::extract::{body_bytes, fingerprint, parse_json, IdempotencyKey};
use crate::http::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use protocol::event::FieldError;
use protocol::ids::EventId;
use protocol::reply::ErrorBody;
use protocol::text::WebhookUrl;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
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
    fn as_str(self) -> String {
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

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn endpoint_view(r: &EndpointRow) -> WebhookEndpoint {
    WebhookEndpoint {
        id: r.id,
        url: r.url.clone(),
        event_id: r.event_id,
        types: r.types.clone(),
        previous_secret_valid_until: r.previous_until.map(time),
        created_at: time(r.created_at),
    }
}

fn with_secret(r: &EndpointRow) -> WebhookWithSecret {
    WebhookWithSecret {
        endpoint: endpoint_view(r),
        secret: r.secret.clone(),
    }
}

fn delivery_view(d: DeliveryRow) -> WebhookDelivery {
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

fn field(name: &str, message: &str) -> ApiError {
    ApiError::named_field(FieldError {
        field: name.into(),
        message: message.into(),
    })
}

fn id_of(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| ApiError::NotFound("webhook".into()))
}

/// Register an endpoint.
#[utoipa::path(post, path = "/v1/admin/webhooks", tag = "admin", request_body = NewWebhook,
    security(("admin_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe create")),
    responses(
        (status = 201, description = "Created; the secret is shown only here", body = WebhookWithSecret),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "Bad admin key", body = ErrorBody),
        (status = 422, description = "Invalid fields, too many endpoints, or an Idempotency-Key reused", body = ErrorBody),
        (status = 503, description = "PostgreSQL unavailable", body = ErrorBody)))]
pub async fn create_webhook(
    State(state): State<AppState>,
    _: AdminAuth,
    IdempotencyKey(key): IdempotencyKey,
    req: Request,
) -> Result<Response, ApiError> {
    let (method, path, headers) = (
        req.method().clone(),
        req.uri().path().to_owned(),
        req.headers().clone(),
    );
    let body = body_bytes(req).await?;
    let spec: NewWebhook = parse_json(&headers, &body)?;
    let print = fingerprint(&method, &path, &body);
    let office = &state.back_office;
    if let Some(k) = &key {
        if let Some(first) = office.webhook_by_key(k.as_str()).await? {
            return replay(&first, &print);
        }
    }
    if matches!(&spec.types, Some(t) if t.is_empty()) {
        return Err(field(
            "types",
            "must list at least one type, or be absent for all",
        ));
    }
    if let Some(event) = spec.event_id {
        if !office.event_exists(event.0).await? {
            return Err(field("event_id", "no such event"));
        }
    }
    let mut types: Option<Vec<String>> = spec
        .types
        .map(|t| t.into_iter().map(WebhookType::as_str).collect());
    if let Some(t) = types.as_mut() {
        t.sort();
        t.dedup();
    }
    let row = EndpointRow {
        id: Uuid::now_v7(),
        url: spec.url.into_string(),
        event_id: spec.event_id.map(|e| e.0),
        types,
        secret: new_secret(),
        previous_until: None,
        created_at: Utc::now(),
        creation_fingerprint: key.as_ref().map(|_| print.clone()),
        rotation_key: None,
    };
    match office
        .create_webhook(&row, key.as_ref().map(|k| k.as_str()))
        .await?
    {
        Some(created) if created.id == row.id => {
            Ok(json_body(StatusCode::CREATED, &with_secret(&created)))
        }
        Some(raced) => replay(&raced, &print),
        None => Err(ApiError::field(format!(
            "at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
        ))),
    }
}

/// The answer to a create retried with its Idempotency-Key: the first answer if the
/// request is the same, else `422 idempotency_key_reused`.
fn replay(first: &EndpointRow, print: &str) -> Result<Response, ApiError> {
    if first.creation_fingerprint.as_deref() == Some(print) {
        return Ok(json_body(StatusCode::CREATED, &with_secret(first)));
    }
    Ok(json_response(
        422,
        serde_json::json!({"error": {
            "code": "idempotency_key_reused",
            "message": "this Idempotency-Key was used with another request",
            "details": null,
        }}),
    ))
}

/// List the endpoints (without secrets).
#[utoipa::path(get, path = "/v1/admin/webhooks", tag = "admin",
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The endpoints", body = WebhookList),
        (status = 401, description = "Bad admin key", body = ErrorBody),
        (status = 503, description = "PostgreSQL unavailable", body = ErrorBody)))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    _: AdminAuth,
) -> Result<Response, ApiError> {
    let rows = state.back_office.list_webhooks().await?;
    let webhooks = rows.iter().map(endpoint_view).collect();
    Ok(json_body(StatusCode::OK, &WebhookList { webhooks }))
}

/// Delete an endpoint: no new deliveries; pending ones are given up.
#[utoipa::path(delete, path = "/v1/admin/webhooks/{webhook_id}", tag = "admin",
    security(("admin_key" = [])),
    params(("webhook_id" = String, Path, description = "Endpoint id (UUID)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Bad admin key", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 503, description = "PostgreSQL unavailable", body = ErrorBody)))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if state.back_office.delete_webhook(id_of(&id)?).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound("webhook".into()))
    }
}

/// Replace the signing secret; the old one keeps signing (a second signature) for 24 h.
#[utoipa::path(post, path = "/v1/admin/webhooks/{webhook_id}/rotate-secret", tag = "admin",
    security(("admin_key" = [])),
    params(("webhook_id" = String, Path, description = "Endpoint id (UUID)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe rotation")),
    responses(
        (status = 200, description = "The new secret", body = WebhookWithSecret),
        (status = 401, description = "Bad admin key", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 503, description = "PostgreSQL unavailable", body = ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    _: AdminAuth,
    IdempotencyKey(key): IdempotencyKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key = key.as_ref().map(|k| k.as_str());
    let rotated = state
        .back_office
        .rotate_webhook(id_of(&id)?, &new_secret(), key, Utc::now())
        .await?
        .ok_or_else(|| ApiError::NotFound("webhook".into()))?;
    Ok(json_body(StatusCode::OK, &with_secret(&rotated)))
}

/// List an endpoint's deliveries, newest first.
#[utoipa::path(get, path = "/v1/admin/webhooks/{webhook_id}/deliveries", tag = "admin",
    security(("admin_key" = [])),
    params(("webhook_id" = String, Path, description = "Endpoint id (UUID)"),
        ("state" = Option<String>, Query, description = "`pending`, `delivered` or `failed`"),
        ("limit" = Option<u32>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryPage),
        (status = 401, description = "Bad admin key", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 422, description = "Invalid state, limit or cursor", body = ErrorBody),
        (status = 503, description = "PostgreSQL unavailable", body = ErrorBody)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(id): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let id = id_of(&id)?;
    let query = query
        .map_err(|_| field("query", "must be URL-encoded key=value pairs"))?
        .0;
    let state_filter = match query.get("state").map(String::as_str) {
        None => None,
        Some(s @ ("pending" | "delivered" | "failed")) => Some(s),
        Some(_) => return Err(field("state", "must be pending, delivered or failed")),
    };
    let limit: i64 = match query.get("limit") {
        None => 50,
        Some(l) => match l.parse() {
            Ok(n) if (1..=200).contains(&n) => n,
            _ => return Err(field("limit", "must be between 1 and 200")),
        },
    };
    let before = match query.get("cursor") {
        None => None,
        Some(c) => {
            Some(parse_cursor(c).ok_or_else(|| field("cursor", "not a cursor of this list"))?)
        }
    };
    let office = &state.back_office;
    if office.webhook(id, true).await?.is_none() {
        return Err(ApiError::NotFound("webhook".into()));
    }
    let mut rows = office
        .deliveries(id, state_filter, before, limit + 1)
        .await?;
    let next_cursor = if rows.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        rows.last()
            .map(|d| format!("{}_{}", d.created_at.timestamp_micros(), d.id))
    } else {
        None
    };
    let deliveries = rows.into_iter().map(delivery_view).collect();
    Ok(json_body(
        StatusCode::OK,
        &DeliveryPage {
            deliveries,
            next_cursor,
        },
    ))
}

/// `{micros since the epoch}_{delivery id}`.
fn parse_cursor(c: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (micros, id) = c.split_once('_')?;
    let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some((at, Uuid::try_parse(id).ok()?))
}

/// Send a delivery again (whatever its state), with a fresh retry schedule.
#[utoipa::path(post, path = "/v1/admin/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    tag = "admin", security(("admin_key" = [])),
    params(("webhook_id" = String, Path, description = "Endpoint id (UUID)"),
        ("delivery_id" = String, Path, description = "Delivery id (UUID)")),
    responses(
        (status = 202, description = "Requested; the shard's worker sends it within a poll interval"),
        (status = 401, description = "Bad admin key", body = ErrorBody),
        (status = 404, description = "No such delivery of this endpoint", body = ErrorBody),
        (status = 503, description = "PostgreSQL unavailable", body = ErrorBody)))]
pub async fn redeliver(
    State(state): State<AppState>,
    _: AdminAuth,
    Path((endpoint, delivery)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (endpoint, delivery) = (id_of(&endpoint)?, id_of(&delivery)?);
    if state
        .back_office
        .request_redelivery(endpoint, delivery)
        .await?
    {
        Ok(json_response(
            202,
            serde_json::json!({"delivery_id": delivery, "state": "requested"}),
        ))
    } else {
        Err(ApiError::NotFound("delivery".into()))
    }
}
