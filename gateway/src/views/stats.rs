//! `GET /v1/admin/events/{id}/stats` (docs/API.md's shape).

use chrono::{DateTime, Utc};
use protocol::event::PublicState;
use protocol::ids::EventId;
use serde::Serialize;
use utoipa::ToSchema;

/// Queue counters (stats).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct QueueCounts {
    /// Waiting (including the pre-queue).
    pub waiting: u64,
    /// Admitted since the start.
    pub admitted_total: u64,
    /// Live passes.
    pub active: u64,
    /// Skipped for not polling.
    pub abandoned_total: u64,
    /// When these counters were read (RFC 3339, milliseconds, the Redis clock). An
    /// outflow computed from two readings divides by the difference of their `as_of`.
    #[schema(value_type = String, format = DateTime)]
    pub as_of: DateTime<Utc>,
}

/// Admission figures (stats).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct AdmissionFigures {
    /// Configured outflow, per minute.
    pub rate_per_minute: u32,
    /// Admissions over the last 60 s.
    pub observed_per_minute: f64,
}

/// Seat figures (stats), from the worker's availability snapshot.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct SeatFigures {
    /// All seats.
    pub total: u64,
    /// On sale.
    pub available: u64,
    /// In active holds.
    pub held: u64,
    /// Sold.
    pub sold: u64,
}

/// `GET /v1/admin/events/{id}/stats`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventStats {
    /// Event id.
    pub event_id: EventId,
    /// Public state.
    pub state: PublicState,
    /// Queue counters.
    pub queue: QueueCounts,
    /// Admission figures.
    pub admission: AdmissionFigures,
    /// Seat figures.
    pub seats: SeatFigures,
    /// Active holds.
    pub holds_active: u64,
    /// Confirmed orders.
    pub orders: u64,
}
