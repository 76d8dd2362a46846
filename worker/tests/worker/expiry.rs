//! Hold expiry by the worker's own timer: seats come back at the deadline, never before.

use crate::helpers::commands::confirm;
use crate::helpers::{eventually, spec, TestEnv};
use chrono::{DateTime, Utc};
use protocol::availability::Availability;
use protocol::command::{Command, SeatSelection};
use protocol::ids::TicketId;
use protocol::reply::{ErrorCode, HoldState, Outcome, StoredHold};
use redis::AsyncCommands;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unconfirmed_hold_expires_and_frees_its_seats() {
    let mut env = TestEnv::start().await;
    // 10 s is the shortest hold the spec allows.
    let event = env.create_event(&spec(1, 4, 10)).await;
    let ticket = TicketId::new();
    let hold = Command::Hold {
        ticket_id: ticket,
        selection: SeatSelection::Seats {
            seats: vec!["A-1-1".parse().unwrap()],
        },
        idempotency: None,
        user_ref: None,
    };
    let hold = match env.send(event, hold).await {
        Outcome::HoldCreated(h) => h,
        other => panic!("{other:?}"),
    };

    let pool = env.pool.clone();
    let (state, updated_at): (String, DateTime<Utc>) =
        eventually(Duration::from_secs(20), "the hold to expire", || {
            let pool = pool.clone();
            async move {
                let row: (String, DateTime<Utc>) =
                    sqlx::query_as("SELECT state, updated_at FROM holds WHERE id = $1")
                        .bind(hold.id.0)
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                (row.0 != "held").then_some(row)
            }
        })
        .await;
    assert_eq!(state, "expired");
    assert!(updated_at >= hold.expires_at, "expired before its deadline");
    assert!(Utc::now() >= hold.expires_at);
    let claims: i64 = sqlx::query_scalar("SELECT count(*) FROM seat_claims WHERE event_id = $1")
        .bind(event.0)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(claims, 0);

    // Redis follows right after the commit.
    let key = env.keys.hold(&event, &hold.id);
    let redis = env.redis.clone();
    let doc: StoredHold = eventually(Duration::from_secs(5), "the expired hold doc", || {
        let (key, mut redis) = (key.clone(), redis.clone());
        async move {
            let raw: Option<String> = redis.get(&key).await.ok()?;
            let doc: StoredHold = serde_json::from_str(&raw?).ok()?;
            (doc.hold.state == HoldState::Expired).then_some(doc)
        }
    })
    .await;
    assert_eq!(doc.ticket_id, ticket);
    let key = env.keys.availability(&event);
    let a: Availability = eventually(Duration::from_secs(5), "the snapshot after expiry", || {
        let (key, mut redis) = (key.clone(), redis.clone());
        async move {
            let raw: Option<String> = redis.get(&key).await.ok()?;
            let a: Availability = serde_json::from_str(&raw?).ok()?;
            (a.holds_active == 0).then_some(a)
        }
    })
    .await;
    assert_eq!((a.available, a.held, a.holds_active), (4, 0, 0));

    let confirmation = confirm(ticket, hold.id, "late");
    match env.send(event, confirmation).await {
        Outcome::Rejected(e) => assert_eq!(e.code, ErrorCode::HoldExpired),
        other => panic!("{other:?}"),
    }
}
