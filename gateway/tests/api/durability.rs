//! "No accepted request is lost, none applied twice": a request answered `202` is
//! decided once, even when retried with its Idempotency-Key on another replica, and
//! commands sent while no worker runs are decided when one comes back.

use crate::helpers::{open_event_spec, select, spawn_app, TestApp};
use protocol::reply::{Hold, HoldState, Order};
use std::time::Duration;

/// A replica that answers `202` unless the worker replies within `ms`.
async fn replica_waiting(app: &TestApp, ms: u64) -> String {
    let mut settings = app.gateway_settings.clone();
    settings.reply_timeout_ms = ms;
    app.spawn_ready_gateway(settings).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_202_retried_with_its_key_is_decided_once() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    let impatient = replica_waiting(&app, 1).await;
    let key = uuid::Uuid::new_v4().to_string();
    let body = serde_json::to_string(&select(&["A-1-4", "A-1-5"])).unwrap();

    let pending = app
        .hold_raw(&impatient, &event, &fan.pass, body.clone(), Some(&key))
        .await;
    pending.assert_status(202);
    let retried = app
        .hold_raw(&app.address, &event, &fan.pass, body, Some(&key))
        .await;
    retried.assert_status(201);
    let settled = app.settle(pending, &fan.pass).await;
    settled.assert_status(201);
    assert_eq!(
        settled.body, retried.body,
        "both answers are the one decision"
    );
    let hold: Hold = retried.json();

    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM holds WHERE event_id = $1")
        .bind(event.0)
        .fetch_one(app.sql())
        .await
        .expect("Failed to count holds");
    assert_eq!(rows, 1);

    let confirm_key = uuid::Uuid::new_v4().to_string();
    let pending = app
        .client
        .post(format!("{impatient}/v1/holds/{}/confirm", hold.id))
        .bearer_auth(&fan.pass)
        .header("idempotency-key", &confirm_key)
        .json(&serde_json::json!({"payment_ref": "mock-9"}));
    let pending = app.send(pending).await;
    pending.assert_status(202);
    let retried = app
        .confirm(&hold.id, &fan.pass, "mock-9", Some(&confirm_key))
        .await;
    retried.assert_status(200);
    let settled = app.settle(pending, &fan.pass).await;
    assert_eq!(settled.body, retried.body);
    assert_eq!(retried.json::<Order>().hold_id, hold.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_sent_while_no_worker_runs_are_decided_when_one_returns() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    let replica = replica_waiting(&app, 500).await;

    app.first_worker.cancel();
    let body = serde_json::to_string(&select(&["A-2-2"])).unwrap();
    let pending = app.hold_raw(&replica, &event, &fan.pass, body, None).await;
    pending.assert_status(202);
    let status_url = pending.body["status_url"]
        .as_str()
        .expect("status_url")
        .to_owned();
    let waiting = app.get_request(&status_url, &fan.pass).await;
    waiting.assert_status(200);
    assert_eq!(waiting.body["state"], "pending", "{}", waiting.body);

    let _restarted = app.spawn_worker(app.worker_settings.clone()).await;
    let done = tokio::time::timeout(Duration::from_secs(30), app.settle(pending, &fan.pass))
        .await
        .expect("the command was not decided after the worker came back");
    done.assert_status(201);
    let hold: Hold = done.json();
    let fetched = app.get_hold(&hold.id, &fan.pass).await;
    assert_eq!(fetched.json::<Hold>().state, HoldState::Held);
}
