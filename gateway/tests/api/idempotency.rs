//! `Idempotency-Key` on holds and confirms. The same key with the same body
//! returns the first response again (nothing applied twice); the same key with another
//! body, or on another route or target id, is `422 idempotency_key_reused`. Keys are
//! scoped per ticket.

use crate::helpers::{eventually, open_event_spec, select, spawn_app};
use protocol::reply::{Hold, Order};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_hold_returns_the_first_hold_and_a_changed_body_is_refused() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fans = app.admitted_fans(&event, 2).await;
    let (fan, other) = (&fans[0], &fans[1]);
    let key = uuid::Uuid::new_v4().to_string();
    let wanted = select(&["A-1-1", "A-1-2"]);

    let first = app.hold(&event, &fan.pass, &wanted, Some(&key)).await;
    first.assert_status(201);
    let second = app.hold(&event, &fan.pass, &wanted, Some(&key)).await;
    second.assert_status(201);
    assert_eq!(
        first.body, second.body,
        "a replay returns the first hold as is"
    );
    let hold: Hold = first.json();

    let changed = select(&["A-2-1"]);
    app.hold(&event, &fan.pass, &changed, Some(&key))
        .await
        .assert_error(422, "idempotency_key_reused");

    // Without the key the same body is a new request: the seats are taken (by us).
    app.hold(&event, &fan.pass, &wanted, None)
        .await
        .assert_error(409, "seats_unavailable");
    // The key belongs to the first fan's ticket: another fan's use of it is new.
    app.hold(&event, &other.pass, &wanted, Some(&key))
        .await
        .assert_error(409, "seats_unavailable");

    // Only one hold was applied.
    eventually(Duration::from_secs(5), "stats of one hold", || async {
        let stats = app.admin_stats(&event).await;
        stats.assert_status(200);
        let s = &stats.body;
        (s["holds_active"] == 1 && s["seats"]["held"] == 2).then_some(())
    })
    .await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM holds WHERE event_id = $1")
        .bind(event.0)
        .fetch_one(app.sql())
        .await
        .expect("Failed to count holds");
    assert_eq!(rows, 1, "the replayed hold was stored once");
    assert_eq!(hold.seats, ["A-1-1", "A-1-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_confirm_returns_the_first_order_and_a_changed_body_is_refused() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    let resp = app.hold_seats(&fan, &["A-2-3"]).await;
    resp.assert_status(201);
    let hold: Hold = resp.json();
    let key = uuid::Uuid::new_v4().to_string();

    let first = app
        .confirm(&hold.id, &fan.pass, "mock-123", Some(&key))
        .await;
    first.assert_status(200);
    let second = app
        .confirm(&hold.id, &fan.pass, "mock-123", Some(&key))
        .await;
    second.assert_status(200);
    assert_eq!(
        first.body, second.body,
        "a replay returns the first order as is"
    );
    let order: Order = first.json();
    assert_eq!(order.hold_id, hold.id);
    assert_eq!(order.seats, ["A-2-3"]);

    app.confirm(&hold.id, &fan.pass, "mock-456", Some(&key))
        .await
        .assert_error(422, "idempotency_key_reused");
    // Another key is another confirm of an already confirmed hold.
    let fresh = uuid::Uuid::new_v4().to_string();
    app.confirm(&hold.id, &fan.pass, "mock-123", Some(&fresh))
        .await
        .assert_error(409, "hold_not_active");

    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE event_id = $1")
        .bind(event.0)
        .fetch_one(app.sql())
        .await
        .expect("Failed to count orders");
    assert_eq!(orders, 1, "the replayed confirm made one order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_and_body_on_another_hold_is_refused_not_replayed() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    let first: Hold = app.hold_seats(&fan, &["A-1-1"]).await.json();
    let second: Hold = app.hold_seats(&fan, &["A-1-2"]).await.json();
    let key = uuid::Uuid::new_v4().to_string();

    let order: Order = app
        .confirm(&first.id, &fan.pass, "mock-123", Some(&key))
        .await
        .assert_status(200)
        .json();
    assert_eq!(order.hold_id, first.id);
    // Same key, same body, another hold: another request, not a replay of the first.
    app.confirm(&second.id, &fan.pass, "mock-123", Some(&key))
        .await
        .assert_error(422, "idempotency_key_reused");

    // The database agrees: one order, of the first hold; the second hold is untouched.
    let orders: Vec<(uuid::Uuid,)> =
        sqlx::query_as("SELECT hold_id FROM orders WHERE event_id = $1")
            .bind(event.0)
            .fetch_all(app.sql())
            .await
            .expect("Failed to read orders");
    assert_eq!(orders, [(first.id.0,)]);
    let state: String = sqlx::query_scalar("SELECT state FROM holds WHERE id = $1")
        .bind(second.id.0)
        .fetch_one(app.sql())
        .await
        .expect("Failed to read the second hold");
    assert_eq!(state, "held");
}
