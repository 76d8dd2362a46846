//! Stored command results: a replayed (redelivered) command is answered with the outcome
//! it got the first time, read back from `request_results`.
//!
//! Only the HTTP form (`status`, `body`) is stored; with the command `kind` it maps back
//! to exactly one [`Outcome`], so the replayed reply carries the same bytes.

use super::Repository;
use protocol::ids::RequestId;
use protocol::reply::{ErrorBody, Outcome};
use std::collections::HashMap;
use tracing::instrument;
use uuid::Uuid;

/// Rebuilds the outcome stored as (`kind`, `status`, `body`).
///
/// # Errors
/// A body that does not match its kind and status (a corrupted row).
pub fn outcome_from_stored(
    kind: &str,
    status: i32,
    body: serde_json::Value,
) -> Result<Outcome, serde_json::Error> {
    use serde::de::Error as _;
    if status >= 400 {
        return Ok(Outcome::Rejected(
            serde_json::from_value::<ErrorBody>(body)?.error,
        ));
    }
    Ok(match kind {
        "create_event" => Outcome::EventCreated(Box::new(serde_json::from_value(body)?)),
        "update_event" => Outcome::EventUpdated(Box::new(serde_json::from_value(body)?)),
        "hold" => Outcome::HoldCreated(serde_json::from_value(body)?),
        "release" => Outcome::HoldReleased(serde_json::from_value(body)?),
        "confirm" => Outcome::OrderConfirmed(serde_json::from_value(body)?),
        "cancel_order" => Outcome::OrderCancelled(serde_json::from_value(body)?),
        other => {
            return Err(serde_json::Error::custom(format!(
                "unknown command kind {other:?}"
            )))
        }
    })
}

impl Repository {
    /// The stored outcomes of those of `ids` that were already decided.
    ///
    /// # Errors
    /// PostgreSQL unreachable. Undecodable rows are logged and left out (the command
    /// is then decided again, which the idempotency rules keep harmless).
    #[instrument(skip_all, fields(requests = ids.len()))]
    pub async fn stored_results(
        &self,
        ids: &[Uuid],
    ) -> Result<HashMap<RequestId, Outcome>, sqlx::Error> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(Uuid, String, i32, serde_json::Value)> = sqlx::query_as(
            "SELECT request_id, kind, status, body FROM request_results
             WHERE request_id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(self.pool())
        .await?;
        let mut found = HashMap::with_capacity(rows.len());
        for (id, kind, status, body) in rows {
            match outcome_from_stored(&kind, status, body) {
                Ok(o) => {
                    found.insert(RequestId(id), o);
                }
                Err(e) => {
                    tracing::error!(request_id = %id, error = %e, "undecodable stored result")
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use protocol::ids::{EventId, HoldId, OrderId};
    use protocol::reply::{ErrorCode, Hold, HoldState, Order};

    fn round_trip(kind: &str, o: Outcome) {
        let back = outcome_from_stored(kind, i32::from(o.http_status()), o.http_body()).unwrap();
        assert_eq!(back, o, "{kind}");
    }

    #[test]
    fn every_outcome_survives_storage() {
        let hold = Hold {
            id: HoldId::new(),
            event_id: EventId::new(),
            seats: vec!["A-1-1".into()],
            state: HoldState::Held,
            expires_at: Utc::now(),
            total_cents: 5,
        };
        round_trip("hold", Outcome::HoldCreated(hold.clone()));
        round_trip("release", Outcome::HoldReleased(hold.clone()));
        round_trip(
            "confirm",
            Outcome::OrderConfirmed(Order {
                id: OrderId::new(),
                hold_id: hold.id,
                event_id: hold.event_id,
                seats: hold.seats,
                total_cents: 5,
                confirmed_at: Utc::now(),
                cancelled_at: None,
            }),
        );
        round_trip("hold", Outcome::rejected(ErrorCode::SeatsUnavailable, "x"));
        round_trip("confirm", Outcome::rejected(ErrorCode::HoldExpired, "y"));
        assert!(outcome_from_stored("nope", 200, serde_json::json!({})).is_err());
    }
}
