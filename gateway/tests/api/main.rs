//! Black-box end-to-end tests of Anteroom: a real worker and a real gateway per test,
//! talking over HTTP, against the real PostgreSQL, Redis and RabbitMQ on loopback.
//!
//! Run with `cargo test -p anteroom-gateway --test api` (`TEST_LOG=1` for logs).

mod admin;
mod admission;
mod auth;
mod bad_input;
mod concurrency;
mod contention;
mod durability;
mod expiry;
mod failover;
mod flow;
mod helpers;
mod idempotency;
mod odd_requests;
mod openapi;
mod outage;
mod queue_life;
mod recovery;
mod redis_loss;
mod release;
mod streams;
mod timing;
