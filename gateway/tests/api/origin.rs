//! The origin API against the real services: the venue's server confirming and
//! cancelling (idempotent, in the engine, seats back on sale), the fan's confirm refused
//! in origin checkout, the fan's `user_ref` reaching the venue, and the orders list and
//! CSV export checked against PostgreSQL read directly. API keys: `api_keys.rs`.

use crate::helpers::{eventually, open_event_spec, spawn_app, ApiResponse, TestApp};
use protocol::ids::{EventId, HoldId};
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

impl TestApp {
    /// `POST /v1/admin/api-keys` with `body`; asserts `201`, returns the body.
    pub(crate) async fn create_api_key(&self, body: Value) -> Value {
        let req = self
            .client
            .post(self.url("/v1/admin/api-keys"))
            .bearer_auth(&self.admin_key)
            .json(&body);
        let resp = self.send(req).await;
        resp.assert_status(201);
        resp.body
    }

    /// `method path` with `key` as the bearer and an optional JSON body and
    /// `Idempotency-Key`.
    pub(crate) async fn as_key(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> ApiResponse {
        let mut req = self.client.request(method, self.url(path)).bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(k) = idempotency_key {
            req = req.header("idempotency-key", k);
        }
        self.send(req).await
    }
}

fn origin_spec() -> protocol::event::EventSpec {
    let mut spec = open_event_spec(2, 4);
    spec.checkout =
        serde_json::from_value(json!({"mode": "origin", "url": "https://shop.example.com/pay"}))
            .unwrap();
    spec.currency = "KRW".parse().unwrap();
    spec
}

pub(crate) fn hold_id(resp: &ApiResponse) -> HoldId {
    resp.assert_status(201);
    resp.body["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_origin_checkout_the_fan_cannot_confirm_and_the_venues_confirm_is_idempotent() {
    let app = spawn_app().await;
    let event = app.create_event(&origin_spec()).await;
    let key = app.create_api_key(json!({"name": "box office"})).await;
    let key = key["key"].as_str().expect("the key, shown once").to_owned();
    let fan = app.admitted_fan(&event).await;
    let hold = hold_id(&app.hold_seats(&fan, &["A-1-1", "A-1-2"]).await);

    app.confirm(&hold, &fan.pass, "fan-says-paid", None)
        .await
        .assert_error(403, "forbidden");

    let read = app
        .as_key(
            &key,
            reqwest::Method::GET,
            &format!("/v1/origin/holds/{hold}"),
            None,
            None,
        )
        .await;
    read.assert_status(200);
    assert_eq!(read.body["state"], "held");
    assert_eq!(read.body["currency"], "KRW");
    assert_eq!(read.body["total_cents"], 30_000);
    assert_eq!(read.body["ticket_id"], fan.ticket_id.as_str());
    assert_eq!(read.body["seats"], json!(["A-1-1", "A-1-2"]));
    assert!(read.body["order"].is_null());

    let path = format!("/v1/origin/holds/{hold}/confirm");
    let body = json!({"payment_ref": "psp-123"});
    let confirm = || {
        app.as_key(
            &key,
            reqwest::Method::POST,
            &path,
            Some(body.clone()),
            Some("pay-1"),
        )
    };
    let first = confirm().await;
    first.assert_status(200);
    let again = confirm().await;
    again.assert_status(200);
    assert_eq!(again.body, first.body, "the same order again");
    // Without the key, a second confirm is refused as the fan's would be.
    app.as_key(&key, reqwest::Method::POST, &path, Some(body.clone()), None)
        .await
        .assert_error(409, "hold_not_active");

    let (orders, payment_ref): (i64, String) =
        sqlx::query_as("SELECT count(*), max(payment_ref) FROM orders WHERE hold_id = $1")
            .bind(hold.0)
            .fetch_one(app.sql())
            .await
            .unwrap();
    assert_eq!((orders, payment_ref.as_str()), (1, "psp-123"));
    let read = app
        .as_key(
            &key,
            reqwest::Method::GET,
            &format!("/v1/origin/holds/{hold}"),
            None,
            None,
        )
        .await;
    assert_eq!(read.body["state"], "confirmed");
    assert_eq!(read.body["order"]["id"], first.body["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_is_idempotent_and_its_seats_can_be_held_again() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(1, 4)).await;
    let key = app
        .create_api_key(json!({"name": "refunds", "events": [event]}))
        .await;
    let key = key["key"].as_str().unwrap().to_owned();
    let buyer = app.admitted_fan(&event).await;
    let hold = hold_id(&app.hold_seats(&buyer, &["A-1-1", "A-1-2"]).await);
    // In fan checkout the fan confirms.
    let order = app.confirm(&hold, &buyer.pass, "mock-1", None).await;
    order.assert_status(200);
    let order_id: Uuid = order.body["id"].as_str().unwrap().parse().unwrap();

    let late = app.admitted_fan(&event).await;
    app.hold_seats(&late, &["A-1-2"])
        .await
        .assert_error(409, "seats_unavailable");

    let path = format!("/v1/origin/orders/{order_id}/cancel");
    let first = app
        .as_key(
            &key,
            reqwest::Method::POST,
            &path,
            Some(json!({"reason": "refund"})),
            Some("c-1"),
        )
        .await;
    first.assert_status(200);
    assert!(first.body["cancelled_at"].is_string(), "{}", first.body);
    assert_eq!(first.body["seats"], json!(["A-1-1", "A-1-2"]));
    for idem in [Some("c-1"), None] {
        let again = app
            .as_key(
                &key,
                reqwest::Method::POST,
                &path,
                Some(json!({"reason": "refund"})),
                idem,
            )
            .await;
        again.assert_status(200);
        assert_eq!(
            again.body, first.body,
            "a second cancel answers the same order"
        );
    }

    let (cancelled, reason): (Option<chrono::DateTime<chrono::Utc>>, Option<String>) =
        sqlx::query_as("SELECT cancelled_at, cancel_reason FROM orders WHERE id = $1")
            .bind(order_id)
            .fetch_one(app.sql())
            .await
            .unwrap();
    assert!(cancelled.is_some());
    assert_eq!(reason.as_deref(), Some("refund"));
    let (sold, claimed): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM order_seats WHERE order_id = $1),
                (SELECT count(*) FROM seat_claims WHERE hold_id = $2)",
    )
    .bind(order_id)
    .bind(hold.0)
    .fetch_one(app.sql())
    .await
    .unwrap();
    assert_eq!((sold, claimed), (0, 0), "the seats are no longer sold");

    // The seat map (the worker's availability snapshot in Redis) shows them free.
    eventually(
        Duration::from_secs(5),
        "the cancelled seats on the map",
        || async {
            let map = app.seats(&event, &late.pass).await;
            let seats = map.body["sections"][0]["seats"].as_array()?.clone();
            let free = |id: &str| {
                seats
                    .iter()
                    .any(|s| s["id"] == id && s["status"] == "available")
            };
            (free("A-1-1") && free("A-1-2")).then_some(())
        },
    )
    .await;
    let resold = hold_id(&app.hold_seats(&late, &["A-1-1", "A-1-2"]).await);
    app.confirm(&resold, &late.pass, "mock-2", None)
        .await
        .assert_status(200);
    let owners: Vec<(String, Uuid)> = sqlx::query_as(
        "SELECT seat_id, hold_id FROM seat_claims WHERE event_id = $1 ORDER BY seat_id",
    )
    .bind(event.0)
    .fetch_all(app.sql())
    .await
    .unwrap();
    assert_eq!(
        owners,
        vec![
            ("A-1-1".to_owned(), resold.0),
            ("A-1-2".to_owned(), resold.0)
        ]
    );
}

/// `orders` columns the export is compared on.
type OrderRow = (
    Uuid,
    Uuid,
    Uuid,
    Vec<String>,
    i64,
    String,
    Option<chrono::DateTime<chrono::Utc>>,
    Option<String>,
);

/// Orders of `event` as direct SQL sees them, oldest first: the oracle of the export.
async fn orders_in_db(app: &TestApp, event: &EventId) -> Vec<Vec<String>> {
    let rows: Vec<OrderRow> = sqlx::query_as(
        "SELECT id, hold_id, ticket_id, seats, total_cents, payment_ref, cancelled_at,
                    cancel_reason
             FROM orders WHERE event_id = $1 ORDER BY id",
    )
    .bind(event.0)
    .fetch_all(app.sql())
    .await
    .unwrap();
    rows.into_iter()
        .map(
            |(id, hold, ticket, seats, total, payment_ref, cancelled, reason)| {
                vec![
                    id.to_string(),
                    hold.to_string(),
                    ticket.to_string(),
                    seats.join(" "),
                    total.to_string(),
                    payment_ref,
                    cancelled.is_some().to_string(),
                    reason.unwrap_or_default(),
                ]
            },
        )
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_csv_export_and_the_pages_equal_the_orders_in_the_database() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 4)).await;
    let key = app.create_api_key(json!({"name": "books"})).await;
    let key = key["key"].as_str().unwrap().to_owned();
    let fans = app.admitted_fans(&event, 3).await;
    let refs = ["=HYPERLINK(\"http://x\")", "plain, with \"quotes\"", "-42"];
    let mut first_order = None;
    for (i, (fan, payment_ref)) in fans.iter().zip(refs).enumerate() {
        let seat = format!("A-1-{}", i + 1);
        let hold = hold_id(&app.hold_seats(fan, &[seat.as_str()]).await);
        let o = app.confirm(&hold, &fan.pass, payment_ref, None).await;
        o.assert_status(200);
        first_order.get_or_insert(o.body["id"].as_str().unwrap().to_owned());
    }
    let order = first_order.unwrap();
    app.as_key(
        &key,
        reqwest::Method::POST,
        &format!("/v1/origin/orders/{order}/cancel"),
        Some(json!({"reason": "+chargeback"})),
        None,
    )
    .await
    .assert_status(200);
    let oracle = orders_in_db(&app, &event).await;
    assert_eq!(oracle.len(), 3);

    let resp = app
        .client
        .get(app.url(&format!("/v1/origin/events/{event}/orders.csv")))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = resp.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header[0], "order_id");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let undefuse = |s: &str| {
        s.strip_prefix('\'')
            .map(str::to_owned)
            .unwrap_or(s.to_owned())
    };
    let mut exported = Vec::new();
    for record in reader.records() {
        let r = record.unwrap();
        for cell in r.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "formula cell exported: {cell}"
            );
        }
        assert_eq!(&r[col("currency")], "USD");
        exported.push(vec![
            r[col("order_id")].to_owned(),
            r[col("hold_id")].to_owned(),
            r[col("ticket_id")].to_owned(),
            undefuse(&r[col("seats")]),
            r[col("total_cents")].to_owned(),
            undefuse(&r[col("payment_ref")]),
            (!r[col("cancelled_at")].is_empty()).to_string(),
            undefuse(&r[col("cancel_reason")]),
        ]);
    }
    assert_eq!(
        exported, oracle,
        "the CSV lists exactly the orders in PostgreSQL"
    );

    // The pages, one order each, walk the same orders with the API key.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor
            .as_ref()
            .map_or(String::new(), |c| format!("&cursor={c}"));
        let page = app
            .as_key(
                &key,
                reqwest::Method::GET,
                &format!("/v1/origin/events/{event}/orders?limit=1{q}"),
                None,
                None,
            )
            .await;
        page.assert_status(200);
        for o in page.body["orders"].as_array().unwrap() {
            paged.push(o["id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(paged.len() <= 3, "paging does not end");
    }
    let ids: Vec<String> = oracle.iter().map(|r| r[0].clone()).collect();
    assert_eq!(paged, ids);
    app.as_key(
        &key,
        reqwest::Method::GET,
        &format!("/v1/origin/events/{event}/orders?cursor=nope"),
        None,
        None,
    )
    .await
    .assert_error(422, "invalid_field");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_ref_a_pass_names_reaches_the_venue_with_the_hold_and_the_order() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(1, 4)).await;
    let key = app.create_api_key(json!({"name": "shop"})).await;
    let key = key["key"].as_str().unwrap().to_owned();
    let fan = app.admitted_fan(&event).await;
    // The pass the gateway would sign for a fan whose join carried `user_ref`.
    let mut claims = crate::helpers::tokens::payload(&fan.pass);
    claims["user_ref"] = json!("member-77");
    let pass = crate::helpers::tokens::eddsa(&app.pass_seed, &claims);
    let hold = hold_id(
        &app.hold(&event, &pass, &crate::helpers::select(&["A-1-3"]), None)
            .await,
    );
    venue_sees_user_ref(&app, &key, hold, "member-77").await;
    // The fan's own view of the hold does not show it.
    let own = app.get_hold(&hold, &pass).await;
    own.assert_status(200);
    assert!(own.body.get("user_ref").is_none(), "{}", own.body);
    app.as_key(
        &key,
        reqwest::Method::POST,
        &format!("/v1/origin/holds/{hold}/confirm"),
        Some(json!({"payment_ref": "psp-9"})),
        None,
    )
    .await
    .assert_status(200);
    let page = app
        .as_key(
            &key,
            reqwest::Method::GET,
            &format!("/v1/origin/events/{event}/orders"),
            None,
            None,
        )
        .await;
    assert_eq!(page.body["orders"][0]["user_ref"], "member-77");
}

/// The whole way of a user reference, with nothing minted by the test: a join signed by
/// the ticketing site → the queue token → the pass issued on admission → the hold → the
/// venue's read of the hold. The site's signature is made with the project's `Identity`
/// as the site would make it (HMAC with the shared secret).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_joins_user_ref_reaches_the_venue_through_the_pass() {
    use secrecy::SecretString;
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let app = crate::helpers::spawn_app_with(|s| {
        s.abuse.identity_secret = SecretString::from(secret.clone());
    })
    .await;
    let site = gateway::identity::Identity::new(&SecretString::from(secret)).unwrap();
    let event = app.create_event(&open_event_spec(1, 4)).await;
    let key = app.create_api_key(json!({"name": "shop"})).await;
    let key = key["key"].as_str().unwrap().to_owned();
    let body = json!({"user_ref": "member-1234", "user_sig": site.sign("member-1234", &event)});
    let req = app
        .client
        .post(app.url(&format!("/v1/events/{event}/queue")))
        .header("content-type", "application/json")
        .body(body.to_string());
    let joined = app.send(req).await;
    joined.assert_status(201);
    let token = joined.body["queue_token"].as_str().unwrap().to_owned();
    let fan = app.wait_admitted(&event, &token).await;
    // The pass itself names the user (its claims, read without the gateway).
    let claims = crate::helpers::tokens::payload(&fan.pass);
    assert_eq!(claims["user_ref"], "member-1234", "{claims}");
    let hold = hold_id(
        &app.hold(&event, &fan.pass, &crate::helpers::select(&["A-1-2"]), None)
            .await,
    );
    venue_sees_user_ref(&app, &key, hold, "member-1234").await;
}

/// The venue's read of `hold` with `key` names `user_ref`, and so does the hold's row
/// in PostgreSQL.
async fn venue_sees_user_ref(app: &TestApp, key: &str, hold: HoldId, user_ref: &str) {
    let read = app
        .as_key(
            key,
            reqwest::Method::GET,
            &format!("/v1/origin/holds/{hold}"),
            None,
            None,
        )
        .await;
    read.assert_status(200);
    assert_eq!(read.body["user_ref"], user_ref);
    let stored: Option<String> = sqlx::query_scalar("SELECT user_ref FROM holds WHERE id = $1")
        .bind(hold.0)
        .fetch_one(app.sql())
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(user_ref));
}
