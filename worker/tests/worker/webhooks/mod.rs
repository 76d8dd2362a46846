//! Webhooks: the outbox is written in the group commit's transaction (checked here by
//! direct SQL against the orders and holds tables), and deliveries reach a real HTTP
//! receiver that verifies every signature with the `standardwebhooks` package from PyPI
//! (`delivery`, `receiver`).

mod delivery;
mod receiver;

pub(crate) use receiver::worker_process;

use crate::helpers::commands::{confirm, hold_for};
use crate::helpers::{spec, TestEnv};
use chrono::Utc;
use protocol::command::Command;
use protocol::event::{AdminState, EventPatch};
use protocol::ids::{EventId, HoldId, TicketId};
use protocol::reply::Outcome;
use serde_json::Value;
use uuid::Uuid;
use worker::engine::Effect;
use worker::repo::Repository;

/// Holds `seat` for a new ticket: (ticket, hold id).
pub(super) async fn hold_seat(env: &mut TestEnv, event: EventId, seat: &str) -> (TicketId, HoldId) {
    let ticket = TicketId::new();
    match env.send(event, hold_for(ticket, seat)).await {
        Outcome::HoldCreated(h) => (ticket, h.id),
        other => panic!("hold {seat}: {other:?}"),
    }
}

pub(super) async fn buy(env: &mut TestEnv, event: EventId, seat: &str) {
    let (ticket, hold) = hold_seat(env, event, seat).await;
    match env.send(event, confirm(ticket, hold, "pay")).await {
        Outcome::OrderConfirmed(_) => {}
        other => panic!("confirm {seat}: {other:?}"),
    }
}

pub(super) async fn release(env: &mut TestEnv, event: EventId, seat: &str) {
    let (ticket, hold) = hold_seat(env, event, seat).await;
    let cmd = Command::Release {
        ticket_id: ticket,
        hold_id: hold,
    };
    match env.send(event, cmd).await {
        Outcome::HoldReleased(_) => {}
        other => panic!("release {seat}: {other:?}"),
    }
}

async fn set_state(env: &mut TestEnv, event: EventId, state: AdminState) {
    let patch = EventPatch {
        state: Some(state),
        ..Default::default()
    };
    match env.send(event, Command::UpdateEvent { patch }).await {
        Outcome::EventUpdated(_) => {}
        other => panic!("update: {other:?}"),
    }
}

/// Registers an endpoint for `event` only (every type if `types` is `None`) whose URL
/// nothing listens on: the outbox stores only messages some endpoint matches.
async fn listen(env: &TestEnv, event: EventId, types: Option<&[&str]>) {
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, url, event_id, types, secret, created_at)
         VALUES ($1, 'http://127.0.0.1:9/hooks', $2, $3, 'whsec_dGVzdA==', now())",
    )
    .bind(Uuid::now_v7())
    .bind(event.0)
    .bind(types)
    .execute(&env.pool)
    .await
    .unwrap();
}

/// `(type, seq)` of the event's outbox rows, by sequence.
async fn outbox(env: &TestEnv, event: EventId) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT type, seq FROM webhook_outbox WHERE event_id = $1 ORDER BY seq")
        .bind(event.0)
        .fetch_all(&env.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_announces_each_decision_once_in_sequence() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 3, 300)).await;
    listen(&env, event, None).await;
    release(&mut env, event, "A-1-1").await;
    for seat in ["A-1-1", "A-1-2", "A-1-3"] {
        buy(&mut env, event, seat).await;
    }
    set_state(&mut env, event, AdminState::Paused).await;
    // A change that leaves the state alone announces nothing.
    set_state(&mut env, event, AdminState::Paused).await;

    // One order.confirmed row per order, and none for anything else.
    let per_order: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT o.id, (SELECT count(*) FROM webhook_outbox m
                       WHERE m.type = 'order.confirmed' AND m.subject = o.id::text
                         AND (m.body::jsonb)->'data'->>'order_id' = o.id::text)
         FROM orders o WHERE o.event_id = $1",
    )
    .bind(event.0)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(per_order.len(), 3);
    assert!(per_order.iter().all(|(_, n)| *n == 1), "{per_order:?}");
    let confirmed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_outbox WHERE event_id = $1 AND type = 'order.confirmed'",
    )
    .bind(event.0)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(confirmed, 3);

    // Every decision, in decision order, numbered 1..n without gaps.
    let rows = outbox(&env, event).await;
    let types: Vec<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "hold.created",
            "hold.released",
            "hold.created",
            "order.confirmed",
            "hold.created",
            "order.confirmed",
            "hold.created",
            "order.confirmed",
            "event.sold_out",
            "event.state_changed",
        ]
    );
    let seqs: Vec<i64> = rows.iter().map(|(_, s)| *s).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<i64>>());

    // Bodies carry what the tables hold.
    let (body, total): (String, i64) = sqlx::query_as(
        "SELECT m.body, o.total_cents FROM webhook_outbox m JOIN orders o
         ON m.subject = o.id::text WHERE m.type = 'order.confirmed' LIMIT 1",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["data"]["total_cents"], total);
    assert_eq!(body["data"]["currency"], "USD");
    assert_eq!(body["data"]["event_id"], event.to_string());
    let changed: String = sqlx::query_scalar(
        "SELECT body FROM webhook_outbox WHERE event_id = $1 AND type = 'event.state_changed'",
    )
    .bind(event.0)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    let changed: Value = serde_json::from_str(&changed).unwrap();
    assert_eq!(
        (
            &changed["data"]["previous_state"],
            &changed["data"]["state"]
        ),
        (&Value::from("open"), &Value::from("paused"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_no_endpoint_matches_are_numbered_but_not_stored() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 3, 300)).await;
    let other = env.create_event(&spec(1, 3, 300)).await;
    // An endpoint of another event only: nothing of `event` is stored.
    listen(&env, other, None).await;
    hold_seat(&mut env, event, "A-1-1").await;
    assert_eq!(outbox(&env, event).await, vec![]);
    let last: i64 =
        sqlx::query_scalar("SELECT last_seq FROM webhook_sequences WHERE event_id = $1")
            .bind(event.0)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(last, 1, "the unstored hold.created still took number 1");
    // An endpoint of `event` for orders only: the order's message is stored with its
    // place among all of the event's messages (the hold before it took 2).
    listen(&env, event, Some(&["order.confirmed"])).await;
    buy(&mut env, event, "A-1-2").await;
    assert_eq!(
        outbox(&env, event).await,
        vec![("order.confirmed".to_owned(), 3)]
    );
    let deliveries: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE event_id = $1")
            .bind(event.0)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(deliveries, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_transaction_fails_leaves_no_outbox_row() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    listen(&env, event, None).await;
    // A shard of its own for direct commits, so the running worker is not fenced.
    let shard: u16 = 900;
    env.own_shard(shard).await;
    let repo = Repository::from_pool(env.pool.clone());
    let view = |seat: &str| crate::helpers::new_hold(event, seat);
    let (good, bad) = (view("A-1-3"), view("A-1-4"));
    // The same hold twice in one batch: PostgreSQL refuses the second insert, after the
    // outbox rows of both were written in the same transaction.
    let refused = repo
        .commit_effects(
            shard,
            1,
            &[
                Effect::HoldCreated(good.clone()),
                Effect::HoldCreated(bad.clone()),
                Effect::HoldCreated(bad.clone()),
            ],
            Utc::now(),
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
    // A stale epoch: fenced before anything is written.
    let fenced = repo
        .commit_effects(shard, 0, &[Effect::HoldCreated(good.clone())], Utc::now())
        .await;
    assert!(fenced.is_err());
    let subjects = [good.hold.id.to_string(), bad.hold.id.to_string()];
    let count = |env: &TestEnv| {
        let pool = env.pool.clone();
        let subjects = subjects.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM webhook_outbox WHERE subject = ANY($1)",
            )
            .bind(&subjects[..])
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(count(&env).await, 0);
    // The control: the same hold alone commits with its row.
    repo.commit_effects(shard, 1, &[Effect::HoldCreated(good.clone())], Utc::now())
        .await
        .unwrap();
    assert_eq!(count(&env).await, 1);
    // The worker's own sequence continues after the direct commit.
    buy(&mut env, event, "A-1-1").await;
    let seqs: Vec<i64> = outbox(&env, event).await.iter().map(|r| r.1).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_deliveries_and_their_messages_go_after_the_retention_period() {
    let mut env = TestEnv::without_worker().await;
    env.settings.prune_interval_secs = 1;
    env.worker = Some(env.spawn_worker().await);
    let event = env.create_event(&spec(1, 4, 300)).await;
    let shard = i32::from(protocol::shard_of(&event, crate::helpers::SHARDS));
    let endpoint = Uuid::now_v7();
    // (message, delivery state, age in days): old and finished go; pending or young stay.
    let rows = [
        (Uuid::now_v7(), "delivered", 30),
        (Uuid::now_v7(), "failed", 30),
        (Uuid::now_v7(), "pending", 30),
        (Uuid::now_v7(), "delivered", 1),
    ];
    for (seq, (message, state, days)) in rows.iter().enumerate() {
        sqlx::query(
            "INSERT INTO webhook_outbox (id, event_id, shard, seq, type, subject, body, created_at)
             VALUES ($1, $2, $3, $4, 'hold.created', $1::text, '{}', now() - make_interval(days => $5))",
        )
        .bind(message)
        .bind(event.0)
        .bind(shard)
        .bind(1000 + seq as i64)
        .bind(*days)
        .execute(&env.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, endpoint_id, message_id, event_id, shard, seq, state,
                                             next_attempt_at, created_at, updated_at)
             VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, now() + interval '1 day',
                     now() - make_interval(days => $7), now() - make_interval(days => $7))",
        )
        .bind(endpoint)
        .bind(message)
        .bind(event.0)
        .bind(shard)
        .bind(1000 + seq as i64)
        .bind(*state)
        .bind(*days)
        .execute(&env.pool)
        .await
        .unwrap();
    }
    let left = || {
        let pool = env.pool.clone();
        async move {
            let messages: Vec<(Uuid,)> =
                sqlx::query_as("SELECT id FROM webhook_outbox WHERE seq >= 1000 ORDER BY seq")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            (messages.len() == 2).then_some(messages)
        }
    };
    let messages = crate::helpers::eventually(
        std::time::Duration::from_secs(15),
        "the retention to run",
        left,
    )
    .await;
    assert_eq!(messages, vec![(rows[2].0,), (rows[3].0,)]);
    let deliveries: Vec<(String,)> =
        sqlx::query_as("SELECT state FROM webhook_deliveries WHERE seq >= 1000 ORDER BY seq")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(deliveries, vec![("pending".into(),), ("delivered".into(),)]);
}
