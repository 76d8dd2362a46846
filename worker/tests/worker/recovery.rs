//! Recovery without a restart: a lost queue, a failed group commit, Redis down.

use crate::helpers::commands::{confirm, hold};
use crate::helpers::{eventually, spec, TestEnv, SHARDS};
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use protocol::command::{Command, SeatSelection};
use protocol::ids::TicketId;
use protocol::names::AmqpNames;
use protocol::reply::{ErrorCode, Outcome};
use std::time::Duration;

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_shard_queue_comes_back_and_the_shard_resumes() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    assert!(matches!(
        env.send(event, hold("A-1-1")).await,
        Outcome::HoldCreated(_)
    ));

    let queue =
        AmqpNames::new(env.namespace.clone()).shard_queue(protocol::shard_of(&event, SHARDS));
    let channel = env.amqp().create_channel().await.unwrap();
    channel
        .queue_delete(&queue, QueueDeleteOptions::default())
        .await
        .unwrap();
    // The consumer is cancelled by the broker; the worker reconnects and declares the
    // queue again. On a RabbitMQ cluster a declare can fail while the members still
    // delete the old quorum queue, and each failure lengthens the worker's reconnect
    // backoff (capped at 5 s, up to twice that with jitter): allow a few of them.
    let amqp = env.amqp();
    eventually(
        Duration::from_secs(40),
        "the queue to be declared again",
        || async {
            let probe = amqp.create_channel().await.ok()?;
            let passive = QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            let found = probe
                .queue_declare(&queue, passive, FieldTable::default())
                .await
                .ok()?;
            (found.consumer_count() > 0).then_some(())
        },
    )
    .await;
    match env.send(event, hold("A-1-1")).await {
        Outcome::Rejected(e) => assert_eq!(e.code, ErrorCode::SeatsUnavailable),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        env.send(event, hold("A-1-2")).await,
        Outcome::HoldCreated(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_group_commit_is_retried_on_a_rebuilt_state() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    // The next two hold inserts fail transiently, as a serialization failure (a sequence
    // is not rolled back with them).
    for sql in [
        "CREATE SEQUENCE fail_seq",
        "CREATE FUNCTION fail_twice() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF nextval('fail_seq') <= 2 THEN
                 RAISE EXCEPTION 'injected failure' USING ERRCODE = 'serialization_failure';
             END IF;
             RETURN NEW;
         END $$",
        "CREATE TRIGGER fail_twice BEFORE INSERT ON holds FOR EACH ROW EXECUTE FUNCTION fail_twice()",
    ] {
        sqlx::query(sql).execute(&env.pool).await.unwrap();
    }
    // Had the failed attempts' in-memory decisions survived, the retry would find the
    // seat taken by itself.
    let outcome = env.send(event, hold("A-1-1")).await;
    assert!(matches!(outcome, Outcome::HoldCreated(_)), "{outcome:?}");
    let holds: i64 = sqlx::query_scalar("SELECT count(*) FROM holds WHERE event_id = $1")
        .bind(event.0)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(holds, 1);
    let (_, metrics) = env.http_get("/metrics").await;
    assert_eq!(
        metric(&metrics, "anteroom_worker_commit_failures_total"),
        2,
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_commands_are_still_decided_and_answered() {
    let mut env = TestEnv::without_worker().await;
    env.settings.redis_url = "redis://127.0.0.1:1".into();
    (env.settings.redis_mode, env.settings.redis_ca_file) = ("standalone".into(), String::new());
    env.worker = Some(env.spawn_worker().await);
    let event = env.create_event(&spec(1, 4, 300)).await;
    assert!(matches!(
        env.send(event, hold("A-1-1")).await,
        Outcome::HoldCreated(_)
    ));
    let claims: i64 = sqlx::query_scalar("SELECT count(*) FROM seat_claims WHERE event_id = $1")
        .bind(event.0)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(claims, 1);
    let (status, body) = env.http_get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"redis\":\"down"), "{body}");
    let (_, metrics) = env.http_get("/metrics").await;
    assert!(
        metric(&metrics, "anteroom_worker_redis_write_failures_total") >= 1,
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_owner_rewrites_hold_documents_a_crash_left_stale() {
    use redis::AsyncCommands;
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    let ticket = TicketId::new();
    let held = match env
        .send(
            event,
            Command::Hold {
                ticket_id: ticket,
                selection: SeatSelection::Seats {
                    seats: vec!["A-1-1".parse().unwrap()],
                },
                idempotency: None,
                user_ref: None,
            },
        )
        .await
    {
        Outcome::HoldCreated(h) => h,
        other => panic!("{other:?}"),
    };
    let doc_key = env.keys.hold(&event, &held.id);
    let stale: String = env.redis.get(&doc_key).await.unwrap();
    let confirmation = confirm(ticket, held.id, "p");
    assert!(matches!(
        env.send(event, confirmation).await,
        Outcome::OrderConfirmed(_)
    ));
    TestEnv::stop(env.worker.take().unwrap()).await;

    // As if the worker had died between the confirm's commit and its Redis writes.
    let active = env.keys.active(&event);
    let _: () = env.redis.set(&doc_key, &stale).await.unwrap();
    let _: () = env
        .redis
        .zadd(&active, ticket.to_string(), 1)
        .await
        .unwrap();

    env.worker = Some(env.spawn_worker().await);
    // The new owner takes the shard over on its first delivery.
    assert!(matches!(
        env.send(event, hold("A-1-2")).await,
        Outcome::HoldCreated(_)
    ));
    let doc: String = env.redis.get(&doc_key).await.unwrap();
    let doc: protocol::reply::StoredHold = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc.hold.state, protocol::reply::HoldState::Confirmed);
    let still: Option<f64> = env.redis.zscore(&active, ticket.to_string()).await.unwrap();
    assert_eq!(still, None, "the used pass is out of active(E) again");
}
