//! Queue endpoints: join (`POST`), status (`GET`), leave (`DELETE`).
//!
//! Join gates on the event's public state: `scheduled` (and paused before `opens_at`) or
//! `closed` → `409 queue_closed`, `sold_out` → `409 sold_out`; during `prequeue` the
//! ticket waits for the lottery at `opens_at`. The status of an admitted ticket carries
//! its pass (and sets the pass cookie).

use crate::auth::{is_tls, set_cookie, MaybeQueueAuth, QueueAuth, PASS_COOKIE, QUEUE_COOKIE};
use crate::catalog::EventSnapshot;
use crate::error::ApiError;
use crate::extract::PathId;
use crate::identity::{JoinIdentity, JoinRequest};
use crate::queue::{derive_state, eta, poll_after_ms, QueueState, TicketView};
use crate::state::AppState;
use crate::views::Status;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use protocol::event::PublicState;
use protocol::ids::{EventId, TicketId};
use protocol::reply::ErrorBody;
use sha2::{Digest, Sha256};

/// Join the queue (or rejoin with a valid queue token).
#[utoipa::path(post, path = "/v1/events/{event_id}/queue", tag = "fans",
    params(("event_id" = String, Path, description = "Event id (UUID)")),
    request_body(content = Option<JoinRequest>, description = "Optional: a user reference signed by the ticketing site (one place per user and event, see `identity.rs`)"),
    responses(
        (status = 201, description = "Joined: a new ticket, with its queue token", body = Status),
        (status = 200, description = "Rejoined: same ticket, same place", body = Status),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 409, description = "`queue_closed` or `sold_out`", body = ErrorBody),
        (status = 401, description = "`user_ref` with a missing or wrong `user_sig`", body = ErrorBody),
        (status = 429, description = "Too many joins from this client", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody)))]
pub async fn join(
    State(state): State<AppState>,
    PathId(event): PathId<EventId>,
    headers: HeaderMap,
    MaybeQueueAuth(claims): MaybeQueueAuth,
    JoinIdentity(user): JoinIdentity,
) -> Result<Response, ApiError> {
    let snapshot = state
        .catalog
        .cached(&event)
        .await?
        .ok_or_else(|| ApiError::NotFound("event".into()))?;
    let now = Utc::now();
    let prequeue = match snapshot.state(now) {
        PublicState::Open => false,
        PublicState::Prequeue => true,
        PublicState::Paused if now >= snapshot.config.spec.opens_at => false,
        PublicState::Paused | PublicState::Scheduled => {
            return Err(ApiError::QueueClosed("the queue is not open yet".into()))
        }
        PublicState::Closed => return Err(ApiError::QueueClosed("the queue is closed".into())),
        PublicState::SoldOut => return Err(ApiError::SoldOut),
    };
    let joined = match &user {
        Some(user) => crate::identity::join_as(&state, &event, prequeue, user).await?,
        None => {
            state
                .queue
                .join(&event, prequeue, claims.map(|c| c.sub))
                .await?
        }
    };
    if joined.created {
        state.metrics.queue_joins.inc();
    }
    let token = state
        .tokens
        .issue_queue(&event, joined.ticket, joined.seq, now.timestamp());
    let view = state
        .queue
        .status(&event, &joined.ticket)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("ticket vanished after join")))?;
    let mut status = build_status(&state, &snapshot, joined.ticket, &view)?;
    status.queue_token = Some(token.clone());
    let code = if joined.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let ttl = i64::try_from(state.settings.queue_token_ttl_seconds).unwrap_or(86_400);
    let mut res = status_response(code, status, &view, &headers);
    append_cookie(
        &mut res,
        &set_cookie(QUEUE_COOKIE, &token, ttl, is_tls(&headers)),
    );
    Ok(res)
}

/// The Status as JSON, with the pass cookie when it carries a pass.
fn status_response(
    code: StatusCode,
    status: Status,
    view: &TicketView,
    headers: &HeaderMap,
) -> Response {
    let cookie = status.pass.as_ref().map(|pass| {
        let ttl = view.pass_exp_ms.unwrap_or(0).saturating_sub(view.now_ms) / 1000;
        set_cookie(PASS_COOKIE, pass, ttl, is_tls(headers))
    });
    let mut res = (code, Json(status)).into_response();
    if let Some(c) = cookie {
        append_cookie(&mut res, &c);
    }
    res
}

/// The ticket's place, ETA and, once admitted, its pass.
#[utoipa::path(get, path = "/v1/events/{event_id}/queue", tag = "fans",
    security(("queue_token" = [])),
    params(("event_id" = String, Path, description = "Event id (UUID)")),
    responses(
        (status = 200, description = "Status", body = Status),
        (status = 401, description = "No valid queue token for this event", body = ErrorBody),
        (status = 404, description = "No such event or ticket", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    PathId(event): PathId<EventId>,
    headers: HeaderMap,
    auth: QueueAuth,
) -> Result<Response, ApiError> {
    let snapshot = state
        .catalog
        .cached(&event)
        .await?
        .ok_or_else(|| ApiError::NotFound("event".into()))?;
    let ticket = auth.claims.sub;
    let view = state
        .queue
        .status(&event, &ticket)
        .await?
        .ok_or_else(|| ApiError::NotFound("ticket".into()))?;
    let status = build_status(&state, &snapshot, ticket, &view)?;
    Ok(status_response(StatusCode::OK, status, &view, &headers))
}

/// Give up the place (or the pass).
#[utoipa::path(delete, path = "/v1/events/{event_id}/queue", tag = "fans",
    security(("queue_token" = [])),
    params(("event_id" = String, Path, description = "Event id (UUID)")),
    responses(
        (status = 204, description = "Left"),
        (status = 401, description = "No valid queue token for this event", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody)))]
pub async fn leave(
    State(state): State<AppState>,
    PathId(event): PathId<EventId>,
    headers: HeaderMap,
    auth: QueueAuth,
) -> Result<Response, ApiError> {
    state.queue.leave(&event, &auth.claims.sub).await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    append_cookie(&mut res, &set_cookie(QUEUE_COOKIE, "", 0, is_tls(&headers)));
    Ok(res)
}

fn append_cookie(res: &mut Response, cookie: &str) {
    if let Ok(v) = cookie.parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Renders API.md's Status for `ticket` from its record and the event.
///
/// # Errors
/// `500` if the pass cannot be signed.
pub fn build_status(
    state: &AppState,
    snapshot: &EventSnapshot,
    ticket: TicketId,
    view: &TicketView,
) -> Result<Status, ApiError> {
    let event = snapshot.config.id;
    let now = DateTime::from_timestamp_millis(view.now_ms).unwrap_or_else(Utc::now);
    let event_state = snapshot.state(Utc::now());
    let qs = derive_state(view, event_state);
    let ahead = view.ahead.filter(|_| qs == QueueState::Waiting);
    let eta = ahead
        .filter(|_| event_state == PublicState::Open)
        .and_then(|a| {
            eta(
                a,
                snapshot.config.spec.admission.rate_per_minute,
                state.outflow.per_minute(&event),
            )
        });
    let until_open = (snapshot.config.spec.opens_at.with_timezone(&Utc) - now).num_milliseconds();
    let mut status = Status {
        ticket_id: ticket,
        event_id: event,
        state: qs,
        position: ahead.map(|a| a + 1),
        ahead,
        eta_seconds: eta.map(|e| e.seconds),
        eta_range_seconds: eta.map(|e| e.range),
        poll_after_ms: poll_after_ms(qs, eta, until_open),
        queue_token: None,
        pass: None,
        pass_expires_at: None,
    };
    if qs == QueueState::Admitted {
        let (Some(admitted_ms), Some(exp_ms)) = (view.admitted_ms, view.pass_exp_ms) else {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "admitted ticket without admission times"
            )));
        };
        let jti = hex::encode(&Sha256::digest(format!("{ticket}:{admitted_ms}"))[..16]);
        let pass = state
            .tokens
            .issue_pass(&event, ticket, jti, admitted_ms / 1000, exp_ms / 1000)
            .map_err(|e| ApiError::Internal(e.into()))?;
        status.pass = Some(pass);
        status.pass_expires_at = DateTime::from_timestamp(exp_ms / 1000, 0);
    }
    Ok(status)
}
