//! `GET /v1/events/{id}/seats`: the worker's availability snapshot expanded to seats.

use crate::live::catalog::EventSnapshot;
use chrono::{DateTime, Utc};
use protocol::availability::status;
use serde::Serialize;
use utoipa::ToSchema;

/// One seat of the seat map.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeatView {
    /// `{section}-{row}-{number}`.
    pub id: String,
    /// Row, from 1.
    pub row: u32,
    /// Number in the row, from 1.
    pub number: u32,
    /// Price, cents.
    pub price_cents: i64,
    /// `available`, `held` or `sold`.
    pub status: &'static str,
}

/// One section of the seat map.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SectionView {
    /// Section name.
    pub name: String,
    /// Seats in row-major order.
    pub seats: Vec<SeatView>,
}

/// `GET /v1/events/{id}/seats`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeatMap {
    /// When the snapshot was taken.
    #[schema(value_type = String, format = DateTime)]
    pub as_of: DateTime<Utc>,
    /// Sections.
    pub sections: Vec<SectionView>,
}

impl SeatMap {
    /// Expands the availability snapshot (one status character per seat) to seats; seats
    /// missing from the snapshot count as available.
    pub fn new(s: &EventSnapshot) -> Self {
        let av = s.availability.as_ref();
        let sections = s
            .config
            .spec
            .seating
            .sections
            .iter()
            .map(|sec| {
                let statuses: Vec<char> = av
                    .and_then(|a| a.sections.iter().find(|x| x.name == sec.name))
                    .map(|x| x.statuses.chars().collect())
                    .unwrap_or_default();
                let mut seats = Vec::with_capacity((sec.rows * sec.seats_per_row) as usize);
                for row in 1..=sec.rows {
                    for number in 1..=sec.seats_per_row {
                        let i = ((row - 1) * sec.seats_per_row + (number - 1)) as usize;
                        seats.push(SeatView {
                            id: format!("{}-{row}-{number}", sec.name),
                            row,
                            number,
                            price_cents: sec.price_cents,
                            status: match statuses.get(i) {
                                Some(&status::HELD) => "held",
                                Some(&status::SOLD) => "sold",
                                _ => "available",
                            },
                        });
                    }
                }
                SectionView {
                    name: sec.name.to_string(),
                    seats,
                }
            })
            .collect();
        Self {
            as_of: av.map_or(s.config.updated_at, |a| a.as_of),
            sections,
        }
    }
}
