//! Admission across gateway and worker: `max_active` caps admitted fans and an order
//! frees its slot (the worker's `ZREM active`); a sold-out event tells its queue; the
//! pre-queue is shuffled at `opens_at` with a seed that matches its commitment.

use crate::helpers::{eventually, minutes_ago, open_event_spec, spawn_app, ApiResponse, TestApp};
use protocol::ids::EventId;
use protocol::reply::Hold;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Joins and returns the queue token (asserting `201`).
async fn join_token(app: &TestApp, event: &EventId) -> String {
    let joined = app.join(event).await;
    joined.assert_status(201);
    joined.body["queue_token"]
        .as_str()
        .expect("queue_token")
        .to_owned()
}

async fn state_of(app: &TestApp, event: &EventId, token: &str) -> ApiResponse {
    let r = app.queue_status(event, token).await;
    r.assert_status(200);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_active_caps_admission_and_an_order_frees_the_slot() {
    let app = spawn_app().await;
    let mut spec = open_event_spec(2, 5);
    spec.admission.max_active = 1;
    let event = app.create_event(&spec).await;
    let buyer = app.admitted_fan(&event).await;
    let second = join_token(&app, &event).await;
    let third = join_token(&app, &event).await;

    // While the buyer's pass is active nobody else is admitted; the queue is in order.
    let until = tokio::time::Instant::now() + Duration::from_millis(1500);
    while tokio::time::Instant::now() < until {
        let s = state_of(&app, &event, &second).await;
        assert_eq!(
            s.body["state"], "waiting",
            "max_active 1 admitted a second fan: {}",
            s.body
        );
        assert_eq!(
            (s.body["position"].as_u64(), s.body["ahead"].as_u64()),
            (Some(1), Some(0))
        );
        let t = state_of(&app, &event, &third).await;
        assert_eq!(
            (t.body["position"].as_u64(), t.body["ahead"].as_u64()),
            (Some(2), Some(1))
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let hold = app.hold_seats(&buyer, &["A-1-1"]).await;
    hold.assert_status(201);
    let hold: Hold = hold.json();
    app.confirm(&hold.id, &buyer.pass, "mock-1", None)
        .await
        .assert_status(200);

    // The order used the pass up: its slot goes to the next in line, and only to them.
    let admitted =
        tokio::time::timeout(Duration::from_secs(10), app.wait_admitted(&event, &second))
            .await
            .expect("the freed slot was not given to the next fan");
    assert!(!admitted.pass.is_empty());
    let t = state_of(&app, &event, &third).await;
    assert_eq!(t.body["state"], "waiting", "{}", t.body);
    assert_eq!(t.body["position"].as_u64(), Some(1), "{}", t.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_last_seats_sell_the_queue_says_sold_out() {
    let app = spawn_app().await;
    let mut spec = open_event_spec(1, 2);
    spec.max_seats_per_hold = 2;
    spec.admission.max_active = 2;
    let event = app.create_event(&spec).await;
    let fans = app.admitted_fans(&event, 2).await;
    let waiting = join_token(&app, &event).await;
    assert_eq!(
        state_of(&app, &event, &waiting).await.body["state"],
        "waiting"
    );

    let hold = app.hold_seats(&fans[0], &["A-1-1", "A-1-2"]).await;
    hold.assert_status(201);
    let hold: Hold = hold.json();
    // Held seats may come back: not sold out yet.
    app.hold_seats(&fans[1], &["A-1-1"])
        .await
        .assert_error(409, "seats_unavailable");
    assert_eq!(app.public_event(&event).await.body["state"], "open");

    // Pause first, so the slot the order frees is not handed out while sold-out spreads.
    app.patch_event(&event, &json!({"state": "paused"}))
        .await
        .assert_status(200);
    eventually(Duration::from_millis(1500), "pause", || async {
        (app.public_event(&event).await.body["state"] == "paused").then_some(())
    })
    .await;
    app.confirm(&hold.id, &fans[0].pass, "mock-1", None)
        .await
        .assert_status(200);

    eventually(
        Duration::from_secs(3),
        "the event to show sold_out",
        || async {
            let p = app.public_event(&event).await;
            (p.body["state"] == "sold_out").then_some(())
        },
    )
    .await;
    let public = app.public_event(&event).await;
    assert_eq!(public.body["seats"], json!({"total": 2, "available": 0}));
    app.join(&event).await.assert_error(409, "sold_out");
    let told = state_of(&app, &event, &waiting).await;
    assert_eq!(
        told.body["state"], "sold_out",
        "the waiting fan is told: {}",
        told.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prequeue_is_shuffled_at_open_with_a_verifiable_seed() {
    let app = spawn_app().await;
    let mut spec = open_event_spec(2, 5);
    spec.prequeue_opens_at = Some(minutes_ago(1));
    spec.opens_at = minutes_ago(0) + chrono::Duration::seconds(4);
    spec.admission.max_active = 3;
    let event = app.create_event(&spec).await;

    let before = app.public_event(&event).await;
    assert_eq!(before.body["state"], "prequeue", "{}", before.body);
    let commitment = before.body["shuffle_commitment"]
        .as_str()
        .expect("commitment")
        .to_owned();
    assert!(
        before.body["shuffle_seed"].is_null(),
        "seed revealed early: {}",
        before.body
    );

    let mut early = Vec::new();
    for _ in 0..3 {
        let joined = app.join(&event).await;
        joined.assert_status(201);
        assert_eq!(joined.body["state"], "prequeue", "{}", joined.body);
        assert!(
            joined.body["position"].is_null(),
            "position before the shuffle: {}",
            joined.body
        );
        early.push(
            joined.body["queue_token"]
                .as_str()
                .expect("queue_token")
                .to_owned(),
        );
    }

    // At opens_at the pre-queue goes first (max_active 3: exactly these three).
    for token in &early {
        tokio::time::timeout(Duration::from_secs(15), app.wait_admitted(&event, token))
            .await
            .expect("a pre-queue fan was not admitted after opens_at");
    }
    let late = join_token(&app, &event).await;
    let s = state_of(&app, &event, &late).await;
    assert_eq!(
        (s.body["state"].as_str(), s.body["position"].as_u64()),
        (Some("waiting"), Some(1))
    );

    let after = app.public_event(&event).await;
    assert_eq!(after.body["shuffle_commitment"], commitment.as_str());
    let seed = after.body["shuffle_seed"]
        .as_str()
        .expect("seed revealed at open");
    let of_bytes = hex::encode(Sha256::digest(hex::decode(seed).expect("hex seed")));
    let of_text = hex::encode(Sha256::digest(seed.as_bytes()));
    assert!(
        commitment == of_bytes || commitment == of_text,
        "SHA-256 of the seed {seed} is not the commitment {commitment}"
    );
}
