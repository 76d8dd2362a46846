//! All middleware, applied by one function ([`apply`]), outermost first:
//!
//! 1. request id: `x-request-id` set if absent ([`RequestIds`]: 32 hex digits, a random
//!    per-process prefix and a counter), and echoed on the response (two layers);
//! 2. [`observe`]: a tracing span per request (method, path, request id) at `debug`
//!    level, off by default (`RUST_LOG=info`): making and formatting a span costs about
//!    as much as a whole status poll (`perf`, issue #4), `RUST_LOG=debug` turns it on;
//!    HTTP metrics by route template; and the one log line per error (the cause travels
//!    from `ApiError` in an `ErrorLog` extension), logged in that span and carrying the
//!    request id itself, so it is there when the span is off;
//! 3. panics → `500` JSON (`catch_panic`);
//! 4. body limit (64 KiB → `413` via our JSON rejection);
//! 5. abuse limits (`limits::enforce`): `429` + `Retry-After` before the handler.

use crate::error::{ApiError, ErrorLog};
use crate::extract::BODY_LIMIT;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tracing::Instrument;

/// The request id header, set by the outermost layer.
const REQUEST_ID: &str = "x-request-id";

/// Wraps `router` in every middleware.
pub fn apply(router: Router<AppState>, state: AppState) -> Router<AppState> {
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(RequestIds::new()))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(from_fn_with_state(state.clone(), observe))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(from_fn_with_state(state, crate::limits::enforce)),
    )
}

/// Makes request ids: 16 hex digits of a random per-process prefix, then 16 of a
/// counter. Unique per process, and across replicas with overwhelming probability (64
/// random bits); a third of the cost of a random UUID per request (callgrind, issue #4).
#[derive(Clone)]
pub struct RequestIds {
    prefix: u64,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    /// A new source with a random prefix.
    pub fn new() -> Self {
        Self {
            prefix: rand::random(),
            next: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.prefix.to_be_bytes());
        bytes[8..].copy_from_slice(&n.to_be_bytes());
        let mut hex = [0u8; 32];
        hex::encode_to_slice(bytes, &mut hex).ok()?;
        axum::http::HeaderValue::from_bytes(&hex)
            .ok()
            .map(RequestId::new)
    }
}

/// Records `anteroom_http_*` metrics and logs the error of a failed request, once.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    // Cheap clones (an `Arc<str>`, a standard method), not new strings.
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = req.method().clone();
    let request_id = req.headers().get(REQUEST_ID).cloned();
    let id = request_id
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Disabled (`RUST_LOG=info`), this is a level check and `Span::none()`.
    let span = tracing::debug_span!("http", method = %method, path = %req.uri().path(),
        request_id = id);
    let res = next.run(req).instrument(span.clone()).await;
    let status = res.status();
    state
        .metrics
        .http_requests
        .with_label_values(&[route, method.as_str(), status.as_str()])
        .inc();
    state
        .metrics
        .http_duration
        .with_label_values(&[route, method.as_str()])
        .observe(started.elapsed().as_secs_f64());
    if let Some(ErrorLog(cause)) = res.extensions().get::<ErrorLog>() {
        let _in_span = span.enter();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), %route, request_id = id, error = %cause,
                "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), %route, request_id = id, error = %cause,
                "request refused");
        }
    }
    res
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::Internal(anyhow::anyhow!("handler panicked: {message}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_32_hex_digits_and_distinct() {
        let mut ids = RequestIds::new();
        let req = axum::http::Request::new(());
        let a = ids.make_request_id(&req).unwrap();
        let b = ids.clone().make_request_id(&req).unwrap();
        let (a, b) = (
            a.header_value().to_str().unwrap(),
            b.header_value().to_str().unwrap(),
        );
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b, "clones share the counter");
        assert_eq!(a[..16], b[..16], "same process prefix");
    }
}
