//! Venue (admin) endpoints: create, list, read, patch (merge) an event; its stats.
//!
//! Writes are commands to the event's worker shard (the single writer); the answer is the
//! configuration the worker persisted and pushed to Redis. Reads come from Redis.

use super::commands::command_envelope;
use crate::adapters::publisher::Answer;
use crate::http::auth::AdminAuth;
use crate::http::error::{json_response, ApiError};
use crate::http::extract::{AppJson, PathId};
use crate::http::state::AppState;
use crate::views::{Accepted, AdminEvent, AdmissionFigures, EventStats, QueueCounts, SeatFigures};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use protocol::command::{Command, Envelope};
use protocol::event::{EventPatch, EventSpec, FieldError};
use protocol::ids::EventId;
use protocol::reply::{ErrorBody, Outcome};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

/// Create an event.
#[utoipa::path(post, path = "/v1/admin/events", tag = "admin", request_body = EventSpec,
    security(("admin_key" = [])),
    responses(
        (status = 201, description = "Created", body = AdminEvent),
        (status = 202, description = "Accepted; the worker has not answered yet", body = Accepted),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "Bad admin key", body = ErrorBody),
        (status = 422, description = "Invalid fields (`details.fields`)", body = ErrorBody),
        (status = 503, description = "Broker unavailable", body = ErrorBody)))]
pub async fn create_event(
    State(state): State<AppState>,
    _: AdminAuth,
    AppJson(spec): AppJson<EventSpec>,
) -> Result<Response, ApiError> {
    // Name, venue, time zone and section names were refused at decode if bad.
    spec.validate().map_err(|e| ApiError::fields(&e))?;
    let envelope = command_envelope(
        EventId::new(),
        Command::CreateEvent { spec },
        chrono::Utc::now(),
    );
    admin_command(&state, envelope).await
}

/// `GET /v1/admin/events`: every event of the deployment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventList {
    /// Admin views, newest first (by `created_at`).
    pub events: Vec<AdminEvent>,
}

/// List the events (the `events` set in Redis that the worker maintains), newest
/// first; archived events only with `?include_archived=true`, so a deployment's past
/// does not crowd the console.
#[utoipa::path(get, path = "/v1/admin/events", tag = "admin",
    security(("admin_key" = [])),
    params(("include_archived" = Option<bool>, Query,
        description = "`true` lists archived events too (default `false`)")),
    responses(
        (status = 200, description = "The events", body = EventList),
        (status = 401, description = "Bad admin key", body = ErrorBody),
        (status = 422, description = "Bad query parameter", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody)))]
pub async fn list_events(
    State(state): State<AppState>,
    _: AdminAuth,
    RawQuery(query): RawQuery,
) -> Result<Json<EventList>, ApiError> {
    let include_archived = include_archived(query.as_deref())?;
    let key = state.replica.keys.events();
    let ids: Vec<String> = state
        .replica
        .redis
        .call(|mut c| async move { redis::cmd("SMEMBERS").arg(key).query_async(&mut c).await })
        .await?;
    let now = Utc::now();
    let mut events = Vec::with_capacity(ids.len());
    for id in ids.iter().filter_map(|id| id.parse::<EventId>().ok()) {
        if let Some(snapshot) = state.replica.catalog.cached(&id).await? {
            if include_archived || !snapshot.config.is_archived() {
                events.push(AdminEvent::new(&snapshot, now));
            }
        }
    }
    events.sort_by_key(|e| std::cmp::Reverse(e.created_at));
    Ok(Json(EventList { events }))
}

/// `include_archived` of the list's query string: `true`, `false` or absent (false).
///
/// # Errors
/// `422 invalid_field` for another value or another parameter.
fn include_archived(query: Option<&str>) -> Result<bool, ApiError> {
    let mut include = false;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let field = |message: &str| FieldError {
            field: name.chars().take(64).collect(),
            message: message.into(),
        };
        match (name, value) {
            ("include_archived", "true") => include = true,
            ("include_archived", "false") => include = false,
            ("include_archived", _) => {
                return Err(ApiError::fields(&[field("must be true or false")]))
            }
            _ => return Err(ApiError::fields(&[field("unknown query parameter")])),
        }
    }
    Ok(include)
}

/// Read an event (admin view).
#[utoipa::path(get, path = "/v1/admin/events/{event_id}", tag = "admin",
    security(("admin_key" = [])),
    params(("event_id" = String, Path, description = "Event id (UUID)")),
    responses(
        (status = 200, description = "The event", body = AdminEvent),
        (status = 401, description = "Bad admin key", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody)))]
pub async fn get_event(
    State(state): State<AppState>,
    _: AdminAuth,
    PathId(event): PathId<EventId>,
) -> Result<Json<AdminEvent>, ApiError> {
    let snapshot = fetch_event(&state, &event).await?;
    Ok(Json(AdminEvent::new(&snapshot, Utc::now())))
}

/// Change an event: the body is merged into it (any subset of the fields, and of the
/// fields of `admission` and `checkout`). Postponing checks the times against this
/// replica's clock first; the worker checks again against its own and decides.
#[utoipa::path(patch, path = "/v1/admin/events/{event_id}", tag = "admin",
    request_body = EventPatch, security(("admin_key" = [])),
    params(("event_id" = String, Path, description = "Event id (UUID)")),
    responses(
        (status = 200, description = "The event after the change", body = AdminEvent),
        (status = 202, description = "Accepted; the worker has not answered yet", body = Accepted),
        (status = 401, description = "Bad admin key", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
        (status = 503, description = "A dependency is unavailable", body = ErrorBody)))]
pub async fn patch_event(
    State(state): State<AppState>,
    _: AdminAuth,
    PathId(event): PathId<EventId>,
    AppJson(patch): AppJson<EventPatch>,
) -> Result<Response, ApiError> {
    patch.validate().map_err(|e| ApiError::fields(&e))?;
    let snapshot = fetch_event(&state, &event).await?;
    let schedule = patch.check_schedule(&snapshot.config.spec, Utc::now());
    if !schedule.is_empty() {
        return Err(ApiError::fields(&schedule));
    }
    let envelope = command_envelope(event, Command::UpdateEvent { patch }, chrono::Utc::now());
    admin_command(&state, envelope).await
}

/// The event's fresh configuration and availability (not the 500 ms cache).
///
/// # Errors
/// `404 not_found` for an unknown event; `503` when Redis is unavailable.
async fn fetch_event(
    state: &AppState,
    event: &EventId,
) -> Result<std::sync::Arc<crate::live::catalog::EventSnapshot>, ApiError> {
    state
        .replica
        .catalog
        .fetch(event)
        .await?
        .ok_or_else(|| ApiError::NotFound("event".into()))
}

/// Publishes an admin command and renders the worker's answer.
async fn admin_command(state: &AppState, envelope: Envelope) -> Result<Response, ApiError> {
    let (event, request_id) = (envelope.event_id, envelope.request_id);
    let wait = Duration::from_millis(state.settings.admin_reply_timeout_ms);
    let reply = match state.publisher.send(envelope, wait).await? {
        Answer::Reply(reply) => reply,
        Answer::TimedOut => {
            let body = Accepted {
                request_id,
                status_url: format!("/v1/admin/events/{event}"),
            };
            return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
        }
    };
    let status = reply.outcome.http_status();
    match reply.outcome {
        Outcome::EventCreated(config) | Outcome::EventUpdated(config) => {
            let snapshot = state.replica.catalog.remember(*config);
            let view = AdminEvent::new(&snapshot, Utc::now());
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            Ok((status, Json(view)).into_response())
        }
        rejected @ Outcome::Rejected(_) => Ok(json_response(status, rejected.http_body())),
        other => Err(ApiError::Internal(anyhow::anyhow!(
            "unexpected outcome {} to an admin command",
            other.label()
        ))),
    }
}

/// Queue, admission and seat figures of an event.
#[utoipa::path(get, path = "/v1/admin/events/{event_id}/stats", tag = "admin",
    security(("admin_key" = [])),
    params(("event_id" = String, Path, description = "Event id (UUID)")),
    responses(
        (status = 200, description = "Figures", body = EventStats),
        (status = 401, description = "Bad admin key", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody)))]
pub async fn event_stats(
    State(state): State<AppState>,
    _: AdminAuth,
    PathId(event): PathId<EventId>,
) -> Result<Json<EventStats>, ApiError> {
    let snapshot = fetch_event(&state, &event).await?;
    let now = Utc::now();
    let q = state
        .replica
        .queue
        .stats(&event, now.timestamp_millis())
        .await?;
    let total = snapshot.config.spec.seating.total_seats();
    let av = snapshot.availability.as_ref();
    Ok(Json(EventStats {
        event_id: event,
        state: snapshot.state(now),
        queue: QueueCounts {
            waiting: q.waiting,
            admitted_total: q.admitted_total,
            active: q.active,
            abandoned_total: q.abandoned_total,
            as_of: DateTime::from_timestamp_millis(q.read_at_ms).unwrap_or(now),
        },
        admission: AdmissionFigures {
            rate_per_minute: snapshot.config.spec.admission.rate_per_minute,
            observed_per_minute: q.observed_per_minute,
        },
        seats: SeatFigures {
            total,
            available: av.map_or(total, |a| a.available),
            held: av.map_or(0, |a| a.held),
            sold: av.map_or(0, |a| a.sold),
        },
        holds_active: av.map_or(0, |a| a.holds_active),
        orders: av.map_or(0, |a| a.orders),
    }))
}
