//! Names of AMQP objects and Redis keys, shared by gateway and worker.
//!
//! Both are namespaced so several deployments (or parallel integration tests) can share
//! one broker and one Redis without seeing each other. The defaults are `anteroom`.
//!
//! Every Redis key of event `E` carries the hash tag `{E}`, so one Lua script touches one
//! Redis Cluster slot (docs/ARCHITECTURE.md).

use crate::ids::{EventId, RequestId};

/// AMQP names: exchange `{ns}.commands` (direct), queues `{ns}.shard.{k}` bound with
/// routing key `shard.{k}`, and the dead-letter queue `{ns}.dead`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpNames {
    namespace: String,
}

impl AmqpNames {
    /// Names under `namespace` (default deployment: `"anteroom"`).
    pub fn new(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
        }
    }

    /// The direct exchange every command is published to.
    pub fn commands_exchange(&self) -> String {
        format!("{}.commands", self.namespace)
    }

    /// Durable quorum queue of shard `k`, consumed with single active consumer.
    pub fn shard_queue(&self, shard: u16) -> String {
        format!("{}.shard.{shard}", self.namespace)
    }

    /// Durable quorum queue of dead letters: messages a worker could not decode, or
    /// commands PostgreSQL refused whose error outcome could not be stored either.
    /// Only the worker declares and publishes to it (through the default exchange).
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dead", self.namespace)
    }

    /// Routing key binding the commands exchange to shard `k`'s queue.
    pub fn shard_routing_key(shard: u16) -> String {
        format!("shard.{shard}")
    }
}

impl Default for AmqpNames {
    fn default() -> Self {
        Self::new("anteroom")
    }
}

/// RabbitMQ's direct reply-to pseudo queue (no declaration needed).
pub const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// Redis key names under a prefix (default `"anteroom"`).
///
/// Keys written by the worker: [`RedisKeys::config`], [`RedisKeys::availability`],
/// [`RedisKeys::hold`], [`RedisKeys::request`], [`RedisKeys::events`]; the worker also
/// removes a ticket from [`RedisKeys::active`] when its pass is used up by an order.
/// Every other key is the gateway's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisKeys {
    prefix: String,
}

impl RedisKeys {
    /// Keys under `prefix`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix, e.g. for gateway-owned keys: `{prefix}:{{E}}:...`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Common part of every key of event `E`: `{prefix}:{E}` with `E` as hash tag.
    pub fn event_base(&self, event: &EventId) -> String {
        format!("{}:{{{event}}}", self.prefix)
    }

    /// String: JSON [`crate::event::EventConfig`], written by the worker on create/patch.
    pub fn config(&self, event: &EventId) -> String {
        format!("{}:config", self.event_base(event))
    }

    /// String: JSON [`crate::availability::Availability`], written when the event's seats
    /// change, at most once per the worker's `availability_interval_ms`.
    pub fn availability(&self, event: &EventId) -> String {
        format!("{}:availability", self.event_base(event))
    }

    /// String: JSON [`crate::reply::StoredHold`] of hold `H`, written when it changes.
    pub fn hold(&self, event: &EventId, hold: &crate::ids::HoldId) -> String {
        format!("{}:hold:{hold}", self.event_base(event))
    }

    /// String: JSON [`crate::reply::StoredResult`] of request `R` (for `GET /v1/requests/{id}`).
    pub fn request(&self, event: &EventId, request: &RequestId) -> String {
        format!("{}:request:{request}", self.event_base(event))
    }

    /// String: the ticket id that made request `R`, written by the gateway when it
    /// answered `202` (`GET /v1/requests/{id}` says `pending` while it exists and no
    /// result does); the worker deletes it when it stores the result.
    pub fn pending(&self, event: &EventId, request: &RequestId) -> String {
        format!("{}:pending:{request}", self.event_base(event))
    }

    /// ZSET: admitted tickets whose pass is active, scored by pass expiry (Unix ms).
    pub fn active(&self, event: &EventId) -> String {
        format!("{}:active", self.event_base(event))
    }

    /// SET of all event ids (no hash tag: not used inside scripts).
    pub fn events(&self) -> String {
        format!("{}:events", self.prefix)
    }

    /// Pub/sub channel of the change feed: what replicas learn without polling each
    /// event. Messages are space-separated words: `c E…` (the worker wrote the config
    /// or availability of events `E…`), `a E` (a replica saw queue activity on `E`),
    /// `h …` (a replica's heartbeat, proving its own subscription works).
    pub fn changes(&self) -> String {
        format!("{}:changes", self.prefix)
    }
}

impl Default for RedisKeys {
    fn default() -> Self {
        Self::new("anteroom")
    }
}

/// How long stored request results and hold documents live in Redis, in seconds (7 days;
/// the worker's default `result_ttl_secs`).
pub const RESULT_TTL_SECONDS: u64 = 7 * 24 * 3600;

/// How long the stored result of a refused request (status 400 and above) lives in
/// Redis, in seconds (5 minutes; the worker's default `refusal_ttl_secs`). Its only
/// reader is the fan polling the `202`'s request URL, every few seconds
/// (`poll_after_ms`); a retry is answered by the worker, not from Redis. Refusals are
/// what a misbehaving client produces at will (taken seats, bad input), so they must not
/// pile up for [`RESULT_TTL_SECONDS`].
pub const REFUSAL_TTL_SECONDS: u64 = 5 * 60;

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn keys_carry_the_event_hash_tag() {
        let e = EventId::from_str("123e4567-e89b-12d3-a456-426614174000").unwrap();
        let k = RedisKeys::default();
        assert_eq!(
            k.config(&e),
            "anteroom:{123e4567-e89b-12d3-a456-426614174000}:config"
        );
        assert!(k
            .active(&e)
            .contains("{123e4567-e89b-12d3-a456-426614174000}"));
    }

    #[test]
    fn amqp_names() {
        let n = AmqpNames::default();
        assert_eq!(n.commands_exchange(), "anteroom.commands");
        assert_eq!(n.shard_queue(3), "anteroom.shard.3");
        assert_eq!(n.dead_letter_queue(), "anteroom.dead");
        assert_eq!(AmqpNames::shard_routing_key(3), "shard.3");
    }
}
