//! Gate mode through a real nginx: the shipped template (deploy/gate/nginx/) started by
//! deploy/gate/run-nginx.sh, between a browser-like client and a shop that records every
//! request reaching it, with the real gateway answering nginx's checks. The shop's own
//! record is the oracle: who got through, with which ticket, and that the hand-off's pass
//! never reached it. Also the pass verifiers of deploy/gate/verify, run as a shop would,
//! against the same gateway's JWKS.
//!
//! nginx must be installed (deploy/local/test.sh does it; run-nginx.sh tries apt
//! otherwise); without it these tests fail.

mod rig;
mod verifiers;

use crate::helpers::{eventually, open_event_spec, spawn_app, tokens, TestApp};
use protocol::ids::EventId;
use rig::{free_port, Browser, Nginx, Seen, Shop};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use testkit::Proxy;

/// An event whose gate targets `http://127.0.0.1:{port}/tickets` (nginx's port).
async fn gated_event(app: &TestApp, port: u16) -> EventId {
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let gate = json!({"gate": {"target_url": format!("http://127.0.0.1:{port}/tickets")}});
    app.patch_event(&event, &gate).await.assert_status(200);
    // A replica learns of the PATCH within a second (its event cache); until then its
    // check answers 404 (no gate), which nginx treats as the gateway failing.
    let check = app.url("/v1/gate/check");
    eventually(
        Duration::from_secs(5),
        "the gate on the replica",
        || async {
            let req = app
                .client
                .get(&check)
                .header("x-anteroom-event", event.to_string());
            let status = req.send().await.ok()?.status();
            (status == 401).then_some(())
        },
    )
    .await;
    event
}

/// `host:port` of `http://host:port`.
fn authority(base: &str) -> &str {
    base.trim_start_matches("http://")
}

fn encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The value of query parameter `name` of `url`.
fn query(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Pass claims for `event`, signed or not by the caller, that expire at `exp`.
fn pass_claims(event: &str, exp: i64) -> Value {
    let now = tokens::now();
    json!({
        "sub": uuid::Uuid::now_v7(), "aud": event, "jti": uuid::Uuid::now_v7(),
        "iat": now - 600, "exp": exp, "kind": "pass",
    })
}

/// Asserts that `url` with the cookie `anteroom_pass=pass` is sent to the event's queue
/// page (302) and reaches no shop.
async fn assert_sent_to_queue(nginx: &Nginx, shop: &Shop, event: &EventId, pass: &str, what: &str) {
    let before = shop.seen().len();
    let mut browser = Browser::new();
    browser.set_cookie(&nginx.base, "anteroom_pass", pass);
    let page = browser.get(&nginx.url("/tickets"), &[]).await;
    assert_eq!(page.status, 302, "{what}: {page:?}");
    assert_eq!(page.location().path(), format!("/e/{event}"), "{what}");
    assert_eq!(page.header("set-cookie"), None, "{what}");
    assert_eq!(shop.seen().len(), before, "{what} reached the shop");
}

#[tokio::test]
async fn nginx_sends_fans_without_a_pass_to_the_queue_and_lets_the_admitted_through() {
    let app = spawn_app().await;
    let shop = Shop::start().await;
    let port = free_port();
    let event = gated_event(&app, port).await;
    let nginx = Nginx::start(port, authority(&app.address), shop.addr, &event, "closed").await;
    let mut browser = Browser::new();

    // No pass: to the queue page, which is told where the fan was going.
    let wanted = nginx.url("/tickets/seats?section=A");
    let page = browser.get(&wanted, &[]).await;
    assert_eq!(page.status, 302, "{page:?}");
    let queue = page.location();
    assert_eq!(queue.path(), format!("/e/{event}"));
    assert_eq!(query(&queue, "return").as_deref(), Some(wanted.as_str()));
    assert!(shop.seen().is_empty(), "{:?}", shop.seen());

    // Admitted: the gateway's hand-off sends the fan back with the pass in the query.
    let fan = app.admitted_fan(&event).await;
    browser.set_cookie(&app.address, "anteroom_pass", &fan.pass);
    let enter = browser
        .get(
            &app.url(&format!("/e/{event}/enter?return={}", encoded(&wanted))),
            &[],
        )
        .await;
    assert_eq!(enter.status, 303, "{enter:?}");
    let handoff = enter.location();
    assert_eq!(handoff.path(), "/tickets/seats");
    assert_eq!(query(&handoff, "section").as_deref(), Some("A"));
    assert_eq!(
        query(&handoff, "anteroom_pass").as_deref(),
        Some(fan.pass.as_str())
    );

    // nginx moves the pass into a cookie; a client's own ticket header is overwritten.
    let page = browser
        .get(handoff.as_str(), &[("x-anteroom-ticket", "not-mine")])
        .await;
    assert_eq!((page.status, page.body.as_str()), (200, "shop"), "{page:?}");
    let cookie = page
        .header("set-cookie")
        .expect("the pass cookie")
        .to_ascii_lowercase();
    assert!(
        cookie.contains("httponly") && cookie.contains("path=/"),
        "{cookie}"
    );
    assert_eq!(
        browser.cookie(&nginx.base, "anteroom_pass"),
        Some(fan.pass.as_str())
    );
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));

    // Then the cookie alone.
    let page = browser.get(&nginx.url("/tickets/checkout"), &[]).await;
    assert_eq!((page.status, page.body.as_str()), (200, "shop"), "{page:?}");
    assert_eq!(page.header("set-cookie"), None);

    let through = |path: &str| Seen {
        path_and_query: path.into(),
        ticket: Some(fan.ticket_id.clone()),
        event: Some(event.to_string()),
    };
    assert_eq!(
        shop.seen(),
        vec![
            through("/tickets/seats?section=A"),
            through("/tickets/checkout")
        ]
    );
}

#[tokio::test]
async fn nginx_sends_expired_foreign_forged_and_revoked_passes_to_the_queue() {
    let app = spawn_app().await;
    let shop = Shop::start().await;
    let port = free_port();
    let event = gated_event(&app, port).await;
    let nginx = Nginx::start(port, authority(&app.address), shop.addr, &event, "closed").await;
    let e = event.to_string();
    let now = tokens::now();

    let expired = tokens::eddsa(&app.pass_seed, &pass_claims(&e, now - 120));
    assert_sent_to_queue(&nginx, &shop, &event, &expired, "an expired pass").await;
    let foreign = tokens::eddsa(
        &app.pass_seed,
        &pass_claims(&EventId::new().to_string(), now + 600),
    );
    assert_sent_to_queue(&nginx, &shop, &event, &foreign, "another event's pass").await;
    let forger = [7u8; 32];
    let forged = tokens::eddsa_with_kid(
        &forger,
        &tokens::kid(&app.pass_seed),
        &pass_claims(&e, now + 600),
    );
    assert_sent_to_queue(&nginx, &shop, &event, &forged, "a forged pass").await;

    // A forged pass in the hand-off's query gets no cookie either.
    let mut browser = Browser::new();
    let page = browser
        .get(&nginx.url(&format!("/tickets?anteroom_pass={forged}")), &[])
        .await;
    assert_eq!(page.status, 302, "{page:?}");
    assert_eq!(page.header("set-cookie"), None);

    // A good pass, then revoked by the shop's server: refused from then on.
    let fan = app.admitted_fan(&event).await;
    browser.set_cookie(&nginx.base, "anteroom_pass", &fan.pass);
    assert_eq!(browser.get(&nginx.url("/tickets"), &[]).await.status, 200);
    let revoked = app
        .client
        .post(app.url(&format!(
            "/v1/origin/events/{event}/passes/{}/revoke",
            fan.ticket_id
        )))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .expect("revoke failed");
    assert_eq!(revoked.status(), 204);
    let started = Instant::now();
    loop {
        let page = browser.get(&nginx.url("/tickets"), &[]).await;
        if page.status == 302 {
            assert_eq!(page.location().path(), format!("/e/{event}"));
            break;
        }
        assert_eq!(page.status, 200, "{page:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "a revoked pass still gets through"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tickets: Vec<_> = shop.seen().into_iter().map(|s| s.ticket).collect();
    assert!(
        tickets
            .iter()
            .all(|t| t.as_deref() == Some(fan.ticket_id.as_str())),
        "{tickets:?}"
    );

    // Admitted again, the fan's hand-off gets in although the ended pass is still the
    // browser's cookie (the query's pass is checked, and replaces the cookie).
    let again = app.admitted_fan(&event).await;
    let page = browser
        .get(
            &nginx.url(&format!("/tickets?anteroom_pass={}", again.pass)),
            &[],
        )
        .await;
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(
        browser.cookie(&nginx.base, "anteroom_pass"),
        Some(again.pass.as_str())
    );
    let page = browser.get(&nginx.url("/tickets"), &[]).await;
    assert_eq!(page.status, 200, "{page:?}");
    let last = shop.seen().last().and_then(|s| s.ticket.clone());
    assert_eq!(last, Some(again.ticket_id));
}

#[tokio::test]
async fn nginx_fails_closed_with_a_page_or_open_by_the_switch_when_the_gateway_is_down() {
    let app = spawn_app().await;
    let (gateway, via_proxy) = Proxy::start(&app.address).await;
    let shop = Shop::start().await;
    let (closed_port, open_port) = (free_port(), free_port());
    let event = gated_event(&app, closed_port).await;
    let closed = Nginx::start(
        closed_port,
        authority(&via_proxy),
        shop.addr,
        &event,
        "closed",
    )
    .await;
    let open = Nginx::start(open_port, authority(&via_proxy), shop.addr, &event, "open").await;
    let fan = app.admitted_fan(&event).await;
    let mut browser = Browser::new();
    for nginx in [&closed, &open] {
        browser.set_cookie(&nginx.base, "anteroom_pass", &fan.pass);
        assert_eq!(browser.get(&nginx.url("/tickets"), &[]).await.status, 200);
    }
    assert_eq!(shop.seen().len(), 2);

    let assert_busy_page = |page: &rig::Page| {
        assert_eq!(page.status, 503, "{page:?}");
        assert_eq!(page.header("retry-after"), Some("30"));
        assert_eq!(page.header("content-type"), Some("text/html"));
        assert!(page.body.contains("One moment, please"), "{}", page.body);
    };
    gateway.switch_off();
    assert_busy_page(&browser.get(&closed.url("/tickets"), &[]).await);
    assert_eq!(shop.seen().len(), 2, "fail closed let a request through");
    let page = browser
        .get(&open.url("/tickets?anteroom_pass=x&q=1"), &[])
        .await;
    assert_eq!((page.status, page.body.as_str()), (200, "shop"), "{page:?}");
    let unchecked = Seen {
        path_and_query: "/tickets?q=1".into(),
        ticket: None,
        event: None,
    };
    assert_eq!(shop.seen().last(), Some(&unchecked));

    // A gateway that hangs counts as down after nginx's check timeout (2 s).
    gateway.switch_on();
    gateway.freeze();
    let started = Instant::now();
    assert_busy_page(&browser.get(&closed.url("/tickets"), &[]).await);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    gateway.thaw();
    let page = browser.get(&closed.url("/tickets"), &[]).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(
        shop.seen().last().and_then(|s| s.ticket.clone()),
        Some(fan.ticket_id)
    );
}
