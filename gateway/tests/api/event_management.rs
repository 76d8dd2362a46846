//! What a box office does to an event after creating it: PATCH as a merge (one admission
//! field alone, checkout, currency), postponing the opening, archiving a finished event.
//! The oracle is the worker's `events` row, read with SQL, and the values written here.

use crate::helpers::{eventually, open_event_spec, spawn_app, ApiResponse, TestApp};
use chrono::{DateTime, Duration as Span, FixedOffset, Timelike, Utc};
use protocol::ids::{EventId, HoldId};
use serde_json::{json, Value};
use std::time::Duration;

/// `(spec, admin_state, version, shuffle_commitment)` of the event's row.
async fn row(app: &TestApp, event: &EventId) -> (Value, String, i64, Option<String>) {
    sqlx::query_as(
        "SELECT spec, admin_state, version, shuffle_commitment FROM events WHERE id = $1",
    )
    .bind(event.0)
    .fetch_one(app.sql())
    .await
    .expect("the event's row")
}

/// `GET /v1/admin/events` with `query` (e.g. `?include_archived=true`).
async fn list(app: &TestApp, query: &str) -> ApiResponse {
    let req = app
        .client
        .get(app.url(&format!("/v1/admin/events{query}")))
        .bearer_auth(&app.admin_key);
    app.send(req).await
}

fn listed(list: &ApiResponse, event: &EventId) -> bool {
    list.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .any(|e| e["id"] == event.to_string())
}

/// The fields named by a `422 invalid_field`.
fn refused_fields(resp: &ApiResponse) -> Vec<String> {
    resp.assert_error(422, "invalid_field");
    resp.body["error"]["details"]["fields"]
        .as_array()
        .expect("details.fields")
        .iter()
        .map(|f| f["field"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn in_seoul(minutes_from_now: i64) -> DateTime<FixedOffset> {
    let seoul = FixedOffset::east_opt(9 * 3600).unwrap();
    (Utc::now() + Span::minutes(minutes_from_now))
        .with_timezone(&seoul)
        .with_nanosecond(0)
        .expect("0 ns is valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_is_a_merge() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;

    let patched = app
        .patch_event(&event, &json!({"admission": {"rate_per_minute": 1200}}))
        .await;
    patched.assert_status(200);
    let expected = json!({"rate_per_minute": 1200, "max_active": 5000, "pass_ttl_seconds": 600});
    assert_eq!(patched.body["admission"], expected);
    let (spec, _, version, _) = row(&app, &event).await;
    assert_eq!(spec["admission"], expected);
    assert_eq!(version, 2);

    // Origin mode needs a url: the merged event is refused and nothing changes.
    let refused = app
        .patch_event(&event, &json!({"checkout": {"mode": "origin"}}))
        .await;
    assert_eq!(refused_fields(&refused), ["checkout.url"]);
    assert_eq!(row(&app, &event).await.2, 2);
    let url = "https://shop.example.com/pay";
    app.patch_event(&event, &json!({"checkout": {"mode": "origin", "url": url}}))
        .await
        .assert_status(200);
    let (spec, ..) = row(&app, &event).await;
    assert_eq!(spec["checkout"], json!({"mode": "origin", "url": url}));

    // The currency, before any hold.
    app.patch_event(&event, &json!({"currency": "KRW"}))
        .await
        .assert_status(200);
    let (spec, ..) = row(&app, &event).await;
    assert_eq!(spec["currency"], "KRW");
    assert_eq!(spec["admission"], expected, "earlier patches stay merged");
    let public = eventually(Duration::from_millis(1500), "the public view", || async {
        let p = app.public_event(&event).await;
        (p.body["currency"] == "KRW").then_some(p)
    })
    .await;
    assert_eq!(public.body["currency_minor_units"], 0);
    assert_eq!(
        public.body["checkout"],
        json!({"mode": "origin", "url": url})
    );

    // After the first hold the currency is fixed; other fields still merge.
    app.patch_event(&event, &json!({"checkout": {"mode": "fan"}}))
        .await
        .assert_status(200);
    let fan = app.admitted_fan(&event).await;
    app.hold_seats(&fan, &["A-1-1"]).await.assert_status(201);
    let refused = app.patch_event(&event, &json!({"currency": "USD"})).await;
    assert_eq!(refused_fields(&refused), ["currency"]);
    let (spec, _, version, _) = row(&app, &event).await;
    assert_eq!((spec["currency"].as_str(), version), (Some("KRW"), 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_sale_is_postponed_before_it_opens() {
    let app = spawn_app().await;
    let mut spec = open_event_spec(2, 5);
    spec.prequeue_opens_at = Some(in_seoul(30));
    spec.opens_at = in_seoul(60);
    let event = app.create_event(&spec).await;
    let (_, _, _, commitment) = row(&app, &event).await;
    assert!(commitment.is_some());
    // A second replica that has read the event before the change.
    let second = app.spawn_ready_gateway(app.gateway_settings.clone()).await;
    let public_on = |base: String| {
        let req = app.client.get(format!("{base}/v1/events/{event}"));
        app.send(req)
    };
    public_on(second.clone()).await.assert_status(200);

    let (pq, open) = (in_seoul(24 * 60 + 30), in_seoul(24 * 60 + 60));
    let patched = app
        .patch_event(
            &event,
            &json!({"opens_at": open.to_rfc3339(), "prequeue_opens_at": pq.to_rfc3339()}),
        )
        .await;
    patched.assert_status(200);
    let (spec_row, _, _, commitment_after) = row(&app, &event).await;
    let stored = |field: &str| {
        DateTime::parse_from_rfc3339(spec_row[field].as_str().expect("a time")).expect("RFC 3339")
    };
    assert_eq!(
        (stored("prequeue_opens_at"), stored("opens_at")),
        (pq, open)
    );
    assert_eq!(
        commitment_after, commitment,
        "the lottery keeps its commitment"
    );
    for base in [app.address.clone(), second] {
        eventually(Duration::from_millis(1500), "the new times", || async {
            let p = public_on(base.clone()).await;
            let at = |f: &str| {
                p.body[f]
                    .as_str()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            };
            (at("opens_at") == Some(open) && at("prequeue_opens_at") == Some(pq)).then_some(())
        })
        .await;
    }

    // Into the past, or the pre-queue after the opening: refused, nothing moves.
    let past = app
        .patch_event(&event, &json!({"opens_at": in_seoul(-5).to_rfc3339()}))
        .await;
    assert!(refused_fields(&past).contains(&"opens_at".to_owned()));
    let late = app
        .patch_event(
            &event,
            &json!({"prequeue_opens_at": in_seoul(3 * 24 * 60).to_rfc3339()}),
        )
        .await;
    assert_eq!(refused_fields(&late), ["prequeue_opens_at"]);
    let (spec_row, _, version, _) = row(&app, &event).await;
    assert_eq!(version, 2);
    assert_eq!(
        DateTime::parse_from_rfc3339(spec_row["opens_at"].as_str().unwrap()).unwrap(),
        open
    );

    // An event that has opened cannot be postponed.
    let opened = app.create_event(&open_event_spec(1, 1)).await;
    let refused = app
        .patch_event(&opened, &json!({"opens_at": in_seoul(60).to_rfc3339()}))
        .await;
    assert_eq!(refused_fields(&refused), ["opens_at"]);
    assert_eq!(row(&app, &opened).await.2, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_event_is_archived_and_its_orders_stay() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    let hold = app.hold_seats(&fan, &["A-1-1", "A-1-2"]).await;
    hold.assert_status(201);
    let hold_id: HoldId = hold.body["id"].as_str().unwrap().parse().unwrap();
    app.confirm(&hold_id, &fan.pass, "pay-1", Some("k-1"))
        .await
        .assert_status(200);

    // Still on sale: refused.
    let refused = app.patch_event(&event, &json!({"state": "archived"})).await;
    assert_eq!(refused_fields(&refused), ["state"]);
    app.patch_event(&event, &json!({"state": "closed"}))
        .await
        .assert_status(200);
    let archived = app.patch_event(&event, &json!({"state": "archived"})).await;
    archived.assert_status(200);
    assert_eq!(archived.body["admin_state"], "archived");
    assert_eq!(archived.body["state"], "closed");
    let (_, admin_state, version, _) = row(&app, &event).await;
    assert_eq!((admin_state.as_str(), version), ("archived", 3));
    // Asked again: the same event, unchanged.
    let again = app.patch_event(&event, &json!({"state": "archived"})).await;
    again.assert_status(200);
    assert_eq!(again.body["version"], 3);
    // Final.
    let reopen = app.patch_event(&event, &json!({"state": "open"})).await;
    assert_eq!(refused_fields(&reopen), ["state"]);

    // Out of the default list, in the full one; the queue stays closed.
    let other = app.create_event(&open_event_spec(1, 1)).await;
    let default = eventually(Duration::from_millis(1500), "the list", || async {
        let l = list(&app, "").await;
        (l.status == 200 && !listed(&l, &event)).then_some(l)
    })
    .await;
    assert!(listed(&default, &other));
    let all = list(&app, "?include_archived=true").await;
    all.assert_status(200);
    assert!(listed(&all, &event) && listed(&all, &other));
    list(&app, "?include_archived=maybe")
        .await
        .assert_error(422, "invalid_field");
    app.join(&event).await.assert_error(409, "queue_closed");

    // The order is still there, as confirmed.
    let orders: Vec<(i64,)> = sqlx::query_as("SELECT total_cents FROM orders WHERE event_id = $1")
        .bind(event.0)
        .fetch_all(app.sql())
        .await
        .unwrap();
    assert_eq!(orders, [(30_000,)]);
}
