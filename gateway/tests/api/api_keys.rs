//! API keys against the real services: only a hash stored, scopes to events, a revoked
//! key refused by every replica within a second, a retried create making no second
//! key, and `503` (never a key let through) without PostgreSQL.

use crate::helpers::{eventually, open_event_spec, spawn_app};
use crate::origin::hold_id;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_hold_to_their_events_and_a_revoked_key_stops_within_a_second() {
    let app = spawn_app().await;
    let mine = app.create_event(&open_event_spec(1, 4)).await;
    let other = app.create_event(&open_event_spec(1, 4)).await;
    let created = app
        .create_api_key(json!({"name": "scoped", "events": [mine]}))
        .await;
    let key = created["key"].as_str().unwrap().to_owned();
    let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(created["events"], json!([mine]));

    // Only the SHA-256 of the secret is stored.
    // `ak_<prefix>_<secret>`: the prefix is hex, the secret base64url (may hold `_`).
    let secret = key["ak_".len()..].split_once('_').unwrap().1;
    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_sha256 FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_one(app.sql())
        .await
        .unwrap();
    assert_eq!(stored, Sha256::digest(secret.as_bytes()).to_vec());
    let listed = app
        .send(
            app.client
                .get(app.url("/v1/admin/api-keys"))
                .bearer_auth(&app.admin_key),
        )
        .await;
    listed.assert_status(200);
    assert!(
        !listed.body.to_string().contains(secret),
        "no secret listed"
    );
    assert_eq!(listed.body["api_keys"][0]["id"], id.to_string());

    let fan = app.admitted_fan(&other).await;
    let foreign = hold_id(&app.hold_seats(&fan, &["A-1-1"]).await);
    let get = |k: String, path: String| {
        let app = &app;
        async move {
            app.as_key(&k, reqwest::Method::GET, &path, None, None)
                .await
        }
    };
    get(key.clone(), format!("/v1/origin/events/{mine}/orders"))
        .await
        .assert_status(200);
    get(key.clone(), format!("/v1/origin/events/{other}/orders"))
        .await
        .assert_error(403, "forbidden");
    get(key.clone(), format!("/v1/origin/events/{other}/orders.csv"))
        .await
        .assert_error(403, "forbidden");
    get(key.clone(), format!("/v1/origin/holds/{foreign}"))
        .await
        .assert_error(404, "not_found");
    app.as_key(
        &key,
        reqwest::Method::POST,
        &format!("/v1/origin/holds/{foreign}/confirm"),
        Some(json!({"payment_ref": "x"})),
        None,
    )
    .await
    .assert_error(404, "not_found");
    let forged = format!("{}x", &key[..key.len() - 1]);
    get(forged, format!("/v1/origin/events/{mine}/orders"))
        .await
        .assert_error(401, "unauthorized");
    get(app.admin_key.clone(), format!("/v1/origin/holds/{foreign}"))
        .await
        .assert_error(401, "unauthorized");

    // A second replica has verified (and cached) the key before the revoke.
    let replica = app.spawn_ready_gateway(app.gateway_settings.clone()).await;
    let on_replica = |k: String| {
        let app = &app;
        let url = format!("{replica}/v1/origin/events/{mine}/orders");
        async move { app.send(app.client.get(url).bearer_auth(k)).await }
    };
    on_replica(key.clone()).await.assert_status(200);

    let revoked = app
        .send(
            app.client
                .delete(app.url(&format!("/v1/admin/api-keys/{id}")))
                .bearer_auth(&app.admin_key),
        )
        .await;
    revoked.assert_status(200);
    assert!(revoked.body["revoked_at"].is_string());
    let at = Instant::now();
    eventually(
        Duration::from_secs(5),
        "the revoked key to be refused",
        || {
            let key = key.clone();
            async move {
                let r = get(key, format!("/v1/origin/events/{mine}/orders")).await;
                (r.status == 401).then_some(())
            }
        },
    )
    .await;
    assert!(
        at.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        at.elapsed()
    );
    eventually(
        Duration::from_secs(5),
        "the other replica to refuse it",
        || {
            let key = key.clone();
            async move { (on_replica(key).await.status == 401).then_some(()) }
        },
    )
    .await;
    // 1 s of cache, plus the 200 ms between polls and the requests themselves.
    assert!(
        at.elapsed() < Duration::from_millis(2_000),
        "every replica refuses a revoked key within a second: {:?}",
        at.elapsed()
    );
    // Stays refused.
    get(key, format!("/v1/origin/events/{mine}/orders"))
        .await
        .assert_error(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_key_create_makes_no_second_key() {
    let app = spawn_app().await;
    let create = |body: Value| {
        let app = &app;
        async move {
            let req = app
                .client
                .post(app.url("/v1/admin/api-keys"))
                .bearer_auth(&app.admin_key)
                .header("idempotency-key", "create-1")
                .json(&body);
            app.send(req).await
        }
    };
    let first = create(json!({"name": "shop"})).await;
    first.assert_status(201);
    assert!(first.body["key"].is_string());
    let again = create(json!({"name": "shop"})).await;
    again.assert_status(201);
    assert_eq!(again.body["id"], first.body["id"]);
    assert!(again.body["key"].is_null(), "the secret is shown once");
    create(json!({"name": "other"}))
        .await
        .assert_error(422, "idempotency_key_reused");
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys")
        .fetch_one(app.sql())
        .await
        .unwrap();
    assert_eq!(keys, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_postgresql_the_back_office_answers_503_and_lets_no_key_through() {
    // A gateway whose back-office pool points at a port nobody listens on.
    let app = crate::helpers::spawn_app_with(|s| {
        s.database_url = "postgres://postgres@127.0.0.1:9/anteroom".to_owned().into();
    })
    .await;
    let event = app.create_event(&open_event_spec(1, 4)).await;
    let create = app
        .send(
            app.client
                .post(app.url("/v1/admin/api-keys"))
                .bearer_auth(&app.admin_key)
                .json(&json!({"name": "k"})),
        )
        .await;
    create.assert_error(503, "unavailable").assert_retry_after();
    let key = "ak_0123456789abcdef_c2VjcmV0c2VjcmV0c2VjcmV0";
    let read = app
        .as_key(
            key,
            reqwest::Method::GET,
            &format!("/v1/origin/events/{event}/orders"),
            None,
            None,
        )
        .await;
    read.assert_error(503, "unavailable").assert_retry_after();
    // The fans' routes never touch PostgreSQL.
    let fan = app.admitted_fan(&event).await;
    hold_id(&app.hold_seats(&fan, &["A-1-1"]).await);
}
