//! Linked group commits, against the rows PostgreSQL holds: a transaction started while
//! the one before it still commits writes its rows at once, commits only after that one
//! and never after its rollback.

use crate::helpers::{new_hold, spec, TestEnv};
use chrono::Utc;
use protocol::ids::EventId;
use std::time::Duration;
use tokio::sync::oneshot;
use uuid::Uuid;
use worker::engine::Effect;
use worker::repo::{CommitError, Link, Repository};

fn hold(event: EventId, seat: &str) -> Effect {
    Effect::HoldCreated(new_hold(event, seat))
}

/// Claims of `event` in PostgreSQL, by seat.
async fn claimed(env: &TestEnv, event: EventId) -> Vec<String> {
    sqlx::query_scalar("SELECT seat_id FROM seat_claims WHERE event_id = $1 ORDER BY seat_id")
        .bind(event.0)
        .fetch_all(&env.pool)
        .await
        .unwrap()
}

async fn last_commit(env: &TestEnv, shard: u16) -> Option<Uuid> {
    sqlx::query_scalar("SELECT last_commit FROM shard_epochs WHERE shard = $1")
        .bind(i32::from(shard))
        .fetch_one(&env.pool)
        .await
        .unwrap()
}

/// Two links: the first fences first and signals, the second waits for it.
fn pair() -> (Link, Link) {
    let (tx, rx) = oneshot::channel();
    let first = Link {
        token: Uuid::new_v4(),
        after: None,
        fenced: Some(tx),
    };
    let second = Link {
        token: Uuid::new_v4(),
        after: Some((first.token, rx)),
        fenced: None,
    };
    (first, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_commit_waits_for_the_one_before_it() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    let shard = 901;
    env.own_shard(shard).await;
    let repo = Repository::from_pool(env.pool.clone());
    let (first, second) = pair();
    let second_token = second.token;

    // Started first, the linked one writes its rows and then waits at its fence.
    let r = repo.clone();
    let later = tokio::spawn(async move {
        r.commit_effects_linked(shard, 1, &[hold(event, "A-1-2")], Utc::now(), second)
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !later.is_finished(),
        "committed before the one it is linked after"
    );
    assert_eq!(claimed(&env, event).await, Vec::<String>::new());

    repo.commit_effects_linked(shard, 1, &[hold(event, "A-1-1")], Utc::now(), first)
        .await
        .unwrap();
    later.await.unwrap().unwrap();
    assert_eq!(claimed(&env, event).await, ["A-1-1", "A-1-2"]);
    assert_eq!(last_commit(&env, shard).await, Some(second_token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_commit_never_outlives_the_rollback_before_it() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    let shard = 902;
    env.own_shard(shard).await;
    let repo = Repository::from_pool(env.pool.clone());
    let (first, second) = pair();

    let r = repo.clone();
    let later = tokio::spawn(async move {
        r.commit_effects_linked(shard, 1, &[hold(event, "A-1-3")], Utc::now(), second)
            .await
    });
    // The same hold twice: PostgreSQL refuses the batch after its fence.
    let twice = hold(event, "A-1-1");
    let refused = repo
        .commit_effects_linked(shard, 1, &[twice.clone(), twice], Utc::now(), first)
        .await;
    assert!(
        matches!(refused, Err(CommitError::Permanent(_))),
        "{refused:?}"
    );
    let linked = later.await.unwrap();
    assert!(matches!(linked, Err(CommitError::Unordered)), "{linked:?}");
    assert_eq!(claimed(&env, event).await, Vec::<String>::new());
    assert_eq!(last_commit(&env, shard).await, None);

    // Fenced: a takeover since the epoch it was decided under.
    sqlx::query("UPDATE shard_epochs SET epoch = 2 WHERE shard = $1")
        .bind(i32::from(shard))
        .execute(&env.pool)
        .await
        .unwrap();
    let (first, _) = pair();
    let fenced = repo
        .commit_effects_linked(shard, 1, &[hold(event, "A-1-4")], Utc::now(), first)
        .await;
    assert!(
        matches!(fenced, Err(CommitError::Fenced { current: Some(2) })),
        "{fenced:?}"
    );
    assert_eq!(claimed(&env, event).await, Vec::<String>::new());
}
