//! The batch form of commands and replies: many commands of one shard in one AMQP
//! message, and all the replies of one worker batch for one gateway in one message.
//!
//! A broker's cost is per message far more than per byte, so the gateway coalesces the
//! commands bound for one shard, and the worker answers each gateway once per batch.
//!
//! **Form.** The AMQP `type` property names the form and its version:
//! [`COMMAND_BATCH_TYPE`] for commands, [`REPLY_BATCH_TYPE`] for replies. The body is
//! newline-delimited JSON: one line per command, each line exactly the body of the
//! single form (a [`CommandMessage`], with its own `"version"`), or one line per
//! [`Reply`]. JSON encoders escape newlines inside strings, so a line break only ever
//! separates two items. Each line is decoded on its own: a command the worker cannot
//! read is refused (or dead-lettered) alone and never costs its batch-mates.
//!
//! A message without the batch `type` is the single form (one [`CommandMessage`] or one
//! [`Reply`] as the body), which every worker and gateway still reads, so gateways and
//! workers of either version can run side by side during a rolling upgrade.
//!
//! **Bounds.** A batch holds at most [`BATCH_MAX_COMMANDS`] lines and
//! [`BATCH_MAX_BYTES`] bytes; a worker refuses a batch over either bound (or with no
//! command) as malformed. A command whose own encoding is larger than the byte bound
//! goes in the single form.

use crate::command::{CommandMessage, Envelope};
use crate::reply::Reply;

/// AMQP `type` of a command batch (version 1 of the batch form).
pub const COMMAND_BATCH_TYPE: &str = "anteroom.command-batch.v1";

/// AMQP `type` of a reply batch (version 1 of the batch form).
pub const REPLY_BATCH_TYPE: &str = "anteroom.reply-batch.v1";

/// Most commands in one batch message.
pub const BATCH_MAX_COMMANDS: usize = 1024;

/// Largest body of one batch message, in bytes (line breaks included).
pub const BATCH_MAX_BYTES: usize = 1 << 20;

/// Why a batch body is refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The body is larger than [`BATCH_MAX_BYTES`].
    #[error("batch of {0} bytes exceeds {BATCH_MAX_BYTES}")]
    TooLarge(usize),
    /// The body holds more than [`BATCH_MAX_COMMANDS`] lines.
    #[error("batch holds more than {BATCH_MAX_COMMANDS} commands")]
    TooMany,
    /// The body holds no line at all.
    #[error("empty batch")]
    Empty,
}

/// The single-form body of `envelope`: what one line of a batch holds.
///
/// # Errors
/// The envelope cannot be encoded (a bug).
pub fn encode_command(envelope: &Envelope) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&CommandMessage::V1(envelope.clone()))
}

/// Builds the body of a batch from encoded lines (commands or replies).
#[derive(Debug, Default)]
pub struct BatchWriter {
    body: Vec<u8>,
    count: usize,
}

impl BatchWriter {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a line of `len` bytes still fits the bounds.
    pub fn fits(&self, len: usize) -> bool {
        self.count < BATCH_MAX_COMMANDS && self.body.len() + len < BATCH_MAX_BYTES
    }

    /// Appends one encoded item (which must not contain a line break: serde_json's
    /// encodings never do). The caller checks [`BatchWriter::fits`] first for commands.
    pub fn push(&mut self, line: &[u8]) {
        if self.count > 0 {
            self.body.push(b'\n');
        }
        self.body.extend_from_slice(line);
        self.count += 1;
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no item was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Body length so far, in bytes.
    pub fn bytes(&self) -> usize {
        self.body.len()
    }

    /// The body.
    pub fn finish(self) -> Vec<u8> {
        self.body
    }
}

/// Byte ranges of the lines of a command batch `body`, checked against the bounds.
/// Blank lines are skipped; each range is a command to decode on its own.
///
/// # Errors
/// The body is over [`BATCH_MAX_BYTES`] or [`BATCH_MAX_COMMANDS`], or holds no line.
pub fn split_commands(body: &[u8]) -> Result<Vec<std::ops::Range<usize>>, BatchError> {
    if body.len() > BATCH_MAX_BYTES {
        return Err(BatchError::TooLarge(body.len()));
    }
    let mut lines = Vec::new();
    let mut start = 0;
    for end in body
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i)
        .chain(std::iter::once(body.len()))
    {
        if body[start..end].iter().any(|b| !b.is_ascii_whitespace()) {
            if lines.len() == BATCH_MAX_COMMANDS {
                return Err(BatchError::TooMany);
            }
            lines.push(start..end);
        }
        start = end + 1;
    }
    if lines.is_empty() {
        return Err(BatchError::Empty);
    }
    Ok(lines)
}

/// The replies of a reply-batch `body`; a line that is not a [`Reply`] is returned as
/// its error, so the other replies still reach their waiters.
pub fn decode_replies(body: &[u8]) -> Vec<serde_json::Result<Reply>> {
    body.split(|b| *b == b'\n')
        .filter(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
        .map(serde_json::from_slice::<Reply>)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::event::EventPatch;
    use crate::ids::{EventId, RequestId};
    use crate::reply::{ErrorCode, Outcome};

    fn envelope() -> Envelope {
        Envelope {
            request_id: RequestId::new(),
            event_id: EventId::new(),
            sent_at: chrono::Utc::now(),
            command: Command::UpdateEvent {
                patch: EventPatch::default(),
            },
        }
    }

    #[test]
    fn lines_decode_one_by_one() {
        let (a, b) = (envelope(), envelope());
        let mut w = BatchWriter::new();
        w.push(&encode_command(&a).unwrap());
        w.push(br#"{"version":"1","request_id":"nope"}"#);
        w.push(&encode_command(&b).unwrap());
        assert_eq!(w.len(), 3);
        let body = w.finish();
        let lines = split_commands(&body).unwrap();
        assert_eq!(lines.len(), 3);
        let decoded: Vec<_> = lines
            .into_iter()
            .map(|r| serde_json::from_slice::<CommandMessage>(&body[r]))
            .collect();
        assert_eq!(decoded[0].as_ref().unwrap().envelope(), &a);
        assert!(decoded[1].is_err(), "a bad line fails alone");
        assert_eq!(decoded[2].as_ref().unwrap().envelope(), &b);
    }

    #[test]
    fn a_line_break_in_a_string_stays_escaped() {
        let r = Reply {
            request_id: RequestId::new(),
            outcome: Outcome::rejected(ErrorCode::Internal, "two\nlines"),
        };
        let line = serde_json::to_vec(&r).unwrap();
        assert!(!line.contains(&b'\n'));
        assert_eq!(decode_replies(&line)[0].as_ref().unwrap(), &r);
    }

    #[test]
    fn bounds_are_enforced() {
        assert_eq!(split_commands(b""), Err(BatchError::Empty));
        assert_eq!(split_commands(b"\n \n"), Err(BatchError::Empty));
        let many = vec![&b"{}"[..]; BATCH_MAX_COMMANDS + 1].join(&b'\n');
        assert_eq!(split_commands(&many), Err(BatchError::TooMany));
        let exact = vec![&b"{}"[..]; BATCH_MAX_COMMANDS].join(&b'\n');
        assert_eq!(split_commands(&exact).unwrap().len(), BATCH_MAX_COMMANDS);
        let big = vec![b' '; BATCH_MAX_BYTES + 1];
        assert!(matches!(split_commands(&big), Err(BatchError::TooLarge(_))));
        let mut w = BatchWriter::new();
        assert!(!w.fits(BATCH_MAX_BYTES));
        assert!(w.fits(BATCH_MAX_BYTES - 1));
        for _ in 0..BATCH_MAX_COMMANDS {
            w.push(b"{}");
        }
        assert!(!w.fits(2));
    }

    #[test]
    fn replies_demultiplex_and_a_bad_line_fails_alone() {
        let r = Reply {
            request_id: RequestId::new(),
            outcome: Outcome::rejected(ErrorCode::HoldExpired, "expired"),
        };
        let mut w = BatchWriter::new();
        w.push(&serde_json::to_vec(&r).unwrap());
        w.push(b"garbage");
        w.push(&serde_json::to_vec(&r).unwrap());
        let got = decode_replies(&w.finish());
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].as_ref().unwrap(), &r);
        assert!(got[1].is_err());
        assert_eq!(got[2].as_ref().unwrap(), &r);
    }
}
