//! The back office's webhook tables: endpoints (written here), deliveries (read here;
//! the worker shards write them) and redelivery requests (written here, carried out by
//! the shard's worker). docs/WEBHOOKS.md describes the contract.

use super::back_office::{BackOffice, BackOfficeError};
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use uuid::Uuid;

/// How long a rotated-out secret still signs messages (both signatures are sent).
pub const ROTATION_GRACE: chrono::Duration = chrono::Duration::hours(24);

/// Most endpoints not deleted at once: each message gets one delivery row per matching
/// endpoint, written in the group commit.
pub const MAX_ENDPOINTS: i64 = 50;

/// An endpoint row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointRow {
    /// Endpoint id.
    pub id: Uuid,
    /// Where messages are POSTed.
    pub url: String,
    /// Only this event's messages (`None`: every event).
    pub event_id: Option<Uuid>,
    /// Only these types (`None`: every type).
    pub types: Option<Vec<String>>,
    /// `whsec_…`.
    pub secret: String,
    /// Until when the previous secret still signs.
    pub previous_until: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Idempotency fingerprint of the create, if it had a key.
    pub creation_fingerprint: Option<String>,
    /// Idempotency key of the last rotation.
    pub rotation_key: Option<String>,
}

/// A delivery row joined with its message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    /// Delivery id.
    pub id: Uuid,
    /// The outbox message (its `webhook-id` is `msg_` + the id without dashes).
    pub message_id: Uuid,
    /// Message type.
    pub kind: String,
    /// Event.
    pub event_id: Uuid,
    /// Sequence number within the event.
    pub seq: i64,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts made.
    pub attempts: i32,
    /// HTTP status of the last attempt, if one was answered.
    pub last_status: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: DateTime<Utc>,
    /// When the message was committed.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A fresh secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

const ENDPOINT_COLUMNS: &str = "id, url, event_id, types, secret, previous_until, created_at, \
                                creation_fingerprint, rotation_key";

impl BackOffice {
    /// The endpoint created with Idempotency-Key `key`, if any.
    ///
    /// # Errors
    /// PostgreSQL unavailable.
    pub async fn webhook_by_key(&self, key: &str) -> Result<Option<EndpointRow>, BackOfficeError> {
        let sql =
            format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE creation_key = $1");
        Ok(sqlx::query_as(&sql)
            .bind(key)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Whether `event` exists.
    ///
    /// # Errors
    /// PostgreSQL unavailable.
    pub async fn event_exists(&self, event: Uuid) -> Result<bool, BackOfficeError> {
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM events WHERE id = $1")
            .bind(event)
            .fetch_optional(self.pool())
            .await?;
        Ok(found.is_some())
    }

    /// Inserts an endpoint unless [`MAX_ENDPOINTS`] are already there (then `None`). A
    /// concurrent create with the same key loses the race and gets the winner's row.
    ///
    /// # Errors
    /// PostgreSQL unavailable.
    pub async fn create_webhook(
        &self,
        row: &EndpointRow,
        key: Option<&str>,
    ) -> Result<Option<EndpointRow>, BackOfficeError> {
        let sql = format!(
            "INSERT INTO webhook_endpoints (id, url, event_id, types, secret, created_at,
                                            creation_key, creation_fingerprint)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8
             WHERE (SELECT count(*) FROM webhook_endpoints WHERE deleted_at IS NULL) < $9
             ON CONFLICT (creation_key) DO NOTHING
             RETURNING {ENDPOINT_COLUMNS}"
        );
        let inserted: Option<EndpointRow> = sqlx::query_as(&sql)
            .bind(row.id)
            .bind(&row.url)
            .bind(row.event_id)
            .bind(&row.types)
            .bind(&row.secret)
            .bind(row.created_at)
            .bind(key)
            .bind(&row.creation_fingerprint)
            .bind(MAX_ENDPOINTS)
            .fetch_optional(self.pool())
            .await?;
        match (inserted, key) {
            (Some(r), _) => Ok(Some(r)),
            (None, Some(k)) => self.webhook_by_key(k).await,
            (None, None) => Ok(None),
        }
    }

    /// Endpoints not deleted, oldest first.
    ///
    /// # Errors
    /// PostgreSQL unavailable.
    pub async fn list_webhooks(&self) -> Result<Vec<EndpointRow>, BackOfficeError> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE deleted_at IS NULL
             ORDER BY created_at, id"
        );
        Ok(sqlx::query_as(&sql).fetch_all(self.pool()).await?)
    }

    /// The endpoint `id` (deleted ones too when `with_deleted`).
    ///
    /// # Errors
    /// PostgreSQL unavailable.
    pub async fn webhook(
        &self,
        id: Uuid,
        with_deleted: bool,
    ) -> Result<Option<EndpointRow>, BackOfficeError> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints
             WHERE id = $1 AND ($2 OR deleted_at IS NULL)"
        );
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .bind(with_deleted)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Marks the endpoint deleted; false if there was none (or it was deleted already).
    /// Its pending deliveries are given up by the worker at their next attempt.
    ///
    /// # Errors
    /// PostgreSQL unavailable.
    pub async fn delete_webhook(&self, id: Uuid) -> Result<bool, BackOfficeError> {
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces the secret with `secret`; the old one signs too until `now` +
    /// [`ROTATION_GRACE`]. A retry with the same Idempotency-Key `key` as the last
    /// rotation changes nothing. `None` if there is no such endpoint.
    ///
    /// # Errors
    /// PostgreSQL unavailable.
    pub async fn rotate_webhook(
        &self,
        id: Uuid,
        secret: &str,
        key: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<EndpointRow>, BackOfficeError> {
        let sql = format!(
            "UPDATE webhook_endpoints
             SET previous_secret = CASE WHEN $3::text IS NOT NULL AND rotation_key = $3
                                        THEN previous_secret ELSE secret END,
                 previous_until = CASE WHEN $3::text IS NOT NULL AND rotation_key = $3
                                       THEN previous_until ELSE $4 END,
                 secret = CASE WHEN $3::text IS NOT NULL AND rotation_key = $3
                               THEN secret ELSE $2 END,
                 rotation_key = $3
             WHERE id = $1 AND deleted_at IS NULL
             RETURNING {ENDPOINT_COLUMNS}"
        );
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .bind(secret)
            .bind(key)
            .bind(now + ROTATION_GRACE)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Up to `limit` deliveries of `endpoint`, newest first, older than `before`
    /// (`(created_at, id)` of the previous page's last one), optionally of one `state`.
    ///
    /// # Errors
    /// PostgreSQL unavailable.
    pub async fn deliveries(
        &self,
        endpoint: Uuid,
        state: Option<&str>,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, BackOfficeError> {
        Ok(sqlx::query_as(
            "SELECT d.id, d.message_id, m.type AS kind, d.event_id, d.seq, d.state, d.attempts,
                    d.last_status, d.last_error, d.next_attempt_at, d.created_at, d.updated_at
             FROM webhook_deliveries d JOIN webhook_outbox m ON m.id = d.message_id
             WHERE d.endpoint_id = $1 AND ($2::text IS NULL OR d.state = $2)
               AND ($3::timestamptz IS NULL OR (d.created_at, d.id) < ($3, $4))
             ORDER BY d.created_at DESC, d.id DESC
             LIMIT $5",
        )
        .bind(endpoint)
        .bind(state)
        .bind(before.map(|b| b.0))
        .bind(before.map(|b| b.1))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Asks the owner of the delivery's shard to send it again; false if `endpoint` has
    /// no delivery `delivery`.
    ///
    /// # Errors
    /// PostgreSQL unavailable.
    pub async fn request_redelivery(
        &self,
        endpoint: Uuid,
        delivery: Uuid,
    ) -> Result<bool, BackOfficeError> {
        let done = sqlx::query(
            "INSERT INTO webhook_redeliveries (id, delivery_id, requested_at)
             SELECT $3, id, now() FROM webhook_deliveries WHERE id = $2 AND endpoint_id = $1",
        )
        .bind(endpoint)
        .bind(delivery)
        .bind(Uuid::now_v7())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
