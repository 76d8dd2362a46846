//! One run's isolated environment: a fresh PostgreSQL database (`anteroom_bench_<uuid>`)
//! and namespace (`bench_<uuid>`: AMQP names and Redis key prefix) on the shared
//! loopback services, and their removal afterwards (database dropped, shard queue and
//! exchange deleted, the namespace's Redis keys unlinked; nothing else is touched).

use anyhow::Context;
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use protocol::names::AmqpNames;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection as _, Executor, PgConnection, PgPool};
use std::time::Duration;
use uuid::Uuid;

/// Where the shared services are.
#[derive(Debug, Clone)]
pub(crate) struct Services {
    /// A maintenance database URL (`.../postgres`); run databases are its siblings.
    pub(crate) database_url: String,
    /// One URL, or a cluster's comma-separated seed URLs.
    pub(crate) redis_url: String,
    /// `standalone` or `cluster`.
    pub(crate) redis_mode: String,
    /// PEM file of the CA for `rediss://`; empty: the system's roots.
    pub(crate) redis_ca_file: String,
    /// One AMQP URL or a cluster's comma-separated node URLs.
    pub(crate) amqp_url: String,
    /// CA file verifying amqps:// nodes; empty = system roots.
    pub(crate) amqp_ca_file: String,
}

impl Services {
    /// A connection to the first RabbitMQ node that answers.
    ///
    /// # Errors
    /// Bad AMQP settings, or no node answered.
    pub(crate) async fn amqp_connect(&self) -> anyhow::Result<Connection> {
        let brokers = runtime::amqp::Brokers::new(&self.amqp_url, &self.amqp_ca_file)?;
        let connected = brokers
            .connect(ConnectionProperties::default(), Duration::from_secs(10))
            .await?;
        Ok(connected.connection)
    }
}

impl Services {
    /// A connection to the Redis of the runs (one node or a cluster, TLS).
    ///
    /// # Errors
    /// Bad Redis settings, or Redis unreachable.
    pub(crate) async fn redis(&self) -> anyhow::Result<runtime::redis::RedisConn> {
        let settings = runtime::redis::RedisSettings::parse(
            &self.redis_mode,
            &self.redis_url,
            &self.redis_ca_file,
        )
        .map_err(|e| anyhow::anyhow!("{}", runtime::settings::ConfigErrors(e)))?;
        let timeout = std::time::Duration::from_secs(5);
        let options = runtime::redis::ConnectOptions::new(timeout, timeout);
        Ok(runtime::redis::RedisConnector::new(&settings, options)?
            .connect()
            .await?)
    }
}

/// A fresh database and namespace.
pub(crate) struct RunEnv {
    pub(crate) namespace: String,
    pub(crate) db_name: String,
    pub(crate) db_url: String,
    services: Services,
}

impl RunEnv {
    /// Creates the database (empty: the worker migrates it, the baseline calls
    /// `MIGRATOR` itself).
    ///
    /// # Errors
    /// PostgreSQL unreachable or refusing `CREATE DATABASE`.
    pub(crate) async fn create(services: &Services) -> anyhow::Result<RunEnv> {
        let id = Uuid::new_v4().simple().to_string();
        let db_name = format!("anteroom_bench_{id}");
        let mut conn = PgConnection::connect(&services.database_url)
            .await
            .context("Failed to connect to PostgreSQL")?;
        conn.execute(format!(r#"CREATE DATABASE "{db_name}""#).as_str())
            .await
            .context("Failed to create the run database")?;
        // The designs share one server: without a checkpoint here, pages dirtied by the
        // other designs' runs are written back during this one, whose commits wait on it.
        // Needs a superuser or `pg_checkpoint`; without either, the run goes on.
        if let Err(e) = conn.execute("CHECKPOINT").await {
            eprintln!(
                "note: no CHECKPOINT before the run ({e}); other runs' writes may slow this one"
            );
        }
        Ok(RunEnv {
            namespace: format!("bench_{id}"),
            db_url: runtime::database::with_database(&services.database_url, &db_name),
            db_name,
            services: services.clone(),
        })
    }

    /// A pool on the run database with at most `max` connections.
    ///
    /// # Errors
    /// PostgreSQL unreachable.
    pub(crate) async fn pool(&self, max: u32) -> anyhow::Result<PgPool> {
        PgPoolOptions::new()
            .max_connections(max)
            .connect(&self.db_url)
            .await
            .context("Failed to connect to the run database")
    }

    /// Removes everything the run created; failures are reported, not fatal.
    pub(crate) async fn remove(self) {
        if let Err(e) = self.remove_amqp().await {
            eprintln!("warning: AMQP cleanup of {}: {e:#}", self.namespace);
        }
        if let Err(e) = self.remove_redis().await {
            eprintln!("warning: Redis cleanup of {}: {e:#}", self.namespace);
        }
        let dropped = async {
            let mut conn = PgConnection::connect(&self.services.database_url).await?;
            let sql = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.db_name);
            conn.execute(sql.as_str()).await?;
            Ok::<_, sqlx::Error>(())
        };
        if let Err(e) = dropped.await {
            eprintln!("warning: could not drop {}: {e}", self.db_name);
        }
    }

    async fn remove_amqp(&self) -> anyhow::Result<()> {
        let conn = self.services.amqp_connect().await?;
        let ch = conn.create_channel().await?;
        let names = AmqpNames::new(self.namespace.clone());
        // The bench runs one shard.
        ch.queue_delete(&names.shard_queue(0), QueueDeleteOptions::default())
            .await?;
        ch.exchange_delete(&names.commands_exchange(), ExchangeDeleteOptions::default())
            .await?;
        // The worker's dead-letter queue (design (c) runs none: its absence closes the
        // channel, so it goes last).
        let _ = ch
            .queue_delete(&names.dead_letter_queue(), QueueDeleteOptions::default())
            .await;
        conn.close(200, "bench cleanup").await?;
        Ok(())
    }

    /// Every key of the namespace (it is unique to this run).
    async fn remove_redis(&self) -> anyhow::Result<()> {
        let mut conn = self.services.redis().await?;
        worker::delete_namespace(&mut conn, &self.namespace).await?;
        Ok(())
    }
}
