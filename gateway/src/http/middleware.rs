//! The middleware: one tower layer, [`ObserveLayer`] (service [`Observe`]), applied by
//! [`apply`] around every route. One layer, not a stack of them, and written as a tower
//! `Service` with its own future rather than axum's `from_fn`: each layer costs every
//! request a clone of the service below it, and `from_fn` added a boxed copy of a large
//! async block, a second boxed service (`Next`) and another clone. In order, for each
//! request:
//!
//! 1. the request id, `x-request-id`, echoed on the response, or made if absent
//!    ([`RequestIds`]: 32 hex digits, a random per-process prefix and a counter);
//! 2. a tracing span per request (method, path, request id) at `debug` level, off by
//!    default (`RUST_LOG=info`): making and formatting a span costs about as much as a
//!    whole status poll, `RUST_LOG=debug` turns it on;
//! 3. the router: its route layers (the abuse limits, `http/limits/`) and the handler, with a panic caught and answered `500` JSON (`catch_unwind` around the
//!    call and every poll, as tower-http's `CatchPanic` does); a future that panicked is
//!    dropped, never polled again;
//! 4. HTTP metrics by route template, and the one log line per error (the cause travels
//!    from `ApiError` in an `ErrorLog` extension), logged in that span and carrying the
//!    request id itself, so it is there when the span is off.
//!
//! Inside it, around the router, the response compression (`compression.rs`): the
//! metrics and the log line see the handler's answer, not the compressor's.
//!
//! The body limit (64 KiB → `413`) is applied where a body is read
//! (`extract::body_bytes`).

use crate::http::error::{ApiError, ErrorLog};
use crate::metrics::Metrics;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::Router;
use pin_project_lite::pin_project;
use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};

/// The request id header, set by the outermost layer.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps `router` in every middleware; `metrics` receives the HTTP metrics; `compress`
/// (the `compression` setting) adds the response compression.
pub fn apply<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    metrics: Metrics,
    compress: bool,
) -> Router<S> {
    let router = if compress {
        router.layer(crate::http::compression::CompressLayer)
    } else {
        router
    };
    router.layer(ObserveLayer(Arc::new(Shared {
        metrics,
        ids: RequestIds::new(),
    })))
}

/// Makes request ids: 16 hex digits of a random per-process prefix, then 16 of a
/// counter. Unique per process, and across replicas with overwhelming probability (64
/// random bits); a third of the cost of a random UUID per request.
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

/// What every [`Observe`] shares: the metrics and the request id source. One `Arc`, so
/// the clone axum makes of the service per request is one count.
struct Shared {
    metrics: Metrics,
    ids: RequestIds,
}

/// The layer of [`Observe`].
#[derive(Clone)]
pub struct ObserveLayer(Arc<Shared>);

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            shared: Arc::clone(&self.0),
        }
    }
}

/// Echoes (or makes) the request id, catches a handler's panic, records `anteroom_http_*` metrics and logs the error of a failed request,
/// once (see the module doc).
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = Instant::now();
        // Cheap clones (an `Arc<str>`, a standard method), not new strings.
        let route = req.extensions().get::<MatchedPath>().cloned();
        let method = req.method().clone();
        // Only this layer reads the id: it is not copied into the request's headers.
        let request_id = match req.headers().get(REQUEST_ID) {
            Some(given) => given.clone(),
            None => self.shared.ids.next_id(),
        };
        // Disabled (`RUST_LOG=info`), this is a level check and `Span::none()`.
        let span = tracing::debug_span!("http", method = %method, path = %req.uri().path(),
            request_id = request_id.to_str().unwrap_or(""));
        let stage = span.in_scope(|| {
            catch_unwind(AssertUnwindSafe(|| Stage::Inner {
                future: self.inner.call(req),
            }))
            .unwrap_or_else(|panic| Stage::Done {
                response: Some(panic_response(panic)),
            })
        });
        ObserveFuture {
            stage,
            span,
            record: Some(Record {
                started,
                route,
                method,
                request_id,
                shared: Arc::clone(&self.shared),
            }),
        }
    }
}

pin_project! {
    /// Where a request stands in [`Observe`].
    #[project = StageProj]
    enum Stage<F> {
        /// In the router (the service below).
        Inner { #[pin] future: F },
        /// Answered without the router (a panic), or finished.
        Done { response: Option<Response> },
    }
}

pin_project! {
    /// The future of [`Observe`]: the request's [`Stage`], then the metrics and the log.
    pub struct ObserveFuture<F> {
        #[pin]
        stage: Stage<F>,
        span: tracing::Span,
        record: Option<Record>,
    }
}

impl<F> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let polled = {
            let _in_span = this.span.enter();
            let stage = this.stage.as_mut();
            catch_unwind(AssertUnwindSafe(|| match stage.project() {
                StageProj::Inner { future } => future.poll(cx).map(|done| match done {
                    Ok(response) => response,
                    Err(never) => match never {},
                }),
                StageProj::Done { response } => Poll::Ready(
                    response
                        .take()
                        .expect("ObserveFuture polled after completion"),
                ),
            }))
        };
        let response = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(response)) => response,
            Err(panic) => panic_response(panic),
        };
        // Finished or panicked: the handler's future is dropped, never polled again.
        this.stage.set(Stage::Done { response: None });
        let record = this
            .record
            .take()
            .expect("ObserveFuture polled after completion");
        Poll::Ready(Ok(record.finish(response, this.span)))
    }
}

/// What [`Observe`] records of a request when its response is ready.
struct Record {
    started: Instant,
    route: Option<MatchedPath>,
    method: Method,
    request_id: HeaderValue,
    shared: Arc<Shared>,
}

impl Record {
    /// The request id on `res`, the metrics, and the log line of an error.
    fn finish(self, mut res: Response, span: &tracing::Span) -> Response {
        let route = self.route.as_ref().map_or("unmatched", MatchedPath::as_str);
        let id = self.request_id.to_str().unwrap_or("");
        res.headers_mut()
            .entry(REQUEST_ID)
            .or_insert_with(|| self.request_id.clone());
        let status = res.status();
        let metrics = &self.shared.metrics;
        metrics
            .http_requests
            .with_label_values(&[route, self.method.as_str(), status.as_str()])
            .inc();
        metrics
            .http_duration
            .with_label_values(&[route, self.method.as_str()])
            .observe(self.started.elapsed().as_secs_f64());
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
