//! The pages people see: the fan page `GET /e/{event_id}`, the order page of origin
//! checkout `GET /e/{event_id}/orders/{hold_id}`, the venue console `GET /admin`, and
//! their static files under `GET /assets/*`.
//!
//! Everything is embedded in the binary (`include_bytes!`): no CDN and no file system at
//! run time. The pages are plain HTML/CSS/JS that call only the public API (docs/API.md).
//! The server picks the initial language from `Accept-Language` (Korean or English, see
//! [`pick_language`]) and writes it into `<html lang>`; the page's switch overrides it
//! and remembers the choice in `localStorage`.
//!
//! Every response carries a strict Content-Security-Policy (`'self'` only, no inline
//! script or style), `nosniff` and no referrer. Assets are revalidated on each use
//! (`Cache-Control: no-cache`) against a strong `ETag` (SHA-256 of the content), so a
//! new binary's assets are picked up at once and an unchanged one costs a `304`.

use axum::extract::{Path, RawQuery};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use protocol::ids::{EventId, HoldId};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::LazyLock;

/// One embedded file.
struct Asset {
    /// Path under `/assets/`.
    path: &'static str,
    /// `Content-Type` header value.
    content_type: &'static str,
    /// The file's bytes.
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of `gateway/assets/` (a test checks that none is missing).
static ASSETS: &[Asset] = &[
    asset!("fan.html", "text/html; charset=utf-8"),
    asset!("admin.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/api.js", JS),
    asset!("js/format.js", JS),
    asset!("js/i18n.js", JS),
    asset!("js/strings-en.js", JS),
    asset!("js/strings-ko.js", JS),
    asset!("js/fan.js", JS),
    asset!("js/fan-views.js", JS),
    asset!("js/fan-live.js", JS),
    asset!("js/fan-seats.js", JS),
    asset!("js/seats.js", JS),
    asset!("js/checkout.js", JS),
    asset!("js/admin.js", JS),
    asset!("js/admin-create.js", JS),
    asset!("js/admin-event.js", JS),
    asset!("js/admin-webhooks.js", JS),
    asset!("js/admin-keys.js", JS),
    asset!("js/chart.js", JS),
    asset!("order.html", "text/html; charset=utf-8"),
    asset!("js/order.js", JS),
    asset!("js/handoff.js", JS),
    asset!("js/strings-order.js", JS),
];

/// Strong ETags by asset path, computed once.
static ETAGS: LazyLock<HashMap<&'static str, String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let digest = Sha256::digest(a.body);
            (a.path, format!("\"{}\"", hex::encode(&digest[..12])))
        })
        .collect()
});

/// The page policy: only this origin, no inline code, not framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English (the default).
    En,
    /// Korean.
    Ko,
}

impl Lang {
    /// The BCP 47 tag: `en` / `ko`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ko => "ko",
        }
    }
}

/// The language to serve for an `Accept-Language` header: the supported language with
/// the highest quality (`q`, default 1; ties go to the earlier entry), English when
/// neither Korean nor English is acceptable or the header is absent.
pub fn pick_language(accept_language: Option<&str>) -> Lang {
    let mut best: Option<(f32, Lang)> = None;
    for item in accept_language.unwrap_or("").split(',') {
        let mut parts = item.split(';');
        let range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|v| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let primary = range.split('-').next().unwrap_or("");
        let lang = match primary {
            "ko" => Lang::Ko,
            "en" => Lang::En,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, lang));
        }
    }
    best.map_or(Lang::En, |(_, lang)| lang)
}

/// The page routes; they need no application state.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/e/{event_id}", get(fan_page))
        .route("/e/{event_id}/orders/{hold_id}", get(order_page))
        .route("/admin", get(admin_page))
        .route("/assets/{*path}", get(asset_file))
}

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

fn common_headers(res: &mut Response, content_type: &'static str) {
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// Renders the HTML page `name` in the request's language (`__LANG__` placeholder),
/// with each `(placeholder, value)` of `fill` put in (values must be HTML-safe).
fn html_page(
    name: &str,
    status: StatusCode,
    headers: &HeaderMap,
    fill: &[(&str, &str)],
) -> Response {
    let Some(asset) = find(name) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = pick_language(accept);
    let mut html = String::from_utf8_lossy(asset.body).replace("__LANG__", lang.tag());
    for (placeholder, value) in fill {
        html = html.replace(placeholder, value);
    }
    let mut res = (status, html).into_response();
    common_headers(&mut res, asset.content_type);
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Language"));
    res
}

/// `GET /e/{event_id}`: the fan page (queue, seat map, checkout). A malformed event id
/// gets the same page with status `404` (the page then says the event does not exist).
/// Its `<noscript>` links to gate mode's hand-off `/e/{event_id}/enter`, keeping
/// `return`.
pub async fn fan_page(
    Path(event_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Ok(event) = event_id.parse::<EventId>() else {
        return html_page(
            "fan.html",
            StatusCode::NOT_FOUND,
            &headers,
            &[("__ENTER__", "#")],
        );
    };
    let back = query
        .as_deref()
        .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "return"))
        .map(|(_, v)| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>());
    // Percent-encoded: only letters, digits and `%*-._+` reach the HTML.
    let enter = match back {
        Some(b) => format!("/e/{event}/enter?return={b}"),
        None => format!("/e/{event}/enter"),
    };
    html_page(
        "fan.html",
        StatusCode::OK,
        &headers,
        &[("__ENTER__", &enter)],
    )
}

/// `GET /e/{event_id}/orders/{hold_id}`: the order page the venue's payment page sends
/// the fan back to in origin checkout ("waiting for the payment", then the order).
/// Malformed ids get the same page with status `404` (the page then says so).
pub async fn order_page(
    Path((event_id, hold_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let ok = event_id.parse::<EventId>().is_ok() && hold_id.parse::<HoldId>().is_ok();
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    html_page("order.html", status, &headers, &[])
}

/// `GET /admin`: the venue console.
pub async fn admin_page(headers: HeaderMap) -> Response {
    html_page("admin.html", StatusCode::OK, &headers, &[])
}

/// `GET /assets/{path}`: an embedded file, `304` when `If-None-Match` matches, JSON
/// `404` for anything else.
pub async fn asset_file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = find(&path).filter(|a| !a.path.ends_with(".html")) else {
        return crate::http::extract::not_found().await.into_response();
    };
    let etag = ETAGS.get(asset.path).cloned().unwrap_or_default();
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    common_headers(&mut res, asset.content_type);
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[test]
    fn language_follows_accept_language() {
        assert_eq!(pick_language(None), Lang::En);
        assert_eq!(pick_language(Some("")), Lang::En);
        assert_eq!(pick_language(Some("ko-KR,ko;q=0.9,en;q=0.8")), Lang::Ko);
        assert_eq!(pick_language(Some("en-US,en;q=0.9,ko;q=0.8")), Lang::En);
        assert_eq!(pick_language(Some("fr, ko;q=0.5")), Lang::Ko);
        assert_eq!(pick_language(Some("en;q=0.2, KO;q=0.7")), Lang::Ko);
        assert_eq!(pick_language(Some("ko;q=0, en;q=0.1")), Lang::En);
        assert_eq!(pick_language(Some("de, fr")), Lang::En);
    }

    #[test]
    fn every_asset_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let mut on_disk = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let rel = path.strip_prefix(&root).unwrap().to_string_lossy();
                    on_disk.push(rel.replace('\\', "/"));
                }
            }
        }
        let missing: Vec<_> = on_disk.iter().filter(|p| find(p).is_none()).collect();
        assert!(missing.is_empty(), "not in ASSETS: {missing:?}");
    }

    async fn get(uri: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
        let mut req = Request::get(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = router::<()>()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn pages_are_served_in_the_accepted_language() {
        let id = EventId::new();
        let (status, headers, body) = get(
            &format!("/e/{id}"),
            &[("accept-language", "ko-KR,ko;q=0.9")],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("<html lang=\"ko\""), "{body}");
        assert!(body.contains(&format!("href=\"/e/{id}/enter\"")), "{body}");
        let (_, _, body) = get(&format!("/e/{id}?return=https://a.example/%22x"), &[]).await;
        assert!(
            body.contains(&format!(
                "href=\"/e/{id}/enter?return=https%3A%2F%2Fa.example%2F%22x\""
            )),
            "{body}"
        );
        assert!(headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        let (status, _, body) = get("/admin", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("<html lang=\"en\""));
        let (status, _, _) = get("/e/not-a-uuid", &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let hold = HoldId::new();
        let (status, headers, body) = get(
            &format!("/e/{id}/orders/{hold}"),
            &[("accept-language", "ko")],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("<html lang=\"ko\"") && body.contains("/assets/js/order.js"));
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        let (status, _, _) = get(&format!("/e/{id}/orders/nope"), &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn assets_have_types_etags_and_404s() {
        let (status, headers, body) = get("/assets/js/fan.js", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
        assert!(!body.is_empty());
        let etag = headers[header::ETAG].to_str().unwrap().to_string();
        let (status, _, _) = get("/assets/js/fan.js", &[("if-none-match", &etag)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        for missing in [
            "/assets/nope.js",
            "/assets/fan.html",
            "/assets/../Cargo.toml",
        ] {
            let (status, _, _) = get(missing, &[]).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
        }
    }
}
