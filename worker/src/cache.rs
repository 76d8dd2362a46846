//! Mirroring committed state to Redis, where every gateway reads it (the contract's
//! "Redis keys written by the worker"): event configs, availability snapshots, hold
//! documents, request results, and `ZREM active` when an order uses a pass up.
//!
//! PostgreSQL is the truth, Redis a cache: a failed write is logged, kept in order and
//! retried later (at most once a second while Redis is down), and never blocks acking
//! ([`RedisWriter`]). Each active shard consumer builds its writes with its own
//! [`ShardCache`] and sends them through its own writer, in its finisher task, so they
//! stay in order.
//!
//! Availability snapshots are coalesced: a snapshot holds every seat's status (200 KB
//! for a 200,000-seat venue), and every gateway replica reads it again when it changes,
//! so an event is written at most once per `availability_interval_ms`. A change inside
//! the interval waits for the next snapshot, which the shard writes when the interval
//! is over (with a later batch, or from its timer when idle), so a snapshot is at most
//! that interval behind the commits. A change of whether the event is sold out (no seat
//! available or held) is written at once: admission stops and resumes on it.

use crate::engine::{Effect, Engine};
use chrono::{DateTime, Utc};
use protocol::command::Envelope;
use protocol::ids::{EventId, RequestId};
use protocol::names::RedisKeys;
use protocol::reply::{HoldState, Outcome, StoredHold, StoredResult, StoredResultRef};
use redis::Pipeline;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

mod refresh;
mod writer;

pub(crate) use writer::RedisWriter;

fn json<T: Serialize>(value: &T) -> Option<String> {
    serde_json::to_string(value)
        .map_err(|e| tracing::error!(error = %e, "failed to serialise a Redis document"))
        .ok()
}

/// Lifetimes of the documents the worker writes for readers with a pass, in seconds
/// (settings `result_ttl_secs` and `refusal_ttl_secs`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ttls {
    /// Results of accepted requests, and hold documents.
    pub(crate) result: u64,
    /// Results of refused requests (status 400 and above).
    pub(crate) refusal: u64,
}

impl Ttls {
    fn of_result(&self, status: u16) -> u64 {
        if status >= 400 {
            self.refusal
        } else {
            self.result
        }
    }
}

/// What the writer knows of one event's availability snapshots.
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    /// When the last one was written (into a pipeline).
    written: Instant,
    /// Whether the event changed since.
    stale: bool,
    /// Whether the last one said sold out.
    sold_out: bool,
}

/// What one active shard consumer writes to Redis: the pipelines of its batches, snapshots,
/// refreshes and repairs, built from the engine (sent by a [`RedisWriter`]).
pub(crate) struct ShardCache {
    keys: RedisKeys,
    ttls: Ttls,
    /// Least time between two availability snapshots of an event (zero: every batch).
    snapshot_every: Duration,
    snapshots: HashMap<EventId, Snapshot>,
}

impl ShardCache {
    pub(crate) fn new(keys: RedisKeys, ttls: Ttls, snapshot_every: Duration) -> Self {
        Self {
            keys,
            ttls,
            snapshot_every,
            snapshots: HashMap::new(),
        }
    }

    /// The writes of one committed batch: documents of its effects, then the
    /// availability snapshots that are due (see the module's documentation): of the
    /// events this batch changed, and of those whose changes waited for the interval.
    /// One pipeline per part of `effects` (a new part starts at each index of `cuts`,
    /// ascending), the snapshots in the last.
    pub(crate) fn batch(
        &mut self,
        effects: &[Effect],
        cuts: &[usize],
        engine: &mut Engine,
        as_of: DateTime<Utc>,
    ) -> Vec<Pipeline> {
        let mut pipes = Vec::with_capacity(cuts.len() + 1);
        let mut pipe = redis::pipe();
        let mut dirty: HashSet<EventId> = HashSet::new();
        let ttl = self.ttls.result;
        let mut cuts = cuts.iter().peekable();
        for (i, e) in effects.iter().enumerate() {
            while cuts.next_if(|&&cut| cut <= i).is_some() {
                pipes.push(std::mem::replace(&mut pipe, redis::pipe()));
            }
            if e.changes_availability() {
                dirty.insert(e.event_id());
            }
            match e {
                Effect::EventCreated(c) | Effect::EventUpdated(c) => {
                    if let Some(doc) = json(c) {
                        pipe.set(self.keys.config(&c.id), doc).ignore();
                        pipe.sadd(self.keys.events(), c.id.to_string()).ignore();
                    }
                }
                Effect::HoldCreated(v) | Effect::HoldEnded(v) => {
                    if let Some(doc) = json(v) {
                        let key = self.keys.hold(&v.hold.event_id, &v.hold.id);
                        pipe.set_ex(key, doc, ttl).ignore();
                    }
                }
                Effect::OrderConfirmed { hold, .. } => {
                    if let Some(doc) = json(hold) {
                        let key = self.keys.hold(&hold.hold.event_id, &hold.hold.id);
                        pipe.set_ex(key, doc, ttl).ignore();
                    }
                    let active = self.keys.active(&hold.hold.event_id);
                    pipe.zrem(active, hold.ticket_id.to_string()).ignore();
                }
                // The seats' new statuses reach Redis with the availability snapshot.
                Effect::OrderCancelled { .. } => {}
                Effect::Result(r) if r.ticket_id.is_some() => {
                    let stored: StoredResultRef<'_> = r.stored();
                    if let Some(doc) = json(&stored) {
                        let status = stored.status;
                        self.push_result(&mut pipe, r.event_id, r.request_id, status, doc);
                    }
                }
                Effect::Result(_) => {}
            }
        }
        for _ in cuts {
            pipes.push(std::mem::replace(&mut pipe, redis::pipe()));
        }
        let written = self.due_snapshots(&mut pipe, engine, &dirty, as_of);
        let configs = effects.iter().filter_map(|e| match e {
            Effect::EventCreated(c) | Effect::EventUpdated(c) => Some(c.id),
            _ => None,
        });
        let changed: HashSet<EventId> = written.into_iter().chain(configs).collect();
        self.announce(&mut pipe, &changed);
        pipes.push(pipe);
        pipes
    }

    /// The snapshots whose changes waited and whose interval is over, with the change
    /// feed's announcement: what an idle shard writes from its timer.
    pub(crate) fn waiting_snapshots(&mut self, engine: &mut Engine) -> Pipeline {
        let mut pipe = redis::pipe();
        let written = self.due_snapshots(&mut pipe, engine, &HashSet::new(), Utc::now());
        self.announce(&mut pipe, &written.into_iter().collect());
        pipe
    }

    /// Marks `dirty` as changed, then adds to `pipe` the snapshot of every changed
    /// event that is due: its interval is over, or whether it is sold out flipped.
    /// Returns the events written.
    fn due_snapshots(
        &mut self,
        pipe: &mut Pipeline,
        engine: &mut Engine,
        dirty: &HashSet<EventId>,
        as_of: DateTime<Utc>,
    ) -> Vec<EventId> {
        let now = Instant::now();
        let every = self.snapshot_every;
        let mut due = Vec::new();
        for id in dirty {
            let sold_out = engine.sold_out(id).unwrap_or(false);
            match self.snapshots.get_mut(id) {
                Some(s) => {
                    s.stale = true;
                    if s.sold_out != sold_out {
                        due.push(*id);
                    }
                }
                None => due.push(*id),
            }
        }
        for (id, s) in &self.snapshots {
            if s.stale && now.duration_since(s.written) >= every && !due.contains(id) {
                due.push(*id);
            }
        }
        for id in &due {
            self.push_availability(pipe, engine, id, as_of);
            let sold_out = engine.sold_out(id).unwrap_or(false);
            self.snapshots.insert(
                *id,
                Snapshot {
                    written: now,
                    stale: false,
                    sold_out,
                },
            );
        }
        due
    }

    /// Tells the gateways, on the change feed, that the configs or availability of
    /// `events` changed. Sent after their writes in the same pipeline, so a replica that
    /// reads on the message sees them.
    fn announce(&self, pipe: &mut Pipeline, events: &HashSet<EventId>) {
        if events.is_empty() {
            return;
        }
        let mut message = String::from("c");
        for id in events {
            message.push(' ');
            message.push_str(&id.to_string());
        }
        pipe.publish(self.keys.changes(), message).ignore();
    }

    /// Adds the Redis side of commands answered from their stored result (replays):
    /// their request documents (immutable, so rewriting is safe), the document of a
    /// replayed hold that is still active, and `ZREM active` for a replayed order. A
    /// replay may follow a crash between commit and these writes.
    pub(crate) fn replays(
        &self,
        pipe: &mut Pipeline,
        engine: &Engine,
        replays: &[(&Envelope, &Outcome)],
    ) {
        let ttl = self.ttls.result;
        for (env, outcome) in replays {
            let Some(ticket) = env.command.ticket_id() else {
                continue;
            };
            let stored = StoredResult {
                request_id: env.request_id,
                event_id: env.event_id,
                ticket_id: Some(ticket),
                status: outcome.http_status(),
                body: outcome.http_body(),
            };
            if let Some(doc) = json(&stored) {
                self.push_result(pipe, stored.event_id, stored.request_id, stored.status, doc);
            }
            match outcome {
                Outcome::HoldCreated(h) => {
                    let view = engine.active_hold(&env.event_id, &h.id);
                    if let Some(doc) = view.as_ref().and_then(json) {
                        pipe.set_ex(self.keys.hold(&env.event_id, &h.id), doc, ttl)
                            .ignore();
                    }
                }
                Outcome::OrderConfirmed(_) => {
                    let active = self.keys.active(&env.event_id);
                    pipe.zrem(active, ticket.to_string()).ignore();
                }
                _ => {}
            }
        }
    }

    /// The documents of `holds` as PostgreSQL has them, and `ZREM active(E)` for the
    /// ticket of every confirmed one (its pass is used up), in pipelines of at most
    /// `chunk` holds: what a new owner rewrites at takeover, in case the previous owner
    /// died between a commit and its Redis writes.
    pub(crate) fn holds(&self, holds: &[StoredHold], chunk: usize) -> Vec<Pipeline> {
        holds
            .chunks(chunk.max(1))
            .map(|part| {
                let mut pipe = redis::pipe();
                for h in part {
                    if let Some(doc) = json(h) {
                        let key = self.keys.hold(&h.hold.event_id, &h.hold.id);
                        pipe.set_ex(key, doc, self.ttls.result).ignore();
                    }
                    if h.hold.state == HoldState::Confirmed {
                        let active = self.keys.active(&h.hold.event_id);
                        pipe.zrem(active, h.ticket_id.to_string()).ignore();
                    }
                }
                pipe
            })
            .collect()
    }

    /// The result document of a request (a refusal lives `refusal_ttl_secs` only), then
    /// the deletion of the gateway's `pending` marker: once the result is there the
    /// marker is not needed, and it must not outlive a short-lived refusal
    /// (`GET /v1/requests/{id}` would say `pending` again).
    fn push_result(
        &self,
        pipe: &mut Pipeline,
        event: EventId,
        request: RequestId,
        status: u16,
        doc: String,
    ) {
        let key = self.keys.request(&event, &request);
        pipe.set_ex(key, doc, self.ttls.of_result(status)).ignore();
        pipe.del(self.keys.pending(&event, &request)).ignore();
    }

    fn push_availability(
        &self,
        pipe: &mut Pipeline,
        engine: &mut Engine,
        id: &EventId,
        as_of: DateTime<Utc>,
    ) {
        if let Some(doc) = engine.availability(id, as_of).and_then(|a| json(&a)) {
            pipe.set(self.keys.availability(id), doc).ignore();
        }
    }
}
