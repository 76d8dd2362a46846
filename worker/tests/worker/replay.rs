//! Replays: a redelivered command is answered from its stored result and never applied
//! twice; idempotency keys survive a restart.

use crate::helpers::commands::keyed_hold;
use crate::helpers::{spec, TestEnv};
use futures::StreamExt;
use lapin::options::BasicConsumeOptions;
use lapin::types::FieldTable;
use protocol::ids::TicketId;
use protocol::names::AmqpNames;
use protocol::reply::{ErrorCode, Outcome};
use redis::AsyncCommands;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_command_is_answered_from_the_stored_result() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    let command = TestEnv::envelope(event, keyed_hold(TicketId::new(), "A-1-1", None));
    env.publish(&command).await;
    let first = env.reply(command.request_id).await;
    assert!(matches!(first.outcome, Outcome::HoldCreated(_)));

    // Crash between commit and ack, replayed: the same command comes back to a fresh
    // worker flagged redelivered. Deliver it once to a consumer that dies unacked.
    TestEnv::stop(env.worker.take().unwrap()).await;
    env.publish(&command).await;
    let shard = protocol::shard_of(&event, crate::helpers::SHARDS);
    let queue = AmqpNames::new(env.namespace.clone()).shard_queue(shard);
    let channel = env.amqp().create_channel().await.unwrap();
    let mut consumer = channel
        .basic_consume(
            &queue,
            "crashing",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let want = command.request_id.to_string();
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(d) = consumer.next().await {
            let d = d.unwrap();
            if d.properties.correlation_id().as_ref().map(|c| c.as_str()) == Some(want.as_str()) {
                break;
            }
        }
    })
    .await
    .expect("the republished command was not delivered");
    channel.close(200, "crash").await.unwrap();
    // ...and the crash came before the Redis writes.
    let request_doc = env.keys.request(&event, &command.request_id);
    let _: () = env.redis.del(&request_doc).await.unwrap();

    env.worker = Some(env.spawn_worker().await);
    let again = env.reply(command.request_id).await;
    assert_eq!(again, first, "the replay gets the stored outcome");
    let holds: i64 = sqlx::query_scalar("SELECT count(*) FROM holds WHERE event_id = $1")
        .bind(event.0)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(holds, 1, "applied once");
    let doc: Option<String> = env.redis.get(&request_doc).await.unwrap();
    let doc: protocol::reply::StoredResult = serde_json::from_str(&doc.unwrap()).unwrap();
    assert_eq!(doc.status, 201, "the request document is written again");
    let (_, metrics) = env.http_get("/metrics").await;
    let redeliveries = metrics
        .lines()
        .find_map(|l| l.strip_prefix("anteroom_worker_redeliveries_total "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap();
    assert!(redeliveries >= 1, "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_survive_a_restart() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    let ticket = TicketId::new();
    let first = env
        .send(event, keyed_hold(ticket, "A-1-1", Some(("k", "f1"))))
        .await;
    assert!(matches!(first, Outcome::HoldCreated(_)), "{first:?}");

    TestEnv::stop(env.worker.take().unwrap()).await;
    env.worker = Some(env.spawn_worker().await);

    let again = env
        .send(event, keyed_hold(ticket, "A-1-1", Some(("k", "f1"))))
        .await;
    assert_eq!(again, first, "same key, same body: the first outcome");
    match env
        .send(event, keyed_hold(ticket, "A-1-2", Some(("k", "f2"))))
        .await
    {
        Outcome::Rejected(e) => assert_eq!(e.code, ErrorCode::IdempotencyKeyReused),
        other => panic!("{other:?}"),
    }
    // The rebuilt state still knows the seat is held.
    match env
        .send(event, keyed_hold(TicketId::new(), "A-1-1", None))
        .await
    {
        Outcome::Rejected(e) => assert_eq!(e.code, ErrorCode::SeatsUnavailable),
        other => panic!("{other:?}"),
    }
}
