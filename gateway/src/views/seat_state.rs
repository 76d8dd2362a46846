//! The live half of the seat map, two bits per seat in layout order
//! (`seat_layout.rs`): `GET /v1/events/{id}/seats/state` and the compact seats stream.
//!
//! **Encoding `2bit`**: seat `i` of the layout is in byte `i / 4`, bits `(i % 4) * 2`
//! and `(i % 4) * 2 + 1`, low bits first: `0` available, `1` held, `2` sold (`3` is not
//! used). The last byte is padded with zeros; the bytes are sent in standard base64
//! with padding (RFC 4648 §4). 100,000 seats are 25,000 bytes, 33,336 characters,
//! a few kilobytes compressed while most seats are in long runs of one status.

use base64::Engine;
use chrono::{DateTime, Utc};
use protocol::availability::{status, Availability};
use protocol::event::Seating;
use protocol::ids::EventId;
use serde::Serialize;
use utoipa::ToSchema;

/// The code of an available seat.
pub const AVAILABLE: u8 = 0;
/// The code of a held seat.
pub const HELD: u8 = 1;
/// The code of a sold seat.
pub const SOLD: u8 = 2;

/// The name of the encoding in [`SeatState::encoding`].
pub const ENCODING: &str = "2bit";

/// The code of a status character of the worker's snapshot (anything unknown is
/// available, as on the v1 seat map).
fn code(c: u8) -> u8 {
    match char::from(c) {
        status::HELD => HELD,
        status::SOLD => SOLD,
        _ => AVAILABLE,
    }
}

/// Status bytes of each section of `seating` in `a` (empty when the snapshot lacks it:
/// its seats count as available).
fn statuses<'a>(seating: &'a Seating, a: Option<&'a Availability>) -> Vec<&'a [u8]> {
    seating
        .sections
        .iter()
        .map(|sec| {
            a.and_then(|a| a.sections.iter().find(|s| s.name == sec.name.as_str()))
                .map_or(&[][..], |s| s.statuses.as_bytes())
        })
        .collect()
}

/// The `2bit` bytes of `a` (every seat available when `None`), in layout order.
pub fn pack(seating: &Seating, a: Option<&Availability>) -> Vec<u8> {
    let total = seating.total_seats() as usize;
    let mut out = vec![0u8; total.div_ceil(4)];
    let mut index = 0usize;
    for (sec, bytes) in seating.sections.iter().zip(statuses(seating, a)) {
        let n = sec.rows as usize * sec.seats_per_row as usize;
        for &c in bytes.iter().take(n) {
            out[index / 4] |= code(c) << ((index % 4) * 2);
            index += 1;
        }
        index += n.saturating_sub(bytes.len());
    }
    out
}

/// [`pack`] in base64 (the `state` field).
pub fn pack_base64(seating: &Seating, a: Option<&Availability>) -> String {
    base64::engine::general_purpose::STANDARD.encode(pack(seating, a))
}

/// Seats whose status differs between `old` and `new`: `(layout index, new code)`, in
/// layout order.
pub fn changes(seating: &Seating, old: &Availability, new: &Availability) -> Vec<(u64, u8)> {
    let mut out = Vec::new();
    let mut base = 0u64;
    let pairs = statuses(seating, Some(old))
        .into_iter()
        .zip(statuses(seating, Some(new)));
    for (sec, (before, now)) in seating.sections.iter().zip(pairs) {
        let n = sec.rows as usize * sec.seats_per_row as usize;
        let at = |b: &[u8], i: usize| b.get(i).map_or(AVAILABLE, |&c| code(c));
        if before == now {
            base += n as u64;
            continue;
        }
        for i in 0..n {
            let c = at(now, i);
            if at(before, i) != c {
                out.push((base + i as u64, c));
            }
        }
        base += n as u64;
    }
    out
}

/// Body of `GET /v1/events/{id}/seats/state`, and data of the compact stream's
/// `event: state`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeatState {
    /// Event id.
    pub event_id: EventId,
    /// Version of the worker's availability snapshot (0 before the first); increases.
    pub version: u64,
    /// When the worker took the snapshot.
    #[schema(value_type = String, format = DateTime)]
    pub as_of: DateTime<Utc>,
    /// The layout the indices refer to (`layout_version` of `GET …/seats/layout`).
    pub layout_version: String,
    /// Always `2bit`.
    #[schema(example = "2bit")]
    pub encoding: &'static str,
    /// Base64 of two bits per seat in layout order: `0` available, `1` held, `2` sold.
    pub state: String,
}

/// Data of the compact stream's `event: delta`: the seats that changed from version
/// `from` to version `to`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeatDelta {
    /// Version the changes apply to (the client's current one).
    pub from: u64,
    /// Version after them.
    pub to: u64,
    /// When the worker took the snapshot of version `to`.
    #[schema(value_type = String, format = DateTime)]
    pub as_of: DateTime<Utc>,
    /// `[layout index, code]` pairs (`0` available, `1` held, `2` sold).
    #[schema(value_type = Vec<Vec<u64>>)]
    pub changes: Vec<(u64, u8)>,
}

#[cfg(test)]
mod tests;
