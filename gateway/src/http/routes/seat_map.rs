//! The seat map at stadium size (pass holders only): the static layout, sent once and
//! revalidated (`GET …/seats/layout`), the live state at two bits per seat (`GET
//! …/seats/state`), and the compact seats stream (`GET …/seats/stream?format=compact`,
//! opened by `events::seats_stream`). Bodies: `views/seat_layout.rs`,
//! `views/seat_state.rs`; the stream: `stream/compact_seats.rs`.

use crate::http::auth::PassAuth;
use crate::http::error::ApiError;
use crate::http::extract::PathId;
use crate::http::state::AppState;
use crate::live::catalog::EventSnapshot;
use crate::live::seat_feed::SeatFeed;
use crate::stream::compact_seats::{compact_seat_events, state_json, FirstState};
use crate::views::seat_layout::{layout_version, SeatLayout};
use crate::views::seat_state::SeatState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use futures::Stream;
use protocol::event::FieldError;
use protocol::ids::EventId;
use protocol::reply::ErrorBody;
use std::convert::Infallible;
use std::sync::Arc;

/// `Cache-Control` of the layout. It changes only when the venue edits the event (its
/// currency, before the first hold; the seating itself is fixed at creation), and it is
/// small (about 100 bytes a section), so a revalidation costs about what a fresh copy
/// would: `no-cache` lets the browser keep it but ask again on every use, with
/// `If-None-Match`, and get `304 Not Modified` without a body while it is unchanged; a
/// page opened after an edit never shows the old prices. `private`: it answers a pass,
/// so no shared cache may keep it.
pub const LAYOUT_CACHE_CONTROL: &str = "private, no-cache";

/// `Cache-Control` of the live state: a client may keep it, but must revalidate it
/// (`If-None-Match: "v<version>"` → `304` while no seat changed).
pub const STATE_CACHE_CONTROL: &str = "no-cache";

/// The event of a pass for `event` (the path's), through the replica's cache.
async fn pass_event(
    state: &AppState,
    event: EventId,
    pass: &PassAuth,
) -> Result<Arc<EventSnapshot>, ApiError> {
    state
        .replica
        .catalog
        .cached(&pass.event)
        .await?
        .filter(|_| pass.event == event)
        .ok_or_else(|| ApiError::NotFound("event".into()))
}

/// Whether `If-None-Match` of `headers` matches the entity tag `etag` (quoted), by the
/// weak comparison RFC 9110 §13.1.2 prescribes for it; `*` matches any.
pub fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// `body` as JSON with `etag` and `cache_control`, or `304 Not Modified` with the same
/// headers when the request's `If-None-Match` matches `etag`.
fn cached_json(
    headers: &HeaderMap,
    etag: String,
    cache_control: &'static str,
    body: impl FnOnce() -> String,
) -> Result<Response, ApiError> {
    let tag = HeaderValue::try_from(&etag)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("ETag {etag:?}: {e}")))?;
    let cache = HeaderValue::from_static(cache_control);
    if none_match(headers, &etag) {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, tag), (header::CACHE_CONTROL, cache)],
        )
            .into_response());
    }
    let json = HeaderValue::from_static("application/json");
    Ok((
        [
            (header::CONTENT_TYPE, json),
            (header::ETAG, tag),
            (header::CACHE_CONTROL, cache),
        ],
        body(),
    )
        .into_response())
}

/// The static seat layout: sections with their rows, seats per row, price and `base`
/// (the layout index of their first seat). Seat `i` of a section is row `i /
/// seats_per_row + 1`, number `i % seats_per_row + 1`; layout order is the sections in
/// order, each row-major. Strong `ETag: "<layout_version>"` (hex SHA-256 of the seating
/// and currency); `Cache-Control: private, no-cache` (see [`LAYOUT_CACHE_CONTROL`]);
/// `If-None-Match` with that tag → `304`.
#[utoipa::path(get, path = "/v1/events/{event_id}/seats/layout", tag = "fans",
    security(("pass" = [])),
    params(("event_id" = String, Path, description = "Event id (UUID)"),
        ("If-None-Match" = Option<String>, Header,
            description = "The `ETag` of a layout held: `304` while it is current")),
    responses(
        (status = 200, description = "The layout", body = SeatLayout,
            headers(("ETag" = String, description = "`\"<layout_version>\"`"),
                ("Cache-Control" = String, description = "`private, no-cache`"))),
        (status = 304, description = "The layout held is current"),
        (status = 401, description = "No valid pass for this event", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody)))]
pub async fn layout(
    State(state): State<AppState>,
    PathId(event): PathId<EventId>,
    pass: PassAuth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let snapshot = pass_event(&state, event, &pass).await?;
    let spec = &snapshot.config.spec;
    let version = layout_version(&spec.seating, &spec.currency);
    cached_json(
        &headers,
        format!("\"{version}\""),
        LAYOUT_CACHE_CONTROL,
        || {
            let layout = SeatLayout::new(event, &spec.seating, &spec.currency);
            serde_json::to_string(&layout).expect("a layout serialises")
        },
    )
}

/// The live seat state: two bits per seat in layout order (`0` available, `1` held, `2`
/// sold; seat `i` in byte `i / 4`, bits `(i % 4) * 2`, low bits first), base64. From the
/// worker's availability snapshot as this replica holds it (kept current by the change
/// feed). `ETag: "v<version>"`, `Cache-Control: no-cache`; `If-None-Match` with that
/// tag → `304`.
#[utoipa::path(get, path = "/v1/events/{event_id}/seats/state", tag = "fans",
    security(("pass" = [])),
    params(("event_id" = String, Path, description = "Event id (UUID)"),
        ("If-None-Match" = Option<String>, Header,
            description = "The `ETag` of a state held: `304` while it is current")),
    responses(
        (status = 200, description = "The state", body = SeatState,
            headers(("ETag" = String, description = "`\"v<version>\"`"),
                ("Cache-Control" = String, description = "`no-cache`"))),
        (status = 304, description = "The state held is current"),
        (status = 401, description = "No valid pass for this event", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 503, description = "Redis unavailable", body = ErrorBody)))]
pub async fn state(
    State(state): State<AppState>,
    PathId(event): PathId<EventId>,
    pass: PassAuth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let snapshot = pass_event(&state, event, &pass).await?;
    let spec = &snapshot.config.spec;
    let a = snapshot.availability.as_deref();
    let version = a.map_or(0, |a| a.version);
    let feed = &state.replica.live.event(&event).seats;
    cached_json(
        &headers,
        format!("\"v{version}\""),
        STATE_CACHE_CONTROL,
        || {
            let packed = match a {
                Some(a) => feed.packed_of(&spec.seating, a),
                None => crate::views::seat_state::pack_base64(&spec.seating, None).into(),
            };
            let layout = layout_version(&spec.seating, &spec.currency);
            state_json(event, &layout, a, snapshot.config.updated_at, &packed)
        },
    )
}

/// The seats stream's query: `format` (`v1`, the default, or `compact`) and, for the
/// compact stream, `since` (a state version the client holds). Other parameters are
/// ignored, so links with tracking parameters keep working.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamQuery {
    /// `format=compact`.
    pub compact: bool,
    /// `since=<version>`.
    pub since: Option<u64>,
}

impl StreamQuery {
    /// Parses the raw query string.
    ///
    /// # Errors
    /// `422 invalid_field` naming `format` (not `v1` or `compact`) or `since` (not a
    /// whole number, or without `format=compact`).
    pub fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let mut q = StreamQuery::default();
        let field = |name: &str, message: &str| {
            ApiError::fields(&[FieldError {
                field: name.into(),
                message: message.into(),
            }])
        };
        for pair in query.unwrap_or_default().split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "format" => match value {
                    "v1" => q.compact = false,
                    "compact" => q.compact = true,
                    _ => return Err(field("format", "must be v1 or compact")),
                },
                "since" => match value.parse::<u64>() {
                    Ok(v) => q.since = Some(v),
                    Err(_) => return Err(field("since", "must be a version (a whole number)")),
                },
                _ => {}
            }
        }
        if q.since.is_some() && !q.compact {
            return Err(field("since", "only with format=compact"));
        }
        Ok(q)
    }
}

/// The compact seats stream of the event of `snapshot` (see
/// `stream/compact_seats.rs`): its state first, unless `since` is the version this
/// replica holds, then deltas.
pub fn compact_stream(
    state: &AppState,
    event: EventId,
    snapshot: &EventSnapshot,
    since: Option<u64>,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let spec = &snapshot.config.spec;
    let seating = spec.seating.clone();
    let layout = layout_version(&seating, &spec.currency);
    let feed: &SeatFeed = &state.replica.live.event(&event).seats;
    // Subscribe first: a change between the state and the subscription is not lost.
    let deltas = feed.subscribe_compact();
    let (a, packed) = match feed.packed(&seating) {
        Some((a, packed)) => (Some(a), packed),
        None => {
            let a = snapshot.availability.clone();
            let packed = crate::views::seat_state::pack_base64(&seating, a.as_deref());
            (a, packed.into())
        }
    };
    let version = a.as_ref().map_or(0, |a| a.version);
    let json = (since != Some(version)).then(|| {
        state_json(
            event,
            &layout,
            a.as_deref(),
            snapshot.config.updated_at,
            &packed,
        )
    });
    let first = FirstState { version, json };
    compact_seat_events(&state.replica, event, seating, layout, deltas, first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_query() {
        assert_eq!(StreamQuery::parse(None).unwrap(), StreamQuery::default());
        let q = StreamQuery::parse(Some("format=compact&since=42&_=1")).unwrap();
        assert_eq!(
            q,
            StreamQuery {
                compact: true,
                since: Some(42)
            }
        );
        assert!(!StreamQuery::parse(Some("format=v1")).unwrap().compact);
        for bad in [
            "format=gzip",
            "format=compact&since=-1",
            "since=3",
            "format=",
        ] {
            assert!(StreamQuery::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists() {
        let mut h = HeaderMap::new();
        assert!(!none_match(&h, "\"v3\""));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"v2\", W/\"v3\""),
        );
        assert!(none_match(&h, "\"v3\""));
        assert!(!none_match(&h, "\"v4\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(none_match(&h, "\"v4\""));
    }
}
