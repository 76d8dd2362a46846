//! Time rules of holds: a confirm just before `expires_at` succeeds, one just after is
//! `410 hold_expired` even if the expiry timer has not run yet; a patched
//! `hold_ttl_seconds` applies to holds made afterwards.

use crate::helpers::{open_event_spec, spawn_app};
use chrono::{DateTime, Utc};
use protocol::reply::Hold;
use serde_json::json;

/// Sleeps until `at` (positions the test in time; asserts nothing by itself).
async fn sleep_until(at: DateTime<Utc>) {
    if let Ok(d) = (at - Utc::now()).to_std() {
        tokio::time::sleep(d).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirm_counts_against_expires_at_not_the_timer() {
    let app = spawn_app().await;
    let mut spec = open_event_spec(2, 5);
    spec.hold_ttl_seconds = 10;
    let event = app.create_event(&spec).await;
    let fans = app.admitted_fans(&event, 2).await;
    let early = app.hold_seats(&fans[0], &["A-1-1"]).await;
    early.assert_status(201);
    let early: Hold = early.json();
    let late = app.hold_seats(&fans[1], &["A-1-2"]).await;
    late.assert_status(201);
    let late: Hold = late.json();

    sleep_until(early.expires_at - chrono::Duration::seconds(3)).await;
    app.confirm(&early.id, &fans[0].pass, "mock-1", None)
        .await
        .assert_status(200);

    sleep_until(late.expires_at + chrono::Duration::milliseconds(20)).await;
    app.confirm(&late.id, &fans[1].pass, "mock-2", None)
        .await
        .assert_error(410, "hold_expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patched_hold_ttl_applies_to_later_holds() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    let before = app.hold_seats(&fan, &["A-1-1"]).await;
    before.assert_status(201);
    let before: Hold = before.json();

    app.patch_event(&event, &json!({"hold_ttl_seconds": 45}))
        .await
        .assert_status(200);
    let asked_at = Utc::now();
    let after = app.hold_seats(&fan, &["A-1-2"]).await;
    after.assert_status(201);
    let after: Hold = after.json();
    let ttl = (after.expires_at - asked_at).num_seconds();
    assert!(
        (43..=47).contains(&ttl),
        "new holds last 45 s, this one {ttl} s"
    );
    let kept = app.get_hold(&before.id, &fan.pass).await.json::<Hold>();
    assert_eq!(
        kept.expires_at, before.expires_at,
        "earlier holds keep their deadline"
    );
}
