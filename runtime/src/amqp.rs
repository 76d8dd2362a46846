//! Declaring the AMQP topology of [`protocol::topology`] on a `lapin` channel. Gateway
//! and worker both call these on every new connection; declarations are idempotent, so
//! a queue deleted by an operator comes back and a second declaration by another
//! process is a no-op. RabbitMQ answers `PRECONDITION_FAILED` (and closes the channel)
//! if an existing exchange or queue has other properties.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::Channel;
use protocol::names::AmqpNames;
use protocol::topology::{
    ArgumentValue, Binding, Exchange, ExchangeKind, Queue, Topology, SHARD_QUEUE_ARGUMENTS,
};
use tracing::instrument;

/// `arguments` as a `lapin` field table.
pub fn field_table(arguments: &[protocol::topology::Argument]) -> FieldTable {
    let mut table = FieldTable::default();
    for (name, value) in arguments {
        let value = match value {
            ArgumentValue::Text(s) => AMQPValue::LongString(LongString::from(*s)),
            ArgumentValue::Bool(b) => AMQPValue::Boolean(*b),
        };
        table.insert((*name).into(), value);
    }
    table
}

/// The arguments of every shard queue, as a field table (for tests that declare shard
/// queues themselves).
pub fn shard_queue_arguments() -> FieldTable {
    field_table(&SHARD_QUEUE_ARGUMENTS)
}

/// Declares `exchange` (not auto-deleted, not internal, no arguments).
///
/// # Errors
/// The broker refused the declaration.
pub async fn declare_exchange(channel: &Channel, exchange: &Exchange) -> lapin::Result<()> {
    let kind = match exchange.kind {
        ExchangeKind::Direct => lapin::ExchangeKind::Direct,
    };
    channel
        .exchange_declare(
            &exchange.name,
            kind,
            ExchangeDeclareOptions {
                durable: exchange.durable,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
}

/// Declares `queue`: not exclusive and not auto-deleted (it outlives any one consumer,
/// which is the point), durable as the data says, with its arguments.
///
/// # Errors
/// The broker refused the declaration (e.g. the queue exists with other arguments).
pub async fn declare_queue(channel: &Channel, queue: &Queue) -> lapin::Result<()> {
    channel
        .queue_declare(
            &queue.name,
            QueueDeclareOptions {
                durable: queue.durable,
                ..QueueDeclareOptions::default()
            },
            field_table(queue.arguments),
        )
        .await
        .map(|_| ())
}

/// Binds `binding.queue` to `binding.exchange` by its routing key.
///
/// # Errors
/// The broker refused the binding (e.g. the queue or exchange does not exist).
pub async fn bind(channel: &Channel, binding: &Binding) -> lapin::Result<()> {
    channel
        .queue_bind(
            &binding.queue,
            &binding.exchange,
            &binding.routing_key,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// Declares the commands exchange, shard `shard`'s queue and its binding (a shard
/// consumer does this at the start of every session).
///
/// # Errors
/// The broker refused a declaration.
pub async fn declare_shard(
    channel: &Channel,
    topology: &Topology,
    shard: u16,
) -> lapin::Result<()> {
    declare_exchange(channel, &topology.commands_exchange()).await?;
    declare_queue(channel, &topology.shard_queue(shard)).await?;
    bind(channel, &topology.shard_binding(shard)).await
}

/// Declares the commands exchange and every shard queue with its binding: what a
/// publisher needs before its first command.
///
/// # Errors
/// The broker refused a declaration.
#[instrument(skip_all, fields(shards = topology.shards()))]
pub async fn declare_commands(channel: &Channel, topology: &Topology) -> lapin::Result<()> {
    declare_exchange(channel, &topology.commands_exchange()).await?;
    for shard in 0..topology.shards() {
        declare_queue(channel, &topology.shard_queue(shard)).await?;
        bind(channel, &topology.shard_binding(shard)).await?;
    }
    Ok(())
}

/// Declares the dead-letter queue of `names`' namespace (the worker's alone).
///
/// # Errors
/// The broker refused the declaration.
pub async fn declare_dead_letters(channel: &Channel, names: &AmqpNames) -> lapin::Result<()> {
    declare_queue(channel, &protocol::topology::dead_letter_queue(names)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field table the shard queues were declared with by hand, built literally.
    #[test]
    fn shard_arguments_are_the_literal_table() {
        let mut expected = FieldTable::default();
        expected.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(LongString::from("quorum")),
        );
        expected.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
        assert_eq!(shard_queue_arguments(), expected);
        let topology = Topology::new(AmqpNames::default(), 4);
        assert_eq!(field_table(topology.shard_queue(3).arguments), expected);
    }

    #[test]
    fn dead_letter_arguments_are_the_literal_table() {
        let mut expected = FieldTable::default();
        expected.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(LongString::from("quorum")),
        );
        let topology = Topology::new(AmqpNames::default(), 4);
        assert_eq!(
            field_table(topology.dead_letter_queue().arguments),
            expected
        );
    }
}
