//! Credential extractors that verify themselves (`FromRequestParts` with the keys in
//! narrow sub-states, axum's `jwt` example and `FromRef`).
//!
//! - [`AdminAuth`]: `Authorization: Bearer <admin key>`, compared in constant time
//!   ([`AdminKey`]), failures throttled per client IP.
//! - [`QueueAuth`] / [`MaybeQueueAuth`]: a queue token for the path's `{event_id}`.
//! - [`PassAuth`]: a pass; for the path's `{event_id}` when the route has one, else the
//!   pass's own `aud` names the event (`/v1/holds/..`, `/v1/requests/..`).
//! - [`LivePass`]: a [`PassAuth`] that has not been given up (its fan did not leave the
//!   queue), for the routes that take seats: hold and confirm.
//!
//! - The venue's servers' credentials (an API key, or the admin key or an API key) are
//!   in `venue_auth.rs`.
//!
//! Tokens come from `Authorization: Bearer` or, for browsers, the cookies
//! `anteroom_queue` / `anteroom_pass`. Every failure is `401 unauthorized`. Once a
//! credential is verified, its ticket is counted against the per-token limit of the route
//! ([`Limits::check_token`]): `429 rate_limited` with `Retry-After` when over it. The
//! per-IP limits and the join quota are route layers (`http/limits/enforce.rs`), applied
//! before any extractor runs.

use crate::http::error::ApiError;
use crate::http::limits::{classify, Limits, TokenLimited};
use crate::queue::Queue;
use crate::tokens::{QueuePlace, TokenKeys};
use axum::extract::{ConnectInfo, FromRef, FromRequestParts, MatchedPath};
use axum::http::{header, request::Parts, Extensions, HeaderMap, HeaderName, Uri};
use axum::response::{IntoResponse, Response};
use protocol::claims::PassClaims;
use protocol::ids::{EventId, TicketId};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

/// Cookie carrying the queue token.
pub const QUEUE_COOKIE: &str = "anteroom_queue";
/// Cookie carrying the pass.
pub const PASS_COOKIE: &str = "anteroom_pass";

/// The bearer token of `Authorization`, if any, as text (the admin key).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    std::str::from_utf8(bearer_bytes(headers)?).ok()
}

/// The bearer token of `Authorization`, if any, as bytes.
///
/// Not checked for UTF-8 or visible ASCII here: on a status poll the token is compared
/// byte for byte with the verified-token cache, and checking its 300 bytes first cost as
/// much as that look-up. A token with other bytes in it is not in
/// the cache and fails verification.
pub fn bearer_bytes(headers: &HeaderMap) -> Option<&[u8]> {
    let v = headers.get(header::AUTHORIZATION)?.as_bytes();
    let space = v.iter().position(|&b| b == b' ')?;
    let (scheme, token) = (&v[..space], v[space + 1..].trim_ascii());
    (scheme.eq_ignore_ascii_case(b"bearer") && !token.is_empty()).then_some(token)
}

/// The value of cookie `name`, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, `Secure` behind TLS.
pub fn set_cookie(name: &str, value: &str, max_age_seconds: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Max-Age={}; Path=/; HttpOnly; SameSite=Lax{}",
        max_age_seconds.max(0),
        if secure { "; Secure" } else { "" }
    )
}

/// Extractor: whether the request came over TLS ([`is_tls`]), for the cookies' `Secure`
/// flag; never rejects. Cheaper than taking the whole `HeaderMap`, which axum clones.
#[derive(Debug, Clone, Copy)]
pub struct Tls(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for Tls {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Tls(is_tls(&parts.headers)))
    }
}

const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Whether the request came over TLS (directly or per `X-Forwarded-Proto`).
pub fn is_tls(headers: &HeaderMap) -> bool {
    headers
        .get(X_FORWARDED_PROTO)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The credential of a request: the bearer token, else the cookie `cookie_name`.
fn credential<'a>(headers: &'a HeaderMap, cookie_name: &str) -> Option<&'a [u8]> {
    bearer_bytes(headers).or_else(|| cookie(headers, cookie_name).map(str::as_bytes))
}

/// The event of a request's path: `None` on a route without `{event_id}` (the pass then
/// names its event).
///
/// # Errors
/// `404 not_found` if the id is not a UUID.
pub fn path_event(extensions: &Extensions, uri: &Uri) -> Result<Option<EventId>, ApiError> {
    let Some(route) = extensions.get::<MatchedPath>() else {
        return Ok(None);
    };
    path_event_id(route.as_str(), uri.path())
        .map(|raw| raw.parse().map_err(|_| ApiError::NotFound("event".into())))
        .transpose()
}

/// The route every event route starts with.
const EVENT_ROUTE: &str = "/v1/events/{event_id}";

/// The `{event_id}` of a request to route `template`, percent-decoded as axum's `Path`
/// decodes it; `None` if `template` is not an event route (`/v1/events/{event_id}...`).
///
/// Read from the path by position rather than with axum's `RawPathParams` (another
/// extractor, which allocates), and by prefix, without splitting the path into segments,
/// which cost 1,300 instructions a status poll. A matched event route's path starts with `/v1/events/` as
/// written (the router matches the raw path); only an id with a `%` in it is decoded.
pub fn path_event_id<'a>(template: &str, path: &'a str) -> Option<Cow<'a, str>> {
    let after = template.strip_prefix(EVENT_ROUTE)?;
    if !(after.is_empty() || after.starts_with('/')) {
        return None;
    }
    let rest = path.strip_prefix("/v1/events/")?;
    let raw = rest.split_once('/').map_or(rest, |(id, _)| id);
    if raw.contains('%') {
        percent_encoding::percent_decode_str(raw).decode_utf8().ok()
    } else {
        Some(Cow::Borrowed(raw))
    }
}

/// The admin key, kept as its SHA-256 digest (a sub-state of the app state).
#[derive(Clone, Copy)]
pub struct AdminKey([u8; 32]);

impl AdminKey {
    /// The digest of `key`.
    pub fn new(key: &SecretString) -> Self {
        AdminKey(Sha256::digest(key.expose_secret().as_bytes()).into())
    }

    /// Whether `candidate` is the admin key. Constant time: both sides are hashed to
    /// SHA-256 first and the digests compared without early exit.
    pub fn matches(&self, candidate: &str) -> bool {
        let c = Sha256::digest(candidate.as_bytes());
        c.iter()
            .zip(self.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// An admin request (valid admin key).
///
/// Failed attempts are throttled per client IP (`http/limits/failures.rs`): a client
/// over its allowance gets `429 rate_limited` with `Retry-After` for every admin
/// request, before its key is compared; otherwise a wrong key is `401 unauthorized`.
#[derive(Debug, Clone, Copy)]
pub struct AdminAuth;

impl<S> FromRequestParts<S> for AdminAuth
where
    S: Send + Sync,
    AdminKey: FromRef<S>,
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
        match bearer(&parts.headers) {
            Some(key) if AdminKey::from_ref(state).matches(key) => Ok(AdminAuth),
            _ => {
                if let Some(ip) = client {
                    limits.admin_failures().record_failure(ip, now);
                }
                Err(ApiError::Unauthorized("admin key").into_response())
            }
        }
    }
}

/// Counts `ticket` against the per-token limit of the request's route, if it has one.
///
/// # Errors
/// `429 rate_limited` with `Retry-After` when the ticket is over the limit.
fn limit_token(parts: &Parts, limits: &Limits, ticket: &TicketId) -> Result<(), TokenLimited> {
    let class = parts
        .extensions
        .get::<MatchedPath>()
        .and_then(|route| classify(&parts.method, route.as_str()));
    match class {
        Some(class) => limits.check_token(class, ticket),
        None => Ok(()),
    }
}

/// A valid queue token for the path's event.
#[derive(Debug, Clone)]
pub struct QueueAuth {
    /// What the token proves: its ticket and arrival number.
    pub place: QueuePlace,
    /// The event (path and `aud`).
    pub event: EventId,
}

impl<S> FromRequestParts<S> for QueueAuth
where
    S: Send + Sync,
    Arc<TokenKeys>: FromRef<S>,
    Arc<Limits>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let auth = QueueAuth::verify(parts, &Arc::<TokenKeys>::from_ref(state))
            .map_err(IntoResponse::into_response)?;
        limit_token(parts, &Arc::<Limits>::from_ref(state), &auth.place.ticket)
            .map_err(IntoResponse::into_response)?;
        Ok(auth)
    }
}

impl QueueAuth {
    /// Verifies the queue token of a request for the event of its path.
    ///
    /// # Errors
    /// `401 unauthorized` if there is no token or it is not valid for the path's event;
    /// `404` if the path's event id is not a UUID.
    pub fn verify(parts: &Parts, tokens: &TokenKeys) -> Result<Self, ApiError> {
        let event = path_event(&parts.extensions, &parts.uri)?
            .ok_or(ApiError::Unauthorized("no event in path"))?;
        let token =
            credential(&parts.headers, QUEUE_COOKIE).ok_or(ApiError::Unauthorized("no token"))?;
        let place = tokens
            .verify_queue(token, &event)
            .map_err(|_| ApiError::Unauthorized("queue token"))?;
        Ok(QueueAuth { place, event })
    }
}

/// A queue token for the path's event if the request carries a valid one (a rejoin);
/// an absent or invalid token is simply `None` (a new join).
#[derive(Debug, Clone)]
pub struct MaybeQueueAuth(pub Option<QueuePlace>);

impl<S> FromRequestParts<S> for MaybeQueueAuth
where
    S: Send + Sync,
    Arc<TokenKeys>: FromRef<S>,
    Arc<Limits>: FromRef<S>,
{
    type Rejection = Response;

    /// # Errors
    /// `429 rate_limited` if the token is valid and its ticket is over the join limit.
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let Ok(auth) = QueueAuth::verify(parts, &Arc::<TokenKeys>::from_ref(state)) else {
            return Ok(MaybeQueueAuth(None));
        };
        limit_token(parts, &Arc::<Limits>::from_ref(state), &auth.place.ticket)
            .map_err(IntoResponse::into_response)?;
        Ok(MaybeQueueAuth(Some(auth.place)))
    }
}

/// A valid pass (for the path's event, if the route has one).
#[derive(Debug, Clone)]
pub struct PassAuth {
    /// Verified claims.
    pub claims: PassClaims,
    /// The event the pass admits to.
    pub event: EventId,
}

impl<S> FromRequestParts<S> for PassAuth
where
    S: Send + Sync,
    Arc<TokenKeys>: FromRef<S>,
    Arc<Limits>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let auth = PassAuth::verify(parts, &Arc::<TokenKeys>::from_ref(state))
            .map_err(IntoResponse::into_response)?;
        limit_token(parts, &Arc::<Limits>::from_ref(state), &auth.claims.sub)
            .map_err(IntoResponse::into_response)?;
        Ok(auth)
    }
}

impl PassAuth {
    /// Verifies the pass of a request, for the event of its path if the route has one.
    ///
    /// # Errors
    /// `401 unauthorized` if there is no pass or it is not valid (for the path's event);
    /// `404` if the path's event id is not a UUID.
    pub fn verify(parts: &Parts, tokens: &TokenKeys) -> Result<Self, ApiError> {
        let event = path_event(&parts.extensions, &parts.uri)?;
        let token = credential(&parts.headers, PASS_COOKIE)
            .and_then(|t| std::str::from_utf8(t).ok())
            .ok_or(ApiError::Unauthorized("no pass"))?;
        let (claims, event) = tokens
            .verify_pass(token, event.as_ref())
            .map_err(|_| ApiError::Unauthorized("pass"))?;
        Ok(PassAuth { claims, event })
    }
}

/// A valid pass that its fan has not given up by leaving the queue (nor the venue ended,
/// in gate mode): what holding and confirming take. Leaving revokes the pass in Redis
/// (`queue/leave.lua`), so every replica refuses it from the next request on, and
/// `max_active` cannot be bypassed by fans who are admitted, leave and join again. A pass used up by an order is refused
/// by the worker instead (`403` as well).
///
/// If Redis cannot be reached the revocation is not checked and the pass is accepted:
/// passes already issued keep working for holds while Redis is down (a hold needs only
/// the broker), and nobody is admitted meanwhile, so no new pass joins them.
#[derive(Debug, Clone)]
pub struct LivePass(pub PassAuth);

/// Message of the `403` for a revoked pass.
pub const PASS_GIVEN_UP: &str = "this pass was given up (its holder left the queue, or the \
                                  venue ended the session); join the queue again";

impl<S> FromRequestParts<S> for LivePass
where
    S: Send + Sync,
    Arc<TokenKeys>: FromRef<S>,
    Arc<Limits>: FromRef<S>,
    Queue: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let pass = PassAuth::from_request_parts(parts, state).await?;
        match Queue::from_ref(state)
            .pass_revoked(&pass.event, &pass.claims.sub)
            .await
        {
            Ok(false) => Ok(LivePass(pass)),
            Ok(true) => Err(ApiError::Forbidden(PASS_GIVEN_UP).into_response()),
            Err(e) => {
                tracing::warn!(error = %e, "pass revocation not checked: Redis unavailable");
                Ok(LivePass(pass))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_and_cookies() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; anteroom_queue=tok; anteroom_pass=p"),
        );
        assert_eq!(cookie(&h, QUEUE_COOKIE), Some("tok"));
        assert_eq!(cookie(&h, PASS_COOKIE), Some("p"));
        assert_eq!(cookie(&h, "b"), None);
        assert_eq!(credential(&h, PASS_COOKIE), Some(&b"p"[..]));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  tok "),
        );
        assert_eq!(bearer_bytes(&h), Some(&b"tok"[..]));
        assert_eq!(credential(&h, PASS_COOKIE), Some(&b"tok"[..]));
    }

    #[test]
    fn the_event_id_is_read_from_event_routes_only() {
        let id = "0193a3b4-0000-7000-8000-000000000001";
        let path = format!("/v1/events/{id}/queue");
        for route in [
            "/v1/events/{event_id}/queue",
            "/v1/events/{event_id}/queue/stream",
            "/v1/events/{event_id}/holds",
        ] {
            assert_eq!(path_event_id(route, &path).as_deref(), Some(id), "{route}");
        }
        assert_eq!(
            path_event_id("/v1/events/{event_id}", &format!("/v1/events/{id}")).as_deref(),
            Some(id)
        );
        assert_eq!(path_event_id("/v1/holds/{hold_id}", "/v1/holds/h1"), None);
        assert_eq!(path_event_id("/v1/events/{event_idx}", &path), None);
        // Percent-encoded as axum's `Path` would decode it: the same event, so the same
        // per-token limit.
        let encoded = format!("/v1/events/%30{}/queue", &id[1..]);
        assert_eq!(
            path_event_id("/v1/events/{event_id}/queue", &encoded).as_deref(),
            Some(id)
        );
        assert_eq!(
            path_event_id("/v1/events/{event_id}/queue", "/v1/events/%ff/queue"),
            None
        );
    }

    #[test]
    fn cookie_attributes() {
        let c = set_cookie(QUEUE_COOKIE, "t", 60, false);
        assert_eq!(
            c,
            "anteroom_queue=t; Max-Age=60; Path=/; HttpOnly; SameSite=Lax"
        );
        assert!(set_cookie(PASS_COOKIE, "t", 60, true).ends_with("; Secure"));
    }
}
