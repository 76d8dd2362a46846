//! The virtual queue of each event, in Redis (DESIGN.md, "The queue").
//!
//! Every key of event `E` is `{ns}:{E}:...` with `{E}` as hash tag (one Cluster slot per
//! event, so each Lua script touches one slot). The gateway owns these keys:
//!
//! | key | type | content |
//! |---|---|---|
//! | `{ns}:{E}:seq` | string | arrival counter |
//! | `{ns}:{E}:waiting` | zset | ticket → score: arrival number, or a negative lottery rank for the pre-queue |
//! | `{ns}:{E}:prequeue` | zset | ticket → arrival number, until the shuffle at `opens_at` |
//! | `{ns}:{E}:shuffled` | string | set once the pre-queue was shuffled |
//! | `{ns}:{E}:ticket:{T}` | hash | `seq`, `score`, `state` (prequeue/waiting/admitted/abandoned), `joined_ms`, `last_seen_ms`, `admitted_ms`, `pass_exp_ms` |
//! | `{ns}:{E}:bucket` | hash | admission token bucket: `tokens`, `last_ms` |
//! | `{ns}:{E}:stats` | hash | `joins_total`, `admitted_total`, `abandoned_total` |
//! | `{ns}:{E}:admitted_per_sec` | hash | Unix second → admissions (last 60 s) |
//! | `{ns}:{E}:pending:{R}` | string | ticket id of a request answered `202` (for `/v1/requests`) |
//!
//! plus `active(E)` from `protocol::names::RedisKeys` (shared with the worker).
//! Scripts: `join.lua`, `status.lua`, `leave.lua` (this module's submodules),
//! `admit.lua` and `shuffle.lua` (run by the admission loop, `admitter.rs`).

mod admit;
mod join;
mod leave;
mod stats;
mod status;

pub use admit::{lottery_order, AdmitParams, AdmitResult};
pub use join::JoinOutcome;
pub use stats::QueueStats;
pub use status::{derive_state, eta, poll_after_ms, Eta, QueueState, TicketState, TicketView};

use crate::redis_store::RedisStore;
use protocol::ids::{EventId, TicketId};
use protocol::names::RedisKeys;
use std::sync::Arc;

/// Key names of one event's queue.
#[derive(Debug, Clone)]
pub struct QueueKeys {
    base: String,
    active: String,
}

impl QueueKeys {
    /// The keys of `event` under `keys`' prefix.
    pub fn new(keys: &RedisKeys, event: &EventId) -> Self {
        Self {
            base: keys.event_base(event),
            active: keys.active(event),
        }
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.base)
    }

    /// Arrival counter.
    pub fn seq(&self) -> String {
        self.key("seq")
    }
    /// Waiting ZSET.
    pub fn waiting(&self) -> String {
        self.key("waiting")
    }
    /// Pre-queue ZSET.
    pub fn prequeue(&self) -> String {
        self.key("prequeue")
    }
    /// Shuffle marker.
    pub fn shuffled(&self) -> String {
        self.key("shuffled")
    }
    /// Prefix of ticket records (`…:ticket:`).
    pub fn ticket_prefix(&self) -> String {
        self.key("ticket:")
    }
    /// Record of `ticket`.
    pub fn ticket(&self, ticket: &TicketId) -> String {
        format!("{}{ticket}", self.ticket_prefix())
    }
    /// Token bucket.
    pub fn bucket(&self) -> String {
        self.key("bucket")
    }
    /// Counters.
    pub fn stats(&self) -> String {
        self.key("stats")
    }
    /// Admissions per second.
    pub fn per_second(&self) -> String {
        self.key("admitted_per_sec")
    }
    /// Marker of a request answered `202`.
    pub fn pending(&self, request: &protocol::ids::RequestId) -> String {
        self.key(&format!("pending:{request}"))
    }
    /// Active passes (shared with the worker).
    pub fn active(&self) -> String {
        self.active.clone()
    }
}

struct Scripts {
    join: redis::Script,
    status: redis::Script,
    leave: redis::Script,
    admit: redis::Script,
    shuffle: redis::Script,
}

/// The queue operations (cheap to clone).
#[derive(Clone)]
pub struct Queue {
    redis: RedisStore,
    keys: RedisKeys,
    scripts: Arc<Scripts>,
    ticket_ttl_seconds: u64,
}

impl Queue {
    /// Queue operations on `redis`; ticket records live `ticket_ttl_seconds` after the
    /// last poll.
    pub fn new(redis: RedisStore, keys: RedisKeys, ticket_ttl_seconds: u64) -> Self {
        Self {
            redis,
            keys,
            scripts: Arc::new(Scripts {
                join: redis::Script::new(include_str!("join.lua")),
                status: redis::Script::new(include_str!("status.lua")),
                leave: redis::Script::new(include_str!("leave.lua")),
                admit: redis::Script::new(include_str!("admit.lua")),
                shuffle: redis::Script::new(include_str!("shuffle.lua")),
            }),
            ticket_ttl_seconds,
        }
    }

    /// The key names of `event`'s queue.
    pub fn keys(&self, event: &EventId) -> QueueKeys {
        QueueKeys::new(&self.keys, event)
    }

    /// The Redis store.
    pub fn redis(&self) -> &RedisStore {
        &self.redis
    }
}
