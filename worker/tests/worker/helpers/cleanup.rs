//! Best-effort cleanup of a test's queues, exchange and database, even after a panic.

use super::{amqp_url, maintenance_db_url, TestEnv, SHARDS};
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::Connection;
use protocol::names::AmqpNames;
use sqlx::{Connection as _, Executor, PgConnection};
use std::time::Duration;

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some(w) = self.worker.take() {
            w.cancel.cancel();
        }
        let (namespace, db_name) = (self.namespace.clone(), self.db_name.clone());
        // Best effort, on its own runtime: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                // Let the worker close its channels before its queues go.
                tokio::time::sleep(Duration::from_millis(300)).await;
                if let Ok(conn) = Connection::connect(&amqp_url(), Default::default()).await {
                    if let Ok(ch) = conn.create_channel().await {
                        let names = AmqpNames::new(namespace);
                        for shard in 0..SHARDS {
                            let _ = ch
                                .queue_delete(
                                    &names.shard_queue(shard),
                                    QueueDeleteOptions::default(),
                                )
                                .await;
                        }
                        let _ = ch
                            .queue_delete(&names.dead_letter_queue(), QueueDeleteOptions::default())
                            .await;
                        let _ = ch
                            .exchange_delete(
                                &names.commands_exchange(),
                                ExchangeDeleteOptions::default(),
                            )
                            .await;
                    }
                    let _ = conn.close(200, "cleanup").await;
                }
                if let Ok(mut conn) = PgConnection::connect(&maintenance_db_url()).await {
                    let drop = format!(r#"DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)"#);
                    let _ = conn.execute(drop.as_str()).await;
                }
            });
        })
        .join();
    }
}
