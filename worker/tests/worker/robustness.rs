//! Bad input never stops a shard; health endpoints.

use crate::helpers::{spec, TestEnv};
use protocol::command::{Command, SeatSelection};
use protocol::ids::{EventId, TicketId};
use protocol::reply::{ErrorCode, Outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_dead_lettered_and_the_shard_goes_on() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    env.publish_raw(event, b"not json at all").await;
    env.publish_raw(event, br#"{"version":"9","request_id":"x"}"#)
        .await;
    let hold = Command::Hold {
        ticket_id: TicketId::new(),
        selection: SeatSelection::Seats {
            seats: vec!["A-1-1".parse().unwrap()],
        },
        idempotency: None,
        user_ref: None,
    };
    assert!(matches!(
        env.send(event, hold).await,
        Outcome::HoldCreated(_)
    ));
    let (_, metrics) = env.http_get("/metrics").await;
    assert!(
        metrics.contains(
            "anteroom_worker_commands_total{kind=\"malformed\",outcome=\"dead_lettered\"} 2"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("anteroom_worker_commands_total{kind=\"hold\",outcome=\"created\"} 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_events_and_invalid_specs_are_refused() {
    let mut env = TestEnv::start().await;
    let hold = Command::Hold {
        ticket_id: TicketId::new(),
        selection: SeatSelection::Seats {
            seats: vec!["A-1-1".parse().unwrap()],
        },
        idempotency: None,
        user_ref: None,
    };
    match env.send(EventId::new(), hold).await {
        Outcome::Rejected(e) => assert_eq!(e.code, ErrorCode::NotFound),
        other => panic!("{other:?}"),
    }
    let mut bad = spec(1, 4, 300);
    bad.hold_ttl_seconds = 1;
    match env
        .send(EventId::new(), Command::CreateEvent { spec: bad })
        .await
    {
        Outcome::Rejected(e) => {
            assert_eq!(e.code, ErrorCode::InvalidField);
            assert_eq!(e.details.unwrap()["fields"][0]["field"], "hold_ttl_seconds");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let env = TestEnv::start().await;
    let (status, _) = env.http_get("/healthz").await;
    assert_eq!(status, 200);
    let (status, body) = env.http_get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["postgres"], "ok");
    assert_eq!(v["redis"], "ok");
    assert_eq!(v["amqp"], "ok");
}
