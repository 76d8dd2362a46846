//! Black-box end-to-end tests of Anteroom: a real worker and a real gateway per test,
//! talking over HTTP, against the real PostgreSQL, Redis and RabbitMQ on loopback.
//!
//! Run with `cargo test -p anteroom-gateway --test api` (`TEST_LOG=1` for logs).
//!
//! By module: `concurrency` (200 buyers, 2 seats), `expiry`, `idempotency`, `flow`
//! (including `202` and `GET /v1/requests/{id}`), `bad_input` and `auth`, `outage`,
//! `admin`, `openapi` (OpenAPI paths, pass verified with the JWKS alone), `admission`,
//! `queue_life`, `streams`, `release`, `revocation`, `rotation`, `identity_required`,
//! `contention`, `timing`, `durability`, `failover`, `recovery`, `redis_loss`,
//! `odd_requests`, `hygiene`, `event_management` (PATCH as a merge, postpone, archive),
//! `change_feed`, `gate`, `gate_refusals` and `gate_revoke` (gate mode: hand-off, check,
//! revoke), `gate_proxy` (gate mode through a real nginx, the pass verifiers),
//! `seat_map` (compression, layout, two-bit state), `seat_map_stream` (the compact seats
//! stream).

mod admin;
mod admission;
mod api_keys;
mod auth;
mod bad_input;
mod brokers;
mod change_feed;
mod cluster_slots;
mod concurrency;
mod contention;
mod durability;
mod event_management;
mod expiry;
mod failover;
mod flow;
mod gate;
mod gate_proxy;
mod gate_refusals;
mod gate_revoke;
mod handoff;
mod helpers;
mod hygiene;
mod idempotency;
mod identity_required;
mod odd_requests;
mod openapi;
mod origin;
mod outage;
mod queue_life;
mod recovery;
mod redis_loss;
mod reference;
mod release;
mod revocation;
mod rotation;
mod seat_map;
mod seat_map_stream;
mod streams;
mod timing;
mod webhooks;
