//! Credentials of the venue's servers (`FromRequestParts` with narrow sub-states, as
//! the extractors of `auth.rs`):
//!
//! - [`ApiKeyAuth`]: `Authorization: Bearer ak_...`, an API key of the venue's servers
//!   that works (not revoked) and, on a route with `{event_id}`, may act on that event.
//! - [`VenueAuth`]: the admin key or such an API key (order lists and exports).

use crate::adapters::api_keys::{ApiKeyView, ApiKeys};
use crate::http::auth::{bearer, AdminKey};
use crate::http::error::ApiError;
use crate::http::limits::Limits;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use protocol::ids::EventId;
use std::net::SocketAddr;
use std::sync::Arc;

/// A request of the venue's server: an API key that works, scoped to the path's event
/// when the route has `{event_id}` (`/v1/origin/events/{event_id}/...`). Routes naming a
/// hold or an order check the scope themselves ([`ApiKeyView::allows`]).
///
/// `401 unauthorized` for a missing, unknown or revoked key (counted like a wrong admin
/// key, so guessing is throttled per client IP: `429` past the allowance); `403
/// forbidden` when the key's events exclude the path's event; `503` when PostgreSQL
/// cannot tell (a key is never let through unverified).
#[derive(Debug, Clone)]
pub struct ApiKeyAuth(pub ApiKeyView);

/// Message of the `403` for an API key used on an event outside its scope.
pub const KEY_OUT_OF_SCOPE: &str = "this API key may not act on this event";

impl<S> FromRequestParts<S> for ApiKeyAuth
where
    S: Send + Sync,
    Arc<ApiKeys>: FromRef<S>,
    Arc<Limits>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let limits = Arc::<Limits>::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let client = limits.client_key(&parts.headers, peer);
        let now = std::time::Instant::now();
        if let Some(wait) = client.and_then(|ip| limits.admin_failures().blocked(&ip, now)) {
            return Err(limits.refuse_admin(wait));
        }
        let verified = match bearer(&parts.headers) {
            Some(key) => Arc::<ApiKeys>::from_ref(state)
                .verify(key)
                .await
                .map_err(|e| ApiError::from(e).into_response())?,
            None => None,
        };
        let Some(key) = verified else {
            if let Some(ip) = client {
                limits.admin_failures().record_failure(ip, now);
            }
            return Err(ApiError::Unauthorized("API key").into_response());
        };
        if let Some(event) = origin_path_event(parts).map_err(IntoResponse::into_response)? {
            if !key.allows(&event) {
                return Err(ApiError::Forbidden(KEY_OUT_OF_SCOPE).into_response());
            }
        }
        Ok(ApiKeyAuth(key))
    }
}

/// The `{event_id}` of an origin event route (`/v1/origin/events/{event_id}/...`).
///
/// # Errors
/// `404 not_found` if it is not a UUID.
fn origin_path_event(parts: &Parts) -> Result<Option<EventId>, ApiError> {
    const ROUTE: &str = "/v1/origin/events/{event_id}/";
    let Some(route) = parts.extensions.get::<MatchedPath>() else {
        return Ok(None);
    };
    if !route.as_str().starts_with(ROUTE) {
        return Ok(None);
    }
    let raw = parts
        .uri
        .path()
        .strip_prefix("/v1/origin/events/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    raw.parse()
        .map(Some)
        .map_err(|_| ApiError::NotFound("event".into()))
}

/// The venue: its admin key, or an API key of its servers (scoped as [`ApiKeyAuth`]).
#[derive(Debug, Clone)]
pub enum VenueAuth {
    /// The admin key: every event.
    Admin,
    /// An API key that may act on the path's event.
    ApiKey(ApiKeyView),
}

impl<S> FromRequestParts<S> for VenueAuth
where
    S: Send + Sync,
    AdminKey: FromRef<S>,
    Arc<ApiKeys>: FromRef<S>,
    Arc<Limits>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match bearer(&parts.headers) {
            Some(key) if AdminKey::from_ref(state).matches(key) => Ok(VenueAuth::Admin),
            _ => ApiKeyAuth::from_request_parts(parts, state)
                .await
                .map(|k| VenueAuth::ApiKey(k.0)),
        }
    }
}
