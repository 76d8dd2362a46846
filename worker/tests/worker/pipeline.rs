//! Pipelined group commits (`worker/src/shard/pipeline.rs`): a batch decided while the
//! previous one commits, when that commit fails, is decided again, in order, on the
//! state rebuilt from PostgreSQL, and every command gets exactly one answer: whether it
//! waited for the commit or was already writing, linked after it.

use crate::helpers::commands::hold;
use crate::helpers::{eventually, spec, TestEnv};
use protocol::reply::{ErrorCode, Outcome};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_decided_behind_a_failed_commit_is_decided_again_in_order() {
    decided_again_in_order(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_writing_behind_a_failed_commit_is_decided_again_in_order() {
    // Batches of at most 2: the batch behind (2 commands) is full, so it starts writing
    // while the first one commits, and its fence finds the first one rolled back.
    decided_again_in_order(Some(2)).await;
}

async fn decided_again_in_order(batch_max_commands: Option<usize>) {
    let mut env = TestEnv::without_worker().await;
    if let Some(n) = batch_max_commands {
        env.settings.batch_max_commands = n;
    }
    env.worker = Some(env.spawn_worker().await);
    let event = env.create_event(&spec(1, 4, 300)).await;
    // The next hold insert sleeps 1 s (so the next batch is decided behind it), then
    // fails transiently (a serialization failure); later inserts pass (a sequence is
    // not rolled back with them).
    for sql in [
        "CREATE SEQUENCE fail_seq",
        "CREATE FUNCTION slow_fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF nextval('fail_seq') = 1 THEN
                 PERFORM pg_sleep(1);
                 RAISE EXCEPTION 'injected failure' USING ERRCODE = 'serialization_failure';
             END IF;
             RETURN NEW;
         END $$",
        "CREATE TRIGGER slow_fail_once BEFORE INSERT ON holds
         FOR EACH ROW EXECUTE FUNCTION slow_fail_once()",
    ] {
        sqlx::query(sql).execute(&env.pool).await.unwrap();
    }
    let first = TestEnv::envelope(event, hold("A-1-1"));
    env.publish(&first).await;
    let pool = env.pool.clone();
    eventually(
        Duration::from_secs(10),
        "the first batch's commit to be in its insert",
        || async {
            let sleeping: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event = 'PgSleep'",
            )
            .fetch_one(&pool)
            .await
            .ok()?;
            (sleeping > 0).then_some(())
        },
    )
    .await;
    // Decided behind the failing commit: the same seat, and another one.
    let second = TestEnv::envelope(event, hold("A-1-1"));
    let third = TestEnv::envelope(event, hold("A-1-2"));
    env.publish(&second).await;
    env.publish(&third).await;

    let Outcome::HoldCreated(first_hold) = env.reply(first.request_id).await.outcome else {
        panic!("the first hold must be created on the retry");
    };
    match env.reply(second.request_id).await.outcome {
        Outcome::Rejected(e) => assert_eq!(e.code, ErrorCode::SeatsUnavailable),
        other => panic!("{other:?}"),
    }
    let Outcome::HoldCreated(third_hold) = env.reply(third.request_id).await.outcome else {
        panic!("the third hold must be created");
    };
    let claims: Vec<(String, uuid::Uuid)> = sqlx::query_as(
        "SELECT seat_id, hold_id FROM seat_claims WHERE event_id = $1 ORDER BY seat_id",
    )
    .bind(event.0)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        claims,
        vec![
            ("A-1-1".to_string(), first_hold.id.0),
            ("A-1-2".to_string(), third_hold.id.0)
        ]
    );
    let holds: i64 = sqlx::query_scalar("SELECT count(*) FROM holds WHERE event_id = $1")
        .bind(event.0)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(holds, 2);
    let (_, metrics) = env.http_get("/metrics").await;
    assert!(
        metrics.contains("anteroom_worker_commit_failures_total 1"),
        "{metrics}"
    );
    let linked = if batch_max_commands.is_some() { 1 } else { 0 };
    assert!(
        metrics.contains(&format!("anteroom_worker_linked_commits_total {linked}")),
        "{metrics}"
    );
}
