//! What arrives on a shard queue, and what goes back.
//!
//! - a command: a `CommandMessage` JSON body;
//! - a refused command: a version-1 message whose request and event ids are readable
//!   but whose command is not (a string the protocol's types refuse, such as a NUL in
//!   `payment_ref`, or a missing field). It is answered `422 invalid_field` naming the
//!   field, and that answer is stored like any other, so the shard moves on and a
//!   redelivery gets the same answer (the worker does not trust the gateway's checks);
//! - anything else is malformed: logged, moved to the dead-letter queue and acked, never
//!   applied;
//! - a probe: a message of AMQP `type` [`PROBE_TYPE`] that a consumer publishes to its
//!   own shard queue, its body the publisher's clock (RFC 3339). A standby probes so
//!   that it learns when it became the active consumer (see `session`); the active
//!   consumer probes to learn how far it has read: when a probe comes back, every
//!   command the broker queued before it has been read too, which is what moves the
//!   watermark that expires holds (docs/RESERVATIONS.md).
//!
//! A delivery of AMQP `type` `protocol::batch::COMMAND_BATCH_TYPE` is a batch: each of
//! its lines is decoded on its own as above (a line that cannot be read is refused or
//! dead-lettered alone, never its batch-mates); a batch over the bounds of
//! `protocol::batch` is malformed as a whole.
//!
//! Replies go to the default exchange with the delivery's `reply_to` as routing key
//! (RabbitMQ direct reply-to): one message per single-form command, with its
//! `correlation_id`, and one reply batch per `reply_to` for the batch members of each
//! part of a worker batch (the gateway demultiplexes by request id; see `finisher`).

use chrono::{DateTime, Utc};
use lapin::message::Delivery;
use lapin::options::BasicPublishOptions;
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel};
use protocol::batch::{COMMAND_BATCH_TYPE, REPLY_BATCH_TYPE};
use protocol::command::{CommandMessage, Envelope};
use protocol::decode::{command_refusal, CommandRefusal};
use protocol::ids::RequestId;
use protocol::reply::{Outcome, Reply};
use std::ops::Range;

/// AMQP `type` property of probe messages.
pub(crate) const PROBE_TYPE: &str = "anteroom.probe";

/// A decoded delivery.
// Nearly every delivery is a command: boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A command to decide.
    Command {
        env: Envelope,
        reply_to: Option<ShortString>,
        correlation_id: Option<ShortString>,
        redelivered: bool,
    },
    /// A command that cannot be decided: answered with a stored `422 invalid_field`.
    Invalid {
        /// Request, event, ticket and kind as far as readable, and the refused field.
        refusal: CommandRefusal,
        reply_to: Option<ShortString>,
        correlation_id: Option<ShortString>,
        redelivered: bool,
    },
    /// A probe (no reply). `stamp` is when it was published, `None` if it was
    /// redelivered (a requeued probe may come back ahead of commands queued before it,
    /// so it proves nothing) or carries no readable stamp.
    Probe { stamp: Option<DateTime<Utc>> },
    /// Undecodable: dead-lettered, then acked.
    Malformed,
}

/// Where a decoded item came from: its delivery (index in the batch's deliveries) and,
/// for a member of a batch message, the byte range of its line in that delivery's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) delivery: usize,
    pub(crate) line: Option<Range<usize>>,
}

/// Decodes `deliveries` into the items to decide, in delivery order (a batch message's
/// members in their order), with where each came from.
pub(crate) fn decode_all(deliveries: &[Delivery]) -> (Vec<Incoming>, Vec<Origin>) {
    let mut incoming = Vec::with_capacity(deliveries.len());
    let mut origins = Vec::with_capacity(deliveries.len());
    for (i, d) in deliveries.iter().enumerate() {
        decode_onto(d, i, &mut incoming, &mut origins);
    }
    (incoming, origins)
}

/// Decodes `d`, the delivery at `index` of its batch, onto `incoming` and `origins`: one
/// item, or a batch message's members in their order.
pub(crate) fn decode_onto(
    d: &Delivery,
    index: usize,
    incoming: &mut Vec<Incoming>,
    origins: &mut Vec<Origin>,
) {
    if d.properties.kind().as_ref().map(|k| k.as_str()) != Some(COMMAND_BATCH_TYPE) {
        incoming.push(Incoming::decode(d));
        origins.push(Origin {
            delivery: index,
            line: None,
        });
        return;
    }
    match protocol::batch::split_commands(&d.data) {
        Ok(lines) => {
            for line in lines {
                incoming.push(Incoming::decode_command(&d.data[line.clone()], d, true));
                origins.push(Origin {
                    delivery: index,
                    line: Some(line),
                });
            }
        }
        Err(e) => {
            tracing::warn!(
                delivery_tag = d.delivery_tag,
                bytes = d.data.len(),
                error = %e,
                "malformed command batch"
            );
            incoming.push(Incoming::Malformed);
            origins.push(Origin {
                delivery: index,
                line: None,
            });
        }
    }
}

impl Incoming {
    /// Decodes `d` (the single form, or a probe), logging malformed bodies.
    pub(crate) fn decode(d: &Delivery) -> Self {
        if d.properties.kind().as_ref().map(|k| k.as_str()) == Some(PROBE_TYPE) {
            let stamp = std::str::from_utf8(&d.data)
                .ok()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .filter(|_| !d.redelivered)
                .map(|t| t.with_timezone(&Utc));
            return Incoming::Probe { stamp };
        }
        Self::decode_command(&d.data, d, false)
    }

    /// Decodes the command `body` that came in `d` (its whole body, or one line of a
    /// batch: `batched`, answered in the reply batch, so without its own correlation id).
    fn decode_command(body: &[u8], d: &Delivery, batched: bool) -> Self {
        let correlation_id = if batched {
            None
        } else {
            d.properties.correlation_id().clone()
        };
        match serde_json::from_slice::<CommandMessage>(body) {
            Ok(m) => Incoming::Command {
                env: m.into_envelope(),
                reply_to: d.properties.reply_to().clone(),
                correlation_id,
                redelivered: d.redelivered,
            },
            Err(e) => match command_refusal(body, &e) {
                Some(refusal) => {
                    tracing::warn!(
                        delivery_tag = d.delivery_tag,
                        request_id = %refusal.request_id,
                        event_id = %refusal.event_id,
                        field = %refusal.error.field,
                        error = %refusal.error.message,
                        "command refused: a field cannot be decoded"
                    );
                    Incoming::Invalid {
                        refusal,
                        reply_to: d.properties.reply_to().clone(),
                        correlation_id,
                        redelivered: d.redelivered,
                    }
                }
                None => {
                    tracing::warn!(
                    delivery_tag = d.delivery_tag,
                    bytes = body.len(),
                    error = %e,
                    "malformed command"
                    );
                    Incoming::Malformed
                }
            },
        }
    }

    /// The request id and reply queue of what gets an answer, if it asked for one.
    pub(crate) fn reply_target(&self) -> Option<(RequestId, &ShortString)> {
        match self {
            Incoming::Command {
                env,
                reply_to: Some(reply_to),
                ..
            } => Some((env.request_id, reply_to)),
            Incoming::Invalid {
                refusal,
                reply_to: Some(reply_to),
                ..
            } => Some((refusal.request_id, reply_to)),
            _ => None,
        }
    }

    /// The envelope, for commands.
    pub(crate) fn envelope(&self) -> Option<&Envelope> {
        match self {
            Incoming::Command { env, .. } => Some(env),
            _ => None,
        }
    }

    /// The request id of what gets an answer (commands and refused commands), and
    /// whether the broker delivered it before.
    pub(crate) fn answerable(&self) -> Option<(RequestId, bool)> {
        match self {
            Incoming::Command {
                env, redelivered, ..
            } => Some((env.request_id, *redelivered)),
            Incoming::Invalid {
                refusal,
                redelivered,
                ..
            } => Some((refusal.request_id, *redelivered)),
            Incoming::Probe { .. } | Incoming::Malformed => None,
        }
    }
}

/// The reply to a single-form command, encoded: where it goes and what it says.
pub(crate) struct SingleReply {
    reply_to: ShortString,
    correlation_id: ShortString,
    body: Vec<u8>,
}

/// The reply to `incoming` with `outcome`, if it asked for one.
pub(crate) fn single_reply(incoming: &Incoming, outcome: Outcome) -> Option<SingleReply> {
    let (request_id, reply_to, correlation_id) = match incoming {
        Incoming::Command {
            env,
            reply_to: Some(reply_to),
            correlation_id,
            ..
        } => (env.request_id, reply_to, correlation_id),
        Incoming::Invalid {
            refusal,
            reply_to: Some(reply_to),
            correlation_id,
            ..
        } => (refusal.request_id, reply_to, correlation_id),
        _ => return None,
    };
    let body = serde_json::to_vec(&Reply {
        request_id,
        outcome,
    })
    .unwrap_or_default();
    let correlation_id = correlation_id
        .clone()
        .unwrap_or_else(|| request_id.to_string().into());
    Some(SingleReply {
        reply_to: reply_to.clone(),
        correlation_id,
        body,
    })
}

/// Publishes `reply`.
///
/// # Errors
/// The channel is closed.
pub(crate) async fn publish_reply(channel: &Channel, reply: &SingleReply) -> lapin::Result<()> {
    // Not awaited for a broker confirm: the channel is not in confirm mode, and a lost
    // reply is recovered by the gateway from the stored result in Redis.
    channel
        .basic_publish(
            "",
            reply.reply_to.as_str(),
            BasicPublishOptions::default(),
            &reply.body,
            BasicProperties::default()
                .with_correlation_id(reply.correlation_id.clone())
                .with_content_type("application/json".into()),
        )
        .await?;
    Ok(())
}

/// Publishes one reply batch to `reply_to`: the replies of a worker batch's members
/// that asked for this queue, one [`Reply`] a line.
///
/// # Errors
/// The channel is closed.
pub(crate) async fn reply_batch(
    channel: &Channel,
    reply_to: &ShortString,
    body: &[u8],
) -> lapin::Result<()> {
    // Not awaited for a broker confirm, as single replies.
    channel
        .basic_publish(
            "",
            reply_to.as_str(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default()
                .with_type(REPLY_BATCH_TYPE.into())
                .with_content_type("application/x-ndjson".into()),
        )
        .await?;
    Ok(())
}

/// Publishes a probe stamped `stamp` (the publisher's clock, now) to `queue` (through
/// the default exchange).
///
/// # Errors
/// The channel is closed.
pub(crate) async fn probe(
    channel: &Channel,
    queue: &str,
    stamp: DateTime<Utc>,
) -> lapin::Result<()> {
    let body = stamp.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    channel
        .basic_publish(
            "",
            queue,
            BasicPublishOptions::default(),
            body.as_bytes(),
            BasicProperties::default().with_type(PROBE_TYPE.into()),
        )
        .await?;
    Ok(())
}
