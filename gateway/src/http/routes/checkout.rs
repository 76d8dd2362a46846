//! The hand-off to the venue's payment page in origin checkout:
//! `POST /v1/holds/{hold_id}/checkout`.
//!
//! In an event whose `checkout.mode` is `origin` only the venue's server confirms holds,
//! after its own payment step. The fan page asks this route, right after a hold, where
//! to send the fan: the event's `checkout.url` with `hold_id`, a signed `hold_token`
//! (`tokens/hold.rs`) and a `return_url` (Anteroom's order page for the hold) added to
//! its query. The payment page verifies the token through the JWKS, takes the payment,
//! its server confirms through the origin API, and the fan goes back to `return_url`.
//!
//! Nothing is decided or written here: the answer is computed from the pass, the
//! event's cached configuration and the hold document the worker mirrors to Redis (the
//! one `GET /v1/holds/{id}` reads). A repeated request gets a fresh token for the same
//! hold, so an `Idempotency-Key` is accepted (checked for form) but needs no record.
//!
//! In `fan` mode the answer is `409 checkout_not_origin`, not `422`: the request is well
//! formed and would succeed once the venue switches the event to origin checkout; it is
//! the event's current configuration that does not allow it.

use crate::http::auth::{is_tls, LivePass};
use crate::http::error::{json_response, ApiError};
use crate::http::extract::{IdempotencyKey, PathId};
use crate::http::state::AppState;
use crate::tokens::hold_token_expiry;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use protocol::event::CheckoutMode;
use protocol::ids::{EventId, HoldId};
use protocol::reply::{ErrorBody, ErrorCode, ErrorDetail, HoldState, StoredHold};
use serde::Serialize;
use utoipa::ToSchema;

/// Query parameters added to the event's checkout URL (any the venue's URL already has
/// under these names are replaced, so the payment page reads exactly one of each).
pub const CHECKOUT_PARAMS: [&str; 3] = ["hold_id", "hold_token", "return_url"];

/// Body of `200` from `POST /v1/holds/{hold_id}/checkout`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckoutStart {
    /// Where to send the fan: the event's `checkout.url` with `hold_id`, `hold_token`
    /// and `return_url` in its query.
    #[schema(example = "https://shop.example.com/pay?hold_id=…&hold_token=…&return_url=…")]
    pub checkout_url: String,
    /// The hold token (EdDSA JWT, `kind: "hold"`, `sub` the hold, `aud` the event,
    /// `ticket_id`), verifiable with `/.well-known/jwks.json`.
    pub hold_token: String,
    /// When the token expires: the hold's `expires_at` or 15 minutes from now, whichever
    /// is first (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
}

/// Start the venue's checkout of a hold (origin checkout only).
#[utoipa::path(post, path = "/v1/holds/{hold_id}/checkout", tag = "reservations",
    security(("pass" = [])),
    params(("hold_id" = String, Path, description = "Hold id (UUID)"),
        ("Idempotency-Key" = Option<String>, Header, description = "1–255 visible ASCII characters")),
    responses(
        (status = 200, description = "Where to send the fan, with the hold token", body = CheckoutStart),
        (status = 401, description = "No valid pass", body = ErrorBody),
        (status = 403, description = "The pass was given up by leaving the queue", body = ErrorBody),
        (status = 404, description = "No such hold of this ticket", body = ErrorBody),
        (status = 409, description = "`checkout_not_origin` (the event's checkout mode is `fan`) or `hold_not_active`", body = ErrorBody),
        (status = 410, description = "`hold_expired`", body = ErrorBody),
        (status = 422, description = "Malformed `Idempotency-Key` or `Host`", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody)))]
pub async fn start_checkout(
    State(state): State<AppState>,
    PathId(hold_id): PathId<HoldId>,
    LivePass(pass): LivePass,
    IdempotencyKey(_key): IdempotencyKey,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let event = pass.event;
    let snapshot = state
        .replica
        .catalog
        .cached_or_last_known(&event)
        .await?
        .ok_or_else(|| ApiError::NotFound("event".into()))?;
    let checkout = &snapshot.config.spec.checkout;
    let base = match (checkout.mode, &checkout.url) {
        (CheckoutMode::Origin, Some(url)) => url::Url::parse(url.as_str()).map_err(|e| {
            ApiError::Internal(anyhow::anyhow!("stored checkout.url does not parse: {e}"))
        })?,
        _ => return Ok(not_origin()),
    };
    let stored: Option<StoredHold> = state
        .replica
        .redis
        .get_json(&state.replica.keys.hold(&event, &hold_id))
        .await?;
    let hold = stored
        .filter(|s| s.ticket_id == pass.claims.sub)
        .map(|s| s.hold)
        .ok_or_else(|| ApiError::NotFound("hold".into()))?;
    if hold.state != HoldState::Held {
        return Ok(refusal(
            ErrorCode::HoldNotActive,
            "the hold is no longer held (released, expired or already confirmed)",
        ));
    }
    let now = Utc::now().timestamp();
    let exp = hold_token_expiry(now, hold.expires_at.timestamp());
    if exp <= now {
        return Ok(refusal(ErrorCode::HoldExpired, "the hold has expired"));
    }
    let token = state
        .replica
        .tokens
        .issue_hold(&event, hold_id, pass.claims.sub, now, exp)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("hold token: {e}")))?;
    let return_url = order_page_url(&uri, &headers, &event, &hold_id)?;
    let body = CheckoutStart {
        checkout_url: checkout_url(base, &hold_id, &token, &return_url),
        hold_token: token,
        expires_at: DateTime::from_timestamp(exp, 0).unwrap_or(hold.expires_at),
    };
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// The venue's checkout URL with [`CHECKOUT_PARAMS`] set (replacing any of the same
/// names, keeping its other parameters in order).
pub fn checkout_url(mut base: url::Url, hold: &HoldId, token: &str, return_url: &str) -> String {
    let kept: Vec<(String, String)> = base
        .query_pairs()
        .filter(|(k, _)| !CHECKOUT_PARAMS.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    base.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("hold_id", &hold.to_string())
        .append_pair("hold_token", token)
        .append_pair("return_url", return_url);
    base.into()
}

/// Anteroom's order page of `hold`, as an absolute URL on the origin the fan reached
/// this gateway through: the request's authority (`Host`, or the URI's for HTTP/2) and
/// `https` when the request came over TLS (directly or per `X-Forwarded-Proto`).
///
/// # Errors
/// `422 invalid_field` (`Host`) if the request names no authority, or one that is not a
/// host with an optional port.
pub fn order_page_url(
    uri: &Uri,
    headers: &HeaderMap,
    event: &EventId,
    hold: &HoldId,
) -> Result<String, ApiError> {
    let refused = || {
        ApiError::named_field(protocol::event::FieldError {
            field: "Host".into(),
            message: "must be a host name with an optional port".into(),
        })
    };
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .ok_or_else(refused)?;
    let scheme = if is_tls(headers) { "https" } else { "http" };
    let mut url = url::Url::parse(&format!("{scheme}://{authority}/")).map_err(|_| refused())?;
    // Only a host and a port: no user info, and nothing that became a path or query.
    if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err(refused());
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(refused());
    }
    url.set_path(&format!("/e/{event}/orders/{hold}"));
    Ok(url.into())
}

fn refusal(code: ErrorCode, message: &str) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code,
            message: message.into(),
            details: None,
        },
    };
    let status = code.status();
    json_response(
        status,
        serde_json::to_value(body).unwrap_or(serde_json::Value::Null),
    )
}

/// `409 checkout_not_origin`: the fan page takes the payment itself in fan mode.
fn not_origin() -> Response {
    refusal(
        ErrorCode::CheckoutNotOrigin,
        "this event's checkout mode is fan: the hold is confirmed on the fan page, \
         not handed to a checkout page",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkout_url_sets_the_three_parameters_once_and_keeps_the_others() {
        let hold = HoldId::new();
        let base = url::Url::parse("https://shop.example.com/pay?lang=ko&hold_id=evil#x").unwrap();
        let out = checkout_url(base, &hold, "a.b.c", "https://q.example/e/1/orders/2?x=1&y");
        let parsed = url::Url::parse(&out).unwrap();
        let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            vec![
                ("lang".into(), "ko".into()),
                ("hold_id".into(), hold.to_string()),
                ("hold_token".into(), "a.b.c".into()),
                (
                    "return_url".into(),
                    "https://q.example/e/1/orders/2?x=1&y".into()
                ),
            ]
        );
        assert_eq!(parsed.path(), "/pay");
        assert_eq!(parsed.fragment(), Some("x"));
    }

    fn page(host: Option<&str>, proto: Option<&str>) -> Result<String, ApiError> {
        let mut h = HeaderMap::new();
        if let Some(host) = host {
            h.insert(header::HOST, host.parse().unwrap());
        }
        if let Some(p) = proto {
            h.insert("x-forwarded-proto", p.parse().unwrap());
        }
        let uri: Uri = "/v1/holds/x/checkout".parse().unwrap();
        order_page_url(&uri, &h, &EventId::new(), &HoldId::new())
    }

    #[test]
    fn the_order_page_is_on_the_origin_the_fan_came_through() {
        let url = page(Some("tickets.example.com"), Some("https")).unwrap();
        assert!(url.starts_with("https://tickets.example.com/e/"), "{url}");
        assert!(url.contains("/orders/"));
        let url = page(Some("127.0.0.1:8080"), None).unwrap();
        assert!(url.starts_with("http://127.0.0.1:8080/e/"), "{url}");
        for bad in ["evil.example/path", "user@evil.example", "a b", "x?y", ""] {
            assert!(page(Some(bad), None).is_err(), "{bad}");
        }
        assert!(page(None, None).is_err());
    }
}
