//! Best-effort cleanup when a test stack (`TestApp` of the `api` tests, `Stack` of the
//! `admission` tests) is dropped (also after a failed test). Shared by both test binaries
//! through `#[path]`; the parent module provides `amqp_url`, `maintenance_db_url`,
//! `redis_url` and `SHARDS`:
//! delete the namespace's AMQP queues and exchange and its Redis keys, drop the test
//! database. Failures are printed, never fatal: they cannot change a test's verdict.

use super::{amqp_url, maintenance_db_url, redis_url, SHARDS};
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use protocol::names::AmqpNames;
use sqlx::{Connection as _, Executor, PgConnection};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Runs the cleanup on a thread with its own runtime (`Drop` cannot await): first waits
/// (at most 15 s) for the cancelled services' `tasks` to stop, so none re-declares what
/// is being deleted, then deletes (at most 20 s).
pub(super) fn run_blocking(
    namespace: String,
    db_name: String,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
) {
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("Failed to build the cleanup runtime");
        rt.block_on(async move {
            let stopped = futures::future::join_all(tasks);
            if tokio::time::timeout(Duration::from_secs(15), stopped)
                .await
                .is_err()
            {
                eprintln!("cleanup: services of {namespace} still running after 15 s");
            }
            let work = async {
                if let Err(e) = delete_amqp(&namespace).await {
                    eprintln!("cleanup: AMQP objects of {namespace}: {e:#}");
                }
                if let Err(e) = delete_redis_keys(&namespace).await {
                    eprintln!("cleanup: Redis keys of {namespace}: {e:#}");
                }
                if let Err(e) = drop_database(&db_name).await {
                    eprintln!("cleanup: database {db_name}: {e:#}");
                }
            };
            if tokio::time::timeout(Duration::from_secs(20), work)
                .await
                .is_err()
            {
                eprintln!("cleanup of {namespace} timed out");
            }
        });
    });
    let _ = handle.join();
}

async fn delete_amqp(namespace: &str) -> anyhow::Result<()> {
    let conn = Connection::connect(&amqp_url(), ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    let names = AmqpNames::new(namespace);
    for shard in 0..SHARDS {
        channel
            .queue_delete(&names.shard_queue(shard), QueueDeleteOptions::default())
            .await?;
    }
    channel
        .exchange_delete(&names.commands_exchange(), ExchangeDeleteOptions::default())
        .await?;
    // Declared by the worker only, when the test runs one (last: its absence may close
    // the channel).
    let _ = channel
        .queue_delete(&names.dead_letter_queue(), QueueDeleteOptions::default())
        .await;
    conn.close(200, "test cleanup").await?;
    Ok(())
}

async fn delete_redis_keys(namespace: &str) -> anyhow::Result<()> {
    let client = redis::Client::open(redis_url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    worker::delete_namespace(&mut conn, namespace).await?;
    Ok(())
}

async fn drop_database(db_name: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(&maintenance_db_url()).await?;
    conn.execute(format!(r#"DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)"#).as_str())
        .await?;
    Ok(())
}
