//! Admission, fairness and push, against the real Redis, RabbitMQ
//! and PostgreSQL on loopback:
//!
//! - `scripts`: the Lua scripts with an explicit clock (bucket = its Rust model, FIFO,
//!   lottery record, live-view scripts);
//! - `replicas`: three gateway processes on one Redis: admissions per minute within 1 %
//!   of the rate, `max_active` never exceeded, a `PATCH` seen everywhere within 1 s
//!   (`ANTEROOM_ADMISSION_SECONDS`, default 25; `tests/admission/three_replicas.sh` runs
//!   the two-minute version);
//! - `status`: cheap status (Redis calls per status), the status stream, abandonment;
//! - `lifecycle`: pre-queue record and `verify-shuffle`, sold out and back.
//!
//! Run with `cargo test -p anteroom-gateway --test admission` (`TEST_LOG=1` for logs).

mod lifecycle;
mod private_redis;
mod redis_fixture;
mod replicas;
mod scripts;
mod stack;
mod status;
