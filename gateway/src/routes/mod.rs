//! The HTTP routes of API.md, one file per group, and the helpers the reservation and
//! admin commands share.

pub mod admin;
pub mod events;
pub mod holds;
pub mod ops;
pub mod pages;
pub mod queue;
pub mod requests;

use crate::error::{json_response, ApiError};
use crate::extract::not_found;
use crate::publisher::Answer;
use crate::state::AppState;
use crate::views::Accepted;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use protocol::command::{Command, Envelope};
use protocol::ids::{EventId, RequestId, TicketId};
use protocol::names::RESULT_TTL_SECONDS;
use std::sync::LazyLock;
use std::time::Duration;

/// Every route, with JSON 404s for unknown routes and methods (no middleware: see
/// `middleware::apply`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/admin/events",
            post(admin::create_event).get(admin::list_events),
        )
        .route(
            "/v1/admin/events/{event_id}",
            get(admin::get_event).patch(admin::patch_event),
        )
        .route("/v1/admin/events/{event_id}/stats", get(admin::event_stats))
        .route("/v1/events/{event_id}", get(events::get_event))
        .route(
            "/v1/events/{event_id}/queue",
            post(queue::join).get(queue::status).delete(queue::leave),
        )
        .route("/v1/events/{event_id}/queue/stream", get(queue::stream))
        .route("/v1/events/{event_id}/prequeue", get(events::prequeue))
        .route("/v1/events/{event_id}/seats", get(events::seats))
        .route(
            "/v1/events/{event_id}/seats/stream",
            get(events::seats_stream),
        )
        .route("/v1/events/{event_id}/holds", post(holds::create_hold))
        .route("/v1/requests/{request_id}", get(requests::get_request))
        .route(
            "/v1/holds/{hold_id}",
            get(holds::get_hold).delete(holds::release_hold),
        )
        .route("/v1/holds/{hold_id}/confirm", post(holds::confirm_hold))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/.well-known/jwks.json", get(ops::jwks))
        .route("/openapi.json", get(crate::openapi::openapi_json))
        .merge(pages::router())
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
}

/// `KEYS[1]` the request's result, `KEYS[2]` its pending marker; `ARGV` the ticket id
/// and the marker's TTL (s). Sets the marker unless the result is already stored.
static MARK_PENDING: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "if redis.call('EXISTS', KEYS[1]) == 0 then \
             redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2]) \
         end \
         return 0",
    )
});

/// A fresh command envelope for `event`, stamped `accepted_at`: the instant this gateway
/// accepted the command (`sent_at`: the worker judges confirms and releases by it; fan
/// routes pass [`crate::extract::Received`]; the publisher moves it up if the command
/// waits too long to be handed to the broker, see `publisher::STAMP_MAX_AGE`).
pub fn command_envelope(
    event_id: EventId,
    command: Command,
    accepted_at: chrono::DateTime<Utc>,
) -> Envelope {
    Envelope {
        request_id: RequestId::new(),
        event_id,
        sent_at: accepted_at,
        command,
    }
}

/// Publishes a fan command (hold, confirm, release) and answers with the worker's
/// outcome, or `202` with the request URL if it does not come within `reply_timeout_ms`
/// or the broker does not confirm the command in time (it may be queued; the URL says
/// `pending` until the worker stores the result).
///
/// # Errors
/// `503` if the broker refuses the command or is not reachable (nothing was accepted).
pub async fn fan_command(
    state: &AppState,
    envelope: Envelope,
    ticket: TicketId,
) -> Result<Response, ApiError> {
    let (event, request_id) = (envelope.event_id, envelope.request_id);
    let wait = Duration::from_millis(state.settings.reply_timeout_ms);
    match state.publisher.send(envelope, wait).await? {
        Answer::Reply(reply) => Ok(json_response(
            reply.outcome.http_status(),
            reply.outcome.http_body(),
        )),
        Answer::TimedOut => {
            // Best effort: without the marker, `/v1/requests` says 404 until the worker
            // stores the result. Written only while no result is stored, in one script: a
            // marker written after the worker's result (and its deletion of the marker)
            // would say `pending` again once a short-lived refusal expires.
            let result = state.keys.request(&event, &request_id);
            let marker = state.keys.pending(&event, &request_id);
            let marked = state
                .redis
                .call(|mut c| async move {
                    MARK_PENDING
                        .key(result)
                        .key(marker)
                        .arg(ticket.to_string())
                        .arg(RESULT_TTL_SECONDS)
                        .invoke_async::<()>(&mut c)
                        .await
                })
                .await;
            if let Err(e) = marked {
                tracing::warn!(error = %e, %request_id, "could not record the pending request");
            }
            let body = Accepted {
                request_id,
                status_url: format!("/v1/requests/{request_id}"),
            };
            Ok((StatusCode::ACCEPTED, Json(body)).into_response())
        }
    }
}

#[cfg(test)]
mod tests;
