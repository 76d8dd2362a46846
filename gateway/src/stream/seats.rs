//! The seats stream (`GET /v1/events/{id}/seats/stream`): `event: seats` frames of the
//! event's seat feed (`live/seat_feed.rs`), the full map first, then only the seats that
//! changed. A subscriber that falls behind (lagged, or a version gap) gets the full map
//! again.

use super::OpenGuard;
use crate::live::hub::EventLive;
use crate::live::seat_feed::Frame;
use crate::live::Replica;
use axum::response::sse::Event;
use futures::Stream;
use protocol::event::Seating;
use protocol::ids::EventId;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// A seats stream subscriber's state between events.
struct SeatFollow {
    live: Arc<EventLive>,
    seating: Seating,
    deltas: broadcast::Receiver<Frame>,
    version: u64,
    first: Option<Frame>,
    closing: CancellationToken,
    _open: OpenGuard,
}

fn seats_event(frame: &Frame) -> Event {
    Event::default().event("seats").data(&*frame.json)
}

/// The seats stream of `event`: `first` (a full map), then deltas. Subscribe to the
/// deltas ([`crate::live::seat_feed::SeatFeed::subscribe`]) BEFORE taking `first`, so nothing falls in between.
pub fn seat_events(
    replica: &Replica,
    event: EventId,
    seating: Seating,
    deltas: broadcast::Receiver<Frame>,
    first: Frame,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let gauge = replica.metrics.sse_streams.with_label_values(&["seats"]);
    gauge.inc();
    let follow = SeatFollow {
        live: replica.live.event(&event),
        seating,
        deltas,
        version: 0,
        first: Some(first),
        closing: replica.live.closing(),
        _open: OpenGuard(gauge),
    };
    futures::stream::unfold(follow, |mut f| async move {
        let frame = f.next_frame().await?;
        f.version = frame.to;
        Some((Ok(seats_event(&frame)), f))
    })
}

impl SeatFollow {
    async fn next_frame(&mut self) -> Option<Frame> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        loop {
            let received = tokio::select! {
                _ = self.closing.cancelled() => return None,
                r = self.deltas.recv() => r,
            };
            match received {
                Ok(d) if d.to <= self.version => {}
                Ok(d) if d.from == self.version => return Some(d),
                // A gap or a lag: resynchronise with the full map.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    match self.live.seats.full(&self.seating) {
                        Some(full) if full.to > self.version => return Some(full),
                        _ => {}
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
