//! Gate mode's hand-off, `GET /e/{event_id}/enter` (docs/API.md, "Gate mode"): an
//! admitted fan's browser is sent to the venue's shop with the pass.
//!
//! The pass is the cookie `anteroom_pass`, else the one the fan's status carries when the
//! queue token cookie shows the fan admitted (what the fan page would fetch). Answers are
//! `303` redirects, so the page works without JavaScript:
//!
//! - a good pass and a gated event: to the gate target (or `return`, when it is on the
//!   target's origin) with `anteroom_pass=<pass>` in the query, and the pass cookie for
//!   the gate's `cookie_domain` when one is set;
//! - otherwise: to the queue page `/e/{event_id}` (keeping `return`).

use super::gate::pass_cookie;
use crate::gate::urls::{hand_off, query_param};
use crate::http::auth::{cookie, is_tls, PASS_COOKIE, QUEUE_COOKIE};
use crate::http::state::AppState;
use crate::live::place::{resolve_claim, Via};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use protocol::ids::EventId;

/// `303 See Other` to `to`, not stored.
fn see_other(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(to) {
        h.insert(header::LOCATION, v);
    }
    res
}

/// The queue page of `event`, keeping `return` (re-encoded).
fn queue_page(event: &str, return_to: Option<&str>) -> String {
    match return_to {
        Some(r) => {
            let encoded: String = url::form_urlencoded::byte_serialize(r.as_bytes()).collect();
            format!("/e/{event}?return={encoded}")
        }
        None => format!("/e/{event}"),
    }
}

/// `GET /e/{event_id}/enter`: the hand-off to the gate target (see the module doc).
pub async fn enter(
    State(state): State<AppState>,
    Path(raw_event): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let return_to = query.as_deref().and_then(|q| query_param(q, "return"));
    let Ok(event) = raw_event.parse::<EventId>() else {
        return crate::http::extract::not_found().await.into_response();
    };
    let back = || see_other(&queue_page(&raw_event, return_to.as_deref()));
    let replica = &state.replica;
    let snapshot = match replica.catalog.cached_or_last_known(&event).await {
        Ok(Some(s)) => s,
        _ => return back(),
    };
    let Some(gate) = snapshot.config.spec.gate.as_ref() else {
        return back();
    };
    let mut pass = None;
    if let Some(p) = cookie(&headers, PASS_COOKIE) {
        if let Ok(claims) = replica.tokens.verify_pass_cached(p.as_bytes(), &event) {
            pass = Some((p.to_owned(), claims.exp));
        }
    }
    if pass.is_none() {
        let place = cookie(&headers, QUEUE_COOKIE)
            .and_then(|t| replica.tokens.verify_queue(t, &event).ok());
        if let Some(place) = place {
            if let Ok((status, _)) =
                resolve_claim(replica, &snapshot, &place, None, Via::Status).await
            {
                if let (Some(p), Some(exp)) = (status.pass, status.pass_expires_at) {
                    pass = Some((p, exp.timestamp()));
                }
            }
        }
    }
    let Some((pass, exp)) = pass else {
        return back();
    };
    let sub = replica.tokens.verify_pass_cached(pass.as_bytes(), &event);
    let revoked = match &sub {
        Ok(claims) => {
            state
                .revoked
                .is_revoked(&replica.queue, &event, &claims.sub)
                .await
        }
        Err(_) => true,
    };
    if revoked {
        return back();
    }
    let Some(to) = hand_off(gate.target_url.as_str(), return_to.as_deref(), &pass) else {
        return back();
    };
    let mut res = see_other(&to);
    if gate.cookie_domain.is_some() {
        let left = exp - chrono::Utc::now().timestamp();
        if let Ok(v) = HeaderValue::from_str(&pass_cookie(&pass, left, is_tls(&headers), gate)) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}
