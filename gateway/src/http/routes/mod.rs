//! The HTTP routes of `docs/API.md`, one file per group, and the router that puts each
//! group of limited routes under the limit layer of its class.

pub mod admin;
pub mod api_keys;
pub mod checkout;
pub mod commands;
pub mod events;
pub mod gate;
pub mod gate_enter;
pub mod holds;
pub mod ops;
pub mod origin;
pub mod origin_orders;
pub mod origin_passes;
pub mod pages;
pub mod queue;
pub mod requests;
pub mod webhooks;

use crate::http::extract::not_found;
use crate::http::limits::{LimitLayer, RouteClass};
use crate::http::openapi::openapi_json;
use crate::http::state::AppState;
use axum::routing::{any, delete, get, post};
use axum::Router;

/// Every route, with JSON 404s for unknown routes and methods (no middleware: see
/// `middleware::apply`). The routes of each [`RouteClass`] form a sub-router guarded by
/// its [`LimitLayer`] (per-IP limits; the join quota), which runs before any extractor.
pub fn router(state: &AppState) -> Router<AppState> {
    let limit = |class| LimitLayer::new(class, state.limits.clone(), state.replica.redis.clone());
    let join = Router::new()
        .route("/v1/events/{event_id}/queue", post(queue::join))
        .route_layer(limit(RouteClass::Join));
    let status = Router::new()
        .route(
            "/v1/events/{event_id}/queue",
            get(queue::status).delete(queue::leave),
        )
        .route("/v1/events/{event_id}/queue/stream", get(queue::stream))
        .route_layer(limit(RouteClass::Status));
    let holds = Router::new()
        .route("/v1/events/{event_id}/seats", get(events::seats))
        .route(
            "/v1/events/{event_id}/seats/stream",
            get(events::seats_stream),
        )
        .route("/v1/events/{event_id}/holds", post(holds::create_hold))
        .route("/v1/requests/{request_id}", get(requests::get_request))
        .route(
            "/v1/holds/{hold_id}",
            get(holds::get_hold).delete(holds::release_hold),
        )
        .route("/v1/holds/{hold_id}/confirm", post(holds::confirm_hold))
        .route(
            "/v1/holds/{hold_id}/checkout",
            post(checkout::start_checkout),
        )
        .route_layer(limit(RouteClass::Holds));
    let gate = Router::new()
        .route("/v1/gate/check", any(gate::check))
        .route("/v1/gate/check/{*rest}", any(gate::check))
        .route_layer(limit(RouteClass::Gate));
    Router::new()
        .route(
            "/v1/admin/events",
            post(admin::create_event).get(admin::list_events),
        )
        .route(
            "/v1/admin/events/{event_id}",
            get(admin::get_event).patch(admin::patch_event),
        )
        .route("/v1/admin/events/{event_id}/stats", get(admin::event_stats))
        .route(
            "/v1/admin/api-keys",
            post(api_keys::create_api_key).get(api_keys::list_api_keys),
        )
        .route(
            "/v1/admin/api-keys/{key_id}",
            delete(api_keys::revoke_api_key),
        )
        .route("/v1/origin/holds/{hold_id}", get(origin::get_hold))
        .route(
            "/v1/origin/holds/{hold_id}/confirm",
            post(origin::confirm_hold),
        )
        .route(
            "/v1/origin/orders/{order_id}/cancel",
            post(origin::cancel_order),
        )
        .route(
            "/v1/origin/events/{event_id}/orders",
            get(origin_orders::list_orders),
        )
        .route(
            "/v1/origin/events/{event_id}/orders.csv",
            get(origin_orders::export_orders),
        )
        .route(
            "/v1/admin/webhooks",
            post(webhooks::create_webhook).get(webhooks::list_webhooks),
        )
        .route(
            "/v1/admin/webhooks/{webhook_id}",
            delete(webhooks::delete_webhook),
        )
        .route(
            "/v1/admin/webhooks/{webhook_id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route(
            "/v1/admin/webhooks/{webhook_id}/deliveries",
            get(webhooks::list_deliveries),
        )
        .route(
            "/v1/admin/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
            post(webhooks::redeliver),
        )
        .route("/v1/events/{event_id}", get(events::get_event))
        .route("/v1/events/{event_id}/prequeue", get(events::prequeue))
        .merge(join)
        .merge(status)
        .merge(holds)
        .merge(gate)
        .route(
            "/v1/origin/events/{event_id}/passes/{ticket_id}/revoke",
            post(origin_passes::revoke_pass),
        )
        .route("/e/{event_id}/enter", get(gate_enter::enter))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/.well-known/jwks.json", get(ops::jwks))
        .route("/openapi.json", get(openapi_json))
        .merge(pages::router())
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
}

#[cfg(test)]
mod tests;
