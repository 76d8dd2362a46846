//! Failure behaviour (docs/ARCHITECTURE.md): a replica whose Redis or RabbitMQ goes away answers
//! `503` with `Retry-After` quickly, and recovers by itself when the service is back
//! (no restart); nothing it accepted is lost. The outage is a TCP proxy switched off.

use crate::helpers::{amqp_url, eventually, open_event_spec, redis_url, select, spawn_app};
use gateway::adapters::publisher::CONFIRM_TIMEOUT;
use protocol::reply::{Hold, HoldState};
use std::time::Duration;
use testkit::Proxy;

/// Answers during an outage must come within this (Redis/reply timeouts plus slack).
const QUICK: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_recovers_from_a_redis_outage_without_restart() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let (proxy, url) = Proxy::start(&redis_url()).await;
    let mut settings = app.gateway_settings.clone();
    settings.redis_url = url;
    let replica = app.spawn_ready_gateway(settings).await;
    let joined = app.join_at(&replica, &event).await;
    joined.assert_status(201);
    let token = joined.body["queue_token"]
        .as_str()
        .expect("queue_token")
        .to_owned();
    let status = |token: String| {
        let req = app
            .client
            .get(format!("{replica}/v1/events/{event}/queue"))
            .bearer_auth(token);
        app.send(req)
    };

    proxy.switch_off();
    let join = tokio::time::timeout(QUICK, app.join_at(&replica, &event))
        .await
        .expect("join hangs while Redis is away");
    join.assert_error(503, "unavailable").assert_retry_after();
    let polled = tokio::time::timeout(QUICK, status(token.clone()))
        .await
        .expect("status hangs while Redis is away");
    // A replica may answer a poll from its cache (docs/ARCHITECTURE.md: most polls do
    // not touch Redis); otherwise it must say 503 with Retry-After.
    if polled.status == 200 {
        assert_eq!(polled.body["ticket_id"], joined.body["ticket_id"]);
    } else {
        polled.assert_error(503, "unavailable").assert_retry_after();
    }

    proxy.switch_on();
    eventually(Duration::from_secs(15), "joins to work again", || async {
        let r = app.join_at(&replica, &event).await;
        assert!(matches!(r.status, 201 | 503), "{} {}", r.status, r.body);
        (r.status == 201).then_some(())
    })
    .await;
    let polled = status(token).await;
    polled.assert_status(200);
    assert_eq!(polled.body["ticket_id"], joined.body["ticket_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_recover_from_a_rabbitmq_outage_without_restart() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fans = app.admitted_fans(&event, 2).await;
    let (proxy, url) = Proxy::start(&amqp_url()).await;
    let mut settings = app.gateway_settings.clone();
    settings.amqp_url = url;
    settings.reply_timeout_ms = 2_000;
    let replica = app.spawn_ready_gateway(settings).await;
    let hold_body = |seat: &str| serde_json::to_string(&select(&[seat])).unwrap();

    let before = app
        .hold_raw(&replica, &event, &fans[0].pass, hold_body("A-1-1"), None)
        .await;
    before.assert_status(201);
    let before: Hold = before.json();

    proxy.switch_off();
    let during = app.hold_raw(&replica, &event, &fans[1].pass, hold_body("A-1-2"), None);
    let during = tokio::time::timeout(QUICK, during)
        .await
        .expect("hold hangs while RabbitMQ is away");
    during.assert_error(503, "unavailable").assert_retry_after();

    proxy.switch_on();
    // Retried as a client should: with an Idempotency-Key, so a retry cannot apply twice.
    let key = uuid::Uuid::new_v4().to_string();
    let after = eventually(Duration::from_secs(30), "holds to work again", || async {
        let r = app
            .hold_raw(
                &replica,
                &event,
                &fans[1].pass,
                hold_body("A-1-2"),
                Some(&key),
            )
            .await;
        assert!(matches!(r.status, 201 | 503), "{} {}", r.status, r.body);
        (r.status == 201).then_some(r)
    })
    .await;
    assert_eq!(after.json::<Hold>().seats, ["A-1-2"]);

    // The hold accepted before the outage is still there.
    let kept = app.get_hold(&before.id, &fans[0].pass).await;
    assert_eq!(kept.json::<Hold>().state, HoldState::Held);
}

/// A broker that takes the command but does not confirm it in time (here: the link to it
/// stalls) may still queue it: the fan gets `202` and a request URL that says `pending`
/// and later resolves, not a `503` that would invite a second try.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_confirm_timeout_answers_202_with_a_request_url_that_resolves() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    let (proxy, url) = Proxy::start(&amqp_url()).await;
    let mut settings = app.gateway_settings.clone();
    settings.amqp_url = url;
    settings.reply_timeout_ms = 2_000;
    let replica = app.spawn_ready_gateway(settings).await;
    let body = serde_json::to_string(&select(&["A-1-1"])).unwrap();

    proxy.freeze();
    let started = std::time::Instant::now();
    let accepted = app.hold_raw(&replica, &event, &fan.pass, body, None).await;
    let waited = started.elapsed();
    accepted.assert_status(202);
    assert!(
        waited >= CONFIRM_TIMEOUT && waited < CONFIRM_TIMEOUT + QUICK,
        "answered after {waited:?}, not once the confirm timed out"
    );
    let request_id = accepted.body["request_id"].as_str().expect("request_id");
    let status_url = accepted.body["status_url"].as_str().expect("status_url");
    assert_eq!(status_url, format!("/v1/requests/{request_id}"));
    let pending = app.get_request(status_url, &fan.pass).await;
    pending.assert_status(200);
    assert_eq!(pending.body, serde_json::json!({"state": "pending"}));
    let holds = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM holds WHERE event_id = $1")
            .bind(event.0)
            .fetch_one(app.sql())
            .await
            .expect("Failed to count holds")
    };
    assert_eq!(holds().await, 0, "the command is still on the stalled link");

    // The link recovers: the command reaches the broker and the worker decides it.
    proxy.thaw();
    let done = app.settle(accepted, &fan.pass).await;
    done.assert_status(201);
    assert_eq!(done.json::<Hold>().seats, ["A-1-1"]);
    assert_eq!(holds().await, 1, "the command was applied once");
}
