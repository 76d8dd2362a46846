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
//! Replies go to the default exchange with the delivery's `reply_to` as routing key
//! (RabbitMQ direct reply-to) and its `correlation_id`.

use chrono::{DateTime, Utc};
use lapin::message::Delivery;
use lapin::options::BasicPublishOptions;
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel};
use protocol::command::{CommandMessage, Envelope};
use protocol::decode::{command_refusal, CommandRefusal};
use protocol::ids::RequestId;
use protocol::reply::{Outcome, Reply};

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

impl Incoming {
    /// Decodes `d`, logging malformed bodies.
    pub(crate) fn decode(d: &Delivery) -> Self {
        if d.properties.kind().as_ref().map(|k| k.as_str()) == Some(PROBE_TYPE) {
            let stamp = std::str::from_utf8(&d.data)
                .ok()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .filter(|_| !d.redelivered)
                .map(|t| t.with_timezone(&Utc));
            return Incoming::Probe { stamp };
        }
        match serde_json::from_slice::<CommandMessage>(&d.data) {
            Ok(m) => Incoming::Command {
                env: m.into_envelope(),
                reply_to: d.properties.reply_to().clone(),
                correlation_id: d.properties.correlation_id().clone(),
                redelivered: d.redelivered,
            },
            Err(e) => match command_refusal(&d.data, &e) {
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
                        correlation_id: d.properties.correlation_id().clone(),
                        redelivered: d.redelivered,
                    }
                }
                None => {
                    tracing::warn!(
                    delivery_tag = d.delivery_tag,
                    bytes = d.data.len(),
                    error = %e,
                    "malformed command"
                    );
                    Incoming::Malformed
                }
            },
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

/// Publishes the reply to a command (if it asked for one).
///
/// # Errors
/// The channel is closed.
pub(crate) async fn reply(
    channel: &Channel,
    incoming: &Incoming,
    outcome: Outcome,
) -> lapin::Result<()> {
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
        _ => return Ok(()),
    };
    let body = serde_json::to_vec(&Reply {
        request_id,
        outcome,
    })
    .unwrap_or_default();
    let correlation_id = correlation_id
        .clone()
        .unwrap_or_else(|| request_id.to_string().into());
    // Not awaited for a broker confirm: the channel is not in confirm mode, and a lost
    // reply is recovered by the gateway from the stored result in Redis.
    channel
        .basic_publish(
            "",
            reply_to.as_str(),
            BasicPublishOptions::default(),
            &body,
            BasicProperties::default()
                .with_correlation_id(correlation_id)
                .with_content_type("application/json".into()),
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
