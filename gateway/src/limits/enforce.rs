//! The limits check, run by the request middleware (`middleware::Observe`) before the
//! handler: classifies the matched route, then checks the IP limiter and the token
//! limiter ([`screen`], synchronous) and, for a join, the shared Redis quota
//! ([`take_quota`]), refusing with `429` + `Retry-After`.
//!
//! The credential is verified here, with the checks the handler's extractors use
//! (`QueueAuth::verify`, `PassAuth::verify`, the event id from `auth::path_event`), and
//! the verified [`QueueAuth`] / [`PassAuth`] is left in the request extensions, where the
//! extractors find it: a token is verified once per request, not twice. An absent or
//! invalid credential is not refused here (the handler answers `401` as before); only
//! the IP limits apply to it.

use super::{limit_key, Limits, Scope};
use crate::auth::{path_event, PassAuth, QueueAuth};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use protocol::ids::TicketId;
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
    let event = path_event(req.extensions(), req.uri()).ok()?;
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

/// `429 rate_limited` with `Retry-After` = `wait` rounded up to whole seconds (≥ 1).
fn refuse(limits: &Limits, class: RouteClass, scope: Scope, wait: Duration) -> Response {
    limits.count_refusal(class, scope);
    too_many(wait)
}

/// `429 rate_limited` with `Retry-After` = `wait` rounded up to whole seconds (≥ 1).
pub(super) fn too_many(wait: Duration) -> Response {
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
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_nanos(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(200)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_seconds(Duration::from_millis(2_001)), 3);
        assert_eq!(retry_after_seconds(Duration::from_secs(59)), 59);
    }
}
