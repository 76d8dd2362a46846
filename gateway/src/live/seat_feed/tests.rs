//! The seat feed: diffs, full maps, deltas to subscribers.

use super::*;
use protocol::availability::SectionAvailability;
use protocol::event::Section;
use protocol::ids::EventId;

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
                seats_per_row: 2,
                price_cents: 50,
            },
        ],
    }
}

fn snapshot(version: u64, a: &str, b: &str) -> Availability {
    Availability {
        event_id: EventId(uuid::Uuid::nil()),
        as_of: DateTime::from_timestamp(1_700_000_000 + version as i64, 0).unwrap(),
        version,
        total: 8,
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

fn ids(seats: &[SeatStatus]) -> Vec<(&str, &str)> {
    seats.iter().map(|s| (s.id.as_str(), s.status)).collect()
}

#[test]
fn full_map_then_only_changes() {
    let s = seating();
    let v1 = snapshot(1, "aaahaa", "sa");
    let all = diff(&s, None, &v1);
    assert_eq!(all.len(), 8);
    assert_eq!(
        all[3],
        SeatStatus {
            id: "A-2-1".into(),
            status: "held"
        }
    );
    assert_eq!(
        all[6],
        SeatStatus {
            id: "B-1-1".into(),
            status: "sold"
        }
    );
    let v2 = snapshot(2, "aaasaa", "sh");
    assert_eq!(
        ids(&diff(&s, Some(&v1), &v2)),
        vec![("A-2-1", "sold"), ("B-1-2", "held")]
    );
    // A short statuses string: missing seats are available.
    let short = snapshot(3, "h", "");
    assert_eq!(diff(&s, None, &short)[0].status, "held");
    assert_eq!(diff(&s, None, &short)[5].status, "available");
}

#[tokio::test]
async fn subscribers_get_deltas_and_stale_snapshots_are_ignored() {
    let s = seating();
    let feed = SeatFeed::new();
    assert!(feed.full(&s).is_none());
    feed.publish(&s, Arc::new(snapshot(5, "aaaaaa", "aa")));
    let mut rx = feed.subscribe();
    feed.publish(&s, Arc::new(snapshot(4, "hhhhhh", "hh")));
    feed.publish(&s, Arc::new(snapshot(7, "aaaaaa", "ah")));
    let d = rx.recv().await.unwrap();
    assert_eq!((d.from, d.to), (5, 7));
    let body: serde_json::Value = serde_json::from_str(&d.json).unwrap();
    assert_eq!(body["full"], false);
    assert_eq!(
        body["seats"],
        serde_json::json!([{"id": "B-1-2", "status": "held"}])
    );
    assert!(rx.try_recv().is_err(), "the stale snapshot 4 was not sent");
    let full = feed.full(&s).unwrap();
    assert_eq!(full.to, 7);
    let body: serde_json::Value = serde_json::from_str(&full.json).unwrap();
    assert_eq!(body["full"], true);
    assert_eq!(body["seats"].as_array().unwrap().len(), 8);
    assert_eq!(feed.version(), Some(7));
}

#[tokio::test]
async fn compact_subscribers_get_index_deltas_the_first_from_version_zero() {
    let s = seating();
    let feed = SeatFeed::new();
    let mut rx = feed.subscribe_compact();
    // Nothing seen before: the first snapshot comes as changes from every seat available.
    feed.publish(&s, Arc::new(snapshot(3, "aahaaa", "as")));
    let d = rx.recv().await.unwrap();
    assert_eq!((d.from, d.to), (0, 3));
    let body: serde_json::Value = serde_json::from_str(&d.json).unwrap();
    assert_eq!(body["changes"], serde_json::json!([[2, 1], [7, 2]]));
    feed.publish(&s, Arc::new(snapshot(4, "aaaaaa", "ss")));
    let d = rx.recv().await.unwrap();
    assert_eq!((d.from, d.to), (3, 4));
    let body: serde_json::Value = serde_json::from_str(&d.json).unwrap();
    assert_eq!(body["changes"], serde_json::json!([[2, 0], [6, 2]]));
    assert_eq!(body["as_of"], serde_json::json!(snapshot(4, "", "").as_of));
    // The packed state of the latest snapshot, made once and shared.
    let (latest, packed) = feed.packed(&s).unwrap();
    assert_eq!(latest.version, 4);
    assert!(Arc::ptr_eq(&packed, &feed.packed(&s).unwrap().1));
    assert!(Arc::ptr_eq(&packed, &feed.packed_of(&s, &latest)));
    let older = snapshot(3, "aahaaa", "as");
    assert_ne!(&*feed.packed_of(&s, &older), &*packed);
}
