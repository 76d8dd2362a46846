//! The feed's messages applied to a replica, without Redis: a change makes a followed
//! snapshot stale and queues the event for the watcher, an announcement makes it
//! watched, and only this replica's own heartbeats count.

use super::*;
use crate::settings::Settings;
use protocol::event::EventConfig;

fn replica() -> Replica {
    Replica::new(&Settings {
        admin_key: "admin-key-of-a-unit-test-0123456789".to_string().into(),
        queue_token_secret: "q".repeat(32).into(),
        pass_signing_key: "0123456789abcdef".repeat(4).into(),
        // Nothing listens there: nothing here may reach Redis.
        redis_url: "redis://127.0.0.1:1".into(),
        redis_timeout_ms: 100,
        ..Settings::default()
    })
    .unwrap()
}

fn config(id: EventId) -> EventConfig {
    serde_json::from_value(serde_json::json!({
        "id": id,
        "spec": {
            "name": "n", "venue": "v", "timezone": "UTC",
            "opens_at": "2026-01-01T00:00:00Z",
            "admission": {"rate_per_minute": 60, "max_active": 10, "pass_ttl_seconds": 600},
            "hold_ttl_seconds": 60, "max_seats_per_hold": 2,
            "seating": {"sections": [
                {"name": "A", "rows": 1, "seats_per_row": 10, "price_cents": 1}
            ]}
        },
        "admin_state": "open",
        "shuffle_commitment": null,
        "shuffle_seed": null,
        "version": 1,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z"
    }))
    .expect("a valid config")
}

#[test]
fn a_change_makes_a_followed_snapshot_stale_and_queues_the_event() {
    let r = replica();
    let (changed, untouched) = (EventId::new(), EventId::new());
    r.catalog.follow(Instant::now());
    r.catalog.store(config(changed), None);
    r.catalog.store(config(untouched), None);
    std::thread::sleep(crate::live::catalog::CACHE_MAX_AGE + Duration::from_millis(50));
    assert!(
        r.catalog.fresh(&changed).is_some(),
        "followed: fresh at any age"
    );

    assert_eq!(handle(&r, &format!("c {changed} not-an-id")), None);
    assert!(
        r.catalog.fresh(&changed).is_none(),
        "announced: fetched again"
    );
    assert!(r.catalog.fresh(&untouched).is_some());
    let dirty = r.feed.take_dirty();
    assert_eq!(dirty.into_iter().collect::<Vec<_>>(), vec![changed]);
    assert!(r.feed.take_dirty().is_empty());

    // Without the feed, snapshots are fresh for CACHE_MAX_AGE only.
    r.catalog.unfollow();
    assert!(r.catalog.fresh(&untouched).is_none());
}

#[test]
fn announcements_make_events_watched_and_only_own_heartbeats_count() {
    let r = replica();
    let event = EventId::new();
    assert!(r.interest.watched().is_empty());
    handle(&r, &format!("a {event}"));
    assert_eq!(r.interest.watched(), vec![event]);

    let own = format!("h {} 7", r.feed.0.nonce);
    assert_eq!(handle(&r, &own), Some(7));
    assert_eq!(handle(&r, "h someone-else 9"), None);
    assert_eq!(handle(&r, ""), None);
    assert_eq!(handle(&r, "x y"), None);
}

#[test]
fn a_resync_belongs_to_its_subscription() {
    let feed = Feed::new();
    assert!(feed.take_resync().is_none());
    feed.request_resync();
    let first = feed.take_resync().expect("owed after subscribing");
    assert!(feed.is_current(&first));
    // A failed re-read is owed again; a newer subscription makes the old one stale.
    feed.retry(first);
    let again = feed.take_resync().expect("owed again");
    feed.interrupt();
    assert!(!feed.is_current(&again));
    feed.request_resync();
    let second = feed.take_resync().unwrap();
    assert!(second.generation > again.generation);
    assert!(feed.is_current(&second));
}
