//! Credentials. Missing, forged, expired, foreign-event, `alg: none` and
//! wrong-kind tokens are `401 unauthorized`. Every forgery is made from a token that
//! works (re-signing it unchanged must still work), so each 401 is caused by the one
//! claim or signature that was changed.

use crate::helpers::tokens::{
    alg_none, eddsa, eddsa_with_kid, header, hs256, kid, now, payload, queue_claims,
};
use crate::helpers::{open_event_spec, select, spawn_app, TestApp};
use protocol::ids::EventId;
use serde_json::Value;

async fn status_with(app: &TestApp, event: &EventId, token: &str) -> (u16, String) {
    let r = app.queue_status(event, token).await;
    (r.status, r.code().to_owned())
}

async fn seats_with(app: &TestApp, event: &EventId, token: &str) -> (u16, String) {
    let r = app.seats(event, token).await;
    (r.status, r.code().to_owned())
}

fn unauthorized() -> (u16, String) {
    (401, "unauthorized".to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queue_tokens_are_unauthorized() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let other_event = app.create_event(&open_event_spec(2, 5)).await;
    let joined = app.join(&event).await;
    joined.assert_status(201);
    let token = joined.body["queue_token"]
        .as_str()
        .expect("queue_token")
        .to_owned();
    let claims = payload(&token);
    assert_eq!(claims["kind"], "queue");
    assert_eq!(claims["aud"], event.to_string());

    // Controls: the real token, and its claims re-signed with the real secret, work.
    assert_eq!(status_with(&app, &event, &token).await.0, 200);
    let resigned = hs256(&app.queue_token_secret, &claims);
    assert_eq!(status_with(&app, &event, &resigned).await.0, 200);

    let missing = app
        .send(
            app.client
                .get(app.url(&format!("/v1/events/{event}/queue"))),
        )
        .await;
    missing.assert_error(401, "unauthorized");
    assert_eq!(status_with(&app, &event, "not.a.jwt").await, unauthorized());

    let forged = hs256("a-secret-that-is-not-the-gateways-0123456789", &claims);
    assert_eq!(status_with(&app, &event, &forged).await, unauthorized());

    let mut expired = claims.clone();
    expired["iat"] = (now() - 7200).into();
    expired["exp"] = (now() - 3600).into();
    let expired = hs256(&app.queue_token_secret, &expired);
    assert_eq!(status_with(&app, &event, &expired).await, unauthorized());

    assert_eq!(
        status_with(&app, &event, &alg_none(&claims)).await,
        unauthorized()
    );

    // A genuine token of another event.
    let elsewhere = app.join(&other_event).await;
    elsewhere.assert_status(201);
    let foreign = elsewhere.body["queue_token"].as_str().expect("queue_token");
    assert_eq!(status_with(&app, &event, foreign).await, unauthorized());
    // And a freshly minted one whose only fault is its audience.
    let minted = queue_claims(&other_event.to_string(), now(), now() + 600);
    let minted = hs256(&app.queue_token_secret, &minted);
    assert_eq!(status_with(&app, &event, &minted).await, unauthorized());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_passes_are_unauthorized() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let other_event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    let foreign_fan = app.admitted_fan(&other_event).await;
    let claims: Value = payload(&fan.pass);

    // Controls: the real pass, and its claims re-signed with the real key, work.
    assert_eq!(seats_with(&app, &event, &fan.pass).await.0, 200);
    let resigned = eddsa(&app.pass_seed, &claims);
    assert_eq!(seats_with(&app, &event, &resigned).await.0, 200);

    let missing = app
        .send(
            app.client
                .get(app.url(&format!("/v1/events/{event}/seats"))),
        )
        .await;
    missing.assert_error(401, "unauthorized");

    // A queue token where a pass is needed.
    assert_eq!(
        seats_with(&app, &event, &fan.queue_token).await,
        unauthorized()
    );
    let hold = app
        .hold(&event, &fan.queue_token, &select(&["A-1-1"]), None)
        .await;
    hold.assert_error(401, "unauthorized");

    // Signed by another Ed25519 key (with the real kid).
    let real_kid = kid(&app.pass_seed);
    assert_eq!(
        header(&fan.pass)["kid"],
        real_kid.as_str(),
        "kid = SHA-256(pk)[..16]"
    );
    let stranger: [u8; 32] = rand::random();
    let forged = eddsa_with_kid(&stranger, &real_kid, &claims);
    assert_eq!(seats_with(&app, &event, &forged).await, unauthorized());

    let mut expired = claims.clone();
    expired["iat"] = (now() - 7200).into();
    expired["exp"] = (now() - 3600).into();
    let expired = eddsa(&app.pass_seed, &expired);
    assert_eq!(seats_with(&app, &event, &expired).await, unauthorized());

    assert_eq!(
        seats_with(&app, &event, &alg_none(&claims)).await,
        unauthorized()
    );

    // Algorithm confusion: the pass claims as HS256 with the queue secret.
    let confused = hs256(&app.queue_token_secret, &claims);
    assert_eq!(seats_with(&app, &event, &confused).await, unauthorized());

    // A genuine pass of another event.
    assert_eq!(
        seats_with(&app, &event, &foreign_fan.pass).await,
        unauthorized()
    );
    // The pass with `kind` changed to a queue token's.
    let mut wrong_kind = claims.clone();
    wrong_kind["kind"] = "queue".into();
    let wrong_kind = eddsa(&app.pass_seed, &wrong_kind);
    assert_eq!(seats_with(&app, &event, &wrong_kind).await, unauthorized());
}
