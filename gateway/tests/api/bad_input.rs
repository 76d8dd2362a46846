//! Bad input gets the right `4xx` status and error code, never a `5xx`.
//! (Credentials are in `auth.rs`.)

use crate::helpers::{open_event_spec, select, spawn_app};
use protocol::command::SeatSelection;
use protocol::ids::{EventId, HoldId};
use serde_json::{json, Value};

fn spec_json() -> Value {
    serde_json::to_value(open_event_spec(2, 5)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_event_definitions_are_refused() {
    let app = spawn_app().await;

    app.create_event_raw(r#"{"name": "Winter Concert", "#)
        .await
        .assert_error(400, "invalid_json");

    let mut naive = spec_json();
    naive["opens_at"] = json!("2026-12-01T20:00:00");
    app.create_event_raw(naive.to_string())
        .await
        .assert_error(422, "invalid_field");

    let mut negative = spec_json();
    negative["seating"]["sections"][0]["rows"] = json!(-3);
    app.create_event_raw(negative.to_string())
        .await
        .assert_error(422, "invalid_field");

    let mut zero = spec_json();
    zero["seating"]["sections"][0]["rows"] = json!(0);
    app.create_event_raw(zero.to_string())
        .await
        .assert_error(422, "invalid_field");

    let mut tz = spec_json();
    tz["timezone"] = json!("Mars/Olympus_Mons");
    app.create_event_raw(tz.to_string())
        .await
        .assert_error(422, "invalid_field");

    let mut missing = spec_json();
    missing.as_object_mut().unwrap().remove("seating");
    app.create_event_raw(missing.to_string())
        .await
        .assert_error(422, "invalid_field");

    let mut huge = spec_json();
    huge["name"] = json!("x".repeat(70 * 1024));
    app.create_event_raw(huge.to_string())
        .await
        .assert_error(413, "payload_too_large");

    // The valid spec is accepted, so the refusals above are about the broken field.
    app.create_event(&open_event_spec(2, 5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_calls_need_the_admin_key() {
    let app = spawn_app().await;
    let body = spec_json().to_string();
    let post = |key: Option<&str>| {
        let mut req = app
            .client
            .post(app.url("/v1/admin/events"))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        app.send(req)
    };
    post(None).await.assert_error(401, "unauthorized");
    post(Some("not-the-admin-key"))
        .await
        .assert_error(401, "unauthorized");
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let stats = app
        .client
        .get(app.url(&format!("/v1/admin/events/{event}/stats")));
    app.send(stats.bearer_auth("wrong"))
        .await
        .assert_error(401, "unauthorized");
    let patch = app
        .client
        .patch(app.url(&format!("/v1/admin/events/{event}")));
    app.send(patch.bearer_auth("wrong").json(&json!({"state": "closed"})))
        .await
        .assert_error(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_events_and_holds_are_not_found() {
    let app = spawn_app().await;
    let nowhere = EventId::new();
    app.public_event(&nowhere)
        .await
        .assert_error(404, "not_found");
    app.join(&nowhere).await.assert_error(404, "not_found");
    app.admin_event(&nowhere)
        .await
        .assert_error(404, "not_found");
    app.admin_stats(&nowhere)
        .await
        .assert_error(404, "not_found");
    app.patch_event(&nowhere, &json!({"state": "paused"}))
        .await
        .assert_error(404, "not_found");

    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    let unknown = HoldId::new();
    app.get_hold(&unknown, &fan.pass)
        .await
        .assert_error(404, "not_found");
    app.confirm(&unknown, &fan.pass, "mock-1", None)
        .await
        .assert_error(404, "not_found");
    app.release(&unknown, &fan.pass)
        .await
        .assert_error(404, "not_found");
    let bad_path = app
        .client
        .get(app.url("/v1/holds/not-a-uuid"))
        .bearer_auth(&fan.pass);
    let resp = app.send(bad_path).await;
    assert!(
        matches!(resp.status, 400 | 404 | 422),
        "a malformed hold id is a 4xx, got {} {}",
        resp.status,
        resp.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_hold_requests_are_refused() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fans = app.admitted_fans(&event, 2).await;
    let fan = &fans[0];
    let bad = |seats: &'static [&'static str]| app.hold_seats(fan, seats);

    bad(&["A-1-1", "A-1-2", "A-1-3", "A-1-4", "A-1-5"])
        .await
        .assert_error(422, "invalid_field");
    bad(&["A-1-1", "A-1-1"])
        .await
        .assert_error(422, "invalid_field");
    bad(&["A-9-1"]).await.assert_error(422, "invalid_field");
    bad(&["Z-1-1"]).await.assert_error(422, "invalid_field");
    bad(&["garbage"]).await.assert_error(422, "invalid_field");
    bad(&[]).await.assert_error(422, "invalid_field");
    let unknown_section = SeatSelection::Best {
        section: "Z".parse().unwrap(),
        quantity: 2,
    };
    app.hold(&event, &fan.pass, &unknown_section, None)
        .await
        .assert_error(422, "invalid_field");
    let too_many = SeatSelection::Best {
        section: "A".parse().unwrap(),
        quantity: 5,
    };
    app.hold(&event, &fan.pass, &too_many, None)
        .await
        .assert_error(422, "invalid_field");

    let raw = |body: String, key: Option<&'static str>| {
        app.hold_raw(&app.address, &event, &fan.pass, body, key)
    };
    raw(r#"{"seats": ["A-1-1""#.into(), None)
        .await
        .assert_error(400, "invalid_json");
    raw(r#"{"foo": 1}"#.into(), None)
        .await
        .assert_error(422, "invalid_field");
    let long: Vec<String> = (0..8000).map(|i| format!("A-1-{i}")).collect();
    raw(json!({ "seats": long }).to_string(), None)
        .await
        .assert_error(413, "payload_too_large");
    let key = "k".repeat(256);
    app.hold(&event, &fan.pass, &select(&["A-1-1"]), Some(&key))
        .await
        .assert_error(422, "invalid_field");

    // A ticket may not hold more than max_seats_per_hold seats across its holds.
    app.hold_seats(fan, &["A-2-1", "A-2-2", "A-2-3"])
        .await
        .assert_status(201);
    bad(&["A-2-4", "A-2-5"])
        .await
        .assert_error(422, "invalid_field");
    // Nothing above held a seat by mistake: the other fan gets everything else.
    app.hold_seats(&fans[1], &["A-1-1", "A-1-2", "A-1-3", "A-1-4"])
        .await
        .assert_status(201);
}
