//! API keys of the venue's servers (admin key): create (the secret is shown once),
//! list, revoke. Rows no shard owns, so the gateway writes them itself through the
//! back-office pool (`adapters/api_keys.rs`).

use crate::adapters::api_keys::{ApiKeyView, CreateError};
use crate::http::auth::AdminAuth;
use crate::http::error::{json_response, ApiError};
use crate::http::extract::{IdempotencyKey, PathId, RawJson};
use crate::http::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use protocol::ids::EventId;
use protocol::reply::{ErrorBody, ErrorCode, Outcome};
use protocol::text::ApiKeyName;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use utoipa::ToSchema;
use uuid::Uuid;

/// Most events one key may be scoped to (a longer list is one key per venue server
/// too many; use an unscoped key).
pub const MAX_EVENTS_PER_KEY: usize = 1_000;

/// Message of the `422` for an `Idempotency-Key` used with another request.
pub const KEY_REUSED: &str =
    "this Idempotency-Key was used with a different request (method, path or body)";

/// Body of `POST /v1/admin/api-keys`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// A name to tell keys apart, 1–100 characters.
    pub name: ApiKeyName,
    /// The events the key may act on; absent or `null`: every event.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub events: Option<Vec<EventId>>,
}

/// `201` of `POST /v1/admin/api-keys`: the key's view and the key itself.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// The key's view.
    #[serde(flatten)]
    pub view: ApiKeyView,
    /// `ak_<prefix>_<secret>`, to send as `Authorization: Bearer`. Shown once;
    /// `null` on a retry with the same `Idempotency-Key` (the secret is not kept).
    pub key: Option<String>,
}

/// `GET /v1/admin/api-keys`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// Every key, newest first, without secrets.
    pub api_keys: Vec<ApiKeyView>,
}

/// Create an API key for the venue's servers.
#[utoipa::path(post, path = "/v1/admin/api-keys", tag = "admin", request_body = CreateApiKey,
    security(("admin_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters")),
    responses(
        (status = 201, description = "Created; `key` is shown this once", body = CreatedApiKey),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "Bad admin key", body = ErrorBody),
        (status = 422, description = "Invalid fields, or `idempotency_key_reused`", body = ErrorBody),
        (status = 503, description = "PostgreSQL unavailable", body = ErrorBody)))]
pub async fn create_api_key(
    State(state): State<AppState>,
    _: AdminAuth,
    IdempotencyKey(key): IdempotencyKey,
    body: RawJson<CreateApiKey>,
) -> Result<Response, ApiError> {
    let mut events = body.value.events;
    if let Some(list) = &mut events {
        let mut seen = HashSet::new();
        list.retain(|e| seen.insert(*e));
        if list.is_empty() || list.len() > MAX_EVENTS_PER_KEY {
            return Err(ApiError::field(format!(
                "events: list 1 to {MAX_EVENTS_PER_KEY} event ids, or null for every event"
            )));
        }
    }
    let idempotency = key
        .as_ref()
        .map(|k| (k.as_str(), body.fingerprint.as_str()));
    match state
        .api_keys
        .create(&body.value.name, events.as_deref(), idempotency)
        .await
    {
        Ok(created) => {
            let body = CreatedApiKey {
                view: created.view,
                key: created.key,
            };
            Ok((StatusCode::CREATED, Json(body)).into_response())
        }
        Err(CreateError::BackOffice(e)) => Err(e.into()),
        Err(CreateError::KeyReused) => {
            let refusal = Outcome::rejected(ErrorCode::IdempotencyKeyReused, KEY_REUSED);
            Ok(json_response(refusal.http_status(), refusal.http_body()))
        }
    }
}

/// List the API keys (without their secrets).
#[utoipa::path(get, path = "/v1/admin/api-keys", tag = "admin",
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The keys, newest first", body = ApiKeyList),
        (status = 401, description = "Bad admin key", body = ErrorBody),
        (status = 503, description = "PostgreSQL unavailable", body = ErrorBody)))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    _: AdminAuth,
) -> Result<Json<ApiKeyList>, ApiError> {
    let api_keys = state.api_keys.list().await?;
    Ok(Json(ApiKeyList { api_keys }))
}

/// Revoke an API key: every replica refuses it within a second. Revoking it again
/// answers the same `revoked_at`.
#[utoipa::path(delete, path = "/v1/admin/api-keys/{key_id}", tag = "admin",
    security(("admin_key" = [])),
    params(("key_id" = String, Path, description = "API key id (UUID)")),
    responses(
        (status = 200, description = "Revoked (`revoked_at` set)", body = ApiKeyView),
        (status = 401, description = "Bad admin key", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
        (status = 503, description = "PostgreSQL unavailable", body = ErrorBody)))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    _: AdminAuth,
    PathId(id): PathId<Uuid>,
) -> Result<Json<ApiKeyView>, ApiError> {
    state
        .api_keys
        .revoke(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound("API key".into()))
}
