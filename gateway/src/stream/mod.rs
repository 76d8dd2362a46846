//! The two SSE streams of `docs/API.md`, fed by this replica's live view (`live/`).
//!
//! - [`status`]: `GET /v1/events/{id}/queue/stream` (`event: status`).
//! - [`seats`]: `GET /v1/events/{id}/seats/stream` (`event: seats`).
//! - [`compact_seats`]: the same with `?format=compact` (`event: state`, `event: delta`).
//! - [`slots`]: caps on open streams per ticket, per client IP and per replica.
//!
//! Neither stream runs a task per subscriber: each response body is a stream that waits
//! on the shared `watch`/`broadcast` channels the watcher feeds.

pub mod compact_seats;
pub mod seats;
pub mod slots;
pub mod status;

use prometheus::IntGauge;

/// Decrements the open-streams gauge when the stream is dropped (client gone).
struct OpenGuard(IntGauge);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}
