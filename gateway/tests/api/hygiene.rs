//! Every string field of every request body, and the `Idempotency-Key` header: a NUL,
//! a lone surrogate escape or an over-long value is `422 invalid_field` naming the field
//! (message and `details.field`); right-to-left text and emoji are accepted wherever
//! the field takes more than ASCII, and stored as sent (read back from PostgreSQL).

use crate::helpers::{open_event_spec, spawn_app, spawn_app_with, ApiResponse};
use gateway::identity::Identity;
use secrecy::SecretString;
use serde_json::{json, Value};

/// Stands for a lone surrogate in a JSON body: replaced by the escape `\ud800`.
const LONE: &str = "@@LONE@@";

/// An `Idempotency-Key` of 256 characters (one too many).
const LONG_KEY: &str = concat!(
    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
);

const RTL_AND_EMOJI: &str = "קונצרט חורף · حفلة 🎻🎟️";

/// `value` serialized, with [`LONE`] swapped for a lone surrogate escape.
fn raw(value: &Value) -> String {
    value.to_string().replace(LONE, r"\ud800")
}

/// Asserts `422 invalid_field` naming `field` in the message and `details.field`.
#[track_caller]
fn refused(resp: &ApiResponse, field: &str, what: &str) {
    resp.assert_error(422, "invalid_field");
    let message = resp.body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("{field}: ")),
        "{what}: message does not start with {field}: {message}"
    );
    assert_eq!(
        resp.body["error"]["details"]["field"], field,
        "{what}: {}",
        resp.body
    );
}

fn spec_with(path: &[&str], value: Value) -> Value {
    let mut v = serde_json::to_value(open_event_spec(1, 2)).unwrap();
    let mut at = &mut v;
    for key in &path[..path.len() - 1] {
        at = match key.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => &mut at[*key],
        };
    }
    at[path[path.len() - 1]] = value;
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_fields_refuse_unstorable_text() {
    let app = spawn_app().await;
    let fields: [(&[&str], &str, usize); 4] = [
        (&["name"], "name", 200),
        (&["venue"], "venue", 200),
        (&["timezone"], "timezone", 64),
        (
            &["seating", "sections", "0", "name"],
            "seating.sections[0].name",
            16,
        ),
    ];
    for (path, field, max) in fields {
        let nul = spec_with(path, json!("bad\u{0}text"));
        refused(&app.create_event_raw(raw(&nul)).await, field, "NUL");
        let lone = spec_with(path, json!(format!("bad{LONE}")));
        refused(
            &app.create_event_raw(raw(&lone)).await,
            field,
            "lone surrogate",
        );
        let long = spec_with(path, json!("x".repeat(max + 1)));
        refused(&app.create_event_raw(raw(&long)).await, field, "over-long");
        let tab = spec_with(path, json!("a\tb"));
        refused(&app.create_event_raw(raw(&tab)).await, field, "tab");
    }
    // Broken JSON stays 400.
    app.create_event_raw(r#"{"name": "x\ud800"#)
        .await
        .assert_error(400, "invalid_json");

    // Right-to-left text and emoji are names and venues, stored as sent.
    let mut spec = serde_json::to_value(open_event_spec(1, 2)).unwrap();
    spec["name"] = json!(RTL_AND_EMOJI);
    spec["venue"] = json!("אולם 🎤");
    let created = app.create_event_raw(spec.to_string()).await;
    created.assert_status(201);
    let id: uuid::Uuid = created.body["id"].as_str().unwrap().parse().unwrap();
    let (name, venue): (String, String) =
        sqlx::query_as("SELECT spec->>'name', spec->>'venue' FROM events WHERE id = $1")
            .bind(id)
            .fetch_one(app.sql())
            .await
            .unwrap();
    assert_eq!((name.as_str(), venue.as_str()), (RTL_AND_EMOJI, "אולם 🎤"));

    // PATCH has no free text; a NUL in its enum is a named field error too.
    let patch = app
        .patch_event(&id.into(), &json!({"state": "open\u{0}"}))
        .await;
    refused(&patch, "state", "NUL in state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_and_confirm_fields_refuse_unstorable_text() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    let hold = |body: Value, key: Option<&'static str>| {
        app.hold_raw(&app.address, &event, &fan.pass, raw(&body), key)
    };

    refused(
        &hold(json!({"seats": ["A-1-1", "A-1-\u{0}"]}), None).await,
        "seats[1]",
        "NUL seat",
    );
    refused(
        &hold(json!({ "seats": [format!("A-1-{LONE}")] }), None).await,
        "seats[0]",
        "lone surrogate seat",
    );
    refused(
        &hold(json!({"seats": ["A".repeat(41)]}), None).await,
        "seats[0]",
        "over-long seat",
    );
    refused(
        &hold(json!({"seats": [RTL_AND_EMOJI]}), None).await,
        "seats[0]",
        "seat ids are ASCII",
    );
    refused(
        &hold(json!({"section": "A\u{0}", "quantity": 1}), None).await,
        "section",
        "NUL section",
    );
    refused(
        &hold(json!({"section": LONE, "quantity": 1}), None).await,
        "section",
        "lone surrogate section",
    );
    refused(
        &hold(json!({"section": "S".repeat(17), "quantity": 1}), None).await,
        "section",
        "over-long section",
    );

    // The Idempotency-Key header: printable ASCII, 1–255 characters.
    let seats = json!({"seats": ["A-1-1"]});
    for (key, what) in [("a\tb", "tab"), ("", "empty"), (LONG_KEY, "over-long")] {
        refused(
            &hold(seats.clone(), Some(key)).await,
            "Idempotency-Key",
            what,
        );
    }
    let utf8 = app
        .client
        .post(app.url(&format!("/v1/events/{event}/holds")))
        .bearer_auth(&fan.pass)
        .header(
            "idempotency-key",
            reqwest::header::HeaderValue::from_bytes("ключ".as_bytes()).unwrap(),
        )
        .json(&seats);
    refused(&app.send(utf8).await, "Idempotency-Key", "non-ASCII key");
    assert_eq!(LONG_KEY.len(), 256);

    // Nothing above held a seat: the fan holds A-1-1 now, with a valid key.
    let held = hold(seats, Some("k-1")).await;
    held.assert_status(201);
    let hold_id: protocol::ids::HoldId = held.body["id"].as_str().unwrap().parse().unwrap();

    for (payment_ref, what) in [
        ("pay\u{0}ref".to_string(), "NUL"),
        (format!("pay{LONE}"), "lone surrogate"),
        ("p".repeat(201), "over-long"),
        ("pay\nref".to_string(), "newline"),
    ] {
        let req = app
            .client
            .post(app.url(&format!("/v1/holds/{hold_id}/confirm")))
            .bearer_auth(&fan.pass)
            .header("content-type", "application/json")
            .body(raw(&json!({ "payment_ref": payment_ref })));
        refused(&app.send(req).await, "payment_ref", what);
    }
    // Right-to-left text and emoji are a payment reference, stored as sent.
    let order = app.confirm(&hold_id, &fan.pass, RTL_AND_EMOJI, None).await;
    order.assert_status(200);
    let stored: String = sqlx::query_scalar("SELECT payment_ref FROM orders WHERE hold_id = $1")
        .bind(hold_id.0)
        .fetch_one(app.sql())
        .await
        .unwrap();
    assert_eq!(stored, RTL_AND_EMOJI);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_refs_refuse_unstorable_text() {
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let app =
        spawn_app_with(|s| s.abuse.identity_secret = SecretString::from(secret.clone())).await;
    let site = Identity::new(&SecretString::from(secret)).unwrap();
    let event = app.create_event(&open_event_spec(1, 2)).await;
    let join = |body: String| {
        let req = app
            .client
            .post(app.url(&format!("/v1/events/{event}/queue")))
            .header("content-type", "application/json")
            .body(body);
        app.send(req)
    };
    for (user, what) in [
        ("al\u{0}ice".to_string(), "NUL"),
        (format!("al{LONE}"), "lone surrogate"),
        ("u".repeat(257), "over-long"),
    ] {
        let body = json!({"user_ref": user, "user_sig": "00"});
        refused(&join(raw(&body)).await, "user_ref", what);
    }
    let body = json!({"user_ref": RTL_AND_EMOJI, "user_sig": site.sign(RTL_AND_EMOJI, &event)});
    join(body.to_string()).await.assert_status(201);
}
