//! Seat layout of one event: where each seat sits in the status vector, its id, its
//! price and its row.
//!
//! Seats are indexed in [`protocol::event::Seating::seats`] order (row-major per
//! section), the same order as `Seating::locate` and as the availability snapshot's
//! status strings. Rows get a global index too, so per-row availability counts can live
//! in one flat vector (used by best-available selection).

use protocol::event::{SeatRef, Seating};

/// One section's place in the flat seat and row vectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SectionLayout {
    /// Section name (seat ids are `{name}-{row}-{number}`).
    pub(crate) name: String,
    /// Index of the section's first seat (row 1, number 1).
    pub(crate) base: usize,
    /// Global index of the section's row 1.
    pub(crate) row_base: usize,
    /// Number of rows.
    pub(crate) rows: u32,
    /// Seats per row.
    pub(crate) seats_per_row: u32,
    /// Price of each seat, in cents.
    pub(crate) price_cents: i64,
}

impl SectionLayout {
    /// Index of the first seat of row `row` (0-based row within the section).
    pub(crate) fn row_start(&self, row: usize) -> usize {
        self.base + row * self.seats_per_row as usize
    }
}

/// The seat layout of an event, derived once from its [`Seating`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    sections: Vec<SectionLayout>,
    total: usize,
    total_rows: usize,
}

impl Layout {
    /// Lays out `seating` (sections in order, seats row-major).
    pub(crate) fn new(seating: &Seating) -> Self {
        let mut base = 0usize;
        let mut row_base = 0usize;
        let sections = seating
            .sections
            .iter()
            .map(|s| {
                let l = SectionLayout {
                    name: s.name.to_string(),
                    base,
                    row_base,
                    rows: s.rows,
                    seats_per_row: s.seats_per_row,
                    price_cents: s.price_cents,
                };
                base += s.rows as usize * s.seats_per_row as usize;
                row_base += s.rows as usize;
                l
            })
            .collect();
        Self {
            sections,
            total: base,
            total_rows: row_base,
        }
    }

    /// Number of seats.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// Number of rows over all sections.
    pub(crate) fn total_rows(&self) -> usize {
        self.total_rows
    }

    /// Sections in display order.
    pub(crate) fn sections(&self) -> &[SectionLayout] {
        &self.sections
    }

    /// The section called `name`, if any.
    pub(crate) fn section(&self, name: &str) -> Option<&SectionLayout> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Index of `seat_id`, or `None` if the event has no such seat (same rules as
    /// `Seating::locate`).
    pub(crate) fn locate(&self, seat_id: &str) -> Option<usize> {
        let seat = SeatRef::parse(seat_id)?;
        let s = self.section(seat.section)?;
        if seat.row == 0 || seat.row > s.rows || seat.number == 0 || seat.number > s.seats_per_row {
            return None;
        }
        Some(s.row_start(seat.row as usize - 1) + seat.number as usize - 1)
    }

    /// The section holding seat `idx`. Panics if `idx >= total()` (an engine bug).
    fn section_of(&self, idx: usize) -> &SectionLayout {
        let after = self.sections.partition_point(|s| s.base <= idx);
        &self.sections[after - 1]
    }

    /// Global row index of seat `idx`.
    pub(crate) fn row_of(&self, idx: usize) -> usize {
        let s = self.section_of(idx);
        s.row_base + (idx - s.base) / s.seats_per_row as usize
    }

    /// Price of seat `idx`, in cents.
    pub(crate) fn price(&self, idx: usize) -> i64 {
        self.section_of(idx).price_cents
    }

    /// The seat id `{section}-{row}-{number}` of seat `idx`.
    pub(crate) fn seat_id(&self, idx: usize) -> String {
        let s = self.section_of(idx);
        let offset = idx - s.base;
        let spr = s.seats_per_row as usize;
        format!("{}-{}-{}", s.name, offset / spr + 1, offset % spr + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::event::Section;

    fn seating() -> Seating {
        Seating {
            sections: vec![
                Section {
                    name: "A".parse().unwrap(),
                    rows: 3,
                    seats_per_row: 4,
                    price_cents: 100,
                },
                Section {
                    name: "B_2".parse().unwrap(),
                    rows: 2,
                    seats_per_row: 5,
                    price_cents: 50,
                },
            ],
        }
    }

    #[test]
    fn layout_agrees_with_protocol_order() {
        let seating = seating();
        let l = Layout::new(&seating);
        assert_eq!(l.total(), 22);
        assert_eq!(l.total_rows(), 5);
        for (i, (seat, price)) in seating.seats().enumerate() {
            let id = seat.to_string();
            assert_eq!(l.locate(&id), Some(i), "{id}");
            assert_eq!(seating.locate(&id), Some((i, price)));
            assert_eq!(l.seat_id(i), id);
            assert_eq!(l.price(i), price);
        }
        assert_eq!(l.row_of(0), 0);
        assert_eq!(l.row_of(11), 2);
        assert_eq!(l.row_of(12), 3);
        assert_eq!(l.row_of(21), 4);
        assert_eq!(l.locate("A-4-1"), None);
        assert_eq!(l.locate("A-1-0"), None);
        assert_eq!(l.locate("C-1-1"), None);
    }
}
