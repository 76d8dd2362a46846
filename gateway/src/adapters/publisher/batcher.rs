//! The batcher of the publisher: coalesces the commands bound for one shard into one
//! AMQP message (`protocol::batch`), because the broker's cost is per message.
//!
//! Each shard this replica publishes to has a flusher task, started on first use. It
//! takes the first queued command, waits up to `command_batch_delay_us` for more (0:
//! takes only what is already queued), cuts the batch at `command_batch_max` commands
//! or `protocol::batch::BATCH_MAX_BYTES`, and publishes it in one message in confirm
//! mode. A batch of one command goes in the single form, exactly as an unbatched
//! publish. The broker's confirm (or nack, return, closed channel) is then handed to
//! every command of the batch: a batch is accepted or refused as a whole.
//!
//! The flusher stamps the commands' accepted-time bound (`restamp`) when it publishes,
//! so a batch held up by a stalled link never reaches the broker with a stamp older
//! than `STAMP_MAX_AGE`. It awaits each publish before starting the next batch, so a
//! shard's messages leave in the order their first commands were queued; commands
//! queued while a publish is on its way join the next batch.

use super::{restamp, usable, CONFIRM_TIMEOUT};
use crate::metrics::Metrics;
use lapin::options::BasicPublishOptions;
use lapin::publisher_confirm::Confirmation;
use lapin::{BasicProperties, Channel};
use protocol::batch::{BatchWriter, BATCH_MAX_BYTES, COMMAND_BATCH_TYPE};
use protocol::command::{CommandMessage, Envelope};
use protocol::names::DIRECT_REPLY_TO;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// How the publisher batches (gateway settings `command_batch_max`,
/// `command_batch_delay_us`).
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// Most commands in one message (1 = every command alone).
    pub max: usize,
    /// Longest wait of a batch's first command for others.
    pub delay: Duration,
}

/// What became of the message that carried a command.
#[derive(Debug, Clone)]
pub(super) enum Flushed {
    /// The broker confirmed it.
    Confirmed,
    /// No confirm in time at this stage (`publish`, `confirm`): it may be queued.
    Unconfirmed(&'static str),
    /// Nothing was accepted (not connected, nack, unroutable, channel closed).
    Unavailable(String),
    /// A bug: the command could not be encoded, or the channel has no confirm mode.
    Internal(String),
}

/// A command waiting for its batch.
pub(super) struct Pending {
    pub(super) envelope: Envelope,
    pub(super) done: oneshot::Sender<Flushed>,
}

/// The queue of one shard's flusher.
pub(super) type ShardQueue = mpsc::UnboundedSender<Pending>;

/// Starts the flusher of the shard with `routing_key`; it ends when its queue's
/// senders are gone (the publisher dropped).
pub(super) fn start(
    channel: watch::Receiver<Option<Channel>>,
    exchange: String,
    routing_key: String,
    config: BatchConfig,
    metrics: Metrics,
) -> ShardQueue {
    let (tx, rx) = mpsc::unbounded_channel();
    let flusher = Flusher {
        channel,
        exchange,
        routing_key,
        config,
        metrics,
    };
    tokio::spawn(flusher.run(rx));
    tx
}

struct Flusher {
    channel: watch::Receiver<Option<Channel>>,
    exchange: String,
    routing_key: String,
    config: BatchConfig,
    metrics: Metrics,
}

/// An encoded command and whom to tell how its message fared.
struct Line {
    request_id: String,
    body: Vec<u8>,
    done: oneshot::Sender<Flushed>,
}

impl Flusher {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Pending>) {
        let mut carry: Option<Line> = None;
        loop {
            let first = match carry.take() {
                Some(line) => line,
                None => match rx.recv().await {
                    Some(p) => match encode(p) {
                        Some(line) => line,
                        None => continue,
                    },
                    None => return,
                },
            };
            let deadline = Instant::now() + self.config.delay;
            let mut bytes = first.body.len();
            let mut batch = vec![first];
            while batch.len() < self.config.max {
                let next = match rx.try_recv() {
                    Ok(p) => Some(p),
                    Err(_) if self.config.delay.is_zero() => None,
                    Err(_) => tokio::time::timeout_at(deadline, rx.recv())
                        .await
                        .ok()
                        .flatten(),
                };
                let Some(p) = next else { break };
                let Some(line) = encode(p) else { continue };
                if bytes + 1 + line.body.len() > BATCH_MAX_BYTES {
                    carry = Some(line);
                    break;
                }
                bytes += 1 + line.body.len();
                batch.push(line);
            }
            self.publish(batch).await;
        }
    }

    /// Publishes `batch` in one message and hands the confirm to its commands (in a
    /// task of its own, so the next batch can go out meanwhile).
    async fn publish(&self, mut batch: Vec<Line>) {
        let deadline = Instant::now() + CONFIRM_TIMEOUT;
        let channel = self.channel.borrow().clone().filter(usable);
        let Some(channel) = channel else {
            tell(batch, &Flushed::Unavailable("not connected".into()));
            return;
        };
        let properties = BasicProperties::default()
            .with_reply_to(DIRECT_REPLY_TO.into())
            .with_delivery_mode(2);
        let (body, properties) = if batch.len() == 1 {
            let id = batch[0].request_id.as_str();
            let properties = properties
                .with_correlation_id(id.into())
                .with_message_id(id.into())
                .with_content_type("application/json".into());
            (std::mem::take(&mut batch[0].body), properties)
        } else {
            (
                batch_body(&batch),
                properties
                    .with_type(COMMAND_BATCH_TYPE.into())
                    .with_content_type("application/x-ndjson".into()),
            )
        };
        let publish = tokio::time::timeout_at(
            deadline,
            channel.basic_publish(
                &self.exchange,
                &self.routing_key,
                // mandatory: an unroutable command comes back instead of vanishing.
                BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                },
                &body,
                properties,
            ),
        )
        .await;
        // The publish itself timing out means its frames are stuck on the way (a stalled
        // link): they may still reach the broker.
        self.metrics.command_messages.inc();
        self.metrics.commands_published.inc_by(batch.len() as u64);
        let confirm = match publish {
            Err(_) => return tell(batch, &Flushed::Unconfirmed("publish")),
            Ok(Err(e)) => {
                return tell(batch, &Flushed::Unavailable(format!("publish failed: {e}")))
            }
            Ok(Ok(confirm)) => confirm,
        };
        tokio::spawn(async move {
            let flushed = match tokio::time::timeout_at(deadline, confirm).await {
                Err(_) => Flushed::Unconfirmed("confirm"),
                Ok(Err(e)) => Flushed::Unavailable(format!("publisher confirm failed: {e}")),
                Ok(Ok(Confirmation::Ack(None))) => Flushed::Confirmed,
                Ok(Ok(Confirmation::Ack(Some(returned)))) => {
                    Flushed::Unavailable(format!("command unroutable: {}", returned.reply_text))
                }
                Ok(Ok(Confirmation::Nack(_))) => {
                    Flushed::Unavailable("broker nacked the command".into())
                }
                Ok(Ok(Confirmation::NotRequested)) => {
                    Flushed::Internal("channel is not in confirm mode".into())
                }
            };
            tell(batch, &flushed);
        });
    }
}

/// Re-stamps and encodes the command of `p`; a command that cannot be encoded is told
/// so at once (`None`).
fn encode(mut p: Pending) -> Option<Line> {
    restamp(&mut p.envelope, chrono::Utc::now());
    let request_id = p.envelope.request_id.to_string();
    match serde_json::to_vec(&CommandMessage::V1(p.envelope)) {
        Ok(body) => Some(Line {
            request_id,
            body,
            done: p.done,
        }),
        Err(e) => {
            let _ = p
                .done
                .send(Flushed::Internal(format!("encoding failed: {e}")));
            None
        }
    }
}

/// The body of a batch of several commands: one line each.
fn batch_body(batch: &[Line]) -> Vec<u8> {
    let mut w = BatchWriter::new();
    for line in batch {
        w.push(&line.body);
    }
    w.finish()
}

fn tell(batch: Vec<Line>, flushed: &Flushed) {
    for line in batch {
        let _ = line.done.send(flushed.clone());
    }
}
