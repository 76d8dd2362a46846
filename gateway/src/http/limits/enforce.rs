//! The limits as a route layer: [`LimitLayer`] guards the sub-router of one
//! [`RouteClass`] (`http/routes/mod.rs`). Before the handler and its extractors it checks
//! the client IP's limiter (synchronous) and, for a join, takes one join from the shared
//! Redis quota, refusing with `429` + `Retry-After`. Only a join's future is boxed: every
//! other request goes on to the route's own future.
//!
//! The per-token limit is not checked here: it needs the verified credential, and the
//! credential extractors count it themselves once they have verified it
//! ([`Limits::check_token`]).

use super::{Limits, Scope};
use crate::adapters::redis_store::RedisStore;
use crate::http::error::ApiError;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use futures::future::{BoxFuture, Either, Ready};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{Layer, Service, ServiceExt};

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
    /// Gate mode's check, `/v1/gate/check` (per IP, per pass): asked by the venue's
    /// reverse proxy on every shop request, so its limits are far above a poll's.
    Gate,
}

impl RouteClass {
    /// `join` / `status` / `holds`.
    pub fn label(self) -> &'static str {
        match self {
            RouteClass::Join => "join",
            RouteClass::Status => "status",
            RouteClass::Holds => "holds",
            RouteClass::Gate => "gate",
        }
    }
}

/// The class of a request to route template `route`; `None` for unlimited routes
/// (admin, public event, operations, pages). The credential extractors count a verified
/// token against the limit of this class; the router puts each route under the
/// [`LimitLayer`] of the same class.
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
        "/v1/gate/check" | "/v1/gate/check/{*rest}" => Some(RouteClass::Gate),
        _ => None,
    }
}

/// The route layer of one [`RouteClass`]: the per-IP limit of the class and, for
/// [`RouteClass::Join`], the shared join quota in Redis (see the module doc).
#[derive(Clone)]
pub struct LimitLayer {
    class: RouteClass,
    limits: Arc<Limits>,
    redis: RedisStore,
}

impl LimitLayer {
    /// The layer of `class`; `redis` holds the join quota.
    pub fn new(class: RouteClass, limits: Arc<Limits>, redis: RedisStore) -> Self {
        Self {
            class,
            limits,
            redis,
        }
    }
}

impl<S> Layer<S> for LimitLayer {
    type Service = Limit<S>;

    fn layer(&self, inner: S) -> Limit<S> {
        Limit {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`LimitLayer`].
#[derive(Clone)]
pub struct Limit<S> {
    inner: S,
    layer: LimitLayer,
}

/// The future of [`Limit`]: a refusal, the route's own future, or a join taking the
/// quota before its route runs.
type LimitFuture<F> = Either<
    Ready<Result<Response, Infallible>>,
    Either<F, BoxFuture<'static, Result<Response, Infallible>>>,
>;

impl<S> Service<Request> for Limit<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = LimitFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let LimitLayer {
            class,
            ref limits,
            ref redis,
        } = self.layer;
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let ip = limits.client_key(req.headers(), peer);
        if let Some(ip) = ip {
            if let Err(wait) = limits.ip_limiter(class).check(&ip) {
                let refusal = limits.refuse(class, Scope::Ip, wait);
                return Either::Left(futures::future::ready(Ok(refusal)));
            }
        }
        match (class, ip) {
            (RouteClass::Join, Some(ip)) => {
                // The ready service goes with the request; a clone stays for the next one.
                let ready = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, ready);
                let (limits, redis) = (Arc::clone(limits), redis.clone());
                Either::Right(Either::Right(Box::pin(async move {
                    match take_quota(&limits, &redis, ip).await {
                        Ok(()) => inner.oneshot(req).await,
                        Err(refusal) => Ok(refusal),
                    }
                })))
            }
            _ => Either::Right(Either::Left(self.inner.call(req))),
        }
    }
}

/// Takes one join from the shared quota of `ip`.
///
/// # Errors
/// The refusal: `429 rate_limited` with `Retry-After` when the quota is spent, `503` if
/// Redis cannot be reached.
async fn take_quota(limits: &Limits, redis: &RedisStore, ip: IpAddr) -> Result<(), Response> {
    match limits.quota().take(redis, ip).await {
        Ok(None) => Ok(()),
        Ok(Some(wait)) => Err(limits.refuse(RouteClass::Join, Scope::Quota, wait)),
        Err(e) => Err(e.into_response()),
    }
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
        for route in ["/v1/gate/check", "/v1/gate/check/{*rest}"] {
            assert_eq!(classify(&Method::PUT, route), Some(RouteClass::Gate));
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
