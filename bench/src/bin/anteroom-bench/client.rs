//! The AMQP load client of designs (a) and (b): publishes commands exactly as the
//! gateway does (confirm mode, `mandatory`, persistent, direct reply-to; the commands
//! ready together coalesced into batch messages of at most `command_batch_max`, in the
//! batch form of `protocol::batch`, a lone command in the single form with
//! `correlation_id` = request id) and times each one from publish to reply (single, or
//! in a reply batch).
//!
//! Two paces: a closed loop that keeps `window` commands in flight (throughput), and an
//! open loop that publishes at a fixed offered rate whatever the replies do (latency).

use anyhow::{bail, Context};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::{Confirmation, PublisherConfirm};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, Consumer};
use protocol::batch::{BatchWriter, COMMAND_BATCH_TYPE, REPLY_BATCH_TYPE};
use protocol::command::{CommandMessage, Envelope};
use protocol::names::{AmqpNames, DIRECT_REPLY_TO};
use protocol::reply::{Outcome, Reply};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

/// Give up when no reply came for this long.
const STALL: Duration = Duration::from_secs(60);

/// A command ready to publish: its request id (the correlation id) and JSON body.
pub(crate) struct Prepared {
    pub(crate) id: String,
    pub(crate) body: Vec<u8>,
}

impl Prepared {
    pub(crate) fn new(env: &Envelope) -> Self {
        Prepared {
            id: env.request_id.to_string(),
            body: serde_json::to_vec(&CommandMessage::V1(env.clone())).expect("commands serialise"),
        }
    }
}

/// How commands are paced.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pace {
    /// Keep at most this many commands awaiting their reply.
    Window(usize),
    /// Offer this many commands per second.
    Rate(f64),
}

/// What a load run saw.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub(crate) committed: usize,
    pub(crate) decided: usize,
    pub(crate) wall: Duration,
    pub(crate) latencies_us: Vec<u64>,
}

/// A publishing channel with its direct reply-to consumer (same channel, as RabbitMQ
/// requires).
pub(crate) struct Client {
    channel: Channel,
    replies: Consumer,
    exchange: String,
    routing_key: String,
    /// Most commands per message (the gateway's `command_batch_max`).
    batch_max: usize,
}

impl Client {
    /// Opens the channel on `conn` for shard 0 of `names`.
    ///
    /// # Errors
    /// The broker refused the channel, confirm mode or the reply consumer.
    pub(crate) async fn open(
        conn: &Connection,
        names: &AmqpNames,
        batch_max: usize,
    ) -> anyhow::Result<Client> {
        let channel = conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let replies = channel
            .basic_consume(
                DIRECT_REPLY_TO,
                "bench-replies",
                // Direct reply-to requires no_ack.
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .context("Failed to consume direct reply-to")?;
        Ok(Client {
            channel,
            replies,
            exchange: names.commands_exchange(),
            routing_key: AmqpNames::shard_routing_key(0),
            batch_max: batch_max.max(1),
        })
    }

    async fn publish(&self, p: &Prepared) -> anyhow::Result<PublisherConfirm> {
        self.publish_body(
            &p.body,
            BasicProperties::default()
                .with_correlation_id(p.id.as_str().into())
                .with_message_id(p.id.as_str().into())
                .with_content_type("application/json".into()),
        )
        .await
    }

    /// Publishes `batch` as the gateway's batcher does: one command alone in the single
    /// form, several in one batch message.
    async fn publish_batch(&self, batch: &[Prepared]) -> anyhow::Result<PublisherConfirm> {
        if let [one] = batch {
            return self.publish(one).await;
        }
        let mut w = BatchWriter::new();
        for p in batch {
            w.push(&p.body);
        }
        self.publish_body(
            &w.finish(),
            BasicProperties::default()
                .with_type(COMMAND_BATCH_TYPE.into())
                .with_content_type("application/x-ndjson".into()),
        )
        .await
    }

    async fn publish_body(
        &self,
        body: &[u8],
        properties: BasicProperties,
    ) -> anyhow::Result<PublisherConfirm> {
        Ok(self
            .channel
            .basic_publish(
                &self.exchange,
                &self.routing_key,
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body,
                properties
                    .with_reply_to(DIRECT_REPLY_TO.into())
                    .with_delivery_mode(2),
            )
            .await?)
    }

    /// Publishes one command and waits (at most `within`) for its outcome.
    ///
    /// # Errors
    /// Not confirmed, not routed, or no reply in time.
    pub(crate) async fn request(
        &mut self,
        env: &Envelope,
        within: Duration,
    ) -> anyhow::Result<Outcome> {
        let p = Prepared::new(env);
        check(self.publish(&p).await?.await?)?;
        let deadline = Instant::now() + within;
        loop {
            let d = tokio::time::timeout_at(deadline, self.replies.next())
                .await
                .context("no reply in time")?
                .context("the reply consumer ended")??;
            let reply: Reply = serde_json::from_slice(&d.data)?;
            if reply.request_id == env.request_id {
                return Ok(reply.outcome);
            }
        }
    }

    /// Publishes every command of `load` at `pace` and collects all replies.
    ///
    /// # Errors
    /// A publish was nacked or unroutable, the channel failed, or no reply came for
    /// 60 s.
    pub(crate) async fn run(&mut self, load: &[Prepared], pace: Pace) -> anyhow::Result<Seen> {
        let n = load.len();
        let index: HashMap<&str, usize> = load
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.as_str(), i))
            .collect();
        let mut sent_at: Vec<Option<Instant>> = vec![None; n];
        let mut seen = Seen {
            latencies_us: Vec::with_capacity(n),
            ..Seen::default()
        };
        let mut confirms = FuturesUnordered::new();
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let (mut next, start) = (0usize, Instant::now());
        let mut last_reply = start;
        while seen.decided < n {
            let in_flight = next - seen.decided;
            let window_open = matches!(pace, Pace::Window(w) if next < n && in_flight < w);
            let paced = matches!(pace, Pace::Rate(_)) && next < n;
            tokio::select! {
                biased;
                d = self.replies.next() => {
                    let d = d.context("the reply consumer ended")??;
                    let now = Instant::now();
                    last_reply = now;
                    let replies = if d.properties.kind().as_ref().map(|k| k.as_str())
                        == Some(REPLY_BATCH_TYPE)
                    {
                        protocol::batch::decode_replies(&d.data)
                            .into_iter()
                            .collect::<Result<Vec<_>, _>>()?
                    } else {
                        vec![serde_json::from_slice::<Reply>(&d.data)?]
                    };
                    for reply in replies {
                        let key = reply.request_id.to_string();
                        let Some(&i) = index.get(key.as_str()) else { continue };
                        if let Some(at) = sent_at[i].take() {
                            seen.decided += 1;
                            seen.latencies_us.push((now - at).as_micros() as u64);
                            if matches!(reply.outcome, Outcome::HoldCreated(_)) {
                                seen.committed += 1;
                            }
                        }
                    }
                }
                Some(c) = confirms.next(), if !confirms.is_empty() => {
                    let c: Result<Confirmation, lapin::Error> = c;
                    check(c?)?;
                }
                _ = std::future::ready(()), if window_open => {
                    let Pace::Window(w) = pace else { unreachable!() };
                    // A batch's worth at a time, so replies are read in between.
                    let until = n.min(next + (w - in_flight).min(self.batch_max));
                    self.publish_all(load, next..until, &mut sent_at, &mut confirms).await?;
                    next = until;
                }
                _ = tick.tick(), if paced => {
                    let Pace::Rate(rate) = pace else { unreachable!() };
                    let due = ((start.elapsed().as_secs_f64() * rate) as usize).clamp(next, n);
                    self.publish_all(load, next..due, &mut sent_at, &mut confirms).await?;
                    next = due;
                }
                _ = tokio::time::sleep_until(last_reply + STALL) => {
                    bail!("no reply for {STALL:?}: {} of {n} decided", seen.decided);
                }
            }
        }
        seen.wall = start.elapsed();
        while let Some(c) = confirms.next().await {
            check(c?)?;
        }
        Ok(seen)
    }
}

impl Client {
    /// Publishes `load[range]` all at once, in batch messages of at most `batch_max`
    /// commands: each publish waits until lapin's I/O loop has written it, so one by
    /// one would cost a thread handoff each.
    async fn publish_all(
        &self,
        load: &[Prepared],
        range: std::ops::Range<usize>,
        sent_at: &mut [Option<Instant>],
        confirms: &mut FuturesUnordered<PublisherConfirm>,
    ) -> anyhow::Result<()> {
        let now = Instant::now();
        for at in &mut sent_at[range.clone()] {
            *at = Some(now);
        }
        let published = futures::future::try_join_all(
            load[range]
                .chunks(self.batch_max)
                .map(|batch| self.publish_batch(batch)),
        );
        confirms.extend(published.await?);
        Ok(())
    }
}

/// A publisher confirm must be a plain ack (a returned message was not routed).
fn check(c: Confirmation) -> anyhow::Result<()> {
    match c {
        Confirmation::Ack(None) => Ok(()),
        other => bail!("publish not accepted: {other:?}"),
    }
}
