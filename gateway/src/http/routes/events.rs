//! Public event endpoints: the event, its pre-queue lottery record, and its seat map and
//! seat stream (pass holders only).

use crate::http::auth::PassAuth;
use crate::http::error::ApiError;
use crate::http::extract::PathId;
use crate::http::limits::ClientAddr;
use crate::http::routes::queue::sse_response;
use crate::http::routes::seat_map::{compact_stream, StreamQuery};
use crate::http::state::AppState;
use crate::live::seat_feed::{all_available, SeatFeed, SeatsEvent};
use crate::stream::seats::seat_events;
use crate::stream::slots::holding;
use crate::views::prequeue::PrequeueRecord;
use crate::views::{PublicEvent, SeatMap};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use protocol::ids::EventId;
use protocol::reply::ErrorBody;

/// The public view of an event.
#[utoipa::path(get, path = "/v1/events/{event_id}", tag = "fans",
    params(("event_id" = String, Path, description = "Event id (UUID)")),
    responses(
        (status = 200, description = "The event", body = PublicEvent),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody)))]
pub async fn get_event(
    State(state): State<AppState>,
    PathId(event): PathId<EventId>,
) -> Result<Json<PublicEvent>, ApiError> {
    let snapshot = state
        .replica
        .catalog
        .cached(&event)
        .await?
        .ok_or_else(|| ApiError::NotFound("event".into()))?;
    Ok(Json(PublicEvent::new(&snapshot, Utc::now())))
}

/// The pre-queue lottery record: the commitment from the start, then at `opens_at` the
/// seed, the pre-queue's tickets in arrival order and the order applied. Anyone can check
/// it with `anteroom-gateway verify-shuffle` (`docs/LOTTERY.md`).
#[utoipa::path(get, path = "/v1/events/{event_id}/prequeue", tag = "fans",
    params(("event_id" = String, Path, description = "Event id (UUID)")),
    responses(
        (status = 200, description = "The lottery record", body = PrequeueRecord),
        (status = 404, description = "No such event, or it has no pre-queue", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody)))]
pub async fn prequeue(
    State(state): State<AppState>,
    PathId(event): PathId<EventId>,
) -> Result<Json<PrequeueRecord>, ApiError> {
    let snapshot = state
        .replica
        .catalog
        .cached(&event)
        .await?
        .filter(|s| s.config.spec.prequeue_opens_at.is_some())
        .ok_or_else(|| ApiError::NotFound("pre-queue".into()))?;
    let lottery = match state.replica.live.lottery(&event) {
        Some(l) => Some(l),
        None => {
            let read = state.replica.queue.lottery(&event).await?;
            if let Some(l) = read {
                state.replica.live.set_lottery(&event, l);
            }
            state.replica.live.lottery(&event)
        }
    };
    Ok(Json(PrequeueRecord::new(
        &snapshot,
        lottery.as_deref(),
        Utc::now(),
    )))
}

/// The seat map with each seat's status (from the worker's availability snapshot).
#[utoipa::path(get, path = "/v1/events/{event_id}/seats", tag = "fans",
    security(("pass" = [])),
    params(("event_id" = String, Path, description = "Event id (UUID)")),
    responses(
        (status = 200, description = "Seat map", body = SeatMap),
        (status = 401, description = "No valid pass for this event", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody)))]
pub async fn seats(
    State(state): State<AppState>,
    PathId(event): PathId<EventId>,
    pass: PassAuth,
) -> Result<Json<SeatMap>, ApiError> {
    let snapshot = state
        .replica
        .catalog
        .fetch(&pass.event)
        .await?
        .filter(|_| pass.event == event)
        .ok_or_else(|| ApiError::NotFound("event".into()))?;
    Ok(Json(SeatMap::new(&snapshot)))
}

/// Seat statuses pushed over SSE: `event: seats` with `{as_of, version, full, seats:
/// [{id, status}]}`; the first event is the full map, later ones only the seats that
/// changed (a subscriber that falls behind gets the full map again). Driven by the
/// worker's availability snapshots as this replica's watcher reads them (≤ 250 ms after
/// one is written; the worker writes them at most every `availability_interval_ms`).
///
/// With `format=compact`: `event: state` (the body of `GET …/seats/state`), then `event:
/// delta` with `{from, to, as_of, changes: [[layout index, code], …]}`, and `event:
/// state` again after a gap; `since=<version>` skips the first state when this replica's
/// latest is that version (`routes/seat_map.rs`).
#[utoipa::path(get, path = "/v1/events/{event_id}/seats/stream", tag = "fans",
    security(("pass" = [])),
    params(("event_id" = String, Path, description = "Event id (UUID)"),
        ("format" = Option<String>, Query,
            description = "`v1` (default): `event: seats`; `compact`: `event: state` and `event: delta`"),
        ("since" = Option<u64>, Query,
            description = "With `format=compact`: the state version the client holds")),
    responses(
        (status = 200, description = "`text/event-stream` of `event: seats` (or `state` and `delta`)",
            content_type = "text/event-stream", body = SeatsEvent),
        (status = 401, description = "No valid pass for this event", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 422, description = "Bad `format` or `since`", body = ErrorBody),
        (status = 429, description = "Too many open streams for this pass, client or replica", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody)))]
pub async fn seats_stream(
    State(state): State<AppState>,
    PathId(event): PathId<EventId>,
    ClientAddr(client): ClientAddr,
    pass: PassAuth,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let query = StreamQuery::parse(query.as_deref()).map_err(IntoResponse::into_response)?;
    let slot = state
        .limits
        .open_stream(pass.claims.sub, client)
        .map_err(IntoResponse::into_response)?;
    let snapshot = state
        .replica
        .catalog
        .cached(&pass.event)
        .await
        .map_err(|e| ApiError::from(e).into_response())?
        .filter(|_| pass.event == event)
        .ok_or_else(|| ApiError::NotFound("event".into()).into_response())?;
    if query.compact {
        let events = compact_stream(&state, event, &snapshot, query.since);
        return Ok(sse_response(holding(events, slot)));
    }
    let seating = snapshot.config.spec.seating.clone();
    let live = state.replica.live.event(&event);
    // Subscribe first: a change between the full map and the subscription is not lost.
    let deltas = live.seats.subscribe();
    let first = live
        .seats
        .full(&seating)
        .or_else(|| {
            snapshot
                .availability
                .as_ref()
                .map(|a| SeatFeed::full_of(&seating, a))
        })
        .unwrap_or_else(|| all_available(&seating, event, snapshot.config.updated_at));
    let events = seat_events(&state.replica, event, seating, deltas, first);
    Ok(sse_response(holding(events, slot)))
}
