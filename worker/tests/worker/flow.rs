//! Create event → hold → confirm, checked in the replies, PostgreSQL and Redis.

use crate::helpers::commands::confirm;
use crate::helpers::{eventually, spec, TestEnv};
use protocol::availability::Availability;
use protocol::command::{Command, SeatSelection};
use protocol::event::EventConfig;
use protocol::ids::TicketId;
use protocol::reply::{HoldState, Outcome, StoredHold, StoredResult};
use redis::AsyncCommands;
use std::time::Duration;

async fn get_json<T: serde::de::DeserializeOwned>(env: &TestEnv, key: String) -> Option<T> {
    let raw: Option<String> = env.redis.clone().get(&key).await.unwrap();
    raw.map(|s| serde_json::from_str(&s).unwrap())
}

/// The event's availability snapshot once `ok` holds of it: a change that follows
/// another within `availability_interval_ms` reaches Redis that much later.
async fn availability_once(
    env: &TestEnv,
    event: protocol::ids::EventId,
    ok: impl Fn(&Availability) -> bool,
) -> Availability {
    let key = env.keys.availability(&event);
    let limit = Duration::from_secs(5);
    eventually(limit, "the availability snapshot", || {
        let key = key.clone();
        let ok = &ok;
        async move {
            let a: Availability = get_json(env, key).await?;
            ok(&a).then_some(a)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_hold_confirm_round_trip() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(2, 5, 300)).await;

    // Created: the event and its 10 seats are in PostgreSQL, config and availability in
    // Redis before the reply.
    let seats: i64 = sqlx::query_scalar("SELECT count(*) FROM seats WHERE event_id = $1")
        .bind(event.0)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(seats, 10);
    let config: EventConfig = get_json(&env, env.keys.config(&event)).await.unwrap();
    assert_eq!((config.id, config.version), (event, 1));
    let members: Vec<String> = env.redis.smembers(env.keys.events()).await.unwrap();
    assert!(members.contains(&event.to_string()));
    let a: Availability = get_json(&env, env.keys.availability(&event)).await.unwrap();
    assert_eq!((a.total, a.available), (10, 10));

    // Hold two seats.
    let ticket = TicketId::new();
    let hold_cmd = Command::Hold {
        ticket_id: ticket,
        selection: SeatSelection::Seats {
            seats: vec!["A-1-1".parse().unwrap(), "A-1-2".parse().unwrap()],
        },
        idempotency: None,
        user_ref: None,
    };
    let hold_env = TestEnv::envelope(event, hold_cmd);
    env.publish(&hold_env).await;
    let hold = match env.reply(hold_env.request_id).await.outcome {
        Outcome::HoldCreated(h) => h,
        other => panic!("{other:?}"),
    };
    assert_eq!(hold.total_cents, 3000);
    let (state, claims): (String, i64) = sqlx::query_as(
        "SELECT h.state, (SELECT count(*) FROM seat_claims c WHERE c.hold_id = h.id AND c.state = 'held')
         FROM holds h WHERE h.id = $1",
    )
    .bind(hold.id.0)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!((state.as_str(), claims), ("held", 2));
    let doc: StoredHold = get_json(&env, env.keys.hold(&event, &hold.id))
        .await
        .unwrap();
    assert_eq!((doc.ticket_id, doc.hold.state), (ticket, HoldState::Held));
    let stored: StoredResult = get_json(&env, env.keys.request(&event, &hold_env.request_id))
        .await
        .unwrap();
    assert_eq!((stored.status, stored.ticket_id), (201, Some(ticket)));
    assert_eq!(stored.body["id"], hold.id.to_string());

    // The pass is in the active set; the order must take it out.
    let _: () = env
        .redis
        .zadd(env.keys.active(&event), ticket.to_string(), 1)
        .await
        .unwrap();
    let confirmation = confirm(ticket, hold.id, "mock-123");
    let order = match env.send(event, confirmation).await {
        Outcome::OrderConfirmed(o) => o,
        other => panic!("{other:?}"),
    };
    assert_eq!(order.seats, vec!["A-1-1", "A-1-2"]);

    let (hold_state, sold, order_seats, payment): (String, i64, i64, String) = sqlx::query_as(
        "SELECT (SELECT state FROM holds WHERE id = $2),
                (SELECT count(*) FROM seat_claims WHERE event_id = $1 AND state = 'sold'),
                (SELECT count(*) FROM order_seats WHERE order_id = $3),
                (SELECT payment_ref FROM orders WHERE id = $3)",
    )
    .bind(event.0)
    .bind(hold.id.0)
    .bind(order.id.0)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        (hold_state.as_str(), sold, order_seats),
        ("confirmed", 2, 2)
    );
    assert_eq!(payment, "mock-123");
    let statuses: Vec<(String, String)> = sqlx::query_as(
        "SELECT seat_id, status FROM seat_statuses WHERE event_id = $1 AND status <> 'available'
         ORDER BY seat_id",
    )
    .bind(event.0)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        statuses,
        vec![
            ("A-1-1".into(), "sold".into()),
            ("A-1-2".into(), "sold".into())
        ]
    );
    let results: i64 =
        sqlx::query_scalar("SELECT count(*) FROM request_results WHERE event_id = $1")
            .bind(event.0)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(results, 3, "create, hold and confirm results are stored");

    let a = availability_once(&env, event, |a| a.orders == 1).await;
    assert_eq!((a.available, a.held, a.sold, a.orders), (8, 0, 2, 1));
    assert_eq!(a.sections[0].statuses, "ssaaaaaaaa");
    let doc: StoredHold = get_json(&env, env.keys.hold(&event, &hold.id))
        .await
        .unwrap();
    assert_eq!(doc.hold.state, HoldState::Confirmed);
    let active: Option<f64> = env
        .redis
        .zscore(env.keys.active(&event), ticket.to_string())
        .await
        .unwrap();
    assert_eq!(active, None, "the used pass left the active set");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_of_200k_seats_is_created_and_held_from() {
    let mut env = TestEnv::start().await;
    let started = std::time::Instant::now();
    let event = env.create_event(&spec(200, 1000, 300)).await;
    let created_in = started.elapsed();
    let seats: i64 = sqlx::query_scalar("SELECT count(*) FROM seats WHERE event_id = $1")
        .bind(event.0)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(seats, 200_000);
    let best = Command::Hold {
        ticket_id: TicketId::new(),
        selection: SeatSelection::Best {
            section: "A".parse().unwrap(),
            quantity: 4,
        },
        idempotency: None,
        user_ref: None,
    };
    match env.send(event, best).await {
        Outcome::HoldCreated(h) => {
            assert_eq!(h.seats, ["A-1-499", "A-1-500", "A-1-501", "A-1-502"])
        }
        other => panic!("{other:?}"),
    }
    let a = availability_once(&env, event, |a| a.held > 0).await;
    assert_eq!((a.total, a.held), (200_000, 4));
    eprintln!("200k-seat event created in {created_in:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_snapshots_wait_for_the_interval_but_not_a_sell_out() {
    let mut env = TestEnv::without_worker().await;
    env.settings.availability_interval_ms = 3_000;
    env.worker = Some(env.spawn_worker().await);
    let created_from = std::time::Instant::now();
    let event = env.create_event(&spec(1, 3, 300)).await;
    let a: Availability = get_json(&env, env.keys.availability(&event)).await.unwrap();
    assert_eq!(
        (a.available, a.held),
        (3, 0),
        "an event's first snapshot is written at once"
    );

    // A hold inside the interval waits for the next snapshot...
    let buy = |seat: &'static str| {
        let ticket = TicketId::new();
        (ticket, crate::helpers::commands::hold_for(ticket, seat))
    };
    let (t1, hold1) = buy("A-1-1");
    let h1 = match env.send(event, hold1).await {
        Outcome::HoldCreated(h) => h,
        other => panic!("{other:?}"),
    };
    if created_from.elapsed() < Duration::from_secs(2) {
        let a: Availability = get_json(&env, env.keys.availability(&event)).await.unwrap();
        assert_eq!(a.held, 0, "written before the interval was over");
    }
    // ...which the idle shard writes once the interval is over.
    let a = availability_once(&env, event, |a| a.held == 1).await;
    assert!(created_from.elapsed() >= Duration::from_millis(2_900));
    assert_eq!(a.available, 2);

    // Selling the last seat is written at once, inside the interval.
    match env.send(event, confirm(t1, h1.id, "p1")).await {
        Outcome::OrderConfirmed(_) => {}
        other => panic!("{other:?}"),
    }
    for seat in ["A-1-2", "A-1-3"] {
        let (t, hold) = buy(seat);
        let h = match env.send(event, hold).await {
            Outcome::HoldCreated(h) => h,
            other => panic!("{other:?}"),
        };
        match env.send(event, confirm(t, h.id, "p")).await {
            Outcome::OrderConfirmed(_) => {}
            other => panic!("{other:?}"),
        }
    }
    let a: Availability = get_json(&env, env.keys.availability(&event)).await.unwrap();
    assert_eq!(
        (a.available, a.held, a.sold),
        (0, 0, 3),
        "the sell-out waited"
    );
    assert!(a.sold_out());
}
