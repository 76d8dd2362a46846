//! The connection half of the publisher: connect with backoff to one of the configured
//! RabbitMQ nodes (`runtime::amqp::Brokers`: tried in turn, the next one after a loss),
//! declare the command topology (exchange, shard queues, bindings: the data of
//! [`protocol::topology`], the same the worker declares), consume direct replies (single,
//! or batches of them) and hand them to their waiters; start over on loss.

use super::Publisher;
use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use protocol::batch::REPLY_BATCH_TYPE;
use protocol::reply::Reply;
use runtime::backoff::CONNECT as RECONNECT;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Longest wait for one node's TCP, TLS and AMQP handshakes, and for the declarations
/// once connected.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

impl Publisher {
    /// Keeps a connection up until `shutdown`: connect, declare, consume replies; on loss,
    /// reconnect with backoff (`runtime::backoff::CONNECT`: 100 ms doubling to 2 s, back
    /// to 100 ms after a connection succeeded).
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut delays = RECONNECT.delays();
        let mut warnings = crate::adapters::redis_store::Throttled::default();
        let nodes = u32::try_from(self.inner.brokers.nodes().len()).unwrap_or(u32::MAX);
        let connect_timeout = STEP_TIMEOUT.saturating_mul(nodes.saturating_add(1));
        loop {
            let connected = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = tokio::time::timeout(connect_timeout, self.connect()) => r,
            };
            match connected {
                Ok(Ok((connection, channel, consumer))) => {
                    delays = RECONNECT.delays();
                    self.inner.channel.send_replace(Some(channel));
                    let lost = Arc::new(tokio::sync::Notify::new());
                    let on_error = lost.clone();
                    connection.on_error(move |e| {
                        tracing::warn!(error = %e, "RabbitMQ connection error");
                        on_error.notify_one();
                    });
                    tokio::select! {
                        _ = shutdown.cancelled() => {
                            self.clear();
                            let _ = connection.close(200, "gateway shutting down").await;
                            return;
                        }
                        _ = self.consume_replies(consumer) => {}
                        _ = lost.notified() => {}
                        _ = watch_connection(&connection) => {}
                    }
                    self.clear();
                    tracing::warn!("RabbitMQ connection lost; reconnecting");
                }
                Ok(Err(e)) => warnings.warn(&format!("RabbitMQ not reachable: {e:#}")),
                Err(_) => warnings.warn("RabbitMQ connect timed out"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(delays.next().unwrap_or(RECONNECT.max)) => {}
            }
        }
    }

    fn clear(&self) {
        self.inner.channel.send_replace(None);
    }

    async fn connect(&self) -> anyhow::Result<(Connection, Channel, lapin::Consumer)> {
        let props = ConnectionProperties::default()
            .with_connection_name(format!("anteroom-gateway-{}", std::process::id()).into());
        let connection = self
            .inner
            .brokers
            .connect(props, STEP_TIMEOUT)
            .await?
            .connection;
        let channel = connection.create_channel().await?;
        let topology = &self.inner.topology;
        runtime::amqp::declare_commands(&channel, topology).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let consumer = channel
            .basic_consume(
                topology.reply_queue(),
                &format!("anteroom-gateway-replies-{}", uuid::Uuid::new_v4()),
                // no_ack is required by direct reply-to.
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok((connection, channel, consumer))
    }

    /// Delivers replies to their waiters until the consumer ends (connection lost).
    async fn consume_replies(&self, mut consumer: lapin::Consumer) {
        while let Some(delivery) = consumer.next().await {
            let delivery = match delivery {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "reply consumer failed");
                    return;
                }
            };
            let batched =
                delivery.properties.kind().as_ref().map(|k| k.as_str()) == Some(REPLY_BATCH_TYPE);
            if batched {
                for reply in protocol::batch::decode_replies(&delivery.data) {
                    match reply {
                        Ok(reply) => self.hand_over(reply),
                        Err(e) => {
                            tracing::error!(error = %e, "unreadable reply in a batch from a worker; dropped")
                        }
                    }
                }
                continue;
            }
            match serde_json::from_slice::<Reply>(&delivery.data) {
                Ok(reply) => self.hand_over(reply),
                Err(e) => tracing::error!(error = %e, "unreadable reply from a worker; dropped"),
            }
        }
    }

    /// Hands `reply` to the request waiting for it, if any still is.
    fn hand_over(&self, reply: Reply) {
        let waiter = self
            .inner
            .waiters
            .lock()
            .expect("waiters poisoned")
            .remove(&reply.request_id);
        match waiter {
            Some(tx) => {
                let _ = tx.send(reply);
            }
            None => {
                tracing::debug!(request_id = %reply.request_id, "late reply; result is in Redis")
            }
        }
    }
}

/// Returns once the connection is no longer connected (checked every second): a
/// backstop in case neither the consumer nor the error callback notices a loss.
async fn watch_connection(connection: &Connection) {
    while connection.status().connected() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
