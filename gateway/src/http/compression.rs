//! Response compression: gzip or Brotli, as the client's `Accept-Encoding` asks, for
//! every answer worth compressing (tower-http's `CompressionLayer`; on unless the
//! `compression` setting is off, for a proxy in front that compresses).
//!
//! - **What**: any body of at least [`MIN_BYTES`] (its exact size, or its
//!   `Content-Length`) and any streamed body of unknown size, Server-Sent Events
//!   included, except images other than SVG (already compressed). Small answers (a
//!   status poll, a hold, an error) stay as they are: compressing them saves a few
//!   hundred bytes at most and costs a compressor's set-up per request. The hottest of
//!   them, the queue status, join and leave, do not even pass through the compressor
//!   ([`Compress`]).
//! - **Streams**: the encoder flushes whenever the body it compresses has nothing more to
//!   give for now, so each SSE event reaches the client when it is sent, not when the
//!   stream ends (`tests/api/seat_map.rs` checks it).
//! - **Level**: [`LEVEL`] for both codings. Brotli's own default (quality 11) is made
//!   for files compressed once and served many times, and costs many times more CPU per
//!   byte; the seat map is compressed per request. The cost per answer at this level is
//!   measured in `docs/BENCHMARKS.md`, "Seat map at stadium size".

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use futures::future::{Either, FutureExt, Map};
use std::convert::Infallible;
use std::task::{ready, Context, Poll};
use tower::{Layer, Service};
use tower_http::compression::predicate::{And, NotForContentType, Predicate, SizeAbove};
use tower_http::compression::{
    Compression, CompressionBody, CompressionLayer, CompressionLevel, ResponseFuture,
};

/// Smallest body compressed, in bytes.
pub const MIN_BYTES: u16 = 1024;

/// Compression level of gzip and Brotli (their shared scale: 0 fastest … 9 or 11).
pub const LEVEL: i32 = 4;

/// The predicate of [`layer`].
pub type WorthCompressing = And<SizeAbove, NotForContentType>;

/// At least [`MIN_BYTES`] (or of unknown size), not an image (SVG excepted).
pub fn worth_compressing() -> WorthCompressing {
    SizeAbove::new(MIN_BYTES).and(NotForContentType::IMAGES)
}

/// tower-http's compression layer as configured here (gzip and Brotli, as the request's
/// `Accept-Encoding` asks; no compression without it).
pub fn layer() -> CompressionLayer<WorthCompressing> {
    CompressionLayer::new()
        .no_deflate()
        .no_zstd()
        .quality(CompressionLevel::Precise(LEVEL))
        .compress_when(worth_compressing())
}

/// Answers small by construction on the hottest routes: the queue status, the join and
/// the leave (`/v1/events/{id}/queue`), a few hundred bytes each. They bypass the
/// compressor entirely, so a status poll costs what it did without compression (no
/// `Accept-Encoding` parsing, no wrapped and boxed body; `docs/BENCHMARKS.md`).
fn always_small(req: &Request) -> bool {
    req.uri().path().ends_with("/queue")
}

/// The layer of [`Compress`]: tower-http's compression, except for the queue routes.
#[derive(Clone, Copy, Debug, Default)]
pub struct CompressLayer;

impl<S: Clone> Layer<S> for CompressLayer {
    type Service = Compress<S>;

    fn layer(&self, inner: S) -> Compress<S> {
        Compress {
            compressed: layer().layer(inner.clone()),
            plain: inner,
        }
    }
}

/// A route with and without the compressor; [`always_small`] requests take the plain
/// one. Both are clones of one route, which is always ready (axum's `Route`), so
/// `poll_ready` asks both.
#[derive(Clone)]
pub struct Compress<S> {
    plain: S,
    compressed: Compression<S, WorthCompressing>,
}

type Compressed = Response<CompressionBody<Body>>;

fn boxed(res: Result<Compressed, Infallible>) -> Result<Response, Infallible> {
    res.map(|r| r.map(Body::new))
}

impl<S> Service<Request> for Compress<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    #[allow(clippy::type_complexity)]
    type Future = Either<
        S::Future,
        Map<
            ResponseFuture<S::Future, WorthCompressing>,
            fn(Result<Compressed, Infallible>) -> Result<Response, Infallible>,
        >,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        ready!(self.plain.poll_ready(cx))?;
        self.compressed.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if always_small(&req) {
            Either::Left(self.plain.call(req))
        } else {
            let to_axum: fn(Result<Compressed, Infallible>) -> Result<Response, Infallible> = boxed;
            Either::Right(self.compressed.call(req).map(to_axum))
        }
    }
}
