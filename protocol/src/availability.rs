//! The availability snapshot a worker writes to Redis when an event's seats change (at
//! most once per `availability_interval_ms`, a sell-out at once;
//! `RedisKeys::availability`); the gateway's seat map and sold-out logic read it.

use crate::ids::EventId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Seat status characters in [`SectionAvailability::statuses`].
pub mod status {
    /// Available.
    pub const AVAILABLE: char = 'a';
    /// Held (an active hold).
    pub const HELD: char = 'h';
    /// Sold (a confirmed order).
    pub const SOLD: char = 's';
}

/// Seat statuses of one section, one character per seat in row-major order
/// (`Seating::seats` order): `a` available, `h` held, `s` sold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionAvailability {
    /// Section name.
    pub name: String,
    /// `rows * seats_per_row` status characters.
    pub statuses: String,
}

/// Counts and seat statuses of one event at `as_of`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    /// Event id.
    pub event_id: EventId,
    /// When the worker's batch committed.
    pub as_of: DateTime<Utc>,
    /// Increases with each snapshot of the event (stale writes can be detected).
    pub version: u64,
    /// Total seats.
    pub total: u64,
    /// Seats available.
    pub available: u64,
    /// Seats in active holds.
    pub held: u64,
    /// Seats sold.
    pub sold: u64,
    /// Active holds.
    pub holds_active: u64,
    /// Confirmed orders.
    pub orders: u64,
    /// Per-section seat statuses.
    pub sections: Vec<SectionAvailability>,
}

impl Availability {
    /// Sold out: nothing available and nothing held that could come back.
    pub fn sold_out(&self) -> bool {
        self.available == 0 && self.held == 0
    }
}
