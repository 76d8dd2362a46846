//! Operations endpoints: liveness, readiness, metrics, the pass JWKS.

use crate::http::error::{Dependency, RETRY_AFTER_SECONDS};
use crate::http::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// `200` while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "Alive")))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// `200` when Redis answers `PING` and the command channel is open, else `503` naming
/// the failed dependencies.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, description = "Ready"),
        (status = 503, description = "`{\"status\": \"unavailable\", \"failed\": [\"redis\"|\"rabbitmq\"]}`")))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let mut failed = Vec::new();
    if state.replica.redis.ping().await.is_err() {
        failed.push(Dependency::Redis.name());
    }
    if !state.publisher.is_ready() {
        failed.push(Dependency::Broker.name());
    }
    let checks = serde_json::json!({
        "redis": if failed.contains(&"redis") { "down" } else { "ok" },
        "rabbitmq": if failed.contains(&"rabbitmq") { "down" } else { "ok" },
    });
    if failed.is_empty() {
        Json(serde_json::json!({"status": "ok", "checks": checks})).into_response()
    } else {
        let body = serde_json::json!({"status": "unavailable", "failed": failed, "checks": checks,
            "error": {"code": "unavailable", "message": format!("unavailable: {}", failed.join(", "))}});
        let mut res = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        res
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.replica.metrics.render(),
    )
        .into_response()
}

/// The pass verification keys (JWKS: OKP/Ed25519, `alg: EdDSA`, `use: sig`, `kid`).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "ops",
    responses((status = 200, description = "JWKS")))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.replica.tokens.jwks()),
    )
        .into_response()
}
