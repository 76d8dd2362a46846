//! Typed helpers for the fans' API calls (docs/API.md, "Fans").

use super::{eventually, ApiResponse, TestApp};
use chrono::{DateTime, Utc};
use protocol::command::SeatSelection;
use protocol::ids::{EventId, HoldId};
use reqwest::RequestBuilder;
use serde_json::{json, Value};
use std::time::Duration;

/// An admitted fan: ticket, queue token and pass for one event.
#[derive(Debug, Clone)]
pub(crate) struct Fan {
    pub(crate) event_id: EventId,
    pub(crate) ticket_id: String,
    pub(crate) queue_token: String,
    pub(crate) pass: String,
    pub(crate) pass_expires_at: DateTime<Utc>,
}

impl TestApp {
    /// Sends `req` and reads the whole response.
    pub(crate) async fn send(&self, req: RequestBuilder) -> ApiResponse {
        ApiResponse::read(req.send().await.expect("Failed to execute request")).await
    }

    // ----- queue -----

    /// `GET /v1/events/{id}` (public).
    pub(crate) async fn public_event(&self, event: &EventId) -> ApiResponse {
        self.send(self.client.get(self.url(&format!("/v1/events/{event}"))))
            .await
    }

    /// `POST /v1/events/{id}/queue` without a token (a first join) on `base`.
    pub(crate) async fn join_at(&self, base: &str, event: &EventId) -> ApiResponse {
        let req = self.client.post(format!("{base}/v1/events/{event}/queue"));
        self.send(req).await
    }

    /// `POST /v1/events/{id}/queue` on the first gateway.
    pub(crate) async fn join(&self, event: &EventId) -> ApiResponse {
        self.join_at(&self.address, event).await
    }

    /// `GET /v1/events/{id}/queue` with `token`.
    pub(crate) async fn queue_status(&self, event: &EventId, token: &str) -> ApiResponse {
        let req = self
            .client
            .get(self.url(&format!("/v1/events/{event}/queue")))
            .bearer_auth(token);
        self.send(req).await
    }

    /// Polls the queue status (as told by `poll_after_ms`, at most every 250 ms, and
    /// after `Retry-After` on 429) until the fan is admitted; 30 s deadline.
    pub(crate) async fn wait_admitted(&self, event: &EventId, queue_token: &str) -> Fan {
        let until = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let resp = self.queue_status(event, queue_token).await;
            let pause = match resp.status {
                200 => {
                    let state = resp.body["state"].as_str().unwrap_or("");
                    if state == "admitted" {
                        return fan_from_status(event, queue_token, &resp.body);
                    }
                    assert!(
                        matches!(state, "waiting" | "prequeue"),
                        "unexpected queue state: {}",
                        resp.body
                    );
                    let after = resp.body["poll_after_ms"].as_u64().unwrap_or(100);
                    Duration::from_millis(after.clamp(20, 250))
                }
                429 => Duration::from_secs(resp.header("retry-after").map_or(1, |v| {
                    v.parse().expect("Retry-After is not a number of seconds")
                })),
                _ => panic!("queue status failed: {} {}", resp.status, resp.body),
            };
            assert!(
                tokio::time::Instant::now() < until,
                "not admitted within 30 s: {}",
                resp.body
            );
            tokio::time::sleep(pause).await;
        }
    }

    /// Joins (asserting `201` and a queue token) and waits until admitted.
    pub(crate) async fn admitted_fan(&self, event: &EventId) -> Fan {
        let joined = self.join(event).await;
        joined.assert_status(201);
        let token = joined.body["queue_token"]
            .as_str()
            .unwrap_or_else(|| panic!("join without queue_token: {}", joined.body))
            .to_owned();
        self.wait_admitted(event, &token).await
    }

    /// `n` fans joined at once, each waited for until admitted.
    pub(crate) async fn admitted_fans(&self, event: &EventId, n: usize) -> Vec<Fan> {
        futures::future::join_all((0..n).map(|_| self.admitted_fan(event))).await
    }

    // ----- seats, holds, orders -----

    /// `GET /v1/events/{id}/seats` with `pass`.
    pub(crate) async fn seats(&self, event: &EventId, pass: &str) -> ApiResponse {
        let req = self
            .client
            .get(self.url(&format!("/v1/events/{event}/seats")))
            .bearer_auth(pass);
        self.send(req).await
    }

    /// `POST /v1/events/{id}/holds` with a raw body.
    pub(crate) async fn hold_raw(
        &self,
        base: &str,
        event: &EventId,
        pass: &str,
        body: String,
        idempotency_key: Option<&str>,
    ) -> ApiResponse {
        let mut req = self
            .client
            .post(format!("{base}/v1/events/{event}/holds"))
            .bearer_auth(pass)
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = idempotency_key {
            req = req.header("idempotency-key", key);
        }
        self.send(req).await
    }

    /// `POST /v1/events/{id}/holds` with `selection`.
    pub(crate) async fn hold(
        &self,
        event: &EventId,
        pass: &str,
        selection: &SeatSelection,
        idempotency_key: Option<&str>,
    ) -> ApiResponse {
        let body = serde_json::to_string(selection).unwrap();
        self.hold_raw(&self.address, event, pass, body, idempotency_key)
            .await
    }

    /// Holds exactly `seats` for `fan`.
    pub(crate) async fn hold_seats(&self, fan: &Fan, seats: &[&str]) -> ApiResponse {
        self.hold(&fan.event_id, &fan.pass, &select(seats), None)
            .await
    }

    /// `POST /v1/holds/{id}/confirm` with `{"payment_ref": ...}`.
    pub(crate) async fn confirm(
        &self,
        hold: &HoldId,
        pass: &str,
        payment_ref: &str,
        idempotency_key: Option<&str>,
    ) -> ApiResponse {
        let mut req = self
            .client
            .post(self.url(&format!("/v1/holds/{hold}/confirm")))
            .bearer_auth(pass)
            .json(&json!({ "payment_ref": payment_ref }));
        if let Some(key) = idempotency_key {
            req = req.header("idempotency-key", key);
        }
        self.send(req).await
    }

    /// `DELETE /v1/holds/{id}`.
    pub(crate) async fn release(&self, hold: &HoldId, pass: &str) -> ApiResponse {
        let req = self
            .client
            .delete(self.url(&format!("/v1/holds/{hold}")))
            .bearer_auth(pass);
        self.send(req).await
    }

    /// `GET /v1/holds/{id}`.
    pub(crate) async fn get_hold(&self, hold: &HoldId, pass: &str) -> ApiResponse {
        let req = self
            .client
            .get(self.url(&format!("/v1/holds/{hold}")))
            .bearer_auth(pass);
        self.send(req).await
    }

    /// `GET {status_url}` (a `/v1/requests/{id}` URL, absolute or a path).
    pub(crate) async fn get_request(&self, status_url: &str, pass: &str) -> ApiResponse {
        let url = if status_url.starts_with("http") {
            status_url.to_owned()
        } else {
            self.url(status_url)
        };
        self.send(self.client.get(url).bearer_auth(pass)).await
    }

    /// A `202` answer resolved by polling its `status_url` until `done` (20 s deadline):
    /// the final status and body. Other answers are returned as they are.
    pub(crate) async fn settle(&self, resp: ApiResponse, pass: &str) -> ApiResponse {
        if resp.status != 202 {
            return resp;
        }
        let status_url = resp.body["status_url"]
            .as_str()
            .unwrap_or_else(|| panic!("202 without status_url: {}", resp.body))
            .to_owned();
        eventually(Duration::from_secs(20), "a pending request", || async {
            let r = self.get_request(&status_url, pass).await;
            r.assert_status(200);
            (r.body["state"] == "done").then(|| ApiResponse {
                status: r.body["status"].as_u64().expect("done without status") as u16,
                headers: r.headers.clone(),
                body: r.body["body"].clone(),
            })
        })
        .await
    }
}

/// `{"seats": [...]}`.
pub(crate) fn select(seats: &[&str]) -> SeatSelection {
    SeatSelection::Seats {
        seats: seats
            .iter()
            .map(|s| s.parse().expect("a seat id"))
            .collect(),
    }
}

fn fan_from_status(event: &EventId, queue_token: &str, status: &Value) -> Fan {
    let pass = status["pass"].as_str();
    let expires = status["pass_expires_at"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
    let (Some(pass), Some(expires)) = (pass, expires) else {
        panic!("admitted without pass and pass_expires_at: {status}");
    };
    Fan {
        event_id: *event,
        ticket_id: status["ticket_id"].as_str().unwrap_or_default().to_owned(),
        queue_token: queue_token.to_owned(),
        pass: pass.to_owned(),
        pass_expires_at: expires.with_timezone(&Utc),
    }
}
