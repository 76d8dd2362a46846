//! The AMQP topology of a deployment, as data: which exchange, queues and bindings exist,
//! and with which arguments. Gateway and worker both declare it, idempotently, on every
//! connection (the declaring code is `anteroom-runtime`'s `amqp` module); since both read
//! it from here, the two declarations cannot drift apart.
//!
//! - Exchange `{ns}.commands`: direct, durable. Every command is published to it with
//!   routing key `shard.{k}` ([`crate::shard_of`] gives `k`).
//! - For each shard `k`, queue `{ns}.shard.{k}`: durable **quorum** queue (replicated on
//!   a RabbitMQ cluster; unacked messages survive a broker restart) with **single active
//!   consumer** (the broker delivers a shard to exactly one worker at a time and hands it
//!   to a standby when that one goes away), bound to the exchange by `shard.{k}`.
//! - Queue `{ns}.dead`: durable quorum queue of dead letters, published to through the
//!   default exchange by the worker alone (see the worker's `dead_letters` module), so
//!   only the worker declares it.
//! - Replies travel through RabbitMQ's direct reply-to pseudo queue
//!   ([`DIRECT_REPLY_TO`]), which is never declared.
//!
//! RabbitMQ refuses to redeclare a queue with other arguments (`PRECONDITION_FAILED`), so
//! changing [`SHARD_QUEUE_ARGUMENTS`] or [`DEAD_LETTER_QUEUE_ARGUMENTS`] breaks every
//! running deployment on upgrade; docs/ARCHITECTURE.md explains the design. The one
//! configurable argument, [`QUORUM_INITIAL_GROUP_SIZE`] (how many replicas a new quorum
//! queue gets), is only added when set ([`Topology::with_quorum_group_size`]), so by
//! default the queues are declared without it and the broker places the replicas.
//! RabbitMQ compares it like the others: a queue declared again with another value, or
//! without it, is refused too (the `runtime` crate's broker tests check this against
//! RabbitMQ itself).
//!
//! No I/O here: this module only names things.

use crate::names::{AmqpNames, DIRECT_REPLY_TO};

/// Argument naming the queue type (`"quorum"`).
pub const QUEUE_TYPE: &str = "x-queue-type";
/// Argument turning on single active consumer (`true`).
pub const SINGLE_ACTIVE_CONSUMER: &str = "x-single-active-consumer";
/// Argument giving the number of replicas a quorum queue starts with (an integer).
pub const QUORUM_INITIAL_GROUP_SIZE: &str = "x-quorum-initial-group-size";
/// Largest accepted [`QUORUM_INITIAL_GROUP_SIZE`]: every write waits for a majority of
/// the replicas, and RabbitMQ advises against more than seven.
pub const MAX_QUORUM_GROUP_SIZE: u8 = 7;

/// The value of one queue argument (the AMQP field-table types the topology uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgumentValue {
    /// An AMQP long string.
    Text(&'static str),
    /// An AMQP boolean.
    Bool(bool),
    /// An AMQP signed 32-bit integer.
    Int(i32),
}

/// One queue argument: name and value, e.g. `("x-queue-type", Text("quorum"))`.
pub type Argument = (&'static str, ArgumentValue);

/// Arguments of every shard queue: quorum, single active consumer.
pub const SHARD_QUEUE_ARGUMENTS: [Argument; 2] = [
    (QUEUE_TYPE, ArgumentValue::Text("quorum")),
    (SINGLE_ACTIVE_CONSUMER, ArgumentValue::Bool(true)),
];

/// Arguments of the dead-letter queue: quorum (any number of consumers: operators read
/// it with `anteroom-worker dead-letters`).
pub const DEAD_LETTER_QUEUE_ARGUMENTS: [Argument; 1] =
    [(QUEUE_TYPE, ArgumentValue::Text("quorum"))];

/// The kind of an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    /// Routes a message to the queues bound with exactly its routing key.
    Direct,
}

/// An exchange to declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Its name, e.g. `anteroom.commands`.
    pub name: String,
    /// Its kind.
    pub kind: ExchangeKind,
    /// Survives a broker restart.
    pub durable: bool,
}

/// A queue to declare. Queues of the topology are never exclusive nor auto-deleted: they
/// outlive any one consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    /// Its name, e.g. `anteroom.shard.3`.
    pub name: String,
    /// Survives a broker restart (required for quorum queues).
    pub durable: bool,
    /// Its arguments, in declaration order.
    pub arguments: Vec<Argument>,
}

/// `base` followed by [`QUORUM_INITIAL_GROUP_SIZE`] when `group_size` is not 0.
fn quorum_arguments(base: &[Argument], group_size: u8) -> Vec<Argument> {
    let mut arguments = base.to_vec();
    if group_size > 0 {
        arguments.push((
            QUORUM_INITIAL_GROUP_SIZE,
            ArgumentValue::Int(i32::from(group_size)),
        ));
    }
    arguments
}

/// A binding of a queue to an exchange by a routing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The bound queue.
    pub queue: String,
    /// The exchange it is bound to.
    pub exchange: String,
    /// The routing key, e.g. `shard.3`.
    pub routing_key: String,
}

/// The topology of one deployment: a namespace, its number of shards and the initial
/// replica count of its quorum queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    names: AmqpNames,
    shards: u16,
    quorum_group_size: u8,
}

impl Topology {
    /// The topology of `shards` shards under `names`' namespace, its quorum queues
    /// replicated as the broker's default says.
    pub fn new(names: AmqpNames, shards: u16) -> Self {
        Self {
            names,
            shards,
            quorum_group_size: 0,
        }
    }

    /// The same topology with every quorum queue declared with
    /// `x-quorum-initial-group-size = group_size` replicas; 0 leaves the argument out
    /// (the broker's default: every cluster node). Callers validate the range
    /// (1..=[`MAX_QUORUM_GROUP_SIZE`] or 0).
    #[must_use]
    pub fn with_quorum_group_size(mut self, group_size: u8) -> Self {
        self.quorum_group_size = group_size;
        self
    }

    /// The initial replica count of its quorum queues; 0 = the broker's default.
    pub fn quorum_group_size(&self) -> u8 {
        self.quorum_group_size
    }

    /// The names it is built from.
    pub fn names(&self) -> &AmqpNames {
        &self.names
    }

    /// Number of shards (shard queues `0..shards`).
    pub fn shards(&self) -> u16 {
        self.shards
    }

    /// The direct, durable exchange every command is published to.
    pub fn commands_exchange(&self) -> Exchange {
        Exchange {
            name: self.names.commands_exchange(),
            kind: ExchangeKind::Direct,
            durable: true,
        }
    }

    /// Shard `shard`'s queue (durable, [`SHARD_QUEUE_ARGUMENTS`], then the group size
    /// if set).
    pub fn shard_queue(&self, shard: u16) -> Queue {
        Queue {
            name: self.names.shard_queue(shard),
            durable: true,
            arguments: quorum_arguments(&SHARD_QUEUE_ARGUMENTS, self.quorum_group_size),
        }
    }

    /// The binding of shard `shard`'s queue to the commands exchange.
    pub fn shard_binding(&self, shard: u16) -> Binding {
        Binding {
            queue: self.names.shard_queue(shard),
            exchange: self.names.commands_exchange(),
            routing_key: AmqpNames::shard_routing_key(shard),
        }
    }

    /// The dead-letter queue (durable, [`DEAD_LETTER_QUEUE_ARGUMENTS`], then the group
    /// size if set); declared by the worker only.
    pub fn dead_letter_queue(&self) -> Queue {
        Queue {
            arguments: quorum_arguments(&DEAD_LETTER_QUEUE_ARGUMENTS, self.quorum_group_size),
            ..dead_letter_queue(&self.names)
        }
    }

    /// The pseudo queue replies are sent to (direct reply-to; nothing to declare).
    pub fn reply_queue(&self) -> &'static str {
        DIRECT_REPLY_TO
    }
}

/// The dead-letter queue of `names`' namespace (durable, [`DEAD_LETTER_QUEUE_ARGUMENTS`],
/// the broker's default replica count), which does not depend on the number of shards.
pub fn dead_letter_queue(names: &AmqpNames) -> Queue {
    Queue {
        name: names.dead_letter_queue(),
        durable: true,
        arguments: DEAD_LETTER_QUEUE_ARGUMENTS.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The argument tables both binaries declared by hand before they shared this data,
    /// spelled out literally: a change here is a change of the broker contract.
    #[test]
    fn shard_queues_are_quorum_with_single_active_consumer() {
        let t = Topology::new(AmqpNames::new("anteroom"), 16);
        let q = t.shard_queue(3);
        assert_eq!(q.name, "anteroom.shard.3");
        assert!(q.durable);
        assert_eq!(
            q.arguments,
            [
                ("x-queue-type", ArgumentValue::Text("quorum")),
                ("x-single-active-consumer", ArgumentValue::Bool(true)),
            ]
        );
        assert_eq!(
            t.shard_binding(3),
            Binding {
                queue: "anteroom.shard.3".into(),
                exchange: "anteroom.commands".into(),
                routing_key: "shard.3".into(),
            }
        );
    }

    #[test]
    fn exchange_and_dead_letters() {
        let t = Topology::new(AmqpNames::new("ns_1"), 2);
        assert_eq!(
            t.commands_exchange(),
            Exchange {
                name: "ns_1.commands".into(),
                kind: ExchangeKind::Direct,
                durable: true,
            }
        );
        let dead = t.dead_letter_queue();
        assert_eq!(dead.name, "ns_1.dead");
        assert!(dead.durable);
        assert_eq!(
            dead.arguments,
            [("x-queue-type", ArgumentValue::Text("quorum"))]
        );
        assert_eq!(t.reply_queue(), "amq.rabbitmq.reply-to");
        assert_eq!(t.shards(), 2);
    }

    #[test]
    fn a_group_size_is_appended_to_every_quorum_queue_only_when_set() {
        let t = Topology::new(AmqpNames::default(), 4);
        assert_eq!(t.quorum_group_size(), 0);
        assert!(t
            .shard_queue(1)
            .arguments
            .iter()
            .all(|(name, _)| *name != "x-quorum-initial-group-size"));
        let t = t.with_quorum_group_size(3);
        assert_eq!(
            t.shard_queue(1).arguments,
            [
                ("x-queue-type", ArgumentValue::Text("quorum")),
                ("x-single-active-consumer", ArgumentValue::Bool(true)),
                ("x-quorum-initial-group-size", ArgumentValue::Int(3)),
            ]
        );
        assert_eq!(
            t.dead_letter_queue().arguments,
            [
                ("x-queue-type", ArgumentValue::Text("quorum")),
                ("x-quorum-initial-group-size", ArgumentValue::Int(3)),
            ]
        );
    }

    #[test]
    fn every_shard_has_its_own_queue_and_routing_key() {
        let t = Topology::new(AmqpNames::default(), 16);
        let queues: std::collections::HashSet<_> =
            (0..t.shards()).map(|k| t.shard_queue(k).name).collect();
        let keys: std::collections::HashSet<_> = (0..t.shards())
            .map(|k| t.shard_binding(k).routing_key)
            .collect();
        assert_eq!((queues.len(), keys.len()), (16, 16));
        assert!(queues.contains("anteroom.shard.15"));
        assert!(keys.contains("shard.0"));
    }
}
