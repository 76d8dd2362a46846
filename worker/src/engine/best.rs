//! Best-available selection for `{"section": S, "quantity": n}` holds.
//!
//! Rule (docs/RESERVATIONS.md): prefer `n` adjacent seats in the front-most row (row 1 is the front)
//! that has them; within that row take the run closest to the row's centre (ties go to
//! the lower seat numbers). If no row has `n` adjacent seats, take the front-most `n`
//! available seats in row-major order. Rows with fewer than `n` free seats are skipped
//! by their availability count, so a nearly sold-out section costs O(rows), not O(seats).

use super::event::SeatStatus;
use super::layout::SectionLayout;

/// Picks `quantity` available seats of `section`, or `None` if fewer are available.
///
/// `seats` is the event's status vector and `row_available` its per-row free counts
/// (global row index). Returned indices are in seat order.
pub(crate) fn best_available(
    section: &SectionLayout,
    seats: &[SeatStatus],
    row_available: &[u32],
    quantity: u32,
) -> Option<Vec<usize>> {
    if quantity == 0 {
        return None;
    }
    let rows = section.rows as usize;
    let counts = &row_available[section.row_base..section.row_base + rows];
    for (row, &free) in counts.iter().enumerate() {
        if free >= quantity {
            if let Some(start) = adjacent_run(section, seats, row, quantity) {
                return Some((start..start + quantity as usize).collect());
            }
        }
    }
    let total_free: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    if total_free < u64::from(quantity) {
        return None;
    }
    let mut picked = Vec::with_capacity(quantity as usize);
    for (row, &free) in counts.iter().enumerate() {
        if free == 0 {
            continue;
        }
        let start = section.row_start(row);
        let row_seats = &seats[start..start + section.seats_per_row as usize];
        for (offset, status) in row_seats.iter().enumerate() {
            if *status == SeatStatus::Available {
                picked.push(start + offset);
                if picked.len() == quantity as usize {
                    return Some(picked);
                }
            }
        }
    }
    None
}

/// Start index of the run of `quantity` available seats in `row` closest to the centre.
fn adjacent_run(
    section: &SectionLayout,
    seats: &[SeatStatus],
    row: usize,
    quantity: u32,
) -> Option<usize> {
    let spr = section.seats_per_row as usize;
    let q = quantity as usize;
    if q > spr {
        return None;
    }
    let row_start = section.row_start(row);
    let row_seats = &seats[row_start..row_start + spr];
    // Ideal start offset: the run centred in the row.
    let ideal = (spr - q) / 2;
    let mut best: Option<(usize, usize)> = None; // (distance, offset)
    let mut run_start = 0usize;
    // A sentinel taken seat after the row closes the last run.
    let with_end = row_seats.iter().chain(std::iter::once(&SeatStatus::Sold));
    for (offset, status) in with_end.enumerate() {
        if *status == SeatStatus::Available {
            continue;
        }
        // A maximal run of free seats is [run_start, offset).
        if offset - run_start >= q {
            let candidate = ideal.clamp(run_start, offset - q);
            let distance = candidate.abs_diff(ideal);
            if best.is_none_or(|(d, _)| distance < d) {
                best = Some((distance, candidate));
            }
        }
        run_start = offset + 1;
    }
    best.map(|(_, offset)| row_start + offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use SeatStatus::{Available as A, Held as H, Sold as S};

    fn section(rows: u32, spr: u32) -> SectionLayout {
        SectionLayout {
            name: "A".into(),
            base: 0,
            row_base: 0,
            rows,
            seats_per_row: spr,
            price_cents: 1,
        }
    }

    fn counts(section: &SectionLayout, seats: &[SeatStatus]) -> Vec<u32> {
        seats
            .chunks(section.seats_per_row as usize)
            .map(|r| r.iter().filter(|s| **s == A).count() as u32)
            .collect()
    }

    #[test]
    fn centre_of_front_row_when_empty() {
        let s = section(2, 10);
        let seats = vec![A; 20];
        let got = best_available(&s, &seats, &counts(&s, &seats), 2).unwrap();
        assert_eq!(got, vec![4, 5]);
    }

    #[test]
    fn skips_rows_without_an_adjacent_run() {
        let s = section(2, 4);
        let seats = vec![A, H, A, S, A, A, A, A];
        let got = best_available(&s, &seats, &counts(&s, &seats), 2).unwrap();
        assert_eq!(got, vec![5, 6]);
    }

    #[test]
    fn run_closest_to_centre_within_a_row() {
        let s = section(1, 10);
        let seats = vec![A, A, S, S, S, S, S, A, A, A];
        let got = best_available(&s, &seats, &counts(&s, &seats), 2).unwrap();
        assert_eq!(got, vec![7, 8]);
        // Equally far from the centre: the lower numbers win.
        let seats = vec![A, A, S, S, S, S, S, S, A, A];
        let got = best_available(&s, &seats, &counts(&s, &seats), 2).unwrap();
        assert_eq!(got, vec![0, 1]);
    }

    #[test]
    fn falls_back_to_front_most_scattered_seats() {
        let s = section(2, 3);
        let seats = vec![A, S, A, H, A, S];
        let got = best_available(&s, &seats, &counts(&s, &seats), 3).unwrap();
        assert_eq!(got, vec![0, 2, 4]);
    }

    #[test]
    fn none_when_not_enough() {
        let s = section(1, 3);
        let seats = vec![A, S, A];
        assert_eq!(best_available(&s, &seats, &counts(&s, &seats), 3), None);
        assert_eq!(best_available(&s, &seats, &counts(&s, &seats), 0), None);
    }
}
