//! The two SSE streams of docs/API.md: `queue/stream` pushes the fan's Status (and the pass
//! when admitted), `seats/stream` pushes seat changes made by other fans.

use crate::helpers::sse::{mentions_seat, SseStream};
use crate::helpers::{open_event_spec, spawn_app};
use protocol::reply::Hold;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_stream_pushes_the_admission() {
    let app = spawn_app().await;
    let mut spec = open_event_spec(2, 5);
    spec.admission.max_active = 1;
    let event = app.create_event(&spec).await;
    let buyer = app.admitted_fan(&event).await;
    let joined = app.join(&event).await;
    joined.assert_status(201);
    let token = joined.body["queue_token"].as_str().expect("queue_token");

    let resp = app
        .client
        .get(app.url(&format!("/v1/events/{event}/queue/stream")))
        .bearer_auth(token)
        .send()
        .await
        .expect("Failed to open the queue stream");
    let mut stream = SseStream::new(resp);
    let first = stream
        .wait_for(Duration::from_secs(5), "a status", |e| e.event == "status")
        .await;
    assert_eq!(first.data["state"], "waiting", "{:?}", first.data);
    assert_eq!(first.data["ticket_id"], joined.body["ticket_id"]);

    // The buyer's order frees the only active slot: the stream announces the admission.
    let hold = app.hold_seats(&buyer, &["A-1-1"]).await;
    hold.assert_status(201);
    let hold: Hold = hold.json();
    app.confirm(&hold.id, &buyer.pass, "mock-1", None)
        .await
        .assert_status(200);
    let admitted = stream
        .wait_for(Duration::from_secs(10), "state admitted", |e| {
            e.event == "status" && e.data["state"] == "admitted"
        })
        .await;
    assert!(admitted.data["pass"].is_string(), "{:?}", admitted.data);
    assert!(
        admitted.data["pass_expires_at"].is_string(),
        "{:?}",
        admitted.data
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seats_stream_pushes_other_fans_holds() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fans = app.admitted_fans(&event, 2).await;
    let resp = app
        .client
        .get(app.url(&format!("/v1/events/{event}/seats/stream")))
        .bearer_auth(&fans[0].pass)
        .send()
        .await
        .expect("Failed to open the seats stream");
    let mut stream = SseStream::new(resp);

    let hold = app.hold_seats(&fans[1], &["A-1-3"]).await;
    hold.assert_status(201);
    stream
        .wait_for(Duration::from_secs(5), "A-1-3 held", |e| {
            e.event == "seats" && mentions_seat(&e.data, "A-1-3", "held")
        })
        .await;
    let hold: Hold = hold.json();
    app.release(&hold.id, &fans[1].pass)
        .await
        .assert_status(200);
    stream
        .wait_for(Duration::from_secs(5), "A-1-3 available again", |e| {
            e.event == "seats" && mentions_seat(&e.data, "A-1-3", "available")
        })
        .await;

    let queue_token = app
        .client
        .get(app.url(&format!("/v1/events/{event}/seats/stream")))
        .bearer_auth(&fans[0].queue_token);
    app.send(queue_token)
        .await
        .assert_error(401, "unauthorized");
}
