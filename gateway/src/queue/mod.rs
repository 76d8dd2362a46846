//! The virtual queue of each event, in Redis (`docs/ARCHITECTURE.md`).
//!
//! Every key of event `E` is `{ns}:{E}:...` with `{E}` as hash tag (one Cluster slot per
//! event, so each Lua script touches one slot). The gateway owns these keys:
//!
//! | key | type | content |
//! |---|---|---|
//! | `{ns}:{E}:seq` | string | arrival counter (also the number of new tickets: the joins total) |
//! | `{ns}:{E}:waiting` | zset | ticket → score: arrival number, or a negative lottery rank for the pre-queue |
//! | `{ns}:{E}:prequeue` | zset | ticket → arrival number; frozen at `opens_at`, then kept as the lottery's public record |
//! | `{ns}:{E}:shuffled` | string | lottery marker: `frozen` (pre-queue closed), then `done` |
//! | `{ns}:{E}:lottery` | list | the pre-queue in lottery order (rank 1 first), written by the shuffle |
//! | `{ns}:{E}:ticket:{T}` | hash | `seq`, `state` (prequeue/waiting/admitted/abandoned), `last_seen_ms`; `score` (waiting score) and `line` (lottery rank) once shuffled; `admitted_ms`, `pass_exp_ms` once admitted. Lazy for the waiting set: made when the fan is first seen (`status.lua`, `seen.lua`, a rejoin) or passed by admission; until then the ticket's waiting-set member stands for it (state waiting, `seq` = its score, seen at its join: the Unix ms of its UUIDv7 id) |
//! | `{ns}:{E}:bucket` | hash | admission token bucket: `tokens`, `last_ms` |
//! | `{ns}:{E}:stats` | hash | `admitted_total`, `abandoned_total`, `head_line` (line of the furthest ticket passed), `lottery_total`, `first_admit_ms` |
//! | `{ns}:{E}:admitted_per_sec` | hash | Unix second → admissions (last 60 s) |
//! | `{ns}:{E}:pending:{R}` | string | ticket id of a request answered `202` (for `/v1/requests`) |
//! | `{ns}:{E}:revoked` | zset | ticket → pass expiry (Unix ms): passes given up by leaving the queue or ended by the venue (`leave.lua`), refused for holds and confirms and by gate mode's check (each replica's copy: `gate/revoked.rs`); trimmed as they expire |
//! | `{ns}:{E}:epoch` | string | Unix ms at which this incarnation of the queue's keys began (set when the arrival counter starts or restarts): a ticket made before it that the queue does not know was lost with Redis's data, not left |
//! | `{ns}:{E}:restoring` | string | present for a grace period after a loss was detected: admission passes nobody |
//! | `{ns}:{E}:used_passes` | set | tickets whose pass an order used up, written by the worker when it rewrites its mirror after a loss: not counted again when presented |
//! | `{ns}:{E}:lost_passes` | string | placeholders `lost:1..n` held in `active(E)` for passes counted before a loss and not yet presented again |
//!
//! plus `active(E)` from `protocol::names::RedisKeys` (shared with the worker).
//!
//! Scripts: `join_group.lua` (new tickets, a group commit per event: `group_commit.rs`),
//! `join.lua` (rejoins and identity joins), `status.lua`, `leave.lua` (fans); `admission/admit.lua`, `freeze.lua` and
//! `shuffle.lua` (the admission loop, `admission/admitter.rs`); `view.lua` and `seen.lua` (each
//! replica's watcher, `live/watcher.rs`, which keeps status polls off Redis);
//! `restore.lua` and `restore_event.lua` after Redis lost its data ([`restore`]).
//!
//! A ticket's *line* is its place in admission order: its lottery rank for a shuffled
//! pre-queue ticket, else its arrival number. Admission passes lines in increasing order
//! and records the furthest one passed (`head_line`), from which [`estimate()`] derives a
//! position without a Redis call.

pub mod estimate;
pub mod group_commit;
mod join;
mod leave;
pub mod lottery;
pub mod restore;
mod shuffle;
mod stats;
mod status;
mod view;

pub use estimate::{estimate, Estimate};
pub use join::JoinOutcome;
pub use lottery::{commitment, lottery_order, verify, Lottery, VerifyError};
pub use restore::{Claim, PresentedPass, Remembered, Restored, SeqFloors};
pub use shuffle::ShuffleOutcome;
pub use stats::QueueStats;
pub use status::{derive_state, eta, poll_after_ms, Eta, QueueState, TicketState, TicketView};
pub use view::{QueueView, SeenTicket, ShuffleMarker};

use crate::adapters::redis_store::RedisStore;
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
    /// Lottery marker (`frozen`, then `done`).
    pub fn shuffled(&self) -> String {
        self.key("shuffled")
    }
    /// The pre-queue in lottery order.
    pub fn lottery(&self) -> String {
        self.key("lottery")
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
    /// Revoked passes: ticket → pass expiry (Unix ms), for fans who left while admitted.
    pub fn revoked(&self) -> String {
        self.key("revoked")
    }
    /// Start of this incarnation of the queue's keys (Unix ms).
    pub fn epoch(&self) -> String {
        self.key("epoch")
    }
    /// Admission pause after a loss.
    pub fn restoring(&self) -> String {
        self.key("restoring")
    }
    /// Count of placeholder passes in `active`.
    pub fn lost_passes(&self) -> String {
        self.key("lost_passes")
    }
    /// Tickets whose pass an order used up (written by the worker after a loss).
    pub fn used_passes(&self) -> String {
        self.key("used_passes")
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
    freeze: redis::Script,
    shuffle: redis::Script,
    view: redis::Script,
    seen: redis::Script,
    restore: redis::Script,
    restore_event: redis::Script,
}

/// The queue operations (cheap to clone).
#[derive(Clone)]
pub struct Queue {
    redis: RedisStore,
    keys: RedisKeys,
    scripts: Arc<Scripts>,
    commits: Arc<group_commit::GroupCommit>,
    floors: Arc<SeqFloors>,
    ticket_ttl_seconds: u64,
}

impl Queue {
    /// Queue operations on `redis`; ticket records live `ticket_ttl_seconds` after the
    /// last poll.
    pub fn new(redis: RedisStore, keys: RedisKeys, ticket_ttl_seconds: u64) -> Self {
        let floors = Arc::new(SeqFloors::default());
        let commits = group_commit::GroupCommit::new(
            redis.clone(),
            keys.clone(),
            ticket_ttl_seconds,
            floors.clone(),
        );
        Self {
            redis,
            keys,
            scripts: Arc::new(Scripts {
                join: redis::Script::new(include_str!("join.lua")),
                status: redis::Script::new(include_str!("status.lua")),
                leave: redis::Script::new(include_str!("leave.lua")),
                freeze: redis::Script::new(include_str!("freeze.lua")),
                shuffle: redis::Script::new(include_str!("shuffle.lua")),
                view: redis::Script::new(include_str!("view.lua")),
                seen: redis::Script::new(include_str!("seen.lua")),
                restore: redis::Script::new(include_str!("restore.lua")),
                restore_event: redis::Script::new(include_str!("restore_event.lua")),
            }),
            commits: Arc::new(commits),
            floors,
            ticket_ttl_seconds,
        }
    }

    /// `anteroom_join_commits_total`: group commits of new tickets
    /// ([`group_commit`]), for the metrics registry.
    pub fn join_commits(&self) -> &prometheus::IntCounter {
        self.commits.commits()
    }

    /// The key names of `event`'s queue.
    pub fn keys(&self, event: &EventId) -> QueueKeys {
        QueueKeys::new(&self.keys, event)
    }

    /// The Redis store.
    pub fn redis(&self) -> &RedisStore {
        &self.redis
    }

    /// Lifetime of ticket records after the last time their fan was seen, seconds.
    pub fn ticket_ttl_seconds(&self) -> u64 {
        self.ticket_ttl_seconds
    }

    /// The worker-written keys of `event` (config, availability).
    pub fn event_keys(&self) -> &RedisKeys {
        &self.keys
    }
}
