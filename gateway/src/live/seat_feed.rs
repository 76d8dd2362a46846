//! The seat feed of an event: the latest seat map and its deltas, which the seats stream
//! (`stream/seats.rs`) sends as `event: seats` with `{as_of, version, full, seats: [{id,
//! status}]}`, the full map first, then only the seats that changed.
//!
//! Driven by the worker's availability snapshot: the watcher reads its version a few
//! times a second per event and, when it changed, fetches it once, diffs it against the
//! previous one and broadcasts the delta (serialised once) to every subscriber of this
//! replica ([`SeatFeed`]: a `watch` of the latest map, a `broadcast` of deltas). A
//! subscriber that falls behind (lagged, or a version gap) gets the full map again.
//!
//! The compact form of the same feed (`stream/compact_seats.rs`, `views/seat_state.rs`):
//! the latest snapshot packed two bits per seat (base64, made once per snapshot, also
//! the body of `GET …/seats/state`), and a second `broadcast` of deltas as `[layout
//! index, code]` pairs. Each form's deltas are made only while it has subscribers.

use crate::views::seat_state::{changes, pack_base64, SeatDelta};
use chrono::{DateTime, Utc};
use protocol::availability::{status, Availability};
use protocol::event::Seating;
use protocol::ids::EventId;
use serde::Serialize;
use std::sync::{Arc, OnceLock};
use tokio::sync::{broadcast, watch};
use utoipa::ToSchema;

/// Deltas kept for slow subscribers before they must resynchronise.
const DELTA_BACKLOG: usize = 64;

/// One seat in a seats event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SeatStatus {
    /// `{section}-{row}-{number}`.
    pub id: String,
    /// `available`, `held` or `sold`.
    pub status: &'static str,
}

/// Data of an `event: seats`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeatsEvent {
    /// When the worker's snapshot was taken.
    #[schema(value_type = String, format = DateTime)]
    pub as_of: DateTime<Utc>,
    /// Snapshot version (increases).
    pub version: u64,
    /// `true`: every seat (the first event, or a resynchronisation); `false`: changes.
    pub full: bool,
    /// Seats (all of them, or those that changed).
    pub seats: Vec<SeatStatus>,
}

/// A serialised seats event.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Version before the change (deltas), or 0 (full maps).
    pub from: u64,
    /// Version after it.
    pub to: u64,
    /// JSON of the [`SeatsEvent`].
    pub json: Arc<str>,
}

/// The latest snapshot of an event, with its full map and its packed state made on
/// first use.
struct Latest {
    availability: Arc<Availability>,
    full: OnceLock<Frame>,
    packed: OnceLock<Arc<str>>,
}

/// Latest map and deltas of one event on this replica.
pub struct SeatFeed {
    latest: watch::Sender<Option<Arc<Latest>>>,
    deltas: broadcast::Sender<Frame>,
    compact: broadcast::Sender<Frame>,
}

impl Default for SeatFeed {
    fn default() -> Self {
        Self::new()
    }
}

fn label(c: char) -> &'static str {
    match c {
        status::HELD => "held",
        status::SOLD => "sold",
        _ => "available",
    }
}

/// Seats of `seating` whose status differs between `old` (if any) and `new`; every seat
/// when there is no `old`. Seats missing from a snapshot count as available.
pub fn diff(seating: &Seating, old: Option<&Availability>, new: &Availability) -> Vec<SeatStatus> {
    let mut out = Vec::new();
    for section in &seating.sections {
        let statuses = |a: &Availability| -> Vec<char> {
            a.sections
                .iter()
                .find(|s| s.name == section.name)
                .map(|s| s.statuses.chars().collect())
                .unwrap_or_default()
        };
        let new_s = statuses(new);
        let old_s = old.map(statuses);
        let per_row = section.seats_per_row as usize;
        for i in 0..(section.rows as usize * per_row) {
            let now = new_s.get(i).copied().unwrap_or(status::AVAILABLE);
            let before = old_s
                .as_ref()
                .map(|o| o.get(i).copied().unwrap_or(status::AVAILABLE));
            if before != Some(now) {
                out.push(SeatStatus {
                    id: format!("{}-{}-{}", section.name, i / per_row + 1, i % per_row + 1),
                    status: label(now),
                });
            }
        }
    }
    out
}

fn frame(from: u64, a: &Availability, full: bool, seats: Vec<SeatStatus>) -> Frame {
    let event = SeatsEvent {
        as_of: a.as_of,
        version: a.version,
        full,
        seats,
    };
    let json = serde_json::to_string(&event).expect("seats events serialise");
    Frame {
        from,
        to: a.version,
        json: json.into(),
    }
}

impl SeatFeed {
    /// An empty feed.
    pub fn new() -> Self {
        Self {
            latest: watch::Sender::new(None),
            deltas: broadcast::channel(DELTA_BACKLOG).0,
            compact: broadcast::channel(DELTA_BACKLOG).0,
        }
    }

    /// Version of the latest snapshot, if any.
    pub fn version(&self) -> Option<u64> {
        self.latest
            .borrow()
            .as_ref()
            .map(|l| l.availability.version)
    }

    /// Publishes a new snapshot (ignored unless newer) and, to each form that has
    /// subscribers, broadcasts the seats that changed since the previous one.
    pub fn publish(&self, seating: &Seating, new: Arc<Availability>) {
        let previous = self.latest.borrow().clone();
        if let Some(p) = &previous {
            if p.availability.version >= new.version {
                return;
            }
            if self.deltas.receiver_count() > 0 {
                let changed = diff(seating, Some(&p.availability), &new);
                let _ = self
                    .deltas
                    .send(frame(p.availability.version, &new, false, changed));
            }
        }
        if self.compact.receiver_count() > 0 {
            // The first snapshot this replica sees is a delta from version 0, every seat
            // available: what a compact stream opened before it started from.
            let empty;
            let old = match &previous {
                Some(p) => &*p.availability,
                None => {
                    empty = nothing_sold(new.event_id, new.as_of, 0, seating);
                    &empty
                }
            };
            let delta = SeatDelta {
                from: old.version,
                to: new.version,
                as_of: new.as_of,
                changes: changes(seating, old, &new),
            };
            let json = serde_json::to_string(&delta).expect("seat deltas serialise");
            let _ = self.compact.send(Frame {
                from: delta.from,
                to: delta.to,
                json: json.into(),
            });
        }
        self.latest.send_replace(Some(Arc::new(Latest {
            availability: new,
            full: OnceLock::new(),
            packed: OnceLock::new(),
        })));
    }

    /// The full map of the latest snapshot, if any (serialised once per snapshot).
    pub fn full(&self, seating: &Seating) -> Option<Frame> {
        let latest = self.latest.borrow().clone()?;
        Some(
            latest
                .full
                .get_or_init(|| Self::full_of(seating, &latest.availability))
                .clone(),
        )
    }

    /// A full map of `a`.
    pub fn full_of(seating: &Seating, a: &Availability) -> Frame {
        frame(0, a, true, diff(seating, None, a))
    }

    /// Subscribes to the deltas.
    pub fn subscribe(&self) -> broadcast::Receiver<Frame> {
        self.deltas.subscribe()
    }

    /// Subscribes to the compact deltas: frames of [`SeatDelta`] JSON.
    pub fn subscribe_compact(&self) -> broadcast::Receiver<Frame> {
        self.compact.subscribe()
    }

    /// The latest snapshot and its `2bit` state in base64 (packed once per snapshot),
    /// if any.
    pub fn packed(&self, seating: &Seating) -> Option<(Arc<Availability>, Arc<str>)> {
        let latest = self.latest.borrow().clone()?;
        let packed = latest
            .packed
            .get_or_init(|| pack_base64(seating, Some(&latest.availability)).into())
            .clone();
        Some((latest.availability.clone(), packed))
    }

    /// The `2bit` state of `a` in base64: the one packed for the latest snapshot when
    /// `a` has its version, else packed now.
    pub fn packed_of(&self, seating: &Seating, a: &Availability) -> Arc<str> {
        let same = self.version() == Some(a.version);
        match self.packed(seating).filter(|_| same) {
            Some((latest, packed)) if latest.version == a.version => packed,
            _ => pack_base64(seating, Some(a)).into(),
        }
    }
}

/// A snapshot of `version` with every seat available.
fn nothing_sold(
    event: EventId,
    as_of: DateTime<Utc>,
    version: u64,
    seating: &Seating,
) -> Availability {
    Availability {
        event_id: event,
        as_of,
        version,
        total: seating.total_seats(),
        available: seating.total_seats(),
        held: 0,
        sold: 0,
        holds_active: 0,
        orders: 0,
        sections: Vec::new(),
    }
}

/// A frame with every seat available, for an event the worker has not snapshotted yet.
pub fn all_available(seating: &Seating, event: EventId, as_of: DateTime<Utc>) -> Frame {
    SeatFeed::full_of(seating, &nothing_sold(event, as_of, 0, seating))
}

#[cfg(test)]
mod tests;
