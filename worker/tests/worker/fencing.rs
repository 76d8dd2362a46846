//! Fencing with real PostgreSQL: two owners of one shard, each with its own engine. The
//! former owner stalls with a decided but uncommitted batch; the new owner takes over
//! (epoch bump), rebuilds and commits; the former owner's commit is then refused and
//! writes nothing, even though it conflicts with nothing.

use crate::helpers::commands::hold;
use crate::helpers::{spec, TestEnv};
use chrono::{DateTime, SubsecRound, Utc};
use protocol::command::{Command, Envelope};
use protocol::ids::{EventId, RequestId};
use protocol::reply::Outcome;
use rand::rngs::StdRng;
use rand::SeedableRng;
use worker::engine::{Effect, Engine};
use worker::repo::{CommitError, Repository};

const SHARD: u16 = 0;

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Decides `command` on `engine`, returning the outcome and the batch's effects.
fn decide(engine: &mut Engine, event: EventId, command: Command) -> (Outcome, Vec<Effect>) {
    let env = Envelope {
        request_id: RequestId::new(),
        event_id: event,
        sent_at: Utc::now(),
        command,
    };
    let mut effects = Vec::new();
    let outcome = engine.apply(&env, now(), &mut StdRng::from_entropy(), &mut effects);
    (outcome, effects)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_former_owner_cannot_commit_after_a_takeover() {
    let env = TestEnv::without_worker().await;
    let repo = Repository::from_pool(env.pool.clone());
    repo.migrate().await.unwrap();
    let event = EventId::new();

    // Owner A takes the shard over and creates the event.
    let epoch_a = repo.take_over(SHARD, "owner-a").await.unwrap();
    let mut a = repo.load_shard(SHARD, epoch_a).await.unwrap();
    let create = Command::CreateEvent {
        spec: spec(1, 4, 300),
    };
    let (created, effects) = decide(&mut a, event, create);
    assert!(matches!(created, Outcome::EventCreated(_)), "{created:?}");
    repo.commit_effects(SHARD, epoch_a, &effects, now())
        .await
        .unwrap();

    // A decides a hold, then stalls before its commit (a long pause, a partition).
    let (held_a, stalled_batch) = decide(&mut a, event, hold("A-1-2"));
    assert!(matches!(held_a, Outcome::HoldCreated(_)), "{held_a:?}");

    // B becomes the active consumer: bumps the epoch, rebuilds, decides and commits.
    let epoch_b = repo.take_over(SHARD, "owner-b").await.unwrap();
    assert_eq!(epoch_b, epoch_a + 1);
    let mut b = repo.load_shard(SHARD, epoch_b).await.unwrap();
    let (held_b, effects) = decide(&mut b, event, hold("A-1-1"));
    let Outcome::HoldCreated(held_b) = held_b else {
        panic!("{held_b:?}")
    };
    repo.commit_effects(SHARD, epoch_b, &effects, now())
        .await
        .unwrap();

    // A wakes up: its commit is refused, although its hold conflicts with nothing.
    match repo
        .commit_effects(SHARD, epoch_a, &stalled_batch, now())
        .await
    {
        Err(CommitError::Fenced { current }) => assert_eq!(current, Some(epoch_b)),
        other => panic!("a fenced owner committed: {other:?}"),
    }
    let holds: Vec<(uuid::Uuid, Vec<String>)> =
        sqlx::query_as("SELECT id, seats FROM holds WHERE event_id = $1")
            .bind(event.0)
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(holds, vec![(held_b.id.0, vec!["A-1-1".to_owned()])]);
    let results: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM request_results WHERE event_id = $1 AND kind = 'hold'",
    )
    .bind(event.0)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(results, 1, "only the owner's decision is stored");
    let owner: String = sqlx::query_scalar("SELECT owner FROM shard_epochs WHERE shard = $1")
        .bind(i32::from(SHARD))
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(owner, "owner-b");

    // B's state survives A's attempt: a fresh rebuild knows B's hold and A-1-2 is free.
    let mut c = repo.load_shard(SHARD, epoch_b).await.unwrap();
    let ev = c.event(&event).unwrap();
    assert_eq!(ev.counts().held, 1);
    let (free, _) = decide(&mut c, event, hold("A-1-2"));
    assert!(matches!(free, Outcome::HoldCreated(_)), "{free:?}");
}
