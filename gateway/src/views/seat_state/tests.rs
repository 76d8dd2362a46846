//! Packing and diffing against the v1 view's reading of the same snapshot.

use super::*;
use protocol::availability::SectionAvailability;
use protocol::event::Section;

fn seating() -> Seating {
    Seating {
        sections: vec![
            Section {
                name: "A".parse().unwrap(),
                rows: 2,
                seats_per_row: 3,
                price_cents: 100,
            },
            Section {
                name: "B".parse().unwrap(),
                rows: 1,
                seats_per_row: 3,
                price_cents: 50,
            },
        ],
    }
}

fn snapshot(version: u64, a: &str, b: &str) -> Availability {
    Availability {
        event_id: EventId(uuid::Uuid::nil()),
        as_of: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        version,
        total: 9,
        available: 0,
        held: 0,
        sold: 0,
        holds_active: 0,
        orders: 0,
        sections: vec![
            SectionAvailability {
                name: "A".into(),
                statuses: a.into(),
            },
            SectionAvailability {
                name: "B".into(),
                statuses: b.into(),
            },
        ],
    }
}

/// Seat `i`'s code, read the way the contract states it.
fn seat(bytes: &[u8], i: usize) -> u8 {
    (bytes[i / 4] >> ((i % 4) * 2)) & 0b11
}

#[test]
fn two_bits_per_seat_low_bits_first() {
    let packed = pack(&seating(), Some(&snapshot(1, "ahsaaa", "sah")));
    assert_eq!(packed.len(), 3, "9 seats in 3 bytes");
    let codes: Vec<u8> = (0..9).map(|i| seat(&packed, i)).collect();
    assert_eq!(codes, vec![0, 1, 2, 0, 0, 0, 2, 0, 1]);
    // Byte 0 holds seats 0..4: 0 | 1<<2 | 2<<4 | 0<<6.
    assert_eq!(packed[0], 0b0010_0100);
    // The padding of the last byte is zero.
    assert_eq!(packed[2] >> 2, 0);
}

#[test]
fn missing_sections_and_short_strings_are_available() {
    let mut a = snapshot(1, "hh", "sss");
    a.sections.remove(0);
    let codes: Vec<u8> = (0..9)
        .map(|i| seat(&pack(&seating(), Some(&a)), i))
        .collect();
    assert_eq!(codes, vec![0, 0, 0, 0, 0, 0, 2, 2, 2]);
    let short = pack(&seating(), Some(&snapshot(1, "h", "s")));
    let codes: Vec<u8> = (0..9).map(|i| seat(&short, i)).collect();
    assert_eq!(codes, vec![1, 0, 0, 0, 0, 0, 2, 0, 0]);
    assert_eq!(pack(&seating(), None), vec![0, 0, 0]);
}

#[test]
fn changes_are_layout_indices_with_new_codes() {
    let s = seating();
    let v1 = snapshot(1, "aaaaaa", "aaa");
    let v2 = snapshot(2, "aahaaa", "aas");
    assert_eq!(changes(&s, &v1, &v2), vec![(2, HELD), (8, SOLD)]);
    assert_eq!(changes(&s, &v2, &v1), vec![(2, AVAILABLE), (8, AVAILABLE)]);
    assert!(changes(&s, &v2, &v2).is_empty());
}

#[test]
fn applying_changes_to_the_old_state_gives_the_new_one() {
    let s = seating();
    let v1 = snapshot(1, "ahsaaa", "sah");
    let v2 = snapshot(2, "aaaash", "hhh");
    let mut state = pack(&s, Some(&v1));
    for (i, c) in changes(&s, &v1, &v2) {
        let (byte, shift) = (i as usize / 4, (i as usize % 4) * 2);
        state[byte] = (state[byte] & !(0b11 << shift)) | (c << shift);
    }
    assert_eq!(state, pack(&s, Some(&v2)));
}

#[test]
fn the_state_field_is_standard_base64() {
    let b64 = pack_base64(&seating(), Some(&snapshot(1, "ahsaaa", "sah")));
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&b64)
        .unwrap();
    assert_eq!(bytes, pack(&seating(), Some(&snapshot(1, "ahsaaa", "sah"))));
}
