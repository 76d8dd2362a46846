//! Shard consumers: one task per shard, each a loop of consumer sessions.
//!
//! A session opens a channel, consumes `{ns}.shard.k` (single active consumer) and
//! waits. The broker delivers only to the active consumer, so the first delivery means
//! "this worker owns the shard now": the session takes over (bumps the fencing epoch,
//! rebuilds the shard's events from PostgreSQL, re-pushes their configs to Redis) and
//! then runs group commits until the channel dies, the session is fenced, or shutdown.
//! Any failure ends the session; the loop reconnects with capped exponential backoff and
//! the next session rebuilds from PostgreSQL, so no restart is ever needed.

mod batch;
mod dead;
mod delivery;
mod finisher;
mod isolate;
mod loss;
mod overlap;
mod pipeline;
mod record;
mod repair;
mod session;

use crate::broker::Broker;
use crate::metrics::Metrics;
use crate::redis_link::RedisLink;
use crate::repo::Repository;
use crate::Settings;
use protocol::names::{AmqpNames, RedisKeys};
use runtime::backoff::Backoff;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub(crate) use delivery::PROBE_TYPE;

/// Everything a shard task needs, shared by all shards.
pub(crate) struct ShardContext {
    pub(crate) settings: Settings,
    pub(crate) repo: Repository,
    pub(crate) redis: RedisLink,
    pub(crate) broker: Arc<Broker>,
    pub(crate) metrics: Metrics,
    /// This worker instance, recorded as `shard_epochs.owner` and in consumer tags.
    pub(crate) owner: String,
    pub(crate) names: AmqpNames,
    pub(crate) keys: RedisKeys,
    /// Shards this worker is the active consumer of (read by the oversold audit).
    pub(crate) active_shards: Mutex<BTreeSet<u16>>,
}

impl ShardContext {
    /// The shards this worker owns right now.
    pub(crate) fn owned_shards(&self) -> Vec<u16> {
        self.active_shards
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .copied()
            .collect()
    }

    /// Records whether this worker owns `shard`.
    pub(crate) fn set_owned(&self, shard: u16, owned: bool) {
        let mut set = self
            .active_shards
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if owned {
            set.insert(shard);
        } else {
            set.remove(&shard);
        }
    }
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionEnd {
    /// Shutdown was requested.
    Shutdown,
    /// Another worker took the shard over.
    Fenced,
}

/// Longest pause between two reconnects or commit retries. Short enough that a shard is
/// back within seconds of RabbitMQ or PostgreSQL returning; a PostgreSQL retry also waits
/// up to the pool's 3 s acquire timeout.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Backoff between reconnects and retries: 100 ms doubling to [`MAX_BACKOFF`], with
/// jitter, forever.
pub(crate) fn backoff() -> impl Iterator<Item = Duration> {
    Backoff::new(Duration::from_millis(100), MAX_BACKOFF)
        .with_jitter()
        .delays()
}

/// Sleeps `delay` unless `shutdown` comes first; returns false on shutdown.
pub(crate) async fn sleep_or_shutdown(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

/// Runs shard `shard` until `shutdown`: session after session.
#[tracing::instrument(skip_all, fields(shard = shard))]
pub(crate) async fn run_shard(ctx: Arc<ShardContext>, shard: u16, shutdown: CancellationToken) {
    let mut retry = backoff();
    while !shutdown.is_cancelled() {
        ctx.metrics.set_shard_state(shard, "connecting");
        let started = tokio::time::Instant::now();
        let ended = session::run(&ctx, shard, &shutdown).await;
        if started.elapsed() > Duration::from_secs(30) {
            retry = backoff();
        }
        let delay = match ended {
            Ok(SessionEnd::Shutdown) => break,
            Ok(SessionEnd::Fenced) => {
                ctx.metrics
                    .fenced
                    .with_label_values(&[&shard.to_string()])
                    .inc();
                tracing::warn!("fenced by another worker; rejoining as standby");
                retry = backoff();
                Duration::from_millis(ctx.settings.probe_interval_ms)
            }
            Err(e) => {
                let delay = retry.next().unwrap_or(MAX_BACKOFF);
                tracing::warn!(
                    error = format!("{e:#}"),
                    ?delay,
                    "shard session ended; reconnecting"
                );
                delay
            }
        };
        if !sleep_or_shutdown(delay, &shutdown).await {
            break;
        }
    }
    ctx.metrics.set_shard_state(shard, "connecting");
    tracing::debug!("shard task stopped");
}
