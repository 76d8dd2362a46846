//! Router tests with `oneshot` (axum's `testing` example): everything that is decided
//! before Redis or the broker is involved, so nothing here connects to either.

use crate::http::state::AppState;
use crate::settings::Settings;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

const ADMIN_KEY: &str = "admin-key-of-a-unit-test-0123456789";

fn app() -> Router {
    app_with(|_| {})
}

fn app_with(configure: impl FnOnce(&mut Settings)) -> Router {
    let mut settings = Settings {
        admin_key: ADMIN_KEY.to_string().into(),
        queue_token_secret: "q".repeat(32).into(),
        pass_signing_key: "0123456789abcdef".repeat(4).into(),
        // Nothing listens there: any test reaching Redis would see a 503, not hang.
        redis_url: "redis://127.0.0.1:1".into(),
        redis_timeout_ms: 100,
        ..Settings::default()
    };
    configure(&mut settings);
    let state = AppState::new(settings).unwrap();
    let router = super::router(&state).route(
        "/boom",
        get(|| async {
            panic!("boom");
            #[allow(unreachable_code)]
            ""
        }),
    );
    crate::http::middleware::apply(router, state.replica.metrics.clone(), true).with_state(state)
}

async fn call(req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let res = app().oneshot(req).await.unwrap();
    let status = res.status();
    assert!(res.headers().contains_key("x-request-id"));
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn admin_post(body: impl Into<Body>, content_type: &str) -> Request<Body> {
    Request::post("/v1/admin/events")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_KEY}"))
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap()
}

#[tokio::test]
async fn unknown_routes_methods_and_ids_are_json_404s() {
    for req in [
        get_req("/nope"),
        get_req("/v1/events/not-a-uuid"),
        get_req("/v1/holds/not-a-uuid"),
        Request::put("/healthz").body(Body::empty()).unwrap(),
    ] {
        let (status, body) = call(req).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "not_found");
    }
}

#[tokio::test]
async fn admin_key_is_checked_before_the_body() {
    let req = Request::post("/v1/admin/events")
        .header(header::AUTHORIZATION, "Bearer wrong")
        .body(Body::from("{"))
        .unwrap();
    let (status, body) = call(req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn bodies_are_refused_with_the_api_codes() {
    let (status, body) = call(admin_post("{", "application/json")).await;
    assert_eq!(
        (status.as_u16(), &body["error"]["code"]),
        (400, &"invalid_json".into())
    );
    let (status, _) = call(admin_post("{}", "text/plain")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = call(admin_post(r#"{"name": 1}"#, "application/json")).await;
    assert_eq!(
        (status.as_u16(), &body["error"]["code"]),
        (422, &"invalid_field".into())
    );
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(70 * 1024));
    for ct in ["application/json", "text/plain"] {
        let (status, body) = call(admin_post(big.clone(), ct)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{ct}");
        assert_eq!(body["error"]["code"], "payload_too_large");
    }
}

#[tokio::test]
async fn credentials_are_required_where_needed() {
    let event = protocol::ids::EventId::new();
    for req in [
        get_req(&format!("/v1/events/{event}/queue")),
        get_req(&format!("/v1/events/{event}/seats")),
        get_req(&format!("/v1/holds/{}", protocol::ids::HoldId::new())),
        get_req(&format!("/v1/requests/{}", protocol::ids::RequestId::new())),
        Request::get(format!("/v1/events/{event}/seats"))
            .header(header::AUTHORIZATION, "Bearer not.a.jwt")
            .body(Body::empty())
            .unwrap(),
    ] {
        let (status, body) = call(req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "unauthorized");
    }
}

#[tokio::test]
async fn a_panic_is_a_json_500_without_internals() {
    let (status, body) = call(get_req("/boom")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["code"], "internal");
    assert!(!body.to_string().contains("boom"));
}

#[tokio::test]
async fn redis_down_is_a_503_with_retry_after() {
    let res = app()
        .oneshot(get_req(&format!(
            "/v1/events/{}",
            protocol::ids::EventId::new()
        )))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()[header::RETRY_AFTER], "2");
}

#[tokio::test]
async fn a_request_id_is_made_when_absent_and_echoed_when_given() {
    let made = app().oneshot(get_req("/healthz")).await.unwrap();
    let made = made.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(made.len(), 32, "{made}");
    let given = Request::get("/healthz")
        .header("x-request-id", "lb-7f3a")
        .body(Body::empty())
        .unwrap();
    let res = app().oneshot(given).await.unwrap();
    assert_eq!(res.headers().get_all("x-request-id").iter().count(), 1);
    assert_eq!(res.headers()["x-request-id"], "lb-7f3a");
}

#[tokio::test]
async fn ops_endpoints_answer_without_dependencies() {
    let (status, body) = call(get_req("/healthz")).await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &"ok".into()));
    let (status, body) = call(get_req("/.well-known/jwks.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["keys"][0]["alg"], "EdDSA");
    let (status, body) = call(get_req("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["paths"]["/v1/events/{event_id}/holds"].is_object());
    let (status, body) = call(get_req("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["failed"], serde_json::json!(["redis", "rabbitmq"]));
}

#[tokio::test]
async fn every_limited_route_is_under_the_limit_layer_of_its_class() {
    use crate::http::limits::classify;
    use axum::extract::ConnectInfo;
    use axum::http::Method;
    let (event, hold) = (protocol::ids::EventId::new(), protocol::ids::HoldId::new());
    let request = protocol::ids::RequestId::new();
    let routes = [
        (
            Method::POST,
            "/v1/events/{event_id}/queue",
            format!("/v1/events/{event}/queue"),
        ),
        (
            Method::GET,
            "/v1/events/{event_id}/queue",
            format!("/v1/events/{event}/queue"),
        ),
        (
            Method::DELETE,
            "/v1/events/{event_id}/queue",
            format!("/v1/events/{event}/queue"),
        ),
        (
            Method::GET,
            "/v1/events/{event_id}/queue/stream",
            format!("/v1/events/{event}/queue/stream"),
        ),
        (
            Method::GET,
            "/v1/events/{event_id}/seats",
            format!("/v1/events/{event}/seats"),
        ),
        (
            Method::GET,
            "/v1/events/{event_id}/seats/stream",
            format!("/v1/events/{event}/seats/stream"),
        ),
        (
            Method::POST,
            "/v1/events/{event_id}/holds",
            format!("/v1/events/{event}/holds"),
        ),
        (
            Method::GET,
            "/v1/holds/{hold_id}",
            format!("/v1/holds/{hold}"),
        ),
        (
            Method::DELETE,
            "/v1/holds/{hold_id}",
            format!("/v1/holds/{hold}"),
        ),
        (
            Method::POST,
            "/v1/holds/{hold_id}/confirm",
            format!("/v1/holds/{hold}/confirm"),
        ),
        (
            Method::GET,
            "/v1/requests/{request_id}",
            format!("/v1/requests/{request}"),
        ),
        (
            Method::GET,
            "/v1/events/{event_id}",
            format!("/v1/events/{event}"),
        ),
        (
            Method::GET,
            "/v1/events/{event_id}/prequeue",
            format!("/v1/events/{event}/prequeue"),
        ),
        (
            Method::GET,
            "/v1/admin/events",
            "/v1/admin/events".to_string(),
        ),
        (Method::GET, "/healthz", "/healthz".to_string()),
    ];
    for (method, template, uri) in routes {
        // One request per second per client IP, none in reserve: the second is refused
        // by the layer of the route's class, if it has one.
        let app = app_with(|s| {
            let a = &mut s.abuse;
            a.rate_limits = true;
            a.join_per_ip_per_second = 1;
            a.join_per_ip_burst = 1;
            a.join_quota_per_ip_per_minute = 0;
            a.status_per_ip_per_second = 1;
            a.status_per_ip_burst = 1;
            a.holds_per_ip_per_second = 1;
            a.holds_per_ip_burst = 1;
        });
        let mut last = StatusCode::OK;
        for _ in 0..2 {
            let mut req = Request::builder()
                .method(method.clone())
                .uri(&uri)
                .body(Body::empty())
                .unwrap();
            req.extensions_mut()
                .insert(ConnectInfo(std::net::SocketAddr::from((
                    [203, 0, 113, 7],
                    4000,
                ))));
            last = app.clone().oneshot(req).await.unwrap().status();
        }
        let limited = classify(&method, template).is_some();
        assert_eq!(
            last == StatusCode::TOO_MANY_REQUESTS,
            limited,
            "{method} {template}: {last}"
        );
    }
}
