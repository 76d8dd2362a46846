//! Request extractors whose rejections are [`ApiError`]s (axum's `error-handling`
//! example: own the JSON rejection).
//!
//! - [`AppJson`] / [`RawJson`]: body over 64 KiB → 413; not `application/json` or a
//!   syntax error → 400 `invalid_json`; a data error (missing or unknown field, wrong
//!   type, timestamp without offset, a string the protocol's text types refuse such as
//!   a NUL, a lone surrogate escape or an over-long name) → 422 `invalid_field` whose
//!   message starts with the field's JSON path and whose `details.field` is that path
//!   (`protocol::decode`). [`RawJson`] also gives the idempotency fingerprint of the
//!   request (see [`fingerprint`]).
//! - [`Received`]: the instant the handler started extracting the request, before any
//!   extractor that may wait on Redis: the accepted time of a fan command.
//! - [`PathId`]: an id in the path that is not a UUID → 404 (no such resource).
//! - [`IdempotencyKey`]: optional header, 1–255 visible ASCII characters or spaces,
//!   else 422 naming `Idempotency-Key`.
//! - [`JoinIdentity`]: the signed user reference of a join's body, verified with the
//!   identity secret (`identity.rs`).

use crate::http::error::ApiError;
use crate::identity::{Identity, JoinRequest, VerifiedUser};
use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Request};
use axum::http::{header, request::Parts, HeaderMap, Method};
use axum::response::IntoResponse;
use protocol::decode::DecodeError;
use protocol::event::FieldError;
use protocol::ids::EventId;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::str::FromStr;
use std::sync::Arc;

/// Largest accepted request body, bytes (docs/API.md: 64 KiB).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Parses `body` as JSON `T` after checking the content type.
///
/// # Errors
/// 400 `invalid_json` or 422 `invalid_field` (see the module doc).
pub fn parse_json<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false);
    if !is_json {
        return Err(ApiError::InvalidJson(
            "expected Content-Type: application/json".into(),
        ));
    }
    protocol::decode::from_slice(body).map_err(|e| match e {
        DecodeError::Field(e) => ApiError::named_field(e),
        DecodeError::Syntax(e) => ApiError::InvalidJson(e.to_string()),
    })
}

/// The whole body of `req`, at most [`BODY_LIMIT`] bytes (the limit is applied here, by
/// every extractor that reads a body, not by a layer around every route: a layer costs
/// each request a boxed future).
///
/// # Errors
/// 413 `payload_too_large` over the limit; 400 `invalid_json` if the body cannot be read.
pub async fn body_bytes(req: Request) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(req.into_body(), BODY_LIMIT)
        .await
        .map_err(|e| {
            let cause = e.into_inner();
            if cause.is::<http_body_util::LengthLimitError>() {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidJson(format!("could not read the body: {cause}"))
            }
        })
}

/// A JSON body parsed with our rejections.
#[derive(Debug, Clone)]
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let bytes = body_bytes(req).await?;
        parse_json(&headers, &bytes).map(AppJson)
    }
}

/// A JSON body parsed with our rejections, with the idempotency fingerprint of the
/// request it came in.
#[derive(Debug, Clone)]
pub struct RawJson<T> {
    /// The parsed body.
    pub value: T,
    /// [`fingerprint`] of the request's method, path and raw body.
    pub fingerprint: String,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for RawJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        let bytes = body_bytes(req).await?;
        let value = parse_json(&headers, &bytes)?;
        Ok(RawJson {
            value,
            fingerprint: fingerprint(&method, &path, &bytes),
        })
    }
}

/// The idempotency fingerprint of a request: hex SHA-256 (64 characters) of its method,
/// its path and its raw body. The path carries the route and the target id, so the same
/// `Idempotency-Key` with the same body on another hold (or another route) is a
/// different request (`422 idempotency_key_reused`), not a replay of the first. Path
/// segments that are UUIDs are hashed in their canonical lowercase hyphenated form, as
/// [`PathId`] reads them.
pub fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_str());
    for segment in path.split('/') {
        hash.update(b"/");
        match uuid::Uuid::try_parse(segment) {
            Ok(id) => hash.update(id.hyphenated().to_string()),
            Err(_) => hash.update(segment),
        }
    }
    // A path never holds a newline: the body cannot be mistaken for part of it.
    hash.update(b"\n");
    hash.update(body);
    hex::encode(hash.finalize())
}

/// When the gateway accepted a request: read first among a handler's extractors (list it
/// first), so the wait of a later one (the revocation check of a pass reads Redis, up to
/// its command timeout) does not move a fan's confirm past its hold's deadline. The
/// worker judges confirms and releases by this instant (`Envelope::sent_at`).
#[derive(Debug, Clone, Copy)]
pub struct Received(pub chrono::DateTime<chrono::Utc>);

impl<S: Send + Sync> FromRequestParts<S> for Received {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Received(chrono::Utc::now()))
    }
}

/// The single id of the route's path, e.g. `{event_id}`; not parseable → 404.
#[derive(Debug, Clone, Copy)]
pub struct PathId<T>(pub T);

impl<T: FromStr + Send, S: Send + Sync> FromRequestParts<S> for PathId<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("resource".into()))?;
        raw.parse()
            .map(PathId)
            .map_err(|_| ApiError::NotFound("resource".into()))
    }
}

/// The optional `Idempotency-Key` header (1–255 characters, see
/// [`protocol::text::IdempotencyKey`]).
#[derive(Debug, Clone, Default)]
pub struct IdempotencyKey(pub Option<protocol::text::IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(v) = parts.headers.get("idempotency-key") else {
            return Ok(IdempotencyKey(None));
        };
        let refused = |message: String| {
            ApiError::named_field(FieldError {
                field: "Idempotency-Key".into(),
                message,
            })
        };
        let key = v
            .to_str()
            .map_err(|_| refused("must be visible ASCII characters".into()))?;
        protocol::text::IdempotencyKey::parse(key)
            .map(|k| IdempotencyKey(Some(k)))
            .map_err(|e| refused(e.to_string()))
    }
}

/// 404 JSON for unknown routes (router fallback) and unsupported methods.
pub async fn not_found() -> impl IntoResponse {
    ApiError::NotFound("route".into())
}

/// The join body's identity: `None` for an anonymous join (no body, empty, `{}`).
/// Must be the handler's last argument (it consumes the body).
#[derive(Debug, Clone)]
pub struct JoinIdentity(pub Option<VerifiedUser>);

impl<S> FromRequest<S> for JoinIdentity
where
    S: Send + Sync,
    Option<Arc<Identity>>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let event = PathId::<EventId>::from_request_parts(&mut parts, state)
            .await
            .ok()
            .map(|PathId(e)| e);
        let headers = parts.headers.clone();
        let req = Request::from_parts(parts, body);
        let bytes = body_bytes(req).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JoinIdentity(None));
        }
        let body: JoinRequest = parse_json(&headers, &bytes)?;
        let Some(user_ref) = body.user_ref else {
            if body.user_sig.is_some() || body.user_exp.is_some() {
                return Err(ApiError::field("user_sig or user_exp without user_ref"));
            }
            return Ok(JoinIdentity(None));
        };
        let identity = Option::<Arc<Identity>>::from_ref(state).ok_or_else(|| {
            ApiError::field("user_ref is not accepted: this gateway has no identity secret")
        })?;
        let event = event.ok_or_else(|| ApiError::NotFound("event".into()))?;
        let now = chrono::Utc::now().timestamp();
        identity
            .verify(
                &event,
                &user_ref,
                body.user_exp,
                body.user_sig.as_deref(),
                now,
            )
            .map(|u| JoinIdentity(Some(u)))
            .map_err(ApiError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        n: u32,
        at: chrono::DateTime<chrono::FixedOffset>,
    }

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        h
    }

    fn code(r: Result<Body, ApiError>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(e) => match e.code() {
                protocol::reply::ErrorCode::InvalidJson => "invalid_json",
                protocol::reply::ErrorCode::InvalidField => "invalid_field",
                _ => "other",
            },
        }
    }

    #[test]
    fn the_fingerprint_covers_method_route_and_target() {
        let (x, y) = (
            "0190f1b2-7c4d-7e5f-8a9b-0c1d2e3f4a5b",
            "0190f1b2-7c4d-7e5f-8a9b-0c1d2e3f4a5c",
        );
        let body = br#"{"payment_ref": "mock-1"}"#;
        let confirm =
            |id: &str| fingerprint(&Method::POST, &format!("/v1/holds/{id}/confirm"), body);
        assert_eq!(
            confirm(x),
            confirm(x),
            "the same request has the same fingerprint"
        );
        assert_ne!(confirm(x), confirm(y), "another target id");
        assert_eq!(
            confirm(x),
            confirm(&x.to_uppercase()),
            "a UUID is read canonically"
        );
        assert_ne!(
            confirm(x),
            fingerprint(&Method::PUT, &format!("/v1/holds/{x}/confirm"), body),
            "another method"
        );
        assert_ne!(
            confirm(x),
            fingerprint(&Method::POST, &format!("/v1/events/{x}/holds"), body),
            "another route"
        );
        assert_ne!(
            confirm(x),
            fingerprint(&Method::POST, &format!("/v1/holds/{x}/confirm"), b"{}"),
            "another body"
        );
    }

    #[test]
    fn json_rejections_map_to_api_codes() {
        let h = json_headers();
        let ok = br#"{"n": 1, "at": "2026-12-01T11:00:00Z"}"#;
        assert_eq!(code(parse_json(&h, ok)), "ok");
        assert_eq!(code(parse_json(&HeaderMap::new(), ok)), "invalid_json");
        assert_eq!(code(parse_json(&h, b"{not json")), "invalid_json");
        assert_eq!(code(parse_json(&h, b"")), "invalid_json");
        assert_eq!(code(parse_json(&h, br#"{"n": 1}"#)), "invalid_field");
        assert_eq!(
            code(parse_json(
                &h,
                br#"{"n": "x", "at": "2026-12-01T11:00:00Z"}"#
            )),
            "invalid_field"
        );
        assert_eq!(
            code(parse_json(&h, br#"{"n": 1, "at": "2026-12-01T11:00:00"}"#)),
            "invalid_field",
            "a timestamp without offset is a field error"
        );
        assert_eq!(
            code(parse_json(
                &h,
                br#"{"n": 1, "at": "2026-12-01T11:00:00Z", "x": 1}"#
            )),
            "invalid_field"
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Confirm {
        payment_ref: protocol::text::PaymentRef,
    }

    fn refusal(body: &[u8]) -> serde_json::Value {
        let e = parse_json::<Confirm>(&json_headers(), body).unwrap_err();
        serde_json::to_value(e.body()).unwrap()["error"].clone()
    }

    #[test]
    fn refused_strings_name_their_field() {
        let e = refusal(br#"{"payment_ref": "pay\u0000ref"}"#);
        assert_eq!(e["code"], "invalid_field");
        assert_eq!(e["details"]["field"], "payment_ref");
        let message = e["message"].as_str().unwrap();
        assert!(
            message.starts_with("payment_ref: must not contain control characters"),
            "{message}"
        );
        assert!(!message.contains("line 1"), "{message}");
        let e = refusal(br#"{"payment_ref": "pay\udc00"}"#);
        assert_eq!(e["details"]["field"], "payment_ref");
        assert_eq!(e["code"], "invalid_field");
        let e = refusal(b"{\"payment_ref\": \"a\x01b\"}");
        assert_eq!(e["code"], "invalid_json", "a raw control byte is not JSON");
    }
}
