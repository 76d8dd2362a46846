//! Publishing commands to the worker shards and waiting for their replies (AMQP).
//!
//! One long-lived channel per gateway replica, in confirm mode, does both halves of
//! RabbitMQ's direct reply-to (the consumer and the publisher must share the channel):
//! it consumes `amq.rabbitmq.reply-to` with `no_ack` and publishes every command with
//! `reply_to = amq.rabbitmq.reply-to`. Commands bound for one shard are coalesced into
//! one message (`batcher`; the batch form of `protocol::batch`), and the worker answers
//! a batch's commands in one reply batch. Replies, single or batched, are matched to
//! requests by request id through a map of waiting `oneshot` senders.
//!
//! [`Publisher::run`] owns the connection: it connects with backoff (100 ms doubling to
//! 2 s), declares the topology of the contract (the worker declares the same, both are
//! idempotent), and starts over when the broker goes away. Meanwhile
//! [`Publisher::send`] fails with [`PublishError::Unavailable`], answered `503` (nothing
//! was accepted, so nothing is lost).
//!
//! A publisher confirm that does not come within [`CONFIRM_TIMEOUT`] is not a refusal:
//! the command went out on an open channel and may well be queued (a broker slow to
//! replicate, a stalled link), so it is answered like a late reply (`202` with the
//! request URL), never `503`, which would invite a retry of a command that may apply.
//! Only a nack, an unroutable return or a closed channel say that nothing was accepted.

use crate::metrics::Metrics;
use lapin::Channel;
use protocol::command::Envelope;
use protocol::ids::RequestId;
use protocol::names::AmqpNames;
use protocol::reply::Reply;
use protocol::topology::Topology;
use runtime::amqp::Brokers;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

mod batcher;
mod connection;

pub use batcher::BatchConfig;
use batcher::{Flushed, ShardQueue};

/// Why a command was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The broker is not connected, refused the command (nack), returned it as
    /// unroutable, or the channel closed before the confirm: nothing was accepted, so a
    /// retry is safe. The string is the cause, for logs only.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The command could not be encoded, or the channel is not in confirm mode: a bug.
    #[error("{0:#}")]
    Internal(#[from] anyhow::Error),
}

/// What came of a published command.
#[derive(Debug)]
pub enum Answer {
    /// The worker replied in time.
    Reply(Reply),
    /// No reply came in time: the broker confirmed the command and the worker did not
    /// answer within the wait, or the broker did not confirm it within
    /// [`CONFIRM_TIMEOUT`] (it may be queued). Answer `202`; the worker stores the result
    /// in Redis once it decides.
    TimedOut,
}

/// Longest wait for the broker's publisher confirm (quorum queues confirm once a
/// majority has the message: milliseconds when healthy).
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest wait for the command channel when it is not open (startup, reconnect).
pub const CHANNEL_WAIT: Duration = Duration::from_secs(1);

/// Oldest accepted-time stamp (`Envelope::sent_at`) a command is published with, as an
/// age at the moment of publishing: a command that waited longer to be handed to the
/// broker is re-stamped to exactly this age. It bounds the accept-to-publish part of
/// the worker's `accept_skew_ms` (default 2000 ms, which leaves 500 ms for clock
/// differences and the broker's queueing; docs/RESERVATIONS.md), and exceeds
/// [`CHANNEL_WAIT`], so waiting for a reconnecting channel never costs a fan the
/// time they confirmed at.
pub const STAMP_MAX_AGE: Duration = Duration::from_millis(1500);

/// Moves the accepted time of `envelope`, published at `now`, up to `now -`
/// [`STAMP_MAX_AGE`] if it is older, so no command reaches the broker with an older
/// stamp.
fn restamp(envelope: &mut Envelope, now: chrono::DateTime<chrono::Utc>) {
    let oldest = now - chrono::Duration::from_std(STAMP_MAX_AGE).unwrap_or_default();
    envelope.sent_at = envelope.sent_at.max(oldest);
}

fn usable(channel: &Channel) -> bool {
    channel.status().connected()
}

type Waiters = Mutex<HashMap<RequestId, oneshot::Sender<Reply>>>;

/// Handle to the command channel (cheap to clone).
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

struct Inner {
    brokers: Brokers,
    topology: Topology,
    names: AmqpNames,
    shards: u16,
    batching: BatchConfig,
    channel: watch::Sender<Option<Channel>>,
    /// One batch queue per shard published to.
    queues: Mutex<HashMap<u16, ShardQueue>>,
    waiters: Waiters,
    metrics: Metrics,
}

/// Removes a waiter however `send` ends (reply, timeout, error, cancellation).
struct WaiterGuard<'a>(&'a Waiters, RequestId);

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.0.lock().expect("waiters poisoned").remove(&self.1);
    }
}

impl Publisher {
    /// A publisher to one of `brokers` that declares `topology` and batches as
    /// `batching` says; not connected until [`Publisher::run`] runs.
    pub fn new(
        brokers: Brokers,
        topology: Topology,
        batching: BatchConfig,
        metrics: Metrics,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                brokers,
                names: topology.names().clone(),
                shards: topology.shards(),
                topology,
                batching,
                channel: watch::Sender::new(None),
                queues: Mutex::new(HashMap::new()),
                waiters: Mutex::new(HashMap::new()),
                metrics,
            }),
        }
    }

    /// The batch queue of `shard`, its flusher started on first use.
    fn queue(&self, shard: u16) -> ShardQueue {
        let inner = &self.inner;
        let mut queues = inner.queues.lock().expect("queues poisoned");
        queues
            .entry(shard)
            .or_insert_with(|| {
                batcher::start(
                    inner.channel.subscribe(),
                    inner.names.commands_exchange(),
                    AmqpNames::shard_routing_key(shard),
                    inner.batching,
                    inner.metrics.clone(),
                )
            })
            .clone()
    }

    /// Whether the command channel is open (readiness).
    pub fn is_ready(&self) -> bool {
        self.inner.channel.borrow().as_ref().is_some_and(usable)
    }

    /// Publishes `envelope` to its event's shard (in a batch with the commands queued for
    /// that shard meanwhile) and waits until `wait` after the call
    /// for the worker's reply. The publisher confirm is awaited first, for up to
    /// [`CONFIRM_TIMEOUT`], whatever `wait` is; without it by then the command may be
    /// queued, and the answer is [`Answer::TimedOut`]. A command stamped more than
    /// [`STAMP_MAX_AGE`] before it is published is re-stamped to that age.
    ///
    /// # Errors
    /// [`PublishError::Unavailable`] if the broker is down, refuses (nack), the channel
    /// closes before the confirm, or the command is unroutable: nothing was accepted.
    #[tracing::instrument(skip_all, fields(request_id = %envelope.request_id,
        event_id = %envelope.event_id, command = envelope.command.kind()))]
    pub async fn send(&self, envelope: Envelope, wait: Duration) -> Result<Answer, PublishError> {
        let inner = &self.inner;
        let now = tokio::time::Instant::now();
        let reply_deadline = now + wait;
        let confirm_deadline = now + CONFIRM_TIMEOUT;
        // A gateway that just started (or is reconnecting) waits briefly for its channel.
        let mut rx = inner.channel.subscribe();
        let ready = matches!(
            tokio::time::timeout(
                CHANNEL_WAIT,
                rx.wait_for(|c| c.as_ref().is_some_and(usable)),
            )
            .await,
            Ok(Ok(_))
        );
        if !ready {
            return Err(PublishError::Unavailable("not connected".into()));
        }
        let request_id = envelope.request_id;
        let shard = protocol::shard_of(&envelope.event_id, inner.shards);

        let (tx, rx) = oneshot::channel();
        inner
            .waiters
            .lock()
            .expect("waiters poisoned")
            .insert(request_id, tx);
        let _guard = WaiterGuard(&inner.waiters, request_id);

        let started = Instant::now();
        let (done, flushed) = oneshot::channel();
        self.queue(shard)
            .send(batcher::Pending { envelope, done })
            .map_err(|_| PublishError::Unavailable("publisher stopped".into()))?;
        let unconfirmed = |stage: &str| -> Result<Answer, PublishError> {
            tracing::warn!(
                stage,
                "no publisher confirm in time; the command may be queued"
            );
            Ok(Answer::TimedOut)
        };
        let flushed = match tokio::time::timeout_at(confirm_deadline, flushed).await {
            Err(_) => return unconfirmed("confirm"),
            // The flusher went away with the command (the runtime is shutting down).
            Ok(Err(_)) => return unconfirmed("publish"),
            Ok(Ok(flushed)) => flushed,
        };
        match flushed {
            Flushed::Confirmed => {}
            Flushed::Unconfirmed(stage) => return unconfirmed(stage),
            Flushed::Unavailable(cause) => return Err(PublishError::Unavailable(cause)),
            Flushed::Internal(cause) => return Err(PublishError::Internal(anyhow::anyhow!(cause))),
        }
        inner
            .metrics
            .publish_confirm
            .observe(started.elapsed().as_secs_f64());
        // Polls `rx` once even if the deadline has passed (a reply may already be there).
        match tokio::time::timeout_at(reply_deadline, rx).await {
            Ok(Ok(reply)) => {
                inner
                    .metrics
                    .reply_wait
                    .observe(started.elapsed().as_secs_f64());
                Ok(Answer::Reply(reply))
            }
            // Timed out, or the channel was replaced (its replies are lost): either way the
            // command is accepted and its result will be stored in Redis.
            Ok(Err(_)) | Err(_) => {
                inner.metrics.replies_timed_out.inc();
                Ok(Answer::TimedOut)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::command::Command;
    use protocol::event::EventPatch;
    use protocol::ids::EventId;

    fn stamped(ago: chrono::Duration, now: chrono::DateTime<chrono::Utc>) -> Envelope {
        Envelope {
            request_id: RequestId::new(),
            event_id: EventId::new(),
            sent_at: now - ago,
            command: Command::UpdateEvent {
                patch: EventPatch::default(),
            },
        }
    }

    #[test]
    fn a_stamp_older_than_the_bound_is_moved_up_to_it() {
        let now = chrono::Utc::now();
        let max = chrono::Duration::from_std(STAMP_MAX_AGE).unwrap();
        assert!(
            STAMP_MAX_AGE > CHANNEL_WAIT,
            "a channel wait alone never re-stamps"
        );
        let mut fresh = stamped(max, now);
        restamp(&mut fresh, now);
        assert_eq!(fresh.sent_at, now - max, "a stamp within the bound is kept");
        let mut stale = stamped(max + chrono::Duration::seconds(30), now);
        restamp(&mut stale, now);
        assert_eq!(stale.sent_at, now - max);
        // A stamp ahead of this clock is left to the worker, which clamps it to its now.
        let mut ahead = stamped(-chrono::Duration::seconds(5), now);
        restamp(&mut ahead, now);
        assert_eq!(ahead.sent_at, now + chrono::Duration::seconds(5));
    }
}
