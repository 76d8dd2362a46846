//! RabbitMQ: the worker's connection (re-established on demand after it dies, to the
//! next of the configured nodes: `runtime::amqp::Brokers`) and channels for the shard
//! consumers.
//!
//! The topology (exchange, shard queues, bindings, the dead-letter queue) is data in
//! [`protocol::topology`], declared through `runtime::amqp` by the worker and, for
//! everything but the dead-letter queue, by the gateway with the same arguments.

use anyhow::Context;
use lapin::{Channel, Connection, ConnectionProperties};
use protocol::topology::Topology;
use runtime::amqp::Brokers;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::instrument;

/// Longest wait for one node's TCP, TLS and AMQP handshakes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Declares the exchange, the shard queues and their bindings, and the dead-letter
/// queue, on `channel`.
///
/// # Errors
/// The broker refused a declaration (e.g. a queue exists with other arguments).
#[instrument(skip_all, fields(shards = topology.shards()))]
pub async fn declare_topology(channel: &Channel, topology: &Topology) -> lapin::Result<()> {
    runtime::amqp::declare_commands(channel, topology).await?;
    runtime::amqp::declare_queue(channel, &topology.dead_letter_queue()).await
}

/// The worker's AMQP connection, shared by all shard consumers (one channel each).
pub struct Broker {
    brokers: Brokers,
    topology: Topology,
    connection: Mutex<Option<Arc<Connection>>>,
    reconnect: tokio::sync::Mutex<()>,
}

impl Broker {
    /// Connects to one of `brokers` and declares `topology`.
    ///
    /// # Errors
    /// No node is reachable, or the broker refuses the topology.
    pub async fn connect(brokers: Brokers, topology: Topology) -> anyhow::Result<Self> {
        let broker = Self {
            brokers,
            topology,
            connection: Mutex::new(None),
            reconnect: tokio::sync::Mutex::new(()),
        };
        broker.connection().await?;
        Ok(broker)
    }

    /// The topology it declares on every new connection.
    pub fn topology(&self) -> &Topology {
        &self.topology
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
        let connection = self
            .brokers
            .connect(properties, CONNECT_TIMEOUT)
            .await
            .context("Failed to connect to RabbitMQ")?
            .connection;
        let channel = connection
            .create_channel()
            .await
            .context("Failed to open an AMQP channel")?;
        declare_topology(&channel, &self.topology)
            .await
            .context("Failed to declare the AMQP topology")?;
        let _ = channel.close(200, "topology declared").await;
        let connection = Arc::new(connection);
        *self
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(connection.clone());
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
