//! Gate mode's revoke, `POST /v1/origin/events/{id}/passes/{ticket}/revoke`, against the
//! real services: a pass ended through one gateway is refused by another replica's check
//! within a second; its ticket leaves Redis's active set (read directly) and the next
//! fan is admitted; keys of another event are refused.

use crate::gate::gated_spec;
use crate::helpers::{spawn_app, ApiResponse, TestApp};
use protocol::ids::{EventId, TicketId};
use protocol::names::RedisKeys;
use serde_json::json;
use std::time::{Duration, Instant};

impl TestApp {
    /// `POST /v1/origin/events/{event}/passes/{ticket}/revoke` with `key`.
    async fn revoke(&self, key: &str, event: &EventId, ticket: &str) -> ApiResponse {
        let path = format!("/v1/origin/events/{event}/passes/{ticket}/revoke");
        let req = self
            .client
            .post(self.url(&path))
            .bearer_auth(key)
            .header("idempotency-key", "end-1");
        self.send(req).await
    }
}

async fn redis() -> runtime::redis::RedisConn {
    testkit::redis_conn().await
}

/// The score of `ticket` in the set `key` (`None`: not a member).
async fn zscore(key: &str, ticket: &str) -> Option<f64> {
    redis::cmd("ZSCORE")
        .arg(key)
        .arg(ticket)
        .query_async(&mut redis().await)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_pass_is_refused_by_another_replica_within_a_second() {
    let app = spawn_app().await;
    let second = app.spawn_ready_gateway(app.gateway_settings.clone()).await;
    let event = app.create_event(&gated_spec()).await;
    let fan = app.admitted_fan(&event).await;
    let key = app
        .create_api_key(json!({"name": "shop", "events": [event]}))
        .await;
    let key = key["key"].as_str().expect("the key").to_owned();
    let (e, bearer) = (event.to_string(), format!("Bearer {}", fan.pass));
    let headers = [
        ("x-anteroom-event", e.as_str()),
        ("authorization", bearer.as_str()),
    ];
    let check = || app.gate_check(&second, "", &headers);
    check().await.assert_status(204);

    app.revoke(&key, &event, &fan.ticket_id)
        .await
        .assert_status(204);
    let revoked_at = Instant::now();
    loop {
        let r = check().await;
        if r.status == 401 {
            r.assert_error(401, "unauthorized");
            assert!(r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("ended"));
            break;
        }
        r.assert_status(204);
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "still admitted after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = revoked_at.elapsed();
    eprintln!("the second replica refused the revoked pass after {took:?}");
    assert!(took < Duration::from_secs(1), "refused after {took:?}");
    // The replica that revoked refuses at once.
    let first = app
        .gate_check(
            &app.address,
            "",
            &[("x-anteroom-event", &e), ("authorization", &bearer)],
        )
        .await;
    first.assert_error(401, "unauthorized");

    // Idempotent: again, and for an unknown ticket.
    app.revoke(&key, &event, &fan.ticket_id)
        .await
        .assert_status(204);
    app.revoke(&key, &event, &TicketId::new().to_string())
        .await
        .assert_status(204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_frees_the_active_slot_for_the_next_fan() {
    let app = spawn_app().await;
    let mut spec = gated_spec();
    spec.admission.max_active = 1;
    let event = app.create_event(&spec).await;
    let base = RedisKeys::new(app.namespace.clone()).event_base(&event);
    let (active, revoked) = (format!("{base}:active"), format!("{base}:revoked"));
    let first = app.admitted_fan(&event).await;
    let joined = app.join(&event).await;
    joined.assert_status(201);
    let token = joined.body["queue_token"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting = app.queue_status(&event, &token).await;
    assert_eq!(waiting.body["state"], "waiting", "{}", waiting.body);
    let count: u64 = redis::cmd("ZCARD")
        .arg(&active)
        .query_async(&mut redis().await)
        .await
        .unwrap();
    assert_eq!(count, 1);
    assert!(zscore(&active, &first.ticket_id).await.is_some());

    app.revoke(&app.admin_key, &event, &first.ticket_id)
        .await
        .assert_status(204);
    assert_eq!(
        zscore(&active, &first.ticket_id).await,
        None,
        "left the active set"
    );
    let score = zscore(&revoked, &first.ticket_id)
        .await
        .expect("in the revoked set");
    assert_eq!(
        score as i64 / 1000,
        first.pass_expires_at.timestamp(),
        "scored by pass expiry"
    );
    let next = app.wait_admitted(&event, &token).await;
    assert!(zscore(&active, &next.ticket_id).await.is_some());
}

#[tokio::test]
async fn only_keys_for_the_event_may_revoke() {
    let app = spawn_app().await;
    let event = app.create_event(&gated_spec()).await;
    let elsewhere = app.create_event(&gated_spec()).await;
    let key = app
        .create_api_key(json!({"name": "other shop", "events": [elsewhere]}))
        .await;
    let key = key["key"].as_str().unwrap().to_owned();
    let ticket = TicketId::new().to_string();
    app.revoke(&key, &event, &ticket)
        .await
        .assert_error(403, "forbidden");
    app.revoke("ak_nope", &event, &ticket)
        .await
        .assert_error(401, "unauthorized");
    app.revoke(&app.admin_key, &EventId::new(), &ticket)
        .await
        .assert_error(404, "not_found");
    app.revoke(&key, &elsewhere, &ticket)
        .await
        .assert_status(204);
}
