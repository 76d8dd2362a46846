//! Losing Redis's data without losing anyone's place (a restart without persistence, a
//! failover to an empty or lagging replica).
//!
//! What survives a loss, and what each piece restores:
//!
//! - **Queue tokens**, as fans present them (`restore.lua`): a token whose ticket the
//!   queue no longer knows, made before the queue's keys began again (`{E}:epoch`), puts
//!   the ticket back at its arrival number (a shuffled pre-queue ticket at its lottery
//!   rank, see [`Claim`]) and raises the arrival counter to at least that number.
//! - **Passes**, presented with a status poll (the pass cookie): an admitted fan whose
//!   pass is live is admitted again and the pass counts in `active(E)` again.
//! - **Each replica's memory** of the queue (its last view, the lottery record):
//!   `restore_event.lua`, run by the watcher when the queue's counters went back,
//!   raises the arrival counter, `head_line`, `admitted_total`, `abandoned_total`,
//!   `lottery_total`, writes the lottery record back, and holds one placeholder in
//!   `active(E)` per live pass it last counted, so `max_active` still holds before the
//!   passes are presented again. Joins carry this replica's highest known arrival
//!   number as a floor ([`SeqFloors`]), so a join that lands before any restore still
//!   queues behind every ticket this replica issued or saw.
//!
//! After a detected loss, admission pauses for [`RESTORE_GRACE_MS`]: fans near the front
//! poll every second, so they are back in line before anyone is passed; fans further
//! back poll less often but are reached later (the poll interval is a thirtieth of the
//! ETA). The admission bucket restarts empty (`admit.lua`), so there is no burst.
//!
//! Safe defaults where nothing survives: a ticket at or before `head_line` that shows no
//! live pass was passed by admission (admitted or abandoned) and comes back as
//! abandoned (`expired`); a pre-queue ticket whose lottery rank is unknown (no replica
//! kept the record) goes behind every ranked one and ahead of every later arrival,
//! ordered among its peers by the published lottery key, so the pre-queue keeps its
//! published relative order and a later arrival never overtakes it.

use super::{Queue, QueueKeys};
use crate::adapters::redis_store::StoreError;
use protocol::ids::{EventId, TicketId};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// How long admission pauses after a loss is detected, ms.
pub const RESTORE_GRACE_MS: u64 = 10_000;

/// How long a written-back lottery record is kept, s (as `shuffle.rs` keeps it).
const RECORD_TTL_SECONDS: u64 = 7 * 86_400;

/// The highest arrival number this replica knows was issued, per event: the floor of
/// its joins' arrival numbers (`join_group.lua`, `join.lua`).
#[derive(Debug, Default)]
pub struct SeqFloors(Mutex<HashMap<EventId, u64>>);

impl SeqFloors {
    /// The floor of `event` (0 if none).
    pub fn get(&self, event: &EventId) -> u64 {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(event)
            .copied()
            .unwrap_or(0)
    }

    /// Raises the floor of `event` to at least `seq`.
    pub fn raise(&self, event: &EventId, seq: u64) {
        let mut floors = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let floor = floors.entry(*event).or_insert(0);
        *floor = (*floor).max(seq);
    }
}

/// Where a ticket the queue lost belongs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Claim {
    /// An arrival after the pre-queue (or an event without one): its arrival number.
    Waiting,
    /// Joined the pre-queue (before `opens_at`): back in the pre-queue while it is not
    /// frozen; once frozen, at `fallback` (see [`fallback_score`]).
    Prequeue {
        /// Waiting score if the pre-queue is already frozen.
        fallback: f64,
    },
    /// A shuffled pre-queue ticket: `score` in the waiting set, `line` its rank if known.
    Lottery {
        /// Waiting score.
        score: f64,
        /// Lottery rank, if known.
        line: Option<u64>,
    },
}

/// The score of a ranked lottery ticket: `rank - total - 1` (as `shuffle.lua`).
pub fn lottery_score(rank: u64, total: u64) -> f64 {
    rank as f64 - total as f64 - 1.0
}

/// The waiting score of a pre-queue ticket whose rank is unknown: in `(-1, 0)`, behind
/// every ranked ticket (scores up to `-1`) and ahead of every later arrival (scores
/// from 1), increasing with the lottery's sort key `SHA-256(seed ‖ ticket)` (`docs/LOTTERY.md`),
/// so such tickets keep the published relative order. Without a seed (not yet
/// revealed): `-0.5`.
pub fn fallback_score(seed: Option<&[u8]>, ticket: &TicketId) -> f64 {
    let Some(seed) = seed else {
        return -0.5;
    };
    let mut h = Sha256::new();
    h.update(seed);
    h.update(ticket.0.as_bytes());
    let digest = h.finalize();
    let mut top = [0u8; 8];
    top.copy_from_slice(&digest[..8]);
    // 52 bits: exact in an f64 together with the offset, and still the key's order.
    let key = u64::from_be_bytes(top) >> 12;
    -1.0 + (key as f64 + 1.0) / ((1u64 << 52) as f64 + 2.0)
}

/// The Unix ms at which `ticket` was made (the first 48 bits of its UUIDv7).
pub fn ticket_ms(ticket: &TicketId) -> u64 {
    let b = ticket.0.as_bytes();
    b[..6]
        .iter()
        .fold(0u64, |ms, byte| (ms << 8) | u64::from(*byte))
}

/// A live pass presented with a claim: admission and expiry times, Unix ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresentedPass {
    /// When it was issued (the admission).
    pub admitted_ms: i64,
    /// When it expires.
    pub expires_ms: i64,
}

/// What [`Queue::restore`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restored {
    /// The ticket is known: nothing to do.
    Known,
    /// The ticket was made in this incarnation of the queue and is gone (left, expired).
    Gone,
    /// Put back in this state (`prequeue`, `waiting`, `admitted`, `abandoned`).
    Back(super::TicketState),
}

/// What a replica remembers of an event's queue (its last view before a loss), with the
/// lottery record if it had loaded one.
#[derive(Debug, Clone)]
pub struct Remembered<'a> {
    /// Arrival counter.
    pub joins_total: u64,
    /// Line of the furthest ticket passed.
    pub head_line: u64,
    /// Admissions since the start.
    pub admitted_total: u64,
    /// Abandoned tickets since the start.
    pub abandoned_total: u64,
    /// First admission, Unix ms.
    pub first_admit_ms: Option<i64>,
    /// Shuffled pre-queue size.
    pub lottery_total: u64,
    /// Live passes.
    pub active: u64,
    /// Latest pass expiry, Unix ms.
    pub active_until_ms: i64,
    /// The lottery record (arrival order, lottery order).
    pub lottery: Option<&'a super::Lottery>,
}

impl Queue {
    /// Puts `ticket` (arrival number `seq`, from a valid queue token) back in `event`'s
    /// queue if Redis lost it (see `restore.lua`), as `claim` says, or as admitted if
    /// `pass` is live.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable; [`StoreError::Internal`] on a
    /// malformed answer.
    pub async fn restore(
        &self,
        event: &EventId,
        ticket: &TicketId,
        seq: u64,
        claim: Claim,
        pass: Option<PresentedPass>,
    ) -> Result<Restored, StoreError> {
        let k = self.keys(event);
        let keys = restore_keys(&k, ticket);
        let (place, score, line) = match claim {
            Claim::Waiting => ("waiting", String::new(), String::new()),
            Claim::Prequeue { fallback } => ("prequeue", fallback.to_string(), String::new()),
            Claim::Lottery { score, line } => (
                "lottery",
                score.to_string(),
                line.map(|l| l.to_string()).unwrap_or_default(),
            ),
        };
        let args = [
            ticket.to_string(),
            seq.to_string(),
            ticket_ms(ticket).to_string(),
            place.to_string(),
            score,
            line,
            pass.map(|p| p.admitted_ms.to_string()).unwrap_or_default(),
            pass.map(|p| p.expires_ms.to_string()).unwrap_or_default(),
            self.ticket_ttl_seconds.to_string(),
            RESTORE_GRACE_MS.to_string(),
        ];
        let answer: String = self
            .redis
            .script(&self.scripts.restore, &keys, &args)
            .await?;
        self.floors.raise(event, seq);
        Ok(match answer.as_str() {
            "known" => Restored::Known,
            "gone" => Restored::Gone,
            state => Restored::Back(super::TicketState::parse(state)?),
        })
    }

    /// Writes back what this replica remembers of `event`'s queue after Redis lost it
    /// (see `restore_event.lua`); returns whether anything was raised (`false`: nothing
    /// lost, or another replica restored it first).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable.
    pub async fn restore_event(
        &self,
        event: &EventId,
        memory: &Remembered<'_>,
    ) -> Result<bool, StoreError> {
        let k = self.keys(event);
        let keys = [
            k.seq(),
            k.stats(),
            k.shuffled(),
            k.prequeue(),
            k.lottery(),
            k.active(),
            k.epoch(),
            k.restoring(),
            k.lost_passes(),
        ];
        let record = memory.lottery.filter(|l| !l.order.is_empty());
        let mut args = vec![
            memory.joins_total.to_string(),
            memory.head_line.to_string(),
            memory.admitted_total.to_string(),
            memory.abandoned_total.to_string(),
            memory.first_admit_ms.unwrap_or(-1).to_string(),
            memory.lottery_total.to_string(),
            memory.active.to_string(),
            memory.active_until_ms.to_string(),
            RESTORE_GRACE_MS.to_string(),
            RECORD_TTL_SECONDS.to_string(),
            record.map_or(0, |l| l.tickets.len()).to_string(),
        ];
        if let Some(l) = record {
            args.extend(l.tickets.iter().map(ToString::to_string));
            args.extend(l.order.iter().map(ToString::to_string));
        }
        let raised: u64 = self
            .redis
            .script(&self.scripts.restore_event, &keys, &args)
            .await?;
        self.floors.raise(event, memory.joins_total);
        Ok(raised > 0)
    }

    /// This replica's join floors.
    pub fn floors(&self) -> &SeqFloors {
        &self.floors
    }
}

fn restore_keys(k: &QueueKeys, ticket: &TicketId) -> Vec<String> {
    vec![
        k.seq(),
        k.waiting(),
        k.prequeue(),
        k.shuffled(),
        k.ticket(ticket),
        k.active(),
        k.stats(),
        k.epoch(),
        k.restoring(),
        k.lost_passes(),
        k.used_passes(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::lottery_order;

    #[test]
    fn fallback_scores_keep_the_lottery_order_between_ranks_and_arrivals() {
        let seed = [7u8; 32];
        let tickets: Vec<TicketId> = (0..200).map(|_| TicketId::new()).collect();
        let order = lottery_order(&seed, &tickets);
        let scores: Vec<f64> = order
            .iter()
            .map(|t| fallback_score(Some(&seed), t))
            .collect();
        assert!(scores.windows(2).all(|w| w[0] < w[1]), "{scores:?}");
        assert!(scores.iter().all(|s| *s > -1.0 && *s < 0.0));
        // Behind the last ranked ticket, ahead of the first arrival.
        assert!(lottery_score(200, 200) < scores[0]);
        assert_eq!(fallback_score(None, &tickets[0]), -0.5);
    }

    #[test]
    fn ticket_time_is_the_uuid_v7_milliseconds() {
        let before = chrono::Utc::now().timestamp_millis() as u64;
        let t = TicketId::new();
        let after = chrono::Utc::now().timestamp_millis() as u64;
        assert!((before..=after).contains(&ticket_ms(&t)));
    }

    #[test]
    fn floors_only_rise() {
        let floors = SeqFloors::default();
        let e = EventId::new();
        floors.raise(&e, 5);
        floors.raise(&e, 3);
        assert_eq!(floors.get(&e), 5);
        assert_eq!(floors.get(&EventId::new()), 0);
    }
}
