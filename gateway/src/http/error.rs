//! One error type for every handler: [`ApiError`] → docs/API.md's body
//! `{"error": {"code", "message", "details"}}` with the code's status.
//!
//! - 5xx bodies say nothing internal; the cause travels in a response extension
//!   ([`ErrorLog`]) and is logged once, by the middleware, inside the request span.
//! - `503 unavailable` always carries `Retry-After` ([`RETRY_AFTER_SECONDS`]).
//! - JSON rejections are ours (see `http/extract.rs`): syntax → 400 `invalid_json`, data →
//!   422 `invalid_field` naming the field's JSON path, too large → 413.

use crate::adapters::publisher::PublishError;
use crate::adapters::redis_store::StoreError;
use crate::identity::IdentityError;
use crate::live::LiveError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use protocol::reply::{ErrorBody, ErrorCode, ErrorDetail};
use std::sync::Arc;

/// `Retry-After` of `503` answers, in seconds: a short pause while a dependency
/// reconnects (the reconnect backoff starts at 100 ms and caps at 2 s).
pub const RETRY_AFTER_SECONDS: u64 = 2;

/// Which dependency failed (named in logs, `/readyz` and the 503 message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    /// Redis (queue, config, results).
    Redis,
    /// RabbitMQ (reservation commands).
    Broker,
    /// PostgreSQL (the back office only).
    Database,
}

impl Dependency {
    /// `redis` / `rabbitmq`.
    pub fn name(self) -> &'static str {
        match self {
            Dependency::Redis => "redis",
            Dependency::Broker => "rabbitmq",
            Dependency::Database => "postgresql",
        }
    }
}

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: not JSON, or not `application/json`.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// 422: a field is missing, malformed or out of range; `details` as docs/API.md.
    #[error("invalid field: {message}")]
    InvalidField {
        /// Human-readable summary.
        message: String,
        /// e.g. `{"fields": [{"field", "message"}]}` or `{"unknown": [...]}`.
        details: Option<serde_json::Value>,
    },
    /// 401: missing, forged, expired or wrong-kind credential.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// 403 `forbidden`: a valid credential that may not do this (a pass given up by
    /// leaving the queue); the message says why.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// 413: body over 64 KiB.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 409 `queue_closed`.
    #[error("queue closed: {0}")]
    QueueClosed(String),
    /// 409 `sold_out`.
    #[error("sold out")]
    SoldOut,
    /// 429 with `Retry-After`.
    #[error("rate limited")]
    RateLimited,
    /// 503 with `Retry-After`: a dependency is down or slow.
    #[error("{dependency:?} unavailable: {cause}")]
    Unavailable {
        /// The failed dependency.
        dependency: Dependency,
        /// What happened (logged, never sent).
        cause: String,
    },
    /// 500: a bug. The message sent says nothing internal.
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

/// The cause of an error response, for the logging middleware (one log line per error).
#[derive(Debug, Clone)]
pub struct ErrorLog(pub Arc<String>);

impl ApiError {
    /// 422 `invalid_field` with only a message.
    pub fn field(message: impl Into<String>) -> Self {
        ApiError::InvalidField {
            message: message.into(),
            details: None,
        }
    }

    /// 422 for one field that failed to decode or was refused: the message starts with
    /// its JSON path (`payment_ref: must not contain control characters ...`; the
    /// message alone for the whole body), `details.field` is the path and
    /// `details.fields` lists it as [`ApiError::fields`] does.
    pub fn named_field(e: protocol::event::FieldError) -> Self {
        let message = if e.field.is_empty() {
            e.message.clone()
        } else {
            e.to_string()
        };
        ApiError::InvalidField {
            message,
            details: Some(serde_json::json!({
                "field": e.field,
                "fields": [{"field": e.field, "message": e.message}],
            })),
        }
    }

    /// 422 listing field problems as `details.fields: [{field, message}]`.
    pub fn fields(errors: &[protocol::event::FieldError]) -> Self {
        let fields: Vec<_> = errors
            .iter()
            .map(|e| serde_json::json!({"field": e.field, "message": e.message}))
            .collect();
        let summary: Vec<String> = errors.iter().map(ToString::to_string).collect();
        ApiError::InvalidField {
            message: summary.join("; "),
            details: Some(serde_json::json!({ "fields": fields })),
        }
    }

    /// 503 for `dependency` with the (internal) cause.
    pub fn unavailable(dependency: Dependency, cause: impl std::fmt::Display) -> Self {
        ApiError::Unavailable {
            dependency,
            cause: cause.to_string(),
        }
    }

    /// The API error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidJson(_) => ErrorCode::InvalidJson,
            ApiError::InvalidField { .. } => ErrorCode::InvalidField,
            ApiError::Unauthorized(_) => ErrorCode::Unauthorized,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            ApiError::QueueClosed(_) => ErrorCode::QueueClosed,
            ApiError::SoldOut => ErrorCode::SoldOut,
            ApiError::RateLimited => ErrorCode::RateLimited,
            ApiError::Unavailable { .. } => ErrorCode::Unavailable,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The body sent to the client.
    pub fn body(&self) -> ErrorBody {
        if let ApiError::NotFound(what) = self {
            return crate::views::not_found(what);
        }
        let (message, details) = match self {
            ApiError::InvalidJson(m) => (format!("request body is not valid JSON: {m}"), None),
            ApiError::InvalidField { message, details } => (message.clone(), details.clone()),
            ApiError::Unauthorized(_) => ("missing or invalid credentials".into(), None),
            ApiError::Forbidden(why) => ((*why).into(), None),
            ApiError::NotFound(what) => (format!("{what} not found"), None),
            ApiError::PayloadTooLarge => ("request body is larger than 64 KiB".into(), None),
            ApiError::QueueClosed(m) => (m.clone(), None),
            ApiError::SoldOut => ("no seats left".into(), None),
            ApiError::RateLimited => ("too many requests; retry later".into(), None),
            ApiError::Unavailable { dependency, .. } => (
                format!(
                    "a dependency ({}) is unavailable; retry later",
                    dependency.name()
                ),
                None,
            ),
            ApiError::Internal(_) => ("internal error".into(), None),
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
                details,
            },
        }
    }
}

impl From<StoreError> for ApiError {
    /// Unavailable → `503` naming Redis; internal → `500`.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => ApiError::Unavailable {
                dependency: Dependency::Redis,
                cause,
            },
            StoreError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<PublishError> for ApiError {
    /// Unavailable → `503` naming the broker; internal → `500`.
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::Unavailable(cause) => ApiError::Unavailable {
                dependency: Dependency::Broker,
                cause,
            },
            PublishError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<crate::adapters::back_office::BackOfficeError> for ApiError {
    /// Unavailable → `503` naming PostgreSQL.
    fn from(e: crate::adapters::back_office::BackOfficeError) -> Self {
        match e {
            crate::adapters::back_office::BackOfficeError::Unavailable(cause) => {
                ApiError::Unavailable {
                    dependency: Dependency::Database,
                    cause: cause.to_string(),
                }
            }
        }
    }
}

impl From<LiveError> for ApiError {
    /// Not found → `404`; the store's errors as [`StoreError`]'s; internal → `500`.
    fn from(e: LiveError) -> Self {
        match e {
            LiveError::NotFound(what) => ApiError::NotFound(what.into()),
            LiveError::Store(e) => e.into(),
            LiveError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<IdentityError> for ApiError {
    /// A bad `user_ref` → `422`; a bad signature → `401`; identity required → `403`.
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::InvalidUserRef(message) => ApiError::field(message),
            IdentityError::Unauthorized(what) => ApiError::Unauthorized(what),
            IdentityError::Forbidden(why) => ApiError::Forbidden(why),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, axum::Json(self.body())).into_response();
        if matches!(self, ApiError::Unavailable { .. } | ApiError::RateLimited) {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        res.extensions_mut()
            .insert(ErrorLog(Arc::new(self.to_string())));
        res
    }
}

/// `body` as a JSON response with `status`, serialized straight into a `Vec` (axum's
/// `Json` writes through a `BytesMut` writer, which costs a status poll about a tenth of
/// its own CPU, measured with callgrind). Falls back to a `500` if `body` cannot be
/// serialized (only non-string map keys can do that; none of our views have them).
pub fn json_body<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    let mut buf = Vec::with_capacity(256);
    match serde_json::to_writer(&mut buf, body) {
        Ok(()) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            buf,
        )
            .into_response(),
        Err(e) => ApiError::Internal(e.into()).into_response(),
    }
}

/// A JSON response with an arbitrary status and body (worker outcomes, 202 answers).
pub fn json_response(status: u16, body: serde_json::Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_body(status, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn render(e: ApiError) -> (StatusCode, Option<String>, serde_json::Value) {
        let res = e.into_response();
        let status = res.status();
        let retry = res
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (status, retry, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn codes_and_statuses_follow_api_md() {
        let cases = [
            (ApiError::InvalidJson("x".into()), 400, "invalid_json"),
            (ApiError::field("bad"), 422, "invalid_field"),
            (ApiError::Unauthorized("x"), 401, "unauthorized"),
            (ApiError::NotFound("event".into()), 404, "not_found"),
            (ApiError::PayloadTooLarge, 413, "payload_too_large"),
            (ApiError::QueueClosed("closed".into()), 409, "queue_closed"),
            (ApiError::SoldOut, 409, "sold_out"),
            (ApiError::RateLimited, 429, "rate_limited"),
        ];
        for (e, status, code) in cases {
            let (s, _, body) = render(e).await;
            assert_eq!(s.as_u16(), status);
            assert_eq!(body["error"]["code"], code);
            assert!(body["error"]["message"].is_string());
        }
    }

    #[tokio::test]
    async fn unavailable_has_retry_after_and_no_internals() {
        let (s, retry, body) = render(ApiError::unavailable(
            Dependency::Redis,
            "connection refused at 10.0.0.1",
        ))
        .await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry.as_deref(), Some("2"));
        assert_eq!(body["error"]["code"], "unavailable");
        assert!(!body.to_string().contains("10.0.0.1"));
    }

    #[tokio::test]
    async fn internal_says_nothing_internal() {
        let e = ApiError::Internal(anyhow::anyhow!("secret table foo exploded"));
        let (s, _, body) = render(e).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], "internal");
        assert!(!body.to_string().contains("secret"));
    }

    #[tokio::test]
    async fn field_errors_list_every_field() {
        let errs = vec![
            protocol::event::FieldError {
                field: "name".into(),
                message: "empty".into(),
            },
            protocol::event::FieldError {
                field: "timezone".into(),
                message: "unknown".into(),
            },
        ];
        let (s, _, body) = render(ApiError::fields(&errs)).await;
        assert_eq!(s.as_u16(), 422);
        assert_eq!(body["error"]["details"]["fields"][1]["field"], "timezone");
    }
}
