//! Which events this replica watches closely: the few that can have queue activity.
//!
//! An event is *watched* (its queue view read by the watcher every
//! [`super::watcher::REFRESH`], its admission step run by the admitter) while any of these
//! holds, and for [`LINGER`] after:
//! - fans ask this replica about it (a join, a status poll, an open status stream:
//!   [`Interest::demand`]);
//! - another replica announced activity on it (the change feed's `a E`, sent by a
//!   replica the first time fans ask it about an event, see [`Interest::take_outbox`]);
//! - its last view shows fans waiting, in the pre-queue, or holding a live pass.
//!
//! Every other event (however many: past events, events months away) costs nothing
//! between changes, which the change feed announces (`live/feed.rs`). An archived event
//! is never watched ([`may_need_watching`]).

use crate::queue::QueueView;
use crate::FastHash;
use protocol::event::{EventConfig, PublicState};
use protocol::ids::EventId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an event stays watched after its last sign of activity.
pub const LINGER: Duration = Duration::from_secs(30);

/// A replica announces an event it is asked about at most this often.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(10);

/// Whether an event with `config` may ever need a replica's attention. An archived
/// event's queue is over for good: it is never watched, never admitted, and its
/// per-event metrics series are removed.
pub fn may_need_watching(config: &EventConfig) -> bool {
    !config.is_archived()
}

/// Whether an event in `state` whose queue shows `view` needs a replica's attention:
/// fans waiting, in the pre-queue, or with a live pass, in a queue that can still move.
/// Fans left in a closed, paused or sold-out queue wait for a change, which the change
/// feed announces.
pub fn has_fans(state: PublicState, view: &QueueView) -> bool {
    matches!(
        state,
        PublicState::Open | PublicState::Prequeue | PublicState::Scheduled
    ) && (view.waiting > 0 || view.prequeue > 0 || view.active > 0)
}

/// This replica's interest in events (cheap to clone; one mutex, held for map
/// operations only).
#[derive(Clone, Default)]
pub struct Interest(Arc<Mutex<State>>);

#[derive(Default)]
struct State {
    /// When fans last asked this replica about each event.
    demanded: HashMap<EventId, Instant, FastHash>,
    /// Until when each event is watched for other reasons (announced, has fans).
    until: HashMap<EventId, Instant, FastHash>,
    /// When each event was last announced.
    announced: HashMap<EventId, Instant, FastHash>,
    /// Events to announce on the change feed.
    outbox: Vec<EventId>,
    /// Events never to watch (archived).
    ignored: std::collections::HashSet<EventId, FastHash>,
}

impl Interest {
    /// Fans asked about `event` (a join, a status): watched from now on, and announced to
    /// the other replicas if it was not asked about in the last [`ANNOUNCE_EVERY`].
    pub fn demand(&self, event: &EventId) {
        let now = Instant::now();
        let mut s = self.0.lock().expect("interest poisoned");
        if s.ignored.contains(event) {
            return;
        }
        s.demanded.insert(*event, now);
        let due = s
            .announced
            .get(event)
            .is_none_or(|at| now.duration_since(*at) >= ANNOUNCE_EVERY);
        if due {
            s.announced.insert(*event, now);
            s.outbox.push(*event);
        }
    }

    /// Watches `event` for [`LINGER`] (activity announced by another replica, or fans in
    /// its queue).
    pub fn keep(&self, event: &EventId) {
        let mut s = self.0.lock().expect("interest poisoned");
        if !s.ignored.contains(event) {
            s.until.insert(*event, Instant::now() + LINGER);
        }
    }

    /// Never watches `event` again (it is archived); returns whether it was watched or
    /// unknown until now, i.e. whether its metrics series may still exist.
    pub fn ignore(&self, event: &EventId) -> bool {
        let mut s = self.0.lock().expect("interest poisoned");
        s.demanded.remove(event);
        s.until.remove(event);
        s.ignored.insert(*event)
    }

    /// Watches `event` again if it was ignored (a config that is no longer archived).
    pub fn unignore(&self, event: &EventId) {
        self.0
            .lock()
            .expect("interest poisoned")
            .ignored
            .remove(event);
    }

    /// Events to announce as active, taken (each at most once per [`ANNOUNCE_EVERY`]
    /// while fans keep asking).
    pub fn take_outbox(&self) -> Vec<EventId> {
        std::mem::take(&mut self.0.lock().expect("interest poisoned").outbox)
    }

    /// The events watched now; forgets those whose interest ran out.
    pub fn watched(&self) -> Vec<EventId> {
        let now = Instant::now();
        let mut s = self.0.lock().expect("interest poisoned");
        s.demanded.retain(|_, at| now.duration_since(*at) < LINGER);
        s.announced
            .retain(|_, at| now.duration_since(*at) < ANNOUNCE_EVERY);
        s.until.retain(|_, until| now < *until);
        let mut out: Vec<EventId> = s.demanded.keys().copied().collect();
        out.extend(s.until.keys().filter(|e| !s.demanded.contains_key(e)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demand_watches_and_announces_once_per_period() {
        let interest = Interest::default();
        let (a, b) = (EventId::new(), EventId::new());
        assert!(interest.watched().is_empty());
        interest.demand(&a);
        interest.demand(&a);
        interest.keep(&b);
        let mut watched = interest.watched();
        watched.sort_by_key(|e| e.0);
        let mut expected = vec![a, b];
        expected.sort_by_key(|e| e.0);
        assert_eq!(watched, expected);
        assert_eq!(interest.take_outbox(), vec![a], "announced once");
        interest.demand(&a);
        assert!(interest.take_outbox().is_empty());
    }

    #[test]
    fn an_ignored_event_is_never_watched() {
        let interest = Interest::default();
        let a = EventId::new();
        interest.demand(&a);
        assert!(interest.ignore(&a));
        assert!(!interest.ignore(&a), "already ignored");
        interest.demand(&a);
        interest.keep(&a);
        assert!(interest.watched().is_empty());
        interest.unignore(&a);
        interest.keep(&a);
        assert_eq!(interest.watched(), vec![a]);
    }

    #[test]
    fn an_archived_event_never_needs_watching() {
        let config = |state: &str| -> EventConfig {
            serde_json::from_value(serde_json::json!({
                "id": EventId::new(),
                "spec": {
                    "name": "n", "venue": "v", "timezone": "UTC",
                    "opens_at": "2026-01-01T00:00:00Z",
                    "admission": {"rate_per_minute": 60, "max_active": 10, "pass_ttl_seconds": 600},
                    "hold_ttl_seconds": 60, "max_seats_per_hold": 2,
                    "seating": {"sections": [
                        {"name": "A", "rows": 1, "seats_per_row": 10, "price_cents": 1}
                    ]}
                },
                "admin_state": state,
                "shuffle_commitment": null, "shuffle_seed": null, "version": 1,
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
            }))
            .expect("a valid config")
        };
        for state in ["open", "paused", "closed"] {
            assert!(may_need_watching(&config(state)), "{state}");
        }
        assert!(!may_need_watching(&config("archived")));
    }
}
