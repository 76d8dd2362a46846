//! Typed HTTP helpers for the API calls these tests make.

use super::Stack;
use protocol::event::EventSpec;
use protocol::ids::EventId;
use reqwest::RequestBuilder;
use serde_json::Value;
use std::time::Duration;

/// Status code and JSON body (`Null` if none).
pub(crate) type Answer = (u16, Value);

impl Stack {
    pub(crate) async fn send(&self, req: RequestBuilder) -> Answer {
        let resp = req.send().await.expect("Failed to execute request");
        let code = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (code, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `POST /v1/admin/events`; panics unless `201`.
    pub(crate) async fn create_event(&self, spec: &EventSpec) -> EventId {
        let req = self
            .client
            .post(format!("{}/v1/admin/events", self.url()))
            .bearer_auth(&self.admin_key)
            .json(spec);
        let (code, body) = self.send(req).await;
        assert_eq!(code, 201, "create event: {body}");
        body["id"].as_str().unwrap().parse().unwrap()
    }

    /// `PATCH /v1/admin/events/{id}` on `base`; panics unless `200`.
    pub(crate) async fn patch(&self, base: &str, event: &EventId, patch: Value) -> Value {
        let req = self
            .client
            .patch(format!("{base}/v1/admin/events/{event}"))
            .bearer_auth(&self.admin_key)
            .json(&patch);
        let (code, body) = self.send(req).await;
        assert_eq!(code, 200, "patch: {body}");
        body
    }

    /// `GET /v1/events/{id}` on `base`.
    pub(crate) async fn public_event(&self, base: &str, event: &EventId) -> Value {
        let req = self.client.get(format!("{base}/v1/events/{event}"));
        self.send(req).await.1
    }

    /// `POST /v1/events/{id}/queue` on `base`: (code, Status).
    pub(crate) async fn join(&self, base: &str, event: &EventId) -> Answer {
        let req = self.client.post(format!("{base}/v1/events/{event}/queue"));
        self.send(req).await
    }

    /// Joins and returns the queue token; panics unless `201`.
    pub(crate) async fn join_token(&self, base: &str, event: &EventId) -> String {
        let (code, body) = self.join(base, event).await;
        assert_eq!(code, 201, "join: {body}");
        body["queue_token"].as_str().unwrap().to_owned()
    }

    /// `GET /v1/events/{id}/queue` on `base` with `token`.
    pub(crate) async fn status(&self, base: &str, event: &EventId, token: &str) -> Answer {
        let req = self
            .client
            .get(format!("{base}/v1/events/{event}/queue"))
            .bearer_auth(token);
        self.send(req).await
    }

    /// `DELETE /v1/events/{id}/queue` on `base` with `token`.
    pub(crate) async fn leave(&self, base: &str, event: &EventId, token: &str) -> u16 {
        let req = self
            .client
            .delete(format!("{base}/v1/events/{event}/queue"))
            .bearer_auth(token);
        self.send(req).await.0
    }

    /// Polls the status every 200 ms until `admitted`; returns the pass.
    pub(crate) async fn wait_admitted(&self, base: &str, event: &EventId, token: &str) -> String {
        let until = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (code, body) = self.status(base, event, token).await;
            assert_eq!(code, 200, "status: {body}");
            if body["state"] == "admitted" {
                return body["pass"].as_str().unwrap().to_owned();
            }
            assert!(
                tokio::time::Instant::now() < until,
                "never admitted: {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `POST /v1/events/{id}/holds` with `seats` and `pass`.
    pub(crate) async fn hold(&self, event: &EventId, pass: &str, seats: &[&str]) -> Answer {
        let req = self
            .client
            .post(format!("{}/v1/events/{event}/holds", self.url()))
            .bearer_auth(pass)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&serde_json::json!({ "seats": seats }));
        self.send(req).await
    }

    /// `POST /v1/holds/{id}/confirm` with `pass`.
    pub(crate) async fn confirm(&self, hold: &str, pass: &str) -> Answer {
        let req = self
            .client
            .post(format!("{}/v1/holds/{hold}/confirm", self.url()))
            .bearer_auth(pass)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&serde_json::json!({ "payment_ref": "mock-1" }));
        self.send(req).await
    }

    /// The value of the (unlabelled) metric `name` on `base`'s `/metrics`.
    pub(crate) async fn metric(&self, base: &str, name: &str) -> f64 {
        let text = self
            .client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("metric {name} missing"))
    }
}
