//! What a replica caches about an event's queue (`view.lua`), and the buffered
//! "seen" marks of waiting fans (`seen.lua`). Both run from the replica's watcher
//! (`live/watcher.rs`), once per event per period, never per status poll.

use super::{Queue, TicketState};
use crate::adapters::redis_store::StoreError;
use protocol::ids::{EventId, TicketId};
use redis::FromRedisValue;
use std::time::Instant;

/// State of the pre-queue lottery (`{ns}:{E}:shuffled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShuffleMarker {
    /// Not frozen: joins may still enter the pre-queue (or the event has none).
    Open,
    /// Frozen at `opens_at`, order being applied (milliseconds).
    Frozen,
    /// Applied: the lottery record is readable.
    Done,
}

/// An event's queue as read by one `view.lua` call.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueView {
    /// Lottery marker.
    pub marker: ShuffleMarker,
    /// Line of the furthest ticket passed by admission (0 = none yet).
    pub head_line: u64,
    /// Size of the shuffled pre-queue (0 before the shuffle).
    pub lottery_total: u64,
    /// Tickets in the waiting set.
    pub waiting: u64,
    /// Tickets in the pre-queue (before the shuffle; the record after it).
    pub prequeue: u64,
    /// Live passes.
    pub active: u64,
    /// Admissions over the last 60 s.
    pub admitted_last_minute: u64,
    /// First admission, Unix ms.
    pub first_admit_ms: Option<i64>,
    /// Admissions since the start.
    pub admitted_total: u64,
    /// Waiting tickets skipped as abandoned since the start.
    pub abandoned_total: u64,
    /// Redis clock at the read, Unix ms.
    pub now_ms: i64,
    /// Arrival counter (new tickets since the start).
    pub joins_total: u64,
    /// Latest expiry of a live pass, Unix ms (0 if none).
    pub active_until_ms: i64,
    /// Local clock at the read.
    pub read_at: Instant,
}

/// Shortest measurement window for an observed outflow, ms.
const MIN_WINDOW_MS: i64 = 10_000;

impl QueueView {
    /// A view of an empty queue read now (tests, and before the first read).
    pub fn empty(now_ms: i64) -> Self {
        Self {
            marker: ShuffleMarker::Open,
            head_line: 0,
            lottery_total: 0,
            waiting: 0,
            prequeue: 0,
            active: 0,
            admitted_last_minute: 0,
            first_admit_ms: None,
            admitted_total: 0,
            abandoned_total: 0,
            now_ms,
            joins_total: 0,
            active_until_ms: 0,
            read_at: Instant::now(),
        }
    }

    /// Observed outflow, admissions per minute, over the last 60 s or since the first
    /// admission if that is more recent (at least 10 s of data); `None` before that.
    pub fn observed_per_minute(&self) -> Option<f64> {
        let first = self.first_admit_ms?;
        let window = (self.now_ms - first).min(60_000);
        (window >= MIN_WINDOW_MS)
            .then(|| self.admitted_last_minute as f64 * 60_000.0 / window as f64)
    }
}

/// One `view.lua` read: the view plus the worker's documents it looked at.
#[derive(Debug, Clone)]
pub struct ViewRead {
    /// `config(E)` JSON; `None` if the event has no config.
    pub config_json: Option<String>,
    /// Version of `availability(E)`: `None` if absent, `Some(None)` if unreadable.
    pub availability_version: Option<Option<u64>>,
    /// The queue.
    pub view: QueueView,
}

/// A ticket that `seen.lua` found no longer waiting: `state` is `None` if it is gone
/// (left, or its record expired).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenTicket {
    /// The ticket.
    pub ticket: TicketId,
    /// Its recorded state, if any.
    pub state: Option<TicketState>,
}

/// Tickets per `seen.lua` call (bounds the script's run time to a few ms).
const SEEN_CHUNK: usize = 2_000;

impl Queue {
    /// Reads `event`'s view (one script call).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable; [`StoreError::Internal`] on a
    /// malformed answer.
    pub async fn view(&self, event: &EventId) -> Result<ViewRead, StoreError> {
        let k = self.keys(event);
        let keys = [
            self.keys.config(event),
            self.keys.availability(event),
            k.waiting(),
            k.prequeue(),
            k.shuffled(),
            k.stats(),
            k.active(),
            k.per_second(),
            k.seq(),
        ];
        let raw: Vec<redis::Value> = self.redis.script(&self.scripts.view, &keys, &[]).await?;
        parse_view(&raw)
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("malformed view.lua answer")))
    }

    /// Marks `tickets` of `event` as seen at `now_ms` (Unix ms; `None` = the Redis
    /// clock), in chunks; returns those that no longer wait.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable; [`StoreError::Internal`] on a
    /// malformed answer.
    pub async fn mark_seen(
        &self,
        event: &EventId,
        tickets: &[TicketId],
        now_ms: Option<i64>,
    ) -> Result<Vec<SeenTicket>, StoreError> {
        let k = self.keys(event);
        let mut settled = Vec::new();
        for chunk in tickets.chunks(SEEN_CHUNK) {
            let mut args = vec![
                k.ticket_prefix(),
                self.ticket_ttl_seconds.to_string(),
                now_ms.map(|n| n.to_string()).unwrap_or_default(),
            ];
            args.extend(chunk.iter().map(ToString::to_string));
            let raw: Vec<String> = self
                .redis
                .script(&self.scripts.seen, &[k.waiting()], &args)
                .await?;
            for pair in raw.chunks(2) {
                let [id, state] = pair else {
                    return Err(StoreError::Internal(anyhow::anyhow!("odd seen.lua answer")));
                };
                let ticket = id
                    .parse()
                    .map_err(|e| StoreError::Internal(anyhow::anyhow!("seen.lua ticket: {e}")))?;
                let state = (!state.is_empty())
                    .then(|| TicketState::parse(state))
                    .transpose()?;
                settled.push(SeenTicket { ticket, state });
            }
        }
        Ok(settled)
    }
}

fn parse_view(raw: &[redis::Value]) -> Option<ViewRead> {
    let int = |i: usize| raw.get(i).and_then(|v| i64::from_redis_value(v).ok());
    let uint = |i: usize| int(i).and_then(|n| u64::try_from(n).ok());
    let config_json: Option<String> = Option::from_redis_value(raw.first()?).ok()?;
    let availability_version = match int(1)? {
        -1 => None,
        v => Some(u64::try_from(v).ok()),
    };
    let marker = match String::from_redis_value(raw.get(2)?).ok()?.as_str() {
        "frozen" => ShuffleMarker::Frozen,
        "done" => ShuffleMarker::Done,
        _ => ShuffleMarker::Open,
    };
    Some(ViewRead {
        config_json,
        availability_version,
        view: QueueView {
            marker,
            head_line: uint(3)?,
            lottery_total: uint(4)?,
            waiting: uint(5)?,
            prequeue: uint(6)?,
            active: uint(7)?,
            admitted_last_minute: uint(8)?,
            first_admit_ms: int(9).filter(|v| *v >= 0),
            admitted_total: uint(10)?,
            abandoned_total: uint(11)?,
            now_ms: int(12)?,
            joins_total: uint(13)?,
            active_until_ms: int(14)?,
            read_at: Instant::now(),
        },
    })
}
