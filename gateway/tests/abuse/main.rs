//! Abuse limits and one place per identity, end to end: real
//! gateways on ephemeral ports against the real Redis on loopback, each test in its own
//! Redis namespace with an event config written the way the worker writes it (no worker
//! or broker needed for join and status).
//!
//! Run with `cargo test -p anteroom-gateway --test abuse`.

mod helpers;
mod identity;
mod limits;
mod streams;
