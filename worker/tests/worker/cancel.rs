//! Order cancels through the real shard: persisted in the group commit (the order row
//! keeps when and why, the seats' claims and sold rows go), and rebuilt by a new owner
//! of the shard, which knows the order is cancelled and its seats are on sale.

use crate::helpers::commands::{confirm, hold_for};
use crate::helpers::{spec, TestEnv};
use protocol::command::Command;
use protocol::ids::TicketId;
use protocol::reply::{ErrorCode, Outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_is_committed_and_a_new_owner_rebuilds_it() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    let buyer = TicketId::new();
    let held = match env.send(event, hold_for(buyer, "A-1-1")).await {
        Outcome::HoldCreated(h) => h,
        other => panic!("{other:?}"),
    };
    let order = match env.send(event, confirm(buyer, held.id, "psp-1")).await {
        Outcome::OrderConfirmed(o) => o,
        other => panic!("{other:?}"),
    };
    let cancel = || Command::CancelOrder {
        ticket_id: buyer,
        order_id: order.id,
        reason: Some("chargeback".parse().unwrap()),
        idempotency: None,
    };
    let cancelled = match env.send(event, cancel()).await {
        Outcome::OrderCancelled(o) => o,
        other => panic!("{other:?}"),
    };
    assert!(cancelled.cancelled_at.is_some());

    let (reason, seats_sold, claims): (Option<String>, i64, i64) = sqlx::query_as(
        "SELECT (SELECT cancel_reason FROM orders WHERE id = $1),
                (SELECT count(*) FROM order_seats WHERE order_id = $1),
                (SELECT count(*) FROM seat_claims WHERE hold_id = $2)",
    )
    .bind(order.id.0)
    .bind(held.id.0)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        (reason.as_deref(), seats_sold, claims),
        (Some("chargeback"), 0, 0)
    );

    let standby = env.spawn_worker().await;
    TestEnv::stop(env.worker.replace(standby).unwrap()).await;

    // The new owner answers a second cancel with the first one's order…
    match env.send(event, cancel()).await {
        Outcome::OrderCancelled(o) => assert_eq!(o, cancelled),
        other => panic!("the new owner forgot the cancel: {other:?}"),
    }
    // …keeps the buyer's pass used up, and sells the seat again.
    match env.send(event, hold_for(buyer, "A-1-1")).await {
        Outcome::Rejected(e) => assert_eq!(e.code, ErrorCode::Forbidden),
        other => panic!("{other:?}"),
    }
    let next = TicketId::new();
    let again = match env.send(event, hold_for(next, "A-1-1")).await {
        Outcome::HoldCreated(h) => h,
        other => panic!("the cancelled seat is not on sale: {other:?}"),
    };
    assert!(matches!(
        env.send(event, confirm(next, again.id, "psp-2")).await,
        Outcome::OrderConfirmed(_)
    ));
    let sold: Vec<(String, uuid::Uuid)> =
        sqlx::query_as("SELECT seat_id, order_id FROM order_seats WHERE event_id = $1")
            .bind(event.0)
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(sold.len(), 1);
    assert_ne!(sold[0].1, order.id.0);
    // The oversold audit does not count a seat sold again after a cancel.
    let repo = worker::repo::Repository::connect(&env.settings)
        .await
        .unwrap();
    let shard = protocol::shard_of(&event, crate::helpers::SHARDS);
    let oversold = repo.oversold_by_shard(&[shard]).await.unwrap();
    assert_eq!(oversold.get(&shard), Some(&0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_with_a_refused_reason_gets_a_stored_422_and_the_order_stands() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    let buyer = TicketId::new();
    let Outcome::HoldCreated(held) = env.send(event, hold_for(buyer, "A-1-1")).await else {
        panic!("hold refused");
    };
    let Outcome::OrderConfirmed(order) = env.send(event, confirm(buyer, held.id, "p")).await else {
        panic!("confirm refused");
    };
    // A reason with a NUL (PostgreSQL `text` cannot store it), published as another
    // publisher than the gateway might.
    let (id, mut message) = crate::hygiene::message(
        event,
        Command::CancelOrder {
            ticket_id: buyer,
            order_id: order.id,
            reason: Some("placeholder".parse().unwrap()),
            idempotency: None,
        },
    );
    message["command"]["reason"] = serde_json::json!("refund\u{0}");
    env.publish_raw(event, &serde_json::to_vec(&message).unwrap())
        .await;
    let reply = env.reply(id).await;
    let Outcome::Rejected(e) = &reply.outcome else {
        panic!("expected a refusal, got {:?}", reply.outcome);
    };
    assert_eq!(
        (e.code, e.details.as_ref().unwrap()["field"].as_str()),
        (ErrorCode::InvalidField, Some("reason"))
    );
    let (status, kind, _) = crate::hygiene::stored(&env, id).await.expect("stored");
    assert_eq!((status, kind.as_str()), (422, "cancel_order"));
    let cancelled: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT cancelled_at FROM orders WHERE id = $1")
            .bind(order.id.0)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(cancelled, None, "the refused cancel changed nothing");
}
