//! Gate mode's check (docs/API.md, "Gate mode"): the venue's reverse proxy asks, on
//! every request to its shop, whether the request carries a good pass.
//!
//! `GET /v1/gate/check` (any method, and any path below it: Envoy's HTTP ext_authz
//! forwards the original method, and the original path as a suffix). The event is
//! `X-Anteroom-Event` or the check's own `event` query parameter; `redirect=1` in the
//! check's own query turns a refusal into a `302` to the queue page (Traefik, Envoy). The pass is the first
//! good one of: query parameter `anteroom_pass` of the original URI (`X-Original-URI`
//! from nginx, `X-Forwarded-Uri` from Traefik, or the check's own path and query from
//! Envoy: the hand-off), `Authorization: Bearer`, cookie `anteroom_pass`.
//!
//! As cheap as a status poll: the gate comes from the catalog cache, the pass from the
//! verified-pass cache (`tokens/cache.rs`), the revocation from this replica's copy of
//! the revoked set (`gate/revoked.rs`); none of them calls Redis on the common path.

use crate::gate::urls::{query_param, queue_page};
use crate::gate::{PublicUrl, PASS_PARAM};
use crate::http::auth::{bearer_bytes, cookie, is_tls, set_cookie, PASS_COOKIE};
use crate::http::error::{json_response, ApiError};
use crate::http::limits::RouteClass;
use crate::http::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat};
use protocol::event::Gate;
use protocol::ids::EventId;
use protocol::reply::ErrorBody;
use std::borrow::Cow;

/// The path of the check; anything below it is the original path (Envoy).
pub const CHECK_PATH: &str = "/v1/gate/check";

const X_ANTEROOM_EVENT: HeaderName = HeaderName::from_static("x-anteroom-event");
const X_ANTEROOM_TICKET: HeaderName = HeaderName::from_static("x-anteroom-ticket");
const X_ANTEROOM_PASS_EXPIRES: HeaderName = HeaderName::from_static("x-anteroom-pass-expires");
const X_ANTEROOM_REDIRECT: HeaderName = HeaderName::from_static("x-anteroom-redirect");
const X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Message of the `401` for a pass the shop or its fan ended.
pub const PASS_ENDED: &str = "this pass was ended (the session was closed or its holder left \
                              the queue); join the queue again";

/// Whether the request carries a good pass for the gated event.
#[utoipa::path(get, path = "/v1/gate/check", tag = "gate",
    security(("pass" = [])),
    params(
        ("X-Anteroom-Event" = Option<String>, Header, description = "Event id (UUID); else the `event` query parameter"),
        ("event" = Option<String>, Query, description = "Event id (UUID), when the header is absent"),
        ("redirect" = Option<String>, Query, description = "`1`: answer a refusal with `302` to the queue page instead of `401` (Traefik, Envoy)"),
        ("X-Original-URI" = Option<String>, Header, description = "The original request's path and query (nginx)"),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "The original request's path and query (Traefik)")),
    responses(
        (status = 204, description = "Good pass: `X-Anteroom-Event`, `X-Anteroom-Ticket`, `X-Anteroom-Pass-Expires` (RFC 3339); `Set-Cookie: anteroom_pass` when the pass came in the query"),
        (status = 302, description = "With `redirect=1`: no good pass; `Location` (and `X-Anteroom-Redirect`) names the queue page", body = ErrorBody),
        (status = 400, description = "`invalid_field`: no event id, or not a UUID", body = ErrorBody),
        (status = 401, description = "No good pass (missing, invalid, expired, another event's, ended); `X-Anteroom-Redirect` names the queue page", body = ErrorBody),
        (status = 404, description = "No such event, or it has no gate", body = ErrorBody),
        (status = 429, description = "Too many checks for this client or pass", body = ErrorBody),
        (status = 503, description = "Redis unavailable and the event not cached", body = ErrorBody)))]
pub async fn check(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let headers = &parts.headers;
    let event = match check_event(headers, &parts.uri) {
        Ok(e) => e,
        Err(message) => return bad_request(message),
    };
    let catalog = &state.replica.catalog;
    let snapshot = match catalog.fresh(&event) {
        Some(s) => Some(s),
        None => match catalog.cached_or_last_known(&event).await {
            Ok(s) => s,
            Err(e) => return ApiError::from(e).into_response(),
        },
    };
    let Some(gate) = snapshot.as_ref().and_then(|s| s.config.spec.gate.as_ref()) else {
        return ApiError::NotFound("gated event".into()).into_response();
    };
    let original = original_uri(headers, &parts.uri);
    // The hand-off's pass in the URL comes first: it is the newest, and a cookie left
    // from a pass that was ended would otherwise send a fan admitted again back to the
    // queue. Bearer and cookie follow; the first good, unrevoked one wins.
    let from_url = original
        .split_once('?')
        .and_then(|(_, q)| query_param(q, PASS_PARAM))
        .map(|p| Cow::Owned(p.into_owned().into_bytes()));
    let candidates = [
        (from_url, true),
        (bearer_bytes(headers).map(Cow::Borrowed), false),
        (
            cookie(headers, PASS_COOKIE).map(|c| Cow::Borrowed(c.as_bytes())),
            false,
        ),
    ];
    let mut refusal = "no pass";
    let mut good = None;
    for (token, from_query) in candidates {
        let Some(token) = token else { continue };
        let Ok(claims) = state.replica.tokens.verify_pass_cached(&token, &event) else {
            refusal = "missing or invalid pass";
            continue;
        };
        if let Err(limited) = state.limits.check_token(RouteClass::Gate, &claims.sub) {
            return limited.into_response();
        }
        if state
            .revoked
            .is_revoked(&state.replica.queue, &event, &claims.sub)
            .await
        {
            refusal = PASS_ENDED;
            continue;
        }
        good = Some((token, from_query, claims));
        break;
    }
    let Some((token, from_query, claims)) = good else {
        let redirect = parts
            .uri
            .query()
            .and_then(|q| query_param(q, "redirect"))
            .is_some_and(|v| v == "1");
        let res = refused(&state, headers, &event, gate, &original, refusal);
        return if redirect { as_redirect(res) } else { res };
    };
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    put(h, X_ANTEROOM_EVENT, &event.to_string());
    put(h, X_ANTEROOM_TICKET, &claims.sub.to_string());
    if let Some(exp) = DateTime::from_timestamp(claims.exp, 0) {
        put(
            h,
            X_ANTEROOM_PASS_EXPIRES,
            &exp.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
    }
    if from_query {
        let left = claims.exp - chrono::Utc::now().timestamp();
        let token = String::from_utf8_lossy(&token);
        let cookie = pass_cookie(&token, left, is_tls(headers), gate);
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.append(header::SET_COOKIE, v);
        }
    }
    res
}

/// The `Set-Cookie` value of the pass for the shop: host-only, or for the gate's
/// `cookie_domain`.
pub fn pass_cookie(pass: &str, max_age_seconds: i64, secure: bool, gate: &Gate) -> String {
    let cookie = set_cookie(PASS_COOKIE, pass, max_age_seconds, secure);
    match &gate.cookie_domain {
        Some(domain) => format!("{cookie}; Domain={domain}"),
        None => cookie,
    }
}

fn put(h: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// The event of a check: `X-Anteroom-Event`, else the `event` query parameter.
fn check_event(headers: &HeaderMap, uri: &Uri) -> Result<EventId, &'static str> {
    let raw = match headers.get(X_ANTEROOM_EVENT) {
        Some(v) => Cow::Borrowed(v.to_str().map_err(|_| "X-Anteroom-Event: must be a UUID")?),
        None => uri
            .query()
            .and_then(|q| query_param(q, "event"))
            .ok_or("give the event id in X-Anteroom-Event or the event query parameter")?,
    };
    raw.trim()
        .parse()
        .map_err(|_| "event: must be an event id (UUID)")
}

/// The original request's path and query: `X-Original-URI`, `X-Forwarded-Uri`, or the
/// check's own path below [`CHECK_PATH`] with its query (Envoy).
fn original_uri(headers: &HeaderMap, uri: &Uri) -> String {
    for name in [X_ORIGINAL_URI, X_FORWARDED_URI] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            return v.to_owned();
        }
    }
    let path = uri.path().strip_prefix(CHECK_PATH).unwrap_or("");
    let path = if path.is_empty() { "/" } else { path };
    match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    }
}

/// `400 invalid_field` (a proxy's configuration mistake, not a fan's).
fn bad_request(message: &str) -> Response {
    json_response(
        400,
        serde_json::json!({"error": {"code": "invalid_field", "message": message}}),
    )
}

/// The refusal as `302 Found` to its `X-Anteroom-Redirect` (same headers and body), for
/// proxies that pass the check's answer to the browser as it is: Traefik's
/// `forwardAuth` and Envoy's `ext_authz` hand a refusal's status and headers to the
/// client, so a `302` there sends the fan to the queue page without a rule on the
/// proxy. Asked for with `redirect=1` in the check's own query; without a queue page
/// URL the `401` stays.
fn as_redirect(mut res: Response) -> Response {
    let Some(to) = res.headers().get(X_ANTEROOM_REDIRECT).cloned() else {
        return res;
    };
    *res.status_mut() = StatusCode::FOUND;
    res.headers_mut().insert(header::LOCATION, to);
    res
}

/// `401 unauthorized` with `X-Anteroom-Redirect`: the queue page of the event, with the
/// original URL as `return` when it is on the gate's origin.
fn refused(
    state: &AppState,
    headers: &HeaderMap,
    event: &EventId,
    gate: &Gate,
    original: &str,
    message: &str,
) -> Response {
    let host = headers
        .get(X_FORWARDED_HOST)
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok());
    let proto = headers
        .get(X_FORWARDED_PROTO)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("http");
    let original_url = host
        .filter(|_| original.starts_with('/'))
        .map(|h| format!("{proto}://{h}{original}"));
    let base = PublicUrl::parse(&state.settings.public_url).or_else(|| {
        headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .and_then(PublicUrl::from_host)
    });
    let mut res = json_response(
        401,
        serde_json::json!({"error": {"code": "unauthorized", "message": message}}),
    );
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(base) = base {
        let to = queue_page(
            &base,
            &event.to_string(),
            original_url.as_deref(),
            gate.target_url.as_str(),
        );
        put(h, X_ANTEROOM_REDIRECT, &to);
    }
    res
}
