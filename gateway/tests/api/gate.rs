//! Gate mode against the real services: the `gate` setting (create, PATCH, validation),
//! the hand-off `GET /e/{id}/enter`, and the check `/v1/gate/check` with the pass from
//! each place a proxy puts it. Refusals: `gate_refusals.rs`; revocation:
//! `gate_revoke.rs`.

use crate::helpers::{open_event_spec, spawn_app, ApiResponse, Fan, TestApp};
use protocol::event::EventSpec;
use serde_json::json;

pub(crate) const TARGET: &str = "https://shop.example.com/tickets?lang=ko";

/// An open event gated to [`TARGET`], cookies for `example.com`.
pub(crate) fn gated_spec() -> EventSpec {
    let mut spec = open_event_spec(2, 5);
    spec.gate = Some(
        serde_json::from_value(json!({"target_url": TARGET, "cookie_domain": "example.com"}))
            .unwrap(),
    );
    spec
}

/// A client that does not follow redirects.
pub(crate) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl TestApp {
    /// `GET {base}/v1/gate/check{suffix}` with `headers`.
    pub(crate) async fn gate_check(
        &self,
        base: &str,
        suffix: &str,
        headers: &[(&str, &str)],
    ) -> ApiResponse {
        let mut req = self.client.get(format!("{base}/v1/gate/check{suffix}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }
}

/// Asserts a `204` naming `fan`'s event, ticket and pass expiry, not to be cached.
#[track_caller]
fn assert_admits(resp: &ApiResponse, fan: &Fan) {
    resp.assert_status(204);
    assert_eq!(
        resp.header("x-anteroom-event"),
        Some(&*fan.event_id.to_string())
    );
    assert_eq!(
        resp.header("x-anteroom-ticket"),
        Some(fan.ticket_id.as_str())
    );
    let expires = resp
        .header("x-anteroom-pass-expires")
        .expect("expiry header");
    let expires = chrono::DateTime::parse_from_rfc3339(expires).expect("RFC 3339");
    assert_eq!(expires.timestamp(), fan.pass_expires_at.timestamp());
    assert_eq!(resp.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn the_gate_is_set_replaced_removed_and_validated() {
    let app = spawn_app().await;
    let event = app.create_event(&gated_spec()).await;
    let admin = app.admin_event(&event).await;
    assert_eq!(
        admin.body["gate"],
        json!({"target_url": TARGET, "cookie_domain": "example.com"})
    );
    assert_eq!(
        app.public_event(&event).await.body["gate"]["target_url"],
        TARGET
    );

    let patched = app
        .patch_event(
            &event,
            &json!({"gate": {"target_url": "https://shop.example.org/"}}),
        )
        .await;
    patched.assert_status(200);
    assert_eq!(
        patched.body["gate"],
        json!({"target_url": "https://shop.example.org/"})
    );
    let removed = app.patch_event(&event, &json!({"gate": null})).await;
    removed.assert_status(200);
    assert!(removed.body.get("gate").is_none(), "{}", removed.body);
    assert_eq!(app.public_event(&event).await.body["gate"], json!(null));

    for bad in [
        json!({"target_url": "http://shop.example.com/"}),
        json!({"target_url": "not a url"}),
        json!({"target_url": TARGET, "cookie_domain": "exa mple.com"}),
        json!({"target_url": TARGET, "cookie_domain": "example.com/x"}),
        json!({"cookie_domain": "example.com"}),
    ] {
        app.patch_event(&event, &json!({ "gate": bad }))
            .await
            .assert_error(422, "invalid_field");
        let mut body = serde_json::to_value(open_event_spec(1, 1)).unwrap();
        body["gate"] = bad.clone();
        app.create_event_raw(body.to_string())
            .await
            .assert_error(422, "invalid_field");
    }
    // Still ungated after the refused changes.
    assert!(app.admin_event(&event).await.body.get("gate").is_none());
}

#[tokio::test]
async fn enter_hands_the_pass_to_the_target_and_honours_return_on_its_origin_only() {
    let app = spawn_app().await;
    let event = app.create_event(&gated_spec()).await;
    let fan = app.admitted_fan(&event).await;
    let client = no_redirects();
    let enter = |query: &str, cookie: String| {
        client
            .get(app.url(&format!("/e/{event}/enter{query}")))
            .header("cookie", cookie)
            .send()
    };
    let with_pass = format!("anteroom_pass={}", fan.pass);
    let r = enter("", with_pass.clone()).await.unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap();
    assert_eq!(location, format!("{TARGET}&anteroom_pass={}", fan.pass));
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with(&format!("anteroom_pass={};", fan.pass)),
        "{cookie}"
    );
    for attr in ["Domain=example.com", "Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }

    let same = "https%3A%2F%2Fshop.example.com%2Fcart%3Fitem%3D3";
    let r = enter(&format!("?return={same}"), with_pass.clone())
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap();
    assert_eq!(
        location,
        format!(
            "https://shop.example.com/cart?item=3&anteroom_pass={}",
            fan.pass
        )
    );
    let r = enter("?return=https%3A%2F%2Fevil.example.net%2F", with_pass)
        .await
        .unwrap();
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with(TARGET));

    // Only the queue token: the pass of the admitted fan's status.
    let r = enter("", format!("anteroom_queue={}", fan.queue_token))
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("{TARGET}&anteroom_pass={}", fan.pass)
    );
    // No credential: back to the queue page, keeping return.
    let r = enter(&format!("?return={same}"), String::new())
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("/e/{event}?return={same}")
    );
    // An event without a gate: the queue page.
    let plain = app.create_event(&open_event_spec(1, 1)).await;
    let r = client
        .get(app.url(&format!("/e/{plain}/enter")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("/e/{plain}")
    );
}

#[tokio::test]
async fn the_check_finds_the_pass_where_each_proxy_puts_it() {
    let app = spawn_app().await;
    let event = app.create_event(&gated_spec()).await;
    let fan = app.admitted_fan(&event).await;
    let (e, base) = (event.to_string(), app.address.clone());
    let bearer = format!("Bearer {}", fan.pass);
    let cookie = format!("other=1; anteroom_pass={}", fan.pass);
    let in_query = format!("/tickets/cart?x=1&anteroom_pass={}", fan.pass);

    let r = app
        .gate_check(
            &base,
            "",
            &[("x-anteroom-event", &e), ("authorization", &bearer)],
        )
        .await;
    assert_admits(&r, &fan);
    assert!(
        r.header("set-cookie").is_none(),
        "no cookie for a bearer pass"
    );
    let r = app
        .gate_check(&base, &format!("?event={e}"), &[("cookie", &cookie)])
        .await;
    assert_admits(&r, &fan);
    // nginx: the original URI's query carries the pass; the check sets the cookie.
    let r = app
        .gate_check(
            &base,
            "",
            &[
                ("x-anteroom-event", &e),
                ("x-original-uri", &in_query),
                ("x-forwarded-proto", "https"),
            ],
        )
        .await;
    assert_admits(&r, &fan);
    let set = r
        .header("set-cookie")
        .expect("a cookie for a pass from the query");
    assert!(
        set.starts_with(&format!("anteroom_pass={};", fan.pass)),
        "{set}"
    );
    for attr in [
        "Domain=example.com",
        "Path=/",
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Max-Age=",
    ] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    // Traefik.
    let r = app
        .gate_check(
            &base,
            "",
            &[("x-anteroom-event", &e), ("x-forwarded-uri", &in_query)],
        )
        .await;
    assert_admits(&r, &fan);
    assert!(
        !r.header("set-cookie").unwrap().contains("Secure"),
        "plain HTTP"
    );
    // Envoy: the original path below the check's, any method.
    let r = app
        .send(
            app.client
                .post(format!("{base}/v1/gate/check{in_query}"))
                .header("x-anteroom-event", &e),
        )
        .await;
    assert_admits(&r, &fan);
    assert!(r.header("set-cookie").is_some());
}
