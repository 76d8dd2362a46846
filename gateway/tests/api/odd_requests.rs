//! Odd requests of every kind get a `4xx` with the docs/API.md JSON error body (never a
//! `5xx`, never a bare text body): content types, empty and non-UTF-8 bodies, mixed
//! seat forms, empty keys, credential mix-ups, unknown routes and unknown fields.

use crate::helpers::{open_event_spec, spawn_app};
use reqwest::RequestBuilder;
use serde_json::{json, Value};

/// Error codes docs/API.md lists for 4xx answers.
const CLIENT_CODES: &[&str] = &[
    "invalid_json",
    "invalid_field",
    "unauthorized",
    "forbidden",
    "not_found",
    "payload_too_large",
    "queue_closed",
    "sold_out",
    "seats_unavailable",
    "idempotency_key_reused",
    "hold_expired",
    "hold_not_active",
    "rate_limited",
];

/// The exact status and code, or `None` for any API client error.
type Expected = Option<(u16, &'static str)>;

fn spec_with(path: &[&str], value: Value) -> Value {
    let mut v = serde_json::to_value(open_event_spec(1, 1)).unwrap();
    let mut at = &mut v;
    for key in &path[..path.len() - 1] {
        at = if let Ok(i) = key.parse::<usize>() {
            &mut at[i]
        } else {
            &mut at[*key]
        };
    }
    at[path[path.len() - 1]] = value;
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_requests_get_a_json_client_error() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    let c = &app.client;
    let holds = app.url(&format!("/v1/events/{event}/holds"));
    let seats = app.url(&format!("/v1/events/{event}/seats"));
    let confirm = app.url(&format!("/v1/holds/{}/confirm", uuid::Uuid::now_v7()));
    let admin = |req: RequestBuilder| req.bearer_auth(&app.admin_key);
    let create = || admin(c.post(app.url("/v1/admin/events")));
    let pass = |req: RequestBuilder| req.bearer_auth(&fan.pass);
    let seat_body = r#"{"seats":["A-1-1"]}"#;

    let cases: Vec<(&str, RequestBuilder, Expected)> = vec![
        (
            "no content-type",
            pass(c.post(&holds)).body(seat_body),
            Some((400, "invalid_json")),
        ),
        (
            "text/plain",
            pass(c.post(&holds))
                .header("content-type", "text/plain")
                .body(seat_body),
            Some((400, "invalid_json")),
        ),
        (
            "empty body",
            pass(c.post(&holds)).header("content-type", "application/json"),
            Some((400, "invalid_json")),
        ),
        (
            "non-UTF-8 body",
            pass(c.post(&holds))
                .header("content-type", "application/json")
                .body(vec![0xff, 0xfe, 0x7b]),
            Some((400, "invalid_json")),
        ),
        (
            "quantity 0",
            pass(c.post(&holds)).json(&json!({"section": "A", "quantity": 0})),
            Some((422, "invalid_field")),
        ),
        (
            "quantity -1",
            pass(c.post(&holds)).json(&json!({"section": "A", "quantity": -1})),
            Some((422, "invalid_field")),
        ),
        (
            "seats as a string",
            pass(c.post(&holds)).json(&json!({"seats": "A-1-1"})),
            Some((422, "invalid_field")),
        ),
        (
            "both seat forms",
            pass(c.post(&holds)).json(&json!({"seats": ["A-1-1"], "section": "A", "quantity": 1})),
            Some((422, "invalid_field")),
        ),
        (
            "empty Idempotency-Key",
            pass(c.post(&holds))
                .header("idempotency-key", "")
                .json(&json!({"seats": ["A-1-1"]})),
            Some((422, "invalid_field")),
        ),
        (
            "pass without Bearer",
            c.get(&seats).header("authorization", fan.pass.clone()),
            Some((401, "unauthorized")),
        ),
        (
            "basic auth",
            c.get(&seats).basic_auth("fan", Some("secret")),
            Some((401, "unauthorized")),
        ),
        (
            "admin key as a pass",
            admin(c.get(&seats)),
            Some((401, "unauthorized")),
        ),
        (
            "pass as the admin key",
            pass(c.get(app.url(&format!("/v1/admin/events/{event}")))),
            Some((401, "unauthorized")),
        ),
        (
            "confirm without body",
            pass(c.post(&confirm)).header("content-type", "application/json"),
            Some((400, "invalid_json")),
        ),
        (
            "confirm without payment_ref",
            pass(c.post(&confirm)).json(&json!({})),
            Some((422, "invalid_field")),
        ),
        (
            "confirm with empty payment_ref",
            pass(c.post(&confirm)).json(&json!({"payment_ref": ""})),
            Some((422, "invalid_field")),
        ),
        (
            "patch with unknown field",
            admin(c.patch(app.url(&format!("/v1/admin/events/{event}"))))
                .json(&json!({"colour": "red"})),
            Some((422, "invalid_field")),
        ),
        (
            "create with unknown field",
            create().json(&spec_with(&["colour"], json!("red"))),
            Some((422, "invalid_field")),
        ),
        (
            "pre-queue after opens_at",
            create().json(&spec_with(
                &["prequeue_opens_at"],
                json!("2099-01-01T00:00:00Z"),
            )),
            Some((422, "invalid_field")),
        ),
        (
            "over 200000 seats",
            create().json(&serde_json::to_value(open_event_spec(1000, 1000)).unwrap()),
            Some((422, "invalid_field")),
        ),
        (
            "section name with '-'",
            create().json(&spec_with(
                &["seating", "sections", "0", "name"],
                json!("A-B"),
            )),
            Some((422, "invalid_field")),
        ),
        (
            "blank name",
            create().json(&spec_with(&["name"], json!("  "))),
            Some((422, "invalid_field")),
        ),
        (
            "offset +25:00",
            create().json(&spec_with(
                &["opens_at"],
                json!("2026-12-01T20:00:00+25:00"),
            )),
            Some((422, "invalid_field")),
        ),
        (
            "JSON array body",
            create()
                .header("content-type", "application/json")
                .body("[]"),
            Some((422, "invalid_field")),
        ),
        (
            "hold_ttl 9 s",
            create().json(&spec_with(&["hold_ttl_seconds"], json!(9))),
            Some((422, "invalid_field")),
        ),
        (
            "pass_ttl 29 s",
            create().json(&spec_with(&["admission", "pass_ttl_seconds"], json!(29))),
            Some((422, "invalid_field")),
        ),
        (
            "unknown route",
            c.get(app.url("/v1/nothing")),
            Some((404, "not_found")),
        ),
        (
            "malformed event id",
            c.get(app.url("/v1/events/not-a-uuid")),
            None,
        ),
        (
            "malformed request id",
            pass(c.get(app.url("/v1/requests/xyz"))),
            None,
        ),
        (
            "PUT on an event",
            c.put(app.url(&format!("/v1/events/{event}"))),
            None,
        ),
    ];
    for (name, req, expected) in cases {
        let r = app.send(req).await;
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{name}: {} {}",
            r.status,
            r.body
        );
        match expected {
            Some((status, code)) => {
                assert_eq!((r.status, r.code()), (status, code), "{name}: {}", r.body);
            }
            None => {
                assert!(
                    (400..500).contains(&r.status),
                    "{name}: {} {}",
                    r.status,
                    r.body
                );
                assert!(CLIENT_CODES.contains(&r.code()), "{name}: {}", r.body);
            }
        }
        assert!(r.body["error"]["message"].is_string(), "{name}: {}", r.body);
    }
}
