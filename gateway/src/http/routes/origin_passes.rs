//! Ending a fan's session from the venue's server (gate mode, docs/API.md):
//! `POST /v1/origin/events/{event_id}/passes/{ticket_id}/revoke`.
//!
//! The effect is the fan leaving the queue with a live pass (`queue/leave.lua`): the
//! ticket leaves the active set, so its `max_active` slot is free for the next fan at
//! once, and its pass joins the revoked set, refused by every replica's gate check
//! within a second (`gate/revoked.rs`) and by holds and confirms at once (`LivePass`).

use crate::http::error::ApiError;
use crate::http::extract::IdempotencyKey;
use crate::http::state::AppState;
use crate::http::venue_auth::VenueAuth;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use protocol::ids::{EventId, TicketId};
use protocol::reply::ErrorBody;

/// Revokes the pass of a ticket: `204` also when it was already revoked or the ticket is
/// unknown (idempotent; an optional `Idempotency-Key` is accepted and changes nothing).
#[utoipa::path(post, path = "/v1/origin/events/{event_id}/passes/{ticket_id}/revoke",
    tag = "origin",
    security(("api_key" = []), ("admin_key" = [])),
    params(("event_id" = String, Path, description = "Event id (UUID)"),
        ("ticket_id" = String, Path, description = "The pass's ticket (`sub`, `X-Anteroom-Ticket` of the gate check)")),
    responses(
        (status = 204, description = "The pass is revoked (or was, or the ticket is unknown)"),
        (status = 401, description = "No valid admin key or API key", body = ErrorBody),
        (status = 403, description = "The API key may not act on this event", body = ErrorBody),
        (status = 404, description = "No such event (or ticket id not a UUID)", body = ErrorBody),
        (status = 422, description = "Malformed `Idempotency-Key`", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody)))]
pub async fn revoke_pass(
    State(state): State<AppState>,
    Path((raw_event, raw_ticket)): Path<(String, String)>,
    _: VenueAuth,
    _: IdempotencyKey,
) -> Result<StatusCode, ApiError> {
    let event: EventId = raw_event
        .parse()
        .map_err(|_| ApiError::NotFound("event".into()))?;
    let ticket: TicketId = raw_ticket
        .parse()
        .map_err(|_| ApiError::NotFound("ticket".into()))?;
    let replica = &state.replica;
    if replica.catalog.cached(&event).await?.is_none() {
        return Err(ApiError::NotFound("event".into()));
    }
    replica.queue.leave(&event, &ticket).await?;
    state.revoked.add(&event, ticket);
    tracing::info!(event_id = %event, ticket_id = %ticket, "pass revoked by the venue");
    Ok(StatusCode::NO_CONTENT)
}
