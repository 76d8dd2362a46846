//! The periodic rewrite of a shard's mirror (on takeover, after a loss of Redis's data,
//! and every `config_refresh_secs`), which writes and announces on the change feed only
//! what differs from what Redis holds (`refresh.lua`): thousands of unchanged events
//! cost the gateways nothing.

use super::{json, ShardCache};
use crate::engine::Engine;
use chrono::{DateTime, Utc};
use protocol::ids::EventId;
use redis::Pipeline;

/// `refresh.lua`: writes an event's config and availability where they differ from
/// Redis's, and announces the event on the change feed if it wrote anything.
const REFRESH_SCRIPT: &str = include_str!("refresh.lua");
/// Events per pipeline of the periodic refresh.
const REFRESH_CHUNK: usize = 200;

impl ShardCache {
    /// Config, `events` membership and availability of every event of the shard (on
    /// takeover and every `config_refresh_secs`: Redis may have lost them). Each event's
    /// documents are written only where they differ from Redis's, and only those events
    /// are announced on the change feed (`refresh.lua`): an unchanged event costs the
    /// gateways nothing.
    ///
    /// In pipelines of at most [`REFRESH_CHUNK`] events, so that a shard with thousands
    /// of events never sends one write that outlasts the Redis timeout (and is retried
    /// whole, ahead of the writes of later batches).
    pub(crate) fn refresh(&self, engine: &mut Engine, as_of: DateTime<Utc>) -> Vec<Pipeline> {
        let ids: Vec<EventId> = engine.events().map(|e| e.config().id).collect();
        ids.chunks(REFRESH_CHUNK)
            .map(|part| self.refresh_part(engine, part, as_of))
            .collect()
    }

    /// The writes of `ids` (one chunk of [`ShardCache::refresh`]).
    fn refresh_part(&self, engine: &mut Engine, ids: &[EventId], as_of: DateTime<Utc>) -> Pipeline {
        let mut pipe = redis::pipe();
        for id in ids {
            let Some(doc) = engine.event(id).and_then(|e| json(e.config())) else {
                continue;
            };
            let availability = engine
                .availability(id, as_of)
                .and_then(|a| json(&a))
                .unwrap_or_default();
            pipe.cmd("EVAL")
                .arg(REFRESH_SCRIPT)
                .arg(2)
                .arg(self.keys.config(id))
                .arg(self.keys.availability(id))
                .arg(doc)
                .arg(availability)
                .arg(self.keys.changes())
                .arg(id.to_string())
                .ignore();
            pipe.sadd(self.keys.events(), id.to_string()).ignore();
        }
        pipe
    }
}
