//! The connection half of the publisher: connect with backoff, declare the topology,
//! consume direct replies and hand them to their waiters; start over on loss.

use super::Publisher;
use futures::StreamExt;
use lapin::options::{
    BasicConsumeOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use protocol::names::{AmqpNames, DIRECT_REPLY_TO};
use protocol::reply::Reply;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

impl Publisher {
    /// Keeps a connection up until `shutdown`: connect, declare, consume replies; on loss,
    /// reconnect with backoff.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        let mut warnings = crate::adapters::redis_store::Throttled::default();
        loop {
            let connected = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = tokio::time::timeout(Duration::from_secs(5), self.connect()) => r,
            };
            match connected {
                Ok(Ok((connection, channel, consumer))) => {
                    backoff = Duration::from_millis(100);
                    self.inner.channel.send_replace(Some(channel));
                    tracing::info!("connected to RabbitMQ");
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
                Ok(Err(e)) => warnings.warn(&format!("RabbitMQ not reachable: {e}")),
                Err(_) => warnings.warn("RabbitMQ connect timed out"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    fn clear(&self) {
        self.inner.channel.send_replace(None);
    }

    async fn connect(&self) -> lapin::Result<(Connection, Channel, lapin::Consumer)> {
        let props = ConnectionProperties::default()
            .with_connection_name(format!("anteroom-gateway-{}", std::process::id()).into());
        let connection = Connection::connect(&self.inner.url, props).await?;
        let channel = connection.create_channel().await?;
        declare_topology(&channel, &self.inner.names, self.inner.shards).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let consumer = channel
            .basic_consume(
                DIRECT_REPLY_TO,
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
            let reply: Reply = match serde_json::from_slice(&delivery.data) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "unreadable reply from a worker; dropped");
                    continue;
                }
            };
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
}

/// Returns once the connection is no longer connected (checked every second): a
/// backstop in case neither the consumer nor the error callback notices a loss.
async fn watch_connection(connection: &Connection) {
    while connection.status().connected() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Declares exchange `{ns}.commands` (direct, durable) and, for each shard `k`, the
/// durable quorum queue `{ns}.shard.{k}` with single active consumer, bound by
/// `shard.{k}`. Arguments are exactly the worker's, or the broker would refuse.
///
/// # Errors
/// The broker's refusal (e.g. `PRECONDITION_FAILED` on different arguments).
pub async fn declare_topology(
    channel: &Channel,
    names: &AmqpNames,
    shards: u16,
) -> lapin::Result<()> {
    let exchange = names.commands_exchange();
    channel
        .exchange_declare(
            &exchange,
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    for k in 0..shards {
        let queue = names.shard_queue(k);
        channel
            .queue_declare(
                &queue,
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                args.clone(),
            )
            .await?;
        channel
            .queue_bind(
                &queue,
                &exchange,
                &AmqpNames::shard_routing_key(k),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}
