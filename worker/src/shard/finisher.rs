//! The stage after a batch's COMMIT, in a task of its own: Redis writes, replies, dead
//! letters and one ack, batch after batch in commit order, while the shard's loop
//! collects and decides the next batches. The loop builds everything from the engine
//! (Redis pipelines, outcomes) before it hands a batch over, so the finisher needs no
//! shard state but the Redis writer's retry queue.
//!
//! Every Redis write of the shard's consumer (snapshots from the timer, refreshes,
//! repairs) goes through the same queue of jobs, so writes reach Redis in the order the
//! loop made them, and a batch's Redis writes land before its replies: a fan who has
//! the answer finds it in Redis too. The queue holds at most [`QUEUED`] jobs; a loop that gets
//! ahead of Redis or the broker waits. The loop waits for the queue to empty
//! ([`Finisher::drain`]) only before it gives deliveries back to the queue (fenced) and
//! at shutdown, so every ack of a finished batch goes out first.

use super::batch::Decision;
use super::delivery::{self, Incoming, Origin};
use super::ShardContext;
use crate::cache::RedisWriter;
use crate::dead_letters::Letter;
use anyhow::{anyhow, Context};
use lapin::message::Delivery;
use lapin::options::BasicAckOptions;
use lapin::types::ShortString;
use lapin::Channel;
use protocol::batch::BatchWriter;
use protocol::reply::Reply;
use redis::Pipeline;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::task::AbortOnDropHandle;
use tracing::instrument;

/// Jobs waiting for the finisher, besides the one it is doing. One batch queued behind
/// the one being answered keeps the finisher busy without holding more deliveries
/// unacked than the prefetch allows for (`session.rs`).
const QUEUED: usize = 1;

/// What the finisher does, in order.
pub(super) enum Job {
    /// A committed batch: its Redis writes, then its replies, dead letters and ack.
    Batch(Answers),
    /// Redis writes of no batch (snapshots, refreshes, repairs).
    Write(Pipeline),
    /// Retries the Redis writes that failed, once their delay has passed.
    RetryPending,
    /// Answered once every job before it is done.
    Drain(oneshot::Sender<()>),
}

/// A committed batch as the finisher needs it.
pub(super) struct Answers {
    /// Its Redis writes in parts, each with the count of `incoming` to answer once it
    /// is written (ascending; after a failed COMMIT that may have gone through, the
    /// last parts are a full refresh).
    pub(super) parts: Vec<(Pipeline, usize)>,
    pub(super) deliveries: Vec<Delivery>,
    pub(super) incoming: Vec<Incoming>,
    pub(super) origins: Vec<Origin>,
    pub(super) decisions: Vec<Option<Decision>>,
    /// Items to dead-letter before the ack (by index into `incoming`), besides
    /// malformed ones.
    pub(super) dead: Vec<(usize, Letter)>,
}

/// The loop's handle on its finisher task (aborted when dropped: deliveries
/// not acked yet come back redelivered and are answered from their stored results).
pub(super) struct Finisher {
    jobs: mpsc::Sender<Job>,
    task: Option<AbortOnDropHandle<anyhow::Result<()>>>,
}

impl Finisher {
    /// Starts the finisher of `shard`'s consumer on `channel`.
    pub(super) fn start(
        ctx: Arc<ShardContext>,
        shard: u16,
        channel: Channel,
        writer: RedisWriter,
    ) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUED);
        let task = Finishing {
            ctx,
            shard,
            channel,
            writer,
        }
        .run(queue);
        Self {
            jobs,
            task: Some(AbortOnDropHandle::new(tokio::spawn(task))),
        }
    }

    /// Queues `job`, waiting while the queue is full.
    ///
    /// # Errors
    /// The finisher stopped: publishing, dead-lettering or acking failed (the channel
    /// died); its error.
    pub(super) async fn send(&mut self, job: Job) -> anyhow::Result<()> {
        match self.jobs.send(job).await {
            Ok(()) => Ok(()),
            Err(_) => Err(self.failure().await),
        }
    }

    /// Queues Redis writes. A stopped finisher is not reported here: the consumer ends
    /// on it with the next batch, or from its loop.
    pub(super) async fn write(&mut self, pipe: Pipeline) {
        let _ = self.jobs.send(Job::Write(pipe)).await;
    }

    /// Waits until every job queued so far is done.
    ///
    /// # Errors
    /// As [`Finisher::send`].
    pub(super) async fn drain(&mut self) -> anyhow::Result<()> {
        let (done, drained) = oneshot::channel();
        self.send(Job::Drain(done)).await?;
        match drained.await {
            Ok(()) => Ok(()),
            Err(_) => Err(self.failure().await),
        }
    }

    /// The error the finisher stopped on (reported once; later calls say it stopped).
    async fn failure(&mut self) -> anyhow::Error {
        if self.task.is_none() {
            return anyhow!("the finisher had stopped");
        }
        self.stopped().await
    }

    /// Waits for the finisher to stop, which it does only on a failure; its error
    /// (never returns once that error was taken).
    pub(super) async fn stopped(&mut self) -> anyhow::Error {
        let Some(task) = self.task.as_mut() else {
            return std::future::pending().await;
        };
        let ended = task.await;
        self.task = None;
        match ended {
            Ok(Err(e)) => e,
            Ok(Ok(())) => anyhow!("the finisher stopped"),
            Err(e) => anyhow!(e).context("the finisher task failed"),
        }
    }
}

/// The finisher task's state.
pub(super) struct Finishing {
    pub(super) ctx: Arc<ShardContext>,
    pub(super) shard: u16,
    channel: Channel,
    writer: RedisWriter,
}

impl Finishing {
    async fn run(mut self, mut queue: mpsc::Receiver<Job>) -> anyhow::Result<()> {
        while let Some(job) = queue.recv().await {
            match job {
                Job::Batch(answers) => self.answer(answers).await?,
                Job::Write(pipe) => self.writer.write(pipe).await,
                Job::RetryPending => self.writer.retry_pending().await,
                Job::Drain(done) => {
                    let _ = done.send(());
                }
            }
        }
        Ok(())
    }

    /// Part after part, the part's Redis writes, then its replies (published while the
    /// next part is written); then dead letters (confirmed by the broker) and one ack
    /// for all, once every reply is out.
    ///
    /// # Errors
    /// Publishing replies or dead letters, or acking, failed (the channel died): the
    /// deliveries come back redelivered to the shard's next consumer, which answers them
    /// from the stored results.
    #[instrument(skip_all, fields(shard = self.shard, size = answers.deliveries.len()))]
    async fn answer(&mut self, answers: Answers) -> anyhow::Result<()> {
        let (incoming, origins) = (&answers.incoming, &answers.origins);
        let mut decisions = answers.decisions.into_iter();
        let mut publishing = Vec::with_capacity(answers.parts.len());
        let mut answered = 0;
        for (pipe, end) in answers.parts {
            self.writer.write(pipe).await;
            let end = end.clamp(answered, incoming.len());
            let items = answered..end;
            let part = decisions.by_ref().take(items.len());
            publishing.push(self.replies(&incoming[items.clone()], &origins[items], part)?);
            answered = end;
        }
        for published in publishing {
            published
                .await
                .context("the reply task failed")?
                .context("Failed to publish a reply")?;
        }
        let deliveries = &answers.deliveries;
        self.dead_letter(deliveries, incoming, origins, answers.dead)
            .await?;
        if let Some(last) = deliveries.last() {
            self.channel
                .basic_ack(last.delivery_tag, BasicAckOptions { multiple: true })
                .await
                .context("Failed to ack the batch")?;
        }
        Ok(())
    }

    /// Starts publishing the replies of a part, in a task (awaited before the ack): one
    /// message per single-form command, and one reply batch per reply queue for the
    /// members of batch messages.
    ///
    /// # Errors
    /// A reply could not be encoded.
    fn replies(
        &self,
        incoming: &[Incoming],
        origins: &[Origin],
        decisions: impl Iterator<Item = Option<Decision>>,
    ) -> anyhow::Result<JoinHandle<lapin::Result<()>>> {
        let mut singles = Vec::new();
        let mut batches: Vec<(ShortString, BatchWriter)> = Vec::new();
        for ((inc, d), origin) in incoming.iter().zip(decisions).zip(origins) {
            let Some(d) = d else { continue };
            if origin.line.is_none() {
                singles.push(delivery::single_reply(inc, d.outcome));
                continue;
            }
            let Some((request_id, reply_to)) = inc.reply_target() else {
                continue;
            };
            let line = serde_json::to_vec(&Reply {
                request_id,
                outcome: d.outcome,
            })
            .context("Failed to encode a reply")?;
            // Few gateways per batch: a linear search beats hashing.
            let i = match batches.iter().position(|(to, _)| to == reply_to) {
                Some(i) => i,
                None => {
                    batches.push((reply_to.clone(), BatchWriter::new()));
                    batches.len() - 1
                }
            };
            batches[i].1.push(&line);
        }
        let batches: Vec<(ShortString, Vec<u8>)> = batches
            .into_iter()
            .map(|(to, body)| (to, body.finish()))
            .collect();
        let channel = self.channel.clone();
        Ok(tokio::spawn(async move {
            // All at once: each publish waits until lapin's I/O loop has written it, so
            // awaiting them one by one costs a thread handoff per reply.
            let singles = singles
                .iter()
                .flatten()
                .map(|single| delivery::publish_reply(&channel, single));
            let batched = batches
                .iter()
                .map(|(to, body)| delivery::reply_batch(&channel, to, body));
            futures::future::try_join(
                futures::future::try_join_all(singles),
                futures::future::try_join_all(batched),
            )
            .await?;
            Ok(())
        }))
    }
}
