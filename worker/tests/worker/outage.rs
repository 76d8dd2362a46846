//! Outages without a restart, through a TCP proxy (`testkit::Proxy`) that cuts every
//! connection: PostgreSQL unreachable (no ack, nothing lost, decided in order once it
//! is back), and RabbitMQ connections cut (the worker reconnects, declares its queues
//! again and carries on). The fault run (`deploy/faults/run.sh`) does the same with a
//! real PostgreSQL stop and a real RabbitMQ restart.

use crate::helpers::commands::hold_for;
use crate::helpers::{eventually, spec, TestEnv};
use crate::metrics::series;
use protocol::command::Command;
use protocol::ids::TicketId;
use protocol::reply::{ErrorCode, Outcome};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;
use testkit::Proxy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgresql_down_nothing_is_acked_and_commands_are_decided_in_order_after() {
    let mut env = TestEnv::without_worker().await;
    let url = env.settings.database_url.expose_secret().to_owned();
    let (postgres, proxied) = Proxy::start(&url).await;
    env.settings.database_url = SecretString::from(proxied);
    env.worker = Some(env.spawn_worker().await);
    let event = env.create_event(&spec(1, 4, 300)).await;
    let first = TicketId::new();
    let Outcome::HoldCreated(held) = env.send(event, hold_for(first, "A-1-1")).await else {
        panic!("no hold")
    };

    postgres.switch_off();
    // Order matters: the second hold of A-1-2 loses to the first; A-1-1 is free again
    // only after the release.
    let commands = [
        hold_for(TicketId::new(), "A-1-2"),
        hold_for(TicketId::new(), "A-1-2"),
        Command::Release {
            ticket_id: first,
            hold_id: held.id,
        },
        hold_for(TicketId::new(), "A-1-1"),
    ];
    let envelopes: Vec<_> = commands
        .into_iter()
        .map(|c| TestEnv::envelope(event, c))
        .collect();
    for e in &envelopes {
        env.publish(e).await;
    }
    let early = env
        .reply_within(envelopes[0].request_id, Duration::from_secs(4))
        .await;
    assert!(early.is_none(), "answered without PostgreSQL: {early:?}");
    let (_, metrics) = env.http_get("/metrics").await;
    let failures = series(&metrics, "anteroom_worker_commit_failures_total").unwrap_or(0.0);
    assert!(failures >= 1.0, "{metrics}");

    postgres.switch_on();
    let mut outcomes = Vec::new();
    for e in &envelopes {
        outcomes.push(env.reply(e.request_id).await.outcome);
    }
    assert!(
        matches!(outcomes[0], Outcome::HoldCreated(_)),
        "{outcomes:?}"
    );
    match &outcomes[1] {
        Outcome::Rejected(e) => assert_eq!(e.code, ErrorCode::SeatsUnavailable),
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&outcomes[2], Outcome::HoldReleased(h) if h.id == held.id),
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes[3], Outcome::HoldCreated(_)),
        "{outcomes:?}"
    );
    let rows: Vec<(String, Vec<String>)> = sqlx::query_as(
        "SELECT state, seats FROM holds WHERE event_id = $1 ORDER BY created_at, id",
    )
    .bind(event.0)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    let states: Vec<&str> = rows.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(states, ["released", "held", "held"], "{rows:?}");
    let decided: i64 =
        sqlx::query_scalar("SELECT count(*) FROM request_results WHERE event_id = $1")
            .bind(event.0)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(
        decided, 6,
        "create, first hold and the four commands, once each"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_its_rabbitmq_connection_is_cut_the_worker_reconnects_and_carries_on() {
    let mut env = TestEnv::without_worker().await;
    let (rabbitmq, proxied) = Proxy::start(&env.settings.amqp_url.clone()).await;
    env.settings.amqp_url = proxied;
    env.worker = Some(env.spawn_worker().await);
    let event = env.create_event(&spec(1, 4, 300)).await;
    assert!(matches!(
        env.send(event, hold_for(TicketId::new(), "A-1-1")).await,
        Outcome::HoldCreated(_)
    ));
    let before = env.shard_epoch(event).await;

    rabbitmq.switch_off();
    let (status, body) = eventually(Duration::from_secs(10), "/readyz to notice", || async {
        let (status, body) = env.http_get("/readyz").await;
        (status == 503).then_some((status, body))
    })
    .await;
    assert!(body.contains("\"amqp\":\"down"), "{status} {body}");
    // Published meanwhile (the test's own connection is direct): it waits in the queue.
    let waiting = TestEnv::envelope(event, hold_for(TicketId::new(), "A-1-1"));
    env.publish(&waiting).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    rabbitmq.switch_on();

    match env.reply(waiting.request_id).await.outcome {
        Outcome::Rejected(e) => assert_eq!(e.code, ErrorCode::SeatsUnavailable),
        other => panic!("the state was not rebuilt: {other:?}"),
    }
    assert!(matches!(
        env.send(event, hold_for(TicketId::new(), "A-1-2")).await,
        Outcome::HoldCreated(_)
    ));
    assert!(
        env.shard_epoch(event).await > before,
        "a new session took the shard over"
    );
    let (status, body) = env.http_get("/readyz").await;
    assert_eq!(status, 200, "{body}");
}
