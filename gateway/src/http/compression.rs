//! Response compression: gzip or Brotli, as the client's `Accept-Encoding` asks, for
//! every answer worth compressing (tower-http's `CompressionLayer`; on unless the
//! `compression` setting is off, for a proxy in front that compresses).
//!
//! - **What**: any body of at least [`MIN_BYTES`] (its exact size, or its
//!   `Content-Length`) and any streamed body of unknown size, Server-Sent Events
//!   included, except images other than SVG (already compressed). Small answers (a
//!   status poll, a hold, an error) stay as they are: compressing them saves a few
//!   hundred bytes at most and costs a compressor's set-up per request, on the hottest
//!   routes.
//! - **Streams**: the encoder flushes whenever the body it compresses has nothing more to
//!   give for now, so each SSE event reaches the client when it is sent, not when the
//!   stream ends (`tests/api/seat_map.rs` checks it).
//! - **Level**: [`LEVEL`] for both codings. Brotli's own default (quality 11) is made
//!   for files compressed once and served many times, and costs many times more CPU per
//!   byte; the seat map is compressed per request. The cost per answer at this level is
//!   measured in `docs/BENCHMARKS.md`, "Seat map at stadium size".

use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// Smallest body compressed, in bytes.
pub const MIN_BYTES: u16 = 1024;

/// Compression level of gzip and Brotli (their shared scale: 0 fastest … 9 or 11).
pub const LEVEL: i32 = 4;

/// The predicate of [`layer`]: at least [`MIN_BYTES`] (or of unknown size), not an
/// image (SVG excepted).
pub fn worth_compressing() -> impl Predicate {
    SizeAbove::new(MIN_BYTES).and(NotForContentType::IMAGES)
}

/// The compression layer (gzip and Brotli, as the request's `Accept-Encoding` asks; no
/// compression without it).
pub fn layer() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .no_deflate()
        .no_zstd()
        .quality(CompressionLevel::Precise(LEVEL))
        .compress_when(worth_compressing())
}
