//! An event's orders for the venue (admin key, or an API key scoped to the event):
//! a page at a time with an opaque cursor, or all of them as CSV.
//!
//! Both read PostgreSQL through the back-office pool, oldest first by order id (order
//! ids are UUIDv7, so this is the order the worker confirmed them in, to the
//! millisecond). Cancelled orders are listed too, with `cancelled_at`. The CSV is
//! streamed a page at a time, so an export of a large event holds neither a
//! connection nor the whole file: if PostgreSQL fails mid-way the response is cut
//! short (the client sees an incomplete body, never a partial file that looks whole:
//! the last line then lacks its newline).

use crate::adapters::back_office::{BackOffice, BackOfficeError};
use crate::http::error::ApiError;
use crate::http::extract::PathId;
use crate::http::state::AppState;
use crate::http::venue_auth::VenueAuth;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use protocol::ids::{EventId, HoldId, OrderId, TicketId};
use protocol::reply::ErrorBody;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Orders per page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;
/// Most orders per page.
pub const MAX_LIMIT: u32 = 1_000;
/// Orders per page of the CSV stream.
const CSV_PAGE: u32 = 500;

/// An order as the venue's books need it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct VenueOrder {
    /// Order id.
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    /// The confirmed hold.
    #[schema(value_type = String, format = Uuid)]
    pub hold_id: Uuid,
    /// Event id.
    #[schema(value_type = String, format = Uuid)]
    pub event_id: Uuid,
    /// The fan's ticket.
    #[schema(value_type = String, format = Uuid)]
    pub ticket_id: Uuid,
    /// The user reference of the fan's signed join, if any.
    pub user_ref: Option<String>,
    /// Seat ids bought.
    pub seats: Vec<String>,
    /// Amount, in the currency's minor unit.
    pub total_cents: i64,
    /// The payment reference the confirm carried.
    pub payment_ref: String,
    /// When it was confirmed.
    #[schema(value_type = String, format = DateTime)]
    pub confirmed_at: DateTime<Utc>,
    /// When the venue cancelled it, if it did.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The reason given with the cancel.
    pub cancel_reason: Option<String>,
}

/// `GET /v1/origin/events/{event_id}/orders`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderPage {
    /// ISO 4217 code of the event's prices.
    pub currency: String,
    /// Up to `limit` orders, oldest first.
    pub orders: Vec<VenueOrder>,
    /// Give it as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The event's currency, or `404` if there is no such event.
async fn currency(db: &BackOffice, event: EventId) -> Result<String, ApiError> {
    let c: Option<String> =
        sqlx::query_scalar("SELECT COALESCE(spec->>'currency', 'USD') FROM events WHERE id = $1")
            .bind(event.0)
            .fetch_optional(db.pool())
            .await
            .map_err(BackOfficeError::from)?;
    c.ok_or_else(|| ApiError::NotFound("event".into()))
}

/// Up to `limit` orders of `event` after order `after`, oldest first.
async fn page(
    db: &BackOffice,
    event: EventId,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<VenueOrder>, BackOfficeError> {
    Ok(sqlx::query_as(
        "SELECT o.id, o.hold_id, o.event_id, o.ticket_id, h.user_ref, o.seats, o.total_cents,
                o.payment_ref, o.confirmed_at, o.cancelled_at, o.cancel_reason
         FROM orders o LEFT JOIN holds h ON h.id = o.hold_id
         WHERE o.event_id = $1 AND ($2::uuid IS NULL OR o.id > $2)
         ORDER BY o.id LIMIT $3",
    )
    .bind(event.0)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?)
}

/// `limit` and `cursor` of the query string.
///
/// # Errors
/// `422 invalid_field` naming a bad `limit` (not 1–[`MAX_LIMIT`]), a cursor this API
/// did not give, or another parameter.
fn paging(query: Option<&str>) -> Result<(u32, Option<Uuid>), ApiError> {
    let (mut limit, mut cursor) = (DEFAULT_LIMIT, None);
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
        match name {
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|l| (1..=MAX_LIMIT).contains(l))
                    .ok_or_else(|| {
                        ApiError::field(format!("limit: must be between 1 and {MAX_LIMIT}"))
                    })?;
            }
            "cursor" => {
                let id = URL_SAFE_NO_PAD
                    .decode(value.as_bytes())
                    .ok()
                    .and_then(|b| Uuid::from_slice(&b).ok())
                    .ok_or_else(|| ApiError::field("cursor: not a cursor this API gave"))?;
                cursor = Some(id);
            }
            other => {
                return Err(ApiError::field(format!(
                    "{other}: unknown parameter (limit, cursor)"
                )))
            }
        }
    }
    Ok((limit, cursor))
}

/// The opaque cursor after order `id`.
fn cursor_after(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// A page of an event's orders, oldest first.
#[utoipa::path(get, path = "/v1/origin/events/{event_id}/orders", tag = "origin",
    security(("api_key" = []), ("admin_key" = [])),
    params(("event_id" = String, Path, description = "Event id (UUID)"),
        ("limit" = Option<u32>, Query, description = "1–1000, default 100"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses(
        (status = 200, description = "A page of orders", body = OrderPage),
        (status = 401, description = "No valid admin key or API key", body = ErrorBody),
        (status = 403, description = "The API key may not act on this event", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 422, description = "Bad `limit` or `cursor`", body = ErrorBody),
        (status = 503, description = "PostgreSQL unavailable", body = ErrorBody)))]
pub async fn list_orders(
    State(state): State<AppState>,
    PathId(event): PathId<EventId>,
    _: VenueAuth,
    RawQuery(query): RawQuery,
) -> Result<Json<OrderPage>, ApiError> {
    let (limit, after) = paging(query.as_deref())?;
    let currency = currency(&state.back_office, event).await?;
    let mut orders = page(&state.back_office, event, after, limit + 1).await?;
    let next_cursor = if orders.len() > limit as usize {
        orders.truncate(limit as usize);
        orders.last().map(|o| cursor_after(o.id))
    } else {
        None
    };
    Ok(Json(OrderPage {
        currency,
        orders,
        next_cursor,
    }))
}

/// The CSV header row.
pub const CSV_HEADER: [&str; 12] = [
    "order_id",
    "hold_id",
    "event_id",
    "ticket_id",
    "user_ref",
    "seats",
    "total_cents",
    "currency",
    "payment_ref",
    "confirmed_at",
    "cancelled_at",
    "cancel_reason",
];

/// A text cell made safe for spreadsheets: a cell starting with `=`, `+`, `-`, `@`, a
/// tab or a carriage return would be read as a formula by Excel or LibreOffice (CSV
/// injection), so it gets a leading `'`, which they show as text.
pub fn defuse(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `orders` as CSV lines (with the header first when `header`).
fn csv_lines(orders: &[VenueOrder], currency: &str, header: bool) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(orders.len() * 200));
    if header {
        w.write_record(CSV_HEADER)?;
    }
    for o in orders {
        let seats = o.seats.join(" ");
        let total = o.total_cents.to_string();
        let (confirmed, cancelled) = (time(o.confirmed_at), o.cancelled_at.map(time));
        let (order_id, hold_id) = (OrderId(o.id).to_string(), HoldId(o.hold_id).to_string());
        let (event_id, ticket_id) = (
            EventId(o.event_id).to_string(),
            TicketId(o.ticket_id).to_string(),
        );
        w.write_record([
            order_id.as_str(),
            &hold_id,
            &event_id,
            &ticket_id,
            &defuse(o.user_ref.as_deref().unwrap_or_default()),
            &defuse(&seats),
            &total,
            currency,
            &defuse(&o.payment_ref),
            &confirmed,
            cancelled.as_deref().unwrap_or_default(),
            &defuse(o.cancel_reason.as_deref().unwrap_or_default()),
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// Every order of an event as CSV (RFC 4180, a header row, UTF-8), oldest first.
#[utoipa::path(get, path = "/v1/origin/events/{event_id}/orders.csv", tag = "origin",
    security(("api_key" = []), ("admin_key" = [])),
    params(("event_id" = String, Path, description = "Event id (UUID)")),
    responses(
        (status = 200, description = "The orders as CSV", content_type = "text/csv", body = String),
        (status = 401, description = "No valid admin key or API key", body = ErrorBody),
        (status = 403, description = "The API key may not act on this event", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 503, description = "PostgreSQL unavailable", body = ErrorBody)))]
pub async fn export_orders(
    State(state): State<AppState>,
    PathId(event): PathId<EventId>,
    _: VenueAuth,
) -> Result<Response, ApiError> {
    let currency = currency(&state.back_office, event).await?;
    let db = state.back_office.clone();
    // (next page after, header still to write); `None` once the last page was sent.
    let start = Some((None::<Uuid>, true));
    let body = futures::stream::unfold(start, move |step| {
        let (db, currency) = (db.clone(), currency.clone());
        async move {
            let (after, header) = step?;
            let orders = match page(&db, event, after, CSV_PAGE).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(error = %e, %event, "order export cut short");
                    return Some((Err(std::io::Error::other(e)), None));
                }
            };
            let next = (orders.len() == CSV_PAGE as usize)
                .then(|| orders.last().map(|o| (Some(o.id), false)))
                .flatten();
            let chunk = csv_lines(&orders, &currency, header).map_err(std::io::Error::other);
            Some((chunk, next))
        }
    });
    let disposition = format!("attachment; filename=\"orders-{event}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused() {
        for bad in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(defuse(bad), format!("'{bad}"));
        }
        assert_eq!(defuse("A-1-1 A-1-2"), "A-1-1 A-1-2");
        assert_eq!(defuse(""), "");
    }

    #[test]
    fn paging_parameters() {
        assert_eq!(paging(None).unwrap(), (DEFAULT_LIMIT, None));
        let id = Uuid::now_v7();
        let q = format!("limit=5&cursor={}", cursor_after(id));
        assert_eq!(paging(Some(&q)).unwrap(), (5, Some(id)));
        assert!(paging(Some("limit=0")).is_err());
        assert!(paging(Some("limit=1001")).is_err());
        assert!(paging(Some("cursor=abc")).is_err());
        assert!(paging(Some("offset=3")).is_err());
    }
}
