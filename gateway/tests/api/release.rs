//! Releasing a hold gives its seats back at once; only the hold's owner may read,
//! release or confirm it; a released hold cannot be released or confirmed again.

use crate::helpers::{open_event_spec, spawn_app};
use protocol::reply::{Hold, HoldState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_hold_frees_its_seats_and_belongs_to_its_owner_only() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fans = app.admitted_fans(&event, 2).await;
    let (owner, other) = (&fans[0], &fans[1]);
    let wanted = ["A-2-2", "A-2-3"];

    let resp = app.hold_seats(owner, &wanted).await;
    resp.assert_status(201);
    let hold: Hold = resp.json();

    // Another fan can neither see nor touch the hold.
    app.get_hold(&hold.id, &other.pass)
        .await
        .assert_error(404, "not_found");
    app.release(&hold.id, &other.pass)
        .await
        .assert_error(404, "not_found");
    app.confirm(&hold.id, &other.pass, "mock-1", None)
        .await
        .assert_error(404, "not_found");
    app.hold_seats(other, &wanted)
        .await
        .assert_error(409, "seats_unavailable");

    let released = app.release(&hold.id, &owner.pass).await;
    released.assert_status(200);
    let released: Hold = released.json();
    assert_eq!(released.state, HoldState::Released);
    assert_eq!(
        (released.id, released.seats.clone()),
        (hold.id, hold.seats.clone())
    );
    let fetched = app.get_hold(&hold.id, &owner.pass).await;
    assert_eq!(fetched.json::<Hold>().state, HoldState::Released);

    // The seats are on sale again at once (the worker decided the release first).
    app.hold_seats(other, &wanted).await.assert_status(201);

    app.release(&hold.id, &owner.pass)
        .await
        .assert_error(409, "hold_not_active");
    app.confirm(&hold.id, &owner.pass, "mock-2", None)
        .await
        .assert_error(409, "hold_not_active");
}
