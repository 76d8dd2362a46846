//! What the gateway and the worker both do at run time, written once.
//!
//! - [`settings`]: layered settings loading (embedded defaults → optional TOML file →
//!   `ANTEROOM_*` environment variables), every bad value reported at once, and the
//!   message and exit code of a bad configuration.
//! - [`database`]: checking a PostgreSQL `database_url` and its TLS parameters.
//! - [`redact`]: printing settings without their secrets (`print-config`, `Debug`).
//! - [`telemetry`]: the `tracing` subscriber, human-readable or JSON lines.
//! - [`shutdown`]: the Ctrl-C / SIGTERM future and the cancellation it triggers.
//! - [`backoff`]: capped exponential reconnect and retry delays (through `backon`).
//! - [`amqp`]: declaring the topology of [`protocol::topology`] on a `lapin` channel.
//! - [`redis`]: Redis settings and one connection type over a node or a Redis Cluster,
//!   plain or TLS.
//!
//! `protocol` stays free of I/O; everything here may touch the process, the network or
//! the clock. docs/ARCHITECTURE.md describes the components that use it.

pub mod amqp;
pub mod backoff;
pub mod database;
pub mod redact;
pub mod redis;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
