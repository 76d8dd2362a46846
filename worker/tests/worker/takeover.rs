//! Shard ownership: a standby takes over when the active worker stops and rebuilds the
//! state from PostgreSQL; a fenced worker writes nothing and the command is decided
//! once, after a fresh takeover.

use crate::helpers::commands::{confirm, hold_for};
use crate::helpers::{eventually, http_get, spec, TestEnv, SHARDS};
use protocol::ids::TicketId;
use protocol::reply::{ErrorCode, Outcome};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_with_the_state_rebuilt() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    let ticket = TicketId::new();
    let held = match env.send(event, hold_for(ticket, "A-1-1")).await {
        Outcome::HoldCreated(h) => h,
        other => panic!("{other:?}"),
    };
    assert_eq!(env.shard_epoch(event).await, 1);

    let standby = env.spawn_worker().await;
    TestEnv::stop(env.worker.replace(standby).unwrap()).await;

    match env.send(event, hold_for(TicketId::new(), "A-1-1")).await {
        Outcome::Rejected(e) => assert_eq!(e.code, ErrorCode::SeatsUnavailable),
        other => panic!("the new owner forgot the hold: {other:?}"),
    }
    assert_eq!(env.shard_epoch(event).await, 2);
    let confirmation = confirm(ticket, held.id, "p");
    assert!(matches!(
        env.send(event, confirmation).await,
        Outcome::OrderConfirmed(_)
    ));
    let (_, metrics) = env.http_get("/metrics").await;
    let shard = protocol::shard_of(&event, SHARDS);
    assert!(
        metrics.contains(&format!(
            "anteroom_worker_shard_active{{shard=\"{shard}\"}} 1"
        )),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_worker_writes_nothing_and_the_command_is_decided_once() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    let before = env.shard_epoch(event).await;
    // Someone else takes the shard over behind the worker's back.
    sqlx::query("UPDATE shard_epochs SET epoch = epoch + 1, owner = 'intruder' WHERE shard = $1")
        .bind(i32::from(protocol::shard_of(&event, SHARDS)))
        .execute(&env.pool)
        .await
        .unwrap();

    // The worker's commit is refused; it hands the command back, rejoins, takes over
    // again (a new epoch) and decides it then.
    let outcome = env.send(event, hold_for(TicketId::new(), "A-1-1")).await;
    assert!(matches!(outcome, Outcome::HoldCreated(_)), "{outcome:?}");
    assert_eq!(env.shard_epoch(event).await, before + 2);
    let holds: i64 = sqlx::query_scalar("SELECT count(*) FROM holds WHERE event_id = $1")
        .bind(event.0)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(holds, 1);
}

/// The consumer state of every shard on the worker at `port`: `state` label per shard.
async fn states(port: u16) -> Vec<String> {
    let (_, text) = http_get(port, "/metrics").await;
    (0..SHARDS)
        .map(|shard| {
            let prefix = format!("anteroom_worker_shard_state{{shard=\"{shard}\",state=\"");
            text.lines()
                .filter_map(|l| l.strip_prefix(&prefix))
                .find_map(|rest| rest.strip_suffix("\"} 1"))
                .unwrap_or("none")
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_no_shard_and_the_standby_takes_the_active_ones_shards() {
    let mut env = TestEnv::start().await;
    let second = env.spawn_worker().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    let ports = [
        env.worker.as_ref().unwrap().metrics_port,
        second.metrics_port,
    ];
    // Single active consumer: for every shard one worker is active, the other standby.
    let owners = eventually(Duration::from_secs(15), "one active per shard", || async {
        let (a, b) = (states(ports[0]).await, states(ports[1]).await);
        let pairs: Vec<(&str, &str)> = a
            .iter()
            .map(String::as_str)
            .zip(b.iter().map(String::as_str))
            .collect();
        pairs
            .iter()
            .all(|p| matches!(p, ("active", "standby") | ("standby", "active")))
            .then(|| a.iter().map(|s| s == "active").collect::<Vec<bool>>())
    })
    .await;
    let shard = usize::from(protocol::shard_of(&event, SHARDS));
    let before = env.shard_epoch(event).await;

    // Stop the active owner of the event's shard: the other worker takes it over.
    let survivor = if owners[shard] {
        TestEnv::stop(env.worker.replace(second).unwrap()).await;
        1
    } else {
        TestEnv::stop(second).await;
        0
    };
    assert!(matches!(
        env.send(event, hold_for(TicketId::new(), "A-1-1")).await,
        Outcome::HoldCreated(_)
    ));
    assert_eq!(
        env.shard_epoch(event).await,
        before + 1,
        "the takeover bumps the epoch"
    );
    eventually(
        Duration::from_secs(15),
        "every shard active on the survivor",
        || async {
            states(ports[survivor])
                .await
                .iter()
                .all(|s| s == "active")
                .then_some(())
        },
    )
    .await;
}
