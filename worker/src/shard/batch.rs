//! One group commit: decide a batch of deliveries in order, persist every effect in one
//! transaction, then (only after COMMIT) hand it to the finisher, which writes Redis,
//! publishes replies and acks them all with one `basic_ack(last, multiple)`.
//!
//! Replays: a redelivered command (the broker gave it to us again, e.g. after a crash
//! between commit and ack) is first looked up in `request_results` and answered with
//! its stored outcome. If a commit fails transiently (PostgreSQL down), nothing is
//! acked: the batch is retried with backoff on an engine rebuilt from PostgreSQL (the
//! failed attempt mutated the in-memory one), and every command of the batch is looked
//! up first, in case the failed COMMIT had in fact gone through. If PostgreSQL refuses
//! the batch (a permanent error), it is split at once, without a backoff, to isolate the
//! command at fault (`isolate`).
//!
//! The stages are separate so `pipeline` can overlap them across batches:
//! [`Active::decide`] (in memory; also builds the batch's Redis writes, in parts, so
//! they show the state as of this batch), the commit, then [`Active::finish`] (metrics,
//! then the `finisher` task: Redis, replies, ack). [`Active::process`] runs them in
//! sequence, with the retries.

use super::delivery::{self, Incoming, Origin};
use super::finisher::{Answers, Job};
use super::session::Active;
use super::{backoff, sleep_or_shutdown, SessionEnd};
use crate::dead_letters::Letter;
use crate::engine::Effect;
use crate::repo::{CommitError, WritePlan};
use chrono::{DateTime, SubsecRound, Utc};
use lapin::message::Delivery;
use lapin::options::BasicNackOptions;
use protocol::command::Envelope;
use protocol::reply::Outcome;
use redis::Pipeline;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::instrument;
use uuid::Uuid;

/// Commands per part of a batch's answer: the finisher replies to a part once its
/// Redis writes are in, so the first replies of a batch of 1,000 wait for an eighth of
/// its writes rather than all of them (the Redis write is most of the answer's time,
/// docs/BENCHMARKS.md).
const ANSWER_PART: usize = 128;

/// The deliveries collected for a batch, decoded as they came (while later ones were
/// still on their way).
#[derive(Default)]
pub(super) struct Collected {
    pub(super) deliveries: Vec<Delivery>,
    pub(super) incoming: Vec<Incoming>,
    /// Where each of `incoming` came from.
    pub(super) origins: Vec<Origin>,
}

impl Collected {
    /// Decodes `d` and adds it.
    pub(super) fn push(&mut self, d: Delivery) {
        let index = self.deliveries.len();
        delivery::decode_onto(&d, index, &mut self.incoming, &mut self.origins);
        self.deliveries.push(d);
    }
}

/// A command's outcome, and whether it was answered from its stored result.
pub(super) struct Decision {
    pub(super) outcome: Outcome,
    pub(super) replayed: bool,
}

/// A decided batch: its deliveries, their outcomes, the effects to commit and the Redis
/// writes to send once they are committed, in parts.
pub(super) struct Decided {
    pub(super) deliveries: Vec<Delivery>,
    pub(super) incoming: Vec<Incoming>,
    /// Where each of `incoming` came from.
    pub(super) origins: Vec<Origin>,
    pub(super) decisions: Vec<Option<Decision>>,
    pub(super) effects: Vec<Effect>,
    pub(super) now: DateTime<Utc>,
    /// The Redis writes in parts, each with the count of `incoming` answered once it
    /// is written (ascending; the last is all of them).
    pub(super) parts: Vec<(Pipeline, usize)>,
    /// Items to dead-letter before the ack (by index into `incoming`), besides
    /// malformed ones.
    pub(super) dead: Vec<(usize, Letter)>,
}

/// Where [`Active::process_from`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// A batch not tried yet.
    Fresh,
    /// Its commit failed transiently (and may have gone through).
    AfterTransient,
    /// PostgreSQL refused its commit.
    AfterPermanent,
}

impl Active {
    /// Processes `deliveries` (possibly none). Returns
    /// `Some(end)` when the session must end.
    ///
    /// # Errors
    /// Publishing replies or dead letters, or acking, failed (the channel died): the
    /// deliveries come back redelivered to the next session, which answers them from
    /// the stored results.
    pub(super) async fn process(
        &mut self,
        deliveries: Vec<Delivery>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Option<SessionEnd>> {
        self.process_from(deliveries, Start::Fresh, shutdown).await
    }

    /// [`Active::process`] of a batch whose commit already failed once with `failure`
    /// (a transient failure may have gone through): a transient one waits a backoff
    /// delay and retries the batch; a permanent one is split at once.
    ///
    /// # Errors
    /// As [`Active::process`].
    pub(super) async fn process_after(
        &mut self,
        deliveries: Vec<Delivery>,
        failure: &CommitError,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Option<SessionEnd>> {
        let start = match failure {
            CommitError::Permanent(_) => Start::AfterPermanent,
            _ => Start::AfterTransient,
        };
        self.process_from(deliveries, start, shutdown).await
    }

    #[instrument(skip_all, fields(shard = self.shard, epoch = self.epoch, size = deliveries.len()))]
    async fn process_from(
        &mut self,
        deliveries: Vec<Delivery>,
        start: Start,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Option<SessionEnd>> {
        let (mut incoming, origins) = self.decode(&deliveries);
        let mut retry = backoff();
        let mut after_failure = start != Start::Fresh;
        // `None`: the batch is committed whole. `Some(known_bad)`: it is split to
        // isolate what PostgreSQL refuses (at once if the whole batch was just refused).
        let mut split = (start == Start::AfterPermanent).then_some(true);
        if start == Start::AfterTransient {
            let delay = retry.next().unwrap_or(Duration::from_secs(5));
            if !sleep_or_shutdown(delay, shutdown).await {
                return Ok(Some(SessionEnd::Shutdown));
            }
        }
        let (decisions, dead, now) = loop {
            // PostgreSQL keeps microseconds: decide with them, so times in replies,
            // Redis and a later rebuild are the same instants.
            let now = Utc::now().trunc_subsecs(6);
            let attempt = match split {
                None => self
                    .attempt(&incoming, now, after_failure)
                    .await
                    .map(|d| (d, Vec::new())),
                Some(known_bad) => self
                    .isolate(&mut incoming, now, known_bad)
                    .await
                    .map(|i| (i.decisions, i.dead)),
            };
            match attempt {
                Ok((decisions, dead)) => break (decisions, dead, now),
                Err(CommitError::Fenced { current }) => {
                    self.fenced(current, deliveries.last()).await;
                    return Ok(Some(SessionEnd::Fenced));
                }
                Err(CommitError::Permanent(e)) if split.is_none() => {
                    after_failure = true;
                    split = Some(true);
                    tracing::warn!(
                        error = %e,
                        "group commit refused; splitting the batch to isolate the command at fault"
                    );
                }
                Err(e) => {
                    after_failure = true;
                    if let Some(known_bad) = split.as_mut() {
                        // Parts may have committed since: the next try starts whole.
                        *known_bad = false;
                    }
                    self.ctx.metrics.commit_failures.inc();
                    let delay = retry.next().unwrap_or(Duration::from_secs(10));
                    tracing::warn!(error = %e, ?delay, "group commit failed; retrying the batch");
                    if !sleep_or_shutdown(delay, shutdown).await {
                        return Ok(Some(SessionEnd::Shutdown));
                    }
                }
            }
        };
        let effects = std::mem::take(&mut self.effects);
        let pipes = self.cache.batch(&effects, &[], &mut self.engine, now);
        let parts = pipes.into_iter().map(|p| (p, incoming.len())).collect();
        let batch = Decided {
            deliveries,
            incoming,
            origins,
            decisions,
            effects,
            now,
            parts,
            dead,
        };
        let effects = self.finish(batch, after_failure).await?;
        self.effects = effects;
        Ok(None)
    }

    /// Decodes `deliveries` (a batch message into its members) and counts the
    /// redelivered ones.
    pub(super) fn decode(&self, deliveries: &[Delivery]) -> (Vec<Incoming>, Vec<Origin>) {
        let redelivered = deliveries.iter().filter(|d| d.redelivered).count();
        self.ctx.metrics.redeliveries.inc_by(redelivered as u64);
        delivery::decode_all(deliveries)
    }

    /// Decides `collected` on the engine as it is (committed or not), without
    /// committing: the stage `pipeline` runs while the previous batch commits.
    ///
    /// # Errors
    /// The lookup of redelivered commands failed; nothing was decided (the engine is
    /// untouched) and the deliveries come back.
    #[instrument(skip_all, fields(shard = self.shard, size = collected.deliveries.len()))]
    pub(super) async fn decide(
        &mut self,
        collected: Collected,
    ) -> Result<Decided, (Vec<Delivery>, CommitError)> {
        let Collected {
            deliveries,
            incoming,
            origins,
        } = collected;
        let redelivered = deliveries.iter().filter(|d| d.redelivered).count();
        self.ctx.metrics.redeliveries.inc_by(redelivered as u64);
        let now = Utc::now().trunc_subsecs(6);
        let (decisions, cuts) = match self.decide_once(&incoming, now, false).await {
            Ok(d) => d,
            Err(e) => return Err((deliveries, e)),
        };
        let effects = std::mem::take(&mut self.effects);
        let effect_cuts: Vec<usize> = cuts.iter().map(|&(_, effects)| effects).collect();
        let pipes = self
            .cache
            .batch(&effects, &effect_cuts, &mut self.engine, now);
        let ends = cuts.iter().map(|&(items, _)| items).chain([incoming.len()]);
        let parts = pipes.into_iter().zip(ends).collect();
        Ok(Decided {
            deliveries,
            incoming,
            origins,
            decisions,
            effects,
            now,
            parts,
            dead: Vec::new(),
        })
    }

    /// Gives every delivery up to `last` back to the queue after being fenced, once the
    /// finisher has acked the batches it holds (a nack of many after their acks).
    pub(super) async fn fenced(&mut self, current: Option<i64>, last: Option<&Delivery>) {
        tracing::warn!(?current, "fenced: another worker owns the shard");
        if let Err(e) = self.finisher.drain().await {
            tracing::warn!(error = %e, "the finisher failed; the channel's close requeues the rest");
            return;
        }
        if let Some(last) = last {
            let requeue = BasicNackOptions {
                multiple: true,
                requeue: true,
            };
            let _ = self.channel.basic_nack(last.delivery_tag, requeue).await;
        }
    }

    /// The stage after a batch's COMMIT, up to the finisher: metrics, then the batch
    /// goes to the finisher with its Redis writes (the replays' added to its first
    /// part, and a full refresh if an earlier attempt failed: it may have gone
    /// through), which writes them, replies, dead-letters and acks. Returns the
    /// batch's effects buffer for reuse.
    ///
    /// # Errors
    /// The finisher stopped (the channel died).
    #[instrument(skip_all, fields(shard = self.shard, size = batch.deliveries.len()))]
    pub(super) async fn finish(
        &mut self,
        batch: Decided,
        after_failure: bool,
    ) -> anyhow::Result<Vec<Effect>> {
        let Decided {
            deliveries,
            incoming,
            origins,
            decisions,
            mut effects,
            mut parts,
            dead,
            ..
        } = batch;
        self.record(&incoming, &decisions, &effects);
        let replays: Vec<(&Envelope, &Outcome)> = incoming
            .iter()
            .zip(&decisions)
            .filter_map(|(i, d)| match (i.envelope(), d) {
                (Some(env), Some(d)) if d.replayed => Some((env, &d.outcome)),
                _ => None,
            })
            .collect();
        // In the first part: a replay may follow a crash between a commit and its Redis
        // writes, and its documents must be back before any reply of the batch.
        if let Some((first, _)) = parts.first_mut() {
            self.cache.replays(first, &self.engine, &replays);
        }
        if after_failure {
            // A failed COMMIT may have gone through: bring Redis in line with the truth.
            let all = incoming.len();
            let refresh = self.cache.refresh(&mut self.engine, Utc::now());
            parts.extend(refresh.into_iter().map(|p| (p, all)));
        }
        let answers = Answers {
            parts,
            deliveries,
            incoming,
            origins,
            decisions,
            dead,
        };
        self.finisher.send(Job::Batch(answers)).await?;
        effects.clear();
        Ok(effects)
    }

    /// Decides and commits the batch once. `after_failure`: a previous attempt failed,
    /// so the engine is rebuilt first and every command is looked up. A failure before
    /// the commit (the rebuild, the lookup) is transient: it does not depend on the
    /// commands' data.
    async fn attempt(
        &mut self,
        incoming: &[Incoming],
        now: DateTime<Utc>,
        after_failure: bool,
    ) -> Result<Vec<Option<Decision>>, CommitError> {
        let (outcomes, _) = self
            .decide_once(incoming, now, after_failure)
            .await
            .map_err(CommitError::while_reading)?;
        let plan = WritePlan::new(&self.effects, now);
        if !plan.is_empty() {
            let timer = self.ctx.metrics.commit_seconds.start_timer();
            self.ctx.repo.commit(self.shard, self.epoch, &plan).await?;
            timer.observe_duration();
        }
        Ok(outcomes)
    }

    /// Decides the batch into `self.effects` (rebuilding the engine first after a
    /// failure). Nothing is decided if the lookup fails. Returns the outcomes and where
    /// the answer's parts end: after every [`ANSWER_PART`] items but the last, the
    /// items and the effects so far.
    pub(super) async fn decide_once(
        &mut self,
        incoming: &[Incoming],
        now: DateTime<Utc>,
        after_failure: bool,
    ) -> Result<(Vec<Option<Decision>>, Vec<(usize, usize)>), CommitError> {
        let repo = &self.ctx.repo;
        if after_failure {
            let current = repo.current_epoch(self.shard).await?;
            if current != Some(self.epoch) {
                return Err(CommitError::Fenced { current });
            }
            let mut rebuilt = repo.load_shard(self.shard, self.epoch).await?;
            rebuilt.continue_versions_of(&self.engine);
            self.engine = rebuilt;
        }
        let lookup: Vec<Uuid> = incoming
            .iter()
            .filter_map(Incoming::answerable)
            .filter(|(_, redelivered)| *redelivered || after_failure)
            .map(|(id, _)| id.0)
            .collect();
        let stored = repo.stored_results(&lookup).await?;
        self.effects.clear();
        let mut outcomes = Vec::with_capacity(incoming.len());
        let mut cuts = Vec::with_capacity(incoming.len() / ANSWER_PART);
        for (i, inc) in incoming.iter().enumerate() {
            if i > 0 && i % ANSWER_PART == 0 {
                cuts.push((i, self.effects.len()));
            }
            if let Incoming::Probe { stamp: Some(stamp) } = inc {
                self.probe_read(*stamp);
            }
            let replay = |id| {
                stored.get(id).map(|first: &Outcome| Decision {
                    outcome: first.clone(),
                    replayed: true,
                })
            };
            let decided = |outcome| Decision {
                outcome,
                replayed: false,
            };
            outcomes.push(match inc {
                Incoming::Command { env, .. } => {
                    Some(replay(&env.request_id).unwrap_or_else(|| {
                        self.note_late(env);
                        decided(
                            self.engine
                                .apply(env, now, &mut self.rng, &mut self.effects),
                        )
                    }))
                }
                // A command the worker cannot decode gets its refusal stored like any
                // outcome, so the shard moves on and a redelivery is answered the same.
                Incoming::Invalid { refusal, .. } => Some(
                    replay(&refusal.request_id)
                        .unwrap_or_else(|| decided(self.engine.refuse(refusal, &mut self.effects))),
                ),
                Incoming::Probe { .. } | Incoming::Malformed => None,
            });
        }
        Ok((outcomes, cuts))
    }
}
