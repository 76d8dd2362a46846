//! `GET /v1/requests/{request_id}`: the result of a request answered `202`.
//!
//! Results are stored by the worker (`request(E,R)`, a `StoredResult`); until then the
//! gateway's own marker (`pending(E,R)`, written when it answered `202`, deleted by the
//! worker with the result) says the request is pending; both are read by one `MGET`. Only the ticket that made the request may read it; anyone else
//! gets `404`, as for an unknown id.

use crate::adapters::redis_store::parse_json;
use crate::http::auth::PassAuth;
use crate::http::error::ApiError;
use crate::http::extract::PathId;
use crate::http::state::AppState;
use crate::views::RequestState;
use axum::extract::State;
use axum::Json;
use protocol::ids::{RequestId, TicketId};
use protocol::reply::{ErrorBody, StoredResult};

/// The state of a request of the pass holder.
#[utoipa::path(get, path = "/v1/requests/{request_id}", tag = "reservations",
    security(("pass" = [])),
    params(("request_id" = String, Path, description = "Request id (UUID)")),
    responses(
        (status = 200, description = "`{\"state\": \"pending\"}` or `{\"state\": \"done\", \"status\", \"body\"}`", body = RequestState),
        (status = 401, description = "No valid pass", body = ErrorBody),
        (status = 404, description = "No such request of this ticket", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody)))]
pub async fn get_request(
    State(state): State<AppState>,
    PathId(request): PathId<RequestId>,
    pass: PassAuth,
) -> Result<Json<RequestState>, ApiError> {
    let ticket = pass.claims.sub;
    // One MGET reads the result and the marker at the same instant: read one after the
    // other, the worker could store the result and delete the marker in between, and a
    // pending request would look unknown.
    let result_key = state.replica.keys.request(&pass.event, &request);
    let marker_key = state.replica.keys.pending(&pass.event, &request);
    let mut raw = state
        .replica
        .redis
        .mget_raw(&[result_key.clone(), marker_key])
        .await?
        .into_iter();
    let (stored, marker) = (raw.next().flatten(), raw.next().flatten());
    if let Some(stored) = stored {
        let result: StoredResult = parse_json(&result_key, &stored)?;
        return if result.ticket_id == Some(ticket) {
            Ok(Json(RequestState::Done {
                status: result.status,
                body: result.body,
            }))
        } else {
            Err(ApiError::NotFound("request".into()))
        };
    }
    match marker.and_then(|m| m.parse::<TicketId>().ok()) {
        Some(owner) if owner == ticket => Ok(Json(RequestState::Pending)),
        _ => Err(ApiError::NotFound("request".into())),
    }
}
