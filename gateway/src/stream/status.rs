//! The status stream (`GET /v1/events/{id}/queue/stream`): `event: status` with a Status
//! as data, pushed on every change and at least every [`HEARTBEAT`].
//!
//! No task per subscriber: the response body is a stream that wakes when the event's
//! state or config changes (the watcher's signal, at once) or when a check is due. Checks
//! follow the cadence a polling client would get (`poll_after_ms`: 1 s near the front,
//! up to 15 s far back), so position changes are coalesced to that cadence while state
//! changes (admitted, paused, sold out, closed) go out immediately. Each check is
//! [`resolve`](crate::live::place::resolve) (normally no Redis call) and marks the fan as seen: an open stream keeps
//! its place. Once admitted, the status with its pass is repeated from memory until the
//! pass expires. A ticket that is gone ends the stream with an `event: error`.

use super::OpenGuard;
use crate::live::hub::Signal;
use crate::live::place::Status;
use crate::live::place::{resolve_claim, Via};
use crate::live::{snapshot_for_token_holder, LiveError, Replica};
use crate::queue::QueueState;
use crate::tokens::QueuePlace;
use axum::response::sse::Event;
use chrono::Utc;
use futures::Stream;
use protocol::ids::EventId;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Longest gap between two status events.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// Retry delay after a failed check (e.g. Redis down).
const RETRY: Duration = Duration::from_secs(2);

/// A stream subscriber's state between events.
struct Follow {
    replica: Replica,
    event: EventId,
    place: QueuePlace,
    signal: Option<watch::Receiver<Signal>>,
    closing: CancellationToken,
    first: Option<Event>,
    last_json: String,
    last_sent: Instant,
    next_check: Instant,
    /// The last status if it was `admitted` (it carries the pass).
    admitted: Option<Status>,
    done: bool,
    _open: OpenGuard,
}

fn status_event(json: &str) -> Event {
    Event::default().event("status").data(json)
}

fn cadence(status: &Status) -> Duration {
    Duration::from_millis(status.poll_after_ms).min(HEARTBEAT)
}

/// The stream of status events of the ticket `place` proves, starting with `first`.
pub fn status_events(
    replica: Replica,
    event: EventId,
    place: QueuePlace,
    first: &Status,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let json = serde_json::to_string(first).expect("Status serialises");
    let gauge = replica.metrics.sse_streams.with_label_values(&["status"]);
    gauge.inc();
    let now = Instant::now();
    let follow = Follow {
        signal: Some(replica.live.event(&event).signal()),
        closing: replica.live.closing(),
        first: Some(status_event(&json)),
        last_json: json,
        last_sent: now,
        next_check: now + cadence(first),
        admitted: (first.state == QueueState::Admitted).then(|| first.clone()),
        done: false,
        _open: OpenGuard(gauge),
        replica,
        event,
        place,
    };
    futures::stream::unfold(follow, |mut f| async move {
        if let Some(first) = f.first.take() {
            return Some((Ok(first), f));
        }
        if f.done {
            return None;
        }
        let event = f.next_event().await?;
        Some((Ok(event), f))
    })
}

impl Follow {
    /// Waits for the next event to send; `None` when the server shuts down.
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            let heartbeat = self.last_sent + HEARTBEAT;
            let wake = self.next_check.min(heartbeat);
            let signal = async {
                match self.signal.as_mut() {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.closing.cancelled() => return None,
                _ = tokio::time::sleep_until(wake) => {}
                alive = signal => if !alive { self.signal = None },
            }
            let now = Instant::now();
            match self.check().await {
                Ok(status) => {
                    let json = serde_json::to_string(&status).expect("Status serialises");
                    self.next_check = now + cadence(&status);
                    if json != self.last_json || now >= heartbeat {
                        self.last_sent = now;
                        let event = status_event(&json);
                        self.last_json = json;
                        return Some(event);
                    }
                }
                Err(LiveError::NotFound(what)) => {
                    self.done = true;
                    let body = serde_json::to_string(&crate::views::not_found(what))
                        .expect("errors serialise");
                    return Some(Event::default().event("error").data(body));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "status stream check failed; retrying");
                    self.next_check = now + RETRY;
                }
            }
        }
    }

    /// The current Status: the admitted one from memory while its pass is valid, else
    /// [`resolve`](crate::live::place::resolve).
    async fn check(&mut self) -> Result<Status, LiveError> {
        let replica = &self.replica;
        replica.metrics.status_requests.inc();
        if let Some(admitted) = &self.admitted {
            if admitted.pass_expires_at.is_some_and(|exp| Utc::now() < exp) {
                return Ok(admitted.clone());
            }
        }
        let snapshot = snapshot_for_token_holder(replica, &self.event).await?;
        let (status, _) = resolve_claim(replica, &snapshot, &self.place, None, Via::Status).await?;
        self.admitted = (status.state == QueueState::Admitted).then(|| status.clone());
        Ok(status)
    }
}

#[cfg(test)]
mod tests;
