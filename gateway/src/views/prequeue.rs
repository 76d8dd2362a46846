//! `GET /v1/events/{id}/prequeue`: the public record of the pre-queue lottery.

use crate::live::catalog::EventSnapshot;
use crate::queue::{commitment, Lottery};
use chrono::{DateTime, Utc};
use protocol::ids::{EventId, TicketId};
use serde::Serialize;
use utoipa::ToSchema;

/// The lottery record of an event (`docs/LOTTERY.md`). Verify it with
/// `anteroom-gateway verify-shuffle --seed <shuffle_seed> --commitment
/// <shuffle_commitment> --tickets <this document saved as a file>`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PrequeueRecord {
    /// Event id.
    pub event_id: EventId,
    /// Hex SHA-256 of the seed, public from the event's creation.
    pub shuffle_commitment: Option<String>,
    /// Hex seed (32 bytes), `null` until `opens_at`.
    pub shuffle_seed: Option<String>,
    /// `true` once the lottery was applied (shortly after `opens_at`).
    pub shuffled: bool,
    /// The pre-queue's tickets in arrival order (empty until `shuffled`).
    pub tickets: Vec<TicketId>,
    /// The order applied: `order[0]` went first (empty until `shuffled`).
    pub order: Vec<TicketId>,
    /// Algorithm, in words.
    pub algorithm: &'static str,
}

/// The algorithm as published with every record.
pub const ALGORITHM: &str = "order = tickets sorted by SHA-256(seed bytes || ticket UUID bytes), \
ascending; shuffle_commitment = SHA-256(seed bytes)";

impl PrequeueRecord {
    /// The record of `s` at `now`; `lottery` once applied.
    pub fn new(s: &EventSnapshot, lottery: Option<&Lottery>, now: DateTime<Utc>) -> Self {
        let seed = s.public_seed(now);
        // A record is only published with the seed that produced it.
        let lottery = lottery.filter(|_| seed.is_some());
        Self {
            event_id: s.config.id,
            shuffle_commitment: s.config.shuffle_commitment.clone(),
            shuffle_seed: seed,
            shuffled: lottery.is_some(),
            tickets: lottery.map(|l| l.tickets.clone()).unwrap_or_default(),
            order: lottery.map(|l| l.order.clone()).unwrap_or_default(),
            algorithm: ALGORITHM,
        }
    }
}

/// Whether `seed_hex` matches `commitment_hex` (helper for views and tests).
pub fn seed_matches(seed_hex: &str, commitment_hex: &str) -> bool {
    hex::decode(seed_hex).is_ok_and(|s| commitment(&s) == commitment_hex.to_ascii_lowercase())
}
