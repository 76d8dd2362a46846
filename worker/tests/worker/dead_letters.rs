//! Dead letters: what a shard cannot decide (an undecodable message, a command whose
//! error outcome PostgreSQL refuses too) goes to the namespace's dead-letter queue with
//! its reason, is counted, and an operator can list, replay and purge it.

use crate::helpers::commands::hold;
use crate::helpers::{amqp_url, eventually, spec, TestEnv, SHARDS};
use crate::poison::{metric, poison_seat, stored_status};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use protocol::names::AmqpNames;
use protocol::reply::Outcome;
use protocol::topology::Topology;
use std::time::Duration;
use worker::dead_letters::{self, DeadLetter, Select};

/// Messages ready in the dead-letter queue, as RabbitMQ counts them.
pub(crate) async fn dead_count(env: &TestEnv) -> u32 {
    let names = AmqpNames::new(env.namespace.clone());
    let channel = env.amqp().create_channel().await.unwrap();
    let queue = channel
        .queue_declare(
            &names.dead_letter_queue(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("the worker declares the dead-letter queue");
    let _ = channel.close(200, "counted").await;
    queue.message_count()
}

pub(crate) async fn wait_for_dead_letters(env: &TestEnv, n: u32) {
    eventually(Duration::from_secs(10), "the dead letters", || async {
        (dead_count(env).await == n).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_message_is_dead_lettered_listed_and_purged() {
    let mut env = TestEnv::start().await;
    let names = AmqpNames::new(env.namespace.clone());
    let event = env.create_event(&spec(1, 4, 300)).await;
    env.publish_raw(event, b"not json at all").await;
    assert!(matches!(
        env.send(event, hold("A-1-1")).await,
        Outcome::HoldCreated(_)
    ));
    wait_for_dead_letters(&env, 1).await;
    assert_eq!(
        metric(
            &env,
            "anteroom_worker_dead_letters_total{reason=\"malformed\"}"
        )
        .await,
        Some(1.0)
    );

    let letters = dead_letters::list(env.amqp(), &Topology::new(names.clone(), SHARDS))
        .await
        .unwrap();
    let [letter] = letters.as_slice() else {
        panic!("{letters:?}")
    };
    assert_eq!(letter.reason, "malformed");
    assert_eq!(letter.shard, Some(protocol::shard_of(&event, SHARDS)));
    assert_eq!(letter.size, b"not json at all".len());
    assert_eq!(letter.deaths, 1);
    assert!(letter.first_death.is_some());
    assert!(
        letter.error.as_deref().unwrap().contains("expected"),
        "{letter:?}"
    );

    // Listing left it in the queue; the operator command shows the same.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_anteroom-worker"))
        .args(["dead-letters", "list", "--json"])
        .env("ANTEROOM_NAMESPACE", &env.namespace)
        .env("ANTEROOM_AMQP_URL", amqp_url())
        .env("ANTEROOM_AMQP_CA_FILE", testkit::amqp_ca_file())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let listed: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["reason"], "malformed");

    assert_eq!(
        dead_letters::purge(env.amqp(), &Topology::new(names.clone(), SHARDS))
            .await
            .unwrap(),
        1
    );
    assert_eq!(dead_count(&env).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_cannot_be_answered_is_dead_lettered_and_replayed_once_fixed() {
    let mut env = TestEnv::start().await;
    let names = AmqpNames::new(env.namespace.clone());
    let event = env.create_event(&spec(1, 4, 300)).await;
    // PostgreSQL refuses the hold, and its 500 outcome too.
    poison_seat(&env, "A-1-2").await;
    sqlx::query(
        "ALTER TABLE request_results ADD CONSTRAINT no_500 CHECK (status <> 500) NOT VALID",
    )
    .execute(&env.pool)
    .await
    .unwrap();
    let refused = TestEnv::envelope(event, hold("A-1-2"));
    env.publish(&refused).await;
    wait_for_dead_letters(&env, 1).await;
    assert_eq!(
        metric(
            &env,
            "anteroom_worker_dead_letters_total{reason=\"unstorable\"}"
        )
        .await,
        Some(1.0)
    );
    assert_eq!(
        metric(
            &env,
            "anteroom_worker_poison_commands_total{outcome=\"dead_lettered\"}"
        )
        .await,
        Some(1.0)
    );
    assert_eq!(stored_status(&env, refused.request_id).await, None);
    assert!(matches!(
        env.send(event, hold("A-1-3")).await,
        Outcome::HoldCreated(_)
    ));

    let letters = dead_letters::list(env.amqp(), &Topology::new(names.clone(), SHARDS))
        .await
        .unwrap();
    let id = refused.request_id.to_string();
    let event_id = event.to_string();
    assert!(
        matches!(letters.as_slice(), [DeadLetter { reason, request_id: Some(r), event_id: Some(e), .. }]
            if reason == "unstorable" && *r == id && *e == event_id),
        "{letters:?}"
    );

    // Fixed behind the worker's back, then replayed: decided as if it came now.
    sqlx::query("DROP INDEX rogue_claim")
        .execute(&env.pool)
        .await
        .unwrap();
    let other = dead_letters::replay(
        env.amqp(),
        &Topology::new(names.clone(), SHARDS),
        &Select::RequestId("nope".into()),
    )
    .await
    .unwrap();
    assert_eq!(other, 0);
    let replayed = dead_letters::replay(
        env.amqp(),
        &Topology::new(names.clone(), SHARDS),
        &Select::RequestId(id),
    )
    .await
    .unwrap();
    assert_eq!(replayed, 1);
    assert!(matches!(
        env.reply(refused.request_id).await.outcome,
        Outcome::HoldCreated(_)
    ));
    assert_eq!(stored_status(&env, refused.request_id).await, Some(201));
    assert_eq!(dead_count(&env).await, 0);
}
