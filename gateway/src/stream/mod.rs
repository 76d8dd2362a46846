//! What each replica keeps live between Redis reads, and the two SSE streams of API.md.
//!
//! - [`hub`]: [`Live`], the per-replica cache of queue views, lottery records, seat
//!   feeds, and buffered "seen" marks.
//! - [`watcher`]: the background loop that refreshes it (one `view.lua` call per event a
//!   few times a second, the availability snapshot when its version changes, one
//!   `seen.lua` flush per event per second).
//! - [`place`]: a fan's Status, from the cache when possible, else from Redis.
//! - [`status`]: `GET /v1/events/{id}/queue/stream` (`event: status`).
//! - [`seats`]: `GET /v1/events/{id}/seats/stream` (`event: seats`).
//! - [`slots`]: caps on open streams per ticket, per client IP and per replica.
//!
//! Neither stream runs a task per subscriber: each response body is a stream that waits
//! on the shared `watch`/`broadcast` channels the watcher feeds.

pub mod hub;
pub mod place;
pub mod seats;
pub mod slots;
pub mod status;
pub mod watcher;

pub use hub::Live;

use crate::catalog::EventSnapshot;
use crate::error::ApiError;
use crate::state::AppState;
use protocol::ids::EventId;
use std::sync::Arc;

/// The event for a status computation: from the catalog cache (no Redis call), else
/// fetched (counted in `anteroom_status_redis_calls_total`).
///
/// # Errors
/// `404` if the event does not exist; `503` if Redis is unavailable.
pub async fn snapshot_for_status(
    state: &AppState,
    event: &EventId,
) -> Result<Arc<EventSnapshot>, ApiError> {
    if let Some(s) = state.catalog.fresh(event) {
        return Ok(s);
    }
    state.metrics.status_redis_calls.inc();
    state
        .catalog
        .cached(event)
        .await?
        .ok_or_else(|| ApiError::NotFound("event".into()))
}

/// The event of a status request, whose valid queue token proves the event exists: if
/// its config is missing from Redis (lost with Redis's data, until the worker writes it
/// back, within seconds), `503` and a retry rather than `404`, which tells a fan's page
/// that the place is gone for good.
///
/// # Errors
/// `503` if the config is missing or Redis is unavailable.
pub async fn snapshot_for_token_holder(
    state: &AppState,
    event: &EventId,
) -> Result<Arc<EventSnapshot>, ApiError> {
    snapshot_for_status(state, event)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => ApiError::unavailable(
                crate::error::Dependency::Redis,
                "the event's config is missing from Redis",
            ),
            e => e,
        })
}
