//! A dependency outage is a quick `503 unavailable` with `Retry-After`, never
//! a hang. Replicas share the deployment's keys, so a pass issued by a healthy replica
//! is presented to one whose Redis and/or RabbitMQ is unreachable (port 1 on loopback).

use crate::helpers::{open_event_spec, select, spawn_app, ApiResponse, TestApp};
use std::future::Future;
use std::time::{Duration, Instant};

const DEAD_REDIS: &str = "redis://127.0.0.1:1";
const DEAD_AMQP: &str = "amqp://guest:guest@127.0.0.1:1/%2f";
/// How long the broken replicas wait for a reply; answers must come within it plus slack.
const REPLY_TIMEOUT_MS: u64 = 2_000;
const ANSWER_WITHIN: Duration = Duration::from_millis(REPLY_TIMEOUT_MS + 3_000);

/// Starts a replica with the given Redis/AMQP URLs (building must not hang either).
async fn broken_replica(app: &TestApp, redis: Option<&str>, amqp: Option<&str>) -> String {
    let mut settings = app.gateway_settings.clone();
    if let Some(url) = redis {
        settings.redis_url = url.into();
        (settings.redis_mode, settings.redis_ca_file) = ("standalone".into(), String::new());
    }
    if let Some(url) = amqp {
        settings.amqp_url = url.into();
        // A plain amqp:// address has nothing to verify a certificate with.
        settings.amqp_ca_file.clear();
    }
    settings.reply_timeout_ms = REPLY_TIMEOUT_MS;
    tokio::time::timeout(Duration::from_secs(15), app.spawn_gateway(settings))
        .await
        .expect("building a gateway with a dependency down hangs")
}

/// Runs `call`, asserting it answers within [`ANSWER_WITHIN`].
async fn quickly(what: &str, call: impl Future<Output = ApiResponse>) -> ApiResponse {
    let started = Instant::now();
    let resp = tokio::time::timeout(ANSWER_WITHIN, call)
        .await
        .unwrap_or_else(|_| panic!("{what} hangs with a dependency down"));
    assert!(
        started.elapsed() < ANSWER_WITHIN,
        "{what} took {:?}",
        started.elapsed()
    );
    resp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_and_rabbitmq_down_join_and_hold_answer_503_quickly() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    let broken = broken_replica(&app, Some(DEAD_REDIS), Some(DEAD_AMQP)).await;

    let health = app.client.get(format!("{broken}/healthz"));
    quickly("healthz", app.send(health))
        .await
        .assert_status(200);
    let ready = app.client.get(format!("{broken}/readyz"));
    quickly("readyz", app.send(ready)).await.assert_status(503);

    let join = quickly("join", app.join_at(&broken, &event)).await;
    join.assert_error(503, "unavailable").assert_retry_after();

    let body = serde_json::to_string(&select(&["A-1-1"])).unwrap();
    let hold = quickly("hold", app.hold_raw(&broken, &event, &fan.pass, body, None)).await;
    hold.assert_error(503, "unavailable").assert_retry_after();

    // The healthy replica is unaffected and nothing was held by the failed attempt.
    app.hold_seats(&fan, &["A-1-1"]).await.assert_status(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_rabbitmq_down_holds_answer_503_while_the_queue_keeps_working() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    let broken = broken_replica(&app, None, Some(DEAD_AMQP)).await;

    let join = quickly("join", app.join_at(&broken, &event)).await;
    join.assert_status(201);

    let body = serde_json::to_string(&select(&["A-1-1"])).unwrap();
    let hold = quickly("hold", app.hold_raw(&broken, &event, &fan.pass, body, None)).await;
    hold.assert_error(503, "unavailable").assert_retry_after();

    let confirm = app
        .client
        .post(format!(
            "{broken}/v1/holds/{}/confirm",
            protocol::ids::HoldId::new()
        ))
        .bearer_auth(&fan.pass)
        .json(&serde_json::json!({"payment_ref": "mock-1"}));
    let confirm = quickly("confirm", app.send(confirm)).await;
    confirm
        .assert_error(503, "unavailable")
        .assert_retry_after();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_join_answers_503_but_issued_passes_keep_working() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    let broken = broken_replica(&app, Some(DEAD_REDIS), None).await;
    let join = quickly("join", app.join_at(&broken, &event)).await;
    join.assert_error(503, "unavailable").assert_retry_after();

    // Passes already issued keep working for holds (docs/ARCHITECTURE.md).
    let body = serde_json::to_string(&select(&["A-1-1"])).unwrap();
    let hold = quickly("hold", app.hold_raw(&broken, &event, &fan.pass, body, None)).await;
    hold.assert_status(201);
}
