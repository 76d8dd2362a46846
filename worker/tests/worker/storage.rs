//! Storage stays bounded: refusals live minutes in Redis (successes days), and the
//! gateway's `pending` marker goes when the result is stored; request results and
//! finished holds past the retention period are pruned from PostgreSQL, and nothing the
//! engine rebuilds from.

use crate::helpers::commands::{confirm, hold_for};
use crate::helpers::{eventually, spec, TestEnv};
use protocol::command::Command;
use protocol::ids::{EventId, HoldId, TicketId};
use protocol::names::{REFUSAL_TTL_SECONDS, RESULT_TTL_SECONDS};
use protocol::reply::{ErrorCode, Outcome};
use redis::AsyncCommands;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_lives_minutes_in_redis_a_success_days_and_the_pending_marker_goes() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    let held = TestEnv::envelope(event, hold_for(TicketId::new(), "A-1-1"));
    let refused = TestEnv::envelope(event, hold_for(TicketId::new(), "A-1-1"));
    let mut redis = env.redis.clone();
    // Both answered `202` by a gateway: their markers are there before the worker decides.
    for env_ in [&held, &refused] {
        let marker = env.keys.pending(&event, &env_.request_id);
        let ticket = env_.command.ticket_id().unwrap().to_string();
        let _: () = redis
            .set_ex(marker, ticket, RESULT_TTL_SECONDS)
            .await
            .unwrap();
    }

    env.publish(&held).await;
    env.publish(&refused).await;
    assert!(matches!(
        env.reply(held.request_id).await.outcome,
        Outcome::HoldCreated(_)
    ));
    match env.reply(refused.request_id).await.outcome {
        Outcome::Rejected(r) => assert_eq!(r.code, ErrorCode::SeatsUnavailable),
        other => panic!("{other:?}"),
    }

    // Redis itself says how long each result lives.
    let ttl = |request| {
        let (key, mut redis) = (env.keys.request(&event, &request), redis.clone());
        async move { redis.ttl::<_, i64>(key).await.unwrap() }
    };
    let (kept, short) = eventually(Duration::from_secs(10), "both results stored", || async {
        let (kept, short) = (ttl(held.request_id).await, ttl(refused.request_id).await);
        (kept > 0 && short > 0).then_some((kept, short))
    })
    .await;
    let (kept, short) = (kept as u64, short as u64);
    assert!(short <= REFUSAL_TTL_SECONDS, "a refusal lives {short} s");
    assert!(kept > RESULT_TTL_SECONDS - 60, "a success lives {kept} s");
    for env_ in [&held, &refused] {
        let marker = env.keys.pending(&event, &env_.request_id);
        let exists: bool = redis.exists(marker).await.unwrap();
        assert!(!exists, "the pending marker outlives the stored result");
    }
}

/// Holds `seat` for a fresh ticket; returns the ticket and the hold id.
async fn held(env: &mut TestEnv, event: EventId, seat: &str) -> (TicketId, HoldId) {
    let ticket = TicketId::new();
    match env.send(event, hold_for(ticket, seat)).await {
        Outcome::HoldCreated(h) => (ticket, h.id),
        other => panic!("{other:?}"),
    }
}

async fn count(env: &TestEnv, sql: &str, event: EventId) -> i64 {
    sqlx::query_scalar(sql)
        .bind(event.0)
        .fetch_one(&env.pool)
        .await
        .expect("Failed to count")
}

/// `deploy/verify.sql` on the test database: `psql`'s exit status.
fn verify_sql(env: &TestEnv) -> std::process::ExitStatus {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/verify.sql");
    std::process::Command::new("psql")
        .args([
            &testkit::db::database_url(&env.db_name),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            root,
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("Failed to run psql")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_and_finished_holds_past_the_retention_are_pruned_and_nothing_else() {
    let mut env = TestEnv::without_worker().await;
    env.settings.prune_interval_secs = 1;
    env.worker = Some(env.spawn_worker().await);
    let event = env.create_event(&spec(1, 6, 300)).await;
    let (buyer, sold) = held(&mut env, event, "A-1-1").await;
    let confirmation = confirm(buyer, sold, "mock-1");
    assert!(matches!(
        env.send(event, confirmation).await,
        Outcome::OrderConfirmed(_)
    ));
    let (leaver, released) = held(&mut env, event, "A-1-2").await;
    let release = Command::Release {
        ticket_id: leaver,
        hold_id: released,
    };
    assert!(matches!(
        env.send(event, release).await,
        Outcome::HoldReleased(_)
    ));
    let (keeper, active) = held(&mut env, event, "A-1-3").await;
    let (recent_leaver, recent) = held(&mut env, event, "A-1-4").await;
    let release = Command::Release {
        ticket_id: recent_leaver,
        hold_id: recent,
    };
    assert!(matches!(
        env.send(event, release).await,
        Outcome::HoldReleased(_)
    ));
    let results = "SELECT count(*) FROM request_results WHERE event_id = $1";
    let before = count(&env, results, event).await;
    assert_eq!(before, 8, "create, 4 holds, confirm, 2 releases");

    // Everything but the recent release ages past the retention (7 days by default).
    sqlx::query(
        "UPDATE holds SET updated_at = updated_at - interval '8 days',
                          created_at = created_at - interval '8 days'
         WHERE id = ANY($1)",
    )
    .bind(vec![sold.0, released.0, active.0])
    .execute(&env.pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE request_results SET created_at = created_at - interval '8 days'
         WHERE event_id = $1 AND request_id NOT IN (
             SELECT request_id FROM request_results WHERE event_id = $1
             ORDER BY created_at DESC LIMIT 2)",
    )
    .bind(event.0)
    .execute(&env.pool)
    .await
    .unwrap();

    let state = |id: HoldId| {
        let pool = env.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT state FROM holds WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&pool)
                .await
                .unwrap()
        }
    };
    eventually(
        Duration::from_secs(15),
        "the old release pruned",
        || async { state(released).await.is_none().then_some(()) },
    )
    .await;
    eventually(Duration::from_secs(15), "old results pruned", || async {
        (count(&env, results, event).await == 2).then_some(())
    })
    .await;
    // Kept: the sale (hold, order, claim), the live hold and its claim, the recent release.
    assert_eq!(state(sold).await.as_deref(), Some("confirmed"));
    assert_eq!(state(active).await.as_deref(), Some("held"));
    assert_eq!(state(recent).await.as_deref(), Some("released"));
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM orders WHERE event_id = $1",
            event
        )
        .await,
        1
    );
    let claims = "SELECT count(*) FROM seat_claims WHERE event_id = $1";
    assert_eq!(count(&env, claims, event).await, 2);
    assert!(
        verify_sql(&env).success(),
        "deploy/verify.sql finds a violation"
    );

    // A new owner rebuilds from what is left: the sold seat stays sold, the live hold
    // can still be confirmed, the released seat is free.
    TestEnv::stop(env.worker.take().unwrap()).await;
    env.worker = Some(env.spawn_worker().await);
    match env.send(event, hold_for(TicketId::new(), "A-1-1")).await {
        Outcome::Rejected(r) => assert_eq!(r.code, ErrorCode::SeatsUnavailable),
        other => panic!("{other:?}"),
    }
    let confirmation = confirm(keeper, active, "mock-2");
    assert!(matches!(
        env.send(event, confirmation).await,
        Outcome::OrderConfirmed(_)
    ));
    assert!(matches!(
        env.send(event, hold_for(TicketId::new(), "A-1-2")).await,
        Outcome::HoldCreated(_)
    ));
    assert!(
        verify_sql(&env).success(),
        "deploy/verify.sql finds a violation"
    );
}
