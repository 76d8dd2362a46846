//! `require_identity` is an event setting the venue can patch: once on, every replica
//! refuses anonymous joins (`403 forbidden`) within the config refresh; off again, they
//! are taken.

use crate::helpers::{eventually, open_event_spec, spawn_app};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_turns_required_identity_on_and_off() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    app.join(&event).await.assert_status(201);

    let patched = app
        .patch_event(&event, &json!({"require_identity": true}))
        .await;
    patched.assert_status(200);
    // The worker's stored config says so.
    let stored: serde_json::Value = sqlx::query_scalar("SELECT spec FROM events WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&event.to_string()).unwrap())
        .fetch_one(app.sql())
        .await
        .unwrap();
    assert_eq!(stored["require_identity"], true, "{stored}");
    eventually(
        Duration::from_secs(3),
        "anonymous joins refused",
        || async {
            let r = app.join(&event).await;
            (r.status == 403).then_some(r)
        },
    )
    .await
    .assert_error(403, "forbidden");

    app.patch_event(&event, &json!({"require_identity": false}))
        .await
        .assert_status(200);
    eventually(Duration::from_secs(3), "anonymous joins taken", || async {
        (app.join(&event).await.status == 201).then_some(())
    })
    .await;
}
