//! The reservation path: hold, read, confirm and release (pass holders only).
//!
//! The gateway checks what it can up front (seats exist in the event's seating, no
//! duplicates, 1..=`max_seats_per_hold`, section exists → 422), then publishes the command
//! to the event's shard and waits up to `reply_timeout_ms` for the worker, who decides.
//! When Redis is down the checks use the last config seen, or are left to the worker:
//! issued passes keep working for holds.

use super::commands::{command_envelope, fan_command};
use crate::adapters::redis_store::StoreError;
use crate::http::auth::{LivePass, PassAuth};
use crate::http::error::ApiError;
use crate::http::extract::{IdempotencyKey, PathId, RawJson, Received};
use crate::http::state::AppState;
use crate::views::Accepted;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use protocol::command::{Command, Confirmer, Idempotency, SeatSelection};
use protocol::event::{CheckoutMode, EventSpec};
use protocol::ids::{EventId, HoldId};
use protocol::reply::{ErrorBody, Hold, Order, StoredHold};
use protocol::text::{Fingerprint, PaymentRef, SeatId, UserRef};
use serde::Deserialize;
use std::collections::HashSet;
use utoipa::ToSchema;

/// Message of the `403` for a fan's confirm in an event whose checkout is `origin`.
pub const ORIGIN_CHECKOUT: &str =
    "this event's holds are confirmed by the venue's server after payment, not by the fan";

/// Body of `POST /v1/holds/{hold_id}/confirm`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    /// Reference from the (mock) payment step, 1–200 characters.
    pub payment_ref: PaymentRef,
}

/// The idempotency of a request: the client's key (if any) with the fingerprint of
/// its body.
///
/// # Errors
/// `500` if the fingerprint is not one (it is the gateway's own hex SHA-256).
pub(crate) fn idempotency(
    key: Option<protocol::text::IdempotencyKey>,
    fingerprint: String,
) -> Result<Option<Idempotency>, ApiError> {
    let Some(key) = key else {
        return Ok(None);
    };
    let fingerprint = Fingerprint::parse(fingerprint)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("request fingerprint: {e}")))?;
    Ok(Some(Idempotency { key, fingerprint }))
}

/// Checks a seat selection against the event's seating.
///
/// # Errors
/// `422 invalid_field`: empty, too many, duplicates (`details.duplicates`), unknown seats
/// (`details.unknown`), unknown section, quantity out of range.
pub fn validate_selection(selection: &SeatSelection, spec: &EventSpec) -> Result<(), ApiError> {
    let max = spec.max_seats_per_hold;
    match selection {
        SeatSelection::Seats { seats } => {
            if seats.is_empty() {
                return Err(ApiError::field("seats: must list at least one seat"));
            }
            if seats.len() > max as usize {
                return Err(ApiError::field(format!(
                    "seats: at most {max} seats per hold"
                )));
            }
            let mut seen = HashSet::new();
            let duplicates: Vec<&SeatId> = seats.iter().filter(|s| !seen.insert(*s)).collect();
            if !duplicates.is_empty() {
                return Err(ApiError::InvalidField {
                    message: "seats: duplicate seat ids".into(),
                    details: Some(serde_json::json!({ "duplicates": duplicates })),
                });
            }
            let unknown: Vec<&SeatId> = seats
                .iter()
                .filter(|s| spec.seating.locate(s).is_none())
                .collect();
            if !unknown.is_empty() {
                return Err(ApiError::InvalidField {
                    message: "seats: unknown seat ids".into(),
                    details: Some(serde_json::json!({ "unknown": unknown })),
                });
            }
        }
        SeatSelection::Best { section, quantity } => {
            if *quantity == 0 || *quantity > max {
                return Err(ApiError::field(format!(
                    "quantity: must be between 1 and {max}"
                )));
            }
            if !spec.seating.sections.iter().any(|s| s.name == *section) {
                return Err(ApiError::InvalidField {
                    message: format!("section: unknown section {section:?}"),
                    details: Some(serde_json::json!({ "unknown": [section] })),
                });
            }
        }
    }
    Ok(())
}

/// Hold seats: given ids, or the best `quantity` available in a section.
#[utoipa::path(post, path = "/v1/events/{event_id}/holds", tag = "reservations",
    request_body = SeatSelection, security(("pass" = [])),
    params(("event_id" = String, Path, description = "Event id (UUID)"),
        ("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters")),
    responses(
        (status = 201, description = "Held", body = Hold),
        (status = 202, description = "Decision pending", body = Accepted),
        (status = 401, description = "No valid pass for this event", body = ErrorBody),
        (status = 403, description = "The pass was used up by an order, or given up by leaving the queue", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 409, description = "`seats_unavailable` (`details.unavailable`) or `queue_closed`", body = ErrorBody),
        (status = 422, description = "Invalid selection, or `idempotency_key_reused`", body = ErrorBody),
        (status = 503, description = "Broker unavailable", body = ErrorBody)))]
pub async fn create_hold(
    Received(received): Received,
    State(state): State<AppState>,
    PathId(event): PathId<EventId>,
    LivePass(pass): LivePass,
    IdempotencyKey(key): IdempotencyKey,
    body: RawJson<SeatSelection>,
) -> Result<Response, ApiError> {
    match state.replica.catalog.cached_or_last_known(&event).await {
        Ok(Some(snapshot)) => validate_selection(&body.value, &snapshot.config.spec)?,
        Ok(None) => return Err(ApiError::NotFound("event".into())),
        Err(StoreError::Unavailable(_)) => {} // the worker validates
        Err(e) => return Err(e.into()),
    }
    let ticket_id = pass.claims.sub;
    let user_ref = pass
        .claims
        .user_ref
        .as_deref()
        .and_then(|u| UserRef::parse(u).ok());
    let command = Command::Hold {
        ticket_id,
        selection: body.value,
        idempotency: idempotency(key, body.fingerprint)?,
        user_ref,
    };
    fan_command(
        &state,
        command_envelope(event, command, received),
        ticket_id,
    )
    .await
}

/// A hold of the pass holder.
#[utoipa::path(get, path = "/v1/holds/{hold_id}", tag = "reservations",
    security(("pass" = [])),
    params(("hold_id" = String, Path, description = "Hold id (UUID)")),
    responses(
        (status = 200, description = "The hold", body = Hold),
        (status = 401, description = "No valid pass", body = ErrorBody),
        (status = 404, description = "No such hold of this ticket", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody)))]
pub async fn get_hold(
    State(state): State<AppState>,
    PathId(hold): PathId<HoldId>,
    pass: PassAuth,
) -> Result<Json<Hold>, ApiError> {
    let stored: Option<StoredHold> = state
        .replica
        .redis
        .get_json(&state.replica.keys.hold(&pass.event, &hold))
        .await?;
    stored
        .filter(|s| s.ticket_id == pass.claims.sub)
        .map(|s| Json(s.hold))
        .ok_or_else(|| ApiError::NotFound("hold".into()))
}

/// Confirm (buy) a hold.
#[utoipa::path(post, path = "/v1/holds/{hold_id}/confirm", tag = "reservations",
    request_body = ConfirmBody, security(("pass" = [])),
    params(("hold_id" = String, Path, description = "Hold id (UUID)"),
        ("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters")),
    responses(
        (status = 200, description = "Confirmed", body = Order),
        (status = 202, description = "Decision pending", body = Accepted),
        (status = 401, description = "No valid pass", body = ErrorBody),
        (status = 403, description = "The pass was given up by leaving the queue, or the event's checkout is `origin` (only the venue's server confirms)", body = ErrorBody),
        (status = 404, description = "No such hold of this ticket", body = ErrorBody),
        (status = 409, description = "`hold_not_active`", body = ErrorBody),
        (status = 410, description = "`hold_expired`", body = ErrorBody),
        (status = 422, description = "Invalid body, or `idempotency_key_reused`", body = ErrorBody),
        (status = 503, description = "Broker unavailable", body = ErrorBody)))]
pub async fn confirm_hold(
    Received(received): Received,
    State(state): State<AppState>,
    PathId(hold_id): PathId<HoldId>,
    LivePass(pass): LivePass,
    IdempotencyKey(key): IdempotencyKey,
    body: RawJson<ConfirmBody>,
) -> Result<Response, ApiError> {
    // Answered early from the config this replica last saw (the change feed keeps it
    // current), without a Redis call: a confirm waiting on Redis would be stamped later
    // than it was received (see `auth::REVOCATION_WAIT`). The worker refuses it too (it trusts
    // no gateway), also when this replica has not seen the event.
    if let Some(snapshot) = state.replica.catalog.last_known(&pass.event) {
        if snapshot.config.spec.checkout.mode == CheckoutMode::Origin {
            return Err(ApiError::Forbidden(ORIGIN_CHECKOUT));
        }
    }
    let ticket_id = pass.claims.sub;
    let command = Command::Confirm {
        ticket_id,
        hold_id,
        payment_ref: body.value.payment_ref,
        idempotency: idempotency(key, body.fingerprint)?,
        by: Confirmer::Fan,
    };
    fan_command(
        &state,
        command_envelope(pass.event, command, received),
        ticket_id,
    )
    .await
}

/// Release a hold early; its seats go back on sale.
#[utoipa::path(delete, path = "/v1/holds/{hold_id}", tag = "reservations",
    security(("pass" = [])),
    params(("hold_id" = String, Path, description = "Hold id (UUID)")),
    responses(
        (status = 200, description = "Released", body = Hold),
        (status = 202, description = "Decision pending", body = Accepted),
        (status = 401, description = "No valid pass", body = ErrorBody),
        (status = 404, description = "No such hold of this ticket", body = ErrorBody),
        (status = 409, description = "`hold_not_active`", body = ErrorBody),
        (status = 503, description = "Broker unavailable", body = ErrorBody)))]
pub async fn release_hold(
    Received(received): Received,
    State(state): State<AppState>,
    PathId(hold_id): PathId<HoldId>,
    pass: PassAuth,
) -> Result<Response, ApiError> {
    let ticket_id = pass.claims.sub;
    let command = Command::Release { ticket_id, hold_id };
    fan_command(
        &state,
        command_envelope(pass.event, command, received),
        ticket_id,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> EventSpec {
        serde_json::from_value(serde_json::json!({
            "name": "n", "venue": "v", "timezone": "UTC", "opens_at": "2026-12-01T20:00:00Z",
            "admission": {"rate_per_minute": 60, "max_active": 10, "pass_ttl_seconds": 600},
            "hold_ttl_seconds": 300, "max_seats_per_hold": 2,
            "seating": {"sections": [{"name": "A", "rows": 2, "seats_per_row": 3, "price_cents": 100}]}
        }))
        .unwrap()
    }

    fn check(v: serde_json::Value) -> Result<(), serde_json::Value> {
        let sel: SeatSelection = serde_json::from_value(v).unwrap();
        validate_selection(&sel, &spec()).map_err(|e| {
            let body = serde_json::to_value(e.body()).unwrap();
            assert_eq!(body["error"]["code"], "invalid_field");
            body["error"]["details"].clone()
        })
    }

    #[test]
    fn selections_are_checked_against_the_seating() {
        use serde_json::json;
        assert!(check(json!({"seats": ["A-1-1", "A-2-3"]})).is_ok());
        assert!(check(json!({"seats": []})).is_err());
        assert!(check(json!({"seats": ["A-1-1", "A-1-2", "A-1-3"]})).is_err());
        assert_eq!(
            check(json!({"seats": ["A-1-1", "A-1-1"]})).unwrap_err(),
            json!({"duplicates": ["A-1-1"]})
        );
        assert_eq!(
            check(json!({"seats": ["A-1-1", "A-3-1"]})).unwrap_err(),
            json!({"unknown": ["A-3-1"]})
        );
        assert_eq!(
            check(json!({"seats": ["Z-1-1"]})).unwrap_err(),
            json!({"unknown": ["Z-1-1"]})
        );
        assert!(check(json!({"section": "A", "quantity": 2})).is_ok());
        assert!(check(json!({"section": "A", "quantity": 0})).is_err());
        assert!(check(json!({"section": "A", "quantity": 3})).is_err());
        assert_eq!(
            check(json!({"section": "B", "quantity": 1})).unwrap_err(),
            json!({"unknown": ["B"]})
        );
    }
}
