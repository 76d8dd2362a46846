//! Black-box end-to-end tests of Anteroom: a real worker and a real gateway per test,
//! talking over HTTP, against the real PostgreSQL, Redis and RabbitMQ on loopback.
//!
//! Run with `cargo test -p anteroom-gateway --test api` (`TEST_LOG=1` for logs).
//!
//! Issue #2's "Done when", by module: 1 `concurrency` (200 buyers, 2 seats), 2 `expiry`,
//! 3 `idempotency`, 4 `flow` (including `202` and `GET /v1/requests/{id}`), 5
//! `bad_input` and `auth`, 6 `outage`, 7 `admin`, 8 `openapi` (OpenAPI paths, pass
//! verified with the JWKS alone). Beyond it: `admission`, `queue_life`, `streams`,
//! `release`, `revocation`, `rotation`, `identity_required`, `contention`, `timing`,
//! `durability`, `failover`, `recovery`, `redis_loss`, `odd_requests`, `hygiene`.

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
mod hygiene;
mod idempotency;
mod identity_required;
mod odd_requests;
mod openapi;
mod outage;
mod queue_life;
mod recovery;
mod redis_loss;
mod reference;
mod release;
mod revocation;
mod rotation;
mod streams;
mod timing;
