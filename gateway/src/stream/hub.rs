//! [`Live`]: what this replica knows about each event between Redis reads, shared by the
//! status path, the SSE streams and the watcher that refreshes it.
//!
//! - the cached queue view (`head_line`, counts, lottery marker) per event, never older
//!   than [`MAX_VIEW_AGE`] when used, and whose `head_line` only moves forward;
//! - a signal per event that changes when its public state or config changes, which
//!   wakes the status streams at once;
//! - the lottery record once the pre-queue was shuffled (ranks by ticket);
//! - the seat feed (`stream/seats.rs`);
//! - tickets seen since the last flush (status polls, open streams), and tickets known to
//!   no longer wait ("settled": answered from Redis).
//!
//! Locks are `std` mutexes held for map lookups only, never across an `.await`.

use super::seats::SeatFeed;
use crate::queue::{Lottery, QueueView};
use protocol::event::PublicState;
use protocol::ids::{EventId, TicketId};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Oldest cached view a status may be derived from; older (the watcher cannot reach
/// Redis) and the status is read from Redis, which then answers `503` if it is down.
pub const MAX_VIEW_AGE: Duration = Duration::from_secs(2);

/// How long a settled ticket is remembered.
const SETTLED_TTL: Duration = Duration::from_secs(3600);

/// What status streams wake up for: the event's public state and config version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Signal {
    /// Public state (`None` until the first refresh).
    pub state: Option<PublicState>,
    /// Config version.
    pub config_version: u64,
}

/// One event's live state.
pub struct EventLive {
    view: watch::Sender<Option<Arc<QueueView>>>,
    signal: watch::Sender<Signal>,
    lottery: Mutex<Option<Arc<Lottery>>>,
    /// Seat availability changes for the seats streams.
    pub seats: SeatFeed,
}

impl EventLive {
    fn new() -> Self {
        Self {
            view: watch::Sender::new(None),
            signal: watch::Sender::new(Signal::default()),
            lottery: Mutex::new(None),
            seats: SeatFeed::new(),
        }
    }

    /// A receiver that changes with the event's public state or config.
    pub fn signal(&self) -> watch::Receiver<Signal> {
        self.signal.subscribe()
    }
}

/// Per-replica live state (cheap to clone).
#[derive(Clone, Default)]
pub struct Live(Arc<Inner>);

#[derive(Default)]
struct Inner {
    events: Mutex<HashMap<EventId, Arc<EventLive>>>,
    seen: Mutex<HashMap<EventId, HashSet<TicketId>>>,
    settled: Mutex<HashMap<TicketId, Instant>>,
    closing: CancellationToken,
}

impl Live {
    /// Empty live state.
    pub fn new() -> Self {
        Self::default()
    }

    /// The live state of `event` (created on first use).
    pub fn event(&self, event: &EventId) -> Arc<EventLive> {
        self.0
            .events
            .lock()
            .expect("live poisoned")
            .entry(*event)
            .or_insert_with(|| Arc::new(EventLive::new()))
            .clone()
    }

    /// The cached view of `event` if at most [`MAX_VIEW_AGE`] old.
    pub fn view(&self, event: &EventId) -> Option<Arc<QueueView>> {
        self.event(event)
            .view
            .borrow()
            .clone()
            .filter(|v| v.read_at.elapsed() <= MAX_VIEW_AGE)
    }

    /// Installs a fresh view; `head_line` never moves back (see [`Live::advance_head`]).
    pub fn publish_view(&self, event: &EventId, mut view: QueueView) {
        self.event(event).view.send_modify(|current| {
            if let Some(old) = current {
                view.head_line = view.head_line.max(old.head_line);
            }
            *current = Some(Arc::new(view));
        });
    }

    /// Records that admission passed `line` (a ticket was read from Redis as admitted or
    /// abandoned), so positions on this replica never lag what a fan was already told.
    pub fn advance_head(&self, event: &EventId, line: u64) {
        self.event(event)
            .view
            .send_if_modified(|current| match current {
                Some(v) if v.head_line < line => {
                    let mut next = QueueView::clone(v);
                    next.head_line = line;
                    *current = Some(Arc::new(next));
                    true
                }
                _ => false,
            });
    }

    /// Updates `event`'s signal; wakes its status streams only if it changed.
    pub fn set_signal(&self, event: &EventId, signal: Signal) {
        self.event(event).signal.send_if_modified(|s| {
            let changed = *s != signal;
            *s = signal;
            changed
        });
    }

    /// The lottery record of `event`, once loaded.
    pub fn lottery(&self, event: &EventId) -> Option<Arc<Lottery>> {
        self.event(event)
            .lottery
            .lock()
            .expect("live poisoned")
            .clone()
    }

    /// Keeps the lottery record of `event`.
    pub fn set_lottery(&self, event: &EventId, lottery: Lottery) {
        *self.event(event).lottery.lock().expect("live poisoned") = Some(Arc::new(lottery));
    }

    /// Notes that `ticket` of `event` was seen (flushed by the watcher within ~1 s).
    pub fn mark_seen(&self, event: &EventId, ticket: TicketId) {
        self.0
            .seen
            .lock()
            .expect("live poisoned")
            .entry(*event)
            .or_default()
            .insert(ticket);
    }

    /// Takes every ticket seen since the last call.
    pub fn take_seen(&self) -> HashMap<EventId, HashSet<TicketId>> {
        std::mem::take(&mut *self.0.seen.lock().expect("live poisoned"))
    }

    /// Notes that `ticket` no longer waits: its status comes from Redis from now on.
    pub fn settle(&self, ticket: TicketId) {
        self.0
            .settled
            .lock()
            .expect("live poisoned")
            .insert(ticket, Instant::now());
    }

    /// Whether `ticket` is known to no longer wait.
    pub fn is_settled(&self, ticket: &TicketId) -> bool {
        self.0
            .settled
            .lock()
            .expect("live poisoned")
            .contains_key(ticket)
    }

    /// Forgets settled tickets older than an hour (their fans have stopped polling).
    pub fn prune(&self) {
        self.0
            .settled
            .lock()
            .expect("live poisoned")
            .retain(|_, at| at.elapsed() < SETTLED_TTL);
    }

    /// Fires when the server shuts down: open streams end so the drain can finish.
    pub fn closing(&self) -> CancellationToken {
        self.0.closing.clone()
    }

    /// Ends every open stream (called when shutdown starts).
    pub fn close(&self) {
        self.0.closing.cancel();
    }
}
