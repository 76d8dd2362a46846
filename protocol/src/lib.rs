//! Anteroom's wire protocol: everything the gateway and the worker must agree on.
//!
//! - [`ids`]: typed UUID ids (event, ticket, hold, order, request).
//! - [`event`]: the event definition a venue submits, its live configuration and state.
//! - [`command`]: versioned reservation and admin commands sent gateway → worker over AMQP.
//! - [`batch`]: the batch form: many commands of one shard, or many replies, in one
//!   AMQP message.
//! - [`reply`]: the worker's replies, the public Hold/Order/Event views and error bodies.
//! - [`decode`]: JSON decoding that names the field that failed (422 answers).
//! - [`claims`]: JWT claims of the queue token (HS256) and the pass (EdDSA).
//! - [`availability`]: the per-event availability snapshot the worker writes to Redis.
//! - [`shard`]: the stable `shard_of(event_id)` routing function.
//! - [`names`]: AMQP exchange/queue names and Redis key names.
//! - [`topology`]: the AMQP exchange, queues, bindings and queue arguments, as data both
//!   binaries declare.
//! - [`text`]: the strings that reach storage, as types that refuse control characters
//!   and over-long values.
//!
//! This crate is pure: serde types and functions, no IO, no async runtime.

pub mod availability;
pub mod batch;
pub mod claims;
pub mod command;
pub mod decode;
pub mod event;
pub mod ids;
pub mod names;
pub mod reply;
pub mod shard;
pub mod text;
pub mod topology;

pub use shard::shard_of;
