//! The limits check, run by the request middleware (`middleware::Observe`) before the
//! handler: classifies the matched route, then checks the IP limiter and the token
//! limiter ([`screen`], synchronous) and, for a join, the shared Redis quota
//! ([`take_quota`]), refusing with `429` + `Retry-After`.
//!
//! The credential is verified here, with the check the handler's extractor uses
//! (`QueueAuth::verify`, `PassAuth::verify`; the event id read from the path,
//! [`path_event_id`]), and the verified [`QueueAuth`] / [`PassAuth`] is left in the
//! request extensions, where the extractors find it: a token is verified once per
//! request, not twice. An absent or
//! invalid credential is not refused here (the handler answers `401` as before); only
//! the IP limits apply to it.

use super::{limit_key, Limits, Scope};
use crate::auth::{PassAuth, QueueAuth};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use protocol::ids::{EventId, TicketId};
use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Route groups sharing one pair of limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// `POST /v1/events/{id}/queue` (per IP; per queue token on a rejoin; Redis quota).
    Join,
    /// `GET`/`DELETE /v1/events/{id}/queue`, `GET .../queue/stream` (per IP, per queue
    /// token).
    Status,
    /// Every route taking a pass: seats, holds, confirm, release, request results (per
    /// IP, per pass).
    Holds,
}

impl RouteClass {
    /// `join` / `status` / `holds`.
    pub fn label(self) -> &'static str {
        match self {
            RouteClass::Join => "join",
            RouteClass::Status => "status",
            RouteClass::Holds => "holds",
        }
    }
}

/// The class of a request to route template `route`; `None` for unlimited routes
/// (admin, public event, operations, pages).
pub fn classify(method: &Method, route: &str) -> Option<RouteClass> {
    match route {
        "/v1/events/{event_id}/queue" if method == Method::POST => Some(RouteClass::Join),
        "/v1/events/{event_id}/queue" | "/v1/events/{event_id}/queue/stream" => {
            Some(RouteClass::Status)
        }
        "/v1/events/{event_id}/seats"
        | "/v1/events/{event_id}/seats/stream"
        | "/v1/events/{event_id}/holds"
        | "/v1/holds/{hold_id}"
        | "/v1/holds/{hold_id}/confirm"
        | "/v1/requests/{request_id}" => Some(RouteClass::Holds),
        _ => None,
    }
}

/// What [`screen`] decided about a request.
pub enum Screened {
    /// Within every limit: pass it on (with the verified credential in its extensions).
    Passed(Request),
    /// Within the replica's limits; a join, so the shared quota of the client's address
    /// must still be taken from Redis ([`take_quota`]) before it passes.
    NeedsQuota(Request, IpAddr),
    /// Refused: `429 rate_limited` with `Retry-After`.
    Refused(Response),
}

/// Checks `req` against the limits of its route that this replica keeps (see the module
/// doc): the IP limiter, then the token limiter. Synchronous, so the middleware needs no
/// boxed future for the requests that never wait on Redis (every route but join).
pub fn screen(state: &AppState, mut req: Request) -> Screened {
    let Some(route) = req.extensions().get::<MatchedPath>() else {
        return Screened::Passed(req);
    };
    let Some(class) = classify(req.method(), route.as_str()) else {
        return Screened::Passed(req);
    };
    let limits: &Limits = &state.limits;
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = limits
        .source()
        .client_ip(req.headers(), peer)
        .map(limit_key);
    if let Some(ip) = ip {
        if let Err(wait) = limits.ip_limiter(class).check(&ip) {
            return Screened::Refused(refuse(limits, class, Scope::Ip, wait));
        }
    }
    if limits.token_limiter(class).is_enabled() {
        if let Some(ticket) = verify_credential(state, class, &mut req) {
            if let Err(wait) = limits.token_limiter(class).check(&ticket) {
                return Screened::Refused(refuse(limits, class, Scope::Token, wait));
            }
        }
    }
    match (class, ip) {
        (RouteClass::Join, Some(ip)) => Screened::NeedsQuota(req, ip),
        _ => Screened::Passed(req),
    }
}

/// Takes one join from the shared quota of `ip`.
///
/// # Errors
/// The refusal: `429 rate_limited` with `Retry-After` when the quota is spent, `503` if
/// Redis cannot be reached.
pub async fn take_quota(state: &AppState, ip: IpAddr) -> Result<(), Response> {
    let limits: &Limits = &state.limits;
    match limits.quota().take(&state.redis, ip).await {
        Ok(None) => Ok(()),
        Ok(Some(wait)) => Err(refuse(limits, RouteClass::Join, Scope::Quota, wait)),
        Err(e) => Err(e.into_response()),
    }
}

/// Verifies the request's credential for the token limiter, leaving it in the request
/// extensions for the handler's extractor; the ticket, or `None` when there is no valid
/// credential (the handler answers `401`) or no event in the path.
fn verify_credential(state: &AppState, class: RouteClass, req: &mut Request) -> Option<TicketId> {
    let route = req.extensions().get::<MatchedPath>()?;
    let event = match path_event_id(route.as_str(), req.uri().path()) {
        Some(raw) => Some(raw.parse::<EventId>().ok()?),
        None => None,
    };
    match class {
        RouteClass::Join | RouteClass::Status => {
            let auth = QueueAuth::verify(req.headers(), state, event?).ok()?;
            req.extensions_mut().insert(auth);
            Some(auth.place.ticket)
        }
        RouteClass::Holds => {
            let auth = PassAuth::verify(req.headers(), state, event.as_ref()).ok()?;
            let ticket = auth.claims.sub;
            req.extensions_mut().insert(auth);
            Some(ticket)
        }
    }
}

/// The route every event route starts with.
const EVENT_ROUTE: &str = "/v1/events/{event_id}";

/// The `{event_id}` of a request to route `template`, percent-decoded as axum's `Path`
/// decodes it; `None` if `template` is not an event route ([`EVENT_ROUTE`]`...`).
///
/// Read from the path by position rather than with axum's `RawPathParams` (an async
/// extractor) so that the limits check stays synchronous; and by prefix, without
/// splitting the path into segments, which cost 1,300 instructions a status poll
/// (callgrind, issue #4). A matched event route's path starts with `/v1/events/` as
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

/// `429 rate_limited` with `Retry-After` = `wait` rounded up to whole seconds (≥ 1).
fn refuse(limits: &Limits, class: RouteClass, scope: Scope, wait: Duration) -> Response {
    limits.count_refusal(class, scope);
    let seconds = retry_after_seconds(wait);
    let mut res = ApiError::RateLimited.into_response();
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    res
}

/// Whole seconds to wait, rounded up, at least 1 (`Retry-After` has 1 s resolution).
pub fn retry_after_seconds(wait: Duration) -> u64 {
    let whole = wait.as_secs();
    let seconds = if wait.subsec_nanos() > 0 {
        whole + 1
    } else {
        whole
    };
    seconds.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_classified_by_template_and_method() {
        let q = "/v1/events/{event_id}/queue";
        assert_eq!(classify(&Method::POST, q), Some(RouteClass::Join));
        assert_eq!(classify(&Method::GET, q), Some(RouteClass::Status));
        assert_eq!(classify(&Method::DELETE, q), Some(RouteClass::Status));
        assert_eq!(
            classify(&Method::GET, "/v1/events/{event_id}/queue/stream"),
            Some(RouteClass::Status)
        );
        for route in [
            "/v1/events/{event_id}/holds",
            "/v1/holds/{hold_id}",
            "/v1/holds/{hold_id}/confirm",
            "/v1/requests/{request_id}",
            "/v1/events/{event_id}/seats",
        ] {
            assert_eq!(
                classify(&Method::POST, route),
                Some(RouteClass::Holds),
                "{route}"
            );
        }
        for route in [
            "/v1/admin/events",
            "/v1/events/{event_id}",
            "/healthz",
            "/metrics",
        ] {
            assert_eq!(classify(&Method::GET, route), None, "{route}");
        }
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
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_nanos(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(200)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_seconds(Duration::from_millis(2_001)), 3);
        assert_eq!(retry_after_seconds(Duration::from_secs(59)), 59);
    }
}
