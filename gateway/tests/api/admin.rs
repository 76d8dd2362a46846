//! The venue's calls. Create → GET → PATCH admission, state and hold TTL →
//! GET shows it (the public view within 1 s), and the stats have docs/API.md's shape.

use crate::helpers::{eventually, open_event_spec, spawn_app};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_venue_creates_reads_and_patches_an_event() {
    let app = spawn_app().await;
    let spec = open_event_spec(10, 20);
    let created = app
        .create_event_raw(serde_json::to_string(&spec).unwrap())
        .await;
    created.assert_status(201);
    let event = created.body["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid id");
    assert_eq!(created.body["name"], spec.name.as_str());
    assert_eq!(
        created.body["seating"],
        serde_json::to_value(&spec.seating).unwrap()
    );

    let got = app.admin_event(&event).await;
    got.assert_status(200);
    assert_eq!(got.body["id"], event.to_string());
    assert_eq!(
        (got.body["venue"].as_str(), got.body["timezone"].as_str()),
        (Some("Olympic Hall"), Some("Asia/Seoul"))
    );
    assert_eq!(
        got.body["admission"],
        json!({"rate_per_minute": 60000, "max_active": 5000, "pass_ttl_seconds": 600})
    );
    assert_eq!(
        (
            got.body["hold_ttl_seconds"].as_u64(),
            got.body["max_seats_per_hold"].as_u64()
        ),
        (Some(300), Some(4))
    );

    let public = app.public_event(&event).await;
    public.assert_status(200);
    assert_eq!(public.body["state"], "open");
    assert_eq!(
        public.body["seats"],
        json!({"total": 200, "available": 200})
    );
    assert_eq!(public.body["admission"]["rate_per_minute"], 60000);
    let fields = public.body.as_object().expect("public event object");
    for field in [
        "id",
        "name",
        "venue",
        "timezone",
        "opens_at",
        "prequeue_opens_at",
        "shuffle_commitment",
        "shuffle_seed",
    ] {
        assert!(
            fields.contains_key(field),
            "public event without {field}: {}",
            public.body
        );
    }

    let admission = json!({"rate_per_minute": 1200, "max_active": 500, "pass_ttl_seconds": 300});
    let patched = app
        .patch_event(&event, &json!({ "admission": admission }))
        .await;
    patched.assert_status(200);
    assert_eq!(patched.body["admission"], admission);
    assert_eq!(app.admin_event(&event).await.body["admission"], admission);
    within_a_second(&app, &event, "the new rate", |p| {
        p["admission"]["rate_per_minute"] == 1200
    })
    .await;

    let patched = app.patch_event(&event, &json!({"state": "paused"})).await;
    patched.assert_status(200);
    assert_eq!(patched.body["state"], "paused");
    assert_eq!(app.admin_event(&event).await.body["state"], "paused");
    within_a_second(&app, &event, "state paused", |p| p["state"] == "paused").await;

    let patched = app
        .patch_event(&event, &json!({"hold_ttl_seconds": 120}))
        .await;
    patched.assert_status(200);
    assert_eq!(app.admin_event(&event).await.body["hold_ttl_seconds"], 120);

    app.patch_event(&event, &json!({"state": "open"}))
        .await
        .assert_status(200);
    within_a_second(&app, &event, "state open", |p| p["state"] == "open").await;

    app.patch_event(
        &event,
        &json!({"admission": {"rate_per_minute": 0, "max_active": 1, "pass_ttl_seconds": 300}}),
    )
    .await
    .assert_error(422, "invalid_field");
    app.patch_event(&event, &json!({"state": "sleeping"}))
        .await
        .assert_error(422, "invalid_field");
    app.patch_event(&event, &json!({}))
        .await
        .assert_error(422, "invalid_field");
    // The refused patches changed nothing.
    assert_eq!(app.admin_event(&event).await.body["admission"], admission);

    app.patch_event(&event, &json!({"state": "closed"}))
        .await
        .assert_status(200);
    within_a_second(&app, &event, "state closed", |p| p["state"] == "closed").await;
    app.join(&event).await.assert_error(409, "queue_closed");
}

/// Polls the public view until `done` holds; docs/API.md: a PATCH takes effect on every
/// replica within 1 s (the deadline allows for this machine's load).
async fn within_a_second(
    app: &crate::helpers::TestApp,
    event: &protocol::ids::EventId,
    what: &str,
    done: impl Fn(&Value) -> bool,
) {
    eventually(Duration::from_millis(1500), what, || async {
        let p = app.public_event(event).await;
        p.assert_status(200);
        done(&p.body).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_have_the_documented_shape() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(10, 20)).await;
    let fan = app.admitted_fan(&event).await;
    app.join(&event).await.assert_status(201);
    app.hold_seats(&fan, &["A-1-1", "A-1-2"])
        .await
        .assert_status(201);

    let stats = eventually(Duration::from_secs(5), "stats with the hold", || async {
        let s = app.admin_stats(&event).await;
        s.assert_status(200);
        (s.body["seats"]["held"] == 2).then_some(s.body)
    })
    .await;
    assert_eq!(stats["event_id"], event.to_string());
    assert_eq!(stats["state"], "open");
    for field in ["waiting", "admitted_total", "active", "abandoned_total"] {
        assert!(stats["queue"][field].is_u64(), "queue.{field} in {stats}");
    }
    assert!(
        stats["queue"]["admitted_total"].as_u64() >= Some(1),
        "{stats}"
    );
    assert!(stats["queue"]["active"].as_u64() >= Some(1), "{stats}");
    // The reading's own time (Redis clock), for outflows computed from two readings.
    let as_of = stats["queue"]["as_of"].as_str().expect("queue.as_of");
    let as_of = chrono::DateTime::parse_from_rfc3339(as_of).expect("RFC 3339");
    let skew = (chrono::Utc::now() - as_of.to_utc())
        .num_milliseconds()
        .abs();
    assert!(skew < 60_000, "as_of {as_of} is now");
    assert_eq!(stats["admission"]["rate_per_minute"], 60000);
    assert!(
        stats["admission"]["observed_per_minute"].is_number(),
        "{stats}"
    );
    assert_eq!(
        stats["seats"],
        json!({"total": 200, "available": 198, "held": 2, "sold": 0})
    );
    assert_eq!(
        (stats["holds_active"].as_u64(), stats["orders"].as_u64()),
        (Some(1), Some(0))
    );
}
