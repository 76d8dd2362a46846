//! Anteroom worker: the single writer of its shards' events.
//!
//! Each shard's commands arrive on a quorum queue with single active consumer; the
//! active worker decides them in memory, in delivery order ([`engine`], a pure state
//! machine), persists each batch in one PostgreSQL transaction fenced by the shard's
//! epoch ([`repo`]), mirrors the result to Redis for the gateways ([`cache`]), replies
//! and acks ([`shard`]). See docs/ARCHITECTURE.md.
//!
//! - [`settings`]: typed configuration (defaults, TOML file, `ANTEROOM_*` env, loaded by
//!   `runtime::settings`; logging, shutdown and backoff come from `runtime` too);
//! - [`startup`]: [`Application::build`] / [`Application::run_until_stopped`];
//! - [`metrics`] and the `/metrics`, `/healthz`, `/readyz` server;
//! - `audit`: the oversold audit behind `anteroom_seats_oversold`;
//! - [`dead_letters`]: what no shard can decide, kept for an operator.

mod audit;
pub mod broker;
mod cache;
pub mod dead_letters;
pub mod engine;
mod http;
pub mod metrics;
mod prune;
mod redis_link;
pub mod repo;
pub mod settings;
mod shard;
pub mod startup;
pub mod webhooks;

pub use redis_link::delete_namespace;
pub use settings::{ConfigErrors, Settings};
pub use startup::Application;

/// AMQP `type` of the probe messages a shard consumer publishes to its own queue to
/// learn when the broker makes it the active consumer (tests filter them out).
pub const PROBE_MESSAGE_TYPE: &str = shard::PROBE_TYPE;
