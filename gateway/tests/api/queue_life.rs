//! The queue over time: leaving gives the place up, a pause stops admission without
//! losing places, closing tells waiting fans, silent fans are skipped as abandoned, the
//! outflow rate is respected, and browsers may use the cookies instead of bearers.

use crate::helpers::{eventually, open_event_spec, spawn_app, spawn_app_with, TestApp};
use protocol::ids::EventId;
use serde_json::json;
use std::time::{Duration, Instant};

async fn join_token(app: &TestApp, event: &EventId) -> String {
    let joined = app.join(event).await;
    joined.assert_status(201);
    joined.body["queue_token"]
        .as_str()
        .expect("queue_token")
        .to_owned()
}

async fn queue_state(app: &TestApp, event: &EventId, token: &str) -> (String, Option<u64>) {
    let s = app.queue_status(event, token).await;
    s.assert_status(200);
    let state = s.body["state"].as_str().unwrap_or_default().to_owned();
    (state, s.body["position"].as_u64())
}

/// Asserts `token` is not admitted for `window` (polling as a fan would).
async fn stays_waiting(app: &TestApp, event: &EventId, token: &str, window: Duration) {
    let until = Instant::now() + window;
    while Instant::now() < until {
        let (state, _) = queue_state(app, event, token).await;
        assert_eq!(state, "waiting", "admitted while it should not be");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_gives_the_place_up() {
    let app = spawn_app().await;
    let mut spec = open_event_spec(2, 5);
    spec.admission.max_active = 1;
    let event = app.create_event(&spec).await;
    let buyer = app.admitted_fan(&event).await;
    let leaver = join_token(&app, &event).await;
    let stayer = join_token(&app, &event).await;
    assert_eq!(queue_state(&app, &event, &stayer).await.1, Some(2));

    let leave = |token: String| {
        let req = app
            .client
            .delete(app.url(&format!("/v1/events/{event}/queue")))
            .bearer_auth(token);
        app.send(req)
    };
    leave(leaver.clone()).await.assert_status(204);
    // The gateway's position is an upper bound (gateway queue/estimate.rs): it need not
    // move at once, but the leaver is gone and never takes the next slot.
    app.queue_status(&event, &leaver)
        .await
        .assert_error(404, "not_found");

    let hold = app.hold_seats(&buyer, &["A-1-1"]).await;
    hold.assert_status(201);
    let hold: protocol::reply::Hold = hold.json();
    app.confirm(&hold.id, &buyer.pass, "mock-1", None)
        .await
        .assert_status(200);
    let next = tokio::time::timeout(Duration::from_secs(10), app.wait_admitted(&event, &stayer));
    next.await
        .expect("the fan behind the leaver was not admitted");
    let stats = app.admin_stats(&event).await;
    assert_eq!(stats.body["queue"]["admitted_total"], 2, "{}", stats.body);
    assert_eq!(stats.body["queue"]["waiting"], 0, "{}", stats.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_keeps_places_and_closing_tells_the_queue() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    app.patch_event(&event, &json!({"state": "paused"}))
        .await
        .assert_status(200);
    eventually(Duration::from_millis(1500), "pause", || async {
        (app.public_event(&event).await.body["state"] == "paused").then_some(())
    })
    .await;
    let first = join_token(&app, &event).await;
    let second = join_token(&app, &event).await;
    stays_waiting(&app, &event, &first, Duration::from_millis(1500)).await;
    assert_eq!(
        queue_state(&app, &event, &second).await,
        ("waiting".into(), Some(2))
    );

    app.patch_event(&event, &json!({"state": "open"}))
        .await
        .assert_status(200);
    let admitted = tokio::time::timeout(Duration::from_secs(10), app.wait_admitted(&event, &first));
    admitted.await.expect("not admitted after the pause ended");

    let mut spec = open_event_spec(2, 5);
    spec.admission.max_active = 1;
    let closing = app.create_event(&spec).await;
    let _holder = app.admitted_fan(&closing).await;
    let waiting = join_token(&app, &closing).await;
    app.patch_event(&closing, &json!({"state": "closed"}))
        .await
        .assert_status(200);
    eventually(
        Duration::from_secs(3),
        "the waiting fan to be told",
        || async { (queue_state(&app, &closing, &waiting).await.0 == "closed").then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fans_who_stop_polling_are_skipped_as_abandoned() {
    let app = spawn_app_with(|s| s.abandon_after_seconds = 3).await;
    let mut spec = open_event_spec(2, 5);
    spec.admission.max_active = 1;
    let event = app.create_event(&spec).await;
    let buyer = app.admitted_fan(&event).await;
    let silent = join_token(&app, &event).await;
    let polite = join_token(&app, &event).await;
    // The silent fan never polls again; the polite one keeps polling past abandon_after.
    stays_waiting(&app, &event, &polite, Duration::from_secs(5)).await;

    let hold = app.hold_seats(&buyer, &["A-1-1"]).await;
    hold.assert_status(201);
    let hold: protocol::reply::Hold = hold.json();
    app.confirm(&hold.id, &buyer.pass, "mock-1", None)
        .await
        .assert_status(200);
    let next = tokio::time::timeout(Duration::from_secs(10), app.wait_admitted(&event, &polite));
    next.await.expect("the polite fan was not admitted");
    let (state, _) = queue_state(&app, &event, &silent).await;
    assert_ne!(state, "admitted", "an abandoned ticket was admitted");
    let stats = app.admin_stats(&event).await;
    assert_eq!(stats.body["queue"]["abandoned_total"], 1, "{}", stats.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_follows_the_outflow_rate() {
    let app = spawn_app().await;
    let mut spec = open_event_spec(2, 5);
    spec.admission.rate_per_minute = 60; // one a second
    let event = app.create_event(&spec).await;
    let started = Instant::now();
    let fans = app.admitted_fans(&event, 5).await;
    let took = started.elapsed();
    // At 1/s with at most about a second of burst, five admissions need ≥ 3 s.
    assert!(
        took >= Duration::from_millis(2900),
        "5 admitted in {took:?} at 60/min"
    );
    assert!(
        took <= Duration::from_secs(15),
        "5 admitted in {took:?} at 60/min"
    );
    assert_eq!(fans.len(), 5);
    let stats = app.admin_stats(&event).await;
    let observed = stats.body["admission"]["observed_per_minute"].as_f64();
    assert!(observed.is_some_and(|o| o > 0.0), "{}", stats.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_may_carry_the_credentials_in_cookies() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    let by_cookie = app
        .client
        .get(app.url(&format!("/v1/events/{event}/queue")))
        .header("cookie", format!("anteroom_queue={}", fan.queue_token));
    let status = app.send(by_cookie).await;
    status.assert_status(200);
    assert_eq!(status.body["state"], "admitted");
    let pass_cookie = status.header("set-cookie").unwrap_or_default().to_owned();
    assert!(pass_cookie.starts_with("anteroom_pass="), "{pass_cookie}");

    let seats = app
        .client
        .get(app.url(&format!("/v1/events/{event}/seats")))
        .header("cookie", format!("anteroom_pass={}", fan.pass));
    app.send(seats).await.assert_status(200);
    // A queue token in the pass cookie is still no pass.
    let wrong = app
        .client
        .get(app.url(&format!("/v1/events/{event}/seats")))
        .header("cookie", format!("anteroom_pass={}", fan.queue_token));
    app.send(wrong).await.assert_error(401, "unauthorized");
}
