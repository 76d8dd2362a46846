//! The middleware: one `from_fn` layer, [`observe`], applied by [`apply`] around every
//! route. One layer, not a stack of them: each layer `Router::layer` adds costs every
//! request a boxed future and a clone of the service below it (callgrind, issue #4).
//! In order, for each request:
//!
//! 1. the request id, `x-request-id`, echoed on the response, or made if absent
//!    ([`RequestIds`]: 32 hex digits, a random per-process prefix and a counter);
//! 2. a tracing span per request (method, path, request id) at `debug` level, off by
//!    default (`RUST_LOG=info`): making and formatting a span costs about as much as a
//!    whole status poll (`perf`, issue #4), `RUST_LOG=debug` turns it on;
//! 3. the abuse limits ([`crate::limits::check`]): `429` + `Retry-After` before the
//!    handler;
//! 4. the handler, with a panic caught and answered `500` JSON (`futures`'
//!    `catch_unwind`, as tower-http's `CatchPanic` does);
//! 5. HTTP metrics by route template, and the one log line per error (the cause travels
//!    from `ApiError` in an `ErrorLog` extension), logged in that span and carrying the
//!    request id itself, so it is there when the span is off.
//!
//! The body limit (64 KiB → `413`) is applied where a body is read
//! (`extract::body_bytes`).

use crate::error::{ApiError, ErrorLog};
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::FutureExt;
use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// The request id header, set by the outermost layer.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps `router` in every middleware.
pub fn apply(router: Router<AppState>, state: AppState) -> Router<AppState> {
    let observer = Observer {
        state,
        ids: RequestIds::new(),
    };
    router.layer(from_fn_with_state(observer, observe))
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

    /// The next id, as a header value.
    pub fn next_id(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.prefix.to_be_bytes());
        bytes[8..].copy_from_slice(&n.to_be_bytes());
        let mut hex = [0u8; 32];
        hex::encode_to_slice(bytes, &mut hex).expect("32 hex digits for 16 bytes");
        HeaderValue::from_bytes(&hex).expect("hex digits are a valid header value")
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

/// What [`observe`] needs: the app state (metrics) and the request id source.
#[derive(Clone)]
pub struct Observer {
    state: AppState,
    ids: RequestIds,
}

/// Echoes (or makes) the request id, checks the abuse limits, records `anteroom_http_*`
/// metrics and logs the error of a failed request, once.
pub async fn observe(State(o): State<Observer>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let state = &o.state;
    // Cheap clones (an `Arc<str>`, a standard method), not new strings.
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = req.method().clone();
    // Only this layer reads the id: it is not copied into the request's headers.
    let request_id = match req.headers().get(REQUEST_ID) {
        Some(given) => given.clone(),
        None => o.ids.next_id(),
    };
    let id = request_id.to_str().unwrap_or("");
    // Disabled (`RUST_LOG=info`), this is a level check and `Span::none()`.
    let span = tracing::debug_span!("http", method = %method, path = %req.uri().path(),
        request_id = id);
    let handled = async {
        match crate::limits::check(state, req).await {
            Ok(req) => next.run(req).await,
            Err(refusal) => refusal,
        }
    };
    let mut res = AssertUnwindSafe(handled.instrument(span.clone()))
        .catch_unwind()
        .await
        .unwrap_or_else(panic_response);
    res.headers_mut()
        .entry(REQUEST_ID)
        .or_insert_with(|| request_id.clone());
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
        let ids = RequestIds::new();
        let (a, b) = (ids.next_id(), ids.clone().next_id());
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b, "clones share the counter");
        assert_eq!(a[..16], b[..16], "same process prefix");
    }
}
