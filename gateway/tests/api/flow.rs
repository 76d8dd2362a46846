//! The whole path of one fan (join → admitted → seats → hold → confirm →
//! order), and the `202` + `GET /v1/requests/{id}` path of a slow decision.

use crate::helpers::tokens::payload;
use crate::helpers::{eventually, open_event_spec, select, spawn_app};
use chrono::Utc;
use protocol::command::SeatSelection;
use protocol::event::SeatRef;
use protocol::reply::{Hold, HoldState, Order};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_goes_from_join_to_order() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;

    let joined = app.join(&event).await;
    joined.assert_status(201);
    let token = joined.body["queue_token"]
        .as_str()
        .expect("queue_token")
        .to_owned();
    let ticket = joined.body["ticket_id"]
        .as_str()
        .expect("ticket_id")
        .to_owned();
    assert_eq!(joined.body["event_id"], event.to_string());
    let cookie = joined.header("set-cookie").unwrap_or_default();
    assert!(
        cookie.starts_with(&format!("anteroom_queue={token}")) && cookie.contains("HttpOnly"),
        "join sets the queue cookie: {cookie}"
    );
    let rejoin = app
        .send(
            app.client
                .post(app.url(&format!("/v1/events/{event}/queue")))
                .bearer_auth(&token),
        )
        .await;
    rejoin.assert_status(200);
    assert_eq!(
        rejoin.body["ticket_id"],
        ticket.as_str(),
        "a rejoin keeps the ticket"
    );

    let fan = app.wait_admitted(&event, &token).await;
    assert_eq!(fan.ticket_id, ticket);
    let ttl = fan.pass_expires_at - Utc::now();
    assert!((590..=600).contains(&ttl.num_seconds()), "pass ttl {ttl}");
    let claims = payload(&fan.pass);
    assert_eq!(
        (claims["kind"].as_str(), claims["aud"].as_str()),
        (Some("pass"), Some(event.to_string().as_str()))
    );
    assert_eq!(claims["sub"], ticket.as_str());

    let seats = app.seats(&event, &fan.pass).await;
    seats.assert_status(200);
    let section = &seats.body["sections"][0];
    assert_eq!(section["name"], "A");
    let listed = section["seats"].as_array().expect("seats array");
    assert_eq!(listed.len(), 10);
    assert!(
        listed.iter().all(|s| s["status"] == "available"),
        "{}",
        seats.body
    );
    assert_eq!(listed[0]["id"], "A-1-1");
    assert_eq!(
        (listed[0]["row"].as_u64(), listed[0]["number"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(listed[0]["price_cents"], 15_000);

    let best = SeatSelection::Best {
        section: "A".parse().unwrap(),
        quantity: 2,
    };
    let resp = app.hold(&event, &fan.pass, &best, None).await;
    resp.assert_status(201);
    let hold: Hold = resp.json();
    assert_adjacent_in_front_row(&hold.seats, 2);
    assert_eq!(
        (hold.state, hold.total_cents, hold.event_id),
        (HoldState::Held, 30_000, event)
    );

    let resp = app.confirm(&hold.id, &fan.pass, "mock-123", None).await;
    resp.assert_status(200);
    let order: Order = resp.json();
    assert_eq!(
        (order.hold_id, order.event_id, order.total_cents),
        (hold.id, event, 30_000)
    );
    assert_eq!(order.seats, hold.seats);
    assert!((Utc::now() - order.confirmed_at).num_seconds().abs() < 30);

    let after = app.get_hold(&hold.id, &fan.pass).await;
    after.assert_status(200);
    assert_eq!(after.json::<Hold>().state, HoldState::Confirmed);

    let stats = eventually(Duration::from_secs(5), "stats showing the sale", || async {
        let s = app.admin_stats(&event).await;
        s.assert_status(200);
        (s.body["seats"]["sold"] == 2).then_some(s.body)
    })
    .await;
    assert_eq!(
        stats["seats"],
        serde_json::json!({"total": 10, "available": 8, "held": 0, "sold": 2})
    );
    assert_eq!(stats["orders"], 1);

    let (sold, held, available, total) = seat_counts(&app, event.0).await;
    assert_eq!((sold, held), (2, 0));
    assert_eq!(sold + held + available, total);
    assert_eq!(total, 10);
    let order_seats: i64 =
        sqlx::query_scalar("SELECT count(*) FROM order_seats WHERE order_id = $1")
            .bind(order.id.0)
            .fetch_one(app.sql())
            .await
            .expect("Failed to count order seats");
    assert_eq!(order_seats, 2, "one order_seats row per seat bought");

    // The pass is used up: no second purchase with it.
    app.hold_seats(&fan, &["A-2-1"])
        .await
        .assert_error(403, "forbidden");
}

/// Best available: `n` adjacent seats of row 1 of section A (where in the row is the
/// worker's choice: it prefers the centre).
fn assert_adjacent_in_front_row(seats: &[String], n: usize) {
    let refs: Vec<_> = seats
        .iter()
        .map(|s| SeatRef::parse(s).expect("seat id"))
        .collect();
    assert_eq!(refs.len(), n, "{seats:?}");
    assert!(
        refs.iter().all(|r| r.section == "A" && r.row == 1),
        "front row: {seats:?}"
    );
    let mut numbers: Vec<u32> = refs.iter().map(|r| r.number).collect();
    numbers.sort_unstable();
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "adjacent: {seats:?}"
    );
}

/// Sold, held, available and total seats of `event`, straight from PostgreSQL.
async fn seat_counts(app: &crate::helpers::TestApp, event: uuid::Uuid) -> (i64, i64, i64, i64) {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE c.state = 'sold'), count(*) FILTER (WHERE c.state = 'held'),
                count(*) FILTER (WHERE c.seat_id IS NULL), count(*)
         FROM seats s
         LEFT JOIN seat_claims c ON c.event_id = s.event_id AND c.seat_id = s.seat_id
         WHERE s.event_id = $1",
    )
    .bind(event)
    .fetch_one(app.sql())
    .await
    .expect("Failed to count seats")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_decision_answers_202_and_the_request_url_gives_the_result() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fans = app.admitted_fans(&event, 2).await;
    // A replica that never waits for the worker: every decision is "slow".
    let mut impatient = app.gateway_settings.clone();
    impatient.reply_timeout_ms = 1;
    let impatient = app.spawn_ready_gateway(impatient).await;

    let body = serde_json::to_string(&select(&["A-1-3"])).unwrap();
    let resp = app
        .hold_raw(&impatient, &event, &fans[0].pass, body, None)
        .await;
    resp.assert_status(202);
    let request_id = resp.body["request_id"]
        .as_str()
        .expect("request_id")
        .to_owned();
    let status_url = resp.body["status_url"]
        .as_str()
        .expect("status_url")
        .to_owned();
    assert!(
        status_url.ends_with(&format!("/v1/requests/{request_id}")),
        "{status_url}"
    );

    let done = app.settle(resp, &fans[0].pass).await;
    done.assert_status(201);
    let hold: Hold = done.json();
    assert_eq!(hold.seats, ["A-1-3"]);
    let fetched = app.get_hold(&hold.id, &fans[0].pass).await;
    assert_eq!(fetched.json::<Hold>(), hold);

    let path = format!("/v1/requests/{request_id}");
    app.get_request(&path, &fans[1].pass)
        .await
        .assert_error(404, "not_found");
    let unknown = format!("/v1/requests/{}", uuid::Uuid::now_v7());
    app.get_request(&unknown, &fans[0].pass)
        .await
        .assert_error(404, "not_found");
}
