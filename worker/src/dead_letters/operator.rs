//! The operator's side of dead letters: `anteroom-worker dead-letters list|replay|purge`
//! (see `docs/DEAD_LETTERS.md`).

use super::{
    int_header, str_header, DEATHS_HEADER, ERROR_HEADER, EVENT_ID_HEADER, FIRST_DEATH_HEADER,
    READ_MAX, REASON_HEADER, REQUEST_ID_HEADER, SHARD_HEADER,
};
use anyhow::{bail, Context};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueuePurgeOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::ShortString;
use lapin::{Channel, Connection};
use protocol::names::AmqpNames;
use protocol::topology::Topology;
use serde::Serialize;

/// One dead letter, as `dead-letters list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// `malformed` or `unstorable` ([`REASONS`]); empty if the header is missing.
    pub reason: String,
    /// The shard it came from.
    pub shard: Option<u16>,
    /// Request id (header, else the message's `message_id` or `correlation_id`).
    pub request_id: Option<String>,
    /// Event id, when the command could be read.
    pub event_id: Option<String>,
    /// Body size, in bytes.
    pub size: usize,
    /// When it was first dead-lettered (RFC 3339).
    pub first_death: Option<String>,
    /// How many times it was dead-lettered.
    pub deaths: i64,
    /// What went wrong.
    pub error: Option<String>,
}

impl DeadLetter {
    /// Reads the headers of a dead-lettered `delivery`.
    pub fn of(delivery: &Delivery) -> Self {
        let p = &delivery.properties;
        let headers = p.headers().clone().unwrap_or_default();
        let request_id = str_header(&headers, REQUEST_ID_HEADER)
            .or_else(|| p.message_id().as_ref().map(ShortString::to_string))
            .or_else(|| p.correlation_id().as_ref().map(ShortString::to_string));
        DeadLetter {
            reason: str_header(&headers, REASON_HEADER).unwrap_or_default(),
            shard: int_header(&headers, SHARD_HEADER).and_then(|s| u16::try_from(s).ok()),
            request_id,
            event_id: str_header(&headers, EVENT_ID_HEADER),
            size: delivery.data.len(),
            first_death: str_header(&headers, FIRST_DEATH_HEADER),
            deaths: int_header(&headers, DEATHS_HEADER).map_or(0, i64::from),
            error: str_header(&headers, ERROR_HEADER),
        }
    }
}

/// Which dead letters to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Select {
    /// Every dead letter.
    All,
    /// Those of this request id.
    RequestId(String),
}

/// Every dead letter of `topology`'s namespace (at most [`READ_MAX`]), oldest first,
/// left in the queue.
///
/// Reads them with `basic.get` without acking and then closes its channel, which hands
/// them all back to the queue unchanged.
///
/// # Errors
/// The broker is unreachable or refuses the queue declaration.
pub async fn list(connection: &Connection, topology: &Topology) -> anyhow::Result<Vec<DeadLetter>> {
    let names = topology.names();
    let channel = open(connection, topology).await?;
    let letters = read_all(&channel, names).await;
    let _ = channel.close(200, "dead letters listed").await;
    Ok(letters?.iter().map(DeadLetter::of).collect())
}

/// Publishes the selected dead letters again to the commands exchange with the routing
/// key of their shard (body and properties as they came, the `x-anteroom-*` headers of
/// their death kept so a second death counts), each confirmed by the broker before it is
/// acked (removed) from the dead-letter queue. The others stay. Returns how many were
/// replayed.
///
/// # Errors
/// The broker is unreachable, a selected dead letter has no shard header, or the
/// broker did not take a replayed message (it then stays a dead letter).
pub async fn replay(
    connection: &Connection,
    topology: &Topology,
    select: &Select,
) -> anyhow::Result<usize> {
    let names = topology.names();
    let channel = open(connection, topology).await?;
    let result = replay_on(&channel, names, select).await;
    let _ = channel.close(200, "dead letters replayed").await;
    result
}

async fn replay_on(channel: &Channel, names: &AmqpNames, select: &Select) -> anyhow::Result<usize> {
    let mut replayed = 0;
    for d in read_all(channel, names).await? {
        let letter = DeadLetter::of(&d);
        let chosen = match select {
            Select::All => true,
            Select::RequestId(id) => letter.request_id.as_deref() == Some(id.as_str()),
        };
        if !chosen {
            continue;
        }
        let Some(shard) = letter.shard else {
            bail!(
                "dead letter {:?} has no {SHARD_HEADER} header",
                letter.request_id
            );
        };
        let confirm = channel
            .basic_publish(
                &names.commands_exchange(),
                &AmqpNames::shard_routing_key(shard),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                &d.data,
                d.properties.clone(),
            )
            .await
            .context("Failed to publish a replayed command")?
            .await
            .context("Failed to get the replayed command confirmed")?;
        if !matches!(confirm, Confirmation::Ack(None)) {
            bail!("the broker did not take the replayed command: {confirm:?}");
        }
        channel
            .basic_ack(d.delivery_tag, BasicAckOptions::default())
            .await
            .context("Failed to remove a replayed dead letter")?;
        replayed += 1;
    }
    Ok(replayed)
}

/// Deletes every dead letter of `topology`'s namespace; returns how many there were.
///
/// # Errors
/// The broker is unreachable or refuses the queue declaration.
pub async fn purge(connection: &Connection, topology: &Topology) -> anyhow::Result<u32> {
    let names = topology.names();
    let channel = open(connection, topology).await?;
    let purged = channel
        .queue_purge(&names.dead_letter_queue(), QueuePurgeOptions::default())
        .await
        .context("Failed to purge the dead-letter queue");
    let _ = channel.close(200, "dead letters purged").await;
    purged
}

/// A channel in confirm mode, with the dead-letter queue declared.
async fn open(connection: &Connection, topology: &Topology) -> anyhow::Result<Channel> {
    let channel = connection
        .create_channel()
        .await
        .context("Failed to open an AMQP channel")?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .context("Failed to enable publisher confirms")?;
    // With the replica count the worker declares it with, which RabbitMQ compares.
    runtime::amqp::declare_queue(&channel, &topology.dead_letter_queue())
        .await
        .context("Failed to declare the dead-letter queue")?;
    Ok(channel)
}

/// Gets every message of the dead-letter queue without acking (up to [`READ_MAX`]).
async fn read_all(channel: &Channel, names: &AmqpNames) -> anyhow::Result<Vec<Delivery>> {
    let queue = names.dead_letter_queue();
    let mut out = Vec::new();
    while out.len() < READ_MAX {
        let got = channel
            .basic_get(&queue, BasicGetOptions { no_ack: false })
            .await
            .context("Failed to read the dead-letter queue")?;
        match got {
            Some(m) => out.push(m.delivery),
            None => break,
        }
    }
    Ok(out)
}
