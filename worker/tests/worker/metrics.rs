//! Worker metrics: consumer state, takeovers, commands, and the
//! oversold audit (`anteroom_seats_oversold`, counted from PostgreSQL).

use crate::helpers::commands::confirm;
use crate::helpers::{eventually, spec, TestEnv, SHARDS};
use protocol::command::{Command, SeatSelection};
use protocol::ids::TicketId;
use protocol::reply::Outcome;
use std::time::Duration;

/// The value of the series `series` (name with labels, exactly as rendered).
pub(crate) fn series(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_state_takeovers_and_the_oversold_audit_are_exported() {
    let mut env = TestEnv::without_worker().await;
    env.settings.audit_interval_secs = 1;
    env.worker = Some(env.spawn_worker().await);
    let event = env.create_event(&spec(1, 4, 300)).await;
    let shard = protocol::shard_of(&event, SHARDS);
    let ticket = TicketId::new();
    let hold = Command::Hold {
        ticket_id: ticket,
        selection: SeatSelection::Seats {
            seats: vec!["A-1-1".parse().unwrap()],
        },
        idempotency: None,
        user_ref: None,
    };
    let held = match env.send(event, hold).await {
        Outcome::HoldCreated(h) => h,
        other => panic!("{other:?}"),
    };
    let confirmation = confirm(ticket, held.id, "p");
    assert!(matches!(
        env.send(event, confirmation).await,
        Outcome::OrderConfirmed(_)
    ));

    let oversold = format!("anteroom_seats_oversold{{shard=\"{shard}\"}}");
    let text = eventually(Duration::from_secs(10), "the first audit", || async {
        let (_, text) = env.http_get("/metrics").await;
        series(&text, &oversold).map(|_| text)
    })
    .await;
    assert_eq!(series(&text, &oversold), Some(0.0), "{text}");
    let active = format!("anteroom_worker_shard_state{{shard=\"{shard}\",state=\"active\"}}");
    assert_eq!(series(&text, &active), Some(1.0), "{text}");
    let standby = format!("anteroom_worker_shard_state{{shard=\"{shard}\",state=\"standby\"}}");
    assert_eq!(series(&text, &standby), Some(0.0), "{text}");
    let takeovers = format!("anteroom_worker_takeovers_total{{shard=\"{shard}\"}}");
    assert_eq!(series(&text, &takeovers), Some(1.0), "{text}");
    for name in [
        "anteroom_worker_commands_total{kind=\"confirm\",outcome=\"ok\"}",
        "anteroom_worker_seats_sold_total",
        "anteroom_worker_batch_size_count",
        "anteroom_worker_commit_seconds_count",
    ] {
        assert!(
            series(&text, name).is_some_and(|v| v >= 1.0),
            "{name}:\n{text}"
        );
    }

    // A bug (here: a forged row) puts the sold seat into a second live hold: the audit
    // finds it in PostgreSQL.
    sqlx::query(
        "INSERT INTO holds (id, event_id, ticket_id, seats, state, total_cents, expires_at,
                            created_at, updated_at)
         VALUES (gen_random_uuid(), $1, gen_random_uuid(), ARRAY['A-1-1'], 'held', 1500,
                 now() + interval '1 hour', now(), now())",
    )
    .bind(event.0)
    .execute(&env.pool)
    .await
    .unwrap();
    eventually(Duration::from_secs(10), "the audit to see it", || async {
        let (_, text) = env.http_get("/metrics").await;
        (series(&text, &oversold) == Some(1.0)).then_some(())
    })
    .await;
}
