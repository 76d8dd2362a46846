//! Redis may lose what the worker wrote (a restart without persistence, a failover):
//! the worker re-writes every event's config and availability periodically, so the
//! gateways find the event again without anyone re-creating it; a worker taking a
//! shard over also rewrites the documents of recent holds.

use crate::helpers::{eventually, open_event_spec, redis_url, spawn_app_with_both};
use protocol::names::RedisKeys;
use protocol::reply::Hold;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_restores_a_lost_event_config() {
    let app = spawn_app_with_both(|_| {}, |w| w.config_refresh_secs = 2).await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    app.hold_seats(&fan, &["A-1-1"]).await.assert_status(201);

    let keys = RedisKeys::new(app.namespace.clone());
    let client = redis::Client::open(redis_url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Failed to connect to Redis");
    let lost: u64 = redis::cmd("DEL")
        .arg(keys.config(&event))
        .arg(keys.availability(&event))
        .query_async(&mut conn)
        .await
        .expect("Failed to delete the keys");
    assert_eq!(lost, 2, "the worker had written config and availability");

    // Both: the keys back in Redis (the gateway may answer from its cache meanwhile).
    eventually(
        Duration::from_secs(10),
        "the event to come back",
        || async {
            let exists: u64 = redis::cmd("EXISTS")
                .arg(keys.config(&event))
                .arg(keys.availability(&event))
                .query_async(&mut conn.clone())
                .await
                .expect("EXISTS failed");
            let p = app.public_event(&event).await;
            (exists == 2
                && p.status == 200
                && p.body["seats"] == json!({"total": 10, "available": 9}))
            .then_some(())
        },
    )
    .await;
    // And reservations carry on.
    app.hold_seats(&fan, &["A-1-2"]).await.assert_status(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taking_over_worker_rewrites_lost_hold_documents() {
    let app = spawn_app_with_both(|_| {}, |_| {}).await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    let held = app.hold_seats(&fan, &["A-1-1"]).await;
    held.assert_status(201);
    let hold: Hold = held.json();

    let keys = RedisKeys::new(app.namespace.clone());
    let client = redis::Client::open(redis_url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Failed to connect to Redis");
    let lost: u64 = redis::cmd("DEL")
        .arg(keys.hold(&event, &hold.id))
        .query_async(&mut conn)
        .await
        .expect("Failed to delete the hold document");
    assert_eq!(lost, 1);
    app.get_hold(&hold.id, &fan.pass)
        .await
        .assert_error(404, "not_found");

    let _standby = app.spawn_worker(app.worker_settings.clone()).await;
    app.first_worker.cancel();
    let back = eventually(Duration::from_secs(15), "the hold document", || async {
        let r = app.get_hold(&hold.id, &fan.pass).await;
        (r.status == 200).then_some(r)
    })
    .await;
    assert_eq!(back.json::<Hold>(), hold);
}
