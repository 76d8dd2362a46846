//! A confirm is judged by when the gateway accepted it, not by when the worker got to
//! it: with no worker running, a confirm stamped before its hold's deadline waits in the
//! shard queue until after the deadline, and still buys the seats; one stamped after
//! the deadline is refused, and its hold expires once the worker has read its backlog.
//! A command queued long after its stamp (beyond `accept_skew_ms`) is counted as late.

use crate::helpers::commands::{confirm, hold_for};
use crate::helpers::{eventually, spec, TestEnv};
use chrono::{DateTime, Utc};
use protocol::ids::{EventId, TicketId};
use protocol::reply::{ErrorCode, Hold, Outcome};
use std::time::Duration;

async fn hold(env: &mut TestEnv, event: EventId, ticket: TicketId, seat: &str) -> Hold {
    let hold = hold_for(ticket, seat);
    match env.send(event, hold).await {
        Outcome::HoldCreated(h) => h,
        other => panic!("{other:?}"),
    }
}

async fn hold_state(env: &TestEnv, hold: &Hold) -> String {
    sqlx::query_scalar("SELECT state FROM holds WHERE id = $1")
        .bind(hold.id.0)
        .fetch_one(&env.pool)
        .await
        .unwrap()
}

/// Sleeps until the wall clock is past `at` (the point of the test is that time passes).
async fn until_past(at: DateTime<Utc>) {
    let left = (at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirm_accepted_in_time_buys_the_seats_however_late_the_worker_reads_it() {
    let mut env = TestEnv::start().await;
    // 10 s is the shortest hold the spec allows.
    let event = env.create_event(&spec(1, 4, 10)).await;
    let (buyer, late) = (TicketId::new(), TicketId::new());
    let bought = hold(&mut env, event, buyer, "A-1-1").await;
    let lost = hold(&mut env, event, late, "A-1-2").await;

    // The worker goes away; the buyer's confirm is accepted well before the deadline and
    // waits in the shard queue.
    TestEnv::stop(env.worker.take().expect("a running worker")).await;
    let in_time = TestEnv::envelope(event, confirm(buyer, bought.id, "pay-1"));
    assert!(in_time.sent_at < bought.expires_at);
    env.publish(&in_time).await;

    // Both deadlines pass with nobody reading the queue; then a confirm is accepted
    // too late.
    until_past(bought.expires_at.max(lost.expires_at)).await;
    let too_late = TestEnv::envelope(event, confirm(late, lost.id, "pay-1"));
    assert!(too_late.sent_at > lost.expires_at);
    env.publish(&too_late).await;

    env.worker = Some(env.spawn_worker().await);
    let order = match env.reply(in_time.request_id).await.outcome {
        Outcome::OrderConfirmed(o) => o,
        other => panic!("a confirm accepted in time was refused: {other:?}"),
    };
    assert!(
        order.confirmed_at > bought.expires_at,
        "decided after the deadline"
    );
    match env.reply(too_late.request_id).await.outcome {
        Outcome::Rejected(e) => assert_eq!(e.code, ErrorCode::HoldExpired),
        other => panic!("{other:?}"),
    }

    // PostgreSQL is the oracle: the order and its sold seat are stored, the hold is
    // confirmed.
    assert_eq!(hold_state(&env, &bought).await, "confirmed");
    let (order_hold, seats): (uuid::Uuid, Vec<String>) =
        sqlx::query_as("SELECT hold_id, seats FROM orders WHERE id = $1")
            .bind(order.id.0)
            .fetch_one(&env.pool)
            .await
            .expect("the order row");
    assert_eq!((order_hold, seats), (bought.id.0, vec!["A-1-1".to_owned()]));
    let claim: String = sqlx::query_scalar(
        "SELECT state FROM seat_claims WHERE event_id = $1 AND seat_id = 'A-1-1'",
    )
    .bind(event.0)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(claim, "sold");

    // The other hold expires once the worker's probes show the backlog was read.
    eventually(
        Duration::from_secs(15),
        "the unconfirmed hold to expire",
        || {
            let env = &env;
            let lost = &lost;
            async move { (hold_state(env, lost).await == "expired").then_some(()) }
        },
    )
    .await;
    let claims: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM seat_claims WHERE event_id = $1 AND seat_id = 'A-1-2'",
    )
    .bind(event.0)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(claims, 0, "the expired hold's seat is free again");

    // A confirm stamped before that deadline but queued only now broke the bound the
    // watermark rests on: it finds the hold expired, and the worker counts it.
    let mut stalled = TestEnv::envelope(event, confirm(late, lost.id, "pay-1"));
    stalled.sent_at = lost.expires_at - chrono::Duration::milliseconds(1);
    env.publish(&stalled).await;
    match env.reply(stalled.request_id).await.outcome {
        Outcome::Rejected(e) => assert_eq!(e.code, ErrorCode::HoldExpired),
        other => panic!("{other:?}"),
    }
    let (_, metrics) = env.http_get("/metrics").await;
    assert!(
        metrics.contains("anteroom_worker_commands_late_total 1"),
        "{metrics}"
    );
}
