//! What the reservation and admin commands share: a fresh command envelope, and
//! publishing a fan command and answering with the worker's outcome (or `202` and the
//! request URL).

use crate::adapters::publisher::Answer;
use crate::http::error::{json_response, ApiError};
use crate::http::state::AppState;
use crate::views::Accepted;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use protocol::command::{Command, Envelope};
use protocol::ids::{EventId, RequestId, TicketId};
use protocol::names::RESULT_TTL_SECONDS;
use std::sync::LazyLock;
use std::time::Duration;

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
/// routes pass [`crate::http::extract::Received`]; the publisher moves it up if the command
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
            let result = state.replica.keys.request(&event, &request_id);
            let marker = state.replica.keys.pending(&event, &request_id);
            let marked = state
                .replica
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
