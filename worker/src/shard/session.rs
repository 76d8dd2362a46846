//! One consumer session of a shard: standby until the broker delivers, take over, then
//! group commits interleaved with the expiry tick and the periodic Redis refresh.

use super::delivery;
use super::{backoff, sleep_or_shutdown, SessionEnd, ShardContext};
use crate::cache::ShardCache;
use crate::engine::{Effect, Engine};
use anyhow::{bail, Context};
use chrono::Utc;
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Consumer};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{interval, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Runs one session of `shard` on a fresh channel.
///
/// # Errors
/// The broker or channel failed; the caller reconnects.
pub(super) async fn run(
    ctx: &Arc<ShardContext>,
    shard: u16,
    shutdown: &CancellationToken,
) -> anyhow::Result<SessionEnd> {
    let channel = ctx.broker.channel().await?;
    let ended = run_on(ctx, shard, &channel, shutdown).await;
    // Closing the channel hands every unacked delivery back to the queue.
    let _ = channel.close(200, "session ended").await;
    ended
}

async fn run_on(
    ctx: &Arc<ShardContext>,
    shard: u16,
    channel: &Channel,
    shutdown: &CancellationToken,
) -> anyhow::Result<SessionEnd> {
    crate::broker::declare_shard(channel, &ctx.names, shard)
        .await
        .context("Failed to declare the shard queue")?;
    // Prefetch about two batches, so the next batch is already here while one commits.
    let prefetch = u16::try_from(ctx.settings.batch_max_commands * 2).unwrap_or(u16::MAX);
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await
        .context("Failed to set the prefetch")?;
    let queue = ctx.names.shard_queue(shard);
    let mut consumer = channel
        .basic_consume(
            &queue,
            &format!("{}/shard-{shard}", ctx.owner),
            // Manual acks (no_ack = false): a message is acked only after its batch
            // committed and its reply went out. Not exclusive: single active consumer
            // lets standbys wait on the same queue.
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("Failed to consume {queue}"))?;
    ctx.metrics.set_shard_state(shard, "standby");
    let Some(first) = standby(ctx, channel, &mut consumer, &queue, shutdown).await? else {
        return Ok(SessionEnd::Shutdown);
    };
    ctx.metrics.set_shard_state(shard, "taking_over");
    let Some(mut active) = Active::take_over(ctx, shard, channel.clone(), shutdown).await else {
        return Ok(SessionEnd::Shutdown);
    };
    active.run(&mut consumer, first, shutdown).await
}

/// Waits for the first delivery, probing the queue every `probe_interval_ms` so the
/// active consumer (this one, once the broker promotes it) gets a delivery even when no
/// commands flow. Returns `None` on shutdown.
async fn standby(
    ctx: &ShardContext,
    channel: &Channel,
    consumer: &mut Consumer,
    queue: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Delivery>> {
    let mut probe_every = interval(Duration::from_millis(ctx.settings.probe_interval_ms));
    probe_every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Ok(None),
            d = consumer.next() => return match d {
                Some(d) => Ok(Some(d.context("Consumer failed")?)),
                None => bail!("the broker cancelled the consumer"),
            },
            _ = probe_every.tick() => delivery::probe(channel, queue).await?,
        }
    }
}

/// An active session: this worker owns the shard.
pub(super) struct Active {
    pub(super) ctx: Arc<ShardContext>,
    pub(super) shard: u16,
    pub(super) epoch: i64,
    pub(super) engine: Engine,
    pub(super) cache: ShardCache,
    pub(super) channel: Channel,
    pub(super) rng: StdRng,
    pub(super) effects: Vec<Effect>,
    holds_reported: i64,
}

impl Active {
    /// Takes the shard over: bumps the fencing epoch and rebuilds the engine from
    /// PostgreSQL, retrying with backoff while PostgreSQL is down (deliveries wait
    /// unacked). `None` on shutdown.
    async fn take_over(
        ctx: &Arc<ShardContext>,
        shard: u16,
        channel: Channel,
        shutdown: &CancellationToken,
    ) -> Option<Active> {
        let mut retry = backoff();
        let (epoch, engine) = loop {
            let attempt = async {
                let epoch = ctx.repo.take_over(shard, &ctx.owner).await?;
                let engine = ctx.repo.load_shard(shard, epoch).await?;
                Ok::<_, sqlx::Error>((epoch, engine))
            };
            match attempt.await {
                Ok(taken) => break taken,
                Err(e) => {
                    let delay = retry.next().unwrap_or(Duration::from_secs(10));
                    tracing::warn!(error = %e, ?delay, "takeover failed; retrying");
                    if !sleep_or_shutdown(delay, shutdown).await {
                        return None;
                    }
                }
            }
        };
        let label = shard.to_string();
        ctx.metrics
            .fencing_epoch
            .with_label_values(&[&label])
            .set(epoch);
        ctx.metrics.shard_active.with_label_values(&[&label]).set(1);
        ctx.metrics.takeovers.with_label_values(&[&label]).inc();
        ctx.metrics.set_shard_state(shard, "active");
        ctx.set_owned(shard, true);
        tracing::info!(epoch, events = engine.events().count(), "took over shard");
        let timeout = Duration::from_millis(ctx.settings.redis_timeout_ms);
        let ttls = crate::cache::Ttls {
            result: ctx.settings.result_ttl_secs,
            refusal: ctx.settings.refusal_ttl_secs,
        };
        let cache = ShardCache::new(
            ctx.redis.clone(),
            ctx.keys.clone(),
            ttls,
            timeout,
            ctx.metrics.clone(),
        );
        let mut active = Active {
            ctx: ctx.clone(),
            shard,
            epoch,
            engine,
            cache,
            channel,
            rng: StdRng::from_entropy(),
            effects: Vec::with_capacity(ctx.settings.batch_max_commands * 2),
            holds_reported: 0,
        };
        active.report_holds();
        active.refresh().await;
        active.repair_redis().await;
        Some(active)
    }

    /// Collects deliveries after `first` until `batch_max_commands` or
    /// `batch_max_wait_ms` after the first (deliveries already buffered are taken even
    /// with a zero wait).
    pub(super) async fn collect(
        &mut self,
        first: Delivery,
        consumer: &mut Consumer,
    ) -> anyhow::Result<Vec<Delivery>> {
        let max = self.ctx.settings.batch_max_commands;
        let deadline = Instant::now() + Duration::from_millis(self.ctx.settings.batch_max_wait_ms);
        let mut batch = Vec::with_capacity(max);
        batch.push(first);
        while batch.len() < max {
            match tokio::time::timeout_at(deadline, consumer.next()).await {
                Ok(Some(d)) => batch.push(d.context("Consumer failed")?),
                Ok(None) => bail!("the broker cancelled the consumer"),
                Err(_) => break,
            }
        }
        Ok(batch)
    }

    /// Re-writes every event's config and availability to Redis.
    pub(super) async fn refresh(&mut self) {
        let pipe = self.cache.refresh(&mut self.engine, Utc::now());
        self.cache.write(pipe).await;
    }

    /// Brings `anteroom_worker_holds_active` up to date with this shard.
    pub(super) fn report_holds(&mut self) {
        let now = i64::try_from(self.engine.holds_active()).unwrap_or(i64::MAX);
        self.ctx.metrics.holds_active.add(now - self.holds_reported);
        self.holds_reported = now;
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.ctx.set_owned(self.shard, false);
        self.ctx.metrics.holds_active.sub(self.holds_reported);
        let label = self.shard.to_string();
        self.ctx
            .metrics
            .shard_active
            .with_label_values(&[&label])
            .set(0);
    }
}
