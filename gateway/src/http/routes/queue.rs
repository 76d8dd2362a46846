//! Queue endpoints: join (`POST`), status (`GET`), status stream (`GET .../stream`, SSE),
//! leave (`DELETE`).
//!
//! Join gates on the event's public state: `scheduled` (and paused before `opens_at`) or
//! `closed` → `409 queue_closed`, `sold_out` → `409 sold_out`; during `prequeue` the
//! ticket waits for the lottery at `opens_at`. The status of an admitted ticket carries
//! its pass (and sets the pass cookie). Statuses normally come from this replica's live
//! view without a Redis call (`live/place.rs`).

use crate::http::auth::{set_cookie, MaybeQueueAuth, QueueAuth, Tls, PASS_COOKIE, QUEUE_COOKIE};
use crate::http::error::{json_body, ApiError};
use crate::http::extract::JoinIdentity;
use crate::http::extract::PathId;
use crate::http::limits::ClientAddr;
use crate::http::state::AppState;
use crate::identity::JoinRequest;
use crate::live::place::Status;
use crate::live::place::{resolve, resolve_claim, restore_claim, Via};
use crate::live::{snapshot_for_token_holder, LiveError};
use crate::queue::TicketView;
use crate::stream::slots::holding;
use crate::stream::status::status_events;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use futures::Stream;
use protocol::event::PublicState;
use protocol::ids::EventId;
use protocol::reply::ErrorBody;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// Join the queue (or rejoin with a valid queue token).
#[utoipa::path(post, path = "/v1/events/{event_id}/queue", tag = "fans",
    params(("event_id" = String, Path, description = "Event id (UUID)")),
    request_body(content = Option<JoinRequest>, description = "Optional (required by events with `require_identity`): a user reference signed by the ticketing site, with an expiry (one place per user and event, see `identity.rs`)"),
    responses(
        (status = 201, description = "Joined: a new ticket, with its queue token", body = Status),
        (status = 200, description = "Rejoined: same ticket, same place", body = Status),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 409, description = "`queue_closed` or `sold_out`", body = ErrorBody),
        (status = 401, description = "`user_ref` with a missing or wrong `user_sig`, a past `user_exp`, or no `user_exp` for an event that requires identity", body = ErrorBody),
        (status = 403, description = "Anonymous join of an event that requires identity", body = ErrorBody),
        (status = 429, description = "Too many joins from this client", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody)))]
pub async fn join(
    State(state): State<AppState>,
    PathId(event): PathId<EventId>,
    Tls(tls): Tls,
    headers: axum::http::HeaderMap,
    MaybeQueueAuth(rejoin): MaybeQueueAuth,
    JoinIdentity(user): JoinIdentity,
) -> Result<Response, ApiError> {
    let snapshot = state
        .replica
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
    crate::identity::check_required(snapshot.config.spec.require_identity, user.as_ref())?;
    if let (Some(place), None) = (&rejoin, &user) {
        // A rejoin whose ticket Redis lost gets it back (one call; nothing if known).
        let pass = crate::http::auth::cookie(&headers, PASS_COOKIE);
        restore_claim(&state.replica, &snapshot, place.ticket, place.seq, pass).await?;
    }
    let joined = match &user {
        Some(user) => {
            let identity = state.identity.as_deref().ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("identity join without a secret"))
            })?;
            crate::identity::join_as(identity, &state.replica.queue, &event, prequeue, user).await?
        }
        None => {
            state
                .replica
                .queue
                .join(&event, prequeue, rejoin.as_ref().map(|p| p.ticket))
                .await?
        }
    };
    if joined.created {
        state.replica.metrics.queue_joins.inc();
    }
    // A signed join names its user; a rejoin keeps the name its token carried.
    let user_ref: Option<Arc<str>> = match &user {
        Some(u) => Some(Arc::from(u.user_ref.as_str())),
        None => rejoin.as_ref().and_then(|p| p.user_ref.clone()),
    };
    let token = state.replica.tokens.issue_queue(
        &event,
        joined.ticket,
        joined.seq,
        now.timestamp(),
        user_ref.as_deref(),
    );
    let (mut status, view) = resolve(
        &state.replica,
        &snapshot,
        joined.ticket,
        joined.seq,
        user_ref.as_deref(),
        Via::Join(joined.state),
    )
    .await
    .map_err(|e| match e {
        LiveError::NotFound(_) => ApiError::Internal(anyhow::anyhow!("ticket vanished after join")),
        e => e.into(),
    })?;
    status.queue_token = Some(token.clone());
    let code = if joined.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let ttl = i64::try_from(state.settings.queue_token_ttl_seconds).unwrap_or(86_400);
    let mut res = status_response(code, status, &view, tls);
    append_cookie(&mut res, &set_cookie(QUEUE_COOKIE, &token, ttl, tls));
    Ok(res)
}

/// The Status as JSON, with the pass cookie when it carries a pass.
fn status_response(code: StatusCode, status: Status, view: &TicketView, tls: bool) -> Response {
    let cookie = status.pass.as_ref().map(|pass| {
        let ttl = view.pass_exp_ms.unwrap_or(0).saturating_sub(view.now_ms) / 1000;
        set_cookie(PASS_COOKIE, pass, ttl, tls)
    });
    let mut res = json_body(code, &status);
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
    Tls(tls): Tls,
    auth: QueueAuth,
    PassCookie(pass): PassCookie,
) -> Result<Response, ApiError> {
    // The event of the path, parsed and checked against the token by `QueueAuth`.
    let event = auth.event;
    state.replica.metrics.status_requests.inc();
    let snapshot = snapshot_for_token_holder(&state.replica, &event).await?;
    let (status, view) = resolve_claim(
        &state.replica,
        &snapshot,
        &auth.place,
        pass.as_deref(),
        Via::Status,
    )
    .await?;
    Ok(status_response(StatusCode::OK, status, &view, tls))
}

/// The ticket's Status pushed over SSE: `event: status` with a Status as data, on every
/// change and at least every 15 s (see `stream/status.rs`). An open stream counts as a
/// poll (the fan keeps their place). The first event is sent at once; a ticket that is
/// gone later ends the stream with `event: error`.
#[utoipa::path(get, path = "/v1/events/{event_id}/queue/stream", tag = "fans",
    security(("queue_token" = [])),
    params(("event_id" = String, Path, description = "Event id (UUID)")),
    responses(
        (status = 200, description = "`text/event-stream` of `event: status` (data: Status)",
            content_type = "text/event-stream", body = Status),
        (status = 401, description = "No valid queue token for this event", body = ErrorBody),
        (status = 404, description = "No such event or ticket", body = ErrorBody),
        (status = 429, description = "Too many open streams for this ticket, client or replica", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody)))]
pub async fn stream(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    auth: QueueAuth,
    PassCookie(pass): PassCookie,
) -> Result<Response, Response> {
    let event = auth.event;
    let ticket = auth.place.ticket;
    let slot = state
        .limits
        .open_stream(ticket, client)
        .map_err(IntoResponse::into_response)?;
    state.replica.metrics.status_requests.inc();
    let snapshot = snapshot_for_token_holder(&state.replica, &event)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let (first, _) = resolve_claim(
        &state.replica,
        &snapshot,
        &auth.place,
        pass.as_deref(),
        Via::Status,
    )
    .await
    .map_err(|e| ApiError::from(e).into_response())?;
    let events = status_events(state.replica.clone(), event, auth.place, &first);
    Ok(sse_response(holding(events, slot)))
}

/// The raw pass cookie of a request, if any (verified only when it is needed: a ticket
/// Redis lost comes back admitted if its pass is live).
pub struct PassCookie(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for PassCookie {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PassCookie(
            crate::http::auth::cookie(&parts.headers, PASS_COOKIE).map(str::to_owned),
        ))
    }
}

/// An SSE response of `events`, with comment keep-alives every 10 s and proxy
/// buffering off.
pub fn sse_response<S>(events: S) -> Response
where
    S: Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    let mut res = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
        .into_response();
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// Give up the place (or the pass). An admitted fan's pass is revoked: its `max_active`
/// slot goes to the next fan at once, and every replica refuses holds and confirms with
/// it (`403 forbidden`), so leaving and joining again never adds a live pass.
#[utoipa::path(delete, path = "/v1/events/{event_id}/queue", tag = "fans",
    security(("queue_token" = [])),
    params(("event_id" = String, Path, description = "Event id (UUID)")),
    responses(
        (status = 204, description = "Left; a pass the ticket held is revoked"),
        (status = 401, description = "No valid queue token for this event", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody)))]
pub async fn leave(
    State(state): State<AppState>,
    Tls(tls): Tls,
    auth: QueueAuth,
) -> Result<Response, ApiError> {
    // The event of the path, parsed and checked against the token by `QueueAuth`.
    let event = auth.event;
    state
        .replica
        .queue
        .leave(&event, &auth.place.ticket)
        .await?;
    state.replica.live.settle(auth.place.ticket);
    let mut res = StatusCode::NO_CONTENT.into_response();
    append_cookie(&mut res, &set_cookie(QUEUE_COOKIE, "", 0, tls));
    Ok(res)
}

fn append_cookie(res: &mut Response, cookie: &str) {
    if let Ok(v) = cookie.parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}
