//! API keys of the venue's servers: created, listed and revoked with the admin key,
//! verified on every origin API request.
//!
//! A key reads `ak_<prefix>_<secret>`: `prefix` (16 hex digits, random) finds its row,
//! `secret` (32 random bytes, base64url) is checked against the SHA-256 kept in
//! `api_keys.secret_sha256`; the secret itself is never stored, so it is shown once,
//! when the key is created. SHA-256 without salt or stretching is enough for a secret of
//! 256 random bits: nothing to guess from a leaked digest.
//!
//! Verified keys are cached per replica for at most [`CACHE_TTL`] (1 s), so a revoked
//! key is refused by every replica within a second while a busy venue server costs
//! PostgreSQL at most one read per key, replica and second.

use crate::adapters::back_office::{BackOffice, BackOfficeError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use protocol::ids::EventId;
use protocol::text::ApiKeyName;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use utoipa::ToSchema;
use uuid::Uuid;

/// Longest a verified key (or a refused prefix) is trusted without reading its row.
pub const CACHE_TTL: Duration = Duration::from_secs(1);

/// Most prefixes remembered per replica; beyond it the cache starts over (a client
/// trying random prefixes then costs reads, which the per-IP failure throttle bounds).
const CACHE_MAX: usize = 10_000;

/// An API key as listed (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// Key id.
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    /// The admin's name for it.
    pub name: String,
    /// The public part of the key (`ak_<prefix>_...`), to recognise it.
    pub prefix: String,
    /// The events it may act on; `null`: every event.
    #[schema(value_type = Option<Vec<String>>)]
    pub events: Option<Vec<EventId>>,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// When it was revoked; `null` while it works.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyView {
    /// Whether the key may act on `event`.
    pub fn allows(&self, event: &EventId) -> bool {
        self.events.as_ref().is_none_or(|e| e.contains(event))
    }
}

/// A key's row: its view and the digest of its secret.
#[derive(Debug, Clone)]
struct Row {
    view: ApiKeyView,
    secret_sha256: [u8; 32],
}

#[derive(sqlx::FromRow)]
struct DbRow {
    id: Uuid,
    name: String,
    prefix: String,
    secret_sha256: Vec<u8>,
    events: Option<Vec<Uuid>>,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<DbRow> for Row {
    fn from(r: DbRow) -> Self {
        let mut secret_sha256 = [0u8; 32];
        if r.secret_sha256.len() == 32 {
            secret_sha256.copy_from_slice(&r.secret_sha256);
        }
        Row {
            view: ApiKeyView {
                id: r.id,
                name: r.name,
                prefix: r.prefix,
                events: r.events.map(|e| e.into_iter().map(EventId).collect()),
                created_at: r.created_at,
                revoked_at: r.revoked_at,
            },
            secret_sha256,
        }
    }
}

const COLUMNS: &str = "id, name, prefix, secret_sha256, events, created_at, revoked_at";

/// A key just created: its view and, unless the create was a retry, the full key.
#[derive(Debug, Clone)]
pub struct Created {
    /// The key's view.
    pub view: ApiKeyView,
    /// `ak_<prefix>_<secret>`: shown once. `None` when an `Idempotency-Key` retry
    /// found the key made by the first request (its secret is not kept).
    pub key: Option<String>,
}

/// Why a create was refused.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// PostgreSQL is unavailable.
    #[error(transparent)]
    BackOffice(#[from] BackOfficeError),
    /// The `Idempotency-Key` was used with another request.
    #[error("idempotency key reused with another request")]
    KeyReused,
}

/// Prefix → when its row was read, and the row (`None`: no such key).
type Cache = HashMap<String, (Instant, Option<Arc<Row>>)>;

/// The API key store with this replica's cache of verified keys (cheap to share).
#[derive(Debug)]
pub struct ApiKeys {
    back_office: BackOffice,
    cache: Mutex<Cache>,
}

impl ApiKeys {
    /// A store on the back-office pool.
    pub fn new(back_office: BackOffice) -> Self {
        Self {
            back_office,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Creates a key named `name` for `events` (`None`: every event). With an
    /// `Idempotency-Key` (and the fingerprint of its request), a retry answers the key
    /// the first request made, without its secret.
    ///
    /// # Errors
    /// [`CreateError::KeyReused`] for a key used with another request;
    /// [`CreateError::BackOffice`] if PostgreSQL is unavailable.
    pub async fn create(
        &self,
        name: &ApiKeyName,
        events: Option<&[EventId]>,
        idempotency: Option<(&str, &str)>,
    ) -> Result<Created, CreateError> {
        let mut prefix = [0u8; 8];
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut prefix);
        rand::thread_rng().fill_bytes(&mut secret);
        let prefix = hex::encode(prefix);
        let secret = URL_SAFE_NO_PAD.encode(secret);
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let events: Option<Vec<Uuid>> = events.map(|e| e.iter().map(|id| id.0).collect());
        let inserted: Option<DbRow> = sqlx::query_as(&format!(
            "INSERT INTO api_keys (id, name, prefix, secret_sha256, events, idempotency_key,
                                   fingerprint, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, now())
             ON CONFLICT (idempotency_key) DO NOTHING
             RETURNING {COLUMNS}"
        ))
        .bind(Uuid::now_v7())
        .bind(name.as_str())
        .bind(&prefix)
        .bind(&digest[..])
        .bind(&events)
        .bind(idempotency.map(|i| i.0))
        .bind(idempotency.map(|i| i.1))
        .fetch_optional(self.back_office.pool())
        .await
        .map_err(BackOfficeError::from)?;
        if let Some(row) = inserted {
            let view = Row::from(row).view;
            let key = format!("ak_{}_{secret}", view.prefix);
            return Ok(Created {
                view,
                key: Some(key),
            });
        }
        let Some((key, fingerprint)) = idempotency else {
            return Err(CreateError::KeyReused);
        };
        let first: Option<String> =
            sqlx::query_scalar("SELECT fingerprint FROM api_keys WHERE idempotency_key = $1")
                .bind(key)
                .fetch_one(self.back_office.pool())
                .await
                .map_err(BackOfficeError::from)?;
        if first.as_deref() != Some(fingerprint) {
            return Err(CreateError::KeyReused);
        }
        let row: DbRow = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE idempotency_key = $1"
        ))
        .bind(key)
        .fetch_one(self.back_office.pool())
        .await
        .map_err(BackOfficeError::from)?;
        Ok(Created {
            view: Row::from(row).view,
            key: None,
        })
    }

    /// Every key, newest first.
    ///
    /// # Errors
    /// PostgreSQL unavailable.
    pub async fn list(&self) -> Result<Vec<ApiKeyView>, BackOfficeError> {
        let rows: Vec<DbRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC"
        ))
        .fetch_all(self.back_office.pool())
        .await?;
        Ok(rows.into_iter().map(|r| Row::from(r).view).collect())
    }

    /// Revokes key `id` (a second revoke keeps the first `revoked_at`). `None` if there
    /// is no such key. Every replica refuses it within [`CACHE_TTL`].
    ///
    /// # Errors
    /// PostgreSQL unavailable.
    pub async fn revoke(&self, id: Uuid) -> Result<Option<ApiKeyView>, BackOfficeError> {
        let row: Option<DbRow> = sqlx::query_as(&format!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .fetch_optional(self.back_office.pool())
        .await?;
        if let Some(r) = &row {
            self.lock().remove(&r.prefix);
        }
        Ok(row.map(|r| Row::from(r).view))
    }

    /// The key `presented` (`ak_<prefix>_<secret>`) if it is one that works: known,
    /// secret matching (compared in constant time), not revoked. Answered from this
    /// replica's cache when the row was read less than [`CACHE_TTL`] ago.
    ///
    /// # Errors
    /// PostgreSQL unavailable (the caller answers `503`, never lets a key through).
    pub async fn verify(&self, presented: &str) -> Result<Option<ApiKeyView>, BackOfficeError> {
        let Some((prefix, secret)) = split_key(presented) else {
            return Ok(None);
        };
        let now = Instant::now();
        let cached = self
            .lock()
            .get(prefix)
            .filter(|(at, _)| now.duration_since(*at) < CACHE_TTL)
            .map(|(_, row)| row.clone());
        let row = match cached {
            Some(row) => row,
            None => {
                let row: Option<DbRow> =
                    sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_keys WHERE prefix = $1"))
                        .bind(prefix)
                        .fetch_optional(self.back_office.pool())
                        .await?;
                let row = row.map(|r| Arc::new(Row::from(r)));
                let mut cache = self.lock();
                if cache.len() >= CACHE_MAX {
                    cache.retain(|_, (at, _)| now.duration_since(*at) < CACHE_TTL);
                    if cache.len() >= CACHE_MAX {
                        cache.clear();
                    }
                }
                cache.insert(prefix.to_owned(), (now, row.clone()));
                row
            }
        };
        Ok(row.and_then(|row| {
            let digest = Sha256::digest(secret.as_bytes());
            let same = digest
                .iter()
                .zip(row.secret_sha256.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
            (same && row.view.revoked_at.is_none()).then(|| row.view.clone())
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `ak_<prefix>_<secret>` split into prefix and secret; `None` if it is not shaped so.
fn split_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("ak_")?;
    let (prefix, secret) = rest.split_once('_')?;
    let hex = prefix.len() == 16 && prefix.bytes().all(|b| b.is_ascii_hexdigit());
    (hex && !secret.is_empty() && secret.len() <= 64).then_some((prefix, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_split_into_prefix_and_secret() {
        assert_eq!(
            split_key("ak_0123456789abcdef_c2VjcmV0"),
            Some(("0123456789abcdef", "c2VjcmV0"))
        );
        assert_eq!(split_key("ak_0123456789abcdef_"), None);
        assert_eq!(split_key("ak_0123_secret"), None);
        assert_eq!(split_key("xx_0123456789abcdef_secret"), None);
        assert_eq!(split_key("ak_0123456789abcdeg_secret"), None);
    }
}
