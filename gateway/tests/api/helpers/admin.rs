//! Typed helpers for the venue's API calls (docs/API.md, "Admin").

use super::{ApiResponse, TestApp};
use protocol::event::EventSpec;
use protocol::ids::EventId;
use reqwest::RequestBuilder;
use serde_json::Value;

impl TestApp {
    fn admin(&self, req: RequestBuilder) -> RequestBuilder {
        req.bearer_auth(&self.admin_key)
    }

    /// `POST /v1/admin/events` with a raw JSON body.
    pub(crate) async fn create_event_raw(&self, body: impl Into<String>) -> ApiResponse {
        let req = self
            .client
            .post(self.url("/v1/admin/events"))
            .header("content-type", "application/json")
            .body(body.into());
        self.send(self.admin(req)).await
    }

    /// Creates `spec`, asserts `201`, returns the new event id.
    pub(crate) async fn create_event(&self, spec: &EventSpec) -> EventId {
        let resp = self
            .create_event_raw(serde_json::to_string(spec).unwrap())
            .await;
        resp.assert_status(201);
        resp.body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("created event without id: {}", resp.body))
    }

    /// `GET /v1/admin/events/{id}`.
    pub(crate) async fn admin_event(&self, event: &EventId) -> ApiResponse {
        let req = self
            .client
            .get(self.url(&format!("/v1/admin/events/{event}")));
        self.send(self.admin(req)).await
    }

    /// `PATCH /v1/admin/events/{id}`.
    pub(crate) async fn patch_event(&self, event: &EventId, patch: &Value) -> ApiResponse {
        let req = self
            .client
            .patch(self.url(&format!("/v1/admin/events/{event}")))
            .json(patch);
        self.send(self.admin(req)).await
    }

    /// `GET /v1/admin/events/{id}/stats`.
    pub(crate) async fn admin_stats(&self, event: &EventId) -> ApiResponse {
        let req = self
            .client
            .get(self.url(&format!("/v1/admin/events/{event}/stats")));
        self.send(self.admin(req)).await
    }
}
