//! The origin API: the venue's server reads a hold, confirms it after taking the
//! payment, and cancels orders (`Authorization: Bearer <API key>`).
//!
//! Reads come from PostgreSQL through the back-office pool: a hold exists there from
//! the moment its `201` was sent (the worker answers after the commit). Confirms and
//! cancels are commands to the event's shard like the fan's, decided in order by the
//! worker; the gateway only finds the event and the ticket of the hold or order (its
//! row) and checks the key's scope. A hold or order of an event outside the key's
//! scope is `404`, as for an unknown id, so a key learns nothing about other events.

use super::commands::command_envelope;
use super::holds::{idempotency, ConfirmBody};
use crate::adapters::api_keys::ApiKeyView;
use crate::adapters::back_office::BackOfficeError;
use crate::adapters::publisher::Answer;
use crate::http::error::{json_response, ApiError};
use crate::http::extract::{IdempotencyKey, PathId, RawJson, Received};
use crate::http::state::AppState;
use crate::http::venue_auth::ApiKeyAuth;
use crate::views::Accepted;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use protocol::command::{Command, Confirmer, Envelope};
use protocol::ids::{EventId, HoldId, OrderId, TicketId};
use protocol::reply::{ErrorBody, HoldState, Order};
use protocol::text::CancelReason;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

/// `GET /v1/origin/holds/{hold_id}`: a hold as the venue's server sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OriginHold {
    /// Hold id.
    pub id: HoldId,
    /// Event id.
    pub event_id: EventId,
    /// The fan's ticket.
    pub ticket_id: TicketId,
    /// Held seat ids.
    pub seats: Vec<String>,
    /// `held`, `confirmed`, `released` or `expired`.
    pub state: HoldState,
    /// Sum of the seat prices, in the currency's minor unit.
    pub total_cents: i64,
    /// ISO 4217 code of the event's prices.
    pub currency: String,
    /// When an unconfirmed hold expires.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    /// The user reference of the fan's signed join; `null` for an anonymous join.
    pub user_ref: Option<String>,
    /// The order, once confirmed (with `cancelled_at` if the venue cancelled it).
    pub order: Option<Order>,
}

#[derive(sqlx::FromRow)]
struct HoldRow {
    id: Uuid,
    event_id: Uuid,
    ticket_id: Uuid,
    seats: Vec<String>,
    state: String,
    total_cents: i64,
    expires_at: DateTime<Utc>,
    user_ref: Option<String>,
    currency: String,
    order_id: Option<Uuid>,
    order_seats: Option<Vec<String>>,
    order_total_cents: Option<i64>,
    confirmed_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
}

/// The state of a `holds.state` value.
fn hold_state(s: &str) -> HoldState {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).unwrap_or(HoldState::Expired)
}

/// Read a hold: state, seats, price, expiry, ticket, the fan's `user_ref`, its order.
#[utoipa::path(get, path = "/v1/origin/holds/{hold_id}", tag = "origin",
    security(("api_key" = [])),
    params(("hold_id" = String, Path, description = "Hold id (UUID)")),
    responses(
        (status = 200, description = "The hold", body = OriginHold),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 404, description = "No such hold of an event of this key", body = ErrorBody),
        (status = 503, description = "PostgreSQL unavailable", body = ErrorBody)))]
pub async fn get_hold(
    State(state): State<AppState>,
    PathId(hold_id): PathId<HoldId>,
    ApiKeyAuth(key): ApiKeyAuth,
) -> Result<Json<OriginHold>, ApiError> {
    let row: Option<HoldRow> = sqlx::query_as(
        "SELECT h.id, h.event_id, h.ticket_id, h.seats, h.state, h.total_cents, h.expires_at,
                h.user_ref, COALESCE(e.spec->>'currency', 'USD') AS currency,
                o.id AS order_id, o.seats AS order_seats, o.total_cents AS order_total_cents,
                o.confirmed_at, o.cancelled_at
         FROM holds h JOIN events e ON e.id = h.event_id
         LEFT JOIN orders o ON o.hold_id = h.id
         WHERE h.id = $1",
    )
    .bind(hold_id.0)
    .fetch_optional(state.back_office.pool())
    .await
    .map_err(BackOfficeError::from)?;
    let Some(r) = row.filter(|r| key.allows(&EventId(r.event_id))) else {
        return Err(ApiError::NotFound("hold".into()));
    };
    let order = match (
        r.order_id,
        r.order_seats,
        r.order_total_cents,
        r.confirmed_at,
    ) {
        (Some(id), Some(seats), Some(total_cents), Some(confirmed_at)) => Some(Order {
            id: OrderId(id),
            hold_id,
            event_id: EventId(r.event_id),
            seats,
            total_cents,
            confirmed_at,
            cancelled_at: r.cancelled_at,
        }),
        _ => None,
    };
    Ok(Json(OriginHold {
        id: HoldId(r.id),
        event_id: EventId(r.event_id),
        ticket_id: TicketId(r.ticket_id),
        seats: r.seats,
        state: hold_state(&r.state),
        total_cents: r.total_cents,
        currency: r.currency,
        expires_at: r.expires_at,
        user_ref: r.user_ref,
        order,
    }))
}

/// The event and ticket of `table`'s row `id` (`holds` or `orders`), if the key may
/// act on its event.
///
/// # Errors
/// `404` for an unknown id or an event outside the key's scope; `503` without
/// PostgreSQL.
async fn owner(
    state: &AppState,
    table: Table,
    id: Uuid,
    key: &ApiKeyView,
    what: &str,
) -> Result<(EventId, TicketId), ApiError> {
    let sql = match table {
        Table::Holds => "SELECT event_id, ticket_id FROM holds WHERE id = $1",
        Table::Orders => "SELECT event_id, ticket_id FROM orders WHERE id = $1",
    };
    let row: Option<(Uuid, Uuid)> = sqlx::query_as(sql)
        .bind(id)
        .fetch_optional(state.back_office.pool())
        .await
        .map_err(BackOfficeError::from)?;
    row.map(|(e, t)| (EventId(e), TicketId(t)))
        .filter(|(e, _)| key.allows(e))
        .ok_or_else(|| ApiError::NotFound(what.into()))
}

#[derive(Debug, Clone, Copy)]
enum Table {
    Holds,
    Orders,
}

/// Confirm a hold after the payment: the same answers as the fan's confirm.
#[utoipa::path(post, path = "/v1/origin/holds/{hold_id}/confirm", tag = "origin",
    request_body = ConfirmBody, security(("api_key" = [])),
    params(("hold_id" = String, Path, description = "Hold id (UUID)"),
        ("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters")),
    responses(
        (status = 200, description = "Confirmed", body = Order),
        (status = 202, description = "Decision pending: repeat with the same Idempotency-Key", body = Accepted),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 404, description = "No such hold of an event of this key", body = ErrorBody),
        (status = 409, description = "`hold_not_active`", body = ErrorBody),
        (status = 410, description = "`hold_expired`", body = ErrorBody),
        (status = 422, description = "Invalid body, or `idempotency_key_reused`", body = ErrorBody),
        (status = 503, description = "PostgreSQL or the broker unavailable", body = ErrorBody)))]
pub async fn confirm_hold(
    Received(received): Received,
    State(state): State<AppState>,
    PathId(hold_id): PathId<HoldId>,
    ApiKeyAuth(key): ApiKeyAuth,
    IdempotencyKey(idem): IdempotencyKey,
    body: RawJson<ConfirmBody>,
) -> Result<Response, ApiError> {
    let (event, ticket_id) = owner(&state, Table::Holds, hold_id.0, &key, "hold").await?;
    let command = Command::Confirm {
        ticket_id,
        hold_id,
        payment_ref: body.value.payment_ref,
        idempotency: idempotency(idem, body.fingerprint)?,
        by: Confirmer::Origin,
    };
    let retry = format!("/v1/origin/holds/{hold_id}/confirm");
    origin_command(&state, command_envelope(event, command, received), retry).await
}

/// Body of `POST /v1/origin/orders/{order_id}/cancel`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Why (a refund, a chargeback), 1–500 characters; kept with the order.
    #[serde(default)]
    pub reason: Option<CancelReason>,
}

/// Cancel an order: its seats go back on sale.
#[utoipa::path(post, path = "/v1/origin/orders/{order_id}/cancel", tag = "origin",
    request_body = CancelBody, security(("api_key" = [])),
    params(("order_id" = String, Path, description = "Order id (UUID)"),
        ("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters")),
    responses(
        (status = 200, description = "Cancelled (`cancelled_at` set); the same order again for one already cancelled", body = Order),
        (status = 202, description = "Decision pending: repeat the request", body = Accepted),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 404, description = "No such order of an event of this key", body = ErrorBody),
        (status = 422, description = "Invalid body, or `idempotency_key_reused`", body = ErrorBody),
        (status = 503, description = "PostgreSQL or the broker unavailable", body = ErrorBody)))]
pub async fn cancel_order(
    Received(received): Received,
    State(state): State<AppState>,
    PathId(order_id): PathId<OrderId>,
    ApiKeyAuth(key): ApiKeyAuth,
    IdempotencyKey(idem): IdempotencyKey,
    body: RawJson<CancelBody>,
) -> Result<Response, ApiError> {
    let (event, ticket_id) = owner(&state, Table::Orders, order_id.0, &key, "order").await?;
    let command = Command::CancelOrder {
        ticket_id,
        order_id,
        reason: body.value.reason,
        idempotency: idempotency(idem, body.fingerprint)?,
    };
    let retry = format!("/v1/origin/orders/{order_id}/cancel");
    origin_command(&state, command_envelope(event, command, received), retry).await
}

/// Publishes a venue command and answers with the worker's outcome, or `202` when it
/// does not come within `reply_timeout_ms`. The venue's server reads the decision by
/// repeating the request (`retry`) with the same `Idempotency-Key`: the worker answers
/// it with the first outcome, after deciding the first request, in order.
///
/// # Errors
/// `503` if the broker refuses the command or is not reachable (nothing was accepted).
async fn origin_command(
    state: &AppState,
    envelope: Envelope,
    retry: String,
) -> Result<Response, ApiError> {
    let request_id = envelope.request_id;
    let wait = Duration::from_millis(state.settings.reply_timeout_ms);
    match state.publisher.send(envelope, wait).await? {
        Answer::Reply(reply) => Ok(json_response(
            reply.outcome.http_status(),
            reply.outcome.http_body(),
        )),
        Answer::TimedOut => {
            let body = Accepted {
                request_id,
                status_url: retry,
            };
            Ok((StatusCode::ACCEPTED, Json(body)).into_response())
        }
    }
}
