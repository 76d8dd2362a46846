//! The limits check, run by the request middleware (`middleware::observe`) before the
//! handler: classifies the matched route, then checks the IP limiter, the token limiter
//! and (join) the shared Redis quota, refusing with `429` + `Retry-After`.
//!
//! The credential is verified here, with the same extractor the handler uses, and the
//! verified [`QueueAuth`] / [`PassAuth`] is left in the request extensions, where the
//! extractors find it: a token is verified once per request, not twice. An absent or
//! invalid credential is not refused here (the handler answers `401` as before); only
//! the IP limits apply to it.

use super::{limit_key, Limits, Scope};
use crate::auth::{PassAuth, QueueAuth};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request};
use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
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

/// Checks `req` against the limits of its route (see the module doc): the request to
/// pass on (with the verified credential in its extensions), or the response that
/// refuses it (`429 rate_limited` with `Retry-After`; `503` if the join quota cannot be
/// read from Redis).
///
/// # Errors
/// The refusal, as a response.
pub async fn check(state: &AppState, req: Request) -> Result<Request, Response> {
    let class = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|route| classify(req.method(), route.as_str()));
    let Some(class) = class else {
        return Ok(req);
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
            return Err(refuse(limits, class, Scope::Ip, wait));
        }
    }
    let (mut parts, body) = req.into_parts();
    if limits.token_limiter(class).is_enabled() {
        let ticket = match class {
            RouteClass::Join | RouteClass::Status => {
                match QueueAuth::from_request_parts(&mut parts, state).await {
                    Ok(auth) => {
                        let ticket = auth.claims.sub;
                        parts.extensions.insert(auth);
                        Some(ticket)
                    }
                    Err(_) => None,
                }
            }
            RouteClass::Holds => match PassAuth::from_request_parts(&mut parts, state).await {
                Ok(auth) => {
                    let ticket = auth.claims.sub;
                    parts.extensions.insert(auth);
                    Some(ticket)
                }
                Err(_) => None,
            },
        };
        if let Some(ticket) = ticket {
            if let Err(wait) = limits.token_limiter(class).check(&ticket) {
                return Err(refuse(limits, class, Scope::Token, wait));
            }
        }
    }
    if let (RouteClass::Join, Some(ip)) = (class, ip) {
        match limits.quota().take(&state.redis, ip).await {
            Ok(None) => {}
            Ok(Some(wait)) => return Err(refuse(limits, class, Scope::Quota, wait)),
            Err(e) => return Err(e.into_response()),
        }
    }
    Ok(Request::from_parts(parts, body))
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
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_nanos(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(200)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_seconds(Duration::from_millis(2_001)), 3);
        assert_eq!(retry_after_seconds(Duration::from_secs(59)), 59);
    }
}
