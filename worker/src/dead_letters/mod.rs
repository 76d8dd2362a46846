//! Dead letters: messages a shard cannot decide, kept for an operator instead of lost or
//! retried forever.
//!
//! A message goes to the namespace's dead-letter queue (`{ns}.dead`, a durable quorum
//! queue, see [`protocol::names::AmqpNames::dead_letter_queue`]) when
//! - it cannot be decoded at all (`malformed`: not JSON, unknown version, no request id),
//!   so there is nobody to answer; or
//! - PostgreSQL refused the command even alone, and refused its error outcome as well
//!   (`unstorable`), so no outcome can be stored or replayed.
//!
//! **Why the worker publishes the dead letter itself** rather than RabbitMQ's
//! dead-lettering (`x-dead-letter-exchange` on the shard queues, then a `basic.reject`):
//! RabbitMQ refuses to redeclare an existing queue with other arguments
//! (`PRECONDITION_FAILED`), and gateways and workers declare the shard queues on every
//! connection, so adding the argument would break every running deployment on upgrade
//! (a policy would avoid that, but it lives outside the application and an operator can
//! drop it unnoticed). Publishing also lets the worker say why (`x-anteroom-reason`,
//! `x-anteroom-error`), which RabbitMQ's `x-death` cannot. The order makes it safe: the
//! dead letter is published on a channel in publisher-confirm mode and confirmed by the
//! broker *before* the original is acked with its batch; a crash in between only means
//! the original comes back and is dead-lettered again (at least once, never lost).
//!
//! Body and properties are kept as they came; these headers are added:
//! [`REASON_HEADER`], [`SHARD_HEADER`], [`ERROR_HEADER`], [`FIRST_DEATH_HEADER`] (kept
//! from an earlier death), [`DEATHS_HEADER`], and [`REQUEST_ID_HEADER`] /
//! [`EVENT_ID_HEADER`] when the command could be read.
//!
//! The operator side (`anteroom-worker dead-letters list|replay|purge`) is [`list`],
//! [`replay`] and [`purge`] (in `operator.rs`); see `docs/DEAD_LETTERS.md`.

mod operator;

pub use operator::{list, purge, replay, DeadLetter, Select};

use anyhow::{bail, Context};
use chrono::{SecondsFormat, Utc};
use lapin::options::BasicPublishOptions;
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel};
use protocol::command::CommandMessage;
use protocol::names::AmqpNames;

/// Values of the `reason` label of `anteroom_worker_dead_letters_total` and of
/// [`REASON_HEADER`].
pub const REASONS: [&str; 2] = ["malformed", "unstorable"];

/// Why the message was dead-lettered: one of [`REASONS`].
pub const REASON_HEADER: &str = "x-anteroom-reason";
/// The shard whose queue the message came from (signed 32-bit integer).
pub const SHARD_HEADER: &str = "x-anteroom-shard";
/// What went wrong (decode error, or the PostgreSQL error), at most [`ERROR_MAX`] bytes.
pub const ERROR_HEADER: &str = "x-anteroom-error";
/// When the message was first dead-lettered (RFC 3339, UTC, milliseconds).
pub const FIRST_DEATH_HEADER: &str = "x-anteroom-first-death";
/// How many times it was dead-lettered (replays that died again count).
pub const DEATHS_HEADER: &str = "x-anteroom-deaths";
/// The command's request id, when its body could be read.
pub const REQUEST_ID_HEADER: &str = "x-anteroom-request-id";
/// The command's event id, when its body could be read.
pub const EVENT_ID_HEADER: &str = "x-anteroom-event-id";
/// Longest [`ERROR_HEADER`], in bytes.
pub const ERROR_MAX: usize = 512;
/// Most dead letters one `list` or `replay` reads (each is held unacked meanwhile).
pub const READ_MAX: usize = 10_000;

/// Why a message is dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Not a command the worker can decode.
    Malformed,
    /// PostgreSQL refused the command alone, and its error outcome too.
    Unstorable,
}

impl Reason {
    /// The label and header value: `malformed` or `unstorable`.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Malformed => REASONS[0],
            Reason::Unstorable => REASONS[1],
        }
    }
}

/// One message to dead-letter, with why.
#[derive(Debug, Clone)]
pub(crate) struct Letter {
    pub(crate) reason: Reason,
    pub(crate) shard: u16,
    pub(crate) error: String,
}

/// Declares the dead-letter queue of `names` (durable quorum queue; idempotent).
///
/// # Errors
/// The broker refused the declaration (e.g. a queue of that name with other arguments).
pub async fn declare(channel: &Channel, names: &AmqpNames) -> lapin::Result<()> {
    runtime::amqp::declare_dead_letters(channel, names).await
}

/// Publishes `data` with `properties` (a delivery's, or a batch member's) as a dead
/// letter on `channel` (which must be in confirm mode) and waits for the broker's
/// confirm. Only then may the caller ack the original.
///
/// # Errors
/// The channel failed, or the broker nacked or returned the message.
pub(crate) async fn send(
    channel: &Channel,
    names: &AmqpNames,
    properties: &BasicProperties,
    data: &[u8],
    letter: &Letter,
) -> anyhow::Result<()> {
    let old = properties.headers().clone().unwrap_or_default();
    let mut headers = FieldTable::default();
    for (k, v) in old.inner() {
        headers.insert(k.clone(), v.clone());
    }
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    if !old.contains_key(FIRST_DEATH_HEADER) {
        headers.insert(FIRST_DEATH_HEADER.into(), long_string(&now));
    }
    let deaths = int_header(&old, DEATHS_HEADER).unwrap_or(0) + 1;
    headers.insert(DEATHS_HEADER.into(), AMQPValue::LongInt(deaths));
    headers.insert(REASON_HEADER.into(), long_string(letter.reason.label()));
    headers.insert(
        SHARD_HEADER.into(),
        AMQPValue::LongInt(i32::from(letter.shard)),
    );
    headers.insert(
        ERROR_HEADER.into(),
        long_string(truncate(&letter.error, ERROR_MAX)),
    );
    if let Ok(m) = serde_json::from_slice::<CommandMessage>(data) {
        let env = m.into_envelope();
        headers.insert(
            REQUEST_ID_HEADER.into(),
            long_string(&env.request_id.to_string()),
        );
        headers.insert(
            EVENT_ID_HEADER.into(),
            long_string(&env.event_id.to_string()),
        );
    }
    let properties = properties
        .clone()
        .with_headers(headers)
        .with_delivery_mode(2);
    let confirm = channel
        .basic_publish(
            "",
            &names.dead_letter_queue(),
            // Mandatory: a missing dead-letter queue comes back as a return instead of
            // being dropped, and the original is then not acked.
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            data,
            properties,
        )
        .await
        .context("Failed to publish a dead letter")?
        .await
        .context("Failed to get the dead letter confirmed")?;
    match confirm {
        Confirmation::Ack(None) => Ok(()),
        other => bail!("the broker did not take the dead letter: {other:?}"),
    }
}

/// Why a command message cannot be decoded (for [`ERROR_HEADER`]).
pub(crate) fn decode_error(body: &[u8]) -> String {
    match serde_json::from_slice::<CommandMessage>(body) {
        Ok(_) => "undecodable delivery".to_owned(),
        Err(e) => e.to_string(),
    }
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

pub(crate) fn str_header(headers: &FieldTable, name: &str) -> Option<String> {
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

pub(crate) fn int_header(headers: &FieldTable, name: &str) -> Option<i32> {
    match headers.inner().get(name)? {
        AMQPValue::LongInt(n) => Some(*n),
        AMQPValue::ShortInt(n) => Some(i32::from(*n)),
        AMQPValue::LongLongInt(n) => i32::try_from(*n).ok(),
        _ => None,
    }
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_a_character_boundary() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate(&"x".repeat(600), ERROR_MAX).len(), ERROR_MAX);
    }

    #[test]
    fn reasons_match_their_labels() {
        assert_eq!(Reason::Malformed.label(), "malformed");
        assert_eq!(Reason::Unstorable.label(), "unstorable");
    }
}
