//! Best-effort deletion of what one test declared on the shared services: its AMQP
//! exchange and queues, its Redis keys and its database. Run from `Drop`, so also after
//! a failed test; failures are printed, never fatal: they cannot change a verdict.

use crate::db::drop_database;
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use protocol::names::AmqpNames;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long the cancelled services may take to stop before the deletion starts.
const STOP_WITHIN: Duration = Duration::from_secs(15);
/// How long the deletion itself may take.
const DELETE_WITHIN: Duration = Duration::from_secs(20);

/// What one test owns on the shared services.
#[derive(Clone, Debug)]
pub struct Cleanup {
    /// Redis key prefix (`{namespace}:*`) and AMQP namespace.
    pub namespace: String,
    /// Shards whose queues were declared; 0 when the test declared no AMQP objects.
    pub shards: u16,
    /// The test's database, if it has one.
    pub database: Option<String>,
}

impl Cleanup {
    /// Runs the cleanup on a thread with its own runtime (`Drop` cannot await): first
    /// waits (at most 15 s) for the cancelled services' `tasks` to stop, so none
    /// re-declares what is being deleted, then deletes (at most 20 s).
    pub fn run_blocking(self, tasks: Vec<JoinHandle<anyhow::Result<()>>>) {
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("Failed to build the cleanup runtime");
            rt.block_on(async move {
                let namespace = self.namespace.clone();
                let stopped = futures::future::join_all(tasks);
                if tokio::time::timeout(STOP_WITHIN, stopped).await.is_err() {
                    eprintln!("cleanup: services of {namespace} still running after 15 s");
                }
                if tokio::time::timeout(DELETE_WITHIN, self.delete())
                    .await
                    .is_err()
                {
                    eprintln!("cleanup of {namespace} timed out");
                }
            });
        });
        let _ = handle.join();
    }

    /// Deletes everything now, printing what could not be deleted.
    pub async fn delete(&self) {
        let namespace = &self.namespace;
        if self.shards > 0 {
            if let Err(e) = delete_amqp(namespace, self.shards).await {
                eprintln!("cleanup: AMQP objects of {namespace}: {e:#}");
            }
        }
        if let Err(e) = delete_redis_keys(namespace).await {
            eprintln!("cleanup: Redis keys of {namespace}: {e:#}");
        }
        if let Some(db) = &self.database {
            if let Err(e) = drop_database(db).await {
                eprintln!("cleanup: database {db}: {e:#}");
            }
        }
    }
}

async fn delete_amqp(namespace: &str, shards: u16) -> anyhow::Result<()> {
    let conn = crate::services::try_amqp_connect().await?;
    let channel = conn.create_channel().await?;
    let names = AmqpNames::new(namespace);
    for shard in 0..shards {
        channel
            .queue_delete(&names.shard_queue(shard), QueueDeleteOptions::default())
            .await?;
    }
    channel
        .exchange_delete(&names.commands_exchange(), ExchangeDeleteOptions::default())
        .await?;
    // Declared by a worker only, when the test ran one (last: its absence may close the
    // channel).
    let _ = channel
        .queue_delete(&names.dead_letter_queue(), QueueDeleteOptions::default())
        .await;
    conn.close(200, "test cleanup").await?;
    Ok(())
}

async fn delete_redis_keys(namespace: &str) -> anyhow::Result<()> {
    let mut conn = runtime::redis::RedisConnector::new(
        &crate::services::redis_settings(),
        runtime::redis::ConnectOptions::new(Duration::from_secs(5), Duration::from_secs(10)),
    )?
    .connect()
    .await?;
    worker::delete_namespace(&mut conn, namespace).await?;
    Ok(())
}
