//! Public event endpoints: the event, and its seat map (pass holders only).

use crate::auth::PassAuth;
use crate::error::ApiError;
use crate::extract::PathId;
use crate::state::AppState;
use crate::views::{PublicEvent, SeatMap};
use axum::extract::State;
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
        .catalog
        .cached(&event)
        .await?
        .ok_or_else(|| ApiError::NotFound("event".into()))?;
    Ok(Json(PublicEvent::new(&snapshot, Utc::now())))
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
        .catalog
        .fetch(&pass.event)
        .await?
        .filter(|_| pass.event == event)
        .ok_or_else(|| ApiError::NotFound("event".into()))?;
    Ok(Json(SeatMap::new(&snapshot)))
}
