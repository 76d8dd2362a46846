//! RabbitMQ: the connection (re-established on demand after it dies), the command
//! topology, and channels for the shard consumers.
//!
//! Topology (the cross-component contract, declared idempotently by gateway and worker
//! with the same arguments): direct durable exchange `{ns}.commands`; for each shard k a
//! durable quorum queue `{ns}.shard.k` with single active consumer, bound with routing
//! key `shard.k`. Quorum queues replicate on a RabbitMQ cluster and keep unacked
//! messages across a broker restart; single active consumer makes the broker deliver a
//! shard to exactly one worker at a time and hand it to a standby when that one dies.
//! The worker alone also declares the dead-letter quorum queue `{ns}.dead` (it alone
//! publishes there, see `dead_letters`), so the gateway's declarations are unchanged.

use anyhow::Context;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use protocol::names::AmqpNames;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::instrument;

/// Longest wait for a TCP + AMQP handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of every shard queue (must match the gateway's byte for byte, or the
/// second declaration fails with `PRECONDITION_FAILED`).
pub fn shard_queue_arguments() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    args
}

/// Declares the exchange, the `shards` queues and their bindings, and the dead-letter
/// queue, on `channel`.
///
/// # Errors
/// The broker refused a declaration (e.g. a queue exists with other arguments).
#[instrument(skip_all, fields(shards = shards))]
pub async fn declare_topology(
    channel: &Channel,
    names: &AmqpNames,
    shards: u16,
) -> lapin::Result<()> {
    for shard in 0..shards {
        declare_shard(channel, names, shard).await?;
    }
    crate::dead_letters::declare(channel, names).await
}

/// Declares the exchange, shard `shard`'s queue and its binding (idempotent; every
/// consumer session does it, so a deleted queue comes back).
///
/// # Errors
/// The broker refused a declaration.
pub async fn declare_shard(channel: &Channel, names: &AmqpNames, shard: u16) -> lapin::Result<()> {
    let exchange = names.commands_exchange();
    channel
        .exchange_declare(
            &exchange,
            ExchangeKind::Direct,
            // Durable: survives a broker restart. Not auto-deleted when unbound.
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let queue = names.shard_queue(shard);
    channel
        .queue_declare(
            &queue,
            // Durable (required for quorum queues); not exclusive, not auto-delete: the
            // queue outlives any one consumer, that is the point.
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            shard_queue_arguments(),
        )
        .await?;
    channel
        .queue_bind(
            &queue,
            &exchange,
            &AmqpNames::shard_routing_key(shard),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// The worker's AMQP connection, shared by all shard consumers (one channel each).
pub struct Broker {
    url: String,
    names: AmqpNames,
    shards: u16,
    connection: Mutex<Option<Arc<Connection>>>,
    reconnect: tokio::sync::Mutex<()>,
}

impl Broker {
    /// Connects to `url` and declares the topology.
    ///
    /// # Errors
    /// The broker is unreachable or refuses the topology.
    pub async fn connect(url: &str, names: AmqpNames, shards: u16) -> anyhow::Result<Self> {
        let broker = Self {
            url: url.to_owned(),
            names,
            shards,
            connection: Mutex::new(None),
            reconnect: tokio::sync::Mutex::new(()),
        };
        broker.connection().await?;
        Ok(broker)
    }

    /// Whether the connection is up (for `/readyz`).
    pub fn is_connected(&self) -> bool {
        self.current().is_some_and(|c| c.status().connected())
    }

    fn current(&self) -> Option<Arc<Connection>> {
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The live connection, re-established (with the topology declared again) if it died.
    async fn connection(&self) -> anyhow::Result<Arc<Connection>> {
        if let Some(c) = self.current().filter(|c| c.status().connected()) {
            return Ok(c);
        }
        let _one_at_a_time = self.reconnect.lock().await;
        if let Some(c) = self.current().filter(|c| c.status().connected()) {
            return Ok(c);
        }
        let properties =
            ConnectionProperties::default().with_connection_name("anteroom-worker".into());
        let connection =
            tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(&self.url, properties))
                .await
                .context("Timed out connecting to RabbitMQ")?
                .context("Failed to connect to RabbitMQ")?;
        let channel = connection
            .create_channel()
            .await
            .context("Failed to open an AMQP channel")?;
        declare_topology(&channel, &self.names, self.shards)
            .await
            .context("Failed to declare the AMQP topology")?;
        let _ = channel.close(200, "topology declared").await;
        let connection = Arc::new(connection);
        *self
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(connection.clone());
        tracing::info!("connected to RabbitMQ");
        Ok(connection)
    }

    /// A new channel on the live connection (reconnecting first if needed).
    ///
    /// # Errors
    /// The broker is unreachable.
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        let connection = self.connection().await?;
        connection
            .create_channel()
            .await
            .context("Failed to open an AMQP channel")
    }

    /// Closes the connection (at shutdown).
    pub async fn close(&self) {
        if let Some(c) = self.current() {
            let _ = c.close(200, "worker shutting down").await;
        }
    }
}
