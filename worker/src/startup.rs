//! Building and running the worker: the same [`Application`] the binary runs is what
//! integration tests (the worker's and the gateway's) start on a fresh database.

use crate::broker::Broker;
use crate::http::{router, HttpState};
use crate::metrics::Metrics;
use crate::redis_link::RedisLink;
use crate::repo::Repository;
use crate::shard::{run_shard, ShardContext};
use crate::Settings;
use anyhow::Context;
use protocol::names::{AmqpNames, RedisKeys};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A built worker: connected, migrated, topology declared, metrics port bound.
pub struct Application {
    context: Arc<ShardContext>,
    listener: TcpListener,
    port: u16,
}

impl Application {
    /// Connects to PostgreSQL, runs migrations (`sqlx::migrate!("../migrations")`),
    /// connects to RabbitMQ and declares the AMQP topology, connects to Redis (if Redis
    /// is down the worker starts anyway and its writes wait), and binds the metrics
    /// server on `metrics_host:metrics_port` (port 0 = ephemeral).
    ///
    /// # Errors
    /// PostgreSQL or RabbitMQ unreachable, a migration fails, or the port is taken.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let repo = Repository::connect(&settings).await?;
        repo.migrate().await?;
        let redis_settings = settings
            .redis()
            .map_err(|e| anyhow::anyhow!("{}", runtime::settings::ConfigErrors(e)))?;
        let redis = RedisLink::new(
            &redis_settings,
            Duration::from_millis(settings.redis_timeout_ms),
        )?;
        let first = tokio::time::timeout(Duration::from_secs(2), redis.get()).await;
        if !matches!(first, Ok(Ok(_))) {
            // Not fatal: writes are queued and retried until Redis answers.
            tracing::warn!("Redis unreachable at startup; continuing without it");
        }
        let names = AmqpNames::new(settings.namespace.clone());
        let broker = Broker::connect(settings.brokers()?, settings.topology()).await?;
        let metrics = Metrics::new().context("Failed to register metrics")?;
        let address = format!("{}:{}", settings.metrics_host, settings.metrics_port);
        let listener = TcpListener::bind(&address)
            .await
            .with_context(|| format!("Failed to bind the metrics server on {address}"))?;
        let port = listener.local_addr()?.port();
        let owner = format!(
            "{}-{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into()),
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let context = Arc::new(ShardContext {
            keys: RedisKeys::new(settings.namespace.clone()),
            names,
            settings,
            repo,
            redis,
            broker: Arc::new(broker),
            metrics,
            owner,
            active_shards: Default::default(),
        });
        Ok(Application {
            context,
            listener,
            port,
        })
    }

    /// The bound metrics port.
    pub fn metrics_port(&self) -> u16 {
        self.port
    }

    /// Runs the shard consumers and the metrics server until `shutdown` is cancelled;
    /// then every shard stops consuming, finishes its batch in flight (its deliveries
    /// are acked, or handed back unacked) and the call returns.
    ///
    /// # Errors
    /// Never after a successful build (dependency failures are retried inside); the
    /// `Result` is for symmetry with the gateway.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let ctx = self.context;
        let tasks = TaskTracker::new();
        let state = HttpState {
            metrics: ctx.metrics.clone(),
            repo: ctx.repo.clone(),
            redis: ctx.redis.clone(),
            broker: ctx.broker.clone(),
        };
        let http_shutdown = shutdown.clone();
        let listener = self.listener;
        tasks.spawn(async move {
            let served = axum::serve(listener, router(state))
                .with_graceful_shutdown(http_shutdown.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "metrics server failed");
            }
        });
        tasks.spawn(crate::audit::run(ctx.clone(), shutdown.clone()));
        tasks.spawn(crate::prune::run(
            ctx.repo.clone(),
            Duration::from_secs(ctx.settings.retention_secs),
            Duration::from_secs(ctx.settings.prune_interval_secs),
            shutdown.clone(),
        ));
        tasks.spawn(crate::webhooks::deliver::run(ctx.clone(), shutdown.clone()));
        for shard in 0..ctx.settings.shards {
            tasks.spawn(run_shard(ctx.clone(), shard, shutdown.clone()));
        }
        tracing::info!(
            shards = ctx.settings.shards,
            namespace = %ctx.settings.namespace,
            metrics_port = self.port,
            "worker running"
        );
        tasks.close();
        tasks.wait().await;
        ctx.broker.close().await;
        ctx.repo.pool().close().await;
        tracing::info!("worker stopped");
        Ok(())
    }
}
