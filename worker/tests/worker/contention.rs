//! Two holds of the same seat: exactly one wins, and the database holds one claim.

use crate::helpers::{spec, TestEnv};
use protocol::command::{Command, SeatSelection};
use protocol::ids::TicketId;
use protocol::reply::{ErrorCode, Outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_holds_of_the_same_seat_one_wins() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    let hold = |seats: &[&str]| Command::Hold {
        ticket_id: TicketId::new(),
        selection: SeatSelection::Seats {
            seats: seats.iter().map(|s| s.parse().unwrap()).collect(),
        },
        idempotency: None,
        user_ref: None,
    };
    // Both are in the queue before either is decided.
    let first = TestEnv::envelope(event, hold(&["A-1-1", "A-1-2"]));
    let second = TestEnv::envelope(event, hold(&["A-1-2", "A-1-3"]));
    env.publish(&first).await;
    env.publish(&second).await;
    let a = env.reply(first.request_id).await.outcome;
    let b = env.reply(second.request_id).await.outcome;
    assert!(matches!(a, Outcome::HoldCreated(_)), "{a:?}");
    match b {
        Outcome::Rejected(e) => {
            assert_eq!(e.code, ErrorCode::SeatsUnavailable);
            assert_eq!(
                e.details.unwrap()["unavailable"],
                serde_json::json!(["A-1-2"])
            );
        }
        other => panic!("{other:?}"),
    }
    let claims: Vec<String> =
        sqlx::query_scalar("SELECT seat_id FROM seat_claims WHERE event_id = $1 ORDER BY seat_id")
            .bind(event.0)
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(
        claims,
        vec!["A-1-1", "A-1-2"],
        "nothing of the losing hold is claimed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_holds_never_share_a_seat() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(2, 10, 300)).await;
    // 60 fans ask for 2 best-available seats each in one burst: 10 can win.
    let mut sent = Vec::new();
    for _ in 0..60 {
        let e = TestEnv::envelope(
            event,
            Command::Hold {
                ticket_id: TicketId::new(),
                selection: SeatSelection::Best {
                    section: "A".parse().unwrap(),
                    quantity: 2,
                },
                idempotency: None,
                user_ref: None,
            },
        );
        env.publish(&e).await;
        sent.push(e.request_id);
    }
    let mut won = 0;
    for id in sent {
        match env.reply(id).await.outcome {
            Outcome::HoldCreated(h) => {
                assert_eq!(h.seats.len(), 2);
                won += 1;
            }
            Outcome::Rejected(e) => assert_eq!(e.code, ErrorCode::SeatsUnavailable),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(won, 10);
    let (claims, distinct): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT seat_id) FROM seat_claims WHERE event_id = $1",
    )
    .bind(event.0)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!((claims, distinct), (20, 20));
}
