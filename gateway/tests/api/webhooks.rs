//! The venue's webhook endpoints (admin key), checked against the rows in PostgreSQL:
//! create (secret shown once, Idempotency-Key replays), list without secrets, rotate
//! (both secrets sign for the grace period), deliveries with cursor paging and states,
//! redelivery requests, delete; bad input gets the JSON error body.

use crate::helpers::{eventually, open_event_spec, spawn_app, ApiResponse, TestApp};
use serde_json::{json, Value};
use std::time::Duration;
use utoipa::OpenApi;
use uuid::Uuid;

impl TestApp {
    async fn webhooks(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> ApiResponse {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(&self.admin_key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_created_listed_rotated_and_deleted() {
    let app = spawn_app().await;
    use reqwest::Method;
    // A port nobody listens on: deliveries stay pending with failed attempts.
    let url = "http://127.0.0.1:9/hooks";
    let created = app
        .webhooks(
            Method::POST,
            "/v1/admin/webhooks",
            Some(json!({"url": url})),
        )
        .await;
    created.assert_status(201);
    let id: Uuid = created.body["id"].as_str().unwrap().parse().unwrap();
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let (stored_url, stored_secret): (String, String) =
        sqlx::query_as("SELECT url, secret FROM webhook_endpoints WHERE id = $1")
            .bind(id)
            .fetch_one(app.sql())
            .await
            .unwrap();
    assert_eq!(
        (stored_url.as_str(), stored_secret.as_str()),
        (url, secret.as_str())
    );

    // Listed without the secret.
    let list = app.webhooks(Method::GET, "/v1/admin/webhooks", None).await;
    list.assert_status(200);
    assert_eq!(list.body["webhooks"].as_array().unwrap().len(), 1);
    assert!(list.body["webhooks"][0].get("secret").is_none());

    // Bad input: the JSON error body, nothing stored.
    for bad in [
        json!({"url": "ftp://shop.example/x"}),
        json!({"url": "http://shop.example/x"}),
        json!({"url": url, "types": ["order.shipped"]}),
        json!({"url": url, "types": []}),
        json!({"url": url, "event_id": Uuid::now_v7()}),
        json!({"url": url, "colour": "red"}),
    ] {
        app.webhooks(Method::POST, "/v1/admin/webhooks", Some(bad.clone()))
            .await
            .assert_error(422, "invalid_field");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints")
        .fetch_one(app.sql())
        .await
        .unwrap();
    assert_eq!(count, 1);

    // Idempotency-Key: the same request gets the same endpoint; another is refused.
    let keyed = |body: Value| {
        app.client
            .post(app.url("/v1/admin/webhooks"))
            .bearer_auth(&app.admin_key)
            .header("idempotency-key", "create-orders-hook")
            .json(&body)
    };
    let body = json!({"url": "https://shop.example/orders", "types": ["order.confirmed"]});
    let first = app.send(keyed(body.clone())).await;
    first.assert_status(201);
    let again = app.send(keyed(body)).await;
    again.assert_status(201);
    assert_eq!(first.body, again.body);
    app.send(keyed(json!({"url": "https://shop.example/other"})))
        .await
        .assert_error(422, "idempotency_key_reused");
    assert_eq!(first.body["types"], json!(["order.confirmed"]));

    // A decision after the endpoints exist: the state change goes to the catch-all
    // endpoint, not to the order.confirmed one.
    let event = app.create_event(&open_event_spec(1, 4)).await;
    app.patch_event(&event, &json!({"state": "paused"}))
        .await
        .assert_status(200);
    let path = format!("/v1/admin/webhooks/{id}/deliveries");
    let page = eventually(Duration::from_secs(15), "a failed attempt", || async {
        let page = app.webhooks(Method::GET, &path, None).await;
        let attempts = page.body["deliveries"][0]["attempts"].as_i64().unwrap_or(0);
        (attempts >= 1).then_some(page)
    })
    .await;
    page.assert_status(200);
    let delivery = &page.body["deliveries"][0];
    assert_eq!(delivery["type"], "event.state_changed");
    assert_eq!(delivery["state"], "pending");
    assert!(delivery["last_error"].is_string());
    let (message, seq): (Uuid, i64) = sqlx::query_as(
        "SELECT message_id, seq FROM webhook_deliveries WHERE id = $1 AND endpoint_id = $2",
    )
    .bind(delivery["id"].as_str().unwrap().parse::<Uuid>().unwrap())
    .bind(id)
    .fetch_one(app.sql())
    .await
    .unwrap();
    assert_eq!(delivery["webhook_id"], format!("msg_{}", message.simple()));
    assert_eq!(delivery["sequence"], seq);
    let orders_only: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
         WHERE w.creation_key IS NOT NULL",
    )
    .fetch_one(app.sql())
    .await
    .unwrap();
    assert_eq!(
        orders_only, 0,
        "the order.confirmed endpoint got a state change"
    );
    app.webhooks(Method::GET, &format!("{path}?state=delivered"), None)
        .await
        .body["deliveries"]
        .as_array()
        .map(|d| assert!(d.is_empty()))
        .unwrap();
    // Cursor paging, newest first, against the rows.
    app.patch_event(&event, &json!({"state": "open"}))
        .await
        .assert_status(200);
    let all: Vec<(Uuid,)> = eventually(Duration::from_secs(15), "two deliveries", || async {
        let rows: Vec<(Uuid,)> = sqlx::query_as(
            "SELECT id FROM webhook_deliveries WHERE endpoint_id = $1
             ORDER BY created_at DESC, id DESC",
        )
        .bind(id)
        .fetch_all(app.sql())
        .await
        .unwrap();
        (rows.len() == 2).then_some(rows)
    })
    .await;
    let first_page = app
        .webhooks(Method::GET, &format!("{path}?limit=1"), None)
        .await;
    first_page.assert_status(200);
    assert_eq!(first_page.body["deliveries"][0]["id"], all[0].0.to_string());
    let cursor = first_page.body["next_cursor"].as_str().unwrap();
    let second_page = app
        .webhooks(
            Method::GET,
            &format!("{path}?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(
        second_page.body["deliveries"][0]["id"],
        all[1].0.to_string()
    );
    assert!(second_page.body["next_cursor"].is_null());
    app.webhooks(Method::GET, &format!("{path}?state=lost"), None)
        .await
        .assert_error(422, "invalid_field");
    app.webhooks(Method::GET, &format!("{path}?cursor=nonsense"), None)
        .await
        .assert_error(422, "invalid_field");

    // Redelivery: a request row for the worker; unknown deliveries are 404.
    let redeliver = format!("{path}/{}/redeliver", delivery["id"].as_str().unwrap());
    app.webhooks(Method::POST, &redeliver, None)
        .await
        .assert_status(202);
    app.webhooks(
        Method::POST,
        &format!("{path}/{}/redeliver", Uuid::now_v7()),
        None,
    )
    .await
    .assert_error(404, "not_found");

    // Rotation: a new secret, the old one still signing for a day.
    let rotated = app
        .webhooks(
            Method::POST,
            &format!("/v1/admin/webhooks/{id}/rotate-secret"),
            None,
        )
        .await;
    rotated.assert_status(200);
    let new_secret = rotated.body["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let (now_secret, previous): (String, Option<String>) =
        sqlx::query_as("SELECT secret, previous_secret FROM webhook_endpoints WHERE id = $1")
            .bind(id)
            .fetch_one(app.sql())
            .await
            .unwrap();
    assert_eq!(
        (now_secret.as_str(), previous.as_deref()),
        (new_secret, Some(secret.as_str()))
    );
    assert!(rotated.body["previous_secret_valid_until"].is_string());

    // Delete: gone from the list, history still readable, a second delete is 404.
    let one = format!("/v1/admin/webhooks/{id}");
    app.webhooks(Method::DELETE, &one, None)
        .await
        .assert_status(204);
    app.webhooks(Method::DELETE, &one, None)
        .await
        .assert_error(404, "not_found");
    let list = app.webhooks(Method::GET, "/v1/admin/webhooks", None).await;
    assert_eq!(list.body["webhooks"].as_array().unwrap().len(), 1);
    app.webhooks(Method::GET, &path, None)
        .await
        .assert_status(200);
    app.webhooks(
        Method::GET,
        "/v1/admin/webhooks/not-a-uuid/deliveries",
        None,
    )
    .await
    .assert_error(404, "not_found");
    // Without the admin key: 401.
    app.send(app.client.get(app.url("/v1/admin/webhooks")))
        .await
        .assert_error(401, "unauthorized");
}

#[test]
fn the_types_an_endpoint_may_choose_are_the_types_the_worker_sends() {
    let doc = serde_json::to_value(gateway::http::openapi::ApiDoc::openapi()).unwrap();
    let listed: Vec<&str> = doc["components"]["schemas"]["WebhookType"]["enum"]
        .as_array()
        .expect("WebhookType is an enum")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut sent = worker::webhooks::payload::TYPES.to_vec();
    let mut chosen = listed.clone();
    sent.sort_unstable();
    chosen.sort_unstable();
    assert_eq!(chosen, sent);
}
