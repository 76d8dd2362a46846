//! An unconfirmed hold expires at `expires_at` (never before), its seats go
//! back on sale, and confirming it afterwards is `410 hold_expired`.

use crate::helpers::{eventually, open_event_spec, spawn_app, ApiResponse, TestApp};
use chrono::{DateTime, Utc};
use protocol::ids::{EventId, HoldId};
use protocol::reply::{Hold, HoldState};
use std::time::Duration;

/// The `status` of seat `id` in a `GET .../seats` answer.
fn seat_status<'a>(seats: &'a ApiResponse, id: &str) -> &'a str {
    seats.body["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["seats"].as_array().into_iter().flatten())
        .find(|s| s["id"] == id)
        .and_then(|s| s["status"].as_str())
        .unwrap_or_else(|| panic!("seat {id} missing from {}", seats.body))
}

async fn wait_seats(app: &TestApp, event: &EventId, pass: &str, ids: &[&str], status: &str) {
    let what = format!("{ids:?} to show {status}");
    eventually(Duration::from_secs(5), &what, || async {
        let seats = app.seats(event, pass).await;
        seats.assert_status(200);
        ids.iter()
            .all(|id| seat_status(&seats, id) == status)
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unconfirmed_hold_expires_and_its_seats_go_back_on_sale() {
    let app = spawn_app().await;
    let mut spec = open_event_spec(2, 5);
    spec.hold_ttl_seconds = 10;
    let event = app.create_event(&spec).await;
    let fans = app.admitted_fans(&event, 2).await;
    let (first, second) = (&fans[0], &fans[1]);
    let wanted = ["A-1-1", "A-1-2"];

    let asked_at = Utc::now();
    let resp = app.hold_seats(first, &wanted).await;
    resp.assert_status(201);
    let hold: Hold = resp.json();
    assert_eq!(hold.state, HoldState::Held);
    let ttl = hold.expires_at - asked_at;
    assert!(
        (8..=12).contains(&ttl.num_seconds()),
        "expires_at should be about 10 s after the request, is {ttl}"
    );
    wait_seats(&app, &event, &first.pass, &wanted, "held").await;
    let taken = app.hold_seats(second, &wanted).await;
    taken.assert_error(409, "seats_unavailable");

    let expired_seen_at: DateTime<Utc> =
        eventually(Duration::from_secs(20), "the hold to expire", || async {
            let r = app.get_hold(&hold.id, &first.pass).await;
            r.assert_status(200);
            let state = r.json::<Hold>().state;
            assert!(
                matches!(state, HoldState::Held | HoldState::Expired),
                "hold became {state:?}"
            );
            (state == HoldState::Expired).then(Utc::now)
        })
        .await;
    assert!(
        expired_seen_at >= hold.expires_at,
        "hold expired before its expires_at ({expired_seen_at} < {})",
        hold.expires_at
    );

    wait_seats(&app, &event, &second.pass, &wanted, "available").await;
    let again = app.hold_seats(second, &wanted).await;
    again.assert_status(201);
    assert_eq!(again.json::<Hold>().seats, wanted);

    app.confirm(&hold.id, &first.pass, "mock-late", None)
        .await
        .assert_error(410, "hold_expired");
    app.release(&hold.id, &first.pass)
        .await
        .assert_error(409, "hold_not_active");
    let unknown = HoldId::new();
    app.get_hold(&unknown, &first.pass)
        .await
        .assert_error(404, "not_found");
}
