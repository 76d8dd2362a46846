//! Pipelined group commits: the next batch is decided while the previous one commits.
//!
//! A batch goes through three stages (see `batch`): decide (in memory, on top of every
//! earlier decision, committed or not), commit (one transaction, in its own task, so
//! PostgreSQL works while this task collects and decides the next batch), and finish
//! (Redis, replies, ack: only after its own COMMIT, in the `finisher` task, which works
//! through the batches in order while this task goes on). At most one batch is committing
//! and one is decided behind it. Transactions commit in order and each checks the
//! fencing epoch. When commits are what holds the shard back (the batch behind is at
//! least half of `batch_max_commands`) and it touches nothing the committing one
//! inserted (`overlap`), the batch behind starts its transaction at once: its rows are
//! written while the other commits, and its fence waits for that one and requires its
//! token (`repo::Link`), so it commits only after it and never after a rollback.
//! Otherwise its transaction starts once the previous one committed: with small
//! batches a commit is short, and a second transaction beside it would only compete
//! with the rest of the stack for the cores (docs/BENCHMARKS.md). Either way it starts
//! before the previous batch is finished, so Redis writes, replies and the ack of one
//! batch overlap the COMMIT of the next, and the deciding of the one after.
//!
//! If a commit fails, the batch decided behind it was decided on state that never
//! reached PostgreSQL: both go to the sequential path (`Active::process_after`, then
//! `Active::process`), which rebuilds the engine from PostgreSQL and, in delivery
//! order, retries with backoff (a transient failure) or splits the failed batch at once
//! to isolate the command at fault (PostgreSQL refused it). If fenced, every delivery of
//! both goes back to the queue.

use super::batch::Decided;
use super::finisher::Job;
use super::overlap::Inserts;
use super::session::Active;
use super::SessionEnd;
use crate::engine::Effect;
use crate::repo::{CommitError, Link, WritePlan};
use anyhow::{anyhow, bail, Context};
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::Consumer;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::{interval, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

/// What a commit task hands back: the batch's effects and the commit's result.
type Landed = (Vec<Effect>, Result<(), CommitError>);

/// A batch whose transaction is running in its own task (aborted if the session ends
/// first: its deliveries are then unacked and come back redelivered).
pub(super) struct Flight {
    batch: Decided,
    task: AbortOnDropHandle<Landed>,
    /// The token its transaction writes (`None`: it has nothing to write), and the
    /// signal that it holds the fence, for the batch linked after it.
    token: Option<(uuid::Uuid, oneshot::Receiver<()>)>,
    /// What it inserts, which a transaction started before it commits cannot see.
    inserts: Inserts,
}

/// The batch behind a committing one: decided, or already writing (linked after it).
enum Behind {
    Decided(Decided),
    Writing(Flight),
}

impl Active {
    /// Group commits until shutdown, fencing or a channel failure. At shutdown, the
    /// batches already finishing are acked before the consumer's channel closes.
    ///
    /// # Errors
    /// The consumer or channel failed; the caller reconnects.
    pub(super) async fn run(
        &mut self,
        consumer: &mut Consumer,
        first: Delivery,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<SessionEnd> {
        let end = self.run_batches(consumer, first, shutdown).await?;
        if end == SessionEnd::Shutdown {
            self.finisher.drain().await?;
        }
        Ok(end)
    }

    async fn run_batches(
        &mut self,
        consumer: &mut Consumer,
        first: Delivery,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<SessionEnd> {
        let settings = &self.ctx.settings;
        let mut expiry = interval(Duration::from_millis(settings.expiry_tick_ms));
        expiry.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let refresh_every = Duration::from_secs(settings.config_refresh_secs);
        let mut refresh = tokio::time::interval_at(Instant::now() + refresh_every, refresh_every);
        refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Writes the availability snapshots whose changes waited (see `crate::cache`).
        let snapshot_every = Duration::from_millis(settings.availability_interval_ms.max(10));
        let mut snapshots = interval(snapshot_every);
        snapshots.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut loss_check = interval(super::loss::CHECK_EVERY);
        loss_check.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut loss =
            super::loss::LossWatch::new(&self.ctx.keys, self.shard, &self.ctx.owner, self.epoch);
        let mut lost = false;
        let mut flight: Option<Flight> = None;
        // The refresh rewrites Redis from the engine, so it waits for an empty pipeline.
        let mut refresh_due = false;
        let mut next = Some(first);
        loop {
            if refresh_due && flight.is_none() {
                if std::mem::take(&mut lost) {
                    self.rewrite_lost_mirror().await;
                } else {
                    self.refresh().await;
                }
                refresh_due = false;
            }
            let first = match next.take() {
                Some(d) => d,
                None => tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => {
                        if let Some(f) = flight.take() {
                            self.land_for_shutdown(f).await?;
                        }
                        return Ok(SessionEnd::Shutdown);
                    }
                    landed = async { (&mut flight.as_mut()?.task).await.ok() }, if flight.is_some() => {
                        let f = flight.take().expect("a flight is in the air");
                        let landed = landed.ok_or_else(|| anyhow!("the commit task failed"))?;
                        let (end, _) = self.land(f, landed, None, shutdown).await?;
                        match end {
                            Some(end) => return Ok(end),
                            None => continue,
                        }
                    }
                    _ = refresh.tick() => {
                        refresh_due = true;
                        continue;
                    }
                    _ = loss_check.tick() => {
                        if self.redis_lost(&mut loss).await {
                            lost = true;
                            refresh_due = true;
                        }
                        continue;
                    }
                    _ = snapshots.tick(), if flight.is_none() => {
                        let pipe = self.cache.waiting_snapshots(&mut self.engine);
                        self.finisher.write(pipe).await;
                        continue;
                    }
                    _ = expiry.tick(), if flight.is_none() => {
                        self.finisher.send(Job::RetryPending).await?;
                        // Holds expire when the probe comes back, in delivery order.
                        self.probe_if_due().await?;
                        continue;
                    }
                    e = self.finisher.stopped() => return Err(e),
                    d = consumer.next(), if !refresh_due => match d {
                        Some(d) => d.context("Consumer failed")?,
                        None => bail!("the broker cancelled the consumer"),
                    },
                },
            };
            let collected = self.collect(first, consumer).await?;
            let decided = match self.decide(collected).await {
                Ok(decided) => decided,
                Err((deliveries, e)) => {
                    // PostgreSQL is failing: finish what is in the air, then the
                    // sequential path retries this batch with backoff.
                    tracing::warn!(error = %e, "lookup of redelivered commands failed");
                    if let Some(f) = flight.take() {
                        if let (Some(end), _) = self.land_awaited(f, None, shutdown).await? {
                            return Ok(end);
                        }
                    }
                    if let Some(end) = self.process(deliveries, shutdown).await? {
                        return Ok(end);
                    }
                    continue;
                }
            };
            match flight.take() {
                None => flight = Some(self.launch(decided, None)),
                Some(mut f) => {
                    let full = decided.incoming.len() * 2 >= self.ctx.settings.batch_max_commands;
                    let behind = match f.token.take() {
                        Some(after) if full && f.inserts.allow_overlap(&decided.effects) => {
                            Behind::Writing(self.launch(decided, Some(after)))
                        }
                        _ => Behind::Decided(decided),
                    };
                    let (end, launched) = self.land_awaited(f, Some(behind), shutdown).await?;
                    if let Some(end) = end {
                        return Ok(end);
                    }
                    flight = launched;
                }
            }
        }
    }

    /// Starts the transaction of `batch` in its own task: linked after the transaction
    /// that writes `after` (still committing), or after whatever committed.
    fn launch(
        &mut self,
        mut batch: Decided,
        after: Option<(uuid::Uuid, oneshot::Receiver<()>)>,
    ) -> Flight {
        let effects = std::mem::take(&mut batch.effects);
        let inserts = Inserts::of(&effects);
        let token = (!effects.is_empty()).then(uuid::Uuid::new_v4);
        let (fenced, fenced_rx) = oneshot::channel();
        if after.is_some() {
            self.ctx.metrics.linked_commits.inc();
        }
        let (repo, shard, epoch, now) = (self.ctx.repo.clone(), self.shard, self.epoch, batch.now);
        let metrics = self.ctx.metrics.clone();
        let task = tokio::spawn(async move {
            let result = {
                let plan = WritePlan::new(&effects, now);
                // With effects the transaction runs even if they write no row: a batch
                // linked after this one requires its token.
                match token {
                    Some(token) => {
                        let timer = metrics.commit_seconds.start_timer();
                        let fenced = Some(fenced);
                        let link = Link {
                            token,
                            after,
                            fenced,
                        };
                        let r = repo.commit_linked(shard, epoch, &plan, link).await;
                        timer.observe_duration();
                        r
                    }
                    None => Ok(()),
                }
            };
            (effects, result)
        });
        Flight {
            batch,
            task: AbortOnDropHandle::new(task),
            token: token.map(|t| (t, fenced_rx)),
            inserts,
        }
    }

    /// Waits for `f`'s commit, then lands it with `behind` (see [`Active::land`]).
    async fn land_awaited(
        &mut self,
        mut f: Flight,
        behind: Option<Behind>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<(Option<SessionEnd>, Option<Flight>)> {
        let landed = (&mut f.task).await.context("the commit task failed")?;
        self.land(f, landed, behind, shutdown).await
    }

    /// Handles a landed commit. Committed: starts `behind`'s transaction first (unless it
    /// is already writing), then finishes `f` (its replies and ack overlap the next
    /// COMMIT) and returns the new flight. Fenced: gives back every delivery of both.
    /// Failed: waits for a `behind` that is already writing (it commits only if `f` did
    /// after all, a COMMIT whose answer was lost), then both go in order to the
    /// sequential path (retried, or split if PostgreSQL refused the batch).
    async fn land(
        &mut self,
        mut f: Flight,
        (effects, result): Landed,
        behind: Option<Behind>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<(Option<SessionEnd>, Option<Flight>)> {
        match result {
            Ok(()) => {
                let next = behind.map(|b| match b {
                    Behind::Decided(d) => self.launch(d, None),
                    Behind::Writing(w) => w,
                });
                f.batch.effects = effects;
                let buffer = self.finish(f.batch, false).await?;
                if self.effects.is_empty() {
                    self.effects = buffer;
                }
                Ok((None, next))
            }
            Err(CommitError::Fenced { current }) => {
                let behind = match behind {
                    Some(Behind::Writing(w)) => Some(Self::ended(w).await?.0),
                    Some(Behind::Decided(d)) => Some(d),
                    None => None,
                };
                let last = behind
                    .as_ref()
                    .and_then(|b| b.deliveries.last())
                    .or(f.batch.deliveries.last());
                self.fenced(current, last).await;
                Ok((Some(SessionEnd::Fenced), None))
            }
            Err(failure) => {
                match &failure {
                    CommitError::Permanent(e) => tracing::warn!(
                        error = %e,
                        "group commit refused; splitting the batch to isolate the command at fault"
                    ),
                    e => {
                        self.ctx.metrics.commit_failures.inc();
                        tracing::warn!(error = %e, "group commit failed; retrying the batch");
                    }
                }
                // Before anything is read again from PostgreSQL: a transaction still
                // writing would change it under the rebuild.
                let behind = match behind {
                    Some(Behind::Writing(w)) => {
                        let (b, r) = Self::ended(w).await?;
                        Some((b, Some(r)))
                    }
                    Some(Behind::Decided(d)) => Some((d, None)),
                    None => None,
                };
                let failed = f.batch.deliveries;
                if let Some(end) = self.process_after(failed, &failure, shutdown).await? {
                    return Ok((Some(end), None));
                }
                let end = match behind {
                    None => None,
                    // Never started, or stopped at its fence: nothing of it was written.
                    Some((b, None | Some(Err(CommitError::Unordered)))) => {
                        self.process(b.deliveries, shutdown).await?
                    }
                    Some((b, Some(Err(CommitError::Fenced { current })))) => {
                        self.fenced(current, b.deliveries.last()).await;
                        Some(SessionEnd::Fenced)
                    }
                    // Committed (so `f` did too) or failed: its commands are looked up
                    // before they are decided again.
                    Some((b, Some(Ok(())))) => {
                        let unknown = CommitError::Unordered;
                        self.process_after(b.deliveries, &unknown, shutdown).await?
                    }
                    Some((b, Some(Err(e)))) => {
                        self.process_after(b.deliveries, &e, shutdown).await?
                    }
                };
                Ok((end, None))
            }
        }
    }

    /// Waits for the transaction of `w` to end: its batch and the commit's result.
    async fn ended(mut w: Flight) -> anyhow::Result<(Decided, Result<(), CommitError>)> {
        let (effects, result) = (&mut w.task).await.context("the commit task failed")?;
        w.batch.effects = effects;
        Ok((w.batch, result))
    }

    /// On shutdown: lets the batch in the air finish if its commit succeeds; otherwise
    /// its deliveries go back to the queue when the channel closes.
    async fn land_for_shutdown(&mut self, mut f: Flight) -> anyhow::Result<()> {
        if let Ok((effects, Ok(()))) = (&mut f.task).await {
            f.batch.effects = effects;
            self.finish(f.batch, false).await?;
        }
        Ok(())
    }
}
