//! Anteroom gateway: the HTTP API of API.md, queue tokens, admission, passes, and
//! publishing reservation commands to the worker shards (DESIGN.md).
//!
//! - [`settings`]: typed configuration (defaults → TOML file → `ANTEROOM_*` env).
//! - [`startup`]: [`Application`] (build, port, run until stopped).
//! - [`state`]: the shared state; [`routes`]: handlers; [`middleware`]: all layers.
//! - [`error`], [`extract`], [`auth`]: one error type, our rejections, credentials.
//! - [`tokens`]: queue tokens (HS256) and passes (EdDSA, JWKS).
//! - [`queue`] (Lua scripts) and [`admitter`]: the waiting room in Redis.
//! - [`publisher`]: commands over AMQP with publisher confirms and direct reply-to.
//! - [`catalog`], [`redis_store`]: event configs and the Redis adapter.
//! - [`limits`] (rate limits, join quota, client IP) and [`identity`] (one place per
//!   signed user reference): abuse controls.
//! - [`stream`]: per-replica live queue views (cheap status) and the SSE streams.
//! - [`metrics`], [`openapi`], [`views`].

pub mod admitter;
pub mod auth;
pub mod catalog;
pub mod error;
pub mod extract;
pub mod identity;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod publisher;
pub mod queue;
pub mod redis_store;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;
pub mod stream;
pub mod tokens;
pub mod views;

pub use settings::Settings;
pub use startup::Application;

/// The hasher of the per-replica maps a status poll looks up (live state, catalog cache,
/// verified-token cache, per-ticket limiters): foldhash's fast hasher, randomly seeded
/// per map, hashbrown's default. Only for keys a client cannot choose (event ids,
/// verified tickets and token signatures); std's SipHash cost the status poll a tenth of its look-ups (callgrind,
/// issue #4).
pub type FastHash = foldhash::fast::RandomState;
