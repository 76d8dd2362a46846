//! A worker killed (docs/ARCHITECTURE.md): a standby worker takes the shards over (single active
//! consumer), rebuilds the events from PostgreSQL and carries on; fencing bumps the
//! shard's epoch.

use crate::helpers::{open_event_spec, spawn_app, SHARDS};
use protocol::reply::{Hold, HoldState, Order};
use protocol::shard_of;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_worker_takes_over_with_the_state_intact() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fans = app.admitted_fans(&event, 2).await;
    let first = app.hold_seats(&fans[0], &["A-1-1"]).await;
    first.assert_status(201);
    let first: Hold = first.json();

    let _standby = app.spawn_worker(app.worker_settings.clone()).await;
    app.first_worker.cancel();

    // Holds are decided by the standby now (202s while it takes over are fine).
    let taken = app.hold_seats(&fans[1], &["A-1-1"]).await;
    let taken = app.settle(taken, &fans[1].pass).await;
    taken.assert_error(409, "seats_unavailable");
    let second = app.hold_seats(&fans[1], &["A-1-2"]).await;
    let second = app.settle(second, &fans[1].pass).await;
    second.assert_status(201);

    let order = app.confirm(&first.id, &fans[0].pass, "mock-1", None).await;
    let order = app.settle(order, &fans[0].pass).await;
    order.assert_status(200);
    assert_eq!(order.json::<Order>().hold_id, first.id);
    let fetched = app.get_hold(&first.id, &fans[0].pass).await;
    assert_eq!(fetched.json::<Hold>().state, HoldState::Confirmed);

    let shard = i32::from(shard_of(&event, SHARDS));
    let epoch: i64 = tokio::time::timeout(
        Duration::from_secs(5),
        sqlx::query_scalar("SELECT epoch FROM shard_epochs WHERE shard = $1")
            .bind(shard)
            .fetch_one(app.sql()),
    )
    .await
    .expect("epoch query hangs")
    .expect("Failed to read the shard epoch");
    assert!(
        epoch >= 2,
        "taking the shard over bumps its epoch (epoch {epoch})"
    );
}
