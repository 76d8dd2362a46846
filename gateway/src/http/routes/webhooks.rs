//! Webhook endpoints of the venue (admin key): create, list, delete, rotate the secret,
//! list deliveries, ask for a redelivery (docs/WEBHOOKS.md, docs/API.md).
//!
//! These read and write PostgreSQL through the back office: endpoints and redelivery
//! requests are rows no shard owns; the deliveries themselves are written by the worker
//! that owns the event's shard, which also carries out the redelivery requests.

use crate::adapters::webhook_store::{new_secret, EndpointRow, MAX_ENDPOINTS};
use crate::http::auth::AdminAuth;
use crate::http::error::{json_body, json_response, ApiError};
use crate::http::extract::{body_bytes, fingerprint, parse_json, IdempotencyKey};
use crate::http::state::AppState;
use crate::views::webhooks::{
    delivery_view, endpoint_view, with_secret, DeliveryPage, NewWebhook, WebhookList, WebhookType,
    WebhookWithSecret,
};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use protocol::event::FieldError;
use protocol::reply::ErrorBody;
use std::collections::HashMap;
use uuid::Uuid;

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
