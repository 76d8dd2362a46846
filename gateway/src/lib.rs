//! Anteroom gateway: the HTTP API of `docs/API.md`, queue tokens, admission, passes, and
//! publishing reservation commands to the worker shards (`docs/ARCHITECTURE.md`).
//!
//! The folders follow the path of a request, from the edge inwards; no module imports a
//! module that imports it, and only [`http`] and [`startup`] know the application state.
//!
//! - [`startup`]: [`Application`] (build, port, run until stopped) and its background
//!   tasks; [`settings`]: typed configuration (defaults → TOML file → `ANTEROOM_*` env).
//! - [`http`]: the HTTP edge: the router and its handlers (`routes/`), the abuse limits
//!   as route layers (`limits/`), the request middleware, the credential and body
//!   extractors, the one error type and the OpenAPI document.
//! - [`queue`]: the waiting room in Redis (join, leave, status, view, lottery, shuffle,
//!   group commit, restore) and its Lua scripts; [`admission`]: the admission loop and its
//!   token bucket (`admit.lua`).
//! - [`live`]: this replica's live view between Redis reads (cached queue views, event
//!   catalog, seat feeds, the watcher that refreshes them, a fan's status from the
//!   cache); [`stream`]: the two SSE endpoints fed by it.
//! - [`identity`]: one place per signed user reference; [`tokens`]: queue tokens (HS256)
//!   and passes (EdDSA, JWKS).
//! - [`adapters`]: Redis ([`adapters::redis_store`]) and AMQP ([`adapters::publisher`]:
//!   commands with publisher confirms and direct reply-to).
//! - [`gate`]: gate mode's URL rules and each replica's copy of the revoked passes.
//! - [`views`]: response bodies; [`metrics`]: the Prometheus registry.

pub mod adapters;
pub mod admission;
pub mod gate;
pub mod http;
pub mod identity;
pub mod live;
pub mod metrics;
pub mod queue;
pub mod settings;
pub mod startup;
pub mod stream;
pub mod tokens;
pub mod views;

pub use settings::Settings;
pub use startup::Application;

/// The hasher of the per-replica maps a status poll looks up (live state, catalog cache,
/// verified-token cache, per-ticket limiters): foldhash's fast hasher, randomly seeded
/// per map, hashbrown's default. Only for keys a client cannot choose (event ids,
/// verified tickets and token signatures); std's SipHash cost the status poll a tenth of
/// its look-ups.
pub type FastHash = foldhash::fast::RandomState;
