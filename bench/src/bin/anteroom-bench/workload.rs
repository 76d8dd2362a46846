//! The benchmark's workload: one large event and a fixed, seeded sequence of holds of
//! 1–4 adjacent seats, identical for every design.
//!
//! - **uniform**: holds land anywhere in the venue. Their places are laid out densely
//!   (row by row, never across a row end) and then issued in a random order, so each
//!   hold's place is uniform over the venue and, until the venue is full, no two holds
//!   want the same seat: almost every hold succeeds.
//! - **hot**: `hot_share` of the holds (default 80 %) aim at the hot section (section
//!   `S00`, 5 % of the seats with 20 sections), at a uniformly random place drawn
//!   independently (so they collide, and once the section is full they fail); the
//!   others follow the uniform layout of the remaining sections.

use protocol::event::EventSpec;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Seat selection pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Workload {
    Uniform,
    Hot,
}

impl Workload {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Workload::Uniform => "uniform",
            Workload::Hot => "hot",
        }
    }
}

/// The venue: `sections` sections `S00`, `S01`, ... of `rows` × `per_row` seats.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Venue {
    pub(crate) sections: u32,
    pub(crate) rows: u32,
    pub(crate) per_row: u32,
}

impl Venue {
    /// Total seats.
    pub(crate) fn seats(&self) -> u64 {
        u64::from(self.sections) * u64::from(self.rows) * u64::from(self.per_row)
    }

    /// The event spec: holds of up to 4 seats that live an hour (nothing expires during
    /// a run), 1 500 cents a seat.
    pub(crate) fn spec(&self) -> EventSpec {
        let sections: Vec<_> = (0..self.sections)
            .map(|s| {
                serde_json::json!({
                    "name": section_name(s), "rows": self.rows,
                    "seats_per_row": self.per_row, "price_cents": 1500
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "name": "Benchmark", "venue": "Bench Arena", "timezone": "Europe/Paris",
            "opens_at": "2020-01-01T00:00:00+01:00",
            "admission": {"rate_per_minute": 600_000, "max_active": 1_000_000,
                          "pass_ttl_seconds": 3600},
            "hold_ttl_seconds": 3600, "max_seats_per_hold": 4,
            "seating": {"sections": sections}
        }))
        .expect("the benchmark spec is a valid EventSpec")
    }
}

fn section_name(s: u32) -> String {
    format!("S{s:02}")
}

/// One hold's seats, as `{section}-{row}-{number}` ids.
pub(crate) type HoldSeats = Vec<String>;

/// Places of `count` holds of random sizes laid out densely over sections
/// `first_section..`, in a random order; wraps around (and then collides) if the
/// sections fill up.
fn dense_shuffled(
    venue: &Venue,
    first_section: u32,
    count: usize,
    rng: &mut StdRng,
) -> Vec<HoldSeats> {
    let mut out = Vec::with_capacity(count);
    let (mut section, mut row, mut next) = (first_section, 1u32, 1u32);
    while out.len() < count {
        let q: u32 = rng.gen_range(1..=4).min(venue.per_row);
        if next + q - 1 > venue.per_row {
            row += 1;
            next = 1;
            if row > venue.rows {
                row = 1;
                section += 1;
                if section >= venue.sections {
                    section = first_section;
                }
            }
        }
        out.push(seat_ids(section, row, next, q));
        next += q;
    }
    out.shuffle(rng);
    out
}

fn seat_ids(section: u32, row: u32, first: u32, q: u32) -> HoldSeats {
    (first..first + q)
        .map(|n| format!("{}-{row}-{n}", section_name(section)))
        .collect()
}

/// The `ops` holds of `workload`, the same for a given `seed`.
pub(crate) fn plan(
    venue: &Venue,
    workload: Workload,
    ops: usize,
    hot_share: f64,
    seed: u64,
) -> Vec<HoldSeats> {
    let mut rng = StdRng::seed_from_u64(seed);
    match workload {
        Workload::Uniform => dense_shuffled(venue, 0, ops, &mut rng),
        Workload::Hot => {
            let first = if venue.sections > 1 { 1 } else { 0 };
            let mut spread = dense_shuffled(venue, first, ops, &mut rng).into_iter();
            (0..ops)
                .map(|_| {
                    if rng.gen_bool(hot_share) {
                        let q: u32 = rng.gen_range(1..=4).min(venue.per_row);
                        let row = rng.gen_range(1..=venue.rows);
                        let start = rng.gen_range(1..=venue.per_row - q + 1);
                        seat_ids(0, row, start, q)
                    } else {
                        spread.next().unwrap_or_default()
                    }
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const VENUE: Venue = Venue {
        sections: 20,
        rows: 10,
        per_row: 20,
    };

    #[test]
    fn uniform_holds_are_disjoint_until_the_venue_is_full() {
        let holds = plan(&VENUE, Workload::Uniform, 1000, 0.8, 7);
        let mut seen = HashSet::new();
        for h in &holds {
            assert!((1..=4).contains(&h.len()));
            for s in h {
                assert!(seen.insert(s.clone()), "{s} twice");
            }
        }
        assert!(VENUE.spec().validate().is_ok());
    }

    #[test]
    fn hot_holds_mostly_aim_at_the_hot_section_and_are_reproducible() {
        let holds = plan(&VENUE, Workload::Hot, 2000, 0.8, 7);
        let hot = holds.iter().filter(|h| h[0].starts_with("S00-")).count();
        assert!((1500..1700).contains(&hot), "{hot}");
        assert_eq!(holds, plan(&VENUE, Workload::Hot, 2000, 0.8, 7));
    }
}
