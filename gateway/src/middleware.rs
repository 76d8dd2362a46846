//! All middleware, applied by one function ([`apply`]), outermost first:
//!
//! 1. request id: `x-request-id` set (UUID) if absent, and echoed on the response;
//! 2. tracing span per request (method, path, request id) at `debug` level: off by
//!    default (`RUST_LOG=info`), because making and formatting a span costs about as
//!    much as a whole status poll (measured with `perf`, issue #4); `RUST_LOG=debug`
//!    turns it on;
//! 3. [`observe`]: HTTP metrics by route template, and the one log line per error
//!    (the cause travels from `ApiError` in an `ErrorLog` extension), carrying the
//!    request id itself so it is there without the span;
//! 4. panics → `500` JSON (`catch_panic`);
//! 5. body limit (64 KiB → `413` via our JSON rejection);
//! 6. abuse limits (`limits::enforce`): `429` + `Retry-After` before the handler.

use crate::error::{ApiError, ErrorLog};
use crate::extract::BODY_LIMIT;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::any::Any;
use std::time::Instant;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// The request id header, set by the outermost layer.
const REQUEST_ID: &str = "x-request-id";

/// Wraps `router` in every middleware.
pub fn apply(router: Router<AppState>, state: AppState) -> Router<AppState> {
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let request_id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::debug_span!("http", method = %req.method(), path = %req.uri().path(),
                    request_id)
            })
            // Failures are logged once, by `observe`, with their cause.
            .on_failure(()))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(from_fn_with_state(state.clone(), observe))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(from_fn_with_state(state, crate::limits::enforce)),
    )
}

/// Records `anteroom_http_*` metrics and logs the error of a failed request, once.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    // Cheap clones (an `Arc<str>`, a standard method), not new strings.
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = req.method().clone();
    let request_id = req.headers().get(REQUEST_ID).cloned();
    let res = next.run(req).await;
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
        let request_id = request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), %route, request_id, error = %cause,
                "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), %route, request_id, error = %cause,
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
