//! The compact seats stream (`GET /v1/events/{id}/seats/stream?format=compact`):
//! `event: state` (the body of `GET …/seats/state`: two bits per seat), then `event:
//! delta` (`{from, to, as_of, changes: [[layout index, code], …]}`) for each snapshot of
//! the event's seat feed (`live/seat_feed.rs`). A subscriber that falls behind (lagged,
//! or a version gap) gets `event: state` again; a client that applies a delta only when
//! its `from` is the version it holds, and takes every state whole, always holds the
//! replica's latest snapshot once the stream is idle.

use super::OpenGuard;
use crate::live::hub::EventLive;
use crate::live::seat_feed::Frame;
use crate::live::Replica;
use crate::views::seat_state::{SeatState, ENCODING};
use axum::response::sse::Event;
use futures::Stream;
use protocol::availability::Availability;
use protocol::event::Seating;
use protocol::ids::EventId;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The JSON of a [`SeatState`] of `a` (every seat available at version 0 when `None`,
/// as of `fallback_as_of`).
pub fn state_json(
    event: EventId,
    layout_version: &str,
    a: Option<&Availability>,
    fallback_as_of: chrono::DateTime<chrono::Utc>,
    packed: &str,
) -> String {
    let state = SeatState {
        event_id: event,
        version: a.map_or(0, |a| a.version),
        as_of: a.map_or(fallback_as_of, |a| a.as_of),
        layout_version: layout_version.to_owned(),
        encoding: ENCODING,
        state: packed.to_owned(),
    };
    serde_json::to_string(&state).expect("seat states serialise")
}

/// The first event of a compact stream: the state at version `version`, or nothing
/// when the client already holds it (`since`).
pub struct FirstState {
    /// Version of the state (0 before the worker's first snapshot).
    pub version: u64,
    /// Its [`state_json`], or `None` to send no state first.
    pub json: Option<String>,
}

/// A compact stream subscriber's state between events.
struct CompactFollow {
    event: EventId,
    live: Arc<EventLive>,
    seating: Seating,
    layout_version: Arc<str>,
    deltas: broadcast::Receiver<Frame>,
    version: u64,
    first: Option<String>,
    closing: CancellationToken,
    _open: OpenGuard,
}

/// The compact seats stream of `event`, starting at `first`. Subscribe to the compact
/// deltas ([`crate::live::seat_feed::SeatFeed::subscribe_compact`]) BEFORE reading the
/// state of `first`, so nothing falls in between.
pub fn compact_seat_events(
    replica: &Replica,
    event: EventId,
    seating: Seating,
    layout_version: String,
    deltas: broadcast::Receiver<Frame>,
    first: FirstState,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let gauge = replica.metrics.sse_streams.with_label_values(&["seats"]);
    gauge.inc();
    let follow = CompactFollow {
        event,
        live: replica.live.event(&event),
        seating,
        layout_version: layout_version.into(),
        deltas,
        version: first.version,
        first: first.json,
        closing: replica.live.closing(),
        _open: OpenGuard(gauge),
    };
    futures::stream::unfold(follow, |mut f| async move {
        let event = f.next_event().await?;
        Some((Ok(event), f))
    })
}

impl CompactFollow {
    async fn next_event(&mut self) -> Option<Event> {
        if let Some(first) = self.first.take() {
            return Some(Event::default().event("state").data(first));
        }
        loop {
            let received = tokio::select! {
                _ = self.closing.cancelled() => return None,
                r = self.deltas.recv() => r,
            };
            match received {
                Ok(d) if d.to <= self.version => {}
                Ok(d) if d.from == self.version => {
                    self.version = d.to;
                    return Some(Event::default().event("delta").data(&*d.json));
                }
                // A gap or a lag: resynchronise with the whole state.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    match self.live.seats.packed(&self.seating) {
                        Some((a, packed)) if a.version > self.version => {
                            self.version = a.version;
                            let json = state_json(
                                self.event,
                                &self.layout_version,
                                Some(&a),
                                a.as_of,
                                &packed,
                            );
                            return Some(Event::default().event("state").data(json));
                        }
                        _ => {}
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
