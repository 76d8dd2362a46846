//! One consumer session of a shard: standby until the broker delivers, take over, then
//! group commits interleaved with the expiry tick and the periodic Redis refresh.
//!
//! Hold expiry follows the watermark (docs/RESERVATIONS.md, "Accepted time and hold
//! expiry"): when a hold's deadline is due, the session publishes a probe stamped with
//! its clock to its own shard queue; reading that probe back proves every command queued
//! before it has been read, so no command accepted more than `accept_skew_ms` before the
//! stamp can still be waiting, and the engine expires the holds whose deadline is at or
//! before `stamp - accept_skew_ms`. A new session starts without a watermark, so the
//! holds of a backlog are expired only after the backlog has been read.

use super::batch::Collected;
use super::delivery;
use super::finisher::Finisher;
use super::{backoff, sleep_or_shutdown, SessionEnd, ShardContext};
use crate::cache::{RedisWriter, ShardCache};
use crate::engine::{Effect, Engine};
use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
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
    runtime::amqp::declare_shard(channel, ctx.broker.topology(), shard)
        .await
        .context("Failed to declare the shard queue")?;
    // Prefetch about four batches: one being answered by the finisher and one queued
    // for it, one committing, and the next arriving while it commits.
    let prefetch = u16::try_from(ctx.settings.batch_max_commands * 4).unwrap_or(u16::MAX);
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
            _ = probe_every.tick() => delivery::probe(channel, queue, Utc::now()).await?,
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
    /// Redis writes, replies and acks, in order, in a task of their own.
    pub(super) finisher: Finisher,
    pub(super) channel: Channel,
    pub(super) rng: StdRng,
    pub(super) effects: Vec<Effect>,
    holds_reported: i64,
    /// `accept_skew_ms`: how far a command's accepted time may lag its place in the
    /// queue (gateway clock skew plus the gateway's accept-to-enqueue delay).
    accept_skew: chrono::Duration,
    /// The stamp of this session's probe that has not come back yet.
    probe_sent: Option<DateTime<Utc>>,
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
            ctx.keys.clone(),
            ttls,
            Duration::from_millis(ctx.settings.availability_interval_ms),
        );
        let writer = RedisWriter::new(ctx.redis.clone(), timeout, ctx.metrics.clone());
        let finisher = Finisher::start(ctx.clone(), shard, channel.clone(), writer);
        let mut active = Active {
            ctx: ctx.clone(),
            shard,
            epoch,
            engine,
            cache,
            finisher,
            channel,
            rng: StdRng::from_entropy(),
            effects: Vec::with_capacity(ctx.settings.batch_max_commands * 2),
            holds_reported: 0,
            accept_skew: chrono::Duration::milliseconds(
                i64::try_from(ctx.settings.accept_skew_ms).unwrap_or(i64::MAX),
            ),
            probe_sent: None,
        };
        active.report_holds();
        active.refresh().await;
        active.repair_redis().await;
        Some(active)
    }

    /// Collects deliveries after `first` until they hold `batch_max_commands` items (a
    /// batch message counts its members; it is never split, so a worker batch may hold
    /// up to one batch message more) or `batch_max_wait_ms` after the first
    /// (deliveries already buffered are taken even with a zero wait), decoding each as
    /// it comes, while the next ones are on their way.
    pub(super) async fn collect(
        &mut self,
        first: Delivery,
        consumer: &mut Consumer,
    ) -> anyhow::Result<Collected> {
        let max = self.ctx.settings.batch_max_commands;
        let deadline = Instant::now() + Duration::from_millis(self.ctx.settings.batch_max_wait_ms);
        let mut batch = Collected::default();
        batch.push(first);
        while batch.incoming.len() < max {
            match tokio::time::timeout_at(deadline, consumer.next()).await {
                Ok(Some(d)) => {
                    let d = d.context("Consumer failed")?;
                    batch.push(d);
                }
                Ok(None) => bail!("the broker cancelled the consumer"),
                Err(_) => break,
            }
        }
        Ok(batch)
    }

    /// Re-writes every event's config and availability to Redis.
    pub(super) async fn refresh(&mut self) {
        for pipe in self.cache.refresh(&mut self.engine, Utc::now()) {
            self.finisher.write(pipe).await;
        }
    }

    /// A probe stamped `stamp` was read back, in delivery order: moves the watermark to
    /// `stamp - accept_skew`, expiring the holds it passes into `self.effects`.
    pub(super) fn probe_read(&mut self, stamp: DateTime<Utc>) {
        self.engine
            .advance_watermark(stamp - self.accept_skew, &mut self.effects);
        if self.probe_sent.is_some_and(|sent| sent <= stamp) {
            self.probe_sent = None;
        }
    }

    /// Counts `env` in `anteroom_worker_commands_late_total` if the watermark had
    /// already passed its accepted time when it was read: it was queued later than
    /// `accept_skew_ms` after its stamp, so the hold it names may have expired before it.
    pub(super) fn note_late(&self, env: &protocol::command::Envelope) {
        let Some(watermark) = self.engine.watermark() else {
            return;
        };
        if env.sent_at <= watermark {
            self.ctx.metrics.commands_late.inc();
            tracing::warn!(
                request_id = %env.request_id,
                kind = env.command.kind(),
                accepted_at = %env.sent_at,
                %watermark,
                "command queued later than accept_skew_ms after it was accepted"
            );
        }
    }

    /// Publishes a probe when a probe stamped now would expire a hold (its deadline is
    /// at least `accept_skew` ago) and none of ours is on its way, or the last one has
    /// been on its way for `probe_interval_ms` (the queue is long, or it was lost).
    ///
    /// # Errors
    /// The channel is closed.
    pub(super) async fn probe_if_due(&mut self) -> anyhow::Result<()> {
        let now = Utc::now();
        let due = self
            .engine
            .next_deadline()
            .is_some_and(|at| at + self.accept_skew <= now);
        let resend = chrono::Duration::milliseconds(
            i64::try_from(self.ctx.settings.probe_interval_ms).unwrap_or(i64::MAX),
        );
        let on_its_way = self.probe_sent.is_some_and(|sent| now - sent < resend);
        if due && !on_its_way {
            let queue = self.ctx.names.shard_queue(self.shard);
            delivery::probe(&self.channel, &queue, now)
                .await
                .context("Failed to publish a probe")?;
            self.probe_sent = Some(now);
        }
        Ok(())
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
