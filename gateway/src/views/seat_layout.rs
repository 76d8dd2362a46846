//! `GET /v1/events/{id}/seats/layout`: the static half of the seat map (sections, rows,
//! prices), sent once per fan and revalidated with its `ETag`, so that the live half
//! (`seat_state.rs`) can be two bits per seat.
//!
//! **Layout order**: the sections in the event's order, each row-major; seat `i` of a
//! section (`0 ≤ i < rows × seats_per_row`) is row `i / seats_per_row + 1`, number
//! `i % seats_per_row + 1`, id `{section}-{row}-{number}`, and has index `base + i` in
//! the event. It is the order of the worker's availability snapshot
//! (`protocol::event::Seating::seats`).

use protocol::event::Seating;
use protocol::ids::EventId;
use protocol::text::CurrencyCode;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// One section of the layout.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SectionLayout {
    /// Section name; seat ids are `{name}-{row}-{number}`.
    pub name: String,
    /// Rows, numbered from 1.
    pub rows: u32,
    /// Seats in each row, numbered from 1.
    pub seats_per_row: u32,
    /// Price of each seat, in the currency's minor unit.
    pub price_cents: i64,
    /// Layout index of the section's first seat (the seats of the sections before it).
    pub base: u64,
}

/// Body of `GET /v1/events/{id}/seats/layout`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeatLayout {
    /// Event id.
    pub event_id: EventId,
    /// [`layout_version`]: 64 hex digits; also the `ETag` of this answer, and carried by
    /// every live state, so a client knows when its layout is stale.
    pub layout_version: String,
    /// ISO 4217 currency of every `price_cents`.
    pub currency: String,
    /// Sections in layout order.
    pub sections: Vec<SectionLayout>,
    /// Seats of the event.
    pub total: u64,
}

impl SeatLayout {
    /// The layout of an event's `seating`, priced in `currency`.
    pub fn new(event_id: EventId, seating: &Seating, currency: &CurrencyCode) -> Self {
        let mut base = 0;
        let sections = seating
            .sections
            .iter()
            .map(|s| {
                let section = SectionLayout {
                    name: s.name.to_string(),
                    rows: s.rows,
                    seats_per_row: s.seats_per_row,
                    price_cents: s.price_cents,
                    base,
                };
                base += u64::from(s.rows) * u64::from(s.seats_per_row);
                section
            })
            .collect();
        Self {
            event_id,
            layout_version: layout_version(seating, currency),
            currency: currency.to_string(),
            sections,
            total: base,
        }
    }
}

/// The version of a layout: hex SHA-256 of the JSON of `[currency, seating]` (the
/// seating as the venue submitted it: sections in order with their names, rows, seats
/// per row and prices). Any edit of the plan or the currency changes it; nothing else
/// does (not the event's state, its rate or its name).
pub fn layout_version(seating: &Seating, currency: &CurrencyCode) -> String {
    let json = serde_json::to_vec(&(currency, seating)).expect("a seating serialises");
    hex::encode(Sha256::digest(json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::event::Section;

    fn seating(price: i64) -> Seating {
        Seating {
            sections: ["A", "B"]
                .iter()
                .map(|n| Section {
                    name: n.parse().unwrap(),
                    rows: 3,
                    seats_per_row: 4,
                    price_cents: price,
                })
                .collect(),
        }
    }

    #[test]
    fn bases_count_the_seats_before_each_section() {
        let usd: CurrencyCode = "USD".parse().unwrap();
        let layout = SeatLayout::new(EventId(uuid::Uuid::nil()), &seating(100), &usd);
        let bases: Vec<u64> = layout.sections.iter().map(|s| s.base).collect();
        assert_eq!(bases, vec![0, 12]);
        assert_eq!(layout.total, 24);
        assert_eq!(layout.layout_version.len(), 64);
    }

    #[test]
    fn the_version_follows_prices_and_currency_only() {
        let usd: CurrencyCode = "USD".parse().unwrap();
        let krw: CurrencyCode = "KRW".parse().unwrap();
        let v = layout_version(&seating(100), &usd);
        assert_eq!(v, layout_version(&seating(100), &usd));
        assert_ne!(v, layout_version(&seating(101), &usd));
        assert_ne!(v, layout_version(&seating(100), &krw));
    }
}
