//! Each replica's copy of the revoked passes of the gated events it is asked about.
//!
//! Gate mode's check runs on every request to the venue's shop, so it must not cost a
//! Redis call. A pass is revoked in Redis (`queue/leave.lua`: the fan left, or the shop
//! ended the session), in the event's revoked set (ticket → pass expiry). Each replica
//! keeps a copy of that set per event:
//!
//! - The first check of an event on a replica reads the set at once (one
//!   `ZRANGEBYSCORE`); later checks only look at the copy.
//! - [`run`] re-reads the set of every event checked in the last [`WATCH_FOR`] every
//!   [`REFRESH_EVERY`], so a pass revoked on any replica is refused by every replica
//!   within about that period plus one Redis round trip (well under 1 s). An event not
//!   checked for [`WATCH_FOR`] is forgotten (and read afresh when checked again).
//! - A pass revoked through this replica is added to its copy at once.
//! - While Redis is unavailable the last set read is used; an event whose set was never
//!   read (Redis down at its first check) counts as having no revoked pass until a read
//!   succeeds: passes already issued keep working, as they do for holds (`LivePass`),
//!   and nobody is admitted meanwhile.

use crate::queue::Queue;
use crate::FastHash;
use protocol::ids::{EventId, TicketId};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How often the revoked sets of the events being checked are re-read.
pub const REFRESH_EVERY: Duration = Duration::from_millis(250);
/// How long after its last check an event's set is still refreshed.
pub const WATCH_FOR: Duration = Duration::from_secs(60);

/// The copies, by event (see the module doc).
#[derive(Default)]
pub struct RevokedPasses {
    events: Mutex<HashMap<EventId, EventCopy, FastHash>>,
}

struct EventCopy {
    tickets: HashSet<TicketId, FastHash>,
    /// Whether the set was read from Redis at least once.
    read: bool,
    /// When the event was last checked.
    asked_at: Instant,
}

impl EventCopy {
    fn new(now: Instant) -> Self {
        Self {
            tickets: HashSet::default(),
            read: false,
            asked_at: now,
        }
    }
}

impl RevokedPasses {
    /// Whether `ticket`'s pass for `event` is revoked, per this replica's copy; reads the
    /// set from Redis first if this replica never read it. Marks the event as checked.
    pub async fn is_revoked(&self, queue: &Queue, event: &EventId, ticket: &TicketId) -> bool {
        let now = Instant::now();
        let known = {
            let mut events = self.events.lock().expect("revoked passes poisoned");
            let copy = events.entry(*event).or_insert_with(|| EventCopy::new(now));
            copy.asked_at = now;
            copy.read.then(|| copy.tickets.contains(ticket))
        };
        match known {
            Some(revoked) => revoked,
            None => {
                self.refresh(queue, event).await;
                let mut events = self.events.lock().expect("revoked passes poisoned");
                let copy = events.entry(*event).or_insert_with(|| EventCopy::new(now));
                // Unread (Redis unavailable): no revoked pass until `run` reads the set,
                // rather than one more Redis attempt on every check meanwhile.
                copy.read = true;
                copy.tickets.contains(ticket)
            }
        }
    }

    /// Records a revocation made through this replica, before the next refresh.
    pub fn add(&self, event: &EventId, ticket: TicketId) {
        let mut events = self.events.lock().expect("revoked passes poisoned");
        if let Some(copy) = events.get_mut(event) {
            copy.tickets.insert(ticket);
        }
    }

    /// Re-reads `event`'s set from Redis; on failure the copy is left as it was.
    pub async fn refresh(&self, queue: &Queue, event: &EventId) {
        match queue.revoked_passes(event).await {
            Ok(tickets) => {
                let mut events = self.events.lock().expect("revoked passes poisoned");
                let copy = events
                    .entry(*event)
                    .or_insert_with(|| EventCopy::new(Instant::now()));
                copy.tickets = tickets.into_iter().collect();
                copy.read = true;
            }
            Err(e) => {
                tracing::debug!(event_id = %event, error = %e, "revoked passes not refreshed");
            }
        }
    }

    /// The events checked within [`WATCH_FOR`] of `now`; the others are forgotten.
    pub fn watched(&self, now: Instant) -> Vec<EventId> {
        let mut events = self.events.lock().expect("revoked passes poisoned");
        events.retain(|_, c| now.duration_since(c.asked_at) <= WATCH_FOR);
        events.keys().copied().collect()
    }
}

/// Refreshes the copies of the watched events every [`REFRESH_EVERY`] until `cancel`
/// fires.
pub async fn run(revoked: std::sync::Arc<RevokedPasses>, queue: Queue, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(REFRESH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        for event in revoked.watched(Instant::now()) {
            revoked.refresh(&queue, &event).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::redis_store::RedisStore;
    use protocol::names::RedisKeys;

    /// A queue whose Redis never connects (no connector runs): every call is refused
    /// after the 10 ms timeout.
    fn unreachable_queue() -> Queue {
        let redis = RedisStore::new("redis://127.0.0.1:1", Duration::from_millis(10)).unwrap();
        Queue::new(redis, RedisKeys::new("t"), 60)
    }

    #[tokio::test]
    async fn without_redis_the_copy_answers_and_is_kept_while_checked() {
        let (queue, revoked) = (unreachable_queue(), RevokedPasses::default());
        let (event, ticket, other) = (EventId::new(), TicketId::new(), TicketId::new());
        assert!(
            !revoked.is_revoked(&queue, &event, &ticket).await,
            "unread: none"
        );
        // Once tried, later checks answer from the copy: no Redis wait.
        let started = Instant::now();
        revoked.add(&event, ticket);
        assert!(revoked.is_revoked(&queue, &event, &ticket).await);
        assert!(!revoked.is_revoked(&queue, &event, &other).await);
        assert!(
            started.elapsed() < Duration::from_millis(10),
            "no Redis call"
        );
        // A failed refresh keeps the copy.
        revoked.refresh(&queue, &event).await;
        assert!(revoked.is_revoked(&queue, &event, &ticket).await);
        let now = Instant::now();
        assert_eq!(revoked.watched(now), vec![event]);
        assert!(revoked
            .watched(now + WATCH_FOR + Duration::from_secs(1))
            .is_empty());
        // Forgotten: the copy is gone and the next check reads the set afresh (here
        // Redis is down, so none).
        revoked.add(&event, other);
        assert!(!revoked.is_revoked(&queue, &event, &other).await);
    }
}
