//! The worker's small HTTP server: `GET /metrics` (Prometheus text), `GET /healthz`
//! (200 while the process runs) and `GET /readyz` (200 when PostgreSQL, Redis and
//! RabbitMQ answer, else 503 naming the failed ones).

use crate::broker::Broker;
use crate::metrics::Metrics;
use crate::redis_link::RedisLink;
use crate::repo::Repository;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;
use std::time::Duration;

/// Longest a readiness probe waits for each dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Shared state of the handlers.
#[derive(Clone)]
pub(crate) struct HttpState {
    pub(crate) metrics: Metrics,
    pub(crate) repo: Repository,
    pub(crate) redis: RedisLink,
    pub(crate) broker: Arc<Broker>,
}

/// The router.
pub(crate) fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}

async fn readyz(State(s): State<HttpState>) -> impl IntoResponse {
    let postgres = match tokio::time::timeout(PROBE_TIMEOUT, s.repo.ping()).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => format!("down: {e}"),
        Err(_) => "down: timeout".to_owned(),
    };
    let ping = async {
        let mut conn = s.redis.get().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    let redis = match tokio::time::timeout(PROBE_TIMEOUT, ping).await {
        Ok(Ok(_)) => "ok".to_owned(),
        Ok(Err(e)) => format!("down: {e}"),
        Err(_) => "down: timeout".to_owned(),
    };
    let amqp = if s.broker.is_connected() {
        "ok"
    } else {
        "down: not connected"
    };
    let ready = postgres == "ok" && redis == "ok" && amqp == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "unavailable" },
        "postgres": postgres, "redis": redis, "amqp": amqp,
    });
    (status, Json(body))
}
