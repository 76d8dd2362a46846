//! [`Live`]: what this replica knows about each event between Redis reads, shared by the
//! status path, the SSE streams and the watcher that refreshes it.
//!
//! - the cached queue view (`head_line`, counts, lottery marker) per event, never older
//!   than [`MAX_VIEW_AGE`] when used, and whose `head_line` only moves forward;
//! - a signal per event that changes when its public state or config changes, which
//!   wakes the status streams at once;
//! - the lottery record once the pre-queue was shuffled (ranks by ticket);
//! - the seat feed (`live/seat_feed.rs`);
//! - tickets seen since the last flush (status polls, open streams), and tickets known to
//!   no longer wait ("settled": answered from Redis).
//!
//! Seen marks are written to Redis at most once per fan per *seen refresh* window
//! ([`seen_refresh`]: a sixth of `abandon_after_seconds`, at most 10 s): a fan polling
//! twice a second costs one `HSET` per window, not two a second. The recorded
//! `last_seen_ms` may then lag a fan's last poll by up to one window, so admission allows
//! that much more before it calls a ticket abandoned (`admission/admitter.rs`): never early.
//!
//! Locks are `std` mutexes held for map lookups only, never across an `.await`. The maps
//! hash with [`crate::FastHash`] (their keys are event ids and verified tickets).

use super::seat_feed::SeatFeed;
use crate::queue::{Lottery, QueueView};
use crate::FastHash;
use protocol::event::PublicState;
use protocol::ids::{EventId, TicketId};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Tickets, by the status path's hasher.
pub type TicketSet = HashSet<TicketId, FastHash>;

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
    /// Until when statuses must come from Redis: the queue went back (Redis lost its
    /// data), so the view no longer says which tickets Redis holds.
    distrusted_until: Mutex<Option<Instant>>,
    /// Set while `distrusted_until` may be in the future (keeps the common check to one
    /// atomic load).
    distrusted: AtomicBool,
    /// Seat availability changes for the seats streams.
    pub seats: SeatFeed,
}

impl EventLive {
    fn new() -> Self {
        Self {
            view: watch::Sender::new(None),
            signal: watch::Sender::new(Signal::default()),
            lottery: Mutex::new(None),
            distrusted_until: Mutex::new(None),
            distrusted: AtomicBool::new(false),
            seats: SeatFeed::new(),
        }
    }

    /// The cached queue view if at most [`MAX_VIEW_AGE`] old.
    pub fn view(&self) -> Option<Arc<QueueView>> {
        self.view
            .borrow()
            .clone()
            .filter(|v| v.read_at.elapsed() <= MAX_VIEW_AGE)
    }

    /// The last queue view published, whatever its age.
    pub fn last_view(&self) -> Option<Arc<QueueView>> {
        self.view.borrow().clone()
    }

    /// Whether statuses may be answered from the view (see [`Live::distrust`]).
    pub fn trusted(&self) -> bool {
        if !self.distrusted.load(Ordering::Relaxed) {
            return true;
        }
        let mut until = self.distrusted_until.lock().expect("live poisoned");
        if until.is_some_and(|u| Instant::now() < u) {
            return false;
        }
        *until = None;
        self.distrusted.store(false, Ordering::Relaxed);
        true
    }

    /// The lottery record, once loaded.
    pub fn lottery(&self) -> Option<Arc<Lottery>> {
        self.lottery.lock().expect("live poisoned").clone()
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
    events: Mutex<HashMap<EventId, Arc<EventLive>, FastHash>>,
    seen: Mutex<SeenMarks>,
    seen_refresh: Duration,
    settled: Mutex<HashMap<TicketId, Instant, FastHash>>,
    closing: CancellationToken,
}

/// Seen marks not yet written (`pending`), and every ticket marked in the current
/// window (`recent`), which is not marked again until the window ends.
#[derive(Default)]
struct SeenMarks {
    pending: HashMap<EventId, TicketSet, FastHash>,
    recent: TicketSet,
    window_started: Option<Instant>,
}

/// The seen refresh window for `abandon_after_seconds`: a sixth of it, whole seconds, at
/// most 10 s (0 below 6 s: every poll's mark is written at the next flush).
pub fn seen_refresh(abandon_after_seconds: u64) -> Duration {
    Duration::from_secs((abandon_after_seconds / 6).min(10))
}

impl Live {
    /// Empty live state; every seen mark is written (no refresh window).
    pub fn new() -> Self {
        Self::default()
    }

    /// Empty live state writing a fan's seen mark at most once per `seen_refresh`.
    pub fn with_seen_refresh(seen_refresh: Duration) -> Self {
        Self(Arc::new(Inner {
            seen_refresh,
            ..Inner::default()
        }))
    }

    /// The seen refresh window: a fan's seen mark may lag by this much, so admission
    /// allows it on top of `abandon_after_seconds`.
    pub fn seen_refresh(&self) -> Duration {
        self.0.seen_refresh
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
        self.event(event).view()
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
        self.event(event).lottery()
    }

    /// Keeps the lottery record of `event`.
    pub fn set_lottery(&self, event: &EventId, lottery: Lottery) {
        *self.event(event).lottery.lock().expect("live poisoned") = Some(Arc::new(lottery));
    }

    /// Notes that `ticket` of `event` was seen: flushed by the watcher within ~1 s, unless
    /// it was already marked in the current seen refresh window.
    pub fn mark_seen(&self, event: &EventId, ticket: TicketId) {
        let mut seen = self.0.seen.lock().expect("live poisoned");
        if seen.recent.insert(ticket) {
            seen.pending.entry(*event).or_default().insert(ticket);
        }
    }

    /// Takes every ticket marked since the last call. Once the current window is over, a
    /// new one starts with just the tickets taken now (they are written now).
    pub fn take_seen(&self) -> HashMap<EventId, TicketSet, FastHash> {
        let mut seen = self.0.seen.lock().expect("live poisoned");
        let pending = std::mem::take(&mut seen.pending);
        let now = Instant::now();
        let over = seen
            .window_started
            .is_none_or(|start| now.duration_since(start) >= self.0.seen_refresh);
        if over {
            seen.recent = if self.0.seen_refresh.is_zero() {
                TicketSet::default()
            } else {
                pending.values().flatten().copied().collect()
            };
            seen.window_started = Some(now);
        }
        pending
    }

    /// Notes that `ticket` no longer waits: its status comes from Redis from now on.
    pub fn settle(&self, ticket: TicketId) {
        self.0
            .settled
            .lock()
            .expect("live poisoned")
            .insert(ticket, Instant::now());
    }

    /// Answers `event`'s statuses from Redis for `period` (each poll then puts back a
    /// ticket Redis lost), and flushes every fan seen from now on: the queue went back.
    pub fn distrust(&self, event: &EventId, period: Duration) {
        let live = self.event(event);
        *live.distrusted_until.lock().expect("live poisoned") = Some(Instant::now() + period);
        live.distrusted.store(true, Ordering::Relaxed);
        let mut seen = self.0.seen.lock().expect("live poisoned");
        seen.recent = TicketSet::default();
        seen.window_started = None;
    }

    /// Notes that `ticket` waits again (put back after Redis lost it): its status comes
    /// from the cached view again.
    pub fn unsettle(&self, ticket: &TicketId) {
        self.0.settled.lock().expect("live poisoned").remove(ticket);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(live: &Live, event: &EventId) -> HashSet<TicketId> {
        live.take_seen()
            .remove(event)
            .unwrap_or_default()
            .into_iter()
            .collect()
    }

    #[test]
    fn a_fan_is_written_once_per_seen_refresh_window() {
        let live = Live::with_seen_refresh(Duration::from_secs(3600));
        let (e, a, b) = (EventId::new(), TicketId::new(), TicketId::new());
        live.mark_seen(&e, a);
        live.mark_seen(&e, a);
        assert_eq!(taken(&live, &e), HashSet::from([a]));
        // Same window: `a` is not written again; a new fan is.
        live.mark_seen(&e, a);
        live.mark_seen(&e, b);
        assert_eq!(taken(&live, &e), HashSet::from([b]));
        live.mark_seen(&e, b);
        assert!(taken(&live, &e).is_empty());
    }

    #[test]
    fn without_a_window_every_flush_writes_the_fans_seen_since_the_last() {
        let live = Live::new();
        let (e, a) = (EventId::new(), TicketId::new());
        for _ in 0..3 {
            live.mark_seen(&e, a);
            live.mark_seen(&e, a);
            assert_eq!(taken(&live, &e), HashSet::from([a]));
        }
        assert!(taken(&live, &e).is_empty());
    }

    #[test]
    fn the_window_is_a_sixth_of_abandon_after_up_to_ten_seconds() {
        assert_eq!(seen_refresh(60), Duration::from_secs(10));
        assert_eq!(seen_refresh(300), Duration::from_secs(10));
        assert_eq!(seen_refresh(30), Duration::from_secs(5));
        assert_eq!(seen_refresh(5), Duration::ZERO);
    }
}
